//! The API fuzzed through its OpenAPI document: schemathesis (from PyPI, installed by
//! `cargo xtask test-images`) sends valid and invalid requests to every operation that does not
//! stop, restart, update or wipe something, as the admin, and no answer may be a server error.
//! The daemon runs against the real engine and the D-Bus fixtures, so that the host, OS and
//! network handlers are reached too; path parameters are drawn half of the time from what exists
//! (the store's add-ons, a backup, jobs), so the handlers behind the 404s are reached as well.

use dbus_fixtures::{PrivateBus, Service};
use e2e::Daemon;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Operations left out: whatever restarts, stops, updates, repairs or wipes the daemon, the host
/// or the engine; installs and rebuilds, which build and pull images (where the engine reaches no
/// registry, the real Supervisor's "unknown error" 500 is their right answer); listing Core's
/// users, which asks Core (not run here: the real answer is then its 500 `auth_list_users_error`);
/// and the event streams, which never end.
const EXCLUDED: &str = "(restart|reboot|shutdown|update|wipe|repair|datadisk|boot-slot|install|rebuild|/follow$|^/host/service/|^/auth/list$)";
/// Requests per operation and phase, and the budget of the whole run, which it spends in full.
const MAX_EXAMPLES: u32 = 30;
const MAX_SECONDS: u64 = 120;

/// The schemathesis that `cargo xtask test` installs.
fn schemathesis() -> PathBuf {
    let program = std::env::var_os("SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/supervisor-tests/schemathesis-4.32.5/bin/schemathesis"));
    assert!(program.exists(), "{} is missing; `cargo xtask test-images` installs it", program.display());
    program
}

#[test]
fn fuzzing_the_api_finds_no_server_error() {
    let bus = PrivateBus::start(Service::ALL).expect("a private bus with the fixture services");
    let daemon = Daemon::start_with(&[bus.env()]);
    daemon.wait_ready();
    daemon.wait_for_engine();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("schemathesis.toml");
    std::fs::write(&config, config_toml(&known_values(&daemon))).unwrap();
    let document = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    // coreutils' timeout bounds the run should schemathesis overrun its budget (exit 124).
    let output = Command::new("timeout")
        .arg((MAX_SECONDS + 120).to_string())
        .arg(schemathesis())
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(&document)
        .args(["--url", &daemon.url("")])
        .args(["--header", &format!("Authorization: Bearer {}", daemon.cli_token())])
        .args(["--checks", "not_a_server_error"])
        .args(["--max-examples", &MAX_EXAMPLES.to_string()])
        .args(["--max-time", &MAX_SECONDS.to_string()])
        .args(["--exclude-path-regex", EXCLUDED])
        .args(["--phases", "examples,coverage,fuzzing"])
        // One worker: hypothesis' strategy descriptions are not thread-safe (runtime errors at random).
        .args(["--workers", "1", "--request-timeout", "30", "--no-color"])
        .current_dir(work.path())
        .output()
        .expect("run schemathesis");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    // Its report names each failing operation with the request that reproduces it (curl).
    assert!(output.status.success(), "schemathesis found server errors or could not run:\n{report}");
    let (status, body) = daemon.get("/supervisor/ping");
    assert_eq!(status, 200, "the daemon answers after the run: {body}");
}

/// Values that exist, by path parameter: add-ons and repositories of the store, a backup and the
/// job that made it, the journal's boots and identifiers, the interfaces and boards the fixtures
/// have, a registry and versions.
fn known_values(daemon: &Daemon) -> Vec<(&'static str, Vec<String>)> {
    let data = |path: &str| {
        let (status, body) = daemon.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        body["data"].clone()
    };
    // `key` of every object of `list`.
    let each = |list: Value, key: &str| -> Vec<String> {
        list.as_array().unwrap().iter().map(|item| item[key].as_str().unwrap().to_owned()).collect()
    };
    let (status, backup) = daemon.post("/backups/new/partial", json!({"name": "fuzz", "folders": ["ssl"]}));
    assert_eq!(status, 200, "{backup}");
    let mut interfaces = each(data("/network/info")["interfaces"].take(), "interface");
    interfaces.push("default".to_owned());
    let owned = |values: &[&str]| values.iter().map(|value| value.to_string()).collect::<Vec<_>>();
    vec![
        ("addon", each(data("/store/addons")["addons"].take(), "slug")),
        ("repository", each(data("/store/repositories"), "slug")),
        ("backup", vec![backup["data"]["slug"].as_str().unwrap().to_owned()]),
        ("job_id", each(data("/jobs/info")["jobs"].take(), "uuid")),
        ("interface", interfaces),
        ("bootid", owned(&["0", "-1", "1"])),
        ("identifier", owned(&["supervisor", "kernel"])),
        ("board", owned(&["green", "yellow"])),
        ("registry", owned(&["ghcr.io", "hub.docker.com"])),
        ("version", owned(&["1.0.0", "latest"])),
        ("vlan", owned(&["10", "4094"])),
    ]
}

/// A schemathesis configuration drawing each path parameter from its known values half of the time.
fn config_toml(known: &[(&str, Vec<String>)]) -> String {
    let mut dictionaries = String::new();
    let mut parameters = String::from("[parameters]\n");
    for (name, values) in known {
        // JSON strings of printable ASCII are TOML basic strings too.
        dictionaries += &format!("[dictionaries.{name}]\nvalues = {}\n", Value::from(values.clone()));
        parameters += &format!("\"path.{name}\" = {{ dictionary = \"{name}\", probability = 0.5 }}\n");
    }
    dictionaries + &parameters
}
