//! The project's own add-on repository (`store-fixtures/`, the tests' built-in repository) must
//! read cleanly through the public API: every add-on, build file and default options.

use addon_config::{AddonConfig, BuildConfig, RepositoryConfig};
use std::path::Path;

#[test]
fn store_fixtures_are_a_valid_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../store-fixtures");
    let repository = RepositoryConfig::load(&root).unwrap().expect("repository.yaml");
    assert!(!repository.name.is_empty());

    let mut count = 0;
    for entry in std::fs::read_dir(&root).unwrap().flatten() {
        let dir = entry.path();
        let Some(config) = AddonConfig::load(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) else {
            continue;
        };
        count += 1;
        BuildConfig::load(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
        if let Some(schema) = &config.schema {
            let options = serde_json::Value::Object(config.options.clone());
            schema
                .validate(&options, &config.name, &config.slug)
                .unwrap_or_else(|e| panic!("{dir:?}: default options: {e}"));
            assert!(schema.ui().is_array());
        }
    }
    assert!(count > 0, "no add-on found in {root:?}");
}
