//! The add-on life cycle against the real Docker engine: every fixture add-on of
//! `store-fixtures/` installed for real (built locally or pulled from a private registry),
//! configured, started, talked to and removed again, with a look at what the engine holds after
//! each step: the container's settings grant what the add-on's config asks for and nothing more,
//! and a failed or undone install leaves nothing behind.
//!
//! Each test has its own daemon, so its own instance prefix and network; the daemon removes what
//! it created on the engine when it is dropped. Builds reuse the engine's build cache (every
//! fixture builds on `supervisor-test-base:latest`), so an install takes about a second.

use e2e::fixtures::{arch, FixtureRepository};
use e2e::registry::LocalRegistry;
use e2e::{eventually, Daemon};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `docker args`; its stdout when it succeeded.
pub(crate) fn docker(args: &[&str]) -> Option<String> {
    let output = Command::new("docker").args(args).stdin(Stdio::null()).output().expect("run docker");
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `docker inspect` of a container; `None` when there is none.
pub(crate) fn inspect_container(name: &str) -> Option<Value> {
    let out = docker(&["container", "inspect", name])?;
    let parsed: Value = serde_json::from_str(&out).expect("docker inspect prints JSON");
    parsed.get(0).cloned()
}

pub(crate) fn image_exists(reference: &str) -> bool {
    docker(&["image", "inspect", reference]).is_some()
}

/// The engine name of an add-on's container.
pub(crate) fn container_name(daemon: &Daemon, slug: &str) -> String {
    format!("{}addon_{slug}", daemon.instance())
}

/// The image a locally built add-on of `repository` gets, with its tag.
pub(crate) fn local_image(daemon: &Daemon, repository: &str, config_slug: &str, version: &str) -> String {
    format!("{}{repository}/{}-addon-{config_slug}:{version}", daemon.instance(), arch()).to_lowercase()
}

/// The add-on's data folder on the host (`/data` in its container).
pub(crate) fn addon_data(daemon: &Daemon, slug: &str) -> PathBuf {
    daemon.data_dir().join("addons/data").join(slug)
}

/// A daemon (on the given environment) that is connected to the engine, for tests that use it.
pub(crate) fn engine_daemon(env: &[(&str, &str)]) -> Daemon {
    let daemon = Daemon::start_with(env);
    daemon.wait_for_engine();
    daemon
}

/// Installs `slug` from the store and waits for the install to end; it must succeed.
pub(crate) fn install(daemon: &Daemon, slug: &str) {
    let (status, body) = daemon.post(&format!("/store/addons/{slug}/install"), json!({}));
    assert_eq!(status, 200, "install of {slug}: {body}");
}

pub(crate) fn uninstall(daemon: &Daemon, slug: &str) {
    let (status, body) = daemon.post(&format!("/addons/{slug}/uninstall"), json!({}));
    assert_eq!(status, 200, "uninstall of {slug}: {body}");
}

pub(crate) fn start(daemon: &Daemon, slug: &str) {
    let (status, body) = daemon.post(&format!("/addons/{slug}/start"), json!({}));
    assert_eq!(status, 200, "start of {slug}: {body}");
}

pub(crate) fn stop(daemon: &Daemon, slug: &str) {
    let (status, body) = daemon.post(&format!("/addons/{slug}/stop"), json!({}));
    assert_eq!(status, 200, "stop of {slug}: {body}");
}

pub(crate) fn info(daemon: &Daemon, slug: &str) -> Value {
    let (status, body) = daemon.get(&format!("/addons/{slug}/info"));
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

pub(crate) fn state(daemon: &Daemon, slug: &str) -> String {
    info(daemon, slug)["state"].as_str().expect("a state").to_owned()
}

pub(crate) fn set_options(daemon: &Daemon, slug: &str, body: Value) {
    let (status, answer) = daemon.post(&format!("/addons/{slug}/options"), body);
    assert_eq!(status, 200, "{answer}");
}

pub(crate) fn installed_slugs(daemon: &Daemon) -> Vec<String> {
    let (status, body) = daemon.get("/addons");
    assert_eq!(status, 200, "{body}");
    body["data"]["addons"].as_array().expect("a list").iter().map(|a| a["slug"].as_str().unwrap().to_owned()).collect()
}

/// The lines of a file in the add-on's data folder; empty while it does not exist.
pub(crate) fn data_lines(daemon: &Daemon, slug: &str, file: &str) -> Vec<String> {
    std::fs::read_to_string(addon_data(daemon, slug).join(file))
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The add-on token the container was given.
pub(crate) fn container_token(daemon: &Daemon, slug: &str) -> String {
    let container = inspect_container(&container_name(daemon, slug)).expect("the container");
    env_of(&container).remove("SUPERVISOR_TOKEN").expect("SUPERVISOR_TOKEN")
}

fn env_of(container: &Value) -> BTreeMap<String, String> {
    container["Config"]["Env"]
        .as_array()
        .expect("an environment")
        .iter()
        .filter_map(|line| line.as_str()?.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// `null`, `[]` and `{}` all mean "nothing" to the engine.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// After an uninstall or a failed install: no record, no container, no image, no data folder.
pub(crate) fn assert_nothing_left(daemon: &Daemon, slug: &str, image: &str) {
    assert!(!installed_slugs(daemon).contains(&slug.to_owned()), "{slug} is still installed");
    assert!(inspect_container(&container_name(daemon, slug)).is_none(), "the container of {slug} is left");
    assert!(!image_exists(image), "the image {image} is left");
    assert!(!addon_data(daemon, slug).exists(), "the data folder of {slug} is left");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

#[test]
fn build_local_runs_with_exactly_what_its_config_grants() {
    let repository = FixtureRepository::copy();
    let port = free_port();
    // Both map forms: the dict and the older `type:rw` string.
    repository.set_config("build_local", "map", r#"[{type: share, read_only: false}, "ssl:ro", "media:rw"]"#);
    repository.set_config("build_local", "ports", &format!(r#"{{"8080/tcp": {port}, "9090/udp": null}}"#));
    let daemon = engine_daemon(&[repository.env()]);
    let slug = "core_build_local";
    let image = local_image(&daemon, "core", "build_local", "1.0.0");

    install(&daemon, slug);
    assert!(image_exists(&image), "{image} was not built");
    assert_eq!(state(&daemon, slug), "stopped");
    let (_, store) = daemon.get(&format!("/store/addons/{slug}"));
    assert_eq!((&store["data"]["installed"], &store["data"]["version"]), (&json!(true), &json!("1.0.0")), "{store}");
    let (_, supervisor) = daemon.get("/supervisor/info");
    let listed = &supervisor["data"]["addons"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(
        (&listed[0]["slug"], &listed[0]["state"], &listed[0]["repository"]),
        (&json!(slug), &json!("stopped"), &json!("core"))
    );
    set_options(&daemon, slug, json!({"options": {"message": "from e2e"}}));
    start(&daemon, slug);

    let name = container_name(&daemon, slug);
    let container = inspect_container(&name).expect("the add-on's container");
    let network = format!("{}hassio", daemon.instance());
    let (config, host) = (&container["Config"], &container["HostConfig"]);
    assert_eq!(config["Hostname"], "core-build-local");
    assert_eq!(config["Domainname"], "local.hass.io");
    assert_eq!(config["Image"], image);
    assert_eq!(config["OpenStdin"], false);
    assert!(config["Labels"].get("supervisor_managed").is_some(), "{}", config["Labels"]);
    assert_eq!(host["NetworkMode"], network);
    let networks: Vec<&String> = container["NetworkSettings"]["Networks"].as_object().unwrap().keys().collect();
    assert_eq!(networks, vec![&network], "attached to other networks");

    let env = env_of(&container);
    let token = &env["SUPERVISOR_TOKEN"];
    assert_eq!(token.len(), 112, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    assert_eq!(env.get("HASSIO_TOKEN"), Some(token));
    let (_, root) = daemon.get("/info");
    assert_eq!(env.get("TZ").map(String::as_str), root["data"]["timezone"].as_str(), "{env:?}");
    let unexpected: Vec<&String> =
        env.keys().filter(|k| !["SUPERVISOR_TOKEN", "HASSIO_TOKEN", "TZ", "PATH"].contains(&k.as_str())).collect();
    assert!(unexpected.is_empty(), "environment beyond the config: {unexpected:?}");

    let mounts: BTreeMap<String, (String, bool)> = container["Mounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .map(|m| {
            let destination = m["Destination"].as_str().unwrap().to_owned();
            (destination, (m["Source"].as_str().unwrap().to_owned(), m["RW"].as_bool().unwrap()))
        })
        .collect();
    let data = daemon.data_dir();
    let lock_folder = data.join("addons/locks").join(slug).join(slug);
    let expected = BTreeMap::from([
        // The host's devices, read-only: it may open none of them (no device cgroup rules).
        ("/dev".to_owned(), ("/dev".to_owned(), false)),
        ("/data".to_owned(), (addon_data(&daemon, slug).display().to_string(), true)),
        ("/share".to_owned(), (data.join("share").display().to_string(), true)),
        ("/ssl".to_owned(), (data.join("ssl").display().to_string(), false)),
        ("/media".to_owned(), (data.join("media").display().to_string(), true)),
        // Its update-lock folder, as a balena service has one.
        ("/tmp/balena".to_owned(), (lock_folder.display().to_string(), true)),
        ("/tmp/resin".to_owned(), (lock_folder.display().to_string(), true)),
    ]);
    assert_eq!(mounts, expected, "the mounts are not the mapped folders");

    assert_eq!(host["Privileged"], false);
    assert_eq!(host["Init"], false, "init: false in its config");
    for key in ["CapAdd", "Devices", "DeviceCgroupRules", "Binds", "SecurityOpt", "PidMode", "UTSMode", "VolumesFrom"] {
        assert!(is_empty(&host[key]), "{key} is {}", host[key]);
    }
    assert_ne!(host["IpcMode"], "host");
    assert!(["", "no"].contains(&host["RestartPolicy"]["Name"].as_str().unwrap_or("")), "{}", host["RestartPolicy"]);
    assert_eq!(host["PortBindings"], json!({"8080/tcp": [{"HostIp": "", "HostPort": port.to_string()}]}));
    let gateway = container["NetworkSettings"]["Networks"][&network]["Gateway"].as_str().unwrap().to_owned();
    let mut extra_hosts: Vec<&str> =
        host["ExtraHosts"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    extra_hosts.sort();
    assert_eq!(extra_hosts, vec![format!("hassio:{gateway}"), format!("supervisor:{gateway}")]);

    let details = info(&daemon, slug);
    assert_eq!(details["state"], "started");
    assert_eq!(details["network"], json!({"8080/tcp": port, "9090/udp": null}));
    let ip = &container["NetworkSettings"]["Networks"][&network]["IPAddress"];
    assert_eq!(&details["ip_address"], ip);
    let options: Value = serde_json::from_str(
        &std::fs::read_to_string(addon_data(&daemon, slug).join("options.json")).expect("options.json"),
    )
    .expect("options.json is JSON");
    assert_eq!(options, json!({"message": "from e2e"}));
    eventually("the add-on to record its start", || (data_lines(&daemon, slug, "starts").len() == 1).then_some(()));

    stop(&daemon, slug);
    assert_eq!(state(&daemon, slug), "stopped");
    assert!(inspect_container(&name).is_none(), "a stopped add-on keeps no container");
    uninstall(&daemon, slug);
    assert_nothing_left(&daemon, slug, &image);
    let (_, store) = daemon.get("/store/addons/core_build_local");
    assert_eq!(store["data"]["installed"], false, "{store}");
}

#[test]
fn prebuilt_pulls_with_registry_credentials_and_fails_cleanly_without() {
    let registry = LocalRegistry::start();
    let repository = FixtureRepository::with_registry(&registry);
    let reference = format!("{}/supervisor-fixtures/prebuilt-{}:1.0.0", registry.address(), arch());
    // Pushing left the image in the engine; the install must pull it.
    assert!(docker(&["image", "rm", &reference]).is_some(), "could not untag {reference}");
    let daemon = engine_daemon(&[repository.env()]);
    let slug = "core_prebuilt";

    let (status, body) = daemon.post(&format!("/store/addons/{slug}/install"), json!({}));
    assert!(status.is_client_error() || status.is_server_error(), "{status}: {body}");
    assert_eq!(body["result"], "error", "{body}");
    assert_nothing_left(&daemon, slug, &reference);

    let login = json!({registry.address(): {"username": registry.username(), "password": registry.password()}});
    let (status, body) = daemon.post("/docker/registries", login);
    assert_eq!(status, 200, "{body}");
    install(&daemon, slug);
    assert!(image_exists(&reference), "{reference} was not pulled");
    assert_eq!(info(&daemon, slug)["build"], false);
    start(&daemon, slug);
    assert_eq!(state(&daemon, slug), "started");
    let container = inspect_container(&container_name(&daemon, slug)).expect("the container");
    assert_eq!(container["Config"]["Image"], reference);
    eventually("the add-on to record its start", || (data_lines(&daemon, slug, "starts").len() == 1).then_some(()));

    uninstall(&daemon, slug);
    assert_nothing_left(&daemon, slug, &reference);
}

/// Valid options for `schema_all`, every default replaced.
fn schema_all_options() -> Value {
    json!({
        "name": "e2e", "short": "xyz", "enabled": false, "count": 42, "ratio": -1.25,
        "email": "e2e@example.com", "website": "https://example.com/e2e", "port": 8443,
        "secret": "another-long-secret", "word": "xyz", "choice": "b", "tags": ["a"],
        "nested": {"host": "h", "level": 5}, "users": [{"username": "bob", "admin": false}],
        "note": "given", "level": 7
    })
}

fn options_of(daemon: &Daemon, slug: &str) -> Value {
    info(daemon, slug)["options"].clone()
}

#[test]
fn schema_all_options_round_trip_and_bad_ones_change_nothing() {
    let mut daemon = engine_daemon(&[]);
    let slug = "core_schema_all";
    install(&daemon, slug);

    let mut given = schema_all_options();
    given["level"] = json!("7"); // coerced to a number, as the real Supervisor does
    set_options(&daemon, slug, json!({"options": given}));
    let valid = schema_all_options();
    assert_eq!(options_of(&daemon, slug), valid);

    let mut without_name = valid.clone();
    without_name.as_object_mut().unwrap().remove("name");
    let invalid = [
        (json!({"count": 500}), "'count': 500"),
        (json!({"short": "a"}), "'short': 'a'"),
        (json!({"email": "not-an-email"}), "'email'"),
        (json!({"website": "no url"}), "'website'"),
        (json!({"port": 70000}), "'port': 70000"),
        (json!({"word": "ABC"}), "'word': 'ABC'"),
        (json!({"choice": "d"}), "'choice': 'd'"),
        (json!({"enabled": "maybe"}), "'enabled': 'maybe'"),
        (json!({"tags": "one"}), "Invalid list for option 'tags'"),
        (json!({"nested": {"host": "h"}}), "Missing option 'level' in nested"),
        (json!({"users": [{"username": "bob"}]}), "Missing option 'admin' in users"),
        (without_name, "Missing option 'name' in root"),
    ];
    for (options, names) in &invalid {
        let (status, body) = daemon.post(&format!("/addons/{slug}/options"), json!({ "options": options }));
        assert_eq!(status, 400, "{options}: {body}");
        assert_eq!(body["error_key"], "addon_configuration_invalid_error", "{body}");
        let message = body["message"].as_str().expect("a message");
        assert!(message.starts_with(&format!("App {slug} has invalid options: ")), "{message}");
        assert!(message.contains(names), "{options}: the message does not name the key: {message}");
        assert_eq!(options_of(&daemon, slug), valid, "{options} changed the options");
    }

    // options/validate answers 200 either way; an empty body checks the current options.
    let validate = format!("/addons/{slug}/options/validate");
    let (status, body) = daemon.post(&validate, valid.clone());
    assert_eq!((status.as_u16(), &body["data"]["valid"], &body["data"]["message"]), (200, &json!(true), &json!("")));
    let (status, body) = daemon.post(&validate, json!({"count": 500}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["valid"], false, "{body}");
    assert!(body["data"]["message"].as_str().unwrap().contains("'count': 500"), "{body}");
    let (status, body) = daemon.call("POST", &validate, None);
    assert_eq!((status.as_u16(), &body["data"]["valid"]), (200, &json!(true)), "{body}");

    // A payload far over the body limit is refused before anything reads it.
    let huge = format!(r#"{{"options": {{"name": "{}"}}}}"#, "x".repeat(50 * 1024 * 1024));
    let response = daemon
        .client()
        .post(daemon.url(&format!("/addons/{slug}/options")))
        .bearer_auth(daemon.cli_token())
        .header("Content-Type", "application/json")
        .body(huge)
        .send();
    match response {
        Ok(response) => assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE),
        // The daemon may answer 413 and close before the client has sent everything.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert_eq!(options_of(&daemon, slug), valid, "the big payload changed the options");

    // Only the add-on itself reads the options it runs with.
    let (status, body) = daemon.get(&format!("/addons/{slug}/options/config"));
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["message"], "This can be only read by the app itself!");
    start(&daemon, slug);
    let container = inspect_container(&container_name(&daemon, slug)).expect("the container");
    assert_eq!(container["HostConfig"]["Init"], true, "init is left at its default, true");
    let token = container_token(&daemon, slug);
    let (status, body) = e2e::json_of(daemon.request("GET", "/addons/self/options/config", Some(&token), None));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], valid);
    assert!(!crate::auth::database_holds(&daemon, &token), "the database holds the add-on's token");
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(addon_data(&daemon, slug).join("options.json")).expect("options.json"),
    )
    .expect("options.json is JSON");
    assert_eq!(written, valid);

    daemon.kill9_and_restart();
    assert_eq!(options_of(&daemon, slug), valid, "the options did not survive a kill -9");
    // The container ran on; once the engine is back the restarted daemon knows its token again.
    eventually("the running add-on's token to be accepted again", || {
        let response = daemon.request("GET", "/addons/self/options/config", Some(&token), None);
        (response.status() == 200).then_some(())
    });

    // `null` resets the options to the config's defaults.
    set_options(&daemon, slug, json!({"options": null}));
    let defaults = options_of(&daemon, slug);
    assert_eq!(defaults["name"], "fixture", "{defaults}");
    assert_eq!(defaults["users"], json!([{"username": "alice", "admin": true}]), "{defaults}");
    assert_eq!(defaults.get("note"), None, "{defaults}");
}

#[test]
fn api_client_reaches_the_supervisor_with_its_token_and_only_where_its_role_allows() {
    let daemon = engine_daemon(&[]);
    let slug = "core_api_client";
    install(&daemon, slug);
    start(&daemon, slug);
    let results = addon_data(&daemon, slug).join("results");
    let text = eventually("the add-on's API calls", || std::fs::read_to_string(&results).ok());
    let statuses: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once(' ')).collect();
    let expected = BTreeMap::from([
        ("info", "200"),
        ("addons_self_info", "200"),
        ("supervisor_options", "403"),
        ("no_token", "401"),
    ]);
    assert_eq!(statuses, expected, "{text}");
    let body = std::fs::read_to_string(addon_data(&daemon, slug).join("addons_self_info.body")).expect("the body");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["data"]["slug"], slug, "{body}");

    // Its token works from anywhere while it runs, within its role, and dies with the container.
    let token = container_token(&daemon, slug);
    assert_eq!(daemon.request("GET", "/addons/self/info", Some(&token), None).status(), 200);
    assert_eq!(daemon.request("POST", "/supervisor/options", Some(&token), Some(json!({}))).status(), 403);
    assert_eq!(daemon.request("GET", "/addons/core_api_client/options/config", Some(&token), None).status(), 403);

    // It has no stdin.
    let (status, body) = daemon.post(&format!("/addons/{slug}/stdin"), json!("hello"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_key"], "addon_not_supported_write_stdin_error");

    stop(&daemon, slug);
    assert_eq!(daemon.request("GET", "/addons/self/info", Some(&token), None).status(), 401);
}

#[test]
fn the_watchdog_restarts_a_crashed_addon_and_leaves_a_stopped_one_alone() {
    let daemon = engine_daemon(&[]);
    let slug = "core_crasher";
    install(&daemon, slug);
    set_options(&daemon, slug, json!({"watchdog": true, "options": {"crash": false, "crash_after": 2}}));
    assert_eq!(info(&daemon, slug)["watchdog"], true);
    start(&daemon, slug);
    // It exits with status 3 after two seconds; the watchdog starts it again.
    eventually("the watchdog to restart the crashed add-on", || {
        (data_lines(&daemon, slug, "starts").len() >= 2 && state(&daemon, slug) == "started").then_some(())
    });
    // A crash may come in between: then the watchdog's restart holds the add-on for a moment
    // and the stop is refused with 409 until it is done.
    eventually("the stop to be accepted", || {
        let (status, body) = daemon.post(&format!("/addons/{slug}/stop"), json!({}));
        assert!(status == 200 || status == 409, "{status}: {body}");
        (status == 200).then_some(())
    });
    let starts = data_lines(&daemon, slug, "starts").len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(state(&daemon, slug), "stopped");
    assert_eq!(data_lines(&daemon, slug, "starts").len(), starts, "a stopped add-on was restarted");

    // Without the watchdog a crash is left as it is.
    set_options(&daemon, slug, json!({"watchdog": false, "options": {"crash": true, "crash_after": 0}}));
    start(&daemon, slug);
    eventually("the add-on to crash", || (state(&daemon, slug) == "error").then_some(()));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(state(&daemon, slug), "error");
    assert_eq!(data_lines(&daemon, slug, "starts").len(), starts + 1, "restarted without a watchdog");
}

pub(crate) fn write_stdin(daemon: &Daemon, slug: &str, line: &str) -> (StatusCode, Value) {
    let response = daemon
        .client()
        .post(daemon.url(&format!("/addons/{slug}/stdin")))
        .bearer_auth(daemon.cli_token())
        .body(line.to_owned())
        .send()
        .expect("request");
    e2e::json_of(response)
}

#[test]
fn a_background_install_is_a_job_and_stdin_reaches_the_addon() {
    // A build argument of its own: no other test's build can serve this one from the engine's
    // cache, so the build takes long enough to be watched.
    let repository = FixtureRepository::copy();
    let build = std::fs::read_to_string(repository.addon("stdin_reader").join("build.yaml")).unwrap();
    let unique = repository.path().file_name().unwrap().to_string_lossy().to_lowercase();
    repository.write(
        "stdin_reader/build.yaml",
        &build.replace("FIXTURE_ARG: stdin_reader", &format!("FIXTURE_ARG: {unique}")),
    );
    let daemon = engine_daemon(&[repository.env()]);
    let slug = "core_stdin_reader";
    let (status, body) = daemon.post(&format!("/store/addons/{slug}/install"), json!({"background": true}));
    assert_eq!(status, 200, "{body}");
    let job_id = body["data"]["job_id"].as_str().expect("a job id").to_owned();

    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let (status, body) = daemon.get(&format!("/jobs/{job_id}"));
        assert_eq!(status, 200, "{body}");
        let job = body["data"].clone();
        seen.push((job["progress"].as_f64().unwrap(), job["done"].clone()));
        if job["done"] == true {
            break job;
        }
        assert!(Instant::now() < deadline, "the install did not end: {job}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(job["name"], "addon_manager_install");
    assert_eq!(job["reference"], slug);
    assert_eq!(job["errors"], json!([]), "{job}");
    assert_eq!(job["progress"], 100.0);
    assert!(seen.iter().any(|(_, done)| *done == false), "never saw the job running: {seen:?}");
    assert!(seen.iter().any(|(p, _)| *p > 0.0 && *p < 100.0), "never saw progress: {seen:?}");
    let progress: Vec<f64> = seen.iter().map(|(p, _)| *p).collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "progress went back: {progress:?}");
    assert_eq!(installed_slugs(&daemon), vec![slug.to_owned()]);

    let (status, body) = write_stdin(&daemon, slug, "too early");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_key"], "addon_not_running_error");
    start(&daemon, slug);
    let (status, body) = write_stdin(&daemon, slug, "first line");
    assert_eq!(status, 200, "{body}");
    eventually("the first line", || (data_lines(&daemon, slug, "stdin.log") == ["first line"]).then_some(()));
    let (status, body) = write_stdin(&daemon, slug, "second line");
    assert_eq!(status, 200, "{body}");
    eventually("the second line", || {
        (data_lines(&daemon, slug, "stdin.log") == ["first line", "second line"]).then_some(())
    });
}

#[test]
fn a_failed_build_leaves_nothing_behind() {
    let repository = FixtureRepository::copy();
    // Two steps succeed (and leave layers) before one fails; the marker finds those layers.
    let marker = format!("e2e-failed-build-{}", repository.path().file_name().unwrap().to_string_lossy());
    let dockerfile = format!(
        "ARG BUILD_FROM\nFROM $BUILD_FROM\nRUN echo {marker} > /marker\nCOPY run.sh /run.sh\nRUN exit 3\nCMD [\"true\"]\n"
    );
    repository.write("build_local/Dockerfile", &dockerfile);
    let daemon = engine_daemon(&[repository.env()]);
    let slug = "core_build_local";
    let (status, body) = daemon.post(&format!("/store/addons/{slug}/install"), json!({}));
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error_key"], "addon_build_failed_unknown_error", "{body}");
    assert_eq!(
        body["message"],
        format!("An unknown error occurred while trying to build the image for app {slug}. Check Supervisor logs for details")
    );
    assert_nothing_left(&daemon, slug, &local_image(&daemon, "core", "build_local", "1.0.0"));
    let (_, store) = daemon.get(&format!("/store/addons/{slug}"));
    assert_eq!(store["data"]["installed"], false, "{store}");
    // No intermediate layer of the build is left either (engines that still report the
    // command an image was made by; newer ones do not, and then this finds nothing).
    let ids = docker(&["images", "--all", "--quiet", "--no-trunc"]).unwrap_or_default();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    let mut args = vec!["image", "inspect", "--format", "{{.Id}} {{json .ContainerConfig.Cmd}}"];
    args.extend(&ids);
    // Images of parallel tests may vanish between the two calls: read whatever was printed.
    let output = Command::new("docker").args(&args).stderr(Stdio::null()).output().expect("run docker");
    let made: Vec<String> =
        String::from_utf8_lossy(&output.stdout).lines().filter(|l| l.contains(&marker)).map(str::to_owned).collect();
    assert!(made.is_empty(), "layers of the failed build are left: {made:?}");
}

#[test]
fn after_a_kill9_installed_addons_are_as_they_were_and_boot_auto_ones_start() {
    let mut daemon = engine_daemon(&[]);
    let slug = "core_build_local";
    install(&daemon, slug);
    set_options(&daemon, slug, json!({"options": {"message": "kept"}}));
    assert_eq!(state(&daemon, slug), "stopped");

    daemon.kill9_and_restart();
    assert_eq!(installed_slugs(&daemon), vec![slug.to_owned()]);
    eventually("the boot: auto add-on to be started", || (state(&daemon, slug) == "started").then_some(()));
    let details = info(&daemon, slug);
    assert_eq!(details["version"], "1.0.0");
    assert_eq!(details["boot"], "auto");
    assert_eq!(details["options"], json!({"message": "kept"}));
    eventually("the add-on to record its start", || (data_lines(&daemon, slug, "starts").len() == 1).then_some(()));

    // A running add-on uninstalls as cleanly as a stopped one.
    uninstall(&daemon, slug);
    assert_nothing_left(&daemon, slug, &local_image(&daemon, "core", "build_local", "1.0.0"));
}

#[test]
fn a_slug_that_climbs_out_is_refused() {
    let daemon = Daemon::start();
    for (method, path) in [
        ("GET", "/addons/..%2F..%2Fetc/info"),
        ("POST", "/addons/..%2F..%2Fetc/options"),
        ("POST", "/addons/..%2F..%2Fetc/uninstall"),
        ("GET", "/store/addons/..%2F..%2Fetc"),
        ("POST", "/store/addons/..%2F..%2Fetc/install"),
        ("GET", "/addons/..%2F..%2Fetc/logo"),
        ("GET", "/addons/core_..%2F..%2Fetc/info"),
        ("POST", "/store/addons/core_build_local%2F..%2F..%2Fx/install"),
        ("GET", "/addons/..%5C..%5Cetc/info"),
        ("GET", "/addons/%252E%252E%252Fetc/info"),
    ] {
        let response = daemon.request(method, path, Some(&daemon.cli_token()), Some(json!({})));
        assert!(response.status().is_client_error(), "{method} {path}: {}", response.status());
    }
    let created: Vec<_> = std::fs::read_dir(daemon.data_dir().join("addons/data")).unwrap().collect();
    assert!(created.is_empty(), "{created:?}");
    assert!(installed_slugs(&daemon).is_empty());
}

#[test]
fn ha_apps_install_follows_the_job_and_ha_apps_info_shows_the_app() {
    let daemon = engine_daemon(&[]);
    let output = daemon.ha(&["apps", "install", "core_stdin_reader"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ha apps install failed: {stderr}");
    // Not a terminal: no progress, as the real CLI shows none there.
    assert!(stderr.trim().is_empty(), "{stderr:?}");
    assert_eq!(installed_slugs(&daemon), vec!["core_stdin_reader".to_owned()]);

    let output = daemon.ha(&["apps", "info", "core_stdin_reader"], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    for line in ["slug: core_stdin_reader", "version: 1.0.0", "state: stopped", "stdin: true"] {
        assert!(stdout.lines().any(|l| l == line), "{line} missing: {stdout}");
    }
}

/// Runs `command` in the add-on's container, as the add-on itself would; it must succeed.
fn exec_in(daemon: &Daemon, slug: &str, command: &[&str]) {
    let container = container_name(daemon, slug);
    let args = [&["exec", container.as_str()], command].concat();
    assert!(docker(&args).is_some(), "{command:?} in {container}");
}

/// An add-on holds its update lock as a balena service does, with `updates.lock` in its
/// `/tmp/balena`: its update and restart are refused (409) until it lets go, unless forced, and
/// its info says so.
#[test]
fn an_addon_holding_its_update_lock_delays_its_update_and_restart_until_it_lets_go_or_is_forced() {
    let repository = FixtureRepository::copy();
    let daemon = engine_daemon(&[repository.env()]);
    let slug = "core_stdin_reader";
    install(&daemon, slug);
    start(&daemon, slug);
    assert_eq!(info(&daemon, slug)["update_locked"], false);
    exec_in(&daemon, slug, &["touch", "/tmp/balena/updates.lock"]);
    assert_eq!(info(&daemon, slug)["update_locked"], true);

    repository.set_config("stdin_reader", "version", "1.0.1");
    let (status, answer) = daemon.post("/store/reload", json!({}));
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = daemon.post(&format!("/addons/{slug}/update"), json!({}));
    assert_eq!(status, 409, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("update lock"), "{answer}");
    let (status, answer) = daemon.post(&format!("/addons/{slug}/restart"), json!({}));
    assert_eq!(status, 409, "{answer}");
    assert_eq!(info(&daemon, slug)["version"], "1.0.0");
    assert_eq!(state(&daemon, slug), "started");

    // It lets go: the update goes ahead.
    exec_in(&daemon, slug, &["rm", "/tmp/balena/updates.lock"]);
    let (status, answer) = daemon.post(&format!("/addons/{slug}/update"), json!({}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(info(&daemon, slug)["version"], "1.0.1");

    // Taken again (the legacy name counts too): force overrides it and takes it away.
    if state(&daemon, slug) != "started" {
        start(&daemon, slug);
    }
    exec_in(&daemon, slug, &["touch", "/tmp/resin/resin-updates.lock"]);
    assert_eq!(info(&daemon, slug)["update_locked"], true);
    let (status, answer) = daemon.post(&format!("/addons/{slug}/restart"), json!({"force": true}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(info(&daemon, slug)["update_locked"], false);
    assert_eq!(state(&daemon, slug), "started");
    exec_in(&daemon, slug, &["touch", "/tmp/balena/updates.lock"]);
    uninstall(&daemon, slug);
    assert!(!daemon.data_dir().join("addons/locks").join(slug).exists(), "its lock folder goes with it");
}
