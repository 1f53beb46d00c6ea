//! Helpers of the tests that run the Core fixture (`crates/core-fixture`, the image
//! `supervisor-test-core:latest` that `cargo xtask test-images` builds and
//! `LocalRegistry::push_core_fixture` publishes): its configuration folder, and its record of
//! what it was asked.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Writes `configuration.yaml` into `config_dir` (Core's `/config`) so that the fixture listens
/// on `port`.
pub fn write_core_config(config_dir: &Path, port: u16) {
    std::fs::create_dir_all(config_dir).expect("the config folder");
    std::fs::write(config_dir.join("configuration.yaml"), format!("http:\n  server_port: {port}\n"))
        .expect("configuration.yaml");
}

/// `GET /fixture/state` of a fixture listening on `127.0.0.1:port`: everything it recorded
/// (supervisor calls with their statuses, the refresh token, websocket message types, backup
/// events, discovery pushes, auth calls, `/api` requests); None while it does not answer.
pub fn fixture_state(port: u16) -> Option<Value> {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().ok()?;
    let response = client.get(format!("http://127.0.0.1:{port}/fixture/state")).send().ok()?;
    response.status().is_success().then_some(())?;
    response.json().ok()
}
