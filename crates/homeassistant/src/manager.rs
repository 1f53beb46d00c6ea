//! The Core manager: Core's image, container and options, and its life cycle as the real
//! Supervisor runs it (jobs `home_assistant_core_*`): the landing page until Core is installed,
//! install, update with a backup first and a rollback when the new version does not come up,
//! rebuild, start, stop, restart, the configuration check, and the start at boot.
//!
//! Every operation runs in the job group `home_assistant_core` with the `Once` limit, so two never
//! interleave; the watchdog and the API call the same operations.

use crate::client::CoreApi;
use crate::config::{CoreConfig, LANDINGPAGE};
use crate::container::{self, Plan};
use base::{DataDir, Error, Timezone};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StatsOptionsBuilder, StopContainerOptionsBuilder, WaitContainerOptions,
};
use docker::DockerManager;
use futures_util::StreamExt;
use jobs::{Job, JobCondition, JobLimit, JobManager, JobSpec, Outcome};
use security::Tokens;
use state::Persisted;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use updater::Updater;

/// How long a started Core has to answer its API at all.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Once its API answers, how long Core has to report it runs (database migrations take long).
const RUNNING_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Between two looks at a starting Core.
const STARTUP_POLL: Duration = Duration::from_secs(1);
/// Between two attempts to pull Core's image while it is not installed.
const INSTALL_RETRY: Duration = Duration::from_secs(30);
/// The container's name before the instance prefix.
pub const CONTAINER: &str = "homeassistant";

/// Makes a partial backup of Core before it is updated (`backup: true`); the backups crate sets
/// it once it exists, since it needs this crate first.
pub trait UpdateBackup: Send + Sync {
    fn backup_core<'a>(
        &'a self,
        version: &'a str,
        parent: &'a Job,
    ) -> futures_util::future::BoxFuture<'a, Result<(), Error>>;
}

/// Core's state as `/core/info` and the watchdog see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreState {
    Running,
    Stopped,
    /// No container.
    Missing,
}

/// Run-time facts that are not persisted.
#[derive(Debug, Default)]
pub(crate) struct Runtime {
    /// The user (or an operation) stopped Core: the watchdog leaves it alone.
    pub manual_stop: bool,
    /// The last start did not come up.
    pub error_state: bool,
    /// When the watchdog restarted Core, for its rate limit.
    pub watchdog_restarts: Vec<Instant>,
}

/// Cheap to clone; every clone is the same manager.
#[derive(Clone)]
pub struct CoreManager {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Arc<Persisted<CoreConfig>>,
    pub(crate) api: CoreApi,
    pub(crate) jobs: JobManager,
    pub(crate) docker: Arc<DockerManager>,
    updater: Arc<Updater>,
    tokens: Arc<Tokens>,
    data: DataDir,
    timezone: Timezone,
    pub(crate) settings: Settings,
    pub(crate) runtime: Mutex<Runtime>,
    update_backup: std::sync::OnceLock<Arc<dyn UpdateBackup>>,
    /// Where [`CoreManager::push`] queues its pushes; made at the first.
    pushes: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Push>>,
    /// Where [`CoreManager::tell`] queues events; the queue is taken by the forwarder at boot.
    events: crate::events::Events,
    event_queue: Mutex<Option<crate::events::EventQueue>>,
}

/// One change to tell Core: the method, the path under its API, the body.
type Push = (reqwest::Method, String, Option<serde_json::Value>);

/// How this supervisor runs Core, from its command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The port containers reach the supervisor on at the network's gateway.
    pub addon_port: u16,
    /// Whether a missing Core is installed, at start (the landing page, then the latest version)
    /// and by a restore that holds Core.
    pub install: bool,
    /// Between two checks of Core's API by the watchdog.
    pub watchdog_interval: Duration,
}

/// How long Core gets to take a push.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The job of one operation on Core.
pub(crate) fn spec(name: &str) -> JobSpec {
    JobSpec::new(name).group("home_assistant_core").limit(JobLimit::Once)
}

/// Conditions of the jobs that fetch an image.
const FETCH_CONDITIONS: [JobCondition; 2] = [JobCondition::FreeSpace, JobCondition::Healthy];

/// A new version that did not come up and was replaced by the one before it.
const ISSUE_UPDATE_ROLLBACK: &str = "update_rollback";
/// A new version that did not come up, with no working version to go back to.
const ISSUE_UPDATE_FAILED: &str = "update_failed";

/// An issue of Core's updates; the real ones have no reference and no suggestion.
fn update_issue(kind: &'static str) -> base::system::RaisedIssue {
    base::system::RaisedIssue { kind, context: "core", reference: None, extra: None, suggestions: Vec::new() }
}

/// Where the engine's error says a container or image does not exist.
fn missing(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

fn engine_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("Can't {what} Home Assistant Core: {e}")).with_key("homeassistant_error")
}

impl CoreManager {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: &state::Store,
        data: DataDir,
        jobs: JobManager,
        docker: Arc<DockerManager>,
        updater: Arc<Updater>,
        tokens: Arc<Tokens>,
        timezone: Timezone,
        settings: Settings,
    ) -> state::Result<Self> {
        let config = Arc::new(Persisted::load(store.section("homeassistant")?, "config")?);
        let api = CoreApi::new(Arc::clone(&config), Arc::clone(&docker));
        let (events, event_queue) = tokio::sync::mpsc::unbounded_channel();
        Ok(CoreManager {
            inner: Arc::new(Inner {
                config,
                api,
                jobs,
                docker,
                updater,
                tokens,
                data,
                timezone,
                settings,
                runtime: Mutex::default(),
                update_backup: std::sync::OnceLock::new(),
                pushes: std::sync::OnceLock::new(),
                events,
                event_queue: Mutex::new(Some(event_queue)),
            }),
        })
    }

    /// Tells Core `event` (a `supervisor/event` of its websocket) with `data`, in the order
    /// asked, once its API is up; dropped while Core is down (it reads the whole state when it
    /// starts).
    pub fn tell(&self, event: &str, data: serde_json::Value) {
        let _ = self.inner.events.send((event.to_owned(), data));
    }

    /// How updates make the backup they are asked for.
    pub fn set_update_backup(&self, backup: Arc<dyn UpdateBackup>) {
        let _ = self.inner.update_backup.set(backup);
    }

    pub fn config(&self) -> CoreConfig {
        self.inner.config.get()
    }

    /// Applies `change` to the options, on disk first. A new refresh token or address makes the
    /// client get a new access token.
    pub async fn update_config(&self, change: impl FnOnce(&mut CoreConfig)) -> Result<(), Error> {
        let before = self.inner.config.update(change)?;
        let after = self.inner.config.read().clone();
        if (&before.refresh_token, before.port, before.ssl) != (&after.refresh_token, after.port, after.ssl) {
            self.inner.api.forget_token().await;
        }
        Ok(())
    }

    /// The client of Core's API.
    pub fn api(&self) -> &CoreApi {
        &self.inner.api
    }

    /// Tells Core of a change in the background (`path` is one of its `api/hassio_push/...`),
    /// after the changes told before it, so a message added then removed ends removed. Skipped
    /// while Core's API is down: Core reads the whole state when it starts. A refusal is logged.
    pub fn push(&self, method: reqwest::Method, path: String, body: Option<serde_json::Value>) {
        let queue = self.inner.pushes.get_or_init(|| {
            let (queue, mut pushes) = tokio::sync::mpsc::unbounded_channel::<Push>();
            let manager = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                while let Some((method, path, body)) = pushes.recv().await {
                    let Some(inner) = manager.upgrade() else { break };
                    CoreManager { inner }.send_push(method, &path, body.as_ref()).await;
                }
            });
            queue
        });
        let _ = queue.send((method, path, body));
    }

    async fn send_push(&self, method: reqwest::Method, path: &str, body: Option<&serde_json::Value>) {
        if !self.api().running().await {
            tracing::debug!("Home Assistant Core is not running: push {path} skipped");
            return;
        }
        let mut request = self.api().request(method, path).timeout(PUSH_TIMEOUT);
        if let Some(body) = body {
            request = request.json(body);
        }
        match self.api().send(request).await {
            Ok(response) if response.status().is_success() => tracing::debug!("pushed {path} to Core"),
            Ok(response) => tracing::warn!("Home Assistant answered the push {path} with {}", response.status()),
            Err(e) => tracing::warn!("Can't push {path} to Home Assistant: {}", e.message),
        }
    }

    /// The engine connection Core runs on.
    pub fn docker(&self) -> &DockerManager {
        &self.inner.docker
    }

    pub fn jobs(&self) -> &JobManager {
        &self.inner.jobs
    }

    pub fn machine(&self) -> &str {
        self.inner.updater.machine()
    }

    /// Core's image: the one the user set, else the version manifest's, else the real default.
    pub fn image(&self) -> String {
        self.inner.config.read().image.clone().unwrap_or_else(|| self.default_image())
    }

    /// The version manifest's image for this machine.
    pub fn default_image(&self) -> String {
        let versions = self.inner.updater.versions();
        versions
            .images
            .get("core")
            .cloned()
            .unwrap_or_else(|| format!("ghcr.io/home-assistant/{}-homeassistant", self.machine()))
    }

    /// The installed version (`landingpage` before Core is installed).
    pub fn version(&self) -> Option<String> {
        self.inner.config.read().version.clone()
    }

    /// The newest version the manifest offers, else the installed one.
    pub fn version_latest(&self) -> Option<String> {
        self.inner.updater.versions().homeassistant.or_else(|| self.version())
    }

    pub fn update_available(&self) -> bool {
        match (self.version(), self.version_latest()) {
            (Some(installed), Some(latest)) if installed != LANDINGPAGE => base::version::is_newer(&latest, &installed),
            _ => false,
        }
    }

    /// The container's name on the engine.
    pub fn container_name(&self) -> String {
        self.inner.docker.container_name(CONTAINER)
    }

    /// Where Core reaches the supervisor: the network's gateway and the containers' port.
    fn supervisor_address(&self) -> String {
        let host = self.inner.docker.network_info().map_or_else(|| "172.30.32.1".to_owned(), |n| n.gateway.to_string());
        match self.inner.settings.addon_port {
            80 => host,
            port => format!("{host}:{port}"),
        }
    }

    /// The container's state on the engine.
    pub async fn state(&self) -> Result<CoreState, Error> {
        let client = self.inner.docker.client()?;
        match client.inspect_container(&self.container_name(), None::<InspectContainerOptions>).await {
            Ok(inspect) => Ok(if inspect.state.and_then(|s| s.running).unwrap_or(false) {
                CoreState::Running
            } else {
                CoreState::Stopped
            }),
            Err(e) if missing(&e) => Ok(CoreState::Missing),
            Err(e) => Err(engine_error("inspect", e)),
        }
    }

    pub async fn running(&self) -> bool {
        matches!(self.state().await, Ok(CoreState::Running))
    }

    pub(crate) fn with_runtime<T>(&self, f: impl FnOnce(&mut Runtime) -> T) -> T {
        f(&mut self.inner.runtime.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether the last start failed to come up.
    pub fn error_state(&self) -> bool {
        self.with_runtime(|r| r.error_state)
    }

    // The operations, as jobs.

    /// Starts Core (job `home_assistant_core_start`) and waits until it runs.
    pub async fn start(&self) -> Result<(), Error> {
        let manager = self.clone();
        self.inner.jobs.run(spec("home_assistant_core_start"), |job| async move { manager.start_in(&job).await }).await
    }

    /// Stops Core (job `home_assistant_core_stop`); the watchdog leaves it stopped. Refused while
    /// Core migrates its database offline unless `force`d.
    pub async fn stop(&self, force: bool) -> Result<(), Error> {
        self.check_offline_migration(force).await?;
        let manager = self.clone();
        self.inner
            .jobs
            .run(spec("home_assistant_core_stop"), |_| async move { manager.stop_container(false).await })
            .await
    }

    /// Restarts Core (job `home_assistant_core_restart`), in safe mode if asked; refused while
    /// Core migrates its database offline unless `force`d.
    pub async fn restart(&self, safe_mode: bool, force: bool) -> Result<(), Error> {
        self.check_offline_migration(force).await?;
        let manager = self.clone();
        self.inner
            .jobs
            .run(spec("home_assistant_core_restart"), |job| async move {
                manager.write_safe_mode(safe_mode)?;
                manager.stop_container(false).await?;
                manager.start_in(&job).await
            })
            .await
    }

    /// Makes the container again from the image (job `home_assistant_core_rebuild`).
    pub async fn rebuild(&self, safe_mode: bool, force: bool) -> Result<(), Error> {
        self.check_offline_migration(force).await?;
        let manager = self.clone();
        self.inner
            .jobs
            .run(spec("home_assistant_core_rebuild"), |job| async move {
                manager.write_safe_mode(safe_mode)?;
                manager.stop_container(true).await?;
                manager.start_in(&job).await
            })
            .await
    }

    /// Updates Core to `version` (default: the latest) as the job `home_assistant_core_update`,
    /// after a partial backup of it with `backup`. When the new version does not come up, the
    /// previous one is started again and the update answers its failure.
    pub async fn update(&self, version: Option<String>, backup: bool, background: bool) -> Result<Outcome, Error> {
        let config = self.config();
        let Some(installed) = config.version.clone().filter(|_| config.installed()) else {
            return Err(Error::invalid("Home Assistant Core is not installed yet").with_key("homeassistant_error"));
        };
        let target = version.or_else(|| self.version_latest()).ok_or_else(|| {
            Error::invalid("No version of Home Assistant Core is known to update to").with_key("homeassistant_error")
        })?;
        if target == installed {
            let mut extra = serde_json::Map::new();
            extra.insert("version".to_owned(), target.clone().into());
            return Err(Error::invalid(format!("Home Assistant version {target} is already installed"))
                .with_key("homeassistant_update_already_installed_error")
                .with_extra(extra));
        }
        self.check_offline_migration(false).await?;
        let spec = spec("home_assistant_core_update").conditions(&FETCH_CONDITIONS);
        let manager = self.clone();
        self.inner
            .jobs
            .perform(
                spec,
                background,
                move |job| async move { manager.update_in(&installed, &target, backup, &job).await },
            )
            .await
    }

    async fn update_in(&self, installed: &str, target: &str, backup: bool, job: &Job) -> Result<(), Error> {
        if backup {
            let maker = self.inner.update_backup.get().ok_or_else(|| Error::internal("backups are not available"))?;
            job.set_stage("backup");
            maker.backup_core(installed, job).await?;
        }
        let old_image = self.image();
        let image = self.image();
        let was_running = self.running().await;
        job.set_stage("pull");
        self.inner.docker.pull(&image, target, job).await.map_err(|e| {
            Error::internal(format!("Updating Home Assistant image failed: {}", e.message))
                .with_key("homeassistant_update_error")
        })?;
        job.set_stage("update");
        self.install_version(&image, target).await?;
        let started = if was_running { self.start_in(job).await } else { Ok(()) };
        match started {
            Ok(()) => {
                tracing::info!(from = installed, to = target, "Successfully started Home Assistant {target}");
                self.inner.docker.remove_image(&old_image, installed).await;
                for kind in [ISSUE_UPDATE_ROLLBACK, ISSUE_UPDATE_FAILED] {
                    self.inner.jobs.system().withdraw_issue(update_issue(kind));
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(
                    "Home Assistant Core update to {target} failed -> rollback to {installed}: {}",
                    e.message
                );
                self.keep_rollback_log();
                job.set_stage("rollback");
                if let Err(e) = self.roll_back(&old_image, installed, job).await {
                    self.inner.jobs.system().raise_issue(update_issue(ISSUE_UPDATE_FAILED));
                    return Err(e);
                }
                self.inner.jobs.system().raise_issue(update_issue(ISSUE_UPDATE_ROLLBACK));
                self.inner.docker.remove_image(&image, target).await;
                Err(Error::invalid(format!(
                    "Home Assistant Core {target} did not start ({}); rolled back to {installed}",
                    e.message
                ))
                .with_key("homeassistant_update_error"))
            }
        }
    }

    /// Runs the version the update started from again, its image fetched when it is gone.
    async fn roll_back(&self, old_image: &str, installed: &str, job: &Job) -> Result<(), Error> {
        if !self.inner.docker.image_exists(old_image, installed).await.unwrap_or(false) {
            self.inner.docker.pull(old_image, installed, job).await?;
        }
        self.install_version(old_image, installed).await?;
        self.start_in(job).await
    }

    /// Records `image:version` as Core and replaces the container (stopped) by one of it.
    async fn install_version(&self, image: &str, version: &str) -> Result<(), Error> {
        self.stop_container(true).await?;
        let custom = (image != self.default_image()).then(|| image.to_owned());
        self.inner.config.update(|c| {
            c.version = Some(version.to_owned());
            c.image = custom;
        })?;
        Ok(())
    }

    /// Copies `home-assistant.log` aside before a rollback overwrites it, as the real one does.
    fn keep_rollback_log(&self) {
        let dir = self.inner.data.homeassistant();
        let log = dir.join("home-assistant.log");
        if log.is_file() {
            if let Err(e) = std::fs::copy(&log, dir.join("home-assistant-rollback.log")) {
                tracing::warn!("can't keep Core's log before the rollback: {e}");
            }
        }
    }

    /// Runs Core's configuration check inside its image (job `home_assistant_core_check_config`).
    pub async fn check_config(&self) -> Result<(), Error> {
        let manager = self.clone();
        self.inner
            .jobs
            .run(JobSpec::new("home_assistant_core_check_config"), |_| async move { manager.check_in().await })
            .await
    }

    async fn check_in(&self) -> Result<(), Error> {
        let config = self.config();
        let version = config.version.clone().filter(|_| config.installed()).ok_or_else(|| {
            Error::invalid("Home Assistant Core is not installed yet").with_key("homeassistant_error")
        })?;
        let client = self.inner.docker.client()?;
        let name = self.inner.docker.container_name("homeassistant_check");
        let _ =
            client.remove_container(&name, Some(RemoveContainerOptionsBuilder::default().force(true).build())).await;
        let mut body = self.container_body(&format!("{}:{version}", self.image()), "", false);
        body.entrypoint = Some(Vec::new());
        body.cmd = Some(
            ["python3", "-m", "homeassistant", "-c", "/config", "--script", "check_config"].map(str::to_owned).to_vec(),
        );
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        client
            .create_container(Some(options), body)
            .await
            .map_err(|e| engine_error("check the configuration of", e))?;
        let result = async {
            client
                .start_container(&name, None::<bollard::query_parameters::StartContainerOptions>)
                .await
                .map_err(|e| engine_error("check the configuration of", e))?;
            let exit = match client.wait_container(&name, None::<WaitContainerOptions>).next().await {
                Some(Ok(answer)) => answer.status_code,
                // A non-zero exit arrives as an error carrying the code.
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
                Some(Err(e)) => return Err(engine_error("check the configuration of", e)),
                None => -1,
            };
            let options = LogsOptionsBuilder::default().stdout(true).stderr(true).build();
            let output: Vec<u8> = client
                .logs(&name, Some(options))
                .filter_map(|item| async move { item.ok().map(|o| o.into_bytes()) })
                .collect::<Vec<_>>()
                .await
                .concat();
            Ok((exit, String::from_utf8_lossy(&output).into_owned()))
        }
        .await;
        let _ =
            client.remove_container(&name, Some(RemoveContainerOptionsBuilder::default().force(true).build())).await;
        let (exit, output) = result?;
        if exit != 0 || output.contains("Invalid config") {
            tracing::error!("Home Assistant Core configuration check failed:\n{output}");
            return Err(Error::invalid(format!("Invalid configuration found: {}", output.trim()))
                .with_key("homeassistant_check_config_error"));
        }
        tracing::info!("Home Assistant Core configuration is valid");
        Ok(())
    }

    /// Refuses a restart while Core migrates its database offline, which a stop could damage.
    async fn check_offline_migration(&self, force: bool) -> Result<(), Error> {
        if force || !self.running().await {
            return Ok(());
        }
        let state = self.inner.api.request(reqwest::Method::GET, "api/core/state").timeout(Duration::from_secs(10));
        let Ok(response) = self.inner.api.send(state).await else { return Ok(()) };
        let state: serde_json::Value = response.json().await.unwrap_or_default();
        let recorder = &state["recorder_state"];
        if recorder["migration_in_progress"] == true && recorder["migration_is_live"] != true {
            return Err(Error::unavailable("Offline database migration in progress, try again after it has completed"));
        }
        Ok(())
    }

    /// Leaves the marker file that makes Core start in safe mode once.
    fn write_safe_mode(&self, safe_mode: bool) -> Result<(), Error> {
        if !safe_mode {
            return Ok(());
        }
        let marker = self.inner.data.homeassistant().join("safe-mode");
        base::fs::atomic_write(&marker, b"", 0o644)
            .map_err(|e| Error::internal(format!("can't ask Core for safe mode: {e}")))
    }

    /// The figures of the running container.
    pub async fn stats(&self) -> Result<docker::Stats, Error> {
        if !self.running().await {
            return Err(Error::invalid("Home Assistant Core is not running").with_key("homeassistant_error"));
        }
        let client = self.inner.docker.client()?;
        let options = StatsOptionsBuilder::default().stream(false).build();
        let sample = client
            .stats(&self.container_name(), Some(options))
            .next()
            .await
            .ok_or_else(|| engine_error("read the stats of", "the engine sent none"))?
            .map_err(|e| engine_error("read the stats of", e))?;
        Ok(docker::stats_from(&sample))
    }

    // The steps the operations share.

    /// Starts the container, made first when missing, and waits until Core runs.
    pub(crate) async fn start_in(&self, job: &Job) -> Result<(), Error> {
        let config = self.config();
        let Some(version) = config.version.clone() else {
            return Err(Error::invalid("Home Assistant Core is not installed yet").with_key("homeassistant_error"));
        };
        let image = self.image();
        let client = self.inner.docker.client()?;
        match self.state().await? {
            CoreState::Running => {
                self.with_runtime(|r| r.manual_stop = false);
                return self.block_till_run(&version).await;
            }
            CoreState::Stopped if self.container_matches(&image, &version).await => {}
            CoreState::Stopped | CoreState::Missing => {
                self.remove_container().await?;
                if !self.inner.docker.image_exists(&image, &version).await? {
                    tracing::warn!(image, version, "Home Assistant Core's image is missing, pulling it again");
                    self.inner.docker.pull(&image, &version, job).await?;
                }
                self.inner.docker.ensure_network().await?;
                self.create_container(&format!("{image}:{version}"), true).await?;
            }
        }
        self.with_runtime(|r| r.manual_stop = false);
        job.set_stage("start");
        let name = self.container_name();
        let start = || client.start_container(&name, None::<bollard::query_parameters::StartContainerOptions>);
        match start().await {
            Ok(()) => {}
            // The engine checks these only at start, and answers a refused one cryptically.
            Err(e) => {
                tracing::warn!(
                    "Core's container did not start ({e}); trying without mount propagation and OOM priority"
                );
                self.remove_container().await?;
                self.create_container(&format!("{image}:{version}"), false).await?;
                start().await.map_err(|e| engine_error("start", e))?;
            }
        }
        tracing::info!(version, "Home Assistant Core started");
        self.block_till_run(&version).await
    }

    /// Whether the existing container runs `image:version` with the current settings' image.
    async fn container_matches(&self, image: &str, version: &str) -> bool {
        let Ok(client) = self.inner.docker.client() else { return false };
        let inspect = client.inspect_container(&self.container_name(), None::<InspectContainerOptions>).await;
        inspect.ok().and_then(|i| i.config).and_then(|c| c.image).as_deref() == Some(&format!("{image}:{version}"))
    }

    /// Creates Core's container of `image` (with its tag), with a token of its own.
    async fn create_container(&self, image: &str, host_privileges: bool) -> Result<(), Error> {
        let token = self
            .inner
            .tokens
            .renew_homeassistant()
            .map_err(|e| Error::internal(format!("Can't issue Core a token: {e}")))?;
        let config = self.config();
        container::sound_client(&self.inner.data)
            .write(config.audio_output.as_deref(), config.audio_input.as_deref())
            .map_err(|e| Error::internal(format!("Can't write Home Assistant's sound configuration: {e}")))?;
        let body = self.container_body(image, &token, host_privileges);
        let options = CreateContainerOptionsBuilder::default().name(&self.container_name()).build();
        let client = self.inner.docker.client()?;
        client.create_container(Some(options), body).await.map_err(|e| engine_error("create", e))?;
        Ok(())
    }

    fn container_body(&self, image: &str, token: &str, host_privileges: bool) -> bollard::models::ContainerCreateBody {
        let config = self.config();
        let timezone = (self.inner.timezone)();
        let supervisor = self.supervisor_address();
        container::container_body(&Plan {
            config: &config,
            image: image.to_owned(),
            data: &self.inner.data,
            supervisor: &supervisor,
            token,
            timezone: &timezone,
            exists: &|p: &Path| p.exists(),
            host_privileges,
            dns: self.inner.docker.resolver(),
        })
    }

    /// Waits until Core's API says it runs: it must answer within [`STARTUP_TIMEOUT`], then
    /// report running within [`RUNNING_TIMEOUT`]; a container that stops on the way has crashed.
    /// The landing page is not waited for.
    async fn block_till_run(&self, version: &str) -> Result<(), Error> {
        if version == LANDINGPAGE {
            return Ok(());
        }
        tracing::info!("Wait until Home Assistant is ready");
        let mut deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut answered = false;
        let result = loop {
            if Instant::now() >= deadline {
                break Err(Error::unavailable("No Home Assistant Core response, assuming a fatal startup error")
                    .with_key("homeassistant_startup_timeout"));
            }
            tokio::time::sleep(STARTUP_POLL).await;
            if !self.running().await {
                break Err(Error::internal("Home Assistant Core has crashed").with_key("homeassistant_crash_error"));
            }
            if !answered && self.inner.api.answers().await {
                answered = true;
                deadline = Instant::now() + RUNNING_TIMEOUT;
            }
            if answered && self.inner.api.running().await {
                tracing::info!("Detect a running Home Assistant instance");
                break Ok(());
            }
        };
        self.with_runtime(|r| r.error_state = result.is_err());
        result
    }

    /// Stops the container; with `remove`, removes it too.
    pub(crate) async fn stop_container(&self, remove: bool) -> Result<(), Error> {
        self.with_runtime(|r| r.manual_stop = true);
        let client = self.inner.docker.client()?;
        let options = StopContainerOptionsBuilder::default().t(container::STOP_TIMEOUT as i32).build();
        match client.stop_container(&self.container_name(), Some(options)).await {
            Ok(()) => tracing::info!("Home Assistant Core stopped"),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304 | 404, .. }) => {}
            Err(e) => return Err(engine_error("stop", e)),
        }
        if remove {
            self.remove_container().await?;
        }
        Ok(())
    }

    async fn remove_container(&self) -> Result<(), Error> {
        let client = self.inner.docker.client()?;
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match client.remove_container(&self.container_name(), Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if missing(&e) => Ok(()),
            Err(e) => Err(engine_error("remove the container of", e)),
        }
    }

    /// Installs the landing page (job `home_assistant_core_install_landingpage`), then Core
    /// itself (job `home_assistant_core_install`), retrying the pull until it succeeds.
    async fn install(&self) -> Result<(), Error> {
        self.wait_for_manifest().await;
        if self.version().is_none() {
            let manager = self.clone();
            let landing = spec("home_assistant_core_install_landingpage").conditions(&FETCH_CONDITIONS);
            let installed = self
                .inner
                .jobs
                .run(landing, |job| async move {
                    let image = manager.image();
                    manager.inner.docker.pull(&image, LANDINGPAGE, &job).await?;
                    manager.install_version(&image, LANDINGPAGE).await?;
                    manager.start_in(&job).await
                })
                .await;
            if let Err(e) = installed {
                tracing::warn!("Home Assistant landing page not installed: {}", e.message);
            }
        }
        loop {
            let manager = self.clone();
            let install = spec("home_assistant_core_install").conditions(&FETCH_CONDITIONS);
            let result = self
                .inner
                .jobs
                .run(install, |job| async move {
                    let version = manager
                        .version_latest()
                        .filter(|v| v != LANDINGPAGE)
                        .ok_or_else(|| Error::unavailable("No version of Home Assistant Core is known yet"))?;
                    let image = manager.image();
                    job.set_stage("pull");
                    manager.inner.docker.pull(&image, &version, &job).await?;
                    let landing = manager.version().filter(|v| v == LANDINGPAGE);
                    manager.install_version(&image, &version).await?;
                    if let Some(landing) = landing {
                        manager.inner.docker.remove_image(&image, &landing).await;
                    }
                    manager.start_in(&job).await
                })
                .await;
            match result {
                Ok(()) => {
                    tracing::info!("Home Assistant Core installed");
                    return Ok(());
                }
                Err(e) if self.config().installed() => return Err(e),
                Err(e) => {
                    tracing::warn!("Error on Home Assistant installation, retrying in 30 seconds: {}", e.message);
                    tokio::time::sleep(INSTALL_RETRY).await;
                }
            }
        }
    }

    // Backups.

    /// The settings a backup keeps of Core (`homeassistant.json` inside it).
    pub fn backup_settings(&self) -> serde_json::Value {
        serde_json::to_value(self.config()).expect("the settings serialize")
    }

    /// Tells a running Core that a backup of its configuration starts (websocket `backup/start`),
    /// so it writes its database out and holds it; answers whether it was told, so the backup
    /// tells it the end. A Core that runs but cannot be told fails the backup.
    pub async fn begin_backup(&self) -> Result<bool, Error> {
        if !self.config().installed() || !self.running().await {
            return Ok(false);
        }
        self.inner.api.command(serde_json::json!({"type": "backup/start"})).await.map_err(|e| {
            Error::internal(format!("Preparing backup of Home Assistant Core failed due to: {}", e.message))
        })?;
        Ok(true)
    }

    /// Tells Core the backup ended (`backup/end`); a failure is only logged.
    pub async fn end_backup(&self) {
        if let Err(e) = self.inner.api.command(serde_json::json!({"type": "backup/end"})).await {
            tracing::warn!("Error resuming normal operations after backup of Home Assistant Core: {}", e.message);
        }
    }

    /// After a restore put Core's configuration back: takes the settings the backup kept that
    /// belong to this configuration (port, SSL, refresh token, watchdog, audio devices), then
    /// runs Core at the backed-up `version` (restarted when that is the installed one), as the
    /// job `home_assistant_module_restore`. Without Core installed and with installing turned
    /// off, only the settings are taken.
    pub async fn restored(&self, settings: &serde_json::Value, version: Option<String>) -> Result<(), Error> {
        let kept: CoreConfig = serde_json::from_value(settings.clone()).unwrap_or_default();
        self.update_config(|config| {
            config.port = kept.port;
            config.ssl = kept.ssl;
            config.refresh_token = kept.refresh_token.clone();
            config.watchdog = kept.watchdog;
            config.audio_input = kept.audio_input.clone();
            config.audio_output = kept.audio_output.clone();
        })
        .await?;
        let manager = self.clone();
        self.inner
            .jobs
            .run(spec("home_assistant_module_restore"), |job| async move {
                let image = manager.image();
                // A supervisor told not to install Core (`--core-install false`) keeps only the
                // configuration when Core is not installed: installing it is not its job there.
                let version = version.filter(|_| manager.config().installed() || manager.inner.settings.install);
                match version.filter(|v| manager.version().as_ref() != Some(v)) {
                    Some(version) => {
                        if !manager.inner.docker.image_exists(&image, &version).await? {
                            manager.inner.docker.pull(&image, &version, &job).await?;
                        }
                        manager.install_version(&image, &version).await?;
                    }
                    None if manager.config().installed() => manager.stop_container(false).await?,
                    None => {}
                }
                if manager.config().installed() {
                    manager.start_in(&job).await?;
                }
                Ok(())
            })
            .await
    }

    /// Waits until the version manifest names Core's version, which also names its image.
    async fn wait_for_manifest(&self) {
        self.inner.updater.wait_for(|versions| versions.homeassistant.is_some()).await;
    }

    /// At daemon start: waits for the engine and the version manifest, installs Core when it is
    /// missing, else starts it when `boot` is on and it does not run; then watches it.
    pub async fn boot(&self) {
        while self.inner.docker.client().is_err() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tokio::spawn(crate::watchdog::watch(self.clone()));
        let queue = self.inner.event_queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(queue) = queue {
            tokio::spawn(crate::events::forward(self.clone(), queue));
        }
        if !self.config().installed() {
            if !self.inner.settings.install {
                return;
            }
            if let Err(e) = self.install().await {
                tracing::error!("Home Assistant Core not installed: {}", e.message);
            }
            return;
        }
        if self.config().boot && !self.running().await {
            if let Err(e) = self.start().await {
                tracing::error!("Home Assistant Core did not start at boot: {}", e.message);
            }
        }
    }
}
