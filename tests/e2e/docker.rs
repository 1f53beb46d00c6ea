//! The `/docker` group: engine facts (read-only from the machine's engine), registry logins that
//! never show their password, engine options, and a daemon that has no engine at all.
//!
//! Nothing here creates anything on the shared Docker engine.

use e2e::{eventually, Daemon};
use serde_json::{json, Value};

const NO_DOCKER: (&str, &str) = ("SUPERVISOR_DOCKER", "unix:///nonexistent.sock");

fn docker_info(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/docker/info");
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn registries(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/docker/registries");
    assert_eq!(status, 200, "{body}");
    body["data"]["registries"].clone()
}

#[test]
fn info_has_the_engine_facts_and_settings() {
    let daemon = Daemon::start();
    let info = docker_info(&daemon);
    for key in ["version", "storage", "logging", "enable_ipv6", "mtu", "registries"] {
        assert!(info.get(key).is_some(), "{key} missing: {info}");
    }
    assert!(info["registries"].is_object(), "{info}");
}

#[test]
fn info_reports_the_engine_once_connected() {
    let daemon = Daemon::start();
    let info = eventually("the Docker connection", || Some(docker_info(&daemon)).filter(|i| i["version"] != "0.0.0"));
    assert_ne!(info["storage"], "unknown", "{info}");
    assert_ne!(info["logging"], "unknown", "{info}");
}

#[test]
fn a_registry_login_is_listed_without_its_password() {
    let daemon = Daemon::start();
    let password = "e2e-secret-password-7f3a";
    let (status, body) =
        daemon.post("/docker/registries", json!({"ghcr.io": {"username": "e2e-user", "password": password}}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(registries(&daemon), json!({"ghcr.io": {"username": "e2e-user"}}));
    for path in ["/docker/registries", "/docker/info"] {
        let (_, text) = daemon.text(path);
        assert!(!text.contains(password), "{path} shows the password: {text}");
    }
}

#[test]
fn registry_logins_survive_a_kill9() {
    let mut daemon = Daemon::start();
    let (status, body) = daemon.post("/docker/registries", json!({"ghcr.io": {"username": "u", "password": "p"}}));
    assert_eq!(status, 200, "{body}");
    daemon.kill9_and_restart();
    assert_eq!(registries(&daemon), json!({"ghcr.io": {"username": "u"}}));
    assert_eq!(docker_info(&daemon)["registries"], json!({"ghcr.io": {"username": "u"}}));
}

#[test]
fn deleting_a_registry_login_removes_it() {
    let daemon = Daemon::start();
    let logins = json!({"ghcr.io": {"username": "u", "password": "p"}, "quay.io": {"username": "q", "password": "p"}});
    let (status, body) = daemon.post("/docker/registries", logins);
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.call("DELETE", "/docker/registries/ghcr.io", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(registries(&daemon), json!({"quay.io": {"username": "q"}}));
}

#[test]
fn deleting_an_unknown_registry_is_a_404() {
    let daemon = Daemon::start();
    let (status, body) = daemon.call("DELETE", "/docker/registries/nope.example.com", None);
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["result"], "error");
}

#[test]
fn a_bad_registry_hostname_is_a_400_and_stores_nothing() {
    let daemon = Daemon::start();
    for host in ["not a host", "-bad.example.com", "x..io", "host:port"] {
        let (status, body) = daemon.post("/docker/registries", json!({host: {"username": "u", "password": "p"}}));
        assert_eq!(status, 400, "{host}: {body}");
    }
    assert_eq!(registries(&daemon), json!({}));
}

#[test]
fn a_registry_login_without_a_password_is_a_400() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/docker/registries", json!({"ghcr.io": {"username": "u"}}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(registries(&daemon), json!({}));
}

#[test]
fn an_mtu_out_of_range_is_a_400() {
    let daemon = Daemon::start();
    for mtu in [10, 65536] {
        let (status, body) = daemon.post("/docker/options", json!({"mtu": mtu}));
        assert_eq!(status, 400, "{mtu}: {body}");
    }
    assert_eq!(docker_info(&daemon)["mtu"], Value::Null);
}

#[test]
fn docker_options_survive_a_kill9() {
    let mut daemon = Daemon::start();
    let (status, body) = daemon.post("/docker/options", json!({"mtu": 1400, "enable_ipv6": true}));
    assert_eq!(status, 200, "{body}");
    daemon.kill9_and_restart();
    let info = docker_info(&daemon);
    assert_eq!(info["mtu"], 1400);
    assert_eq!(info["enable_ipv6"], true);
}

#[test]
fn null_resets_the_mtu() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/docker/options", json!({"mtu": 1400}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.post("/docker/options", json!({"mtu": null}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(docker_info(&daemon)["mtu"], Value::Null);
}

#[test]
fn migrating_the_storage_driver_is_a_404_off_home_assistant_os() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/docker/migrate-storage-driver", json!({}));
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["result"], "error");
}

#[test]
fn without_docker_the_api_works_and_the_system_is_unhealthy() {
    let daemon = Daemon::start_with(&[NO_DOCKER]);
    let info = eventually("the missing engine to be noticed", || {
        let (status, body) = daemon.get("/supervisor/info");
        assert_eq!(status, 200, "{body}");
        Some(body["data"].clone()).filter(|i| i["healthy"] == false)
    });
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    let (status, body) = daemon.post("/security/options", json!({"pwned": false}));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn without_docker_the_engine_version_is_zero() {
    let daemon = Daemon::start_with(&[NO_DOCKER]);
    let info = docker_info(&daemon);
    assert_eq!(info["version"], "0.0.0");
    assert_eq!(info["storage"], "unknown");
}

#[test]
fn without_docker_repair_is_a_503() {
    let daemon = Daemon::start_with(&[NO_DOCKER]);
    let (status, body) = daemon.post("/supervisor/repair", json!({}));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["result"], "error");
}
