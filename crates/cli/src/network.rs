//! `ha network`: the host's network interfaces, changing their settings, wireless scans and
//! VLANs, with the Home Assistant CLI's commands and flags.

use crate::client::{Body, DEFAULT_TIMEOUT};
use crate::{output, parse_bool, App};
use anyhow::Result;
use clap::{ArgAction, Args, Subcommand};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

pub const LONG_ABOUT: &str = "The network command provides command line tools to control the host network that
Home Assistant is running on. It allows you to do things like change the
system network IP address, set connection options or join a Wi-Fi network.";

/// A change of an interface waits for NetworkManager to activate it, which may take a minute.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Subcommand)]
pub enum Command {
    #[command(
        visible_aliases = ["in", "inf"],
        about = "Shows information about the host network",
        long_about = "Shows information about the host network and interfaces or only from a specific interface.",
        after_help = "Examples:\n  ha network info\n  ha network info eth0"
    )]
    Info {
        /// Only this interface
        interface: Option<String>,
    },

    #[command(
        visible_alias = "re",
        about = "Reload Network information the host",
        long_about = "Reload information about the host network and interfaces.",
        after_help = "Examples:\n  ha network reload"
    )]
    Reload,

    #[command(
        visible_aliases = ["accesspoints", "wifi"],
        about = "Scan for Access Points on a wireless interface.",
        long_about = "Scan for Access Points on a specific wireless interface.\nThis function works only on a wireless interface!",
        after_help = "Examples:\n  ha network scan wlan0"
    )]
    Scan {
        /// The wireless interface
        interface: String,
    },

    #[command(
        visible_aliases = ["set", "up"],
        about = "Update settings of a network interface",
        long_about = "Update network interface settings of a specific adapter.",
        after_help = "Examples:\n  ha network update eth0 --ipv4-method auto --ipv6-method disabled"
    )]
    Update(Box<UpdateArgs>),

    #[command(
        about = "Create a new VLAN on an ethernet interface",
        long_about = "Create a new VLAN on an ethernet interface. It allows setting an initial IP config.\nThis function works only on an ethernet interface!",
        after_help = "Examples:\n  ha network vlan eth0 10 --ipv4-method auto --ipv6-method disabled"
    )]
    Vlan(Box<VlanArgs>),
}

/// The IP settings flags of `update` and `vlan`.
#[derive(Args)]
pub struct IpArgs {
    /// IPv4 address for the interface in the 192.168.1.5/24 notation. Use multiple times for multiple addresses.
    #[arg(long, value_name = "ADDRESS")]
    ipv4_address: Vec<String>,

    /// The IPv4 gateway the interface should use
    #[arg(long, value_name = "ADDRESS")]
    ipv4_gateway: Option<String>,

    /// Method on IPv4: static|auto|disabled
    #[arg(long, value_name = "METHOD")]
    ipv4_method: Option<String>,

    /// IPv4 address of upstream DNS servers. Use multiple times for multiple servers.
    #[arg(long, value_name = "ADDRESS")]
    ipv4_nameserver: Vec<String>,

    /// IPv4 route metric. Lower value has higher priority.
    // Negative values are the documented "unset" of the real CLI, so they must not read as flags.
    #[arg(long, value_name = "METRIC", allow_hyphen_values = true)]
    ipv4_route_metric: Option<i64>,

    /// IPv6 address for the interface in the 2001:db8::5/64 notation. Use multiple times for multiple addresses.
    #[arg(long, value_name = "ADDRESS")]
    ipv6_address: Vec<String>,

    /// The IPv6 gateway the interface should use
    #[arg(long, value_name = "ADDRESS")]
    ipv6_gateway: Option<String>,

    /// Method on IPv6: static|auto|disabled
    #[arg(long, value_name = "METHOD")]
    ipv6_method: Option<String>,

    /// IPv6 address generation mode: eui64|stable-privacy|default-or-eui64|default
    #[arg(long, value_name = "MODE")]
    ipv6_addr_gen_mode: Option<String>,

    /// IPv6 privacy extensions: disabled|enabled-prefer-public|enabled|default
    #[arg(long, value_name = "MODE")]
    ipv6_privacy: Option<String>,

    /// IPv6 address for upstream DNS servers. Use multiple times for multiple servers.
    #[arg(long, value_name = "ADDRESS")]
    ipv6_nameserver: Vec<String>,

    /// IPv6 route metric. Lower value has higher priority; the kernel turns 0 into 1024.
    #[arg(long, value_name = "METRIC", allow_hyphen_values = true)]
    ipv6_route_metric: Option<i64>,

    /// mDNS mode: default|off|resolve|announce
    #[arg(long, value_name = "MODE")]
    mdns: Option<String>,

    /// LLMNR mode: default|off|resolve|announce
    #[arg(long, value_name = "MODE")]
    llmnr: Option<String>,
}

#[derive(Args)]
pub struct UpdateArgs {
    /// The interface
    interface: String,

    #[command(flatten)]
    ip: IpArgs,

    /// Wifi mode: infrastructure, adhoc, mesh or ap
    #[arg(long, value_name = "MODE")]
    wifi_mode: Option<String>,

    /// SSID for wifi connection
    #[arg(long, value_name = "SSID")]
    wifi_ssid: Option<String>,

    /// Used authentication: open, wep, wpa-psk
    #[arg(long, value_name = "AUTH")]
    wifi_auth: Option<String>,

    /// Shared authentication key for wep or wpa
    #[arg(long, value_name = "KEY")]
    wifi_psk: Option<String>,

    /// Disable interface
    #[arg(short = 'e', long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = parse_bool)]
    disabled: bool,
}

#[derive(Args)]
pub struct VlanArgs {
    /// The ethernet interface
    interface: String,

    /// The VLAN id
    id: String,

    #[command(flatten)]
    ip: IpArgs,
}

/// The flags given, under their API keys; empty values count as not given, as in the real CLI.
fn section(entries: &[(&str, Value)]) -> Option<Body> {
    let given: Body = entries
        .iter()
        .filter(|(_, value)| match value {
            Value::String(text) => !text.is_empty(),
            Value::Array(items) => !items.is_empty(),
            Value::Null => false,
            _ => true,
        })
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect();
    (!given.is_empty()).then_some(given)
}

fn text(value: &Option<String>) -> Value {
    Value::String(value.clone().unwrap_or_default())
}

/// A metric that was given, else nothing: `Null` counts as not given.
fn metric(value: Option<i64>) -> Value {
    value.map_or(Value::Null, Value::from)
}

fn texts(values: &[String]) -> Value {
    Value::Array(values.iter().cloned().map(Value::String).collect())
}

impl IpArgs {
    /// Adds `ipv4`, `ipv6`, `mdns` and `llmnr` as given.
    fn add_to(&self, body: &mut Body) {
        let ipv4 = section(&[
            ("gateway", text(&self.ipv4_gateway)),
            ("method", text(&self.ipv4_method)),
            ("address", texts(&self.ipv4_address)),
            ("nameservers", texts(&self.ipv4_nameserver)),
            ("route_metric", metric(self.ipv4_route_metric)),
        ]);
        let ipv6 = section(&[
            ("gateway", text(&self.ipv6_gateway)),
            ("method", text(&self.ipv6_method)),
            ("addr_gen_mode", text(&self.ipv6_addr_gen_mode)),
            ("ip6_privacy", text(&self.ipv6_privacy)),
            ("address", texts(&self.ipv6_address)),
            ("nameservers", texts(&self.ipv6_nameserver)),
            ("route_metric", metric(self.ipv6_route_metric)),
        ]);
        for (key, value) in [("ipv4", ipv4), ("ipv6", ipv6)] {
            if let Some(value) = value {
                body.insert(key.to_owned(), Value::Object(value));
            }
        }
        if let Some(modes) = section(&[("mdns", text(&self.mdns)), ("llmnr", text(&self.llmnr))]) {
            body.extend(modes);
        }
    }
}

impl UpdateArgs {
    fn body(&self) -> Body {
        let mut body = Body::new();
        self.ip.add_to(&mut body);
        let wifi = section(&[
            ("mode", text(&self.wifi_mode)),
            ("ssid", text(&self.wifi_ssid)),
            ("auth", text(&self.wifi_auth)),
            ("psk", text(&self.wifi_psk)),
        ]);
        if let Some(wifi) = wifi {
            body.insert("wifi".to_owned(), Value::Object(wifi));
        }
        // Always sent, as the real CLI does: an update without --disabled enables the interface.
        body.insert("enabled".to_owned(), Value::Bool(!self.disabled));
        body
    }
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        match self {
            Command::Info { interface: None } => app.get(&["network", "info"]).await,
            Command::Info { interface: Some(interface) } => {
                app.get(&["network", "interface", &interface, "info"]).await
            }
            Command::Reload => app.post(&["network", "reload"], &Body::new(), DEFAULT_TIMEOUT).await,
            Command::Scan { interface } => {
                let spinner = output::Spinner::start(app.no_progress);
                let path = ["network", "interface", &interface, "accesspoints"];
                let reply = app.client.call(Method::GET, &path, &Body::new(), DEFAULT_TIMEOUT).await;
                spinner.stop();
                output::show(&reply?, app.raw_json)
            }
            Command::Update(args) => {
                app.post(&["network", "interface", &args.interface, "update"], &args.body(), CHANGE_TIMEOUT).await
            }
            Command::Vlan(args) => {
                let mut body = Body::new();
                args.ip.add_to(&mut body);
                app.post(&["network", "interface", &args.interface, "vlan", &args.id], &body, CHANGE_TIMEOUT).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::parse_command;
    use serde_json::json;

    fn body(args: &[&str]) -> Value {
        match parse_command(args) {
            Command::Update(args) => Value::Object(args.body()),
            Command::Vlan(args) => {
                let mut body = Body::new();
                args.ip.add_to(&mut body);
                Value::Object(body)
            }
            _ => panic!("not a change"),
        }
    }

    #[test]
    fn route_metrics_are_sent_as_numbers_when_given() {
        assert_eq!(
            body(&["update", "eth0", "--ipv4-route-metric", "-1", "--ipv6-route-metric=100"]),
            json!({"ipv4": {"route_metric": -1}, "ipv6": {"route_metric": 100}, "enabled": true})
        );
        assert_eq!(body(&["vlan", "eth0", "10", "--ipv4-route-metric", "0"]), json!({"ipv4": {"route_metric": 0}}));
    }

    #[test]
    fn update_flags_become_the_payload() {
        assert_eq!(
            body(&[
                "update",
                "eth0",
                "--ipv4-method",
                "static",
                "--ipv4-address",
                "192.168.1.5/24",
                "--ipv4-address",
                "10.0.0.5/8",
                "--ipv4-gateway",
                "192.168.1.1",
                "--ipv4-nameserver",
                "1.1.1.1",
                "--ipv6-method",
                "disabled",
                "--mdns",
                "resolve"
            ]),
            json!({
                "ipv4": {"method": "static", "address": ["192.168.1.5/24", "10.0.0.5/8"], "gateway": "192.168.1.1",
                         "nameservers": ["1.1.1.1"]},
                "ipv6": {"method": "disabled"},
                "mdns": "resolve",
                "enabled": true
            })
        );
        assert_eq!(
            body(&[
                "update",
                "wlan0",
                "--wifi-ssid",
                "Home",
                "--wifi-auth",
                "wpa-psk",
                "--wifi-psk",
                "secret",
                "--ipv4-gateway",
                ""
            ]),
            json!({"wifi": {"ssid": "Home", "auth": "wpa-psk", "psk": "secret"}, "enabled": true}),
            "empty values are not sent"
        );
        assert_eq!(body(&["update", "eth0", "--disabled"]), json!({"enabled": false}));
        assert_eq!(body(&["update", "eth0", "-e=false"]), json!({"enabled": true}));
    }

    #[test]
    fn vlan_flags_become_the_payload() {
        assert_eq!(body(&["vlan", "eth0", "10"]), json!({}));
        assert_eq!(
            body(&[
                "vlan",
                "eth0",
                "10",
                "--ipv6-addr-gen-mode",
                "eui64",
                "--ipv6-privacy",
                "enabled",
                "--llmnr",
                "off"
            ]),
            json!({"ipv6": {"addr_gen_mode": "eui64", "ip6_privacy": "enabled"}, "llmnr": "off"})
        );
    }
}
