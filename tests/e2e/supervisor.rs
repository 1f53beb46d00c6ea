//! The `/supervisor` group: its information, its options (checked, persisted, applied at run
//! time), its resource figures and a restart in place.

use e2e::fixtures::GitRepository;
use e2e::Daemon;
use serde_json::{json, Value};

fn info(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/supervisor/info");
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// The information minus `healthy`, which follows the Docker connection in the background.
/// What options can change: the info without the health and the address (which becomes the
/// container network's gateway once the daemon made that network, just after it started).
fn settings(daemon: &Daemon) -> Value {
    let mut info = info(daemon);
    let info_map = info.as_object_mut().expect("info is an object");
    // The verdicts and the address are the system's, reached in the background.
    info_map.remove("healthy");
    info_map.remove("supported");
    info_map.remove("ip_address");
    info
}

fn log_tail(daemon: &Daemon) -> String {
    let (status, text) = daemon.text("/supervisor/logs?lines=200");
    assert_eq!(status, 200, "{text}");
    text
}

/// The names of the repositories `/supervisor/info` lists besides the built-in `core` and `local`.
fn added_repositories(info: &Value) -> Vec<String> {
    let repositories = info["addons_repositories"].as_array().expect("a list of repositories");
    repositories
        .iter()
        .filter(|r| r["slug"] != "core" && r["slug"] != "local")
        .map(|r| r["name"].as_str().expect("a name").to_owned())
        .collect()
}

#[test]
fn info_reports_this_build_and_the_defaults() {
    let daemon = Daemon::start();
    let info = info(&daemon);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["channel"], "stable");
    assert_eq!(info["logging"], "info");
    assert_eq!(info["wait_boot"], 5);
    assert_eq!(info["debug"], false);
    assert_eq!(info["diagnostics"], Value::Null);
    assert_eq!(added_repositories(&info), Vec::<String>::new(), "no repository added yet");
    let builtin: Vec<_> = info["addons_repositories"].as_array().unwrap().iter().map(|r| &r["slug"]).collect();
    assert_eq!(builtin, [&json!("core"), &json!("local")], "{info}");
    assert_eq!(info["addons"], json!([]), "no add-on installed yet");
    assert!(info["feature_flags"].is_object(), "{info}");
    for key in ["arch", "timezone", "ip_address", "version_latest"] {
        assert!(info[key].is_string(), "{key} missing: {info}");
    }
    for key in ["supported", "healthy", "update_available", "auto_update", "detect_blocking_io"] {
        assert!(info[key].is_boolean(), "{key} missing: {info}");
    }
}

#[test]
fn options_round_trip_and_survive_a_kill9() {
    let mut daemon = Daemon::start();
    let repository = GitRepository::new("Round trip");
    let options = json!({
        "channel": "beta",
        "timezone": "Europe/Berlin",
        "wait_boot": 42,
        "logging": "warning",
        "debug": true,
        "debug_block": true,
        "diagnostics": true,
        "addons_repositories": [repository.url()],
        "auto_update": false,
        "detect_blocking_io": "on_at_startup",
        "country": "DE",
        "feature_flags": {"supervisor_v2_api": true},
    });
    let (status, body) = daemon.post("/supervisor/options", options);
    assert_eq!(status, 200, "{body}");
    daemon.kill9_and_restart();
    let info = info(&daemon);
    assert_eq!(info["channel"], "beta");
    assert_eq!(info["timezone"], "Europe/Berlin");
    assert_eq!(info["wait_boot"], 42);
    assert_eq!(info["logging"], "warning");
    assert_eq!(info["debug"], true);
    assert_eq!(info["debug_block"], true);
    assert_eq!(info["diagnostics"], true);
    assert_eq!(added_repositories(&info), ["Round trip"]);
    assert_eq!(info["auto_update"], false);
    assert_eq!(info["detect_blocking_io"], true);
    assert_eq!(info["country"], "DE");
    assert_eq!(info["feature_flags"]["supervisor_v2_api"], true);
}

#[test]
fn null_resets_diagnostics_and_country() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/supervisor/options", json!({"diagnostics": true, "country": "NL"}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.post("/supervisor/options", json!({"diagnostics": null, "country": null}));
    assert_eq!(status, 200, "{body}");
    let info = info(&daemon);
    assert_eq!(info["diagnostics"], Value::Null);
    assert_eq!(info["country"], Value::Null);
}

#[test]
fn repeated_addon_repositories_are_stored_once() {
    let daemon = Daemon::start();
    let (first, second) = (GitRepository::new("A"), GitRepository::new("B"));
    let (a, b) = (first.url(), second.url());
    let (status, body) = daemon.post("/supervisor/options", json!({"addons_repositories": [a, b, a]}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(added_repositories(&info(&daemon)), ["A", "B"]);
}

#[test]
fn invalid_options_are_refused_and_change_nothing() {
    let daemon = Daemon::start();
    let before = settings(&daemon);
    // Each carries a valid option too, which must not be applied either.
    for invalid in [
        json!({"debug": true, "timezone": "Mars/Base"}),
        json!({"debug": true, "timezone": "../../etc/passwd"}),
        json!({"channel": "beta", "wait_boot": 0}),
        json!({"channel": "beta", "wait_boot": 61}),
        json!({"debug": true, "logging": "loud"}),
        json!({"debug": true, "channel": "nightly"}),
        json!({"debug": true, "detect_blocking_io": "sometimes"}),
        json!({"debug": true, "feature_flags": {"no_such_flag": true}}),
        json!({"debug": true, "addons_repositories": ["not a url"]}),
        json!({"debug": true, "bogus": 1}),
    ] {
        let (status, body) = daemon.post("/supervisor/options", invalid.clone());
        assert_eq!(status, 400, "{invalid}: {body}");
        assert_eq!(body["result"], "error", "{invalid}");
        assert_eq!(settings(&daemon), before, "{invalid} changed something");
    }
}

#[test]
fn logging_debug_shows_debug_lines_at_run_time() {
    let daemon = Daemon::start();
    for path in ["/supervisor/info", "/jobs/info", "/docker/info"] {
        daemon.get(path);
    }
    let before = log_tail(&daemon);
    assert!(!before.contains(" DEBUG "), "DEBUG lines at level info:\n{before}");

    let (status, body) = daemon.post("/supervisor/options", json!({"logging": "debug"}));
    assert_eq!(status, 200, "{body}");
    for path in ["/supervisor/info", "/jobs/info", "/docker/info"] {
        daemon.get(path);
    }
    daemon.post("/reload_updates", json!({}));
    let after = log_tail(&daemon);
    assert!(after.contains(" DEBUG "), "no DEBUG line after switching to debug:\n{after}");
}

#[test]
fn logging_error_hides_warnings_at_run_time() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/supervisor/options", json!({"logging": "error"}));
    assert_eq!(status, 200, "{body}");
    daemon.log_a_warning("e2e-hidden-warning");
    let (status, body) = daemon.post("/supervisor/options", json!({"logging": "info"}));
    assert_eq!(status, 200, "{body}");
    daemon.log_a_warning("e2e-shown-warning");
    let log = log_tail(&daemon);
    assert!(!log.contains("e2e-hidden-warning"), "a warning was logged at level error:\n{log}");
    assert!(log.contains("e2e-shown-warning"), "no warning after going back to info:\n{log}");
}

#[test]
fn stats_are_numbers_with_memory_in_use() {
    let daemon = Daemon::start();
    let (status, body) = daemon.get("/supervisor/stats");
    assert_eq!(status, 200, "{body}");
    let stats = &body["data"];
    for key in [
        "cpu_percent",
        "memory_usage",
        "memory_limit",
        "memory_percent",
        "network_rx",
        "network_tx",
        "blk_read",
        "blk_write",
    ] {
        assert!(stats[key].is_number(), "{key} is not a number: {stats}");
    }
    assert!(stats["memory_usage"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["memory_limit"].as_u64().unwrap() >= stats["memory_usage"].as_u64().unwrap(), "{stats}");
}

#[test]
fn restart_comes_back_in_place_with_the_same_options() {
    let mut daemon = Daemon::start();
    let pid = daemon.pid();
    let (status, body) = daemon.post("/supervisor/options", json!({"wait_boot": 9}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.post("/supervisor/restart", json!({}));
    assert_eq!(status, 200, "{body}");
    daemon.follow_restart_in_place();
    assert_eq!(daemon.pid(), pid, "the restart is not in place");
    assert_eq!(info(&daemon)["wait_boot"], 9);
}
