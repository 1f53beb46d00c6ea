//! The store against real folders and real git: repository scanning, git repositories served
//! from local bare repositories, and the `/store` API in an actix test service.

mod api;
mod common;
mod public;
mod repositories;
mod scan;
