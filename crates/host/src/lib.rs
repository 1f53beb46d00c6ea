//! The host: its name, time, services, power, disks and journal logs over D-Bus (systemd, logind, hostnamed, timedated, resolved) and systemd-journal-gatewayd.

pub mod api;
mod manager;

pub use api::HostApi;
pub use manager::HostManager;
