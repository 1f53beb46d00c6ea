//! NetworkManager connection profiles written from an [`Interface`]: the settings document
//! (`a{sa{sv}}`) the supervisor creates or updates a profile with, named `Supervisor <interface>`
//! as the real Supervisor names its profiles, and the merge of those settings into a profile
//! that exists (what the supervisor does not manage in it is kept).

use crate::interface::{
    AddrGenMode, AuthMethod, Interface, InterfaceMethod, InterfaceType, IpSetting, MulticastDnsMode,
};
use dbus::network::Settings;
use dbus::zvariant::{OwnedValue, Str, Value};
use std::collections::HashMap;
use std::net::IpAddr;

/// The keys of a profile's `ipv4`/`ipv6` section that the supervisor's settings replace as a
/// whole: an address list or method of the old settings must not survive next to new ones.
const IP_REPLACED: [&str; 8] =
    ["addresses", "address-data", "dns", "dns-data", "gateway", "method", "addr-gen-mode", "ip6-privacy"];

/// The NetworkManager release from which `addr-gen-mode` knows `default-or-eui64` and `default`.
const ADDR_GEN_MODE_DEFAULTS: [u32; 3] = [1, 40, 0];

fn text(text: impl Into<String>) -> OwnedValue {
    OwnedValue::from(Str::from(text.into()))
}

fn value(value: impl Into<Value<'static>>) -> OwnedValue {
    OwnedValue::try_from(value.into()).expect("settings hold no file descriptors")
}

fn section(entries: Vec<(&str, OwnedValue)>) -> HashMap<String, OwnedValue> {
    entries.into_iter().map(|(key, value)| (key.to_owned(), value)).collect()
}

/// Whether NetworkManager `version` (`1.42.4`) is at least `minimum`.
fn at_least(version: &str, minimum: [u32; 3]) -> bool {
    let mut parts = version.split(['.', '-']).map(|part| part.parse::<u32>().unwrap_or(0));
    let parsed = [parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0)];
    parsed >= minimum
}

/// The profile for `interface`. `existing` is the `(id, uuid)` of the profile being updated, whose
/// UUID is kept (and its name, when the supervisor gave it); `vlan_parent` is what the profile
/// of a VLAN names its parent by (the UUID of the parent's profile, else its interface name).
pub fn connection_settings(
    interface: &Interface,
    existing: Option<(&str, &str)>,
    vlan_parent: Option<&str>,
    nm_version: &str,
) -> Settings {
    let name = match existing {
        Some((id, _)) if id.starts_with("Supervisor") => id.to_owned(),
        _ => format!("Supervisor {}", interface.name),
    };
    let uuid = existing.map_or_else(|| uuid::Uuid::new_v4().to_string(), |(_, uuid)| uuid.to_owned());
    let kind = match interface.kind {
        InterfaceType::Ethernet => "802-3-ethernet",
        InterfaceType::Wireless => "802-11-wireless",
        InterfaceType::Vlan => "vlan",
    };
    // Without a setting of their own, hosts announce themselves, as they always have.
    let multicast = |mode: Option<MulticastDnsMode>| value(mode.unwrap_or(MulticastDnsMode::Announce).to_nm());
    let mut connection = section(vec![
        ("id", text(name)),
        ("uuid", text(uuid)),
        ("type", text(kind)),
        ("llmnr", multicast(interface.llmnr)),
        ("mdns", multicast(interface.mdns)),
        ("autoconnect", value(true)),
    ]);
    let mut settings = Settings::new();
    if interface.kind != InterfaceType::Vlan {
        // By the device's place on the bus where udev knows it: names can change, places do not.
        if interface.udev_path.is_empty() {
            connection.insert("interface-name".to_owned(), text(&interface.name));
        } else {
            settings.insert("match".to_owned(), section(vec![("path", value(vec![interface.udev_path.clone()]))]));
        }
    }
    settings.insert("connection".to_owned(), connection);
    settings.insert("ipv4".to_owned(), ipv4(&interface.ipv4_setting));
    settings.insert("ipv6".to_owned(), ipv6(&interface.ipv6_setting, at_least(nm_version, ADDR_GEN_MODE_DEFAULTS)));
    match interface.kind {
        InterfaceType::Ethernet => {
            settings.insert("802-3-ethernet".to_owned(), section(vec![("assigned-mac-address", text("preserve"))]));
        }
        InterfaceType::Vlan => {
            let vlan = interface.vlan.as_ref().expect("a VLAN interface has its VLAN");
            let parent = vlan_parent.unwrap_or(&vlan.parent);
            settings.insert("vlan".to_owned(), section(vec![("id", value(vlan.id)), ("parent", text(parent))]));
        }
        InterfaceType::Wireless => wireless(interface, &mut settings),
    }
    settings
}

fn address_data(setting: &IpSetting) -> OwnedValue {
    let entries: Vec<HashMap<String, OwnedValue>> = setting
        .addresses
        .iter()
        .map(|address| {
            section(vec![("address", text(address.address.to_string())), ("prefix", value(u32::from(address.prefix)))])
        })
        .collect();
    value(entries)
}

/// The parts both families share: addresses and gateway of a static setting, the route metric,
/// and the DNS servers (`dns`, written by the caller, whose type differs by family).
fn ip_common(setting: &IpSetting, section: &mut HashMap<String, OwnedValue>) {
    if setting.method == InterfaceMethod::Static {
        section.insert("address-data".to_owned(), address_data(setting));
        if let Some(gateway) = setting.gateway {
            section.insert("gateway".to_owned(), text(gateway.to_string()));
        }
    }
    if let Some(metric) = setting.route_metric {
        section.insert("route-metric".to_owned(), value(metric));
    }
}

fn has_dns(setting: &IpSetting) -> bool {
    !setting.nameservers.is_empty() && matches!(setting.method, InterfaceMethod::Auto | InterfaceMethod::Static)
}

fn ipv4(setting: &IpSetting) -> HashMap<String, OwnedValue> {
    let method = match setting.method {
        InterfaceMethod::Auto => "auto",
        InterfaceMethod::Disabled => "disabled",
        InterfaceMethod::Static => "manual",
    };
    let mut section = section(vec![("method", text(method))]);
    ip_common(setting, &mut section);
    if has_dns(setting) {
        // `au`, each address in network byte order.
        let servers: Vec<u32> = setting
            .nameservers
            .iter()
            .filter_map(|server| match server {
                IpAddr::V4(v4) => Some(u32::from_ne_bytes(v4.octets())),
                IpAddr::V6(_) => None,
            })
            .collect();
        section.insert("dns".to_owned(), value(servers));
    }
    section
}

/// `defaults_known`: NetworkManager understands `addr-gen-mode` 2 and 3; older ones get
/// stable-privacy for anything but EUI-64.
fn ipv6(setting: &IpSetting, defaults_known: bool) -> HashMap<String, OwnedValue> {
    let mut section = match setting.method {
        InterfaceMethod::Auto => {
            let addr_gen_mode = match setting.addr_gen_mode {
                AddrGenMode::Eui64 => 0,
                AddrGenMode::StablePrivacy => 1,
                _ if !defaults_known => 1,
                AddrGenMode::DefaultOrEui64 => 2,
                AddrGenMode::Default => 3,
            };
            section(vec![
                ("method", text("auto")),
                ("addr-gen-mode", value(addr_gen_mode)),
                ("ip6-privacy", value(setting.ip6_privacy.to_nm())),
            ])
        }
        // A host always keeps its link-local address.
        InterfaceMethod::Disabled => section(vec![("method", text("link-local"))]),
        InterfaceMethod::Static => section(vec![("method", text("manual"))]),
    };
    ip_common(setting, &mut section);
    if has_dns(setting) {
        let servers: Vec<Vec<u8>> = setting
            .nameservers
            .iter()
            .filter_map(|server| match server {
                IpAddr::V6(v6) => Some(v6.octets().to_vec()),
                IpAddr::V4(_) => None,
            })
            .collect();
        section.insert("dns".to_owned(), value(servers));
    }
    section
}

fn wireless(interface: &Interface, settings: &mut Settings) {
    let wifi = interface.wifi.as_ref();
    let mut wireless = section(vec![
        ("assigned-mac-address", text("preserve")),
        ("mode", text(wifi.map_or("infrastructure", |wifi| wifi.mode.as_str()))),
        // NM_SETTING_WIRELESS_POWERSAVE_DISABLE: a server answers at once.
        ("powersave", value(1i32)),
    ]);
    if let Some(ssid) = wifi.map(|wifi| wifi.ssid.as_bytes()).filter(|ssid| !ssid.is_empty()) {
        wireless.insert("ssid".to_owned(), value(ssid.to_vec()));
    }
    if let Some(wifi) = wifi.filter(|wifi| wifi.auth != AuthMethod::Open) {
        wireless.insert("security".to_owned(), text("802-11-wireless-security"));
        let key_mgmt = if wifi.auth == AuthMethod::Wep { "none" } else { "wpa-psk" };
        let mut security = section(vec![("auth-alg", text("open")), ("key-mgmt", text(key_mgmt))]);
        if let Some(psk) = &wifi.psk {
            security.insert("psk".to_owned(), text(psk));
        }
        settings.insert("802-11-wireless-security".to_owned(), security);
    }
    settings.insert("802-11-wireless".to_owned(), wireless);
}

/// `new` merged into the profile's `current` settings, section by section: a section the
/// supervisor writes takes its keys over the current ones (and for `ipv4`/`ipv6` replaces the
/// addressing as a whole); the profile's interface name gives way to a `match` of the new one;
/// sections it does not write are kept.
pub fn merge(current: &Settings, new: &Settings) -> Settings {
    let mut merged = current.clone();
    for (name, section) in new {
        let target = merged.entry(name.clone()).or_default();
        match name.as_str() {
            "connection" => {
                target.remove("interface-name");
            }
            "ipv4" | "ipv6" => target.retain(|key, _| !IP_REPLACED.contains(&key.as_str())),
            _ => {}
        }
        target.extend(section.iter().map(|(key, value)| (key.clone(), value.clone())));
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::{Ip6Privacy, IpConfig, IpInterface, VlanConfig, WifiConfig, WifiMode};

    fn interface(kind: InterfaceType) -> Interface {
        Interface {
            name: "eth0".into(),
            mac: String::new(),
            device_path: None,
            udev_path: "pci-0000:00:1f.6".into(),
            kind,
            enabled: true,
            connected: true,
            primary: true,
            ipv4: IpConfig::default(),
            ipv4_setting: IpSetting::new(InterfaceMethod::Auto),
            ipv6: IpConfig::default(),
            ipv6_setting: IpSetting::new(InterfaceMethod::Auto),
            wifi: None,
            vlan: None,
            mdns: None,
            llmnr: Some(MulticastDnsMode::Off),
        }
    }

    fn get<'s>(settings: &'s Settings, section: &str, key: &str) -> &'s OwnedValue {
        settings.get(section).and_then(|section| section.get(key)).unwrap_or_else(|| panic!("{section}.{key}"))
    }

    fn string(settings: &Settings, section: &str, key: &str) -> String {
        <&str>::try_from(&**get(settings, section, key)).unwrap().to_owned()
    }

    #[test]
    fn a_static_ethernet_profile() {
        let mut eth0 = interface(InterfaceType::Ethernet);
        eth0.ipv4_setting = IpSetting {
            addresses: vec![IpInterface { address: "192.168.1.5".parse().unwrap(), prefix: 24 }],
            gateway: Some("192.168.1.1".parse().unwrap()),
            nameservers: vec!["1.1.1.1".parse().unwrap()],
            route_metric: Some(50),
            ..IpSetting::new(InterfaceMethod::Static)
        };
        eth0.ipv6_setting = IpSetting::new(InterfaceMethod::Disabled);
        let settings = connection_settings(&eth0, Some(("Wired connection 1", "u-1")), None, "1.42.4");
        assert_eq!(string(&settings, "connection", "id"), "Supervisor eth0");
        assert_eq!(string(&settings, "connection", "uuid"), "u-1");
        assert_eq!(string(&settings, "connection", "type"), "802-3-ethernet");
        assert_eq!(i32::try_from(&**get(&settings, "connection", "mdns")).unwrap(), 2, "announce by default");
        assert_eq!(i32::try_from(&**get(&settings, "connection", "llmnr")).unwrap(), 0);
        assert_eq!(Vec::<String>::try_from(get(&settings, "match", "path").clone()).unwrap(), ["pci-0000:00:1f.6"]);
        assert_eq!(string(&settings, "ipv4", "method"), "manual");
        assert_eq!(string(&settings, "ipv4", "gateway"), "192.168.1.1");
        assert_eq!(
            Vec::<u32>::try_from(get(&settings, "ipv4", "dns").clone()).unwrap(),
            [u32::from_ne_bytes([1, 1, 1, 1])]
        );
        assert_eq!(i64::try_from(&**get(&settings, "ipv4", "route-metric")).unwrap(), 50);
        let addresses =
            Vec::<HashMap<String, OwnedValue>>::try_from(get(&settings, "ipv4", "address-data").clone()).unwrap();
        assert_eq!(<&str>::try_from(&*addresses[0]["address"]).unwrap(), "192.168.1.5");
        assert_eq!(u32::try_from(&*addresses[0]["prefix"]).unwrap(), 24);
        assert_eq!(string(&settings, "ipv6", "method"), "link-local");
        assert_eq!(string(&settings, "802-3-ethernet", "assigned-mac-address"), "preserve");
        let named = connection_settings(&eth0, Some(("Supervisor eth0 (old)", "u-1")), None, "1.42.4");
        assert_eq!(string(&named, "connection", "id"), "Supervisor eth0 (old)");
    }

    #[test]
    fn ipv6_auto_writes_its_modes_as_this_networkmanager_knows_them() {
        let mut eth0 = interface(InterfaceType::Ethernet);
        eth0.udev_path.clear();
        eth0.ipv6_setting.ip6_privacy = Ip6Privacy::Enabled;
        let new = connection_settings(&eth0, None, None, "1.42.4");
        assert_eq!(i32::try_from(&**get(&new, "ipv6", "addr-gen-mode")).unwrap(), 3);
        assert_eq!(i32::try_from(&**get(&new, "ipv6", "ip6-privacy")).unwrap(), 2);
        assert_eq!(string(&new, "connection", "interface-name"), "eth0", "no udev path: matched by name");
        assert!(!new.contains_key("match"));
        let old = connection_settings(&eth0, None, None, "1.38.6");
        assert_eq!(i32::try_from(&**get(&old, "ipv6", "addr-gen-mode")).unwrap(), 1);
        assert_ne!(string(&new, "connection", "uuid"), string(&old, "connection", "uuid"), "new profiles, new UUIDs");
    }

    #[test]
    fn wireless_and_vlan_profiles() {
        let mut wlan0 = interface(InterfaceType::Wireless);
        wlan0.name = "wlan0".into();
        wlan0.wifi = Some(WifiConfig {
            mode: WifiMode::Mesh,
            ssid: "Home".into(),
            auth: AuthMethod::WpaPsk,
            psk: Some("secret123".into()),
            signal: None,
        });
        let settings = connection_settings(&wlan0, None, None, "1.42.4");
        assert_eq!(Vec::<u8>::try_from(get(&settings, "802-11-wireless", "ssid").clone()).unwrap(), b"Home");
        assert_eq!(string(&settings, "802-11-wireless", "mode"), "mesh");
        assert_eq!(string(&settings, "802-11-wireless", "security"), "802-11-wireless-security");
        assert_eq!(string(&settings, "802-11-wireless-security", "key-mgmt"), "wpa-psk");
        assert_eq!(string(&settings, "802-11-wireless-security", "psk"), "secret123");

        let mut vlan = interface(InterfaceType::Vlan);
        vlan.name = "eth0.10".into();
        vlan.vlan = Some(VlanConfig { id: 10, parent: "eth0".into() });
        let settings = connection_settings(&vlan, None, Some("parent-uuid"), "1.42.4");
        assert_eq!(string(&settings, "connection", "id"), "Supervisor eth0.10");
        assert_eq!(string(&settings, "vlan", "parent"), "parent-uuid");
        assert_eq!(u32::try_from(&**get(&settings, "vlan", "id")).unwrap(), 10);
        assert!(!settings.contains_key("match") && !settings["connection"].contains_key("interface-name"));
    }

    #[test]
    fn merging_replaces_the_addressing_and_keeps_the_rest() {
        let current: Settings = HashMap::from([
            (
                "connection".to_owned(),
                section(vec![
                    ("id", text("Wired connection 1")),
                    ("interface-name", text("eth0")),
                    ("zone", text("home")),
                ]),
            ),
            (
                "ipv4".to_owned(),
                section(vec![("method", text("manual")), ("gateway", text("10.0.0.1")), ("may-fail", value(false))]),
            ),
            ("proxy".to_owned(), HashMap::new()),
        ]);
        let new: Settings = HashMap::from([
            ("connection".to_owned(), section(vec![("id", text("Supervisor eth0"))])),
            ("ipv4".to_owned(), section(vec![("method", text("auto"))])),
        ]);
        let merged = merge(&current, &new);
        assert_eq!(string(&merged, "connection", "id"), "Supervisor eth0");
        assert_eq!(string(&merged, "connection", "zone"), "home");
        assert!(!merged["connection"].contains_key("interface-name"));
        assert_eq!(string(&merged, "ipv4", "method"), "auto");
        assert!(!merged["ipv4"].contains_key("gateway"));
        assert!(!bool::try_from(&**get(&merged, "ipv4", "may-fail")).unwrap());
        assert!(merged.contains_key("proxy"));
        assert_eq!(merge(&merged, &new), merged, "merging again changes nothing");
    }
}
