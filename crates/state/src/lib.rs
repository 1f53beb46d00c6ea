//! The embedded database every domain keeps its configuration and records in.
//!
//! Domain code sees [`Store`] and [`Section`] only: typed values (JSON-encoded) under string keys
//! in one named section per domain. sled is the engine today; nothing outside this crate names
//! it. Every write is flushed to disk before it returns, so a write the API acknowledged
//! survives a kill -9.
//!
//! The database holds tokens, so its folder is 0700 and its files 0600 whatever the umask:
//! sled creates files with the process umask (and more of them as it runs), so the modes are
//! set after opening and again after every write.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// A failure of the database itself: the disk, or a record that no longer decodes.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("database error: {0}")]
    Engine(#[from] sled::Error),
    #[error("record {key:?} in {section:?} does not decode: {source}")]
    Decode { section: String, key: String, source: serde_json::Error },
    #[error("value for {key:?} does not encode: {source}")]
    Encode { key: String, source: serde_json::Error },
    #[error("database folder: {0}")]
    Files(#[from] io::Error),
}

pub type Result<T> = std::result::Result<T, StateError>;

/// A database failure reaches an API client as a 500: it is never the request's fault.
impl From<StateError> for base::Error {
    fn from(e: StateError) -> Self {
        base::Error::internal(e.to_string())
    }
}

/// The open database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: Arc<PathBuf>,
}

impl Store {
    /// Opens (or creates) the database in directory `path`.
    pub fn open(path: &Path) -> Result<Store> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)?;
        let db = open_engine(path)?;
        protect(path)?;
        Ok(Store { db, path: Arc::new(path.to_owned()) })
    }

    /// The section named `name`; each domain uses its own.
    pub fn section(&self, name: &str) -> Result<Section> {
        Ok(Section { name: name.to_owned(), tree: self.db.open_tree(name)?, path: Arc::clone(&self.path) })
    }

    /// Flushes everything still buffered; called once more at shutdown.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        protect(&self.path)
    }
}

/// How long an open waits for the lock of a database that was just closed.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens sled on `path`. sled's I/O threads may hold the folder's lock for a moment after the
/// last handle of a closed database drops, so an open right after a close (a restart within
/// one process) retries a busy lock for a short, bounded while; a database another process
/// keeps open still fails, after that while.
fn open_engine(path: &Path) -> Result<sled::Db> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        // A small page cache: the records are tiny and the daemon runs on small boards. No
        // periodic flusher: every write flushes before it returns, so the flusher's thread would
        // only wake an idle daemon twice a second to find nothing to do.
        match sled::Config::new().path(path).cache_capacity(4 * 1024 * 1024).flush_every_ms(None).open() {
            Err(sled::Error::Io(e)) if lock_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

/// sled reports a lock another handle holds as an `Other` error naming the lock.
fn lock_busy(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.to_string().contains("could not acquire lock")
}

/// Makes `dir` and everything below it owner-only: folders 0700, files 0600. Links are left
/// alone (a chmod would follow them); an entry sled removes meanwhile is no error.
fn protect(dir: &Path) -> Result<()> {
    let ignore_gone = |result: io::Result<()>| match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    };
    ignore_gone(set_mode(dir, 0o700))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            protect(&entry.path())?;
        } else if kind.is_file() {
            ignore_gone(set_mode(&entry.path(), 0o600))?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_symlink() || meta.permissions().mode() & 0o7777 == mode {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// One domain's records.
#[derive(Clone)]
pub struct Section {
    name: String,
    tree: sled::Tree,
    path: Arc<PathBuf>,
}

impl Section {
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.tree.get(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|source| StateError::Decode {
                section: self.name.clone(),
                key: key.to_owned(),
                source,
            }),
        }
    }

    /// Stores `value` under `key` and waits until it is on disk.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|source| StateError::Encode { key: key.to_owned(), source })?;
        self.tree.insert(key, bytes)?;
        self.tree.flush()?;
        protect(&self.path)
    }

    /// Removes `key` and waits until the removal is on disk; true if it existed.
    pub fn remove(&self, key: &str) -> Result<bool> {
        let existed = self.tree.remove(key)?.is_some();
        self.tree.flush()?;
        protect(&self.path)?;
        Ok(existed)
    }

    /// Every record, in key order.
    pub fn entries<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>> {
        self.tree
            .iter()
            .map(|item| {
                let (key, bytes) = item?;
                let key = String::from_utf8_lossy(&key).into_owned();
                let value = serde_json::from_slice(&bytes).map_err(|source| StateError::Decode {
                    section: self.name.clone(),
                    key: key.clone(),
                    source,
                })?;
                Ok((key, value))
            })
            .collect()
    }
}

/// One record kept in memory for reads and on disk for restarts: the way every domain holds its
/// configuration. An update reaches the disk before memory changes, so what a reader sees was
/// always acknowledged by the database.
pub struct Persisted<T> {
    section: Section,
    key: &'static str,
    value: RwLock<T>,
}

impl<T: Serialize + DeserializeOwned + Clone + Default> Persisted<T> {
    /// Loads the record `key` of `section`, or the default when there is none yet.
    pub fn load(section: Section, key: &'static str) -> Result<Self> {
        let value = section.get(key)?.unwrap_or_default();
        Ok(Persisted { section, key, value: RwLock::new(value) })
    }

    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.value.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self) -> T {
        self.read().clone()
    }

    /// Applies `change` to a copy, stores it, then makes it current; answers the value before.
    /// Updates are serialized, so two never interleave.
    pub fn update(&self, change: impl FnOnce(&mut T)) -> Result<T> {
        let mut current = self.value.write().unwrap_or_else(|e| e.into_inner());
        let mut next = current.clone();
        change(&mut next);
        self.section.put(self.key, &next)?;
        Ok(std::mem::replace(&mut *current, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let section = store.section("supervisor").unwrap();
            section.put("config", &serde_json::json!({"debug": true})).unwrap();
            section.put("other", &5u32).unwrap();
            assert!(section.remove("other").unwrap());
        }
        let store = Store::open(dir.path()).unwrap();
        let section = store.section("supervisor").unwrap();
        let config: serde_json::Value = section.get("config").unwrap().unwrap();
        assert_eq!(config["debug"], true);
        assert_eq!(section.get::<u32>("other").unwrap(), None);
        assert_eq!(section.entries::<serde_json::Value>().unwrap().len(), 1);
    }

    #[test]
    fn a_database_reopens_at_once_after_its_close_many_times() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..50u32 {
            let store = Store::open(dir.path()).unwrap();
            let section = store.section("s").unwrap();
            assert_eq!(section.get::<u32>("n").unwrap(), n.checked_sub(1));
            section.put("n", &n).unwrap();
        }
    }

    #[test]
    fn a_database_another_handle_holds_is_an_error_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let _held = Store::open(dir.path()).unwrap();
        let started = std::time::Instant::now();
        assert!(Store::open(dir.path()).is_err());
        assert!(started.elapsed() >= LOCK_WAIT);
    }

    #[test]
    fn persisted_updates_reach_the_disk_and_answer_the_old_value() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let counter = Persisted::<u32>::load(store.section("s").unwrap(), "n").unwrap();
            assert_eq!(counter.get(), 0);
            assert_eq!(counter.update(|n| *n += 5).unwrap(), 0);
            assert_eq!(*counter.read(), 5);
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(Persisted::<u32>::load(store.section("s").unwrap(), "n").unwrap().get(), 5);
    }

    /// Every folder and file below `dir`, with its permission bits.
    fn modes(dir: &Path) -> Vec<(PathBuf, bool, u32)> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            found.push((path.clone(), meta.is_dir(), meta.permissions().mode() & 0o7777));
            if meta.is_dir() {
                found.extend(modes(&path));
            }
        }
        found
    }

    fn assert_owner_only(db: &Path) {
        assert_eq!(std::fs::metadata(db).unwrap().permissions().mode() & 0o7777, 0o700);
        let found = modes(db);
        assert!(found.iter().any(|(_, dir, _)| !dir), "sled wrote files: {found:?}");
        for (path, dir, mode) in found {
            assert_eq!(mode, if dir { 0o700 } else { 0o600 }, "{}", path.display());
        }
    }

    #[test]
    fn database_folder_and_files_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        // An older database, made before the modes were set, with world-readable files.
        {
            Store::open(&db).unwrap().section("s").unwrap().put("k", &1u32).unwrap();
        }
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o755)).unwrap();
        for (path, is_dir, _) in modes(&db) {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(if is_dir { 0o755 } else { 0o644 }))
                .unwrap();
        }
        let store = Store::open(&db).unwrap();
        assert_owner_only(&db);
        let section = store.section("s").unwrap();
        // Large values too, which sled may keep in files of their own.
        section.put("big", &"x".repeat(1 << 20)).unwrap();
        section.put("k", &2u32).unwrap();
        assert_owner_only(&db);
        section.remove("big").unwrap();
        store.flush().unwrap();
        assert_owner_only(&db);
        drop((section, store));
        Store::open(&db).unwrap();
        assert_owner_only(&db);
    }

    #[test]
    fn undecodable_record_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let section = Store::open(dir.path()).unwrap().section("s").unwrap();
        section.put("k", &"text").unwrap();
        let err = section.get::<u32>("k").unwrap_err().to_string();
        assert!(err.contains("\"k\""), "{err}");
    }
}
