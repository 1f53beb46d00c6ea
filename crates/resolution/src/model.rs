//! Issues and suggestions as the real Supervisor names them. The V1 API (the only one served)
//! shows a few issue types and check slugs by their older names, as Core and its client
//! library expect.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Where an issue is: the part of the system its `reference` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContextType {
    Addon,
    Core,
    DnsServer,
    Mount,
    Os,
    Plugin,
    Supervisor,
    Store,
    System,
}

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssueType {
    AppPortConflict,
    BootFail,
    CorruptDocker,
    CorruptRepository,
    CorruptFilesystem,
    DeprecatedApp,
    DeprecatedArchApp,
    DetachedAppMissing,
    DetachedAppRemoved,
    DeviceAccessMissing,
    DisabledDataDisk,
    DiskLifetime,
    DnsLoop,
    DuplicateOsInstallation,
    DnsServerFailed,
    DnsServerIpv6Error,
    DockerConfig,
    DockerRatelimit,
    FatalError,
    FreeSpace,
    Ipv4ConnectionProblem,
    MissingImage,
    MountFailed,
    MultipleDataDisks,
    NoCurrentBackup,
    NtpSyncFailed,
    Pwned,
    RebootRequired,
    RpiFirmwareUpdateBlocked,
    Security,
    SystemdUnitFailed,
    UpdateFailed,
    UpdateRollback,
}

impl IssueType {
    /// The name the V1 API shows: the add-on issues kept their `addon` names there.
    pub fn v1_name(self) -> String {
        let name = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        match self {
            IssueType::DeprecatedApp => "deprecated_addon".to_owned(),
            IssueType::DeprecatedArchApp => "deprecated_arch_addon".to_owned(),
            IssueType::DetachedAppMissing => "detached_addon_missing".to_owned(),
            IssueType::DetachedAppRemoved => "detached_addon_removed".to_owned(),
            _ => name,
        }
    }
}

/// What would fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionType {
    AdoptDataDisk,
    ClearFullBackup,
    ClearPortConfig,
    CreateFullBackup,
    DisableBoot,
    EnableNtp,
    ExecuteReboot,
    ExecuteRebuild,
    ExecuteReload,
    ExecuteRemove,
    ExecuteRepair,
    ExecuteReset,
    ExecuteRestart,
    ExecuteStart,
    ExecuteStop,
    ExecuteUpdate,
    MoveLocalData,
    RegistryLogin,
    RenameDataDisk,
}

/// The V1 slug of a check: the add-on checks kept their `addon` names there.
pub fn v1_check_slug(slug: &str) -> &str {
    match slug {
        "app_pwned" => "addon_pwned",
        "deprecated_app" => "deprecated_addon",
        "deprecated_arch_app" => "deprecated_arch_addon",
        "detached_app_missing" => "detached_addon_missing",
        "detached_app_removed" => "detached_addon_removed",
        other => other,
    }
}

/// The current slug of a check named in a V1 request (either name is accepted).
pub fn check_slug_from_v1(slug: &str) -> &str {
    match slug {
        "addon_pwned" => "app_pwned",
        "deprecated_addon" => "deprecated_app",
        "deprecated_arch_addon" => "deprecated_arch_app",
        "detached_addon_missing" => "detached_app_missing",
        "detached_addon_removed" => "detached_app_removed",
        other => other,
    }
}

/// Where a finding points: the same kind of thing twice is one issue (or one suggestion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub context: ContextType,
    pub reference: Option<String>,
    pub reference_extra: Option<Map<String, Value>>,
}

impl Subject {
    pub fn system() -> Subject {
        Subject { context: ContextType::System, reference: None, reference_extra: None }
    }

    pub fn of(context: ContextType, reference: &str) -> Subject {
        Subject { context, reference: Some(reference.to_owned()), reference_extra: None }
    }
}

/// An issue the resolution center holds; its uuid is made when it is first found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub kind: IssueType,
    pub subject: Subject,
    pub uuid: String,
}

/// A suggestion that fixes one or more issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    pub kind: SuggestionType,
    pub subject: Subject,
    pub uuid: String,
}

/// An issue as the V1 API and Core's events show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssueView {
    #[serde(rename = "type")]
    kind: String,
    context: ContextType,
    reference: Option<String>,
    #[schema(value_type = Option<Object>)]
    reference_extra: Option<Map<String, Value>>,
    uuid: String,
}

impl From<&Issue> for IssueView {
    fn from(issue: &Issue) -> Self {
        IssueView {
            kind: issue.kind.v1_name(),
            context: issue.subject.context,
            reference: issue.subject.reference.clone(),
            reference_extra: issue.subject.reference_extra.clone(),
            uuid: issue.uuid.clone(),
        }
    }
}

/// A suggestion as the V1 API shows it; `auto` says whether the supervisor applies it itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionView {
    #[serde(rename = "type")]
    kind: SuggestionType,
    context: ContextType,
    reference: Option<String>,
    #[schema(value_type = Option<Object>)]
    reference_extra: Option<Map<String, Value>>,
    uuid: String,
    auto: bool,
}

impl SuggestionView {
    pub fn new(suggestion: &Suggestion, auto: bool) -> SuggestionView {
        SuggestionView {
            kind: suggestion.kind,
            context: suggestion.subject.context,
            reference: suggestion.subject.reference.clone(),
            reference_extra: suggestion.subject.reference_extra.clone(),
            uuid: suggestion.uuid.clone(),
            auto,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_names_keep_the_addon_words() {
        assert_eq!(IssueType::DetachedAppRemoved.v1_name(), "detached_addon_removed");
        assert_eq!(IssueType::AppPortConflict.v1_name(), "app_port_conflict");
        assert_eq!(IssueType::NoCurrentBackup.v1_name(), "no_current_backup");
        assert_eq!(v1_check_slug("app_pwned"), "addon_pwned");
        assert_eq!(check_slug_from_v1("deprecated_addon"), "deprecated_app");
        assert_eq!(check_slug_from_v1("free_space"), "free_space");
    }
}
