//! The add-on objects `/addons` and `/addons/{addon}/info` answer, key for key as the real
//! Supervisor's (addon-api.md §2–3), and the security rating it shows next to them.

use crate::data::{Boot, Installed, Ports};
use crate::engine::AddonState;
use crate::url::{Scheme, Template};
use addon_config::{AddonConfig, BootConfig, Stage, Startup};
use security::Role;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// What the store knows about an add-on, for the keys that come from there.
#[derive(Debug, Clone, Default)]
pub struct StoreFacts {
    /// The store (latest) version; `None` when the add-on left every repository (detached).
    pub version_latest: Option<String>,
    pub available: bool,
    pub icon: bool,
    pub logo: bool,
    pub changelog: bool,
    pub documentation: bool,
    pub long_description: Option<String>,
}

/// One item of `GET /addons`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddonListItem {
    pub name: String,
    pub slug: String,
    pub description: String,
    /// Always false (deprecated upstream).
    pub advanced: bool,
    #[schema(value_type = String)]
    pub stage: Stage,
    pub version: String,
    pub version_latest: String,
    pub update_available: bool,
    pub available: bool,
    pub detached: bool,
    pub homeassistant: Option<String>,
    pub state: AddonState,
    pub repository: String,
    pub build: bool,
    pub url: Option<String>,
    pub icon: bool,
    pub logo: bool,
    pub system_managed: bool,
}

/// `GET /addons` data.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddonList {
    pub addons: Vec<AddonListItem>,
}

/// `GET /addons/{addon}/info` data of an installed add-on.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddonInfo {
    pub name: String,
    pub slug: String,
    pub hostname: String,
    pub dns: Vec<String>,
    pub description: String,
    pub long_description: Option<String>,
    pub advanced: bool,
    #[schema(value_type = String)]
    pub stage: Stage,
    pub repository: String,
    pub version_latest: String,
    pub protected: bool,
    pub rating: u8,
    #[schema(value_type = String)]
    pub boot_config: BootConfig,
    pub boot: Boot,
    /// Effective options; `{}` for an add-on caller that is not `manager` or `admin`.
    #[schema(value_type = Object)]
    pub options: Map<String, Value>,
    /// The UI schema; null with `schema: false`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub schema: Option<Value>,
    pub arch: Vec<String>,
    pub machine: Vec<String>,
    pub homeassistant: Option<String>,
    pub url: Option<String>,
    pub detached: bool,
    pub available: bool,
    pub build: bool,
    #[schema(value_type = Option<Object>)]
    pub network: Option<Ports>,
    #[schema(value_type = Option<Object>)]
    pub network_description: Option<Value>,
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub host_uts: bool,
    pub host_dbus: bool,
    pub privileged: Vec<String>,
    pub full_access: bool,
    pub apparmor: String,
    pub icon: bool,
    pub logo: bool,
    pub changelog: bool,
    pub documentation: bool,
    pub stdin: bool,
    pub hassio_api: bool,
    #[schema(schema_with = http_api::envelope::role_schema)]
    pub hassio_role: Role,
    pub auth_api: bool,
    pub homeassistant_api: bool,
    pub gpio: bool,
    pub usb: bool,
    pub uart: bool,
    pub kernel_modules: bool,
    pub devicetree: bool,
    pub udev: bool,
    pub docker_api: bool,
    pub video: bool,
    pub audio: bool,
    #[schema(value_type = String)]
    pub startup: Startup,
    pub services: Vec<String>,
    pub discovery: Vec<String>,
    #[schema(value_type = Object)]
    pub translations: Value,
    pub ingress: bool,
    pub signed: bool,
    pub state: AddonState,
    pub webui: Option<String>,
    pub ingress_entry: Option<String>,
    pub ingress_url: Option<String>,
    pub ingress_port: Option<u16>,
    pub ingress_panel: Option<bool>,
    pub audio_input: Option<String>,
    pub audio_output: Option<String>,
    pub auto_update: bool,
    pub ip_address: String,
    pub version: String,
    pub update_available: bool,
    pub watchdog: bool,
    pub devices: Vec<String>,
    pub system_managed: bool,
    pub system_managed_config_entry: Option<String>,
    #[schema(value_type = String)]
    pub log_format: base::logs::LineFormat,
    /// Whether the add-on holds its update lock now (`updates.lock` in its `/tmp/balena`, as a
    /// balena service holds one): its update and restart, and an OS update, wait until it lets
    /// go unless forced. Not in the real Supervisor.
    pub update_locked: bool,
}

/// `GET /addons/{addon}/info` of an add-on that is only in the store (legacy v1 behaviour).
#[derive(Debug, Serialize, ToSchema)]
pub struct StoreAddonInfo {
    pub advanced: bool,
    pub arch: Vec<String>,
    pub available: bool,
    pub build: bool,
    pub description: String,
    pub documentation: bool,
    pub homeassistant: Option<String>,
    pub icon: bool,
    pub installed: bool,
    pub logo: bool,
    pub name: String,
    pub repository: String,
    pub slug: String,
    #[schema(value_type = String)]
    pub stage: Stage,
    pub update_available: bool,
    pub url: Option<String>,
    pub version_latest: String,
    pub version: Option<String>,
    pub apparmor: String,
    pub auth_api: bool,
    pub detached: bool,
    pub docker_api: bool,
    pub full_access: bool,
    pub hassio_api: bool,
    #[schema(schema_with = http_api::envelope::role_schema)]
    pub hassio_role: Role,
    pub homeassistant_api: bool,
    pub host_network: bool,
    pub host_pid: bool,
    pub ingress: bool,
    pub long_description: Option<String>,
    pub rating: u8,
    pub signed: bool,
    pub state: AddonState,
    /// The default options of the store configuration.
    #[schema(value_type = Object)]
    pub options: Map<String, Value>,
}

/// `webui` with the port replaced by the published one and the scheme resolved
/// (`[PROTO:option]` → https when the option is truthy); `[HOST]` stays for the frontend.
pub fn webui(template: &str, ports: &Ports, options: &Map<String, Value>) -> Option<String> {
    let template = Template::parse(template).filter(|t| t.scheme != Scheme::Tcp)?;
    Some(format!("{}://[HOST]:{}{}", template.scheme(options), template.published_port(ports), template.suffix))
}

/// The list item of an installed add-on.
pub fn list_item(addon: &Installed, store: &StoreFacts, state: AddonState) -> AddonListItem {
    let config = addon.config();
    let detached = store.version_latest.is_none();
    AddonListItem {
        name: config.name.clone(),
        slug: addon.slug.clone(),
        description: config.description.clone(),
        advanced: false,
        stage: config.stage,
        version: addon.user.version.clone(),
        version_latest: store.version_latest.clone().unwrap_or_else(|| addon.user.version.clone()),
        update_available: store.version_latest.as_ref().is_some_and(|v| *v != addon.user.version),
        available: store.available,
        detached,
        homeassistant: config.homeassistant.clone(),
        state,
        repository: addon.system.repository.clone(),
        build: config.image.is_none(),
        url: config.url.clone(),
        icon: store.icon,
        logo: store.logo,
        system_managed: addon.user.system_managed,
    }
}

/// The runtime facts `info` needs besides the add-on and the store.
pub struct Runtime {
    pub state: AddonState,
    pub ip_address: String,
    /// Whether the caller may see the options.
    pub show_options: bool,
    pub update_locked: bool,
    /// Whether its own AppArmor profile (`apparmor.txt`) is kept for it.
    pub apparmor_profile: bool,
}

/// The full info of an installed add-on.
pub fn info(addon: &Installed, store: &StoreFacts, runtime: Runtime) -> AddonInfo {
    let config = addon.config();
    let list = list_item(addon, store, runtime.state);
    let ports = addon.ports();
    let options = addon.options();
    let hostname = config.hostname(&addon.slug);
    let ingress_entry = config.ingress.then(|| format!("/api/hassio_ingress/{}", addon.user.ingress_token));
    AddonInfo {
        name: list.name,
        slug: list.slug,
        dns: vec![format!("{hostname}.local.hass.io")],
        hostname,
        description: list.description,
        long_description: if list.detached { None } else { store.long_description.clone() },
        advanced: false,
        stage: list.stage,
        repository: list.repository,
        version_latest: list.version_latest,
        protected: addon.user.protected,
        rating: config.installed_rating(runtime.apparmor_profile),
        boot_config: config.boot,
        boot: addon.boot(),
        options: if runtime.show_options { options.clone() } else { Map::new() },
        schema: config.schema.as_ref().map(|s| s.ui()),
        arch: config.arch.clone(),
        machine: config.machine.clone(),
        homeassistant: list.homeassistant,
        url: list.url,
        detached: list.detached,
        available: list.available,
        build: list.build,
        network: (!ports.is_empty()).then(|| ports.clone()),
        network_description: (!config.ports_description.is_empty())
            .then(|| serde_json::to_value(&config.ports_description).unwrap_or_default()),
        host_network: config.host_network,
        host_pid: config.host_pid,
        host_ipc: config.host_ipc,
        host_uts: config.host_uts,
        host_dbus: config.host_dbus,
        privileged: config.privileged.clone(),
        full_access: config.full_access,
        apparmor: match (config.apparmor, runtime.apparmor_profile) {
            (false, _) => "disable",
            (true, true) => "profile",
            (true, false) => "default",
        }
        .to_owned(),
        icon: list.icon,
        logo: list.logo,
        changelog: store.changelog,
        documentation: store.documentation,
        stdin: config.stdin,
        hassio_api: config.hassio_api,
        hassio_role: config.hassio_role,
        auth_api: config.auth_api,
        homeassistant_api: config.homeassistant_api,
        gpio: config.gpio,
        usb: config.usb,
        uart: config.uart,
        kernel_modules: config.kernel_modules,
        devicetree: config.devicetree,
        udev: config.udev,
        docker_api: config.docker_api,
        video: config.video,
        audio: config.audio,
        startup: config.startup,
        services: config.services.clone(),
        discovery: config.discovery.clone(),
        translations: serde_json::to_value(&addon.system.translations).unwrap_or_default(),
        ingress: config.ingress,
        signed: false,
        state: runtime.state,
        webui: config.webui.as_deref().and_then(|w| webui(w, &ports, &options)),
        ingress_url: ingress_entry
            .as_ref()
            .map(|entry| format!("{entry}/{}", config.ingress_entry.as_deref().unwrap_or("").trim_start_matches('/'))),
        ingress_entry,
        ingress_port: addon.ingress_port(),
        ingress_panel: config.ingress.then_some(addon.user.ingress_panel),
        audio_input: if config.audio { addon.user.audio_input.clone() } else { None },
        audio_output: if config.audio { addon.user.audio_output.clone() } else { None },
        auto_update: addon.user.auto_update,
        ip_address: runtime.ip_address,
        version: list.version,
        update_available: list.update_available,
        watchdog: addon.user.watchdog,
        devices: config.devices.clone(),
        system_managed: addon.user.system_managed,
        system_managed_config_entry: if addon.user.system_managed {
            addon.user.system_managed_config_entry.clone()
        } else {
            None
        },
        log_format: config.log_format,
        update_locked: runtime.update_locked,
    }
}

/// The legacy info of an add-on that is in the store but not installed.
pub fn store_info(slug: &str, repository: &str, config: &AddonConfig, store: &StoreFacts) -> StoreAddonInfo {
    StoreAddonInfo {
        advanced: false,
        arch: config.arch.clone(),
        available: store.available,
        build: config.image.is_none(),
        description: config.description.clone(),
        documentation: store.documentation,
        homeassistant: config.homeassistant.clone(),
        icon: store.icon,
        installed: false,
        logo: store.logo,
        name: config.name.clone(),
        repository: repository.to_owned(),
        slug: slug.to_owned(),
        stage: config.stage,
        update_available: false,
        url: config.url.clone(),
        version_latest: config.version.clone(),
        version: None,
        apparmor: if config.apparmor { "default" } else { "disable" }.to_owned(),
        auth_api: config.auth_api,
        detached: false,
        docker_api: config.docker_api,
        full_access: config.full_access,
        hassio_api: config.hassio_api,
        hassio_role: config.hassio_role,
        homeassistant_api: config.homeassistant_api,
        host_network: config.host_network,
        host_pid: config.host_pid,
        ingress: config.ingress,
        long_description: store.long_description.clone(),
        rating: config.rating(),
        signed: false,
        state: AddonState::Unknown,
        options: config.options.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn webui_uses_the_published_port_and_protocol_option() {
        let ports = Ports::from([("80/tcp".to_owned(), Some(8080)), ("443/tcp".to_owned(), None)]);
        let options = json!({"ssl": true, "off": false}).as_object().unwrap().clone();
        assert_eq!(webui("http://[HOST]:[PORT:80]/ui", &ports, &options).as_deref(), Some("http://[HOST]:8080/ui"));
        assert_eq!(webui("[PROTO:ssl]://[HOST]:[PORT:443]", &ports, &options).as_deref(), Some("https://[HOST]:443"));
        assert_eq!(webui("[PROTO:off]://[HOST]:[PORT:80]/", &ports, &options).as_deref(), Some("http://[HOST]:8080/"));
        assert_eq!(webui("ftp://[HOST]:[PORT:80]", &ports, &options), None);
    }
}
