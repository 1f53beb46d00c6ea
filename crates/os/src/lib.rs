//! Home Assistant OS: version and updates through RAUC, boot slots, the data disk, swap and boards through the OS-Agent.

pub mod api;
mod cpe;
pub mod datadisk;
mod fields;
mod manager;

pub use manager::{OsFacts, OsManager};
