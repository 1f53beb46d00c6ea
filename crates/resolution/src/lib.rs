//! The resolution center (`/resolution/*`): whether the system is supported and healthy (the
//! evaluations), what is wrong with it (the checks and their issues), and what would fix it (the
//! suggestions, applied by the fixups), with the real Supervisor's names and rules.
//!
//! It reads every other domain and changes some of them through their managers, so it sits above
//! them all; nothing below depends on it. Domains that change a fact an evaluation reads ask for
//! a new evaluation through `base::System::request_evaluation`.

pub mod api;
mod checks;
mod evaluations;
mod facts;
mod fixups;
mod manager;
mod model;

pub use manager::{ResolutionInfo, ResolutionManager};

use addons::AddonManager;
use backups::BackupManager;
use base::System;
use docker::DockerManager;
use homeassistant::CoreManager;
use host::HostManager;
use jobs::JobManager;
use os::OsManager;
use security::SecurityManager;
use std::path::PathBuf;
use std::sync::Arc;
use store::StoreManager;
use supervisor::SupervisorManager;
use updater::Updater;

/// The managers the resolution center reads and acts through.
pub struct Parts {
    pub system: Arc<System>,
    pub jobs: JobManager,
    pub docker: Arc<DockerManager>,
    pub updater: Arc<Updater>,
    pub supervisor: Arc<SupervisorManager>,
    pub host: Arc<HostManager>,
    pub os: Arc<OsManager>,
    pub core: CoreManager,
    pub addons: AddonManager,
    pub store: StoreManager,
    pub backups: BackupManager,
    pub mounts: mounts::MountManager,
    pub plugins: plugins::PluginManager,
    pub security: Arc<SecurityManager>,
    /// Where the host's `/sys`, `/proc` and `/dev` are found (`--host-root`).
    pub host_root: PathBuf,
    /// This machine's type (`--machine`), for the add-ons' machine lists.
    pub machine: String,
    /// The Pwned Passwords range API; `<api>/<first five characters of the SHA-1>` is asked.
    pub pwned_api: String,
}
