//! What the supervisor tells the dns plugin, as files in its config folder (the contract of
//! `plugins/dns`): `dns.json` (where to forward, in order: the user's servers, the host's
//! resolvers, then the fallback) and `hosts` (the names the plugin answers itself: the
//! supervisor, Core, the plugins and the running add-ons, each also under `local.hass.io`);
//! and what the plugin tells the supervisor: `loops.json` (the upstreams that send its queries
//! back to it). Pure, so the formats are tested without a container.

use docker::DNS_SUFFIX;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// Tried last when `fallback` is on (the real plugin falls back to Cloudflare too).
pub const FALLBACK_SERVERS: [&str; 2] = ["dns://1.1.1.1", "dns://1.0.0.1"];
/// At most this many user servers, as the real schema allows.
const MAX_SERVERS: usize = 8;

/// Checks one user server as the real Supervisor does: `dns://` and an IPv4 address (the
/// container network has no IPv6 to reach others with).
pub fn validate_server(url: &str) -> Result<(), String> {
    let address = url
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case("dns://"))
        .map(|_| &url[6..])
        .ok_or_else(|| format!("{url:?} doesn't start with dns://"))?;
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => Ok(()),
        Ok(IpAddr::V6(_)) => Err(format!("{url:?}: only IPv4 is working for DNS")),
        Err(_) => Err(format!("{url:?} is not a DNS URL: dns:// and an IP address")),
    }
}

/// Checks the whole list; the error names the first bad server.
pub fn validate_servers(servers: &[String]) -> Result<(), String> {
    if servers.len() > MAX_SERVERS {
        return Err(format!("at most {MAX_SERVERS} servers, got {}", servers.len()));
    }
    servers.iter().try_for_each(|server| validate_server(server))
}

/// The file the plugin names the upstreams that loop in.
pub const LOOPS_FILE: &str = "loops.json";

/// The upstreams `loops.json` names (`{"looping": [...]}`); `None` for what is not that.
pub fn looping(text: &str) -> Option<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Loops {
        looping: Vec<String>,
    }
    serde_json::from_str::<Loops>(text).ok().map(|loops| loops.looping)
}

/// `dns.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForwardConfig {
    pub servers: Vec<String>,
    pub locals: Vec<String>,
    pub fallback: bool,
    pub fallback_servers: Vec<String>,
    pub debug: bool,
}

impl ForwardConfig {
    pub fn new(servers: Vec<String>, locals: Vec<String>, fallback: bool, debug: bool) -> Self {
        ForwardConfig {
            servers,
            locals,
            fallback,
            fallback_servers: FALLBACK_SERVERS.map(str::to_owned).to_vec(),
            debug,
        }
    }
}

/// One line of `hosts`: an address and its names, each given once plain and once under
/// [`DNS_SUFFIX`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub address: Ipv4Addr,
    pub names: Vec<String>,
}

impl HostEntry {
    pub fn new(address: Ipv4Addr, names: &[&str]) -> Self {
        HostEntry { address, names: names.iter().map(|name| (*name).to_owned()).collect() }
    }
}

/// The `hosts` file: one `IP name name.local.hass.io ...` line per entry, in order.
pub fn render_hosts(entries: &[HostEntry]) -> String {
    let mut text = String::new();
    for entry in entries {
        text.push_str(&entry.address.to_string());
        for name in &entry.names {
            text.push_str(&format!(" {name} {name}.{DNS_SUFFIX}"));
        }
        text.push('\n');
    }
    text
}

/// The host's resolvers as `dns://` URLs, in order and once each: NetworkManager's DNS
/// configuration when it has one, else the host's `resolv.conf`. Loopback resolvers (the
/// systemd-resolved stub) are unreachable from a container: for the stub, resolved's own list of
/// upstream servers is read instead.
pub fn locals(network_manager: Option<Vec<String>>, host_root: &Path) -> Vec<String> {
    let servers = match network_manager.filter(|servers| !servers.is_empty()) {
        Some(servers) => servers,
        None => {
            let read = |path: &str| std::fs::read_to_string(host_root.join(path)).unwrap_or_default();
            let mut servers = nameservers(&read("etc/resolv.conf"));
            if !servers.is_empty() && servers.iter().all(|server| is_loopback(server)) {
                servers = nameservers(&read("run/systemd/resolve/resolv.conf"));
            }
            servers
        }
    };
    let mut urls: Vec<String> = Vec::new();
    for server in servers.iter().filter(|server| !is_loopback(server)) {
        let url = format!("dns://{server}");
        if validate_server(&url).is_ok() && !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

fn is_loopback(server: &str) -> bool {
    server.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The `nameserver` lines of a `resolv.conf`.
fn nameservers(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten().map(str::to_owned)
        })
        .collect()
}

/// Whether resolved resolves names with a protocol it is set to (`yes` or `resolve`), as the
/// real `mdns`/`llmnr` fields say.
pub fn resolves(mode: &str) -> bool {
    matches!(mode, "yes" | "resolve")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugins_loops_are_read_from_its_file() {
        assert_eq!(looping(r#"{"looping": ["dns://172.30.32.3:53"]}"#), Some(vec!["dns://172.30.32.3:53".to_owned()]));
        assert_eq!(looping(r#"{"looping": []}"#), Some(vec![]));
        assert_eq!(looping(""), None);
        assert_eq!(looping(r#"{"loops": []}"#), None);
    }

    #[test]
    fn servers_are_dns_urls_of_ipv4_addresses() {
        assert!(validate_server("dns://8.8.8.8").is_ok());
        assert!(validate_server("DNS://1.1.1.1").is_ok());
        assert!(validate_server("8.8.8.8").unwrap_err().contains("doesn't start with dns://"));
        assert!(validate_server("dns://dns.google").unwrap_err().contains("\"dns://dns.google\""));
        assert!(validate_server("dns://8.8.8.8:53").is_err(), "no port, as the real schema");
        assert!(validate_server("dns://2001:4860::8888").unwrap_err().contains("only IPv4"));
        let nine: Vec<String> = (1..=9).map(|i| format!("dns://10.0.0.{i}")).collect();
        assert!(validate_servers(&nine).unwrap_err().contains("at most 8"));
        let error = validate_servers(&["dns://1.1.1.1".into(), "tcp://1.1.1.1".into()]).unwrap_err();
        assert!(error.contains("\"tcp://1.1.1.1\""), "{error}");
    }

    #[test]
    fn the_forward_config_is_the_contract_json() {
        let config = ForwardConfig::new(vec!["dns://8.8.8.8".into()], vec!["dns://192.168.1.1".into()], true, false);
        assert_eq!(
            serde_json::to_value(&config).unwrap(),
            serde_json::json!({
                "servers": ["dns://8.8.8.8"], "locals": ["dns://192.168.1.1"], "fallback": true,
                "fallback_servers": ["dns://1.1.1.1", "dns://1.0.0.1"], "debug": false
            })
        );
    }

    #[test]
    fn hosts_lines_carry_each_name_twice() {
        let entries = [
            HostEntry::new(Ipv4Addr::new(172, 30, 32, 1), &["hassio", "supervisor"]),
            HostEntry::new(Ipv4Addr::new(172, 30, 33, 7), &["local-ssh"]),
        ];
        assert_eq!(
            render_hosts(&entries),
            "172.30.32.1 hassio hassio.local.hass.io supervisor supervisor.local.hass.io\n\
             172.30.33.7 local-ssh local-ssh.local.hass.io\n"
        );
    }

    #[test]
    fn locals_come_from_network_manager_then_resolv_conf() {
        let root = tempfile::tempdir().unwrap();
        let nm = Some(vec!["192.168.1.1".into(), "fe80::1".into(), "192.168.1.1".into(), "127.0.0.53".into()]);
        assert_eq!(locals(nm, root.path()), vec!["dns://192.168.1.1"]);

        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/resolv.conf"), "# comment\nnameserver 10.1.2.3\nsearch lan\n").unwrap();
        assert_eq!(locals(Some(Vec::new()), root.path()), vec!["dns://10.1.2.3"]);

        std::fs::write(root.path().join("etc/resolv.conf"), "nameserver 127.0.0.53\noptions edns0\n").unwrap();
        assert_eq!(locals(None, root.path()), Vec::<String>::new());
        std::fs::create_dir_all(root.path().join("run/systemd/resolve")).unwrap();
        std::fs::write(root.path().join("run/systemd/resolve/resolv.conf"), "nameserver 9.9.9.9\n").unwrap();
        assert_eq!(locals(None, root.path()), vec!["dns://9.9.9.9"]);
    }

    #[test]
    fn resolving_modes() {
        assert!(resolves("yes") && resolves("resolve"));
        assert!(!resolves("no") && !resolves(""));
    }
}
