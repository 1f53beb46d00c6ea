//! The balena Supervisor's device API on its own listener: `/ping` without a key and a plain 401
//! for everything else without the right one, the key kept private and never logged, a
//! regenerated key replacing the old one at once, the host config (hostname through hostnamed on
//! a private bus, proxy files, refusals that change nothing), reboot refused while a service
//! holds its update lock and done with `force` (through logind on the bus), and the journal with
//! `journalctl`'s options against a real gatewayd.

use dbus_fixtures::{PrivateBus, Service};
use e2e::Daemon;
use journal::testing::{Entry, TestJournal};
use reqwest::blocking::Response;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;

const HOST_SERVICES: [Service; 4] = [Service::Systemd1, Service::Login1, Service::Hostname1, Service::Timedate1];

/// A request to the device API with `key` in the query (`apikey=`), if any.
fn call(daemon: &Daemon, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = daemon.client().request(method, daemon.balena_url(path));
    if let Some(key) = key {
        request = request.query(&[("apikey", key)]);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().expect("request")
}

fn get_json(daemon: &Daemon, path: &str) -> Value {
    let response = call(daemon, "GET", path, Some(&daemon.balena_key()), None);
    assert_eq!(response.status(), 200, "{path}");
    response.json().expect("a JSON answer")
}

fn status_and_text(response: Response) -> (u16, String) {
    (response.status().as_u16(), response.text().expect("a body"))
}

#[test]
fn ping_is_open_and_everything_else_needs_the_key() {
    let daemon = Daemon::start();
    assert_eq!(status_and_text(call(&daemon, "GET", "/ping", None, None)), (200, "OK".into()));
    let key = daemon.balena_key();
    assert_eq!(key.len(), 64);
    let mode = |path: &str| std::fs::metadata(daemon.data_dir().join(path)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("balena/api_key"), mode("balena")), (0o600, 0o700));

    for path in [
        "/v1/device",
        "/v2/version",
        "/v1/healthy",
        "/v1/device/host-config",
        "/v2/device/vpn",
        "/v2/local/target-state",
        "/v2/state/status",
        "/v2/applications/state",
        "/v2/applications/1/state",
        "/v1/apps/1",
        "/v2/containerId",
        "/v2/local/logs",
        "/v2/cleanup-volumes",
        "/nowhere",
    ] {
        assert_eq!(status_and_text(call(&daemon, "GET", path, None, None)), (401, "Unauthorized".into()), "{path}");
        let wrong = call(&daemon, "GET", path, Some("0123456789abcdef"), None);
        assert_eq!(status_and_text(wrong), (401, "Unauthorized".into()), "{path}");
    }
    let bearer = |key: &str| daemon.client().get(daemon.balena_url("/v2/version")).bearer_auth(key).send().unwrap();
    assert_eq!(bearer("wrong").status(), 401);
    let version: Value = bearer(&key).json().unwrap();
    assert_eq!(version, json!({"status": "success", "version": env!("CARGO_PKG_VERSION")}));
    assert_eq!(call(&daemon, "GET", "/nowhere", Some(&key), None).status(), 404);
    assert_eq!(call(&daemon, "POST", "/v1/blink", Some(&key), None).status(), 200);
    // Healthy or not as the supervisor is (the engine may not be connected yet), never refused.
    let (status, body) = status_and_text(call(&daemon, "GET", "/v1/healthy", Some(&key), None));
    assert!(matches!((status, body.as_str()), (200, "") | (500, "Unhealthy")), "{status} {body}");

    let device = get_json(&daemon, "/v1/device");
    let port: u16 = daemon.balena_url("").rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!((&device["api_port"], &device["status"]), (&json!(port), &json!("Idle")));
    assert_eq!(device["supervisor_version"], env!("CARGO_PKG_VERSION"));
    assert!(device["ip_address"].is_string() && device["mac_address"].is_string(), "{device}");
    assert_eq!((&device["update_pending"], &device["download_progress"]), (&json!(false), &Value::Null));
    assert_eq!(get_json(&daemon, "/v2/device/tags"), json!({"status": "success", "tags": []}));
    assert_eq!(
        get_json(&daemon, "/v2/device/vpn"),
        json!({"status": "success", "vpn": {"enabled": false, "connected": false}})
    );
    let info = get_json(&daemon, "/v2/local/device-info");
    assert_eq!(info["status"], "success");
    assert!(info["info"]["arch"].is_string() && info["info"]["deviceType"].is_string(), "{info}");

    // The same key after a restart; the HA API is not reached with it.
    let mut daemon = daemon;
    daemon.kill9_and_restart();
    assert_eq!(daemon.balena_key(), key);
    assert_eq!(call(&daemon, "GET", "/v2/version", Some(&key), None).status(), 200);
    assert_eq!(daemon.request("GET", "/supervisor/info", Some(&key), None).status(), 401);
    assert!(!daemon.log_text().contains(&key), "the key is in the log");
}

#[test]
fn a_regenerated_key_replaces_the_old_one_at_once() {
    let daemon = Daemon::start();
    let old = daemon.balena_key();
    let (status, new) = status_and_text(call(&daemon, "POST", "/v1/regenerate-api-key", Some(&old), None));
    assert_eq!(status, 200, "{new}");
    assert_eq!(new.len(), 64);
    assert_ne!(new, old);
    assert_eq!(daemon.balena_key(), new, "the file holds the new key");
    assert_eq!(call(&daemon, "GET", "/v1/device", Some(&old), None).status(), 401);
    assert_eq!(call(&daemon, "GET", "/v1/device", Some(&new), None).status(), 200);
    let log = daemon.log_text();
    assert!(!log.contains(&old) && !log.contains(&new), "a key is in the log");
}

#[test]
fn the_host_config_sets_the_hostname_through_hostnamed_and_bad_ones_change_nothing() {
    let bus = PrivateBus::start(&HOST_SERVICES).expect("a private bus with the fixture services");
    let daemon = Daemon::start_with(&[bus.env()]);
    let key = daemon.balena_key();
    let patch = |body: Value| status_and_text(call(&daemon, "PATCH", "/v1/device/host-config", Some(&key), Some(body)));

    assert_eq!(patch(json!({"network": {"hostname": "balenahost"}})), (200, "OK".into()));
    assert_eq!(get_json(&daemon, "/v1/device/host-config"), json!({"network": {"hostname": "balenahost"}}));
    assert_eq!(get_json(&daemon, "/v2/device/name"), json!({"status": "success", "deviceName": "balenahost"}));

    let proxy_dir = daemon.data_dir().join("balena/system-proxy");
    for (body, field) in [
        (
            json!({"network": {"hostname": "other", "proxy": {"type": "ftp", "ip": "p", "port": 1}}}),
            "network.proxy.type",
        ),
        (json!({"network": {"hostname": "not valid"}}), "network.hostname"),
        (
            json!({"network": {"proxy": {"type": "socks5", "ip": "p", "port": 1, "local_port": 2}}}),
            "network.proxy.local_port",
        ),
        (json!({"hostname": "other"}), "hostname"),
    ] {
        let (status, message) = patch(body.clone());
        assert_eq!(status, 400, "{body}: {message}");
        assert!(message.starts_with(field), "{body}: {message}");
    }
    assert_eq!(bus.calls(Service::Hostname1).unwrap(), ["SetStaticHostname(balenahost, false)"]);
    assert!(!proxy_dir.join("redsocks.conf").exists(), "no proxy was written");

    let proxy = json!({"type": "socks5", "ip": "192.168.0.199", "port": 8123, "noProxy": ["10.0.0.0/8"]});
    assert_eq!(patch(json!({"network": {"proxy": proxy}})), (200, "OK".into()));
    let conf = std::fs::read_to_string(proxy_dir.join("redsocks.conf")).unwrap();
    assert!(conf.contains("\ttype = socks5;\n\tip = 192.168.0.199;\n\tport = 8123;\n"), "{conf}");
    assert_eq!(std::fs::read_to_string(proxy_dir.join("no_proxy")).unwrap(), "10.0.0.0/8");
    assert_eq!(
        get_json(&daemon, "/v1/device/host-config"),
        json!({"network": {"hostname": "balenahost",
            "proxy": {"type": "socks5", "ip": "192.168.0.199", "port": "8123", "noProxy": ["10.0.0.0/8"]}}})
    );
    assert_eq!(patch(json!({"network": {"proxy": {}}})), (200, "OK".into()));
    assert_eq!(get_json(&daemon, "/v1/device/host-config"), json!({"network": {"hostname": "balenahost"}}));
}

#[test]
fn reboot_and_shutdown_wait_for_update_locks_unless_forced() {
    let bus = PrivateBus::start(&HOST_SERVICES).expect("a private bus with the fixture services");
    let daemon = Daemon::start_with(&[bus.env()]);
    let key = daemon.balena_key();
    // A service of application 1 holds its lock, as a container does in its /tmp/balena.
    let service = daemon.data_dir().join("balena/locks/1/main");
    std::fs::create_dir_all(&service).unwrap();
    std::fs::write(service.join("updates.lock"), "").unwrap();
    let power = |path: &str, body: Value| {
        let response = call(&daemon, "POST", path, Some(&key), Some(body));
        let status = response.status().as_u16();
        (status, response.json::<Value>().expect("a JSON answer"))
    };

    let locked = json!({"Data": "", "Error": "Lockfile exists for { appId: 1, service: main }"});
    assert_eq!(power("/v1/reboot", json!({})), (423, locked.clone()));
    assert_eq!(power("/v1/shutdown", json!({"force": false})), (423, locked));
    assert_eq!(bus.calls(Service::Login1).unwrap(), Vec::<String>::new(), "nothing went to logind");
    assert!(service.join("updates.lock").exists(), "the service's lock is left alone");
    assert!(!service.join("resin-updates.lock").exists());

    assert_eq!(power("/v1/reboot", json!({"force": true})), (202, json!({"Data": "OK", "Error": ""})));
    assert_eq!(bus.calls(Service::Login1).unwrap(), ["Reboot(false)"]);
    assert!(!service.join("updates.lock").exists(), "force took the lock and let go of it");
    assert_eq!(power("/v1/shutdown", json!({})), (202, json!({"Data": "OK", "Error": ""})));
    assert_eq!(bus.calls(Service::Login1).unwrap(), ["Reboot(false)", "PowerOff(false)"]);
}

#[test]
fn journal_logs_with_journalctls_options() {
    const BOOT: &str = "0123456789abcdef0123456789abcdef";
    let entry = |n: u64, unit: &str, message: &str| {
        Entry::log(BOOT, 1_700_000_000_000_000 + n * 1_000_000, unit, message)
            .field("_SYSTEMD_UNIT", format!("{unit}.service"))
    };
    let journal = TestJournal::serve(&[
        entry(0, "myapp", "first of myapp"),
        entry(1, "other", "first of other"),
        entry(2, "myapp", "second of myapp"),
        entry(3, "other", "second of other"),
    ])
    .expect("a test journal");
    let daemon = Daemon::start_with(&[("SUPERVISOR_JOURNAL", journal.address())]);
    let key = daemon.balena_key();
    let logs = |body: Value| status_and_text(call(&daemon, "POST", "/v2/journal-logs", Some(&key), Some(body)));

    let (status, all) = logs(json!({"format": "cat"}));
    assert_eq!(
        (status, all.lines().collect::<Vec<_>>()),
        (200, vec!["first of myapp", "first of other", "second of myapp", "second of other"])
    );
    let (_, newest) = logs(json!({"format": "cat", "count": 2}));
    assert_eq!(newest.lines().collect::<Vec<_>>(), ["second of myapp", "second of other"]);
    let (_, unit) = logs(json!({"format": "cat", "unit": "myapp", "all": true}));
    assert_eq!(unit.lines().collect::<Vec<_>>(), ["first of myapp", "second of myapp"]);
    let (_, json_lines) = logs(json!({"format": "json", "count": "1"}));
    let last: Value = serde_json::from_str(json_lines.lines().next().unwrap()).unwrap();
    assert_eq!(last["MESSAGE"], "second of other");
    let (_, short) = logs(json!({}));
    assert!(short.lines().count() == 4 && short.contains("testhost myapp: first of myapp"), "{short}");
    let get = call(&daemon, "GET", "/v2/journal-logs?format=cat&count=1&unit=other", Some(&key), None);
    assert_eq!(status_and_text(get), (200, "second of other\n".into()));
    let (status, refused) = logs(json!({"format": "verbose"}));
    assert_eq!(status, 400, "{refused}");
    assert!(refused.contains("Unknown format 'verbose'"), "{refused}");
}

#[test]
fn blink_toggles_the_yellows_power_led_and_puts_it_back() {
    let services = [Service::Systemd1, Service::Login1, Service::Hostname1, Service::OsAgent];
    let bus = PrivateBus::start_with(&services, dbus_fixtures::Profile::Haos).expect("a private bus");
    let daemon = Daemon::start_with(&[bus.env()]);
    let led_calls = || -> Vec<String> {
        bus.calls(Service::OsAgent).unwrap().into_iter().filter(|call| call.starts_with("Set(PowerLED")).collect()
    };
    // The supervisor applies the LED settings at start (on): the blink starts from there.
    let before = e2e::eventually("the LED set at start", || (!led_calls().is_empty()).then(|| led_calls().len()));
    let response = call(&daemon, "POST", "/v1/blink", Some(&daemon.balena_key()), None);
    assert_eq!(response.status().as_u16(), 200);
    let blinked = e2e::eventually("the blink to end", || {
        let calls = led_calls();
        // 15 s at one toggle every 500 ms, then the LED as it was.
        (calls.len() >= before + 31).then(|| calls[before..].to_vec())
    });
    assert_eq!(&blinked[..2], ["Set(PowerLED, false)", "Set(PowerLED, true)"]);
    assert_eq!(blinked.last().map(String::as_str), Some("Set(PowerLED, true)"), "put back as it was");
}
