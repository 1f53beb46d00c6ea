//! The local-mode target state of the device API (`POST /v2/local/target-state`): the device's
//! name and config, and the applications with their services, volumes and networks, in the
//! balena Supervisor's field names. [`parse`] checks a body in full before anything is stored,
//! and its message names the field that is wrong; what it answers is what the state engine
//! converges to and what `GET /v2/local/target-state` gives back.
//!
//! Services may only name the volumes and networks of their own application (no host paths:
//! a target state is not a way to bind the host's files into a container).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The update strategies of the `io.balena.update.strategy` label.
pub const STRATEGIES: [&str; 4] = ["download-then-kill", "kill-then-download", "delete-then-download", "hand-over"];
pub const LABEL_STRATEGY: &str = "io.balena.update.strategy";
pub const LABEL_HANDOVER_TIMEOUT: &str = "io.balena.update.handover-timeout";
/// The restart policies a service may have.
const RESTART: [&str; 4] = ["no", "always", "on-failure", "unless-stopped"];

/// The stored target state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    pub config: BTreeMap<String, String>,
    pub apps: BTreeMap<u32, App>,
}

/// One application of the target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_id: Option<Value>,
    /// By the key they were given (the service id in the reference).
    pub services: BTreeMap<String, Service>,
    pub volumes: BTreeMap<String, Resource>,
    pub networks: BTreeMap<String, Resource>,
}

/// A volume or network of an application: the engine's driver, its options and labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// One service of an application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    #[serde(rename = "serviceName")]
    pub service_name: String,
    #[serde(rename = "serviceId")]
    pub service_id: u32,
    #[serde(rename = "imageId")]
    pub image_id: u32,
    pub image: String,
    pub environment: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    pub running: bool,
    pub restart: String,
}

impl Service {
    /// The update strategy its labels ask for; `download-then-kill` by default.
    pub fn strategy(&self) -> &str {
        self.labels.get(LABEL_STRATEGY).map_or("download-then-kill", String::as_str)
    }

    /// How long a hand-over waits for the new container to say it took over, in milliseconds.
    pub fn handover_timeout_ms(&self) -> u64 {
        self.labels.get(LABEL_HANDOVER_TIMEOUT).and_then(|ms| ms.parse().ok()).unwrap_or(60_000)
    }

    /// The service whose network stack it shares (`network_mode: service:<name>` or
    /// `container:<name>`), if any.
    pub fn shares_network_of(&self) -> Option<&str> {
        let mode = self.network_mode.as_deref()?;
        mode.strip_prefix("service:").or_else(|| mode.strip_prefix("container:"))
    }
}

impl Target {
    /// The answer of `GET /v2/local/target-state`.
    pub fn to_wire(&self) -> Value {
        let apps: Map<String, Value> = self
            .apps
            .iter()
            .map(|(id, app)| (id.to_string(), serde_json::to_value(app).expect("an app serializes")))
            .collect();
        serde_json::json!({
            "local": {"name": self.name, "config": self.config, "apps": apps},
            "dependent": {"apps": [], "devices": []}
        })
    }

    /// Whether the config says to override update locks (`SUPERVISOR_OVERRIDE_LOCK`).
    pub fn override_lock(&self) -> bool {
        self.config.get("SUPERVISOR_OVERRIDE_LOCK").is_some_and(|v| matches!(v.as_str(), "1" | "true"))
    }
}

/// A checked `POST /v2/local/target-state`: the target and the call's `force`.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    pub target: Target,
    pub force: bool,
}

type Checked<T> = Result<T, String>;

/// Checks a target state body in full; the message names the first field that is wrong.
pub fn parse(body: &Value) -> Checked<Posted> {
    let top = object(body, "body")?;
    only(top, "", &["local", "dependent", "force"])?;
    let force = match top.get("force") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(force)) => *force,
        Some(_) => return Err("force must be a boolean".into()),
    };
    let local = object(top.get("local").ok_or("local is missing")?, "local")?;
    only(local, "local.", &["name", "config", "apps"])?;
    let name = optional_string(local, "name", "local.name")?.unwrap_or_default();
    let config = string_map(local.get("config"), "local.config", |_| true)?;
    let mut apps = BTreeMap::new();
    if let Some(value) = local.get("apps") {
        for (id, app) in object(value, "local.apps")? {
            let path = format!("local.apps.{id}");
            let app_id = positive(id).ok_or_else(|| format!("{path}: an application id is a positive integer"))?;
            apps.insert(app_id, parse_app(app, &path)?);
        }
    }
    Ok(Posted { target: Target { name, config, apps }, force })
}

fn parse_app(value: &Value, path: &str) -> Checked<App> {
    let app = object(value, path)?;
    only(app, &format!("{path}."), &["name", "commit", "releaseId", "services", "volumes", "networks"])?;
    let name = optional_string(app, "name", &format!("{path}.name"))?.ok_or(format!("{path}.name is missing"))?;
    let commit = optional_string(app, "commit", &format!("{path}.commit"))?;
    let release_id = match app.get("releaseId") {
        None | Some(Value::Null) => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id.clone()),
        Some(_) => return Err(format!("{path}.releaseId must be a string or a number")),
    };
    let volumes = resources(app.get("volumes"), &format!("{path}.volumes"))?;
    let networks = resources(app.get("networks"), &format!("{path}.networks"))?;
    let mut services = BTreeMap::new();
    if let Some(value) = app.get("services") {
        for (key, service) in object(value, &format!("{path}.services"))? {
            let path = format!("{path}.services.{key}");
            let service = parse_service(service, key, &path, &volumes, &networks)?;
            if services.values().any(|other: &Service| other.service_name == service.service_name) {
                return Err(format!("{path}.serviceName: {} names two services", service.service_name));
            }
            services.insert(key.clone(), service);
        }
    }
    for (key, service) in &services {
        if let Some(other) = service.shares_network_of() {
            let found = services.values().any(|s| s.service_name == other && s.shares_network_of().is_none());
            if !found || other == service.service_name {
                return Err(format!("{path}.services.{key}.network_mode: {other} is no other service of the app"));
            }
        }
    }
    Ok(App { name, commit, release_id, services, volumes, networks })
}

fn parse_service(
    value: &Value,
    key: &str,
    path: &str,
    volumes: &BTreeMap<String, Resource>,
    networks: &BTreeMap<String, Resource>,
) -> Checked<Service> {
    let service = object(value, path)?;
    only(
        service,
        &format!("{path}."),
        &[
            "serviceName",
            "serviceId",
            "imageId",
            "image",
            "environment",
            "labels",
            "command",
            "ports",
            "volumes",
            "networks",
            "network_mode",
            "running",
            "restart",
            "releaseId",
            "contract",
        ],
    )?;
    let field = |name: &str| format!("{path}.{name}");
    let service_name = optional_string(service, "serviceName", &field("serviceName"))?
        .ok_or(format!("{path}.serviceName is missing"))?;
    if !is_name(&service_name) {
        return Err(format!("{}: letters, digits, '_', '.' and '-', not first, at most 63", field("serviceName")));
    }
    let number = |name: &str, default: Option<u32>| -> Checked<u32> {
        match service.get(name) {
            None | Some(Value::Null) => default.ok_or(format!("{} is missing", field(name))),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or(format!("{} must be a positive integer", field(name))),
            Some(Value::String(s)) => positive(s).ok_or(format!("{} must be a positive integer", field(name))),
            Some(_) => Err(format!("{} must be a positive integer", field(name))),
        }
    };
    let service_id = number("serviceId", positive(key))?;
    let image_id = number("imageId", Some(service_id))?;
    let image = optional_string(service, "image", &field("image"))?.ok_or(format!("{path}.image is missing"))?;
    if image.is_empty() || image.len() > 255 || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{} must be an image reference", field("image")));
    }
    let environment = string_map(service.get("environment"), &field("environment"), |name| {
        let mut chars = name.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })?;
    let labels = string_map(service.get("labels"), &field("labels"), |name| !name.is_empty())?;
    if let Some(strategy) = labels.get(LABEL_STRATEGY) {
        if !STRATEGIES.contains(&strategy.as_str()) {
            return Err(format!("{}.{LABEL_STRATEGY}: one of {}", field("labels"), STRATEGIES.join(", ")));
        }
    }
    if labels.get(LABEL_HANDOVER_TIMEOUT).is_some_and(|ms| ms.parse::<u64>().is_err()) {
        return Err(format!("{}.{LABEL_HANDOVER_TIMEOUT} must be milliseconds", field("labels")));
    }
    let command = match service.get("command") {
        None | Some(Value::Null) => None,
        Some(Value::String(line)) => {
            Some(split_command(line).ok_or(format!("{}: unbalanced quotes", field("command")))?)
        }
        Some(Value::Array(words)) => Some(
            words
                .iter()
                .map(|w| w.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(format!("{} must be a string or a list of strings", field("command")))?,
        ),
        Some(_) => return Err(format!("{} must be a string or a list of strings", field("command"))),
    };
    let ports = strings(service.get("ports"), &field("ports"))?;
    if let Some(bad) = ports.iter().find(|port| !is_port_mapping(port)) {
        return Err(format!("{}: {bad} is not a port mapping ([host:]container[/tcp|udp])", field("ports")));
    }
    let mounts = strings(service.get("volumes"), &field("volumes"))?;
    for mount in &mounts {
        let parts: Vec<&str> = mount.split(':').collect();
        let ok = matches!(parts.as_slice(), [name, target] | [name, target, "ro" | "rw"]
            if volumes.contains_key(*name) && target.starts_with('/'));
        if !ok {
            return Err(format!("{}: {mount} must be <volume of the app>:<absolute path>[:ro]", field("volumes")));
        }
    }
    let service_networks = match service.get("networks") {
        Some(Value::Object(names)) => names.keys().cloned().collect(),
        other => strings(other, &field("networks"))?,
    };
    if let Some(unknown) = service_networks.iter().find(|name| !networks.contains_key(*name)) {
        return Err(format!("{}: {unknown} is no network of the app", field("networks")));
    }
    let network_mode = optional_string(service, "network_mode", &field("network_mode"))?;
    if let Some(mode) = &network_mode {
        let shared = mode.strip_prefix("service:").or_else(|| mode.strip_prefix("container:"));
        if !matches!(mode.as_str(), "bridge" | "host" | "none") && shared.is_none_or(|name| !is_name(name)) {
            return Err(format!("{}: bridge, host, none or service:<name>", field("network_mode")));
        }
        if !service_networks.is_empty() && mode != "bridge" {
            return Err(format!("{}: a service with networks has no other network mode", field("network_mode")));
        }
    }
    let running = match service.get("running") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(running)) => *running,
        Some(_) => return Err(format!("{} must be a boolean", field("running"))),
    };
    let restart = optional_string(service, "restart", &field("restart"))?.unwrap_or_else(|| "always".to_owned());
    if !RESTART.contains(&restart.as_str()) {
        return Err(format!("{}: one of {}", field("restart"), RESTART.join(", ")));
    }
    Ok(Service {
        service_name,
        service_id,
        image_id,
        image,
        environment,
        labels,
        command,
        ports,
        volumes: mounts,
        networks: service_networks,
        network_mode,
        running,
        restart,
    })
}

fn resources(value: Option<&Value>, path: &str) -> Checked<BTreeMap<String, Resource>> {
    let mut found = BTreeMap::new();
    let Some(value) = value.filter(|v| !v.is_null()) else { return Ok(found) };
    for (name, config) in object(value, path)? {
        let path = format!("{path}.{name}");
        if !is_name(name) {
            return Err(format!("{path}: a name of letters, digits, '_', '.' and '-'"));
        }
        let config = if config.is_null() { Map::new() } else { object(config, &path)?.clone() };
        only(&config, &format!("{path}."), &["driver", "driver_opts", "labels"])?;
        let driver = optional_string(&config, "driver", &format!("{path}.driver"))?;
        let driver_opts = string_map(config.get("driver_opts"), &format!("{path}.driver_opts"), |_| true)?;
        let labels = string_map(config.get("labels"), &format!("{path}.labels"), |k| !k.is_empty())?;
        found.insert(name.clone(), Resource { driver, driver_opts, labels });
    }
    Ok(found)
}

fn object<'a>(value: &'a Value, path: &str) -> Checked<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| format!("{path} must be an object"))
}

/// Refuses a key not in `known`.
fn only(object: &Map<String, Value>, prefix: &str, known: &[&str]) -> Checked<()> {
    match object.keys().find(|key| !known.contains(&key.as_str())) {
        Some(unknown) => Err(format!("{prefix}{unknown} is not a field of the target state")),
        None => Ok(()),
    }
}

fn optional_string(object: &Map<String, Value>, key: &str, path: &str) -> Checked<Option<String>> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(format!("{path} must be a string")),
    }
}

/// An object of strings (numbers and booleans taken as their text, as compose files have them).
fn string_map(value: Option<&Value>, path: &str, key_ok: impl Fn(&str) -> bool) -> Checked<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    let Some(value) = value.filter(|v| !v.is_null()) else { return Ok(map) };
    for (key, value) in object(value, path)? {
        if !key_ok(key) {
            return Err(format!("{path}: {key:?} is not a valid name"));
        }
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(format!("{path}.{key} must be a string")),
        };
        map.insert(key.clone(), text);
    }
    Ok(map)
}

fn strings(value: Option<&Value>, path: &str) -> Checked<Vec<String>> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("{path} must be a list of strings")),
        Some(_) => Err(format!("{path} must be a list of strings")),
    }
}

fn positive(text: &str) -> Option<u32> {
    text.parse::<u32>().ok().filter(|n| *n > 0 && n.to_string() == text)
}

/// A name that is safe in the engine's object names and as a folder: what services, volumes
/// and networks are called.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `[host:]container[/tcp|/udp]`, ports 1 to 65535.
fn is_port_mapping(mapping: &str) -> bool {
    let (ports, protocol) = mapping.split_once('/').unwrap_or((mapping, "tcp"));
    let port = |p: &str| p.parse::<u16>().is_ok_and(|p| p > 0);
    matches!(protocol, "tcp" | "udp")
        && match ports.split_once(':') {
            Some((host, container)) => port(host) && port(container),
            None => port(ports),
        }
}

/// A command line split into words as a shell would split it (quotes, no expansions).
fn split_command(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => word.get_or_insert_default().push(chars.next()?),
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, '\\') => word.get_or_insert_default().push(chars.next()?),
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    if quote.is_some() {
        return None;
    }
    words.extend(word);
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn two_services() -> Value {
        json!({"local": {"name": "Home", "config": {"SUPERVISOR_OVERRIDE_LOCK": "false"}, "apps": {"1": {
            "name": "localapp", "commit": "c1", "releaseId": "1",
            "volumes": {"data": {}}, "networks": {"backend": null},
            "services": {
                "1": {"serviceName": "one", "imageId": 1, "image": "local_image_one:latest",
                      "environment": {"A": "1"}, "labels": {"io.balena.update.strategy": "hand-over"},
                      "command": "sh -c 'echo hi; sleep 100'", "volumes": ["data:/data"],
                      "networks": ["backend"], "ports": ["8080:80", "53/udp"]},
                "2": {"serviceName": "two", "serviceId": 2, "imageId": 2, "image": "local_image_two:latest",
                      "network_mode": "container:one", "running": false}
            }}}}, "dependent": {"apps": [], "devices": []}})
    }

    #[test]
    fn a_target_state_is_read_in_the_balena_supervisors_shape() {
        let posted = parse(&two_services()).unwrap();
        assert!(!posted.force);
        let app = &posted.target.apps[&1];
        let one = &app.services["1"];
        assert_eq!((one.service_id, one.image_id, one.running), (1, 1, true));
        assert_eq!(one.command.as_deref().unwrap(), ["sh", "-c", "echo hi; sleep 100"]);
        assert_eq!(one.strategy(), "hand-over");
        assert_eq!(one.restart, "always");
        let two = &app.services["2"];
        assert_eq!((two.shares_network_of(), two.running, two.strategy()), (Some("one"), false, "download-then-kill"));
        let wire = posted.target.to_wire();
        assert_eq!(wire["local"]["apps"]["1"]["services"]["2"]["serviceName"], "two");
        assert_eq!(parse(&wire).unwrap().target, posted.target, "what GET answers can be posted again");
    }

    #[test]
    fn a_bad_target_state_names_the_field() {
        let cases: [(&str, Value, &str); 13] = [
            ("/local", json!(1), "local must be an object"),
            ("/local/apps/1/services/1/image", json!(5), "local.apps.1.services.1.image must be a string"),
            ("/local/apps/1/services/1/serviceName", json!("../x"), "local.apps.1.services.1.serviceName"),
            ("/local/apps/1/services/1/ports", json!(["70000:1"]), "local.apps.1.services.1.ports"),
            ("/local/apps/1/services/1/volumes", json!(["/etc:/host"]), "local.apps.1.services.1.volumes"),
            ("/local/apps/1/services/1/volumes", json!(["other:/x"]), "local.apps.1.services.1.volumes"),
            ("/local/apps/1/services/1/networks", json!(["front"]), "local.apps.1.services.1.networks"),
            ("/local/apps/1/services/1/environment", json!({"1A": "x"}), "local.apps.1.services.1.environment"),
            (
                "/local/apps/1/services/1/labels",
                json!({"io.balena.update.strategy": "x"}),
                "local.apps.1.services.1.labels",
            ),
            ("/local/apps/1/services/1/running", json!("yes"), "local.apps.1.services.1.running"),
            ("/local/apps/1/services/1/restart", json!("sometimes"), "local.apps.1.services.1.restart"),
            ("/local/apps/1/services/2/serviceName", json!("one"), "local.apps.1.services.2.serviceName"),
            (
                "/local/apps/1/services/2/network_mode",
                json!("container:nobody"),
                "local.apps.1.services.2.network_mode",
            ),
        ];
        for (pointer, value, message) in cases {
            let mut body = two_services();
            let (parent, field) = pointer.rsplit_once('/').unwrap();
            body.pointer_mut(parent).unwrap()[field] = value;
            let error = parse(&body).unwrap_err();
            assert!(error.starts_with(message), "{pointer}: {error}");
        }
        let mut body = two_services();
        body["local"]["apps"]["1"]["services"]["1"]["cpu"] = json!(1);
        assert_eq!(parse(&body).unwrap_err(), "local.apps.1.services.1.cpu is not a field of the target state");
        body = two_services();
        body["local"]["apps"]["x"] = json!({});
        assert!(parse(&body).unwrap_err().starts_with("local.apps.x"));
        assert_eq!(parse(&json!({})).unwrap_err(), "local is missing");
    }

    #[test]
    fn commands_split_as_a_shell_splits_them() {
        assert_eq!(split_command(r#"a "b c" 'd e'f \g"#).unwrap(), ["a", "b c", "d ef", "g"]);
        assert_eq!(split_command("''").unwrap(), [""]);
        assert_eq!(split_command("a 'b"), None);
    }
}
