//! What the supervisor keeps about installed add-ons, the real Supervisor's `apps.json`: per
//! add-on the user's settings (`user`) and the configuration the add-on was installed or updated
//! with (`system`), so an add-on keeps working the way it was installed even when its repository
//! changes or disappears.

use addon_config::{AddonConfig, BootConfig};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// `boot` as the user sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Boot {
    Auto,
    /// `manual_only` is accepted as `manual`, as the real Supervisor coerces it.
    #[serde(alias = "manual_only")]
    Manual,
}

/// Port overrides: container port (`8080/tcp`) to host port, `None` for "not published".
pub type Ports = BTreeMap<String, Option<u16>>;

/// The user part of one installed add-on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserData {
    pub version: String,
    /// The image (without tag) the installed version runs.
    pub image: String,
    pub uuid: String,
    /// The digest ([`security::Tokens::digest`]) of the running container's token, which is made
    /// anew at every start and kept in clear only in the container's environment.
    #[serde(default)]
    pub access_token: Option<String>,
    pub ingress_token: String,
    #[serde(default)]
    pub options: Map<String, Value>,
    #[serde(default)]
    pub auto_update: bool,
    #[serde(default)]
    pub boot: Option<Boot>,
    #[serde(default)]
    pub network: Option<Ports>,
    #[serde(default)]
    pub audio_output: Option<String>,
    #[serde(default)]
    pub audio_input: Option<String>,
    #[serde(default = "yes")]
    pub protected: bool,
    #[serde(default)]
    pub ingress_panel: bool,
    /// The port picked for an add-on whose config asks for one (`ingress_port: 0`), kept for as
    /// long as it is installed.
    #[serde(default)]
    pub ingress_port: Option<u16>,
    #[serde(default)]
    pub watchdog: bool,
    #[serde(default)]
    pub system_managed: bool,
    #[serde(default)]
    pub system_managed_config_entry: Option<String>,
}

fn yes() -> bool {
    true
}

impl UserData {
    /// The user data of a fresh install.
    pub fn new(version: &str, image: &str) -> Self {
        UserData {
            version: version.to_owned(),
            image: image.to_owned(),
            uuid: uuid::Uuid::new_v4().simple().to_string(),
            access_token: None,
            ingress_token: base::random::hex_token(32),
            options: Map::new(),
            auto_update: false,
            boot: None,
            network: None,
            audio_output: None,
            audio_input: None,
            protected: true,
            ingress_panel: false,
            ingress_port: None,
            watchdog: false,
            system_managed: false,
            system_managed_config_entry: None,
        }
    }
}

/// The system part: the store's configuration at install or update time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemData {
    pub repository: String,
    pub config: AddonConfig,
    #[serde(default)]
    pub translations: BTreeMap<String, Value>,
}

/// Everything installed, keyed by full slug.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AddonsFile {
    pub user: BTreeMap<String, UserData>,
    pub system: BTreeMap<String, SystemData>,
}

/// One installed add-on, both parts together.
#[derive(Debug, Clone)]
pub struct Installed {
    pub slug: String,
    pub user: UserData,
    pub system: SystemData,
}

impl Installed {
    pub fn config(&self) -> &AddonConfig {
        &self.system.config
    }

    /// The port its ingress listens on: the config's, or the one picked for it when the config
    /// asks for one (`None` until then); `None` without ingress.
    pub fn ingress_port(&self) -> Option<u16> {
        let config = self.config();
        match config.ingress_port {
            _ if !config.ingress => None,
            0 => self.user.ingress_port,
            port => Some(port),
        }
    }

    /// The effective boot: `manual_only` forces manual, else the user's choice, else the config's.
    pub fn boot(&self) -> Boot {
        match (self.config().boot, self.user.boot) {
            (BootConfig::ManualOnly, _) => Boot::Manual,
            (_, Some(boot)) => boot,
            (BootConfig::Auto, None) => Boot::Auto,
            (BootConfig::Manual, None) => Boot::Manual,
        }
    }

    /// The effective options: the config's defaults deep-merged with the user's options.
    pub fn options(&self) -> Map<String, Value> {
        merge_options(&self.config().options, &self.user.options)
    }

    /// The effective ports: the user's override, else the config's.
    pub fn ports(&self) -> Ports {
        self.user.network.clone().unwrap_or_else(|| self.config().ports.clone())
    }
}

/// `defaults` with `user` laid over it: objects merge key by key, anything else is replaced.
pub fn merge_options(defaults: &Map<String, Value>, user: &Map<String, Value>) -> Map<String, Value> {
    let mut merged = defaults.clone();
    for (key, value) in user {
        let next = match (merged.get(key), value) {
            (Some(Value::Object(base)), Value::Object(over)) => Value::Object(merge_options(base, over)),
            _ => value.clone(),
        };
        merged.insert(key.clone(), next);
    }
    merged
}

/// The port overrides a user may set: only container ports the config declares are kept, as
/// the real Supervisor does, so a user cannot publish a port the add-on does not offer.
pub fn allowed_ports(config: &AddonConfig, requested: &Ports) -> Ports {
    requested.iter().filter(|(port, _)| config.ports.contains_key(*port)).map(|(k, v)| (k.clone(), *v)).collect()
}

/// Deserializes a port map whose host ports may be numbers, numeric strings or `null`, as the
/// real API's `network` option accepts (`{"8080/tcp": "8080"}`).
pub fn ports_from_api<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<Ports>>, D::Error> {
    let raw: Option<BTreeMap<String, Value>> = Option::deserialize(deserializer)?;
    let Some(raw) = raw else { return Ok(Some(None)) };
    let mut ports = Ports::new();
    for (key, value) in raw {
        if !valid_port_key(&key) {
            return Err(serde::de::Error::custom(format!("invalid container port '{key}'")));
        }
        let port = match &value {
            Value::Null => None,
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(s) => s.trim().parse::<u16>().ok(),
            _ => None,
        };
        match (port, &value) {
            (_, Value::Null) => ports.insert(key, None),
            (Some(p), _) if p > 0 => ports.insert(key, Some(p)),
            _ => return Err(serde::de::Error::custom(format!("invalid host port {value} for '{key}'"))),
        };
    }
    Ok(Some(Some(ports)))
}

/// `8080`, `8080/tcp` or `53/udp`.
fn valid_port_key(key: &str) -> bool {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && matches!(proto, "tcp" | "udp")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn options_merge_deeply_and_user_wins() {
        let defaults = object(json!({"a": 1, "nested": {"x": 1, "y": 2}, "list": [1, 2], "keep": "d"}));
        let user = object(json!({"a": 5, "nested": {"y": 3, "z": 4}, "list": [9]}));
        assert_eq!(
            Value::Object(merge_options(&defaults, &user)),
            json!({"a": 5, "nested": {"x": 1, "y": 3, "z": 4}, "list": [9], "keep": "d"})
        );
        assert_eq!(merge_options(&defaults, &Map::new()), defaults);
    }

    #[test]
    fn user_data_defaults_and_coerced_boot() {
        let user: UserData = serde_json::from_value(json!({
            "version": "1.0", "image": "local/amd64-addon-x", "uuid": "u", "ingress_token": "t", "boot": "manual_only"
        }))
        .unwrap();
        assert!(user.protected);
        assert!(!user.watchdog);
        assert_eq!(user.boot, Some(Boot::Manual));
        let fresh = UserData::new("1.0", "img");
        assert_eq!(fresh.uuid.len(), 32);
        assert!(fresh.access_token.is_none());
    }

    #[derive(Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "ports_from_api")]
        network: Option<Option<Ports>>,
    }

    #[test]
    fn api_ports_accept_numbers_strings_and_null() {
        let body: Body =
            serde_json::from_value(json!({"network": {"80/tcp": "8080", "53/udp": 5353, "22": null}})).unwrap();
        let ports = body.network.unwrap().unwrap();
        assert_eq!(ports["80/tcp"], Some(8080));
        assert_eq!(ports["53/udp"], Some(5353));
        assert_eq!(ports["22"], None);
        let reset: Body = serde_json::from_value(json!({"network": null})).unwrap();
        assert_eq!(reset.network, Some(None));
        let absent: Body = serde_json::from_value(json!({})).unwrap();
        assert_eq!(absent.network, None);
        for bad in [json!({"network": {"80/tcp": 0}}), json!({"network": {"x": 1}}), json!({"network": {"80": 70000}})]
        {
            assert!(serde_json::from_value::<Body>(bad).is_err());
        }
    }
}
