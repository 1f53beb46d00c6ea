//! `translations/<lang>.yaml|yml|json`: the names and descriptions of an add-on's options and
//! ports in one language. Unknown keys are dropped and an invalid file is skipped, as upstream.

use crate::files::{self, SUFFIXES};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Translations in `dir/translations/*.yaml|yml|json`, keyed by language (the file stem).
/// When one language has several files, the first suffix of yaml, yml, json wins.
pub fn load_translations(dir: &Path) -> BTreeMap<String, Value> {
    let Ok(entries) = std::fs::read_dir(dir.join("translations")) else {
        return BTreeMap::new();
    };
    let mut candidates: Vec<(String, usize, std::path::PathBuf)> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .filter_map(|path| {
            let suffix = path.extension()?.to_str()?;
            let rank = SUFFIXES.iter().position(|s| *s == suffix)?;
            let stem = path.file_stem()?.to_str()?.to_string();
            Some((stem, rank, path))
        })
        .collect();
    candidates.sort();
    let mut translations = BTreeMap::new();
    for (language, _, path) in candidates {
        if translations.contains_key(&language) {
            continue;
        }
        match files::read(&path)
            .and_then(|value| translation(&value).map_err(|e| crate::ConfigError(format!("{}: {e}", path.display()))))
        {
            Ok(value) => {
                translations.insert(language, value);
            }
            Err(e) => tracing::warn!("Can't read translations from {} - {e}", path.display()),
        }
    }
    translations
}

/// `SCHEMA_APP_TRANSLATIONS`: `configuration` (option → entry) and `network` (port → text).
fn translation(value: &Value) -> Result<Value, String> {
    let Value::Object(map) = value else {
        return Err("a translation must be a mapping".into());
    };
    let mut out = Map::new();
    if let Some(configuration) = map.get("configuration") {
        out.insert("configuration".into(), entries(configuration, "configuration")?);
    }
    if let Some(network) = map.get("network") {
        let Value::Object(ports) = network else {
            return Err("key 'network': expected a mapping".into());
        };
        for (port, text) in ports {
            if !text.is_string() {
                return Err(format!("key 'network.{port}': expected a string"));
            }
        }
        out.insert("network".into(), network.clone());
    }
    Ok(Value::Object(out))
}

/// `{option: {name: str, description: str | null, fields: {...same...}}}`.
fn entries(value: &Value, key: &str) -> Result<Value, String> {
    let Value::Object(options) = value else {
        return Err(format!("key '{key}': expected a mapping"));
    };
    let mut out = Map::new();
    for (option, entry) in options {
        let here = format!("{key}.{option}");
        let Value::Object(fields) = entry else {
            return Err(format!("key '{here}': expected a mapping"));
        };
        let mut clean = Map::new();
        match fields.get("name") {
            Some(name @ Value::String(_)) => clean.insert("name".into(), name.clone()),
            _ => return Err(format!("key '{here}.name': expected a string")),
        };
        match fields.get("description") {
            None => {}
            Some(d @ (Value::String(_) | Value::Null)) => {
                clean.insert("description".into(), d.clone());
            }
            Some(_) => return Err(format!("key '{here}.description': expected a string")),
        }
        if let Some(nested) = fields.get("fields") {
            clean.insert("fields".into(), entries(nested, &format!("{here}.fields"))?);
        }
        out.insert(option.clone(), Value::Object(clean));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loads_valid_files_and_skips_invalid_ones() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_translations(dir.path()).is_empty());
        let folder = dir.path().join("translations");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(
            folder.join("en.yaml"),
            concat!(
                "configuration:\n",
                "  user:\n    name: User\n    description: Who\n    extra: dropped\n",
                "  nested:\n    name: Nested\n    fields:\n      inner:\n        name: Inner\n",
                "network:\n  80/tcp: Web\n",
                "other: dropped\n"
            ),
        )
        .unwrap();
        std::fs::write(folder.join("en.json"), r#"{"network": {}}"#).unwrap();
        std::fs::write(folder.join("de.json"), r#"{"configuration": {"x": {}}}"#).unwrap();
        std::fs::write(folder.join("fr.yaml"), "network: [").unwrap();
        std::fs::write(folder.join("README.md"), "not a translation").unwrap();
        let translations = load_translations(dir.path());
        assert_eq!(translations.keys().collect::<Vec<_>>(), ["en"]);
        assert_eq!(
            translations["en"],
            json!({
                "configuration": {
                    "user": {"name": "User", "description": "Who"},
                    "nested": {"name": "Nested", "fields": {"inner": {"name": "Inner"}}}
                },
                "network": {"80/tcp": "Web"}
            })
        );
    }

    #[test]
    fn rejects_wrong_shapes() {
        assert!(translation(&json!({"network": {"80": 1}})).is_err());
        assert!(translation(&json!({"configuration": {"a": {"name": "A", "description": 3}}})).is_err());
        assert!(translation(&json!({"configuration": {"a": {"name": "A", "fields": []}}})).is_err());
        assert!(translation(&json!([])).is_err());
        assert_eq!(
            translation(&json!({"configuration": {"a": {"name": "A", "description": null}}})).unwrap(),
            json!({"configuration": {"a": {"name": "A", "description": null}}})
        );
    }
}
