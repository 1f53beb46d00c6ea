//! Network storage mounts (`/mounts`): CIFS and NFS shares for backups, media or share, mounted
//! the way the real Supervisor mounts them.
//!
//! `config` reads and checks a mount as the real schema does and says how the API shows it (no
//! credentials); `unit` makes its systemd mount units (names from the place, the real options);
//! `manager` ([`MountManager`]) keeps the mounts (persisted), mounts them over D-Bus as jobs,
//! binds media and share mounts into the data directory, follows each unit's state from
//! systemd's signals, tells watchers (the resolution center, backups) which mounts changed or
//! failed, and gives backups the folders of backup mounts; `api` is `/mounts/*`.

pub mod api;
mod config;
mod manager;
mod unit;

pub use config::{CifsVersion, MountConfig, MountInfo, MountRequest, MountType, MountUsage, Source};
pub use manager::{MountManager, MountStatus, MountsInfo};
