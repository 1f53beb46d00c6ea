//! Version information: which version of each component is the latest on the user's channel.
//!
//! The source is a version manifest in the shape of the real Supervisor's (`channel`,
//! `supervisor`, `homeassistant` by machine, `hassos` by board with `hassos-upgrade` and the `ota`
//! URL, the plugins, `images`), read
//! from an http(s) URL or a local file; `{channel}` in the source is replaced by the channel.
//! The last manifest read is kept in the database, so versions are known after a restart
//! without a network.

use base::{Error, System};
use jobs::{Job, JobCondition, JobLimit, JobManager, JobSpec, Outcome};
use serde::{Deserialize, Serialize};
use state::{Persisted, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// The update channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Stable,
    Beta,
    Dev,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Stable => "stable",
            Channel::Beta => "beta",
            Channel::Dev => "dev",
        }
    }
}

/// The latest versions and images, as the last manifest gave them for this machine.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Versions {
    pub supervisor: Option<String>,
    pub homeassistant: Option<String>,
    /// The latest OS version by board (the manifest's `hassos`); the OS picks its board's.
    #[serde(default)]
    pub hassos_boards: BTreeMap<String, String>,
    /// By OS major version, its last release, which an update from that major goes to first
    /// (`hassos-upgrade`).
    #[serde(default)]
    pub hassos_upgrade: BTreeMap<String, String>,
    /// Where OS update bundles are, with `{os_name}`, `{board}` and `{version}` to fill in (`ota`).
    #[serde(default)]
    pub ota: Option<String>,
    pub cli: Option<String>,
    pub dns: Option<String>,
    pub audio: Option<String>,
    pub observer: Option<String>,
    pub multicast: Option<String>,
    /// Image names by component, with `{arch}` and `{machine}` filled in.
    pub images: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Config {
    channel: Channel,
    auto_update: bool,
    versions: Versions,
}

impl Default for Config {
    fn default() -> Self {
        Config { channel: Channel::Stable, auto_update: true, versions: Versions::default() }
    }
}

/// The manifest as published; only what is read is named.
#[derive(Deserialize)]
struct Manifest {
    channel: Channel,
    supervisor: String,
    homeassistant: BTreeMap<String, String>,
    #[serde(default)]
    hassos: BTreeMap<String, String>,
    #[serde(default, rename = "hassos-upgrade")]
    hassos_upgrade: BTreeMap<String, String>,
    ota: Option<String>,
    cli: Option<String>,
    dns: Option<String>,
    audio: Option<String>,
    observer: Option<String>,
    multicast: Option<String>,
    #[serde(default)]
    images: BTreeMap<String, String>,
}

pub struct Updater {
    source: String,
    machine: String,
    config: Persisted<Config>,
    system: Arc<System>,
    jobs: JobManager,
    http: reqwest::Client,
    /// Sent each time the stored versions change, so that what waits for a version sleeps until
    /// then instead of polling.
    changed: tokio::sync::watch::Sender<()>,
}

impl Updater {
    /// `source` is an http(s) URL or a file path, with an optional `{channel}` placeholder.
    pub fn new(
        store: &Store,
        system: Arc<System>,
        jobs: JobManager,
        source: impl Into<String>,
        machine: impl Into<String>,
    ) -> anyhow::Result<Self> {
        let config = Persisted::load(store.section("updater")?, "config")?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let changed = tokio::sync::watch::Sender::new(());
        Ok(Updater { source: source.into(), machine: machine.into(), config, system, jobs, http, changed })
    }

    /// The machine type versions and images are chosen for.
    pub fn machine(&self) -> &str {
        &self.machine
    }

    pub fn channel(&self) -> Channel {
        self.config.read().channel
    }

    pub fn auto_update(&self) -> bool {
        self.config.read().auto_update
    }

    pub fn versions(&self) -> Versions {
        self.config.read().versions.clone()
    }

    /// Waits until the stored versions satisfy `ready` (a manifest that names Core's version,
    /// say), which offline may take long; asleep in between.
    pub async fn wait_for(&self, ready: impl Fn(&Versions) -> bool) {
        let mut changed = self.changed.subscribe();
        while !ready(&self.config.read().versions) {
            // The sender lives as long as `self`, so this never ends in an error.
            let _ = changed.changed().await;
        }
    }

    /// Sets the channel and the auto-update flag (each if given), on disk first.
    pub fn set_options(&self, channel: Option<Channel>, auto_update: Option<bool>) -> Result<(), Error> {
        self.config.update(|config| {
            if let Some(channel) = channel {
                config.channel = channel;
            }
            if let Some(auto_update) = auto_update {
                config.auto_update = auto_update;
            }
        })?;
        self.system.request_evaluation();
        Ok(())
    }

    /// The source with the channel filled in.
    pub fn source(&self) -> String {
        self.source.replace("{channel}", self.channel().as_str())
    }

    /// Reads the manifest as the job `updater_fetch_data` (a child of `parent` when given) and
    /// stores what it says.
    pub async fn fetch(&self, parent: Option<&Job>) -> Result<(), Error> {
        // As the real one, except `internet_system`: a file source is read without the internet.
        let spec = JobSpec::new("updater_fetch_data").limit(JobLimit::Wait).conditions(&[
            JobCondition::ArchitectureSupported,
            JobCondition::HomeAssistantCoreSupported,
            JobCondition::OsSupported,
        ]);
        let work = |job: Job| async move {
            job.set_stage("download");
            let source = self.source();
            let bytes = self.download(&source).await?;
            job.set_stage("parse");
            let manifest: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| Error::invalid(format!("Can't process version data from {source}: {e}")))?;
            if manifest.channel != self.channel() {
                return Err(Error::invalid(format!(
                    "Invalid data from {source}: it is for the {} channel",
                    manifest.channel.as_str()
                )));
            }
            let versions = self.versions_for(manifest);
            self.config.update(|config| config.versions = versions)?;
            self.changed.send_replace(());
            tracing::info!(source = %source, "version information updated");
            // The latest versions decide whether the supervisor, Core and the OS are supported.
            self.system.request_evaluation();
            Ok(())
        };
        match parent {
            Some(parent) => parent.run_child(spec, work).await,
            None => self.jobs.run(spec, work).await,
        }
    }

    /// Reads the version information again as the job `reload_updates` (`POST /reload_updates`),
    /// the fetch its child.
    pub async fn reload_updates(self: &Arc<Self>, background: bool) -> Result<Outcome, Error> {
        self.fetch_as("reload_updates", background).await
    }

    /// Reads the version information again as the job `refresh_updates` (`POST /refresh_updates`),
    /// the fetch its child.
    pub async fn refresh_updates(self: &Arc<Self>, background: bool) -> Result<Outcome, Error> {
        self.fetch_as("refresh_updates", background).await
    }

    async fn fetch_as(self: &Arc<Self>, name: &str, background: bool) -> Result<Outcome, Error> {
        let updater = Arc::clone(self);
        self.jobs
            .perform(JobSpec::new(name), background, move |job| async move { updater.fetch(Some(&job)).await })
            .await
    }

    async fn download(&self, source: &str) -> Result<Vec<u8>, Error> {
        if !(source.starts_with("http://") || source.starts_with("https://")) {
            let path = source.strip_prefix("file://").unwrap_or(source);
            return tokio::fs::read(path)
                .await
                .map_err(|e| Error::invalid(format!("Can't read version data from {path}: {e}")));
        }
        let response = self.http.get(source).send().await;
        self.system.set_internet(response.is_ok());
        let response = response.map_err(|e| Error::invalid(format!("Can't fetch version data from {source}: {e}")))?;
        if !response.status().is_success() {
            return Err(Error::invalid(format!(
                "Fetching version from {source} response with {}",
                response.status().as_u16()
            )));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Error::invalid(format!("Can't read version data from {source}: {e}")))?;
        Ok(bytes.to_vec())
    }

    fn versions_for(&self, manifest: Manifest) -> Versions {
        let fill =
            |template: &String| template.replace("{arch}", base::arch::arch()).replace("{machine}", &self.machine);
        Versions {
            supervisor: Some(manifest.supervisor),
            homeassistant: manifest
                .homeassistant
                .get(&self.machine)
                .or_else(|| manifest.homeassistant.get("default"))
                .cloned(),
            hassos_boards: manifest.hassos,
            hassos_upgrade: manifest.hassos_upgrade,
            ota: manifest.ota,
            cli: manifest.cli,
            dns: manifest.dns,
            audio: manifest.audio,
            observer: manifest.observer,
            multicast: manifest.multicast,
            images: manifest.images.iter().map(|(k, v)| (k.clone(), fill(v))).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::{CoreState, DataDir};

    const MANIFEST: &str = r#"{
        "channel": "stable", "supervisor": "0.2.0",
        "homeassistant": {"default": "2024.10.4", "generic-x86-64": "2024.10.5"},
        "hassos": {"ova": "13.2"}, "hassos-upgrade": {"12": "12.4"},
        "ota": "https://example.com/{version}/{os_name}_{board}-{version}.raucb",
        "cli": "2024.09.0", "dns": "2024.04.0",
        "images": {"supervisor": "ghcr.io/example/{arch}-supervisor", "core": "ghcr.io/example/{machine}-homeassistant"}
    }"#;

    #[tokio::test]
    async fn reads_a_manifest_file_for_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("stable.json");
        std::fs::write(&manifest, MANIFEST).unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let system = Arc::new(System::default());
        system.set_state(CoreState::Running);
        let jobs = JobManager::new(&store, system.clone(), DataDir::new(dir.path())).unwrap();
        let source = dir.path().join("{channel}.json").to_string_lossy().into_owned();
        let updater = Updater::new(&store, system, jobs, source, "generic-x86-64").unwrap();
        updater.fetch(None).await.unwrap();
        let versions = updater.versions();
        assert_eq!(versions.supervisor.as_deref(), Some("0.2.0"));
        assert_eq!(versions.homeassistant.as_deref(), Some("2024.10.5"));
        assert_eq!(versions.hassos_boards["ova"], "13.2");
        assert_eq!(versions.hassos_upgrade["12"], "12.4");
        assert_eq!(versions.ota.as_deref(), Some("https://example.com/{version}/{os_name}_{board}-{version}.raucb"));
        assert_eq!(versions.images["core"], "ghcr.io/example/generic-x86-64-homeassistant");

        updater.set_options(Some(Channel::Beta), None).unwrap();
        let err = updater.fetch(None).await.unwrap_err();
        assert!(err.message.contains("beta.json"), "{}", err.message);
        assert_eq!(updater.versions().supervisor.as_deref(), Some("0.2.0"), "a failed fetch keeps what was known");
    }

    #[tokio::test]
    async fn a_wait_for_a_version_ends_when_a_fetch_stores_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let system = Arc::new(System::default());
        system.set_state(CoreState::Running);
        let jobs = JobManager::new(&store, system.clone(), DataDir::new(dir.path())).unwrap();
        let source = dir.path().join("stable.json").to_string_lossy().into_owned();
        let updater = Arc::new(Updater::new(&store, system, jobs, source, "generic-x86-64").unwrap());
        let waiting = Arc::clone(&updater);
        let wait = tokio::spawn(async move { waiting.wait_for(|versions| versions.homeassistant.is_some()).await });
        updater.fetch(None).await.unwrap_err();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!wait.is_finished(), "no manifest yet, so no version to wait for");
        std::fs::write(dir.path().join("stable.json"), MANIFEST).unwrap();
        updater.fetch(None).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), wait).await.expect("the wait ends with the fetch").unwrap();
    }

    #[tokio::test]
    async fn the_root_reloads_are_jobs_with_the_fetch_as_their_child() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stable.json"), MANIFEST).unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let system = Arc::new(System::default());
        let jobs = JobManager::new(&store, system.clone(), DataDir::new(dir.path())).unwrap();
        let source = dir.path().join("{channel}.json").to_string_lossy().into_owned();
        let updater = Arc::new(Updater::new(&store, system, jobs.clone(), source, "generic-x86-64").unwrap());
        assert_eq!(updater.reload_updates(false).await.unwrap(), Outcome::Done);
        assert_eq!(updater.versions().supervisor.as_deref(), Some("0.2.0"));
        let reload = &jobs.jobs()[0];
        assert_eq!(
            (reload.name.as_str(), reload.child_jobs[0].name.as_str()),
            ("reload_updates", "updater_fetch_data")
        );

        updater.set_options(Some(Channel::Beta), None).unwrap();
        let failed = updater.refresh_updates(false).await.unwrap_err();
        let refresh = jobs.jobs().into_iter().find(|job| job.name == "refresh_updates").unwrap();
        assert_eq!(failed.job_id.as_deref(), Some(refresh.uuid.as_str()), "the error names the job the caller started");
    }
}
