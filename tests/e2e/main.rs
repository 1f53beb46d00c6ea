//! Black-box tests of the supervisor and the `ha` CLI; one module per API group.

mod access_matrix;
mod addons;
mod auth;
mod backups;
mod backups_cli;
mod cli;
mod core;
mod discovery;
mod docker;
mod fuzz_api;
mod hardware;
mod homeassistant;
mod host;
mod hostile_backups;
mod ingress;
mod jobs;
mod journal;
mod links;
mod logs;
mod network;
mod os;
mod registry;
mod security;
mod store;
mod supervisor;
mod updates;
