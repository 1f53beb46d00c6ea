//! An installed add-on in a backup, as the real Supervisor does it: `addon.json` (the user's
//! settings, the configuration it was installed with, its version and whether it ran), its data
//! folder, its public config folder when it maps one, its own AppArmor profile
//! (`apparmor.txt`) when it has one, and its image when it was built here (`image.tar`, since
//! no registry has it). Hot add-ons run `backup_pre`/`backup_post` in their
//! container around the backup; cold ones are stopped and started again.
//!
//! The backups crate writes and unpacks the archives; this module supplies what goes in and
//! puts an add-on back from what came out.

use crate::data::{SystemData, UserData};
use crate::errors;
use crate::manager::AddonManager;
use crate::AddonState;
use addon_config::{AddonConfig, BackupMode, MapType};
use base::paths::{beneath, UnsafeName};
use base::Error;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::{StreamExt, TryStreamExt};
use jobs::Job;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// What one add-on's inner archive holds; `image` is a file the caller removes when done.
#[derive(Debug)]
pub struct AddonSnapshot {
    pub slug: String,
    pub name: String,
    pub version: String,
    /// The contents of `addon.json`.
    pub addon_json: Vec<u8>,
    pub data_dir: PathBuf,
    /// The add-on's public config folder, when it maps one and it exists.
    pub config_dir: Option<PathBuf>,
    /// The saved image of a locally built add-on.
    pub image: Option<PathBuf>,
    /// Its own AppArmor profile, for `apparmor.txt`.
    pub apparmor: Option<Vec<u8>>,
    /// `backup_exclude` patterns.
    pub exclude: Vec<String>,
}

/// An add-on prepared for a backup; [`AddonManager::end_backup`] undoes the preparation.
#[derive(Debug)]
pub struct BackupHold {
    slug: String,
    /// Stopped for a cold backup: start it again after.
    restart: bool,
    /// Run `backup_post` after.
    post: Option<String>,
}

/// `addon.json`.
#[derive(Debug, Serialize, Deserialize)]
struct AddonJson {
    user: Value,
    system: Value,
    version: String,
    state: String,
}

/// The add-on's part of a restore, read from its unpacked archive.
#[derive(Debug)]
pub struct AddonRestore {
    pub slug: String,
    user: UserData,
    system: Option<SystemData>,
    version: String,
    started: bool,
    /// Where the archive was unpacked.
    staged: PathBuf,
}

impl AddonRestore {
    /// Reads `addon.json` from an unpacked add-on archive at `staged`.
    pub fn read(slug: &str, staged: &Path) -> Result<AddonRestore, Error> {
        let invalid = |why: String| Error::invalid(format!("Can't validate {slug}, backup data: {why}"));
        let bytes = std::fs::read(staged.join("addon.json")).map_err(|e| invalid(e.to_string()))?;
        let json: AddonJson = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        let user: UserData = serde_json::from_value(json.user).map_err(|e| invalid(format!("user: {e}")))?;
        // Ours is our own record; the Python Supervisor's is the store's raw configuration.
        let system = serde_json::from_value::<SystemData>(json.system.clone()).ok().or_else(|| {
            let repository = json.system.get("repository")?.as_str()?.to_owned();
            let config = AddonConfig::from_value(json.system.clone()).ok()?;
            Some(SystemData { repository, config, translations: Default::default() })
        });
        Ok(AddonRestore {
            slug: slug.to_owned(),
            user,
            system,
            version: json.version,
            started: json.state == "started",
            staged: staged.to_path_buf(),
        })
    }

    /// The unpacked data folder, created empty when the archive had none.
    pub fn staged_data(&self) -> Result<PathBuf, Error> {
        let dir = self.staged.join("data");
        if self.staged_tree("data")?.is_none() {
            std::fs::create_dir(&dir).map_err(|e| errors::unknown(&self.slug, format!("can't stage its data: {e}")))?;
        }
        Ok(dir)
    }

    /// The unpacked public config folder, if the archive had one.
    pub fn staged_config(&self) -> Result<Option<PathBuf>, Error> {
        self.staged_tree("config")
    }

    /// A top-level folder of the archive, which replaces a folder on the host as a whole: it
    /// must be a directory, never a link that would put the host folder elsewhere.
    fn staged_tree(&self, name: &str) -> Result<Option<PathBuf>, Error> {
        let path = self.staged.join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => Ok(Some(path)),
            Ok(_) => {
                Err(Error::invalid(format!("Can't restore {}: '{name}' in its backup is not a directory", self.slug)))
            }
            Err(_) => Ok(None),
        }
    }
}

fn invalid_slug(unsafe_name: UnsafeName) -> Error {
    Error::invalid(format!("Invalid add-on slug {unsafe_name}"))
}

/// A step of a backup or restore on one add-on: a child of the backup's job, which already
/// holds its group's limit (an update's own backup runs inside the update's job).
fn child(name: &str, slug: &str) -> jobs::JobSpec {
    jobs::JobSpec::new(name).reference(slug)
}

impl AddonManager {
    /// Where an add-on's data lives; refused for a slug that is not a plain name.
    pub fn data_dir(&self, slug: &str) -> Result<PathBuf, Error> {
        beneath(&self.inner.folders.data, slug).map_err(invalid_slug)
    }

    /// Where an add-on's public config folder lives; refused for a slug that is not a plain name.
    pub fn config_dir(&self, slug: &str) -> Result<PathBuf, Error> {
        beneath(&self.inner.folders.addon_configs, slug).map_err(invalid_slug)
    }

    /// Prepares a running add-on for a backup (job `addon_begin_backup`): a cold one is
    /// stopped, a hot one runs `backup_pre`.
    pub async fn begin_backup(&self, slug: &str, parent: &Job) -> Result<BackupHold, Error> {
        let addon = self.get(slug).ok_or_else(errors::not_installed)?;
        let config = addon.config().clone();
        let running = matches!(self.state(slug).await, AddonState::Started | AddonState::Startup);
        let mut hold = BackupHold { slug: slug.to_owned(), restart: false, post: None };
        if !running {
            return Ok(hold);
        }
        let manager = self.clone();
        parent
            .run_child(child("addon_begin_backup", slug), |_| async move {
                match config.backup {
                    BackupMode::Cold => {
                        manager.stop_container(slug).await?;
                        hold.restart = true;
                    }
                    BackupMode::Hot => {
                        if let Some(command) = &config.backup_pre {
                            manager.exec(slug, command).await?;
                        }
                        hold.post = config.backup_post.clone();
                    }
                }
                Ok(hold)
            })
            .await
    }

    /// Undoes [`AddonManager::begin_backup`] (job `addon_end_backup`).
    pub async fn end_backup(&self, hold: BackupHold, parent: &Job) -> Result<(), Error> {
        let manager = self.clone();
        parent
            .run_child(child("addon_end_backup", &hold.slug), |_| async move {
                if hold.restart {
                    manager.start_container(&hold.slug).await?;
                }
                if let Some(command) = &hold.post {
                    manager.exec(&hold.slug, command).await?;
                }
                Ok(())
            })
            .await
    }

    /// What goes into the add-on's archive; a locally built image is saved under `tmp`.
    pub async fn snapshot(&self, slug: &str, tmp: &Path) -> Result<AddonSnapshot, Error> {
        let addon = self.get(slug).ok_or_else(errors::not_installed)?;
        let config = addon.config();
        let state = match self.state(slug).await {
            AddonState::Started | AddonState::Startup => "started",
            _ => "stopped",
        };
        let json = AddonJson {
            user: serde_json::to_value(&addon.user).expect("user data serializes"),
            system: serde_json::to_value(&addon.system).expect("system data serializes"),
            version: addon.user.version.clone(),
            state: state.to_owned(),
        };
        let maps_config = config.map.iter().any(|entry| entry.kind == MapType::AddonConfig);
        let config_dir = Some(self.config_dir(slug)?).filter(|dir| maps_config && dir.is_dir());
        let image = if config.image.is_none() {
            let path = tmp.join(format!("{slug}-image.tar"));
            self.save_image(&format!("{}:{}", addon.user.image, addon.user.version), &path).await?;
            Some(path)
        } else {
            None
        };
        Ok(AddonSnapshot {
            slug: slug.to_owned(),
            name: config.name.clone(),
            version: addon.user.version.clone(),
            addon_json: serde_json::to_vec(&json).expect("addon.json serializes"),
            data_dir: self.data_dir(slug)?,
            config_dir,
            image,
            apparmor: self.profiles().stored(slug).and_then(|path| std::fs::read(path).ok()),
            exclude: config.backup_exclude.clone(),
        })
    }

    /// Puts an add-on back at its backed-up version and settings (its data is already in place)
    /// and starts it if it ran (job `addon_restore`).
    pub async fn restore(&self, restore: AddonRestore, parent: &Job) -> Result<(), Error> {
        let manager = self.clone();
        let slug = restore.slug.clone();
        parent
            .run_child(child("addon_restore", &slug), |job| async move { manager.restore_addon(restore, &job).await })
            .await
    }

    async fn restore_addon(&self, restore: AddonRestore, job: &Job) -> Result<(), Error> {
        let slug = restore.slug.as_str();
        let store = self.inner.catalog.addon(slug);
        let system = match (&restore.system, &store) {
            (Some(system), _) => system.clone(),
            (None, Some(store)) if store.config.version == restore.version => SystemData {
                repository: store.repository.clone(),
                config: store.config.clone(),
                translations: store.translations.clone(),
            },
            _ => return Err(Error::invalid(format!("Can't restore {slug}: its configuration is unknown"))),
        };
        if let Some(available) = &store {
            self.check_available(available)?;
        }
        if self.get(slug).is_some() {
            self.stop_container(slug).await?;
        }
        let mut user = restore.user.clone();
        user.version = restore.version.clone();
        user.access_token = None;
        let image = user.image.clone();
        let saved = restore.staged.join("image.tar");
        if saved.is_file() {
            job.set_stage("load image");
            self.load_image(&saved).await?;
        } else if !self.inner.docker.image_exists(&image, &restore.version).await? {
            job.set_stage("fetch image");
            let dir = store.as_ref().map(|s| s.path.clone()).ok_or_else(|| errors::detached(slug))?;
            let arch = Self::arch(&system.config);
            self.fetch_image(slug, &dir, &system.config, &arch, &image, job).await?;
        }
        self.inner.file.update(|file| {
            file.user.insert(slug.to_owned(), user);
            file.system.insert(slug.to_owned(), system);
        })?;
        base::fs::ensure_real_dir(&self.data_dir(slug)?)
            .map_err(|e| errors::unknown(slug, format!("can't create its data folder: {e}")))?;
        if restore.staged.join("apparmor.txt").is_file() {
            if let Err(e) = self.profiles().install(slug, &restore.staged).await {
                tracing::error!(addon = slug, "Can't restore AppArmor profile for app {slug}: {}", e.message);
            }
        }
        tracing::info!(addon = slug, version = %restore.version, "restored");
        if restore.started {
            self.start_container(slug).await?;
        }
        Ok(())
    }

    /// Runs `command` in the add-on's container; a non-zero exit is an error.
    async fn exec(&self, slug: &str, command: &str) -> Result<(), Error> {
        let client = self.inner.docker.client()?;
        let failed = |e: bollard::errors::Error| errors::unknown(slug, format!("can't run '{command}': {e}"));
        let options = CreateExecOptions::<String> {
            cmd: Some(vec!["/bin/sh".into(), "-c".into(), command.into()]),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec = client.create_exec(&self.container_name(slug), options).await.map_err(failed)?;
        if let StartExecResults::Attached { mut output, .. } =
            client.start_exec(&exec.id, None).await.map_err(failed)?
        {
            while let Some(chunk) = output.next().await {
                tracing::debug!(addon = slug, "{command}: {}", chunk.map_err(failed)?);
            }
        }
        let code = client.inspect_exec(&exec.id).await.map_err(failed)?.exit_code.unwrap_or(0);
        if code != 0 {
            return Err(Error::invalid(format!("Pre-/Post backup command returned error code: {code}")));
        }
        Ok(())
    }

    /// Saves `tag` (`docker save`) into `path`.
    async fn save_image(&self, tag: &str, path: &Path) -> Result<(), Error> {
        let client = self.inner.docker.client()?;
        let failed = |e: String| Error::internal(format!("can't save the image {tag}: {e}"));
        let mut file = tokio::fs::File::create(path).await.map_err(|e| failed(e.to_string()))?;
        let mut stream = client.export_image(tag);
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.map_err(|e| failed(e.to_string()))?).await.map_err(|e| failed(e.to_string()))?;
        }
        file.flush().await.map_err(|e| failed(e.to_string()))
    }

    /// Loads a saved image (`docker load`) from `path`.
    async fn load_image(&self, path: &Path) -> Result<(), Error> {
        let client = self.inner.docker.client()?;
        let failed = |e: String| Error::internal(format!("can't load the image from the backup: {e}"));
        let file = tokio::fs::File::open(path).await.map_err(|e| failed(e.to_string()))?;
        let body = tokio_util::io::ReaderStream::new(file).map_ok(bytes::Bytes::from);
        let options = bollard::query_parameters::ImportImageOptionsBuilder::default().quiet(true).build();
        let mut progress = client.import_image_stream(options, body, None);
        while let Some(step) = progress.next().await {
            let step = step.map_err(|e| failed(e.to_string()))?;
            if let Some(error) = step.error_detail.and_then(|d| d.message) {
                return Err(failed(error));
            }
        }
        Ok(())
    }
}
