//! The checks: each finds the issues of one kind that are true now, with the suggestions that
//! fix them, under the real Supervisor's slugs and rules. A pass replaces a check's issues by
//! what it finds, so an issue that is no longer true goes (the real `approve_check`).

use crate::model::{ContextType, Issue, IssueType, Subject, SuggestionType};
use crate::Parts;
use addons::AddonState;
use base::CoreState;

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
/// The unit of the real Supervisor's gateway firewall.
const FIREWALL_UNIT: &str = "supervisor-firewall-gateway.service";
/// Failed units that say nothing the user can act on here (the firewall reports its own
/// health; the two waits fail when the network or the time is late at boot, which Home
/// Assistant does not need).
const IGNORED_UNITS: [&str; 3] =
    [FIREWALL_UNIT, "NetworkManager-wait-online.service", "systemd-time-wait-sync.service"];

/// Every check, by its slug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    AppPortConflict,
    Backups,
    DeprecatedApp,
    DetachedAppMissing,
    DetachedAppRemoved,
    DiskLifetime,
    FreeSpace,
    SystemdUnitFailure,
}

impl Check {
    pub const ALL: [Check; 8] = [
        Check::AppPortConflict,
        Check::Backups,
        Check::DeprecatedApp,
        Check::DetachedAppMissing,
        Check::DetachedAppRemoved,
        Check::DiskLifetime,
        Check::FreeSpace,
        Check::SystemdUnitFailure,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Check::AppPortConflict => "app_port_conflict",
            Check::Backups => "backups",
            Check::DeprecatedApp => "deprecated_app",
            Check::DetachedAppMissing => "detached_app_missing",
            Check::DetachedAppRemoved => "detached_app_removed",
            Check::DiskLifetime => "disk_lifetime",
            Check::FreeSpace => "free_space",
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
            Check::Backups => IssueType::NoCurrentBackup,
            Check::DeprecatedApp => IssueType::DeprecatedApp,
            Check::DetachedAppMissing => IssueType::DetachedAppMissing,
            Check::DetachedAppRemoved => IssueType::DetachedAppRemoved,
            Check::DiskLifetime => IssueType::DiskLifetime,
            Check::FreeSpace => IssueType::FreeSpace,
            Check::SystemdUnitFailure => IssueType::SystemdUnitFailed,
        }
    }

    /// The core states it runs in, as the real check's `states`.
    fn states(self) -> &'static [CoreState] {
        match self {
            Check::AppPortConflict => &[CoreState::Running],
            Check::Backups | Check::DiskLifetime | Check::FreeSpace => &[CoreState::Running, CoreState::Startup],
            Check::DeprecatedApp
            | Check::DetachedAppMissing
            | Check::DetachedAppRemoved
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
            Check::Backups => Some(no_current_backup(parts)),
            Check::DeprecatedApp => Some(deprecated(parts)),
            Check::DetachedAppMissing => Some(detached(parts, false)),
            Check::DetachedAppRemoved => Some(detached(parts, true)),
            Check::DiskLifetime => disk_lifetime(parts),
            Check::FreeSpace => free_space(parts),
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

/// No full backup younger than the backups' `days_until_stale`.
fn no_current_backup(parts: &Parts) -> Vec<Finding> {
    let stale_after = chrono::Duration::days(i64::from(parts.backups.options().days_until_stale));
    let cutoff = chrono::Utc::now() - stale_after;
    let current = parts.backups.list().into_iter().any(|backup| {
        backup.meta.kind == backups::BackupType::Full
            && chrono::DateTime::parse_from_rfc3339(&backup.meta.date).is_ok_and(|date| date >= cutoff)
    });
    if current {
        return Vec::new();
    }
    vec![finding(IssueType::NoCurrentBackup, Subject::system(), &[SuggestionType::CreateFullBackup])]
}

fn deprecated(parts: &Parts) -> Vec<Finding> {
    parts
        .addons
        .list()
        .into_iter()
        .filter(|addon| addon.config().stage == addon_config::Stage::Deprecated)
        .map(|addon| {
            finding(
                IssueType::DeprecatedApp,
                Subject::of(ContextType::Addon, &addon.slug),
                &[SuggestionType::ExecuteRemove],
            )
        })
        .collect()
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
    let full = parts.backups.list().iter().filter(|b| b.meta.kind == backups::BackupType::Full).count();
    let suggestions: &[SuggestionType] =
        if full > MINIMUM_FULL_BACKUPS { &[SuggestionType::ClearFullBackup] } else { &[] };
    Some(vec![finding(IssueType::FreeSpace, Subject::system(), suggestions)])
}

/// Units systemd reports failed; the file system checks of the OS make the system unhealthy
/// instead (the manager marks them).
async fn failed_units(parts: &Parts) -> Option<Vec<Finding>> {
    let units = parts.host.services().systemd.list_units().await.ok()?;
    Some(
        units
            .into_iter()
            .filter(|unit| unit.active_state == "failed")
            .filter(|unit| !IGNORED_UNITS.contains(&unit.name.as_str()) && filesystem_check(&unit.name).is_none())
            .map(|unit| {
                finding(
                    IssueType::SystemdUnitFailed,
                    Subject::of(ContextType::System, &unit.name),
                    &[SuggestionType::ExecuteRestart],
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
    fn slugs_round_trip_and_are_unique() {
        for check in Check::ALL {
            assert_eq!(Check::from_slug(check.slug()), Some(check));
        }
        assert_eq!(Check::from_slug("nope"), None);
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
