//! The resolution center: verdicts computed from the machine the daemon runs on (a fabricated
//! host root, the D-Bus fixtures, the real engine), issues found by the checks, suggestions
//! applied as jobs, dismissals, check options, and what survives a restart.

mod evaluations;
mod health;

use crate::addons::{engine_daemon, image_exists, install, local_image};
use dbus_fixtures::{PrivateBus, Profile, Service};
use e2e::fixtures::FixtureRepository;
use e2e::{eventually, Daemon, Tmpfs};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, UdpSocket};
use std::path::Path;

/// `nobody` and `nogroup`.
const NOBODY: (u32, u32) = (65534, 65534);

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

/// Applies a suggestion; it must succeed.
fn apply(daemon: &Daemon, suggestion: &Value) {
    let uuid = suggestion["uuid"].as_str().expect("a uuid");
    let (status, body) = daemon.post(&format!("/resolution/suggestion/{uuid}"), json!({}));
    assert_eq!(status, 200, "{body}");
}

/// The types of the suggestions that fix `issue`.
fn suggestion_types(daemon: &Daemon, issue: &Value) -> Vec<Value> {
    suggestions_of(daemon, issue).iter().map(|s| s["type"].clone()).collect()
}

/// The issue of `kind` about `reference`, once a health check found it.
fn wait_issue_about(daemon: &Daemon, kind: &str, reference: &str) -> Value {
    eventually(&format!("the issue {kind} of {reference}"), || {
        healthcheck(daemon);
        info(daemon)["issues"].as_array()?.iter().find(|i| i["type"] == kind && i["reference"] == reference).cloned()
    })
}

fn issues_of_kind(daemon: &Daemon, kind: &str) -> Vec<Value> {
    let all = info(daemon)["issues"].as_array().cloned().unwrap_or_default();
    all.into_iter().filter(|i| i["type"] == kind).collect()
}

fn job_done(daemon: &Daemon, name: &str) -> bool {
    let (_, jobs) = daemon.get("/jobs/info");
    jobs["data"]["jobs"].as_array().is_some_and(|jobs| jobs.iter().any(|j| j["name"] == name && j["done"] == true))
}

#[test]
fn an_interface_without_ipv4_is_a_connection_problem_until_ipv4_is_back() {
    let bus = PrivateBus::start(Service::ALL).expect("a private bus");
    let daemon = Daemon::start_with(&[bus.env()]);
    healthcheck(&daemon);
    assert!(issues_of_kind(&daemon, "ipv4_connection_problem").is_empty(), "eth0 is up with IPv4");

    let (status, body) = daemon.post("/network/interface/eth0/update", json!({"ipv4": {"method": "disabled"}}));
    assert_eq!(status, 200, "{body}");
    let problem = wait_issue_about(&daemon, "ipv4_connection_problem", "eth0");
    assert_eq!(problem["context"], "system", "{problem}");
    assert!(suggestions_of(&daemon, &problem).is_empty(), "nothing the supervisor could do");

    let (status, body) = daemon.post("/network/interface/eth0/update", json!({"ipv4": {"method": "auto"}}));
    assert_eq!(status, 200, "{body}");
    eventually("IPv4 back on eth0", || {
        healthcheck(&daemon);
        issues_of_kind(&daemon, "ipv4_connection_problem").is_empty().then_some(())
    });
}

#[test]
fn second_data_disks_are_renamed_or_adopted_with_a_reboot() {
    let bus = PrivateBus::start_with(Service::ALL, Profile::Haos).expect("a private bus");
    let daemon = Daemon::start_with(&[bus.env()]);
    healthcheck(&daemon);
    assert!(issues_of_kind(&daemon, "multiple_data_disks").is_empty(), "the data disk in use is no second one");

    // The data disk of another HAOS, plugged in: renaming it ends the conflict.
    bus.plug(Service::UDisks2, "sdc").unwrap();
    let second = wait_issue_about(&daemon, "multiple_data_disks", "/dev/sdc1");
    assert_eq!(second["context"], "system", "{second}");
    assert_eq!(suggestion_types(&daemon, &second), [json!("rename_data_disk"), json!("adopt_data_disk")]);
    let rename = suggestions_of(&daemon, &second).into_iter().find(|s| s["type"] == "rename_data_disk").unwrap();
    apply(&daemon, &rename);
    assert!(job_done(&daemon, "fixup_system_rename_data_disk_process"));
    let calls = bus.calls(Service::UDisks2).unwrap();
    assert!(calls.contains(&"SetLabel(/dev/sdc1, hassos-data-old)".to_owned()), "{calls:?}");
    assert!(issues_of_kind(&daemon, "multiple_data_disks").is_empty(), "{}", info(&daemon));

    // A data disk HAOS disabled at boot: adopting it names it the data disk, the one in use
    // loses the name, and the host reboots into it.
    bus.plug(Service::UDisks2, "sdd").unwrap();
    let disabled = wait_issue_about(&daemon, "disabled_data_disk", "/dev/sdd1");
    assert_eq!(suggestion_types(&daemon, &disabled), [json!("rename_data_disk"), json!("adopt_data_disk")]);
    let adopt = suggestions_of(&daemon, &disabled).into_iter().find(|s| s["type"] == "adopt_data_disk").unwrap();
    apply(&daemon, &adopt);
    let calls = bus.calls(Service::UDisks2).unwrap();
    let labels: Vec<&String> = calls.iter().filter(|c| c.starts_with("SetLabel(")).collect();
    assert_eq!(
        labels,
        [
            "SetLabel(/dev/sdc1, hassos-data-old)",
            "SetLabel(/dev/sdd1, hassos-data)",
            "SetLabel(/dev/nvme0n1p2, hassos-data-old)"
        ]
    );
    assert!(bus.calls(Service::Login1).unwrap().iter().any(|c| c.starts_with("Reboot(")), "the host reboots");
    assert!(issues_of_kind(&daemon, "disabled_data_disk").is_empty(), "{}", info(&daemon));
}

#[test]
fn a_second_home_assistant_os_is_found_at_start_and_makes_the_system_unhealthy() {
    let bus = PrivateBus::start_with(Service::ALL, Profile::Haos).expect("a private bus");
    bus.plug(Service::UDisks2, "sde").unwrap();
    let daemon = Daemon::start_with(&[bus.env()]);
    let duplicate = wait_issue(&daemon, "duplicate_os_installation");
    assert_eq!((duplicate["context"].clone(), duplicate["reference"].clone()), (json!("system"), Value::Null));
    assert!(suggestions_of(&daemon, &duplicate).is_empty());
    assert!(names(&info(&daemon)["unhealthy"]).contains(&"duplicate_os_installation".to_owned()));

    // A check of the setup state: the hourly health check leaves it; running it finds it gone.
    bus.unplug(Service::UDisks2, "sde").unwrap();
    healthcheck(&daemon);
    assert!(issue(&daemon, "duplicate_os_installation").is_some());
    eventually("the copy to be gone", || {
        let (status, body) = daemon.post("/resolution/check/duplicate_os_installation/run", json!({}));
        assert_eq!(status, 200, "{body}");
        issue(&daemon, "duplicate_os_installation").is_none().then_some(())
    });
}

#[test]
fn an_add_on_left_on_a_deprecated_machine_is_found_and_removed() {
    let repository = FixtureRepository::copy();
    repository.set_config("build_local", "machine", "[qemux86-64, raspberrypi4]");
    let mut daemon = engine_daemon(&[repository.env(), ("SUPERVISOR_MACHINE", "qemux86-64")]);
    install(&daemon, "core_build_local");
    healthcheck(&daemon);
    assert_eq!(issue(&daemon, "deprecated_arch_addon"), None, "it runs on this machine");

    // The same data moved to an ODROID-N2: of its machines, only one Home Assistant no longer
    // builds for would take it.
    daemon.kill9_and_restart_with(&[("SUPERVISOR_MACHINE", "odroid-n2")]);
    daemon.wait_for_engine();
    let deprecated = wait_issue_about(&daemon, "deprecated_arch_addon", "core_build_local");
    assert_eq!(deprecated["context"], "addon", "{deprecated}");
    let remove = suggestions_of(&daemon, &deprecated);
    assert_eq!(remove.iter().map(|s| s["type"].clone()).collect::<Vec<_>>(), [json!("execute_remove")]);
    apply(&daemon, &remove[0]);
    let (_, installed) = daemon.get("/addons");
    let installed = installed["data"]["addons"].as_array().cloned().unwrap_or_default();
    assert!(installed.iter().all(|addon| addon["slug"] != "core_build_local"), "removed: {installed:?}");
    assert_eq!(issue(&daemon, "deprecated_arch_addon"), None);
}

/// A DNS server on `<address>:53` that answers every A question with 192.0.2.1 and any other
/// with no records, for as long as the test process runs.
fn dns_server(address: &str) {
    let socket = UdpSocket::bind((address, 53)).expect("bind a DNS port (the tests run as root)");
    std::thread::spawn(move || {
        let mut buffer = [0u8; 512];
        while let Ok((read, from)) = socket.recv_from(&mut buffer) {
            let mut answer = buffer[..read].to_vec();
            if answer.len() < 17 {
                continue;
            }
            answer[2] = 0x81;
            answer[3] = 0x80;
            let kind = u16::from_be_bytes([answer[read - 4], answer[read - 3]]);
            if kind == 1 {
                answer[7] = 1;
                answer.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
            }
            let _ = socket.send_to(&answer, from);
        }
    });
}

fn set_nameservers(daemon: &Daemon, nameservers: &[&str]) {
    let (status, body) =
        daemon.post("/network/interface/eth0/update", json!({"ipv4": {"method": "auto", "nameservers": nameservers}}));
    assert_eq!(status, 200, "{body}");
    eventually("the name servers to be applied", || {
        let (_, eth0) = daemon.get("/network/interface/eth0/info");
        (eth0["data"]["ipv4"]["nameservers"] == json!(nameservers)).then_some(())
    });
}

/// The checks that need the internet run here only with that condition ignored.
fn ignore_internet(daemon: &Daemon) {
    let (status, body) = daemon.post("/jobs/options", json!({"ignore_conditions": ["internet_system"]}));
    assert_eq!(status, 200, "{body}");
}

fn run_check(daemon: &Daemon, check: &str) {
    let (status, body) = daemon.post(&format!("/resolution/check/{check}/run"), json!({}));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn dns_servers_of_the_host_that_fail_for_the_check_host_are_issues() {
    dns_server("127.0.0.153");
    let bus = PrivateBus::start(Service::ALL).expect("a private bus");
    let daemon = Daemon::start_with(&[bus.env()]);
    // One server answers, nothing listens on the other.
    set_nameservers(&daemon, &["127.0.0.153", "127.0.0.154"]);
    ignore_internet(&daemon);

    run_check(&daemon, "dns_server");
    let failed = issues_of_kind(&daemon, "dns_server_failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        (failed[0]["context"].clone(), failed[0]["reference"].clone()),
        (json!("dns_server"), json!("dns://127.0.0.154"))
    );
    // The working server has no IPv6 address for the check host, which is no error.
    run_check(&daemon, "dns_server_ipv6");
    let ipv6 = issues_of_kind(&daemon, "dns_server_ipv6_error");
    assert_eq!(ipv6.iter().map(|i| i["reference"].clone()).collect::<Vec<_>>(), [json!("dns://127.0.0.154")]);

    // A server the host no longer uses is no issue any more.
    set_nameservers(&daemon, &["127.0.0.153"]);
    healthcheck(&daemon);
    assert!(issues_of_kind(&daemon, "dns_server_failed").is_empty(), "{}", info(&daemon));
    assert!(issues_of_kind(&daemon, "dns_server_ipv6_error").is_empty(), "{}", info(&daemon));
}

fn unsupported(daemon: &Daemon) -> Vec<String> {
    names(&info(daemon)["unsupported"])
}

fn set_dns_fallback(daemon: &Daemon, fallback: bool) {
    let (status, body) = daemon.post("/dns/options", json!({"fallback": fallback}));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_failing_dns_server_without_the_fallback_is_unsupported() {
    let bus = PrivateBus::start(Service::ALL).expect("a private bus");
    let daemon = Daemon::start_with(&[bus.env()]);
    // Nothing listens there.
    set_nameservers(&daemon, &["127.0.0.155"]);
    set_dns_fallback(&daemon, false);
    // Offline, the check does not run: no DNS server failed yet.
    healthcheck(&daemon);
    assert!(issues_of_kind(&daemon, "dns_server_failed").is_empty(), "{}", info(&daemon));
    assert!(!unsupported(&daemon).contains(&"dns_server".to_owned()), "{}", info(&daemon));

    ignore_internet(&daemon);
    run_check(&daemon, "dns_server");
    assert_eq!(issues_of_kind(&daemon, "dns_server_failed").len(), 1, "{}", info(&daemon));
    healthcheck(&daemon);
    assert!(unsupported(&daemon).contains(&"dns_server".to_owned()), "{}", info(&daemon));

    // The fallback answers when the host's server does not.
    set_dns_fallback(&daemon, true);
    healthcheck(&daemon);
    assert_eq!(issues_of_kind(&daemon, "dns_server_failed").len(), 1, "the server still fails");
    assert!(!unsupported(&daemon).contains(&"dns_server".to_owned()), "{}", info(&daemon));
}

/// Serves, on loopback, the answer `answer` makes at each request (a content type and a body)
/// to any request; returns the server's address (`http://127.0.0.1:<port>`).
fn serve_http(answer: impl Fn() -> (&'static str, String) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port to serve");
    let address = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
                line.clear();
            }
            let (content_type, body) = answer();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(format!("{head}{body}").as_bytes());
        }
    });
    address
}

/// A Pwned Passwords range API on loopback: every range lists the suffix of the SHA-1 of
/// `correct-horse-battery-staple` (the `schema_all` fixture's password). Returns its URL.
fn pwned_api() -> String {
    let body = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\nCD49BBBD06B4C2606FC2449F8FB87975786:3645804\r\n";
    format!("{}/range", serve_http(move || ("text/plain", body.to_owned())))
}

#[test]
fn an_add_on_password_in_a_breach_is_an_issue_until_it_is_changed() {
    let api = pwned_api();
    let mut daemon = engine_daemon(&[("SUPERVISOR_PWNED_API", &api)]);
    install(&daemon, "core_schema_all");
    ignore_internet(&daemon);
    // As in the real Supervisor, a breached password counts only when security is forced.
    run_check(&daemon, "addon_pwned");
    assert_eq!(issue(&daemon, "pwned"), None);
    let (status, body) = daemon.post("/security/options", json!({"force_security": true}));
    assert_eq!(status, 200, "{body}");
    healthcheck(&daemon);
    assert_eq!(issue(&daemon, "pwned"), None, "looked for new ones once a day only");
    daemon.kill9_and_restart_with(&[]);
    ignore_internet(&daemon);
    run_check(&daemon, "addon_pwned");
    let pwned = issue(&daemon, "pwned").expect("the breached password found");
    assert_eq!((pwned["context"].clone(), pwned["reference"].clone()), (json!("addon"), json!("core_schema_all")));

    let (_, addon) = daemon.get("/addons/core_schema_all/info");
    let mut options = addon["data"]["options"].clone();
    options["secret"] = json!("a-password-nobody-has-leaked-1d6f");
    let (status, body) = daemon.post("/addons/core_schema_all/options", json!({"options": options}));
    assert_eq!(status, 200, "{body}");
    healthcheck(&daemon);
    assert_eq!(issue(&daemon, "pwned"), None, "{}", info(&daemon));
}

#[test]
fn a_lost_mount_is_an_issue_until_it_is_reloaded() {
    let bus = PrivateBus::start(&[Service::Systemd1, Service::Hostname1]).expect("a private bus with systemd");
    let served = bus.serve("nas7", None).unwrap();
    std::fs::create_dir(served.join("backups")).unwrap();
    let daemon = Daemon::start_with(&[bus.env()]);
    let body = json!({"name": "vault", "type": "nfs", "usage": "backup", "server": "nas7", "path": "/backups"});
    let (status, answer) = daemon.post("/mounts", body);
    assert_eq!(status, 200, "{answer}");
    healthcheck(&daemon);
    assert_eq!(issue(&daemon, "mount_failed"), None);

    // The server goes away: systemd says so, and the issue follows without a health check.
    bus.unserve("nas7").unwrap();
    let lost = wait_issue(&daemon, "mount_failed");
    assert_eq!((lost["context"].clone(), lost["reference"].clone()), (json!("mount"), json!("vault")), "{lost}");
    let mut types = suggestion_types(&daemon, &lost);
    types.sort_by_key(|t| t.to_string());
    assert_eq!(types, [json!("execute_reload"), json!("execute_remove")]);
    // The mount's own unit is not a failed unit of the system besides.
    assert_eq!(issue(&daemon, "systemd_unit_failed"), None);

    bus.serve("nas7", None).unwrap();
    let reload = suggestions_of(&daemon, &lost).into_iter().find(|s| s["type"] == "execute_reload").unwrap();
    apply(&daemon, &reload);
    let (_, listed) = daemon.get("/mounts");
    assert_eq!(listed["data"]["mounts"][0]["state"], "active", "{listed}");
    eventually("the issue to go", || issue(&daemon, "mount_failed").is_none().then_some(()));
    let (_, jobs) = daemon.get("/jobs/info");
    let names: Vec<&str> = jobs["data"]["jobs"].as_array().unwrap().iter().filter_map(|j| j["name"].as_str()).collect();
    assert!(names.contains(&"fixup_mount_execute_reload_process"), "{names:?}");
}

#[test]
fn a_failed_unit_is_found_and_reset() {
    let bus = PrivateBus::start(Service::ALL).expect("a private bus");
    let daemon = Daemon::start_with(&[bus.env()]);
    bus.fail_unit("ssh.service").unwrap();
    healthcheck(&daemon);
    let failed = wait_issue(&daemon, "systemd_unit_failed");
    assert_eq!((failed["context"].clone(), failed["reference"].clone()), (json!("system"), json!("ssh.service")));
    let reset = suggestions_of(&daemon, &failed).into_iter().find(|s| s["type"] == "execute_reset").expect("reset");
    assert_eq!(suggestion_types(&daemon, &failed).len(), 2, "reset and restart");
    apply(&daemon, &reset);
    assert!(bus.calls(Service::Systemd1).unwrap().contains(&"ResetFailedUnit(ssh.service)".to_owned()));
    assert_eq!(issue(&daemon, "systemd_unit_failed"), None, "{}", info(&daemon));
}

#[test]
fn a_port_conflict_at_start_is_an_issue_that_clearing_the_port_fixes() {
    let repository = FixtureRepository::copy();
    let taken = std::net::TcpListener::bind("0.0.0.0:0").expect("a port to hold");
    let port = taken.local_addr().unwrap().port();
    repository.set_config("build_local", "ports", &format!("{{\"8080/tcp\": {port}}}"));
    let daemon = engine_daemon(&[repository.env()]);
    install(&daemon, "core_build_local");
    let (status, body) = daemon.post("/addons/core_build_local/start", json!({}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_key"], "app_port_conflict", "{body}");
    assert_eq!(body["message"], format!("Cannot start app core_build_local because port {port} is already in use"));

    let conflict = wait_issue(&daemon, "app_port_conflict");
    assert_eq!(
        (conflict["reference"].clone(), conflict["reference_extra"].clone()),
        (json!("core_build_local"), json!({"port": port}))
    );
    let suggestions = suggestions_of(&daemon, &conflict);
    let mut types: Vec<Value> = suggestions.iter().map(|s| s["type"].clone()).collect();
    types.sort_by_key(|t| t.to_string());
    assert_eq!(types, [json!("clear_port_config"), json!("execute_start")]);
    // The port is still held: the conflict stays through a health check.
    healthcheck(&daemon);
    assert!(issue(&daemon, "app_port_conflict").is_some());

    let clear = suggestions.iter().find(|s| s["type"] == "clear_port_config").unwrap();
    apply(&daemon, clear);
    let (_, addon) = daemon.get("/addons/core_build_local/info");
    assert_eq!(addon["data"]["network"], json!({"8080/tcp": null}), "{addon}");
    assert_eq!(issue(&daemon, "app_port_conflict"), None, "{}", info(&daemon));
    let (status, body) = daemon.post("/addons/core_build_local/start", json!({}));
    assert_eq!(status, 200, "{body}");
    drop(taken);
}

#[test]
fn containers_without_mount_propagation_on_share_and_media_are_a_docker_config_issue() {
    let repository = FixtureRepository::copy();
    repository.set_config("build_local", "map", "[share:rw, media]");
    let daemon = engine_daemon(&[repository.env()]);
    install(&daemon, "core_build_local");
    let (status, body) = daemon.post("/addons/core_build_local/start", json!({}));
    assert_eq!(status, 200, "{body}");
    let name = format!("{}addon_core_build_local", daemon.instance());
    let container = crate::addons::inspect_container(&name).expect("the add-on's container");
    let propagations: Vec<Value> = container["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["Destination"] == "/share" || m["Destination"] == "/media")
        .map(|m| m["Propagation"].clone())
        .collect();
    assert_eq!(propagations.len(), 2, "{container}");
    healthcheck(&daemon);
    let issues = info(&daemon)["issues"].as_array().cloned().unwrap();
    let docker_config: Vec<&Value> = issues.iter().filter(|i| i["type"] == "docker_config").collect();
    if propagations.iter().all(|p| p == "rslave") {
        // The host's mount is shared: the engine took `rslave`.
        assert!(docker_config.is_empty(), "{issues:?}");
        return;
    }
    // The host's mount is private, so the engine refused `rslave` and the add-on runs without.
    let subjects: Vec<(Value, Value)> =
        docker_config.iter().map(|i| (i["context"].clone(), i["reference"].clone())).collect();
    assert!(subjects.contains(&(json!("addon"), json!("core_build_local"))), "{subjects:?}");
    assert!(subjects.contains(&(json!("system"), Value::Null)), "{subjects:?}");
    let addon_issue = docker_config.iter().find(|i| i["context"] == "addon").unwrap();
    let rebuild = suggestions_of(&daemon, addon_issue);
    assert_eq!(rebuild.len(), 1, "{rebuild:?}");
    assert_eq!(rebuild[0]["type"], "execute_rebuild");
    let started = container["State"]["StartedAt"].clone();
    apply(&daemon, &rebuild[0]);
    let again = crate::addons::inspect_container(&name).expect("the add-on's container");
    assert_ne!(again["State"]["StartedAt"], started, "the container was made again");
    // Made again on the same host, it still lacks propagation: the check finds it again.
    healthcheck(&daemon);
    assert!(issue(&daemon, "docker_config").is_some());
}

/// The issue of `kind` about `reference` now, without a health check.
fn issue_about(daemon: &Daemon, kind: &str, reference: &str) -> Option<Value> {
    info(daemon)["issues"].as_array()?.iter().find(|i| i["type"] == kind && i["reference"] == reference).cloned()
}

#[test]
fn a_missing_add_on_image_is_an_issue_that_its_repair_fixes() {
    let mut daemon = engine_daemon(&[]);
    install(&daemon, "core_build_local");
    let image = local_image(&daemon, "core", "build_local", "1.0.0");
    assert!(crate::addons::docker(&["rmi", &image]).is_some(), "the image removed");

    // Its start finds the image gone.
    let (status, body) = daemon.post("/addons/core_build_local/start", json!({}));
    assert_ne!(status, 200, "{body}");
    let missing = eventually("the missing image", || issue_about(&daemon, "missing_image", "core_build_local"));
    assert_eq!(missing["context"], "addon", "{missing}");
    let repair = suggestions_of(&daemon, &missing);
    assert_eq!(repair.len(), 1, "{repair:?}");
    assert_eq!((&repair[0]["type"], &repair[0]["auto"]), (&json!("execute_repair"), &json!(true)), "{repair:?}");
    apply(&daemon, &repair[0]);
    assert!(image_exists(&image), "the image built again");
    assert_eq!(issue_about(&daemon, "missing_image", "core_build_local"), None, "{}", info(&daemon));
    assert!(job_done(&daemon, "fixup_app_execute_repair_process"));
    assert!(job_done(&daemon, "docker_app_install"));
    let (status, body) = daemon.post("/addons/core_build_local/start", json!({}));
    assert_eq!(status, 200, "{body}");

    // Gone again while the supervisor is down: found at its start. The repair is applied by
    // itself after a health check (maybe the one at start already) while the system is
    // healthy, else by hand.
    let (status, body) = daemon.post("/addons/core_build_local/stop", json!({}));
    assert_eq!(status, 200, "{body}");
    daemon.kill9();
    assert!(crate::addons::docker(&["rmi", &image]).is_some(), "the image removed");
    daemon.kill9_and_restart();
    let found = eventually("the missing image found at start", || {
        match issue_about(&daemon, "missing_image", "core_build_local") {
            Some(issue) => Some(Some(issue)),
            None => (image_exists(&image) && job_done(&daemon, "fixup_app_execute_repair_process")).then_some(None),
        }
    });
    if let Some(issue) = found {
        if names(&info(&daemon)["unhealthy"]).is_empty() {
            healthcheck(&daemon);
        } else {
            apply(&daemon, &suggestions_of(&daemon, &issue)[0]);
        }
    }
    eventually("the image built again", || {
        (image_exists(&image) && issue_about(&daemon, "missing_image", "core_build_local").is_none()).then_some(())
    });
}

#[test]
fn a_corrupt_git_repository_is_an_issue_that_its_reset_fixes() {
    use crate::store::{add_repository, repository_hash, store_addon};
    let git = e2e::fixtures::GitRepository::new("Breakable");
    let mut daemon = Daemon::start();
    let url = git.url();
    add_repository(&daemon, &url);
    let hash = repository_hash(&url);
    let addon = format!("{hash}_stdin_reader");
    let clone = daemon.data_dir().join("addons/git").join(&hash);

    // The local copy breaks: git no longer sees a repository in it, while the remote answers.
    std::fs::write(clone.join(".git/HEAD"), "garbage\n").unwrap();
    git.set_config("stdin_reader", "version", "1.0.1");
    git.commit("bump");
    let (status, body) = daemon.post("/store/reload", json!({}));
    assert_eq!(status, 200, "{body}");
    let corrupt = eventually("the corrupt repository", || issue_about(&daemon, "corrupt_repository", &hash));
    assert_eq!(corrupt["context"], "store", "{corrupt}");
    let reset = suggestions_of(&daemon, &corrupt);
    assert_eq!(reset.len(), 1, "{reset:?}");
    assert_eq!((&reset[0]["type"], &reset[0]["auto"]), (&json!("execute_reset"), &json!(true)), "{reset:?}");
    assert_eq!(store_addon(&daemon, &addon)["version_latest"], "1.0.0", "not pulled");
    apply(&daemon, &reset[0]);
    assert!(job_done(&daemon, "fixup_store_execute_reset_process") && job_done(&daemon, "git_repo_reset"));
    assert_eq!(store_addon(&daemon, &addon)["version_latest"], "1.0.1", "cloned anew");
    assert_eq!(issue_about(&daemon, "corrupt_repository", &hash), None, "{}", info(&daemon));
    // It pulls again.
    git.set_config("stdin_reader", "version", "1.0.2");
    git.commit("bump again");
    let (status, body) = daemon.post("/store/reload", json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(store_addon(&daemon, &addon)["version_latest"], "1.0.2");
    assert_eq!(issue_about(&daemon, "corrupt_repository", &hash), None, "{}", info(&daemon));

    // Broken while the supervisor is down: its objects are gone, which git's check at start finds.
    daemon.kill9();
    std::fs::remove_dir_all(clone.join(".git/objects")).unwrap();
    std::fs::create_dir(clone.join(".git/objects")).unwrap();
    daemon.kill9_and_restart();
    let fatal = eventually("the broken repository found at start", || issue_about(&daemon, "fatal_error", &hash));
    let reset = suggestions_of(&daemon, &fatal);
    assert_eq!(reset.iter().map(|s| s["type"].clone()).collect::<Vec<_>>(), [json!("execute_reset")]);
    apply(&daemon, &reset[0]);
    assert_eq!(issue_about(&daemon, "fatal_error", &hash), None, "{}", info(&daemon));
    let check = std::process::Command::new("git").args(["fsck", "--no-progress"]).current_dir(&clone).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}

#[test]
fn an_add_on_that_fails_to_start_at_boot_is_an_issue_until_it_starts_or_boots_no_more() {
    let repository = FixtureRepository::copy();
    let taken = TcpListener::bind("0.0.0.0:0").expect("a port to hold");
    let port = taken.local_addr().unwrap().port();
    repository.set_config("build_local", "ports", &format!("{{\"8080/tcp\": {port}}}"));
    let mut daemon = engine_daemon(&[repository.env()]);
    // It starts at boot, where the port is taken.
    install(&daemon, "core_build_local");
    daemon.kill9_and_restart();
    let failed = eventually("the failed boot", || issue_about(&daemon, "boot_fail", "core_build_local"));
    assert_eq!(failed["context"], "addon", "{failed}");
    let mut types = suggestion_types(&daemon, &failed);
    types.sort_by_key(|t| t.to_string());
    assert_eq!(types, [json!("disable_boot"), json!("execute_start")]);

    drop(taken);
    let start = suggestions_of(&daemon, &failed).into_iter().find(|s| s["type"] == "execute_start").unwrap();
    apply(&daemon, &start);
    let (_, addon) = daemon.get("/addons/core_build_local/info");
    assert_eq!(addon["data"]["state"], "started", "{addon}");
    assert_eq!(issue_about(&daemon, "boot_fail", "core_build_local"), None, "{}", info(&daemon));

    // Failed again, then no longer started at boot: nothing left to fix.
    let (status, body) = daemon.post("/addons/core_build_local/stop", json!({}));
    assert_eq!(status, 200, "{body}");
    let taken = TcpListener::bind(("0.0.0.0", port)).expect("the port held again");
    daemon.kill9_and_restart();
    eventually("the failed boot", || issue_about(&daemon, "boot_fail", "core_build_local"));
    let (status, body) = daemon.post("/addons/core_build_local/options", json!({"boot": "manual"}));
    assert_eq!(status, 200, "{body}");
    eventually("the failed boot to go", || {
        issue_about(&daemon, "boot_fail", "core_build_local").is_none().then_some(())
    });
    drop(taken);
}

/// Writes JEDEC's wear estimate `used` (type B: `0x0a` is 90-100 % used) as the eMMC life time
/// of every block device of this machine under `root`, whichever holds the data directory.
fn emmc_wear(root: &Path, used: &str) {
    for device in std::fs::read_dir("/sys/class/block").unwrap().flatten() {
        let folder = root.join("sys/block").join(device.file_name()).join("device");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("life_time"), format!("0x01 {used}\n")).unwrap();
    }
}

#[test]
fn a_worn_out_data_disk_is_an_issue_until_it_wears_less() {
    use std::os::unix::fs::FileTypeExt;
    let root = tempfile::tempdir().unwrap();
    emmc_wear(root.path(), "0x0a");
    let daemon = Daemon::start_with(&[("SUPERVISOR_HOST_ROOT", root.path().to_str().unwrap())]);
    let findmnt = std::process::Command::new("findmnt")
        .args(["-n", "-o", "SOURCE", "-T", daemon.data_dir().to_str().unwrap()])
        .output()
        .expect("findmnt");
    let source = String::from_utf8_lossy(&findmnt.stdout).trim().to_owned();
    if !std::fs::metadata(&source).is_ok_and(|meta| meta.file_type().is_block_device()) {
        // No disk holds the data directory here: its wear is not known, which is no issue.
        let (_, host) = daemon.get("/host/info");
        assert_eq!(host["data"]["disk_life_time"], Value::Null, "{host}");
        healthcheck(&daemon);
        assert_eq!(issue(&daemon, "disk_lifetime"), None);
        return;
    }
    eventually("the data disk's wear", || {
        let (_, host) = daemon.get("/host/info");
        (host["data"]["disk_life_time"] == json!(90.0)).then_some(())
    });
    healthcheck(&daemon);
    let worn = issue(&daemon, "disk_lifetime").expect("the worn disk found");
    assert_eq!((worn["context"].clone(), worn["reference"].clone()), (json!("system"), Value::Null), "{worn}");
    assert!(suggestions_of(&daemon, &worn).is_empty());

    emmc_wear(root.path(), "0x02");
    let (status, body) = daemon.post("/host/reload", json!({}));
    assert_eq!(status, 200, "{body}");
    healthcheck(&daemon);
    assert_eq!(issue(&daemon, "disk_lifetime"), None, "{}", info(&daemon));
}

#[test]
fn an_add_on_restored_without_its_repository_is_detached_until_the_repository_is_back() {
    use crate::store::{add_repository, repository_hash};
    let git = e2e::fixtures::GitRepository::new("Left behind");
    let daemon = engine_daemon(&[]);
    let url = git.url();
    add_repository(&daemon, &url);
    let hash = repository_hash(&url);
    let slug = format!("{hash}_stdin_reader");
    install(&daemon, &slug);
    let (status, answer) = daemon.post("/backups/new/partial", json!({"addons": [slug]}));
    assert_eq!(status, 200, "{answer}");
    let backup = answer["data"]["slug"].as_str().expect("a backup").to_owned();

    // The add-on comes back from the backup; its repository does not.
    let (status, answer) = daemon.post(&format!("/addons/{slug}/uninstall"), json!({}));
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = daemon.call("DELETE", &format!("/store/repositories/{hash}"), None);
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = daemon.post(&format!("/backups/{backup}/restore/partial"), json!({"addons": [slug]}));
    assert_eq!(status, 200, "{answer}");
    healthcheck(&daemon);
    let missing = issue(&daemon, "detached_addon_missing").expect("the add-on without its repository");
    assert_eq!((missing["context"].clone(), missing["reference"].clone()), (json!("addon"), json!(slug)));
    assert!(suggestions_of(&daemon, &missing).is_empty(), "nothing to do but add the repository again");
    assert_eq!(issue(&daemon, "detached_addon_removed"), None);

    add_repository(&daemon, &url);
    healthcheck(&daemon);
    assert_eq!(issue(&daemon, "detached_addon_missing"), None, "{}", info(&daemon));
}
