//! Job conditions: what must be true of the system before a job may start.

use base::{CoreState, DataDir, System};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A condition a job can require; the names are the real Supervisor's `JobCondition` values, so
/// `ignore_conditions` payloads written for it work here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobCondition {
    AutoUpdate,
    FreeSpace,
    FrontendLoaded,
    Frozen,
    Haos,
    Healthy,
    HomeAssistantCoreSupported,
    HostNetwork,
    InternetHost,
    InternetSystem,
    MountAvailable,
    OsAgent,
    OsSupported,
    PluginsUpdated,
    Running,
    SupervisorUpdated,
    ArchitectureSupported,
}

/// Below this much free space on the data disk, jobs that write refuse to start.
pub const MIN_FREE_SPACE: u64 = 1024 * 1024 * 1024;

impl JobCondition {
    /// `None` when the condition holds, otherwise why it does not.
    pub(crate) fn check(self, system: &System, data: &DataDir) -> Option<String> {
        let fails = |why: &str| Some(why.to_owned());
        match self {
            JobCondition::Healthy if !system.healthy() => {
                Some(format!("system is not healthy - {}", system.unhealthy_reasons().join(", ")))
            }
            JobCondition::Running if system.state() != CoreState::Running => {
                Some(format!("system is not running - {}", state_name(system.state())))
            }
            JobCondition::Frozen if system.state() != CoreState::Freeze => {
                Some(format!("system is not frozen - {}", state_name(system.state())))
            }
            JobCondition::FreeSpace => match base::system::free_space(data.root()) {
                Ok(free) if free < MIN_FREE_SPACE => Some(format!(
                    "not enough free space ({:.1}GB) left on the device",
                    free as f64 / 1024.0 / 1024.0 / 1024.0
                )),
                Ok(_) => None,
                Err(e) => Some(format!("free space is unknown: {e}")),
            },
            JobCondition::InternetSystem if !system.internet() => fails("no supervisor internet connection"),
            JobCondition::InternetHost if !system.internet() => fails("no host internet connection"),
            JobCondition::Haos if !system.haos() => fails("no Home Assistant OS available"),
            JobCondition::OsAgent if !system.os_agent() => fails("no Home Assistant OS-Agent available"),
            JobCondition::HostNetwork if !system.network_manager() => fails("host Network Manager not available"),
            JobCondition::MountAvailable if !system.mount_available() => fails("mounting not supported on system"),
            JobCondition::OsSupported if system.is_unsupported("os_version") => fails("unsupported OS version"),
            JobCondition::HomeAssistantCoreSupported if system.is_unsupported("home_assistant_core_version") => {
                fails("unsupported Home Assistant Core version")
            }
            JobCondition::ArchitectureSupported if system.is_unsupported("system_architecture") => {
                fails("unsupported system architecture")
            }
            _ => None,
        }
    }
}

fn state_name(state: CoreState) -> String {
    serde_json::to_value(state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_and_running_follow_the_system() {
        let system = System::default();
        let data = DataDir::new("/");
        assert_eq!(JobCondition::Running.check(&system, &data).unwrap(), "system is not running - initialize");
        system.set_state(CoreState::Running);
        assert!(JobCondition::Running.check(&system, &data).is_none());
        assert!(JobCondition::Healthy.check(&system, &data).is_none());
        system.mark_unhealthy("docker", true);
        assert!(JobCondition::Healthy.check(&system, &data).unwrap().contains("docker"));
    }

    #[test]
    fn the_os_conditions_follow_what_the_os_domain_found() {
        let system = System::default();
        let data = DataDir::new("/");
        assert_eq!(JobCondition::Haos.check(&system, &data).unwrap(), "no Home Assistant OS available");
        assert_eq!(JobCondition::OsAgent.check(&system, &data).unwrap(), "no Home Assistant OS-Agent available");
        assert_eq!(JobCondition::MountAvailable.check(&system, &data).unwrap(), "mounting not supported on system");
        system.set_haos(true);
        system.set_os_agent(true);
        system.set_mount_available(true);
        assert!(JobCondition::Haos.check(&system, &data).is_none());
        assert!(JobCondition::OsAgent.check(&system, &data).is_none());
        assert!(JobCondition::MountAvailable.check(&system, &data).is_none());
    }

    #[test]
    fn names_match_the_real_supervisor() {
        let name = serde_json::to_value(JobCondition::InternetSystem).unwrap();
        assert_eq!(name, "internet_system");
        let parsed: JobCondition = serde_json::from_value("free_space".into()).unwrap();
        assert_eq!(parsed, JobCondition::FreeSpace);
    }
}
