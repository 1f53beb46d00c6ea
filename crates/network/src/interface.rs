//! A network interface as the supervisor sees it, read from NetworkManager's state: the live
//! addresses of its active connection and the settings of that connection's profile, in the
//! API's names (`static`, `wpa-psk`, `announce`, ...) rather than NetworkManager's numbers.
//!
//! Only managed ethernet, wireless and VLAN devices are interfaces, as for the real Supervisor;
//! an interface is `enabled` while it has an active connection with a profile.

use dbus::network::{Device, Settings};
use dbus::zvariant::OwnedValue;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use utoipa::ToSchema;

/// An enumeration of the API whose values are fixed names, with parsing for requests.
///
/// `tt` rather than `literal` for the names: a `literal` fragment reaches the derives wrapped in an
/// invisible group, which utoipa does not read as a `serde(rename)`, so the document showed the
/// variants' Rust names.
macro_rules! named {
    ($(#[$doc:meta])* $name:ident { $($(#[$variant_doc:meta])* $variant:ident = $text:tt),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
        pub enum $name {
            $($(#[$variant_doc])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every name, in the order the API documents them.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named! {
    /// The kind of an interface.
    InterfaceType { Ethernet = "ethernet", Wireless = "wireless", Vlan = "vlan" }
}

named! {
    /// How an interface gets its addresses of one IP family.
    InterfaceMethod {
        /// No addresses of this family (for IPv6: link-local only).
        Disabled = "disabled",
        /// The addresses given.
        Static = "static",
        /// DHCP, or router advertisements for IPv6.
        Auto = "auto",
    }
}

named! {
    /// How IPv6 interface identifiers are generated.
    AddrGenMode {
        Eui64 = "eui64",
        StablePrivacy = "stable-privacy",
        DefaultOrEui64 = "default-or-eui64",
        /// NetworkManager's configured default.
        Default = "default",
    }
}

named! {
    /// IPv6 privacy extensions (RFC 4941).
    Ip6Privacy {
        Default = "default",
        Disabled = "disabled",
        EnabledPreferPublic = "enabled-prefer-public",
        Enabled = "enabled",
    }
}

named! {
    /// The authentication of a wireless network.
    AuthMethod { Open = "open", Wep = "wep", WpaPsk = "wpa-psk" }
}

named! {
    /// The role of a wireless interface.
    WifiMode { Infrastructure = "infrastructure", Mesh = "mesh", Adhoc = "adhoc", Ap = "ap" }
}

named! {
    /// Multicast name resolution (mDNS, LLMNR) on an interface.
    MulticastDnsMode {
        /// The host's global setting.
        Default = "default",
        Off = "off",
        /// Resolve names, do not announce the host's.
        Resolve = "resolve",
        /// Resolve names and announce the host's.
        Announce = "announce",
    }
}

// NetworkManager's numbers for the named values (libnm's enums).
const DEVICE_ETHERNET: u32 = 1;
const DEVICE_WIFI: u32 = 2;
const DEVICE_VLAN: u32 = 11;
const ACTIVATING: u32 = 1;
const ACTIVATED: u32 = 2;
const IP4_READY: u32 = 0x8;
const IP6_READY: u32 = 0x10;

impl AddrGenMode {
    /// `ipv6.addr-gen-mode`; NetworkManager leaves the setting out when it is the default.
    pub fn from_nm(value: Option<i32>) -> AddrGenMode {
        match value {
            Some(0) => AddrGenMode::Eui64,
            Some(1) => AddrGenMode::StablePrivacy,
            Some(2) => AddrGenMode::DefaultOrEui64,
            _ => AddrGenMode::Default,
        }
    }
}

impl Ip6Privacy {
    /// `ipv6.ip6-privacy`; left out when it is the default (-1).
    pub fn from_nm(value: Option<i32>) -> Ip6Privacy {
        match value {
            Some(0) => Ip6Privacy::Disabled,
            Some(1) => Ip6Privacy::EnabledPreferPublic,
            Some(2) => Ip6Privacy::Enabled,
            _ => Ip6Privacy::Default,
        }
    }

    pub fn to_nm(self) -> i32 {
        match self {
            Ip6Privacy::Default => -1,
            Ip6Privacy::Disabled => 0,
            Ip6Privacy::EnabledPreferPublic => 1,
            Ip6Privacy::Enabled => 2,
        }
    }
}

impl MulticastDnsMode {
    /// `connection.mdns` and `connection.llmnr`.
    pub fn from_nm(value: i32) -> Option<MulticastDnsMode> {
        match value {
            -1 => Some(MulticastDnsMode::Default),
            0 => Some(MulticastDnsMode::Off),
            1 => Some(MulticastDnsMode::Resolve),
            2 => Some(MulticastDnsMode::Announce),
            _ => None,
        }
    }

    pub fn to_nm(self) -> i32 {
        match self {
            MulticastDnsMode::Default => -1,
            MulticastDnsMode::Off => 0,
            MulticastDnsMode::Resolve => 1,
            MulticastDnsMode::Announce => 2,
        }
    }
}

impl WifiMode {
    /// An access point's `Mode` (`NM80211Mode`); 0 (unknown) has no name.
    pub fn from_nm(mode: u32) -> Option<WifiMode> {
        match mode {
            1 => Some(WifiMode::Adhoc),
            2 => Some(WifiMode::Infrastructure),
            3 => Some(WifiMode::Ap),
            4 => Some(WifiMode::Mesh),
            _ => None,
        }
    }
}

/// An address with its prefix length, written `192.168.1.5/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInterface {
    pub address: IpAddr,
    pub prefix: u8,
}

impl fmt::Display for IpInterface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// How one IP family of an interface is configured: the settings of its profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpSetting {
    pub method: InterfaceMethod,
    pub addresses: Vec<IpInterface>,
    pub gateway: Option<IpAddr>,
    /// The metric of the default route; `None` leaves NetworkManager's default.
    pub route_metric: Option<i64>,
    pub nameservers: Vec<IpAddr>,
    /// IPv6 only.
    pub addr_gen_mode: AddrGenMode,
    /// IPv6 only.
    pub ip6_privacy: Ip6Privacy,
}

impl IpSetting {
    /// The setting of an interface without a profile.
    pub fn disabled() -> IpSetting {
        IpSetting::new(InterfaceMethod::Disabled)
    }

    pub fn new(method: InterfaceMethod) -> IpSetting {
        IpSetting {
            method,
            addresses: Vec::new(),
            gateway: None,
            route_metric: None,
            nameservers: Vec::new(),
            addr_gen_mode: AddrGenMode::Default,
            ip6_privacy: Ip6Privacy::Default,
        }
    }
}

/// What one IP family of an interface has now (its active connection's configuration).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpConfig {
    /// `address/prefix`.
    pub addresses: Vec<String>,
    pub gateway: Option<String>,
    pub nameservers: Vec<String>,
    /// NetworkManager considers this family configured.
    pub ready: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WifiConfig {
    pub mode: WifiMode,
    pub ssid: String,
    pub auth: AuthMethod,
    /// Only when given in a request: NetworkManager never shows secrets.
    pub psk: Option<String>,
    /// The strength of the access point the interface is associated with (0 to 100).
    pub signal: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VlanConfig {
    pub id: u32,
    /// The parent interface: its name, or the UUID of its profile (as NetworkManager keeps it).
    pub parent: String,
}

/// One network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub mac: String,
    /// NetworkManager's device object; `None` for a VLAN not created yet.
    pub device_path: Option<String>,
    /// udev's `ID_PATH`, which profiles match devices by.
    pub udev_path: String,
    pub kind: InterfaceType,
    pub enabled: bool,
    pub connected: bool,
    pub primary: bool,
    pub ipv4: IpConfig,
    pub ipv4_setting: IpSetting,
    pub ipv6: IpConfig,
    pub ipv6_setting: IpSetting,
    pub wifi: Option<WifiConfig>,
    pub vlan: Option<VlanConfig>,
    pub mdns: Option<MulticastDnsMode>,
    pub llmnr: Option<MulticastDnsMode>,
}

impl Interface {
    /// The interface of a device, if the supervisor manages devices of its kind;
    /// `primary_connection` is NetworkManager's `PrimaryConnection`.
    pub fn from_device(device: &Device, primary_connection: Option<&str>) -> Option<Interface> {
        let kind = match device.device_type {
            DEVICE_ETHERNET => InterfaceType::Ethernet,
            DEVICE_WIFI => InterfaceType::Wireless,
            DEVICE_VLAN => InterfaceType::Vlan,
            _ => return None,
        };
        if !device.managed {
            return None;
        }
        let active = device.active.as_ref();
        let settings = active.and_then(|active| active.settings.as_ref());
        let flags = active.map_or(0, |active| active.state_flags);
        let live = |config: Option<&dbus::network::IpConfig>, ready: u32| {
            let config = config.cloned().unwrap_or_default();
            IpConfig {
                addresses: config.addresses.iter().map(|ip| format!("{}/{}", ip.address, ip.prefix)).collect(),
                gateway: config.gateway,
                nameservers: config.nameservers,
                ready: flags & ready != 0,
            }
        };
        let multicast = |key: &str| {
            settings.and_then(|settings| int(settings, "connection", key)).and_then(MulticastDnsMode::from_nm)
        };
        Some(Interface {
            name: device.interface.clone(),
            mac: device.hw_address.clone(),
            device_path: Some(device.path.clone()),
            udev_path: device.udev_path.clone(),
            kind,
            enabled: settings.is_some(),
            connected: active.is_some_and(|active| matches!(active.state, ACTIVATING | ACTIVATED)),
            primary: active.is_some_and(|active| Some(active.path.as_str()) == primary_connection),
            ipv4: live(active.and_then(|active| active.ip4.as_ref()), IP4_READY),
            ipv4_setting: settings.map_or_else(IpSetting::disabled, |settings| ip_setting(settings, "ipv4")),
            ipv6: live(active.and_then(|active| active.ip6.as_ref()), IP6_READY),
            ipv6_setting: settings.map_or_else(IpSetting::disabled, |settings| ip_setting(settings, "ipv6")),
            wifi: settings.filter(|_| kind == InterfaceType::Wireless).and_then(|settings| wifi(device, settings)),
            vlan: settings.filter(|_| kind == InterfaceType::Vlan).and_then(vlan),
            mdns: multicast("mdns"),
            llmnr: multicast("llmnr"),
        })
    }
}

impl Interface {
    /// A VLAN to create on `parent` (an ethernet interface), before NetworkManager knows it:
    /// named `<parent>.<id>` as NetworkManager names its device, configured by DHCP until told
    /// otherwise.
    pub fn new_vlan(parent: &Interface, id: u32) -> Interface {
        Interface {
            name: format!("{}.{id}", parent.name),
            mac: String::new(),
            device_path: None,
            udev_path: String::new(),
            kind: InterfaceType::Vlan,
            enabled: true,
            connected: false,
            primary: false,
            ipv4: IpConfig::default(),
            ipv4_setting: IpSetting::new(InterfaceMethod::Auto),
            ipv6: IpConfig::default(),
            ipv6_setting: IpSetting::new(InterfaceMethod::Auto),
            wifi: None,
            vlan: Some(VlanConfig { id, parent: parent.name.clone() }),
            mdns: Some(MulticastDnsMode::Default),
            llmnr: Some(MulticastDnsMode::Default),
        }
    }
}

fn setting<'s>(settings: &'s Settings, section: &str, key: &str) -> Option<&'s OwnedValue> {
    settings.get(section)?.get(key)
}

/// A string setting.
pub fn text(settings: &Settings, section: &str, key: &str) -> Option<String> {
    setting(settings, section, key).and_then(|value| <&str>::try_from(&**value).ok()).map(str::to_owned)
}

fn int<T: for<'v> TryFrom<&'v dbus::zvariant::Value<'v>>>(settings: &Settings, section: &str, key: &str) -> Option<T> {
    setting(settings, section, key).and_then(|value| T::try_from(value).ok())
}

fn ip_setting(settings: &Settings, family: &str) -> IpSetting {
    let v6 = family == "ipv6";
    let method = match text(settings, family, "method").as_deref() {
        Some("auto") => InterfaceMethod::Auto,
        Some("manual") => InterfaceMethod::Static,
        _ => InterfaceMethod::Disabled,
    };
    let addresses = setting(settings, family, "address-data")
        .and_then(|data| Vec::<HashMap<String, OwnedValue>>::try_from(data.clone()).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|entry| {
            let address = <&str>::try_from(&**entry.get("address")?).ok()?.parse().ok()?;
            let prefix = u32::try_from(&**entry.get("prefix")?).ok()?;
            Some(IpInterface { address, prefix: u8::try_from(prefix).ok()? })
        })
        .collect();
    let gateway = text(settings, family, "gateway").and_then(|gateway| gateway.parse().ok());
    // IPv4 servers are `au` in network byte order, IPv6 servers `aay`.
    let nameservers = match setting(settings, family, "dns") {
        Some(dns) if v6 => Vec::<Vec<u8>>::try_from(dns.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .map(|octets| IpAddr::V6(Ipv6Addr::from(octets)))
            .collect(),
        Some(dns) => Vec::<u32>::try_from(dns.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|address| IpAddr::V4(Ipv4Addr::from(address.to_ne_bytes())))
            .collect(),
        None => Vec::new(),
    };
    IpSetting {
        method,
        addresses,
        gateway,
        route_metric: int(settings, family, "route-metric"),
        nameservers,
        addr_gen_mode: if v6 {
            AddrGenMode::from_nm(int(settings, family, "addr-gen-mode"))
        } else {
            AddrGenMode::Default
        },
        ip6_privacy: if v6 { Ip6Privacy::from_nm(int(settings, family, "ip6-privacy")) } else { Ip6Privacy::Default },
    }
}

/// The wireless settings of a profile; `None` for an authentication the API cannot express
/// (WPA-Enterprise, SAE, ...), as the real Supervisor skips those.
fn wifi(device: &Device, settings: &Settings) -> Option<WifiConfig> {
    let auth = match settings.get("802-11-wireless-security") {
        None => AuthMethod::Open,
        Some(_) => match text(settings, "802-11-wireless-security", "key-mgmt").as_deref() {
            Some("none") => AuthMethod::Wep,
            Some("wpa-psk") => AuthMethod::WpaPsk,
            other => {
                tracing::warn!("authentication {other:?} of {} is not supported, skipping", device.interface);
                return None;
            }
        },
    };
    let ssid = setting(settings, "802-11-wireless", "ssid")
        .and_then(|ssid| Vec::<u8>::try_from(ssid.clone()).ok())
        .map(|ssid| String::from_utf8_lossy(&ssid).into_owned())
        .unwrap_or_default();
    let mode = text(settings, "802-11-wireless", "mode")
        .and_then(|mode| WifiMode::from_name(&mode))
        .unwrap_or(WifiMode::Infrastructure);
    let signal =
        device.wireless.as_ref().and_then(|wireless| wireless.active_access_point.as_ref()).map(|ap| ap.strength);
    Some(WifiConfig { mode, ssid, auth, psk: text(settings, "802-11-wireless-security", "psk"), signal })
}

fn vlan(settings: &Settings) -> Option<VlanConfig> {
    Some(VlanConfig { id: int(settings, "vlan", "id")?, parent: text(settings, "vlan", "parent").unwrap_or_default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbus::network::{AccessPoint, ActiveConnection, IpAddress, Wireless};
    use dbus::zvariant::{Str, Value};

    #[test]
    fn the_document_names_the_values_the_api_takes() {
        let schema = serde_json::to_value(<AuthMethod as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["enum"], serde_json::json!(AuthMethod::NAMES));
    }

    fn owned(value: impl Into<Value<'static>>) -> OwnedValue {
        OwnedValue::try_from(value.into()).unwrap()
    }

    fn string(text: &str) -> OwnedValue {
        OwnedValue::from(Str::from(text.to_owned()))
    }

    fn profile(entries: Vec<(&str, &str, OwnedValue)>) -> Settings {
        let mut settings = Settings::new();
        for (section, key, value) in entries {
            settings.entry(section.to_owned()).or_default().insert(key.to_owned(), value);
        }
        settings
    }

    fn device(device_type: u32, settings: Option<Settings>) -> Device {
        Device {
            path: "/org/freedesktop/NetworkManager/Devices/2".into(),
            interface: "eth0".into(),
            device_type,
            managed: true,
            hw_address: "52:54:00:12:34:56".into(),
            udev_path: "pci-0000:00:1f.6".into(),
            state: 100,
            active: settings.map(|settings| ActiveConnection {
                path: "/org/freedesktop/NetworkManager/ActiveConnection/9".into(),
                state: ACTIVATED,
                state_flags: IP4_READY,
                ip4: Some(dbus::network::IpConfig {
                    addresses: vec![IpAddress { address: "192.168.1.10".into(), prefix: 24 }],
                    gateway: Some("192.168.1.1".into()),
                    nameservers: vec!["192.168.1.1".into()],
                }),
                settings: Some(settings),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_static_profile_reads_as_the_api_names_it() {
        let address =
            HashMap::from([("address".to_owned(), string("192.168.1.10")), ("prefix".to_owned(), owned(24u32))]);
        let settings = profile(vec![
            ("connection", "mdns", owned(1i32)),
            ("ipv4", "method", string("manual")),
            ("ipv4", "address-data", owned(vec![address])),
            ("ipv4", "gateway", string("192.168.1.1")),
            ("ipv4", "dns", owned(vec![u32::from_ne_bytes([1, 1, 1, 1])])),
            ("ipv4", "route-metric", owned(100i64)),
            ("ipv6", "method", string("link-local")),
            ("ipv6", "addr-gen-mode", owned(1i32)),
        ]);
        let eth0 = Interface::from_device(
            &device(1, Some(settings)),
            Some("/org/freedesktop/NetworkManager/ActiveConnection/9"),
        )
        .unwrap();
        assert!(eth0.enabled && eth0.connected && eth0.primary);
        assert_eq!(eth0.kind, InterfaceType::Ethernet);
        assert_eq!(eth0.ipv4_setting.method, InterfaceMethod::Static);
        assert_eq!(eth0.ipv4_setting.addresses[0].to_string(), "192.168.1.10/24");
        assert_eq!(eth0.ipv4_setting.nameservers, ["1.1.1.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(eth0.ipv4_setting.route_metric, Some(100));
        assert_eq!(eth0.ipv4.addresses, ["192.168.1.10/24"]);
        assert!(eth0.ipv4.ready && !eth0.ipv6.ready);
        assert_eq!(eth0.ipv6_setting.method, InterfaceMethod::Disabled);
        assert_eq!(eth0.ipv6_setting.addr_gen_mode, AddrGenMode::StablePrivacy);
        assert_eq!(eth0.ipv6_setting.ip6_privacy, Ip6Privacy::Default);
        assert_eq!((eth0.mdns, eth0.llmnr), (Some(MulticastDnsMode::Resolve), None));
    }

    #[test]
    fn without_a_profile_an_interface_is_disabled_and_unmanaged_devices_are_none() {
        let idle = Interface::from_device(&device(1, None), None).unwrap();
        assert!(!idle.enabled && !idle.connected && !idle.primary);
        assert_eq!(idle.ipv4_setting, IpSetting::disabled());
        assert_eq!(idle.ipv4, IpConfig::default());
        assert!(Interface::from_device(&device(32, None), None).is_none(), "loopback");
        assert!(Interface::from_device(&Device { managed: false, ..device(1, None) }, None).is_none());
    }

    #[test]
    fn wireless_settings_and_the_signal_of_the_access_point() {
        let settings = profile(vec![
            ("802-11-wireless", "ssid", owned(b"Home".to_vec())),
            ("802-11-wireless", "mode", string("ap")),
            ("802-11-wireless-security", "key-mgmt", string("wpa-psk")),
        ]);
        let mut wlan0 = device(2, Some(settings));
        wlan0.wireless = Some(Wireless {
            active_access_point: Some(AccessPoint { strength: 63, ..Default::default() }),
            ..Default::default()
        });
        let wifi = Interface::from_device(&wlan0, None).unwrap().wifi.unwrap();
        assert_eq!(
            wifi,
            WifiConfig {
                mode: WifiMode::Ap,
                ssid: "Home".into(),
                auth: AuthMethod::WpaPsk,
                psk: None,
                signal: Some(63)
            }
        );
        let enterprise = profile(vec![("802-11-wireless-security", "key-mgmt", string("wpa-eap"))]);
        assert_eq!(Interface::from_device(&device(2, Some(enterprise)), None).unwrap().wifi, None);
    }

    #[test]
    fn names_parse_and_print() {
        assert_eq!(AuthMethod::from_name("wpa-psk"), Some(AuthMethod::WpaPsk));
        assert_eq!(AuthMethod::from_name("web"), None);
        assert_eq!(Ip6Privacy::EnabledPreferPublic.to_string(), "enabled-prefer-public");
        assert_eq!(serde_json::to_value(AddrGenMode::DefaultOrEui64).unwrap(), "default-or-eui64");
        assert_eq!(MulticastDnsMode::from_nm(MulticastDnsMode::Off.to_nm()), Some(MulticastDnsMode::Off));
    }
}
