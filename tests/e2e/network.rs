//! The `/network` group against fixture services on a private bus.

use dbus_fixtures::{PrivateBus, Service};
use e2e::{eventually, Daemon};
use serde_json::{json, Value};

/// A daemon on a private bus with NetworkManager (the Debian host: `eth0` connected by DHCP,
/// `wlan0` idle with two networks in range). Bind as `let (_bus, daemon)`: the daemon goes first.
fn start() -> (PrivateBus, Daemon) {
    let bus = PrivateBus::start(&[Service::NetworkManager]).expect("private bus");
    let daemon = Daemon::start_with(&[bus.env()]);
    (bus, daemon)
}

fn interface(daemon: &Daemon, name: &str) -> Value {
    let (status, body) = daemon.get(&format!("/network/interface/{name}/info"));
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

/// The calls that changed something, leaving out the connectivity checks every change ends with.
fn changes(bus: &PrivateBus) -> Vec<String> {
    let calls = bus.calls(Service::NetworkManager).expect("calls");
    calls.into_iter().filter(|call| call != "CheckConnectivity()").collect()
}

#[test]
fn info_lists_the_managed_interfaces_and_the_container_network() {
    let (_bus, daemon) = start();
    let (status, body) = daemon.get("/network/info");
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    let names: Vec<&str> =
        data["interfaces"].as_array().unwrap().iter().map(|i| i["interface"].as_str().unwrap()).collect();
    assert_eq!(names, ["eth0", "wlan0"], "the loopback and the container veth are not managed");
    assert_eq!(
        data["interfaces"][0],
        json!({
            "interface": "eth0", "type": "ethernet", "enabled": true, "connected": true, "primary": true,
            "mac": "52:54:00:12:34:56",
            "ipv4": {"method": "auto", "address": ["192.168.1.10/24"], "nameservers": ["192.168.1.1"],
                     "gateway": "192.168.1.1", "route_metric": null, "ready": true},
            "ipv6": {"method": "auto", "addr_gen_mode": "eui64", "ip6_privacy": "default",
                     "address": ["2001:db8::10/64", "fe80::5054:ff:fe12:3456/64"], "nameservers": ["2001:db8::1"],
                     "gateway": "fe80::1", "route_metric": null, "ready": true},
            "wifi": null, "vlan": null, "mdns": "announce", "llmnr": "announce"
        })
    );
    let wlan0 = &data["interfaces"][1];
    assert_eq!(
        (wlan0["type"].as_str(), wlan0["enabled"].as_bool(), wlan0["connected"].as_bool()),
        (Some("wireless"), Some(false), Some(false))
    );
    assert_eq!(
        wlan0["ipv4"],
        json!({"method": "disabled", "address": [], "nameservers": [], "gateway": null, "route_metric": null, "ready": false})
    );
    assert_eq!(data["docker"]["interface"], format!("{}hassio", daemon.instance()));
    assert_eq!(data["host_internet"], true);
    assert!(data["supervisor_internet"].is_boolean());

    assert_eq!(interface(&daemon, "default")["interface"], "eth0", "the primary interface");
    assert_eq!(interface(&daemon, "52:54:00:12:34:56")["interface"], "eth0", "by MAC address");
    let (status, body) = daemon.get("/network/interface/eth9/info");
    assert_eq!((status.as_u16(), body["message"].as_str()), (404, Some("Interface eth9 does not exist")));
}

#[test]
fn a_static_address_is_written_to_the_profile_and_applied() {
    let (bus, daemon) = start();
    let (status, body) = daemon.post(
        "/network/interface/eth0/update",
        json!({"ipv4": {"method": "static", "address": ["192.168.1.50/24"], "gateway": "192.168.1.1",
                        "nameservers": ["1.1.1.1"], "route_metric": 50}}),
    );
    assert_eq!(status, 200, "{body}");
    let eth0 = interface(&daemon, "eth0");
    assert_eq!(
        eth0["ipv4"],
        json!({"method": "static", "address": ["192.168.1.50/24"], "nameservers": ["1.1.1.1"],
               "gateway": "192.168.1.1", "route_metric": 50, "ready": true})
    );
    assert_eq!(eth0["ipv6"]["method"], "auto", "IPv6 was not asked to change");
    let calls = changes(&bus);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].starts_with("Update(/org/freedesktop/NetworkManager/Settings/"), "{calls:?}");
    assert_eq!(calls[1], "Reapply(/org/freedesktop/NetworkManager/Devices/2, 0, 0)", "applied in place");

    // The same settings again: activated again, the way a user asks for a reconnect.
    let (status, body) = daemon.post(
        "/network/interface/default/update",
        json!({"ipv4": {"method": "static", "address": ["192.168.1.50/24"], "gateway": "192.168.1.1",
                        "nameservers": ["1.1.1.1"], "route_metric": 50}}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(changes(&bus)[3].starts_with("ActivateConnection("), "{:?}", changes(&bus));
    assert_eq!(interface(&daemon, "eth0")["ipv4"]["address"], json!(["192.168.1.50/24"]));
}

#[test]
fn a_wireless_network_is_joined_and_one_out_of_range_is_refused() {
    let (bus, daemon) = start();
    // As for the real Supervisor, an interface without a profile stays disabled unless enabled.
    let (status, body) = daemon.post("/network/interface/wlan0/update", json!({"wifi": {"ssid": "UPC4814466"}}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(changes(&bus), Vec::<String>::new());
    let (status, body) = daemon.post(
        "/network/interface/wlan0/update",
        json!({"wifi": {"ssid": "Elsewhere", "auth": "open"}, "ipv4": {"method": "auto"}, "enabled": true}),
    );
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Activating connection failed, check connection settings.");

    let (status, body) = daemon.post(
        "/network/interface/wlan0/update",
        json!({"wifi": {"mode": "infrastructure", "ssid": "UPC4814466", "auth": "wpa-psk", "psk": "secret123"},
               "ipv4": {"method": "auto"}, "ipv6": {"method": "disabled"}, "enabled": true}),
    );
    assert_eq!(status, 200, "{body}");
    let wlan0 = interface(&daemon, "wlan0");
    assert_eq!((wlan0["enabled"].as_bool(), wlan0["connected"].as_bool()), (Some(true), Some(true)));
    assert_eq!(wlan0["wifi"], json!({"mode": "infrastructure", "auth": "wpa-psk", "ssid": "UPC4814466", "signal": 47}));
    assert_eq!(wlan0["ipv4"]["address"], json!(["192.168.1.20/24"]));
    assert_eq!(wlan0["ipv6"]["method"], "disabled");
    let creations = changes(&bus).iter().filter(|call| call.starts_with("AddAndActivateConnection(")).count();
    assert_eq!(creations, 2, "wlan0 had no profile, so each attempt made one");

    let (status, body) = daemon.post("/network/interface/wlan0/update", json!({"enabled": false}));
    assert_eq!(status, 200, "{body}");
    assert!(changes(&bus).last().unwrap().starts_with("Delete("));
    assert_eq!(interface(&daemon, "wlan0")["enabled"], false);
}

#[test]
fn bad_payloads_are_refused_before_networkmanager_is_asked() {
    let (bus, daemon) = start();
    let cases = [
        (json!({"ipv4": {"method": "static", "address": ["192.168.1.300/24"]}}), "ipv4.address[0]"),
        (json!({"ipv4": {"method": "static", "address": ["192.168.1.5/33"]}}), "ipv4.address[0]"),
        (json!({"ipv4": {"method": "static", "address": ["192.168.1.5/24"], "gateway": "192.168.1"}}), "ipv4.gateway"),
        (json!({"ipv4": {"method": "static"}}), "ipv4.address"),
        (json!({"ipv4": {"method": "dhcp"}}), "ipv4.method"),
        (json!({"ipv6": {"nameservers": ["8.8.8.8"]}}), "ipv6.nameservers[0]"),
        (json!({"wifi": {"mode": "monitor"}}), "wifi.mode"),
        (json!({"wifi": {"auth": "web"}}), "wifi.auth"),
        (json!({"mdns": "loud"}), "mdns"),
        (json!({"enabled": "no"}), "enabled"),
        (json!({"hostname": "x"}), "hostname"),
    ];
    for (payload, field) in cases {
        let (status, body) = daemon.post("/network/interface/eth0/update", payload.clone());
        assert_eq!(status, 400, "{payload}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}:")), "{payload}: {message}");
    }
    let (status, body) = daemon.post("/network/interface/eth0/update", json!({}));
    assert_eq!(
        (status.as_u16(), body["message"].as_str()),
        (400, Some("You need to supply at least one option to update"))
    );
    let (status, _) = daemon.post("/network/interface/eth0/vlan/10", json!({"ipv4": {"address": ["10.0.0.1/99"]}}));
    assert_eq!(status, 400);
    assert_eq!(
        bus.calls(Service::NetworkManager).unwrap(),
        Vec::<String>::new(),
        "nothing was asked of NetworkManager"
    );
    assert_eq!(interface(&daemon, "eth0")["ipv4"]["method"], "auto");
}

#[test]
fn access_points_are_scanned_on_wireless_interfaces_only() {
    let (bus, daemon) = start();
    let (status, body) = daemon.get("/network/interface/wlan0/accesspoints");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["accesspoints"],
        json!([
            {"mode": "infrastructure", "ssid": "UPC4814466", "frequency": 2462, "signal": 47, "mac": "E4:57:40:A9:D7:DE"},
            {"mode": "infrastructure", "ssid": "VQ@35(55720", "frequency": 5660, "signal": 63, "mac": "18:4B:0D:23:A1:9C"}
        ])
    );
    assert_eq!(changes(&bus), ["RequestScan(/org/freedesktop/NetworkManager/Devices/3, 0 options)"]);

    let (status, body) = daemon.get("/network/interface/eth0/accesspoints");
    assert_eq!(
        (status.as_u16(), body["message"].as_str()),
        (400, Some("Interface eth0 is not a valid wireless card!"))
    );
}

#[test]
fn a_vlan_is_created_on_ethernet_and_removed_by_disabling_it() {
    let (bus, daemon) = start();
    let (status, _) = daemon.get("/network/interface/eth0.10/info");
    assert_eq!(status, 404);
    let (status, body) = daemon
        .post("/network/interface/eth0/vlan/10", json!({"ipv4": {"method": "static", "address": ["10.0.10.5/24"]}}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(changes(&bus), ["AddConnection(Supervisor eth0.10)"]);
    let vlan = eventually("eth0.10 to connect", || {
        let vlan = interface(&daemon, "eth0.10");
        (vlan["connected"] == true).then_some(vlan)
    });
    assert_eq!(vlan["type"], "vlan");
    assert_eq!(vlan["vlan"]["id"], 10);
    assert!(vlan["vlan"]["parent"].as_str().unwrap().starts_with("0d1e3c4b-"), "the parent's profile, by UUID: {vlan}");
    assert_eq!(vlan["ipv4"]["address"], json!(["10.0.10.5/24"]));
    assert_eq!(vlan["ipv6"]["method"], "auto", "DHCP unless told otherwise");

    let (status, body) = daemon.post("/network/interface/eth0/vlan/10", json!({}));
    assert_eq!((status.as_u16(), body["message"].as_str()), (400, Some("VLAN 10 already exists on interface eth0")));
    for (path, message) in [
        ("/network/interface/wlan0/vlan/10", "Interface wlan0 is not a valid ethernet card for vlan!"),
        ("/network/interface/eth0/vlan/4095", "Invalid vlan specified: 4095"),
        ("/network/interface/eth0/vlan/ten", "Invalid vlan specified: ten"),
    ] {
        let (status, body) = daemon.post(path, json!({}));
        assert_eq!((status.as_u16(), body["message"].as_str()), (400, Some(message)), "{path}");
    }

    let (status, body) = daemon.post("/network/interface/eth0.10/update", json!({"enabled": false}));
    assert_eq!(status, 200, "{body}");
    let (status, _) = daemon.get("/network/interface/eth0.10/info");
    assert_eq!(status, 404, "the VLAN's device went with its profile");
}

#[test]
fn changes_on_the_host_show_without_a_reload() {
    let (bus, daemon) = start();
    bus.set_property(Service::NetworkManager, "Connectivity", 2u32).expect("set connectivity");
    eventually("the captive portal to show", || {
        let (_, body) = daemon.get("/network/info");
        (body["data"]["host_internet"] == false).then_some(())
    });
    bus.set_property(Service::NetworkManager, "ConnectivityCheckEnabled", false).expect("switch the check off");
    eventually("connectivity to be unknown", || {
        let (_, body) = daemon.get("/network/info");
        body["data"]["host_internet"].is_null().then_some(())
    });

    // A USB network adapter plugged in gets an address by DHCP.
    bus.plug(Service::NetworkManager, "eth1").expect("plug eth1");
    let eth1 = eventually("eth1 with its address", || {
        let (status, body) = daemon.get("/network/interface/eth1/info");
        (status == 200 && body["data"]["ipv4"]["address"] == json!(["192.168.1.30/24"])).then(|| body["data"].clone())
    });
    assert_eq!((eth1["type"].as_str(), eth1["primary"].as_bool()), (Some("ethernet"), Some(false)));
    bus.unplug(Service::NetworkManager, "eth1").expect("unplug eth1");
    eventually("eth1 to go", || (daemon.get("/network/interface/eth1/info").0 == 404).then_some(()));

    let (status, body) = daemon.post("/network/reload", json!({}));
    assert_eq!(status, 200, "{body}");
    assert!(
        !bus.calls(Service::NetworkManager).unwrap().contains(&"CheckConnectivity()".to_owned()),
        "the check is off"
    );
}

#[test]
fn without_networkmanager_the_answers_are_clear_and_the_daemon_keeps_serving() {
    let (bus, daemon) = start();
    bus.stop_service(Service::NetworkManager).expect("stop NetworkManager");
    eventually("the interfaces to go", || {
        let (_, body) = daemon.get("/network/info");
        (body["data"]["interfaces"] == json!([])).then_some(())
    });
    let (_, body) = daemon.get("/network/info");
    assert!(body["data"]["host_internet"].is_null());
    for (method, path, body) in [
        ("GET", "/network/interface/eth0/info", None),
        ("POST", "/network/interface/eth0/update", Some(json!({"ipv4": {"method": "auto"}}))),
        ("GET", "/network/interface/wlan0/accesspoints", None),
        ("POST", "/network/interface/eth0/vlan/10", Some(json!({}))),
        ("POST", "/network/reload", Some(json!({}))),
    ] {
        let (status, answer) = daemon.call(method, path, body);
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["message"], "No network D-Bus connection available", "{path}");
    }
    let (status, _) = daemon.get("/supervisor/ping");
    assert_eq!(status, 200);

    bus.start_service(Service::NetworkManager).expect("start NetworkManager again");
    eventually("eth0 to come back", || (daemon.get("/network/interface/eth0/info").0 == 200).then_some(()));
}

#[test]
fn the_cli_shows_the_network() {
    let (_bus, daemon) = start();
    let output = daemon.ha(&["network", "info", "--raw-json"], &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let body: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(body["data"]["interfaces"][0]["interface"], "eth0");

    let output = daemon.ha(&["network", "info"], &[]);
    assert!(output.status.success());
    let yaml = String::from_utf8_lossy(&output.stdout);
    assert!(yaml.contains("interface: eth0") && yaml.contains("host_internet: true"), "{yaml}");

    let output =
        daemon.ha(&["network", "update", "eth0", "--ipv4-method", "static", "--ipv4-address", "192.168.1.60/24"], &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(interface(&daemon, "eth0")["ipv4"]["address"], json!(["192.168.1.60/24"]));
    let output = daemon.ha(&["network", "update", "eth0", "--ipv4-address", "192.168.1.60/40"], &[]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("ipv4.address[0]"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
