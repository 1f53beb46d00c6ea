//! The container engine: the connection to Docker, what the engine reports, the registry
//! credentials and engine options the user set, image pulls with job progress, and the
//! `/docker` API.
//!
//! The supervisor must run without an engine: the connection is made in the background and
//! retried, the system is marked unhealthy (`docker`) while it is missing, and endpoints that
//! need it answer 503 instead of failing the daemon.

pub mod api;
mod logs;
mod manager;
mod pull;
mod stats;

pub use manager::{use_resolver, DockerConfig, DockerManager, EngineInfo, Naming, NetworkInfo, Registry, DNS_SUFFIX};
pub use pull::LABEL_MANAGED;
pub use stats::{round2, stats_from, Stats};
