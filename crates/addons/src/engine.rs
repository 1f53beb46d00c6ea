//! What the engine tells about an add-on's container, in the real Supervisor's terms: its state
//! (`startup`, `started`, `stopped`, `unknown`, `error`) and its resource figures.

use bollard::models::{ContainerState, ContainerStateStatusEnum, HealthStatusEnum};
use serde::Serialize;
use utoipa::ToSchema;

/// The state of an add-on, as `/addons` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddonState {
    /// Running, its health check has not passed yet.
    Startup,
    Started,
    Stopped,
    /// The engine could not be asked.
    Unknown,
    /// It exited with an error, or the last start or stop failed.
    Error,
}

/// The state of an installed add-on from its container's state (`None`: no container, which
/// is how a stopped add-on looks, since stopping removes the container).
pub fn state_of(container: Option<&ContainerState>) -> AddonState {
    let Some(state) = container else { return AddonState::Stopped };
    let health = state.health.as_ref().and_then(|h| h.status);
    match state.status {
        Some(ContainerStateStatusEnum::RUNNING) => match health {
            Some(HealthStatusEnum::STARTING) => AddonState::Startup,
            _ => AddonState::Started,
        },
        Some(ContainerStateStatusEnum::RESTARTING) => AddonState::Startup,
        Some(ContainerStateStatusEnum::PAUSED) => AddonState::Started,
        Some(ContainerStateStatusEnum::EXITED) if state.exit_code.unwrap_or(0) != 0 => AddonState::Error,
        Some(ContainerStateStatusEnum::DEAD) => AddonState::Error,
        Some(
            ContainerStateStatusEnum::EXITED
            | ContainerStateStatusEnum::CREATED
            | ContainerStateStatusEnum::REMOVING
            | ContainerStateStatusEnum::STOPPING,
        ) => AddonState::Stopped,
        Some(ContainerStateStatusEnum::EMPTY) | None => AddonState::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::Health;

    fn state(status: ContainerStateStatusEnum, exit: i64, health: Option<HealthStatusEnum>) -> ContainerState {
        ContainerState {
            status: Some(status),
            exit_code: Some(exit),
            health: health.map(|status| Health { status: Some(status), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn states_map_like_the_real_supervisor() {
        use ContainerStateStatusEnum::*;
        assert_eq!(state_of(None), AddonState::Stopped);
        assert_eq!(state_of(Some(&state(RUNNING, 0, None))), AddonState::Started);
        assert_eq!(state_of(Some(&state(RUNNING, 0, Some(HealthStatusEnum::STARTING)))), AddonState::Startup);
        assert_eq!(state_of(Some(&state(RUNNING, 0, Some(HealthStatusEnum::HEALTHY)))), AddonState::Started);
        assert_eq!(state_of(Some(&state(RUNNING, 0, Some(HealthStatusEnum::UNHEALTHY)))), AddonState::Started);
        assert_eq!(state_of(Some(&state(EXITED, 0, None))), AddonState::Stopped);
        assert_eq!(state_of(Some(&state(EXITED, 1, None))), AddonState::Error);
        assert_eq!(state_of(Some(&state(EXITED, 137, None))), AddonState::Error);
        assert_eq!(state_of(Some(&state(CREATED, 0, None))), AddonState::Stopped);
        assert_eq!(state_of(Some(&state(DEAD, 0, None))), AddonState::Error);
        assert_eq!(state_of(Some(&ContainerState::default())), AddonState::Unknown);
        assert_eq!(serde_json::to_value(AddonState::Startup).unwrap(), "startup");
    }
}
