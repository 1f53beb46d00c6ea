//! The balena device API's applications on the real engine: a local target state comes up as
//! containers with the device's variables and lock folders, and a service that asks for the
//! device API reaches it from its container with its own key; a changed target replaces
//! exactly what changed under each update strategy; a service's update lock delays an update
//! until it lets go, and `force` overrides it (reboot is refused meanwhile); purge empties the
//! volumes and keeps the application; restart-service makes one container again; a bad target is
//! refused with nothing changed; a kill -9 mid-way still ends converged; a service's key reaches
//! its own application only.
//!
//! The services are the busybox base image, tagged per test under the daemon's instance prefix
//! (removed with the daemon's objects), running a shell loop that stops at once on SIGTERM.

use crate::addons::docker;
use e2e::{eventually, Daemon};
use reqwest::blocking::Response;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const BASE: &str = "supervisor-test-base:latest";
/// The label by which a service asks for the device API's address and a key.
const API_LABEL: &str = "io.balena.features.supervisor-api";

/// A service's command: `script`, then a loop that ends on SIGTERM.
fn command(script: &str) -> Value {
    json!(["sh", "-c", format!("trap 'exit 0' TERM; {script} while true; do sleep 1; done")])
}

/// The base image tagged as `<instance>balena/<name>:1`, which the daemon's clean-up removes.
fn image(daemon: &Daemon, name: &str) -> String {
    let tag = format!("{}balena/{name}:1", daemon.instance());
    docker(&["tag", BASE, &tag]).expect("docker tag");
    tag
}

fn service(name: &str, image_id: u32, image: &str, extra: Value) -> Value {
    let mut service = json!({"serviceName": name, "imageId": image_id, "image": image,
        "environment": {}, "labels": {}, "command": command("")});
    for (key, value) in extra.as_object().unwrap() {
        service[key] = value.clone();
    }
    service
}

/// A target with the given applications (`{"<app id>": {...}}`).
fn target(apps: Value) -> Value {
    json!({"local": {"name": "", "config": {}, "apps": apps}, "dependent": {"apps": [], "devices": []}})
}

fn app(name: &str, services: Vec<Value>, volumes: Value) -> Value {
    let services: serde_json::Map<String, Value> =
        services.into_iter().enumerate().map(|(i, s)| ((i + 1).to_string(), s)).collect();
    json!({"name": name, "commit": "c1", "releaseId": "1", "services": services, "volumes": volumes, "networks": {}})
}

fn call(daemon: &Daemon, method: &str, path: &str, key: &str, body: Option<Value>) -> Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = daemon.client().request(method, daemon.balena_url(path)).query(&[("apikey", key)]);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().expect("request")
}

fn status_json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn post_target(daemon: &Daemon, body: Value) -> (u16, Value) {
    status_json(call(daemon, "POST", "/v2/local/target-state", &daemon.balena_key(), Some(body)))
}

/// This daemon's service containers: service name → (id, state), and how many there are.
fn containers(daemon: &Daemon) -> (BTreeMap<String, (String, String)>, usize) {
    let filter = format!("label=io.balena.supervisor-instance={}", daemon.instance());
    let format = "{{.Label \"io.balena.service-name\"}} {{.ID}} {{.State}}";
    let listing = docker(&["ps", "-a", "--no-trunc", "--filter", &filter, "--format", format]).unwrap_or_default();
    let lines: Vec<Vec<String>> =
        listing.lines().map(|line| line.split_whitespace().map(str::to_owned).collect()).collect();
    let count = lines.len();
    let map = lines.into_iter().map(|w| (w[0].clone(), (w[1].clone(), w[2].clone()))).collect();
    (map, count)
}

/// Waits until exactly `names` run, one container each; answers their ids.
fn running(daemon: &Daemon, names: &[&str]) -> BTreeMap<String, String> {
    eventually(&format!("{names:?} running"), || {
        let (found, count) = containers(daemon);
        let all = count == names.len()
            && names.iter().all(|name| found.get(*name).is_some_and(|(_, state)| state == "running"));
        all.then(|| found.into_iter().map(|(name, (id, _))| (name, id)).collect())
    })
}

fn env_of(container: &str) -> Vec<String> {
    let out = docker(&["inspect", "--format", "{{json .Config.Env}}", container]).unwrap();
    serde_json::from_str(&out).unwrap()
}

fn exec(container: &str, script: &str) -> Option<String> {
    docker(&["exec", container, "sh", "-c", script])
}

#[test]
fn a_two_service_app_comes_up_and_a_bad_target_changes_nothing() {
    let daemon = Daemon::start();
    let key = daemon.balena_key();
    let one = image(&daemon, "one");
    let body = target(json!({"1": app("localapp", vec![
        service("main", 1, &one, json!({"environment": {"GREETING": "hello"}, "volumes": ["data:/data"], "ports": ["80"],
            "labels": {API_LABEL: "1"}})),
        service("sidecar", 2, BASE, json!({})),
    ], json!({"data": {}}))}));
    assert_eq!(post_target(&daemon, body.clone()), (200, json!({"status": "success", "message": "OK"})));
    let (status, stored) = status_json(call(&daemon, "GET", "/v2/local/target-state", &key, None));
    assert_eq!((status, &stored["status"]), (200, &json!("success")));
    assert_eq!(stored["state"]["local"]["apps"]["1"]["services"]["1"]["serviceName"], "main");
    let ids = running(&daemon, &["main", "sidecar"]);

    // The service that asked for the device API reaches it on its supervisor network's gateway.
    let env = env_of(&ids["main"]);
    let port = daemon.balena_url("").rsplit(':').next().unwrap().to_owned();
    let network = format!("{}supervisor0", daemon.instance());
    let gateway = docker(&["network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", &network])
        .expect("the supervisor network")
        .trim()
        .to_owned();
    for expected in [
        "GREETING=hello",
        "BALENA_APP_ID=1",
        "RESIN_APP_ID=1",
        "BALENA_SERVICE_NAME=main",
        &format!("BALENA_SUPERVISOR_HOST={gateway}"),
        &format!("BALENA_SUPERVISOR_PORT={port}"),
        &format!("BALENA_SUPERVISOR_ADDRESS=http://{gateway}:{port}"),
    ] {
        assert!(env.iter().any(|e| e == expected), "{expected} in {env:?}");
    }
    let service_key = env.iter().find_map(|e| e.strip_prefix("BALENA_SUPERVISOR_API_KEY=")).unwrap().to_owned();
    assert!(env.contains(&format!("RESIN_SUPERVISOR_API_KEY={service_key}")));
    assert_ne!(service_key, key, "a service has a key of its own");
    let asked = r#"wget -qO- "$BALENA_SUPERVISOR_ADDRESS/v2/applications/state?apikey=$BALENA_SUPERVISOR_API_KEY""#;
    let from_inside: Value =
        serde_json::from_str(&exec(&ids["main"], asked).expect("the API from the service")).unwrap();
    assert_eq!(from_inside["localapp"]["appId"], 1, "{from_inside}");
    // The one that did not ask has neither the address nor a key, nor the network.
    let sidecar = env_of(&ids["sidecar"]);
    assert!(
        !sidecar.iter().any(|e| e.contains("SUPERVISOR_API_KEY") || e.contains("SUPERVISOR_ADDRESS")),
        "{sidecar:?}"
    );
    let joined = docker(&["inspect", "--format", "{{json .NetworkSettings.Networks}}", &ids["sidecar"]]).unwrap();
    assert!(!joined.contains(&network), "{joined}");
    // The lock folder is the service's, in both places.
    exec(&ids["main"], "touch /tmp/balena/probe").unwrap();
    assert!(daemon.data_dir().join("balena/locks/1/main/probe").exists());
    assert!(exec(&ids["main"], "test -f /tmp/resin/probe").is_some());
    std::fs::remove_file(daemon.data_dir().join("balena/locks/1/main/probe")).unwrap();

    let (_, status) = status_json(call(&daemon, "GET", "/v2/state/status", &key, None));
    assert_eq!((&status["status"], &status["release"]), (&json!("success"), &json!("c1")));
    let names: Vec<&Value> = status["containers"].as_array().unwrap().iter().map(|c| &c["serviceName"]).collect();
    assert_eq!(names.len(), 2, "{status}");
    assert!(status["containers"].as_array().unwrap().iter().all(|c| c["status"] == "Running" && c["appId"] == 1));
    assert_eq!(status["images"][0]["status"], "Downloaded");
    let (_, apps) = status_json(call(&daemon, "GET", "/v2/applications/state", &key, None));
    assert_eq!(apps["localapp"]["appId"], 1);
    assert_eq!(apps["localapp"]["services"]["main"]["status"], "Running");
    let (_, app_state) = status_json(call(&daemon, "GET", "/v2/applications/1/state", &key, None));
    assert_eq!(app_state["local"]["1"]["services"]["1"]["status"], "Running", "{app_state}");
    assert_eq!(status_json(call(&daemon, "GET", "/v2/applications/9/state", &key, None)).0, 409);
    let (_, container) = status_json(call(&daemon, "GET", "/v2/containerId?serviceName=main", &key, None));
    assert_eq!(container, json!({"status": "success", "containerId": ids["main"]}));
    let (_, all) = status_json(call(&daemon, "GET", "/v2/containerId", &key, None));
    assert_eq!(all["services"]["sidecar"], json!(ids["sidecar"]));
    assert_eq!(call(&daemon, "GET", "/v1/apps/1", &key, None).status(), 400, "two containers");

    // Refused in full: nothing stored, nothing changed on the engine.
    let mut bad = body.clone();
    bad["local"]["apps"]["1"]["services"]["2"]["ports"] = json!(["99999:1"]);
    bad["local"]["apps"]["1"]["services"]["1"]["command"] = command("echo changed;");
    let (status, refused) = post_target(&daemon, bad);
    assert_eq!(status, 400);
    assert!(refused["message"].as_str().unwrap().starts_with("local.apps.1.services.2.ports"), "{refused}");
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(running(&daemon, &["main", "sidecar"]), ids);
    let (_, again) = status_json(call(&daemon, "GET", "/v2/local/target-state", &key, None));
    assert_eq!(again, stored);

    // restart-service by name: that service's container only is made again.
    let restart = |body: Value| call(&daemon, "POST", "/v2/applications/1/restart-service", &key, Some(body));
    let (status, text) = status_json(restart(json!({"serviceName": "sidecar"})));
    assert_eq!((status, text), (200, json!("OK")));
    let after = running(&daemon, &["main", "sidecar"]);
    assert_eq!(after["main"], ids["main"]);
    assert_ne!(after["sidecar"], ids["sidecar"]);
    assert_eq!(status_json(restart(json!({}))).0, 400);
    assert_eq!(status_json(restart(json!({"serviceName": "nobody"}))).0, 404);

    // stop-service leaves it stopped; start-service starts it again.
    let action = |path: &str| call(&daemon, "POST", path, &key, Some(json!({"imageId": 2}))).status().as_u16();
    assert_eq!(action("/v2/applications/1/stop-service"), 200);
    assert_eq!(containers(&daemon).0["sidecar"].1, "exited");
    assert_eq!(action("/v2/applications/1/start-service"), 200);
    running(&daemon, &["main", "sidecar"]);
}

#[test]
fn a_changed_target_replaces_what_changed_under_each_update_strategy() {
    let daemon = Daemon::start();
    let key = daemon.balena_key();
    let old = image(&daemon, "old");
    let new = image(&daemon, "new");
    let strategies = ["download-then-kill", "kill-then-download", "delete-then-download", "hand-over"];
    let published = e2e::free_port();
    let services = |script: &str, delete_image: &str| -> Value {
        let mut list: Vec<Value> = strategies
            .iter()
            .enumerate()
            .map(|(i, strategy)| {
                let image = if *strategy == "delete-then-download" { delete_image } else { BASE };
                let labels = json!({"io.balena.update.strategy": strategy, "io.balena.update.handover-timeout": "500"});
                service(strategy, i as u32 + 1, image, json!({"labels": labels, "command": command(script)}))
            })
            .collect();
        list.push(service("steady", 9, BASE, json!({})));
        // Two containers of it cannot publish one host port at once: the old one goes first.
        let labels = json!({"io.balena.update.strategy": "hand-over"});
        let ports = json!([format!("{published}:80")]);
        list.push(service(
            "published",
            10,
            BASE,
            json!({"labels": labels, "ports": ports, "command": command(script)}),
        ));
        target(json!({"7": app("strategies", list, json!({}))}))
    };
    let mut names: Vec<&str> = strategies.to_vec();
    names.extend(["steady", "published"]);
    assert_eq!(post_target(&daemon, services("", &old)).0, 200);
    let before = running(&daemon, &names);

    assert_eq!(post_target(&daemon, services("echo v2;", &new)).0, 200);
    let after = eventually("every changed service replaced", || {
        let (found, count) = containers(&daemon);
        let replaced = strategies
            .iter()
            .chain(&["published"])
            .all(|s| found.get(*s).is_some_and(|(id, st)| *id != before[*s] && st == "running"));
        (count == names.len() && replaced).then_some(found)
    });
    assert_eq!(after["steady"].0, before["steady"], "the unchanged service kept its container");
    let bound = docker(&["port", &after["published"].0, "80/tcp"]).unwrap_or_default();
    assert!(bound.contains(&format!(":{published}")), "{bound}");
    assert!(docker(&["image", "inspect", &old]).is_none(), "delete-then-download removed the old image");
    assert!(docker(&["image", "inspect", &new]).is_some());
    let (_, status) = status_json(call(&daemon, "GET", "/v2/state/status", &key, None));
    assert_eq!(status["appState"], "applied", "{status}");
}

#[test]
fn an_update_waits_for_a_held_lock_and_force_overrides_it() {
    let daemon = Daemon::start();
    let key = daemon.balena_key();
    let version = |script: &str| {
        target(
            json!({"3": app("locking", vec![service("main", 1, BASE, json!({"command": command(script)}))], json!({}))}),
        )
    };
    // The service takes its lock as a balena service does: the lockfile in its /tmp/balena.
    let take_lock = |container: &str| exec(container, "touch /tmp/balena/updates.lock").expect("the lock taken");
    let replaced = |old: &str| {
        eventually("the service replaced", || {
            let (found, count) = containers(&daemon);
            found.get("main").filter(|(id, st)| id != old && st == "running" && count == 1).map(|(id, _)| id.clone())
        })
    };
    assert_eq!(post_target(&daemon, version("")).0, 200);
    let first = running(&daemon, &["main"])["main"].clone();
    take_lock(&first);

    assert_eq!(post_target(&daemon, version("echo v2;")).0, 200);
    eventually("the engine to wait for the lock", || {
        let (_, status) = status_json(call(&daemon, "GET", "/v2/state/status", &key, None));
        (status["appState"] == "applying").then_some(())
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(running(&daemon, &["main"])["main"], first, "not replaced while the service holds its lock");
    let (status, refusal) = status_json(call(&daemon, "POST", "/v1/reboot", &key, Some(json!({}))));
    assert_eq!((status, &refusal["Error"]), (423, &json!("Lockfile exists for { appId: 3, service: main }")));
    let restart =
        call(&daemon, "POST", "/v2/applications/3/restart-service", &key, Some(json!({"serviceName": "main"})));
    assert_eq!(restart.status(), 423);

    // The service lets go: the update goes ahead.
    exec(&first, "rm /tmp/balena/updates.lock").unwrap();
    let second = replaced(&first);
    // The supervisor lets go too, once the pass that replaced it ends.
    let lockfile = daemon.data_dir().join("balena/locks/3/main/updates.lock");
    eventually("the supervisor to let go of the lock", || (!lockfile.exists()).then_some(()));

    // Held again: `force` overrides it.
    take_lock(&second);
    assert_eq!(post_target(&daemon, version("echo v3;")).0, 200);
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(running(&daemon, &["main"])["main"], second);
    assert_eq!(call(&daemon, "POST", "/v1/update", &key, Some(json!({"force": true}))).status(), 204);
    replaced(&second);
}

#[test]
fn purge_keeps_the_app_and_empties_its_volumes() {
    let daemon = Daemon::start();
    let key = daemon.balena_key();
    let body = target(json!({"4": app("data", vec![
        service("main", 1, BASE, json!({"volumes": ["data:/data"]})),
    ], json!({"data": {}}))}));
    assert_eq!(post_target(&daemon, body).0, 200);
    let first = running(&daemon, &["main"]);
    exec(&first["main"], "echo kept > /data/marker").unwrap();
    let (status, answer) = status_json(call(&daemon, "POST", "/v1/purge", &key, Some(json!({"appId": 4}))));
    assert_eq!((status, answer), (200, json!({"Data": "OK", "Error": ""})));
    let second = running(&daemon, &["main"]);
    assert_ne!(second["main"], first["main"]);
    assert_eq!(exec(&second["main"], "ls -A /data").unwrap(), "", "the volume was emptied");
    let volume = format!("{}4_data", daemon.instance());
    assert!(docker(&["volume", "inspect", &volume]).is_some(), "the volume is still there");
    assert_eq!(status_json(call(&daemon, "POST", "/v1/purge", &key, Some(json!({})))).0, 400);

    exec(&second["main"], "echo again > /data/marker").unwrap();
    let v2 = call(&daemon, "POST", "/v2/applications/4/purge", &key, Some(json!({})));
    assert_eq!(status_json(v2), (200, json!("OK")));
    let third = running(&daemon, &["main"]);
    assert_eq!(exec(&third["main"], "ls -A /data").unwrap(), "");
}

#[test]
fn a_kill9_mid_way_still_ends_converged() {
    let mut daemon = Daemon::start();
    let services = (1..=3).map(|i| service(&format!("s{i}"), i, BASE, json!({}))).collect();
    assert_eq!(post_target(&daemon, target(json!({"5": app("many", services, json!({}))}))).0, 200);
    daemon.kill9_and_restart();
    running(&daemon, &["s1", "s2", "s3"]);
    let (_, stored) = status_json(call(&daemon, "GET", "/v2/local/target-state", &daemon.balena_key(), None));
    assert_eq!(stored["state"]["local"]["apps"]["5"]["name"], "many", "the target survived");
}

#[test]
fn a_services_key_reaches_its_own_application_only() {
    let daemon = Daemon::start();
    let key = daemon.balena_key();
    let body = target(json!({
        "1": app("first", vec![service("main", 1, BASE, json!({"labels": {API_LABEL: "1"}}))], json!({})),
        "2": app("second", vec![service("other", 2, BASE, json!({}))], json!({})),
    }));
    assert_eq!(post_target(&daemon, body).0, 200);
    let ids = running(&daemon, &["main", "other"]);
    let scoped = env_of(&ids["main"])
        .iter()
        .find_map(|e| e.strip_prefix("BALENA_SUPERVISOR_API_KEY=").map(str::to_owned))
        .unwrap();

    let (_, apps) = status_json(call(&daemon, "GET", "/v2/applications/state", &scoped, None));
    assert_eq!(apps.as_object().unwrap().keys().collect::<Vec<_>>(), ["first"]);
    let unauthorized = json!({"status": "failed", "message": "Unauthorized"});
    for (path, body) in [
        ("/v2/applications/2/restart-service", json!({"serviceName": "other"})),
        ("/v2/applications/2/restart", json!({})),
        ("/v2/applications/2/purge", json!({})),
        ("/v1/restart", json!({"appId": 2})),
    ] {
        assert_eq!(
            status_json(call(&daemon, "POST", path, &scoped, Some(body))),
            (401, unauthorized.clone()),
            "{path}"
        );
    }
    assert_eq!(status_json(call(&daemon, "GET", "/v2/applications/2/state", &scoped, None)).0, 409);
    let (_, visible) = status_json(call(&daemon, "GET", "/v2/containerId", &scoped, None));
    assert_eq!(visible["services"], json!({"main": ids["main"]}));
    assert_eq!(running(&daemon, &["main", "other"]), ids, "nothing of the other app changed");
    let own =
        call(&daemon, "POST", "/v2/applications/1/restart-service", &scoped, Some(json!({"serviceName": "main"})));
    assert_eq!(own.status(), 200);
    // The device key reaches both.
    let (_, apps) = status_json(call(&daemon, "GET", "/v2/applications/state", &key, None));
    assert_eq!(apps.as_object().unwrap().len(), 2);
}

#[test]
fn local_logs_stream_every_services_lines_as_json() {
    use std::io::BufRead;
    let daemon = Daemon::start();
    let key = daemon.balena_key();
    let ticker = service("ticker", 1, BASE, json!({"command": command("while true; do echo tick; sleep 1; done;")}));
    assert_eq!(post_target(&daemon, target(json!({"6": app("logs", vec![ticker], json!({}))}))).0, 200);
    running(&daemon, &["ticker"]);
    let response = call(&daemon, "GET", "/v2/local/logs", &key, None);
    assert_eq!(response.status(), 200);
    let mut lines = std::io::BufReader::new(response).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first, json!({"message": "Streaming logs", "isSystem": true}));
    let line: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        (&line["message"], &line["serviceName"], &line["serviceId"]),
        (&json!("tick"), &json!("ticker"), &json!(1))
    );
    assert!(line["timestamp"].as_u64().unwrap() > 1_700_000_000_000, "{line}");
}
