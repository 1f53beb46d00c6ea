//! `repository.yaml`: the name, url and maintainer of an add-on repository, at its root.
//! Unknown keys are dropped as upstream; a missing `name` makes the repository invalid.

use crate::{files, ConfigError};
use serde_json::Value;
use std::path::Path;

/// A validated `repository.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryConfig {
    pub name: String,
    pub url: Option<String>,
    pub maintainer: Option<String>,
}

impl RepositoryConfig {
    /// Finds repository.yaml|yml|json in `dir` and validates it. Ok(None) if there is none.
    pub fn load(dir: &Path) -> Result<Option<RepositoryConfig>, ConfigError> {
        let Some(path) = files::find(dir, "repository") else {
            return Ok(None);
        };
        let value = files::read(&path)?;
        RepositoryConfig::from_value(&value)
            .map(Some)
            .map_err(|e| ConfigError(format!("{}: {e}", files::file_name(&path))))
    }

    fn from_value(value: &Value) -> Result<RepositoryConfig, String> {
        let Value::Object(map) = value else {
            return Err("a repository config must be a mapping".into());
        };
        let text = |key: &str| -> Result<Option<String>, String> {
            match map.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!("key '{key}': expected a string, got {other}")),
            }
        };
        let name = text("name")?.ok_or("missing required key 'name'")?;
        let url = text("url")?;
        if let Some(url) = &url {
            if !crate::config::is_url(url) {
                return Err(format!("key 'url': '{url}' is not a URL with a scheme and a host"));
            }
        }
        Ok(RepositoryConfig { name, url, maintainer: text("maintainer")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_name_url_and_maintainer() {
        let repo = RepositoryConfig::from_value(&json!({
            "name": "Example", "url": "https://example.com/repo", "maintainer": "me", "extra": 1
        }))
        .unwrap();
        assert_eq!(
            repo,
            RepositoryConfig {
                name: "Example".into(),
                url: Some("https://example.com/repo".into()),
                maintainer: Some("me".into()),
            }
        );
        let minimal = RepositoryConfig::from_value(&json!({"name": "Only"})).unwrap();
        assert_eq!((minimal.url, minimal.maintainer), (None, None));
    }

    #[test]
    fn rejects_invalid_repositories() {
        let bad = [
            (json!({"url": "https://example.com"}), "missing required key 'name'"),
            (json!({"name": 5}), "key 'name': expected a string"),
            (json!({"name": "x", "url": "example.com"}), "key 'url'"),
            (json!({"name": "x", "maintainer": []}), "key 'maintainer'"),
            (json!("name"), "must be a mapping"),
        ];
        for (value, message) in bad {
            let err = RepositoryConfig::from_value(&value).unwrap_err();
            assert!(err.contains(message), "{value}: {err}");
        }
    }

    #[test]
    fn loads_from_a_folder_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RepositoryConfig::load(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join("repository.json"), r#"{"name": "J"}"#).unwrap();
        assert_eq!(RepositoryConfig::load(dir.path()).unwrap().unwrap().name, "J");
        std::fs::write(dir.path().join("repository.yaml"), "maintainer: me\n").unwrap();
        let err = RepositoryConfig::load(dir.path()).unwrap_err();
        assert_eq!(err.0, "repository.yaml: missing required key 'name'");
    }
}
