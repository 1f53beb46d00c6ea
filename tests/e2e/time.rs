//! The `/time` group against fixture services on a private bus: the host's NTP servers, kept by
//! the OS-Agent in timesyncd's configuration and applied by restarting timesyncd, on Home
//! Assistant OS with an agent of 1.13.0 or newer (the host feature `ntp`), and not found
//! elsewhere.

use dbus_fixtures::{PrivateBus, Profile, Service};
use e2e::{eventually, Daemon};
use serde_json::{json, Value};

const SERVICES: &[Service] = &[Service::Systemd1, Service::Login1, Service::Hostname1, Service::OsAgent];
const TIMESYNCD: &str = "/io/hass/os/Config/Timesyncd";
const TIMESYNCD_INTERFACE: &str = "io.hass.os.Config.Timesyncd";
const RESTART: &str = "RestartUnit(systemd-timesyncd.service, replace)";
const NOT_FOUND: &str = "Home Assistant OS 18.3 or newer required for NTP settings";

fn start(profile: Profile) -> (PrivateBus, Daemon) {
    let bus = PrivateBus::start_with(SERVICES, profile).expect("private bus");
    let daemon = Daemon::start_with(&[bus.env()]);
    (bus, daemon)
}

fn time_config(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/time/info");
    assert_eq!(status, 200, "{body}");
    body["data"]["config"].clone()
}

fn features(daemon: &Daemon) -> Value {
    daemon.get("/host/info").1["data"]["features"].clone()
}

/// What the agent holds, read from its object on the bus as any client would.
fn on_the_bus(bus: &PrivateBus, property: &str) -> String {
    bus.property(Service::OsAgent, TIMESYNCD, TIMESYNCD_INTERFACE, property).expect("the agent's property")
}

fn calls(bus: &PrivateBus, service: Service) -> Vec<String> {
    bus.calls(service).expect("calls")
}

fn restarts(bus: &PrivateBus) -> usize {
    calls(bus, Service::Systemd1).iter().filter(|call| *call == RESTART).count()
}

fn refused(daemon: &Daemon, path: &str, body: Option<Value>) -> (u16, String) {
    let (status, body) = daemon.call(if body.is_some() { "POST" } else { "GET" }, path, body);
    (status.as_u16(), body["message"].as_str().unwrap_or_else(|| panic!("no message: {body}")).to_owned())
}

#[test]
fn ntp_servers_are_set_read_back_refused_when_bad_and_reset_to_the_os_defaults() {
    let (bus, mut daemon) = start(Profile::Haos);
    eventually("the ntp feature", || features(&daemon).as_array()?.contains(&json!("ntp")).then_some(()));
    // Home Assistant OS ships a fallback server and leaves the servers to DHCP.
    assert_eq!(time_config(&daemon), json!({"servers": [], "fallback_servers": ["time.cloudflare.com"]}));

    let (status, body) = daemon.post(
        "/time/options",
        json!({"servers": ["pool.ntp.org", "192.168.1.1"], "fallback_servers": ["fe80::1%eth0"]}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        time_config(&daemon),
        json!({"servers": ["pool.ntp.org", "192.168.1.1"], "fallback_servers": ["fe80::1%eth0"]})
    );
    assert_eq!(on_the_bus(&bus, "NTPServer"), r#"["pool.ntp.org", "192.168.1.1"]"#);
    assert_eq!(on_the_bus(&bus, "FallbackNTPServer"), r#"["fe80::1%eth0"]"#);
    assert!(calls(&bus, Service::OsAgent).contains(&"Set(NTPServer, [pool.ntp.org, 192.168.1.1])".to_owned()));
    assert_eq!(restarts(&bus), 1, "timesyncd reads the new servers when restarted");

    // One bad server refuses the whole body, naming it; nothing reaches the agent or systemd.
    let agent_calls = calls(&bus, Service::OsAgent);
    let (status, message) = refused(
        &daemon,
        "/time/options",
        Some(json!({"servers": ["time.example.org", "pool ntp.org"], "fallback_servers": []})),
    );
    assert_eq!(
        (status, message.as_str()),
        (400, r"does not match regular expression ^[a-zA-Z0-9._:%-]+\Z @ data['servers'][1]. Got 'pool ntp.org'")
    );
    let (status, message) = refused(&daemon, "/time/options", Some(json!({"fallback_servers": ["time.google.com\n"]})));
    assert_eq!(status, 400);
    assert!(message.ends_with(r"@ data['fallback_servers'][0]. Got 'time.google.com\n'"), "{message}");
    assert_eq!(calls(&bus, Service::OsAgent), agent_calls);
    assert_eq!(restarts(&bus), 1);
    assert_eq!(on_the_bus(&bus, "NTPServer"), r#"["pool.ntp.org", "192.168.1.1"]"#);

    // A list left out stays; a body with neither changes nothing and restarts nothing.
    assert_eq!(daemon.post("/time/options", json!({"fallback_servers": ["time.google.com"]})).0, 200);
    assert_eq!(
        time_config(&daemon),
        json!({"servers": ["pool.ntp.org", "192.168.1.1"], "fallback_servers": ["time.google.com"]})
    );
    assert_eq!(restarts(&bus), 2);
    assert_eq!(daemon.post("/time/options", json!({})).0, 200);
    assert_eq!(restarts(&bus), 2);

    // The agent keeps them: the supervisor reads them back after a restart of its own.
    daemon.kill9_and_restart();
    assert_eq!(
        time_config(&daemon),
        json!({"servers": ["pool.ntp.org", "192.168.1.1"], "fallback_servers": ["time.google.com"]})
    );

    // Empty lists take the lines out of timesyncd's configuration: the OS defaults apply again.
    assert_eq!(daemon.post("/time/options", json!({"servers": [], "fallback_servers": []})).0, 200);
    assert_eq!(time_config(&daemon), json!({"servers": [], "fallback_servers": []}));
    assert_eq!(on_the_bus(&bus, "NTPServer"), "@as []");
    assert_eq!(restarts(&bus), 3);
}

#[test]
fn ntp_settings_are_not_found_off_home_assistant_os_or_with_an_older_agent() {
    let (bus, daemon) = start(Profile::Debian);
    assert!(!features(&daemon).as_array().unwrap().contains(&json!("ntp")), "{}", features(&daemon));
    assert_eq!(refused(&daemon, "/time/info", None), (404, NOT_FOUND.to_owned()));
    // Not found comes before the body is looked at, as in the real one.
    assert_eq!(refused(&daemon, "/time/options", Some(json!({"servers": ["a b"]}))), (404, NOT_FOUND.to_owned()));
    assert!(!calls(&bus, Service::OsAgent).iter().any(|call| call.contains("NTPServer")));
    drop((daemon, bus));

    let (bus, daemon) = start(Profile::Haos);
    assert_eq!(time_config(&daemon)["fallback_servers"], json!(["time.cloudflare.com"]));
    bus.set_property(Service::OsAgent, "Version", "1.12.0").unwrap();
    eventually("the older agent", || (daemon.get("/time/info").0 == 404).then_some(()));
    assert_eq!(
        refused(&daemon, "/time/options", Some(json!({"servers": ["pool.ntp.org"]}))),
        (404, NOT_FOUND.to_owned())
    );
    assert!(!features(&daemon).as_array().unwrap().contains(&json!("ntp")));
    assert!(!calls(&bus, Service::OsAgent).iter().any(|call| call.contains("NTPServer")));
    assert_eq!(restarts(&bus), 0);
}
