//! Backups: every `/backups/*` endpoint. A backup is one tar in the real Supervisor's layout
//! (`backup.json` and one inner archive per part: the Home Assistant configuration, each add-on,
//! each folder), streamed to disk as it is made, with inner archives compressed with zstd and,
//! with a password, encrypted in the SecureTar format the real Supervisor uses. Backups it made
//! (gzip inner archives, older SecureTar versions) restore here too.
//!
//! A backup is kept in the backup folder, on backup mounts or in Core's `.cloud_backup` folder,
//! and one found in several of them is listed once with all its locations.
//!
//! - `model`: `backup.json`; `file`: a backup on disk; `location`: a backup's locations and
//!   copies; `codec`: the inner archives' layers; `write`: writing an inner archive;
//!   `background`: the priority writing and reading run at; `glob`: the exclusion patterns;
//!   `staging`: restores that are all or nothing; `manager`: the operations as jobs; `api`: the
//!   routes.

pub mod api;
mod background;
mod codec;
mod file;
mod glob;
mod location;
mod manager;
mod model;
mod staging;
mod write;

pub use location::{Backup, Location};
pub use manager::{AddonSelection, BackupManager, NewBackup};
pub use model::BackupType;
