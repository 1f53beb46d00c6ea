//! The plugins managed for real: the cli plugin's image made from the project's recipe
//! (`plugins/cli`: the `ha` binary and the host's busybox, since no registry answers), installed at
//! start, reached by the `ha` inside it with its own token, updated between two versions of a
//! manifest, restarted by the watchdog after a crash and made anew by a repair after its
//! container was removed; the dns plugin's options and the files it is told them by; a plugin
//! whose program or host package is missing failing with their names.
//!
//! Each daemon installs only the plugins a test names (`SUPERVISOR_PLUGINS_INSTALL`), with images
//! named after its instance prefix, so the harness removes them with the rest.

use crate::addons::{engine_daemon, inspect_container, install};
use e2e::{eventually, Daemon};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The image a test's manifest names for `plugin`.
fn image(daemon: &Daemon, plugin: &str) -> String {
    format!("{}plugins/{plugin}", daemon.instance())
}

fn container(daemon: &Daemon, plugin: &str) -> String {
    format!("{}hassio_{plugin}", daemon.instance())
}

/// The manifest offering each plugin of `versions` at its version from the test's image name,
/// then read at once.
fn offer(daemon: &Daemon, versions: &[(&str, &str)]) {
    let mut manifest = e2e::manifest("stable", env!("CARGO_PKG_VERSION"));
    for (plugin, version) in versions {
        manifest[plugin] = json!(version);
        manifest["images"][plugin] = json!(image(daemon, plugin));
    }
    daemon.write_manifest("stable", &manifest);
    let (status, body) = daemon.post("/reload_updates", json!({}));
    assert_eq!(status, 200, "{body}");
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().expect("run docker")
}

/// Polls `probe` for up to two minutes (images are made on the engine first); on timeout, fails
/// with the supervisor's jobs.
fn wait_for<T>(daemon: &Daemon, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if Instant::now() > deadline {
            let (_, jobs) = daemon.get("/jobs/info");
            panic!("gave up waiting for {what}; jobs: {jobs}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The id of `plugin`'s running container of `image:version`, once there is one.
fn running(daemon: &Daemon, plugin: &str, version: &str) -> String {
    let expected = format!("{}:{version}", image(daemon, plugin));
    wait_for(daemon, &format!("the {plugin} plugin {version} to run"), || {
        let container = inspect_container(&container(daemon, plugin))?;
        let up = container["State"]["Running"] == true && container["Config"]["Image"] == expected.as_str();
        up.then(|| container["Id"].as_str().unwrap().to_owned())
    })
}

fn env_of(container: &Value, key: &str) -> Option<String> {
    container["Config"]["Env"]
        .as_array()?
        .iter()
        .find_map(|line| line.as_str()?.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

/// The jobs named `name`, newest last.
fn jobs_named(daemon: &Daemon, name: &str) -> Vec<Value> {
    let (_, jobs) = daemon.get("/jobs/info");
    let mut found: Vec<Value> =
        jobs["data"]["jobs"].as_array().unwrap().iter().filter(|job| job["name"] == name).cloned().collect();
    found.sort_by(|a, b| a["created"].as_str().cmp(&b["created"].as_str()));
    found
}

/// Runs `ha <args>` inside the cli plugin's container, as a user on the machine does.
fn ha_inside(daemon: &Daemon, args: &[&str]) -> String {
    let name = container(daemon, "cli");
    let output = docker(&[&["exec", name.as_str(), "ha"][..], args].concat());
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ha {args:?} in the cli plugin failed: {text}");
    text
}

#[test]
fn the_cli_plugin_is_installed_updated_watched_and_repaired() {
    let mut daemon = engine_daemon(&[("SUPERVISOR_PLUGINS_INSTALL", "cli")]);
    offer(&daemon, &[("cli", "1")]);
    let first = running(&daemon, "cli", "1");

    let (status, info) = daemon.get("/cli/info");
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["data"], json!({"version": "1", "version_latest": "1", "update_available": false}));
    let install = jobs_named(&daemon, "docker_interface_install");
    assert_eq!(install.len(), 1, "{install:?}");
    assert_eq!((&install[0]["reference"], &install[0]["errors"]), (&json!("cli"), &json!([])));
    assert_eq!(install[0]["child_jobs"][0]["name"], "docker_cli_run");

    // The container as the real Supervisor makes it, with the plugin's folder and token.
    let inspected = inspect_container(&container(&daemon, "cli")).unwrap();
    assert!(inspected["Config"]["Labels"].get("supervisor_managed").is_some(), "{}", inspected["Config"]["Labels"]);
    assert_eq!(inspected["HostConfig"]["NetworkMode"], format!("{}hassio", daemon.instance()));
    let config = inspected["Mounts"].as_array().unwrap().iter().find(|m| m["Destination"] == "/config").cloned();
    let folder = daemon.data_dir().join("plugins/cli");
    assert_eq!(config.map(|m| m["Source"].clone()), Some(json!(folder.to_str().unwrap())));
    let token = env_of(&inspected, "SUPERVISOR_TOKEN").expect("the plugin's token");
    assert_ne!(token, daemon.cli_token());

    // The `ha` inside reaches the supervisor with that token, as a user of the machine does.
    assert!(ha_inside(&daemon, &["info"]).contains("supervisor: "), "ha info in the plugin");
    assert!(ha_inside(&daemon, &["cli", "info"]).contains("update_available: false"));
    let response = daemon.request("GET", "/jobs/info", Some(&token), None);
    assert_eq!(response.status(), 200, "the cli plugin's token has the CLI's rights");

    let (status, stats) = daemon.get("/cli/stats");
    assert_eq!(status, 200, "{stats}");
    assert!(stats["data"]["memory_usage"].as_u64().unwrap() > 0, "{stats}");

    // An update to the manifest's new version, through the host's `ha`.
    offer(&daemon, &[("cli", "2")]);
    let (_, info) = daemon.get("/cli/info");
    assert_eq!(info["data"]["update_available"], true, "{info}");
    let output = daemon.ha(&["cli", "update", "--no-progress"], &[]);
    assert!(output.status.success(), "ha cli update: {}", String::from_utf8_lossy(&output.stderr));
    let second = running(&daemon, "cli", "2");
    assert_ne!(first, second, "a container of the new version");
    let (_, info) = daemon.get("/cli/info");
    assert_eq!(info["data"], json!({"version": "2", "version_latest": "2", "update_available": false}));
    assert!(!docker(&["image", "inspect", &format!("{}:1", image(&daemon, "cli"))]).status.success(), "old image kept");
    let update = jobs_named(&daemon, "plugin_cli_update");
    assert_eq!(update.len(), 1, "{update:?}");
    assert_eq!(update[0]["errors"], json!([]), "{update:?}");
    let children: Vec<&Value> = update[0]["child_jobs"].as_array().unwrap().iter().map(|c| &c["name"]).collect();
    assert_eq!(children, vec!["docker_interface_update", "docker_cli_run"]);
    let renewed = env_of(&inspect_container(&container(&daemon, "cli")).unwrap(), "SUPERVISOR_TOKEN").unwrap();
    assert_eq!(daemon.request("GET", "/jobs/info", Some(&token), None).status(), 401, "the old container's token");
    assert_eq!(daemon.request("GET", "/jobs/info", Some(&renewed), None).status(), 200);

    // The installed version again is no update for the cli; a version no image can have and an
    // unknown key are refused.
    let (status, body) = daemon.post("/cli/update", json!({"version": "2"}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.post("/cli/update", json!({"version": "../2"}));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("\"../2\""), "{body}");
    let (status, body) = daemon.post("/cli/update", json!({"background": true}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(running(&daemon, "cli", "2"), second, "refusals leave the plugin alone");

    // A crash: the watchdog makes the container anew.
    assert!(docker(&["kill", &container(&daemon, "cli")]).status.success());
    let restarted = wait_for(&daemon, "the watchdog to restart the cli plugin", || {
        let id = running(&daemon, "cli", "2");
        (id != second).then_some(id)
    });
    let watchdog = wait_for(&daemon, "the watchdog's job to end", || {
        let jobs = jobs_named(&daemon, "plugin_cli_restart_after_problem");
        jobs.last().filter(|job| job["done"] == true).cloned()
    });
    assert_eq!(watchdog["errors"], json!([]), "{watchdog}");

    // Stopped cleanly, then removed by hand: the watchdog leaves it (a running container could
    // not be removed without force), the supervisor's repair makes it anew.
    let name = container(&daemon, "cli");
    assert!(docker(&["stop", &name]).status.success());
    let removed = docker(&["rm", &name]);
    assert!(removed.status.success(), "docker rm: {}", String::from_utf8_lossy(&removed.stderr));
    let (status, body) = daemon.post("/supervisor/repair", json!({}));
    assert_eq!(status, 200, "{body}");
    let repaired = running(&daemon, "cli", "2");
    assert_ne!(repaired, restarted);

    // The supervisor restarts; the plugin runs on and its token still counts.
    daemon.kill9_and_restart();
    let (_, info) = daemon.get("/cli/info");
    assert_eq!(info["data"]["version"], "2", "{info}");
    assert!(ha_inside(&daemon, &["cli", "info"]).contains("version: '2'"), "the plugin's token after a restart");
    assert_eq!(running(&daemon, "cli", "2"), repaired, "a running plugin is left running");
    let output = daemon.ha(&["cli", "info"], &[]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("version: '2'"), "{output:?}");
}

/// The address of the container network's gateway, where the supervisor is for containers.
fn gateway(daemon: &Daemon) -> String {
    let network = format!("{}hassio", daemon.instance());
    let output = docker(&["network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", &network]);
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn dns_file(daemon: &Daemon, name: &str) -> Option<String> {
    std::fs::read_to_string(daemon.data_dir().join("plugins/dns").join(name)).ok()
}

#[test]
fn dns_options_are_checked_kept_and_written_for_the_plugin() {
    let mut daemon = engine_daemon(&[]);
    offer(&daemon, &[]);
    let (status, info) = daemon.get("/dns/info");
    assert_eq!(status, 200, "{info}");
    assert_eq!((&info["data"]["servers"], &info["data"]["fallback"]), (&json!([]), &json!(true)), "{info}");
    assert!(info["data"]["locals"].is_array() && info["data"]["mdns"] == false, "{info}");
    assert!(dns_file(&daemon, "dns.json").is_none(), "nothing is written before the plugin or options exist");

    for (body, named) in [
        (json!({"servers": ["dns://8.8.8.8", "8.8.4.4"]}), "8.8.4.4"),
        (json!({"servers": ["dns://2001:db8::53"]}), "IPv4"),
        (json!({"servers": ["dns://resolver.lan"]}), "resolver.lan"),
        (json!({"servers": (1..=9).map(|i| format!("dns://10.53.0.{i}")).collect::<Vec<_>>()}), "at most 8"),
        (json!({"server": ["dns://8.8.8.8"]}), "server"),
    ] {
        let (status, answer) = daemon.post("/dns/options", body.clone());
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(answer["message"].as_str().unwrap().contains(named), "{body} -> {answer}");
    }
    let (_, info) = daemon.get("/dns/info");
    assert_eq!(info["data"]["servers"], json!([]), "a refusal changes nothing");

    let (status, body) =
        daemon.post("/dns/options", json!({"servers": ["dns://10.53.0.1", "dns://10.53.0.2"], "fallback": false}));
    assert_eq!(status, 200, "{body}");
    let (_, info) = daemon.get("/dns/info");
    assert_eq!(info["data"]["servers"], json!(["dns://10.53.0.1", "dns://10.53.0.2"]));
    assert_eq!(info["data"]["fallback"], false);
    let config: Value = serde_json::from_str(&dns_file(&daemon, "dns.json").expect("dns.json")).unwrap();
    assert_eq!(config["servers"], json!(["dns://10.53.0.1", "dns://10.53.0.2"]));
    assert_eq!(
        (&config["fallback"], &config["fallback_servers"]),
        (&json!(false), &json!(["dns://1.1.1.1", "dns://1.0.0.1"]))
    );
    assert_eq!(config["locals"], info["data"]["locals"]);
    let gateway = gateway(&daemon);
    let hosts = dns_file(&daemon, "hosts").expect("hosts");
    assert!(
        hosts
            .lines()
            .any(|l| l == format!("{gateway} hassio hassio.local.hass.io supervisor supervisor.local.hass.io")),
        "{hosts}"
    );
    assert!(hosts.contains(&format!("{gateway} homeassistant homeassistant.local.hass.io")), "{hosts}");

    // An add-on started joins the hosts under its hostname, and leaves them when stopped.
    install(&daemon, "core_build_local");
    let (status, body) = daemon.post("/addons/core_build_local/start", json!({}));
    assert_eq!(status, 200, "{body}");
    let addon = inspect_container(&format!("{}addon_core_build_local", daemon.instance())).unwrap();
    let network = format!("{}hassio", daemon.instance());
    let address = addon["NetworkSettings"]["Networks"][&network]["IPAddress"].as_str().unwrap().to_owned();
    let line = format!("{address} core-build-local core-build-local.local.hass.io");
    eventually("the add-on in the hosts file", || dns_file(&daemon, "hosts")?.lines().any(|l| l == line).then_some(()));
    let (status, body) = daemon.post("/addons/core_build_local/stop", json!({}));
    assert_eq!(status, 200, "{body}");
    eventually("the add-on out of the hosts file", || {
        (!dns_file(&daemon, "hosts")?.contains("core-build-local")).then_some(())
    });

    // Kept across a restart; the CLI sets them as the real one does.
    daemon.kill9_and_restart();
    let (_, info) = daemon.get("/dns/info");
    assert_eq!((&info["data"]["servers"][1], &info["data"]["fallback"]), (&json!("dns://10.53.0.2"), &json!(false)));
    let output = daemon.ha(&["dns", "options", "--servers", "dns://10.53.0.9", "--fallback"], &[]);
    assert!(output.status.success(), "ha dns options: {}", String::from_utf8_lossy(&output.stderr));
    let (_, info) = daemon.get("/dns/info");
    assert_eq!((&info["data"]["servers"], &info["data"]["fallback"]), (&json!(["dns://10.53.0.9"]), &json!(true)));

    let (status, body) = daemon.post("/dns/reset", json!({}));
    assert_eq!(status, 200, "{body}");
    let (_, info) = daemon.get("/dns/info");
    assert_eq!((&info["data"]["servers"], &info["data"]["fallback"]), (&json!([]), &json!(true)));
    let config: Value = serde_json::from_str(&dns_file(&daemon, "dns.json").unwrap()).unwrap();
    assert_eq!((&config["servers"], &config["fallback"]), (&json!([]), &json!(true)));

    // Without the plugin installed there is nothing to run or measure; its log is empty.
    for path in ["/dns/restart", "/dns/update"] {
        let (status, body) = daemon.post(path, json!({}));
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["message"].as_str().unwrap().contains("not installed"), "{path}: {body}");
    }
    let (status, body) = daemon.get("/dns/stats");
    assert_eq!(status, 400, "{body}");
    let (status, log) = daemon.text("/dns/logs");
    assert_eq!((status.as_u16(), log.as_str()), (200, ""));
}

#[test]
fn a_plugin_whose_program_or_host_package_is_missing_fails_naming_it() {
    let source = tempfile::tempdir().unwrap();
    let recipe = |plugin: &str, yaml: &str| {
        std::fs::create_dir_all(source.path().join(plugin)).unwrap();
        std::fs::write(source.path().join(plugin).join("image.yaml"), yaml).unwrap();
    };
    recipe("dns", "binaries: [plugin-e2e-missing]\nentrypoint: [/usr/bin/plugin-e2e-missing]\n");
    recipe(
        "audio",
        "host_files: [/nonexistent-e2e/pulseaudio]\nhost_packages: [e2e-no-such-package]\nentrypoint: [/x]\n",
    );
    let source_dir = source.path().to_str().unwrap();
    let daemon =
        engine_daemon(&[("SUPERVISOR_PLUGINS_INSTALL", "dns,audio"), ("SUPERVISOR_PLUGINS_SOURCE", source_dir)]);
    offer(&daemon, &[("dns", "1"), ("audio", "1")]);
    for (plugin, named) in [("dns", "plugin-e2e-missing"), ("audio", "e2e-no-such-package")] {
        let failed = wait_for(&daemon, &format!("the {plugin} plugin's install to fail"), || {
            let jobs = jobs_named(&daemon, "docker_interface_install");
            jobs.into_iter().find(|job| job["reference"] == plugin && job["done"] == true)
        });
        let message = failed["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{plugin}: {failed}");
        let (_, info) = daemon.get(&format!("/{plugin}/info"));
        assert_eq!(info["data"]["version"], Value::Null, "{info}");
    }
    assert!(inspect_container(&container(&daemon, "dns")).is_none());
    let (status, _) = daemon.get("/supervisor/info");
    assert_eq!(status, 200, "the supervisor runs on");
}

/// The dns plugin's own program is another part of the project; until it is built this test
/// only says so.
#[test]
fn the_dns_plugin_resolves_for_the_containers() {
    if !e2e::has_bin("plugin-dns") {
        eprintln!("skipped: plugin-dns is not built (cargo build -p plugin-dns), so the dns plugin can't run");
        return;
    }
    let daemon = engine_daemon(&[("SUPERVISOR_PLUGINS_INSTALL", "dns")]);
    offer(&daemon, &[("dns", "1")]);
    running(&daemon, "dns", "1");
    let dns = inspect_container(&container(&daemon, "dns")).unwrap();
    let network = format!("{}hassio", daemon.instance());
    let address = dns["NetworkSettings"]["Networks"][&network]["IPAddress"].as_str().unwrap().to_owned();
    let (_, info) = daemon.get("/dns/info");
    assert_eq!(info["data"]["host"], address.as_str(), "{info}");
    assert!(Path::new(&daemon.data_dir().join("plugins/dns/hosts")).is_file());

    // Told of new options without a restart.
    let (status, body) = daemon.post("/dns/options", json!({"servers": ["dns://10.53.0.1"]}));
    assert_eq!(status, 200, "{body}");
    let id = running(&daemon, "dns", "1");
    assert_eq!(id, dns["Id"].as_str().unwrap(), "SIGHUP, not a new container");

    // Add-ons made from now on resolve through it: the supervisor's name included.
    install(&daemon, "core_build_local");
    let (status, body) = daemon.post("/addons/core_build_local/start", json!({}));
    assert_eq!(status, 200, "{body}");
    let addon_name = format!("{}addon_core_build_local", daemon.instance());
    let addon = inspect_container(&addon_name).unwrap();
    assert_eq!(addon["HostConfig"]["Dns"], json!([address]));
    let gateway = gateway(&daemon);
    let lookup = docker(&["exec", &addon_name, "nslookup", "supervisor.local.hass.io", &address]);
    let answer = String::from_utf8_lossy(&lookup.stdout);
    assert!(answer.contains(&gateway), "nslookup through the dns plugin: {answer}");

    let (status, body) = daemon.post("/dns/restart", json!({}));
    assert_eq!(status, 200, "{body}");
    let (status, stats) = daemon.get("/dns/stats");
    assert_eq!(status, 200, "{stats}");
}

/// The plugins' containers are the supervisor's own: one that the engine restarts by itself
/// (only the observer may) has an unsupported restart policy.
#[test]
fn a_plugin_container_that_restarts_by_itself_has_an_unsupported_restart_policy() {
    let daemon = engine_daemon(&[("SUPERVISOR_PLUGINS_INSTALL", "cli")]);
    offer(&daemon, &[("cli", "1")]);
    running(&daemon, "cli", "1");
    let unsupported = |daemon: &Daemon| {
        let (status, body) = daemon.post("/resolution/healthcheck", json!({}));
        assert_eq!(status, 200, "{body}");
        let (_, info) = daemon.get("/resolution/info");
        info["data"]["unsupported"].as_array().unwrap().clone()
    };
    assert!(!unsupported(&daemon).contains(&json!("restart_policy")));

    let output = docker(&["update", "--restart", "always", &container(&daemon, "cli")]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(unsupported(&daemon).contains(&json!("restart_policy")));
}
