//! Where a backup is: the backup folder, a backup mount, or Home Assistant's own `.cloud_backup`
//! folder. A backup found in several of them is one backup with a copy in each, as the real
//! Supervisor lists it: `locations` in order (the backup folder first, then by name, Core's folder
//! left out unless it is the only one), `location` the first of them.

use crate::file::BackupFile;
use crate::model::BackupMeta;
use serde_json::Value;
use std::collections::BTreeMap;

/// The name the API gives the backup folder (a `null` location).
pub const LOCAL: &str = ".local";
/// Core's own backup folder; only Core may name it.
pub const CLOUD_BACKUP: &str = ".cloud_backup";

/// A location: `None` is the backup folder, else a backup mount's name or [`CLOUD_BACKUP`].
pub type Location = Option<String>;

/// A location as the API names it: `""` and `.local` are the backup folder too.
pub fn parse(name: Option<String>) -> Location {
    name.filter(|name| !(name.is_empty() || name == LOCAL))
}

/// A location's key in `location_attributes`.
pub fn key(location: &Location) -> &str {
    location.as_deref().unwrap_or(LOCAL)
}

/// A location as the real Supervisor's messages print it (the backup folder is `None`).
pub fn shown(location: &Location) -> &str {
    location.as_deref().unwrap_or("None")
}

/// One backup, with its file in each location it was found in.
#[derive(Debug, Clone)]
pub struct Backup {
    copies: BTreeMap<Location, BackupFile>,
}

impl Backup {
    pub fn new(location: Location, file: BackupFile) -> Backup {
        Backup { copies: BTreeMap::from([(location, file)]) }
    }

    /// The locations the API lists: ordered, without Core's folder unless it is the only one.
    pub fn locations(&self) -> Vec<Location> {
        listed(self.copies.keys())
    }

    /// The first listed location: where the backup is read from unless told otherwise.
    pub fn location(&self) -> Location {
        self.locations().into_iter().next().flatten()
    }

    /// The file in the first listed location.
    pub fn file(&self) -> &BackupFile {
        &self.copies[&self.location()]
    }

    pub fn meta(&self) -> &BackupMeta {
        &self.file().meta
    }

    /// The file in `location`, if the backup is there.
    pub fn copy(&self, location: &Location) -> Option<&BackupFile> {
        self.copies.get(location)
    }

    /// Every location with its file, Core's folder included.
    pub fn copies(&self) -> impl Iterator<Item = (&Location, &BackupFile)> {
        self.copies.iter()
    }

    /// Adds the copy of this backup found in `location`; refused when it is another backup
    /// under the same slug. A second file in a location the backup is known in is ignored.
    pub fn consolidate(&mut self, location: Location, file: BackupFile) -> Result<(), String> {
        if let Some(field) = differing_field(self.meta(), &file.meta) {
            return Err(format!(
                "Cannot consolidate backups in {} and {} with slug {} because field {field} has different values",
                shown(&location),
                shown(&self.location()),
                self.meta().slug
            ));
        }
        if self.copies.contains_key(&location) {
            tracing::warn!(
                "Backup {} exists in two files in location {}. Ignoring {}",
                self.meta().slug,
                shown(&location),
                file.path.display()
            );
            return Ok(());
        }
        self.copies.insert(location, file);
        Ok(())
    }

    /// Forgets the copy in `location`; answers whether any copy is left.
    pub fn forget(&mut self, location: &Location) -> bool {
        self.copies.remove(location);
        !self.copies.is_empty()
    }
}

/// The listed order of `locations`: the backup folder first, then by name; Core's folder only
/// when it is the sole location.
fn listed<'a>(locations: impl Iterator<Item = &'a Location>) -> Vec<Location> {
    let all: Vec<Location> = locations.cloned().collect();
    if all.len() == 1 {
        return all;
    }
    let mut shown: Vec<Location> = all.into_iter().filter(|l| l.as_deref() != Some(CLOUD_BACKUP)).collect();
    shown.sort();
    shown
}

/// The first field in which two `backup.json` differ, besides whether they are encrypted (a copy
/// may be) and the registries: two such files are not copies of one backup.
fn differing_field(a: &BackupMeta, b: &BackupMeta) -> Option<String> {
    let as_map = |meta: &BackupMeta| match serde_json::to_value(meta) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (a, b) = (as_map(a), as_map(b));
    let ignored = |key: &str| matches!(key, "protected" | "docker" | "crypto");
    a.keys().chain(b.keys()).find(|key| !ignored(key) && a.get(*key) != b.get(*key)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[Option<&str>]) -> Vec<Location> {
        list.iter().map(|l| l.map(str::to_owned)).collect()
    }

    #[test]
    fn locations_are_listed_local_first_then_by_name_without_core_unless_alone() {
        let all = names(&[Some("nas"), Some(CLOUD_BACKUP), None, Some("backup_b")]);
        assert_eq!(listed(all.iter()), names(&[None, Some("backup_b"), Some("nas")]));
        assert_eq!(listed(names(&[Some(CLOUD_BACKUP)]).iter()), names(&[Some(CLOUD_BACKUP)]));
        assert_eq!(listed(names(&[Some(CLOUD_BACKUP), Some("nas")]).iter()), names(&[Some("nas")]));
    }

    #[test]
    fn the_api_names_the_backup_folder_three_ways() {
        assert_eq!(parse(None), None);
        assert_eq!(parse(Some(String::new())), None);
        assert_eq!(parse(Some(LOCAL.into())), None);
        assert_eq!(parse(Some("nas".into())), Some("nas".into()));
        assert_eq!((key(&None), shown(&None)), (LOCAL, "None"));
    }

    #[test]
    fn copies_differ_only_in_protection() {
        let meta = |json: &str| BackupMeta::parse(json.as_bytes()).unwrap();
        let a = meta(r#"{"slug":"abc","name":"n","date":"d","type":"partial","protected":false}"#);
        let encrypted = meta(r#"{"slug":"abc","name":"n","date":"d","type":"partial","protected":true}"#);
        let renamed = meta(r#"{"slug":"abc","name":"other","date":"d","type":"partial"}"#);
        let extra = meta(r#"{"slug":"abc","name":"n","date":"d","type":"partial","unknown":1}"#);
        assert_eq!(differing_field(&a, &encrypted), None);
        assert_eq!(differing_field(&a, &renamed).as_deref(), Some("name"));
        assert_eq!(differing_field(&a, &extra).as_deref(), Some("unknown"));
    }
}
