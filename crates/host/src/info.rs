//! What `/host/info` and the host's part of `/info` show, made from the services' watched states
//! (never a D-Bus call per request): [`HostInfo`], the [`Feature`] list, and the rules behind
//! them (HAOS from the CPE name, the network feature from NetworkManager's managed interfaces,
//! the clock as the real Supervisor prints it).

use chrono::{DateTime, SecondsFormat};
use dbus::{HostnameState, NetworkState, ResolvedState, SystemdState, TimedateState};
use serde::Serialize;
use utoipa::ToSchema;

/// A host feature, by the real Supervisor's name (`HostFeature`), in the order it lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    Reboot,
    Shutdown,
    Services,
    Network,
    Hostname,
    Timedate,
    OsAgent,
    Haos,
    Resolved,
    Journal,
    Disk,
    Mount,
    Ntp,
}

impl Feature {
    pub fn name(self) -> &'static str {
        match self {
            Feature::Reboot => "reboot",
            Feature::Shutdown => "shutdown",
            Feature::Services => "services",
            Feature::Network => "network",
            Feature::Hostname => "hostname",
            Feature::Timedate => "timedate",
            Feature::OsAgent => "os_agent",
            Feature::Haos => "haos",
            Feature::Resolved => "resolved",
            Feature::Journal => "journal",
            Feature::Disk => "disk",
            Feature::Mount => "mount",
            Feature::Ntp => "ntp",
        }
    }
}

/// Which services answer, as the feature list needs it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Presence {
    pub systemd: bool,
    /// NetworkManager is there and manages an interface the supervisor would configure.
    pub network_interfaces: bool,
    pub hostname: bool,
    pub timedate: bool,
    pub os_agent: bool,
    /// The host runs Home Assistant OS (its CPE name says so).
    pub haos: bool,
    pub resolved: bool,
    pub journal: bool,
    pub udisks2: bool,
    /// Network storage can be mounted ([`mount_supported`]).
    pub mount: bool,
    /// The supervisor may set timesyncd's servers ([`ntp_supported`]).
    pub ntp: bool,
}

/// The host's features, as the real `HostManager.features` lists them.
pub fn features(presence: Presence) -> Vec<Feature> {
    let mut features = Vec::with_capacity(12);
    if presence.systemd {
        features.extend([Feature::Reboot, Feature::Shutdown, Feature::Services]);
    }
    let rest = [
        (presence.network_interfaces, Feature::Network),
        (presence.hostname, Feature::Hostname),
        (presence.timedate, Feature::Timedate),
        (presence.os_agent, Feature::OsAgent),
        (presence.haos, Feature::Haos),
        (presence.resolved, Feature::Resolved),
        (presence.journal, Feature::Journal),
        (presence.udisks2, Feature::Disk),
        (presence.mount, Feature::Mount),
        (presence.ntp, Feature::Ntp),
    ];
    features.extend(rest.into_iter().filter_map(|(present, feature)| present.then_some(feature)));
    features
}

/// Whether a CPE name (`cpe:2.3:o:home-assistant:haos:16.0:...` or the older URI form
/// `cpe:/o:home-assistant:hassos:...`) names Home Assistant OS, as the real OS manager decides.
pub fn is_haos(cpe: &str) -> bool {
    haos_version(cpe).is_some()
}

/// The version of Home Assistant OS a CPE name names (`""` when it names none); `None` when it
/// is not Home Assistant OS.
fn haos_version(cpe: &str) -> Option<&str> {
    let rest = cpe.strip_prefix("cpe:2.3:").or_else(|| cpe.strip_prefix("cpe:/"))?;
    let mut fields = rest.split(':').skip(2);
    matches!(fields.next(), Some("haos" | "hassos")).then(|| fields.next().unwrap_or(""))
}

/// Whether network storage can be mounted, as the real Supervisor decides: systemd is there to
/// run mount units, and on Home Assistant OS the OS is 10.2 or newer (where mounts under the
/// data directory reach the supervisor).
pub fn mount_supported(systemd: bool, hostname: Option<&HostnameState>) -> bool {
    let os_version = hostname.and_then(|state| haos_version(&state.operating_system_cpe_name));
    systemd && os_version.is_none_or(|version| !base::version::is_newer("10.2", version))
}

/// The OS-Agent from which on the supervisor sets timesyncd's servers (it came with Home
/// Assistant OS 18.3).
const NTP_AGENT: &str = "1.13.0";

/// Whether the supervisor may set the host's NTP servers, as the real one decides: Home Assistant
/// OS whose OS-Agent (`agent_version`) is new enough and has the Timesyncd object.
pub fn ntp_supported(haos: bool, agent_version: Option<&str>, timesyncd: bool) -> bool {
    haos && timesyncd && agent_version.is_some_and(|version| base::version::at_least(version, NTP_AGENT))
}

/// NetworkManager device types the supervisor configures: ethernet, wifi, VLAN.
const CONFIGURABLE_DEVICES: [u32; 3] = [1, 2, 11];

/// Whether NetworkManager manages an interface the supervisor would show (the real
/// `network.interfaces` is not empty).
pub fn has_interfaces(network: &NetworkState) -> bool {
    network.devices.iter().any(|device| device.managed && CONFIGURABLE_DEVICES.contains(&device.device_type))
}

/// `/host/info`: the real Supervisor's keys; what a missing service would tell is `null`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostInfo {
    /// The OS-Agent's version.
    pub agent_version: Option<String>,
    /// The AppArmor parser's version, from the OS-Agent.
    pub apparmor_version: Option<String>,
    pub chassis: Option<String>,
    /// `kvm`, `docker`, ...; empty on bare metal.
    pub virtualization: Option<String>,
    /// The operating system's CPE name.
    pub cpe: Option<String>,
    pub deployment: Option<String>,
    /// GiB free on the data directory's file system, one decimal.
    pub disk_free: f64,
    /// GiB in all.
    pub disk_total: f64,
    /// GiB used.
    pub disk_used: f64,
    /// Percent of the data disk's estimated life time used (NVMe or eMMC); `null` if unknown.
    pub disk_life_time: Option<f64>,
    pub features: Vec<String>,
    /// The static hostname.
    pub hostname: Option<String>,
    pub llmnr_hostname: Option<String>,
    /// The kernel release.
    pub kernel: Option<String>,
    pub operating_system: Option<String>,
    pub timezone: Option<String>,
    /// The host's clock in UTC, ISO 8601.
    pub dt_utc: Option<String>,
    pub dt_synchronized: Option<bool>,
    pub use_ntp: Option<bool>,
    /// Seconds the last boot took.
    pub startup_time: Option<f64>,
    /// When the last boot finished, µs since the epoch.
    pub boot_timestamp: Option<u64>,
    pub broadcast_llmnr: Option<bool>,
    pub broadcast_mdns: Option<bool>,
}

/// The watched states `/host/info` is made of; `None` where the service is not there.
#[derive(Default)]
pub struct Snapshot {
    pub agent_version: Option<String>,
    pub apparmor_version: Option<String>,
    pub hostname: Option<HostnameState>,
    pub systemd: Option<SystemdState>,
    pub timedate: Option<TimedateState>,
    pub resolved: Option<ResolvedState>,
}

/// The data directory's file system, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Space {
    pub total: u64,
    pub used: u64,
    pub free: u64,
}

impl HostInfo {
    pub fn new(snapshot: Snapshot, space: Space, disk_life_time: Option<f64>, features: &[Feature]) -> HostInfo {
        let Snapshot { agent_version, apparmor_version, hostname, systemd, timedate, resolved } = snapshot;
        let host = hostname.as_ref();
        HostInfo {
            agent_version,
            apparmor_version,
            chassis: host.map(|h| h.chassis.clone()),
            virtualization: systemd.as_ref().map(|s| s.virtualization.clone()),
            cpe: host.map(|h| h.operating_system_cpe_name.clone()),
            deployment: host.map(|h| h.deployment.clone()),
            disk_free: gib(space.free),
            disk_total: gib(space.total),
            disk_used: gib(space.used),
            disk_life_time,
            features: features.iter().map(|feature| feature.name().to_owned()).collect(),
            hostname: host.map(|h| h.static_hostname.clone()),
            llmnr_hostname: resolved.as_ref().map(|r| r.llmnr_hostname.clone()),
            kernel: host.map(|h| h.kernel_release.clone()),
            operating_system: host.map(|h| h.operating_system_pretty_name.clone()),
            timezone: timedate.as_ref().map(|t| t.timezone.clone()),
            dt_utc: timedate.as_ref().and_then(|t| utc(t.now_usec())),
            dt_synchronized: timedate.as_ref().map(|t| t.ntp_synchronized),
            use_ntp: timedate.as_ref().map(|t| t.ntp),
            startup_time: systemd.as_ref().map(SystemdState::startup_time),
            boot_timestamp: systemd.as_ref().map(|s| s.finish_timestamp),
            broadcast_llmnr: resolved.as_ref().and_then(ResolvedState::broadcast_llmnr),
            broadcast_mdns: resolved.as_ref().and_then(ResolvedState::broadcast_mdns),
        }
    }
}

/// Bytes in GiB with one decimal, as the real Supervisor rounds them.
pub fn gib(bytes: u64) -> f64 {
    (bytes as f64 / 1024f64.powi(3) * 10.0).round() / 10.0
}

/// µs since the epoch as Python prints an aware UTC datetime: `2025-09-08T12:00:00.123456+00:00`,
/// without the fraction when it is zero.
pub fn utc(usec: u64) -> Option<String> {
    let time = DateTime::from_timestamp_micros(i64::try_from(usec).ok()?)?;
    let format = if usec.is_multiple_of(1_000_000) { SecondsFormat::Secs } else { SecondsFormat::Micros };
    Some(time.to_rfc3339_opts(format, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_follow_the_services_in_the_real_order() {
        assert!(features(Presence::default()).is_empty());
        let all = Presence {
            systemd: true,
            network_interfaces: true,
            hostname: true,
            timedate: true,
            os_agent: true,
            haos: true,
            resolved: true,
            journal: true,
            udisks2: true,
            mount: true,
            ntp: true,
        };
        let names: Vec<&str> = features(all).into_iter().map(Feature::name).collect();
        assert_eq!(
            names,
            [
                "reboot", "shutdown", "services", "network", "hostname", "timedate", "os_agent", "haos", "resolved",
                "journal", "disk", "mount", "ntp"
            ]
        );
        let some = Presence { hostname: true, journal: true, ..Presence::default() };
        assert_eq!(features(some), [Feature::Hostname, Feature::Journal]);
    }

    #[test]
    fn mounting_needs_systemd_and_on_haos_10_2() {
        let on = |cpe: &str| HostnameState { operating_system_cpe_name: cpe.to_owned(), ..HostnameState::default() };
        assert!(mount_supported(true, None));
        assert!(!mount_supported(false, None));
        assert!(mount_supported(true, Some(&on("cpe:2.3:o:debian:debian_linux:12:*:*:*:*:*:*:*"))));
        assert!(mount_supported(true, Some(&on("cpe:2.3:o:home-assistant:haos:16.0:*:production:*:*:*:yellow:*"))));
        assert!(mount_supported(true, Some(&on("cpe:/o:home-assistant:haos:10.2"))));
        assert!(!mount_supported(true, Some(&on("cpe:/o:home-assistant:haos:10.1"))));
        assert!(!mount_supported(true, Some(&on("cpe:/o:home-assistant:hassos:9.5"))));
    }

    #[test]
    fn ntp_needs_haos_and_an_agent_of_1_13_with_timesyncd() {
        assert!(ntp_supported(true, Some("1.13.0"), true));
        assert!(ntp_supported(true, Some("1.14.2"), true));
        assert!(!ntp_supported(true, Some("1.12.0"), true));
        assert!(!ntp_supported(true, None, true));
        assert!(!ntp_supported(true, Some("1.13.0"), false));
        assert!(!ntp_supported(false, Some("1.13.0"), true));
    }

    #[test]
    fn haos_is_read_from_the_cpe_product() {
        assert!(is_haos("cpe:2.3:o:home-assistant:haos:16.0:*:production:*:*:*:yellow:*"));
        assert!(is_haos("cpe:/o:home-assistant:hassos:5.13"));
        assert!(!is_haos(""));
        assert!(!is_haos("cpe:2.3:o:debian:debian_linux:12"));
        assert!(!is_haos("haos"));
    }

    #[test]
    fn only_managed_configurable_devices_make_the_network_feature() {
        use dbus::network::Device;
        let device = |device_type, managed| Device { device_type, managed, ..Device::default() };
        let state = |devices| NetworkState { devices, ..NetworkState::default() };
        assert!(!has_interfaces(&state(vec![])));
        assert!(!has_interfaces(&state(vec![device(32, true), device(20, true), device(1, false)])));
        assert!(has_interfaces(&state(vec![device(32, true), device(2, true)])));
        assert!(has_interfaces(&state(vec![device(11, true)])));
    }

    #[test]
    fn sizes_are_gib_with_one_decimal() {
        assert_eq!(gib(0), 0.0);
        assert_eq!(gib(32 * 1024 * 1024 * 1024), 32.0);
        assert_eq!(gib(1_610_612_736), 1.5);
        assert_eq!(gib(1_000_000_000), 0.9);
    }

    #[test]
    fn the_clock_is_printed_like_python() {
        assert_eq!(utc(1_757_332_800_000_000).as_deref(), Some("2025-09-08T12:00:00+00:00"));
        assert_eq!(utc(1_757_332_800_000_042).as_deref(), Some("2025-09-08T12:00:00.000042+00:00"));
    }

    #[test]
    fn missing_services_leave_their_keys_null() {
        let space = Space { total: 10 << 30, used: 4 << 30, free: 6 << 30 };
        let info = HostInfo::new(Snapshot::default(), space, None, &[]);
        let json = serde_json::to_value(&info).unwrap();
        for key in ["hostname", "kernel", "chassis", "timezone", "dt_utc", "use_ntp", "startup_time", "agent_version"] {
            assert!(json[key].is_null(), "{key}: {json}");
        }
        assert_eq!((json["disk_total"].as_f64(), json["disk_free"].as_f64()), (Some(10.0), Some(6.0)));
        assert_eq!(json.as_object().unwrap().len(), 23, "every key of the real /host/info");

        let hostname = HostnameState {
            static_hostname: "debian".into(),
            kernel_release: "6.1.0".into(),
            chassis: "vm".into(),
            ..HostnameState::default()
        };
        let resolved = ResolvedState { llmnr: "resolve".into(), multicast_dns: String::new(), ..Default::default() };
        let snapshot = Snapshot { hostname: Some(hostname), resolved: Some(resolved), ..Snapshot::default() };
        let json = serde_json::to_value(HostInfo::new(snapshot, space, Some(3.0), &[Feature::Hostname])).unwrap();
        assert_eq!((json["hostname"].as_str(), json["chassis"].as_str()), (Some("debian"), Some("vm")));
        assert_eq!(json["broadcast_llmnr"], false);
        assert!(json["broadcast_mdns"].is_null(), "an unknown mode is null");
        assert_eq!(json["disk_life_time"], 3.0);
        assert_eq!(json["features"], serde_json::json!(["hostname"]));
    }
}
