//! Home Assistant Core managed for real: the Core fixture (`crates/core-fixture`) published in a
//! private registry as Core's image, installed by the daemon from the version manifest, run on
//! the host's network, updated (with a backup first, and a rollback when the new version
//! crashes), watched, checked, and reached by add-ons through the proxy.
//!
//! The fixture listens on a port of its own per test (its `configuration.yaml`, which Core's
//! `port` option then names), since every Core shares the host's network.

use crate::addons::{container_token, engine_daemon, inspect_container, install};
use e2e::core_fixture::{fixture_state, write_core_config};
use e2e::fixtures::FixtureRepository;
use e2e::registry::LocalRegistry;
use e2e::{eventually, free_port, Daemon};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

pub(crate) const MACHINE: &str = "qemux86-64";

/// A daemon (with the `extra` environment) with Core installed from `registry` at `version`
/// (`landingpage` and `version` published first), listening on its own port; answers the
/// daemon and the port.
pub(crate) fn daemon_with_core(registry: &LocalRegistry, extra: &[(&str, &str)], version: &str) -> (Daemon, u16) {
    let image = registry.push_core_fixture(MACHINE, "landingpage", None);
    registry.push_core_fixture(MACHINE, version, None);
    let mut env = vec![
        ("SUPERVISOR_CORE_INSTALL", "true"),
        ("SUPERVISOR_MACHINE", MACHINE),
        ("SUPERVISOR_CORE_WATCHDOG_INTERVAL", "1"),
    ];
    env.extend_from_slice(extra);
    let daemon = engine_daemon(&env);
    let port = prepare_core(&daemon, registry, write_core_config);
    write_manifest(&daemon, &image, version);
    wait_for(&daemon, &format!("Core {version} to run"), Duration::from_secs(120), || {
        let (_, info) = daemon.get("/core/info");
        (info["data"]["version"] == version && core_answers(port)).then_some(())
    });
    (daemon, port)
}

/// Readies `daemon` for Core from `registry`: logs in there, writes Core's configuration with
/// `write_config` for a port of its own, which Core's options then name; answers the port.
pub(crate) fn prepare_core(daemon: &Daemon, registry: &LocalRegistry, write_config: fn(&Path, u16)) -> u16 {
    let login = json!({registry.address(): {"username": registry.username(), "password": registry.password()}});
    let (status, body) = daemon.post("/docker/registries", login);
    assert_eq!(status, 200, "{body}");
    let port = free_port();
    write_config(&daemon.data_dir().join("homeassistant"), port);
    let (status, body) = daemon.post("/core/options", json!({"port": port}));
    assert_eq!(status, 200, "{body}");
    port
}

/// The manifest offering Core `latest` from `image` (its `{machine}` kept), then read at once.
pub(crate) fn write_manifest(daemon: &Daemon, image: &str, latest: &str) {
    let mut manifest = e2e::manifest("stable", env!("CARGO_PKG_VERSION"));
    manifest["homeassistant"] = json!({"default": latest});
    manifest["images"]["core"] = json!(image);
    daemon.write_manifest("stable", &manifest);
    let (status, body) = daemon.post("/reload_updates", json!({}));
    assert_eq!(status, 200, "{body}");
}

/// Whether the fixture answers and has its refresh token from the supervisor's side.
fn core_answers(port: u16) -> bool {
    fixture_state(port).is_some()
}

/// Polls `probe` for up to `limit` (Core starts take longer than `eventually` waits); on timeout,
/// fails with the supervisor's jobs and the end of Core's log.
pub(crate) fn wait_for<T>(daemon: &Daemon, what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if Instant::now() > deadline {
            let (_, jobs) = daemon.get("/jobs/info");
            let log = core_log(daemon);
            let tail: Vec<&str> = log.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
            panic!("gave up waiting for {what}; jobs: {jobs}\nthe end of Core's log:\n{}", tail.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// What Core's container printed: its log goes to the engine, not to a file of the supervisor.
pub(crate) fn core_log(daemon: &Daemon) -> String {
    let container = format!("{}homeassistant", daemon.instance());
    let output = std::process::Command::new("docker").args(["logs", &container]).output().expect("docker logs");
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// Waits until no operation on Core runs (the watchdog's start waits for Core's API).
fn wait_until_idle(daemon: &Daemon) {
    eventually("Core's operations to end", || {
        let (_, jobs) = daemon.get("/jobs/info");
        let busy = jobs["data"]["jobs"].as_array()?.iter().any(|job| {
            job["name"].as_str().is_some_and(|name| name.starts_with("home_assistant_core_")) && job["done"] != true
        });
        (!busy).then_some(())
    });
}

fn core_container(daemon: &Daemon) -> Value {
    inspect_container(&format!("{}homeassistant", daemon.instance())).expect("Core's container")
}

#[test]
fn core_is_installed_run_updated_rolled_back_and_checked() {
    let registry = LocalRegistry::start();
    let (daemon, port) = daemon_with_core(&registry, &[], "2025.1.0");

    // Core's integration gave its refresh token and read the supervisor with Core's token.
    let calls = eventually("Core to read the supervisor", || {
        let calls = fixture_state(port)?["supervisor_calls"].as_array()?.clone();
        (calls.len() >= 8).then_some(calls)
    });
    for path in ["/core/info", "/supervisor/info", "/addons", "/ingress/panels", "/discovery"] {
        let call = calls.iter().find(|c| c["path"] == path).unwrap_or_else(|| panic!("{path} not called: {calls:?}"));
        assert_eq!(call["status"], 200, "{call}");
    }
    let (_, info) = daemon.get("/core/info");
    let info = &info["data"];
    assert_eq!(info["port"], port, "{info}");
    assert_eq!(info["machine"], MACHINE);
    assert_eq!(info["image"], format!("{}/supervisor-fixtures/{MACHINE}-homeassistant", registry.address()));
    assert_eq!(info["update_available"], false);
    let (status, legacy) = daemon.get("/homeassistant/info");
    assert_eq!(status, 200);
    assert_eq!(legacy["data"]["version"], "2025.1.0");

    // The container as the real Supervisor runs it.
    let container = core_container(&daemon);
    assert_eq!(container["HostConfig"]["NetworkMode"], "host");
    let targets: Vec<&str> =
        container["Mounts"].as_array().unwrap().iter().filter_map(|m| m["Destination"].as_str()).collect();
    for target in ["/config", "/ssl", "/share", "/media", "/backup"] {
        assert!(targets.contains(&target), "{target} not mounted: {targets:?}");
    }
    let env: Vec<&str> = container["Config"]["Env"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(env.iter().any(|e| e.starts_with("SUPERVISOR_TOKEN=")), "no token");
    assert!(env.iter().any(|e| e.starts_with("SUPERVISOR=")), "no address");

    let (status, stats) = daemon.get("/core/stats");
    assert_eq!(status, 200, "{stats}");
    assert!(stats["data"]["memory_usage"].as_u64().unwrap() > 0, "{stats}");

    // Bad options change nothing.
    let (status, body) = daemon.post("/core/options", json!({"port": 0}));
    assert_eq!(status, 400, "{body}");
    let (status, body) = daemon.post("/core/options", json!({"frobnicate": 1}));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("frobnicate"), "{body}");

    // The configuration check runs Core's checker in its image.
    let (status, body) = daemon.post("/core/check", json!({}));
    assert_eq!(status, 200, "{body}");
    let config = daemon.data_dir().join("homeassistant/configuration.yaml");
    let valid = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{valid}fixture_invalid: true\n")).unwrap();
    let (status, body) = daemon.post("/core/check", json!({}));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("Invalid config"), "{body}");
    std::fs::write(&config, valid).unwrap();

    // An update with a backup first; the new container gets a new token, the old one is refused.
    let old_token = core_token(&daemon);
    registry.push_core_fixture(MACHINE, "2025.2.0", None);
    let image = info["image"].as_str().unwrap().replace(MACHINE, "{machine}");
    write_manifest(&daemon, &image, "2025.2.0");
    let (_, info) = daemon.get("/core/info");
    assert_eq!(info["data"]["update_available"], true, "{info}");
    let (_, root) = daemon.get("/info");
    assert_eq!(root["data"]["homeassistant"], "2025.1.0", "{root}");
    let (_, updates) = daemon.get("/available_updates");
    let core_update =
        json!({"update_type": "core", "panel_path": "/update-available/core", "version_latest": "2025.2.0"});
    assert_eq!(updates["data"]["available_updates"][0], core_update, "{updates}");
    let (status, body) = daemon.post("/core/update", json!({"backup": true}));
    assert_eq!(status, 200, "{body}");
    let (_, info) = daemon.get("/core/info");
    assert_eq!(info["data"]["version"], "2025.2.0");
    assert!(core_answers(port));
    let (_, backups) = daemon.get("/backups");
    let names: Vec<&str> =
        backups["data"]["backups"].as_array().unwrap().iter().filter_map(|b| b["name"].as_str()).collect();
    assert!(names.contains(&"core_2025.1.0"), "{backups}");
    let new_token = core_token(&daemon);
    assert_ne!(new_token, old_token);
    assert_eq!(daemon.request("GET", "/core/info", Some(&old_token), None).status(), 401);
    assert_eq!(daemon.request("GET", "/core/info", Some(&new_token), None).status(), 200);

    // A version that crashes at start is rolled back.
    registry.push_core_fixture(MACHINE, "2025.3.0", Some("crash"));
    let (status, body) = daemon.post("/core/update", json!({"version": "2025.3.0"}));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("rolled back"), "{body}");
    let (_, info) = daemon.get("/core/info");
    assert_eq!(info["data"]["version"], "2025.2.0");
    assert!(core_answers(port), "Core does not run after the rollback");
    let (status, body) = daemon.post("/core/update", json!({"version": "2025.2.0"}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_key"], "homeassistant_update_already_installed_error");

    // The watchdog starts a crashed Core again.
    let started = core_container(&daemon)["State"]["StartedAt"].clone();
    let _ = reqwest::blocking::Client::new().post(format!("http://127.0.0.1:{port}/fixture/crash")).send();
    wait_for(&daemon, "the watchdog to start Core again", Duration::from_secs(60), || {
        (core_container(&daemon)["State"]["StartedAt"] != started && core_answers(port)).then_some(())
    });
    wait_until_idle(&daemon);

    // Stopped by the user, it stays stopped; started, it answers again.
    let (status, body) = daemon.post("/core/stop", json!({}));
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(!core_answers(port), "Core still answers after a stop");
    let (status, body) = daemon.post("/core/start", json!({}));
    assert_eq!(status, 200, "{body}");
    assert!(core_answers(port));

    let (status, log) = daemon.text("/core/logs");
    assert_eq!(status, 200, "{log}");
    assert!(!log.is_empty());
}

#[test]
fn addons_reach_core_through_the_proxy_only_with_their_grant() {
    let repository = FixtureRepository::copy();
    repository.set_config("api_client", "homeassistant_api", "true");
    let registry = LocalRegistry::start();
    let (daemon, port) = daemon_with_core(&registry, &[repository.env()], "2025.1.0");
    for slug in ["core_api_client", "core_stdin_reader"] {
        install(&daemon, slug);
        let (status, body) = daemon.post(&format!("/addons/{slug}/start"), json!({}));
        assert_eq!(status, 200, "{body}");
    }
    let granted = container_token(&daemon, "core_api_client");
    let plain = container_token(&daemon, "core_stdin_reader");

    let (status, body) = e2e::json_of(daemon.request("GET", "/core/api/", Some(&granted), None));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "API running.");

    let echo = daemon
        .client()
        .post(daemon.url("/core/api/echo/lights?on=1"))
        .bearer_auth(&granted)
        .header("Content-Type", "application/json")
        .body(r#"{"brightness": 7}"#)
        .send()
        .unwrap();
    let (status, echo) = e2e::json_of(echo);
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/api/echo/lights");
    assert_eq!(echo["query"], "on=1");
    assert_eq!(echo["body"], r#"{"brightness": 7}"#);
    let authorization = echo["headers"]["authorization"].as_str().unwrap_or_default();
    assert!(!authorization.contains(&granted), "the add-on's token reached Core");

    let stream = daemon.request("GET", "/core/api/stream", Some(&granted), None);
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    assert_eq!(stream.text().unwrap().matches("data:").count(), 20);

    for (token, why) in [(Some(plain.as_str()), "an add-on without the grant"), (None, "no token")] {
        let response = daemon.request("GET", "/core/api/config", token, None);
        assert_eq!(response.status(), 401, "{why}");
    }
    let response = daemon.request("GET", "/core/api/config", Some(&daemon.cli_token()), None);
    assert_eq!(response.status(), 401, "the CLI's token is not an add-on's");
    for path in ["/core/api/hassio/addons", "/core/api/hassio_auth", "/homeassistant/api/hassio_push/discovery/x"] {
        let response = daemon.request("POST", path, Some(&granted), Some(json!({})));
        assert_eq!(response.status(), 403, "{path}");
    }

    // The websocket: the add-on logs in with its own token; Supervisor commands are refused.
    let url = format!("ws://{}/core/websocket", daemon.address());
    let (mut socket, _) = tungstenite::connect(&url).expect("the websocket");
    assert_eq!(read(&mut socket)["type"], "auth_required");
    socket.send(tungstenite::Message::text(json!({"type": "auth", "access_token": granted}).to_string())).unwrap();
    assert_eq!(read(&mut socket)["type"], "auth_ok");
    socket.send(tungstenite::Message::text(json!({"id": 1, "type": "ping"}).to_string())).unwrap();
    assert_eq!(read(&mut socket), json!({"id": 1, "type": "pong"}));
    socket.send(tungstenite::Message::text(json!({"id": 2, "type": "supervisor/api"}).to_string())).unwrap();
    let refused = read(&mut socket);
    assert_eq!((refused["id"].clone(), refused["success"].clone()), (json!(2), json!(false)), "{refused}");
    let (mut other, _) = tungstenite::connect(&url).expect("the websocket");
    read(&mut other);
    other.send(tungstenite::Message::text(json!({"type": "auth", "access_token": plain}).to_string())).unwrap();
    assert_eq!(read(&mut other)["type"], "auth_invalid");
    let received = fixture_state(port).unwrap()["websocket"].to_string();
    assert!(!received.contains("supervisor/api"), "a refused command reached Core: {received}");

    // A Core that stops answering is restarted by the watchdog (API checked every second here).
    let started = core_container(&daemon)["State"]["StartedAt"].clone();
    let _ = reqwest::blocking::Client::new().post(format!("http://127.0.0.1:{port}/fixture/hang")).send();
    wait_for(&daemon, "the watchdog to restart a hung Core", Duration::from_secs(120), || {
        (core_container(&daemon)["State"]["StartedAt"] != started && core_answers(port)).then_some(())
    });
}

/// The next text message of a websocket, as JSON.
fn read<S: std::io::Read + std::io::Write>(socket: &mut tungstenite::WebSocket<S>) -> Value {
    loop {
        if let tungstenite::Message::Text(text) = socket.read().expect("a message") {
            return serde_json::from_str(&text).expect("JSON");
        }
    }
}

#[test]
fn core_is_told_of_its_backup_and_restarted_by_a_restore() {
    let registry = LocalRegistry::start();
    let (daemon, port) = daemon_with_core(&registry, &[], "2025.1.0");
    let (status, body) = daemon.post("/backups/new/partial", json!({"name": "core only", "homeassistant": true}));
    assert_eq!(status, 200, "{body}");
    let slug = body["data"]["slug"].as_str().expect("a slug").to_owned();
    let events = fixture_state(port).expect("the fixture")["backup_events"].clone();
    assert_eq!(events, json!(["backup/start", "backup/end"]));
    let (_, info) = daemon.get(&format!("/backups/{slug}/info"));
    assert_eq!(info["data"]["homeassistant"], "2025.1.0", "{info}");
    // Core follows the job over its websocket, up to its end.
    let job_id = body["data"]["job_id"].as_str().expect("a job id").to_owned();
    let told = eventually("Core to be told the backup ended", || {
        let events = fixture_state(port)?["supervisor_events"].as_array()?.clone();
        let ended =
            events.iter().any(|e| e["event"] == "job" && e["data"]["uuid"] == job_id && e["data"]["done"] == true);
        ended.then_some(events)
    });
    let first = told.iter().find(|e| e["data"]["uuid"] == job_id).expect("the job's first event");
    assert_eq!(first["data"]["name"], "backup_manager_partial_backup", "{first}");
    assert!(first["data"].get("child_jobs").is_none(), "{first}");

    // The resolution center's changes reach Core too: a dismissed issue, and the same issue
    // found again with its suggestion.
    let (_, resolution) = daemon.get("/resolution/info");
    let issue =
        resolution["data"]["issues"].as_array().unwrap().iter().find(|i| i["type"] == "no_current_backup").cloned();
    let uuid = issue.expect("no full backup yet")["uuid"].as_str().unwrap().to_owned();
    let (status, body) = daemon.call("DELETE", &format!("/resolution/issue/{uuid}"), None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.post("/resolution/check/backups/run", json!({}));
    assert_eq!(status, 200, "{body}");
    let events = eventually("Core to be told of the issue", || {
        let events = fixture_state(port)?["supervisor_events"].as_array()?.clone();
        events
            .iter()
            .any(|e| e["event"] == "issue_changed" && e["data"]["type"] == "no_current_backup")
            .then_some(events)
    });
    assert!(events.iter().any(|e| e["event"] == "issue_removed" && e["data"]["uuid"] == uuid.as_str()), "{events:?}");
    let changed = events.iter().rfind(|e| e["event"] == "issue_changed").unwrap();
    assert_eq!(changed["data"]["suggestions"][0]["type"], "create_full_backup", "{changed}");

    wait_until_idle(&daemon);
    let started = core_container(&daemon)["State"]["StartedAt"].clone();
    let (status, body) = daemon.post(&format!("/backups/{slug}/restore/partial"), json!({"homeassistant": true}));
    assert_eq!(status, 200, "{body}");
    assert_ne!(core_container(&daemon)["State"]["StartedAt"], started, "Core was not restarted");
    assert!(core_answers(port));
    let (_, info) = daemon.get("/core/info");
    assert_eq!(info["data"]["version"], "2025.1.0");
    assert_eq!(info["data"]["port"], port);
}

/// Core's own token, as its container got it.
pub(crate) fn core_token(daemon: &Daemon) -> String {
    let container = core_container(daemon);
    let env = container["Config"]["Env"].as_array().expect("an environment");
    let line = env.iter().filter_map(Value::as_str).find_map(|e| e.strip_prefix("SUPERVISOR_TOKEN="));
    line.expect("SUPERVISOR_TOKEN").to_owned()
}

#[test]
fn addons_check_logins_announce_services_and_serve_ingress_through_core() {
    let repository = FixtureRepository::copy();
    repository.set_config("api_client", "auth_api", "true");
    repository.set_config("api_client", "discovery", "[mqtt]");
    // Its port is picked by the supervisor; the add-on asks for it as bashio does.
    repository.set_config("ingress", "ingress_port", "0");
    let registry = LocalRegistry::start();
    let (daemon, port) = daemon_with_core(&registry, &[repository.env()], "2025.1.0");
    for slug in ["core_api_client", "core_ingress"] {
        install(&daemon, slug);
        let (status, body) = daemon.post(&format!("/addons/{slug}/start"), json!({}));
        assert_eq!(status, 200, "{body}");
    }
    let addon = container_token(&daemon, "core_api_client");
    let core = core_token(&daemon);

    // Logins are checked by Core; the users are Core's, without system users. The add-on's token
    // goes in `X-Supervisor-Token`: `Authorization` would be read as the login.
    let login = |password: &str| {
        let request = daemon.client().post(daemon.url("/auth")).header("X-Supervisor-Token", &addon);
        request.json(&json!({"username": "homer", "password": password})).send().unwrap().status()
    };
    assert_eq!(login("donut"), 200);
    // A cached user is answered from the cache at once and checked with Core in the background,
    // as the real Supervisor does.
    // Asked again while the check waits: under load the probe of Core's state can time out, and
    // then the cache answers alone (as the real Supervisor does when Core does not run).
    let checked = eventually("Core to check the second login", || {
        assert_eq!(login("beer"), 401);
        let calls = fixture_state(port)?["auth_calls"].as_array()?.clone();
        (calls.len() >= 2).then_some(calls)
    });
    assert!(checked[1..].iter().all(|call| call["result"] == false), "{checked:?}");
    let (status, users) = daemon.get("/auth/list");
    assert_eq!(status, 200, "{users}");
    let names: Vec<&str> =
        users["data"]["users"].as_array().unwrap().iter().filter_map(|u| u["username"].as_str()).collect();
    assert_eq!(names, ["homer"], "{users}");
    let output = daemon.ha(&["authentication", "list", "--raw-json"], &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("homer"));
    let output = daemon.ha(&["core", "info", "--raw-json"], &[]);
    let info: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(info["data"]["version"], "2025.1.0", "{info}");

    // A discovery message reaches Core, which reads it back with its token.
    let announce = json!({"service": "mqtt", "config": {"host": "broker", "port": 1883}});
    let (status, body) = e2e::json_of(daemon.request("POST", "/discovery", Some(&addon), Some(announce)));
    assert_eq!(status, 200, "{body}");
    let uuid = body["data"]["uuid"].as_str().expect("a uuid").to_owned();
    let pushed = eventually("Core to be told of the message", || {
        let pushes = fixture_state(port)?["discovery"].as_array()?.clone();
        pushes.into_iter().find(|p| p["uuid"] == uuid.as_str())
    });
    assert_eq!(pushed["method"], "POST", "{pushed}");
    let (status, message) = e2e::json_of(daemon.request("GET", &format!("/discovery/{uuid}"), Some(&core), None));
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["data"]["addon"], "core_api_client");
    assert_eq!(message["data"]["config"]["host"], "broker");

    // Ingress: Core opens a session for its user; the page comes through with the cookie only.
    let (status, panels) = e2e::json_of(daemon.request("GET", "/ingress/panels", Some(&core), None));
    assert_eq!(status, 200, "{panels}");
    assert!(panels["data"]["panels"]["core_ingress"].is_object(), "{panels}");
    let (status, session) = e2e::json_of(daemon.request("POST", "/ingress/session", Some(&core), Some(json!({}))));
    assert_eq!(status, 200, "{session}");
    let session = session["data"]["session"].as_str().expect("a session").to_owned();
    let (_, info) = daemon.get("/addons/core_ingress/info");
    let entry = info["data"]["ingress_entry"].as_str().expect("an ingress entry");
    let token = entry.rsplit('/').next().unwrap();
    let page = |cookie: Option<&str>| {
        let mut request = daemon.client().get(daemon.url(&format!("/ingress/{token}/")));
        if let Some(cookie) = cookie {
            request = request.header("Cookie", format!("ingress_session={cookie}"));
        }
        request.send().unwrap()
    };
    assert_eq!(page(None).status(), 401);
    let served = eventually("the add-on's page through ingress", || {
        let response = page(Some(&session));
        response.status().is_success().then(|| response.text().unwrap())
    });
    let expected = std::fs::read_to_string(e2e::fixtures::store_fixtures().join("ingress/www/index.html")).unwrap();
    assert_eq!(served, expected);
    // Core's sidebar follows the panel as the user turns it on and off.
    for enabled in [true, false] {
        let (status, body) = daemon.post("/addons/core_ingress/options", json!({"ingress_panel": enabled}));
        assert_eq!(status, 200, "{body}");
    }
    let pushes = eventually("Core to be told of the panel", || {
        let pushes = fixture_state(port)?["panels"].as_array()?.clone();
        (pushes.len() == 2).then_some(pushes)
    });
    assert_eq!(
        pushes,
        [json!({"method": "POST", "slug": "core_ingress"}), json!({"method": "DELETE", "slug": "core_ingress"})]
    );
    let picked = info["data"]["ingress_port"].as_u64().expect("a picked ingress port");
    assert!((62000..=65500).contains(&picked), "{picked}");
    let (status, body) = daemon.post("/addons/core_ingress/restart", json!({}));
    assert_eq!(status, 200, "{body}");
    let (_, again) = daemon.get("/addons/core_ingress/info");
    assert_eq!(again["data"]["ingress_port"], picked, "the picked port is kept");
    eventually("the page again after a restart", || page(Some(&session)).status().is_success().then_some(()));
}
