//! The bodies of `/network/interface/{interface}/update` and `.../vlan/{id}`, read and checked
//! completely before anything is asked of NetworkManager. Every refusal is a 400 naming the
//! field (`ipv4.address[1]`, `wifi.mode`, ...) and what is wrong with it.

use crate::interface::{
    AddrGenMode, AuthMethod, Interface, InterfaceMethod, Ip6Privacy, IpInterface, IpSetting, MulticastDnsMode,
    WifiConfig, WifiMode,
};
use serde_json::{Map, Value};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use utoipa::ToSchema;

/// The settings of an interface to change; every part is optional.
#[derive(Debug, Default, PartialEq, ToSchema)]
pub struct InterfaceUpdate {
    #[schema(nullable = false)]
    pub ipv4: Option<IpRequest>,
    #[schema(nullable = false)]
    pub ipv6: Option<IpRequest>,
    #[schema(nullable = false)]
    pub wifi: Option<WifiRequest>,
    /// `false` removes the interface's profile (for a VLAN: the VLAN).
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    #[schema(nullable = false)]
    pub mdns: Option<MulticastDnsMode>,
    #[schema(nullable = false)]
    pub llmnr: Option<MulticastDnsMode>,
}

/// IP settings of one family.
#[derive(Debug, Default, PartialEq, ToSchema)]
pub struct IpRequest {
    #[schema(nullable = false)]
    pub method: Option<InterfaceMethod>,
    /// Addresses with prefix: `192.168.1.5/24`, `2001:db8::5/64`.
    #[schema(value_type = Option<Vec<String>>, nullable = false)]
    pub address: Option<Vec<IpInterface>>,
    #[schema(value_type = Option<String>, nullable = false)]
    pub gateway: Option<IpAddr>,
    /// The metric of the interface's default routes; -1 is NetworkManager's default.
    #[schema(nullable = false)]
    pub route_metric: Option<i64>,
    #[schema(value_type = Option<Vec<String>>, nullable = false)]
    pub nameservers: Option<Vec<IpAddr>>,
    /// IPv6 only.
    #[schema(nullable = false)]
    pub addr_gen_mode: Option<AddrGenMode>,
    /// IPv6 only.
    #[schema(nullable = false)]
    pub ip6_privacy: Option<Ip6Privacy>,
}

/// Wireless settings.
#[derive(Debug, Default, PartialEq, ToSchema)]
pub struct WifiRequest {
    #[schema(nullable = false)]
    pub mode: Option<WifiMode>,
    #[schema(nullable = false)]
    pub auth: Option<AuthMethod>,
    #[schema(nullable = false)]
    pub ssid: Option<String>,
    /// The pre-shared key for `wep` or `wpa-psk`.
    #[schema(nullable = false)]
    pub psk: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    fn max_prefix(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

fn bad(message: impl Into<String>) -> base::Error {
    base::Error::invalid(message)
}

/// The JSON type of a value, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn object(value: Value, path: &str) -> Result<Map<String, Value>, base::Error> {
    match value {
        Value::Object(object) => Ok(object),
        other => Err(bad(format!("{path}: expected an object, got {}", kind(&other)))),
    }
}

fn string(value: &Value, path: &str) -> Result<String, base::Error> {
    value.as_str().map(str::to_owned).ok_or_else(|| bad(format!("{path}: expected a string, got {}", kind(value))))
}

fn list<T>(
    value: &Value,
    path: &str,
    item: impl Fn(&Value, &str) -> Result<T, base::Error>,
) -> Result<Vec<T>, base::Error> {
    let items = value.as_array().ok_or_else(|| bad(format!("{path}: expected a list, got {}", kind(value))))?;
    items.iter().enumerate().map(|(index, value)| item(value, &format!("{path}[{index}]"))).collect()
}

/// One of the fixed names of `T`.
fn named<T>(value: &Value, path: &str, names: &[&str], parse: impl Fn(&str) -> Option<T>) -> Result<T, base::Error> {
    let text = string(value, path)?;
    parse(&text).ok_or_else(|| bad(format!("{path}: '{text}' is not one of {}", names.join(", "))))
}

fn address(value: &Value, path: &str, family: Family) -> Result<IpAddr, base::Error> {
    let text = string(value, path)?;
    let parsed = match family {
        Family::V4 => text.parse::<Ipv4Addr>().map(IpAddr::V4).ok(),
        Family::V6 => text.parse::<Ipv6Addr>().map(IpAddr::V6).ok(),
    };
    parsed.ok_or_else(|| bad(format!("{path}: '{text}' is not an {} address", family.name())))
}

/// `address/prefix`, or a bare address (a host route), or for IPv4 `address/netmask`, as
/// Python's `ipaddress` interfaces are written.
fn interface_address(value: &Value, path: &str, family: Family) -> Result<IpInterface, base::Error> {
    let text = string(value, path)?;
    let (host, prefix) = match text.split_once('/') {
        Some((host, prefix)) => (host, Some(prefix)),
        None => (text.as_str(), None),
    };
    let address = address(&Value::String(host.to_owned()), path, family)?;
    let prefix = match prefix {
        None => family.max_prefix(),
        Some(prefix) => prefix_length(prefix, family).ok_or_else(|| {
            bad(format!("{path}: '{prefix}' in '{text}' is not a prefix length (0 to {})", family.max_prefix()))
        })?,
    };
    Ok(IpInterface { address, prefix })
}

fn prefix_length(text: &str, family: Family) -> Option<u8> {
    if let Ok(length) = text.parse::<u8>() {
        return (length <= family.max_prefix()).then_some(length);
    }
    if family != Family::V4 {
        return None;
    }
    let mask = u32::from(text.parse::<Ipv4Addr>().ok()?);
    // A netmask is ones, then zeros.
    (mask.leading_ones() == mask.count_ones()).then(|| mask.count_ones() as u8)
}

fn parse_ip(value: Value, path: &str, family: Family) -> Result<IpRequest, base::Error> {
    let mut request = IpRequest::default();
    for (key, value) in object(value, path)? {
        let field = format!("{path}.{key}");
        match key.as_str() {
            "method" => {
                request.method = Some(named(&value, &field, InterfaceMethod::NAMES, InterfaceMethod::from_name)?)
            }
            "address" => {
                request.address = Some(list(&value, &field, |item, at| interface_address(item, at, family))?);
            }
            "gateway" => request.gateway = Some(address(&value, &field, family)?),
            "route_metric" => {
                // NetworkManager's range; -1 is its default.
                let metric = value.as_i64().filter(|metric| (-1..=i64::from(u32::MAX)).contains(metric));
                request.route_metric =
                    Some(metric.ok_or_else(|| bad(format!("{field}: expected a whole number from -1 to 4294967295")))?);
            }
            "nameservers" => request.nameservers = Some(list(&value, &field, |item, at| address(item, at, family))?),
            "addr_gen_mode" if family == Family::V6 => {
                request.addr_gen_mode = Some(named(&value, &field, AddrGenMode::NAMES, AddrGenMode::from_name)?);
            }
            "ip6_privacy" if family == Family::V6 => {
                request.ip6_privacy = Some(named(&value, &field, Ip6Privacy::NAMES, Ip6Privacy::from_name)?);
            }
            _ => return Err(bad(format!("{field}: unknown option"))),
        }
    }
    Ok(request)
}

fn parse_wifi(value: Value) -> Result<WifiRequest, base::Error> {
    let mut request = WifiRequest::default();
    for (key, value) in object(value, "wifi")? {
        let field = format!("wifi.{key}");
        match key.as_str() {
            "mode" => request.mode = Some(named(&value, &field, WifiMode::NAMES, WifiMode::from_name)?),
            "auth" => request.auth = Some(named(&value, &field, AuthMethod::NAMES, AuthMethod::from_name)?),
            "ssid" => request.ssid = Some(string(&value, &field)?),
            "psk" => request.psk = Some(string(&value, &field)?),
            _ => return Err(bad(format!("{field}: unknown option"))),
        }
    }
    Ok(request)
}

impl TryFrom<Map<String, Value>> for InterfaceUpdate {
    type Error = base::Error;

    fn try_from(body: Map<String, Value>) -> Result<Self, base::Error> {
        let mut update = InterfaceUpdate::default();
        for (key, value) in body {
            match key.as_str() {
                "ipv4" => update.ipv4 = Some(parse_ip(value, "ipv4", Family::V4)?),
                "ipv6" => update.ipv6 = Some(parse_ip(value, "ipv6", Family::V6)?),
                "wifi" => update.wifi = Some(parse_wifi(value)?),
                "enabled" => {
                    update.enabled = Some(
                        value
                            .as_bool()
                            .ok_or_else(|| bad(format!("enabled: expected a boolean, got {}", kind(&value))))?,
                    );
                }
                "mdns" => {
                    update.mdns = Some(named(&value, "mdns", MulticastDnsMode::NAMES, MulticastDnsMode::from_name)?)
                }
                "llmnr" => {
                    update.llmnr = Some(named(&value, "llmnr", MulticastDnsMode::NAMES, MulticastDnsMode::from_name)?);
                }
                _ => return Err(bad(format!("{key}: unknown option"))),
            }
        }
        Ok(update)
    }
}

impl InterfaceUpdate {
    pub fn is_empty(&self) -> bool {
        *self == InterfaceUpdate::default()
    }

    /// Changes `interface` as asked. A family's setting is replaced as a whole, what is not
    /// given at its default (the method: `static`), and so is the wireless configuration, as
    /// the real Supervisor does; what is not asked for stays as the profile has it.
    pub fn apply_to(&self, interface: &mut Interface) -> Result<(), base::Error> {
        if let Some(ipv4) = &self.ipv4 {
            interface.ipv4_setting = ipv4.setting("ipv4", InterfaceMethod::Static)?;
        }
        if let Some(ipv6) = &self.ipv6 {
            interface.ipv6_setting = ipv6.setting("ipv6", InterfaceMethod::Static)?;
        }
        if let Some(wifi) = &self.wifi {
            interface.wifi = Some(wifi.config());
        }
        if let Some(enabled) = self.enabled {
            interface.enabled = enabled;
        }
        if let Some(mdns) = self.mdns {
            interface.mdns = Some(mdns);
        }
        if let Some(llmnr) = self.llmnr {
            interface.llmnr = Some(llmnr);
        }
        Ok(())
    }

    /// Configures a VLAN to create: its IP settings (the method: `auto` when not given) and
    /// multicast modes; being enabled and wireless do not apply to it.
    pub fn apply_to_vlan(&self, vlan: &mut Interface) -> Result<(), base::Error> {
        if let Some(ipv4) = &self.ipv4 {
            vlan.ipv4_setting = ipv4.setting("ipv4", InterfaceMethod::Auto)?;
        }
        if let Some(ipv6) = &self.ipv6 {
            vlan.ipv6_setting = ipv6.setting("ipv6", InterfaceMethod::Auto)?;
        }
        if let Some(mdns) = self.mdns {
            vlan.mdns = Some(mdns);
        }
        if let Some(llmnr) = self.llmnr {
            vlan.llmnr = Some(llmnr);
        }
        Ok(())
    }
}

impl IpRequest {
    /// The setting this request asks for, missing parts at their defaults (`method`: the given
    /// `default_method`), as the real Supervisor replaces a family's setting as a whole. A static
    /// setting needs an address: NetworkManager would refuse it later, after the request was
    /// taken.
    pub fn setting(&self, path: &str, default_method: InterfaceMethod) -> Result<IpSetting, base::Error> {
        let method = self.method.unwrap_or(default_method);
        let addresses = self.address.clone().unwrap_or_default();
        if method == InterfaceMethod::Static && addresses.is_empty() {
            return Err(bad(format!("{path}.address: at least one address is required when method is static")));
        }
        Ok(IpSetting {
            method,
            addresses,
            gateway: self.gateway,
            route_metric: self.route_metric,
            nameservers: self.nameservers.clone().unwrap_or_default(),
            addr_gen_mode: self.addr_gen_mode.unwrap_or(AddrGenMode::Default),
            ip6_privacy: self.ip6_privacy.unwrap_or(Ip6Privacy::Default),
        })
    }
}

impl WifiRequest {
    /// The wireless configuration asked for, missing parts at their defaults.
    pub fn config(&self) -> WifiConfig {
        WifiConfig {
            mode: self.mode.unwrap_or(WifiMode::Infrastructure),
            ssid: self.ssid.clone().unwrap_or_default(),
            auth: self.auth.unwrap_or(AuthMethod::Open),
            psk: self.psk.clone(),
            signal: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<InterfaceUpdate, String> {
        let Value::Object(body) = body else { panic!("an object") };
        InterfaceUpdate::try_from(body).map_err(|error| {
            assert_eq!(error.kind, base::Kind::Invalid);
            error.message
        })
    }

    #[test]
    fn a_full_update_is_read() {
        let update = parse(json!({
            "ipv4": {"method": "static", "address": ["192.168.1.5/24", "10.0.0.2"], "gateway": "192.168.1.1",
                     "nameservers": ["1.1.1.1"], "route_metric": 100},
            "ipv6": {"method": "auto", "addr_gen_mode": "stable-privacy", "ip6_privacy": "enabled"},
            "wifi": {"mode": "ap", "auth": "wpa-psk", "ssid": "Home", "psk": "secret123"},
            "enabled": true, "mdns": "resolve", "llmnr": "off"
        }))
        .unwrap();
        let ipv4 = update.ipv4.as_ref().unwrap();
        let addresses: Vec<String> = ipv4.address.as_ref().unwrap().iter().map(ToString::to_string).collect();
        assert_eq!(addresses, ["192.168.1.5/24", "10.0.0.2/32"]);
        assert_eq!(ipv4.route_metric, Some(100));
        let ipv6 = update.ipv6.as_ref().unwrap();
        assert_eq!(
            (ipv6.addr_gen_mode, ipv6.ip6_privacy),
            (Some(AddrGenMode::StablePrivacy), Some(Ip6Privacy::Enabled))
        );
        assert_eq!(update.wifi.as_ref().unwrap().config().mode, WifiMode::Ap);
        assert_eq!(
            (update.enabled, update.mdns, update.llmnr),
            (Some(true), Some(MulticastDnsMode::Resolve), Some(MulticastDnsMode::Off))
        );
        assert!(parse(json!({})).unwrap().is_empty());
    }

    #[test]
    fn every_refusal_names_its_field() {
        let cases = [
            (
                json!({"ipv4": {"address": ["192.168.1.300/24"]}}),
                "ipv4.address[0]: '192.168.1.300' is not an IPv4 address",
            ),
            (
                json!({"ipv4": {"address": ["192.168.1.5/33"]}}),
                "ipv4.address[0]: '33' in '192.168.1.5/33' is not a prefix length (0 to 32)",
            ),
            (json!({"ipv4": {"address": ["10.0.0.1/24", 5]}}), "ipv4.address[1]: expected a string, got a number"),
            (json!({"ipv4": {"address": "10.0.0.1/24"}}), "ipv4.address: expected a list, got a string"),
            (json!({"ipv4": {"gateway": "fe80::1"}}), "ipv4.gateway: 'fe80::1' is not an IPv4 address"),
            (json!({"ipv4": {"method": "dhcp"}}), "ipv4.method: 'dhcp' is not one of disabled, static, auto"),
            (json!({"ipv4": {"addr_gen_mode": "eui64"}}), "ipv4.addr_gen_mode: unknown option"),
            (json!({"ipv4": {"route_metric": -2}}), "ipv4.route_metric: expected a whole number from -1 to 4294967295"),
            (json!({"ipv4": "auto"}), "ipv4: expected an object, got a string"),
            (
                json!({"ipv6": {"address": ["2001:db8::1/129"]}}),
                "ipv6.address[0]: '129' in '2001:db8::1/129' is not a prefix length (0 to 128)",
            ),
            (json!({"ipv6": {"nameservers": ["1.1.1.1"]}}), "ipv6.nameservers[0]: '1.1.1.1' is not an IPv6 address"),
            (
                json!({"ipv6": {"ip6_privacy": "on"}}),
                "ipv6.ip6_privacy: 'on' is not one of default, disabled, enabled-prefer-public, enabled",
            ),
            (
                json!({"wifi": {"mode": "monitor"}}),
                "wifi.mode: 'monitor' is not one of infrastructure, mesh, adhoc, ap",
            ),
            (json!({"wifi": {"auth": "wpa3"}}), "wifi.auth: 'wpa3' is not one of open, wep, wpa-psk"),
            (json!({"wifi": {"channel": 6}}), "wifi.channel: unknown option"),
            (json!({"enabled": "yes"}), "enabled: expected a boolean, got a string"),
            (json!({"mdns": "loud"}), "mdns: 'loud' is not one of default, off, resolve, announce"),
            (json!({"bogus": 1}), "bogus: unknown option"),
        ];
        for (body, message) in cases {
            assert_eq!(parse(body.clone()).unwrap_err(), message, "{body}");
        }
    }

    #[test]
    fn netmasks_are_prefixes_and_settings_take_defaults() {
        let update = parse(json!({"ipv4": {"address": ["192.168.1.5/255.255.255.0"]}})).unwrap();
        let ipv4 = update.ipv4.unwrap();
        assert_eq!(ipv4.address.as_ref().unwrap()[0].prefix, 24);
        assert!(parse(json!({"ipv4": {"address": ["192.168.1.5/255.0.255.0"]}})).is_err());
        let setting = ipv4.setting("ipv4", InterfaceMethod::Static).unwrap();
        assert_eq!((setting.method, setting.gateway, setting.nameservers.len()), (InterfaceMethod::Static, None, 0));
        let bare = IpRequest { method: Some(InterfaceMethod::Static), ..Default::default() };
        assert_eq!(
            bare.setting("ipv6", InterfaceMethod::Auto).unwrap_err().message,
            "ipv6.address: at least one address is required when method is static"
        );
        assert_eq!(IpRequest::default().setting("ipv4", InterfaceMethod::Auto).unwrap().method, InterfaceMethod::Auto);
        let wifi = WifiRequest::default().config();
        assert_eq!((wifi.mode, wifi.auth, wifi.ssid.as_str()), (WifiMode::Infrastructure, AuthMethod::Open, ""));
    }

    fn eth0() -> Interface {
        let device =
            dbus::network::Device { interface: "eth0".into(), device_type: 1, managed: true, ..Default::default() };
        let mut eth0 = Interface::from_device(&device, None).unwrap();
        eth0.ipv6_setting = IpSetting::new(InterfaceMethod::Auto);
        eth0
    }

    #[test]
    fn an_update_replaces_what_it_names_and_keeps_the_rest() {
        let mut interface = eth0();
        let update = parse(json!({"ipv4": {"address": ["192.168.1.5/24"]}, "enabled": true, "llmnr": "off"})).unwrap();
        update.apply_to(&mut interface).unwrap();
        assert_eq!(interface.ipv4_setting.method, InterfaceMethod::Static, "the method defaults to static");
        assert_eq!(interface.ipv6_setting.method, InterfaceMethod::Auto, "IPv6 was not named");
        assert!(interface.enabled);
        assert_eq!((interface.mdns, interface.llmnr), (None, Some(MulticastDnsMode::Off)));
        let wifi = parse(json!({"wifi": {"ssid": "Home"}})).unwrap();
        wifi.apply_to(&mut interface).unwrap();
        assert_eq!(interface.wifi.as_ref().map(|wifi| wifi.ssid.as_str()), Some("Home"));

        let mut vlan = Interface::new_vlan(&eth0(), 10);
        let update =
            parse(json!({"ipv6": {"address": ["2001:db8::5/64"]}, "enabled": false, "wifi": {"ssid": "x"}})).unwrap();
        update.apply_to_vlan(&mut vlan).unwrap();
        assert_eq!(vlan.name, "eth0.10");
        assert_eq!(vlan.ipv4_setting.method, InterfaceMethod::Auto);
        assert_eq!(vlan.ipv6_setting.method, InterfaceMethod::Auto, "the method defaults to auto for a VLAN");
        assert_eq!(vlan.ipv6_setting.addresses[0].to_string(), "2001:db8::5/64");
        assert!(vlan.enabled && vlan.wifi.is_none(), "neither applies to a new VLAN");
        assert_eq!(vlan.mdns, Some(MulticastDnsMode::Default));
    }
}
