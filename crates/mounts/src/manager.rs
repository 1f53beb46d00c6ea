//! [`MountManager`]: the configured mounts (persisted), their systemd units and their state.
//!
//! A mount is a transient systemd mount unit at `<data>/mounts/<name>` made over D-Bus as the
//! real Supervisor makes it (module `unit`); a media or share mount is then bound into
//! `<data>/media/<name>` or `<data>/share/<name>` by a second (bind) unit, or, while it is down,
//! an empty read-only folder is bound there instead, so nothing writes into the local disk by
//! mistake. Each job is waited for through systemd's `JobRemoved`; the unit's `ActiveState` is
//! then read, and kept current from its signals between operations. A network mount counts as
//! mounted only if it is `active` and its folder answers (`statvfs`) as a file system of its own.
//!
//! CIFS credentials go to `<data>/.mounts_credentials/<name>` (0600, written atomically, in a
//! 0700 folder) and the unit names that file, never the password. Create, update, remove and
//! reload run as the real jobs (`mount_manager_*_mount`, condition `mount_available`), one at a
//! time.

use crate::config::{MountConfig, MountInfo, MountUsage, Source};
use crate::unit::MountUnit;
use base::{DataDir, Error, System};
use dbus::{HostServices, UnitJob};
use jobs::{JobCondition, JobManager, JobSpec};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use state::{Persisted, Store};
use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa::ToSchema;

/// How long a systemd job may take: a restart is a stop and a start, each bounded by the unit's
/// timeout.
const JOB_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a unit found at start may take to leave a transitional state.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(40);
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";

/// `GET /mounts`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MountsInfo {
    /// Where backups go when no location is given; `null` for the backup folder.
    pub default_backup_mount: Option<String>,
    pub mounts: Vec<MountInfo>,
}

/// A mount's name, use and unit state, as watchers (the resolution center) see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountStatus {
    pub name: String,
    pub usage: MountUsage,
    /// The unit's `ActiveState`; `None` before the mount was first tried.
    pub state: Option<String>,
}

impl MountStatus {
    /// Tried and not mounted: its unit failed, or is gone.
    pub fn failed(&self) -> bool {
        matches!(self.state.as_deref(), Some("failed" | "inactive"))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct MountsConfig {
    mounts: Vec<MountConfig>,
    default_backup_mount: Option<String>,
}

/// What is known of a mount while the supervisor runs.
#[derive(Default)]
struct Runtime {
    state: Option<String>,
    /// Follows the unit's state from its signals.
    watcher: Option<AbortOnDrop>,
    /// The bind unit putting a media or share mount (or its stand-in) in place.
    bound: Option<MountUnit>,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Clone)]
pub struct MountManager {
    inner: Arc<Inner>,
}

struct Inner {
    data: DataDir,
    services: Arc<HostServices>,
    system: Arc<System>,
    jobs: JobManager,
    config: Persisted<MountsConfig>,
    runtime: Mutex<BTreeMap<String, Runtime>>,
    /// One change of mounts at a time.
    ops: tokio::sync::Mutex<()>,
    statuses: watch::Sender<Vec<MountStatus>>,
}

impl MountManager {
    /// The mounts saved in `store`; keeps the `mount_available` job condition current from the
    /// host's services. Call [`MountManager::load`] to mount them.
    pub fn new(
        store: &Store,
        data: DataDir,
        services: Arc<HostServices>,
        system: Arc<System>,
        jobs: JobManager,
    ) -> state::Result<MountManager> {
        let config: Persisted<MountsConfig> = Persisted::load(store.section("mounts")?, "config")?;
        let statuses = watch::channel(Vec::new()).0;
        let inner = Inner {
            data,
            services,
            system,
            jobs,
            config,
            runtime: Mutex::default(),
            ops: tokio::sync::Mutex::new(()),
            statuses,
        };
        let manager = MountManager { inner: Arc::new(inner) };
        manager.inner.publish();
        manager.inner.publish_available();
        let follower = Arc::clone(&manager.inner);
        tokio::spawn(async move { follower.follow_host().await });
        Ok(manager)
    }

    /// At start: mounts every saved mount (a unit still there from an earlier run is kept when
    /// it is mounted) and binds media and share mounts in place. A mount that fails stays
    /// configured, its state `failed`.
    pub async fn load(&self) {
        let mounts = self.inner.config.get().mounts;
        if mounts.is_empty() {
            return;
        }
        if !self.inner.available() {
            tracing::error!("Cannot load configured mounts because mounting not supported on system!");
            return;
        }
        tracing::info!("Initializing all user-configured mounts");
        let _ops = self.inner.ops.lock().await;
        let loads = mounts.iter().map(|config| self.inner.load_mount(config));
        for (config, result) in mounts.iter().zip(futures_util::future::join_all(loads).await) {
            if let Err(error) = result {
                tracing::error!("mount {} not mounted: {}", config.name, error.message);
            }
        }
        for config in mounts.iter().filter(|config| config.usage != MountUsage::Backup) {
            if let Err(error) = self.inner.bind(config).await {
                tracing::error!("mount {} not bound: {}", config.name, error.message);
            }
        }
    }

    /// `GET /mounts`.
    pub fn info(&self) -> MountsInfo {
        let config = self.inner.config.get();
        let runtime = self.inner.runtime.lock().expect("runtime lock");
        let mounts = config
            .mounts
            .iter()
            .map(|mount| mount.info(runtime.get(&mount.name).and_then(|r| r.state.clone())))
            .collect();
        MountsInfo { default_backup_mount: config.default_backup_mount, mounts }
    }

    /// The names of the mounts that were tried and are not mounted, for the resolution center.
    pub fn failed_mounts(&self) -> Vec<String> {
        self.inner.statuses.borrow().iter().filter(|status| status.failed()).map(|status| status.name.clone()).collect()
    }

    /// Every mount with its state, seen again at each change (a mount added, changed or removed,
    /// a unit's state moving).
    pub fn subscribe(&self) -> watch::Receiver<Vec<MountStatus>> {
        self.inner.statuses.subscribe()
    }

    /// The systemd units of the mounts (their network units and the bind units into media and
    /// share), which report their failures themselves: the failed-unit check leaves them out.
    pub fn unit_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.inner.config.read().mounts.iter().map(|config| self.inner.network_unit(config).name()).collect();
        let runtime = self.inner.runtime.lock().expect("runtime lock");
        names.extend(runtime.values().filter_map(|r| r.bound.as_ref().map(MountUnit::name)));
        names
    }

    /// The name of an existing mount, or 404.
    pub fn existing(&self, name: &str) -> Result<String, Error> {
        self.inner.existing(name).map(|mount| mount.name)
    }

    /// Adds a mount and mounts it, as the job `mount_manager_create_mount`; the first backup mount
    /// becomes the default backup location. A mount that does not come up is not kept.
    pub async fn create(&self, config: MountConfig) -> Result<(), Error> {
        if self.inner.find(&config.name).is_some() {
            return Err(Error::invalid(format!("A mount already exists with name {}", config.name)));
        }
        self.run("mount_manager_create_mount", &config.name.clone(), move |inner| inner.create_mount(config, true))
            .await
    }

    /// Replaces a mount's settings and mounts it again, as the job `mount_manager_create_mount`.
    pub async fn update(&self, config: MountConfig) -> Result<(), Error> {
        self.inner.existing(&config.name)?;
        self.run("mount_manager_create_mount", &config.name.clone(), move |inner| inner.create_mount(config, false))
            .await
    }

    /// Unmounts and forgets a mount, as the job `mount_manager_remove_mount`.
    pub async fn remove(&self, name: &str) -> Result<(), Error> {
        self.inner.existing(name)?;
        let owned = name.to_owned();
        self.run("mount_manager_remove_mount", name, move |inner| async move { inner.remove_mount(&owned).await }).await
    }

    /// Mounts a mount again with its settings (after its server came back), as the job
    /// `mount_manager_reload_mount`.
    pub async fn reload(&self, name: &str) -> Result<(), Error> {
        self.inner.existing(name)?;
        let owned = name.to_owned();
        self.run("mount_manager_reload_mount", name, move |inner| async move { inner.reload_mount(&owned).await }).await
    }

    /// Runs `work` as the job `job` about the mount `name`, which needs mounting to be possible.
    async fn run<F, Fut>(&self, job: &str, name: &str, work: F) -> Result<(), Error>
    where
        F: FnOnce(Arc<Inner>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), Error>> + Send + 'static,
    {
        let spec = JobSpec::new(job).reference(name).conditions(&[JobCondition::MountAvailable]);
        let inner = Arc::clone(&self.inner);
        self.inner.jobs.run(spec, move |_job| work(inner)).await
    }

    /// Sets (or with `None` unsets) where backups go when no location is given.
    pub fn set_default_backup_mount(&self, name: Option<String>) -> Result<(), Error> {
        if let Some(name) = &name {
            let mount =
                self.inner.find(name).ok_or_else(|| not_found(format!("No mount exists with name '{name}'")))?;
            if mount.usage != MountUsage::Backup {
                return Err(Error::invalid(format!(
                    "Mount {name} is not used for backups, cannot use it as default backup mount"
                )));
            }
        }
        self.inner.config.update(|config| config.default_backup_mount = name)?;
        Ok(())
    }

    /// Where backups go when no location is given: the default backup mount, if one is set.
    pub fn default_backup_mount(&self) -> Option<String> {
        self.inner.config.read().default_backup_mount.clone()
    }

    /// The folder of the backup mount `name`, as a backup's location names it: an unknown mount
    /// is 404, a mount for media or share is refused; whether it is mounted is not checked.
    pub fn backup_mount(&self, name: &str) -> Result<PathBuf, Error> {
        let mount = self.inner.find(name).ok_or_else(|| not_found(format!("No mount exists with name '{name}'")))?;
        if mount.usage != MountUsage::Backup {
            return Err(Error::invalid(format!("Mount {name} is not used for backups, cannot backup to there")));
        }
        Ok(self.inner.place(name))
    }

    /// [`MountManager::backup_mount`], and mounted now: where a backup can be written.
    pub async fn backup_folder(&self, name: &str) -> Result<PathBuf, Error> {
        self.backup_mount(name)?;
        let unit = self.inner.network_unit(&self.inner.existing(name)?);
        if !self.inner.is_mounted(&unit).await {
            return Err(Error::invalid(format!("Backup mount '{name}' is down"))
                .with_key("backup_mount_down")
                .with_extra(json!({"mount": name}).as_object().cloned().unwrap_or_default()));
        }
        Ok(unit.place)
    }

    /// The backup mounts whose unit is active, with their folders: where backups are listed from.
    pub fn backup_folders(&self) -> Vec<(String, PathBuf)> {
        let config = self.inner.config.get();
        let runtime = self.inner.runtime.lock().expect("runtime lock");
        config
            .mounts
            .iter()
            .filter(|mount| mount.usage == MountUsage::Backup)
            .filter(|mount| runtime.get(&mount.name).and_then(|r| r.state.as_deref()) == Some("active"))
            .map(|mount| (mount.name.clone(), self.inner.place(&mount.name)))
            .collect()
    }
}

fn not_found(message: String) -> Error {
    Error::not_found(message).with_key("mount_not_found_error")
}

impl Inner {
    fn find(&self, name: &str) -> Option<MountConfig> {
        self.config.read().mounts.iter().find(|mount| mount.name == name).cloned()
    }

    fn existing(&self, name: &str) -> Result<MountConfig, Error> {
        self.find(name).ok_or_else(|| not_found(format!("No mount exists with name {name}")))
    }

    fn available(&self) -> bool {
        let hostname = self.services.hostname.state();
        host::mount_supported(self.services.systemd.is_available(), hostname.as_ref())
    }

    fn publish_available(&self) {
        self.system.set_mount_available(self.available());
    }

    /// Keeps the `mount_available` condition current as systemd and the OS come and go.
    async fn follow_host(&self) {
        let mut systemd = self.services.systemd.subscribe();
        let mut hostname = self.services.hostname.subscribe();
        loop {
            let changed = tokio::select! {
                changed = systemd.changed() => changed,
                changed = hostname.changed() => changed,
            };
            if changed.is_err() {
                return;
            }
            self.publish_available();
        }
    }

    /// Sends the statuses to the watchers if they changed.
    fn publish(&self) {
        let config = self.config.get();
        let runtime = self.runtime.lock().expect("runtime lock");
        let statuses: Vec<MountStatus> = config
            .mounts
            .iter()
            .map(|mount| MountStatus {
                name: mount.name.clone(),
                usage: mount.usage,
                state: runtime.get(&mount.name).and_then(|r| r.state.clone()),
            })
            .collect();
        drop(runtime);
        self.statuses.send_if_modified(|current| {
            let changed = *current != statuses;
            *current = statuses;
            changed
        });
    }

    fn set_state(&self, name: &str, state: Option<String>) {
        self.runtime.lock().expect("runtime lock").entry(name.to_owned()).or_default().state = state;
        self.publish();
    }

    fn place(&self, name: &str) -> PathBuf {
        self.data.mounts().join(name)
    }

    fn credentials_file(&self, name: &str) -> PathBuf {
        self.data.mounts_credentials().join(name)
    }

    fn network_unit(&self, config: &MountConfig) -> MountUnit {
        MountUnit::network(config, self.place(&config.name), &self.credentials_file(&config.name))
    }

    /// The folder a media or share mount is bound to.
    fn bind_target(&self, config: &MountConfig) -> Option<PathBuf> {
        match config.usage {
            MountUsage::Media => Some(self.data.media().join(&config.name)),
            MountUsage::Share => Some(self.data.share().join(&config.name)),
            MountUsage::Backup => None,
        }
    }

    async fn create_mount(self: Arc<Self>, config: MountConfig, new: bool) -> Result<(), Error> {
        let _ops = self.ops.lock().await;
        check_local_data(&config.name, self.local_paths(&config)).await?;
        if !new {
            let old = self.existing(&config.name)?;
            self.unmount_all(&old).await?;
        }
        tracing::info!("Creating or updating mount: {}", config.name);
        let mounted = async {
            self.load_mount(&config).await?;
            if config.usage != MountUsage::Backup {
                self.bind(&config).await?;
            }
            Ok::<(), Error>(())
        };
        if let Err(error) = mounted.await {
            // Nothing half made stays behind: no unit, no bind, no credentials.
            if let Err(cleanup) = self.unmount_all(&config).await {
                tracing::warn!("cleaning up mount {}: {}", config.name, cleanup.message);
            }
            return Err(error);
        }
        let name = config.name.clone();
        let usage = config.usage;
        self.config.update(|saved| {
            match saved.mounts.iter_mut().find(|mount| mount.name == config.name) {
                Some(mount) => *mount = config,
                None => saved.mounts.push(config),
            }
            if usage == MountUsage::Backup && new && saved.default_backup_mount.is_none() {
                saved.default_backup_mount = Some(name.clone());
            }
            if usage != MountUsage::Backup && saved.default_backup_mount.as_deref() == Some(name.as_str()) {
                saved.default_backup_mount = None;
            }
        })?;
        self.publish();
        Ok(())
    }

    /// The folders a mount would mount over, which must hold no data of their own.
    fn local_paths(&self, config: &MountConfig) -> Vec<PathBuf> {
        std::iter::once(self.place(&config.name)).chain(self.bind_target(config)).collect()
    }

    async fn remove_mount(self: Arc<Self>, name: &str) -> Result<(), Error> {
        let _ops = self.ops.lock().await;
        let config = self.existing(name)?;
        tracing::info!("Removing mount: {name}");
        self.unmount_all(&config).await?;
        self.config.update(|saved| {
            saved.mounts.retain(|mount| mount.name != name);
            if saved.default_backup_mount.as_deref() == Some(name) {
                saved.default_backup_mount = None;
            }
        })?;
        self.runtime.lock().expect("runtime lock").remove(name);
        self.publish();
        Ok(())
    }

    async fn reload_mount(self: Arc<Self>, name: &str) -> Result<(), Error> {
        let _ops = self.ops.lock().await;
        let config = self.existing(name)?;
        tracing::info!("Reloading mount: {name}");
        let unit = self.network_unit(&config);
        let reloaded = self.reload_unit(&unit, name).await;
        self.refresh_state(&config).await;
        reloaded?;
        // Stopping or restarting the mount takes its bind mount down with it: bind again.
        if config.usage != MountUsage::Backup {
            self.bind(&config).await?;
        }
        Ok(())
    }

    /// Unmounts the bind unit, the mount and its credentials; the runtime state is cleared.
    async fn unmount_all(&self, config: &MountConfig) -> Result<(), Error> {
        let bound = self.runtime.lock().expect("runtime lock").get_mut(&config.name).and_then(|r| r.bound.take());
        if let Some(bind) = bound {
            self.unmount_unit(&bind, &config.name).await?;
        }
        if matches!(config.source, Source::Cifs { .. }) {
            let file = self.credentials_file(&config.name);
            if let Err(error) = std::fs::remove_file(&file) {
                if error.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("removing {}: {error}", file.display());
                }
            }
        }
        let unit = self.network_unit(config);
        self.unmount_unit(&unit, &config.name).await?;
        if let Some(runtime) = self.runtime.lock().expect("runtime lock").get_mut(&config.name) {
            runtime.watcher = None;
            runtime.state = None;
        }
        self.publish();
        Ok(())
    }

    /// Mounts a configured mount: its unit is made, or, if one is there from an earlier run and
    /// not mounted, reloaded. Its state is followed from now on.
    async fn load_mount(self: &Arc<Self>, config: &MountConfig) -> Result<(), Error> {
        self.watch_state(config).await;
        if let Source::Cifs { credentials: Some(login), .. } = &config.source {
            self.write_credentials(&config.name, &login.username, &login.password)?;
        }
        let unit = self.network_unit(config);
        let loaded = self.load_unit(&unit, &config.name).await;
        self.refresh_state(config).await;
        loaded
    }

    /// Reads the unit's state now (after a job) into the runtime.
    async fn refresh_state(&self, config: &MountConfig) {
        let unit = self.network_unit(config);
        match self.unit_state(&unit).await {
            Ok(state) => self.set_state(&config.name, Some(state.unwrap_or_else(|| "inactive".to_owned()))),
            Err(error) => tracing::warn!("reading the state of mount {}: {}", config.name, error.message),
        }
    }

    /// Follows the unit's `ActiveState` from its signals into the runtime, until the mount is
    /// unmounted.
    async fn watch_state(self: &Arc<Self>, config: &MountConfig) {
        let watching =
            self.runtime.lock().expect("runtime lock").get(&config.name).is_some_and(|r| r.watcher.is_some());
        if watching {
            return;
        }
        let unit = self.network_unit(config).name();
        let mut states = match self.services.systemd.watch_active_state(&unit).await {
            Ok(states) => states,
            Err(error) => {
                tracing::warn!("cannot follow the state of {unit}: {error}");
                return;
            }
        };
        let manager = Arc::downgrade(self);
        let name = config.name.clone();
        let task = tokio::spawn(async move {
            while states.changed().await.is_ok() {
                let state = states.borrow_and_update().clone();
                let Some(manager) = manager.upgrade() else { return };
                manager.set_state(&name, Some(state));
            }
        });
        self.runtime.lock().expect("runtime lock").entry(config.name.clone()).or_default().watcher =
            Some(AbortOnDrop(task));
    }

    fn write_credentials(&self, name: &str, username: &str, password: &str) -> Result<(), Error> {
        let folder = self.data.mounts_credentials();
        let written = (|| {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&folder)?;
            std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700))?;
            let contents = format!("username={username}\npassword={password}");
            base::fs::atomic_write(&folder.join(name), contents.as_bytes(), 0o600)
        })();
        written.map_err(|error| Error::internal(format!("Cannot write the credentials of mount {name}: {error}")))
    }

    /// Binds a media or share mount into place, or, while it is not mounted, an empty read-only
    /// stand-in (`emergency_<name>`), so nothing lands on the local disk instead.
    async fn bind(&self, config: &MountConfig) -> Result<(), Error> {
        let Some(target) = self.bind_target(config) else { return Ok(()) };
        let old = self.runtime.lock().expect("runtime lock").get_mut(&config.name).and_then(|r| r.bound.take());
        if let Some(old) = old {
            self.unmount_unit(&old, &config.name).await?;
        }
        let mounted = self.unit_state(&self.network_unit(config)).await?.as_deref() == Some("active");
        let (label, source) = if mounted {
            ("bind", self.place(&config.name))
        } else {
            tracing::warn!(
                "Mount {} failed to mount, mounting read-only fallback for {}",
                config.name,
                target.display()
            );
            let stand_in = self.data.emergency().join(&config.name);
            if !stand_in.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o444)
                    .create(&stand_in)
                    .map_err(|error| Error::internal(format!("Cannot create {}: {error}", stand_in.display())))?;
            }
            ("emergency", stand_in)
        };
        let bind = MountUnit::bind(&format!("{label}_{}", config.name), &source, target, !mounted);
        self.runtime.lock().expect("runtime lock").entry(config.name.clone()).or_default().bound = Some(bind.clone());
        self.load_unit(&bind, &config.name).await
    }

    /// A unit's `ActiveState`; `None` when systemd has no such unit.
    async fn unit_state(&self, unit: &MountUnit) -> Result<Option<String>, Error> {
        match self.services.systemd.unit_active_state(&unit.name()).await {
            Ok(state) => Ok(Some(state)),
            Err(error) if error.error_name() == Some(NO_SUCH_UNIT) => Ok(None),
            Err(error) => Err(Error::invalid(format!("Could not get mount unit due to: {error}"))),
        }
    }

    /// Active, and for a network mount its folder answers as a file system of its own (a
    /// server that went away fails `statvfs`; an unmounted folder is on its parent's).
    async fn is_mounted(&self, unit: &MountUnit) -> bool {
        if !matches!(self.unit_state(unit).await, Ok(Some(state)) if state == "active") {
            return false;
        }
        if unit.fs_type.is_none() {
            return true;
        }
        let place = unit.place.clone();
        tokio::task::spawn_blocking(move || probe(&place)).await.unwrap_or(false)
    }

    /// The unit as found: made if missing; if there but not mounted (once it settled), reloaded.
    async fn load_unit(&self, unit: &MountUnit, name: &str) -> Result<(), Error> {
        if self.unit_state(unit).await?.is_none() {
            return self.mount_unit(unit, name).await;
        }
        self.settle(unit).await;
        if !self.is_mounted(unit).await {
            return self.reload_unit(unit, name).await;
        }
        Ok(())
    }

    /// Waits (from the unit's signals) until it is `active`, `failed` or `inactive`.
    async fn settle(&self, unit: &MountUnit) {
        let Ok(mut state) = self.services.systemd.watch_active_state(&unit.name()).await else { return };
        let settled = state.wait_for(|state| matches!(state.as_str(), "active" | "failed" | "inactive"));
        if tokio::time::timeout(SETTLE_TIMEOUT, settled).await.is_err() {
            tracing::warn!(
                "Mount {} still in state {} after waiting for {} seconds to complete",
                unit.name(),
                state.borrow().as_str(),
                SETTLE_TIMEOUT.as_secs()
            );
        }
    }

    /// Makes and starts the unit on an empty folder; fails unless it is mounted after.
    async fn mount_unit(&self, unit: &MountUnit, name: &str) -> Result<(), Error> {
        ensure_empty_folder(name, &unit.place)?;
        let unit_name = unit.name();
        let properties = unit.properties();
        let job = UnitJob::StartTransient(&unit_name, &properties);
        self.services
            .systemd
            .run_job(job, JOB_TIMEOUT)
            .await
            .map_err(|error| Error::invalid(format!("Could not mount {name} due to: {error}")))?;
        if !self.is_mounted(unit).await {
            tracing::error!("Mounting {name} did not succeed ({unit_name})");
            return Err(Error::invalid(format!(
                "Mounting {name} did not succeed. Check host logs for errors from mount or systemd unit {unit_name} for details."
            )));
        }
        Ok(())
    }

    /// Stops the unit (and clears a failed one); nothing to do without a unit.
    async fn unmount_unit(&self, unit: &MountUnit, name: &str) -> Result<(), Error> {
        let unit_name = unit.name();
        let failed = |error: dbus::Error| Error::invalid(format!("Could not unmount {name} due to: {error}"));
        let Some(mut state) = self.unit_state(unit).await? else {
            tracing::info!("Mount {name} is not mounted, skipping unmount");
            return Ok(());
        };
        if state != "failed" {
            self.services.systemd.run_job(UnitJob::Stop(&unit_name), JOB_TIMEOUT).await.map_err(failed)?;
            state = self.unit_state(unit).await?.unwrap_or_default();
        }
        if state == "failed" {
            self.services.systemd.reset_failed_unit(&unit_name).await.map_err(failed)?;
        }
        Ok(())
    }

    /// Mounted already: nothing to do. Else a reload, and a restart if that did not help; a
    /// unit that is gone is made again.
    async fn reload_unit(&self, unit: &MountUnit, name: &str) -> Result<(), Error> {
        if self.is_mounted(unit).await {
            return Ok(());
        }
        let unit_name = unit.name();
        match self.services.systemd.run_job(UnitJob::Reload(&unit_name), JOB_TIMEOUT).await {
            Err(error) if error.error_name() == Some(NO_SUCH_UNIT) => {
                tracing::info!("Mount {name} is not mounted, mounting instead of reloading");
                self.mount_unit(unit, name).await
            }
            Err(error) => {
                tracing::error!("Could not reload mount {name} due to: {error}. Trying a restart");
                self.restart_unit(unit, name).await
            }
            Ok(Some(result)) if result == "done" && self.is_mounted(unit).await => Ok(()),
            Ok(result) => {
                tracing::info!("Mount {name} reload did not complete (systemd result: {result:?}). Trying a restart");
                self.restart_unit(unit, name).await
            }
        }
    }

    async fn restart_unit(&self, unit: &MountUnit, name: &str) -> Result<(), Error> {
        let unit_name = unit.name();
        let result = match self.services.systemd.run_job(UnitJob::Restart(&unit_name), JOB_TIMEOUT).await {
            Err(error) if error.error_name() == Some(NO_SUCH_UNIT) => {
                tracing::info!("Mount {name} is not mounted, mounting instead of restarting");
                return self.mount_unit(unit, name).await;
            }
            Err(error) => return Err(Error::invalid(format!("Could not restart mount {name} due to: {error}"))),
            Ok(result) => result,
        };
        if result.as_deref() != Some("done") || !self.is_mounted(unit).await {
            let result = result.as_deref().unwrap_or("None");
            return Err(Error::invalid(format!(
                "Restarting {name} did not succeed (systemd result: {result}). Check host logs for errors from mount or systemd unit {unit_name} for details."
            )));
        }
        Ok(())
    }
}

/// The folder a unit mounts on: made if missing; refused if it is not a folder or holds data.
fn ensure_empty_folder(name: &str, place: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(place) {
        Err(_) => {
            tracing::info!("Creating folder for mount: {}", place.display());
            std::fs::create_dir_all(place)
                .map_err(|error| Error::internal(format!("Cannot create {}: {error}", place.display())))
        }
        Ok(meta) if !meta.is_dir() => Err(not_a_folder(name, place)),
        Ok(_) if std::fs::read_dir(place).is_ok_and(|mut entries| entries.next().is_some()) => {
            Err(not_empty(name, place))
        }
        Ok(_) => Ok(()),
    }
}

/// Refuses a mount whose folders hold data of their own, before anything is touched; a folder
/// that is a mount point already is skipped (it is unmounted before reuse).
async fn check_local_data(name: &str, paths: Vec<PathBuf>) -> Result<(), Error> {
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        for path in &paths {
            let Ok(meta) = std::fs::symlink_metadata(path) else { continue };
            if is_mount_point(path) {
                continue;
            }
            if !meta.is_dir() {
                return Err(not_a_folder(&name, path));
            }
            if std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some()) {
                return Err(not_empty(&name, path));
            }
        }
        Ok(())
    })
    .await
    .map_err(|error| Error::internal(error.to_string()))?
}

fn fields(name: &str, path: &Path) -> Map<String, Value> {
    json!({"name": name, "path": path.display().to_string()}).as_object().cloned().unwrap_or_default()
}

fn not_a_folder(name: &str, path: &Path) -> Error {
    Error::invalid(format!("Cannot mount {name} at {} as it is not a directory", path.display()))
        .with_key("mount_target_not_directory_error")
        .with_extra(fields(name, path))
}

fn not_empty(name: &str, path: &Path) -> Error {
    Error::invalid(format!(
        "Cannot mount {name} because there is existing data at {}. Move it away first, then retry",
        path.display()
    ))
    .with_key("mount_target_not_empty_error")
    .with_extra(fields(name, path))
}

/// A file system of its own is mounted at `path`: it lives on another device than its parent.
fn is_mount_point(path: &Path) -> bool {
    let parent = path.parent().unwrap_or(path);
    match (std::fs::metadata(path), std::fs::metadata(parent)) {
        (Ok(here), Ok(above)) => here.dev() != above.dev() || here.ino() == above.ino(),
        _ => false,
    }
}

/// Whether a network mount answers: `statvfs` reaches the server (or fails when it is gone) and
/// the folder is a mount point, not the empty folder of a mount that vanished.
fn probe(place: &Path) -> bool {
    base::system::free_space(place).is_ok() && is_mount_point(place)
}

impl host::MountedDisks for MountManager {
    fn active_place(&self, name: &str) -> Result<PathBuf, Error> {
        let mount = self.inner.existing(name)?;
        let active =
            self.inner.statuses.borrow().iter().any(|s| s.name == mount.name && s.state.as_deref() == Some("active"));
        if !active {
            return Err(Error::invalid(format!("Mount {name} is not active, cannot report storage usage"))
                .with_key("mount_usage_not_active_error"));
        }
        Ok(self.inner.place(&mount.name))
    }
}
