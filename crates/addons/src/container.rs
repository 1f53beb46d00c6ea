//! The container an add-on runs in, built from its configuration alone (addon-config.md §6).
//!
//! This is where an add-on's rights are decided, so the rule is: grant exactly what the config
//! asks for and nothing else. No container is ever privileged; capabilities are the listed
//! `privileged` ones (plus `SYS_MODULE`/`SYS_NICE` for `kernel_modules`/`realtime`); host
//! namespaces, devices and host folders appear only when their key is set, and the ones the
//! real Supervisor withholds from protected add-ons (`host_pid`, `docker_api`, `full_access`)
//! are withheld while the user keeps protection on. The function is pure, so the test suite can
//! check every grant without an engine.
//!
//! Devices, as the real Supervisor grants them: every add-on sees the host's `/dev` read-only
//! (so a device plugged in later appears in it), and can open only what its device cgroup rules
//! allow: the classes of its hardware grants and its explicit `devices` (see
//! [`hardware::policy`]), or everything with `full_access`.

use crate::data::Installed;
use addon_config::{MapType, Ulimit};
use base::DataDir;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Mount, MountBindOptions, MountBindOptionsPropagationEnum,
    MountType, NetworkingConfig, PortBinding, ResourcesUlimits,
};
use docker::LABEL_MANAGED;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Where the engine's socket is on the host, for `docker_api` add-ons.
const DOCKER_SOCKET: &str = "/run/docker.sock";

/// The folders on the host an add-on can have mapped, from the data directory layout.
pub struct HostFolders {
    pub data: PathBuf,
    pub addon_configs: PathBuf,
    pub homeassistant: PathBuf,
    pub ssl: PathBuf,
    pub share: PathBuf,
    pub media: PathBuf,
    pub backup: PathBuf,
    pub addons_local: PathBuf,
    /// The add-ons' update-lock folders (`<slug>/<slug>`).
    pub locks: PathBuf,
    /// The whole data directory, for what other parts lay out in it (the sound clients' files).
    pub layout: DataDir,
}

impl HostFolders {
    pub fn new(data: &DataDir) -> Self {
        HostFolders {
            data: data.addons_data(),
            addon_configs: data.addon_configs(),
            homeassistant: data.homeassistant(),
            ssl: data.ssl(),
            share: data.share(),
            media: data.media(),
            backup: data.backup(),
            addons_local: data.addons_local(),
            locks: data.addon_locks(),
            layout: data.clone(),
        }
    }
}

/// Everything the container depends on besides the add-on itself.
pub struct Plan<'a> {
    pub addon: &'a Installed,
    /// The image with its tag.
    pub image: String,
    pub network: &'a str,
    pub gateway: Ipv4Addr,
    pub folders: &'a HostFolders,
    pub token: &'a str,
    pub timezone: &'a str,
    /// Whether a path exists on the host; devices and optional host folders that do not are
    /// left out (the engine refuses to bind a missing path).
    pub exists: &'a dyn Fn(&Path) -> bool,
    /// Whether share and media are bound `rslave`, so that network storage mounted under them
    /// later reaches the add-on (the engine refuses it where the host's mount is private).
    pub propagation: bool,
    /// The resolver: the dns plugin's address once it is installed.
    pub dns: Option<Ipv4Addr>,
    /// Where the host's `/dev`, `/sys`, `/run/udev` and `/lib/modules` are (`--host-root`).
    pub host_root: &'a Path,
    /// The host's devices now.
    pub hardware: &'a [hardware::Device],
    /// The add-on's own AppArmor profile, when the host's kernel has it loaded.
    pub apparmor_profile: Option<String>,
    /// Whether the daemon may give `realtime` add-ons real-time CPU time (see
    /// [`cpu_realtime_allotted`]).
    pub cpu_realtime: bool,
}

/// Real-time CPU time of a `realtime` add-on, in µs per second: a fifth of the 950 ms the
/// kernel's real-time group scheduling leaves, as the real Supervisor allots it, so no add-on can
/// take it all.
const CPU_RT_RUNTIME: i64 = 950_000 / 5;

/// Whether the host's kernel has real-time group scheduling (cgroup v1's `cpu.rt_runtime_us`),
/// without which the engine refuses a container's real-time runtime.
pub fn cpu_realtime_allotted(host_root: &Path) -> bool {
    host_root.join("sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists()
}

/// AppArmor for the container: none with `apparmor: false`, its own profile when one is loaded,
/// else nothing, which is the engine's default profile.
fn security_opt(apparmor: bool, profile: Option<&str>) -> Option<Vec<String>> {
    match (apparmor, profile) {
        (false, _) => Some(vec!["apparmor=unconfined".to_owned()]),
        (true, Some(profile)) => Some(vec![format!("apparmor={profile}")]),
        (true, None) => None,
    }
}

/// The folders the container needs to exist before it is created: its data folder, its
/// update-lock folder and, when mapped, its public config folder.
pub fn folders_to_create(addon: &Installed, folders: &HostFolders) -> Vec<PathBuf> {
    let mut dirs = vec![folders.data.join(&addon.slug), lock_folder(addon, folders)];
    if addon.config().map.iter().any(|m| m.kind == MapType::AddonConfig) {
        dirs.push(folders.addon_configs.join(&addon.slug));
    }
    dirs
}

/// The engine's create request for the add-on's container.
pub fn container_body(plan: &Plan) -> ContainerCreateBody {
    let addon = plan.addon;
    let config = addon.config();
    let hostname = (!config.host_uts).then(|| config.hostname(&addon.slug));
    let (exposed, bindings) = if config.host_network { (None, None) } else { ports(&addon.ports()) };
    let networking = match (&hostname, config.host_network) {
        (_, true) => None,
        (alias, false) => Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                plan.network.to_owned(),
                EndpointSettings { aliases: alias.clone().map(|a| vec![a]), ..Default::default() },
            )])),
        }),
    };
    let unprotected = !addon.user.protected;
    let full_device_access = config.full_access && unprotected;
    let mut host_config = HostConfig {
        network_mode: Some(if config.host_network { "host".to_owned() } else { plan.network.to_owned() }),
        pid_mode: (config.host_pid && unprotected).then(|| "host".to_owned()),
        ipc_mode: config.host_ipc.then(|| "host".to_owned()),
        uts_mode: config.host_uts.then(|| "host".to_owned()),
        port_bindings: bindings,
        extra_hosts: Some(vec![format!("supervisor:{}", plan.gateway), format!("hassio:{}", plan.gateway)]),
        privileged: Some(false),
        cap_add: capabilities(addon),
        device_cgroup_rules: cgroup_rules(addon, plan.hardware, full_device_access),
        mounts: Some(mounts(plan)),
        tmpfs: tmpfs(addon),
        ulimits: ulimits(addon),
        cpu_realtime_runtime: (config.realtime && plan.cpu_realtime).then_some(CPU_RT_RUNTIME),
        security_opt: security_opt(config.apparmor, plan.apparmor_profile.as_deref()),
        init: Some(config.init),
        oom_score_adj: Some(200),
        ..Default::default()
    };
    if let Some(dns) = plan.dns {
        docker::use_resolver(&mut host_config, dns);
    }
    ContainerCreateBody {
        hostname: hostname.clone(),
        domainname: hostname.as_ref().map(|_| docker::DNS_SUFFIX.to_owned()),
        image: Some(plan.image.clone()),
        env: Some(environment(plan)),
        labels: Some(HashMap::from([(LABEL_MANAGED.to_owned(), String::new())])),
        open_stdin: Some(config.stdin),
        stdin_once: Some(false),
        attach_stdin: Some(false),
        tty: Some(false),
        exposed_ports: exposed,
        stop_timeout: Some(i64::from(config.timeout)),
        host_config: Some(host_config),
        networking_config: networking,
        ..Default::default()
    }
}

/// `KEY=value` lines: the config's environment, then (legacy add-ons) the top-level scalar
/// options, then what the supervisor sets, which nothing can override.
fn environment(plan: &Plan) -> Vec<String> {
    let config = plan.addon.config();
    let mut env: BTreeMap<String, String> = config.environment.clone().into_iter().collect();
    if config.legacy {
        for (key, value) in plan.addon.options() {
            match value {
                Value::String(s) => env.insert(key, s),
                Value::Number(n) => env.insert(key, n.to_string()),
                _ => {
                    tracing::warn!(addon = %plan.addon.slug, "Can not set nested option {key} as Docker env");
                    None
                }
            };
        }
    }
    env.insert("TZ".to_owned(), plan.timezone.to_owned());
    env.insert("SUPERVISOR_TOKEN".to_owned(), plan.token.to_owned());
    env.insert("HASSIO_TOKEN".to_owned(), plan.token.to_owned());
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

type PortBindings = HashMap<String, Option<Vec<PortBinding>>>;

/// Published ports: the effective ports with a host port; `80` means `80/tcp`.
fn ports(ports: &BTreeMap<String, Option<u16>>) -> (Option<Vec<String>>, Option<PortBindings>) {
    let published: Vec<(String, u16)> = ports
        .iter()
        .filter_map(|(key, host)| {
            let key = if key.contains('/') { key.clone() } else { format!("{key}/tcp") };
            host.map(|h| (key, h))
        })
        .collect();
    if published.is_empty() {
        return (None, None);
    }
    let exposed = published.iter().map(|(k, _)| k.clone()).collect();
    let bindings = published
        .into_iter()
        .map(|(key, host)| {
            let binding = PortBinding { host_ip: Some(String::new()), host_port: Some(host.to_string()) };
            (key, Some(vec![binding]))
        })
        .collect();
    (Some(exposed), Some(bindings))
}

fn capabilities(addon: &Installed) -> Option<Vec<String>> {
    let config = addon.config();
    let mut caps: Vec<String> = config.privileged.clone();
    if config.kernel_modules {
        caps.push("SYS_MODULE".to_owned());
    }
    if config.realtime {
        caps.push("SYS_NICE".to_owned());
    }
    caps.sort();
    caps.dedup();
    (!caps.is_empty()).then_some(caps)
}

/// The device cgroup rules: everything with full access, else the classes of the hardware
/// grants and the explicit devices the host has (a device the host lacks now is left out, as
/// the real Supervisor does; it is allowed when it comes, see `devices`).
fn cgroup_rules(addon: &Installed, devices: &[hardware::Device], full_access: bool) -> Option<Vec<String>> {
    use hardware::policy::{self, Grant};
    if full_access {
        return Some(vec![policy::FULL_ACCESS.to_owned()]);
    }
    let config = addon.config();
    let mut rules = std::collections::BTreeSet::new();
    for path in &named_devices(addon) {
        match policy::find(devices, path) {
            Some(device) if !policy::allowed(device, devices) => {
                tracing::error!(addon = %addon.slug, "App {} tried to access blocked device {}!", config.name, device.name);
            }
            Some(device) => rules.extend(policy::rule(device)),
            None => tracing::info!(addon = %addon.slug, device = %path, "device not present on this host yet"),
        }
    }
    let grants = [
        (config.video, Grant::Video),
        (config.gpio, Grant::Gpio),
        (config.uart, Grant::Uart),
        (config.usb, Grant::Usb),
    ];
    for (_, grant) in grants.iter().filter(|(wanted, _)| *wanted) {
        rules.extend(grant.rules(devices));
    }
    (!rules.is_empty()).then(|| rules.into_iter().collect())
}

/// The devices the add-on names: its config's `devices`, and the values of its `device` options
/// (a serial port chosen in the options, say).
pub(crate) fn named_devices(addon: &Installed) -> Vec<String> {
    let mut named = addon.config().devices.clone();
    if let Some(schema) = &addon.config().schema {
        named.extend(schema.device_paths(&Value::Object(addon.options())));
    }
    named
}

/// `path` of the host, under its root.
fn on_host(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn bind(source: &Path, target: &str, read_only: bool) -> Mount {
    Mount {
        source: Some(source.to_string_lossy().into_owned()),
        target: Some(target.to_owned()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Default::default()
    }
}

/// A bind whose mounts below `source` made later reach the container, when `slave`.
fn bind_slave(source: &Path, target: &str, read_only: bool, slave: bool) -> Mount {
    Mount {
        bind_options: slave.then(|| MountBindOptions {
            propagation: Some(MountBindOptionsPropagationEnum::RSLAVE),
            ..Default::default()
        }),
        ..bind(source, target, read_only)
    }
}

/// The folder where the add-on holds its update lock, as a balena service holds its own.
pub fn lock_folder(addon: &Installed, folders: &HostFolders) -> PathBuf {
    folders.locks.join(&addon.slug).join(&addon.slug)
}

/// `/data` and the update-lock folder (always, writable), the mapped folders with their `read_only` flags, and the host
/// paths the config's switches ask for.
fn mounts(plan: &Plan) -> Vec<Mount> {
    let addon = plan.addon;
    let config = addon.config();
    let folders = plan.folders;
    let target = |path: &Option<String>, default: &str| path.clone().unwrap_or_else(|| default.to_owned());
    // The legacy `config` mapping wins over the newer config mappings, as in the real Supervisor.
    let legacy_config = config.map.iter().any(|m| m.kind == MapType::Config);
    let data_target =
        config.map.iter().find(|m| m.kind == MapType::Data).map_or("/data".to_owned(), |m| target(&m.path, "/data"));
    let mut mounts = Vec::new();
    let dev = on_host(plan.host_root, "/dev");
    if (plan.exists)(&dev) {
        mounts.push(bind(&dev, "/dev", true));
    }
    mounts.push(bind(&folders.data.join(&addon.slug), &data_target, false));
    let locks = lock_folder(addon, folders);
    mounts.extend(update_locks::MOUNT_POINTS.iter().map(|point| bind(&locks, point, false)));
    for entry in &config.map {
        let ro = entry.read_only;
        let mount = match entry.kind {
            MapType::Data => continue,
            MapType::Config => bind(&folders.homeassistant, &target(&entry.path, "/config"), ro),
            MapType::AddonConfig if !legacy_config => {
                bind(&folders.addon_configs.join(&addon.slug), &target(&entry.path, "/config"), ro)
            }
            MapType::HomeassistantConfig if !legacy_config => {
                bind(&folders.homeassistant, &target(&entry.path, "/homeassistant"), ro)
            }
            MapType::AddonConfig | MapType::HomeassistantConfig => continue,
            MapType::AllAddonConfigs => bind(&folders.addon_configs, &target(&entry.path, "/addon_configs"), ro),
            MapType::Ssl => bind(&folders.ssl, &target(&entry.path, "/ssl"), ro),
            MapType::Addons => bind(&folders.addons_local, &target(&entry.path, "/addons"), ro),
            MapType::Backup => bind(&folders.backup, &target(&entry.path, "/backup"), ro),
            MapType::Share => bind_slave(&folders.share, &target(&entry.path, "/share"), ro, plan.propagation),
            MapType::Media => bind_slave(&folders.media, &target(&entry.path, "/media"), ro, plan.propagation),
        };
        // Two entries on one target would make the engine refuse the container; the first wins.
        if mounts.iter().any(|m| m.target == mount.target) {
            tracing::warn!(addon = %addon.slug, target = ?mount.target, "two mappings on one path, the first is kept");
            continue;
        }
        mounts.push(mount);
    }
    let unprotected = !addon.user.protected;
    let hardware: [(bool, &str, &str); 3] = [
        (config.devicetree, "/sys/firmware/devicetree/base", "/device-tree"),
        (config.udev, "/run/udev", "/run/udev"),
        (config.kernel_modules, "/lib/modules", "/lib/modules"),
    ];
    for (wanted, source, target) in hardware {
        let source = on_host(plan.host_root, source);
        if wanted && (plan.exists)(&source) {
            mounts.push(bind(&source, target, true));
        }
    }
    // The GPIO lines' sysfs interface, writable, where the host has GPIOs.
    if config.gpio && plan.hardware.iter().any(|device| device.subsystem == "gpio") {
        for path in ["/sys/class/gpio", "/sys/devices/platform/soc"] {
            let source = on_host(plan.host_root, path);
            if (plan.exists)(&source) {
                mounts.push(bind(&source, path, false));
            }
        }
    }
    let host: [(bool, &str, &str); 4] = [
        (config.host_dbus, "/run/dbus", "/run/dbus"),
        (config.docker_api && unprotected, DOCKER_SOCKET, DOCKER_SOCKET),
        (config.journald, "/var/log/journal", "/var/log/journal"),
        (config.journald, "/run/log/journal", "/run/log/journal"),
    ];
    for (wanted, source, target) in host {
        if wanted && (plan.exists)(Path::new(source)) {
            mounts.push(bind(Path::new(source), target, true));
        }
    }
    if config.audio {
        for (source, target) in pulse::clients::ClientFiles::new(&folders.layout, &addon.slug).binds(plan.exists) {
            mounts.push(bind(&source, target, true));
        }
    }
    mounts
}

fn tmpfs(addon: &Installed) -> Option<HashMap<String, String>> {
    let config = addon.config();
    let mut tmpfs = HashMap::new();
    if config.tmpfs {
        tmpfs.insert("/tmp".to_owned(), String::new());
    }
    if !config.host_ipc {
        tmpfs.insert("/dev/shm".to_owned(), String::new());
    }
    (!tmpfs.is_empty()).then_some(tmpfs)
}

fn ulimits(addon: &Installed) -> Option<Vec<ResourcesUlimits>> {
    let config = addon.config();
    let limit = |name: &str, soft: i64, hard: i64| ResourcesUlimits {
        name: Some(name.to_owned()),
        soft: Some(soft),
        hard: Some(hard),
    };
    let mut limits = Vec::new();
    if config.realtime {
        limits.push(limit("rtprio", 90, 99));
        limits.push(limit("memlock", 128 * 1024 * 1024, 128 * 1024 * 1024));
    }
    for (name, value) in &config.ulimits {
        limits.retain(|l| l.name.as_deref() != Some(name.as_str()));
        limits.push(match value {
            Ulimit::Single(n) => limit(name, *n, *n),
            Ulimit::Range { soft, hard } => limit(name, *soft, *hard),
        });
    }
    (!limits.is_empty()).then_some(limits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SystemData, UserData};
    use addon_config::AddonConfig;
    use serde_json::json;

    fn installed(config: Value) -> Installed {
        let mut base = json!({
            "name": "Test", "version": "1.0.0", "slug": "test", "description": "d", "arch": ["amd64", "aarch64"]
        });
        base.as_object_mut().unwrap().extend(config.as_object().unwrap().clone());
        let config = AddonConfig::from_value(base).expect("test config is valid");
        Installed {
            slug: "local_test".to_owned(),
            user: UserData::new("1.0.0", "local/amd64-addon-test"),
            system: SystemData { repository: "local".to_owned(), config, translations: BTreeMap::new() },
        }
    }

    fn folders() -> HostFolders {
        HostFolders::new(&DataDir::new("/srv/sup"))
    }

    fn build(addon: &Installed, exists: &dyn Fn(&Path) -> bool) -> ContainerCreateBody {
        build_on(addon, exists, None, Path::new("/"), &[], false)
    }

    /// The body on a host with a resolver, a root and devices, by a daemon that may give
    /// real-time CPU time or not.
    fn build_on(
        addon: &Installed,
        exists: &dyn Fn(&Path) -> bool,
        dns: Option<Ipv4Addr>,
        host_root: &Path,
        hardware: &[hardware::Device],
        cpu_realtime: bool,
    ) -> ContainerCreateBody {
        let folders = folders();
        container_body(&Plan {
            addon,
            image: "local/amd64-addon-test:1.0.0".to_owned(),
            network: "t1hassio",
            gateway: Ipv4Addr::new(172, 30, 32, 1),
            folders: &folders,
            token: "tok",
            timezone: "Europe/Amsterdam",
            exists,
            propagation: true,
            dns,
            host_root,
            hardware,
            apparmor_profile: None,
            cpu_realtime,
        })
    }

    fn nothing(_: &Path) -> bool {
        false
    }

    fn everything(_: &Path) -> bool {
        true
    }

    fn host(body: &ContainerCreateBody) -> &HostConfig {
        body.host_config.as_ref().unwrap()
    }

    fn targets(body: &ContainerCreateBody) -> Vec<(String, String, bool)> {
        host(body)
            .mounts
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| (m.source.clone().unwrap(), m.target.clone().unwrap(), m.read_only.unwrap()))
            .collect()
    }

    #[test]
    fn a_plain_addon_gets_nothing_extra() {
        let addon = installed(json!({}));
        let body = build(&addon, &everything);
        let hc = host(&body);
        assert_eq!(hc.privileged, Some(false));
        assert_eq!(hc.cap_add, None);
        assert_eq!(hc.devices, None);
        assert_eq!(hc.device_cgroup_rules, None, "it sees /dev but can open nothing of it");
        assert_eq!(hc.pid_mode, None);
        assert_eq!(hc.ipc_mode, None);
        assert_eq!(hc.uts_mode, None);
        assert_eq!(hc.security_opt, None);
        assert_eq!(hc.port_bindings, None);
        assert_eq!(hc.restart_policy, None, "restarts are the watchdog's job");
        assert_eq!(hc.network_mode.as_deref(), Some("t1hassio"));
        // Its data, and its update-lock folder where balena services have theirs.
        let lock = "/srv/sup/addons/locks/local_test/local_test";
        assert_eq!(
            targets(&body),
            vec![
                ("/dev".into(), "/dev".into(), true),
                ("/srv/sup/addons/data/local_test".into(), "/data".into(), false),
                (lock.into(), "/tmp/balena".into(), false),
                (lock.into(), "/tmp/resin".into(), false),
            ]
        );
        assert_eq!(body.hostname.as_deref(), Some("local-test"));
        assert_eq!(body.domainname.as_deref(), Some("local.hass.io"));
        assert_eq!(body.labels.as_ref().unwrap().get("supervisor_managed"), Some(&String::new()));
        assert_eq!(body.open_stdin, Some(false));
        assert_eq!(body.stop_timeout, Some(10));
        let endpoints = body.networking_config.as_ref().unwrap().endpoints_config.as_ref().unwrap();
        assert_eq!(endpoints["t1hassio"].aliases, Some(vec!["local-test".to_owned()]));
        assert_eq!(hc.extra_hosts, Some(vec!["supervisor:172.30.32.1".to_owned(), "hassio:172.30.32.1".to_owned()]));
    }

    #[test]
    fn the_dns_plugin_resolves_for_the_addon_once_installed() {
        let addon = installed(json!({}));
        assert_eq!(host(&build(&addon, &nothing)).dns, None, "no dns plugin: the engine's resolver");
        let body = build_on(&addon, &nothing, Some(Ipv4Addr::new(172, 30, 32, 3)), Path::new("/"), &[], false);
        let hc = host(&body);
        assert_eq!(hc.dns, Some(vec!["172.30.32.3".to_owned()]));
        assert_eq!(hc.dns_search, Some(vec!["local.hass.io".to_owned()]));
        assert_eq!(hc.dns_options, Some(vec!["timeout:10".to_owned()]));
    }

    #[test]
    fn audio_gets_the_sound_server_and_its_own_client_read_only() {
        let plain = installed(json!({}));
        assert!(!targets(&build(&plain, &everything))
            .iter()
            .any(|(_, t, _)| t.contains("audio") || t.contains("pulse")));
        let addon = installed(json!({"audio": true}));
        let mounts = targets(&build(&addon, &everything));
        for (source, target) in [
            ("/srv/sup/plugins/audio/run", "/run/audio"),
            ("/srv/sup/audio/local_test.pulse-client.conf", "/etc/pulse/client.conf"),
            ("/srv/sup/audio/asound.conf", "/etc/asound.conf"),
        ] {
            assert!(mounts.contains(&(source.to_owned(), target.to_owned(), true)), "{target}: {mounts:?}");
        }
    }

    #[test]
    fn capabilities_are_exactly_the_listed_ones() {
        let addon =
            installed(json!({"privileged": ["NET_ADMIN", "SYS_TIME"], "kernel_modules": true, "realtime": true}));
        let body = build(&addon, &everything);
        let hc = host(&body);
        assert_eq!(
            hc.cap_add,
            Some(vec!["NET_ADMIN".into(), "SYS_MODULE".into(), "SYS_NICE".into(), "SYS_TIME".into()])
        );
        assert_eq!(hc.privileged, Some(false));
        let ulimits: Vec<_> = hc.ulimits.as_ref().unwrap().iter().map(|u| u.name.clone().unwrap()).collect();
        assert_eq!(ulimits, vec!["rtprio", "memlock"]);
        assert!(targets(&body).iter().any(|(_, t, ro)| t == "/lib/modules" && *ro));
        assert_eq!(hc.cpu_realtime_runtime, None, "real-time CPU time only where the daemon may give it");
    }

    #[test]
    fn realtime_gets_its_share_of_real_time_cpu_where_the_kernel_allots_it() {
        let plan = |addon: &Installed, cpu_realtime: bool| {
            build_on(addon, &everything, None, Path::new("/"), &[], cpu_realtime)
        };
        let realtime = installed(json!({"realtime": true}));
        assert_eq!(host(&plan(&realtime, true)).cpu_realtime_runtime, Some(190_000));
        assert_eq!(host(&plan(&realtime, false)).cpu_realtime_runtime, None);
        assert_eq!(host(&plan(&installed(json!({})), true)).cpu_realtime_runtime, None);

        let root = tempfile::tempdir().unwrap();
        assert!(!cpu_realtime_allotted(root.path()));
        std::fs::create_dir_all(root.path().join("sys/fs/cgroup/cpu")).unwrap();
        std::fs::write(root.path().join("sys/fs/cgroup/cpu/cpu.rt_runtime_us"), "950000\n").unwrap();
        assert!(cpu_realtime_allotted(root.path()));
    }

    #[test]
    fn protection_withholds_pid_docker_and_full_access() {
        let mut addon = installed(json!({"host_pid": true, "docker_api": true, "full_access": true}));
        let body = build(&addon, &everything);
        assert_eq!(host(&body).pid_mode, None);
        assert_eq!(host(&body).device_cgroup_rules, None);
        assert!(!targets(&body).iter().any(|(_, t, _)| t == "/run/docker.sock"));
        addon.user.protected = false;
        let body = build(&addon, &everything);
        assert_eq!(host(&body).pid_mode.as_deref(), Some("host"));
        assert_eq!(host(&body).device_cgroup_rules, Some(vec!["a *:* rwm".to_owned()]));
        assert!(targets(&body).iter().any(|(_, t, ro)| t == "/run/docker.sock" && *ro));
        assert_eq!(host(&body).privileged, Some(false), "never privileged, even unprotected");
    }

    #[test]
    fn host_network_has_no_ports_alias_or_network_attachment() {
        let addon =
            installed(json!({"host_network": true, "host_ipc": true, "host_uts": true, "ports": {"80/tcp": 8080}}));
        let body = build(&addon, &nothing);
        let hc = host(&body);
        assert_eq!(hc.network_mode.as_deref(), Some("host"));
        assert_eq!(hc.port_bindings, None);
        assert_eq!(body.exposed_ports, None);
        assert!(body.networking_config.is_none());
        assert_eq!(hc.ipc_mode.as_deref(), Some("host"));
        assert_eq!(hc.uts_mode.as_deref(), Some("host"));
        assert_eq!(body.hostname, None);
        assert_eq!(hc.tmpfs, None, "host ipc keeps the host's /dev/shm");
    }

    #[test]
    fn ports_follow_user_overrides() {
        let mut addon = installed(json!({"ports": {"80/tcp": 8080, "53/udp": null, "22": 2222}}));
        let body = build(&addon, &nothing);
        let bindings = host(&body).port_bindings.clone().unwrap();
        assert_eq!(bindings.len(), 2);
        assert_eq!(bindings["80/tcp"].as_ref().unwrap()[0].host_port.as_deref(), Some("8080"));
        assert_eq!(bindings["22/tcp"].as_ref().unwrap()[0].host_port.as_deref(), Some("2222"));
        addon.user.network = Some(BTreeMap::from([("80/tcp".to_owned(), None), ("22".to_owned(), Some(2200))]));
        let bindings = host(&build(&addon, &nothing)).port_bindings.clone().unwrap();
        assert_eq!(bindings.len(), 1);
        assert_eq!(bindings["22/tcp"].as_ref().unwrap()[0].host_port.as_deref(), Some("2200"));
    }

    #[test]
    fn maps_follow_the_layout_and_read_only_flags() {
        let addon = installed(json!({"map": ["share:rw", "ssl", "addon_config:rw", "media", "backup:rw",
            "homeassistant_config", "all_addon_configs", "addons", {"type": "data", "path": "/store"}]}));
        let mounts = targets(&build(&addon, &nothing));
        let expected = [
            ("/srv/sup/addons/data/local_test", "/store", false),
            ("/srv/sup/addons/locks/local_test/local_test", "/tmp/balena", false),
            ("/srv/sup/addons/locks/local_test/local_test", "/tmp/resin", false),
            ("/srv/sup/share", "/share", false),
            ("/srv/sup/ssl", "/ssl", true),
            ("/srv/sup/addon_configs/local_test", "/config", false),
            ("/srv/sup/media", "/media", true),
            ("/srv/sup/backup", "/backup", false),
            ("/srv/sup/homeassistant", "/homeassistant", true),
            ("/srv/sup/addon_configs", "/addon_configs", true),
            ("/srv/sup/addons/local", "/addons", true),
        ];
        let expected: Vec<(String, String, bool)> =
            expected.iter().map(|(s, t, ro)| (s.to_string(), t.to_string(), *ro)).collect();
        assert_eq!(mounts, expected);
        let dirs = folders_to_create(&addon, &folders());
        assert_eq!(dirs.len(), 3);
    }

    fn device(name: &str, subsystem: &str, major: u32, minor: u32) -> hardware::Device {
        hardware::Device {
            name: name.to_owned(),
            sysfs: format!("/sys/devices/platform/{name}"),
            dev_path: format!("/dev/{name}"),
            subsystem: subsystem.to_owned(),
            by_id: Some(format!("/dev/serial/by-id/usb-{name}")),
            attributes: BTreeMap::from([
                ("MAJOR".to_owned(), major.to_string()),
                ("MINOR".to_owned(), minor.to_string()),
            ]),
            children: Vec::new(),
        }
    }

    fn with_hardware(addon: &Installed, root: &Path, hardware: &[hardware::Device]) -> ContainerCreateBody {
        build_on(addon, &everything, None, root, hardware, false)
    }

    fn hardware() -> Vec<hardware::Device> {
        vec![
            device("ttyUSB0", "tty", 188, 0),
            device("ttyS0", "tty", 4, 64),
            device("gpiochip0", "gpio", 254, 0),
            device("video0", "video4linux", 81, 0),
            device("sda", "block", 8, 0),
        ]
    }

    #[test]
    fn explicit_devices_are_allowed_by_number_when_present() {
        let addon = installed(json!({"devices": ["/dev/serial/by-id/usb-ttyS0", "/dev/sda", "/dev/ttyACM7"]}));
        let body = with_hardware(&addon, Path::new("/"), &hardware());
        let hc = host(&body);
        assert_eq!(hc.devices, None, "nodes come from the host's /dev, not one by one");
        assert_eq!(hc.device_cgroup_rules, Some(vec!["b 8:0 rwm".to_owned(), "c 4:64 rwm".to_owned()]));
    }

    #[test]
    fn a_device_chosen_in_the_options_is_allowed_too() {
        let mut addon = installed(json!({
            "options": {"serial": {"port": null}}, "schema": {"serial": {"port": "device(subsystem=tty)?"}}
        }));
        assert_eq!(host(&with_hardware(&addon, Path::new("/"), &hardware())).device_cgroup_rules, None);
        addon.user.options.insert("serial".to_owned(), json!({"port": "/dev/serial/by-id/usb-ttyS0"}));
        let rules = host(&with_hardware(&addon, Path::new("/"), &hardware())).device_cgroup_rules.clone();
        assert_eq!(rules, Some(vec!["c 4:64 rwm".to_owned()]));
    }

    #[test]
    fn the_systems_disk_is_never_given() {
        let addon = installed(json!({"devices": ["/dev/sda"]}));
        let mut devices = hardware();
        let mut boot = device("sda1", "block", 8, 1);
        boot.attributes.insert("ID_FS_LABEL".to_owned(), "hassos-boot".to_owned());
        devices.iter_mut().find(|device| device.name == "sda").unwrap().children = vec![boot.sysfs.clone()];
        devices.push(boot);
        assert_eq!(host(&with_hardware(&addon, Path::new("/"), &devices)).device_cgroup_rules, None);
    }

    #[test]
    fn each_grant_allows_its_classes_only() {
        let rules = |grant: &str| {
            let addon = installed(json!({ grant: true }));
            host(&with_hardware(&addon, Path::new("/"), &hardware())).device_cgroup_rules.clone().unwrap_or_default()
        };
        assert_eq!(rules("uart"), ["c 166:* rwm", "c 188:* rwm", "c 204:* rwm", "c 4:64 rwm"]);
        assert_eq!(rules("usb"), ["c 180:* rwm", "c 189:* rwm"]);
        assert_eq!(rules("gpio"), ["c 254:* rwm"]);
        assert_eq!(rules("video"), ["c 226:* rwm", "c 29:* rwm", "c 81:* rwm"]);
        assert!(rules("udev").is_empty());
    }

    #[test]
    fn hardware_folders_come_from_the_host_root() {
        let addon = installed(json!({"gpio": true, "udev": true, "devicetree": true, "kernel_modules": true}));
        let mounts = targets(&with_hardware(&addon, Path::new("/host"), &hardware()));
        for (source, target, read_only) in [
            ("/host/dev", "/dev", true),
            ("/host/run/udev", "/run/udev", true),
            ("/host/sys/firmware/devicetree/base", "/device-tree", true),
            ("/host/lib/modules", "/lib/modules", true),
            ("/host/sys/class/gpio", "/sys/class/gpio", false),
            ("/host/sys/devices/platform/soc", "/sys/devices/platform/soc", false),
        ] {
            assert!(mounts.contains(&(source.to_owned(), target.to_owned(), read_only)), "{target}: {mounts:?}");
        }
        let without_gpios = targets(&with_hardware(&addon, Path::new("/host"), &[]));
        assert!(!without_gpios.iter().any(|(_, target, _)| target == "/sys/class/gpio"), "a host without GPIOs");
    }

    #[test]
    fn environment_puts_supervisor_values_last() {
        let mut addon = installed(json!({
            "legacy": true, "environment": {"FOO": "bar", "TZ": "nope"},
            "options": {"level": "info", "count": 3, "nested": {"a": 1}, "flag": true},
            "schema": {"level": "str", "count": "int", "nested": {"a": "int"}, "flag": "bool"}
        }));
        addon.user.options.insert("SUPERVISOR_TOKEN".to_owned(), json!("stolen"));
        let env = build(&addon, &nothing).env.unwrap();
        assert!(env.contains(&"FOO=bar".to_owned()));
        assert!(env.contains(&"level=info".to_owned()));
        assert!(env.contains(&"count=3".to_owned()));
        assert!(!env.iter().any(|e| e.starts_with("nested=") || e.starts_with("flag=")));
        assert!(env.contains(&"TZ=Europe/Amsterdam".to_owned()));
        assert!(env.contains(&"SUPERVISOR_TOKEN=tok".to_owned()));
        assert!(env.contains(&"HASSIO_TOKEN=tok".to_owned()));
        assert_eq!(env.iter().filter(|e| e.starts_with("SUPERVISOR_TOKEN=")).count(), 1);
    }

    #[test]
    fn stdin_tmpfs_init_apparmor_and_timeout() {
        let addon = installed(json!({"stdin": true, "tmpfs": true, "init": false, "apparmor": false, "timeout": 60}));
        let body = build(&addon, &nothing);
        assert_eq!(body.open_stdin, Some(true));
        assert_eq!(body.stop_timeout, Some(60));
        let hc = host(&body);
        assert_eq!(hc.init, Some(false));
        assert_eq!(hc.security_opt, Some(vec!["apparmor=unconfined".to_owned()]));
        assert_eq!(security_opt(false, Some("core_x")), Some(vec!["apparmor=unconfined".to_owned()]));
        assert_eq!(security_opt(true, Some("core_x")), Some(vec!["apparmor=core_x".to_owned()]));
        let tmpfs = hc.tmpfs.clone().unwrap();
        assert!(tmpfs.contains_key("/tmp") && tmpfs.contains_key("/dev/shm"));
    }
}
