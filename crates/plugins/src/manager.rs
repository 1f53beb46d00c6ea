//! The plugin manager: each plugin's record, image and container, and its life cycle as jobs with
//! the real Supervisor's names: `docker_interface_install` (the image, at start when missing),
//! `docker_<plugin>_run` (the container made anew and started, with a new token where the plugin
//! has one), `docker_interface_restart`, `plugin_<plugin>_update` (with `docker_interface_update`
//! and the run as children), `plugin_<plugin>_restart_after_problem` (the watchdog).
//!
//! One operation runs on a plugin at a time (the real Supervisor's per-container lock): a second
//! is refused while the first runs, and the watchdog leaves a plugin alone while one runs.

use crate::config::{DnsOptions, PluginRecord};
use crate::container::{self, Plan};
use crate::image::{self, Source};
use crate::Plugin;
use base::{DataDir, Error, Timezone};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, RemoveContainerOptionsBuilder,
    RestartContainerOptionsBuilder, StartContainerOptions, StatsOptionsBuilder, StopContainerOptionsBuilder,
};
use docker::{DockerManager, NetworkInfo};
use futures_util::StreamExt;
use jobs::{Job, JobCondition, JobManager, JobSpec};
use security::{Caller, Tokens};
use state::Persisted;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use updater::{Updater, Versions};

/// Between two attempts to install a plugin that failed, as the real Supervisor retries.
const INSTALL_RETRY: Duration = Duration::from_secs(30);
/// Random bytes of a plugin's token (the real one's 56).
const TOKEN_BYTES: usize = 56;

/// The conditions of an update, as the real Supervisor's `PLUGIN_UPDATE_CONDITIONS` except
/// `internet_host`: an install without a registry updates from its own recipes.
const UPDATE_CONDITIONS: [JobCondition; 4] = [
    JobCondition::FreeSpace,
    JobCondition::Healthy,
    JobCondition::SupervisorUpdated,
    JobCondition::ArchitectureSupported,
];

/// How this supervisor runs its plugins, from its command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The plugins installed at start when they are missing (`--plugins-install`).
    pub install: Vec<Plugin>,
    /// The install's `plugins/` folder: the image recipes (`--plugins-source`).
    pub source: PathBuf,
    /// The folder of the supervisor's executable, where the plugin programs are too.
    pub binaries: PathBuf,
    /// The port containers reach the supervisor on at the network's gateway.
    pub addon_port: u16,
    /// The host's port the observer serves.
    pub observer_port: u16,
    /// Where the host's files are (`resolv.conf` for the dns plugin's local resolvers).
    pub host_root: PathBuf,
}

/// What the manager works with.
pub struct Parts {
    pub data: DataDir,
    pub jobs: JobManager,
    pub docker: Arc<DockerManager>,
    pub updater: Arc<Updater>,
    pub tokens: Arc<Tokens>,
    pub host: Arc<dbus::HostServices>,
    pub timezone: Timezone,
}

/// One plugin's state.
pub(crate) struct Slot {
    pub(crate) plugin: Plugin,
    record: Persisted<PluginRecord>,
    /// Held by the operation running on the plugin.
    pub(crate) busy: tokio::sync::Mutex<()>,
    /// When the watchdog restarted the plugin, for its rate limit.
    pub(crate) restarts: Mutex<Vec<Instant>>,
}

/// Cheap to clone; every clone is the same manager.
#[derive(Clone)]
pub struct PluginManager {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) data: DataDir,
    pub(crate) jobs: JobManager,
    pub(crate) docker: Arc<DockerManager>,
    updater: Arc<Updater>,
    tokens: Arc<Tokens>,
    pub(crate) host: Arc<dbus::HostServices>,
    timezone: Timezone,
    pub(crate) settings: Settings,
    slots: Vec<Slot>,
    pub(crate) dns_options: Persisted<DnsOptions>,
    /// The dns plugin's files as last written, so that only a change signals the plugin.
    pub(crate) dns_files: tokio::sync::Mutex<Option<(Vec<u8>, Vec<u8>)>>,
}

/// Whether the engine's error says the container or image does not exist.
pub(crate) fn missing(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

fn engine_error(plugin: Plugin, what: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("Can't {what} the {} plugin: {e}", plugin.title())).with_key("plugin_error")
}

/// Whether `tag` can be an image tag.
fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

impl PluginManager {
    pub fn new(store: &state::Store, parts: Parts, settings: Settings) -> state::Result<Self> {
        let section = store.section("plugins")?;
        let mut slots = Vec::new();
        for plugin in Plugin::ALL {
            let record: Persisted<PluginRecord> = Persisted::load(section.clone(), plugin.slug())?;
            if let Some(token) = record.read().access_token.as_deref() {
                parts.tokens.register(token, caller(plugin));
            }
            slots.push(Slot { plugin, record, busy: tokio::sync::Mutex::new(()), restarts: Mutex::default() });
        }
        let dns_options = Persisted::load(section, "dns_options")?;
        Ok(PluginManager {
            inner: Arc::new(Inner {
                data: parts.data,
                jobs: parts.jobs,
                docker: parts.docker,
                updater: parts.updater,
                tokens: parts.tokens,
                host: parts.host,
                timezone: parts.timezone,
                settings,
                slots,
                dns_options,
                dns_files: tokio::sync::Mutex::new(None),
            }),
        })
    }

    pub(crate) fn slot(&self, plugin: Plugin) -> &Slot {
        self.inner.slots.iter().find(|slot| slot.plugin == plugin).expect("a slot per plugin")
    }

    pub fn docker(&self) -> &DockerManager {
        &self.inner.docker
    }

    /// The installed version.
    pub fn version(&self, plugin: Plugin) -> Option<String> {
        self.slot(plugin).record.read().version.clone()
    }

    /// The version the manifest offers.
    pub fn version_latest(&self, plugin: Plugin) -> Option<String> {
        latest_of(&self.inner.updater.versions(), plugin).cloned()
    }

    pub fn update_available(&self, plugin: Plugin) -> bool {
        match (self.version(plugin), self.version_latest(plugin)) {
            (Some(installed), Some(latest)) => base::version::is_newer(&latest, &installed),
            _ => false,
        }
    }

    /// The manifest's image for `plugin` (`images.<plugin>`), else the real default.
    pub fn default_image(&self, plugin: Plugin) -> String {
        self.inner
            .updater
            .versions()
            .images
            .get(plugin.slug())
            .cloned()
            .unwrap_or_else(|| format!("ghcr.io/home-assistant/{}-hassio-{plugin}", base::arch::arch()))
    }

    /// The image of the installed version.
    pub fn image(&self, plugin: Plugin) -> String {
        self.slot(plugin).record.read().image.clone().unwrap_or_else(|| self.default_image(plugin))
    }

    /// The container's name on the engine.
    pub fn container_name(&self, plugin: Plugin) -> String {
        self.inner.docker.container_name(&plugin.container())
    }

    /// The plugin's config folder on the host (`/config` in its container).
    pub fn config_dir(&self, plugin: Plugin) -> PathBuf {
        self.inner.data.plugin(plugin.slug())
    }

    /// Where the plugin is reached from the container network: its container's address there,
    /// else its fixed place in the network; the gateway for the plugins on the host's network.
    pub async fn address(&self, plugin: Plugin) -> Option<Ipv4Addr> {
        let network = self.inner.docker.network_info()?;
        let Some(offset) = plugin.offset() else { return Some(network.gateway) };
        if let Some(address) = self.container_address(plugin, &network).await {
            return Some(address);
        }
        container::address_in(&network.subnet, offset)
    }

    async fn container_address(&self, plugin: Plugin, network: &NetworkInfo) -> Option<Ipv4Addr> {
        let client = self.inner.docker.client().ok()?;
        let inspect =
            client.inspect_container(&self.container_name(plugin), None::<InspectContainerOptions>).await.ok()?;
        let networks = inspect.network_settings?.networks?;
        networks.get(&network.name)?.ip_address.as_deref()?.parse().ok()
    }

    /// Whether the plugin's container runs.
    pub async fn running(&self, plugin: Plugin) -> bool {
        let Ok(client) = self.inner.docker.client() else { return false };
        let inspect = client.inspect_container(&self.container_name(plugin), None::<InspectContainerOptions>).await;
        inspect.ok().and_then(|i| i.state).and_then(|s| s.running).unwrap_or(false)
    }

    /// Runs `work` as the job `spec` on `plugin` while no other operation runs on it.
    pub(crate) async fn exclusive<F, Fut>(&self, plugin: Plugin, spec: JobSpec, work: F) -> Result<(), Error>
    where
        F: FnOnce(Job) -> Fut,
        Fut: std::future::Future<Output = Result<(), Error>>,
    {
        let Ok(_turn) = self.slot(plugin).busy.try_lock() else {
            return Err(Error::conflict(format!(
                "Another operation on the {} plugin is in progress, try again later",
                plugin.title()
            ))
            .with_key("job_group_busy"));
        };
        self.inner.jobs.run(spec.reference(plugin.slug()), work).await
    }

    // The operations.

    /// Makes the container anew and starts it (job `docker_<plugin>_run`).
    pub async fn start(&self, plugin: Plugin) -> Result<(), Error> {
        let manager = self.clone();
        self.exclusive(plugin, JobSpec::new(plugin.run_job()), |job| async move { manager.run_in(plugin, &job).await })
            .await
    }

    /// Restarts the container (job `docker_interface_restart`); the dns plugin's files are
    /// written first. A plugin without a container gets one.
    pub async fn restart(&self, plugin: Plugin) -> Result<(), Error> {
        self.installed_version(plugin)?;
        let manager = self.clone();
        self.exclusive(plugin, JobSpec::new("docker_interface_restart"), |job| async move {
            if plugin == Plugin::Dns {
                manager.write_dns_files(false).await?;
            }
            tracing::info!("Restarting {} plugin", plugin.title());
            let client = manager.inner.docker.client()?;
            let options = RestartContainerOptionsBuilder::default().t(container::STOP_TIMEOUT as i32).build();
            match client.restart_container(&manager.container_name(plugin), Some(options)).await {
                Ok(()) => Ok(()),
                Err(e) if missing(&e) => {
                    job.run_child(JobSpec::new(plugin.run_job()).reference(plugin.slug()), |job| async move {
                        manager.run_in(plugin, &job).await
                    })
                    .await
                }
                Err(e) => Err(engine_error(plugin, "restart", e)),
            }
        })
        .await
    }

    /// Updates `plugin` to `version`, by default the manifest's (job `plugin_<plugin>_update`):
    /// the image of the manifest's name at that version, pulled or made, then the container anew.
    pub async fn update(&self, plugin: Plugin, version: Option<String>) -> Result<(), Error> {
        let installed = self.installed_version(plugin)?;
        let target = version.or_else(|| self.version_latest(plugin)).ok_or_else(|| {
            Error::invalid(format!("Cannot determine latest version of plugin {plugin} for update"))
                .with_key("plugin_error")
        })?;
        if !valid_tag(&target) {
            return Err(Error::invalid(format!("version: {target:?} is not a version an image can be tagged with")));
        }
        if target == installed {
            if plugin.refuses_same_version() {
                return Err(Error::invalid(format!("Version {target} is already in use")));
            }
            tracing::warn!("Version {target} is already installed for {plugin}");
            return Ok(());
        }
        let manager = self.clone();
        let spec = JobSpec::new(plugin.update_job()).conditions(&UPDATE_CONDITIONS);
        self.exclusive(plugin, spec, |job| async move { manager.update_in(plugin, &installed, &target, &job).await })
            .await
    }

    async fn update_in(&self, plugin: Plugin, installed: &str, target: &str, job: &Job) -> Result<(), Error> {
        let old_image = self.image(plugin);
        let image = self.default_image(plugin);
        let manager = self.clone();
        job.run_child(JobSpec::new("docker_interface_update").reference(plugin.slug()), |job| async move {
            manager.fetch(plugin, &image, target, &job).await?;
            manager.stop_in(plugin).await?;
            manager.slot(plugin).record.update(|record| {
                record.version = Some(target.to_owned());
                record.image = Some(image.clone());
            })?;
            if (old_image.as_str(), installed) != (image.as_str(), target) {
                manager.inner.docker.remove_image(&old_image, installed).await;
            }
            Ok(())
        })
        .await?;
        tracing::info!(plugin = %plugin, from = installed, to = target, "plugin updated");
        let manager = self.clone();
        job.run_child(JobSpec::new(plugin.run_job()).reference(plugin.slug()), |job| async move {
            manager.run_in(plugin, &job).await
        })
        .await
    }

    /// The installed version, or the error of an operation on a plugin not installed.
    fn installed_version(&self, plugin: Plugin) -> Result<String, Error> {
        self.version(plugin).ok_or_else(|| {
            Error::invalid(format!("The {} plugin is not installed", plugin.title())).with_key("plugin_error")
        })
    }

    /// The figures of the running container.
    pub async fn stats(&self, plugin: Plugin) -> Result<docker::Stats, Error> {
        if !self.running(plugin).await {
            return Err(
                Error::invalid(format!("The {} plugin is not running", plugin.title())).with_key("plugin_error")
            );
        }
        let client = self.inner.docker.client()?;
        let options = StatsOptionsBuilder::default().stream(false).build();
        let sample = client
            .stats(&self.container_name(plugin), Some(options))
            .next()
            .await
            .ok_or_else(|| engine_error(plugin, "read the stats of", "the engine sent none"))?
            .map_err(|e| engine_error(plugin, "read the stats of", e))?;
        Ok(docker::stats_from(&sample))
    }

    /// The client of the audio plugin's sound server, at its socket in the host's folder.
    fn pulse(&self) -> pulse::Client {
        pulse::Client::new(self.inner.data.pulse_socket())
    }

    /// What the audio plugin's sound server holds: cards, devices and applications. Empty, with
    /// a warning logged, while the server does not answer, as the real Supervisor shows no
    /// devices then.
    pub async fn audio(&self) -> pulse::Audio {
        self.pulse().info().await.unwrap_or_else(|e| {
            tracing::warn!("Can't read the sound server: {e}");
            pulse::Audio::default()
        })
    }

    /// Reads the sound server anew (`/audio/reload`); fails when it does not answer.
    pub async fn audio_reload(&self) -> Result<(), Error> {
        Ok(self.pulse().reload().await?)
    }

    /// Sets the volume of a device or, with `application`, of an application stream.
    pub async fn audio_volume(
        &self,
        stream_type: pulse::StreamType,
        index: u32,
        volume: f64,
        application: bool,
    ) -> Result<(), Error> {
        Ok(self.pulse().set_volume(stream_type, index, volume, application).await?)
    }

    /// Mutes or unmutes a device or, with `application`, an application stream.
    pub async fn audio_mute(
        &self,
        stream_type: pulse::StreamType,
        index: u32,
        mute: bool,
        application: bool,
    ) -> Result<(), Error> {
        Ok(self.pulse().set_mute(stream_type, index, mute, application).await?)
    }

    /// Makes the device named `name` the default input or output.
    pub async fn audio_default(&self, stream_type: pulse::StreamType, name: &str) -> Result<(), Error> {
        Ok(self.pulse().set_default(stream_type, name).await?)
    }

    /// Activates the profile `profile` of the sound card `card`.
    pub async fn audio_profile(&self, card: &str, profile: &str) -> Result<(), Error> {
        Ok(self.pulse().set_profile(card, profile).await?)
    }

    /// Starts every installed plugin whose container does not run, each as a child job of
    /// `parent` (the supervisor's repair): a container removed or broken is made anew, its image
    /// fetched again when that is gone too. Failures are logged; the others are still repaired.
    pub async fn repair(&self, parent: &Job) {
        for plugin in Plugin::ALL {
            if self.version(plugin).is_none() || self.running(plugin).await {
                continue;
            }
            let Ok(_turn) = self.slot(plugin).busy.try_lock() else { continue };
            tracing::info!("Repairing {} {}", plugin.title(), self.version(plugin).unwrap_or_default());
            let manager = self.clone();
            let spec = JobSpec::new(plugin.run_job()).reference(plugin.slug());
            if let Err(e) = parent.run_child(spec, |job| async move { manager.run_in(plugin, &job).await }).await {
                tracing::error!("Repair of {} failed: {}", plugin.title(), e.message);
            }
        }
    }

    // The steps the operations share.

    /// Makes sure `image:version` is on the engine.
    async fn fetch(&self, plugin: Plugin, image: &str, version: &str, job: &Job) -> Result<(), Error> {
        let tmp = self.inner.data.tmp();
        let source =
            Source { plugins: &self.inner.settings.source, binaries: &self.inner.settings.binaries, tmp: &tmp };
        image::fetch(&self.inner.docker, &source, plugin, image, version, job).await
    }

    /// Installs the manifest's version of `plugin` and runs it (job `docker_interface_install`).
    pub(crate) async fn install(&self, plugin: Plugin) -> Result<(), Error> {
        let manager = self.clone();
        let spec = JobSpec::new("docker_interface_install").conditions(&[JobCondition::FreeSpace]);
        self.exclusive(plugin, spec, |job| async move {
            let version = manager
                .version_latest(plugin)
                .ok_or_else(|| Error::unavailable(format!("No version of the {plugin} plugin is known yet")))?;
            let image = manager.default_image(plugin);
            tracing::info!("Setup {plugin} plugin");
            manager.fetch(plugin, &image, &version, &job).await?;
            manager.slot(plugin).record.update(|record| {
                record.version = Some(version.clone());
                record.image = Some(image.clone());
            })?;
            tracing::info!("{plugin} plugin now installed");
            job.run_child(JobSpec::new(plugin.run_job()).reference(plugin.slug()), |job| async move {
                manager.run_in(plugin, &job).await
            })
            .await
        })
        .await
    }

    /// Makes the container anew from the installed version and starts it.
    pub(crate) async fn run_in(&self, plugin: Plugin, job: &Job) -> Result<(), Error> {
        let version = self.installed_version(plugin)?;
        let image = self.image(plugin);
        let network = self.inner.docker.ensure_network().await?;
        self.fetch(plugin, &image, &version, job).await?;
        job.set_stage("run");
        let config_dir = self.config_dir(plugin);
        base::fs::ensure_real_dir(&config_dir)
            .map_err(|e| Error::internal(format!("can't make {}: {e}", config_dir.display())))?;
        match plugin {
            Plugin::Dns => self.write_dns_files(false).await?,
            Plugin::Audio => {
                let socket = self.inner.data.audio_socket();
                base::fs::ensure_real_dir(&socket)
                    .map_err(|e| Error::internal(format!("can't make {}: {e}", socket.display())))?
            }
            _ => {}
        }
        let token = plugin.has_token().then(|| self.renew_token(plugin)).transpose()?;
        self.remove_container(plugin).await?;
        let tag = format!("{image}:{version}");
        let mut started = Err(Error::internal("not started"));
        // The engine checks the OOM score only at the start, and unprivileged engines refuse it.
        for host_privileges in [true, false] {
            self.create_container(plugin, &tag, &network, token.as_deref(), host_privileges).await?;
            let client = self.inner.docker.client()?;
            started = client
                .start_container(&self.container_name(plugin), None::<StartContainerOptions>)
                .await
                .map_err(|e| engine_error(plugin, "start", e));
            if started.is_ok() {
                break;
            }
            self.remove_container(plugin).await?;
        }
        started?;
        tracing::info!(plugin = %plugin, image = %tag, "Starting {} {version}", plugin.title());
        if plugin == Plugin::Dns {
            self.inner.docker.set_resolver(self.address(plugin).await);
        }
        Ok(())
    }

    /// A new token for the plugin's new container, on disk first; the old one is refused from
    /// now on.
    fn renew_token(&self, plugin: Plugin) -> Result<String, Error> {
        let token = base::random::hex_token(TOKEN_BYTES);
        let before = self.slot(plugin).record.update(|record| record.access_token = Some(token.clone()))?;
        if let Some(old) = before.access_token {
            self.inner.tokens.revoke(&old);
        }
        self.inner.tokens.register(&token, caller(plugin));
        Ok(token)
    }

    async fn create_container(
        &self,
        plugin: Plugin,
        image: &str,
        network: &NetworkInfo,
        token: Option<&str>,
        host_privileges: bool,
    ) -> Result<(), Error> {
        let name = self.container_name(plugin);
        let address = plugin
            .offset()
            .filter(|_| self.inner.docker.fixed_addresses())
            .and_then(|offset| container::address_in(&network.subnet, offset));
        let endpoint = match self.inner.settings.addon_port {
            80 => "http://supervisor".to_owned(),
            port => format!("http://supervisor:{port}"),
        };
        let timezone = (self.inner.timezone)();
        let config_dir = self.config_dir(plugin);
        let body = container::container_body(&Plan {
            plugin,
            image: image.to_owned(),
            name: &name,
            network: &network.name,
            gateway: network.gateway,
            address,
            dns: self.inner.docker.resolver(),
            endpoint: &endpoint,
            config_dir: &config_dir,
            token,
            timezone: &timezone,
            command: self.command(plugin, network).await,
            exists: &|path: &Path| path.exists(),
            host_privileges,
        });
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let client = self.inner.docker.client()?;
        client.create_container(Some(options), body).await.map_err(|e| engine_error(plugin, "create", e))?;
        Ok(())
    }

    /// The arguments the supervisor adds to the plugin's entrypoint: the observer's port, the
    /// interfaces the multicast repeater joins (the network's bridge and the host's interfaces
    /// with an IPv4 default route).
    async fn command(&self, plugin: Plugin, network: &NetworkInfo) -> Vec<String> {
        match plugin {
            Plugin::Observer => vec!["--listen".to_owned(), format!("0.0.0.0:{}", self.inner.settings.observer_port)],
            Plugin::Multicast => {
                let mut interfaces = default_route_interfaces(&self.inner.settings.host_root);
                if let Some(bridge) = self.bridge(network).await {
                    interfaces.insert(0, bridge);
                }
                vec!["--interfaces".to_owned(), interfaces.join(",")]
            }
            _ => Vec::new(),
        }
    }

    /// The host's interface of the container network.
    async fn bridge(&self, network: &NetworkInfo) -> Option<String> {
        let client = self.inner.docker.client().ok()?;
        let inspect = client.inspect_network(&network.name, None).await.ok()?;
        let named = inspect.options.as_ref().and_then(|o| o.get("com.docker.network.bridge.name")).cloned();
        named.or_else(|| inspect.id.map(|id| format!("br-{}", &id[..id.len().min(12)])))
    }

    /// Stops and removes the container.
    pub(crate) async fn stop_in(&self, plugin: Plugin) -> Result<(), Error> {
        let client = self.inner.docker.client()?;
        let options = StopContainerOptionsBuilder::default().t(container::STOP_TIMEOUT as i32).build();
        match client.stop_container(&self.container_name(plugin), Some(options)).await {
            Ok(()) => tracing::info!("Stopping {} plugin", plugin.title()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304 | 404, .. }) => {}
            Err(e) => return Err(engine_error(plugin, "stop", e)),
        }
        self.remove_container(plugin).await
    }

    async fn remove_container(&self, plugin: Plugin) -> Result<(), Error> {
        let client = self.inner.docker.client()?;
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match client.remove_container(&self.container_name(plugin), Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if missing(&e) => Ok(()),
            Err(e) => Err(engine_error(plugin, "remove the container of", e)),
        }
    }

    /// Waits until the manifest names `plugin`'s version.
    async fn wait_for_manifest(&self, plugin: Plugin) {
        self.inner.updater.wait_for(|versions| latest_of(versions, plugin).is_some()).await;
    }

    /// At daemon start: waits for the engine and its network, watches the plugins, then for each
    /// plugin: starts an installed one that does not run, installs a missing one the settings ask
    /// for, updates one the manifest has a newer version of when auto-update is on.
    pub async fn boot(&self) {
        while self.inner.docker.client().is_err() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let network = loop {
            match self.inner.docker.ensure_network().await {
                Ok(network) => break network,
                Err(e) => tracing::warn!("plugins wait for the container network: {}", e.message),
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        };
        if self.version(Plugin::Dns).is_some() && self.inner.docker.fixed_addresses() {
            let address = Plugin::Dns.offset().and_then(|offset| container::address_in(&network.subnet, offset));
            self.inner.docker.set_resolver(address);
        }
        tokio::spawn(crate::watchdog::watch(self.clone()));
        tokio::spawn(crate::watchdog::watch_dns_inputs(self.clone()));
        crate::watchdog::watch_dns_loops(self);
        // The resolver first, so that the others start with it in place; a dns plugin that
        // cannot be installed yet holds nobody up.
        let (settled, dns_settled) = tokio::sync::watch::channel(false);
        let manager = self.clone();
        tokio::spawn(async move { manager.boot_plugin(Plugin::Dns, Some(settled)).await });
        for plugin in Plugin::ALL.into_iter().filter(|plugin| *plugin != Plugin::Dns) {
            let manager = self.clone();
            let mut dns_settled = dns_settled.clone();
            tokio::spawn(async move {
                let _ = dns_settled.wait_for(|settled| *settled).await;
                manager.boot_plugin(plugin, None).await
            });
        }
    }

    /// Starts `plugin` when installed and not running, else installs it when the settings ask
    /// (retrying until it succeeds, as the real Supervisor does); `settled` is told after the
    /// first attempt.
    async fn boot_plugin(&self, plugin: Plugin, mut settled: Option<tokio::sync::watch::Sender<bool>>) {
        let mut settle = || {
            if let Some(settled) = settled.take() {
                let _ = settled.send(true);
            }
        };
        if self.version(plugin).is_some() {
            if !self.running(plugin).await {
                if let Err(e) = self.start(plugin).await {
                    tracing::error!("The {plugin} plugin did not start: {}", e.message);
                }
            }
        } else if self.inner.settings.install.contains(&plugin) {
            loop {
                if self.version_latest(plugin).is_none() {
                    settle();
                    self.wait_for_manifest(plugin).await;
                }
                match self.install(plugin).await {
                    Ok(()) => break,
                    Err(e) => {
                        settle();
                        tracing::warn!("Error on installing {plugin} plugin, retrying in 30sec: {}", e.message);
                        tokio::time::sleep(INSTALL_RETRY).await;
                    }
                }
            }
        }
        settle();
        self.auto_update(plugin).await;
    }

    /// Updates `plugin` at start when the manifest has a newer version, auto-update is on and
    /// the supervisor itself is current, as the real Supervisor's load does.
    async fn auto_update(&self, plugin: Plugin) {
        if !self.inner.updater.auto_update() || !self.update_available(plugin) {
            return;
        }
        let supervisor = self.inner.updater.versions().supervisor;
        if supervisor.is_some_and(|latest| base::version::is_newer(&latest, base::SUPERVISOR_VERSION)) {
            return;
        }
        tracing::info!(
            "Plugin {plugin} is not up-to-date, latest version {}, updating",
            self.version_latest(plugin).unwrap_or_default()
        );
        let issue = base::system::RaisedIssue {
            kind: "update_failed",
            context: "plugin",
            reference: Some(plugin.slug().to_owned()),
            extra: None,
            suggestions: Vec::new(),
        };
        match self.update(plugin, None).await {
            Ok(()) => self.inner.jobs.system().withdraw_issue(issue),
            Err(e) => {
                tracing::error!("Can't update {plugin}: {}", e.message);
                self.inner.jobs.system().raise_issue(issue);
            }
        }
    }
}

/// Who a plugin's token stands for: the cli plugin is the CLI, the observer the observer.
fn caller(plugin: Plugin) -> Caller {
    match plugin {
        Plugin::Observer => Caller::Observer,
        _ => Caller::Cli,
    }
}

/// The host's interfaces with an IPv4 default route, from the kernel's routing table.
fn default_route_interfaces(host_root: &Path) -> Vec<String> {
    let table = std::fs::read_to_string(host_root.join("proc/net/route")).unwrap_or_default();
    let mut interfaces: Vec<String> = Vec::new();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [interface, destination, ..] = fields[..] {
            if destination == "00000000" && !interfaces.iter().any(|known| known == interface) {
                interfaces.push(interface.to_owned());
            }
        }
    }
    interfaces
}

/// The latest version of `plugin` that `versions` names.
fn latest_of(versions: &Versions, plugin: Plugin) -> Option<&String> {
    match plugin {
        Plugin::Dns => versions.dns.as_ref(),
        Plugin::Audio => versions.audio.as_ref(),
        Plugin::Cli => versions.cli.as_ref(),
        Plugin::Observer => versions.observer.as_ref(),
        Plugin::Multicast => versions.multicast.as_ref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked() {
        assert!(valid_tag("2025.1.0") && valid_tag("1") && valid_tag("dev_1-b"));
        assert!(!valid_tag("") && !valid_tag(".1") && !valid_tag("1:2") && !valid_tag("a/b"));
    }

    #[test]
    fn default_route_interfaces_come_from_the_routing_table() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("proc/net")).unwrap();
        std::fs::write(
            root.path().join("proc/net/route"),
            "Iface\tDestination\tGateway\tFlags\n\
             eth0\t00000000\t0102A8C0\t0003\n\
             eth0\t0002A8C0\t00000000\t0001\n\
             wlan0\t00000000\t0101A8C0\t0003\n",
        )
        .unwrap();
        assert_eq!(default_route_interfaces(root.path()), vec!["eth0", "wlan0"]);
        assert_eq!(default_route_interfaces(Path::new("/nonexistent")), Vec::<String>::new());
    }
}
