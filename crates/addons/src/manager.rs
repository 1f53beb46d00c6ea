//! The add-on manager: installed add-ons, their images and containers, their tokens and their
//! life cycle (install, update, rebuild, uninstall, start, stop, boot).
//!
//! Every operation on one add-on runs as a job of the group `addon` with the add-on as
//! reference and the `Once` limit, so two operations on the same add-on never interleave (a
//! second one is refused with 409) while different add-ons proceed in parallel. Install, update
//! and rebuild call internal steps (`start_container`, `stop_container`) directly, so they do not
//! collide with their own group.

use crate::apparmor::{kernel_has_apparmor, Profiles};
use crate::build;
use crate::container::{self, HostFolders, Plan};
use crate::data::{AddonsFile, Boot, Installed, SystemData, UserData};
use crate::engine::{self, AddonState};
use crate::errors;
use crate::info::StoreFacts;
use addon_config::{AddonConfig, Startup};
use base::{DataDir, Error, Timezone};
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, InspectContainerOptions,
    RemoveContainerOptionsBuilder, StatsOptionsBuilder, StopContainerOptionsBuilder,
};
use docker::DockerManager;
use futures_util::StreamExt;
use jobs::{Job, JobCondition, JobLimit, JobManager, JobSpec, Outcome};
use security::{AddonRights, Caller, Grants, Tokens};
use serde_json::{Map, Value};
use state::Persisted;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::{AddonFile, StoreAddon, StoreManager};
use tokio::io::AsyncWriteExt;
use update_locks::{Held, LockError, Locks};

/// How long `start` waits for a health-checked add-on to leave `startup`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// Add-on tokens: 56 random bytes, 112 hex characters, as the real Supervisor makes them.
const TOKEN_BYTES: usize = 56;

/// Run-time facts about one add-on that are not persisted.
#[derive(Debug, Default)]
pub(crate) struct Runtime {
    /// The user (or an operation) stopped it: the watchdog leaves it alone.
    pub manual_stop: bool,
    /// The last start or stop failed: the state is `error` until the next one succeeds.
    pub failed: bool,
    /// A watchdog restart loop runs for it.
    pub watchdog_active: bool,
    /// When the watchdog restarted it, for the rate limit.
    pub watchdog_restarts: Vec<Instant>,
    /// Probes of its application missed in a row.
    pub application_misses: u32,
}

/// The installed add-ons. Cheap to clone; every clone is the same manager.
#[derive(Clone)]
pub struct AddonManager {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) folders: HostFolders,
    pub(crate) jobs: JobManager,
    pub(crate) docker: Arc<DockerManager>,
    tokens: Arc<Tokens>,
    pub(crate) catalog: StoreManager,
    timezone: Timezone,
    pub(crate) file: Persisted<AddonsFile>,
    pub(crate) runtime: Mutex<HashMap<String, Runtime>>,
    /// Makes the backup an update asks for; set once the backups exist (they need us first).
    update_backup: std::sync::OnceLock<Arc<dyn UpdateBackup>>,
    /// Told of every removed add-on; see [`AddonManager::on_uninstall`].
    uninstall_hooks: Mutex<Vec<UninstallHook>>,
    /// Told of every panel turned on or off; see [`AddonManager::on_panel_change`].
    panel_hooks: Mutex<Vec<PanelHook>>,
    /// The update locks add-ons hold through their `/tmp/balena` folder.
    locks: Arc<Locks<String>>,
    /// The host's devices, for the containers' device rules; set once it exists.
    pub(crate) hardware: std::sync::OnceLock<Arc<hardware::HardwareManager>>,
    /// What the daemon was told about the host; the defaults until [`AddonManager::configure`].
    settings: std::sync::OnceLock<Settings>,
}

/// The daemon's settings of the add-on runtime.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Between two probes of the add-ons' `watchdog` URLs (the real Supervisor's 120 s).
    pub application_watchdog_interval: Duration,
    /// Whether `realtime` add-ons get real-time CPU time where the kernel's cgroups allot it
    /// (`SUPERVISOR_CPU_RT=1`, as the real Supervisor is told).
    pub cpu_realtime: bool,
    /// Between two rounds of the add-on auto-update (the real Supervisor's 16 hours).
    pub auto_update_interval: Duration,
    /// How long a version must have been in the store before the auto-update installs it.
    pub auto_update_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            application_watchdog_interval: crate::watchdog::APPLICATION_INTERVAL,
            cpu_realtime: false,
            auto_update_interval: crate::auto_update::INTERVAL,
            auto_update_delay: crate::auto_update::DELAY,
        }
    }
}

/// Called with each add-on [`AddonManager::remove`] removed, so the domains built on add-ons
/// (discovery, services, ingress) drop what belonged to it.
pub type UninstallHook = Arc<dyn Fn(&Installed) + Send + Sync>;

/// Called with an add-on's slug and whether its ingress panel is on, each time the user turns it
/// on or off, so Core's sidebar follows (ingress).
pub type PanelHook = Arc<dyn Fn(&str, bool) + Send + Sync>;

/// Makes a backup of one add-on before it is updated (`backup: true` on update).
pub trait UpdateBackup: Send + Sync {
    fn backup_addon<'a>(
        &'a self,
        slug: &'a str,
        version: &'a str,
        parent: &'a Job,
    ) -> futures_util::future::BoxFuture<'a, Result<(), Error>>;
}

/// An installed add-on with a newer version in its repository.
#[derive(Debug, Clone)]
pub struct AvailableUpdate {
    pub slug: String,
    pub name: String,
    pub version_latest: String,
    /// Whether the store has its icon.
    pub icon: bool,
}

/// The job of one operation on one add-on.
pub(crate) fn spec(name: &str, slug: &str) -> JobSpec {
    JobSpec::new(name).reference(slug).group("addon").limit(JobLimit::Once)
}

/// Conditions of the jobs that fetch images.
const FETCH_CONDITIONS: [JobCondition; 2] = [JobCondition::FreeSpace, JobCondition::Healthy];

impl AddonManager {
    /// Loads the installed add-ons and tells the store about them.
    pub fn new(
        store: &state::Store,
        data: DataDir,
        jobs: JobManager,
        docker: Arc<DockerManager>,
        tokens: Arc<Tokens>,
        catalog: StoreManager,
        timezone: Timezone,
    ) -> state::Result<Self> {
        let file = Persisted::load(store.section("addons")?, "apps")?;
        let manager = AddonManager {
            inner: Arc::new(Inner {
                folders: HostFolders::new(&data),
                jobs,
                docker,
                tokens,
                catalog: catalog.clone(),
                timezone,
                file,
                runtime: Mutex::default(),
                update_backup: std::sync::OnceLock::new(),
                uninstall_hooks: Mutex::default(),
                panel_hooks: Mutex::default(),
                locks: Arc::new(Locks::new(data.addon_locks())),
                hardware: std::sync::OnceLock::new(),
                settings: std::sync::OnceLock::new(),
            }),
        };
        catalog.set_installed(Arc::new(manager.clone()));
        Ok(manager)
    }

    /// Sets the runtime settings; the first call counts, before [`AddonManager::boot`].
    pub fn configure(&self, settings: Settings) {
        let _ = self.inner.settings.set(settings);
    }

    pub(crate) fn settings(&self) -> &Settings {
        self.inner.settings.get_or_init(Settings::default)
    }

    /// The add-ons' own AppArmor profiles, on this host's kernel.
    pub(crate) fn profiles(&self) -> Profiles {
        let root = self.inner.hardware.get().map_or(Path::new("/"), |hardware| hardware.root());
        Profiles::new(self.inner.folders.layout.apparmor(), kernel_has_apparmor(root))
    }

    /// Whether an AppArmor profile of the add-on's own is kept for it.
    pub fn apparmor_profile(&self, slug: &str) -> bool {
        self.profiles().stored(slug).is_some()
    }

    /// Whether an operation on the add-on runs (a job of it not done yet).
    pub(crate) fn in_progress(&self, slug: &str) -> bool {
        self.inner.jobs.jobs().iter().any(|job| job.reference.as_deref() == Some(slug) && job.done != Some(true))
    }

    /// How updates make the backup they are asked for.
    pub fn set_update_backup(&self, backup: Arc<dyn UpdateBackup>) {
        let _ = self.inner.update_backup.set(backup);
    }

    /// Adds a hook called after each removal.
    pub fn on_uninstall(&self, hook: UninstallHook) {
        self.inner.uninstall_hooks.lock().unwrap_or_else(|e| e.into_inner()).push(hook);
    }

    /// Adds a hook called when an add-on's ingress panel is turned on or off.
    pub fn on_panel_change(&self, hook: PanelHook) {
        self.inner.panel_hooks.lock().unwrap_or_else(|e| e.into_inner()).push(hook);
    }

    /// Turns an add-on's ingress panel on or off, and tells the panel hooks when that changed it.
    pub fn set_ingress_panel(&self, slug: &str, enabled: bool) -> Result<(), Error> {
        let before = self.get(slug).ok_or_else(errors::not_installed)?.user.ingress_panel;
        self.update_user(slug, |user| user.ingress_panel = enabled)?;
        if before != enabled {
            let hooks = self.inner.panel_hooks.lock().unwrap_or_else(|e| e.into_inner()).clone();
            hooks.iter().for_each(|hook| hook(slug, enabled));
        }
        Ok(())
    }

    /// One installed add-on.
    pub fn get(&self, slug: &str) -> Option<Installed> {
        let file = self.inner.file.read();
        let user = file.user.get(slug)?.clone();
        let system = file.system.get(slug)?.clone();
        Some(Installed { slug: slug.to_owned(), user, system })
    }

    /// Every installed add-on, in slug order.
    pub fn list(&self) -> Vec<Installed> {
        let file = self.inner.file.read();
        file.user
            .iter()
            .filter_map(|(slug, user)| {
                let system = file.system.get(slug)?.clone();
                Some(Installed { slug: slug.clone(), user: user.clone(), system })
            })
            .collect()
    }

    pub fn is_installed(&self, slug: &str) -> bool {
        self.inner.file.read().user.contains_key(slug)
    }

    /// The engine connection the add-ons run on.
    pub fn docker(&self) -> &DockerManager {
        &self.inner.docker
    }

    pub fn jobs(&self) -> &JobManager {
        &self.inner.jobs
    }

    pub fn catalog(&self) -> &StoreManager {
        &self.inner.catalog
    }

    /// Changes the user data of an installed add-on, on disk first. An add-on no longer started
    /// at boot has no failed boot any more.
    pub fn update_user(&self, slug: &str, change: impl FnOnce(&mut UserData)) -> Result<(), Error> {
        let boot = |manager: &Self| manager.get(slug).map(|addon| addon.boot());
        let Some(before) = boot(self) else { return Err(errors::not_installed()) };
        self.inner.file.update(|file| {
            if let Some(user) = file.user.get_mut(slug) {
                change(user);
            }
        })?;
        if before == Boot::Auto && boot(self) == Some(Boot::Manual) {
            self.inner.jobs.system().withdraw_issue(boot_fail(slug));
        }
        Ok(())
    }

    /// Picks the port of an add-on whose config asks for one (`ingress_port: 0`) and has none yet:
    /// at random in the real Supervisor's range, neither another add-on's nor in use on the host's
    /// side of the container network.
    async fn pick_ingress_port(&self, addon: &Installed, gateway: std::net::Ipv4Addr) -> Result<(), Error> {
        if !addon.config().ingress || addon.config().ingress_port != 0 || addon.user.ingress_port.is_some() {
            return Ok(());
        }
        let taken: Vec<u16> = self.list().iter().filter_map(|other| other.user.ingress_port).collect();
        for _ in 0..100 {
            let span = u32::from(DYNAMIC_INGRESS_PORTS.end() - DYNAMIC_INGRESS_PORTS.start()) + 1;
            let port = DYNAMIC_INGRESS_PORTS.start() + base::random::below(span) as u16;
            if taken.contains(&port) || in_use(gateway, port).await {
                continue;
            }
            tracing::info!(addon = %addon.slug, port, "picked the ingress port");
            return self.update_user(&addon.slug, |user| user.ingress_port = Some(port));
        }
        Err(errors::unknown(&addon.slug, "no free port for its ingress"))
    }

    pub(crate) fn with_runtime<T>(&self, slug: &str, f: impl FnOnce(&mut Runtime) -> T) -> T {
        let mut runtime = self.inner.runtime.lock().unwrap_or_else(|e| e.into_inner());
        f(runtime.entry(slug.to_owned()).or_default())
    }

    /// The engine name of an add-on's container.
    pub fn container_name(&self, slug: &str) -> String {
        self.inner.docker.container_name(&format!("addon_{slug}"))
    }

    /// The add-on a container name belongs to, if it is one of ours.
    pub(crate) fn slug_of_container(&self, name: &str) -> Option<String> {
        let name = name.trim_start_matches('/');
        self.inner.file.read().user.keys().find(|slug| self.container_name(slug) == name).cloned()
    }

    /// The add-on's container as the engine sees it; `None` when there is none.
    pub async fn inspect(&self, slug: &str) -> Result<Option<ContainerInspectResponse>, Error> {
        let client = self.inner.docker.client()?;
        match client.inspect_container(&self.container_name(slug), None::<InspectContainerOptions>).await {
            Ok(container) => Ok(Some(container)),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(errors::unknown(slug, format!("can't inspect the container: {e}"))),
        }
    }

    /// The state of an installed add-on, from the engine.
    pub async fn state(&self, slug: &str) -> AddonState {
        if self.with_runtime(slug, |r| r.failed) {
            return AddonState::Error;
        }
        match self.inspect(slug).await {
            Ok(container) => engine::state_of(container.as_ref().and_then(|c| c.state.as_ref())),
            Err(_) => AddonState::Unknown,
        }
    }

    /// The add-on's address on the network (the gateway for host-network add-ons), or
    /// `0.0.0.0` while it has no container.
    pub async fn ip_address(&self, addon: &Installed) -> String {
        let unknown = || "0.0.0.0".to_owned();
        if addon.config().host_network {
            let network = self.inner.docker.network_info();
            return network.map_or_else(unknown, |n| n.gateway.to_string());
        }
        let Ok(Some(container)) = self.inspect(&addon.slug).await else { return unknown() };
        container
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(self.inner.docker.network_name()))
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .unwrap_or_else(unknown)
    }

    /// The architecture `config` runs as here.
    pub(crate) fn arch(config: &AddonConfig) -> String {
        config.arch_for(&base::arch::supported_archs()).unwrap_or_else(|| base::arch::arch().to_owned())
    }

    /// The image (without tag) of `config` from `repository`: its `image` with `{arch}` filled,
    /// or the name of the local build.
    fn image_for(&self, repository: &str, config: &AddonConfig, arch: &str) -> String {
        match &config.image {
            Some(image) => image.replace("{arch}", arch),
            None => self.inner.docker.local_image_name(&format!("{repository}/{arch}-addon-{}", config.slug)),
        }
    }

    /// What the store knows of one of its add-ons.
    pub(crate) fn store_facts(&self, addon: &StoreAddon) -> StoreFacts {
        let catalog = &self.inner.catalog;
        let has = |file| catalog.addon_file(addon, file).is_some();
        StoreFacts {
            version_latest: Some(addon.config.version.clone()),
            available: catalog.availability(addon).is_ok(),
            icon: has(AddonFile::Icon),
            logo: has(AddonFile::Logo),
            changelog: has(AddonFile::Changelog),
            documentation: has(AddonFile::Documentation),
            long_description: catalog
                .addon_file(addon, AddonFile::Readme)
                .and_then(|path| std::fs::read(path).ok())
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        }
    }

    /// What the store knows of an installed add-on; a detached one (gone from every
    /// repository) has no latest version and no files.
    /// The `GET /addons` entry of every installed add-on.
    pub async fn list_items(&self) -> Vec<crate::info::AddonListItem> {
        let mut items = Vec::new();
        for addon in self.list() {
            self.check_image(&addon).await;
            let state = self.state(&addon.slug).await;
            items.push(crate::info::list_item(&addon, &self.installed_facts(&addon), state));
        }
        items
    }

    pub(crate) fn installed_facts(&self, addon: &Installed) -> StoreFacts {
        if let Some(store) = self.inner.catalog.addon(&addon.slug) {
            return self.store_facts(&store);
        }
        let detached = StoreAddon {
            slug: addon.slug.clone(),
            repository: addon.system.repository.clone(),
            path: Default::default(),
            config: addon.config().clone(),
            translations: addon.system.translations.clone(),
        };
        StoreFacts { available: self.inner.catalog.availability(&detached).is_ok(), ..Default::default() }
    }

    /// Installed add-ons whose repository offers another version, for `/available_updates`.
    pub fn available_updates(&self) -> Vec<AvailableUpdate> {
        self.list()
            .into_iter()
            .filter_map(|addon| {
                let store = self.inner.catalog.addon(&addon.slug)?;
                (store.config.version != addon.user.version).then(|| AvailableUpdate {
                    icon: self.inner.catalog.addon_file(&store, AddonFile::Icon).is_some(),
                    name: addon.config().name.clone(),
                    version_latest: store.config.version.clone(),
                    slug: addon.slug,
                })
            })
            .collect()
    }

    /// The store add-on, or the store's 404.
    pub fn store_addon(&self, slug: &str) -> Result<StoreAddon, Error> {
        self.inner.catalog.addon(slug).ok_or_else(|| errors::not_in_store(slug))
    }

    /// The availability of the store version on this system, as the API error.
    pub fn check_available(&self, addon: &StoreAddon) -> Result<(), Error> {
        self.inner.catalog.availability(addon)
    }

    /// What install checks before it changes anything (before its job too, so the caller hears
    /// of these errors even when it asked for the job to run in the background).
    pub fn validate_install(&self, slug: &str) -> Result<StoreAddon, Error> {
        if self.is_installed(slug) {
            return Err(errors::already_installed(slug));
        }
        let addon = self.store_addon(slug)?;
        self.check_available(&addon)?;
        Ok(addon)
    }

    /// What update checks before it changes anything.
    pub fn validate_update(&self, slug: &str) -> Result<(Installed, StoreAddon), Error> {
        let installed = self.get(slug).ok_or_else(|| errors::slug_not_installed(slug))?;
        let addon = self.inner.catalog.addon(slug).ok_or_else(|| errors::detached(slug))?;
        if addon.config.version == installed.user.version {
            return Err(errors::no_update(slug));
        }
        self.check_available(&addon)?;
        Ok((installed, addon))
    }

    /// What rebuild checks before it changes anything.
    pub fn validate_rebuild(&self, slug: &str, force: bool) -> Result<(Installed, StoreAddon), Error> {
        let installed = self.get(slug).ok_or_else(errors::not_installed)?;
        let addon = self.inner.catalog.addon(slug).ok_or_else(|| errors::detached(slug))?;
        if addon.config.version != installed.user.version {
            return Err(errors::rebuild_version_changed(slug));
        }
        if installed.config().image.is_some() && !force {
            return Err(errors::rebuild_image_based(slug));
        }
        Ok((installed, addon))
    }

    /// Installs the store add-on `slug` as the job `addon_manager_install`. What can be checked
    /// before the job is checked first, so a caller that asked for the background still hears
    /// of a refusal.
    pub async fn install(&self, slug: &str, background: bool) -> Result<Outcome, Error> {
        self.validate_install(slug)?;
        let spec = spec("addon_manager_install", slug).conditions(&FETCH_CONDITIONS);
        let (manager, slug) = (self.clone(), slug.to_owned());
        self.inner.jobs.perform(spec, background, move |job| async move { manager.install_in(&slug, &job).await }).await
    }

    /// The add-ons' update locks, for what else an add-on's lock delays (an OS update).
    pub fn update_locks(&self) -> Arc<Locks<String>> {
        Arc::clone(&self.inner.locks)
    }

    /// Whether the add-on holds its update lock now (an `updates.lock` of its own in its
    /// `/tmp/balena`).
    pub fn update_locked(&self, slug: &str) -> bool {
        self.inner.locks.held(&slug.to_owned()).is_ok_and(|holders| !holders.is_empty())
    }

    /// Takes the add-on's update lock for the supervisor while it changes the add-on, so the
    /// add-on sees it; refused while the add-on holds it, unless `force`.
    async fn take_update_lock(&self, slug: &str, force: bool) -> Result<Held, Error> {
        self.inner.locks.lock(&[slug.to_owned()], force).await.map_err(|e| match e {
            LockError::Locked(_) => errors::update_locked(slug),
            LockError::Failed(why) => errors::unknown(slug, why),
        })
    }

    /// Updates the installed add-on `slug` to the store version as the job
    /// `addon_manager_update`, after a backup of it with `backup`; checked before the job.
    /// While the add-on holds its update lock the update is refused, unless `force`.
    pub async fn update(&self, slug: &str, backup: bool, background: bool, force: bool) -> Result<Outcome, Error> {
        if !self.is_installed(slug) {
            return Err(if self.inner.catalog.addon(slug).is_some() {
                errors::slug_not_installed(slug)
            } else {
                errors::not_in_store(slug)
            });
        }
        self.store_addon(slug)?;
        self.validate_update(slug)?;
        let held = self.take_update_lock(slug, force).await?;
        let spec = spec("addon_manager_update", slug).conditions(&FETCH_CONDITIONS);
        let (manager, slug) = (self.clone(), slug.to_owned());
        self.inner
            .jobs
            .perform(spec, background, move |job| async move {
                let _held = held;
                manager.update_in(&slug, backup, &job).await
            })
            .await
    }

    /// Builds (or, `force`d, pulls) the image of the installed add-on `slug` again as the job
    /// `addon_manager_rebuild`; checked before the job.
    pub async fn rebuild(&self, slug: &str, force: bool, background: bool) -> Result<Outcome, Error> {
        self.validate_rebuild(slug, force)?;
        let spec = spec("addon_manager_rebuild", slug).conditions(&FETCH_CONDITIONS);
        let (manager, slug) = (self.clone(), slug.to_owned());
        self.inner
            .jobs
            .perform(spec, background, move |job| async move { manager.rebuild_in(&slug, force, &job).await })
            .await
    }

    /// Uninstalls the add-on `slug` as the job `addon_manager_uninstall` (see
    /// [`AddonManager::remove`] for what goes).
    pub async fn uninstall(&self, slug: &str, remove_config: bool, background: bool) -> Result<Outcome, Error> {
        let spec = spec("addon_manager_uninstall", slug);
        let (manager, slug) = (self.clone(), slug.to_owned());
        self.inner
            .jobs
            .perform(spec, background, move |_| async move { manager.remove(&slug, remove_config).await })
            .await
    }

    /// Pulls or builds the image of `config` for `arch` as `image:<version>`.
    pub(crate) async fn fetch_image(
        &self,
        slug: &str,
        dir: &Path,
        config: &AddonConfig,
        arch: &str,
        image: &str,
        job: &Job,
    ) -> Result<(), Error> {
        if config.image.is_some() {
            self.inner.docker.pull(image, &config.version, job).await.map_err(|e| match e.kind {
                base::Kind::Unauthorized | base::Kind::Forbidden => e,
                _ => errors::unknown(slug, e.message),
            })
        } else {
            let plan = build::plan(slug, dir, config, arch, image)?;
            build::build(&self.inner.docker, slug, plan, job).await
        }
    }

    /// Removes `image:tag` unless another installed add-on runs the same one; failures are only
    /// logged (the engine refuses while a container still uses it).
    async fn remove_image(&self, image: &str, tag: &str) {
        let shared = self.list().iter().any(|a| a.user.image == image && a.user.version == tag);
        if shared {
            return;
        }
        self.inner.docker.remove_image(image, tag).await;
    }

    /// The work of an install: records the add-on, makes its data folder and fetches its image.
    /// A failure undoes all three.
    async fn install_in(&self, slug: &str, job: &Job) -> Result<(), Error> {
        let addon = self.validate_install(slug)?;
        let config = addon.config.clone();
        let arch = Self::arch(&config);
        let image = self.image_for(&addon.repository, &config, &arch);
        job.set_stage("validation complete");
        let had_image = self.inner.docker.image_exists(&image, &config.version).await?;
        let data_dir = self.inner.folders.data.join(slug);
        let had_data = data_dir.exists();
        self.inner.file.update(|file| {
            file.user.insert(slug.to_owned(), UserData::new(&config.version, &image));
            file.system.insert(
                slug.to_owned(),
                SystemData {
                    repository: addon.repository.clone(),
                    config: config.clone(),
                    translations: addon.translations.clone(),
                },
            );
        })?;
        let result = async {
            base::fs::ensure_real_dir(&data_dir)
                .map_err(|e| errors::unknown(slug, format!("can't create {}: {e}", data_dir.display())))?;
            self.profiles().install(slug, &addon.path).await?;
            if had_image {
                tracing::info!(addon = slug, image, "image already on the engine");
                Ok(())
            } else {
                self.fetch_image(slug, &addon.path, &config, &arch, &image, job).await
            }
        }
        .await;
        match result {
            Ok(()) => {
                tracing::info!(addon = slug, version = %config.version, "installed");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(addon = slug, "install failed, undoing it: {}", e.message);
                if let Err(undo) = self.inner.file.update(|file| {
                    file.user.remove(slug);
                    file.system.remove(slug);
                }) {
                    tracing::error!(addon = slug, "can't forget the failed install: {undo}");
                }
                if let Err(undo) = self.profiles().remove(slug).await {
                    tracing::error!(addon = slug, "can't drop the profile of the failed install: {}", undo.message);
                }
                if !had_data {
                    let _ = std::fs::remove_dir_all(&data_dir);
                }
                if !had_image {
                    self.remove_image(&image, &config.version).await;
                }
                Err(e)
            }
        }
    }

    /// The work of an update: new image, new configuration, then running again if it ran
    /// before. The old image is removed.
    async fn update_in(&self, slug: &str, backup: bool, job: &Job) -> Result<(), Error> {
        let (installed, addon) = self.validate_update(slug)?;
        job.set_stage("validation complete");
        if backup {
            let maker = self.inner.update_backup.get().ok_or_else(|| Error::internal("backups are not available"))?;
            job.set_stage("backup");
            maker.backup_addon(slug, &installed.user.version, job).await?;
        }
        let config = addon.config.clone();
        let arch = Self::arch(&config);
        let image = self.image_for(&addon.repository, &config, &arch);
        if !self.inner.docker.image_exists(&image, &config.version).await? {
            self.fetch_image(slug, &addon.path, &config, &arch, &image, job).await?;
        }
        self.profiles().install(slug, &addon.path).await?;
        let was_running = matches!(self.state(slug).await, AddonState::Started | AddonState::Startup);
        job.set_stage("update");
        self.stop_container(slug).await?;
        self.inner.file.update(|file| {
            if let Some(user) = file.user.get_mut(slug) {
                user.version = config.version.clone();
                user.image = image.clone();
            }
            file.system.insert(
                slug.to_owned(),
                SystemData {
                    repository: addon.repository.clone(),
                    config: config.clone(),
                    translations: addon.translations,
                },
            );
        })?;
        if (installed.user.image.as_str(), installed.user.version.as_str()) != (image.as_str(), config.version.as_str())
        {
            self.remove_image(&installed.user.image, &installed.user.version).await;
        }
        tracing::info!(addon = slug, from = %installed.user.version, to = %config.version, "updated");
        if was_running {
            job.set_stage("start");
            self.start_container(slug).await?;
        }
        Ok(())
    }

    /// The work of a rebuild: the image of the installed version again, and the add-on
    /// restarted if it was running.
    async fn rebuild_in(&self, slug: &str, force: bool, job: &Job) -> Result<(), Error> {
        let (installed, addon) = self.validate_rebuild(slug, force)?;
        let config = installed.config().clone();
        let arch = Self::arch(&config);
        let image = installed.user.image.clone();
        let tag = format!("{image}:{}", config.version);
        let client = self.inner.docker.client()?;
        let old_id = client.inspect_image(&tag).await.ok().and_then(|i| i.id);
        self.fetch_image(slug, &addon.path, &config, &arch, &image, job).await?;
        let was_running = matches!(self.state(slug).await, AddonState::Started | AddonState::Startup);
        self.stop_container(slug).await?;
        let new_id = client.inspect_image(&tag).await.ok().and_then(|i| i.id);
        if let Some(old) = old_id.filter(|old| Some(old) != new_id.as_ref()) {
            // The old build is untagged now; drop it so rebuilds do not pile up.
            let _ = client.remove_image(&old, None::<bollard::query_parameters::RemoveImageOptions>, None).await;
        }
        tracing::info!(addon = slug, "rebuilt");
        if was_running {
            self.start_container(slug).await?;
        }
        Ok(())
    }

    /// Removes an add-on: container, token, image, data and, with `remove_config`, its public
    /// config folder. The work of [`AddonManager::uninstall`], for a caller already inside a job
    /// that excludes other operations (a restore).
    pub async fn remove(&self, slug: &str, remove_config: bool) -> Result<(), Error> {
        let installed = self.get(slug).ok_or_else(errors::not_installed)?;
        self.stop_container(slug).await?;
        self.inner.file.update(|file| {
            file.user.remove(slug);
            file.system.remove(slug);
        })?;
        self.remove_image(&installed.user.image, &installed.user.version).await;
        if let Err(e) = self.profiles().remove(slug).await {
            tracing::warn!(addon = slug, "{}", e.message);
        }
        // Its data, and its update-lock folder (what it held goes with it).
        for dir in [self.inner.folders.data.join(slug), self.inner.folders.locks.join(slug)] {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(addon = slug, "can't remove {}: {e}", dir.display());
                }
            }
        }
        if remove_config {
            let config_dir = self.inner.folders.addon_configs.join(slug);
            if config_dir.exists() {
                if let Err(e) = std::fs::remove_dir_all(&config_dir) {
                    tracing::warn!(addon = slug, "can't remove {}: {e}", config_dir.display());
                }
            }
        }
        self.inner.runtime.lock().unwrap_or_else(|e| e.into_inner()).remove(slug);
        tracing::info!(addon = slug, "uninstalled");
        // Its own issues go with it: no check would find them untrue.
        self.inner.jobs.system().withdraw_issue(boot_fail(slug));
        self.inner.jobs.system().withdraw_issue(missing_image(slug));
        let hooks = self.inner.uninstall_hooks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        hooks.iter().for_each(|hook| hook(&installed));
        Ok(())
    }

    /// The options the add-on starts with: the effective options validated against its
    /// schema (`{}` with `schema: false`), `!secret` values resolved.
    pub fn validated_options(&self, addon: &Installed) -> Result<Value, String> {
        self.validate_options(addon, &Value::Object(addon.options()))
    }

    /// `options` validated against the add-on's schema with `!secret` values resolved from
    /// Core's `secrets.yaml`, read afresh so that a secret just added counts; Err(the real
    /// message, such as `Unknown secret 'x' in <name> (<slug>)`).
    pub fn validate_options(&self, addon: &Installed, options: &Value) -> Result<Value, String> {
        self.validate_under(addon.config(), &addon.slug, options)
    }

    /// `options` of the add-on `slug` validated as [`AddonManager::validate_options`] does, under
    /// the schema of `config` (another version's, for the auto-update).
    pub(crate) fn validate_under(&self, config: &AddonConfig, slug: &str, options: &Value) -> Result<Value, String> {
        let Some(schema) = &config.schema else { return Ok(Value::Object(Map::new())) };
        let secrets = addon_config::load_secrets(&self.inner.folders.homeassistant.join("secrets.yaml"));
        let lookup = |name: &str| {
            tracing::info!(addon = %slug, "Request secret {name}");
            secrets.get(name).cloned()
        };
        schema.validate_with_secrets(options, &config.name, slug, &lookup)
    }

    /// The options to store for `options` set by the user: validated (every secret they name
    /// must exist), but keeping each `!secret` reference, so no secret is stored or shown.
    pub fn options_to_store(
        &self,
        addon: &Installed,
        options: Map<String, Value>,
    ) -> Result<Map<String, Value>, Error> {
        let given = Value::Object(options);
        let validated =
            self.validate_options(addon, &given).map_err(|why| errors::invalid_options(&addon.slug, &why))?;
        match addon_config::keep_secret_references(&given, validated) {
            Value::Object(valid) => Ok(valid),
            _ => Ok(Map::new()),
        }
    }

    /// Starts the add-on (job `addon_start`) and waits until it left `startup`.
    pub async fn start(&self, slug: &str) -> Result<(), Error> {
        let manager = self.clone();
        let slug = slug.to_owned();
        self.inner.jobs.run(spec("addon_start", &slug), |_| async move { manager.start_container(&slug).await }).await
    }

    /// Stops the add-on (job `addon_stop`); the watchdog leaves it stopped.
    pub async fn stop(&self, slug: &str) -> Result<(), Error> {
        let manager = self.clone();
        let slug = slug.to_owned();
        self.inner.jobs.run(spec("addon_stop", &slug), |_| async move { manager.stop_container(&slug).await }).await
    }

    /// Stops and starts the add-on (job `addon_restart`); refused while the add-on holds its
    /// update lock, unless `force`.
    pub async fn restart(&self, slug: &str, force: bool) -> Result<(), Error> {
        let held = self.take_update_lock(slug, force).await?;
        let manager = self.clone();
        let slug = slug.to_owned();
        self.inner
            .jobs
            .run(spec("addon_restart", &slug), |_| async move {
                let _held = held;
                manager.stop_container(&slug).await?;
                manager.start_container(&slug).await
            })
            .await
    }

    /// Writes `data`, and a newline, to the standard input of the add-on `addon`; it must take
    /// input (`stdin: true`) and run.
    pub async fn write_stdin(&self, addon: &Installed, data: &[u8]) -> Result<(), Error> {
        let slug = addon.slug.as_str();
        if !addon.config().stdin {
            return Err(errors::no_stdin(slug));
        }
        if !matches!(self.state(slug).await, AddonState::Started | AddonState::Startup) {
            return Err(errors::not_running(slug));
        }
        let client = self.inner.docker.client()?;
        let options = AttachContainerOptionsBuilder::default().stdin(true).stream(true).build();
        let mut attached = client
            .attach_container(&self.container_name(slug), Some(options))
            .await
            .map_err(|e| errors::unknown(slug, format!("can't attach to the container: {e}")))?;
        let mut data = data.to_vec();
        data.push(b'\n');
        let written = async {
            attached.input.write_all(&data).await?;
            attached.input.flush().await?;
            attached.input.shutdown().await
        }
        .await;
        written.map_err(|e| errors::unknown(slug, format!("can't write to stdin: {e}")))
    }

    /// The CPU, memory, network and block figures of the running add-on `slug`.
    pub async fn stats(&self, slug: &str) -> Result<docker::Stats, Error> {
        if !matches!(self.state(slug).await, AddonState::Started | AddonState::Startup) {
            return Err(errors::not_running(slug));
        }
        let client = self.inner.docker.client()?;
        // Not one-shot: the engine then samples twice, which `cpu_percent` needs.
        let options = StatsOptionsBuilder::default().stream(false).build();
        let sample = client
            .stats(&self.container_name(slug), Some(options))
            .next()
            .await
            .ok_or_else(|| errors::unknown(slug, "the engine sent no stats"))?
            .map_err(|e| errors::unknown(slug, format!("can't read stats: {e}")))?;
        Ok(docker::stats_from(&sample))
    }

    /// Starts the container: validated `options.json`, a fresh token, a new container on the
    /// network. An add-on that already runs is only waited for.
    pub(crate) async fn start_container(&self, slug: &str) -> Result<(), Error> {
        let addon = self.get(slug).ok_or_else(errors::not_installed)?;
        if matches!(self.state(slug).await, AddonState::Started | AddonState::Startup) {
            return self.wait_for_startup(slug).await;
        }
        let result = self.create_and_start(&addon).await;
        self.with_runtime(slug, |r| r.failed = result.is_err());
        result?;
        tracing::info!(addon = slug, "started");
        self.inner.jobs.system().withdraw_issue(boot_fail(slug));
        self.wait_for_startup(slug).await
    }

    async fn create_and_start(&self, addon: &Installed) -> Result<(), Error> {
        let slug = addon.slug.as_str();
        let config = addon.config();
        let options = self.validated_options(addon).map_err(|why| errors::invalid_options(slug, &why))?;
        let tag = format!("{}:{}", addon.user.image, addon.user.version);
        if !self.inner.docker.image_exists(&addon.user.image, &addon.user.version).await? {
            // Gone since it was installed (pruned by hand, say): repairing fetches it again.
            self.raise_missing_image(slug);
            return Err(errors::unknown(slug, format!("its image {tag} is missing")));
        }
        let network = self.inner.docker.ensure_network().await?;
        self.pick_ingress_port(addon, network.gateway).await?;
        // A link here would be bind-mounted as its target: an add-on mapping `all_addon_configs`
        // can plant one in place of another add-on's config folder.
        for dir in container::folders_to_create(addon, &self.inner.folders) {
            base::fs::ensure_real_dir(&dir)
                .map_err(|e| errors::unknown(slug, format!("can't create {}: {e}", dir.display())))?;
        }
        if config.audio {
            pulse::clients::ClientFiles::new(&self.inner.folders.layout, slug)
                .write(addon.user.audio_output.as_deref(), addon.user.audio_input.as_deref())
                .map_err(|e| errors::unknown(slug, format!("can't write its sound configuration: {e}")))?;
        }
        let options_file = self.inner.folders.data.join(slug).join("options.json");
        let json = serde_json::to_vec(&options).expect("options serialize");
        base::fs::atomic_write(&options_file, &json, 0o600).map_err(|e| {
            self.inner.jobs.system().check_io_error(&e);
            errors::unknown(slug, format!("can't write {}: {e}", options_file.display()))
        })?;

        let token = base::random::hex_token(TOKEN_BYTES);
        let old = addon.user.access_token.clone();
        self.update_user(slug, |user| user.access_token = Some(Tokens::digest(&token)))?;
        if let Some(old) = old {
            self.inner.tokens.revoke_digest(&old);
        }
        self.inner.tokens.register(&token, Caller::Addon { slug: slug.to_owned(), grants: grants_of(config) });

        let client = self.inner.docker.client()?;
        let name = self.container_name(slug);
        let timezone = (self.inner.timezone)();
        let (host_root, devices) = self.host_devices().await;
        // Share and media are bound `rslave` where the engine allows it (the host's mount is
        // shared), else plainly, as Core's container is.
        for propagation in [true, false] {
            self.remove_container(slug).await?;
            let body = container::container_body(&Plan {
                addon,
                image: tag.clone(),
                network: &network.name,
                gateway: network.gateway,
                folders: &self.inner.folders,
                token: &token,
                timezone: &timezone,
                exists: &|p: &Path| p.exists(),
                propagation,
                dns: self.inner.docker.resolver(),
                host_root: &host_root,
                hardware: &devices,
                apparmor_profile: self.profiles().loaded(slug),
                cpu_realtime: self.settings().cpu_realtime && container::cpu_realtime_allotted(&host_root),
            });
            let options = CreateContainerOptionsBuilder::default().name(&name).build();
            client
                .create_container(Some(options), body)
                .await
                .map_err(|e| errors::unknown(slug, format!("can't create the container: {e}")))?;
            self.with_runtime(slug, |r| r.manual_stop = false);
            let Err(e) = client.start_container(&name, None::<bollard::query_parameters::StartContainerOptions>).await
            else {
                return Ok(());
            };
            let message = e.to_string();
            if propagation && message.contains("not a shared or slave mount") {
                tracing::warn!("App {slug} can't bind share and media with mount propagation ({message}); without");
                continue;
            }
            let _ = self.remove_container(slug).await;
            if let Some(port) = conflicting_port(&message) {
                self.raise_port_conflict(addon, port);
                return Err(Error::invalid(format!("Cannot start app {slug} because port {port} is already in use"))
                    .with_key("app_port_conflict"));
            }
            return Err(errors::unknown(slug, format!("can't start the container: {message}")));
        }
        Err(errors::unknown(slug, "can't start the container".to_owned()))
    }

    /// Tells the resolution center of a port conflict: starting again may do once the port is
    /// free, and clearing the add-on's own mapping of it when it maps it.
    fn raise_port_conflict(&self, addon: &Installed, port: u16) {
        let ports = addon.user.network.clone().unwrap_or_else(|| addon.config().ports.clone());
        let mut suggestions = vec!["execute_start"];
        if ports.values().any(|mapped| *mapped == Some(port)) {
            suggestions.insert(0, "clear_port_config");
        }
        let extra = serde_json::Map::from_iter([("port".to_owned(), serde_json::json!(port))]);
        self.inner.jobs.system().raise_issue(base::system::RaisedIssue {
            kind: "app_port_conflict",
            context: "addon",
            reference: Some(addon.slug.clone()),
            extra: Some(extra),
            suggestions,
        });
    }

    /// Tells the resolution center that the add-on's image is gone; repairing fetches it again.
    fn raise_missing_image(&self, slug: &str) {
        self.inner.jobs.system().raise_issue(missing_image(slug));
    }

    /// Fetches the image of the installed add-on `slug` again when the engine lacks it (the
    /// repair of a `missing_image` issue): pulled, or built from its repository, as the job
    /// `docker_app_install`. Nothing is done when it is not installed or its image is there; an
    /// add-on to build that its repository no longer offers cannot be repaired (the detached
    /// check suggests removing it instead).
    pub async fn repair(&self, slug: &str) -> Result<(), Error> {
        let Some(addon) = self.get(slug) else {
            tracing::info!(addon = slug, "cannot repair an app that is not installed");
            return Ok(());
        };
        if self.inner.docker.image_exists(&addon.user.image, &addon.user.version).await? {
            tracing::info!(addon = slug, "the app's image is there, nothing to repair");
            return Ok(());
        }
        let dir = match self.inner.catalog.addon(slug) {
            Some(store) => store.path,
            None if addon.config().image.is_none() => {
                tracing::warn!(addon = slug, "cannot repair an app to build that left its repository");
                return Ok(());
            }
            None => std::path::PathBuf::new(),
        };
        tracing::info!(addon = slug, "installing the app's image");
        let manager = self.clone();
        self.inner
            .jobs
            .run(spec("docker_app_install", slug), |job| async move {
                let config = addon.config();
                manager.fetch_image(&addon.slug, &dir, config, &Self::arch(config), &addon.user.image, &job).await
            })
            .await
    }

    /// At load, as the real Supervisor: an add-on whose image is gone gets a pulled one again at
    /// once, or an issue when that fails; one to build gets the issue (its repair builds it,
    /// not the start-up), unless its repository no longer offers it.
    async fn check_image(&self, addon: &Installed) {
        let slug = addon.slug.as_str();
        match self.inner.docker.image_exists(&addon.user.image, &addon.user.version).await {
            Ok(false) => {}
            Ok(true) => return,
            Err(e) => {
                tracing::warn!(addon = slug, "can't tell whether the app's image is there: {}", e.message);
                return;
            }
        }
        tracing::info!(addon = slug, image = %addon.user.image, "the app's image is missing");
        let build = addon.config().image.is_none();
        if !build {
            match self.repair(slug).await {
                Ok(()) => return,
                Err(e) => tracing::warn!(addon = slug, "can't pull the app's image again: {}", e.message),
            }
        } else if self.inner.catalog.addon(slug).is_none() {
            tracing::warn!(addon = slug, "the app's image is missing and its repository no longer offers it to build");
            return;
        }
        self.raise_missing_image(slug);
    }

    /// Waits while the add-on is in `startup` (a health check that has not passed yet), up to
    /// [`STARTUP_TIMEOUT`]; a timeout is only logged, as in the real Supervisor.
    async fn wait_for_startup(&self, slug: &str) -> Result<(), Error> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while self.state(slug).await == AddonState::Startup {
            if Instant::now() > deadline {
                tracing::warn!(addon = slug, "Timeout while waiting for app to start, please check its logs");
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    /// Stops and removes the container and revokes its token.
    pub(crate) async fn stop_container(&self, slug: &str) -> Result<(), Error> {
        self.with_runtime(slug, |r| r.manual_stop = true);
        let timeout = self.get(slug).map_or(10, |a| a.config().timeout);
        let client = self.inner.docker.client()?;
        let name = self.container_name(slug);
        let options = StopContainerOptionsBuilder::default().t(i32::try_from(timeout).unwrap_or(300)).build();
        let stopped = match client.stop_container(&name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304 | 404, .. }) => Ok(()),
            Err(e) => Err(errors::unknown(slug, format!("can't stop the container: {e}"))),
        };
        let result = match stopped {
            Ok(()) => self.remove_container(slug).await,
            Err(e) => Err(e),
        };
        self.with_runtime(slug, |r| r.failed = result.is_err());
        result?;
        if let Some(digest) = self.get(slug).and_then(|a| a.user.access_token) {
            self.inner.tokens.revoke_digest(&digest);
            self.update_user(slug, |user| user.access_token = None)?;
        }
        Ok(())
    }

    /// Force-removes the container if there is one.
    async fn remove_container(&self, slug: &str) -> Result<(), Error> {
        let client = self.inner.docker.client()?;
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        let removed = match client.remove_container(&self.container_name(slug), Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(errors::unknown(slug, format!("can't remove the container: {e}"))),
        };
        if removed.is_ok() {
            // The next container is made with the devices there are then.
            self.inner.jobs.system().withdraw_issue(crate::devices::access_missing(slug));
        }
        removed
    }

    /// At daemon start: waits for the engine, loads the add-ons' AppArmor profiles, registers
    /// the tokens of add-ons still running from before, starts the watchdogs and then, once
    /// `gateway` says whether the network's gateway is protected (the real one boots them after
    /// the host's load), the `boot: auto` add-ons, stage by stage in `startup` order; those on
    /// the host's network not while the gateway is open.
    pub async fn boot(&self, gateway: impl std::future::Future<Output = ()>) {
        // The add-ons installed when the supervisor started: one installed while the engine is
        // awaited is being set up by its install, not booted.
        let installed: Vec<String> = self.list().into_iter().map(|addon| addon.slug).collect();
        while self.inner.docker.client().is_err() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        self.profiles().load_kept(installed.iter().map(String::as_str)).await;
        tokio::spawn(crate::watchdog::watch(self.clone()));
        tokio::spawn(crate::watchdog::watch_applications(self.clone(), self.settings().application_watchdog_interval));
        let mut to_start = Vec::new();
        for addon in installed.iter().filter_map(|slug| self.get(slug)) {
            self.check_image(&addon).await;
            let state = self.state(&addon.slug).await;
            let running = matches!(state, AddonState::Started | AddonState::Startup);
            match (&addon.user.access_token, running) {
                (Some(stored), true) => {
                    let caller = Caller::Addon { slug: addon.slug.clone(), grants: grants_of(addon.config()) };
                    // A record from before digests holds the token itself, which is longer.
                    if stored.len() == TOKEN_BYTES * 2 {
                        let digest = Tokens::digest(stored);
                        self.inner.tokens.register_digest(&digest, caller);
                        self.update_user(&addon.slug, |u| u.access_token = Some(digest)).unwrap_or_else(|e| {
                            tracing::warn!(addon = %addon.slug, "can't replace a token by its digest: {e}");
                        });
                    } else {
                        self.inner.tokens.register_digest(stored, caller);
                    }
                }
                // A token of a container that no longer runs is dead; forget it.
                (Some(_), false) => self.update_user(&addon.slug, |u| u.access_token = None).unwrap_or_else(|e| {
                    tracing::warn!(addon = %addon.slug, "can't forget a stale token: {e}");
                }),
                (None, _) => {}
            }
            if !running && addon.boot() == Boot::Auto {
                to_start.push((startup_rank(addon.config().startup), addon.slug.clone(), addon.config().host_network));
            }
        }
        gateway.await;
        if self.inner.jobs.system().is_unhealthy(GATEWAY_UNPROTECTED) {
            // On the host's network it would be reached through the gateway too.
            to_start.retain(|(_, slug, host_network)| {
                if *host_network {
                    tracing::warn!("Skipping boot of app {slug} because gateway firewall rules are not active");
                }
                !host_network
            });
        }
        to_start.sort();
        for (_, slug, _) in &to_start {
            tracing::info!(addon = %slug, "starting at boot");
            if let Err(e) = self.start(slug).await {
                tracing::warn!(addon = %slug, "can't start at boot: {}", e.message);
                self.inner.jobs.system().raise_issue(boot_fail(slug));
            }
        }
        // One that started and then died failed its boot too; one that stopped by itself may be
        // a single shot, and one still starting is only slow.
        for (_, slug, _) in &to_start {
            if matches!(self.state(slug).await, AddonState::Error | AddonState::Unknown) {
                self.inner.jobs.system().raise_issue(boot_fail(slug));
            }
        }
    }
}

/// The unhealthy reason of a container network whose gateway the firewall does not keep from
/// other networks (the host manager's).
const GATEWAY_UNPROTECTED: &str = "docker_gateway_unprotected";

/// The issue of an add-on whose image is gone: repairing fetches it again.
fn missing_image(slug: &str) -> base::system::RaisedIssue {
    base::system::RaisedIssue {
        kind: "missing_image",
        context: "addon",
        reference: Some(slug.to_owned()),
        extra: None,
        suggestions: vec!["execute_repair"],
    }
}

/// The issue of an add-on that failed to start at boot: starting it again, or not at boot,
/// fixes it.
fn boot_fail(slug: &str) -> base::system::RaisedIssue {
    base::system::RaisedIssue {
        kind: "boot_fail",
        context: "addon",
        reference: Some(slug.to_owned()),
        extra: None,
        suggestions: vec!["execute_start", "disable_boot"],
    }
}

/// The order the stages start in at boot.
pub fn startup_rank(startup: Startup) -> u8 {
    match startup {
        Startup::Initialize => 0,
        Startup::System => 1,
        Startup::Services => 2,
        Startup::Application => 3,
        Startup::Once => 4,
    }
}

impl store::Installed for AddonManager {
    fn version(&self, slug: &str) -> Option<String> {
        self.inner.file.read().user.get(slug).map(|u| u.version.clone())
    }

    fn slugs(&self) -> Vec<String> {
        self.inner.file.read().user.keys().cloned().collect()
    }
}

/// The access decision of an add-on's request reads its installed config as it is now.
/// Where ingress ports are picked for add-ons that ask for one, as the real Supervisor picks them.
const DYNAMIC_INGRESS_PORTS: std::ops::RangeInclusive<u16> = 62000..=65500;

/// Whether something listens on `port` of `address`.
async fn in_use(address: std::net::Ipv4Addr, port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect((address, port));
    matches!(tokio::time::timeout(std::time::Duration::from_millis(500), connect).await, Ok(Ok(_)))
}

impl AddonRights for AddonManager {
    fn rights(&self, slug: &str) -> Option<Grants> {
        let file = self.inner.file.read();
        let config = &file.system.get(slug)?.config;
        file.user.contains_key(slug).then(|| grants_of(config))
    }
}

/// What an add-on's config grants it towards the supervisor and Core.
fn grants_of(config: &AddonConfig) -> Grants {
    Grants {
        role: config.hassio_role,
        hassio_api: config.hassio_api,
        homeassistant_api: config.homeassistant_api,
        auth_api: config.auth_api,
    }
}

/// The host port of the engine's refusal to publish a port another process holds (`...
/// 0.0.0.0:8080 failed: port is already allocated`, `... 0.0.0.0:8080: bind: address already
/// in use`).
fn conflicting_port(message: &str) -> Option<u16> {
    if !(message.contains("port is already allocated") || message.contains("address already in use")) {
        return None;
    }
    let after = &message[message.find("0.0.0.0:")? + "0.0.0.0:".len()..];
    after.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_of_a_conflict_is_read_from_the_engine() {
        let allocated = "Docker responded with status code 500: driver failed programming external connectivity on endpoint x: Bind for 0.0.0.0:8123 failed: port is already allocated";
        assert_eq!(conflicting_port(allocated), Some(8123));
        let in_use = "failed to set up container networking: listen tcp4 0.0.0.0:53: bind: address already in use";
        assert_eq!(conflicting_port(in_use), Some(53));
        assert_eq!(conflicting_port("no such image"), None);
    }

    #[test]
    fn boot_order_follows_the_stages() {
        let mut stages =
            vec![Startup::Once, Startup::Application, Startup::Initialize, Startup::Services, Startup::System];
        stages.sort_by_key(|s| startup_rank(*s));
        assert_eq!(
            stages,
            vec![Startup::Initialize, Startup::System, Startup::Services, Startup::Application, Startup::Once]
        );
    }
}
