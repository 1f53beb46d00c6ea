//! Finding and reading the repository's YAML/JSON files into JSON values.
//!
//! Every file of the format may be `.yaml`, `.yml` or `.json` (the Supervisor's
//! `FILE_SUFFIX_CONFIGURATION`, looked up in that order). YAML is read into a JSON value so that
//! validation has one value model; mapping keys that are numbers or booleans become their text,
//! since JSON keys are strings. The Supervisor's loader is YAML 1.1, where a bare `yes`/`on` is a
//! boolean; here (YAML 1.2) it stays a word, which every boolean in the format accepts anyway.

use crate::ConfigError;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The suffixes a configuration file may have, in lookup order.
pub const SUFFIXES: [&str; 3] = ["yaml", "yml", "json"];

/// The first `<stem>.<suffix>` that is a file in `dir`.
pub fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    SUFFIXES.iter().map(|suffix| dir.join(format!("{stem}.{suffix}"))).find(|path| path.is_file())
}

/// Reads a YAML or JSON file (by suffix); errors name the file.
pub fn read(path: &Path) -> Result<Value, ConfigError> {
    let name = file_name(path);
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{name}: cannot read the file: {e}")))?;
    parse(&text, path.extension().is_some_and(|e| e == "json")).map_err(|e| ConfigError(format!("{name}: {e}")))
}

/// The file name used in messages (`config.yaml`).
pub fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

fn parse(text: &str, json: bool) -> Result<Value, String> {
    if json {
        return serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"));
    }
    let yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    from_yaml(yaml)
}

fn from_yaml(mut value: serde_yaml::Value) -> Result<Value, String> {
    use serde_yaml::Value as Y;
    if value.is_mapping() {
        // `<<: *anchor` merge keys, which Python's loader applies while reading.
        value.apply_merge().map_err(|e| format!("invalid YAML: {e}"))?;
    }
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                // NaN and infinities have no JSON form.
                n.as_f64().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(from_yaml).collect::<Result<_, _>>()?),
        Y::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (key, value) in map {
                let key = match key {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".into(),
                    _ => return Err("mapping keys must be plain values".into()),
                };
                out.insert(key, from_yaml(value)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => from_yaml(tagged.value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_becomes_json_with_text_keys() {
        let value = parse("a: 1\n8080: x\nlist: [1.5, true, ~]\n", false).unwrap();
        assert_eq!(value, json!({"a": 1, "8080": "x", "list": [1.5, true, null]}));
    }

    #[test]
    fn merge_keys_are_applied() {
        let value = parse("base: &b {a: 1}\nother:\n  <<: *b\n  c: 2\n", false).unwrap();
        assert_eq!(value["other"], json!({"a": 1, "c": 2}));
    }

    #[test]
    fn parse_errors_are_reported() {
        assert!(parse("a: [", false).unwrap_err().starts_with("invalid YAML"));
        assert!(parse("{", true).unwrap_err().starts_with("invalid JSON"));
        assert!(parse("? [a]\n: 1\n", false).is_err());
    }

    #[test]
    fn finds_files_in_suffix_order() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find(dir.path(), "config"), None);
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        std::fs::write(dir.path().join("config.yml"), "{}").unwrap();
        assert_eq!(find(dir.path(), "config"), Some(dir.path().join("config.yml")));
        let err = read(&dir.path().join("missing.yaml")).unwrap_err();
        assert!(err.0.starts_with("missing.yaml: cannot read"), "{err}");
    }
}
