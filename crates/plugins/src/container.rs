//! The containers the plugins run in, as the real Supervisor runs them: `hassio_<plugin>` on the
//! container network at a fixed address where the network allows one (dns, audio, cli), or on
//! the host's network (observer, multicast); the plugin's config folder at `/config`; the
//! supervisor's address and the plugin's own token where it has one; the dns plugin as the
//! resolver of the others. Pure, so every setting is tested without an engine.

use crate::Plugin;
use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HostConfig, Mount, MountType,
    NetworkingConfig, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};
use docker::LABEL_MANAGED;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

/// Seconds a plugin gets to stop before it is killed.
pub const STOP_TIMEOUT: i64 = 10;

/// Everything a plugin's container depends on.
pub struct Plan<'a> {
    pub plugin: Plugin,
    /// The image with its tag.
    pub image: String,
    /// The container's name on the engine (with the instance prefix).
    pub name: &'a str,
    /// The container network and its gateway, where the supervisor serves containers.
    pub network: &'a str,
    pub gateway: Ipv4Addr,
    /// The fixed address on the network, where the network has a subnet of the supervisor's.
    pub address: Option<Ipv4Addr>,
    /// The resolver of the container: the dns plugin's address once it runs (never for itself).
    pub dns: Option<Ipv4Addr>,
    /// `http://supervisor[:port]`: the API as the container reaches it.
    pub endpoint: &'a str,
    /// The plugin's config folder on the host.
    pub config_dir: &'a Path,
    /// The plugin's token for the supervisor's API.
    pub token: Option<&'a str>,
    pub timezone: &'a str,
    /// Arguments after the image's entrypoint.
    pub command: Vec<String>,
    /// Whether a host path exists; host sockets and devices that do not are left out.
    pub exists: &'a dyn Fn(&Path) -> bool,
    /// Whether to ask for a negative OOM score and real-time scheduling (refused in
    /// unprivileged engines).
    pub host_privileges: bool,
}

/// The engine's create request for the plugin's container.
pub fn container_body(plan: &Plan) -> ContainerCreateBody {
    let plugin = plan.plugin;
    let hostname = plan.name.replace('_', "-");
    let mut mounts = vec![bind(&plan.config_dir.to_string_lossy(), "/config", false)];
    let mut host_config = HostConfig {
        network_mode: Some(if plugin.host_network() { "host".to_owned() } else { plan.network.to_owned() }),
        init: Some(false),
        privileged: Some(false),
        extra_hosts: Some(vec![format!("supervisor:{}", plan.gateway), format!("observer:{}", plan.gateway)]),
        ..Default::default()
    };
    if plugin != Plugin::Dns {
        if let Some(dns) = plan.dns {
            docker::use_resolver(&mut host_config, dns);
        }
    }
    let mut env = vec![format!("TZ={}", plan.timezone)];
    if let Some(token) = plan.token {
        env.push(format!("SUPERVISOR_TOKEN={token}"));
        env.push(format!("SUPERVISOR_ENDPOINT={}", plan.endpoint));
    }
    let host_paths = |paths: &[&str]| -> Vec<Mount> {
        paths.iter().filter(|path| (plan.exists)(Path::new(path))).map(|path| bind(path, path, true)).collect()
    };
    match plugin {
        Plugin::Dns => {
            mounts.extend(host_paths(&["/run/dbus"]));
            host_config.oom_score_adj = plan.host_privileges.then_some(-300);
        }
        Plugin::Audio => {
            let socket = plan.config_dir.join("run");
            mounts.push(bind(&socket.to_string_lossy(), pulse::clients::SOCKET_DIR, false));
            mounts.extend(host_paths(&["/run/dbus", "/run/udev", "/etc/machine-id"]));
            if (plan.exists)(Path::new("/dev/snd")) {
                host_config.devices = Some(vec![DeviceMapping {
                    path_on_host: Some("/dev/snd".to_owned()),
                    path_in_container: Some("/dev/snd".to_owned()),
                    cgroup_permissions: Some("rwm".to_owned()),
                }]);
                // ALSA's devices, also ones plugged in after the start.
                host_config.device_cgroup_rules = Some(vec!["c 116:* rwm".to_owned()]);
            }
            // PulseAudio asks for real-time scheduling at priority 5; an engine that may not
            // grant it (unprivileged, as for the OOM score) starts it without.
            if plan.host_privileges {
                host_config.cap_add = Some(vec!["SYS_NICE".to_owned(), "SYS_RESOURCE".to_owned()]);
                host_config.ulimits =
                    Some(vec![ResourcesUlimits { name: Some("rtprio".to_owned()), soft: Some(10), hard: Some(10) }]);
            }
        }
        Plugin::Cli => {}
        Plugin::Observer => {
            // The page must answer even while the supervisor does not; the engine keeps it up.
            host_config.restart_policy =
                Some(RestartPolicy { name: Some(RestartPolicyNameEnum::ALWAYS), maximum_retry_count: None });
            host_config.oom_score_adj = plan.host_privileges.then_some(-300);
        }
        Plugin::Multicast => {
            host_config.cap_add = Some(vec!["NET_ADMIN".to_owned(), "NET_RAW".to_owned()]);
        }
    }
    host_config.mounts = Some(mounts);
    let networking_config = (!plugin.host_network()).then(|| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            plan.network.to_owned(),
            EndpointSettings {
                aliases: Some(vec![hostname.clone()]),
                ipam_config: plan.address.map(|address| EndpointIpamConfig {
                    ipv4_address: Some(address.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )])),
    });
    ContainerCreateBody {
        image: Some(plan.image.clone()),
        hostname: (!plugin.host_network()).then_some(hostname),
        env: Some(env),
        cmd: (!plan.command.is_empty()).then(|| plan.command.clone()),
        labels: Some(HashMap::from([(LABEL_MANAGED.to_owned(), String::new())])),
        stop_timeout: Some(STOP_TIMEOUT),
        host_config: Some(host_config),
        networking_config,
        ..Default::default()
    }
}

fn bind(source: &str, target: &str, read_only: bool) -> Mount {
    Mount {
        source: Some(source.to_owned()),
        target: Some(target.to_owned()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Default::default()
    }
}

/// The address `offset` places into `subnet` (`172.30.32.0/23`, 3 → `172.30.32.3`), if the
/// subnet is IPv4 and holds it.
pub fn address_in(subnet: &str, offset: u32) -> Option<Ipv4Addr> {
    let (network, prefix) = subnet.split_once('/')?;
    let network: Ipv4Addr = network.parse().ok()?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 30)?;
    let size = 1u64 << (32 - prefix);
    (u64::from(offset) < size - 1).then(|| Ipv4Addr::from(u32::from(network) + offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan<'a>(plugin: Plugin, exists: &'a dyn Fn(&Path) -> bool, config: &'a Path) -> Plan<'a> {
        Plan {
            plugin,
            image: format!("ghcr.io/home-assistant/amd64-hassio-{plugin}:1"),
            name: "hassio_x",
            network: "hassio",
            gateway: Ipv4Addr::new(172, 30, 32, 1),
            address: plugin.offset().and_then(|offset| address_in("172.30.32.0/23", offset)),
            dns: Some(Ipv4Addr::new(172, 30, 32, 3)),
            endpoint: "http://supervisor",
            config_dir: config,
            token: plugin.has_token().then_some("tok"),
            timezone: "Europe/Berlin",
            command: Vec::new(),
            exists,
            host_privileges: true,
        }
    }

    fn mounts(body: &ContainerCreateBody) -> Vec<(String, String, bool)> {
        let mounts = body.host_config.as_ref().unwrap().mounts.clone().unwrap();
        mounts.into_iter().map(|m| (m.source.unwrap(), m.target.unwrap(), m.read_only.unwrap())).collect()
    }

    #[test]
    fn addresses_are_offsets_of_the_subnet() {
        assert_eq!(address_in("172.30.32.0/23", 3), Some(Ipv4Addr::new(172, 30, 32, 3)));
        assert_eq!(address_in("10.7.1.0/24", 6), Some(Ipv4Addr::new(10, 7, 1, 6)));
        assert_eq!(address_in("10.7.1.0/30", 3), None, "the broadcast address");
        assert_eq!(address_in("fd00::/64", 3), None);
        assert_eq!(address_in("garbage", 3), None);
    }

    #[test]
    fn the_dns_plugin_sits_at_its_address_without_itself_as_resolver() {
        let none = |_: &Path| false;
        let body = container_body(&plan(Plugin::Dns, &none, Path::new("/data/plugins/dns")));
        let host = body.host_config.clone().unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("hassio"));
        assert_eq!(host.dns, None);
        assert_eq!(host.oom_score_adj, Some(-300));
        let endpoint = &body.networking_config.unwrap().endpoints_config.unwrap()["hassio"];
        assert_eq!(endpoint.ipam_config.as_ref().unwrap().ipv4_address.as_deref(), Some("172.30.32.3"));
        assert_eq!(endpoint.aliases, Some(vec!["hassio-x".to_owned()]));
        assert_eq!(body.hostname.as_deref(), Some("hassio-x"));
        assert_eq!(body.env, Some(vec!["TZ=Europe/Berlin".to_owned()]));
        assert_eq!(body.labels.unwrap().get(LABEL_MANAGED).map(String::as_str), Some(""));
    }

    #[test]
    fn the_cli_gets_its_token_the_endpoint_and_the_resolver() {
        let none = |_: &Path| false;
        let body = container_body(&plan(Plugin::Cli, &none, Path::new("/data/plugins/cli")));
        let env = body.env.clone().unwrap();
        assert!(
            env.contains(&"SUPERVISOR_TOKEN=tok".to_owned())
                && env.contains(&"SUPERVISOR_ENDPOINT=http://supervisor".to_owned())
        );
        let host = body.host_config.clone().unwrap();
        assert_eq!(host.dns, Some(vec!["172.30.32.3".to_owned()]));
        assert_eq!(host.dns_search, Some(vec!["local.hass.io".to_owned()]));
        assert!(host.extra_hosts.unwrap().contains(&"supervisor:172.30.32.1".to_owned()));
        assert_eq!(mounts(&body), vec![("/data/plugins/cli".to_owned(), "/config".to_owned(), false)]);
    }

    #[test]
    fn host_network_plugins_have_no_address_on_the_network() {
        let none = |_: &Path| false;
        for plugin in [Plugin::Observer, Plugin::Multicast] {
            let body = container_body(&plan(plugin, &none, Path::new("/c")));
            assert_eq!(body.host_config.as_ref().unwrap().network_mode.as_deref(), Some("host"));
            assert!(body.networking_config.is_none() && body.hostname.is_none());
        }
        let observer = container_body(&plan(Plugin::Observer, &none, Path::new("/c")));
        let policy = observer.host_config.unwrap().restart_policy.unwrap();
        assert_eq!(policy.name, Some(RestartPolicyNameEnum::ALWAYS));
        let multicast = container_body(&plan(Plugin::Multicast, &none, Path::new("/c")));
        assert!(multicast.host_config.unwrap().cap_add.unwrap().contains(&"NET_ADMIN".to_owned()));
    }

    #[test]
    fn audio_gets_its_socket_folder_and_the_sound_devices_present() {
        let all = |_: &Path| true;
        let body = container_body(&plan(Plugin::Audio, &all, Path::new("/data/plugins/audio")));
        let mounts = mounts(&body);
        assert!(mounts.contains(&("/data/plugins/audio/run".to_owned(), "/run/audio".to_owned(), false)));
        assert!(mounts.contains(&("/run/dbus".to_owned(), "/run/dbus".to_owned(), true)));
        let host = body.host_config.unwrap();
        assert_eq!(host.devices.unwrap()[0].path_on_host.as_deref(), Some("/dev/snd"));
        let none = |_: &Path| false;
        let body = container_body(&plan(Plugin::Audio, &none, Path::new("/data/plugins/audio")));
        assert!(body.host_config.unwrap().devices.is_none(), "no sound card: null sink and source");
    }

    #[test]
    fn without_host_privileges_no_oom_score_or_real_time_scheduling() {
        let none = |_: &Path| false;
        let mut dns = plan(Plugin::Dns, &none, Path::new("/c"));
        dns.host_privileges = false;
        assert_eq!(container_body(&dns).host_config.unwrap().oom_score_adj, None);
        let mut audio = plan(Plugin::Audio, &none, Path::new("/c"));
        assert!(container_body(&audio).host_config.unwrap().ulimits.is_some());
        audio.host_privileges = false;
        let host_config = container_body(&audio).host_config.unwrap();
        assert_eq!((host_config.ulimits, host_config.cap_add), (None, None));
    }
}
