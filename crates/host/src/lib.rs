//! The host: its name, time, services, power, disks and journal logs over D-Bus (systemd, logind,
//! hostnamed, timedated, resolved, UDisks2, the OS-Agent) and systemd-journal-gatewayd.
//!
//! - `manager`: [`HostManager`], what the group reads and does;
//! - `info`: `/host/info` and the feature list, made from the watched service states;
//! - `disks`: the data disk's usage tree and wear;
//! - `clock`: the host's clock checked at start against the whoami service;
//! - `firewall`: the container network's gateway kept from other networks;
//! - `api`: the `/host/*` routes.

pub mod api;
mod clock;
mod disks;
pub mod firewall;
mod info;
mod manager;

pub use clock::TIMESYNCD;
pub use disks::DiskUsage;
pub use info::{mount_supported, Feature, HostInfo};
pub use manager::{HostManager, HostService, MountedDisks, UnitAction};
