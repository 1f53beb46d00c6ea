//! The URL templates of an add-on's config, `webui` and `watchdog`
//! (`[PROTO:ssl]://[HOST]:[PORT:8080]/health`, `tcp://[HOST]:[PORT:1883]`): read once into
//! their parts, so the info's `webui` and the application watchdog's probe resolve the scheme
//! and the port the same way.

use crate::data::Ports;
use serde_json::{Map, Value};

/// The scheme of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
    /// A plain TCP connect (watchdog only).
    Tcp,
    /// `[PROTO:option]`: https when the option is truthy, else http.
    Option(String),
}

/// A parsed `webui` or `watchdog` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub scheme: Scheme,
    /// The container's port the template names.
    pub port: u16,
    /// Everything after the port (`/health`).
    pub suffix: String,
}

impl Template {
    /// Reads `<scheme>://[HOST]:[PORT:n]<suffix>` (or a bare `n`, which `watchdog` allows);
    /// `None` for anything else, which the real Supervisor ignores too.
    pub fn parse(template: &str) -> Option<Template> {
        let (scheme, rest) = template.split_once("://")?;
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "tcp" => Scheme::Tcp,
            other => {
                let option = other.strip_prefix("[PROTO:")?.strip_suffix(']')?;
                if option.is_empty() || !option.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    return None;
                }
                Scheme::Option(option.to_owned())
            }
        };
        let rest = rest.strip_prefix("[HOST]:")?;
        let (digits, suffix) = match rest.strip_prefix("[PORT:") {
            Some(tagged) => tagged.split_once(']')?,
            None => rest.split_at(rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())),
        };
        let port = digits.parse().ok()?;
        Some(Template { scheme, port, suffix: suffix.to_owned() })
    }

    /// `http`, `https` or `tcp`, an option's truthiness deciding `[PROTO:option]`.
    pub fn scheme(&self, options: &Map<String, Value>) -> &'static str {
        match &self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Tcp => "tcp",
            Scheme::Option(option) if options.get(option).is_some_and(base::pyval::truthy) => "https",
            Scheme::Option(_) => "http",
        }
    }

    /// The host's port published for the template's container port, or that port itself when
    /// it is not published.
    pub fn published_port(&self, ports: &Ports) -> u16 {
        ports.get(&format!("{}/tcp", self.port)).copied().flatten().unwrap_or(self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_into_scheme_port_and_suffix() {
        let t = Template::parse("http://[HOST]:[PORT:8080]/health").unwrap();
        assert_eq!((t.scheme, t.port, t.suffix.as_str()), (Scheme::Http, 8080, "/health"));
        let t = Template::parse("tcp://[HOST]:[PORT:1883]").unwrap();
        assert_eq!((t.scheme, t.port, t.suffix.as_str()), (Scheme::Tcp, 1883, ""));
        let t = Template::parse("[PROTO:ssl]://[HOST]:8123/x").unwrap();
        assert_eq!((t.scheme, t.port, t.suffix.as_str()), (Scheme::Option("ssl".into()), 8123, "/x"));
        for bad in ["ftp://[HOST]:[PORT:80]", "http://localhost:80", "http://[HOST]:[PORT:x]", "[PROTO:]://[HOST]:1"] {
            assert_eq!(Template::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_scheme_follows_the_option_and_the_port_the_mapping() {
        let options = serde_json::json!({"ssl": true, "off": false, "list": [1]}).as_object().unwrap().clone();
        let scheme = |t: &str| Template::parse(t).unwrap().scheme(&options);
        assert_eq!(scheme("[PROTO:ssl]://[HOST]:1"), "https");
        assert_eq!(scheme("[PROTO:off]://[HOST]:1"), "http");
        assert_eq!(scheme("[PROTO:list]://[HOST]:1"), "https");
        assert_eq!(scheme("[PROTO:missing]://[HOST]:1"), "http");
        let ports = Ports::from([("80/tcp".to_owned(), Some(8080)), ("443/tcp".to_owned(), None)]);
        let port = |t: &str| Template::parse(t).unwrap().published_port(&ports);
        assert_eq!((port("http://[HOST]:[PORT:80]"), port("http://[HOST]:[PORT:443]")), (8080, 443));
        assert_eq!(port("http://[HOST]:[PORT:90]"), 90);
    }
}
