//! The supervisor through Home Assistant Core's own client library, `aiohasupervisor` 0.11 from
//! PyPI (the image `cargo xtask test-images` builds), running `tests/python/client_library.py`:
//! every read Core makes, and the library's writes of the time servers, the Raspberry Pi
//! firmware, a backup and the reloads, each answer parsed into the library's models. A field
//! missing or of another type, a path without a route or a status the library does not expect
//! fails here as it would fail in Core.
//!
//! The host is Home Assistant OS on a Yellow (a CM4, so with the Raspberry Pi firmware) from the
//! fixture services, with the Core fixture running (the library runs with Core's token, as in
//! Core), the fixture store and one running add-on, so that the lists the library walks are not
//! empty.

use crate::addons::install;
use crate::homeassistant::{core_token, daemon_with_core};
use dbus_fixtures::{PrivateBus, Profile, Service};
use e2e::fixtures::FixtureRepository;
use e2e::registry::{LocalRegistry, CLIENT_LIBRARY_IMAGE};
use e2e::Daemon;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

const SCRIPT: &str = include_str!("../python/client_library.py");
const TIMESYNCD: &str = "/io/hass/os/Config/Timesyncd";
const TIMESYNCD_INTERFACE: &str = "io.hass.os.Config.Timesyncd";

/// What the script printed: the outcome of each call (`OK`, `FAIL: ...`, `SKIP: ...`) by
/// endpoint, and the values it showed.
struct Run {
    outcomes: Vec<(String, String)>,
    values: BTreeMap<String, Value>,
}

impl Run {
    fn failures(&self) -> Vec<String> {
        self.outcomes.iter().filter(|(_, outcome)| outcome != "OK").map(|(call, o)| format!("{call}: {o}")).collect()
    }
}

/// Runs the script with Core's library in a container on the host's network, where the daemon
/// listens on loopback.
fn run_library(daemon: &Daemon, args: &[&str]) -> Run {
    let name = format!("{}client-library", daemon.instance());
    let output = Command::new("docker")
        .args(["run", "--rm", "--name", &name, "--network", "host"])
        .args(["--env", &format!("SUPERVISOR={}", daemon.address())])
        .args(["--env", &format!("SUPERVISOR_TOKEN={}", core_token(daemon))])
        .args([CLIENT_LIBRARY_IMAGE, "python3", "-c", SCRIPT])
        .args(args)
        .output()
        .expect("docker run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the script failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    parse(&stdout)
}

fn parse(stdout: &str) -> Run {
    let mut run = Run { outcomes: Vec::new(), values: BTreeMap::new() };
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("VALUE ") {
            let (name, json) = rest.split_once(' ').expect("VALUE <name> <json>");
            run.values.insert(name.to_owned(), serde_json::from_str(json).expect("the value's JSON"));
        } else if let Some(call) = line.strip_prefix("OK   ") {
            run.outcomes.push((call.to_owned(), "OK".to_owned()));
        } else if let Some((kind, rest)) = line.split_once(' ') {
            let (call, why) = rest.split_once(": ").unwrap_or((rest, ""));
            run.outcomes.push((call.to_owned(), format!("{kind}: {why}")));
        }
    }
    run
}

#[test]
fn core_client_library_reads_everything_and_makes_its_changes() {
    let repository = FixtureRepository::copy();
    let bus = PrivateBus::start_with(Service::ALL, Profile::Haos).expect("a private bus with the fixture services");
    let registry = LocalRegistry::start();
    let (daemon, _) = daemon_with_core(&registry, &[repository.env(), bus.env()], "2025.1.0");
    install(&daemon, "core_build_local");
    let (status, body) = daemon.post("/addons/core_build_local/start", serde_json::json!({}));
    assert_eq!(status, 200, "{body}");

    let run = run_library(&daemon, &["--write"]);
    let failures = run.failures();
    // Refused as the real Supervisor refuses them: a bad server; the Yellow is no Green; an
    // add-on's own configuration is for the add-on alone; the journal's gateway is not there.
    let expected = [
        ("POST /time/options (bad)", "SupervisorBadRequestError"),
        ("GET /os/boards/green", "SupervisorBadRequestError"),
        ("GET /addons/core_build_local/options/config", "SupervisorForbiddenError"),
        ("GET /host/logs/boots", "SupervisorBadRequestError: No systemd-journal-gatewayd"),
        ("GET /host/logs/identifiers", "SupervisorBadRequestError: No systemd-journal-gatewayd"),
    ];
    let unexpected: Vec<&String> = failures
        .iter()
        .filter(|failure| !expected.iter().any(|(call, _)| failure.starts_with(&format!("{call}:"))))
        .collect();
    assert!(unexpected.is_empty(), "calls of aiohasupervisor that failed:\n{unexpected:#?}");
    for (call, error) in expected {
        let outcome = run.outcomes.iter().find(|(made, _)| made == call).map(|(_, outcome)| outcome.as_str());
        assert!(outcome.is_some_and(|outcome| outcome.starts_with(&format!("FAIL: {error}"))), "{call}: {outcome:?}");
    }
    assert!(run.outcomes.len() > 40, "too few calls were made: {:#?}", run.outcomes);

    assert_eq!(run.values["time_set"]["config"]["servers"], serde_json::json!(["pool.ntp.org", "192.168.1.1"]));
    assert_eq!(run.values["time_set"]["config"]["fallback_servers"], serde_json::json!(["time.example.org"]));
    assert_eq!(run.values["time_reset"]["config"]["servers"], serde_json::json!([]));
    // The bad server changed nothing: the agent holds the OS defaults the reset returned to.
    let held = bus.property(Service::OsAgent, TIMESYNCD, TIMESYNCD_INTERFACE, "NTPServer").expect("the property");
    assert_eq!(held, "@as []");

    let flashed = bus.calls(Service::OsAgent).expect("calls").iter().filter(|call| *call == "Update()").count();
    assert_eq!(flashed, 1, "the library's firmware update reached the agent once");
    assert!(run.values["firmware"]["current_version"].is_string(), "{}", run.values["firmware"]);
    assert_eq!(run.values["backup"]["name"], "client library");
    assert!(daemon.get("/backups").1["data"]["backups"].as_array().is_some_and(Vec::is_empty));
}

#[test]
fn outcomes_and_values_are_read_from_the_scripts_lines() {
    let run = parse(
        "OK   GET /info\nFAIL GET /x: SupervisorNotFoundError: No route\nSKIP GET /y: no info\nVALUE v {\"a\": 1}\n",
    );
    assert_eq!(run.failures(), ["GET /x: FAIL: SupervisorNotFoundError: No route", "GET /y: SKIP: no info"]);
    assert_eq!(run.values["v"]["a"], 1);
}
