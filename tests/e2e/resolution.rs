//! The resolution center: verdicts computed from the machine the daemon runs on (a fabricated
//! host root, the D-Bus fixtures, the real engine), issues found by the checks, suggestions
//! applied as jobs, dismissals, check options, and what survives a restart.

use crate::addons::{engine_daemon, install};
use dbus_fixtures::{PrivateBus, Profile, Service};
use e2e::fixtures::FixtureRepository;
use e2e::{eventually, Daemon, Tmpfs};
use serde_json::{json, Value};
use std::path::Path;

fn info(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/resolution/info");
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array().expect("a list").iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

fn healthcheck(daemon: &Daemon) {
    let (status, body) = daemon.post("/resolution/healthcheck", json!({}));
    assert_eq!(status, 200, "{body}");
}

/// The issue of `kind` (its V1 name) once a check found it.
fn wait_issue(daemon: &Daemon, kind: &str) -> Value {
    eventually(&format!("the issue {kind}"), || issue(daemon, kind))
}

fn issue(daemon: &Daemon, kind: &str) -> Option<Value> {
    info(daemon)["issues"].as_array()?.iter().find(|i| i["type"] == kind).cloned()
}

fn suggestions_of(daemon: &Daemon, issue: &Value) -> Vec<Value> {
    let (status, body) = daemon.get(&format!("/resolution/issue/{}/suggestions", issue["uuid"].as_str().unwrap()));
    assert_eq!(status, 200, "{body}");
    body["data"]["suggestions"].as_array().cloned().unwrap_or_default()
}

/// A host root whose kernel has AppArmor `enabled` (`Y`/`N`), and whose PID 1 runs in LXC when
/// `lxc`.
fn host_root(root: &Path, apparmor: &str, lxc: bool) {
    let parameters = root.join("sys/module/apparmor/parameters");
    std::fs::create_dir_all(&parameters).unwrap();
    std::fs::write(parameters.join("enabled"), format!("{apparmor}\n")).unwrap();
    std::fs::create_dir_all(root.join("proc/1")).unwrap();
    let environ = if lxc { "container=lxc\0PATH=/bin\0" } else { "PATH=/bin\0" };
    std::fs::write(root.join("proc/1/environ"), environ).unwrap();
}

#[test]
fn a_plain_host_without_the_os_agent_is_unsupported_with_its_reasons() {
    let root = tempfile::tempdir().unwrap();
    host_root(root.path(), "N", true);
    let daemon = Daemon::start_with(&[("SUPERVISOR_HOST_ROOT", root.path().to_str().unwrap())]);
    let expected = [
        "apparmor",
        "dbus",
        "lxc",
        "network_manager",
        "os",
        "os_agent",
        "systemd",
        "systemd_journal",
        "systemd_resolved",
    ];
    let unsupported = eventually("the evaluations", || {
        let unsupported = names(&info(&daemon)["unsupported"]);
        expected.iter().all(|r| unsupported.iter().any(|u| u == r)).then_some(unsupported)
    });
    assert!(!unsupported.contains(&"job_conditions".to_owned()), "{unsupported:?}");
    // Docker inside LXC is not only unsupported but unhealthy, as in the real Supervisor.
    assert_eq!(names(&info(&daemon)["unhealthy"]), ["docker"]);
    let (_, root_info) = daemon.get("/info");
    assert_eq!(root_info["data"]["supported"], false, "{root_info}");
    let (_, supervisor) = daemon.get("/supervisor/info");
    assert_eq!(
        (supervisor["data"]["supported"].clone(), supervisor["data"]["healthy"].clone()),
        (json!(false), json!(false))
    );

    // Ignoring a job condition is unsupported too.
    let (status, body) = daemon.post("/jobs/options", json!({"ignore_conditions": ["internet_host"]}));
    assert_eq!(status, 200, "{body}");
    assert!(names(&info(&daemon)["unsupported"]).contains(&"job_conditions".to_owned()));
}

#[test]
fn a_home_assistant_os_host_clears_its_reasons_and_a_disabled_connectivity_check_is_found() {
    let root = tempfile::tempdir().unwrap();
    host_root(root.path(), "Y", false);
    let bus = PrivateBus::start_with(Service::ALL, Profile::Haos).expect("a private bus");
    // A Yellow is bare metal; systemd says so once, at its start.
    bus.set_property(Service::Systemd1, "Virtualization", "").unwrap();
    let daemon = Daemon::start_with(&[("SUPERVISOR_HOST_ROOT", root.path().to_str().unwrap()), bus.env()]);
    let cleared = [
        "apparmor",
        "dbus",
        "lxc",
        "network_manager",
        "os",
        "os_agent",
        "systemd",
        "systemd_resolved",
        "virtualization_image",
        "connectivity_check",
    ];
    eventually("the host's services to be evaluated", || {
        let unsupported = names(&info(&daemon)["unsupported"]);
        // The first pass may run before the watched services answered.
        healthcheck(&daemon);
        cleared.iter().all(|r| !unsupported.iter().any(|u| u == r)).then_some(())
    });

    bus.set_property(Service::NetworkManager, "ConnectivityCheckEnabled", false).unwrap();
    eventually("the disabled connectivity check to be found", || {
        healthcheck(&daemon);
        names(&info(&daemon)["unsupported"]).contains(&"connectivity_check".to_owned()).then_some(())
    });
    let output = daemon.ha(&["resolution", "info", "--raw-json"], &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert!(names(&answer["data"]["unsupported"]).contains(&"connectivity_check".to_owned()), "{answer}");
}

#[test]
fn no_current_backup_is_fixed_by_a_full_backup_and_stays_fixed_after_a_restart() {
    let mut daemon = Daemon::start();
    let found = wait_issue(&daemon, "no_current_backup");
    assert_eq!((found["context"].clone(), found["reference"].clone()), (json!("system"), Value::Null), "{found}");
    let suggestions = suggestions_of(&daemon, &found);
    assert_eq!(suggestions.len(), 1, "{suggestions:?}");
    assert_eq!(
        (suggestions[0]["type"].clone(), suggestions[0]["auto"].clone()),
        (json!("create_full_backup"), json!(false))
    );

    // Kept with its uuid across a crash.
    daemon.kill9_and_restart();
    assert_eq!(issue(&daemon, "no_current_backup").map(|i| i["uuid"].clone()), Some(found["uuid"].clone()));

    let (status, body) =
        daemon.post(&format!("/resolution/suggestion/{}", suggestions[0]["uuid"].as_str().unwrap()), json!({}));
    assert_eq!(status, 200, "{body}");
    let (_, backups) = daemon.get("/backups");
    let list = backups["data"]["backups"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 1, "{backups}");
    assert_eq!(list[0]["type"], "full", "{backups}");
    let (_, jobs) = daemon.get("/jobs/info");
    let fixup = jobs["data"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "fixup_system_create_full_backup_process")
        .cloned();
    assert_eq!(fixup.map(|j| j["done"].clone()), Some(json!(true)), "{jobs}");
    let after = info(&daemon);
    assert!(after["issues"].as_array().unwrap().iter().all(|i| i["type"] != "no_current_backup"), "{after}");
    assert!(after["suggestions"].as_array().unwrap().is_empty(), "{after}");

    daemon.kill9_and_restart();
    healthcheck(&daemon);
    assert_eq!(issue(&daemon, "no_current_backup"), None);
}

#[test]
fn dismissed_issues_and_disabled_checks() {
    let mut daemon = Daemon::start();
    let found = wait_issue(&daemon, "no_current_backup");
    let suggestion = suggestions_of(&daemon, &found)[0]["uuid"].as_str().unwrap().to_owned();

    // A dismissed suggestion goes; its issue stays.
    let (status, body) = daemon.call("DELETE", &format!("/resolution/suggestion/{suggestion}"), None);
    assert_eq!(status, 200, "{body}");
    assert!(info(&daemon)["suggestions"].as_array().unwrap().is_empty());
    assert!(issue(&daemon, "no_current_backup").is_some());
    let (status, body) = daemon.call("DELETE", &format!("/resolution/suggestion/{suggestion}"), None);
    assert_eq!(status, 404, "{body}");
    assert!(body["message"].as_str().unwrap().contains(&suggestion), "{body}");

    // A dismissed issue goes, through the CLI as well.
    let output = daemon.ha(&["resolution", "issue", "dismiss", found["uuid"].as_str().unwrap()], &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(issue(&daemon, "no_current_backup"), None);
    let (status, _) = daemon.get(&format!("/resolution/issue/{}/suggestions", found["uuid"].as_str().unwrap()));
    assert_eq!(status, 404);

    // A disabled check does not bring it back; running it by hand does.
    let (status, body) = daemon.post("/resolution/check/backups/options", json!({"enabled": false}));
    assert_eq!(status, 200, "{body}");
    healthcheck(&daemon);
    assert_eq!(issue(&daemon, "no_current_backup"), None);
    let (status, body) = daemon.post("/resolution/check/backups/run", json!({}));
    assert_eq!(status, 200, "{body}");
    assert!(issue(&daemon, "no_current_backup").is_some());

    // Bad input changes nothing; the V1 slugs of the add-on checks are accepted.
    for (path, body, expected) in [
        ("/resolution/check/nope/options", json!({"enabled": true}), 404),
        ("/resolution/check/backups/options", json!({"enabled": "yes"}), 400),
        ("/resolution/check/backups/options", json!({"enable": true}), 400),
        ("/resolution/check/nope/run", json!({}), 404),
        ("/resolution/check/deprecated_addon/options", json!({"enabled": false}), 200),
    ] {
        let (status, answer) = daemon.post(path, body);
        assert_eq!(status, expected, "{path}: {answer}");
    }
    daemon.kill9_and_restart();
    let checks = info(&daemon)["checks"].clone();
    let enabled =
        |slug: &str| checks.as_array().unwrap().iter().find(|c| c["slug"] == slug).map(|c| c["enabled"].clone());
    assert_eq!(enabled("backups"), Some(json!(false)), "{checks}");
    assert_eq!(enabled("deprecated_addon"), Some(json!(false)), "{checks}");
    assert_eq!(enabled("free_space"), Some(json!(true)), "{checks}");
    let output = daemon.ha(&["resolution", "check", "options", "backups", "--enabled"], &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let checks = info(&daemon)["checks"].clone();
    assert!(checks.as_array().unwrap().iter().any(|c| c["slug"] == "backups" && c["enabled"] == true), "{checks}");
}

#[test]
fn deprecated_and_detached_add_ons_are_found_and_removed_by_their_suggestion() {
    let repository = FixtureRepository::copy();
    repository.set_config("build_local", "stage", "deprecated");
    let daemon = engine_daemon(&[repository.env()]);
    install(&daemon, "core_build_local");
    healthcheck(&daemon);
    let deprecated = wait_issue(&daemon, "deprecated_addon");
    assert_eq!(deprecated["reference"], "core_build_local", "{deprecated}");
    assert_eq!(suggestions_of(&daemon, &deprecated)[0]["type"], "execute_remove");

    // Gone from its repository, which is still there: removed, and only removing it helps.
    std::fs::remove_dir_all(repository.addon("build_local")).unwrap();
    let (status, body) = daemon.post("/store/reload", json!({}));
    assert_eq!(status, 200, "{body}");
    healthcheck(&daemon);
    let detached = wait_issue(&daemon, "detached_addon_removed");
    assert_eq!(detached["reference"], "core_build_local", "{detached}");
    let remove = suggestions_of(&daemon, &detached);
    assert_eq!(remove.len(), 1, "{remove:?}");
    let (status, body) =
        daemon.post(&format!("/resolution/suggestion/{}", remove[0]["uuid"].as_str().unwrap()), json!({}));
    assert_eq!(status, 200, "{body}");
    let (status, _) = daemon.get("/addons/core_build_local/info");
    assert_ne!(status, 200, "the add-on is removed");
    let after = info(&daemon);
    assert!(after["issues"].as_array().unwrap().iter().all(|i| i["reference"] != "core_build_local"), "{after}");
}

#[test]
fn a_full_disk_suggests_clearing_old_full_backups_and_keeps_the_newest_two() {
    let mut mounted = None;
    let daemon = Daemon::start_prepared(|dir| mounted = Some(Tmpfs::mount(dir, "200m")));
    let _tmpfs = mounted;
    // The job condition wants a gigabyte free, more than this whole disk.
    let (status, body) = daemon.post("/jobs/options", json!({"ignore_conditions": ["free_space"]}));
    assert_eq!(status, 200, "{body}");
    let mut slugs = Vec::new();
    for name in ["oldest", "middle", "newest"] {
        let (status, body) = daemon.post("/backups/new/full", json!({"name": name}));
        assert_eq!(status, 200, "{body}");
        slugs.push(body["data"]["slug"].as_str().unwrap().to_owned());
        // Backup dates have a resolution of a second at worst.
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    healthcheck(&daemon);
    let full = wait_issue(&daemon, "free_space");
    let suggestions = suggestions_of(&daemon, &full);
    assert_eq!(suggestions.len(), 1, "{suggestions:?}");
    assert_eq!(suggestions[0]["type"], "clear_full_backup");
    let (status, body) =
        daemon.post(&format!("/resolution/suggestion/{}", suggestions[0]["uuid"].as_str().unwrap()), json!({}));
    assert_eq!(status, 200, "{body}");
    let (_, backups) = daemon.get("/backups");
    let mut left: Vec<String> =
        backups["data"]["backups"].as_array().unwrap().iter().map(|b| b["slug"].as_str().unwrap().to_owned()).collect();
    left.sort();
    let mut newest = slugs[1..].to_vec();
    newest.sort();
    assert_eq!(left, newest, "{backups}");
    // The disk is still full, but there is nothing more to clear.
    let still = wait_issue(&daemon, "free_space");
    assert!(suggestions_of(&daemon, &still).is_empty());
}
