//! The `/os` group against fixture services on a private bus: Home Assistant OS 16.0 on a Yellow
//! (hostnamed's CPE name, RAUC with slots A and B, the OS-Agent, UDisks2, logind, systemd) or a
//! Raspberry Pi 5, and a supervised Debian. OS updates come from a web server on loopback that the test runs, which
//! can hold a download half-way so that the job is seen while it runs.

use crate::cli::stdout;
use dbus_fixtures::{PrivateBus, Profile, Service};
use e2e::{eventually, manifest, Daemon};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Condvar, Mutex};

const HAOS_SERVICES: &[Service] =
    &[Service::Systemd1, Service::Login1, Service::Hostname1, Service::Rauc, Service::OsAgent, Service::UDisks2];
/// A supervised Debian has no RAUC.
const DEBIAN_SERVICES: &[Service] =
    &[Service::Systemd1, Service::Login1, Service::Hostname1, Service::OsAgent, Service::UDisks2];
const NVME: &str = "Samsung-SSD-970-EVO-Plus-500GB-S4EVNX0N123456A";
const SSK: &str = "SSK-SSK-Storage-DF56419883D56";
const BUNDLE: &str = "/haos_yellow-16.1.raucb";
const BUNDLE_SIZE: usize = 256 * 1024;

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;
type Gate = Arc<(Mutex<bool>, Condvar)>;

/// A web server on loopback: a body per path; the held path sends only the first half of its
/// body until [`Ota::release`].
struct Ota {
    address: String,
    files: Files,
    gate: Gate,
}

impl Ota {
    fn start(held: Option<&str>) -> Ota {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the OTA server");
        let address = format!("http://{}", listener.local_addr().unwrap());
        let files = Files::default();
        let gate: Gate = Arc::new((Mutex::new(held.is_none()), Condvar::new()));
        let (serving, opening, held) = (Arc::clone(&files), Arc::clone(&gate), held.map(str::to_owned));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (files, gate, held) = (Arc::clone(&serving), Arc::clone(&opening), held.clone());
                std::thread::spawn(move || answer(stream, &files, held.as_deref(), &gate));
            }
        });
        Ota { address, files, gate }
    }

    fn put(&self, path: &str, body: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_owned(), body);
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    fn release(&self) {
        let (open, opened) = &*self.gate;
        *open.lock().unwrap() = true;
        opened.notify_all();
    }
}

fn answer(mut stream: TcpStream, files: &Files, held: Option<&str>, gate: &Gate) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|read| read > 2) {
        header.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or_default();
    let Some(body) = files.lock().unwrap().get(path).cloned() else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let half = if held == Some(path) { body.len() / 2 } else { body.len() };
    let sent = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body[..half]));
    if sent.and_then(|()| stream.flush()).is_err() || half == body.len() {
        return;
    }
    let (open, opened) = &**gate;
    drop(opened.wait_while(open.lock().unwrap(), |open| !*open).unwrap());
    let _ = stream.write_all(&body[half..]);
}

/// A daemon on a private bus with the services of `profile`. Bind as `let (_bus, daemon)`: the
/// daemon goes first.
/// On Home Assistant OS, it returns once the daemon's start-up work on the host is done (marking
/// the booted slot, setting the saved LEDs), which would otherwise mix with a test's.
fn start(services: &[Service], profile: Profile, env: &[(&str, &str)]) -> (PrivateBus, Daemon) {
    let bus = PrivateBus::start_with(services, profile).expect("private bus");
    let mut all = vec![bus.env()];
    all.extend_from_slice(env);
    let daemon = Daemon::start_with(&all);
    if profile.is_haos() {
        // Only the Yellow has LEDs to set.
        let leds = profile == Profile::Haos;
        eventually("the start-up work on the host", || {
            let marked = calls(&bus, Service::Rauc).contains(&"Mark(active, booted)".to_owned());
            let lit = !leds || calls(&bus, Service::OsAgent).contains(&"Set(PowerLED, true)".to_owned());
            (marked && lit).then_some(())
        });
    }
    (bus, daemon)
}

/// Home Assistant OS whose versions come from an OTA server announcing 16.1 for the Yellow, with
/// its bundle (held half-way when `held`); returns once the daemon knows of 16.1.
fn start_with_ota(held: bool) -> (PrivateBus, Ota, Daemon) {
    let ota = Ota::start(held.then_some(BUNDLE));
    let mut versions = manifest("stable", "0.0.1");
    versions["hassos"] = json!({"yellow": "16.1", "green": "16.2"});
    versions["ota"] = json!(ota.url("/{os_name}_{board}-{version}.raucb"));
    ota.put("/version-stable.json", serde_json::to_vec(&versions).unwrap());
    ota.put(BUNDLE, vec![0x5a; BUNDLE_SIZE]);
    let source = ota.url("/version-{channel}.json");
    let (bus, daemon) = start(HAOS_SERVICES, Profile::Haos, &[("SUPERVISOR_VERSION_SOURCE", &source)]);
    eventually("the OS version from the manifest", || (os_info(&daemon)["version_latest"] == "16.1").then_some(()));
    (bus, ota, daemon)
}

fn os_info(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/os/info");
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn job(daemon: &Daemon, id: &str) -> Value {
    let (status, body) = daemon.get(&format!("/jobs/{id}"));
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn wait_for_job(daemon: &Daemon, id: &str) -> Value {
    eventually("the job to end", || Some(job(daemon, id)).filter(|job| job["done"] == true))
}

/// `(status, message)` of a refused request.
fn refused(answer: (reqwest::StatusCode, Value)) -> (u16, String) {
    let (status, body) = answer;
    (status.as_u16(), body["message"].as_str().unwrap_or_else(|| panic!("no message: {body}")).to_owned())
}

fn calls(bus: &PrivateBus, service: Service) -> Vec<String> {
    bus.calls(service).expect("calls")
}

#[test]
fn info_on_home_assistant_os_reads_the_cpe_name_rauc_and_the_agent() {
    let (bus, daemon) = start(HAOS_SERVICES, Profile::Haos, &[]);
    let info = os_info(&daemon);
    assert_eq!(
        info,
        json!({
            "version": "16.0", "version_latest": null, "version_pending": null, "update_available": false,
            "board": "yellow", "boot": "A", "data_disk": NVME,
            "boot_slots": {
                "A": {"state": "booted", "status": "good", "version": "16.0"},
                "B": {"state": "inactive", "status": "good", "version": "15.2"}
            }
        })
    );
    let (status, body) = daemon.get("/info");
    assert_eq!((status.as_u16(), &body["data"]["hassos"]), (200, &json!("16.0")));
    // At start the booted slot is marked good, and active again as no update waits in the other.
    eventually("the booted slot to be marked", || {
        (calls(&bus, Service::Rauc) == ["Mark(good, booted)", "Mark(active, booted)"]).then_some(())
    });
    eventually("the data disk to be looked for", || {
        calls(&bus, Service::OsAgent).contains(&"ReloadDevice()".to_owned()).then_some(())
    });
}

#[test]
fn on_debian_the_os_is_absent_and_its_actions_are_refused() {
    let (bus, daemon) = start(DEBIAN_SERVICES, Profile::Debian, &[]);
    assert_eq!(
        os_info(&daemon),
        json!({
            "version": null, "version_latest": null, "version_pending": null, "update_available": false,
            "board": null, "boot": null, "data_disk": null, "boot_slots": {}
        })
    );
    assert_eq!(daemon.get("/info").1["data"]["hassos"], Value::Null);
    let blocked = |job: &str| (400, format!("'{job}' blocked from execution, no Home Assistant OS available"));
    assert_eq!(refused(daemon.post("/os/update", json!({}))), blocked("os_manager_update"));
    assert_eq!(refused(daemon.post("/os/boot-slot", json!({"boot_slot": "A"}))), blocked("os_manager_set_boot_slot"));
    assert_eq!(refused(daemon.post("/os/config/sync", json!({}))), blocked("os_manager_config_sync"));
    assert_eq!(refused(daemon.post("/os/datadisk/move", json!({"device": SSK}))), blocked("data_disk_migrate"));
    assert_eq!(refused(daemon.post("/os/datadisk/wipe", json!({}))), blocked("data_disk_wipe"));
    // The body is checked first, as in the real Supervisor.
    let (status, message) = refused(daemon.post("/os/boot-slot", json!({"boot_slot": "C"})));
    assert_eq!((status, message.as_str()), (400, "Invalid boot_slot 'C': expected BootSlot or one of 'A', 'B'"));
    let swap = (404, "Home Assistant OS 15.0 or newer required for swap settings".to_owned());
    assert_eq!(refused(daemon.get("/os/config/swap")), swap);
    assert_eq!(refused(daemon.post("/os/config/swap", json!({"swappiness": 10}))), swap);
    assert_eq!(refused(daemon.get("/os/boards/yellow")), (400, "Yellow board is not in use".to_owned()));
    assert_eq!(refused(daemon.get("/os/boards/supervised")), (400, "supervised board is not in use".to_owned()));
    // The disks a data partition could move to are listed wherever UDisks2 is.
    let (status, body) = daemon.get("/os/datadisk/list");
    assert_eq!((status.as_u16(), &body["data"]["devices"]), (200, &json!([SSK])));
    assert!(!calls(&bus, Service::OsAgent).iter().any(|call| call.starts_with("ScheduleWipe")));
    assert!(calls(&bus, Service::Login1).is_empty(), "nothing rebooted");
}

#[test]
fn an_update_downloads_the_bundle_and_installs_it_with_rauc_without_rebooting() {
    let (bus, ota, daemon) = start_with_ota(true);
    let info = os_info(&daemon);
    assert_eq!((&info["version"], &info["update_available"]), (&json!("16.0"), &json!(true)));
    let (status, body) = daemon.get("/available_updates");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["available_updates"],
        json!([{"update_type": "os", "panel_path": "/update-available/os", "version_latest": "16.1"}])
    );

    // An add-on that holds its update lock (`updates.lock` in the folder its container sees as
    // `/tmp/balena`) delays the update until it lets go, or until the update is forced.
    let lock_folder = daemon.data_dir().join("addons/locks/local_example/local_example");
    std::fs::create_dir_all(&lock_folder).unwrap();
    std::fs::write(lock_folder.join("updates.lock"), "").unwrap();
    let (status, body) = daemon.post("/os/update", json!({"background": true}));
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap().contains("update lock"), "{body}");
    assert!(lock_folder.join("updates.lock").exists(), "the add-on's lock is left alone");

    let (status, body) = daemon.post("/os/update", json!({"background": true, "force": true}));
    assert_eq!(status, 200, "{body}");
    // Forced: the supervisor holds the add-on's lock in its place while it installs.
    assert_eq!(std::fs::metadata(lock_folder.join("updates.lock")).unwrap().uid(), 65534, "the supervisor's lockfile");
    let id = body["data"]["job_id"].as_str().expect("a job id").to_owned();
    // The server holds the second half of the bundle: the job is seen downloading.
    let running = eventually("half of the bundle", || Some(job(&daemon, &id)).filter(|job| job["progress"] == 25.0));
    assert_eq!(
        (&running["name"], &running["stage"], &running["done"]),
        (&json!("os_manager_update"), &json!("download"), &json!(false)),
        "half of the download is a quarter of the update: {running}"
    );
    ota.release();
    let done = wait_for_job(&daemon, &id);
    assert_eq!(done["errors"], json!([]), "{done}");
    assert_eq!((&done["stage"], &done["progress"]), (&json!("install"), &json!(100.0)));
    assert!(!lock_folder.join("updates.lock").exists(), "the supervisor lets go of the lock when done");

    let bundle = daemon.data_dir().join("tmp/hassos-16.1.raucb");
    assert!(
        calls(&bus, Service::Rauc).contains(&format!("Install({})", bundle.display())),
        "{:?}",
        calls(&bus, Service::Rauc)
    );
    assert!(!bundle.exists(), "the bundle is removed once installed");
    let info = os_info(&daemon);
    assert_eq!(
        (&info["version"], &info["version_pending"], &info["update_available"], &info["boot"]),
        (&json!("16.1"), &json!("16.1"), &json!(false), &json!("A")),
        "installed, active after the next reboot: {info}"
    );
    assert_eq!(info["boot_slots"]["B"]["version"], "16.1");
    assert_eq!(daemon.get("/info").1["data"]["hassos"], "16.0", "still running 16.0");
    assert!(calls(&bus, Service::Login1).is_empty(), "the reboot is the user's to make");
    assert_eq!(daemon.get("/available_updates").1["data"]["available_updates"], json!([]));

    let (status, message) = refused(daemon.post("/os/update", json!({"version": "16.1"})));
    assert_eq!(
        (status, message.as_str()),
        (400, "Version 16.1 is already installed, reboot the system to activate it")
    );
    let (status, message) = refused(daemon.post("/os/update", json!({"version": "16.0"})));
    assert_eq!((status, message.as_str()), (400, "Version 16.0 is already installed"));
    let (status, message) = refused(daemon.post("/os/update", json!({"version": "16.9"})));
    assert_eq!((status, message.as_str()), (400, "Error raised from OTA Webserver: 404"));
    let (status, message) = refused(daemon.post("/os/update", json!({"version": true})));
    assert_eq!((status, message.as_str()), (400, "Invalid version: true is not a version"));
}

#[test]
fn rauc_leaving_during_an_update_fails_the_job_and_the_daemon_serves_on() {
    let (bus, ota, daemon) = start_with_ota(true);
    let (status, body) = daemon.post("/os/update", json!({"background": true}));
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["job_id"].as_str().expect("a job id").to_owned();
    eventually("the download to start", || Some(job(&daemon, &id)).filter(|job| job["progress"] != 0.0));
    bus.stop_service(Service::Rauc).unwrap();
    ota.release();
    let done = wait_for_job(&daemon, &id);
    assert_eq!(
        done["errors"][0]["message"], "Rauc communication error: de.pengutronix.rauc is not available on this system",
        "{done}"
    );
    assert!(!daemon.data_dir().join("tmp/hassos-16.1.raucb").exists(), "the bundle is removed after a failure");

    eventually("RAUC to be gone", || (os_info(&daemon)["boot"].is_null()).then_some(()));
    let info = os_info(&daemon);
    assert_eq!(
        (&info["version"], &info["version_pending"], &info["boot_slots"]),
        (&json!("16.0"), &Value::Null, &json!({}))
    );
    let (status, body) = daemon.post("/os/boot-slot", json!({"boot_slot": "B"}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], "de.pengutronix.rauc is not available on this system");
    assert!(body["job_id"].is_string(), "{body}");

    bus.start_service(Service::Rauc).unwrap();
    eventually("RAUC to be back", || (os_info(&daemon)["boot"] == "A").then_some(()));
    assert!(calls(&bus, Service::Login1).is_empty());
}

#[test]
fn boot_slot_marks_the_other_slot_active_and_reboots() {
    let (bus, daemon) = start(HAOS_SERVICES, Profile::Haos, &[]);
    let (status, body) = daemon.post("/os/boot-slot", json!({"boot_slot": "B"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(calls(&bus, Service::Rauc).last().map(String::as_str), Some("Mark(active, kernel.1)"));
    assert_eq!(calls(&bus, Service::Login1), ["Reboot(false)"]);
    let (status, message) = refused(daemon.post("/os/boot-slot", json!({"slot": "A"})));
    assert_eq!((status, message.as_str()), (400, "Invalid payload: unknown field `slot`, expected `boot_slot`"));
    assert_eq!(calls(&bus, Service::Login1), ["Reboot(false)"], "a refused request reboots nothing");

    // The configuration import restarts HAOS 16's unit.
    let (status, body) = daemon.post("/os/config/sync", json!({}));
    assert_eq!(status, 200, "{body}");
    assert!(calls(&bus, Service::Systemd1).contains(&"RestartUnit(hassos-config.service, replace)".to_owned()));
}

#[test]
fn swap_settings_go_through_the_agent_and_bad_values_change_nothing() {
    let (bus, daemon) = start(HAOS_SERVICES, Profile::Haos, &[]);
    let swap = |daemon: &Daemon| daemon.get("/os/config/swap").1["data"].clone();
    assert_eq!(swap(&daemon), json!({"swap_size": "", "swappiness": 1}));
    let (status, body) = daemon.post("/os/config/swap", json!({"swap_size": "2G", "swappiness": 10}));
    assert_eq!(status, 200, "{body}");
    eventually("the new swap settings", || {
        (swap(&daemon) == json!({"swap_size": "2G", "swappiness": 10})).then_some(())
    });

    let before = calls(&bus, Service::OsAgent);
    for (body, field) in [
        (json!({"swappiness": 201}), "Invalid swappiness 201"),
        (json!({"swappiness": "low"}), "Invalid swappiness"),
        (json!({"swap_size": "33%"}), "Invalid swap_size '33%'"),
        (json!({"swap_size": "2G", "swappiness": -1}), "Invalid swappiness -1"),
    ] {
        let (status, message) = refused(daemon.post("/os/config/swap", body.clone()));
        assert!(status == 400 && message.starts_with(field), "{body}: {status} {message}");
    }
    assert_eq!(calls(&bus, Service::OsAgent), before, "nothing reached the agent");
    // The supervisor takes up to 200; this agent refuses more than 100, with its own message.
    let (status, message) = refused(daemon.post("/os/config/swap", json!({"swappiness": 150})));
    assert_eq!((status, message.as_str()), (400, "swappiness must be between 0 and 100"));
    assert_eq!(swap(&daemon), json!({"swap_size": "2G", "swappiness": 10}));
}

#[test]
fn the_data_disk_moves_to_a_listed_disk_and_is_wiped_with_a_reboot() {
    let (bus, daemon) = start(HAOS_SERVICES, Profile::Haos, &[]);
    let (status, body) = daemon.get("/os/datadisk/list");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({
            "devices": [SSK],
            "disks": [{"name": "SSK SSK Storage (DF56419883D56)", "vendor": "SSK", "model": "SSK Storage",
                       "serial": "DF56419883D56", "size": 250059350016u64, "id": SSK, "dev_path": "/dev/sda"}]
        })
    );
    let (status, message) = refused(daemon.post("/os/datadisk/move", json!({"device": "/dev/nvme0n1"})));
    assert_eq!((status, message.as_str()), (400, "'/dev/nvme0n1' not a valid data disk target!"));
    let (status, message) = refused(daemon.post("/os/datadisk/move", json!({})));
    assert_eq!((status, message.as_str()), (400, "Missing device: the id or device path of a disk"));

    // This agent (1.13.0) leaves the new partition to the supervisor, which finds it smaller than
    // the disk the data is on: refused after the disk was prepared, without a reboot.
    let (status, message) = refused(daemon.post("/os/datadisk/move", json!({"device": "/dev/sda"})));
    assert_eq!(status, 400);
    assert!(message.starts_with("Cannot use /dev/sda as data disk as it is smaller then the current one"), "{message}");
    let udisks = calls(&bus, Service::UDisks2);
    assert!(udisks.contains(&"Format(/dev/sda, gpt)".to_owned()), "{udisks:?}");
    assert!(
        udisks.iter().any(|call| call
            .starts_with("CreatePartition(/dev/sda, 0, 0, 0FC63DAF-8483-4772-8E79-3D69D8477DE4, hassos-data-external")),
        "{udisks:?}"
    );
    assert!(calls(&bus, Service::Login1).is_empty());

    // Older agents move the data themselves.
    bus.set_property(Service::OsAgent, "Version", "1.4.0").unwrap();
    eventually("the move with the older agent", || {
        let (status, _) = daemon.post("/os/datadisk/move", json!({"device": SSK}));
        (status == 200).then_some(())
    });
    assert!(calls(&bus, Service::OsAgent).contains(&"ChangeDevice(/dev/sda)".to_owned()));
    assert_eq!(calls(&bus, Service::Login1), ["Reboot(false)"]);

    let (status, body) = daemon.post("/os/datadisk/wipe", json!({}));
    assert_eq!(status, 200, "{body}");
    assert!(calls(&bus, Service::OsAgent).contains(&"ScheduleWipeDevice()".to_owned()));
    assert_eq!(calls(&bus, Service::Login1), ["Reboot(false)", "Reboot(false)"]);
}

#[test]
fn yellow_leds_are_set_kept_and_applied_again_at_start() {
    let (bus, mut daemon) = start(HAOS_SERVICES, Profile::Haos, &[]);
    let yellow = |daemon: &Daemon| daemon.get("/os/boards/yellow").1["data"].clone();
    assert_eq!(yellow(&daemon), json!({"disk_led": true, "heartbeat_led": true, "power_led": true}));
    let (status, body) = daemon.post("/os/boards/yellow", json!({"heartbeat_led": false}));
    assert_eq!(status, 200, "{body}");
    eventually("the heartbeat off", || (yellow(&daemon)["heartbeat_led"] == false).then_some(()));
    assert_eq!(yellow(&daemon), json!({"disk_led": true, "heartbeat_led": false, "power_led": true}));

    let (status, message) = refused(daemon.post("/os/boards/yellow", json!({"disk_led": "off"})));
    assert!(status == 400 && message.starts_with("Invalid disk_led"), "{message}");
    assert_eq!(refused(daemon.get("/os/boards/green")), (400, "Green board is not in use".to_owned()));
    assert_eq!(
        refused(daemon.post("/os/boards/green", json!({"power_led": false}))),
        (400, "Green board is not in use".to_owned())
    );
    assert_eq!(refused(daemon.get("/os/boards/rpi5-64")), (400, "rpi5-64 board is not in use".to_owned()));

    let heartbeat_off = |bus: &PrivateBus| {
        calls(bus, Service::OsAgent).iter().filter(|call| *call == "Set(HeartbeatLED, false)").count()
    };
    assert_eq!(heartbeat_off(&bus), 1);
    daemon.kill9_and_restart();
    eventually("the saved LEDs set again", || (heartbeat_off(&bus) == 2).then_some(()));
}

#[test]
fn the_cli_shows_updates_and_sets_the_os() {
    let (bus, _ota, daemon) = start_with_ota(false);
    let ha = |args: &[&str]| {
        let output = daemon.ha(args, &[]);
        assert!(output.status.success(), "ha {args:?}: {}{}", stdout(&output), String::from_utf8_lossy(&output.stderr));
        output
    };
    let info = stdout(&ha(&["os", "info"]));
    assert!(info.lines().any(|line| line == "board: yellow"), "{info}");
    assert!(info.lines().any(|line| line == "update_available: true"), "{info}");

    let update = ha(&["os", "update"]);
    assert_eq!(stdout(&update).trim_end().lines().last(), Some("Command completed successfully."));
    // No progress drawn for a stderr that is not a terminal.
    assert!(update.stderr.is_empty(), "{}", String::from_utf8_lossy(&update.stderr));
    assert!(calls(&bus, Service::Rauc).iter().any(|call| call.starts_with("Install(")));

    assert_eq!(
        stdout(&ha(&["os", "boards", "yellow", "options", "--power-led=false"])).trim(),
        "Command completed successfully."
    );
    let yellow = stdout(&ha(&["os", "boards", "yellow"]));
    assert!(yellow.lines().any(|line| line == "power_led: false"), "{yellow}");

    let old_name = ha(&["hassos", "config", "swap", "info"]);
    assert!(stdout(&old_name).lines().any(|line| line == "swappiness: 1"), "{}", stdout(&old_name));
    assert!(String::from_utf8_lossy(&old_name.stderr)
        .contains("The use of 'hassos' is deprecated, please use 'os' instead!"));

    let refused = daemon.ha(&["os", "boot-slot", "C"], &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Invalid boot_slot 'C'"), "{refused:?}");
}

#[test]
fn raspberry_pi_firmware_is_shown_and_updated_as_a_job_on_the_yellow() {
    let (bus, daemon) = start(HAOS_SERVICES, Profile::Haos, &[]);
    let firmware = |daemon: &Daemon| {
        let (status, body) = daemon.get("/os/boards/raspberrypi/firmware");
        assert_eq!(status, 200, "{body}");
        body["data"].clone()
    };
    assert_eq!(
        firmware(&daemon),
        json!({
            "current_version": "1713175412", "latest_version": "1741606543", "update_available": true,
            "update_blocked": false, "update_pending": false, "blocked_reason": null
        })
    );
    let own = |issue: &Value| issue["type"] == "reboot_required" || issue["type"] == "rpi_firmware_update_blocked";
    assert!(!issues(&daemon).iter().any(own), "{:?}", issues(&daemon));

    let (status, message) = refused(daemon.post("/os/boards/raspberrypi/firmware/update", json!({"version": "1"})));
    assert_eq!((status, message.as_str()), (400, "Invalid payload: unknown field `version`, expected `background`"));
    assert!(!calls(&bus, Service::OsAgent).contains(&"Update()".to_owned()), "a bad body changes nothing");

    let (status, body) = daemon.post("/os/boards/raspberrypi/firmware/update", json!({"background": true}));
    assert_eq!(status, 200, "{body}");
    let job = wait_for_job(&daemon, body["data"]["job_id"].as_str().unwrap());
    assert_eq!(
        (&job["name"], &job["progress"], &job["errors"]),
        (&json!("os_manager_update_raspberrypi_firmware"), &json!(100.0), &json!([]))
    );
    assert_eq!(calls(&bus, Service::OsAgent).iter().filter(|call| *call == "Update()").count(), 1);
    eventually("the update pending", || (firmware(&daemon)["update_pending"] == true).then_some(()));
    assert!(calls(&bus, Service::Login1).is_empty(), "the new firmware waits for a reboot");
    let reboot = eventually("the reboot issue", || {
        issues(&daemon).into_iter().find(|issue| issue["type"] == "reboot_required" && issue["context"] == "system")
    });
    let (_, suggestions) = daemon.get(&format!("/resolution/issue/{}/suggestions", reboot["uuid"].as_str().unwrap()));
    assert_eq!(suggestions["data"]["suggestions"][0]["type"], "execute_reboot", "{suggestions}");
}

/// The resolution center's issues.
fn issues(daemon: &Daemon) -> Vec<Value> {
    let (status, body) = daemon.get("/resolution/info");
    assert_eq!(status, 200, "{body}");
    body["data"]["issues"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_raspberry_pi_5_flashes_its_firmware_as_a_job_that_can_fail() {
    let (bus, daemon) = start(HAOS_SERVICES, Profile::HaosRpi5, &[]);
    assert_eq!(os_info(&daemon)["board"], "rpi5-64");
    let (status, body) = daemon.get("/os/boards/raspberrypi/firmware");
    assert_eq!((status.as_u16(), &body["data"]["update_available"]), (200, &json!(true)), "{body}");

    // The agent fails as when `rpi-eeprom-update -a` does: the job fails with its words.
    bus.set_property(Service::OsAgent, "UpdateFails", true).unwrap();
    let (status, message) = refused(daemon.post("/os/boards/raspberrypi/firmware/update", json!({})));
    assert_eq!(
        (status, message.as_str()),
        (
            400,
            "Raspberry Pi firmware update failed: rpi-eeprom-update -a failed: exit status 1. Check the Host logs for details."
        )
    );
    assert_eq!(daemon.get("/os/boards/raspberrypi/firmware").1["data"]["update_pending"], false);
    assert!(!issues(&daemon).iter().any(|issue| issue["type"] == "reboot_required"));

    // Flashing takes the fixture a second: the job is seen running, then done.
    bus.set_property(Service::OsAgent, "UpdateFails", false).unwrap();
    let (status, body) = daemon.post("/os/boards/raspberrypi/firmware/update", json!({"background": true}));
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["job_id"].as_str().unwrap().to_owned();
    let running = job(&daemon, &id);
    assert_eq!((&running["name"], &running["done"]), (&json!("os_manager_update_raspberrypi_firmware"), &json!(false)));
    let (_, message) = refused(daemon.post("/os/boards/raspberrypi/firmware/update", json!({})));
    assert_eq!(
        message,
        "'os_manager_update_raspberrypi_firmware' blocked from execution, another job of its group is running"
    );
    let done = wait_for_job(&daemon, &id);
    assert_eq!((&done["progress"], &done["errors"]), (&json!(100.0), &json!([])));
    let jobs = daemon.get("/jobs/info").1.to_string();
    assert!(jobs.contains("Raspberry Pi firmware update failed"), "the failed job keeps its error: {jobs}");
    assert_eq!(calls(&bus, Service::OsAgent).iter().filter(|call| *call == "Update()").count(), 2);
    eventually("the update pending", || {
        (daemon.get("/os/boards/raspberrypi/firmware").1["data"]["update_pending"] == true).then_some(())
    });
    eventually("the reboot issue", || {
        issues(&daemon).iter().any(|issue| issue["type"] == "reboot_required").then_some(())
    });
    assert!(calls(&bus, Service::Login1).is_empty());
}

#[test]
fn raspberry_pi_firmware_is_not_found_on_a_supervised_board() {
    let (bus, daemon) = start(DEBIAN_SERVICES, Profile::Debian, &[]);
    let absent = (404, "Raspberry Pi firmware is not available on this board".to_owned());
    assert_eq!(refused(daemon.get("/os/boards/raspberrypi/firmware")), absent);
    assert_eq!(refused(daemon.post("/os/boards/raspberrypi/firmware/update", json!({}))), absent);
    assert!(!calls(&bus, Service::OsAgent).contains(&"Update()".to_owned()));

    let refused = daemon.ha(&["os", "boards", "raspberrypi", "firmware"], &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Raspberry Pi firmware is not available on this board"));
}

#[test]
fn the_cli_shows_the_raspberry_pi_firmware_and_updates_it_when_confirmed() {
    let (bus, daemon) = start(HAOS_SERVICES, Profile::Haos, &[]);
    let info = daemon.ha(&["os", "boards", "rpi", "fw"], &[]);
    assert!(info.status.success(), "{info:?}");
    let shown = stdout(&info);
    // Dates are quoted, as the real CLI's YAML quotes what would read back as a timestamp.
    assert!(shown.lines().any(|line| line == "current_version: \"2024-04-15\""), "{shown}");
    assert!(shown.lines().any(|line| line == "latest_version: \"2025-03-10\""), "{shown}");

    let declined = daemon.ha_answering(&["os", "boards", "raspberrypi", "firmware", "update"], "no\n");
    assert!(!declined.status.success());
    assert!(stdout(&declined).contains("from 2024-04-15 to 2025-03-10"), "{declined:?}");
    assert!(!calls(&bus, Service::OsAgent).contains(&"Update()".to_owned()));

    let update = daemon.ha_answering(&["os", "boards", "raspberrypi", "firmware", "update"], "yes\n");
    assert!(update.status.success(), "{update:?}");
    assert!(stdout(&update).contains("Firmware update applied."), "{update:?}");
    assert!(calls(&bus, Service::OsAgent).contains(&"Update()".to_owned()));

    eventually("the update pending", || {
        let (_, body) = daemon.get("/os/boards/raspberrypi/firmware");
        (body["data"]["update_pending"] == true).then_some(())
    });
    let again = daemon.ha(&["os", "boards", "raspberrypi", "firmware", "update"], &[]);
    assert!(again.status.success(), "{again:?}");
    assert!(stdout(&again).starts_with("A firmware update is already pending."), "{again:?}");
}

#[test]
fn a_blocked_raspberry_pi_firmware_update_or_an_old_agent_is_refused_without_a_job() {
    let (bus, daemon) = start(HAOS_SERVICES, Profile::Haos, &[]);
    bus.set_property(Service::OsAgent, "BlockedReason", "unsupported_boot_device").unwrap();
    bus.set_property(Service::OsAgent, "UpdateBlocked", true).unwrap();
    eventually("the update blocked", || {
        let (_, body) = daemon.get("/os/boards/raspberrypi/firmware");
        (body["data"]["update_blocked"] == true).then_some(())
    });
    assert_eq!(daemon.get("/os/boards/raspberrypi/firmware").1["data"]["blocked_reason"], "unsupported_boot_device");
    // Reading the state raises the resolution center's issue, as the real one does for Core.
    let blocked_issue = |daemon: &Daemon| {
        issues(daemon)
            .into_iter()
            .any(|issue| issue["type"] == "rpi_firmware_update_blocked" && issue["context"] == "system")
    };
    eventually("the blocked issue", || blocked_issue(&daemon).then_some(()));
    assert_eq!(
        refused(daemon.post("/os/boards/raspberrypi/firmware/update", json!({}))),
        (400, "Raspberry Pi firmware update is unavailable on this boot device".to_owned())
    );
    let cli = daemon.ha(&["os", "boards", "raspberrypi", "firmware", "update"], &[]);
    assert!(!cli.status.success());
    assert!(
        String::from_utf8_lossy(&cli.stderr).contains("firmware update is blocked: unsupported_boot_device"),
        "{cli:?}"
    );
    let (_, jobs) = daemon.get("/jobs/info");
    assert!(!jobs.to_string().contains("os_manager_update_raspberrypi_firmware"), "{jobs}");
    assert!(!calls(&bus, Service::OsAgent).contains(&"Update()".to_owned()));

    // A boot device that can take it again: the next read dismisses the issue.
    bus.set_property(Service::OsAgent, "UpdateBlocked", false).unwrap();
    eventually("the update unblocked", || {
        (daemon.get("/os/boards/raspberrypi/firmware").1["data"]["update_blocked"] == false).then_some(())
    });
    eventually("the blocked issue to go", || (!blocked_issue(&daemon)).then_some(()));

    // Agents before 1.9.0 have no firmware management.
    bus.set_property(Service::OsAgent, "Version", "1.8.0").unwrap();
    let (status, body) = eventually("the old agent", || {
        Some(daemon.get("/os/boards/raspberrypi/firmware")).filter(|(status, _)| *status == 404)
    });
    assert_eq!(
        refused((status, body)),
        (404, "OS Agent 1.9.0 or newer required for Raspberry Pi firmware management".to_owned())
    );
}
