//! The supervisor itself: its options (persisted), its log level, its resource figures, its own
//! log, and the operations on it (reload, update, restart, repair), with the `/supervisor` API.

pub mod api;
pub mod logs;
mod manager;
mod stats;

pub use logs::{LogLevel, SupervisorLog};
pub use manager::{SupervisorConfig, SupervisorManager};
pub use stats::StatsSampler;
