//! `build.yaml`: base images, build arguments and labels of a locally built add-on.
//!
//! The Supervisor deprecated the file in 2026.04 (the Dockerfile says it all) but still reads
//! it. Unknown keys are dropped as upstream (`squash` and the old `codenotary` among them).

use crate::config::ARCHS;
use crate::{files, ConfigError};
use regex::Regex;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

/// The base image when `build.yaml` exists but names none.
const DEFAULT_BASE_IMAGE: &str = "ghcr.io/home-assistant/base:latest";

/// `RE_DOCKER_IMAGE_BUILD`: an image name, a tag allowed, `{arch}` placeholders too. Upstream
/// requires a `/`; here a bare name (`alpine:3.20`, the test base `supervisor-test-base:latest`)
/// is accepted too, as Docker accepts it.
static RE_DOCKER_IMAGE_BUILD: LazyLock<Regex> =
    LazyLock::new(|| crate::python_regex(r"^(?:([a-zA-Z\-\.:\d{}]+/)*?([\-\w{}]+)/)?([\-\w{}]+)(:[\.\-\w{}]+)?$"));

/// A validated `build.yaml`. `Default` is a file with no keys (what upstream falls back to
/// when the file does not validate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildConfig {
    /// arch → base image; a single string in the file applies to every arch.
    pub build_from: BTreeMap<String, String>,
    pub args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

impl BuildConfig {
    /// Finds build.yaml|yml|json in `dir` and validates it. Ok(None) if there is no build file
    /// (then the Dockerfile must name its base itself and no `BUILD_FROM` is passed).
    pub fn load(dir: &Path) -> Result<Option<BuildConfig>, ConfigError> {
        let Some(path) = files::find(dir, "build") else {
            return Ok(None);
        };
        let value = files::read(&path)?;
        BuildConfig::from_value(&value).map(Some).map_err(|e| ConfigError(format!("{}: {e}", files::file_name(&path))))
    }

    fn from_value(value: &Value) -> Result<BuildConfig, String> {
        let Value::Object(map) = value else {
            return Err("a build config must be a mapping".into());
        };
        let build_from = match map.get("build_from") {
            None => BTreeMap::new(),
            Some(Value::String(image)) => {
                check_image("build_from", image)?;
                ARCHS.iter().map(|arch| (arch.to_string(), image.clone())).collect()
            }
            Some(Value::Object(per_arch)) => {
                let mut images = BTreeMap::new();
                for (arch, image) in per_arch {
                    if !ARCHS.contains(&arch.as_str()) {
                        return Err(format!("key 'build_from': '{arch}' is not one of {}", ARCHS.join(", ")));
                    }
                    let key = format!("build_from.{arch}");
                    let image = image.as_str().ok_or_else(|| format!("key '{key}': expected a string"))?;
                    check_image(&key, image)?;
                    images.insert(arch.clone(), image.to_string());
                }
                images
            }
            Some(_) => return Err("key 'build_from': expected an image or a mapping of arch to image".into()),
        };
        // `squash` is ignored (BuildKit cannot squash) but must still be a boolean.
        if let Some(squash) = map.get("squash") {
            base::pyval::boolean(squash).ok_or("key 'squash': expected boolean")?;
        }
        Ok(BuildConfig { build_from, args: string_map(map, "args")?, labels: string_map(map, "labels")? })
    }

    /// The image `BUILD_FROM` names for `arch`: the file's entry, the default base image when
    /// the file names none, `None` when the file lists other arches only.
    pub fn base_image(&self, arch: &str) -> Option<String> {
        if self.build_from.is_empty() {
            return Some(DEFAULT_BASE_IMAGE.to_string());
        }
        self.build_from.get(arch).cloned()
    }
}

fn check_image(key: &str, image: &str) -> Result<(), String> {
    if RE_DOCKER_IMAGE_BUILD.is_match(image) {
        Ok(())
    } else {
        Err(format!("key '{key}': '{image}' is not a Docker image name"))
    }
}

/// A `{str: str}` key.
fn string_map(map: &Map<String, Value>, key: &str) -> Result<BTreeMap<String, String>, String> {
    match map.get(key) {
        None => Ok(BTreeMap::new()),
        Some(Value::Object(entries)) => entries
            .iter()
            .map(|(name, value)| match value {
                Value::String(text) => Ok((name.clone(), text.clone())),
                other => Err(format!("key '{key}.{name}': expected a string, got {other}")),
            })
            .collect(),
        Some(_) => Err(format!("key '{key}': expected a mapping")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_image_applies_to_every_arch() {
        let build = BuildConfig::from_value(&json!({
            "build_from": "ghcr.io/home-assistant/base:3.20",
            "args": {"A": "1"},
            "labels": {"l": "v"},
            "squash": false,
            "codenotary": {"signer": "x"}
        }))
        .unwrap();
        for arch in ARCHS {
            assert_eq!(build.base_image(arch).as_deref(), Some("ghcr.io/home-assistant/base:3.20"));
        }
        assert_eq!(build.args["A"], "1");
        assert_eq!(build.labels["l"], "v");
    }

    #[test]
    fn per_arch_images_and_defaults() {
        let build = BuildConfig::from_value(&json!({
            "build_from": {"amd64": "supervisor-test-base:latest"}
        }))
        .unwrap();
        assert_eq!(build.base_image("amd64").as_deref(), Some("supervisor-test-base:latest"));
        assert_eq!(build.base_image("aarch64"), None);
        let empty = BuildConfig::from_value(&json!({})).unwrap();
        assert_eq!(empty.base_image("amd64").as_deref(), Some("ghcr.io/home-assistant/base:latest"));
        assert_eq!(empty, BuildConfig::default());
    }

    #[test]
    fn a_base_image_written_as_a_yaml_block_is_read_as_in_python() {
        let build =
            BuildConfig::from_value(&json!({"build_from": {"amd64": "ghcr.io/home-assistant/amd64-base:3.20\n"}}));
        assert!(build.is_ok(), "{build:?}");
        assert!(BuildConfig::from_value(&json!({"build_from": "a/b\n\n"})).is_err());
    }

    #[test]
    fn invalid_build_files_are_errors() {
        let bad = [
            (json!({"build_from": {"sparc": "a/b"}}), "'sparc' is not one of"),
            (json!({"build_from": "not an image"}), "is not a Docker image"),
            (json!({"build_from": 5}), "key 'build_from'"),
            (json!({"args": {"A": 1}}), "key 'args.A': expected a string"),
            (json!({"labels": []}), "key 'labels': expected a mapping"),
            (json!({"squash": "maybe"}), "key 'squash'"),
            (json!([]), "must be a mapping"),
        ];
        for (value, message) in bad {
            let err = BuildConfig::from_value(&value).unwrap_err();
            assert!(err.contains(message), "{value}: {err}");
        }
    }

    #[test]
    fn loads_from_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(BuildConfig::load(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join("build.yaml"), "build_from:\n  amd64: supervisor-test-base:latest\n").unwrap();
        let build = BuildConfig::load(dir.path()).unwrap().unwrap();
        assert_eq!(build.build_from.len(), 1);
        std::fs::write(dir.path().join("build.yaml"), "args: {A: [1]}\n").unwrap();
        let err = BuildConfig::load(dir.path()).unwrap_err();
        assert!(err.0.starts_with("build.yaml: key 'args.A'"), "{err}");
    }
}
