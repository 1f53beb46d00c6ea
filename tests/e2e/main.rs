//! Black-box tests of the supervisor and the `ha` CLI; one module per API group.

mod addons;
mod auth;
mod cli;
mod core;
mod docker;
mod jobs;
mod journal;
mod logs;
mod registry;
mod security;
mod store;
mod supervisor;
mod updates;
