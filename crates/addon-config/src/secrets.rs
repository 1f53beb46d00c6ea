//! Home Assistant's `secrets.yaml`, which `!secret <name>` values of add-on options name: read
//! as the real Supervisor reads it (a mapping; only its booleans, numbers and strings count),
//! and the stored form of options, which keeps the references rather than the secrets.

use serde_json::{Map, Value};
use std::path::Path;

/// The secrets of the file at `path`; none when it is missing or not a mapping. Never logs a
/// value.
pub fn load_secrets(path: &Path) -> Map<String, Value> {
    if !path.is_file() {
        tracing::debug!("Home Assistant secrets.yaml does not exist");
        return Map::new();
    }
    match crate::files::read(path) {
        Ok(Value::Object(secrets)) => {
            secrets.into_iter().filter(|(_, v)| v.is_boolean() || v.is_number() || v.is_string()).collect()
        }
        Ok(_) => Map::new(),
        Err(e) => {
            tracing::warn!("Can't read Home Assistant secrets: {e}");
            Map::new()
        }
    }
}

/// `validated` (options validated from `given`) with each `!secret <name>` value of `given` in
/// place of the secret it was resolved to, so that what is stored and shown names the secret.
pub fn keep_secret_references(given: &Value, validated: Value) -> Value {
    match (given, validated) {
        (Value::String(s), _) if s.starts_with("!secret ") => given.clone(),
        (Value::Object(given), Value::Object(validated)) => Value::Object(
            validated
                .into_iter()
                .map(|(key, value)| {
                    let value = match given.get(&key) {
                        Some(given) => keep_secret_references(given, value),
                        None => value,
                    };
                    (key, value)
                })
                .collect(),
        ),
        (Value::Array(given), Value::Array(validated)) if given.len() == validated.len() => Value::Array(
            given.iter().zip(validated).map(|(given, value)| keep_secret_references(given, value)).collect(),
        ),
        (_, validated) => validated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_scalars_of_a_mapping_are_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yaml");
        assert!(load_secrets(&path).is_empty());
        std::fs::write(&path, "db: hunter2\nport: 3306\non: true\nlist: [1]\nmap: {a: 1}\n").unwrap();
        assert_eq!(Value::Object(load_secrets(&path)), json!({"db": "hunter2", "port": 3306, "on": true}));
        std::fs::write(&path, "- a\n").unwrap();
        assert!(load_secrets(&path).is_empty());
        std::fs::write(&path, "a: [\n").unwrap();
        assert!(load_secrets(&path).is_empty());
    }

    #[test]
    fn references_are_kept_where_they_were_given() {
        let given = json!({"user": "me", "pass": "!secret db", "count": "5",
            "nested": {"key": "!secret key"}, "list": ["!secret a", "b"]});
        let validated = json!({"user": "me", "pass": "hunter2", "count": 5,
            "nested": {"key": "k"}, "list": ["x", "b"]});
        assert_eq!(
            keep_secret_references(&given, validated),
            json!({"user": "me", "pass": "!secret db", "count": 5,
                "nested": {"key": "!secret key"}, "list": ["!secret a", "b"]})
        );
    }
}
