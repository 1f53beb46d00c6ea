//! Black-box tests of the supervisor and the `ha` CLI; one module per API group.

mod auth;
mod cli;
mod core;
mod docker;
mod jobs;
mod logs;
mod registry;
mod security;
mod supervisor;
mod updates;
