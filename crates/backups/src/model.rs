//! `backup.json`: what a backup holds, in the real Supervisor's schema (version 2), read from
//! backups made by either supervisor. Keys we do not know are kept as they are.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

/// The member that describes a backup; old backups call it `snapshot.json`.
pub const META: &str = "./backup.json";
pub const LEGACY_META: &str = "./snapshot.json";

/// The folders a backup can hold, as the API names them.
pub const FOLDERS: [&str; 4] = ["share", "addons/local", "ssl", "media"];
/// `homeassistant` is accepted among the folders and means the Home Assistant configuration.
pub const HOMEASSISTANT_FOLDER: &str = "homeassistant";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackupType {
    Full,
    Partial,
}

/// The contents of `backup.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupMeta {
    pub slug: String,
    #[serde(default = "version_one")]
    pub version: u32,
    pub name: String,
    pub date: String,
    #[serde(rename = "type")]
    pub kind: BackupType,
    #[serde(default = "old_supervisor")]
    pub supervisor_version: String,
    #[serde(default)]
    pub extra: Map<String, Value>,
    #[serde(default = "yes")]
    pub compressed: bool,
    #[serde(default, deserialize_with = "protected")]
    pub protected: bool,
    /// `aes128` in backups of older Supervisors; gone since SecureTar v3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crypto: Option<String>,
    #[serde(default)]
    pub homeassistant: Option<HomeAssistantEntry>,
    #[serde(default = "no_registries")]
    pub docker: Value,
    #[serde(default)]
    pub folders: Vec<String>,
    #[serde(default)]
    pub addons: Vec<AddonEntry>,
    #[serde(default)]
    pub repositories: Vec<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddonEntry {
    pub slug: String,
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub size: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HomeAssistantEntry {
    pub version: Option<String>,
    #[serde(default)]
    pub exclude_database: bool,
    #[serde(default)]
    pub size: f64,
}

fn version_one() -> u32 {
    1
}

fn old_supervisor() -> String {
    "2022.08.3".into()
}

fn yes() -> bool {
    true
}

fn no_registries() -> Value {
    serde_json::json!({"registries": {}})
}

/// Old backups wrote the password hint as a string in `protected`: any string means protected.
fn protected<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Bool(protected) => protected,
        Value::String(_) => true,
        _ => false,
    })
}

impl BackupMeta {
    /// Parses and checks a `backup.json`; the message says what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<BackupMeta, String> {
        let mut meta: BackupMeta = serde_json::from_slice(bytes).map_err(|e| format!("invalid backup.json: {e}"))?;
        if !(1..=2).contains(&meta.version) {
            return Err(format!("unsupported backup version {}", meta.version));
        }
        if !is_slug(&meta.slug) {
            return Err(format!("invalid backup slug '{}'", meta.slug));
        }
        // Add-on slugs and folders become paths on the host at restore.
        if let Some(addon) = meta.addons.iter().find(|addon| !is_addon_slug(&addon.slug)) {
            return Err(format!("invalid add-on slug '{}' in backup.json", addon.slug.escape_debug()));
        }
        let mut seen = std::collections::HashSet::new();
        if !meta.addons.iter().all(|addon| seen.insert(addon.slug.clone())) {
            return Err("Invalid addon list in backup!".into());
        }
        // Version 1 listed the configuration among the folders.
        meta.folders.retain(|folder| folder != HOMEASSISTANT_FOLDER);
        if let Some(folder) = meta.folders.iter().find(|folder| !FOLDERS.contains(&folder.as_str())) {
            return Err(format!("invalid folder '{}' in backup.json", folder.escape_debug()));
        }
        Ok(meta)
    }

    /// The inner archive holding `part` (an add-on slug, `homeassistant` or a folder) in a
    /// backup we write: zstd when compressed.
    pub fn member_name(&self, part: &str) -> String {
        let stem = part.replace('/', "_");
        if self.compressed {
            format!("./{stem}.tar.zst")
        } else {
            format!("./{stem}.tar")
        }
    }
}

/// The names an inner archive may have, ours and the Python Supervisor's.
pub fn member_candidates(part: &str) -> [String; 3] {
    let stem = part.replace('/', "_");
    [format!("./{stem}.tar.zst"), format!("./{stem}.tar.gz"), format!("./{stem}.tar")]
}

/// A backup slug: what the real Supervisor derives (8 hex digits of SHA-1), or anything a file
/// name can safely carry.
pub fn is_slug(slug: &str) -> bool {
    !slug.is_empty() && slug.len() <= 64 && slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// An add-on slug, in the grammar of the add-on configuration (`^[-_.A-Za-z0-9]+$`), and never
/// `.` or `..`, which that grammar lets through but no path may carry.
pub fn is_addon_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug != "."
        && slug != ".."
        && slug.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The slug of a new backup: the first 8 hex digits of SHA-1 over `"<date> - <name>"` lowercased.
pub fn create_slug(date: &str, name: &str) -> String {
    let digest = Sha1::digest(format!("{date} - {name}").to_lowercase().as_bytes());
    digest.iter().take(4).map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_is_sha1_of_date_and_name() {
        // sha1("2020-09-30t20:25:34.273z - awesome") computed independently with sha1sum.
        let slug = create_slug("2020-09-30T20:25:34.273Z", "Awesome");
        assert_eq!(slug, "4408e3f8");
        assert_eq!(slug, create_slug("2020-09-30t20:25:34.273z", "AWESOME"));
    }

    #[test]
    fn reads_a_python_supervisor_backup_json() {
        let json = br#"{"slug":"a1b2c3d4","version":2,"name":"Full","date":"2025-01-02T03:04:05.123456+00:00",
            "type":"full","supervisor_version":"2025.01.0","extra":{},"compressed":true,"protected":true,
            "crypto":"aes128","homeassistant":{"version":"2025.1.0","exclude_database":false,"size":0.0},
            "docker":{"registries":{}},"folders":["share","ssl"],"addons":[{"slug":"core_ssh","name":"SSH","version":"9.0","size":0.0}],
            "repositories":["https://github.com/hassio-addons/repository"],"unknown_key":1}"#;
        let meta = BackupMeta::parse(json).unwrap();
        assert!(meta.protected);
        assert_eq!(meta.addons[0].slug, "core_ssh");
        assert_eq!(meta.other["unknown_key"], 1);
        let again: Value = serde_json::to_value(&meta).unwrap();
        assert_eq!(again["unknown_key"], 1);
        assert_eq!(again["type"], "full");
    }

    #[test]
    fn refuses_bad_metadata() {
        assert!(BackupMeta::parse(b"not json").unwrap_err().contains("invalid backup.json"));
        let dup = br#"{"slug":"abc","name":"n","date":"d","type":"partial","addons":[
            {"slug":"a","name":"A","version":"1"},{"slug":"a","name":"A","version":"1"}]}"#;
        assert_eq!(BackupMeta::parse(dup).unwrap_err(), "Invalid addon list in backup!");
        let slug = br#"{"slug":"../x","name":"n","date":"d","type":"partial"}"#;
        assert!(BackupMeta::parse(slug).unwrap_err().contains("slug"));
    }

    #[test]
    fn refuses_addon_slugs_and_folders_that_are_not_names() {
        for bad in ["/etc", "..", ".", "../../etc", "a/b", "", "a b", "a\\b"] {
            let json = serde_json::json!({"slug":"abc","name":"n","date":"d","type":"partial",
                "addons":[{"slug":bad,"name":"A","version":"1"}]});
            let error = BackupMeta::parse(json.to_string().as_bytes()).unwrap_err();
            assert!(
                error.contains("invalid add-on slug") && error.contains(&bad.escape_debug().to_string()),
                "{error}"
            );
        }
        for bad in ["..", "/etc", "share/..", "backup"] {
            let json = serde_json::json!({"slug":"abc","name":"n","date":"d","type":"partial","folders":[bad]});
            let error = BackupMeta::parse(json.to_string().as_bytes()).unwrap_err();
            assert!(error.contains("invalid folder"), "{error}");
        }
        let good =
            br#"{"slug":"abc","name":"n","date":"d","type":"full","folders":["share","addons/local","homeassistant"],
            "addons":[{"slug":"local_my.addon-1","name":"A","version":"1"}]}"#;
        assert_eq!(BackupMeta::parse(good).unwrap().folders, ["share", "addons/local"]);
    }
}
