//! `org.freedesktop.NetworkManager`: a host with a wired `eth0` (connected, DHCP), a `wlan0` that
//! sees two access points and is not connected, the loopback and a Docker `veth` (both
//! unmanaged), with an ObjectManager at `/org/freedesktop` as NetworkManager has.
//!
//! The state is one model (see `tree`): every change is announced as NetworkManager does, with
//! `InterfacesAdded`/`InterfacesRemoved` and `PropertiesChanged`.
//!
//! What the methods do:
//! - `ActivateConnection`, `AddAndActivateConnection`: a new active connection in state
//!   `activating`, which turns `activated` shortly after (`StateChanged`), with IP
//!   configurations from the settings (`auto`: the device's lease; `manual`: the given
//!   addresses; `disabled`: none). A wireless profile whose SSID no access point has fails
//!   instead (state `deactivated`). A wireless profile without SSID is refused.
//! - `Settings.AddConnection`: a new profile; a VLAN profile also creates its device
//!   (`<parent>.<id>`, the parent given by interface name or profile UUID) and activates it.
//! - `Settings.Connection.Update` replaces the profile (`Updated`); `Delete` removes it and
//!   deactivates it (a VLAN's device goes too).
//! - `Device.Reapply` applies new settings to the active connection at once.
//! - `Device.Wireless.RequestScan` finds the same access points again at once and moves
//!   `LastScan` on.
//! - `CheckConnectivity` answers the `Connectivity` property (4, full), which `SetProperty` of
//!   `io.supervisor.Fixture` can change, as `ConnectivityCheckEnabled` and `Version`.
//! - `Plug("eth1")` of `io.supervisor.Fixture` plugs in a USB ethernet adapter, which connects by
//!   DHCP with a new default profile (`192.168.1.30`); `Unplug("eth1")` pulls it out.
//!
//! Every state-changing call is recorded in `Calls`.

use crate::control::{Calls, Control, Plugger, SetFuture};
use crate::error::ServiceError;
use crate::tree::{text, value, Handle, Model, Shared, Snapshot, View};
use crate::Profile;
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use zbus::fdo::ObjectManager;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};
use zbus::{interface, Connection, ObjectServer};

pub const BUS_NAME: &str = "org.freedesktop.NetworkManager";
pub const PATH: &str = "/org/freedesktop/NetworkManager";
const ROOT: &str = "/org/freedesktop";
const SETTINGS_PATH: &str = "/org/freedesktop/NetworkManager/Settings";
const DNS_PATH: &str = "/org/freedesktop/NetworkManager/DnsManager";

const MANAGER: &str = "org.freedesktop.NetworkManager";
const DEVICE: &str = "org.freedesktop.NetworkManager.Device";
const WIRELESS: &str = "org.freedesktop.NetworkManager.Device.Wireless";
const ACCESS_POINT: &str = "org.freedesktop.NetworkManager.AccessPoint";
const ACTIVE: &str = "org.freedesktop.NetworkManager.Connection.Active";
const IP4: &str = "org.freedesktop.NetworkManager.IP4Config";
const IP6: &str = "org.freedesktop.NetworkManager.IP6Config";
const SETTINGS: &str = "org.freedesktop.NetworkManager.Settings";
const CONNECTION: &str = "org.freedesktop.NetworkManager.Settings.Connection";
const DNS: &str = "org.freedesktop.NetworkManager.DnsManager";

const TYPE_ETHERNET: u32 = 1;
const TYPE_WIFI: u32 = 2;
const TYPE_VLAN: u32 = 11;
const TYPE_VETH: u32 = 20;
const TYPE_LOOPBACK: u32 = 32;
const DEVICE_DISCONNECTED: u32 = 30;
const DEVICE_UNMANAGED: u32 = 10;
const DEVICE_PREPARE: u32 = 40;
const DEVICE_ACTIVATED: u32 = 100;
const ACTIVATING: u32 = 1;
const ACTIVATED: u32 = 2;
const DEACTIVATED: u32 = 4;
/// `NM_ACTIVATION_STATE_FLAG_LAYER2_READY`, `IP4_READY`, `IP6_READY`.
const LAYER2_READY: u32 = 0x4;
const IP4_READY: u32 = 0x8;
const IP6_READY: u32 = 0x10;
const CONNECTION_ERROR: &str = "org.freedesktop.NetworkManager.Settings.Connection";
/// The device `Plug` knows: a USB ethernet adapter.
const USB_ADAPTER: &str = "eth1";
/// How much later than the previous one a scan finishes, in milliseconds.
const SCAN_DURATION_MS: i64 = 3_000;
/// How long an activation takes: long enough that a client subscribes to `StateChanged` first.
const ACTIVATION_DELAY: Duration = Duration::from_millis(30);

/// Connection settings, `a{sa{sv}}`.
pub type Settings = HashMap<String, HashMap<String, OwnedValue>>;

struct DeviceModel {
    interface: String,
    device_type: u32,
    driver: &'static str,
    managed: bool,
    hw_address: String,
    udev_path: String,
    state: u32,
    active: Option<u32>,
    lease: Option<Lease>,
    access_points: Vec<u32>,
    /// When the last scan finished, in `CLOCK_BOOTTIME` milliseconds (wireless devices).
    last_scan: i64,
}

/// What DHCP and router advertisements give a device.
#[derive(Clone)]
struct Lease {
    ipv4: String,
    gateway: String,
    ipv6: String,
}

impl Lease {
    fn new(ipv4: &str, gateway: &str, ipv6: &str) -> Option<Lease> {
        Some(Lease { ipv4: ipv4.to_owned(), gateway: gateway.to_owned(), ipv6: ipv6.to_owned() })
    }
}

struct AccessPointModel {
    ssid: &'static str,
    frequency: u32,
    hw_address: &'static str,
    strength: u8,
}

struct ActiveModel {
    connection: u32,
    device: u32,
    state: u32,
    state_flags: u32,
    ip4: Option<u32>,
    ip6: Option<u32>,
    access_point: Option<u32>,
    /// What was applied: the profile's settings, or what `Reapply` gave.
    applied: Settings,
}

struct IpModel {
    /// `(address, prefix)`.
    addresses: Vec<(String, u32)>,
    gateway: String,
    nameservers: Vec<String>,
}

struct Network {
    version: String,
    connectivity: u32,
    check_enabled: bool,
    devices: BTreeMap<u32, DeviceModel>,
    access_points: BTreeMap<u32, AccessPointModel>,
    connections: BTreeMap<u32, Settings>,
    actives: BTreeMap<u32, ActiveModel>,
    ip4: BTreeMap<u32, IpModel>,
    ip6: BTreeMap<u32, IpModel>,
    primary: Option<u32>,
    /// The number of the next object of any kind.
    next: u32,
}

fn path(kind: &str, id: u32) -> String {
    format!("{PATH}/{kind}/{id}")
}

fn object(kind: &str, id: Option<u32>) -> OwnedObjectPath {
    let path = id.map_or_else(|| "/".to_owned(), |id| self::path(kind, id));
    OwnedObjectPath::try_from(path).expect("fixture paths are valid")
}

/// The number of a `PATH/<kind>/<n>` path.
fn id_of(path: &ObjectPath<'_>, kind: &str) -> Option<u32> {
    path.as_str().strip_prefix(PATH)?.strip_prefix('/')?.strip_prefix(kind)?.strip_prefix('/')?.parse().ok()
}

fn paths(kind: &str, ids: impl IntoIterator<Item = u32>) -> OwnedValue {
    value(ids.into_iter().map(|id| object(kind, Some(id))).collect::<Vec<_>>())
}

fn address_data(addresses: &[(String, u32)]) -> OwnedValue {
    let entries: Vec<HashMap<String, OwnedValue>> = addresses
        .iter()
        .map(|(address, prefix)| {
            HashMap::from([("address".to_owned(), text(address)), ("prefix".to_owned(), value(*prefix))])
        })
        .collect();
    value(entries)
}

fn setting<'s>(settings: &'s Settings, section: &str, key: &str) -> Option<&'s OwnedValue> {
    settings.get(section)?.get(key)
}

fn setting_text(settings: &Settings, section: &str, key: &str) -> Option<String> {
    setting(settings, section, key).and_then(|value| <&str>::try_from(&**value).ok()).map(str::to_owned)
}

fn setting_bytes(settings: &Settings, section: &str, key: &str) -> Option<Vec<u8>> {
    setting(settings, section, key).and_then(|value| Vec::<u8>::try_from(value.clone()).ok())
}

fn profile_settings(id: &str, uuid: &str, kind: &str, interface: &str) -> Settings {
    let section =
        |entries: Vec<(&str, OwnedValue)>| entries.into_iter().map(|(key, value)| (key.to_owned(), value)).collect();
    HashMap::from([
        (
            "connection".to_owned(),
            section(vec![
                ("id", text(id)),
                ("uuid", text(uuid)),
                ("type", text(kind)),
                ("interface-name", text(interface)),
                ("autoconnect", value(true)),
                ("llmnr", value(2i32)),
                ("mdns", value(2i32)),
            ]),
        ),
        ("ipv4".to_owned(), section(vec![("method", text("auto"))])),
        (
            "ipv6".to_owned(),
            section(vec![("method", text("auto")), ("addr-gen-mode", value(0i32)), ("ip6-privacy", value(-1i32))]),
        ),
        (kind.to_owned(), section(vec![("assigned-mac-address", text("preserve"))])),
    ])
}

fn uuid(id: u32) -> String {
    format!("0d1e3c4b-5a69-4788-9a0b-{id:012x}")
}

impl Network {
    fn new(profile: Profile) -> Network {
        let device =
            |interface: &str, device_type, driver, managed, hw_address: &str, udev_path: &str, lease| DeviceModel {
                interface: interface.to_owned(),
                device_type,
                driver,
                managed,
                hw_address: hw_address.to_owned(),
                udev_path: udev_path.to_owned(),
                state: if managed { DEVICE_DISCONNECTED } else { DEVICE_UNMANAGED },
                active: None,
                lease,
                access_points: Vec::new(),
                last_scan: 1_234_567,
            };
        let mut network = Network {
            version: "1.42.4".to_owned(),
            connectivity: 4,
            check_enabled: true,
            devices: BTreeMap::from([
                (1, device("lo", TYPE_LOOPBACK, "unknown", false, "00:00:00:00:00:00", "", None)),
                (
                    2,
                    device(
                        "eth0",
                        TYPE_ETHERNET,
                        "e1000e",
                        true,
                        "52:54:00:12:34:56",
                        "pci-0000:00:1f.6",
                        Lease::new("192.168.1.10", "192.168.1.1", "2001:db8::10"),
                    ),
                ),
                (
                    3,
                    device(
                        "wlan0",
                        TYPE_WIFI,
                        "iwlwifi",
                        true,
                        "00:11:22:33:44:55",
                        "pci-0000:03:00.0",
                        Lease::new("192.168.1.20", "192.168.1.1", "2001:db8::20"),
                    ),
                ),
                (4, device("veth8d5a3b1", TYPE_VETH, "veth", false, "7a:2c:91:0e:5f:11", "", None)),
            ]),
            access_points: BTreeMap::from([
                (
                    5,
                    AccessPointModel {
                        ssid: "UPC4814466",
                        frequency: 2462,
                        hw_address: "E4:57:40:A9:D7:DE",
                        strength: 47,
                    },
                ),
                (
                    6,
                    AccessPointModel {
                        ssid: "VQ@35(55720",
                        frequency: 5660,
                        hw_address: "18:4B:0D:23:A1:9C",
                        strength: 63,
                    },
                ),
            ]),
            connections: BTreeMap::new(),
            actives: BTreeMap::new(),
            ip4: BTreeMap::new(),
            ip6: BTreeMap::new(),
            primary: None,
            next: 7,
        };
        network.devices.get_mut(&3).expect("wlan0").access_points = vec![5, 6];
        let name = if profile.is_haos() { "Supervisor eth0" } else { "Wired connection 1" };
        let connection = network.add_connection(profile_settings(name, "", "802-3-ethernet", "eth0"));
        let active = network.begin_activation(connection, 2);
        network.finish_activation(active);
        network
    }

    fn next_id(&mut self) -> u32 {
        self.next += 1;
        self.next - 1
    }

    /// Stores a profile, completing its UUID and id as NetworkManager does.
    fn add_connection(&mut self, mut settings: Settings) -> u32 {
        let id = self.next_id();
        let section = settings.entry("connection".to_owned()).or_default();
        if section.get("uuid").and_then(|uuid| <&str>::try_from(&**uuid).ok()).is_none_or(str::is_empty) {
            section.insert("uuid".to_owned(), text(uuid(id)));
        }
        if !section.contains_key("id") {
            let kind =
                section.get("type").and_then(|kind| <&str>::try_from(&**kind).ok()).unwrap_or("connection").to_owned();
            section.insert("id".to_owned(), text(format!("{kind} {id}")));
        }
        self.connections.insert(id, settings);
        id
    }

    fn connection_by_uuid(&self, uuid: &str) -> Option<u32> {
        self.connections
            .iter()
            .find(|(_, settings)| setting_text(settings, "connection", "uuid").as_deref() == Some(uuid))
            .map(|(&id, _)| id)
    }

    /// Plugs in the USB ethernet adapter of the catalog: its device appears and, as
    /// NetworkManager does with a new wired device no profile is for, gets a default profile
    /// (`Wired connection <n>`) and connects by DHCP. Returns the activation to finish.
    fn plug(&mut self, name: &str) -> Result<u32, ServiceError> {
        if name != USB_ADAPTER {
            return Err(ServiceError::invalid_args(format!(
                "No network adapter '{name}' to plug (known: {USB_ADAPTER})"
            )));
        }
        if self.device_by_interface(name).is_some() {
            return Err(ServiceError::invalid_args(format!("{name} is already plugged in")));
        }
        let device = self.next_id();
        self.devices.insert(
            device,
            DeviceModel {
                interface: name.to_owned(),
                device_type: TYPE_ETHERNET,
                driver: "r8152",
                managed: true,
                hw_address: "00:E0:4C:68:01:7A".to_owned(),
                udev_path: "pci-0000:00:14.0-usb-0:2:1.0".to_owned(),
                state: DEVICE_DISCONNECTED,
                active: None,
                lease: Lease::new("192.168.1.30", "192.168.1.1", "2001:db8::30"),
                access_points: Vec::new(),
                last_scan: 1_234_567,
            },
        );
        let wired = self
            .connections
            .values()
            .filter(|settings| {
                setting_text(settings, "connection", "id").is_some_and(|id| id.starts_with("Wired connection"))
            })
            .count();
        let id = format!("Wired connection {}", wired + 1);
        let profile = self.add_connection(profile_settings(&id, "", "802-3-ethernet", name));
        Ok(self.begin_activation(profile, device))
    }

    /// Pulls the USB ethernet adapter out: its connection goes down and its device goes away;
    /// its profile stays for the next time.
    fn unplug(&mut self, name: &str) -> Result<(), ServiceError> {
        let device = self
            .device_by_interface(name)
            .filter(|_| name == USB_ADAPTER)
            .ok_or_else(|| ServiceError::invalid_args(format!("{name} is not plugged in (known: {USB_ADAPTER})")))?;
        self.deactivate_device(device);
        self.devices.remove(&device);
        Ok(())
    }

    fn device_by_interface(&self, interface: &str) -> Option<u32> {
        self.devices.iter().find(|(_, device)| device.interface == interface).map(|(&id, _)| id)
    }

    /// The device a profile applies to: by `match.path`, else by `connection.interface-name`.
    fn device_for(&self, settings: &Settings) -> Option<u32> {
        if let Some(paths) =
            setting(settings, "match", "path").and_then(|paths| Vec::<String>::try_from(paths.clone()).ok())
        {
            return self.devices.iter().find(|(_, device)| paths.contains(&device.udev_path)).map(|(&id, _)| id);
        }
        self.device_by_interface(&setting_text(settings, "connection", "interface-name")?)
    }

    /// Takes the device's current activation down, with its IP configurations.
    fn deactivate_device(&mut self, device: u32) {
        let Some(active) = self.devices.get_mut(&device).and_then(|device| device.active.take()) else { return };
        if let Some(model) = self.actives.remove(&active) {
            self.drop_ip_configs(model.ip4, model.ip6);
        }
        if let Some(device) = self.devices.get_mut(&device) {
            device.state = DEVICE_DISCONNECTED;
        }
        if self.primary == Some(active) {
            self.primary = self.actives.iter().find(|(_, active)| active.state == ACTIVATED).map(|(&id, _)| id);
        }
    }

    /// The first half of an activation: an active connection in state `activating`.
    fn begin_activation(&mut self, connection: u32, device: u32) -> u32 {
        self.deactivate_device(device);
        let id = self.next_id();
        let applied = self.connections.get(&connection).cloned().unwrap_or_default();
        self.actives.insert(
            id,
            ActiveModel {
                connection,
                device,
                state: ACTIVATING,
                state_flags: 0,
                ip4: None,
                ip6: None,
                access_point: None,
                applied,
            },
        );
        if let Some(model) = self.devices.get_mut(&device) {
            model.active = Some(id);
            model.state = DEVICE_PREPARE;
        }
        id
    }

    /// The second half: the IP configurations and state `activated`, or `deactivated` when a
    /// wireless profile's network is not in range. Returns the new state.
    fn finish_activation(&mut self, active: u32) -> u32 {
        let Some(model) = self.actives.get(&active) else { return DEACTIVATED };
        let device = model.device;
        if let Some(ssid) = setting_bytes(&model.applied, "802-11-wireless", "ssid") {
            let in_range = self.devices.get(&device).map(|device| device.access_points.clone()).unwrap_or_default();
            match in_range
                .into_iter()
                .find(|ap| self.access_points.get(ap).is_some_and(|ap| ap.ssid.as_bytes() == ssid))
            {
                Some(ap) => self.actives.get_mut(&active).expect("checked above").access_point = Some(ap),
                None => {
                    self.deactivate_device(device);
                    return DEACTIVATED;
                }
            }
        }
        self.configure(active);
        let model = self.actives.get_mut(&active).expect("checked above");
        model.state = ACTIVATED;
        if let Some(device) = self.devices.get_mut(&device) {
            device.state = DEVICE_ACTIVATED;
        }
        if self.primary.is_none() {
            self.primary = Some(active);
        }
        ACTIVATED
    }

    /// (Re)builds the IP configurations of an active connection from its applied settings.
    fn configure(&mut self, active: u32) {
        let Some(model) = self.actives.get(&active) else { return };
        let (old4, old6) = (model.ip4, model.ip6);
        let lease = self.devices.get(&model.device).and_then(|device| device.lease.clone());
        let settings = model.applied.clone();
        self.drop_ip_configs(old4, old6);
        let ip4 = lease.as_ref().and_then(|lease| ipv4_config(&settings, lease)).map(|config| {
            let id = self.next_id();
            self.ip4.insert(id, config);
            id
        });
        let ip6 = lease.as_ref().and_then(|lease| ipv6_config(&settings, lease)).map(|config| {
            let id = self.next_id();
            self.ip6.insert(id, config);
            id
        });
        let model = self.actives.get_mut(&active).expect("checked above");
        model.ip4 = ip4;
        model.ip6 = ip6;
        model.state_flags =
            LAYER2_READY | if ip4.is_some() { IP4_READY } else { 0 } | if ip6.is_some() { IP6_READY } else { 0 };
    }

    fn drop_ip_configs(&mut self, ip4: Option<u32>, ip6: Option<u32>) {
        if let Some(ip4) = ip4 {
            self.ip4.remove(&ip4);
        }
        if let Some(ip6) = ip6 {
            self.ip6.remove(&ip6);
        }
    }

    /// A VLAN profile's device, created for it as NetworkManager does.
    fn vlan_device(&mut self, settings: &Settings) -> Result<u32, ServiceError> {
        let missing = |key: &str| ServiceError::new(missing_property(), format!("vlan.{key}: property is missing"));
        let vlan =
            setting(settings, "vlan", "id").and_then(|id| u32::try_from(&**id).ok()).ok_or_else(|| missing("id"))?;
        let parent = setting_text(settings, "vlan", "parent").ok_or_else(|| missing("parent"))?;
        // The parent is an interface name, or the UUID of the parent's profile.
        let parent_interface = match self.connection_by_uuid(&parent) {
            Some(connection) => {
                let profile = self.connections.get(&connection).expect("found above");
                self.device_for(profile)
                    .and_then(|device| self.devices.get(&device))
                    .map(|device| device.interface.clone())
            }
            None => self.device_by_interface(&parent).map(|_| parent.clone()),
        }
        .ok_or_else(|| ServiceError::new(invalid_property(), format!("vlan.parent: unknown parent '{parent}'")))?;
        let interface = format!("{parent_interface}.{vlan}");
        if let Some(existing) = self.device_by_interface(&interface) {
            return Ok(existing);
        }
        let id = self.next_id();
        let hw_address = self
            .devices
            .values()
            .find(|device| device.interface == parent_interface)
            .map(|device| device.hw_address.clone())
            .unwrap_or_default();
        let lease =
            Lease::new(&format!("10.0.{vlan}.10"), &format!("10.0.{vlan}.1"), &format!("2001:db8:{vlan:x}::10"));
        self.devices.insert(
            id,
            DeviceModel {
                interface,
                device_type: TYPE_VLAN,
                driver: "8021q",
                managed: true,
                hw_address,
                udev_path: String::new(),
                state: DEVICE_DISCONNECTED,
                active: None,
                lease,
                access_points: Vec::new(),
                last_scan: 1_234_567,
            },
        );
        Ok(id)
    }

    /// Every exported object and interface, with its properties.
    fn snapshot(&self) -> Snapshot {
        let mut all = Snapshot::new();
        all.insert((PATH.to_owned(), MANAGER), self.manager_properties());
        all.insert((SETTINGS_PATH.to_owned(), SETTINGS), self.settings_properties());
        all.insert((DNS_PATH.to_owned(), DNS), self.dns_properties());
        for &id in self.devices.keys() {
            all.insert((path("Devices", id), DEVICE), self.device_properties(id));
            if self.devices[&id].device_type == TYPE_WIFI {
                all.insert((path("Devices", id), WIRELESS), self.wireless_properties(id));
            }
        }
        for &id in self.access_points.keys() {
            all.insert((path("AccessPoint", id), ACCESS_POINT), self.access_point_properties(id));
        }
        for &id in self.actives.keys() {
            all.insert((path("ActiveConnection", id), ACTIVE), self.active_properties(id));
        }
        for &id in self.ip4.keys() {
            all.insert((path("IP4Config", id), IP4), self.ip4_properties(id));
        }
        for &id in self.ip6.keys() {
            all.insert((path("IP6Config", id), IP6), self.ip6_properties(id));
        }
        for &id in self.connections.keys() {
            all.insert((path("Settings", id), CONNECTION), self.connection_properties(id));
        }
        all
    }

    fn manager_properties(&self) -> BTreeMap<&'static str, OwnedValue> {
        let devices = paths("Devices", self.devices.keys().copied());
        let primary_type = self
            .primary
            .and_then(|active| self.actives.get(&active))
            .and_then(|active| self.connections.get(&active.connection))
            .and_then(|settings| setting_text(settings, "connection", "type"))
            .unwrap_or_default();
        // NM_STATE_CONNECTED_GLOBAL, or NM_STATE_DISCONNECTED.
        let state: u32 = if self.primary.is_some() { 70 } else { 20 };
        BTreeMap::from([
            ("Devices", devices.clone()),
            ("AllDevices", devices),
            ("ActiveConnections", paths("ActiveConnection", self.actives.keys().copied())),
            ("PrimaryConnection", value(object("ActiveConnection", self.primary))),
            ("PrimaryConnectionType", text(primary_type)),
            ("Version", text(&self.version)),
            ("State", value(state)),
            ("Connectivity", value(self.connectivity)),
            ("ConnectivityCheckAvailable", value(true)),
            ("ConnectivityCheckEnabled", value(self.check_enabled)),
            ("NetworkingEnabled", value(true)),
            ("WirelessEnabled", value(true)),
        ])
    }

    fn settings_properties(&self) -> BTreeMap<&'static str, OwnedValue> {
        BTreeMap::from([
            ("Connections", paths("Settings", self.connections.keys().copied())),
            ("Hostname", text("debian")),
            ("CanModify", value(true)),
        ])
    }

    fn dns_properties(&self) -> BTreeMap<&'static str, OwnedValue> {
        let configuration: Vec<HashMap<String, OwnedValue>> = self
            .actives
            .values()
            .filter_map(|active| {
                let nameservers = self.ip4.get(&active.ip4?)?.nameservers.clone();
                let interface = self.devices.get(&active.device)?.interface.clone();
                Some(HashMap::from([
                    ("nameservers".to_owned(), value(nameservers)),
                    ("interface".to_owned(), text(interface)),
                    ("priority".to_owned(), value(100i32)),
                    ("vpn".to_owned(), value(false)),
                ]))
            })
            .collect();
        BTreeMap::from([
            ("Mode", text("default")),
            ("RcManager", text("file")),
            ("Configuration", value(configuration)),
        ])
    }

    fn device_properties(&self, id: u32) -> BTreeMap<&'static str, OwnedValue> {
        let device = &self.devices[&id];
        let active = device.active.and_then(|active| self.actives.get(&active));
        let available = self
            .connections
            .iter()
            .filter(|(_, settings)| self.device_for(settings) == Some(id))
            .map(|(&connection, _)| connection);
        BTreeMap::from([
            ("Interface", text(&device.interface)),
            ("IpInterface", text(if active.is_some() { device.interface.as_str() } else { "" })),
            ("Udi", text(format!("/sys/devices/virtual/net/{}", device.interface))),
            ("Driver", text(device.driver)),
            ("DeviceType", value(device.device_type)),
            ("Managed", value(device.managed)),
            ("HwAddress", text(&device.hw_address)),
            ("Path", text(&device.udev_path)),
            ("State", value(device.state)),
            ("ActiveConnection", value(object("ActiveConnection", device.active))),
            ("Ip4Config", value(object("IP4Config", active.and_then(|active| active.ip4)))),
            ("Ip6Config", value(object("IP6Config", active.and_then(|active| active.ip6)))),
            ("Autoconnect", value(true)),
            ("AvailableConnections", paths("Settings", available)),
        ])
    }

    fn wireless_properties(&self, id: u32) -> BTreeMap<&'static str, OwnedValue> {
        let device = &self.devices[&id];
        let active_ap =
            device.active.and_then(|active| self.actives.get(&active)).and_then(|active| active.access_point);
        BTreeMap::from([
            ("HwAddress", text(&device.hw_address)),
            ("Mode", value(2u32)),
            ("Bitrate", value(if active_ap.is_some() { 866_700u32 } else { 0 })),
            ("AccessPoints", paths("AccessPoint", device.access_points.iter().copied())),
            ("ActiveAccessPoint", value(object("AccessPoint", active_ap))),
            ("LastScan", value(device.last_scan)),
        ])
    }

    fn access_point_properties(&self, id: u32) -> BTreeMap<&'static str, OwnedValue> {
        let ap = &self.access_points[&id];
        BTreeMap::from([
            ("Ssid", value(ap.ssid.as_bytes().to_vec())),
            ("Frequency", value(ap.frequency)),
            ("HwAddress", text(ap.hw_address)),
            ("Mode", value(2u32)),
            ("Strength", value(ap.strength)),
            ("MaxBitrate", value(270_000u32)),
            ("Flags", value(1u32)),
            ("WpaFlags", value(0u32)),
            ("RsnFlags", value(392u32)),
            ("LastSeen", value(1_234_000i32)),
        ])
    }

    fn active_properties(&self, id: u32) -> BTreeMap<&'static str, OwnedValue> {
        let active = &self.actives[&id];
        let settings = self.connections.get(&active.connection).unwrap_or(&active.applied);
        let field = |key: &str| setting_text(settings, "connection", key).unwrap_or_default();
        BTreeMap::from([
            ("Id", text(field("id"))),
            ("Uuid", text(field("uuid"))),
            ("Type", text(field("type"))),
            ("State", value(active.state)),
            ("StateFlags", value(active.state_flags)),
            ("Default", value(self.primary == Some(id))),
            ("Default6", value(self.primary == Some(id))),
            ("Ip4Config", value(object("IP4Config", active.ip4))),
            ("Ip6Config", value(object("IP6Config", active.ip6))),
            ("Connection", value(object("Settings", Some(active.connection)))),
            ("SpecificObject", value(object("AccessPoint", active.access_point))),
            ("Devices", paths("Devices", [active.device])),
            ("Vpn", value(false)),
            ("Master", value(object("Devices", None))),
        ])
    }

    fn ip4_properties(&self, id: u32) -> BTreeMap<&'static str, OwnedValue> {
        let config = &self.ip4[&id];
        let nameservers: Vec<HashMap<String, OwnedValue>> =
            config.nameservers.iter().map(|address| HashMap::from([("address".to_owned(), text(address))])).collect();
        BTreeMap::from([
            ("AddressData", address_data(&config.addresses)),
            ("Gateway", text(&config.gateway)),
            ("NameserverData", value(nameservers)),
            ("Domains", value(Vec::<String>::new())),
        ])
    }

    fn ip6_properties(&self, id: u32) -> BTreeMap<&'static str, OwnedValue> {
        let config = &self.ip6[&id];
        let nameservers: Vec<Vec<u8>> = config
            .nameservers
            .iter()
            .filter_map(|address| address.parse::<Ipv6Addr>().ok())
            .map(|address| address.octets().to_vec())
            .collect();
        BTreeMap::from([
            ("AddressData", address_data(&config.addresses)),
            ("Gateway", text(&config.gateway)),
            ("Nameservers", value(nameservers)),
            ("Domains", value(Vec::<String>::new())),
        ])
    }

    fn connection_properties(&self, id: u32) -> BTreeMap<&'static str, OwnedValue> {
        let name = setting_text(&self.connections[&id], "connection", "id").unwrap_or_default();
        BTreeMap::from([
            ("Unsaved", value(false)),
            ("Flags", value(0u32)),
            ("Filename", text(format!("/etc/NetworkManager/system-connections/{name}.nmconnection"))),
        ])
    }
}

fn missing_property() -> &'static str {
    "org.freedesktop.NetworkManager.Settings.Connection.MissingProperty"
}

fn invalid_property() -> &'static str {
    "org.freedesktop.NetworkManager.Settings.Connection.InvalidProperty"
}

/// The `address-data` of a settings section as `(address, prefix)`.
fn settings_addresses(settings: &Settings, section: &str) -> Vec<(String, u32)> {
    let Some(entries) = setting(settings, section, "address-data")
        .and_then(|data| Vec::<HashMap<String, OwnedValue>>::try_from(data.clone()).ok())
    else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let address = <&str>::try_from(&**entry.get("address")?).ok()?.to_owned();
            let prefix = u32::try_from(&**entry.get("prefix")?).ok()?;
            Some((address, prefix))
        })
        .collect()
}

/// An IPv4 configuration for settings: the lease for `auto`, the settings for `manual`.
fn ipv4_config(settings: &Settings, lease: &Lease) -> Option<IpModel> {
    let method = setting_text(settings, "ipv4", "method").unwrap_or_else(|| "auto".to_owned());
    // `dns` is `au`, each address in network byte order.
    let configured_dns: Vec<String> = setting(settings, "ipv4", "dns")
        .and_then(|dns| Vec::<u32>::try_from(dns.clone()).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|address| Ipv4Addr::from(address.to_ne_bytes()).to_string())
        .collect();
    let nameservers =
        |fallback: &str| if configured_dns.is_empty() { vec![fallback.to_owned()] } else { configured_dns.clone() };
    match method.as_str() {
        "auto" => Some(IpModel {
            addresses: vec![(lease.ipv4.clone(), 24)],
            gateway: lease.gateway.clone(),
            nameservers: nameservers(&lease.gateway),
        }),
        "manual" => {
            let gateway = setting_text(settings, "ipv4", "gateway").unwrap_or_default();
            Some(IpModel {
                addresses: settings_addresses(settings, "ipv4"),
                nameservers: nameservers(&gateway),
                gateway,
            })
        }
        _ => None,
    }
}

/// An IPv6 configuration for settings: link-local always (unless disabled), plus the lease for
/// `auto` or the settings for `manual`.
fn ipv6_config(settings: &Settings, lease: &Lease) -> Option<IpModel> {
    let method = setting_text(settings, "ipv6", "method").unwrap_or_else(|| "auto".to_owned());
    if method == "disabled" || method == "ignore" {
        return None;
    }
    let mut config = IpModel {
        addresses: vec![("fe80::5054:ff:fe12:3456".to_owned(), 64)],
        gateway: String::new(),
        nameservers: Vec::new(),
    };
    match method.as_str() {
        "auto" => {
            config.addresses.insert(0, (lease.ipv6.clone(), 64));
            config.gateway = "fe80::1".to_owned();
            config.nameservers = vec!["2001:db8::1".to_owned()];
        }
        "manual" => {
            config.addresses.splice(0..0, settings_addresses(settings, "ipv6"));
            config.gateway = setting_text(settings, "ipv6", "gateway").unwrap_or_default();
        }
        _ => {}
    }
    if let Some(dns) = setting(settings, "ipv6", "dns").and_then(|dns| Vec::<Vec<u8>>::try_from(dns.clone()).ok()) {
        let configured: Vec<String> = dns
            .into_iter()
            .filter_map(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .map(|octets| Ipv6Addr::from(octets).to_string())
            .collect();
        if !configured.is_empty() {
            config.nameservers = configured;
        }
    }
    Some(config)
}

impl Model for Network {
    fn snapshot(&self) -> Snapshot {
        Network::snapshot(self)
    }

    async fn export(server: &ObjectServer, model: &Handle<Self>, path: &str, interface: &str) -> zbus::Result<bool> {
        let view = View::new(model, path);
        match interface {
            DEVICE => server.at(path, Device(view)).await,
            WIRELESS => server.at(path, Wireless(view)).await,
            ACCESS_POINT => server.at(path, AccessPoint(view)).await,
            ACTIVE => server.at(path, Active(view)).await,
            IP4 => server.at(path, Ip4Config(view)).await,
            IP6 => server.at(path, Ip6Config(view)).await,
            CONNECTION => server.at(path, SettingsConnection(view)).await,
            MANAGER => server.at(path, Manager(view)).await,
            SETTINGS => server.at(path, SettingsManager(view)).await,
            DNS => server.at(path, DnsManager(view)).await,
            other => unreachable!("the model has no {other}"),
        }
    }
}

/// Exports the service's objects on a connection that has not taken the bus name yet.
pub async fn serve(connection: &Connection, profile: Profile) -> zbus::Result<()> {
    let calls = Calls::default();
    let model = Shared::new(Network::new(profile), calls.clone());
    connection.object_server().at(ROOT, ObjectManager).await?;
    model.export_all(connection).await?;
    let setter_model = model.clone();
    let setter = Box::new(move |connection: Connection, name: String, new: Value<'static>| -> SetFuture {
        let model = setter_model.clone();
        Box::pin(async move { set_manager_property(&model, &connection, &name, new).await })
    });
    let plug_model = model.clone();
    let hotplug: Plugger = Box::new(move |connection: Connection, device: String, plugged: bool| -> SetFuture {
        let model = plug_model.clone();
        Box::pin(async move { hotplug(model, connection, &device, plugged).await })
    });
    connection.object_server().at(PATH, Control::with_setter(calls, setter).with_plugger(hotplug)).await?;
    Ok(())
}

/// `Plug` and `Unplug` of the USB ethernet adapter; a plugged adapter connects a little later,
/// as any activation.
async fn hotplug(
    model: Handle<Network>,
    connection: Connection,
    device: &str,
    plugged: bool,
) -> Result<(), ServiceError> {
    if plugged {
        let active = model.change(&connection, |network| network.plug(device)).await??;
        activate_later(model, connection, active);
    } else {
        model.change(&connection, |network| network.unplug(device)).await??;
    }
    Ok(())
}

/// `SetProperty` for the Manager's `Connectivity`, `ConnectivityCheckEnabled` and `Version`.
async fn set_manager_property(
    model: &Handle<Network>,
    connection: &Connection,
    name: &str,
    new: Value<'static>,
) -> Result<(), ServiceError> {
    let wrong = || ServiceError::invalid_args(format!("Property '{name}' cannot be set to {new:?}"));
    match name {
        "Connectivity" => {
            let connectivity = u32::try_from(&new).map_err(|_| wrong())?;
            model.change(connection, |network| network.connectivity = connectivity).await?;
        }
        "ConnectivityCheckEnabled" => {
            let enabled = bool::try_from(&new).map_err(|_| wrong())?;
            model.change(connection, |network| network.check_enabled = enabled).await?;
        }
        "Version" => {
            let version = <&str>::try_from(&new).map_err(|_| wrong())?.to_owned();
            model.change(connection, |network| network.version = version).await?;
        }
        _ => return Err(ServiceError::invalid_args(format!("No such property '{name}'"))),
    }
    Ok(())
}

/// Finishes an activation a little later, as NetworkManager does, with `StateChanged`.
fn activate_later(model: Handle<Network>, connection: Connection, active: u32) {
    tokio::spawn(async move {
        tokio::time::sleep(ACTIVATION_DELAY).await;
        let state = match model.change(&connection, |network| network.finish_activation(active)).await {
            Ok(state) => state,
            Err(error) => {
                tracing::warn!("networkmanager fixture: activating: {error}");
                return;
            }
        };
        let emitter = SignalEmitter::new(&connection, path("ActiveConnection", active));
        if let Ok(emitter) = emitter {
            let _ = Active::activation_state_changed(&emitter, state, if state == ACTIVATED { 0 } else { 1 }).await;
        }
    });
}

fn unknown_connection(path: &ObjectPath<'_>) -> ServiceError {
    ServiceError::new(
        "org.freedesktop.NetworkManager.UnknownConnection",
        format!("Connection '{path}' is not available"),
    )
}

fn unknown_device(path: &ObjectPath<'_>) -> ServiceError {
    ServiceError::new("org.freedesktop.NetworkManager.UnknownDevice", format!("Device '{path}' not found"))
}

/// Refuses settings NetworkManager would refuse before activating them.
fn validate(settings: &Settings, for_activation: bool) -> Result<(), ServiceError> {
    let kind = setting_text(settings, "connection", "type")
        .ok_or_else(|| ServiceError::new(missing_property(), "connection.type: property is missing"))?;
    if kind == "802-11-wireless"
        && setting_bytes(settings, "802-11-wireless", "ssid").is_none_or(|ssid| ssid.is_empty())
    {
        let message = if for_activation {
            "A 'wireless' setting with a valid SSID is required if no AP path was given."
        } else {
            "802-11-wireless.ssid: property is missing"
        };
        return Err(ServiceError::new(missing_property(), message));
    }
    Ok(())
}

struct Manager(View<Network>);

#[interface(name = "org.freedesktop.NetworkManager")]
impl Manager {
    fn get_devices(&self) -> Vec<OwnedObjectPath> {
        self.0.get(MANAGER, "Devices")
    }

    fn get_all_devices(&self) -> Vec<OwnedObjectPath> {
        self.0.get(MANAGER, "AllDevices")
    }

    async fn activate_connection(
        &self,
        connection: ObjectPath<'_>,
        device: ObjectPath<'_>,
        specific_object: ObjectPath<'_>,
        #[zbus(connection)] bus: &Connection,
    ) -> Result<OwnedObjectPath, ServiceError> {
        self.0.record(format!("ActivateConnection({connection}, {device}, {specific_object})"));
        let profile = id_of(&connection, "Settings").ok_or_else(|| unknown_connection(&connection))?;
        let model = self.0.model.clone();
        let active = model
            .change(bus, |network| {
                let settings = network.connections.get(&profile).ok_or_else(|| unknown_connection(&connection))?;
                let target = match id_of(&device, "Devices") {
                    Some(id) if network.devices.contains_key(&id) => id,
                    Some(_) => return Err(unknown_device(&device)),
                    None => network.device_for(settings).ok_or_else(|| unknown_device(&device))?,
                };
                Ok(network.begin_activation(profile, target))
            })
            .await??;
        activate_later(model, bus.clone(), active);
        Ok(object("ActiveConnection", Some(active)))
    }

    #[zbus(out_args("path", "active_connection"))]
    async fn add_and_activate_connection(
        &self,
        settings: Settings,
        device: ObjectPath<'_>,
        specific_object: ObjectPath<'_>,
        #[zbus(connection)] bus: &Connection,
    ) -> Result<(OwnedObjectPath, OwnedObjectPath), ServiceError> {
        self.0.record(format!("AddAndActivateConnection({device}, {specific_object})"));
        validate(&settings, true)?;
        let target = id_of(&device, "Devices").ok_or_else(|| unknown_device(&device))?;
        let model = self.0.model.clone();
        let (profile, active) = model
            .change(bus, |network| {
                if !network.devices.contains_key(&target) {
                    return Err(unknown_device(&device));
                }
                let profile = network.add_connection(settings);
                Ok((profile, network.begin_activation(profile, target)))
            })
            .await??;
        SettingsManager::new_connection(&SignalEmitter::new(bus, SETTINGS_PATH)?, object("Settings", Some(profile)))
            .await?;
        activate_later(model, bus.clone(), active);
        Ok((object("Settings", Some(profile)), object("ActiveConnection", Some(active))))
    }

    async fn deactivate_connection(
        &self,
        active_connection: ObjectPath<'_>,
        #[zbus(connection)] bus: &Connection,
    ) -> Result<(), ServiceError> {
        self.0.record(format!("DeactivateConnection({active_connection})"));
        let active = id_of(&active_connection, "ActiveConnection");
        let inactive = || {
            ServiceError::new("org.freedesktop.NetworkManager.ConnectionNotActive", "The connection was not active.")
        };
        self.0
            .model
            .change(bus, |network| {
                let device = active.and_then(|active| network.actives.get(&active)).ok_or_else(inactive)?.device;
                network.deactivate_device(device);
                Ok(())
            })
            .await?
    }

    fn check_connectivity(&self) -> u32 {
        self.0.record("CheckConnectivity()".to_owned());
        self.0.get(MANAGER, "Connectivity")
    }

    #[zbus(property)]
    fn devices(&self) -> Vec<OwnedObjectPath> {
        self.0.get(MANAGER, "Devices")
    }

    #[zbus(property)]
    fn all_devices(&self) -> Vec<OwnedObjectPath> {
        self.0.get(MANAGER, "AllDevices")
    }

    #[zbus(property)]
    fn active_connections(&self) -> Vec<OwnedObjectPath> {
        self.0.get(MANAGER, "ActiveConnections")
    }

    #[zbus(property)]
    fn primary_connection(&self) -> OwnedObjectPath {
        self.0.get(MANAGER, "PrimaryConnection")
    }

    #[zbus(property)]
    fn primary_connection_type(&self) -> String {
        self.0.get(MANAGER, "PrimaryConnectionType")
    }

    #[zbus(property)]
    fn version(&self) -> String {
        self.0.get(MANAGER, "Version")
    }

    #[zbus(property)]
    fn state(&self) -> u32 {
        self.0.get(MANAGER, "State")
    }

    #[zbus(property)]
    fn connectivity(&self) -> u32 {
        self.0.get(MANAGER, "Connectivity")
    }

    #[zbus(property)]
    fn connectivity_check_available(&self) -> bool {
        self.0.get(MANAGER, "ConnectivityCheckAvailable")
    }

    #[zbus(property)]
    fn connectivity_check_enabled(&self) -> bool {
        self.0.get(MANAGER, "ConnectivityCheckEnabled")
    }

    #[zbus(property)]
    fn networking_enabled(&self) -> bool {
        self.0.get(MANAGER, "NetworkingEnabled")
    }

    #[zbus(property)]
    fn wireless_enabled(&self) -> bool {
        self.0.get(MANAGER, "WirelessEnabled")
    }
}

struct Device(View<Network>);

#[interface(name = "org.freedesktop.NetworkManager.Device")]
impl Device {
    async fn reapply(
        &self,
        connection: Settings,
        version_id: u64,
        flags: u32,
        #[zbus(connection)] bus: &Connection,
    ) -> Result<(), ServiceError> {
        self.0.record(format!("Reapply({}, {version_id}, {flags})", self.0.path));
        let path = ObjectPath::try_from(self.0.path.as_str())
            .map_err(|error| ServiceError::invalid_args(error.to_string()))?;
        let device = id_of(&path, "Devices").ok_or_else(|| unknown_device(&path))?;
        self.0
            .model
            .change(bus, |network| {
                let active = network.devices.get(&device).and_then(|device| device.active).ok_or_else(|| {
                    ServiceError::new("org.freedesktop.NetworkManager.Device.NotActive", "Device is not activated")
                })?;
                let model = network.actives.get_mut(&active).expect("active connections exist");
                // Empty settings reapply the profile as it is now.
                model.applied = if connection.is_empty() {
                    network.connections.get(&model.connection).cloned().unwrap_or_default()
                } else {
                    connection
                };
                network.configure(active);
                Ok(())
            })
            .await?
    }

    async fn disconnect(&self, #[zbus(connection)] bus: &Connection) -> Result<(), ServiceError> {
        self.0.record(format!("Disconnect({})", self.0.path));
        let path = ObjectPath::try_from(self.0.path.as_str())
            .map_err(|error| ServiceError::invalid_args(error.to_string()))?;
        let device = id_of(&path, "Devices").ok_or_else(|| unknown_device(&path))?;
        self.0.model.change(bus, |network| network.deactivate_device(device)).await?;
        Ok(())
    }

    #[zbus(property)]
    fn interface(&self) -> String {
        self.0.get(DEVICE, "Interface")
    }

    #[zbus(property)]
    fn ip_interface(&self) -> String {
        self.0.get(DEVICE, "IpInterface")
    }

    #[zbus(property)]
    fn udi(&self) -> String {
        self.0.get(DEVICE, "Udi")
    }

    #[zbus(property)]
    fn driver(&self) -> String {
        self.0.get(DEVICE, "Driver")
    }

    #[zbus(property)]
    fn device_type(&self) -> u32 {
        self.0.get(DEVICE, "DeviceType")
    }

    #[zbus(property)]
    fn managed(&self) -> bool {
        self.0.get(DEVICE, "Managed")
    }

    #[zbus(property)]
    fn hw_address(&self) -> String {
        self.0.get(DEVICE, "HwAddress")
    }

    #[zbus(property)]
    fn path(&self) -> String {
        self.0.get(DEVICE, "Path")
    }

    #[zbus(property)]
    fn state(&self) -> u32 {
        self.0.get(DEVICE, "State")
    }

    #[zbus(property)]
    fn active_connection(&self) -> OwnedObjectPath {
        self.0.get(DEVICE, "ActiveConnection")
    }

    #[zbus(property)]
    fn ip4_config(&self) -> OwnedObjectPath {
        self.0.get(DEVICE, "Ip4Config")
    }

    #[zbus(property)]
    fn ip6_config(&self) -> OwnedObjectPath {
        self.0.get(DEVICE, "Ip6Config")
    }

    #[zbus(property)]
    fn autoconnect(&self) -> bool {
        self.0.get(DEVICE, "Autoconnect")
    }

    #[zbus(property)]
    fn available_connections(&self) -> Vec<OwnedObjectPath> {
        self.0.get(DEVICE, "AvailableConnections")
    }
}

struct Wireless(View<Network>);

#[interface(name = "org.freedesktop.NetworkManager.Device.Wireless")]
impl Wireless {
    /// Scans at once: the same access points are found again, and `LastScan` moves on.
    async fn request_scan(
        &self,
        options: HashMap<String, OwnedValue>,
        #[zbus(connection)] bus: &Connection,
    ) -> Result<(), ServiceError> {
        self.0.record(format!("RequestScan({}, {} options)", self.0.path, options.len()));
        let path = ObjectPath::try_from(self.0.path.as_str())
            .map_err(|error| ServiceError::invalid_args(error.to_string()))?;
        let device = id_of(&path, "Devices").ok_or_else(|| unknown_device(&path))?;
        self.0
            .model
            .change(bus, |network| {
                if let Some(device) = network.devices.get_mut(&device) {
                    device.last_scan += SCAN_DURATION_MS;
                }
            })
            .await?;
        Ok(())
    }

    fn get_all_access_points(&self) -> Vec<OwnedObjectPath> {
        self.0.get(WIRELESS, "AccessPoints")
    }

    fn get_access_points(&self) -> Vec<OwnedObjectPath> {
        self.0.get(WIRELESS, "AccessPoints")
    }

    #[zbus(property)]
    fn hw_address(&self) -> String {
        self.0.get(WIRELESS, "HwAddress")
    }

    #[zbus(property)]
    fn mode(&self) -> u32 {
        self.0.get(WIRELESS, "Mode")
    }

    #[zbus(property)]
    fn bitrate(&self) -> u32 {
        self.0.get(WIRELESS, "Bitrate")
    }

    #[zbus(property)]
    fn access_points(&self) -> Vec<OwnedObjectPath> {
        self.0.get(WIRELESS, "AccessPoints")
    }

    #[zbus(property)]
    fn active_access_point(&self) -> OwnedObjectPath {
        self.0.get(WIRELESS, "ActiveAccessPoint")
    }

    #[zbus(property)]
    fn last_scan(&self) -> i64 {
        self.0.get(WIRELESS, "LastScan")
    }
}

struct AccessPoint(View<Network>);

#[interface(name = "org.freedesktop.NetworkManager.AccessPoint")]
impl AccessPoint {
    #[zbus(property)]
    fn ssid(&self) -> Vec<u8> {
        self.0.get(ACCESS_POINT, "Ssid")
    }

    #[zbus(property)]
    fn frequency(&self) -> u32 {
        self.0.get(ACCESS_POINT, "Frequency")
    }

    #[zbus(property)]
    fn hw_address(&self) -> String {
        self.0.get(ACCESS_POINT, "HwAddress")
    }

    #[zbus(property)]
    fn mode(&self) -> u32 {
        self.0.get(ACCESS_POINT, "Mode")
    }

    #[zbus(property)]
    fn strength(&self) -> u8 {
        self.0.get(ACCESS_POINT, "Strength")
    }

    #[zbus(property)]
    fn max_bitrate(&self) -> u32 {
        self.0.get(ACCESS_POINT, "MaxBitrate")
    }

    #[zbus(property)]
    fn flags(&self) -> u32 {
        self.0.get(ACCESS_POINT, "Flags")
    }

    #[zbus(property)]
    fn wpa_flags(&self) -> u32 {
        self.0.get(ACCESS_POINT, "WpaFlags")
    }

    #[zbus(property)]
    fn rsn_flags(&self) -> u32 {
        self.0.get(ACCESS_POINT, "RsnFlags")
    }

    #[zbus(property)]
    fn last_seen(&self) -> i32 {
        self.0.get(ACCESS_POINT, "LastSeen")
    }
}

struct Active(View<Network>);

#[interface(name = "org.freedesktop.NetworkManager.Connection.Active")]
impl Active {
    /// `StateChanged`; named apart from the `State` property's own `state_changed`.
    #[zbus(signal, name = "StateChanged")]
    async fn activation_state_changed(emitter: &SignalEmitter<'_>, state: u32, reason: u32) -> zbus::Result<()>;

    #[zbus(property)]
    fn id(&self) -> String {
        self.0.get(ACTIVE, "Id")
    }

    #[zbus(property)]
    fn uuid(&self) -> String {
        self.0.get(ACTIVE, "Uuid")
    }

    #[zbus(property, name = "Type")]
    fn kind(&self) -> String {
        self.0.get(ACTIVE, "Type")
    }

    #[zbus(property)]
    fn state(&self) -> u32 {
        self.0.get(ACTIVE, "State")
    }

    #[zbus(property)]
    fn state_flags(&self) -> u32 {
        self.0.get(ACTIVE, "StateFlags")
    }

    #[zbus(property)]
    fn default(&self) -> bool {
        self.0.get(ACTIVE, "Default")
    }

    #[zbus(property)]
    fn default6(&self) -> bool {
        self.0.get(ACTIVE, "Default6")
    }

    #[zbus(property)]
    fn ip4_config(&self) -> OwnedObjectPath {
        self.0.get(ACTIVE, "Ip4Config")
    }

    #[zbus(property)]
    fn ip6_config(&self) -> OwnedObjectPath {
        self.0.get(ACTIVE, "Ip6Config")
    }

    #[zbus(property)]
    fn connection(&self) -> OwnedObjectPath {
        self.0.get(ACTIVE, "Connection")
    }

    #[zbus(property)]
    fn specific_object(&self) -> OwnedObjectPath {
        self.0.get(ACTIVE, "SpecificObject")
    }

    #[zbus(property)]
    fn devices(&self) -> Vec<OwnedObjectPath> {
        self.0.get(ACTIVE, "Devices")
    }

    #[zbus(property)]
    fn vpn(&self) -> bool {
        self.0.get(ACTIVE, "Vpn")
    }

    #[zbus(property)]
    fn master(&self) -> OwnedObjectPath {
        self.0.get(ACTIVE, "Master")
    }
}

struct Ip4Config(View<Network>);

#[interface(name = "org.freedesktop.NetworkManager.IP4Config")]
impl Ip4Config {
    #[zbus(property)]
    fn address_data(&self) -> Vec<HashMap<String, OwnedValue>> {
        self.0.get(IP4, "AddressData")
    }

    #[zbus(property)]
    fn gateway(&self) -> String {
        self.0.get(IP4, "Gateway")
    }

    #[zbus(property)]
    fn nameserver_data(&self) -> Vec<HashMap<String, OwnedValue>> {
        self.0.get(IP4, "NameserverData")
    }

    #[zbus(property)]
    fn domains(&self) -> Vec<String> {
        self.0.get(IP4, "Domains")
    }
}

struct Ip6Config(View<Network>);

#[interface(name = "org.freedesktop.NetworkManager.IP6Config")]
impl Ip6Config {
    #[zbus(property)]
    fn address_data(&self) -> Vec<HashMap<String, OwnedValue>> {
        self.0.get(IP6, "AddressData")
    }

    #[zbus(property)]
    fn gateway(&self) -> String {
        self.0.get(IP6, "Gateway")
    }

    #[zbus(property)]
    fn nameservers(&self) -> Vec<Vec<u8>> {
        self.0.get(IP6, "Nameservers")
    }

    #[zbus(property)]
    fn domains(&self) -> Vec<String> {
        self.0.get(IP6, "Domains")
    }
}

struct SettingsManager(View<Network>);

#[interface(name = "org.freedesktop.NetworkManager.Settings")]
impl SettingsManager {
    fn list_connections(&self) -> Vec<OwnedObjectPath> {
        self.0.get(SETTINGS, "Connections")
    }

    fn get_connection_by_uuid(&self, uuid: String) -> Result<OwnedObjectPath, ServiceError> {
        let found = self.0.model.read(|network| network.connection_by_uuid(&uuid));
        found.map(|id| object("Settings", Some(id))).ok_or_else(|| {
            ServiceError::new(
                "org.freedesktop.NetworkManager.Settings.InvalidConnection",
                "No connection with the UUID was found.",
            )
        })
    }

    async fn add_connection(
        &self,
        connection: Settings,
        #[zbus(connection)] bus: &Connection,
    ) -> Result<OwnedObjectPath, ServiceError> {
        let id = setting_text(&connection, "connection", "id").unwrap_or_default();
        self.0.record(format!("AddConnection({id})"));
        validate(&connection, false)?;
        let is_vlan = setting_text(&connection, "connection", "type").as_deref() == Some("vlan");
        let autoconnect = setting(&connection, "connection", "autoconnect")
            .and_then(|value| bool::try_from(&**value).ok())
            .unwrap_or(true);
        let model = self.0.model.clone();
        let (profile, active) = model
            .change(bus, |network| {
                // A VLAN profile brings its device, which it then activates.
                let device = if is_vlan { Some(network.vlan_device(&connection)?) } else { None };
                let profile = network.add_connection(connection);
                let active = device.filter(|_| autoconnect).map(|device| network.begin_activation(profile, device));
                Ok::<_, ServiceError>((profile, active))
            })
            .await??;
        Self::new_connection(&SignalEmitter::new(bus, SETTINGS_PATH)?, object("Settings", Some(profile))).await?;
        if let Some(active) = active {
            activate_later(model, bus.clone(), active);
        }
        Ok(object("Settings", Some(profile)))
    }

    fn reload_connections(&self) -> bool {
        self.0.record("ReloadConnections()".to_owned());
        true
    }

    #[zbus(signal)]
    async fn new_connection(emitter: &SignalEmitter<'_>, connection: OwnedObjectPath) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn connection_removed(emitter: &SignalEmitter<'_>, connection: OwnedObjectPath) -> zbus::Result<()>;

    #[zbus(property)]
    fn connections(&self) -> Vec<OwnedObjectPath> {
        self.0.get(SETTINGS, "Connections")
    }

    #[zbus(property)]
    fn hostname(&self) -> String {
        self.0.get(SETTINGS, "Hostname")
    }

    #[zbus(property)]
    fn can_modify(&self) -> bool {
        self.0.get(SETTINGS, "CanModify")
    }
}

struct SettingsConnection(View<Network>);

impl SettingsConnection {
    fn id(&self) -> Result<u32, ServiceError> {
        let path = ObjectPath::try_from(self.0.path.as_str())
            .map_err(|error| ServiceError::invalid_args(error.to_string()))?;
        id_of(&path, "Settings").ok_or_else(|| unknown_connection(&path))
    }
}

#[interface(name = "org.freedesktop.NetworkManager.Settings.Connection")]
impl SettingsConnection {
    fn get_settings(&self) -> Result<Settings, ServiceError> {
        let id = self.id()?;
        let settings = self.0.model.read(|network| network.connections.get(&id).cloned());
        settings.ok_or_else(|| ServiceError::new(CONNECTION_ERROR, "The connection was deleted"))
    }

    async fn update(
        &self,
        properties: Settings,
        #[zbus(connection)] bus: &Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), ServiceError> {
        self.0.record(format!("Update({})", self.0.path));
        validate(&properties, false)?;
        let id = self.id()?;
        self.0
            .model
            .change(bus, |network| {
                network.connections.insert(id, properties);
            })
            .await?;
        Self::updated(&emitter).await?;
        Ok(())
    }

    async fn delete(
        &self,
        #[zbus(connection)] bus: &Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), ServiceError> {
        self.0.record(format!("Delete({})", self.0.path));
        let id = self.id()?;
        // Tell listeners first: the object is gone once the change is made.
        Self::removed(&emitter).await?;
        SettingsManager::connection_removed(&SignalEmitter::new(bus, SETTINGS_PATH)?, object("Settings", Some(id)))
            .await?;
        self.0
            .model
            .change(bus, |network| {
                network.connections.remove(&id);
                let devices: Vec<u32> = network
                    .actives
                    .values()
                    .filter(|active| active.connection == id)
                    .map(|active| active.device)
                    .collect();
                for device in devices {
                    network.deactivate_device(device);
                    // A VLAN's device exists for its profile only.
                    if network.devices.get(&device).is_some_and(|device| device.device_type == TYPE_VLAN) {
                        network.devices.remove(&device);
                    }
                }
            })
            .await?;
        Ok(())
    }

    #[zbus(signal)]
    async fn updated(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn removed(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;

    #[zbus(property)]
    fn unsaved(&self) -> bool {
        self.0.get(CONNECTION, "Unsaved")
    }

    #[zbus(property)]
    fn flags(&self) -> u32 {
        self.0.get(CONNECTION, "Flags")
    }

    #[zbus(property)]
    fn filename(&self) -> String {
        self.0.get(CONNECTION, "Filename")
    }
}

struct DnsManager(View<Network>);

#[interface(name = "org.freedesktop.NetworkManager.DnsManager")]
impl DnsManager {
    #[zbus(property)]
    fn mode(&self) -> String {
        self.0.get(DNS, "Mode")
    }

    #[zbus(property)]
    fn rc_manager(&self) -> String {
        self.0.get(DNS, "RcManager")
    }

    #[zbus(property)]
    fn configuration(&self) -> Vec<HashMap<String, OwnedValue>> {
        self.0.get(DNS, "Configuration")
    }
}
