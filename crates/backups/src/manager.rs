//! [`BackupManager`]: the backups in every location (the backup folder, Core's `.cloud_backup`
//! folder and each backup mount that is up; indexed at start, on reload and when a backup mount
//! changes), their options, and the operations on them as jobs: create, restore, import, freeze
//! and thaw.
//!
//! Creating writes `.<file>.partial` next to the final file, syncs it and renames it: a backup
//! that was interrupted (kill -9, a full disk) never shows in the list, and the leftover is
//! removed at the next start. Restoring goes through [`crate::staging`]. The file work runs on
//! blocking threads, so the API keeps answering during a backup or restore.

use crate::file::BackupFile;
use crate::glob::{full_match, tail_match};
use crate::location::{self, Backup, Location, CLOUD_BACKUP};
use crate::model::{create_slug, AddonEntry, BackupMeta, BackupType, HomeAssistantEntry, HOMEASSISTANT_FOLDER};
use crate::staging::{self, Staging, Swap};
use crate::write::{tree_size, write_part, Contents, Progress, Tree};
use addons::{AddonManager, AddonRestore};
use archive::{OuterArchive, TarReader};
use base::paths::beneath;
use base::{CoreState, DataDir, Error, System};
use homeassistant::CoreManager;
use jobs::{Job, JobCondition, JobLimit, JobManager, JobSpec};
use mounts::{MountManager, MountUsage};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use state::{Persisted, Store};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use store::StoreManager;
use tokio::sync::oneshot;

/// Every backup job is in this group, and only one runs at a time.
const GROUP: &str = "backup_manager";
/// What Home Assistant's configuration never needs backed up (anchored at its root).
const HOMEASSISTANT_EXCLUDES: [&str; 11] = [
    "**/__pycache__/*",
    "**/.DS_Store",
    "*.db-shm",
    "*.corrupt.*",
    "*.log.*",
    "*.log",
    ".storage/*.corrupt.*",
    "OZW_Log.txt",
    "backups/*.tar",
    "tmp_backups/*.tar",
    "tts/*",
];
const DATABASE_EXCLUDES: [&str; 2] = ["home-assistant_v?.db", "home-assistant_v?.db-wal"];
/// The default of `/backups/freeze`'s `timeout`, in seconds.
pub const FREEZE_TIMEOUT: u64 = 600;

/// A backup or restore run for a caller: its job, and once a backup is made, its slug.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BackupJob {
    pub job_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupOptions {
    pub days_until_stale: u32,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions { days_until_stale: 30 }
    }
}

/// What a new backup holds, validated by the API.
#[derive(Debug, Clone)]
pub struct NewBackup {
    pub kind: BackupType,
    pub name: String,
    pub filename: Option<String>,
    pub password: Option<String>,
    pub compressed: bool,
    pub homeassistant: bool,
    pub exclude_database: bool,
    pub addons: AddonSelection,
    pub folders: Vec<String>,
    pub extra: Map<String, Value>,
    /// Where to write it (the first) and copy it (the others); `None`: the default backup mount,
    /// or the backup folder without one.
    pub locations: Option<Vec<Location>>,
}

/// The add-ons of a new backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddonSelection {
    All,
    Only(Vec<String>),
}

/// What to restore, validated by the API.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub full: bool,
    pub homeassistant: bool,
    pub addons: Vec<String>,
    pub folders: Vec<String>,
    pub password: Option<String>,
    /// The copy to restore from; `None`: the backup's first location.
    pub location: Option<Location>,
}

/// Where a new backup goes: its location and folder (checked), and the locations it is copied to.
struct Destination {
    location: Location,
    folder: PathBuf,
    copies: Vec<Location>,
}

#[derive(Clone)]
pub struct BackupManager {
    inner: Arc<Inner>,
}

struct Inner {
    data: DataDir,
    system: Arc<System>,
    jobs: JobManager,
    store: StoreManager,
    addons: AddonManager,
    core: CoreManager,
    mounts: MountManager,
    backups: RwLock<BTreeMap<String, Backup>>,
    options: Persisted<BackupOptions>,
    /// Set while a freeze asked for through the API lasts: sending thaws.
    thaw: Mutex<Option<oneshot::Sender<oneshot::Sender<()>>>>,
}

impl BackupManager {
    /// Finishes or drops an interrupted restore and removes interrupted backups; call
    /// [`BackupManager::load`] to index the locations. The list is read again whenever a backup
    /// mount comes up or goes down.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: &Store,
        data: DataDir,
        system: Arc<System>,
        jobs: JobManager,
        catalog: StoreManager,
        addons: AddonManager,
        core: CoreManager,
        mounts: MountManager,
    ) -> state::Result<BackupManager> {
        staging::recover(&restore_root(&data));
        remove_partial_files(&data.backup());
        if let Err(error) = fs::set_permissions(data.backup(), fs::Permissions::from_mode(0o700)) {
            tracing::warn!("cannot make the backup folder private: {error}");
        }
        let options = Persisted::load(store.section("backups")?, "options")?;
        let manager = BackupManager {
            inner: Arc::new(Inner {
                data,
                system,
                jobs,
                store: catalog,
                addons,
                core,
                mounts,
                backups: RwLock::default(),
                options,
                thaw: Mutex::default(),
            }),
        };
        tokio::spawn(manager.clone().follow_mounts());
        Ok(manager)
    }

    /// Reads the list again each time a backup mount is added, removed, comes up or goes down.
    async fn follow_mounts(self) {
        let mut statuses = self.inner.mounts.subscribe();
        let backup_mounts = |statuses: &[mounts::MountStatus]| -> Vec<(String, Option<String>)> {
            statuses
                .iter()
                .filter(|status| status.usage == MountUsage::Backup)
                .map(|status| (status.name.clone(), status.state.clone()))
                .collect()
        };
        let mut seen = backup_mounts(&statuses.borrow_and_update());
        while statuses.changed().await.is_ok() {
            let now = backup_mounts(&statuses.borrow_and_update());
            if now != seen {
                seen = now;
                self.load().await;
            }
        }
    }

    /// Where backups are: the backup folder, Core's folder and every backup mount that is up.
    fn folders(&self) -> Vec<(Location, PathBuf)> {
        let data = &self.inner.data;
        let mut folders = vec![(None, data.backup()), (Some(CLOUD_BACKUP.to_owned()), data.core_backup())];
        folders.extend(self.inner.mounts.backup_folders().into_iter().map(|(name, folder)| (Some(name), folder)));
        folders
    }

    /// Indexes every location: each `*.tar` at the top of its folder that is a backup; anything
    /// else is skipped with a log line. A backup in several locations is listed once.
    pub async fn load(&self) {
        let scans = self.folders().into_iter().map(|(location, folder)| async move {
            let found = tokio::task::spawn_blocking(move || scan(&folder)).await.unwrap_or_default();
            (location, found)
        });
        let mut backups: BTreeMap<String, Backup> = BTreeMap::new();
        for (location, found) in futures_util::future::join_all(scans).await {
            for (slug, file) in found {
                match backups.get_mut(&slug) {
                    Some(backup) => {
                        if let Err(why) = backup.consolidate(location.clone(), file) {
                            tracing::error!("Ignoring backup {slug} in {}: {why}", location::shown(&location));
                        }
                    }
                    None => {
                        backups.insert(slug, Backup::new(location.clone(), file));
                    }
                }
            }
        }
        *self.inner.backups.write().expect("backups lock") = backups;
    }

    pub fn list(&self) -> Vec<Backup> {
        let backups = self.inner.backups.read().expect("backups lock");
        let mut list: Vec<Backup> = backups.values().cloned().collect();
        list.sort_by(|a, b| a.meta().date.cmp(&b.meta().date));
        list
    }

    pub fn get(&self, slug: &str) -> Result<Backup, Error> {
        self.inner
            .backups
            .read()
            .expect("backups lock")
            .get(slug)
            .cloned()
            .ok_or_else(|| Error::not_found("Backup does not exist"))
    }

    pub fn options(&self) -> BackupOptions {
        self.inner.options.get()
    }

    pub fn set_days_until_stale(&self, days: u32) -> Result<(), Error> {
        self.inner.options.update(|options| options.days_until_stale = days)?;
        Ok(())
    }

    pub fn jobs(&self) -> &JobManager {
        &self.inner.jobs
    }

    /// The folder of a location a request names: the backup folder, Core's, or a backup mount
    /// (which must exist and be for backups; whether it is up is not checked).
    fn named_folder(&self, location: &Location) -> Result<PathBuf, Error> {
        match location.as_deref() {
            None => Ok(self.inner.data.backup()),
            Some(CLOUD_BACKUP) => Ok(self.inner.data.core_backup()),
            Some(name) => self.inner.mounts.backup_mount(name),
        }
    }

    /// The folder of `location` to write a backup in: a backup mount must be up.
    async fn writable_folder(&self, location: &Location) -> Result<PathBuf, Error> {
        match location.as_deref() {
            Some(name) if name != CLOUD_BACKUP => self.inner.mounts.backup_folder(name).await,
            _ => self.named_folder(location),
        }
    }

    /// Deletes a backup from `locations` (from every location when none are named); a named
    /// location the backup is not in is skipped.
    pub fn remove(&self, slug: &str, locations: Option<Vec<Location>>) -> Result<(), Error> {
        let backup = self.get(slug)?;
        let targets: Vec<Location> = match locations.filter(|named| !named.is_empty()) {
            Some(named) => {
                for location in &named {
                    self.named_folder(location)?;
                }
                named.into_iter().filter(|location| backup.copy(location).is_some()).collect()
            }
            None => backup.copies().map(|(location, _)| location.clone()).collect(),
        };
        for location in targets {
            let Some(file) = backup.copy(&location) else { continue };
            let path = file.path.display().to_string();
            if let Err(error) = fs::remove_file(&file.path) {
                if error.kind() == std::io::ErrorKind::NotFound {
                    self.forget(slug, &location);
                    return Err(Error::not_found(format!("Cannot delete backup at {path}, file does not exist!")));
                }
                return Err(Error::invalid(format!("Cannot delete backup at {path}: {error}")));
            }
            self.forget(slug, &location);
        }
        Ok(())
    }

    /// Forgets the copy of `slug` in `location`, and the backup with its last copy.
    fn forget(&self, slug: &str, location: &Location) {
        let mut backups = self.inner.backups.write().expect("backups lock");
        if backups.get_mut(slug).is_some_and(|backup| !backup.forget(location)) {
            backups.remove(slug);
        }
    }

    /// Lists `file` as the copy of its backup in `location`; refused (the file left to the
    /// caller) when another backup has its slug.
    fn add_copy(&self, location: Location, file: BackupFile) -> Result<(), Error> {
        let slug = file.meta.slug.clone();
        let mut backups = self.inner.backups.write().expect("backups lock");
        match backups.get_mut(&slug) {
            Some(backup) => backup
                .consolidate(location, file)
                .map_err(|why| Error::invalid(format!("Cannot import backup {slug} due to: {why}"))),
            None => {
                backups.insert(slug, Backup::new(location, file));
                Ok(())
            }
        }
    }

    /// Where a new backup goes, checked before any job starts: the named locations exist and
    /// are for backups, and the one it is written to is up.
    async fn destination(&self, locations: Option<Vec<Location>>) -> Result<Destination, Error> {
        let mut locations = match locations.filter(|named| !named.is_empty()) {
            Some(named) => named,
            None => vec![self.inner.mounts.default_backup_mount()],
        };
        for location in &locations {
            self.named_folder(location)?;
        }
        let location = locations.remove(0);
        let folder = self.writable_folder(&location).await?;
        Ok(Destination { location, folder, copies: locations })
    }

    /// Copies a new backup to more locations, each as the child job `backup_copy_to_location`
    /// of the job `backup_copy_to_additional_locations`; a copy that fails is logged and
    /// recorded on its job, and the others go on.
    async fn copy_to(&self, file: &BackupFile, locations: Vec<Location>, job: &Job) {
        if locations.is_empty() {
            return;
        }
        let spec = JobSpec::new("backup_copy_to_additional_locations");
        let copied = job
            .run_child(spec, |job| async move {
                for location in locations {
                    let spec = JobSpec::new("backup_copy_to_location").reference(location::key(&location));
                    let copied = job.run_child(spec, |_job| self.copy_one(file, location.clone())).await;
                    if let Err(error) = copied {
                        tracing::error!(
                            "Could not copy backup to {} due to: {}",
                            location::shown(&location),
                            error.message
                        );
                    }
                }
                Ok(())
            })
            .await;
        if let Err(error) = copied {
            tracing::error!("Could not copy backup {}: {}", file.meta.slug, error.message);
        }
    }

    /// One copy, written under a hidden name and renamed when complete.
    async fn copy_one(&self, file: &BackupFile, location: Location) -> Result<(), Error> {
        let folder = self.writable_folder(&location).await?;
        let name = file.path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let (source, target, partial) =
            (file.path.clone(), folder.join(&name), folder.join(format!(".{name}.partial")));
        let copied = {
            let target = target.clone();
            tokio::task::spawn_blocking(move || {
                let copied = fs::copy(&source, &partial).and_then(|_| fs::rename(&partial, &target));
                if copied.is_err() {
                    let _ = fs::remove_file(&partial);
                }
                copied
            })
            .await
            .map_err(|e| Error::internal(e.to_string()))?
        };
        copied.map_err(|error| {
            Error::invalid(format!("Could not copy backup to {} due to: {error}", location::shown(&location)))
        })?;
        let mut copy = file.clone();
        copy.path = target;
        self.add_copy(location, copy)
    }

    /// The job of a new backup.
    fn create_spec(kind: BackupType) -> JobSpec {
        let name = match kind {
            BackupType::Full => "backup_manager_full_backup",
            BackupType::Partial => "backup_manager_partial_backup",
        };
        JobSpec::new(name).group(GROUP).limit(JobLimit::Once).conditions(&[JobCondition::Running])
    }

    /// Makes a new backup as the job `backup_manager_full_backup` or
    /// `backup_manager_partial_backup`: waits for it (the answer names the backup), or with
    /// `background` answers once the job was admitted.
    pub async fn create(&self, new: NewBackup, background: bool) -> Result<BackupJob, Error> {
        let destination = self.destination(new.locations.clone()).await?;
        let spec = Self::create_spec(new.kind);
        let manager = self.clone();
        let work = move |job: Job| async move {
            let slug = manager.create_in(new, destination, job.clone()).await?;
            Ok(BackupJob { job_id: job.uuid().to_owned(), slug: Some(slug) })
        };
        if background {
            Ok(BackupJob { job_id: self.inner.jobs.start(spec, work)?, slug: None })
        } else {
            self.inner.jobs.run(spec, work).await
        }
    }

    /// Writes a new backup (as `job`) in `destination`, lists it and copies it to the other
    /// locations; returns its slug.
    async fn create_in(&self, new: NewBackup, destination: Destination, job: Job) -> Result<String, Error> {
        let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string();
        let slug = create_slug(&date, &new.name);
        // A caller that started the backup in the background reads its slug from the job.
        job.set_reference(&slug);
        let file_name = new.filename.clone().unwrap_or_else(|| format!("{slug}.tar"));
        let folder = destination.folder;
        let path = beneath(&folder, &file_name).map_err(|e| Error::invalid(format!("filename {e}")))?;
        if path.exists() {
            return Err(Error::invalid(format!("Cannot make new backup at {}, file already exists!", path.display())));
        }
        let partial = folder.join(format!(".{file_name}.partial"));
        let _frozen = Frozen::enter(&self.inner.system);
        let outcome = self.write_backup(&new, &date, &slug, &partial, &job).await;
        let written = match outcome {
            Ok(()) => fs::rename(&partial, &path).and_then(|()| fs::File::open(&folder)?.sync_all()),
            Err(error) => {
                let _ = fs::remove_file(&partial);
                return Err(error);
            }
        };
        if let Err(error) = written {
            let _ = fs::remove_file(&partial);
            return Err(Error::internal(format!("Cannot finish the backup file {}: {error}", path.display())));
        }
        let backup = tokio::task::spawn_blocking(move || BackupFile::open(&path))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(Error::internal)?;
        self.add_copy(destination.location, backup.clone())?;
        if !destination.copies.is_empty() {
            job.set_stage("copy_additional_locations");
            self.copy_to(&backup, destination.copies, &job).await;
        }
        job.set_progress(100.0);
        Ok(slug)
    }

    async fn write_backup(
        &self,
        new: &NewBackup,
        date: &str,
        slug: &str,
        partial: &Path,
        job: &Job,
    ) -> Result<(), Error> {
        let data = &self.inner.data;
        let key = match &new.password {
            Some(password) => {
                let password = password.clone();
                let key = tokio::task::spawn_blocking(move || securetar::RootKey::new(&password))
                    .await
                    .map_err(|e| Error::internal(e.to_string()))?
                    .map_err(|e| Error::internal(format!("Cannot derive the backup key: {e}")))?;
                Some(Arc::new(key))
            }
            None => None,
        };
        let mut meta = BackupMeta {
            slug: slug.to_owned(),
            version: 2,
            name: new.name.clone(),
            date: date.to_owned(),
            kind: new.kind,
            supervisor_version: base::SUPERVISOR_VERSION.to_owned(),
            extra: new.extra.clone(),
            compressed: new.compressed,
            protected: new.password.is_some(),
            // The real Supervisor dropped `crypto` with SecureTar v3: headers say how to decrypt.
            crypto: None,
            homeassistant: None,
            docker: json!({"registries": {}}),
            folders: Vec::new(),
            addons: Vec::new(),
            repositories: Vec::new(),
            other: Map::new(),
        };

        job.set_stage("addon_repositories");
        meta.repositories = self.inner.store.git_sources();

        let mut parts: Vec<Part> = Vec::new();
        if new.homeassistant {
            let exclude_database = new.exclude_database;
            let mut settings = self.inner.core.backup_settings();
            settings["exclude_database"] = json!(exclude_database);
            parts.push(Part {
                stage: "home_assistant",
                name: HOMEASSISTANT_FOLDER.to_owned(),
                contents: Contents {
                    files: vec![("./homeassistant.json".to_owned(), serde_json::to_vec(&settings).expect("JSON"))],
                    disk_files: Vec::new(),
                    trees: vec![Tree {
                        source: data.homeassistant(),
                        name: PathBuf::from("data"),
                        exclude: Box::new(move |path| homeassistant_excluded(path, exclude_database)),
                    }],
                },
            });
            let version = self.inner.core.config().version.filter(|_| self.inner.core.config().installed());
            meta.homeassistant = Some(HomeAssistantEntry { version, exclude_database, size: 0.0 });
        }
        for folder in &new.folders {
            let source = folder_path(data, folder);
            if !source.is_dir() {
                tracing::warn!("Can't find backup folder {folder}");
                continue;
            }
            let trees = vec![Tree::all(source, ".")];
            parts.push(Part {
                stage: "folders",
                name: folder.clone(),
                contents: Contents { trees, ..Contents::default() },
            });
            meta.folders.push(folder.clone());
        }

        // A backup holds every secret of the system: only the supervisor reads it.
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(partial)
            .map_err(|e| Error::internal(format!("Cannot create {}: {e}", partial.display())))?;
        let mtime = chrono::Utc::now().timestamp().max(0) as u64;
        let addons: Vec<String> = match &new.addons {
            AddonSelection::All => self.inner.addons.list().into_iter().map(|addon| addon.slug).collect(),
            AddonSelection::Only(slugs) => slugs
                .iter()
                .filter(|slug| {
                    let installed = self.inner.addons.is_installed(slug);
                    if !installed {
                        tracing::warn!("Add-on {slug} not found/installed");
                    }
                    installed
                })
                .cloned()
                .collect(),
        };
        let addon_bytes: u64 =
            addons.iter().filter_map(|slug| self.inner.addons.data_dir(slug).ok()).map(|dir| tree_size(&dir)).sum();
        let total =
            parts.iter().flat_map(|p| &p.contents.trees).map(|t| tree_size(&t.source)).sum::<u64>() + addon_bytes;
        let progress = Arc::new(Progress::new(job.clone(), total, (0.0, 99.0)));
        let mut outer = OuterArchive::new(file, mtime);
        let (homeassistant, folders): (Vec<Part>, Vec<Part>) =
            parts.into_iter().partition(|p| p.stage == "home_assistant");
        for part in homeassistant {
            // Core writes its database out and holds it while its folder is read.
            let told = self.inner.core.begin_backup().await?;
            let written = self.write_part(outer, &meta, part, key.clone(), &progress, job).await;
            if told {
                self.inner.core.end_backup().await;
            }
            outer = written?;
        }
        job.set_stage("addons");
        for slug in addons {
            match self.backup_addon(outer, &meta, &slug, key.clone(), &progress, job).await {
                Ok((back, entry)) => {
                    outer = back;
                    meta.addons.push(entry);
                }
                Err((back, error)) => {
                    outer = back.ok_or_else(|| error.clone())?;
                    tracing::error!("Can't backup add-on {slug}: {}", error.message);
                }
            }
        }
        for part in folders {
            outer = self.write_part(outer, &meta, part, key.clone(), &progress, job).await?;
        }

        job.set_stage("finishing_file");
        let json = serde_json::to_vec_pretty(&meta).expect("backup.json serializes");
        tokio::task::spawn_blocking(move || {
            outer.add_bytes(crate::model::META, &json)?;
            outer.finish().map(drop)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?
        .map_err(|e| {
            self.inner.system.check_io_error(&e);
            Error::internal(format!("Cannot finish the backup file: {e}"))
        })
    }

    /// Writes one inner archive on a blocking thread; the archive comes back for the next.
    async fn write_part(
        &self,
        mut outer: OuterArchive,
        meta: &BackupMeta,
        part: Part,
        key: Option<Arc<securetar::RootKey>>,
        progress: &Arc<Progress>,
        job: &Job,
    ) -> Result<OuterArchive, Error> {
        job.set_stage(part.stage);
        let member = meta.member_name(&part.name);
        let (progress, compressed) = (Arc::clone(progress), meta.compressed);
        let (outer, written) = tokio::task::spawn_blocking(move || {
            let written = write_part(&mut outer, &member, compressed, key.as_deref(), &part.contents, &progress);
            (outer, written.map_err(|e| (format!("Can't backup {}: {e}", part.name), e)))
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?;
        written.map(|_| outer).map_err(|(message, e)| {
            self.inner.system.check_io_error(&e);
            Error::internal(message)
        })
    }

    /// One add-on's archive, with the add-on prepared (hot or cold) around it. An error that
    /// leaves the backup file usable gives the archive back, so the backup goes on without it.
    async fn backup_addon(
        &self,
        outer: OuterArchive,
        meta: &BackupMeta,
        slug: &str,
        key: Option<Arc<securetar::RootKey>>,
        progress: &Arc<Progress>,
        job: &Job,
    ) -> Result<(OuterArchive, AddonEntry), (Option<OuterArchive>, Error)> {
        let addons = &self.inner.addons;
        let hold = match addons.begin_backup(slug, job).await {
            Ok(hold) => hold,
            Err(error) => return Err((Some(outer), error)),
        };
        let snapshot = match addons.snapshot(slug, &self.inner.data.tmp()).await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                if let Err(end) = addons.end_backup(hold, job).await {
                    tracing::warn!("Can't end the backup of add-on {slug}: {}", end.message);
                }
                return Err((Some(outer), error));
            }
        };
        let image = snapshot.image.clone();
        let entry = AddonEntry {
            slug: snapshot.slug.clone(),
            name: snapshot.name.clone(),
            version: snapshot.version.clone(),
            size: 0.0,
        };
        let mut trees = vec![Tree {
            source: snapshot.data_dir.clone(),
            name: PathBuf::from("data"),
            exclude: addon_exclude(snapshot.exclude.clone()),
        }];
        if let Some(config) = &snapshot.config_dir {
            trees.push(Tree {
                source: config.clone(),
                name: PathBuf::from("config"),
                exclude: addon_exclude(snapshot.exclude.clone()),
            });
        }
        let mut files = vec![("./addon.json".to_owned(), snapshot.addon_json)];
        files.extend(snapshot.apparmor.map(|profile| ("./apparmor.txt".to_owned(), profile)));
        let part = Part {
            stage: "addons",
            name: slug.to_owned(),
            contents: Contents {
                files,
                disk_files: image.iter().map(|path| ("./image.tar".to_owned(), path.clone())).collect(),
                trees,
            },
        };
        let written = self.write_part(outer, meta, part, key, progress, job).await.map(|outer| (outer, entry));
        if let Some(image) = image {
            let _ = fs::remove_file(image);
        }
        let ended = addons.end_backup(hold, job).await;
        match (written, ended) {
            (Ok(done), Ok(())) => Ok(done),
            (Ok((outer, _)), Err(error)) => Err((Some(outer), error)),
            (Err(error), _) => Err((None, error)),
        }
    }

    /// The job of a restore; its reference (the backup) is set when it runs, since a reference
    /// in the spec would make a group per backup, and restores and backups must take turns.
    fn restore_spec(full: bool) -> JobSpec {
        let name = if full { "backup_manager_full_restore" } else { "backup_manager_partial_restore" };
        JobSpec::new(name).group(GROUP).limit(JobLimit::Once).conditions(&[
            JobCondition::FreeSpace,
            JobCondition::Healthy,
            JobCondition::Running,
        ])
    }

    /// Restores what `request` names from the backup `slug` as the job
    /// `backup_manager_full_restore` or `backup_manager_partial_restore`, after the checks that
    /// need no job; waits for it unless `background`.
    pub async fn restore(&self, slug: &str, request: RestoreRequest, background: bool) -> Result<BackupJob, Error> {
        let backup = self.check_restore(slug, &request)?;
        let backup = check_password(backup, request.password.clone()).await?;
        let spec = Self::restore_spec(request.full);
        let manager = self.clone();
        let work = move |job: Job| async move {
            manager.restore_in(backup, request, job.clone()).await?;
            Ok(BackupJob { job_id: job.uuid().to_owned(), slug: None })
        };
        if background {
            Ok(BackupJob { job_id: self.inner.jobs.start(spec, work)?, slug: None })
        } else {
            self.inner.jobs.run(spec, work).await
        }
    }

    /// Checks what can be known before a restore starts: the messages the real Supervisor gives.
    /// Answers the copy to restore from.
    fn check_restore(&self, slug: &str, request: &RestoreRequest) -> Result<BackupFile, Error> {
        let listed = self.get(slug)?;
        let backup = match &request.location {
            Some(location) => listed.copy(location).cloned().ok_or_else(|| {
                Error::invalid(format!("Backup {slug} does not exist in {}", location::shown(location)))
            })?,
            None => listed.file().clone(),
        };
        if request.full && backup.meta.kind == BackupType::Partial {
            return Err(Error::invalid(format!("{slug} is only a partial backup!")));
        }
        if made_by_newer_supervisor(&backup.meta.supervisor_version) {
            return Err(Error::invalid(format!(
                "Backup was made on supervisor version {}, can't restore on {}. Must update supervisor first.",
                backup.meta.supervisor_version,
                base::SUPERVISOR_VERSION
            )));
        }
        if backup.protected() && request.password.is_none() {
            return Err(Error::invalid(format!("Invalid password for backup {slug}")));
        }
        if !request.full && request.homeassistant && backup.meta.homeassistant.is_none() {
            return Err(Error::invalid("No Home Assistant Core data inside the backup"));
        }
        Ok(backup)
    }

    /// Restores (as `job`) what `request` names from `backup`: everything is unpacked into a
    /// staging directory, then swapped in at once.
    async fn restore_in(&self, backup: BackupFile, request: RestoreRequest, job: Job) -> Result<(), Error> {
        let _frozen = Frozen::enter(&self.inner.system);
        let data = &self.inner.data;
        let addons = &self.inner.addons;
        let slug = backup.meta.slug.clone();
        job.set_reference(&slug);
        let password =
            request.password.as_deref().filter(|_| backup.protected()).map(securetar::Password::new).map(Arc::new);
        let (homeassistant, addon_slugs, folders) = if request.full {
            let slugs = backup.meta.addons.iter().map(|addon| addon.slug.clone()).collect();
            (backup.meta.homeassistant.is_some(), slugs, backup.meta.folders.clone())
        } else {
            (request.homeassistant, request.addons.clone(), request.folders.clone())
        };

        // What to unpack: stage, part, and where its tree goes (add-ons have two trees).
        let mut planned: Vec<(&'static str, String)> = Vec::new();
        for folder in &folders {
            match backup.member(folder) {
                Some(_) => planned.push(("folders", folder.clone())),
                None => tracing::warn!("Can't find restore folder {folder}"),
            }
        }
        if homeassistant {
            planned.push(("home_assistant", HOMEASSISTANT_FOLDER.to_owned()));
        }
        for addon in &addon_slugs {
            // Refused here, before anything on disk changes: the slug names host folders.
            addons.data_dir(addon)?;
            addons.config_dir(addon)?;
            match backup.member(addon) {
                Some(_) => planned.push(("addons", addon.clone())),
                None => tracing::warn!("Can't find backup {addon}"),
            }
        }

        let staging = Staging::new(&restore_root(data), &slug)
            .map_err(|e| Error::internal(format!("Cannot prepare the restore: {e}")))?;
        let total: u64 = planned.iter().filter_map(|(_, part)| backup.member(part)).map(|m| m.entry.size).sum();
        let backup = Arc::new(backup);
        let mut swaps = Vec::new();
        let mut restores = Vec::new();
        let mut core_settings = Value::Null;
        let mut done = 0u64;
        for (stage, part) in planned {
            job.set_stage(stage);
            let staged = match self.stage_part(&staging, &backup, &part, password.clone()).await {
                Ok(dir) => dir,
                Err(error) => {
                    staging.discard();
                    return Err(error);
                }
            };
            match stage {
                "folders" => swaps.push(Swap { staged: staging.relative(&staged), target: folder_path(data, &part) }),
                "home_assistant" => match keep_excluded_database(&backup.meta, &staged, &data.homeassistant()) {
                    Ok(config) if core_settings.is_null() => {
                        // Core's settings as the backup kept them; a backup without them has none.
                        let kept = fs::read(staged.join("homeassistant.json")).ok();
                        core_settings = kept.and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default();
                        swaps.push(Swap { staged: staging.relative(&config), target: data.homeassistant() })
                    }
                    Ok(config) => swaps.push(Swap { staged: staging.relative(&config), target: data.homeassistant() }),
                    Err(error) => {
                        staging.discard();
                        return Err(error);
                    }
                },
                _ => match addon_swaps(addons, &staging, &part, &staged) {
                    Ok((restore, addon_swaps)) => {
                        swaps.extend(addon_swaps);
                        restores.push(restore);
                    }
                    Err(error) => {
                        staging.discard();
                        return Err(error);
                    }
                },
            }
            done += backup.member(&part).map_or(0, |m| m.entry.size);
            job.set_progress(done as f64 / total.max(1) as f64 * 90.0);
        }
        for restore in &restores {
            // The data goes in place with the rest; the add-on must not write to it meanwhile.
            if addons.is_installed(&restore.slug) {
                addons.stop(&restore.slug).await?;
            }
        }
        let staging = tokio::task::spawn_blocking(move || staging.commit(&swaps).map(|()| staging))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(|e| Error::internal(format!("Cannot put the restored data in place: {e}")))?;

        let mut failed = Vec::new();
        if request.full {
            job.set_stage("remove_delta_addons");
            for addon in addons.list().into_iter().filter(|addon| !addon_slugs.contains(&addon.slug)) {
                if let Err(error) = addons.remove(&addon.slug, false).await {
                    tracing::error!("Can't uninstall {}: {}", addon.slug, error.message);
                    failed.push(addon.slug.clone());
                }
            }
        }
        job.set_stage("addons");
        for restore in restores {
            let addon = restore.slug.clone();
            if let Err(error) = addons.restore(restore, &job).await {
                tracing::error!("Can't restore backup {addon}: {}", error.message);
                failed.push(addon);
            }
        }
        staging.discard();
        if homeassistant {
            job.set_stage("home_assistant");
            let version = backup.meta.homeassistant.as_ref().and_then(|ha| ha.version.clone());
            if let Err(error) = self.inner.core.restored(&core_settings, version).await {
                tracing::error!("Can't start Home Assistant Core after the restore: {}", error.message);
                failed.push("homeassistant".to_owned());
            }
        }
        if !failed.is_empty() {
            return Err(Error::invalid(format!(
                "An error occurred during restore of {slug}: these add-ons failed: {}",
                failed.join(", ")
            )));
        }
        job.set_progress(100.0);
        tracing::info!("restored backup {slug}");
        Ok(())
    }

    /// Unpacks one inner archive into the staging directory on a blocking thread.
    async fn stage_part(
        &self,
        staging: &Staging,
        backup: &Arc<BackupFile>,
        part: &str,
        password: Option<Arc<securetar::Password>>,
    ) -> Result<PathBuf, Error> {
        let dir = staging.part_dir(part).map_err(|e| Error::internal(e.to_string()))?;
        let budget = self.free_budget()?;
        let (backup, target, part) = (Arc::clone(backup), dir.clone(), part.to_owned());
        tokio::task::spawn_blocking(move || {
            crate::background::run("restore", || unpack_part(&backup, &part, password.as_deref(), &target, budget))
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?
        .map_err(|e| Error::internal(format!("Can't start the restore: {e}")))??;
        Ok(dir)
    }

    /// Lists an uploaded file (already in the folder of `destination` under a temporary name)
    /// when it is a backup, and copies it to the other locations; otherwise removes it. Returns
    /// the slug.
    async fn import(
        &self,
        upload: PathBuf,
        filename: Option<String>,
        destination: Destination,
        job: &Job,
    ) -> Result<String, Error> {
        let opened = {
            let upload = upload.clone();
            tokio::task::spawn_blocking(move || BackupFile::open(&upload))
                .await
                .map_err(|e| Error::internal(e.to_string()))?
        };
        let mut backup = match opened {
            Ok(backup) => backup,
            Err(why) => {
                let _ = fs::remove_file(&upload);
                return Err(Error::invalid(format!("The upload is not a backup: {why}")));
            }
        };
        let slug = backup.meta.slug.clone();
        let known = self.get(&slug).is_ok_and(|known| known.copy(&destination.location).is_some());
        if known {
            let _ = fs::remove_file(&upload);
            return Ok(slug);
        }
        let target = match beneath(&destination.folder, &filename.unwrap_or_else(|| format!("{slug}.tar"))) {
            Ok(target) => target,
            Err(error) => {
                let _ = fs::remove_file(&upload);
                return Err(Error::invalid(format!("filename {error}")));
            }
        };
        if target.exists() {
            let _ = fs::remove_file(&upload);
            return Err(Error::invalid(format!("Cannot import backup {slug}: {} already exists", target.display())));
        }
        if let Err(error) = fs::rename(&upload, &target) {
            let _ = fs::remove_file(&upload);
            let message = format!("Cannot store the upload: {error}");
            return Err(if error.kind() == std::io::ErrorKind::InvalidFilename {
                Error::invalid(message)
            } else {
                Error::internal(message)
            });
        }
        backup.path = target;
        if let Err(error) = self.add_copy(destination.location, backup.clone()) {
            let _ = fs::remove_file(&backup.path);
            return Err(error);
        }
        self.copy_to(&backup, destination.copies, job).await;
        Ok(slug)
    }

    /// What an upload or a restore may still write on the data directory's file system.
    fn free_budget(&self) -> Result<u64, Error> {
        restore_budget(self.inner.data.root())
    }

    /// Stores an uploaded file, read from `chunks`, in the first of `locations` (the backup
    /// folder when none is named) and lists it when it is a backup, as the job
    /// `backup_manager_import_backup`; then copies it to the other locations. Returns its slug.
    /// A broken upload (a chunk that is an error) or one larger than the free space is refused,
    /// and nothing of it is kept.
    pub async fn upload<S, B, E>(
        &self,
        mut chunks: S,
        filename: Option<String>,
        locations: Vec<Location>,
    ) -> Result<String, Error>
    where
        S: futures_util::Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let locations = if locations.is_empty() { vec![None] } else { locations };
        let destination = self.destination(Some(locations)).await?;
        // In the destination's folder, so the final rename is atomic; a hidden name is ignored by
        // reload, and removed at start from the backup folder.
        let path = destination.folder.join(format!(".upload-{}.tar.partial", base::random::hex_token(4)));
        let budget = self.free_budget()?;
        let written = async {
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .await
                .map_err(|e| Error::internal(e.to_string()))?;
            let mut size = 0u64;
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| Error::invalid(format!("Improperly formatted upload: {e}")))?;
                let chunk = chunk.as_ref();
                size += chunk.len() as u64;
                if size > budget {
                    return Err(Error::invalid(format!(
                        "The upload is larger than the {:.1} MiB free for it on the disk",
                        budget as f64 / 1024.0 / 1024.0
                    )));
                }
                file.write_all(chunk).await.map_err(|e| Error::internal(format!("Cannot store the upload: {e}")))?;
            }
            file.sync_all().await.map_err(|e| Error::internal(format!("Cannot store the upload: {e}")))
        }
        .await;
        if let Err(error) = written {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(error);
        }
        let spec = JobSpec::new("backup_manager_import_backup");
        self.inner.jobs.run(spec, |job| async move { self.import(path, filename, destination, &job).await }).await
    }

    /// The copy of backup `slug` in `location` (its first location when `None`), for a download.
    pub fn copy_of(&self, slug: &str, location: Option<Location>) -> Result<BackupFile, Error> {
        let backup = self.get(slug)?;
        let location = location.unwrap_or_else(|| backup.location());
        backup
            .copy(&location)
            .cloned()
            .ok_or_else(|| Error::invalid(format!("Backup {slug} is not in location {}", location::shown(&location))))
    }

    /// The file of `backup`, opened for a download; `None` when it is gone (the list is read
    /// again then, so it no longer shows).
    pub async fn open(&self, backup: &BackupFile) -> Option<tokio::fs::File> {
        match tokio::fs::File::open(&backup.path).await {
            Ok(file) => Some(file),
            Err(_) => {
                self.load().await;
                None
            }
        }
    }

    /// Puts the system in the freeze state for an external snapshot, until [`thaw`] or `timeout`.
    ///
    /// [`thaw`]: BackupManager::thaw
    pub async fn freeze(&self, timeout: Duration) -> Result<(), Error> {
        let spec = JobSpec::new("backup_manager_freeze_all")
            .group(GROUP)
            .limit(JobLimit::Once)
            .conditions(&[JobCondition::Running]);
        let manager = self.clone();
        self.inner
            .jobs
            .run(spec, move |job| async move {
                job.set_stage("home_assistant");
                manager.inner.system.set_state(CoreState::Freeze);
                job.set_stage("addons");
                let mut holds = Vec::new();
                for addon in manager.inner.addons.list() {
                    match manager.inner.addons.begin_backup(&addon.slug, &job).await {
                        Ok(hold) => holds.push(hold),
                        Err(error) => tracing::error!("Can't prepare {} for the freeze: {}", addon.slug, error.message),
                    }
                }
                let (signal, thawed) = oneshot::channel::<oneshot::Sender<()>>();
                *manager.inner.thaw.lock().expect("thaw lock") = Some(signal);
                let thawing = manager.clone();
                tokio::spawn(async move {
                    let done = match tokio::time::timeout(timeout, thawed).await {
                        Ok(Ok(done)) => Some(done),
                        _ => {
                            tracing::warn!(
                                "Timeout waiting for signal to thaw after manual freeze, beginning thaw now"
                            );
                            thawing.inner.thaw.lock().expect("thaw lock").take();
                            None
                        }
                    };
                    thawing.end_freeze(holds).await;
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                });
                Ok(())
            })
            .await
    }

    /// The end of a freeze (job `backup_manager_signal_thaw`): the add-ons resume, the system
    /// runs again.
    async fn end_freeze(&self, holds: Vec<addons::BackupHold>) {
        let spec = JobSpec::new("backup_manager_signal_thaw").group(GROUP).conditions(&[JobCondition::Frozen]);
        let addons = self.inner.addons.clone();
        let ended = self
            .inner
            .jobs
            .run(spec, move |job| async move {
                job.set_stage("await_addon_restarts");
                for hold in holds {
                    if let Err(error) = addons.end_backup(hold, &job).await {
                        tracing::error!("Can't resume an add-on after the freeze: {}", error.message);
                    }
                }
                Ok(())
            })
            .await;
        if let Err(error) = ended {
            tracing::error!("Can't end the freeze: {}", error.message);
        }
        self.inner.system.set_state(CoreState::Running);
    }

    /// Ends a freeze made by [`freeze`](BackupManager::freeze), once the add-ons resumed.
    pub async fn thaw(&self) -> Result<(), Error> {
        let spec = JobSpec::new("backup_manager_thaw_all")
            .group(GROUP)
            .limit(JobLimit::Once)
            .conditions(&[JobCondition::Frozen]);
        let manager = self.clone();
        let finished = self
            .inner
            .jobs
            .run(spec, move |_job| async move {
                let signal = manager.inner.thaw.lock().expect("thaw lock").take();
                let Some(signal) = signal else {
                    return Err(Error::invalid("Freeze was not initiated by freeze API, cannot thaw this way"));
                };
                let (done, finished) = oneshot::channel();
                let _ = signal.send(done);
                Ok(finished)
            })
            .await?;
        // Waited for outside the job: the thaw runs its own job in the same group.
        let _ = finished.await;
        Ok(())
    }
}

/// The backup an add-on update asks for: a partial backup of the add-on alone, named as the
/// real Supervisor names it.
impl BackupManager {
    /// The partial backup an update asks for, as a child job of the update's: `name`, Core's
    /// configuration or the one add-on.
    async fn backup_before_update(
        &self,
        name: String,
        homeassistant: bool,
        addons: Vec<String>,
        parent: &Job,
    ) -> Result<(), Error> {
        let new = NewBackup {
            kind: BackupType::Partial,
            name,
            filename: None,
            password: None,
            compressed: true,
            homeassistant,
            exclude_database: self.inner.core.config().backups_exclude_database,
            addons: AddonSelection::Only(addons),
            folders: Vec::new(),
            extra: Map::new(),
            locations: None,
        };
        let destination = self.destination(None).await?;
        let manager = self.clone();
        parent
            .run_child(Self::create_spec(BackupType::Partial), |job| async move {
                manager.create_in(new, destination, job).await
            })
            .await?;
        Ok(())
    }
}

impl addons::UpdateBackup for BackupManager {
    fn backup_addon<'a>(
        &'a self,
        slug: &'a str,
        version: &'a str,
        parent: &'a Job,
    ) -> futures_util::future::BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.backup_before_update(format!("addon_{slug}_{version}"), false, vec![slug.to_owned()], parent))
    }
}

impl homeassistant::UpdateBackup for BackupManager {
    fn backup_core<'a>(
        &'a self,
        version: &'a str,
        parent: &'a Job,
    ) -> futures_util::future::BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.backup_before_update(format!("core_{version}"), true, Vec::new(), parent))
    }
}

/// One inner archive to write.
struct Part {
    stage: &'static str,
    name: String,
    contents: Contents,
}

/// An add-on's `backup_exclude`, matched against each path's trailing components.
fn addon_exclude(patterns: Vec<String>) -> Box<dyn Fn(&Path) -> bool + Send + Sync> {
    Box::new(move |path| patterns.iter().any(|pattern| tail_match(pattern, path)))
}

/// The system is frozen while a backup or restore runs, and running again after.
struct Frozen<'a>(&'a System);

impl<'a> Frozen<'a> {
    fn enter(system: &'a System) -> Frozen<'a> {
        system.set_state(CoreState::Freeze);
        Frozen(system)
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        self.0.set_state(CoreState::Running);
    }
}

/// Whether a backup comes from a newer version of this supervisor, which may have written what
/// this one cannot read. The Python Supervisor numbers its versions by the calendar
/// (`2025.06.0`) and its backups are read in their own right, so versions compare only within
/// one numbering.
fn made_by_newer_supervisor(version: &str) -> bool {
    let calendar =
        |v: &str| v.split('.').next().and_then(|major| major.parse::<u32>().ok()).is_some_and(|major| major >= 2000);
    calendar(version) == calendar(base::SUPERVISOR_VERSION)
        && base::version::is_newer(version, base::SUPERVISOR_VERSION)
}

/// The swaps of one staged add-on archive: its data folder, and its public config folder when
/// the archive has one.
fn addon_swaps(
    addons: &AddonManager,
    staging: &Staging,
    slug: &str,
    staged: &Path,
) -> Result<(AddonRestore, Vec<Swap>), Error> {
    let restore = AddonRestore::read(slug, staged)?;
    let mut swaps = vec![Swap { staged: staging.relative(&restore.staged_data()?), target: addons.data_dir(slug)? }];
    if let Some(config) = restore.staged_config()? {
        swaps.push(Swap { staged: staging.relative(&config), target: addons.config_dir(slug)? });
    }
    Ok((restore, swaps))
}

/// What a restore may still write on the data directory's file system: its free space less a
/// reserve, so that the system keeps room to run (and to finish the restore's renames).
fn restore_budget(root: &Path) -> Result<u64, Error> {
    let usage = base::system::disk_usage(root).map_err(|e| Error::internal(format!("free space is unknown: {e}")))?;
    Ok(usage.free.saturating_sub(space_reserve(usage.total)))
}

/// The room kept free for the system: 5 % of the file system, at least 16 MiB and at most 1 GiB.
pub fn space_reserve(total: u64) -> u64 {
    (total / 20).clamp(16 << 20, 1 << 30)
}

fn restore_root(data: &DataDir) -> PathBuf {
    data.root().join("restore")
}

/// Refuses a wrong password before a restore starts, as the real Supervisor does, so that a
/// caller restoring in the background hears of it in the answer rather than from a failed job:
/// the backup's first inner archive must decrypt with it. A backup without any opens with any.
async fn check_password(backup: BackupFile, password: Option<String>) -> Result<BackupFile, Error> {
    let Some(password) = password.filter(|_| backup.protected()) else { return Ok(backup) };
    tokio::task::spawn_blocking(move || {
        let meta = &backup.meta;
        let parts = meta.folders.iter().map(String::as_str);
        let parts = parts.chain(meta.homeassistant.as_ref().map(|_| HOMEASSISTANT_FOLDER));
        let first =
            parts.chain(meta.addons.iter().map(|addon| addon.slug.as_str())).find_map(|part| backup.member(part));
        if let Some(member) = first {
            let stored =
                backup.read_member(member).map_err(|e| Error::internal(format!("Cannot read the backup: {e}")))?;
            if let Err(securetar::Error::WrongPassword) =
                securetar::Decryptor::new(stored, &securetar::Password::new(&password))
            {
                return Err(Error::invalid(format!("Invalid password for backup {}", meta.slug)));
            }
        }
        Ok(backup)
    })
    .await
    .map_err(|e| Error::internal(e.to_string()))?
}

/// The directory of a folder the API names.
pub fn folder_path(data: &DataDir, folder: &str) -> PathBuf {
    match folder {
        "addons/local" => data.addons_local(),
        "ssl" => data.ssl(),
        "media" => data.media(),
        _ => data.share(),
    }
}

fn homeassistant_excluded(path: &Path, exclude_database: bool) -> bool {
    let database = if exclude_database { &DATABASE_EXCLUDES[..] } else { &[] };
    HOMEASSISTANT_EXCLUDES.iter().chain(database).any(|pattern| full_match(pattern, path))
}

/// Unpacks the inner archive of `part` into `target`; the error is for the API client.
fn unpack_part(
    backup: &BackupFile,
    part: &str,
    password: Option<&securetar::Password>,
    target: &Path,
    budget: u64,
) -> Result<(), Error> {
    let slug = &backup.meta.slug;
    let member = backup.member(part).ok_or_else(|| Error::invalid(format!("Can't find backup {part}")))?;
    let fail = |error: std::io::Error| {
        if crate::codec::is_wrong_password(&error) {
            Error::invalid(format!("Invalid password for backup {slug}"))
        } else {
            Error::invalid(format!("Can't restore {part} from backup {slug}: {error}"))
        }
    };
    let stored = backup.read_member(member).map_err(fail)?;
    let tar = crate::codec::decoder(stored, password).map_err(fail)?;
    let mut reader = TarReader::new(tar);
    archive::unpack(&mut reader, target, budget).map_err(|error| match error {
        archive::ArchiveError::Io(io) => fail(io),
        archive::ArchiveError::TooLarge { limit } => Error::invalid(format!(
            "Can't restore {part} from backup {slug}: it unpacks to more than the {:.1} MiB free for it on the disk",
            limit as f64 / 1024.0 / 1024.0
        )),
        other => Error::invalid(format!("Can't restore {part} from backup {slug}: {other}")),
    })?;
    Ok(())
}

/// The configuration to put in place from the staged Home Assistant archive: its `data`
/// (version 1 backups have the configuration at the top). When the backup left the database
/// out, the current database files are kept (hard links into the staged tree).
///
/// `data` replaces the configuration folder as a whole, so it must be a directory: a link there
/// would make the host's folder a link to wherever it points.
fn keep_excluded_database(meta: &BackupMeta, staged: &Path, current: &Path) -> Result<PathBuf, Error> {
    let data = staged.join("data");
    let config = match fs::symlink_metadata(&data) {
        Ok(meta) if meta.is_dir() => data,
        Ok(_) => {
            return Err(Error::invalid(format!(
                "Can't restore homeassistant from backup {}: 'data' in it is not a directory",
                meta.slug
            )))
        }
        Err(_) => staged.to_path_buf(),
    };
    if meta.homeassistant.as_ref().is_some_and(|ha| ha.exclude_database) {
        if let Ok(entries) = fs::read_dir(current) {
            for entry in entries.flatten() {
                let name = PathBuf::from(entry.file_name());
                if DATABASE_EXCLUDES.iter().any(|pattern| full_match(pattern, &name)) && !config.join(&name).exists() {
                    if let Err(error) = fs::hard_link(entry.path(), config.join(&name)) {
                        tracing::warn!("cannot keep the database {}: {error}", name.display());
                    }
                }
            }
        }
    }
    Ok(config)
}

fn scan(folder: &Path) -> BTreeMap<String, BackupFile> {
    let mut found = BTreeMap::new();
    let Ok(entries) = fs::read_dir(folder) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_tar = path.extension().is_some_and(|ext| ext == "tar")
            && !entry.file_name().to_string_lossy().starts_with('.')
            && entry.file_type().is_ok_and(|t| t.is_file());
        if !is_tar {
            continue;
        }
        match BackupFile::open(&path) {
            Ok(backup) => {
                if let Some(other) = found.get(&backup.meta.slug) {
                    tracing::warn!(
                        "Backup {} exists in two files: {} and {}",
                        backup.meta.slug,
                        other_path(other),
                        path.display()
                    );
                }
                found.insert(backup.meta.slug.clone(), backup);
            }
            Err(why) => tracing::warn!("skipping {}: {why}", path.display()),
        }
    }
    found
}

fn other_path(backup: &BackupFile) -> String {
    backup.path.display().to_string()
}

fn remove_partial_files(folder: &Path) {
    let Ok(entries) = fs::read_dir(folder) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".partial") {
            tracing::info!("removing the interrupted backup file {name}");
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_newer_versions_of_this_supervisor_are_refused() {
        assert!(!made_by_newer_supervisor("2025.06.0"));
        assert!(!made_by_newer_supervisor(base::SUPERVISOR_VERSION));
        assert!(made_by_newer_supervisor("999.0.0"));
    }

    #[test]
    fn homeassistant_exclusions() {
        assert!(homeassistant_excluded(Path::new("home-assistant.log"), false));
        assert!(homeassistant_excluded(Path::new("custom_components/x/__pycache__/y.pyc"), false));
        assert!(!homeassistant_excluded(Path::new("home-assistant_v2.db"), false));
        assert!(homeassistant_excluded(Path::new("home-assistant_v2.db"), true));
        assert!(!homeassistant_excluded(Path::new("configuration.yaml"), true));
    }

    /// A manager over an empty data directory, with an engine that is never reached.
    async fn manager(dir: &Path) -> BackupManager {
        let data = DataDir::new(dir);
        data.ensure_layout().unwrap();
        let store = Store::open(&data.database()).unwrap();
        let system = Arc::new(System::default());
        system.set_state(CoreState::Running);
        let jobs = JobManager::new(&store, Arc::clone(&system), data.clone()).unwrap();
        let docker = docker::DockerManager::new(&store, Arc::clone(&system), "/nonexistent.sock", Default::default());
        let tokens = Arc::new(security::Tokens::load(&store, &data).unwrap());
        let catalog = StoreManager::new(&store, data.clone(), jobs.clone(), dir.join("core"), "ova".into()).unwrap();
        let timezone: base::Timezone = Arc::new(|| "UTC".to_owned());
        let docker = Arc::new(docker.unwrap());
        let updater =
            Arc::new(updater::Updater::new(&store, Arc::clone(&system), jobs.clone(), "/nonexistent", "ova").unwrap());
        let core = CoreManager::new(
            &store,
            data.clone(),
            jobs.clone(),
            Arc::clone(&docker),
            updater,
            Arc::clone(&tokens),
            Arc::clone(&timezone),
            homeassistant::Settings {
                addon_port: 80,
                install: false,
                watchdog_interval: std::time::Duration::from_secs(120),
            },
        )
        .unwrap();
        let addons =
            AddonManager::new(&store, data.clone(), jobs.clone(), docker, tokens, catalog.clone(), timezone).unwrap();
        let services = Arc::new(dbus::HostServices::watch(None).await);
        let mounts = MountManager::new(&store, data.clone(), services, Arc::clone(&system), jobs.clone()).unwrap();
        BackupManager::new(&store, data, system, jobs, catalog, addons, core, mounts).unwrap()
    }

    fn new_backup(name: &str) -> NewBackup {
        NewBackup {
            kind: BackupType::Partial,
            name: name.to_owned(),
            filename: None,
            password: None,
            compressed: true,
            homeassistant: false,
            exclude_database: false,
            addons: AddonSelection::Only(Vec::new()),
            folders: Vec::new(),
            extra: Map::new(),
            locations: None,
        }
    }

    #[tokio::test]
    async fn backups_from_code_take_turns_in_their_group() {
        let dir = tempfile::tempdir().unwrap();
        let backups = manager(dir.path()).await;
        let first = backups.create(new_backup("first"), true).await.unwrap();
        assert_eq!(first.slug, None, "a background backup answers its job only");
        let second = backups.create(new_backup("second"), true).await.unwrap_err();
        assert_eq!(second.error_key.as_deref(), Some("job_group_busy"), "{}", second.message);
        let job = backups.jobs().job(&first.job_id).unwrap();
        assert_eq!(job.name, "backup_manager_partial_backup");
        let request = RestoreRequest {
            full: true,
            homeassistant: true,
            addons: vec![],
            folders: vec![],
            password: None,
            location: None,
        };
        let restore = backups.restore("0123abcd", request, true).await.unwrap_err();
        assert_eq!(restore.kind, base::Kind::NotFound, "checked before the job: {}", restore.message);
    }

    #[tokio::test]
    async fn a_refused_upload_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let backups = manager(dir.path()).await;
        let leftovers = || fs::read_dir(dir.path().join("backup")).unwrap().count();
        let broken = futures_util::stream::iter(vec![Ok(b"tar".to_vec()), Err("boom")]);
        let refused = backups.upload(broken, None, Vec::new()).await.unwrap_err();
        assert_eq!(
            (refused.kind, refused.message.as_str()),
            (base::Kind::Invalid, "Improperly formatted upload: boom")
        );
        assert_eq!(leftovers(), 0);
        let not_a_backup = futures_util::stream::iter(vec![Ok::<_, &str>(b"not a tar".to_vec())]);
        let refused = backups.upload(not_a_backup, None, Vec::new()).await.unwrap_err();
        assert!(refused.message.starts_with("The upload is not a backup"), "{}", refused.message);
        assert_eq!(leftovers(), 0);
    }
}
