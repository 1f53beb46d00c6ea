//! The embedded database every domain keeps its configuration and records in.
//!
//! Domain code sees [`Store`] and [`Section`] only: typed values (JSON-encoded) under string keys
//! in one named section per domain. sled is the engine today; nothing outside this crate names
//! it. Every write is flushed to disk before it returns, so a write the API acknowledged
//! survives a kill -9.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// A failure of the database itself: the disk, or a record that no longer decodes.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("database error: {0}")]
    Engine(#[from] sled::Error),
    #[error("record {key:?} in {section:?} does not decode: {source}")]
    Decode { section: String, key: String, source: serde_json::Error },
    #[error("value for {key:?} does not encode: {source}")]
    Encode { key: String, source: serde_json::Error },
}

pub type Result<T> = std::result::Result<T, StateError>;

/// The open database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
}

impl Store {
    /// Opens (or creates) the database in directory `path`.
    pub fn open(path: &Path) -> Result<Store> {
        // A small page cache: the records are tiny and the daemon runs on small boards.
        let db = sled::Config::new().path(path).cache_capacity(4 * 1024 * 1024).open()?;
        Ok(Store { db })
    }

    /// The section named `name`; each domain uses its own.
    pub fn section(&self, name: &str) -> Result<Section> {
        Ok(Section { name: name.to_owned(), tree: self.db.open_tree(name)? })
    }

    /// Flushes everything still buffered; called once more at shutdown.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }
}

/// One domain's records.
#[derive(Clone)]
pub struct Section {
    name: String,
    tree: sled::Tree,
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
        Ok(())
    }

    /// Removes `key` and waits until the removal is on disk; true if it existed.
    pub fn remove(&self, key: &str) -> Result<bool> {
        let existed = self.tree.remove(key)?.is_some();
        self.tree.flush()?;
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
    fn undecodable_record_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let section = Store::open(dir.path()).unwrap().section("s").unwrap();
        section.put("k", &"text").unwrap();
        let err = section.get::<u32>("k").unwrap_err().to_string();
        assert!(err.contains("\"k\""), "{err}");
    }
}
