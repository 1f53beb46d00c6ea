//! The supervisor manager: options, and the operations on the supervisor as jobs.

use crate::{LogLevel, StatsSampler, SupervisorLog};
use base::{Error, Lifecycle, System};
use docker::DockerManager;
use jobs::{Job, JobCondition, JobLimit, JobManager, JobSpec, Outcome};
use serde::{Deserialize, Serialize};
use state::{Persisted, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use store::{RepositoryKind, StoreManager};
use updater::Updater;

/// The supervisor's persisted options.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SupervisorConfig {
    pub timezone: Option<String>,
    pub wait_boot: u32,
    pub logging: LogLevel,
    pub debug: bool,
    pub debug_block: bool,
    pub diagnostics: Option<bool>,
    pub country: Option<String>,
    pub detect_blocking_io: bool,
    pub feature_flags: BTreeMap<String, bool>,
    /// The version the supervisor last ran, or updated itself to: one the next start does not
    /// run is an update that failed (the real `config.version`).
    pub version: Option<String>,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            timezone: None,
            wait_boot: 5,
            logging: LogLevel::Info,
            debug: false,
            debug_block: false,
            diagnostics: None,
            country: None,
            detect_blocking_io: false,
            feature_flags: BTreeMap::new(),
            version: None,
        }
    }
}

pub struct SupervisorManager {
    pub(crate) system: Arc<System>,
    pub(crate) jobs: JobManager,
    pub(crate) docker: Arc<DockerManager>,
    pub(crate) updater: Arc<Updater>,
    pub(crate) log: Arc<SupervisorLog>,
    pub(crate) stats: StatsSampler,
    pub(crate) catalog: StoreManager,
    config: Persisted<SupervisorConfig>,
    /// What the repair repairs of the plugins; set once they exist.
    plugins: std::sync::OnceLock<plugins::PluginManager>,
}

impl SupervisorManager {
    pub fn new(
        store: &Store,
        system: Arc<System>,
        jobs: JobManager,
        docker: Arc<DockerManager>,
        updater: Arc<Updater>,
        log: Arc<SupervisorLog>,
        catalog: StoreManager,
    ) -> state::Result<Self> {
        let config = Persisted::load(store.section("supervisor")?, "config")?;
        Ok(SupervisorManager {
            system,
            jobs,
            docker,
            updater,
            log,
            stats: StatsSampler::default(),
            catalog,
            config,
            plugins: std::sync::OnceLock::new(),
        })
    }

    /// At start, once the known versions are loaded: a supervisor that does not run the version
    /// it updated itself to was rolled back, and while it is still outdated that is an
    /// `update_rollback` issue and the system is unhealthy (`supervisor`), as the real one's
    /// `connect`. The version it runs is recorded, so the next start judges again.
    pub fn connect(&self) -> Result<(), Error> {
        let running = base::SUPERVISOR_VERSION;
        let recorded = self.config.read().version.clone();
        let rolled_back = recorded.as_deref().is_some_and(|recorded| recorded != running);
        if rolled_back {
            tracing::error!("Update '{}' of Supervisor '{running}' failed!", recorded.unwrap_or_default());
        }
        if rolled_back && self.update_available() {
            self.system.raise_issue(issue("update_rollback"));
            self.system.mark_unhealthy("supervisor", true);
        } else {
            self.system.withdraw_issue(issue("update_rollback"));
        }
        // An update that got as far as the restart, or nothing left to update to: no failed
        // update to tell of.
        if rolled_back || !self.update_available() {
            self.system.withdraw_issue(issue("update_failed"));
        }
        self.config.update(|config| config.version = Some(running.to_owned()))?;
        Ok(())
    }

    /// The plugins the repair repairs.
    pub fn set_plugins(&self, plugins: plugins::PluginManager) {
        let _ = self.plugins.set(plugins);
    }

    /// Applies the persisted log level (at start, unless the command line set one).
    pub fn apply_log_level(&self) -> Result<(), Error> {
        self.log.set_level(self.config.read().logging)
    }

    pub fn config(&self) -> SupervisorConfig {
        self.config.get()
    }

    /// Applies `change`, on disk first, then the log level it implies.
    pub fn update_config(&self, change: impl FnOnce(&mut SupervisorConfig)) -> Result<(), Error> {
        let before = self.config.update(change)?;
        let level = self.config.read().logging;
        if level != before.logging {
            self.log.set_level(level)?;
            tracing::info!(?level, "log level changed");
        }
        Ok(())
    }

    /// The add-on repositories the user added (the git ones; `core` and `local` always exist).
    pub fn addons_repositories(&self) -> Vec<String> {
        self.catalog.git_sources()
    }

    /// Makes the user's repositories exactly `wanted`: adds (clones) the new ones, then removes
    /// the ones no longer listed. Stops at the first failure, with the store's message.
    pub async fn set_addons_repositories(&self, wanted: &[String]) -> Result<(), Error> {
        let current = self.addons_repositories();
        for source in wanted.iter().filter(|s| !current.contains(s)) {
            self.catalog.add_repository(source).await?;
        }
        for repository in self.catalog.repositories() {
            if repository.kind == RepositoryKind::Git && !wanted.contains(&repository.source) {
                self.catalog.remove_repository(&repository.slug).await?;
            }
        }
        Ok(())
    }

    /// The time zone in effect: the configured one, else the host's, else UTC.
    pub fn timezone(&self) -> String {
        let configured = self.config.read().timezone.clone();
        configured.or_else(|| HOST_TIMEZONE.clone()).unwrap_or_else(|| "UTC".to_owned())
    }

    pub fn version_latest(&self) -> String {
        self.updater.versions().supervisor.unwrap_or_else(|| base::SUPERVISOR_VERSION.to_owned())
    }

    pub fn update_available(&self) -> bool {
        base::version::is_newer(&self.version_latest(), base::SUPERVISOR_VERSION)
    }

    /// Reloads version information as the job `supervisor_reload`; a failed fetch is logged, not
    /// fatal, as in the real Supervisor.
    pub async fn reload(self: &Arc<Self>, background: bool) -> Result<Outcome, Error> {
        let manager = Arc::clone(self);
        let spec = JobSpec::new("supervisor_reload");
        self.jobs.perform(spec, background, move |job| async move { manager.reload_in(job).await }).await
    }

    async fn reload_in(&self, job: Job) -> Result<(), Error> {
        job.set_stage("updater");
        if let Err(e) = self.updater.fetch(Some(&job)).await {
            tracing::warn!("version information not refreshed: {}", e.message);
        }
        Ok(())
    }

    /// Asks for a restart of the supervisor in place, as the job `supervisor_restart`.
    pub async fn restart(&self) -> Result<(), Error> {
        let spec = JobSpec::new("supervisor_restart").conditions(&[JobCondition::Running]).limit(JobLimit::Once);
        self.jobs
            .run(spec, |_| async move {
                self.system.request(Lifecycle::Restart);
                Ok(())
            })
            .await
    }

    /// Updates the supervisor as the job `supervisor_update`: pulls the image of `version` (the
    /// latest when `None`; an explicit version only on `dev`), tags it `latest` for the service
    /// that starts the supervisor, and asks for a restart into it. Checked before the job.
    pub async fn update(self: &Arc<Self>, version: Option<String>, background: bool) -> Result<Outcome, Error> {
        let (image, target) = self.check_update(version)?;
        let spec = JobSpec::new("supervisor_update").limit(JobLimit::Once).conditions(&[JobCondition::FreeSpace]);
        let manager = Arc::clone(self);
        self.jobs.perform(spec, background, move |job| async move { manager.update_in(job, image, target).await }).await
    }

    /// The image and version an update goes to, or why there is none.
    fn check_update(&self, version: Option<String>) -> Result<(String, String), Error> {
        let current = base::SUPERVISOR_VERSION;
        let explicit = version.filter(|_| self.updater.channel() == updater::Channel::Dev);
        if explicit.is_none() && !self.update_available() {
            return Err(Error::invalid(format!("No supervisor update available - {current}")));
        }
        let target = explicit.unwrap_or_else(|| self.version_latest());
        if target == current {
            return Err(Error::invalid(format!("Version {target} is already installed")));
        }
        let image = self
            .updater
            .versions()
            .images
            .get("supervisor")
            .cloned()
            .ok_or_else(|| Error::invalid("The version information names no supervisor image"))?;
        Ok((image, target))
    }

    async fn update_in(&self, job: Job, image: String, target: String) -> Result<(), Error> {
        if let Err(e) = self.install(&job, &image, &target).await {
            self.system.raise_issue(issue("update_failed"));
            tracing::error!("Update of Supervisor failed: {}", e.message);
            return Err(e);
        }
        self.system.withdraw_issue(issue("update_failed"));
        self.config.update(|config| config.version = Some(target.clone()))?;
        job.set_extra(serde_json::json!({"image": image, "version": target}));
        tracing::info!(%image, version = %target, "supervisor update installed, restarting");
        self.system.request(Lifecycle::Restart);
        Ok(())
    }

    /// Fetches the image of `target` and tags it `latest` for the service that starts the
    /// supervisor.
    async fn install(&self, job: &Job, image: &str, target: &str) -> Result<(), Error> {
        if !self.docker.image_exists(image, target).await? {
            self.docker.pull(image, target, job).await?;
        }
        job.set_stage("install");
        job.set_progress(90.0);
        self.docker.tag(image, target, "latest").await
    }

    /// Repairs what the supervisor depends on, as the job `supervisor_repair`: the container
    /// network, then the plugins whose container is gone or broken (made anew, their image
    /// fetched again when it is gone too).
    pub async fn repair(self: &Arc<Self>, background: bool) -> Result<Outcome, Error> {
        let manager = Arc::clone(self);
        let spec = JobSpec::new("supervisor_repair").limit(JobLimit::Once);
        self.jobs.perform(spec, background, move |job| async move { manager.repair_in(job).await }).await
    }

    async fn repair_in(&self, job: Job) -> Result<(), Error> {
        job.set_stage("docker");
        if !self.docker.connect().await {
            return Err(Error::unavailable("The container engine is not available"));
        }
        job.set_progress(50.0);
        job.set_stage("network");
        let network = self.docker.ensure_network().await?;
        tracing::info!(network = %network.name, gateway = %network.gateway, "container network in place");
        if let Some(plugins) = self.plugins.get() {
            job.set_progress(75.0);
            job.set_stage("plugins");
            plugins.repair(&job).await;
        }
        Ok(())
    }
}

/// An issue of the supervisor itself, which has no reference and no suggestion.
fn issue(kind: &'static str) -> base::system::RaisedIssue {
    base::system::RaisedIssue { kind, context: "supervisor", reference: None, extra: None, suggestions: Vec::new() }
}

/// The host's zone, read once: it only changes through the host, which restarts us.
static HOST_TIMEZONE: std::sync::LazyLock<Option<String>> = std::sync::LazyLock::new(host_timezone);

fn host_timezone() -> Option<String> {
    if let Ok(zone) = std::fs::read_to_string("/etc/timezone") {
        let zone = zone.trim();
        if !zone.is_empty() {
            return Some(zone.to_owned());
        }
    }
    let link = std::fs::read_link("/etc/localtime").ok()?;
    let link = link.to_string_lossy();
    link.split_once("zoneinfo/").map(|(_, zone)| zone.to_owned())
}

/// Whether `zone` names a time zone this machine knows.
pub fn valid_timezone(zone: &str) -> bool {
    let safe = !zone.is_empty()
        && !zone.starts_with('/')
        && zone.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
        && zone.chars().all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c));
    safe && (zone == "UTC" || std::path::Path::new("/usr/share/zoneinfo").join(zone).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::{CoreState, DataDir};

    /// A manager with an engine that is never reached and no version information.
    async fn manager(dir: &std::path::Path) -> Arc<SupervisorManager> {
        let data = DataDir::new(dir);
        data.ensure_layout().unwrap();
        let store = Store::open(&data.database()).unwrap();
        let system = Arc::new(System::default());
        system.set_state(CoreState::Running);
        let jobs = JobManager::new(&store, Arc::clone(&system), data.clone()).unwrap();
        let docker = DockerManager::new(&store, Arc::clone(&system), "/nonexistent/docker.sock", Default::default());
        let updater = Updater::new(&store, Arc::clone(&system), jobs.clone(), "/nonexistent/{channel}.json", "ova");
        let log = SupervisorLog::init(&data, LogLevel::Info).unwrap();
        let core = dir.join("core");
        let catalog = StoreManager::new(&store, data, jobs.clone(), core, "ova".into()).unwrap();
        let docker = Arc::new(docker.unwrap());
        let manager = SupervisorManager::new(&store, system, jobs, docker, Arc::new(updater.unwrap()), log, catalog);
        Arc::new(manager.unwrap())
    }

    #[tokio::test]
    async fn operations_called_from_code_keep_their_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path()).await;

        let first = manager.repair(true).await.unwrap();
        let Outcome::Started(job_id) = first else { panic!("a background repair is started: {first:?}") };
        let second = manager.repair(true).await.unwrap_err();
        assert_eq!(second.error_key.as_deref(), Some("job_group_busy"), "{}", second.message);
        assert_eq!(manager.jobs.job(&job_id).unwrap().name, "supervisor_repair");

        let refused = manager.update(None, true).await.unwrap_err();
        assert!(refused.message.starts_with("No supervisor update available"), "{}", refused.message);
        assert_eq!(manager.reload(false).await.unwrap(), Outcome::Done, "a failed fetch is not fatal");

        manager.system.set_state(CoreState::Setup);
        let refused = manager.restart().await.unwrap_err();
        assert_eq!(refused.error_key.as_deref(), Some("job_condition_failed"));
        assert!(refused.message.starts_with("'supervisor_restart' blocked from execution"), "{}", refused.message);
        manager.system.set_state(CoreState::Running);
        manager.restart().await.unwrap();
        assert_eq!(manager.system.requested().await, Lifecycle::Restart);
    }
}
