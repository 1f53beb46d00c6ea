//! The `/host` group against fixture services on a private bus and a real journal: the host's
//! information from the watched services (changes on the bus show without a reload, a service
//! that leaves takes its features and endpoints with it while the daemon keeps serving), the
//! hostname, power and units going to the right service, the disk usage tree, the host's journal
//! by identifier and boot (Range with a cursor, following), add-on logs from the journal, and
//! `ha host`.

use dbus_fixtures::{PrivateBus, Service};
use e2e::{eventually, Daemon};
use journal::testing::{Entry, TestJournal};
use reqwest::blocking::Response;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};

const HOST_SERVICES: [Service; 5] =
    [Service::Systemd1, Service::Login1, Service::Hostname1, Service::Timedate1, Service::Resolve1];

fn bus_with(services: &[Service]) -> PrivateBus {
    PrivateBus::start(services).expect("a private bus with the fixture services")
}

fn data(daemon: &Daemon, path: &str) -> Value {
    let (status, body) = daemon.get(path);
    assert_eq!(status, 200, "{path}: {body}");
    body["data"].clone()
}

fn features(daemon: &Daemon) -> Vec<String> {
    let features = data(daemon, "/host/info")["features"].clone();
    serde_json::from_value(features).expect("features are a list of names")
}

fn refused(daemon: &Daemon, path: &str, body: Value) -> String {
    let (status, answer) = daemon.post(path, body);
    assert_eq!(status, 400, "{path}: {answer}");
    answer["message"].as_str().expect("an error message").to_owned()
}

#[test]
fn info_shows_every_field_from_the_services() {
    let bus = bus_with(&[&HOST_SERVICES[..], &[Service::OsAgent, Service::UDisks2]].concat());
    let daemon = Daemon::start_with(&[bus.env()]);
    let info = data(&daemon, "/host/info");
    let keys: Vec<&str> = info.as_object().unwrap().keys().map(String::as_str).collect();
    for key in [
        "agent_version",
        "apparmor_version",
        "chassis",
        "virtualization",
        "cpe",
        "deployment",
        "disk_free",
        "disk_total",
        "disk_used",
        "disk_life_time",
        "features",
        "hostname",
        "llmnr_hostname",
        "kernel",
        "operating_system",
        "timezone",
        "dt_utc",
        "dt_synchronized",
        "use_ntp",
        "startup_time",
        "boot_timestamp",
        "broadcast_llmnr",
        "broadcast_mdns",
    ] {
        assert!(keys.contains(&key), "{key} missing: {info}");
    }
    assert_eq!(keys.len(), 23, "{info}");
    assert_eq!((&info["hostname"], &info["kernel"]), (&json!("debian"), &json!("6.1.0-28-amd64")));
    assert_eq!((&info["chassis"], &info["virtualization"]), (&json!("vm"), &json!("kvm")));
    assert_eq!(info["operating_system"], "Debian GNU/Linux 12 (bookworm)");
    assert_eq!((&info["agent_version"], &info["timezone"]), (&json!("1.13.0"), &json!("Etc/UTC")));
    assert!(info["apparmor_version"].is_string(), "{info}");
    assert_eq!((&info["use_ntp"], &info["dt_synchronized"]), (&json!(true), &json!(true)));
    assert_eq!((&info["broadcast_llmnr"], &info["broadcast_mdns"]), (&json!(true), &json!(false)));
    let total = info["disk_total"].as_f64().unwrap();
    assert!(total > 0.0 && info["disk_free"].as_f64().unwrap() <= total, "{info}");
    assert_eq!(
        features(&daemon),
        ["reboot", "shutdown", "services", "hostname", "timedate", "os_agent", "resolved", "disk", "mount"]
    );

    // `/info` takes the host's part from the same place.
    let root = data(&daemon, "/info");
    assert_eq!((&root["hostname"], &root["operating_system"]), (&info["hostname"], &info["operating_system"]));
    assert_eq!(root["features"], info["features"]);
}

#[test]
fn without_a_bus_the_host_is_unknown_and_the_daemon_serves() {
    let daemon = Daemon::start();
    let info = data(&daemon, "/host/info");
    assert_eq!(info["features"], json!([]));
    assert!(info["hostname"].is_null() && info["kernel"].is_null() && info["dt_utc"].is_null(), "{info}");
    assert!(data(&daemon, "/info")["hostname"].is_null());
    assert_eq!(refused(&daemon, "/host/reboot", json!({})), "No reboot D-Bus connection available");
    let (status, _) = daemon.get("/host/services");
    assert_eq!(status, 400);
}

#[test]
fn the_hostname_is_set_through_hostnamed_and_bad_payloads_change_nothing() {
    let bus = bus_with(&HOST_SERVICES);
    let daemon = Daemon::start_with(&[bus.env()]);
    let (status, body) = daemon.post("/host/options", json!({"hostname": "homeassistant"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(data(&daemon, "/host/info")["hostname"], "homeassistant");

    let (status, body) = daemon.post("/host/options", json!({"hostname": "not valid"}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        (&body["error_key"], &body["extra_fields"]),
        (&json!("host_invalid_hostname"), &json!({"hostname": "not valid"}))
    );
    assert!(refused(&daemon, "/host/options", json!({"hostname": 42})).contains("data['hostname']"));
    assert!(refused(&daemon, "/host/options", json!({"hostname": "a", "name": "b"})).contains("name"));
    assert!(refused(&daemon, "/host/options", json!({})).contains("at least one"));
    assert_eq!(data(&daemon, "/host/info")["hostname"], "homeassistant");
    assert_eq!(
        bus.calls(Service::Hostname1).unwrap(),
        ["SetStaticHostname(homeassistant, false)", "SetStaticHostname(not valid, false)"]
    );
}

#[test]
fn reboot_and_shutdown_go_to_logind_and_to_systemd_without_it() {
    let bus = bus_with(&HOST_SERVICES);
    let daemon = Daemon::start_with(&[bus.env()]);
    assert_eq!(daemon.post("/host/reboot", json!({})).0, 200);
    assert_eq!(daemon.post("/host/shutdown", json!({"force": true})).0, 200);
    assert!(refused(&daemon, "/host/reboot", json!({"force": "sure"})).contains("data['force']"));
    assert!(refused(&daemon, "/host/shutdown", json!({"now": true})).contains("now"));
    assert_eq!(bus.calls(Service::Login1).unwrap(), ["Reboot(false)", "PowerOff(false)"]);

    bus.stop_service(Service::Login1).unwrap();
    // Until the daemon has seen logind go, a call to it fails and changes nothing.
    let mut attempts = 0;
    eventually("systemd to take over", || {
        attempts += 1;
        (daemon.post("/host/shutdown", json!({})).0 == 200).then_some(())
    });
    let systemd = bus.calls(Service::Systemd1).unwrap();
    assert_eq!(systemd.iter().filter(|call| *call == "PowerOff()").count(), 1, "{systemd:?}");
    // Each power call first tries Home Assistant OS's pre-shutdown stage, missing on Debian (the
    // attempts that still went to the vanished logind too).
    let stages = systemd.iter().filter(|call| call.starts_with("StartUnit(haos-pre-shutdown.target")).count();
    assert_eq!(stages, 2 + attempts, "{systemd:?}");
}

#[test]
fn services_are_listed_and_started_and_stopped() {
    let bus = bus_with(&HOST_SERVICES);
    let daemon = Daemon::start_with(&[bus.env()]);
    let state_of = |name: &str| {
        let services = data(&daemon, "/host/services")["services"].clone();
        let service = services.as_array().unwrap().iter().find(|s| s["name"] == name).cloned();
        service.map(|s| s["state"].as_str().unwrap().to_owned())
    };
    let services = data(&daemon, "/host/services")["services"].clone();
    assert!(services.as_array().unwrap().iter().all(|s| s["name"].as_str().unwrap().ends_with(".service")));
    assert_eq!(state_of("ssh.service").as_deref(), Some("active"));
    assert_eq!(state_of("docker.socket"), None, "only services");

    assert_eq!(daemon.post("/host/service/ssh.service/stop", json!({})).0, 200);
    assert_eq!(state_of("ssh.service").as_deref(), Some("inactive"));
    assert_eq!(daemon.post("/host/service/ssh.service/start", json!({})).0, 200);
    assert_eq!(state_of("ssh.service").as_deref(), Some("active"));
    assert_eq!(refused(&daemon, "/host/service/nope.service/start", json!({})), "Unit 'nope.service' not found");
    // The supervisor's own unit (the gateway's firewall) aside.
    let calls: Vec<String> =
        bus.calls(Service::Systemd1).unwrap().into_iter().filter(|call| call.contains("ssh.service")).collect();
    assert_eq!(calls, ["StopUnit(ssh.service, replace)", "StartUnit(ssh.service, replace)"]);
}

#[test]
fn changes_on_the_bus_show_without_a_reload_and_unannounced_ones_with_it() {
    let bus = bus_with(&HOST_SERVICES);
    let daemon = Daemon::start_with(&[bus.env()]);
    assert_eq!(data(&daemon, "/host/info")["hostname"], "debian");
    bus.set_property(Service::Hostname1, "StaticHostname", "renamed-elsewhere").unwrap();
    eventually("the new hostname in /host/info", || {
        (data(&daemon, "/host/info")["hostname"] == "renamed-elsewhere").then_some(())
    });

    // timedated never announces NTP synchronisation: only a reload reads it.
    bus.set_property(Service::Timedate1, "NTPSynchronized", false).unwrap();
    assert_eq!(data(&daemon, "/host/info")["dt_synchronized"], true);
    assert_eq!(daemon.post("/host/reload", json!({})).0, 200);
    assert_eq!(data(&daemon, "/host/info")["dt_synchronized"], false);
}

#[test]
fn a_service_that_leaves_takes_its_feature_and_endpoints_and_the_daemon_serves_on() {
    let bus = bus_with(&HOST_SERVICES);
    let daemon = Daemon::start_with(&[bus.env()]);
    assert!(features(&daemon).contains(&"hostname".to_owned()));

    bus.stop_service(Service::Hostname1).unwrap();
    eventually("the hostname feature to go", || (!features(&daemon).contains(&"hostname".to_owned())).then_some(()));
    let info = data(&daemon, "/host/info");
    assert!(info["hostname"].is_null() && info["kernel"].is_null(), "{info}");
    assert_eq!(info["timezone"], "Etc/UTC", "the others are still there");
    assert_eq!(refused(&daemon, "/host/options", json!({"hostname": "x"})), "No hostname D-Bus connection available");

    bus.stop_service(Service::Systemd1).unwrap();
    eventually("the systemd features to go", || (!features(&daemon).contains(&"services".to_owned())).then_some(()));
    assert_eq!(daemon.get("/host/services").0, 400);
    assert_eq!(daemon.post("/host/reboot", json!({})).0, 200, "logind still reboots");

    bus.start_service(Service::Hostname1).unwrap();
    eventually("hostnamed to come back", || (data(&daemon, "/host/info")["hostname"] == "debian").then_some(()));
    assert_eq!(daemon.get("/supervisor/ping").0, 200);
}

#[test]
fn disk_usage_breaks_the_data_directory_down() {
    let daemon = Daemon::start();
    std::fs::create_dir_all(daemon.data_dir().join("media/camera")).unwrap();
    std::fs::write(daemon.data_dir().join("media/camera/clip.mp4"), vec![0u8; 8192]).unwrap();
    let usage = data(&daemon, "/host/disks/default/usage?max_depth=2");
    assert_eq!((&usage["id"], &usage["label"]), (&json!("root"), &json!("Root")));
    let children = usage["children"].as_array().unwrap();
    assert_eq!(children[0]["id"], "system");
    let media = children.iter().find(|c| c["id"] == "media").expect("media is listed");
    assert_eq!(media["used_bytes"], 8192);
    assert_eq!(media["children"], json!([{"id": "camera", "label": "camera", "used_bytes": 8192}]));
    let sum: u64 = children.iter().map(|c| c["used_bytes"].as_u64().unwrap()).sum();
    assert_eq!(sum, usage["used_bytes"].as_u64().unwrap());
    assert!(usage["total_bytes"].as_u64().unwrap() >= sum);
    assert!(data(&daemon, "/host/disks/default/usage")["children"][3].get("children").is_none());
    assert!(refused_get(&daemon, "/host/disks/default/usage?max_depth=two").contains("max_depth"));
}

fn refused_get(daemon: &Daemon, path: &str) -> String {
    let (status, body) = daemon.get(path);
    assert_eq!(status, 400, "{path}: {body}");
    body["message"].as_str().unwrap().to_owned()
}

/// Boots a, b and c, a minute apart, each with systemd's start-up, a kernel line, a
/// NetworkManager line and two lines of `myapp` (which is not a host service).
fn boots() -> Vec<Entry> {
    let mut entries = Vec::new();
    for (i, letter) in ['a', 'b', 'c'].into_iter().enumerate() {
        let boot = letter.to_string().repeat(32);
        let at = |n: u64| 1_700_000_000_000_000 + (i as u64 * 60 + n) * 1_000_000;
        entries.push(Entry::startup_complete(&boot, at(0)));
        entries.push(Entry::log(&boot, at(1), "kernel", &format!("{letter} kernel")));
        entries.push(Entry::log(&boot, at(2), "NetworkManager", &format!("{letter} network")));
        for n in 1..=2 {
            entries.push(Entry::log(&boot, at(2 + n), "myapp", &format!("{letter} myapp {n}")));
        }
    }
    entries
}

/// GET with the admin token and extra headers.
fn get_with(daemon: &Daemon, path: &str, headers: &[(&str, &str)]) -> Response {
    let request = daemon.client().get(daemon.url(path)).bearer_auth(daemon.cli_token());
    headers.iter().fold(request, |request, (name, value)| request.header(*name, *value)).send().expect("request")
}

fn text(daemon: &Daemon, path: &str) -> Vec<String> {
    let (status, body) = daemon.text(path);
    assert_eq!(status, 200, "{path}: {body}");
    body.lines().map(str::to_owned).collect()
}

#[test]
fn host_logs_by_identifier_and_boot_from_the_journal() {
    let journal = TestJournal::serve(&boots()).expect("a test journal");
    let daemon = Daemon::start_with(&[("SUPERVISOR_JOURNAL", journal.address())]);
    assert!(features(&daemon).contains(&"journal".to_owned()));

    // The host's log: its services' identifiers only, always verbose.
    let host = text(&daemon, "/host/logs");
    assert_eq!(host.len(), 9, "{host:?}");
    assert!(host.iter().all(|line| !line.contains("myapp")), "{host:?}");
    assert!(host[8].ends_with("testhost NetworkManager: c network"), "{host:?}");
    assert_eq!(text(&daemon, "/host/logs/identifiers/myapp?lines=2"), ["c myapp 1", "c myapp 2"]);
    assert!(text(&daemon, "/host/logs/identifiers/myapp?lines=2&verbose")[0].contains("testhost myapp: c myapp 1"));

    assert_eq!(
        data(&daemon, "/host/logs/boots")["boots"],
        json!({"-2": "a".repeat(32), "-1": "b".repeat(32), "0": "c".repeat(32)})
    );
    let identifiers = data(&daemon, "/host/logs/identifiers")["identifiers"].clone();
    assert_eq!(identifiers, json!(["NetworkManager", "kernel", "myapp", "systemd"]));
    assert_eq!(text(&daemon, "/host/logs/boots/-1/identifiers/myapp"), ["b myapp 1", "b myapp 2"]);
    assert_eq!(text(&daemon, "/host/logs/boots/1/identifiers/kernel"), ["a kernel"]);
    let by_id = format!("/host/logs/boots/{}/identifiers/myapp", "b".repeat(32));
    assert_eq!(text(&daemon, &by_id), ["b myapp 1", "b myapp 2"]);
    let boot_a = text(&daemon, "/host/logs/boots/-2");
    assert_eq!(boot_a.len(), 3, "systemd, kernel, NetworkManager: {boot_a:?}");
    let (status, body) = daemon.text("/host/logs/boots/-3");
    assert_eq!((status.as_u16(), body.as_str()), (400, "Logs only contain 3 boots"));

    // Paging back from the first line's cursor with a negative skip.
    let last = get_with(&daemon, "/host/logs/identifiers/myapp", &[("Range", "entries=:-1:2")]);
    let cursor = last.headers()["X-First-Cursor"].to_str().unwrap().to_owned();
    assert_eq!(last.text().unwrap().lines().collect::<Vec<_>>(), ["c myapp 1", "c myapp 2"]);
    let range = format!("entries={cursor}:-2:2");
    let earlier = get_with(&daemon, "/host/logs/identifiers/myapp", &[("Range", &range)]).text().unwrap();
    assert_eq!(earlier.lines().collect::<Vec<_>>(), ["b myapp 1", "b myapp 2"]);
}

/// Reads lines from a followed log until one contains `wanted`.
fn read_until(reader: &mut BufReader<Response>, wanted: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line).expect("read the followed log");
        assert!(read > 0, "the log ended before {wanted:?} arrived");
        if line.contains(wanted) {
            return line;
        }
    }
}

#[test]
fn a_followed_log_receives_a_line_appended_meanwhile() {
    let journal = TestJournal::serve(&boots()).expect("a test journal");
    let daemon = Daemon::start_with(&[("SUPERVISOR_JOURNAL", journal.address())]);
    let follower = get_with(&daemon, "/host/logs/identifiers/myapp/follow", &[]);
    assert_eq!(follower.status(), 200);
    let mut reader = BufReader::new(follower);
    read_until(&mut reader, "c myapp 2");
    let boot = "c".repeat(32);
    journal.append(&[Entry::log(&boot, 1_800_000_000_000_000, "myapp", "appended while following")]).unwrap();
    assert_eq!(read_until(&mut reader, "appended").trim_end(), "appended while following");

    let host = get_with(&daemon, "/host/logs/follow", &[]);
    let mut reader = BufReader::new(host);
    read_until(&mut reader, "c network");
    journal.append(&[Entry::log(&boot, 1_800_000_001_000_000, "kernel", "a late kernel line")]).unwrap();
    assert!(read_until(&mut reader, "late kernel").contains("testhost kernel: a late kernel line"));
}

#[test]
fn host_logs_without_a_journal_are_a_clear_error() {
    let daemon = Daemon::start();
    assert!(!features(&daemon).contains(&"journal".to_owned()));
    let (status, body) = daemon.text("/host/logs");
    assert_eq!((status.as_u16(), body.as_str()), (400, "No systemd-journal-gatewayd Unix socket available"));
    assert_eq!(refused_get(&daemon, "/host/logs/boots"), "No systemd-journal-gatewayd Unix socket available");
}

#[test]
fn addon_logs_come_from_the_journal_when_it_has_the_container() {
    let journal = TestJournal::serve(&boots()).expect("a test journal");
    let daemon = crate::addons::engine_daemon(&[("SUPERVISOR_JOURNAL", journal.address())]);
    crate::addons::install(&daemon, "core_build_local");
    let container = crate::addons::container_name(&daemon, "core_build_local");

    // Nothing of the container in the journal: the engine's log (empty, never started).
    let (status, body) = daemon.text("/addons/core_build_local/logs");
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("from the journal"), "{body}");
    let (status, body) = daemon.text("/addons/core_build_local/logs/boots/-1");
    assert_eq!((status.as_u16(), body.as_str()), (400, "Logs not found for boot -1"));

    let boot = "c".repeat(32);
    let line = |at: u64, message: &str| {
        Entry::log(&boot, at, "addon_core_build_local", message)
            .field("CONTAINER_NAME", container.as_str())
            .field("CONTAINER_LOG_EPOCH", "epoch1")
    };
    journal
        .append(&[line(1_800_000_000_000_000, "from the journal 1"), line(1_800_000_001_000_000, "from the journal 2")])
        .unwrap();
    assert_eq!(text(&daemon, "/addons/core_build_local/logs"), ["from the journal 1", "from the journal 2"]);
    assert_eq!(text(&daemon, "/addons/core_build_local/logs?lines=2"), ["from the journal 1", "from the journal 2"]);
    assert_eq!(text(&daemon, "/addons/core_build_local/logs/latest"), ["from the journal 1", "from the journal 2"]);
    assert_eq!(text(&daemon, "/addons/core_build_local/logs/boots/0"), ["from the journal 1", "from the journal 2"]);
    assert!(text(&daemon, "/addons/core_build_local/logs/boots/-1").is_empty(), "nothing in boot b");
}

#[test]
fn ha_host_commands() {
    let bus = bus_with(&HOST_SERVICES);
    let journal = TestJournal::serve(&boots()).expect("a test journal");
    let daemon = Daemon::start_with(&[bus.env(), ("SUPERVISOR_JOURNAL", journal.address())]);
    let ha = |args: &[&str]| {
        let output = daemon.ha(args, &[]);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "ha {args:?}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    assert!(ha(&["host", "info"]).lines().any(|line| line == "hostname: debian"));
    assert_eq!(ha(&["host", "options", "--hostname", "from-the-cli"]).trim(), "Command completed successfully.");
    assert_eq!(data(&daemon, "/host/info")["hostname"], "from-the-cli");
    ha(&["host", "reboot", "--force"]);
    ha(&["host", "shutdown"]);
    assert_eq!(bus.calls(Service::Login1).unwrap(), ["Reboot(false)", "PowerOff(false)"]);
    ha(&["host", "reload"]);
    assert!(ha(&["host", "services"]).contains("name: docker.service"));
    assert_eq!(
        ha(&["host", "logs", "-t", "myapp", "-b", "-1"]).lines().collect::<Vec<_>>(),
        ["b myapp 1", "b myapp 2"]
    );
    assert_eq!(ha(&["host", "logs", "--identifier", "myapp", "-n", "1"]).lines().count(), 2, "one line asks for two");
    let boots = ha(&["host", "logs", "boots"]);
    let previous = boots.lines().find(|line| line.ends_with(&format!(": {}", "b".repeat(32))));
    assert!(previous.is_some_and(|line| line.contains("-1")), "{boots}");
    assert!(ha(&["host", "logs", "identifiers"]).contains("- myapp"));

    let output = daemon.ha(&["host", "options", "--hostname", "no_underscores"], &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Invalid hostname 'no_underscores'"));
}
