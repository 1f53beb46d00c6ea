//! The shared foundation every other crate builds on.
//!
//! It holds only what two or more domains need in exactly the same way: the JSON envelope and the
//! error type that produces it, the request body extractor, the on-disk layout of the data
//! directory, atomic file writes, version comparison and the system state (core state, health,
//! support) that job conditions and info endpoints read.

pub mod api;
pub mod arch;
pub mod body;
pub mod fs;
pub mod logs;
pub mod paths;
pub mod random;
pub mod system;
pub mod version;

pub use api::{ok, ok_empty, ApiError, ApiResult};
pub use body::Body;
pub use paths::DataDir;
pub use system::{CoreState, Lifecycle, System};

/// The version of this build, reported as the supervisor version.
pub const SUPERVISOR_VERSION: &str = env!("CARGO_PKG_VERSION");
