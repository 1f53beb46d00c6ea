//! Any bytes as an add-on's `config.yaml` (`config.json` when they start with `{`), loaded,
//! migrated and validated as the store does, then its options checked against its own schema.
#![no_main]

use addon_config::AddonConfig;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use tempfile::TempDir;

static DIR: LazyLock<TempDir> = LazyLock::new(|| tempfile::tempdir().expect("a temporary directory"));

fuzz_target!(|data: &[u8]| {
    let (name, other) =
        if data.first() == Some(&b'{') { ("config.json", "config.yaml") } else { ("config.yaml", "config.json") };
    let _ = std::fs::remove_file(DIR.path().join(other));
    std::fs::write(DIR.path().join(name), data).expect("writing the config");
    let Ok(Some(config)) = AddonConfig::load(DIR.path()) else {
        return;
    };
    let _ = config.availability(&["amd64", "aarch64"], "qemux86-64", Some("2026.1.0"));
    if let Some(schema) = &config.schema {
        let options = serde_json::Value::Object(config.options.clone());
        let _ = schema.validate(&options, &config.name, &config.slug);
        let _ = schema.passwords(&options);
    }
});
