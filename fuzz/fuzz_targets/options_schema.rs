//! Any YAML document as a schema (its `schema` key) and options to validate against it (its
//! `options` key), the way an add-on's schema meets the options a user sends.
#![no_main]

use addon_config::Schema;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(document) = serde_yaml::from_slice::<Value>(data) else {
        return;
    };
    let Some(Ok(schema)) = document.get("schema").map(Schema::parse) else {
        return;
    };
    let options = document.get("options").cloned().unwrap_or(Value::Null);
    let secrets = |name: &str| (name == "known").then(|| Value::from("secret value"));
    if let Ok(valid) = schema.validate_with_secrets(&options, "Fuzz", "local_fuzz", &secrets) {
        let _ = schema.passwords(&valid);
    }
});
