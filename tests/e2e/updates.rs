//! The root endpoints: `/info`, and version information from the manifest through
//! `/reload_updates` (and the older `/refresh_updates`) to `/supervisor/info` and
//! `/available_updates`.

use e2e::{manifest, Daemon};
use serde_json::{json, Value};

fn supervisor_info(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/supervisor/info");
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn available_updates(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/available_updates");
    assert_eq!(status, 200, "{body}");
    body["data"]["available_updates"].clone()
}

fn reload(daemon: &Daemon) -> (reqwest::StatusCode, Value) {
    daemon.post("/reload_updates", json!({}))
}

#[test]
fn info_has_every_key() {
    let daemon = Daemon::start();
    let (status, body) = daemon.get("/info");
    assert_eq!(status, 200, "{body}");
    let info = body["data"].as_object().expect("data is an object");
    for key in [
        "supervisor",
        "homeassistant",
        "hassos",
        "docker",
        "hostname",
        "operating_system",
        "features",
        "machine",
        "machine_id",
        "arch",
        "supported_arch",
        "supported",
        "channel",
        "logging",
        "state",
        "timezone",
    ] {
        assert!(info.contains_key(key), "{key} missing: {body}");
    }
    assert_eq!(info["supervisor"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["state"], "running");
    assert_eq!(info["channel"], "stable");
    assert!(info["supported_arch"].as_array().unwrap().contains(&info["arch"]), "{body}");
}

#[test]
fn a_newer_manifest_makes_a_supervisor_update_available() {
    let daemon = Daemon::start();
    daemon.write_manifest("stable", &manifest("stable", "99.0.0"));
    let (status, body) = reload(&daemon);
    assert_eq!(status, 200, "{body}");
    let info = supervisor_info(&daemon);
    assert_eq!(info["version_latest"], "99.0.0");
    assert_eq!(info["update_available"], true);
    assert_eq!(
        available_updates(&daemon),
        json!([{"update_type": "supervisor", "panel_path": "/update-available/supervisor", "version_latest": "99.0.0"}])
    );
}

#[test]
fn an_older_manifest_offers_no_update() {
    let daemon = Daemon::start();
    daemon.write_manifest("stable", &manifest("stable", "0.0.1"));
    let (status, body) = reload(&daemon);
    assert_eq!(status, 200, "{body}");
    assert_eq!(supervisor_info(&daemon)["update_available"], false);
    assert_eq!(available_updates(&daemon), json!([]));
}

#[test]
fn refresh_updates_reads_the_manifest_too() {
    let daemon = Daemon::start();
    daemon.write_manifest("stable", &manifest("stable", "99.0.1"));
    let (status, body) = daemon.post("/refresh_updates", json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(supervisor_info(&daemon)["version_latest"], "99.0.1");
}

#[test]
fn a_manifest_for_another_channel_is_refused_and_keeps_the_versions() {
    let daemon = Daemon::start();
    daemon.write_manifest("stable", &manifest("stable", "99.0.0"));
    let (status, body) = reload(&daemon);
    assert_eq!(status, 200, "{body}");
    daemon.write_manifest("stable", &manifest("beta", "100.0.0"));
    let (status, body) = reload(&daemon);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["result"], "error");
    assert_eq!(supervisor_info(&daemon)["version_latest"], "99.0.0");
}

#[test]
fn an_unreadable_manifest_is_a_400_and_keeps_the_versions() {
    let daemon = Daemon::start();
    daemon.write_manifest("stable", &manifest("stable", "99.0.0"));
    let (status, body) = reload(&daemon);
    assert_eq!(status, 200, "{body}");
    std::fs::write(daemon.data_dir().join("version-stable.json"), "{not json").unwrap();
    let (status, body) = reload(&daemon);
    assert_eq!(status, 400, "{body}");
    assert_eq!(supervisor_info(&daemon)["version_latest"], "99.0.0");
}

#[test]
fn the_manifest_of_the_chosen_channel_is_read() {
    let daemon = Daemon::start();
    daemon.write_manifest("stable", &manifest("stable", "99.0.0"));
    daemon.write_manifest("beta", &manifest("beta", "99.1.0"));
    let (status, body) = daemon.post("/supervisor/options", json!({"channel": "beta"}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = reload(&daemon);
    assert_eq!(status, 200, "{body}");
    assert_eq!(supervisor_info(&daemon)["version_latest"], "99.1.0");
}

#[test]
fn known_versions_survive_a_kill9_without_the_manifest() {
    let mut daemon = Daemon::start();
    daemon.write_manifest("stable", &manifest("stable", "99.0.0"));
    let (status, body) = reload(&daemon);
    assert_eq!(status, 200, "{body}");
    std::fs::remove_file(daemon.data_dir().join("version-stable.json")).unwrap();
    daemon.kill9_and_restart();
    let info = supervisor_info(&daemon);
    assert_eq!(info["version_latest"], "99.0.0");
    assert_eq!(info["update_available"], true);
}

#[test]
fn updating_without_a_newer_version_is_a_400() {
    let daemon = Daemon::start();
    daemon.write_manifest("stable", &manifest("stable", env!("CARGO_PKG_VERSION")));
    let (status, body) = reload(&daemon);
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.post("/supervisor/update", json!({}));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("No supervisor update available"), "{body}");
}
