//! NetworkManager (`org.freedesktop.NetworkManager`): the devices with their active connections,
//! IP configurations, access points and profiles (for `/network/*`), connectivity (for
//! `host_internet`) and the DNS configuration, watched as one object tree; and the methods that
//! change the network: activating, adding, updating and deleting profiles, reapplying, scanning.
//!
//! Paths in the state are object paths as text; NetworkManager's `/` ("none") becomes `None`.

use crate::service::{RefreshRequests, Service, State};
use crate::tree::{self, Document, Documents, Mirror, PropertyMap, Tree};
use crate::Error;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zbus::proxy;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue};
use zbus::Connection;

const SERVICE: &str = "org.freedesktop.NetworkManager";
const PATH: &str = "/org/freedesktop/NetworkManager";
const MANAGER: &str = "org.freedesktop.NetworkManager";
const DEVICE: &str = "org.freedesktop.NetworkManager.Device";
const WIRELESS: &str = "org.freedesktop.NetworkManager.Device.Wireless";
const ACCESS_POINT: &str = "org.freedesktop.NetworkManager.AccessPoint";
const ACTIVE: &str = "org.freedesktop.NetworkManager.Connection.Active";
const IP4: &str = "org.freedesktop.NetworkManager.IP4Config";
const IP6: &str = "org.freedesktop.NetworkManager.IP6Config";
const CONNECTION: &str = "org.freedesktop.NetworkManager.Settings.Connection";
const DNS_PATH: &str = "/org/freedesktop/NetworkManager/DnsManager";
const DNS: &str = "org.freedesktop.NetworkManager.DnsManager";

/// Connection settings (`a{sa{sv}}`): sections such as `connection`, `ipv4`, `802-11-wireless`.
pub type Settings = Document;

/// `NM_ACTIVE_CONNECTION_STATE_ACTIVATED`.
pub const ACTIVATED: u32 = 2;
/// `NM_ACTIVE_CONNECTION_STATE_DEACTIVATED`.
pub const DEACTIVATED: u32 = 4;

/// What NetworkManager knows, as the supervisor shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkState {
    pub version: String,
    /// 0 unknown, 1 none, 2 portal, 3 limited, 4 full.
    pub connectivity: u32,
    pub connectivity_check_enabled: bool,
    /// The path of the active connection that has the default route.
    pub primary_connection: Option<String>,
    /// Every device, in NetworkManager's order.
    pub devices: Vec<Device>,
    /// The DNS manager's configuration, in its order.
    pub dns: Vec<DnsConfiguration>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Device {
    pub path: String,
    pub interface: String,
    /// 1 ethernet, 2 wifi, 11 vlan, 20 veth, 32 loopback, ...
    pub device_type: u32,
    pub driver: String,
    pub managed: bool,
    pub hw_address: String,
    /// udev's `ID_PATH`, e.g. `pci-0000:00:1f.6`.
    pub udev_path: String,
    pub state: u32,
    pub active: Option<ActiveConnection>,
    /// For wireless devices.
    pub wireless: Option<Wireless>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Wireless {
    pub active_access_point: Option<AccessPoint>,
    /// What the last scan found.
    pub access_points: Vec<AccessPoint>,
    /// When the last scan finished (`CLOCK_BOOTTIME` milliseconds; -1: never), so that a
    /// requested scan can be waited for.
    pub last_scan: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessPoint {
    pub path: String,
    pub ssid: Vec<u8>,
    /// MHz.
    pub frequency: u32,
    /// The BSSID.
    pub hw_address: String,
    /// 1 adhoc, 2 infrastructure, 3 ap, 4 mesh.
    pub mode: u32,
    /// 0 to 100.
    pub strength: u8,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActiveConnection {
    pub path: String,
    pub id: String,
    pub uuid: String,
    /// `802-3-ethernet`, `802-11-wireless`, `vlan`, ...
    pub kind: String,
    /// 1 activating, 2 activated, 3 deactivating, 4 deactivated.
    pub state: u32,
    /// 0x8 IPv4 ready, 0x10 IPv6 ready, ...
    pub state_flags: u32,
    pub ip4: Option<IpConfig>,
    pub ip6: Option<IpConfig>,
    /// The profile's path.
    pub settings_path: Option<String>,
    /// The profile (`GetSettings`; secrets are not included).
    pub settings: Option<Settings>,
}

/// The live addresses of an active connection (not the configured ones).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpConfig {
    pub addresses: Vec<IpAddress>,
    pub gateway: Option<String>,
    pub nameservers: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpAddress {
    pub address: String,
    pub prefix: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsConfiguration {
    pub nameservers: Vec<String>,
    pub domains: Vec<String>,
    pub interface: String,
    pub priority: i32,
    pub vpn: bool,
}

impl NetworkState {
    /// The device with this interface name.
    pub fn device(&self, interface: &str) -> Option<&Device> {
        self.devices.iter().find(|device| device.interface == interface)
    }
}

fn text(properties: &PropertyMap, name: &str) -> String {
    properties.get(name).and_then(|value| <&str>::try_from(&**value).ok()).unwrap_or_default().to_owned()
}

fn number<T: for<'v> TryFrom<&'v zbus::zvariant::Value<'v>> + Default>(properties: &PropertyMap, name: &str) -> T {
    properties.get(name).and_then(|value| T::try_from(value).ok()).unwrap_or_default()
}

/// An object path property; NetworkManager's `/` means none.
fn path(properties: &PropertyMap, name: &str) -> Option<String> {
    let path = properties.get(name).and_then(|value| <&ObjectPath<'_>>::try_from(&**value).ok())?;
    (path.as_str() != "/").then(|| path.to_string())
}

fn paths(properties: &PropertyMap, name: &str) -> Vec<String> {
    let paths = properties.get(name).and_then(|value| Vec::<OwnedObjectPath>::try_from(value.clone()).ok());
    paths.unwrap_or_default().iter().map(|path| path.to_string()).collect()
}

/// `aa{sv}` entries.
fn entries(properties: &PropertyMap, name: &str) -> Vec<HashMap<String, OwnedValue>> {
    let entries =
        properties.get(name).and_then(|value| Vec::<HashMap<String, OwnedValue>>::try_from(value.clone()).ok());
    entries.unwrap_or_default()
}

fn ip_config(properties: &PropertyMap, v6: bool) -> IpConfig {
    let addresses = entries(properties, "AddressData")
        .iter()
        .filter_map(|entry| {
            Some(IpAddress {
                address: <&str>::try_from(&**entry.get("address")?).ok()?.to_owned(),
                prefix: u32::try_from(&**entry.get("prefix")?).ok()?,
            })
        })
        .collect();
    let nameservers = if v6 {
        let raw = properties.get("Nameservers").and_then(|value| Vec::<Vec<u8>>::try_from(value.clone()).ok());
        raw.unwrap_or_default()
            .into_iter()
            .filter_map(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .map(|octets| Ipv6Addr::from(octets).to_string())
            .collect()
    } else if properties.contains_key("NameserverData") {
        entries(properties, "NameserverData")
            .iter()
            .filter_map(|entry| Some(<&str>::try_from(&**entry.get("address")?).ok()?.to_owned()))
            .collect()
    } else {
        // NetworkManager before 1.14 has only `au`, each address in network byte order.
        let raw = properties.get("Nameservers").and_then(|value| Vec::<u32>::try_from(value.clone()).ok());
        raw.unwrap_or_default().into_iter().map(|address| Ipv4Addr::from(address.to_ne_bytes()).to_string()).collect()
    };
    let gateway = text(properties, "Gateway");
    IpConfig { addresses, gateway: (!gateway.is_empty()).then_some(gateway), nameservers }
}

fn access_point(mirror: &Mirror, path: &str) -> Option<AccessPoint> {
    let properties = mirror.get(path, ACCESS_POINT)?;
    Some(AccessPoint {
        path: path.to_owned(),
        ssid: properties.get("Ssid").and_then(|value| Vec::<u8>::try_from(value.clone()).ok()).unwrap_or_default(),
        frequency: number(properties, "Frequency"),
        hw_address: text(properties, "HwAddress"),
        mode: number(properties, "Mode"),
        strength: number(properties, "Strength"),
    })
}

fn active_connection(mirror: &Mirror, path: &str) -> Option<ActiveConnection> {
    let properties = mirror.get(path, ACTIVE)?;
    let settings_path = self::path(properties, "Connection");
    Some(ActiveConnection {
        path: path.to_owned(),
        id: text(properties, "Id"),
        uuid: text(properties, "Uuid"),
        kind: text(properties, "Type"),
        state: number(properties, "State"),
        state_flags: number(properties, "StateFlags"),
        ip4: self::path(properties, "Ip4Config").and_then(|ip| mirror.get(&ip, IP4)).map(|ip| ip_config(ip, false)),
        ip6: self::path(properties, "Ip6Config").and_then(|ip| mirror.get(&ip, IP6)).map(|ip| ip_config(ip, true)),
        settings: settings_path.as_deref().and_then(|settings| mirror.document(settings)).cloned(),
        settings_path,
    })
}

fn device(mirror: &Mirror, path: &str) -> Option<Device> {
    let properties = mirror.get(path, DEVICE)?;
    let wireless = mirror.get(path, WIRELESS).map(|wireless| Wireless {
        active_access_point: self::path(wireless, "ActiveAccessPoint").and_then(|ap| access_point(mirror, &ap)),
        access_points: paths(wireless, "AccessPoints").iter().filter_map(|ap| access_point(mirror, ap)).collect(),
        last_scan: number(wireless, "LastScan"),
    });
    Some(Device {
        path: path.to_owned(),
        interface: text(properties, "Interface"),
        device_type: number(properties, "DeviceType"),
        driver: text(properties, "Driver"),
        managed: number(properties, "Managed"),
        hw_address: text(properties, "HwAddress"),
        udev_path: text(properties, "Path"),
        state: number(properties, "State"),
        active: self::path(properties, "ActiveConnection").and_then(|active| active_connection(mirror, &active)),
        wireless,
    })
}

impl Tree for NetworkState {
    const SERVICE: &'static str = SERVICE;
    const ROOT: &'static str = "/org/freedesktop";
    const NAMESPACE: &'static str = PATH;
    const DOCUMENTS: Option<Documents> =
        Some(Documents { interface: CONNECTION, method: "GetSettings", updated: "Updated" });

    fn build(mirror: &Mirror) -> Self {
        let Some(manager) = mirror.get(PATH, MANAGER) else { return NetworkState::default() };
        let dns = mirror.get(DNS_PATH, DNS).map(|dns| entries(dns, "Configuration")).unwrap_or_default();
        let strings = |entry: &HashMap<String, OwnedValue>, key: &str| {
            entry.get(key).and_then(|value| Vec::<String>::try_from(value.clone()).ok()).unwrap_or_default()
        };
        NetworkState {
            version: text(manager, "Version"),
            connectivity: number(manager, "Connectivity"),
            connectivity_check_enabled: number(manager, "ConnectivityCheckEnabled"),
            primary_connection: path(manager, "PrimaryConnection"),
            devices: paths(manager, "Devices").iter().filter_map(|device| self::device(mirror, device)).collect(),
            dns: dns
                .iter()
                .map(|entry| DnsConfiguration {
                    nameservers: strings(entry, "nameservers"),
                    domains: strings(entry, "domains"),
                    interface: entry
                        .get("interface")
                        .and_then(|value| <&str>::try_from(&**value).ok())
                        .unwrap_or_default()
                        .to_owned(),
                    priority: entry.get("priority").and_then(|value| i32::try_from(&**value).ok()).unwrap_or_default(),
                    vpn: entry.get("vpn").and_then(|value| bool::try_from(&**value).ok()).unwrap_or_default(),
                })
                .collect(),
        }
    }
}

impl State for NetworkState {
    const SERVICE: &'static str = SERVICE;

    async fn start(
        connection: Connection,
        sender: watch::Sender<Option<Self>>,
        refresh: RefreshRequests,
    ) -> zbus::Result<JoinHandle<()>> {
        tree::start(connection, sender, refresh).await
    }
}

#[proxy(
    interface = "org.freedesktop.NetworkManager",
    default_service = "org.freedesktop.NetworkManager",
    default_path = "/org/freedesktop/NetworkManager"
)]
pub trait NmManager {
    fn activate_connection(
        &self,
        connection: &ObjectPath<'_>,
        device: &ObjectPath<'_>,
        specific_object: &ObjectPath<'_>,
    ) -> zbus::Result<OwnedObjectPath>;
    fn add_and_activate_connection(
        &self,
        connection: &Settings,
        device: &ObjectPath<'_>,
        specific_object: &ObjectPath<'_>,
    ) -> zbus::Result<(OwnedObjectPath, OwnedObjectPath)>;
    fn deactivate_connection(&self, active_connection: &ObjectPath<'_>) -> zbus::Result<()>;
    fn check_connectivity(&self) -> zbus::Result<u32>;
}

#[proxy(
    interface = "org.freedesktop.NetworkManager.Settings",
    default_service = "org.freedesktop.NetworkManager",
    default_path = "/org/freedesktop/NetworkManager/Settings"
)]
pub trait NetworkSettings {
    fn add_connection(&self, connection: &Settings) -> zbus::Result<OwnedObjectPath>;
    fn reload_connections(&self) -> zbus::Result<bool>;
}

#[proxy(
    interface = "org.freedesktop.NetworkManager.Settings.Connection",
    default_service = "org.freedesktop.NetworkManager",
    default_path = "/org/freedesktop/NetworkManager/Settings"
)]
pub trait NetworkConnection {
    fn get_settings(&self) -> zbus::Result<Settings>;
    fn update(&self, properties: &Settings) -> zbus::Result<()>;
    fn delete(&self) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.freedesktop.NetworkManager.Device",
    default_service = "org.freedesktop.NetworkManager",
    default_path = "/org/freedesktop/NetworkManager/Devices"
)]
pub trait NetworkDevice {
    fn reapply(&self, connection: &Settings, version_id: u64, flags: u32) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.freedesktop.NetworkManager.Device.Wireless",
    default_service = "org.freedesktop.NetworkManager",
    default_path = "/org/freedesktop/NetworkManager/Devices"
)]
pub trait NetworkWireless {
    fn request_scan(&self, options: &HashMap<String, OwnedValue>) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.freedesktop.NetworkManager.Connection.Active",
    default_service = "org.freedesktop.NetworkManager",
    default_path = "/org/freedesktop/NetworkManager/ActiveConnection"
)]
pub trait NetworkActiveConnection {
    /// `StateChanged`, named apart from the `State` property's change stream.
    #[zbus(signal, name = "StateChanged")]
    fn activation_state_changed(&self, state: u32, reason: u32) -> zbus::Result<()>;
    #[zbus(property)]
    fn state(&self) -> zbus::Result<u32>;
}

/// The client of NetworkManager.
pub type NetworkManager = Service<NetworkState>;

fn object_path(path: &str) -> Result<ObjectPath<'_>, Error> {
    ObjectPath::try_from(path)
        .map_err(|error| Error::Call { service: SERVICE, reason: format!("'{path}' is not an object path: {error}") })
}

impl Service<NetworkState> {
    /// Asks NetworkManager to check connectivity now; returns the result (4 is full).
    pub async fn check_connectivity(&self) -> Result<u32, Error> {
        let proxy: NmManagerProxy<'_> = self.proxy().await?;
        Self::answer(proxy.check_connectivity().await)
    }

    /// Activates a profile on a device; returns the active connection's path, which is
    /// `activating` until [`Self::wait_for_activation`] says otherwise.
    pub async fn activate_connection(&self, settings_path: &str, device_path: &str) -> Result<String, Error> {
        let proxy: NmManagerProxy<'_> = self.proxy().await?;
        let active = proxy
            .activate_connection(
                &object_path(settings_path)?,
                &object_path(device_path)?,
                &ObjectPath::from_static_str_unchecked("/"),
            )
            .await;
        Ok(Self::answer(active)?.to_string())
    }

    /// Stores a new profile and activates it on a device; returns the profile's and the active
    /// connection's paths.
    pub async fn add_and_activate_connection(
        &self,
        settings: &Settings,
        device_path: &str,
    ) -> Result<(String, String), Error> {
        let proxy: NmManagerProxy<'_> = self.proxy().await?;
        let answer = proxy
            .add_and_activate_connection(
                settings,
                &object_path(device_path)?,
                &ObjectPath::from_static_str_unchecked("/"),
            )
            .await;
        let (profile, active) = Self::answer(answer)?;
        Ok((profile.to_string(), active.to_string()))
    }

    pub async fn deactivate_connection(&self, active_path: &str) -> Result<(), Error> {
        let proxy: NmManagerProxy<'_> = self.proxy().await?;
        Self::answer(proxy.deactivate_connection(&object_path(active_path)?).await)
    }

    /// Waits until an activation ends: returns [`ACTIVATED`], [`DEACTIVATED`] (it failed), or
    /// the last state seen when `timeout` ran out.
    pub async fn wait_for_activation(&self, active_path: &str, timeout: Duration) -> Result<u32, Error> {
        let proxy: NetworkActiveConnectionProxy<'_> = self.proxy_at(object_path(active_path)?.into_owned()).await?;
        // Subscribed before reading, so that a change in between is not missed.
        let mut changes = Self::answer(proxy.receive_activation_state_changed().await)?;
        // NetworkManager drops an active connection soon after its activation failed: one that
        // is already gone ended without activating.
        let mut state = match Self::answer(proxy.state().await) {
            Err(e) if e.error_name() == Some("org.freedesktop.DBus.Error.UnknownObject") => return Ok(DEACTIVATED),
            other => other?,
        };
        let ended = |state: u32| state == ACTIVATED || state == DEACTIVATED;
        let waiting = async {
            while !ended(state) {
                match changes.next().await.map(|signal| signal.args().map(|args| args.state)) {
                    Some(Ok(new)) => state = new,
                    Some(Err(_)) => {}
                    None => break,
                }
            }
        };
        let _ = tokio::time::timeout(timeout, waiting).await;
        Ok(state)
    }

    /// Stores a new profile (a VLAN's brings its device); returns its path.
    pub async fn add_connection(&self, settings: &Settings) -> Result<String, Error> {
        let proxy: NetworkSettingsProxy<'_> = self.proxy().await?;
        Ok(Self::answer(proxy.add_connection(settings).await)?.to_string())
    }

    /// Makes NetworkManager read the profiles on disk again.
    pub async fn reload_connections(&self) -> Result<bool, Error> {
        let proxy: NetworkSettingsProxy<'_> = self.proxy().await?;
        Self::answer(proxy.reload_connections().await)
    }

    /// A profile's settings as NetworkManager has them now.
    pub async fn get_settings(&self, settings_path: &str) -> Result<Settings, Error> {
        let proxy: NetworkConnectionProxy<'_> = self.proxy_at(object_path(settings_path)?.into_owned()).await?;
        Self::answer(proxy.get_settings().await)
    }

    /// Replaces a profile's settings (an active connection keeps the old ones until reapplied
    /// or activated again).
    pub async fn update_connection(&self, settings_path: &str, settings: &Settings) -> Result<(), Error> {
        let proxy: NetworkConnectionProxy<'_> = self.proxy_at(object_path(settings_path)?.into_owned()).await?;
        Self::answer(proxy.update(settings).await)
    }

    /// Deletes a profile, deactivating it.
    pub async fn delete_connection(&self, settings_path: &str) -> Result<(), Error> {
        let proxy: NetworkConnectionProxy<'_> = self.proxy_at(object_path(settings_path)?.into_owned()).await?;
        Self::answer(proxy.delete().await)
    }

    /// Applies settings to a device's active connection without reactivating it; empty
    /// settings apply its profile as it is now.
    pub async fn reapply(&self, device_path: &str, settings: &Settings) -> Result<(), Error> {
        let proxy: NetworkDeviceProxy<'_> = self.proxy_at(object_path(device_path)?.into_owned()).await?;
        Self::answer(proxy.reapply(settings, 0, 0).await)
    }

    /// Asks a wireless device to scan; what it finds arrives in the state's access points.
    pub async fn request_scan(&self, device_path: &str) -> Result<(), Error> {
        let proxy: NetworkWirelessProxy<'_> = self.proxy_at(object_path(device_path)?.into_owned()).await?;
        Self::answer(proxy.request_scan(&HashMap::new()).await)
    }
}
