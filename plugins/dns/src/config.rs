//! What the supervisor tells the plugin: `dns.json` (the upstreams, the fallback, query logging)
//! and `hosts` (the names of the container network), parsed and checked in full so that a bad
//! file is refused whole and the previous one stays.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_server::proto::op::LowerQuery;
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::{A, AAAA, PTR};
use hickory_server::proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};

/// The TTL of the answers from `hosts`: short, since a container's address changes when it is
/// recreated and the supervisor rewrites the file then.
const HOSTS_TTL: u32 = 60;

/// The zones of the container network: names under them that `hosts` does not list do not
/// exist, and are never asked of an upstream (the real plugin's `except local.hass.io`).
const OWN_ZONES: &[&str] = &["local.hass.io", "hassio"];

/// `dns.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub servers: Vec<SocketAddr>,
    pub locals: Vec<SocketAddr>,
    pub fallback: bool,
    pub fallback_servers: Vec<SocketAddr>,
    pub debug: bool,
}

impl Default for Settings {
    /// No file: no upstreams. `fallback` defaults to on as the supervisor's option does.
    fn default() -> Self {
        Settings { servers: Vec::new(), locals: Vec::new(), fallback: true, fallback_servers: Vec::new(), debug: false }
    }
}

impl Settings {
    /// Parses `dns.json`. Keys this version does not know are returned, to be logged: a newer
    /// supervisor may write them to an older plugin, which must keep working.
    pub fn parse(text: &str) -> Result<(Settings, Vec<String>), String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let serde_json::Value::Object(object) = value else {
            return Err("not a JSON object".to_owned());
        };
        let mut settings = Settings::default();
        let mut unknown = Vec::new();
        for (key, value) in &object {
            match key.as_str() {
                "servers" => settings.servers = upstream_list(key, value)?,
                "locals" => settings.locals = upstream_list(key, value)?,
                "fallback_servers" => settings.fallback_servers = upstream_list(key, value)?,
                "fallback" => settings.fallback = boolean(key, value)?,
                "debug" => settings.debug = boolean(key, value)?,
                _ => unknown.push(key.clone()),
            }
        }
        Ok((settings, unknown))
    }

    /// The upstreams asked first, in order: `servers`, then `locals`, each address once.
    pub fn primary(&self) -> Vec<SocketAddr> {
        let mut list = Vec::new();
        for addr in self.servers.iter().chain(&self.locals) {
            if !list.contains(addr) {
                list.push(*addr);
            }
        }
        list
    }

    /// The upstreams asked when the primary ones fail or deny the name, when `fallback` is on;
    /// an address already among the primary ones is not asked twice.
    pub fn fallback(&self) -> Vec<SocketAddr> {
        if !self.fallback {
            return Vec::new();
        }
        let primary = self.primary();
        let mut list = Vec::new();
        for addr in &self.fallback_servers {
            if !primary.contains(addr) && !list.contains(addr) {
                list.push(*addr);
            }
        }
        list
    }
}

fn boolean(key: &str, value: &serde_json::Value) -> Result<bool, String> {
    value.as_bool().ok_or_else(|| format!("{key} is {value}, not true or false"))
}

fn upstream_list(key: &str, value: &serde_json::Value) -> Result<Vec<SocketAddr>, String> {
    let Some(items) = value.as_array() else {
        return Err(format!("{key} is {value}, not a list of dns://IP[:PORT]"));
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let text = item.as_str().ok_or_else(|| format!("{key}[{index}] is {item}, not a string"))?;
            parse_upstream(text).map_err(|why| format!("{key}[{index}] {text:?} {why}"))
        })
        .collect()
}

/// `dns://IP[:PORT]`, IPv6 in brackets when a port follows; the port defaults to 53.
pub fn parse_upstream(text: &str) -> Result<SocketAddr, String> {
    let rest = text.strip_prefix("dns://").ok_or("does not start with dns://")?;
    let addr = if let Ok(addr) = rest.parse::<SocketAddr>() {
        addr
    } else {
        let bare = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')).unwrap_or(rest);
        let ip = bare.parse::<IpAddr>().map_err(|_| "is not dns://IP[:PORT] with an IP address")?;
        SocketAddr::new(ip, 53)
    };
    if addr.port() == 0 {
        return Err("has port 0".to_owned());
    }
    Ok(addr)
}

/// The addresses of one name in `hosts`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Addresses {
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
}

/// `hosts`: names to addresses, and the reverse names of those addresses to the names.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Hosts {
    names: HashMap<String, Addresses>,
    reverse: HashMap<String, Vec<Name>>,
}

/// What `hosts` says about a query it owns.
pub struct HostsAnswer {
    pub code: ResponseCode,
    pub records: Vec<Record>,
}

impl Hosts {
    /// Parses hosts-file lines `IP name [name...]`; `#` starts a comment. Any bad line refuses
    /// the file, naming the line.
    pub fn parse(text: &str) -> Result<Hosts, String> {
        let mut hosts = Hosts::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            let Some(ip) = words.next() else { continue };
            let ip: IpAddr = ip.parse().map_err(|_| format!("line {}: {ip:?} is not an IP address", number + 1))?;
            let mut any = false;
            for word in words {
                any = true;
                let name = Name::from_ascii(word)
                    .ok()
                    .filter(|_| !word.trim_end_matches('.').is_empty())
                    .ok_or_else(|| format!("line {}: {word:?} is not a host name", number + 1))?;
                let key = key_of(&LowerName::new(&name));
                let addresses = hosts.names.entry(key.clone()).or_default();
                match ip {
                    IpAddr::V4(v4) if !addresses.v4.contains(&v4) => addresses.v4.push(v4),
                    IpAddr::V6(v6) if !addresses.v6.contains(&v6) => addresses.v6.push(v6),
                    _ => {}
                }
                let mut target = name.to_lowercase();
                target.set_fqdn(true);
                let targets = hosts.reverse.entry(key_of(&LowerName::new(&Name::from(ip)))).or_default();
                if !targets.contains(&target) {
                    targets.push(target);
                }
            }
            if !any {
                return Err(format!("line {}: no name after {ip}", number + 1));
            }
        }
        Ok(hosts)
    }

    /// How many names the file gives.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// The answer for a query this plugin owns: a name of the file (its addresses, or no
    /// records for other types), the reverse name of one of its addresses, or a name under the
    /// container network's zones (which does not exist). `None`: ask the upstreams.
    pub fn answer(&self, query: &LowerQuery) -> Option<HostsAnswer> {
        let key = key_of(query.name());
        let owner = query.original().name().clone();
        let class_in = query.query_class() == DNSClass::IN;
        let wants = |t: RecordType| class_in && (query.query_type() == t || query.query_type() == RecordType::ANY);
        let record = |data: RData| Record::from_rdata(owner.clone(), HOSTS_TTL, data);
        if let Some(addresses) = self.names.get(&key) {
            let mut records = Vec::new();
            if wants(RecordType::A) {
                records.extend(addresses.v4.iter().map(|ip| record(RData::A(A(*ip)))));
            }
            if wants(RecordType::AAAA) {
                records.extend(addresses.v6.iter().map(|ip| record(RData::AAAA(AAAA(*ip)))));
            }
            return Some(HostsAnswer { code: ResponseCode::NoError, records });
        }
        if let Some(names) = self.reverse.get(&key) {
            let mut records = Vec::new();
            if wants(RecordType::PTR) {
                records.extend(names.iter().map(|name| record(RData::PTR(PTR(name.clone())))));
            }
            return Some(HostsAnswer { code: ResponseCode::NoError, records });
        }
        let own = OWN_ZONES.iter().any(|zone| key == *zone || key.ends_with(&format!(".{zone}")));
        own.then(|| HostsAnswer { code: ResponseCode::NXDomain, records: Vec::new() })
    }
}

/// A name as the tables key it: lower case, without the root's trailing dot.
fn key_of(name: &LowerName) -> String {
    let text = name.to_string();
    text.strip_suffix('.').unwrap_or(&text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_server::proto::op::Query;

    #[test]
    fn settings_parse_every_key_and_default_the_missing_ones() {
        let (settings, unknown) = Settings::parse(
            r#"{"servers": ["dns://1.1.1.1"], "locals": ["dns://192.168.1.1:5353", "dns://[fd00::1]:54", "dns://fd00::2"],
                "fallback": false, "fallback_servers": ["dns://1.0.0.1"], "debug": true, "mdns": true}"#,
        )
        .unwrap();
        assert_eq!(settings.servers, vec!["1.1.1.1:53".parse().unwrap()]);
        assert_eq!(
            settings.locals,
            vec!["192.168.1.1:5353".parse().unwrap(), "[fd00::1]:54".parse().unwrap(), "[fd00::2]:53".parse().unwrap()]
        );
        assert!(!settings.fallback && settings.debug);
        assert_eq!(unknown, vec!["mdns".to_owned()]);
        assert_eq!(Settings::parse("{}").unwrap().0, Settings::default());
    }

    #[test]
    fn settings_refusals_name_the_problem() {
        let cases = [
            ("[1]", "not a JSON object"),
            ("{", "not valid JSON"),
            (r#"{"servers": ["1.1.1.1"]}"#, r#"servers[0] "1.1.1.1" does not start with dns://"#),
            (r#"{"locals": ["dns://router"]}"#, r#"locals[0] "dns://router" is not dns://IP[:PORT]"#),
            (r#"{"fallback_servers": ["dns://1.1.1.1:0"]}"#, "has port 0"),
            (r#"{"servers": "dns://1.1.1.1"}"#, "servers is \"dns://1.1.1.1\", not a list"),
            (r#"{"fallback": "yes"}"#, "fallback is \"yes\", not true or false"),
        ];
        for (text, expected) in cases {
            let error = Settings::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn fallback_skips_primary_addresses_and_is_empty_when_off() {
        let (mut settings, _) = Settings::parse(
            r#"{"servers": ["dns://1.1.1.1", "dns://9.9.9.9"], "locals": ["dns://1.1.1.1"],
                "fallback_servers": ["dns://9.9.9.9", "dns://1.0.0.1"]}"#,
        )
        .unwrap();
        assert_eq!(settings.primary(), vec!["1.1.1.1:53".parse().unwrap(), "9.9.9.9:53".parse().unwrap()]);
        assert_eq!(settings.fallback(), vec!["1.0.0.1:53".parse().unwrap()]);
        settings.fallback = false;
        assert!(settings.fallback().is_empty());
    }

    fn ask(hosts: &Hosts, name: &str, record_type: RecordType) -> Option<(ResponseCode, Vec<RData>)> {
        let query = LowerQuery::query(Query::query(Name::from_ascii(name).unwrap(), record_type));
        hosts.answer(&query).map(|answer| (answer.code, answer.records.into_iter().map(|r| r.data).collect()))
    }

    #[test]
    fn hosts_answer_names_case_insensitively_with_or_without_the_trailing_dot() {
        let hosts = Hosts::parse(
            "# the network\n172.30.32.2 supervisor supervisor.local.hass.io\n\n\
             fd00::2 Supervisor.\n172.30.32.1 HomeAssistant # Core\n",
        )
        .unwrap();
        assert_eq!(hosts.len(), 3);
        let v4 = RData::A(A("172.30.32.2".parse().unwrap()));
        assert_eq!(ask(&hosts, "SUPERVISOR.", RecordType::A), Some((ResponseCode::NoError, vec![v4.clone()])));
        assert_eq!(ask(&hosts, "supervisor.Local.Hass.IO", RecordType::A), Some((ResponseCode::NoError, vec![v4])));
        let v6 = RData::AAAA(AAAA("fd00::2".parse().unwrap()));
        assert_eq!(ask(&hosts, "supervisor", RecordType::AAAA), Some((ResponseCode::NoError, vec![v6])));
        assert_eq!(ask(&hosts, "homeassistant", RecordType::AAAA), Some((ResponseCode::NoError, vec![])));
        assert_eq!(ask(&hosts, "homeassistant", RecordType::MX), Some((ResponseCode::NoError, vec![])));
        assert_eq!(ask(&hosts, "other.local.hass.io", RecordType::A), Some((ResponseCode::NXDomain, vec![])));
        assert_eq!(ask(&hosts, "other.hassio", RecordType::TXT), Some((ResponseCode::NXDomain, vec![])));
        assert_eq!(ask(&hosts, "example.com", RecordType::A), None);
        assert_eq!(ask(&hosts, "hass.io", RecordType::A), None);
        let names: Vec<RData> = ["supervisor.", "supervisor.local.hass.io."]
            .iter()
            .map(|n| RData::PTR(PTR(Name::from_ascii(n).unwrap())))
            .collect();
        assert_eq!(ask(&hosts, "2.32.30.172.in-addr.arpa.", RecordType::PTR), Some((ResponseCode::NoError, names)));
    }

    #[test]
    fn hosts_refusals_name_the_line() {
        assert_eq!(
            Hosts::parse("172.30.32.2 supervisor\nsupervisor 172.30.32.2\n").unwrap_err(),
            "line 2: \"supervisor\" is not an IP address"
        );
        assert_eq!(Hosts::parse("172.30.32.2\n").unwrap_err(), "line 1: no name after 172.30.32.2");
        assert_eq!(Hosts::parse("172.30.32.2 a..b\n").unwrap_err(), "line 1: \"a..b\" is not a host name");
        assert_eq!(Hosts::parse("").unwrap(), Hosts::default());
    }
}
