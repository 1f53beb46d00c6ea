//! The services add-ons provide each other, the real Supervisor's `mqtt` and `mysql`: an add-on
//! declares in its config what it does with each (`services: ["mqtt:provide"]`: `provide`,
//! `want` or `need`); a provider sets the connection details, which any add-on that declared
//! the service reads. One provider per service at a time.

use addons::{AddonManager, Installed};
use base::Error;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use state::Persisted;
use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use utoipa::ToSchema;

/// A service add-ons can provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Mqtt,
    Mysql,
}

impl Service {
    pub const ALL: [Service; 2] = [Service::Mqtt, Service::Mysql];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::Mqtt => "mqtt",
            Service::Mysql => "mysql",
        }
    }

    /// The service a path names; 404 for any other.
    pub fn parse(name: &str) -> Result<Service, Error> {
        Service::ALL
            .into_iter()
            .find(|service| service.as_str() == name)
            .ok_or_else(|| Error::not_found("Service does not exist"))
    }
}

/// What an add-on does with a service, from its config's `services`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Provide,
    Want,
    Need,
}

/// The add-on's role for `service`; entries are `<service>:<role>` (the config loader checked
/// them), a later one for the same service winning.
fn role(addon: &Installed, service: Service) -> Option<Role> {
    addon.config().services.iter().rev().find_map(|entry| {
        let (name, role) = entry.split_once(':')?;
        (name == service.as_str()).then_some(())?;
        match role {
            "provide" => Some(Role::Provide),
            "want" => Some(Role::Want),
            "need" => Some(Role::Need),
            _ => None,
        }
    })
}

/// A service's connection details as its provider sets them: `mqtt` has all the fields (`ssl`
/// defaults to false, `protocol` to `3.1.1`), `mysql` no `ssl` and `protocol`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceConfig {
    pub host: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// `mqtt` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl: Option<bool>,
    /// `mqtt` only: `3.1` or `3.1.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// A refusal of one key, worded as the real Supervisor's validation words it.
fn invalid(key: &str, why: &str) -> Error {
    Error::invalid(format!("{why} for dictionary value @ data['{key}']"))
}

fn string(body: &Map<String, Value>, key: &str) -> Result<Option<String>, Error> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(key, "expected str")),
    }
}

/// A network port as the real schema coerces it: an integer, a float (truncated) or a string
/// of an integer, within 1..=65535.
fn port(value: &Value) -> Result<u16, Error> {
    let number = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
    .ok_or_else(|| invalid("port", "expected int"))?;
    match number {
        ..=0 => Err(invalid("port", "value must be at least 1")),
        65536.. => Err(invalid("port", "value must be at most 65535")),
        _ => Ok(number as u16),
    }
}

/// A boolean as the real schema reads one: words such as `yes`/`off`, or any value's truth.
fn boolean(key: &str, value: &Value) -> Result<bool, Error> {
    match value {
        Value::String(s) => match s.to_lowercase().as_str() {
            "1" | "true" | "yes" | "on" | "enable" => Ok(true),
            "0" | "false" | "no" | "off" | "disable" => Ok(false),
            _ => Err(invalid(key, "expected boolean")),
        },
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(n.as_f64() != Some(0.0)),
        Value::Array(a) => Ok(!a.is_empty()),
        Value::Object(o) => Ok(!o.is_empty()),
    }
}

impl ServiceConfig {
    /// Validates a provider's body against the service's schema: unknown keys, missing `host`
    /// or `port` and wrong types are refused with the key named.
    pub fn parse(service: Service, body: &Map<String, Value>) -> Result<ServiceConfig, Error> {
        let keys: &[&str] = match service {
            Service::Mqtt => &["host", "port", "username", "password", "ssl", "protocol"],
            Service::Mysql => &["host", "port", "username", "password"],
        };
        if let Some(extra) = body.keys().find(|key| !keys.contains(&key.as_str())) {
            return Err(Error::invalid(format!("extra keys not allowed @ data['{extra}']")));
        }
        let required = |key: &str| {
            body.get(key).ok_or_else(|| Error::invalid(format!("required key not provided @ data['{key}']")))
        };
        required("host")?;
        let host = string(body, "host")?.unwrap_or_default();
        let port = port(required("port")?)?;
        let username = string(body, "username")?;
        let password = string(body, "password")?;
        let (ssl, protocol) = match service {
            Service::Mysql => (None, None),
            Service::Mqtt => {
                let ssl = body.get("ssl").map(|v| boolean("ssl", v)).transpose()?.unwrap_or(false);
                let protocol = string(body, "protocol")?.unwrap_or_else(|| "3.1.1".to_owned());
                if !["3.1", "3.1.1"].contains(&protocol.as_str()) {
                    return Err(invalid("protocol", "value must be one of ['3.1', '3.1.1']"));
                }
                (Some(ssl), Some(protocol))
            }
        };
        Ok(ServiceConfig { host, port, username, password, ssl, protocol })
    }
}

/// A service's details and who set them, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Provided {
    #[serde(flatten)]
    config: ServiceConfig,
    /// The provider's slug (the real Supervisor's older `addon` key is read too).
    #[serde(alias = "addon")]
    app: String,
}

/// One service as `/services` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ServiceStatus {
    pub slug: Service,
    /// A provider has set its details.
    pub available: bool,
    /// Installed add-ons that declare they provide it.
    pub providers: Vec<String>,
}

/// The services, persisted. Cheap to clone; every clone is the same manager.
#[derive(Clone)]
pub struct ServicesManager {
    inner: Arc<Inner>,
}

struct Inner {
    provided: Persisted<BTreeMap<Service, Provided>>,
    addons: AddonManager,
}

impl ServicesManager {
    /// Loads the services; an uninstalled add-on's details are dropped.
    pub fn new(store: &state::Store, addons: AddonManager) -> state::Result<ServicesManager> {
        let provided = Persisted::load(store.section("services")?, "provided")?;
        let inner = Arc::new(Inner { provided, addons: addons.clone() });
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        addons.on_uninstall(Arc::new(move |addon: &Installed| {
            if let Some(inner) = weak.upgrade() {
                ServicesManager { inner }.forget(&addon.slug);
            }
        }));
        Ok(ServicesManager { inner })
    }

    /// Every service, whether it is set and which installed add-ons provide it.
    pub fn list(&self) -> Vec<ServiceStatus> {
        let installed = self.inner.addons.list();
        let provided = self.inner.provided.read();
        Service::ALL
            .into_iter()
            .map(|service| ServiceStatus {
                slug: service,
                available: provided.contains_key(&service),
                providers: installed
                    .iter()
                    .filter(|addon| role(addon, service) == Some(Role::Provide))
                    .map(|addon| addon.slug.clone())
                    .collect(),
            })
            .collect()
    }

    /// The caller's role for `service`: 403 when it declared none.
    fn role_of(&self, caller: Option<&str>, service: Service) -> Result<Role, Error> {
        caller
            .and_then(|slug| self.inner.addons.get(slug))
            .and_then(|addon| role(&addon, service))
            .ok_or_else(|| Error::forbidden(format!("No access to {} service!", service.as_str())))
    }

    /// The details of `service` and their provider, for an add-on that declared the service.
    pub fn get(&self, caller: Option<&str>, service: Service) -> Result<(ServiceConfig, String), Error> {
        self.role_of(caller, service)?;
        let provided = self.inner.provided.read();
        let entry = provided.get(&service).ok_or_else(|| Error::invalid("Service not enabled"))?;
        Ok((entry.config.clone(), entry.app.clone()))
    }

    /// Sets the details of `service` as provided by the caller, which declared the service in
    /// any role (the real Supervisor does not ask for `provide` here); 409 while it is set.
    pub fn set(&self, caller: Option<&str>, service: Service, config: ServiceConfig) -> Result<(), Error> {
        self.role_of(caller, service)?;
        let app = caller.unwrap_or_default().to_owned();
        let mut conflict = None;
        self.inner.provided.update(|provided| match provided.get(&service) {
            Some(current) => conflict = Some(current.app.clone()),
            None => {
                provided.insert(service, Provided { config, app: app.clone() });
            }
        })?;
        if let Some(current) = conflict {
            return Err(Error::conflict(format!("The {} service is already provided by {current}", service.as_str()))
                .with_key("service_already_provided_error"));
        }
        tracing::info!("Service {} is now provided by {app}", service.as_str());
        Ok(())
    }

    /// Clears the details of `service`, for an add-on that provides it (whoever set them).
    pub fn delete(&self, caller: Option<&str>, service: Service) -> Result<(), Error> {
        if self.role_of(caller, service)? != Role::Provide {
            return Err(Error::forbidden(format!("No access to write {} service!", service.as_str())));
        }
        let before = self.inner.provided.update(|provided| {
            provided.remove(&service);
        })?;
        if !before.contains_key(&service) {
            return Err(Error::not_found(format!(
                "The {} service is not currently provided by any app",
                service.as_str()
            ))
            .with_key("service_not_provided_error"));
        }
        tracing::info!("Service {} is no longer provided", service.as_str());
        Ok(())
    }

    /// Drops the details an uninstalled add-on provided.
    pub(crate) fn forget(&self, slug: &str) {
        if !self.inner.provided.read().values().any(|entry| entry.app == slug) {
            return;
        }
        if let Err(e) = self.inner.provided.update(|provided| provided.retain(|_, entry| entry.app != slug)) {
            tracing::warn!(addon = slug, "can't drop the services it provided: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(service: Service, body: Value) -> Result<ServiceConfig, String> {
        ServiceConfig::parse(service, body.as_object().unwrap()).map_err(|e| e.message)
    }

    #[test]
    fn mqtt_defaults_and_coercions() {
        let config = parse(Service::Mqtt, json!({"host": "core-mosquitto", "port": "1883"})).unwrap();
        assert_eq!(
            serde_json::to_value(&config).unwrap(),
            json!({"host": "core-mosquitto", "port": 1883, "ssl": false, "protocol": "3.1.1"})
        );
        let config = parse(
            Service::Mqtt,
            json!({"host": "h", "port": 8883, "username": "u", "password": "p", "ssl": "yes", "protocol": "3.1"}),
        )
        .unwrap();
        assert_eq!(
            (config.ssl, config.protocol.as_deref(), config.username.as_deref()),
            (Some(true), Some("3.1"), Some("u"))
        );
    }

    #[test]
    fn mysql_has_no_mqtt_keys() {
        let config = parse(Service::Mysql, json!({"host": "db", "port": 3306, "username": "u"})).unwrap();
        assert_eq!(serde_json::to_value(&config).unwrap(), json!({"host": "db", "port": 3306, "username": "u"}));
        assert_eq!(
            parse(Service::Mysql, json!({"host": "db", "port": 3306, "ssl": true})).unwrap_err(),
            "extra keys not allowed @ data['ssl']"
        );
    }

    #[test]
    fn refusals_name_the_key() {
        for (body, message) in [
            (json!({"port": 1}), "required key not provided @ data['host']"),
            (json!({"host": "h"}), "required key not provided @ data['port']"),
            (json!({"host": 5, "port": 1}), "expected str for dictionary value @ data['host']"),
            (json!({"host": "h", "port": "x"}), "expected int for dictionary value @ data['port']"),
            (json!({"host": "h", "port": 0}), "value must be at least 1 for dictionary value @ data['port']"),
            (json!({"host": "h", "port": 70000}), "value must be at most 65535 for dictionary value @ data['port']"),
            (json!({"host": "h", "port": 1, "ssl": "maybe"}), "expected boolean for dictionary value @ data['ssl']"),
            (
                json!({"host": "h", "port": 1, "protocol": "5"}),
                "value must be one of ['3.1', '3.1.1'] for dictionary value @ data['protocol']",
            ),
            (json!({"host": "h", "port": 1, "password": 1}), "expected str for dictionary value @ data['password']"),
            (json!({"host": "h", "port": 1, "bogus": 1}), "extra keys not allowed @ data['bogus']"),
        ] {
            assert_eq!(parse(Service::Mqtt, body.clone()).unwrap_err(), message, "{body}");
        }
    }

    #[test]
    fn stored_records_read_the_older_addon_key() {
        let stored: Provided =
            serde_json::from_value(json!({"host": "h", "port": 1, "addon": "core_mosquitto"})).unwrap();
        assert_eq!(stored.app, "core_mosquitto");
        let written = serde_json::to_value(Provided { app: "x".into(), ..stored }).unwrap();
        assert_eq!(written, json!({"host": "h", "port": 1, "app": "x"}));
    }

    #[test]
    fn service_names() {
        assert_eq!(Service::parse("mqtt").unwrap(), Service::Mqtt);
        assert_eq!(Service::parse("mysql").unwrap(), Service::Mysql);
        let unknown = Service::parse("redis").unwrap_err();
        assert_eq!((unknown.kind, unknown.message.as_str()), (base::Kind::NotFound, "Service does not exist"));
    }
}
