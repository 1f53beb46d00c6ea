//! `config.yaml`: one add-on's configuration, migrated from old key forms and validated key by
//! key with the Supervisor's types and defaults, and the availability of an add-on on a system.
//!
//! Unknown top-level keys are dropped, as the real Supervisor drops them; each one is named in a
//! warning the caller reports (the store puts it in the repository's errors), so an add-on that
//! uses a key newer than this supervisor still loads. Keys the Supervisor retired (`codenotary`,
//! `advanced`) are known and ignored; old keys (`snapshot*`, `auto_uart`) are migrated before
//! the check.

use crate::{files, ConfigError, Schema};
use base::pyval::{boolean, coerce_int, py_float, py_str};
use regex::Regex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::{Component, Path};
use std::sync::LazyLock;

/// Every architecture an add-on may name (`ARCH_ALL_COMPAT`).
pub(crate) const ARCHS: [&str; 5] = ["armhf", "armv7", "aarch64", "amd64", "i386"];

/// The Linux capabilities an add-on may ask for in `privileged`.
const CAPABILITIES: [&str; 14] = [
    "BPF",
    "CHECKPOINT_RESTORE",
    "DAC_READ_SEARCH",
    "IPC_LOCK",
    "NET_ADMIN",
    "NET_RAW",
    "PERFMON",
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
];

/// Every top-level key the format knows, after migration.
const KNOWN_KEYS: [&str; 68] = [
    "name",
    "version",
    "slug",
    "description",
    "arch",
    "machine",
    "url",
    "startup",
    "boot",
    "init",
    "advanced",
    "stage",
    "ports",
    "ports_description",
    "watchdog",
    "watchdog_restart_policy",
    "log_format",
    "webui",
    "ingress",
    "ingress_port",
    "ingress_entry",
    "ingress_stream",
    "panel_icon",
    "panel_title",
    "panel_admin",
    "homeassistant",
    "host_network",
    "host_pid",
    "host_ipc",
    "host_uts",
    "host_dbus",
    "devices",
    "udev",
    "tmpfs",
    "map",
    "environment",
    "privileged",
    "apparmor",
    "full_access",
    "audio",
    "video",
    "gpio",
    "usb",
    "uart",
    "devicetree",
    "kernel_modules",
    "realtime",
    "hassio_api",
    "hassio_role",
    "homeassistant_api",
    "stdin",
    "legacy",
    "docker_api",
    "auth_api",
    "services",
    "discovery",
    "backup_exclude",
    "backup_pre",
    "backup_post",
    "backup",
    "options",
    "schema",
    "image",
    "ulimits",
    "timeout",
    "journald",
    "breaking_versions",
    "codenotary",
];

/// The slug names folders, containers and URLs: unlike every other pattern here it is matched
/// exactly, a final newline included (Python's `$` would let `slug: |` blocks through).
static RE_SLUG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[-_.A-Za-z0-9]+\z").expect("static regex"));
static RE_MACHINE: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^!?(?:|intel-nuc|khadas-vim3|generic-aarch64|generic-x86-64|odroid-c2|odroid-c4",
        r"|odroid-m1|odroid-n2|odroid-xu|qemuarm-64|qemuarm|qemux86-64|qemux86|raspberrypi",
        r"|raspberrypi2|raspberrypi3-64|raspberrypi3|raspberrypi4-64|raspberrypi4",
        r"|raspberrypi5-64|yellow|green|tinker)$"
    ))
});
static RE_WATCHDOG: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:https?|\[PROTO:\w+\]|tcp)://\[HOST\]:(\[PORT:\d+\]|\d+).*$"));
static RE_WEBUI: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:https?|\[PROTO:\w+\])://\[HOST\]:\[PORT:\d+\].*$"));
static RE_SERVICE: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:mqtt|mysql):(?:provide|want|need)$"));
static RE_DOCKER_PORT: LazyLock<Regex> = LazyLock::new(|| re(r"^\d+(?:/tcp|/udp)?$"));
/// A registry: a host name (parts of letters, digits and inner dashes) or a bracketed IPv6
/// address, with an optional port; Docker's own `DomainRegexp`, matched whole.
static RE_REGISTRY_DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\A(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*",
        r"|\[[a-fA-F0-9:]+\])(?::[0-9]+)?\z"
    ))
    .expect("static regex")
});
/// One part of an image's path: lower case, digits, `.`, `-`, `_` and `{arch}`-style templates.
static RE_IMAGE_PATH_COMPONENT: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9{][a-z0-9.\-_{}]*$"));

/// Whether `image` is a Docker image name without a tag, by the rule the real Supervisor checks
/// images with since 2026.03 (an add-on's `image`, Core's `image` option): an optional registry
/// (as Docker tells one from a path: `localhost`, or a first part holding `.`, `:` or upper
/// case), lower-case in every path part, which may hold dots and may be alone (`nginx`), and no
/// tag (the version is the tag).
pub fn is_docker_image(image: &str) -> bool {
    let (registry, path) = split_registry(image);
    if let Some(registry) = registry {
        if registry != registry.to_lowercase() || !RE_REGISTRY_DOMAIN.is_match(registry) {
            return false;
        }
    }
    !path.is_empty() && !path.contains(':') && path.split('/').all(|part| RE_IMAGE_PATH_COMPONENT.is_match(part))
}

/// Docker's `splitDockerDomain`: the registry of an image reference, if it names one, and the
/// rest. A single part is never a registry.
fn split_registry(image: &str) -> (Option<&str>, &str) {
    let Some((first, rest)) = image.split_once('/') else {
        return (None, image);
    };
    let registry = first == "localhost"
        || first == "index.docker.io"
        || first.contains(['.', ':'])
        || first.chars().any(|c| c.is_uppercase());
    if registry {
        (Some(first), rest)
    } else {
        (None, image)
    }
}

/// Ours, not the Supervisor's (it parses URLs with `urlparse`): a scheme and the start of a host.
static RE_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]").expect("static regex"));
/// The old string form of a `map` entry: `type[:rw|:ro]`.
static RE_VOLUME: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(data|config|ssl|local_apps|addons|backup|share|media|homeassistant_config",
        r"|all_app_configs|all_addon_configs|app_config|addon_config)(?::(rw|ro))?$"
    ))
});

/// A pattern of the real Supervisor, matched as Python matches it.
fn re(pattern: &str) -> Regex {
    crate::python_regex(pattern)
}

/// When an add-on starts during boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Startup {
    Initialize,
    System,
    Services,
    #[default]
    Application,
    Once,
}

/// The `boot` default; `manual_only` forbids the user to switch to `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BootConfig {
    #[default]
    Auto,
    Manual,
    ManualOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    #[default]
    Stable,
    Experimental,
    Deprecated,
}

/// Whether a backup may run while the add-on runs (`hot`) or stops it (`cold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackupMode {
    #[default]
    Hot,
    Cold,
}

/// How the watchdog restarts a failed add-on (newest Supervisor key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WatchdogRestartPolicy {
    #[default]
    RateLimited,
    Unlimited,
}

/// A folder mapped into the container. The newest Supervisor's names (`local_apps`,
/// `all_app_configs`, `app_config`) mean the same folders as the legacy ones and are read as
/// those.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapType {
    Data,
    Config,
    Ssl,
    Addons,
    Backup,
    Share,
    Media,
    HomeassistantConfig,
    AllAddonConfigs,
    AddonConfig,
}

impl MapType {
    fn parse(name: &str) -> Option<MapType> {
        Some(match name {
            "data" => MapType::Data,
            "config" => MapType::Config,
            "ssl" => MapType::Ssl,
            "addons" | "local_apps" => MapType::Addons,
            "backup" => MapType::Backup,
            "share" => MapType::Share,
            "media" => MapType::Media,
            "homeassistant_config" => MapType::HomeassistantConfig,
            "all_addon_configs" | "all_app_configs" => MapType::AllAddonConfigs,
            "addon_config" | "app_config" => MapType::AddonConfig,
            _ => return None,
        })
    }
}

/// One `map` entry: the folder, read-only or not, and the target path if not the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapEntry {
    #[serde(rename = "type")]
    pub kind: MapType,
    pub read_only: bool,
    pub path: Option<String>,
}

/// A `ulimits` entry: one value for soft and hard, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ulimit {
    Single(i64),
    Range { soft: i64, hard: i64 },
}

/// Why an add-on cannot be installed here, as the real Supervisor words and keys it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub error_key: &'static str,
    pub message: String,
}

/// A validated `config.yaml`: one field per key, defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddonConfig {
    pub name: String,
    pub version: String,
    pub slug: String,
    pub description: String,
    pub arch: Vec<String>,
    /// Empty: every machine.
    pub machine: Vec<String>,
    pub url: Option<String>,
    pub startup: Startup,
    pub boot: BootConfig,
    pub init: bool,
    pub stage: Stage,
    /// `"<port>[/tcp|/udp]"` → host port; `None` leaves the port unmapped.
    pub ports: BTreeMap<String, Option<u16>>,
    pub ports_description: BTreeMap<String, String>,
    pub webui: Option<String>,
    pub watchdog: Option<String>,
    pub watchdog_restart_policy: WatchdogRestartPolicy,
    pub ingress: bool,
    /// 0: a port picked when installed.
    pub ingress_port: u16,
    pub ingress_entry: Option<String>,
    pub ingress_stream: bool,
    pub panel_icon: String,
    pub panel_title: Option<String>,
    pub panel_admin: bool,
    /// The minimum Home Assistant Core version.
    pub homeassistant: Option<String>,
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub host_uts: bool,
    pub host_dbus: bool,
    pub devices: Vec<String>,
    pub udev: bool,
    pub tmpfs: bool,
    pub map: Vec<MapEntry>,
    pub environment: BTreeMap<String, String>,
    pub privileged: Vec<String>,
    pub apparmor: bool,
    pub full_access: bool,
    pub audio: bool,
    pub video: bool,
    pub gpio: bool,
    pub usb: bool,
    pub uart: bool,
    pub devicetree: bool,
    pub kernel_modules: bool,
    pub realtime: bool,
    pub hassio_api: bool,
    pub hassio_role: base::Role,
    pub homeassistant_api: bool,
    pub auth_api: bool,
    pub docker_api: bool,
    pub stdin: bool,
    pub legacy: bool,
    pub services: Vec<String>,
    pub discovery: Vec<String>,
    pub backup: BackupMode,
    pub backup_exclude: Vec<String>,
    pub backup_pre: Option<String>,
    pub backup_post: Option<String>,
    /// The default options.
    pub options: Map<String, Value>,
    /// `None` when `schema: false` (options disabled).
    pub schema: Option<Schema>,
    /// `None`: built locally from the add-on's Dockerfile.
    pub image: Option<String>,
    pub ulimits: BTreeMap<String, Ulimit>,
    /// Seconds `docker stop` waits, 10..=300.
    pub timeout: u32,
    pub journald: bool,
    /// How the add-on's log lines are shown when the client names no format: `timestamp` or
    /// `verbose` for programs that print bare messages, `plain` (the default) for those that
    /// print their own times.
    pub log_format: base::logs::LineFormat,
    pub breaking_versions: Vec<String>,
}

impl AddonConfig {
    /// Finds config.yaml|yml|json in `dir`, migrates old keys, validates. Ok(None) if no config file.
    /// What was dropped from it is logged.
    pub fn load(dir: &Path) -> Result<Option<AddonConfig>, ConfigError> {
        Ok(AddonConfig::load_with_warnings(dir)?.map(|(config, warnings)| {
            log_warnings(&config, &warnings);
            config
        }))
    }

    /// [`AddonConfig::load`], answering what was dropped from the file (unknown keys, each
    /// named with the file) instead of logging it.
    pub fn load_with_warnings(dir: &Path) -> Result<Option<(AddonConfig, Vec<String>)>, ConfigError> {
        let Some(path) = files::find(dir, "config") else {
            return Ok(None);
        };
        let value = files::read(&path)?;
        let file = files::file_name(&path);
        let (config, warnings) =
            AddonConfig::from_value_with_warnings(value).map_err(|e| ConfigError(format!("{file}: {}", e.0)))?;
        Ok(Some((config, warnings.into_iter().map(|w| format!("{file}: {w}")).collect())))
    }

    /// Migrates and validates a config already read; errors name the offending key. Unknown
    /// keys are dropped and logged.
    pub fn from_value(value: Value) -> Result<AddonConfig, ConfigError> {
        let (config, warnings) = AddonConfig::from_value_with_warnings(value)?;
        log_warnings(&config, &warnings);
        Ok(config)
    }

    /// [`AddonConfig::from_value`], answering the unknown keys it dropped, one message each.
    pub fn from_value_with_warnings(value: Value) -> Result<(AddonConfig, Vec<String>), ConfigError> {
        let Value::Object(mut map) = value else {
            return Err(ConfigError("an add-on config must be a mapping".into()));
        };
        migrate(&mut map);
        let unknown: Vec<String> = map.keys().filter(|k| !KNOWN_KEYS.contains(&k.as_str())).cloned().collect();
        let warnings = unknown
            .into_iter()
            .map(|key| {
                map.remove(&key);
                format!("unknown key '{key}' ignored")
            })
            .collect();
        let config = read_config(&Keys(&map))?;
        check_dynamic_ingress(&config)?;
        Ok((config, warnings))
    }

    /// Unavailable { error_key, message } as the real Supervisor words it (arch, machine, HA
    /// version). The message names the config `slug`; [`AddonConfig::availability_for`] names
    /// the full slug (`local_example`) as the Supervisor does.
    pub fn availability(&self, archs: &[&str], machine: &str, homeassistant: Option<&str>) -> Result<(), Unavailable> {
        self.availability_for(&self.slug, archs, machine, homeassistant)
    }

    /// [`AddonConfig::availability`] with the messages naming `full_slug`.
    /// `archs`: the system's architectures; `homeassistant`: the installed Core version, `None`
    /// when there is none (then the minimum version does not limit).
    pub fn availability_for(
        &self,
        full_slug: &str,
        archs: &[&str],
        machine: &str,
        homeassistant: Option<&str>,
    ) -> Result<(), Unavailable> {
        if self.arch_for(archs).is_none() {
            return Err(Unavailable {
                error_key: "addon_not_supported_architecture_error",
                message: format!(
                    "App {full_slug} not supported on this platform, supported architectures: {}",
                    self.arch.join(", ")
                ),
            });
        }
        if !self.supports_machine(machine) {
            return Err(Unavailable {
                error_key: "addon_not_supported_machine_type_error",
                message: format!(
                    "App {full_slug} not supported on this machine, supported machine types: {}",
                    self.machine.join(", ")
                ),
            });
        }
        if let (Some(required), Some(installed)) = (&self.homeassistant, homeassistant) {
            // Versions that do not compare leave the add-on available, as upstream.
            if base::version::is_newer(required, installed) {
                return Err(Unavailable {
                    error_key: "addon_not_supported_home_assistant_version_error",
                    message: format!(
                        "App {full_slug} not supported on this system, requires Home Assistant version {required} or greater"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Whether `machine` may run the add-on. `!m` excludes machine `m`. Upstream also requires
    /// the machine to be listed positively, so a list of only negations (`["!qemux86-64"]`)
    /// makes the add-on unavailable everywhere, the opposite of what its author meant; here
    /// such a list means "every machine but these", a deliberate improvement.
    fn supports_machine(&self, machine: &str) -> bool {
        if self.machine.is_empty() {
            return true;
        }
        if self.machine.iter().any(|m| m.strip_prefix('!') == Some(machine)) {
            return false;
        }
        let mut positive = self.machine.iter().filter(|m| !m.is_empty() && !m.starts_with('!')).peekable();
        positive.peek().is_none() || positive.any(|m| m == machine)
    }

    /// The container host name of the installed add-on: its full slug with `_` → `-`.
    pub fn hostname(&self, full_slug: &str) -> String {
        full_slug.replace('_', "-")
    }

    /// The arch of this add-on for the system (first of `archs` it supports).
    pub fn arch_for(&self, archs: &[&str]) -> Option<String> {
        archs.iter().find(|a| self.arch.iter().any(|b| b == *a)).map(|a| a.to_string())
    }
}

fn log_warnings(config: &AddonConfig, warnings: &[String]) {
    for warning in warnings {
        tracing::warn!(addon = %config.slug, "{warning}");
    }
}

/// Rewrites the old forms of keys into the current ones (`_migrate_app_config`).
fn migrate(map: &mut Map<String, Value>) {
    let name = map.get("name").map(py_str).unwrap_or_else(|| "?".to_string());
    let advise = |text: String| tracing::debug!("App '{name}' {text}");

    if let Some(Value::String(startup)) = map.get_mut("startup") {
        let new = match startup.as_str() {
            "before" => Some("services"),
            "after" => Some("application"),
            _ => None,
        };
        if let Some(new) = new {
            advise(format!("uses deprecated 'startup' value '{startup}'."));
            *startup = new.to_string();
        }
    }
    if let Some(uart) = map.remove("auto_uart") {
        advise("uses deprecated 'auto_uart'; use 'uart' instead.".into());
        map.insert("uart".into(), uart);
    }
    if let Some(Value::Array(devices)) = map.get_mut("devices") {
        for device in devices.iter_mut() {
            if let Value::String(text) = device {
                if let Some((path, _)) = text.split_once(':') {
                    advise("uses a deprecated 'devices' format; use a list of paths only.".into());
                    *text = path.to_string();
                }
            }
        }
    }
    if map.get("tmpfs").is_some_and(|t| !t.is_boolean()) {
        advise("uses a deprecated 'tmpfs' format; use a boolean instead.".into());
        map.insert("tmpfs".into(), Value::Bool(true));
    }
    for (old, new) in [
        ("snapshot_exclude", "backup_exclude"),
        ("snapshot_post", "backup_post"),
        ("snapshot_pre", "backup_pre"),
        ("snapshot", "backup"),
    ] {
        if let Some(value) = map.remove(old) {
            advise(format!("uses deprecated config '{old}'; use '{new}' instead."));
            map.insert(new.into(), value);
        }
    }
    if let Some(Value::Array(entries)) = map.get_mut("map") {
        let old = std::mem::take(entries);
        for entry in old {
            match entry {
                Value::Object(ref fields) if fields.contains_key("type") => entries.push(entry),
                Value::String(ref text) => match RE_VOLUME.captures(text) {
                    Some(caps) => {
                        let mut fields = Map::new();
                        fields.insert("type".into(), Value::String(caps[1].to_string()));
                        let read_only = caps.get(2).is_none_or(|m| m.as_str() != "rw");
                        fields.insert("read_only".into(), Value::Bool(read_only));
                        entries.push(Value::Object(fields));
                    }
                    None => advise(format!("has an invalid map entry, skipping: {text}")),
                },
                Value::Object(_) => {
                    advise(format!("has an invalid map entry missing the 'type' field, skipping: {entry}"))
                }
                // Upstream drops entries of any other type without a word.
                _ => {}
            }
        }
    }
    for retired in ["codenotary", "advanced"] {
        if map.contains_key(retired) {
            advise(format!("uses the deprecated '{retired}' config field, which is ignored."));
        }
    }
}

/// A config's keys with typed accessors whose errors name the key.
struct Keys<'a>(&'a Map<String, Value>);

fn invalid(key: &str, problem: impl Display) -> ConfigError {
    ConfigError(format!("key '{key}': {problem}"))
}

impl Keys<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    fn required(&self, key: &str) -> Result<&Value, ConfigError> {
        self.get(key).ok_or_else(|| ConfigError(format!("missing required key '{key}'")))
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        self.get(key).map(|v| string(key, v)).transpose()
    }

    fn boolean(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(value) => boolean(value).ok_or_else(|| invalid(key, "expected boolean")),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        self.list(key, string)
    }

    /// A list whose items are read by `item` (its errors name `key[i]`).
    fn list<T>(&self, key: &str, item: impl Fn(&str, &Value) -> Result<T, ConfigError>) -> Result<Vec<T>, ConfigError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                items.iter().enumerate().map(|(i, v)| item(&format!("{key}[{i}]"), v)).collect()
            }
            Some(_) => Err(invalid(key, "expected a list")),
        }
    }

    fn matching(&self, key: &str, pattern: &Regex) -> Result<Option<String>, ConfigError> {
        self.get(key).map(|v| matching(key, v, pattern)).transpose()
    }

    /// One of the snake_case values of `T`.
    fn choice<T: DeserializeOwned + Default>(&self, key: &str, allowed: &[&str]) -> Result<T, ConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(T::default());
        };
        value
            .as_str()
            .filter(|s| allowed.contains(s))
            .and_then(|s| serde_json::from_value(Value::String(s.to_string())).ok())
            .ok_or_else(|| invalid(key, format!("{value} is not one of {}", allowed.join(", "))))
    }

    fn object(&self, key: &str) -> Result<Map<String, Value>, ConfigError> {
        match self.get(key) {
            None => Ok(Map::new()),
            Some(Value::Object(map)) => Ok(map.clone()),
            Some(_) => Err(invalid(key, "expected a mapping")),
        }
    }
}

fn string(key: &str, value: &Value) -> Result<String, ConfigError> {
    value.as_str().map(str::to_string).ok_or_else(|| invalid(key, format!("expected a string, got {value}")))
}

fn matching(key: &str, value: &Value, pattern: &Regex) -> Result<String, ConfigError> {
    let text = string(key, value)?;
    if pattern.is_match(&text) {
        Ok(text)
    } else {
        Err(invalid(key, format!("'{text}' does not match {}", pattern.as_str())))
    }
}

/// `version_tag`: a string or a number, kept as text (`1.0` stays `1.0`).
fn version(key: &str, value: &Value) -> Result<String, ConfigError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(match n.as_i64() {
            Some(i) => i.to_string(),
            None => n.as_u64().map_or_else(|| py_float(n.as_f64().unwrap_or_default()), |u| u.to_string()),
        }),
        other => Err(invalid(key, format!("expected a version string or number, got {other}"))),
    }
}

/// `network_port`: an integer (or integer text) in 1..=65535.
fn port(key: &str, value: &Value) -> Result<u16, ConfigError> {
    coerce_int(value)
        .filter(|p| (1..=65535).contains(p))
        .map(|p| p as u16)
        .ok_or_else(|| invalid(key, format!("expected a port 1-65535, got {value}")))
}

/// voluptuous' `Url()`: Python's `urlparse` must find a scheme and a host.
pub(crate) fn is_url(text: &str) -> bool {
    RE_URL.is_match(text)
}

fn url(key: &str, value: &Value) -> Result<String, ConfigError> {
    let text = string(key, value)?;
    if is_url(&text) {
        Ok(text)
    } else {
        Err(invalid(key, format!("'{text}' is not a URL with a scheme and a host")))
    }
}

fn read_config(keys: &Keys) -> Result<AddonConfig, ConfigError> {
    let name = string("name", keys.required("name")?)?;
    if name.is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    let slug = matching("slug", keys.required("slug")?, &RE_SLUG)?;
    if slug == "." || slug == ".." {
        return Err(invalid("slug", format!("'{slug}' is not a valid slug")));
    }
    // `advanced` is ignored but still has to be a boolean, as upstream validates it.
    keys.boolean("advanced", false)?;
    Ok(AddonConfig {
        version: version("version", keys.required("version")?)?,
        description: string("description", keys.required("description")?)?,
        arch: read_arch(keys)?,
        machine: read_machine(keys)?,
        url: keys.get("url").map(|v| url("url", v)).transpose()?,
        startup: keys.choice("startup", &["initialize", "system", "services", "application", "once"])?,
        boot: keys.choice("boot", &["auto", "manual", "manual_only"])?,
        init: keys.boolean("init", true)?,
        stage: keys.choice("stage", &["stable", "experimental", "deprecated"])?,
        ports: read_ports(keys)?,
        ports_description: read_ports_description(keys)?,
        webui: keys.matching("webui", &RE_WEBUI)?,
        watchdog: keys.matching("watchdog", &RE_WATCHDOG)?,
        watchdog_restart_policy: keys.choice("watchdog_restart_policy", &["rate_limited", "unlimited"])?,
        ingress: keys.boolean("ingress", false)?,
        ingress_port: match keys.get("ingress_port") {
            None => 8099,
            Some(value) if coerce_int(value) == Some(0) => 0,
            Some(value) => port("ingress_port", value)?,
        },
        ingress_entry: keys.string("ingress_entry")?,
        ingress_stream: keys.boolean("ingress_stream", false)?,
        panel_icon: keys.string("panel_icon")?.unwrap_or_else(|| "mdi:puzzle".into()),
        panel_title: keys.string("panel_title")?,
        panel_admin: keys.boolean("panel_admin", true)?,
        homeassistant: keys.get("homeassistant").map(|v| version("homeassistant", v)).transpose()?,
        host_network: keys.boolean("host_network", false)?,
        host_pid: keys.boolean("host_pid", false)?,
        host_ipc: keys.boolean("host_ipc", false)?,
        host_uts: keys.boolean("host_uts", false)?,
        host_dbus: keys.boolean("host_dbus", false)?,
        devices: keys.strings("devices")?,
        udev: keys.boolean("udev", false)?,
        tmpfs: keys.boolean("tmpfs", false)?,
        map: keys.list("map", map_entry)?,
        environment: read_environment(keys)?,
        privileged: keys.list("privileged", |k, v| {
            let text = string(k, v)?;
            if CAPABILITIES.contains(&text.as_str()) {
                Ok(text)
            } else {
                Err(invalid(k, format!("'{text}' is not one of {}", CAPABILITIES.join(", "))))
            }
        })?,
        apparmor: keys.boolean("apparmor", true)?,
        full_access: keys.boolean("full_access", false)?,
        audio: keys.boolean("audio", false)?,
        video: keys.boolean("video", false)?,
        gpio: keys.boolean("gpio", false)?,
        usb: keys.boolean("usb", false)?,
        uart: keys.boolean("uart", false)?,
        devicetree: keys.boolean("devicetree", false)?,
        kernel_modules: keys.boolean("kernel_modules", false)?,
        realtime: keys.boolean("realtime", false)?,
        hassio_api: keys.boolean("hassio_api", false)?,
        hassio_role: keys.choice("hassio_role", &["default", "homeassistant", "backup", "manager", "admin"])?,
        homeassistant_api: keys.boolean("homeassistant_api", false)?,
        auth_api: keys.boolean("auth_api", false)?,
        docker_api: keys.boolean("docker_api", false)?,
        stdin: keys.boolean("stdin", false)?,
        legacy: keys.boolean("legacy", false)?,
        services: keys.list("services", |k, v| matching(k, v, &RE_SERVICE))?,
        discovery: keys.strings("discovery")?,
        backup: keys.choice("backup", &["hot", "cold"])?,
        backup_exclude: keys.strings("backup_exclude")?,
        backup_pre: keys.string("backup_pre")?,
        backup_post: keys.string("backup_post")?,
        options: keys.object("options")?,
        schema: match keys.get("schema") {
            None => Some(Schema::default()),
            Some(Value::Bool(false)) => None,
            Some(value @ Value::Object(_)) => Some(Schema::parse(value).map_err(|e| invalid("schema", e))?),
            Some(other) => return Err(invalid("schema", format!("expected a mapping or false, got {other}"))),
        },
        image: keys
            .string("image")?
            .map(|image| {
                if is_docker_image(&image) {
                    Ok(image)
                } else {
                    Err(invalid("image", format!("'{image}' is not a Docker image name without a tag")))
                }
            })
            .transpose()?,
        ulimits: read_ulimits(keys)?,
        timeout: match keys.get("timeout") {
            None => 10,
            Some(value) => coerce_int(value)
                .filter(|t| (10..=300).contains(t))
                .map(|t| t as u32)
                .ok_or_else(|| invalid("timeout", format!("expected seconds between 10 and 300, got {value}")))?,
        },
        journald: keys.boolean("journald", false)?,
        log_format: keys.choice("log_format", &base::logs::LineFormat::NAMES)?,
        breaking_versions: keys.list("breaking_versions", version)?,
        name,
        slug,
    })
}

fn read_arch(keys: &Keys) -> Result<Vec<String>, ConfigError> {
    keys.required("arch")?;
    keys.list("arch", |k, v| {
        let text = string(k, v)?;
        if ARCHS.contains(&text.as_str()) {
            Ok(text)
        } else {
            Err(invalid(k, format!("'{text}' is not one of {}", ARCHS.join(", "))))
        }
    })
}

fn read_machine(keys: &Keys) -> Result<Vec<String>, ConfigError> {
    let machine = keys.list("machine", |k, v| matching(k, v, &RE_MACHINE))?;
    for (i, m) in machine.iter().enumerate() {
        if machine[..i].contains(m) {
            return Err(invalid("machine", format!("'{m}' is listed twice")));
        }
    }
    Ok(machine)
}

/// A port key: `<port>`, `<port>/tcp` or `<port>/udp`.
fn port_key(key: &str, port: &str) -> Result<(), ConfigError> {
    if RE_DOCKER_PORT.is_match(port) {
        Ok(())
    } else {
        Err(invalid(key, format!("'{port}' is not a port key like 8080/tcp")))
    }
}

fn read_ports(keys: &Keys) -> Result<BTreeMap<String, Option<u16>>, ConfigError> {
    let mut ports = BTreeMap::new();
    for (name, value) in keys.object("ports")? {
        port_key("ports", &name)?;
        let host = match value {
            Value::Null => None,
            other => Some(port(&format!("ports.{name}"), &other)?),
        };
        ports.insert(name, host);
    }
    Ok(ports)
}

fn read_ports_description(keys: &Keys) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut descriptions = BTreeMap::new();
    for (name, value) in keys.object("ports_description")? {
        port_key("ports_description", &name)?;
        let text = string(&format!("ports_description.{name}"), &value)?;
        descriptions.insert(name, text);
    }
    Ok(descriptions)
}

fn read_environment(keys: &Keys) -> Result<BTreeMap<String, String>, ConfigError> {
    keys.object("environment")?
        .into_iter()
        .map(|(name, value)| Ok((name.clone(), string(&format!("environment.{name}"), &value)?)))
        .collect()
}

/// A migrated `map` entry: `type`, `read_only` (a real boolean), `path` (absolute, no `..`).
fn map_entry(key: &str, value: &Value) -> Result<MapEntry, ConfigError> {
    let Value::Object(fields) = value else {
        return Err(invalid(key, "expected a mapping"));
    };
    if let Some(extra) = fields.keys().find(|k| !["type", "read_only", "path"].contains(&k.as_str())) {
        return Err(invalid(key, format!("extra key '{extra}' not allowed")));
    }
    let kind_key = format!("{key}.type");
    let kind = string(&kind_key, fields.get("type").unwrap_or(&Value::Null))?;
    let kind = MapType::parse(&kind).ok_or_else(|| invalid(&kind_key, format!("'{kind}' is not a map type")))?;
    let read_only = match fields.get("read_only") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(invalid(&format!("{key}.read_only"), format!("expected true or false, got {other}")))
        }
    };
    let path = match fields.get("path") {
        None => None,
        Some(value) => {
            let path_key = format!("{key}.path");
            let text = string(&path_key, value)?;
            let path = Path::new(&text);
            if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
                return Err(invalid(&path_key, format!("'{text}' must be an absolute path without '..'")));
            }
            Some(text)
        }
    };
    Ok(MapEntry { kind, read_only, path })
}

fn read_ulimits(keys: &Keys) -> Result<BTreeMap<String, Ulimit>, ConfigError> {
    let mut ulimits = BTreeMap::new();
    for (name, value) in keys.object("ulimits")? {
        let key = format!("ulimits.{name}");
        let limit = match &value {
            Value::Number(n) if n.is_i64() => Ulimit::Single(n.as_i64().unwrap_or_default()),
            Value::Object(fields) => {
                if let Some(extra) = fields.keys().find(|k| *k != "soft" && *k != "hard") {
                    return Err(invalid(&key, format!("extra key '{extra}' not allowed")));
                }
                let bound = |which: &str| {
                    fields
                        .get(which)
                        .and_then(coerce_int)
                        .ok_or_else(|| invalid(&format!("{key}.{which}"), "expected an integer"))
                };
                Ulimit::Range { soft: bound("soft")?, hard: bound("hard")? }
            }
            other => return Err(invalid(&key, format!("expected an integer or {{soft, hard}}, got {other}"))),
        };
        ulimits.insert(name, limit);
    }
    Ok(ulimits)
}

/// Dynamic ingress ports are picked from 62000-65500; an add-on that asks for one must not map
/// a port from that range itself.
fn check_dynamic_ingress(config: &AddonConfig) -> Result<(), ConfigError> {
    if !config.ingress || config.ingress_port != 0 {
        return Ok(());
    }
    for key in config.ports.keys() {
        let number = key.split('/').next().unwrap_or_default();
        if let Ok(port) = number.parse::<u32>() {
            if (62000..=65500).contains(&port) {
                return Err(invalid(
                    "ports",
                    format!(
                        "App '{}' uses dynamic ingress port selection (ingress_port: 0) but maps port {port} which is reserved for dynamic ingress ports (62000-65500). Please report this to the maintainer of the app.",
                        config.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "name": "Example",
            "version": "1.2.3",
            "slug": "example",
            "description": "An example",
            "arch": ["amd64", "aarch64"]
        })
    }

    fn with(extra: Value) -> Value {
        let mut value = minimal();
        for (k, v) in extra.as_object().unwrap() {
            value[k] = v.clone();
        }
        value
    }

    fn parse(extra: Value) -> AddonConfig {
        AddonConfig::from_value(with(extra)).unwrap()
    }

    fn error(extra: Value) -> String {
        AddonConfig::from_value(with(extra.clone())).map(|_| panic!("{extra} was accepted")).unwrap_err().0
    }

    #[test]
    fn minimal_config_gets_the_defaults() {
        let c = parse(json!({}));
        assert_eq!((c.name.as_str(), c.version.as_str(), c.slug.as_str()), ("Example", "1.2.3", "example"));
        assert_eq!(c.arch, ["amd64", "aarch64"]);
        assert!(c.machine.is_empty() && c.devices.is_empty() && c.map.is_empty());
        assert_eq!(c.startup, Startup::Application);
        assert_eq!(c.boot, BootConfig::Auto);
        assert_eq!(c.stage, Stage::Stable);
        assert_eq!(c.backup, BackupMode::Hot);
        assert_eq!(c.watchdog_restart_policy, WatchdogRestartPolicy::RateLimited);
        assert!(c.init && c.panel_admin && c.apparmor);
        assert!(!c.ingress && !c.host_network && !c.hassio_api && !c.tmpfs && !c.journald);
        assert_eq!(c.ingress_port, 8099);
        assert_eq!(c.panel_icon, "mdi:puzzle");
        assert_eq!(c.hassio_role, base::Role::Default);
        assert_eq!(c.timeout, 10);
        assert_eq!(c.schema, Some(Schema::default()));
        assert!(c.options.is_empty() && c.ports.is_empty() && c.ulimits.is_empty());
        assert_eq!((c.url, c.image, c.webui, c.homeassistant), (None, None, None, None));
    }

    #[test]
    fn every_key_is_read_typed() {
        let mut first = json!({
            "machine": ["qemux86-64", "!raspberrypi4"],
            "url": "https://example.com/addon",
            "startup": "services",
            "boot": "manual_only",
            "init": false,
            "stage": "experimental",
            "ports": {"8080/tcp": 8080, "53/udp": null, "22": "2222"},
            "ports_description": {"8080/tcp": "Web"},
            "webui": "http://[HOST]:[PORT:8080]/",
            "watchdog": "tcp://[HOST]:[PORT:8080]",
            "watchdog_restart_policy": "unlimited",
            "log_format": "timestamp",
            "ingress": true,
            "ingress_port": 0,
            "ingress_entry": "ui",
            "ingress_stream": true,
            "panel_icon": "mdi:cog",
            "panel_title": "Panel",
            "panel_admin": false,
            "homeassistant": "2024.1.0"
        });
        // Several literals: one would pass json!'s recursion limit.
        let second = json!({
            "host_network": true, "host_pid": true, "host_ipc": true, "host_uts": true, "host_dbus": true,
            "devices": ["/dev/ttyUSB0"],
            "udev": true, "tmpfs": true,
            "map": [{"type": "share", "read_only": false, "path": "/mnt/share"}],
            "environment": {"A": "1"},
            "privileged": ["NET_ADMIN", "SYS_ADMIN"],
            "apparmor": false, "full_access": true, "audio": true, "video": true, "gpio": true,
            "usb": true, "uart": true, "devicetree": true, "kernel_modules": true, "realtime": true,
            "hassio_api": true, "hassio_role": "manager", "homeassistant_api": true,
            "auth_api": true, "docker_api": true, "stdin": true, "legacy": true
        });
        let third = json!({
            "services": ["mqtt:want", "mysql:provide"],
            "discovery": ["mqtt"],
            "backup": "cold",
            "backup_exclude": ["*.log"],
            "backup_pre": "pre", "backup_post": "post",
            "options": {"user": "me"},
            "schema": {"user": "str"},
            "image": "ghcr.io/example/{arch}-addon",
            "ulimits": {"nofile": 1024, "core": {"soft": "0", "hard": 10}},
            "timeout": "300",
            "journald": true,
            "breaking_versions": ["2.0.0", 3]
        });
        for part in [second, third] {
            first.as_object_mut().unwrap().extend(part.as_object().unwrap().clone());
        }
        let c = parse(first);
        assert_eq!(c.machine, ["qemux86-64", "!raspberrypi4"]);
        assert_eq!(c.startup, Startup::Services);
        assert_eq!(c.boot, BootConfig::ManualOnly);
        assert_eq!(c.stage, Stage::Experimental);
        assert!(!c.init && !c.panel_admin && !c.apparmor);
        assert_eq!(
            c.ports,
            BTreeMap::from([
                ("8080/tcp".to_string(), Some(8080)),
                ("53/udp".to_string(), None),
                ("22".to_string(), Some(2222)),
            ])
        );
        assert_eq!(c.ports_description["8080/tcp"], "Web");
        assert_eq!(c.watchdog_restart_policy, WatchdogRestartPolicy::Unlimited);
        assert_eq!(c.log_format, base::logs::LineFormat::Timestamp);
        assert_eq!((c.ingress, c.ingress_port), (true, 0));
        assert_eq!(c.homeassistant.as_deref(), Some("2024.1.0"));
        assert_eq!(c.map, [MapEntry { kind: MapType::Share, read_only: false, path: Some("/mnt/share".into()) }]);
        assert_eq!(c.hassio_role, base::Role::Manager);
        assert_eq!(c.backup, BackupMode::Cold);
        assert_eq!(c.options["user"], "me");
        assert!(c.schema.is_some());
        assert_eq!(c.image.as_deref(), Some("ghcr.io/example/{arch}-addon"));
        assert_eq!(c.ulimits["nofile"], Ulimit::Single(1024));
        assert_eq!(c.ulimits["core"], Ulimit::Range { soft: 0, hard: 10 });
        assert_eq!(c.timeout, 300);
        assert_eq!(c.breaking_versions, ["2.0.0", "3"]);
        assert!(c.full_access && c.realtime && c.docker_api && c.legacy && c.journald);
    }

    #[test]
    fn booleans_take_every_voluptuous_form() {
        for (value, expected) in [
            (json!(true), true),
            (json!(false), false),
            (json!(1), true),
            (json!(0), false),
            (json!("yes"), true),
            (json!("No"), false),
            (json!("on"), true),
            (json!("off"), false),
            (json!("true"), true),
            (json!("FALSE"), false),
            (json!("enable"), true),
            (json!("disable"), false),
        ] {
            assert_eq!(parse(json!({ "ingress": value })).ingress, expected, "{value}");
        }
        assert_eq!(error(json!({"ingress": "maybe"})), "key 'ingress': expected boolean");
    }

    #[test]
    fn version_is_a_string_or_a_number() {
        assert_eq!(parse(json!({"version": 2})).version, "2");
        assert_eq!(parse(json!({"version": 1.5})).version, "1.5");
        assert_eq!(parse(json!({"version": 1.0})).version, "1.0");
        assert!(error(json!({"version": true})).starts_with("key 'version': expected a version"));
        assert_eq!(parse(json!({"homeassistant": 2024.1})).homeassistant.as_deref(), Some("2024.1"));
    }

    #[test]
    fn old_keys_are_migrated() {
        let c = parse(json!({
            "startup": "before",
            "auto_uart": true,
            "devices": ["/dev/ttyAMA0:/dev/ttyAMA0:rwm", "/dev/mem"],
            "tmpfs": "size=10m",
            "snapshot": "cold",
            "snapshot_exclude": ["*.db"],
            "snapshot_pre": "pre",
            "snapshot_post": "post",
            "map": [
                "config", "config:rw", "ssl:ro", "share:rw", "bogus", "local_apps", "app_config:rw",
                "all_app_configs", {"type": "media"}, {"read_only": false}, 5
            ]
        }));
        assert_eq!(c.startup, Startup::Services);
        assert!(c.uart && c.tmpfs);
        assert_eq!(c.devices, ["/dev/ttyAMA0", "/dev/mem"]);
        assert_eq!(c.backup, BackupMode::Cold);
        assert_eq!(c.backup_exclude, ["*.db"]);
        assert_eq!((c.backup_pre.as_deref(), c.backup_post.as_deref()), (Some("pre"), Some("post")));
        let map: Vec<(MapType, bool)> = c.map.iter().map(|m| (m.kind, m.read_only)).collect();
        assert_eq!(
            map,
            [
                (MapType::Config, true),
                (MapType::Config, false),
                (MapType::Ssl, true),
                (MapType::Share, false),
                (MapType::Addons, true),
                (MapType::AddonConfig, false),
                (MapType::AllAddonConfigs, true),
                (MapType::Media, true),
            ]
        );
        assert_eq!(parse(json!({"startup": "after"})).startup, Startup::Application);
    }

    #[test]
    fn unknown_keys_are_dropped_with_a_warning() {
        let (config, warnings) = AddonConfig::from_value_with_warnings(with(json!({"foo": 1, "bar": [2]}))).unwrap();
        assert_eq!(config.slug, "example", "the add-on still loads");
        assert_eq!(warnings, ["unknown key 'foo' ignored", "unknown key 'bar' ignored"]);
        let (_, none) = AddonConfig::from_value_with_warnings(minimal()).unwrap();
        assert!(none.is_empty());
        // Retired keys are known and ignored; `advanced` must still be a boolean.
        parse(json!({"codenotary": "me@example.com", "advanced": true}));
        assert_eq!(error(json!({"advanced": "x"})), "key 'advanced': expected boolean");
    }

    #[test]
    fn required_keys_and_shapes() {
        for key in ["name", "version", "slug", "description", "arch"] {
            let mut value = minimal();
            value.as_object_mut().unwrap().remove(key);
            assert_eq!(AddonConfig::from_value(value).unwrap_err().0, format!("missing required key '{key}'"));
        }
        assert_eq!(error(json!({"name": ""})), "key 'name': must not be empty");
        assert!(error(json!({"name": 5})).starts_with("key 'name': expected a string"));
        assert_eq!(AddonConfig::from_value(json!(["name"])).unwrap_err().0, "an add-on config must be a mapping");
        assert_eq!(error(json!({"arch": "amd64"})), "key 'arch': expected a list");
        assert_eq!(error(json!({"options": []})), "key 'options': expected a mapping");
    }

    #[test]
    fn hostile_input_is_rejected() {
        let cases = [
            (json!({"slug": "a/b"}), "key 'slug': 'a/b' does not match"),
            (json!({"slug": "../x"}), "key 'slug': '../x' does not match"),
            (json!({"slug": ".."}), "key 'slug': '..' is not a valid slug"),
            (json!({"slug": "."}), "key 'slug': '.' is not a valid slug"),
            (json!({"slug": ""}), "key 'slug'"),
            (
                json!({"map": [{"type": "share", "path": "relative"}]}),
                "key 'map[0].path': 'relative' must be an absolute path",
            ),
            (json!({"map": [{"type": "share", "path": "/a/../etc"}]}), "key 'map[0].path'"),
            (json!({"map": [{"type": "share", "readonly": true}]}), "key 'map[0]': extra key 'readonly' not allowed"),
            (json!({"map": [{"type": "share", "read_only": "false"}]}), "key 'map[0].read_only'"),
            (json!({"map": [{"type": "root"}]}), "key 'map[0].type': 'root' is not a map type"),
            (json!({"map": "config"}), "key 'map': expected a list"),
            (json!({"image": "Bad Image"}), "key 'image'"),
            (json!({"image": "ghcr.io/x/y:latest"}), "key 'image'"),
            (json!({"schema": {"x": "strr"}}), "key 'schema': option 'x': unknown type 'strr'"),
            (json!({"schema": true}), "key 'schema'"),
            (json!({"ports": {"80/sctp": 80}}), "key 'ports': '80/sctp' is not a port key"),
            (json!({"ports": {"http": 80}}), "key 'ports': 'http' is not a port key"),
            (json!({"ports": {"80": 70000}}), "key 'ports.80': expected a port"),
            (json!({"ports_description": {"x": "y"}}), "key 'ports_description'"),
            (json!({"timeout": 5}), "key 'timeout'"),
            (json!({"timeout": 301}), "key 'timeout'"),
            (json!({"timeout": "soon"}), "key 'timeout'"),
            (json!({"watchdog": "http://localhost:80/"}), "key 'watchdog'"),
            (json!({"webui": "tcp://[HOST]:[PORT:80]"}), "key 'webui'"),
            (json!({"webui": "http://[HOST]:8080/"}), "key 'webui'"),
            (json!({"machine": ["toaster"]}), "key 'machine[0]': 'toaster' does not match"),
            (json!({"machine": ["yellow", "yellow"]}), "key 'machine': 'yellow' is listed twice"),
            (json!({"arch": ["sparc"]}), "key 'arch[0]': 'sparc' is not one of armhf, armv7, aarch64, amd64, i386"),
            (json!({"log_format": "json"}), "key 'log_format': \"json\" is not one of plain, timestamp, verbose"),
            (json!({"ingress_port": 70000}), "key 'ingress_port'"),
            (json!({"environment": {"A": 1}}), "key 'environment.A': expected a string"),
            (json!({"privileged": ["ALL"]}), "key 'privileged[0]': 'ALL' is not one of"),
            (json!({"services": ["mqtt:maybe"]}), "key 'services[0]'"),
            (json!({"hassio_role": "root"}), "key 'hassio_role'"),
            (json!({"startup": "later"}), "key 'startup'"),
            (json!({"url": "not a url"}), "key 'url'"),
            (json!({"ulimits": {"nofile": {"soft": 1, "hard": 2, "max": 3}}}), "key 'ulimits.nofile': extra key 'max'"),
            (json!({"ulimits": {"nofile": {"soft": 1}}}), "key 'ulimits.nofile.hard'"),
            (json!({"ulimits": {"nofile": "x"}}), "key 'ulimits.nofile'"),
            (json!({"breaking_versions": [null]}), "key 'breaking_versions[0]'"),
        ];
        for (extra, expected) in cases {
            let err = error(extra.clone());
            assert!(err.starts_with(expected), "{extra}: {err}");
        }
    }

    #[test]
    fn image_names_follow_the_rule_of_2026_03() {
        for good in [
            "nginx",
            "library/nginx",
            "ghcr.io/home-assistant/{arch}-addon-example",
            "ghcr.io/alexbelgium/changedetection.io-{arch}",
            "homeassistant/{machine}-homeassistant",
            "localhost/image",
            "registry:5000/a/b",
            "[::1]:5000/image",
            "index.docker.io/org/name",
            "my.registry.example.com/deep/path/of/image",
            "a_b/c__d",
        ] {
            assert!(is_docker_image(good), "{good} is accepted");
            assert_eq!(parse(json!({"image": good})).image.as_deref(), Some(good));
        }
        for bad in [
            "",
            "ghcr.io/x/y:latest",
            "nginx:1.25",
            "Ghcr.io/x/y",
            "ghcr.io/Org/y",
            "UPPER",
            "ghcr.io/",
            "-bad.example.com/x",
            "ghcr.io/x//y",
            "ghcr.io/.x/y",
            "ghcr.io/x/y@sha256:abc",
            "bad image",
        ] {
            assert!(!is_docker_image(bad), "{bad} is refused");
        }
        let err = error(json!({"image": "ghcr.io/x/y:1"}));
        assert_eq!(err, "key 'image': 'ghcr.io/x/y:1' is not a Docker image name without a tag");
    }

    /// Every pattern taken from the real Supervisor accepts a final newline where Python's `re.match`
    /// with `$` does (a YAML block, `key: |`), and nothing more; the slug alone is exact.
    #[test]
    fn patterns_accept_a_final_newline_as_python_does() {
        let block = |text: &str| format!("{text}\n");
        for (pattern, text) in [
            (&*RE_MACHINE, "raspberrypi4"),
            (&*RE_MACHINE, "!yellow"),
            (&*RE_WATCHDOG, "tcp://[HOST]:[PORT:80]"),
            (&*RE_WEBUI, "http://[HOST]:[PORT:8080]/"),
            (&*RE_SERVICE, "mqtt:need"),
            (&*RE_DOCKER_PORT, "8080/tcp"),
            (&*RE_VOLUME, "share:rw"),
            (&*RE_IMAGE_PATH_COMPONENT, "name.part"),
        ] {
            assert!(pattern.is_match(text), "{text}");
            assert!(pattern.is_match(&block(text)), "{text:?} with a final newline");
            assert!(!pattern.is_match(&format!("{text}\n\n")), "two newlines: Python refuses");
            assert!(!pattern.is_match(&format!("{text}\nx")), "text after the newline: Python refuses");
        }
        let c = parse(json!({
            "machine": ["yellow\n"],
            "watchdog": "tcp://[HOST]:[PORT:80]\n",
            "webui": "http://[HOST]:[PORT:80]/\n",
            "services": ["mqtt:want\n"],
            "ports": {"80/tcp\n": 8080},
            "map": ["share:rw\n"],
            "image": "ghcr.io/x/y\n",
        }));
        // The values are kept as written, as Python keeps them; a map entry keeps its groups.
        assert_eq!(c.machine, ["yellow\n"]);
        assert_eq!(c.map[0], MapEntry { kind: MapType::Share, read_only: false, path: None });
        // A slug names folders, containers and URLs: a newline there is refused.
        assert!(error(json!({"slug": "example\n"})).starts_with("key 'slug'"));
    }

    #[test]
    fn dynamic_ingress_may_not_map_reserved_ports() {
        let err = error(json!({"ingress": true, "ingress_port": 0, "ports": {"62001/tcp": 80}}));
        assert!(
            err.contains("App 'Example' uses dynamic ingress port selection (ingress_port: 0) but maps port 62001"),
            "{err}"
        );
        parse(json!({"ingress": true, "ingress_port": 0, "ports": {"8080/tcp": 80}}));
        parse(json!({"ingress": true, "ingress_port": 8099, "ports": {"62001/tcp": 80}}));
    }

    #[test]
    fn schema_false_disables_options() {
        assert_eq!(parse(json!({"schema": false})).schema, None);
    }

    #[test]
    fn loads_yaml_and_json_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(AddonConfig::load(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join("config.json"), serde_json::to_string(&minimal()).unwrap()).unwrap();
        assert_eq!(AddonConfig::load(dir.path()).unwrap().unwrap().slug, "example");
        std::fs::write(
            dir.path().join("config.yaml"),
            "name: Y\nversion: 1.10\nslug: y\ndescription: d\narch: [amd64]\nfoo: 1\n",
        )
        .unwrap();
        let (config, warnings) = AddonConfig::load_with_warnings(dir.path()).unwrap().unwrap();
        assert_eq!(
            (config.slug.as_str(), warnings.as_slice()),
            ("y", ["config.yaml: unknown key 'foo' ignored".to_owned()].as_slice())
        );
        std::fs::write(
            dir.path().join("config.yaml"),
            "name: Y\nversion: 1.10\nslug: y\ndescription: d\narch: [amd64]\nports:\n  8080/tcp: 8080\n",
        )
        .unwrap();
        let c = AddonConfig::load(dir.path()).unwrap().unwrap();
        assert_eq!((c.version.as_str(), c.ports["8080/tcp"]), ("1.1", Some(8080)));
        std::fs::write(dir.path().join("config.yaml"), "name: [").unwrap();
        assert!(AddonConfig::load(dir.path()).unwrap_err().0.starts_with("config.yaml: invalid YAML"));
    }

    #[test]
    fn availability_by_arch() {
        let c = parse(json!({"arch": ["armv7", "aarch64"]}));
        assert_eq!(c.availability(&["aarch64", "armv7"], "generic-aarch64", None), Ok(()));
        assert_eq!(c.arch_for(&["aarch64", "armv7"]).as_deref(), Some("aarch64"));
        assert_eq!(c.arch_for(&["armv7", "aarch64"]).as_deref(), Some("armv7"));
        assert_eq!(c.arch_for(&["amd64"]), None);
        let err = c.availability_for("local_example", &["amd64", "i386"], "generic-x86-64", None).unwrap_err();
        assert_eq!(err.error_key, "addon_not_supported_architecture_error");
        assert_eq!(
            err.message,
            "App local_example not supported on this platform, supported architectures: armv7, aarch64"
        );
        let err = c.availability(&["amd64"], "generic-x86-64", None).unwrap_err();
        assert!(err.message.starts_with("App example not supported on this platform"));
    }

    #[test]
    fn availability_by_machine() {
        let machines = |list: Value| parse(json!({ "machine": list }));
        let on = |c: &AddonConfig, machine: &str| c.availability(&["amd64"], machine, None);

        let listed = machines(json!(["generic-x86-64", "qemux86-64"]));
        assert_eq!(on(&listed, "qemux86-64"), Ok(()));
        let err = on(&listed, "intel-nuc").unwrap_err();
        assert_eq!(err.error_key, "addon_not_supported_machine_type_error");
        assert_eq!(
            err.message,
            "App example not supported on this machine, supported machine types: generic-x86-64, qemux86-64"
        );

        // A negation excludes its machine even when it is also listed.
        let both = machines(json!(["qemux86-64", "!qemux86-64"]));
        assert!(on(&both, "qemux86-64").is_err());

        // Only negations: every machine but those (upstream: no machine at all).
        let except = machines(json!(["!qemux86-64", "!intel-nuc"]));
        assert_eq!(on(&except, "generic-x86-64"), Ok(()));
        assert!(on(&except, "intel-nuc").is_err());

        // Positives and negations: only the positives.
        let mixed = machines(json!(["generic-x86-64", "!intel-nuc"]));
        assert!(on(&mixed, "qemux86-64").is_err());
        assert_eq!(on(&mixed, "generic-x86-64"), Ok(()));

        assert_eq!(on(&machines(json!([])), "anything"), Ok(()));
    }

    #[test]
    fn availability_by_home_assistant_version() {
        let c = parse(json!({"homeassistant": "2024.6.0"}));
        let core = |v: Option<&str>| c.availability(&["amd64"], "generic-x86-64", v);
        assert_eq!(core(None), Ok(()));
        assert_eq!(core(Some("2024.6.0")), Ok(()));
        assert_eq!(core(Some("2025.1.2")), Ok(()));
        assert_eq!(core(Some("landingpage")), Ok(()));
        let err = core(Some("2024.5.4")).unwrap_err();
        assert_eq!(err.error_key, "addon_not_supported_home_assistant_version_error");
        assert_eq!(
            err.message,
            "App example not supported on this system, requires Home Assistant version 2024.6.0 or greater"
        );
        // Architecture is checked first.
        assert_eq!(
            c.availability(&["armv7"], "x", Some("2024.5.4")).unwrap_err().error_key,
            "addon_not_supported_architecture_error"
        );
    }

    #[test]
    fn hostname_replaces_underscores() {
        assert_eq!(parse(json!({})).hostname("local_my_addon"), "local-my-addon");
    }

    #[test]
    fn serde_round_trips() {
        let c = parse(json!({
            "map": ["config:rw"],
            "ulimits": {"a": 1, "b": {"soft": 1, "hard": 2}},
            "schema": {"x": ["int?"]}
        }));
        let value = serde_json::to_value(&c).unwrap();
        assert_eq!(value["map"], json!([{"type": "config", "read_only": false, "path": null}]));
        assert_eq!(value["startup"], "application");
        assert_eq!(value["hassio_role"], "default");
        let back: AddonConfig = serde_json::from_value(value).unwrap();
        assert_eq!(back, c);
    }
}
