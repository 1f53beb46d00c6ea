//! The container Core runs in, as the real Supervisor runs it: on the host's network (Core
//! discovers devices and serves on the host's port), with the host's `/dev` and the device rules
//! for the serial, USB, video and GPIO devices its integrations open (also ones plugged in
//! later), the configuration, SSL, share, media and backup folders, the time zone and the
//! supervisor's address and token. Unlike the real one it is not privileged: the device rules and
//! the network capabilities Bluetooth and discovery need are what Core uses of it, and engines
//! that refuse privileged containers still run Core. Pure, so every setting is tested without an
//! engine.

use crate::config::CoreConfig;
use base::DataDir;
use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountType,
};
use docker::LABEL_MANAGED;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Seconds Core gets to stop before it is killed: it writes its database on the way out.
pub const STOP_TIMEOUT: i64 = 260;

/// Bluetooth, DHCP and network discovery.
const CAPABILITIES: [&str; 2] = ["NET_ADMIN", "NET_RAW"];
/// The device classes Core's integrations open, by major number: USB serial (188), ACM modems
/// (166), the Pi's UART (204), serial ports (4), raw USB (189), video (81), GPIO chips (254).
const DEVICE_RULES: [&str; 7] =
    ["c 188:* rwm", "c 166:* rwm", "c 204:* rwm", "c 4:* rwm", "c 189:* rwm", "c 81:* rwm", "c 254:* rwm"];

/// Everything the container depends on besides Core's settings.
pub struct Plan<'a> {
    pub config: &'a CoreConfig,
    /// The image with its tag.
    pub image: String,
    pub data: &'a DataDir,
    /// Where Core reaches the supervisor: `host[:port]`, its `SUPERVISOR` variable.
    pub supervisor: &'a str,
    pub token: &'a str,
    pub timezone: &'a str,
    /// Whether a host path exists; host sockets and files that do not are left out.
    pub exists: &'a dyn Fn(&Path) -> bool,
    /// Whether to ask for what a restricted host refuses: mounts made later under share, media
    /// and backup propagating into the container (refused where the host's mount is private, as
    /// on a plain Debian root) and a negative OOM score (refused in unprivileged engines).
    pub host_privileges: bool,
    /// The resolver: the dns plugin's address once it is installed.
    pub dns: Option<std::net::Ipv4Addr>,
}

/// The engine's create request for Core's container.
pub fn container_body(plan: &Plan) -> ContainerCreateBody {
    let mut host_config = HostConfig {
        network_mode: Some("host".to_owned()),
        privileged: Some(false),
        cap_add: Some(CAPABILITIES.iter().map(|c| (*c).to_owned()).collect()),
        device_cgroup_rules: Some(DEVICE_RULES.iter().map(|r| (*r).to_owned()).collect()),
        init: Some(false),
        mounts: Some(mounts(plan)),
        security_opt: Some(vec!["seccomp=unconfined".to_owned()]),
        extra_hosts: Some(vec![format!("supervisor:{}", plan.supervisor.split(':').next().unwrap_or_default())]),
        tmpfs: Some(HashMap::from([("/tmp".to_owned(), String::new())])),
        // The kernel kills add-ons before Core when memory runs out.
        oom_score_adj: plan.host_privileges.then_some(-300),
        ..Default::default()
    };
    if let Some(dns) = plan.dns {
        docker::use_resolver(&mut host_config, dns);
    }
    ContainerCreateBody {
        image: Some(plan.image.clone()),
        env: Some(environment(plan)),
        labels: Some(HashMap::from([(LABEL_MANAGED.to_owned(), String::new())])),
        stop_timeout: Some(STOP_TIMEOUT),
        host_config: Some(host_config),
        ..Default::default()
    }
}

/// `KEY=value` lines: the supervisor's address and Core's token under their current and legacy
/// names, the time zone, and the options that Core reads from its environment.
pub fn environment(plan: &Plan) -> Vec<String> {
    let mut env = vec![
        format!("SUPERVISOR={}", plan.supervisor),
        format!("HASSIO={}", plan.supervisor),
        format!("TZ={}", plan.timezone),
        format!("SUPERVISOR_TOKEN={}", plan.token),
        format!("HASSIO_TOKEN={}", plan.token),
    ];
    if plan.config.duplicate_log_file {
        env.push("HA_DUPLICATE_LOG_FILE=1".to_owned());
    }
    env
}

fn bind(source: PathBuf, target: &str, read_only: bool, slave: bool) -> Mount {
    Mount {
        source: Some(source.to_string_lossy().into_owned()),
        target: Some(target.to_owned()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        bind_options: slave.then(|| MountBindOptions {
            // Network storage mounted under share or media later still reaches Core.
            propagation: Some(MountBindOptionsPropagationEnum::RSLAVE),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn mounts(plan: &Plan) -> Vec<Mount> {
    let data = plan.data;
    let mut mounts = vec![
        bind(data.homeassistant(), "/config", false, false),
        bind(data.ssl(), "/ssl", true, false),
        bind(data.share(), "/share", false, plan.host_privileges),
        bind(data.media(), "/media", false, plan.host_privileges),
        bind(data.backup(), "/backup", false, plan.host_privileges),
    ];
    for host in ["/dev", "/run/dbus", "/run/udev", "/etc/machine-id"] {
        if (plan.exists)(Path::new(host)) {
            mounts.push(bind(PathBuf::from(host), host, true, false));
        }
    }
    for (source, target) in sound_client(data).binds(plan.exists) {
        mounts.push(bind(source, target, true, false));
    }
    mounts
}

/// Core plays and records through the audio plugin, as the add-ons with `audio` do.
pub fn sound_client(data: &DataDir) -> pulse::clients::ClientFiles {
    pulse::clients::ClientFiles::new(data, "homeassistant")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(config: &CoreConfig, exists: bool) -> ContainerCreateBody {
        let data = DataDir::new("/data");
        let exists = move |_: &Path| exists;
        container_body(&Plan {
            config,
            image: "ghcr.io/home-assistant/qemux86-64-homeassistant:2025.1.0".to_owned(),
            data: &data,
            supervisor: "172.30.32.1",
            token: "tok",
            timezone: "Europe/Berlin",
            exists: &exists,
            host_privileges: true,
            dns: None,
        })
    }

    #[test]
    fn core_runs_on_the_host_network_with_its_folders() {
        let body = body(&CoreConfig::default(), false);
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        let mounts: Vec<(String, String, bool)> = host
            .mounts
            .clone()
            .unwrap()
            .into_iter()
            .map(|m| (m.source.unwrap(), m.target.unwrap(), m.read_only.unwrap()))
            .collect();
        assert_eq!(
            mounts,
            vec![
                ("/data/homeassistant".into(), "/config".into(), false),
                ("/data/ssl".into(), "/ssl".into(), true),
                ("/data/share".into(), "/share".into(), false),
                ("/data/media".into(), "/media".into(), false),
                ("/data/backup".into(), "/backup".into(), false),
                ("/data/audio/homeassistant.pulse-client.conf".into(), "/etc/pulse/client.conf".into(), true),
                ("/data/audio/asound.conf".into(), "/etc/asound.conf".into(), true),
            ]
        );
        assert_eq!(body.stop_timeout, Some(STOP_TIMEOUT));
        assert_eq!(host.privileged, Some(false));
        assert!(host.device_cgroup_rules.unwrap().contains(&"c 188:* rwm".to_owned()));
    }

    #[test]
    fn the_dns_plugin_resolves_for_core_once_installed() {
        assert_eq!(body(&CoreConfig::default(), false).host_config.unwrap().dns, None);
        let data = DataDir::new("/data");
        let config = CoreConfig::default();
        let with_dns = container_body(&Plan {
            config: &config,
            image: "core:1".to_owned(),
            data: &data,
            supervisor: "172.30.32.1",
            token: "tok",
            timezone: "UTC",
            exists: &|_: &Path| false,
            host_privileges: true,
            dns: Some(std::net::Ipv4Addr::new(172, 30, 32, 3)),
        });
        let host = with_dns.host_config.unwrap();
        assert_eq!(host.dns, Some(vec!["172.30.32.3".to_owned()]));
        assert_eq!(host.dns_search, Some(vec!["local.hass.io".to_owned()]));
    }

    #[test]
    fn host_sockets_are_mapped_read_only_when_they_exist() {
        let mounts = body(&CoreConfig::default(), true).host_config.unwrap().mounts.unwrap();
        let dbus = mounts.iter().find(|m| m.target.as_deref() == Some("/run/dbus")).unwrap();
        assert_eq!(dbus.read_only, Some(true));
    }

    #[test]
    fn the_environment_names_the_supervisor_and_the_token() {
        let env = body(&CoreConfig::default(), false).env.unwrap();
        for line in ["SUPERVISOR=172.30.32.1", "HASSIO=172.30.32.1", "TZ=Europe/Berlin", "SUPERVISOR_TOKEN=tok"] {
            assert!(env.contains(&line.to_owned()), "{line} missing from {env:?}");
        }
        assert!(!env.iter().any(|e| e.starts_with("HA_DUPLICATE_LOG_FILE")));
        let config = CoreConfig { duplicate_log_file: true, ..CoreConfig::default() };
        assert!(body(&config, false).env.unwrap().contains(&"HA_DUPLICATE_LOG_FILE=1".to_owned()));
    }
}
