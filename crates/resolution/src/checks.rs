//! The checks: each finds the issues of one kind that are true now, with the suggestions that
//! fix them, under the real Supervisor's slugs and rules. A pass replaces a check's issues by
//! what it finds, so an issue that is no longer true goes (the real `approve_check`).

mod disks;
mod online;

pub use disks::{DATA_DISK_LABEL, OLD_DATA_DISK_LABEL};

use crate::model::{ContextType, Issue, IssueType, Subject, SuggestionType};
use crate::Parts;
use addons::AddonState;
use base::CoreState;
use bollard::query_parameters::InspectContainerOptions;

/// A finding: an issue that is true now, and what would fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub kind: IssueType,
    pub subject: Subject,
    pub suggestions: Vec<SuggestionType>,
}

/// The free space (GiB) at or under which the data disk is reported full.
const MINIMUM_FREE_SPACE_GIB: f64 = 2.0;
/// The full backups `clear_full_backup` keeps, and that free space suggests clearing beyond.
pub const MINIMUM_FULL_BACKUPS: usize = 2;
/// The disk's used life time (percent) from which it is reported as wearing out.
const DISK_LIFETIME_LIMIT: f64 = 90.0;
/// Failed units that say nothing the user can act on here (the firewall reports its own
/// health; the two waits fail when the network or the time is late at boot, which Home
/// Assistant does not need).
const IGNORED_UNITS: [&str; 3] =
    [host::firewall::FIREWALL_SERVICE, "NetworkManager-wait-online.service", "systemd-time-wait-sync.service"];

/// The architectures Home Assistant no longer builds for.
const DEPRECATED_ARCHS: [&str; 3] = ["armhf", "armv7", "i386"];
/// The machine types Home Assistant no longer builds for.
const DEPRECATED_MACHINES: [&str; 8] =
    ["odroid-xu", "qemuarm", "qemux86", "raspberrypi", "raspberrypi2", "raspberrypi3", "raspberrypi4", "tinker"];
/// `NM_ACTIVE_CONNECTION_STATE_ACTIVATING`.
const ACTIVATING: u32 = 1;
/// `NM_ACTIVATION_STATE_FLAG_IP4_READY`.
const IP4_READY: u32 = 0x8;

/// Every check, by its slug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    AppPortConflict,
    AppPwned,
    Backups,
    DeprecatedApp,
    DeprecatedArchApp,
    DetachedAppMissing,
    DetachedAppRemoved,
    DisabledDataDisk,
    DiskLifetime,
    DnsServer,
    DnsServerIpv6,
    DockerConfig,
    DuplicateOsInstallation,
    FreeSpace,
    MultipleDataDisks,
    NetworkInterfaceIpv4,
    SystemdUnitFailure,
}

impl Check {
    pub const ALL: [Check; 17] = [
        Check::AppPortConflict,
        Check::AppPwned,
        Check::Backups,
        Check::DeprecatedApp,
        Check::DeprecatedArchApp,
        Check::DetachedAppMissing,
        Check::DetachedAppRemoved,
        Check::DisabledDataDisk,
        Check::DiskLifetime,
        Check::DnsServer,
        Check::DnsServerIpv6,
        Check::DockerConfig,
        Check::DuplicateOsInstallation,
        Check::FreeSpace,
        Check::MultipleDataDisks,
        Check::NetworkInterfaceIpv4,
        Check::SystemdUnitFailure,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Check::AppPortConflict => "app_port_conflict",
            Check::AppPwned => "app_pwned",
            Check::Backups => "backups",
            Check::DeprecatedApp => "deprecated_app",
            Check::DeprecatedArchApp => "deprecated_arch_app",
            Check::DetachedAppMissing => "detached_app_missing",
            Check::DetachedAppRemoved => "detached_app_removed",
            Check::DisabledDataDisk => "disabled_data_disk",
            Check::DiskLifetime => "disk_lifetime",
            Check::DnsServer => "dns_server",
            Check::DnsServerIpv6 => "dns_server_ipv6",
            Check::DockerConfig => "docker_config",
            Check::DuplicateOsInstallation => "duplicate_os_installation",
            Check::FreeSpace => "free_space",
            Check::MultipleDataDisks => "multiple_data_disks",
            Check::NetworkInterfaceIpv4 => "network_interface_ipv4",
            Check::SystemdUnitFailure => "systemd_unit_failure",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|check| check.slug() == slug)
    }

    /// The kind of issue it finds (and replaces at each pass).
    pub fn issue(self) -> IssueType {
        match self {
            Check::AppPortConflict => IssueType::AppPortConflict,
            Check::AppPwned => IssueType::Pwned,
            Check::Backups => IssueType::NoCurrentBackup,
            Check::DeprecatedApp => IssueType::DeprecatedApp,
            Check::DeprecatedArchApp => IssueType::DeprecatedArchApp,
            Check::DetachedAppMissing => IssueType::DetachedAppMissing,
            Check::DetachedAppRemoved => IssueType::DetachedAppRemoved,
            Check::DisabledDataDisk => IssueType::DisabledDataDisk,
            Check::DiskLifetime => IssueType::DiskLifetime,
            Check::DnsServer => IssueType::DnsServerFailed,
            Check::DnsServerIpv6 => IssueType::DnsServerIpv6Error,
            Check::DockerConfig => IssueType::DockerConfig,
            Check::DuplicateOsInstallation => IssueType::DuplicateOsInstallation,
            Check::FreeSpace => IssueType::FreeSpace,
            Check::MultipleDataDisks => IssueType::MultipleDataDisks,
            Check::NetworkInterfaceIpv4 => IssueType::Ipv4ConnectionProblem,
            Check::SystemdUnitFailure => IssueType::SystemdUnitFailed,
        }
    }

    /// The core states it runs in, as the real check's `states`.
    fn states(self) -> &'static [CoreState] {
        match self {
            Check::AppPortConflict
            | Check::AppPwned
            | Check::DnsServer
            | Check::DnsServerIpv6
            | Check::DockerConfig => &[CoreState::Running],
            Check::Backups | Check::DiskLifetime | Check::FreeSpace | Check::NetworkInterfaceIpv4 => {
                &[CoreState::Running, CoreState::Startup]
            }
            Check::DuplicateOsInstallation => &[CoreState::Setup],
            Check::DeprecatedApp
            | Check::DeprecatedArchApp
            | Check::DetachedAppMissing
            | Check::DetachedAppRemoved
            | Check::DisabledDataDisk
            | Check::MultipleDataDisks
            | Check::SystemdUnitFailure => &[CoreState::Setup, CoreState::Running],
        }
    }

    pub fn runs_in(self, state: CoreState) -> bool {
        self.states().contains(&state)
    }

    /// The issues of its kind that are true now; `existing` are the ones it found before (some
    /// issues are raised elsewhere, such as a port conflict at an add-on's start, and the check
    /// only confirms them). `None` when it cannot tell now.
    pub async fn find(self, parts: &Parts, existing: &[Issue]) -> Option<Vec<Finding>> {
        match self {
            Check::AppPortConflict => Some(port_conflicts(parts, existing).await),
            Check::AppPwned => online::pwned(parts, existing).await,
            Check::Backups => Some(no_current_backup(parts)),
            Check::DeprecatedApp => Some(deprecated(parts)),
            Check::DeprecatedArchApp => Some(deprecated_arch(parts)),
            Check::DetachedAppMissing => Some(detached(parts, false)),
            Check::DetachedAppRemoved => Some(detached(parts, true)),
            Check::DisabledDataDisk => disks::disabled_data_disks(parts),
            Check::DiskLifetime => disk_lifetime(parts),
            Check::DnsServer => online::dns_servers(parts, existing, online::Record::A).await,
            Check::DnsServerIpv6 => online::dns_servers(parts, existing, online::Record::Aaaa).await,
            Check::DockerConfig => docker_config(parts).await,
            Check::DuplicateOsInstallation => disks::duplicate_os_installation(parts),
            Check::FreeSpace => free_space(parts),
            Check::MultipleDataDisks => disks::multiple_data_disks(parts),
            Check::NetworkInterfaceIpv4 => ipv4_problems(parts),
            Check::SystemdUnitFailure => failed_units(parts).await,
        }
    }
}

fn finding(kind: IssueType, subject: Subject, suggestions: &[SuggestionType]) -> Finding {
    Finding { kind, subject, suggestions: suggestions.to_vec() }
}

/// A conflict stays while its add-on is installed and not running, and still asks for the port
/// (or runs on the host's network, where any port may be taken).
async fn port_conflicts(parts: &Parts, existing: &[Issue]) -> Vec<Finding> {
    let mut kept = Vec::new();
    for issue in existing {
        let Some(slug) = issue.subject.reference.as_deref() else { continue };
        let Some(port) = issue.subject.reference_extra.as_ref().and_then(|extra| extra.get("port")?.as_u64()) else {
            continue;
        };
        let Some(addon) = parts.addons.get(slug) else { continue };
        if matches!(parts.addons.state(slug).await, AddonState::Started | AddonState::Startup) {
            continue;
        }
        let ports = addon.user.network.clone().unwrap_or_else(|| addon.config().ports.clone());
        if addon.config().host_network || ports.values().any(|p| p.map(u64::from) == Some(port)) {
            kept.push(finding(
                IssueType::AppPortConflict,
                issue.subject.clone(),
                &[SuggestionType::ExecuteStart, SuggestionType::ClearPortConfig],
            ));
        }
    }
    kept
}

/// Containers whose share and media are not bound `rslave`, so network storage mounted there
/// later does not reach them: Core's (both folders) and each add-on's (the folders it maps),
/// each to be recreated, and the system as a whole once any is. `None` without the engine.
pub(crate) async fn docker_config(parts: &Parts) -> Option<Vec<Finding>> {
    let client = parts.docker.client().ok()?;
    let unpropagated = |name: String, targets: Vec<String>| {
        let client = client.clone();
        async move {
            let inspect = client.inspect_container(&name, None::<InspectContainerOptions>).await.ok()?;
            let mounts = inspect.mounts.unwrap_or_default();
            Some(mounts.iter().any(|mount| {
                mount.destination.as_ref().is_some_and(|d| targets.contains(d))
                    && mount.propagation.as_deref() != Some("rslave")
            }))
        }
    };
    let rebuild = [SuggestionType::ExecuteRebuild];
    let mut found = Vec::new();
    let core = ["/media".to_owned(), "/share".to_owned()].to_vec();
    if parts.core.config().installed() && unpropagated(parts.core.container_name(), core).await == Some(true) {
        found.push(finding(
            IssueType::DockerConfig,
            Subject { context: ContextType::Core, ..Subject::system() },
            &rebuild,
        ));
    }
    for addon in parts.addons.list() {
        let targets: Vec<String> = addon
            .config()
            .map
            .iter()
            .filter_map(|m| match m.kind {
                addon_config::MapType::Media => Some(m.path.clone().unwrap_or_else(|| "/media".to_owned())),
                addon_config::MapType::Share => Some(m.path.clone().unwrap_or_else(|| "/share".to_owned())),
                _ => None,
            })
            .collect();
        if !targets.is_empty() && unpropagated(parts.addons.container_name(&addon.slug), targets).await == Some(true) {
            found.push(finding(IssueType::DockerConfig, Subject::of(ContextType::Addon, &addon.slug), &rebuild));
        }
    }
    if !found.is_empty() {
        found.push(finding(IssueType::DockerConfig, Subject::system(), &rebuild));
    }
    Some(found)
}

/// No full backup younger than the backups' `days_until_stale`.
fn no_current_backup(parts: &Parts) -> Vec<Finding> {
    let current = parts.backups.list().into_iter().any(|backup| {
        backup.meta().kind == backups::BackupType::Full
            && chrono::DateTime::parse_from_rfc3339(&backup.meta().date)
                .is_ok_and(|date| is_current(date.into(), parts.backups.options().days_until_stale, chrono::Utc::now()))
    });
    if current {
        return Vec::new();
    }
    vec![finding(IssueType::NoCurrentBackup, Subject::system(), &[SuggestionType::CreateFullBackup])]
}

/// The installed add-ons `wanted` picks, each an issue of `kind` that removing it fixes.
fn addons_to_remove(parts: &Parts, kind: IssueType, wanted: impl Fn(&addons::Installed) -> bool) -> Vec<Finding> {
    let subject = |addon: &addons::Installed| Subject::of(ContextType::Addon, &addon.slug);
    let found = parts.addons.list().into_iter().filter(|addon| wanted(addon));
    found.map(|addon| finding(kind, subject(&addon), &[SuggestionType::ExecuteRemove])).collect()
}

/// Whether a backup made at `date` is younger than `days` days at `now`; any backup is when the
/// days reach back before the calendar's start (the option allows a huge number).
fn is_current(date: chrono::DateTime<chrono::Utc>, days: u32, now: chrono::DateTime<chrono::Utc>) -> bool {
    let cutoff = chrono::TimeDelta::try_days(i64::from(days)).and_then(|age| now.checked_sub_signed(age));
    cutoff.is_none_or(|cutoff| date >= cutoff)
}

fn deprecated(parts: &Parts) -> Vec<Finding> {
    addons_to_remove(parts, IssueType::DeprecatedApp, |addon| addon.config().stage == addon_config::Stage::Deprecated)
}

/// Installed add-ons that still run only on deprecated architectures or machine types (add-ons
/// deprecated as a whole are `deprecated_app`'s).
fn deprecated_arch(parts: &Parts) -> Vec<Finding> {
    let archs = base::arch::supported_archs();
    addons_to_remove(parts, IssueType::DeprecatedArchApp, |addon| {
        let config = addon.config();
        config.stage != addon_config::Stage::Deprecated
            && only_deprecated_platforms(&config.arch, &config.machine, &archs, &parts.machine)
    })
}

/// The real rule: the add-on lists a deprecated architecture and none this system runs, or a
/// deprecated machine type and not this machine (positively, and not excluded).
fn only_deprecated_platforms(arch: &[String], machine: &[String], archs: &[&str], this_machine: &str) -> bool {
    let deprecated_arch = arch.iter().any(|a| DEPRECATED_ARCHS.contains(&a.as_str()));
    let supported_arch = arch.iter().any(|a| archs.contains(&a.as_str()));
    let deprecated_machine = machine.iter().any(|m| DEPRECATED_MACHINES.contains(&m.trim_start_matches('!')));
    let supported_machine = machine.is_empty()
        || (!machine.iter().any(|m| m.strip_prefix('!') == Some(this_machine))
            && machine.iter().any(|m| m == this_machine));
    (deprecated_arch && !supported_arch) || (deprecated_machine && !supported_machine)
}

/// Managed interfaces with a connection that is not (being) activated with IPv4 ready.
fn ipv4_problems(parts: &Parts) -> Option<Vec<Finding>> {
    let network = parts.host.services().network.state()?;
    Some(
        network
            .devices
            .iter()
            .filter(|device| device.managed && device.active.as_ref().is_some_and(ipv4_problem))
            .map(|device| {
                finding(IssueType::Ipv4ConnectionProblem, Subject::of(ContextType::System, &device.interface), &[])
            })
            .collect(),
    )
}

fn ipv4_problem(connection: &dbus::network::ActiveConnection) -> bool {
    let up = matches!(connection.state, ACTIVATING | dbus::network::ACTIVATED);
    !(up && connection.state_flags & IP4_READY != 0)
}

/// Installed add-ons no repository has any more: `removed` from a repository that is still
/// there (they can only be removed), or `missing` with their repository.
fn detached(parts: &Parts, removed: bool) -> Vec<Finding> {
    let repositories: Vec<String> = parts.store.repositories().into_iter().map(|r| r.slug).collect();
    parts
        .addons
        .list()
        .into_iter()
        .filter(|addon| parts.store.addon(&addon.slug).is_none())
        .filter(|addon| repositories.contains(&addon.system.repository) == removed)
        .map(|addon| {
            let subject = Subject::of(ContextType::Addon, &addon.slug);
            if removed {
                finding(IssueType::DetachedAppRemoved, subject, &[SuggestionType::ExecuteRemove])
            } else {
                finding(IssueType::DetachedAppMissing, subject, &[])
            }
        })
        .collect()
}

fn disk_lifetime(parts: &Parts) -> Option<Vec<Finding>> {
    let life_time = parts.host.disk_life_time()?;
    Some(if life_time >= DISK_LIFETIME_LIMIT {
        vec![finding(IssueType::DiskLifetime, Subject::system(), &[])]
    } else {
        Vec::new()
    })
}

/// The data disk nearly full; clearing old full backups is suggested when there are more than
/// the ones kept.
fn free_space(parts: &Parts) -> Option<Vec<Finding>> {
    let free = parts.host.info().ok()?.disk_free;
    if free > MINIMUM_FREE_SPACE_GIB {
        return Some(Vec::new());
    }
    let full = parts.backups.list().iter().filter(|b| b.meta().kind == backups::BackupType::Full).count();
    let suggestions: &[SuggestionType] =
        if full > MINIMUM_FULL_BACKUPS { &[SuggestionType::ClearFullBackup] } else { &[] };
    Some(vec![finding(IssueType::FreeSpace, Subject::system(), suggestions)])
}

/// Units systemd reports failed; the file system checks of the OS make the system unhealthy
/// instead (the manager marks them).
async fn failed_units(parts: &Parts) -> Option<Vec<Finding>> {
    let units = parts.host.services().systemd.list_units().await.ok()?;
    // The mounts' own units report their failures as `mount_failed`.
    let mounts = parts.mounts.unit_names();
    Some(
        units
            .into_iter()
            .filter(|unit| unit.active_state == "failed")
            .filter(|unit| !IGNORED_UNITS.contains(&unit.name.as_str()) && filesystem_check(&unit.name).is_none())
            .filter(|unit| !mounts.contains(&unit.name))
            .map(|unit| {
                finding(
                    IssueType::SystemdUnitFailed,
                    Subject::of(ContextType::System, &unit.name),
                    &[SuggestionType::ExecuteReset, SuggestionType::ExecuteRestart],
                )
            })
            .collect(),
    )
}

/// The unhealthy reason a failed file system check unit of Home Assistant OS stands for.
pub fn filesystem_check(unit: &str) -> Option<&'static str> {
    match unit {
        "systemd-fsck@dev-disk-by\\x2dlabel-hassos\\x2ddata.service" => Some("data_filesystem_check_error"),
        "systemd-fsck@dev-disk-by\\x2dlabel-hassos\\x2dboot.service"
        | "systemd-fsck@dev-disk-by\\x2dlabel-hassos\\x2doverlay.service" => Some("os_filesystem_check_error"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_are_current_for_their_days_and_huge_days_do_not_overflow() {
        let now = chrono::Utc::now();
        assert!(is_current(now - chrono::TimeDelta::days(29), 30, now));
        assert!(!is_current(now - chrono::TimeDelta::days(31), 30, now));
        assert!(is_current(now - chrono::TimeDelta::days(100_000), u32::MAX, now));
    }

    #[test]
    fn slugs_round_trip_and_are_unique() {
        for check in Check::ALL {
            assert_eq!(Check::from_slug(check.slug()), Some(check));
        }
        assert_eq!(Check::from_slug("nope"), None);
    }

    #[test]
    fn only_add_ons_left_with_deprecated_platforms_alone_are_found() {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let amd64 = ["amd64", "i386"];
        let on = |arch: &[&str], machine: &[&str]| {
            only_deprecated_platforms(&list(arch), &list(machine), &amd64, "generic-x86-64")
        };
        assert!(on(&["armv7", "armhf"], &[]));
        assert!(!on(&["amd64", "armv7"], &[]));
        // i386 is deprecated, but this amd64 system still runs it.
        assert!(!on(&["i386"], &[]));
        assert!(!on(&["aarch64"], &[]), "not deprecated, only unavailable");
        assert!(on(&["amd64"], &["raspberrypi4", "qemux86"]));
        assert!(!on(&["amd64"], &["raspberrypi4", "generic-x86-64"]));
        assert!(on(&["amd64"], &["!raspberrypi4"]), "a list of exclusions supports no machine");
        assert!(!on(&["amd64"], &["!odroid-n2", "generic-x86-64"]));
    }

    #[test]
    fn ipv4_is_a_problem_unless_the_connection_is_up_with_ipv4_ready() {
        let connection =
            |state, state_flags| dbus::network::ActiveConnection { state, state_flags, ..Default::default() };
        assert!(!ipv4_problem(&connection(dbus::network::ACTIVATED, 0x1 | IP4_READY)));
        assert!(!ipv4_problem(&connection(ACTIVATING, IP4_READY)));
        assert!(ipv4_problem(&connection(dbus::network::ACTIVATED, 0x1 | 0x10)));
        assert!(ipv4_problem(&connection(dbus::network::DEACTIVATED, IP4_READY)));
    }

    #[test]
    fn os_filesystem_checks_are_health_not_issues() {
        assert_eq!(
            filesystem_check("systemd-fsck@dev-disk-by\\x2dlabel-hassos\\x2doverlay.service"),
            Some("os_filesystem_check_error")
        );
        assert_eq!(filesystem_check("nginx.service"), None);
    }
}
