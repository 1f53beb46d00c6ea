//! Installed add-ons: what is installed (persisted like the real Supervisor's `apps.json`), the
//! images (pulled, or built locally from the add-on folder), the containers (built from the
//! add-on's configuration, granting nothing it does not ask for), the tokens add-ons call the
//! API with, the life cycle (install, update, rebuild, uninstall, start, stop, boot), their own
//! AppArmor profiles, and the watchdogs that restart crashed add-ons and those whose application
//! stopped answering; the auto-update of those whose user asked for it; and the `/addons` API with install and update under `/store/addons/{addon}`.

pub mod api;
mod apparmor;
pub mod auto_update;
mod backup;
mod build;
mod container;
mod data;
mod devices;
mod engine;
mod errors;
mod info;
mod manager;
mod url;
mod watchdog;

pub use backup::{AddonRestore, AddonSnapshot, BackupHold};
pub use data::{Boot, Installed, SystemData, UserData};
pub use engine::AddonState;
pub use info::AddonListItem;
pub use manager::{AddonManager, AvailableUpdate, PanelHook, Settings, UninstallHook, UpdateBackup};
