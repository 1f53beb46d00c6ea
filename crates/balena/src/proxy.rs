//! The host's proxy settings as balenaOS keeps them and the balena Supervisor writes them: a
//! `redsocks.conf` (a `base` block, then a `redsocks` block with the proxy's `type`, `ip`,
//! `port`, quoted `login` and `password`, and the local redirector's address) and a `no_proxy`
//! file (one address or subnet a line), in the `system-proxy` folder (here
//! `<data>/balena/system-proxy`). A request is checked in full before anything is written, and
//! a refusal names the field.

use serde::Serialize;
use serde_json::{Map, Value};
use std::io;
use std::path::{Path, PathBuf};
use utoipa::ToSchema;

/// The proxy types redsocks knows.
pub const TYPES: [&str; 4] = ["socks4", "socks5", "http-connect", "http-relay"];

/// The fields of the `redsocks` block a client may set, in the order they are written.
const FIELDS: [&str; 5] = ["type", "ip", "port", "login", "password"];

/// The proxy settings, as `GET /v1/device/host-config` shows them: the values as the file has
/// them (the port as text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Proxy {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(rename = "noProxy", skip_serializing_if = "Vec::is_empty")]
    pub no_proxy: Vec<String>,
}

/// What a request changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `null` or `{}`: no proxy.
    Clear,
    /// The `redsocks` settings (when the request has any) and the `no_proxy` list (when it has
    /// one).
    Set { redsocks: Option<Vec<(&'static str, String)>>, no_proxy: Option<Vec<String>> },
}

/// Reads `network.proxy` of a request; the error names the field.
pub fn parse(value: &Value) -> Result<Change, String> {
    let object = match value {
        Value::Null => return Ok(Change::Clear),
        Value::Object(object) if object.is_empty() => return Ok(Change::Clear),
        Value::Object(object) => object,
        _ => return Err("network.proxy must be an object".to_owned()),
    };
    if let Some(unknown) = object.keys().find(|key| !FIELDS.contains(&key.as_str()) && *key != "noProxy") {
        return Err(format!("network.proxy.{unknown} is not a proxy setting"));
    }
    let no_proxy = match object.get("noProxy") {
        None => None,
        Some(Value::Array(entries)) => Some(
            entries
                .iter()
                .map(|entry| match entry.as_str() {
                    Some(text) if word(text) => Ok(text.to_owned()),
                    _ => Err("network.proxy.noProxy must be a list of addresses or subnets".to_owned()),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err("network.proxy.noProxy must be a list of addresses or subnets".to_owned()),
    };
    if !FIELDS.iter().any(|field| object.contains_key(*field)) {
        return Ok(Change::Set { redsocks: None, no_proxy });
    }
    let mut redsocks = Vec::new();
    for field in FIELDS {
        let value = match (field, object.get(field)) {
            ("type" | "ip" | "port", None) => return Err(format!("network.proxy.{field} is required")),
            (_, None) => continue,
            ("port", Some(value)) => port(value).ok_or("network.proxy.port must be a port number (1-65535)")?,
            (_, Some(Value::String(text))) => text.clone(),
            (_, Some(_)) => return Err(format!("network.proxy.{field} must be a string")),
        };
        match field {
            "type" if !TYPES.contains(&value.as_str()) => {
                return Err(format!("network.proxy.type must be one of {}", TYPES.join(", ")));
            }
            "ip" if !word(&value) => return Err("network.proxy.ip must be a host name or address".to_owned()),
            "login" | "password" if !quotable(&value) => {
                return Err(format!("network.proxy.{field} may not hold quotes, backslashes or line breaks"));
            }
            _ => {}
        }
        redsocks.push((field, value));
    }
    Ok(Change::Set { redsocks: Some(redsocks), no_proxy })
}

fn port(value: &Value) -> Option<String> {
    let number = match value {
        Value::Number(number) => number.as_u64()?,
        Value::String(text) => text.parse().ok()?,
        _ => return None,
    };
    (1..=65535).contains(&number).then(|| number.to_string())
}

/// A value redsocks reads as one word.
fn word(text: &str) -> bool {
    !text.is_empty() && !text.chars().any(|c| c.is_whitespace() || c.is_control() || "{};\"'\\#".contains(c))
}

fn quotable(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() || c == '"' || c == '\\')
}

/// The proxy settings in a `system-proxy` folder.
pub struct ProxyFiles {
    dir: PathBuf,
}

impl ProxyFiles {
    pub fn new(dir: PathBuf) -> ProxyFiles {
        ProxyFiles { dir }
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("redsocks.conf")
    }

    fn no_proxy(&self) -> PathBuf {
        self.dir.join("no_proxy")
    }

    /// The settings; `None` without a `redsocks.conf`.
    pub fn read(&self) -> io::Result<Option<Proxy>> {
        let conf = match std::fs::read_to_string(self.conf()) {
            Ok(conf) => conf,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let block = redsocks_block(&conf);
        let get = |key: &str| block.get(key).and_then(Value::as_str).map(str::to_owned);
        let no_proxy = match std::fs::read_to_string(self.no_proxy()) {
            Ok(text) => text.lines().filter(|line| !line.is_empty()).map(str::to_owned).collect(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(error),
        };
        Ok(Some(Proxy {
            kind: get("type"),
            ip: get("ip"),
            port: get("port"),
            login: get("login"),
            password: get("password"),
            no_proxy,
        }))
    }

    /// Writes `change`; each file atomically.
    pub fn write(&self, change: &Change) -> io::Result<()> {
        base::fs::ensure_real_dir(&self.dir)?;
        match change {
            Change::Clear => {
                remove(&self.conf())?;
                remove(&self.no_proxy())
            }
            Change::Set { redsocks, no_proxy } => {
                match no_proxy.as_deref() {
                    Some([]) => remove(&self.no_proxy())?,
                    Some(entries) => base::fs::atomic_write(&self.no_proxy(), entries.join("\n").as_bytes(), 0o644)?,
                    None => {}
                }
                match redsocks {
                    Some(settings) => base::fs::atomic_write(&self.conf(), render(settings).as_bytes(), 0o644),
                    None => Ok(()),
                }
            }
        }
    }
}

/// `redsocks.conf` for the `redsocks` settings, as the balena Supervisor writes it.
fn render(settings: &[(&'static str, String)]) -> String {
    let base =
        [("log_debug", "off"), ("log_info", "on"), ("log", "stderr"), ("daemon", "off"), ("redirector", "iptables")];
    let mut text = String::from("base {\n");
    for (key, value) in base {
        text.push_str(&format!("\t{key} = {value};\n"));
    }
    text.push_str("}\n\nredsocks {\n");
    for (key, value) in settings {
        match *key {
            "login" | "password" => text.push_str(&format!("\t{key} = \"{value}\";\n")),
            _ => text.push_str(&format!("\t{key} = {value};\n")),
        }
    }
    text.push_str("\tlocal_ip = 127.0.0.1;\n\tlocal_port = 12345;\n}\n");
    text
}

/// The `key = value;` pairs of the `redsocks { ... }` block, quotes of the credentials dropped.
fn redsocks_block(conf: &str) -> Map<String, Value> {
    let mut block = Map::new();
    let Some(start) = conf.find("redsocks {").or_else(|| conf.find("redsocks{")) else { return block };
    let body = &conf[start..];
    let Some(open) = body.find('{') else { return block };
    let end = body.find("\n}").unwrap_or(body.len());
    for line in body[open + 1..end].lines() {
        let Some((key, value)) = line.trim().trim_end_matches(';').split_once('=') else { continue };
        let (key, value) = (key.trim(), value.trim().trim_matches('"'));
        if FIELDS.contains(&key) && !value.is_empty() {
            block.insert(key.to_owned(), value.into());
        }
    }
    block
}

fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_are_written_and_read_back_as_balena_writes_them() {
        let dir = tempfile::tempdir().unwrap();
        let files = ProxyFiles::new(dir.path().join("system-proxy"));
        assert_eq!(files.read().unwrap(), None);
        let change = parse(&json!({"type": "socks5", "ip": "myproxy.example.com", "port": 8123, "login": "user",
            "password": "pass word", "noProxy": ["152.10.30.4", "253.1.1.0/16"]}))
        .unwrap();
        files.write(&change).unwrap();
        let conf = std::fs::read_to_string(dir.path().join("system-proxy/redsocks.conf")).unwrap();
        assert!(conf.starts_with("base {\n\tlog_debug = off;\n"), "{conf}");
        assert!(conf.contains("redsocks {\n\ttype = socks5;\n\tip = myproxy.example.com;\n\tport = 8123;\n\tlogin = \"user\";\n\tpassword = \"pass word\";\n\tlocal_ip = 127.0.0.1;\n\tlocal_port = 12345;\n}\n"), "{conf}");
        let no_proxy = std::fs::read_to_string(dir.path().join("system-proxy/no_proxy")).unwrap();
        assert_eq!(no_proxy, "152.10.30.4\n253.1.1.0/16");
        let read = files.read().unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            json!({"type": "socks5", "ip": "myproxy.example.com",
            "port": "8123", "login": "user", "password": "pass word", "noProxy": ["152.10.30.4", "253.1.1.0/16"]})
        );

        // Only noProxy: the proxy stays.
        files.write(&parse(&json!({"noProxy": ["10.0.0.1"]})).unwrap()).unwrap();
        assert_eq!(files.read().unwrap().unwrap().no_proxy, ["10.0.0.1"]);
        assert_eq!(files.read().unwrap().unwrap().ip.as_deref(), Some("myproxy.example.com"));

        files.write(&parse(&json!({})).unwrap()).unwrap();
        assert_eq!(files.read().unwrap(), None);
    }

    #[test]
    fn refusals_name_the_field() {
        for (proxy, field) in [
            (json!({"type": "ftp", "ip": "a", "port": 1}), "network.proxy.type"),
            (json!({"type": "socks5", "ip": "a", "port": 70000}), "network.proxy.port"),
            (json!({"type": "socks5", "ip": "a b", "port": 1}), "network.proxy.ip"),
            (json!({"type": "socks5", "port": 1}), "network.proxy.ip"),
            (json!({"type": "socks5", "ip": "a", "port": 1, "local_port": 2}), "network.proxy.local_port"),
            (json!({"type": "socks5", "ip": "a", "port": 1, "password": "a\"b"}), "network.proxy.password"),
            (json!({"noProxy": "10.0.0.1"}), "network.proxy.noProxy"),
            (json!("socks5"), "network.proxy"),
        ] {
            let message = parse(&proxy).unwrap_err();
            assert!(message.starts_with(field), "{proxy}: {message}");
        }
    }
}
