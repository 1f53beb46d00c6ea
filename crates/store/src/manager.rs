//! The store manager: the persisted list of repositories, their checkouts, and the catalog of
//! add-ons read from them.
//!
//! Readers see a catalog in memory that is replaced whole per repository, so a request never
//! sees half a reload. Every change of repositories on disk (clone, pull, removal, re-clone)
//! holds one async lock, so two of them never work on the same checkout at once.
//!
//! The store also remembers, persisted, when it first saw each add-on's current version: the
//! auto-update of add-ons waits until a version has been out for a while (the real Supervisor's
//! `version_timestamp`).

use crate::git;
use crate::repository::{Repository, RepositoryKind, Source};
use crate::scan::{self, read_repository};
use addon_config::{AddonConfig, RepositoryConfig};
use base::{DataDir, Error};
use jobs::{Job, JobCondition, JobManager, JobSpec, Outcome};
use serde_json::Value;
use state::{Persisted, Store};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the store needs to know about installed add-ons (implemented by the addons crate).
pub trait Installed: Send + Sync {
    /// The installed version of the add-on with full slug `slug`; `None` when not installed.
    fn version(&self, slug: &str) -> Option<String>;
    /// The full slug of every installed add-on.
    fn slugs(&self) -> Vec<String>;
}

/// One add-on offered by a repository.
#[derive(Debug, Clone)]
pub struct StoreAddon {
    /// The full slug: `<repository>_<config slug>`.
    pub slug: String,
    /// The repository's slug.
    pub repository: String,
    /// The add-on's folder.
    pub path: PathBuf,
    pub config: AddonConfig,
    /// `translations/<lang>.*` by language.
    pub translations: BTreeMap<String, Value>,
}

/// The files of an add-on folder that the API serves or reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddonFile {
    Icon,
    Logo,
    Changelog,
    Documentation,
    /// `README.md`, the `long_description`.
    Readme,
}

impl AddonFile {
    pub fn file_name(self) -> &'static str {
        match self {
            AddonFile::Icon => "icon.png",
            AddonFile::Logo => "logo.png",
            AddonFile::Changelog => "CHANGELOG.md",
            AddonFile::Documentation => "DOCS.md",
            AddonFile::Readme => "README.md",
        }
    }
}

/// The repositories and add-ons currently known.
#[derive(Default)]
struct Catalog {
    /// `core`, `local`, then git repositories in the order they were added.
    repositories: Vec<Repository>,
    addons: BTreeMap<String, Arc<StoreAddon>>,
}

impl Catalog {
    /// Puts `repository` and its add-ons in place of what was known of it.
    fn replace(&mut self, repository: Repository, addons: Vec<StoreAddon>) {
        self.remove(&repository.slug);
        for addon in addons {
            self.addons.insert(addon.slug.clone(), Arc::new(addon));
        }
        self.repositories.push(repository);
    }

    fn remove(&mut self, slug: &str) {
        self.repositories.retain(|r| r.slug != slug);
        self.addons.retain(|_, addon| addon.repository != slug);
    }

    /// Keeps the repositories in the order of `sources`.
    fn order(&mut self, sources: &[Source]) {
        let rank = |slug: &str| sources.iter().position(|s| s.slug == slug).unwrap_or(usize::MAX);
        self.repositories.sort_by_key(|r| rank(&r.slug));
    }
}

struct Inner {
    data: DataDir,
    jobs: JobManager,
    core: PathBuf,
    /// `core` is the official repository's clone, and the other shipped git repositories are
    /// present; otherwise `core` is a local folder and the only built-in besides `local`.
    official: bool,
    machine: String,
    /// The git sources the user added, as added; `core` and `local` are always present and
    /// never stored.
    sources: Persisted<Vec<String>>,
    /// By add-on slug: the version last read and when it was first read.
    first_seen: Persisted<BTreeMap<String, Seen>>,
    catalog: RwLock<Catalog>,
    installed: RwLock<Option<Arc<dyn Installed>>>,
    /// Held by whatever changes repositories on disk.
    changing: tokio::sync::Mutex<()>,
}

/// When the store first read an add-on's version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Seen {
    version: String,
    /// Seconds since the Unix epoch.
    since: u64,
}

/// The store. Cheap to clone; all clones share one store.
#[derive(Clone)]
pub struct StoreManager {
    inner: Arc<Inner>,
}

impl StoreManager {
    /// A store whose `core` is the folder `core_repository`, read as it is, with no other
    /// built-in repository than `local`: for tests and machines that must not reach the
    /// internet.
    pub fn new(
        store: &Store,
        data: DataDir,
        jobs: JobManager,
        core_repository: PathBuf,
        machine: String,
    ) -> state::Result<Self> {
        StoreManager::build(store, data, jobs, core_repository, false, machine)
    }

    /// The store of the real Supervisor: `core` cloned from the official repository into
    /// `<data>/addons/core`, `local`, and the community, ESPHome and Music Assistant
    /// repositories, all built in (never removed). [`StoreManager::update_repositories`] clones
    /// those missing; [`StoreManager::reload`] pulls them.
    pub fn official(store: &Store, data: DataDir, jobs: JobManager, machine: String) -> state::Result<Self> {
        let core = data.addons_core();
        StoreManager::build(store, data, jobs, core, true, machine)
    }

    fn build(
        store: &Store,
        data: DataDir,
        jobs: JobManager,
        core: PathBuf,
        official: bool,
        machine: String,
    ) -> state::Result<Self> {
        let sources = Persisted::load(store.section("store")?, "repositories")?;
        let first_seen = Persisted::load(store.section("store")?, "version_timestamps")?;
        let manager = StoreManager {
            inner: Arc::new(Inner {
                data,
                jobs,
                core,
                official,
                machine,
                sources,
                first_seen,
                catalog: RwLock::default(),
                installed: RwLock::default(),
                changing: tokio::sync::Mutex::new(()),
            }),
        };
        // Until `load` reads them, the repositories are listed with their default metadata.
        let mut catalog = Catalog::default();
        for source in manager.sources() {
            catalog.repositories.push(source.repository(manager.path_of(&source)));
        }
        *manager.write() = catalog;
        Ok(manager)
    }

    pub fn set_installed(&self, installed: Arc<dyn Installed>) {
        *self.inner.installed.write().unwrap_or_else(|e| e.into_inner()) = Some(installed);
    }

    /// Reads every repository from disk, without network: the start-up read. As the real
    /// store's load, each git checkout is checked: one git finds broken is a `fatal_error`, one
    /// without a valid `repository.yaml` a `corrupt_repository`; resetting it fixes either.
    pub async fn load(&self) {
        let _changing = self.inner.changing.lock().await;
        for source in self.sources().into_iter().filter(Source::is_git) {
            let path = self.path_of(&source);
            if !path.join(".git").exists() {
                continue;
            }
            if let Err(e) = git::verify(&path).await {
                tracing::error!(repository = %source.slug, source = %source.text, "integrity check failed: {e}");
                self.raise(ISSUE_FATAL_ERROR, &source.slug, vec![SUGGESTION_RESET]);
                continue;
            }
            if self.checkout_invalid(&source.slug).await {
                tracing::error!(repository = %source.slug, source = %source.text, "not a valid add-on repository");
                self.raise(ISSUE_CORRUPT_REPOSITORY, &source.slug, vec![SUGGESTION_RESET, "execute_remove"]);
            }
        }
        self.read_all(HashMap::new()).await;
    }

    /// Tells the resolution center that the repository `slug` is broken.
    fn raise(&self, kind: &'static str, slug: &str, suggestions: Vec<&'static str>) {
        self.inner.jobs.system().raise_issue(issue(kind, slug, suggestions));
    }

    /// Tells the resolution center that the repository `slug` is sound again (reset) or gone.
    fn withdraw_issues(&self, slug: &str) {
        for kind in [ISSUE_FATAL_ERROR, ISSUE_CORRUPT_REPOSITORY] {
            self.inner.jobs.system().withdraw_issue(issue(kind, slug, Vec::new()));
        }
    }

    /// Pulls every git repository (cloning those whose checkout is missing) and reads them all
    /// again, as the job `store_manager_reload` with the real Supervisor's conditions.
    pub async fn reload(&self, background: bool) -> Result<Outcome, Error> {
        let spec = JobSpec::new("store_manager_reload").conditions(&[
            JobCondition::SupervisorUpdated,
            JobCondition::OsSupported,
            JobCondition::HomeAssistantCoreSupported,
        ]);
        let this = self.clone();
        self.inner.jobs.perform(spec, background, move |job| async move { this.update_in(&job, true).await }).await
    }

    /// Clones the git repositories whose checkout is missing (the built-ins on a first start)
    /// and reads them, as the real store's start-up (`store_manager_update_repositories`). A
    /// clone that fails (no internet) leaves the repository listed with the reason in its
    /// errors and a `fatal_error` issue that a reload fixes; the store works on with the rest.
    pub async fn update_repositories(&self) -> Result<(), Error> {
        let spec = JobSpec::new("store_manager_update_repositories");
        let this = self.clone();
        self.inner.jobs.run(spec, move |job| async move { this.update_in(&job, false).await }).await
    }

    /// The work of a reload or an update, inside its job: the git repositories are updated at
    /// once (pulled only with `pull`, cloned when missing), then all are read.
    async fn update_in(&self, job: &Job, pull: bool) -> Result<(), Error> {
        let _changing = self.inner.changing.lock().await;
        let mut updates = tokio::task::JoinSet::new();
        for source in self.sources().into_iter().filter(Source::is_git) {
            let cloned = self.path_of(&source).join(".git").exists();
            if cloned && !pull {
                continue;
            }
            let (this, job) = (self.clone(), job.clone());
            updates.spawn(async move {
                let result = this.update_checkout(&job, &source).await;
                (source, cloned, result)
            });
        }
        let (total, mut done) = (updates.len(), 0);
        let mut failures = HashMap::new();
        while let Some(joined) = updates.join_next().await {
            done += 1;
            job.set_progress(done as f64 * 90.0 / total as f64);
            match joined {
                Ok((source, false, Ok(()))) => self.withdraw_issues(&source.slug),
                Ok((_, true, Ok(()))) => {}
                Ok((source, true, Err(e))) => {
                    tracing::warn!(repository = %source.slug, source = %source.text, "update failed: {e}");
                    failures.insert(source.slug, format!("update failed, the last checkout is used: {e}"));
                }
                Ok((source, false, Err(e))) => {
                    tracing::error!(repository = %source.slug, source = %source.text, "can't clone: {e}");
                    self.raise(ISSUE_FATAL_ERROR, &source.slug, vec![SUGGESTION_RELOAD]);
                    failures.insert(source.slug, format!("can't clone {}: {e}", source.url));
                }
                Err(e) => tracing::error!("a repository update task failed: {e}"),
            }
        }
        job.set_stage("read");
        self.read_all(failures).await;
        Ok(())
    }

    /// Pulls the checkout of `source`, or clones it when there is none. A pull that fails while
    /// the remote answers failed on the local copy: a `corrupt_repository`, as the real store
    /// raises it, that resetting fixes.
    async fn update_checkout(&self, job: &Job, source: &Source) -> Result<(), String> {
        let path = self.path_of(source);
        if !path.join(".git").exists() {
            return self.fresh_clone(source, &path, Some(job)).await;
        }
        let pulled = cancellable(job, git::pull(&path)).await;
        if pulled.is_err() && cancellable(job, git::reachable(&source.url)).await.is_ok() {
            self.raise(ISSUE_CORRUPT_REPOSITORY, &source.slug, vec![SUGGESTION_RESET]);
        }
        pulled
    }

    /// The add-on with full slug `slug`.
    pub fn addon(&self, slug: &str) -> Option<StoreAddon> {
        self.read().addons.get(slug).map(|addon| StoreAddon::clone(addon))
    }

    /// Every add-on of every repository, by slug.
    pub fn addons(&self) -> Vec<StoreAddon> {
        self.read().addons.values().map(|addon| StoreAddon::clone(addon)).collect()
    }

    /// The add-ons without copying them, for the API's lists.
    pub(crate) fn shared_addons(&self) -> Vec<Arc<StoreAddon>> {
        self.read().addons.values().cloned().collect()
    }

    pub(crate) fn shared_addon(&self, slug: &str) -> Option<Arc<StoreAddon>> {
        self.read().addons.get(slug).cloned()
    }

    /// When the store first read the current version of the add-on `slug`; `None` for one it
    /// does not offer.
    pub fn version_timestamp(&self, slug: &str) -> Option<SystemTime> {
        let addon = self.shared_addon(slug)?;
        let seen = self.inner.first_seen.read();
        let seen = seen.get(slug).filter(|seen| seen.version == addon.config.version)?;
        Some(UNIX_EPOCH + Duration::from_secs(seen.since))
    }

    /// Notes the versions of `addons` not seen before as seen now; with `all`, the add-ons
    /// are the whole catalog and those no longer offered are forgotten.
    fn note_versions<'a>(&self, addons: impl Iterator<Item = &'a StoreAddon>, all: bool) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let current: BTreeMap<&str, &str> = addons.map(|a| (a.slug.as_str(), a.config.version.as_str())).collect();
        let stale = {
            let seen = self.inner.first_seen.read();
            let changed = current.iter().any(|(slug, version)| seen.get(*slug).is_none_or(|s| s.version != *version));
            changed || (all && seen.keys().any(|slug| !current.contains_key(slug.as_str())))
        };
        if !stale {
            return;
        }
        let noted = self.inner.first_seen.update(|seen| {
            if all {
                seen.retain(|slug, _| current.contains_key(slug.as_str()));
            }
            for (slug, version) in &current {
                if seen.get(*slug).is_none_or(|s| s.version != *version) {
                    seen.insert((*slug).to_owned(), Seen { version: (*version).to_owned(), since: now });
                }
            }
        });
        if let Err(e) = noted {
            tracing::warn!("can't store when the add-on versions were first seen: {e}");
        }
    }

    pub fn repositories(&self) -> Vec<Repository> {
        self.read().repositories.clone()
    }

    /// Whether `addon` can be installed here: this machine's architectures and machine type (no
    /// Home Assistant Core is managed yet, so its version never limits). The error is the real
    /// Supervisor's, with the `error_key` and `extra_fields` naming what the add-on requires.
    pub fn availability(&self, addon: &StoreAddon) -> Result<(), Error> {
        let archs = base::arch::supported_archs();
        addon.config.availability_for(&addon.slug, &archs, &self.inner.machine, None).map_err(|unavailable| {
            let config = &addon.config;
            let (name, value) = match unavailable.error_key {
                "addon_not_supported_architecture_error" => ("architectures", config.arch.join(", ")),
                "addon_not_supported_machine_type_error" => ("machine_types", config.machine.join(", ")),
                _ => ("version", config.homeassistant.clone().unwrap_or_default()),
            };
            let extra = serde_json::Map::from_iter([
                ("slug".to_owned(), addon.slug.clone().into()),
                (name.to_owned(), value.into()),
            ]);
            Error::invalid(unavailable.message).with_key(unavailable.error_key).with_extra(extra)
        })
    }

    /// `file` of `addon`, if it exists as a file inside the add-on's repository (a link out of
    /// the repository counts as missing: a repository must not make the supervisor serve files
    /// of the host).
    pub fn addon_file(&self, addon: &StoreAddon, file: AddonFile) -> Option<PathBuf> {
        let path = addon.path.join(file.file_name());
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if meta.is_file() {
            return Some(path);
        }
        if !meta.is_symlink() {
            return None;
        }
        let root = self.read().repositories.iter().find(|r| r.slug == addon.repository)?.path.canonicalize().ok()?;
        (scan::inside(&root, &path) && path.is_file()).then_some(path)
    }

    /// The content of `file` of `addon`; `None` when it is missing (as [`StoreManager::addon_file`]
    /// says) or cannot be read.
    pub async fn read_addon_file(&self, addon: &StoreAddon, file: AddonFile) -> Option<Vec<u8>> {
        tokio::fs::read(self.addon_file(addon, file)?).await.ok()
    }

    /// [`StoreManager::read_addon_file`] as text (invalid UTF-8 replaced), for the markdown files.
    pub async fn addon_text(&self, addon: &StoreAddon, file: AddonFile) -> Option<String> {
        let bytes = self.read_addon_file(addon, file).await?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The installed version of `slug`, if the add-on is installed.
    pub(crate) fn installed_version(&self, slug: &str) -> Option<String> {
        self.installed().and_then(|installed| installed.version(slug))
    }

    pub(crate) fn installed(&self) -> Option<Arc<dyn Installed>> {
        self.inner.installed.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Adds the git repository `source` (`url[#branch]`) as the job
    /// `store_manager_add_repository`: clones it, requires a `repository.yaml`, stores it.
    pub async fn add_repository(&self, source: &str) -> Result<(), Error> {
        let source = Source::parse(source)?;
        // Checked again under the lock; this answers the common case without a job.
        if self.sources().iter().any(|s| s.slug == source.slug) {
            return Err(already_added(&source));
        }
        let mut conditions =
            vec![JobCondition::SupervisorUpdated, JobCondition::OsSupported, JobCondition::HomeAssistantCoreSupported];
        // A repository on this machine needs no internet; every other one does.
        if !source.url.starts_with("file://") {
            conditions.push(JobCondition::InternetSystem);
        }
        let spec = JobSpec::new("store_manager_add_repository").reference(source.text.clone()).conditions(&conditions);
        let this = self.clone();
        self.inner.jobs.run(spec, move |job| async move { this.add_in(&job, source).await }).await
    }

    async fn add_in(&self, job: &Job, source: Source) -> Result<(), Error> {
        let _changing = self.inner.changing.lock().await;
        if self.sources().iter().any(|s| s.slug == source.slug) {
            return Err(already_added(&source));
        }
        let path = self.path_of(&source);
        job.set_stage("clone");
        if let Err(e) = self.fresh_clone(&source, &path, Some(job)).await {
            tracing::warn!(source = %source.text, "clone failed: {e}");
            return Err(Error::invalid(format!("Can't clone {}: {e}", source.text)));
        }
        job.set_stage("validate");
        let checked = path.clone();
        let valid = blocking(move || RepositoryConfig::load(&checked)).await?;
        if !matches!(valid, Ok(Some(_))) {
            let why = valid.err().map_or_else(|| "no repository.yaml".to_owned(), |e| e.to_string());
            tracing::warn!(source = %source.text, "not an add-on repository: {why}");
            remove_folder(&path).await;
            return Err(Error::invalid(format!("{} is not a valid add-on repository", source.text)));
        }
        self.inner.sources.update(|sources| sources.push(source.text.clone()))?;
        job.set_stage("read");
        self.read_one(source).await
    }

    /// Removes the git repository `slug`, refused while an installed add-on comes from it.
    pub async fn remove_repository(&self, slug: &str) -> Result<(), Error> {
        let _changing = self.inner.changing.lock().await;
        let source = self.source_of(slug)?;
        if source.builtin {
            return Err(Error::invalid("Can't remove built-in repositories!"));
        }
        let prefix = format!("{slug}_");
        if self.installed().is_some_and(|installed| installed.slugs().iter().any(|s| s.starts_with(&prefix))) {
            return Err(Error::invalid(format!("Can't remove '{}'. It's used by installed add-ons", source.text)));
        }
        // Forgotten first: a crash before the folder is gone leaves only an unused folder, which
        // the next add of the same source replaces.
        self.inner.sources.update(|sources| sources.retain(|s| Source::parse(s).map_or(true, |p| p.slug != slug)))?;
        self.write().remove(slug);
        remove_folder(&self.path_of(&source)).await;
        self.withdraw_issues(slug);
        Ok(())
    }

    /// Resets the git repository `slug`: cloned anew, the clone put in place of its checkout
    /// (kept when the clone fails) and read, as the job `git_repo_reset` with the real
    /// Supervisor's conditions. The issues raised about the repository go.
    pub async fn reset_repository(&self, slug: &str) -> Result<(), Error> {
        let source = self.source_of(slug)?;
        if !source.is_git() {
            return Err(Error::invalid(format!("Can't reset repository {slug} as it is not git based!"))
                .with_key("store_repository_local_cannot_reset")
                .with_extra(serde_json::Map::from_iter([("local_repo".to_owned(), slug.into())])));
        }
        let mut conditions = vec![JobCondition::FreeSpace];
        // As for an add: a repository on this machine needs no internet.
        if !source.url.starts_with("file://") {
            conditions.push(JobCondition::InternetSystem);
        }
        let spec = JobSpec::new("git_repo_reset").reference(slug).conditions(&conditions);
        let this = self.clone();
        self.inner.jobs.run(spec, move |job| async move { this.reset_in(&job, source).await }).await
    }

    async fn reset_in(&self, job: &Job, source: Source) -> Result<(), Error> {
        let _changing = self.inner.changing.lock().await;
        let path = self.path_of(&source);
        // Next to the checkout, so that it takes its place by a rename.
        let clone = path.with_file_name(format!(".{}.reset", source.slug));
        if let Err(e) = self.fresh_clone(&source, &clone, Some(job)).await {
            tracing::error!(repository = %source.slug, source = %source.text, "reset failed: {e}");
            let error = Error::internal(format!(
                "An unknown error occurred with app repository {}. Check Supervisor logs for details",
                source.slug
            ))
            .with_key("store_repository_unknown_error")
            .with_extra(serde_json::Map::from_iter([("repo".to_owned(), source.slug.clone().into())]));
            return Err(error);
        }
        remove_folder(&path).await;
        if let Err(e) = tokio::fs::rename(&clone, &path).await {
            remove_folder(&clone).await;
            return Err(Error::internal(format!("Can't move the new clone of {} in place: {e}", source.text)));
        }
        tracing::info!(repository = %source.slug, source = %source.text, "reset");
        let (slug, text) = (source.slug.clone(), source.text.clone());
        self.read_one(source).await?;
        // A reset recovers a broken local copy only; one the remote breaks stays broken.
        if self.checkout_invalid(&slug).await {
            tracing::error!(repository = %slug, source = %text, "still not a valid add-on repository after its reset");
            return Err(Error::invalid(format!("Repository {slug} is still not a valid app repository after reset")));
        }
        self.withdraw_issues(&slug);
        Ok(())
    }

    /// Whether the checkout of the git repository `slug` is there without a valid
    /// `repository.yaml`. A built-in is always valid, as upstream's built-ins are.
    pub async fn checkout_invalid(&self, slug: &str) -> bool {
        let Ok(source) = self.source_of(slug) else { return false };
        let path = self.path_of(&source);
        if !source.is_git() || source.builtin || !path.is_dir() {
            return false;
        }
        blocking(move || !matches!(RepositoryConfig::load(&path), Ok(Some(_)))).await.unwrap_or(false)
    }

    /// Clones `source` into `path`, replacing whatever is there; on failure nothing is left.
    async fn fresh_clone(&self, source: &Source, path: &Path, job: Option<&Job>) -> Result<(), String> {
        remove_folder(path).await;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let clone = git::clone(&source.url, source.branch.as_deref(), path);
        let result = match job {
            Some(job) => cancellable(job, clone).await,
            None => clone.await,
        };
        if result.is_err() {
            remove_folder(path).await;
        }
        result
    }

    /// The git repositories as the user added them (`url[#branch]`), without reading the
    /// catalog: what `/supervisor/info` lists on every call.
    pub fn git_sources(&self) -> Vec<String> {
        self.sources().into_iter().filter(|s| s.kind == RepositoryKind::Git).map(|s| s.text).collect()
    }

    /// The built-in repositories, then the git ones the user added.
    fn sources(&self) -> Vec<Source> {
        let builtins: Vec<Source> = if self.inner.official {
            [Source::official_core(), Source::local()].into_iter().chain(Source::builtin_git()).collect()
        } else {
            vec![Source::core(), Source::local()]
        };
        let stored = self.inner.sources.get();
        let gits = stored.iter().filter_map(|text| match Source::parse(text) {
            // One the user added before it became a built-in is the built-in now.
            Ok(source) if builtins.iter().any(|b| b.slug == source.slug) => None,
            Ok(source) if source.kind == RepositoryKind::Git => Some(source),
            Ok(_) => None,
            Err(_) => {
                tracing::warn!(source = %text, "ignoring a stored repository that is not valid");
                None
            }
        });
        let gits: Vec<Source> = gits.collect();
        builtins.into_iter().chain(gits).collect()
    }

    fn source_of(&self, slug: &str) -> Result<Source, Error> {
        self.sources()
            .into_iter()
            .find(|s| s.slug == slug)
            .ok_or_else(|| Error::not_found(format!("Repository {slug} does not exist in the store")))
    }

    fn path_of(&self, source: &Source) -> PathBuf {
        source.path(&self.inner.data, &self.inner.core)
    }

    /// Reads every repository and replaces the catalog; `failures` (slug → message) are the
    /// update errors to report with each repository.
    async fn read_all(&self, mut failures: HashMap<String, String>) {
        let sources = self.sources();
        let jobs: Vec<(Source, PathBuf)> = sources.iter().map(|s| (s.clone(), self.path_of(s))).collect();
        let read =
            blocking(move || jobs.into_iter().map(|(source, path)| read_repository(&source, path)).collect::<Vec<_>>())
                .await;
        let read = match read {
            Ok(read) => read,
            Err(e) => {
                tracing::error!("repositories were not read: {e}");
                return;
            }
        };
        let mut catalog = Catalog::default();
        for (mut repository, addons) in read {
            if let Some(failure) = failures.remove(&repository.slug) {
                repository.errors.insert(0, failure);
            }
            catalog.replace(repository, addons);
        }
        catalog.order(&sources);
        self.note_versions(catalog.addons.values().map(|a| &**a), true);
        *self.write() = catalog;
    }

    /// Reads one repository and puts it in place of what was known of it.
    async fn read_one(&self, source: Source) -> Result<(), Error> {
        let path = self.path_of(&source);
        let (repository, addons) = blocking(move || read_repository(&source, path)).await?;
        self.note_versions(addons.iter(), false);
        let sources = self.sources();
        let mut catalog = self.write();
        catalog.replace(repository, addons);
        catalog.order(&sources);
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        self.inner.catalog.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Catalog> {
        self.inner.catalog.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The issues the store raises about a repository, and what fixes them, by the real names.
const ISSUE_FATAL_ERROR: &str = "fatal_error";
const ISSUE_CORRUPT_REPOSITORY: &str = "corrupt_repository";
const SUGGESTION_RESET: &str = "execute_reset";
const SUGGESTION_RELOAD: &str = "execute_reload";

fn issue(kind: &'static str, slug: &str, suggestions: Vec<&'static str>) -> base::system::RaisedIssue {
    base::system::RaisedIssue { kind, context: "store", reference: Some(slug.to_owned()), extra: None, suggestions }
}

fn already_added(source: &Source) -> Error {
    Error::invalid(format!("Can't add {}, already in the store", source.text))
        .with_key("store_repository_already_added_error")
}

/// Runs `work` until it ends or the job is asked to stop (at shutdown); git is killed then.
async fn cancellable<T>(job: &Job, work: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::select! {
        result = work => result,
        () = job.cancelled() => Err("cancelled: the supervisor is shutting down".to_owned()),
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(work).await.map_err(|e| Error::internal(format!("store reader failed: {e}")))
}

/// Deletes a checkout; a failure is logged, since the folder is only a cache of the remote.
async fn remove_folder(path: &Path) {
    match tokio::fs::remove_dir_all(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), "cannot remove the repository folder: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::system::{CoreState, System};

    /// A store whose `core` is `core` under `dir`, with the state database of `dir`.
    fn open(dir: &Path, database: &Store) -> StoreManager {
        let data = DataDir::new(dir);
        let system = Arc::new(System::default());
        system.set_state(CoreState::Running);
        let jobs = JobManager::new(database, system, data.clone()).unwrap();
        StoreManager::new(database, data, jobs, dir.join("core"), "generic-x86-64".into()).unwrap()
    }

    fn write_addon(dir: &Path, version: &str) {
        let folder = dir.join("core/example");
        std::fs::create_dir_all(&folder).unwrap();
        let config =
            format!("name: Example\nversion: {version}\nslug: example\ndescription: x\narch: [amd64, aarch64]\n");
        std::fs::write(folder.join("config.yaml"), config).unwrap();
    }

    #[tokio::test]
    async fn the_first_sighting_of_a_version_is_kept_across_restarts_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        data.ensure_layout().unwrap();
        let database = Store::open(&data.database()).unwrap();
        write_addon(dir.path(), "1.0.0");
        // What an earlier run of the supervisor noted, long ago.
        let earlier = BTreeMap::from([("core_example", Seen { version: "1.0.0".into(), since: 1000 })]);
        database.section("store").unwrap().put("version_timestamps", &earlier).unwrap();

        let store = open(dir.path(), &database);
        store.load().await;
        assert_eq!(store.version_timestamp("core_example"), Some(UNIX_EPOCH + Duration::from_secs(1000)));
        assert_eq!(store.version_timestamp("core_missing"), None);

        write_addon(dir.path(), "1.1.0");
        store.load().await;
        let seen = store.version_timestamp("core_example").expect("a new sighting");
        assert!(seen > UNIX_EPOCH + Duration::from_secs(1000), "{seen:?}");

        drop(store);
        let store = open(dir.path(), &database);
        store.load().await;
        assert_eq!(store.version_timestamp("core_example"), Some(seen));
    }
}
