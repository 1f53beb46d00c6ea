//! The shared foundation every other crate builds on.
//!
//! It holds only what two or more domains need in exactly the same way, and nothing of HTTP: the
//! domain error with its kinds, the on-disk layout of the data directory, atomic file writes,
//! version comparison, Python value semantics for voluptuous-style messages, the add-on role, and
//! the system state (core state, health, support) that job conditions and info endpoints read.
//! The HTTP layer (envelope, extractors, routes) is `http-api`.

pub mod arch;
pub mod error;
pub mod fs;
pub mod logs;
pub mod paths;
pub mod pyval;
pub mod random;
pub mod role;
pub mod system;
pub mod version;

pub use error::{Error, Kind};
pub use paths::DataDir;
pub use role::Role;
pub use system::{CoreState, Lifecycle, System, Timezone};

/// The version of this build, reported as the supervisor version.
pub const SUPERVISOR_VERSION: &str = env!("CARGO_PKG_VERSION");
