//! The plugins managed for real, their images made from the project's recipes (`plugins/<name>`,
//! since no registry answers): each plugin installed at start, updated between two versions of a
//! manifest, restarted by the watchdog after a crash, made anew by a repair after its container
//! was removed, and left running across a restart of the supervisor ([`life_cycle`], one run per
//! plugin in its module); then what each plugin is for, seen from outside: the cli's `ha`, the
//! dns plugin's names and forwards, the observer's page, the multicast repeater between the
//! container network and a LAN. A plugin whose program or host package is missing fails with
//! their names.
//!
//! Each daemon installs only the plugins a test names (`SUPERVISOR_PLUGINS_INSTALL`), with images
//! named after its instance prefix, so the harness removes them with the rest.

mod audio;
mod cli;
mod dns;
mod multicast;
mod observer;

use crate::addons::{engine_daemon, inspect_container};
use e2e::Daemon;
use serde_json::{json, Value};
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

/// The plugin's token for the supervisor's API, as its container has it.
fn token_of(daemon: &Daemon, plugin: &str) -> Option<String> {
    env_of(&inspect_container(&container(daemon, plugin))?, "SUPERVISOR_TOKEN")
}

/// The jobs named `name`, newest last.
fn jobs_named(daemon: &Daemon, name: &str) -> Vec<Value> {
    let (_, jobs) = daemon.get("/jobs/info");
    let mut found: Vec<Value> =
        jobs["data"]["jobs"].as_array().unwrap().iter().filter(|job| job["name"] == name).cloned().collect();
    found.sort_by(|a, b| a["created"].as_str().cmp(&b["created"].as_str()));
    found
}

/// The address of the container network's gateway, where the supervisor is for containers.
fn gateway(daemon: &Daemon) -> String {
    let network = format!("{}hassio", daemon.instance());
    let output = docker(&["network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", &network]);
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The address of the engine's container `name` on the daemon's container network.
fn address_of(daemon: &Daemon, name: &str) -> String {
    let inspected = inspect_container(name).unwrap_or_else(|| panic!("no container {name}"));
    let network = format!("{}hassio", daemon.instance());
    inspected["NetworkSettings"]["Networks"][&network]["IPAddress"].as_str().unwrap().to_owned()
}

/// `installed`, `latest`, `update available` of `/<plugin>/info`.
fn versions(daemon: &Daemon, plugin: &str) -> (Value, Value, Value) {
    let (status, info) = daemon.get(&format!("/{plugin}/info"));
    assert_eq!(status, 200, "{info}");
    let data = &info["data"];
    (data["version"].clone(), data["version_latest"].clone(), data["update_available"].clone())
}

/// The points of [`life_cycle`] where a plugin's own checks come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Installed at start at the manifest's version 1, running.
    Installed,
    /// Updated to version 2, running in a new container.
    Updated,
    /// Killed, then made anew by the watchdog.
    Restarted,
    /// Removed by hand, then made anew by the supervisor's repair.
    Repaired,
    /// The supervisor was killed and started again; the plugin ran on.
    SupervisorRestarted,
}

/// Runs `plugin` through its life as the real Supervisor manages it, checking at each step what
/// every plugin shares: installed at start at the manifest's version 1 (job
/// `docker_interface_install`), in a container as the real one makes it (on the host's network
/// for the observer and the multicast repeater, with a token of its own for the cli and the
/// observer); updated to 2 through the host's `ha` (job `plugin_<plugin>_update`, the old image
/// removed, the token renewed); refusals that leave it alone; killed, and made anew by the
/// watchdog (`plugin_<plugin>_restart_after_problem`); stopped and removed by hand, and made anew
/// by `/supervisor/repair`; running on, untouched, across a kill -9 of the supervisor.
///
/// `daemon` installs `plugin` at start and has no manifest naming it yet; `check` adds the
/// plugin's own checks at each [`Stage`], with the daemon as it is then.
fn life_cycle(daemon: &mut Daemon, plugin: &str, mut check: impl FnMut(&Daemon, Stage)) {
    let host_network = matches!(plugin, "observer" | "multicast");
    let has_token = matches!(plugin, "cli" | "observer");
    offer(daemon, &[(plugin, "1")]);
    let first = running(daemon, plugin, "1");
    assert_eq!(versions(daemon, plugin), (json!("1"), json!("1"), json!(false)));
    let install = jobs_named(daemon, "docker_interface_install");
    assert_eq!(install.len(), 1, "{install:?}");
    assert_eq!((&install[0]["reference"], &install[0]["errors"]), (&json!(plugin), &json!([])));
    assert_eq!(install[0]["child_jobs"][0]["name"], format!("docker_{plugin}_run"));

    // The container as the real Supervisor makes it, with the plugin's folder and token.
    let inspected = inspect_container(&container(daemon, plugin)).unwrap();
    assert!(inspected["Config"]["Labels"].get("supervisor_managed").is_some(), "{}", inspected["Config"]["Labels"]);
    let network = if host_network { "host".to_owned() } else { format!("{}hassio", daemon.instance()) };
    assert_eq!(inspected["HostConfig"]["NetworkMode"], network.as_str());
    let config = inspected["Mounts"].as_array().unwrap().iter().find(|m| m["Destination"] == "/config").cloned();
    let folder = daemon.data_dir().join("plugins").join(plugin);
    assert_eq!(config.map(|m| m["Source"].clone()), Some(json!(folder.to_str().unwrap())));
    let token = env_of(&inspected, "SUPERVISOR_TOKEN");
    assert_eq!(token.is_some(), has_token, "{plugin}'s token: {token:?}");
    if let Some(token) = &token {
        assert_ne!(token, &daemon.cli_token());
        assert_eq!(daemon.request("GET", "/supervisor/info", Some(token), None).status(), 200);
    }
    let (status, stats) = daemon.get(&format!("/{plugin}/stats"));
    assert_eq!(status, 200, "{stats}");
    assert!(stats["data"]["memory_usage"].as_u64().unwrap() > 0, "{stats}");
    check(daemon, Stage::Installed);

    // An update to the manifest's new version, through the host's `ha`.
    offer(daemon, &[(plugin, "2")]);
    assert_eq!(versions(daemon, plugin), (json!("1"), json!("2"), json!(true)));
    let output = daemon.ha(&[plugin, "update", "--no-progress"], &[]);
    assert!(output.status.success(), "ha {plugin} update: {}", String::from_utf8_lossy(&output.stderr));
    let second = running(daemon, plugin, "2");
    assert_ne!(first, second, "a container of the new version");
    assert_eq!(versions(daemon, plugin), (json!("2"), json!("2"), json!(false)));
    assert!(!docker(&["image", "inspect", &format!("{}:1", image(daemon, plugin))]).status.success(), "old image kept");
    let update = jobs_named(daemon, &format!("plugin_{plugin}_update"));
    assert_eq!(update.len(), 1, "{update:?}");
    assert_eq!(update[0]["errors"], json!([]), "{update:?}");
    let children: Vec<&Value> = update[0]["child_jobs"].as_array().unwrap().iter().map(|c| &c["name"]).collect();
    assert_eq!(children, [&json!("docker_interface_update"), &json!(format!("docker_{plugin}_run"))]);
    if let Some(old) = &token {
        let renewed = token_of(daemon, plugin).expect("a token in the new container");
        assert_eq!(daemon.request("GET", "/supervisor/info", Some(old), None).status(), 401, "the old token");
        assert_eq!(daemon.request("GET", "/supervisor/info", Some(&renewed), None).status(), 200);
    }
    check(daemon, Stage::Updated);

    // The installed version again is refused by the plugins whose API refuses it, only logged by
    // the cli and the observer; a version no image can have and an unknown key are refused.
    let path = format!("/{plugin}/update");
    let (status, body) = daemon.post(&path, json!({"version": "2"}));
    if matches!(plugin, "dns" | "audio" | "multicast") {
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap().contains("already in use"), "{body}");
    } else {
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = daemon.post(&path, json!({"version": "../2"}));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("\"../2\""), "{body}");
    let (status, body) = daemon.post(&path, json!({"background": true}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(running(daemon, plugin, "2"), second, "refusals leave the plugin alone");

    // A crash: the watchdog makes the container anew.
    assert!(docker(&["kill", &container(daemon, plugin)]).status.success());
    let restarted = wait_for(daemon, &format!("the watchdog to restart the {plugin} plugin"), || {
        let id = running(daemon, plugin, "2");
        (id != second).then_some(id)
    });
    let watchdog = wait_for(daemon, "the watchdog's job to end", || {
        let jobs = jobs_named(daemon, &format!("plugin_{plugin}_restart_after_problem"));
        jobs.last().filter(|job| job["done"] == true).cloned()
    });
    assert_eq!((&watchdog["reference"], &watchdog["errors"]), (&json!(plugin), &json!([])), "{watchdog}");
    check(daemon, Stage::Restarted);

    // Stopped cleanly, then removed by hand: the watchdog leaves it (a running container could
    // not be removed without force), the supervisor's repair makes it anew.
    let name = container(daemon, plugin);
    assert!(docker(&["stop", &name]).status.success());
    let removed = docker(&["rm", &name]);
    assert!(removed.status.success(), "docker rm: {}", String::from_utf8_lossy(&removed.stderr));
    let (status, body) = daemon.post("/supervisor/repair", json!({}));
    assert_eq!(status, 200, "{body}");
    let repaired = running(daemon, plugin, "2");
    assert_ne!(repaired, restarted);
    check(daemon, Stage::Repaired);

    // The supervisor restarts; the plugin runs on, its container untouched.
    daemon.kill9_and_restart();
    assert_eq!(versions(daemon, plugin).0, json!("2"));
    assert_eq!(running(daemon, plugin, "2"), repaired, "a running plugin is left running");
    check(daemon, Stage::SupervisorRestarted);
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
