//! The NetworkManager client against the NetworkManager fixture: the watched object tree and the
//! methods that change the network.

mod common;

use common::{until, WAIT};
use dbus::network::{Settings, ACTIVATED, DEACTIVATED};
use dbus::zvariant::{OwnedValue, Str, Value};
use dbus::{NetworkManager, NetworkState, SystemBus};
use dbus_fixtures::{PrivateBus, Service as Fixture};
use std::collections::HashMap;
use std::net::Ipv4Addr;

async fn network(bus: &PrivateBus) -> NetworkManager {
    let system = SystemBus::connect_to(bus.address()).await.unwrap();
    NetworkManager::watch(Some(&system)).await
}

fn owned(value: impl Into<Value<'static>>) -> OwnedValue {
    OwnedValue::try_from(value.into()).unwrap()
}

fn text(text: &str) -> OwnedValue {
    OwnedValue::from(Str::from(text.to_owned()))
}

/// Settings from `(section, key, value)` triples.
fn settings(entries: Vec<(&str, &str, OwnedValue)>) -> Settings {
    let mut settings = Settings::new();
    for (section, key, value) in entries {
        settings.entry(section.to_owned()).or_default().insert(key.to_owned(), value);
    }
    settings
}

fn device_path(state: &NetworkState, interface: &str) -> String {
    state.device(interface).unwrap_or_else(|| panic!("{interface} exists")).path.clone()
}

#[tokio::test]
async fn the_tree_is_read_into_devices_connections_and_addresses() {
    let bus = PrivateBus::start(&[Fixture::NetworkManager]).unwrap();
    let nm = network(&bus).await;
    let state = nm.state().expect("NetworkManager is there");
    assert_eq!((state.version.as_str(), state.connectivity, state.connectivity_check_enabled), ("1.42.4", 4, true));
    let names: Vec<&str> = state.devices.iter().map(|device| device.interface.as_str()).collect();
    assert_eq!(names, ["lo", "eth0", "wlan0", "veth8d5a3b1"]);

    let eth0 = state.device("eth0").unwrap();
    assert_eq!(
        (eth0.device_type, eth0.managed, eth0.hw_address.as_str(), eth0.udev_path.as_str()),
        (1, true, "52:54:00:12:34:56", "pci-0000:00:1f.6")
    );
    let active = eth0.active.as_ref().expect("eth0 is connected");
    assert_eq!((active.state, active.state_flags & 0x18), (ACTIVATED, 0x18));
    assert_eq!(state.primary_connection.as_deref(), Some(active.path.as_str()));
    let ip4 = active.ip4.as_ref().unwrap();
    assert_eq!((ip4.addresses[0].address.as_str(), ip4.addresses[0].prefix), ("192.168.1.10", 24));
    assert_eq!(
        (ip4.gateway.as_deref(), ip4.nameservers.as_slice()),
        (Some("192.168.1.1"), ["192.168.1.1".to_owned()].as_slice())
    );
    let ip6 = active.ip6.as_ref().unwrap();
    assert_eq!(
        ip6.addresses.iter().map(|address| address.address.as_str()).collect::<Vec<_>>(),
        ["2001:db8::10", "fe80::5054:ff:fe12:3456"]
    );
    assert_eq!(ip6.nameservers, ["2001:db8::1"]);
    let profile = active.settings.as_ref().expect("the profile is read");
    assert_eq!(<&str>::try_from(&*profile["connection"]["id"]).unwrap(), "Wired connection 1");
    assert_eq!(<&str>::try_from(&*profile["ipv4"]["method"]).unwrap(), "auto");

    let wlan0 = state.device("wlan0").unwrap();
    assert!(wlan0.active.is_none());
    let wireless = wlan0.wireless.as_ref().expect("wlan0 is wireless");
    let seen: Vec<(String, u8)> =
        wireless.access_points.iter().map(|ap| (String::from_utf8(ap.ssid.clone()).unwrap(), ap.strength)).collect();
    assert_eq!(seen, [("UPC4814466".to_owned(), 47), ("VQ@35(55720".to_owned(), 63)]);
    assert!(!state.device("veth8d5a3b1").unwrap().managed);
    assert_eq!(state.dns.len(), 1);
    assert_eq!(
        (state.dns[0].interface.as_str(), state.dns[0].nameservers.as_slice()),
        ("eth0", ["192.168.1.1".to_owned()].as_slice())
    );
}

#[tokio::test]
async fn a_wireless_connection_is_added_and_activated() {
    let bus = PrivateBus::start(&[Fixture::NetworkManager]).unwrap();
    let nm = network(&bus).await;
    let wlan0 = device_path(&nm.state().unwrap(), "wlan0");

    let no_ssid =
        settings(vec![("connection", "type", text("802-11-wireless")), ("connection", "id", text("Supervisor wlan0"))]);
    let refused = nm.add_and_activate_connection(&no_ssid, &wlan0).await.unwrap_err();
    assert_eq!(refused.to_string(), "A 'wireless' setting with a valid SSID is required if no AP path was given.");

    let wifi = settings(vec![
        ("connection", "type", text("802-11-wireless")),
        ("connection", "id", text("Supervisor wlan0")),
        ("802-11-wireless", "ssid", owned(b"UPC4814466".to_vec())),
        ("802-11-wireless", "mode", text("infrastructure")),
        ("ipv4", "method", text("auto")),
    ]);
    let (profile, active) = nm.add_and_activate_connection(&wifi, &wlan0).await.unwrap();
    assert_eq!(nm.wait_for_activation(&active, WAIT).await.unwrap(), ACTIVATED);
    let state = until(&nm, "wlan0 connected", |state| {
        state
            .as_ref()
            .and_then(|state| state.device("wlan0")?.active.as_ref())
            .is_some_and(|active| active.state == ACTIVATED)
    })
    .await
    .unwrap();
    let wlan0_state = state.device("wlan0").unwrap();
    let active_state = wlan0_state.active.as_ref().unwrap();
    assert_eq!(active_state.settings_path.as_deref(), Some(profile.as_str()));
    assert_eq!(active_state.ip4.as_ref().unwrap().addresses[0].address, "192.168.1.20");
    let ap = wlan0_state.wireless.as_ref().unwrap().active_access_point.as_ref().expect("associated");
    assert_eq!((ap.ssid.as_slice(), ap.strength), (b"UPC4814466".as_slice(), 47));

    let far = settings(vec![
        ("connection", "type", text("802-11-wireless")),
        ("802-11-wireless", "ssid", owned(b"Elsewhere".to_vec())),
    ]);
    let (_, active) = nm.add_and_activate_connection(&far, &wlan0).await.unwrap();
    assert_eq!(nm.wait_for_activation(&active, WAIT).await.unwrap(), DEACTIVATED);
    until(&nm, "wlan0 disconnected", |state| {
        state.as_ref().and_then(|state| state.device("wlan0")).is_some_and(|device| device.active.is_none())
    })
    .await;
}

#[tokio::test]
async fn a_profile_is_updated_activated_and_reapplied() {
    let bus = PrivateBus::start(&[Fixture::NetworkManager]).unwrap();
    let nm = network(&bus).await;
    let state = nm.state().unwrap();
    let eth0 = device_path(&state, "eth0");
    let profile_path = state.device("eth0").unwrap().active.as_ref().unwrap().settings_path.clone().unwrap();

    let mut profile = nm.get_settings(&profile_path).await.unwrap();
    let address = HashMap::from([("address".to_owned(), text("192.168.1.50")), ("prefix".to_owned(), owned(24u32))]);
    let dns = u32::from_ne_bytes(Ipv4Addr::new(1, 1, 1, 1).octets());
    profile.insert(
        "ipv4".to_owned(),
        HashMap::from([
            ("method".to_owned(), text("manual")),
            ("address-data".to_owned(), owned(vec![address])),
            ("gateway".to_owned(), text("192.168.1.1")),
            ("dns".to_owned(), owned(vec![dns])),
        ]),
    );
    nm.update_connection(&profile_path, &profile).await.unwrap();
    until(&nm, "the profile to be read again", |state| {
        let method = state.as_ref().and_then(|state| {
            state.device("eth0")?.active.as_ref()?.settings.as_ref()?.get("ipv4")?.get("method").cloned()
        });
        method.is_some_and(|method| <&str>::try_from(&*method).ok() == Some("manual"))
    })
    .await;

    let active = nm.activate_connection(&profile_path, &eth0).await.unwrap();
    assert_eq!(nm.wait_for_activation(&active, WAIT).await.unwrap(), ACTIVATED);
    let state = until(&nm, "the static address", |state| {
        state
            .as_ref()
            .and_then(|state| state.device("eth0")?.active.as_ref()?.ip4.clone())
            .is_some_and(|ip4| ip4.addresses[0].address == "192.168.1.50")
    })
    .await
    .unwrap();
    assert_eq!(state.device("eth0").unwrap().active.as_ref().unwrap().ip4.as_ref().unwrap().nameservers, ["1.1.1.1"]);

    let disabled = settings(vec![("connection", "type", text("802-3-ethernet")), ("ipv4", "method", text("disabled"))]);
    nm.reapply(&eth0, &disabled).await.unwrap();
    until(&nm, "no IPv4", |state| {
        state
            .as_ref()
            .and_then(|state| state.device("eth0")?.active.as_ref().map(|active| active.ip4.is_none()))
            .unwrap_or(false)
    })
    .await;
    let wlan0 = device_path(&nm.state().unwrap(), "wlan0");
    let refused = nm.reapply(&wlan0, &disabled).await.unwrap_err();
    assert_eq!(refused.error_name(), Some("org.freedesktop.NetworkManager.Device.NotActive"));
}

#[tokio::test]
async fn a_vlan_profile_brings_its_device_and_takes_it_away() {
    let bus = PrivateBus::start(&[Fixture::NetworkManager]).unwrap();
    let nm = network(&bus).await;
    let parent_uuid = nm.state().unwrap().device("eth0").unwrap().active.as_ref().unwrap().uuid.clone();
    let vlan = settings(vec![
        ("connection", "type", text("vlan")),
        ("connection", "id", text("Supervisor eth0.10")),
        ("vlan", "id", owned(10u32)),
        ("vlan", "parent", text(&parent_uuid)),
        ("ipv4", "method", text("auto")),
    ]);
    let profile = nm.add_connection(&vlan).await.unwrap();
    let state = until(&nm, "eth0.10 connected", |state| {
        state
            .as_ref()
            .and_then(|state| state.device("eth0.10")?.active.as_ref())
            .is_some_and(|active| active.state == ACTIVATED)
    })
    .await
    .unwrap();
    let device = state.device("eth0.10").unwrap();
    assert_eq!(device.device_type, 11);
    assert_eq!(device.active.as_ref().unwrap().ip4.as_ref().unwrap().addresses[0].address, "10.0.10.10");

    nm.delete_connection(&profile).await.unwrap();
    until(&nm, "eth0.10 gone", |state| state.as_ref().is_some_and(|state| state.device("eth0.10").is_none())).await;
    assert!(nm.get_settings(&profile).await.is_err());
}

#[tokio::test]
async fn connectivity_scans_and_presence() {
    let bus = PrivateBus::start(&[Fixture::NetworkManager]).unwrap();
    let nm = network(&bus).await;
    assert_eq!(nm.check_connectivity().await.unwrap(), 4);
    bus.set_property(Fixture::NetworkManager, "Connectivity", 2u32).unwrap();
    until(&nm, "a portal", |state| state.as_ref().is_some_and(|state| state.connectivity == 2)).await;
    assert_eq!(nm.check_connectivity().await.unwrap(), 2);

    let wlan0 = device_path(&nm.state().unwrap(), "wlan0");
    let last_scan = |state: &Option<NetworkState>| {
        state.as_ref().and_then(|state| Some(state.device("wlan0")?.wireless.as_ref()?.last_scan)).unwrap_or_default()
    };
    let before = last_scan(&nm.state());
    nm.request_scan(&wlan0).await.unwrap();
    until(&nm, "the scan to finish", |state| last_scan(state) > before).await;
    assert!(nm.reload_connections().await.unwrap());
    let calls = bus.calls(Fixture::NetworkManager).unwrap();
    assert_eq!(
        calls,
        [
            "CheckConnectivity()",
            "CheckConnectivity()",
            &format!("RequestScan({wlan0}, 0 options)"),
            "ReloadConnections()"
        ]
    );

    bus.stop_service(Fixture::NetworkManager).unwrap();
    until(&nm, "NetworkManager to leave", Option::is_none).await;
    assert!(nm.check_connectivity().await.is_err());
    bus.start_service(Fixture::NetworkManager).unwrap();
    let state = until(&nm, "NetworkManager to return", Option::is_some).await.unwrap();
    assert_eq!(state.connectivity, 4, "read again from the new instance");
}

#[tokio::test]
async fn a_usb_adapter_plugged_in_connects_and_pulled_out_goes() {
    let bus = PrivateBus::start(&[Fixture::NetworkManager]).unwrap();
    let nm = network(&bus).await;
    bus.plug(Fixture::NetworkManager, "eth1").unwrap();
    let state = until(&nm, "eth1 connected", |state| {
        state
            .as_ref()
            .and_then(|state| state.device("eth1")?.active.as_ref())
            .is_some_and(|active| active.state == ACTIVATED)
    })
    .await
    .unwrap();
    let active = state.device("eth1").unwrap().active.as_ref().unwrap();
    assert_eq!(active.ip4.as_ref().unwrap().addresses[0].address, "192.168.1.30");
    assert_eq!(active.id, "Wired connection 2");
    assert!(bus.plug(Fixture::NetworkManager, "eth1").is_err(), "plugged in already");

    bus.unplug(Fixture::NetworkManager, "eth1").unwrap();
    until(&nm, "eth1 gone", |state| state.as_ref().is_some_and(|state| state.device("eth1").is_none())).await;
    assert!(bus.unplug(Fixture::NetworkManager, "eth9").is_err());
}
