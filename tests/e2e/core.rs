//! The daemon's basics: it starts, answers in the envelope, refuses bad bodies with a reason,
//! keeps its tokens across a crash, stops cleanly on SIGTERM and serves its OpenAPI document.

use e2e::Daemon;
use serde_json::{json, Value};

#[test]
fn ping_needs_no_token_and_info_needs_one() {
    let daemon = Daemon::start();
    daemon.wait_ready();
    let ping = daemon.request("GET", "/supervisor/ping", None, None);
    assert_eq!(ping.status(), 200);
    let info = daemon.request("GET", "/supervisor/info", None, None);
    assert_eq!(info.status(), 401);
    let (status, body) = daemon.get("/supervisor/info");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn success_is_wrapped_in_the_ok_envelope() {
    let daemon = Daemon::start();
    let (status, body) = daemon.get("/supervisor/ping");
    assert_eq!(status, 200);
    assert_eq!(body, json!({"result": "ok", "data": {}}));
}

#[test]
fn unknown_route_is_a_404_error_envelope() {
    let daemon = Daemon::start();
    let (status, body) = daemon.get("/no/such/route");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["result"], "error");
    assert!(body["message"].as_str().unwrap().contains("/no/such/route"), "{body}");
}

/// Posts raw bytes with the admin token; answers status and JSON body.
fn post_raw(daemon: &Daemon, path: &str, body: impl Into<reqwest::blocking::Body>) -> (reqwest::StatusCode, Value) {
    let response = daemon
        .client()
        .post(daemon.url(path))
        .bearer_auth(daemon.cli_token())
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .expect("request");
    e2e::json_of(response)
}

#[test]
fn malformed_json_is_a_400_that_says_so() {
    let daemon = Daemon::start();
    let (status, body) = post_raw(&daemon, "/supervisor/options", "{\"debug\": tru");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["result"], "error");
    assert!(body["message"].as_str().unwrap().contains("Invalid JSON"), "{body}");
}

#[test]
fn a_body_that_is_not_an_object_is_a_400() {
    let daemon = Daemon::start();
    let (status, body) = post_raw(&daemon, "/supervisor/options", "[1, 2]");
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("object"), "{body}");
}

#[test]
fn a_wrong_type_is_a_400_naming_the_problem() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/supervisor/options", json!({"debug": "yes"}));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("invalid type"), "{body}");
}

#[test]
fn an_unknown_key_is_a_400_naming_the_key() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/security/options", json!({"frobnicate": true}));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("frobnicate"), "{body}");
}

#[test]
fn an_empty_options_body_is_a_400_asking_for_one_option() {
    let daemon = Daemon::start();
    for path in ["/supervisor/options", "/jobs/options", "/docker/options", "/security/options"] {
        let (status, body) = daemon.post(path, json!({}));
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["message"].as_str().unwrap().contains("at least one option"), "{path}: {body}");
    }
}

#[test]
fn a_body_over_16_mib_is_a_413() {
    let daemon = Daemon::start();
    let padding = " ".repeat(16 * 1024 * 1024 + 1);
    let (status, body) = post_raw(&daemon, "/supervisor/options", format!("{padding}{{}}"));
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["result"], "error");
}

#[test]
fn tokens_survive_a_kill9() {
    let mut daemon = Daemon::start();
    let before = daemon.cli_token();
    daemon.kill9_and_restart();
    assert_eq!(daemon.cli_token(), before, "cli_token changed");
    let response = daemon.request("GET", "/supervisor/info", Some(before.trim()), None);
    assert_eq!(response.status(), 200, "the old token is no longer accepted");
}

#[test]
fn sigterm_exits_successfully_and_leaves_no_temporary_files() {
    let mut daemon = Daemon::start();
    // Some writes first, so that the shutdown has state to flush.
    let (status, body) = daemon.post("/supervisor/options", json!({"wait_boot": 7}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.post("/jobs/options", json!({"ignore_conditions": ["healthy"]}));
    assert_eq!(status, 200, "{body}");
    let exit = daemon.terminate();
    assert!(exit.success(), "exit status {exit}");
    let leftovers = files_named_like(daemon.data_dir(), ".tmp-");
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn sigterm_exits_successfully_while_a_log_is_followed() {
    let mut daemon = Daemon::start();
    let follower = daemon.request("GET", "/supervisor/logs/follow", Some(&daemon.cli_token()), None);
    assert_eq!(follower.status(), 200);
    let exit = daemon.terminate();
    assert!(exit.success(), "exit status {exit}");
    drop(follower);
}

/// Every file under `dir` whose name contains `fragment`.
fn files_named_like(dir: &std::path::Path, fragment: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read data directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_named_like(&path, fragment));
        } else if entry.file_name().to_string_lossy().contains(fragment) {
            found.push(path);
        }
    }
    found
}

#[test]
fn openapi_json_is_the_checked_in_document() {
    let daemon = Daemon::start();
    let response = daemon.request("GET", "/openapi.json", Some(&daemon.cli_token()), None);
    assert_eq!(response.status(), 200);
    let served: Value = response.json().expect("the document is JSON");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let checked_in: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("openapi/openapi.json")).expect("JSON");
    assert!(served == checked_in, "the served document differs from openapi/openapi.json");
}
