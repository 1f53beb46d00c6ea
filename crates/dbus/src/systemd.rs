//! systemd (`org.freedesktop.systemd1`): the Manager's boot timestamps and virtualization for
//! `/host/info`, its units for `/host/services`, starting and stopping them, and reboot/power-off
//! when logind is missing.
//!
//! Unit methods always use the job mode `replace`, as the Supervisor does. The Manager's
//! properties are constant for a boot, so its watched state changes only when systemd
//! (re)appears.

use crate::service::Service;
use crate::watch::{set, set_string, Properties};
use crate::Error;
use futures_util::StreamExt;
use std::time::Duration;
use zbus::fdo::PropertiesProxy;
use zbus::names::InterfaceName;
use zbus::proxy;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

const UNIT_INTERFACE: &str = "org.freedesktop.systemd1.Unit";
const MODE: &str = "replace";

/// The Manager properties the supervisor shows; timestamps in µs (realtime, or since boot for
/// the `_monotonic` ones).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemdState {
    /// `kvm`, `vmware`, `docker`, ...; empty on bare metal.
    pub virtualization: String,
    pub firmware_timestamp_monotonic: u64,
    pub loader_timestamp_monotonic: u64,
    pub kernel_timestamp: u64,
    pub kernel_timestamp_monotonic: u64,
    pub userspace_timestamp: u64,
    pub userspace_timestamp_monotonic: u64,
    /// When the boot finished: `boot_timestamp` of `/host/info`.
    pub finish_timestamp: u64,
}

impl SystemdState {
    /// `startup_time` of `/host/info` in seconds, summed as the Supervisor does.
    pub fn startup_time(&self) -> f64 {
        let total = self.firmware_timestamp_monotonic
            + self.loader_timestamp_monotonic
            + self.kernel_timestamp_monotonic
            + self.userspace_timestamp_monotonic;
        total as f64 / 1e6
    }
}

impl Properties for SystemdState {
    const SERVICE: &'static str = "org.freedesktop.systemd1";
    const PATH: &'static str = "/org/freedesktop/systemd1";
    const INTERFACE: Option<&'static str> = Some("org.freedesktop.systemd1.Manager");

    fn apply(&mut self, name: &str, value: &Value<'_>) {
        match name {
            "Virtualization" => set_string(&mut self.virtualization, value),
            "FirmwareTimestampMonotonic" => set(&mut self.firmware_timestamp_monotonic, value),
            "LoaderTimestampMonotonic" => set(&mut self.loader_timestamp_monotonic, value),
            "KernelTimestamp" => set(&mut self.kernel_timestamp, value),
            "KernelTimestampMonotonic" => set(&mut self.kernel_timestamp_monotonic, value),
            "UserspaceTimestamp" => set(&mut self.userspace_timestamp, value),
            "UserspaceTimestampMonotonic" => set(&mut self.userspace_timestamp_monotonic, value),
            "FinishTimestamp" => set(&mut self.finish_timestamp, value),
            _ => {}
        }
    }
}

/// One row of `ListUnits`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// The unit's id, e.g. `docker.service`.
    pub name: String,
    pub description: String,
    /// `loaded`, `not-found`, `masked`, ...
    pub load_state: String,
    /// `active`, `inactive`, `failed`, `activating`, ...
    pub active_state: String,
    pub sub_state: String,
    pub path: OwnedObjectPath,
}

/// `ListUnits`' row: id, description, load, active and sub state, followed unit, object path,
/// queued job id, job type and job path.
type UnitRow = (String, String, String, String, String, String, OwnedObjectPath, u32, String, OwnedObjectPath);

#[proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
pub trait SystemdManager {
    fn list_units(&self) -> zbus::Result<Vec<UnitRow>>;
    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn reload_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn reload_or_restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn reboot(&self) -> zbus::Result<()>;
    fn power_off(&self) -> zbus::Result<()>;
}

/// The client of systemd.
pub type Systemd = Service<SystemdState>;

impl Service<SystemdState> {
    async fn manager(&self) -> Result<SystemdManagerProxy<'_>, Error> {
        self.proxy().await
    }

    /// Every unit systemd has loaded (including `not-found` ones that something refers to).
    pub async fn list_units(&self) -> Result<Vec<Unit>, Error> {
        let rows = Self::answer(self.manager().await?.list_units().await)?;
        Ok(rows
            .into_iter()
            .map(|(name, description, load_state, active_state, sub_state, _, path, _, _, _)| Unit {
                name,
                description,
                load_state,
                active_state,
                sub_state,
                path,
            })
            .collect())
    }

    /// Queues a start job; returns the job's object path. An unknown unit is refused with
    /// `org.freedesktop.systemd1.NoSuchUnit`.
    pub async fn start_unit(&self, name: &str) -> Result<OwnedObjectPath, Error> {
        Self::answer(self.manager().await?.start_unit(name, MODE).await)
    }

    pub async fn stop_unit(&self, name: &str) -> Result<OwnedObjectPath, Error> {
        Self::answer(self.manager().await?.stop_unit(name, MODE).await)
    }

    pub async fn restart_unit(&self, name: &str) -> Result<OwnedObjectPath, Error> {
        Self::answer(self.manager().await?.restart_unit(name, MODE).await)
    }

    /// Queues a reload job; a unit that is not running fails the job, not the call.
    pub async fn reload_unit(&self, name: &str) -> Result<OwnedObjectPath, Error> {
        Self::answer(self.manager().await?.reload_unit(name, MODE).await)
    }

    pub async fn reload_or_restart_unit(&self, name: &str) -> Result<OwnedObjectPath, Error> {
        Self::answer(self.manager().await?.reload_or_restart_unit(name, MODE).await)
    }

    pub async fn reboot(&self) -> Result<(), Error> {
        Self::answer(self.manager().await?.reboot().await)
    }

    pub async fn power_off(&self) -> Result<(), Error> {
        Self::answer(self.manager().await?.power_off().await)
    }

    /// The `ActiveState` of a loaded unit (`NoSuchUnit` if it is not loaded).
    pub async fn unit_active_state(&self, name: &str) -> Result<String, Error> {
        let unit = self.unit_properties(name).await?;
        active_state(&unit).await
    }

    /// Waits until a unit's `ActiveState` is `state`, from its `PropertiesChanged` signals (as
    /// after starting `haos-pre-shutdown.target`). Returns whether it got there within `timeout`.
    pub async fn wait_for_active_state(&self, name: &str, state: &str, timeout: Duration) -> Result<bool, Error> {
        let unit = self.unit_properties(name).await?;
        // Subscribed before reading, so that a change in between is not missed.
        let mut changes = Self::answer(unit.receive_properties_changed_with_args(&[(0, UNIT_INTERFACE)]).await)?;
        if active_state(&unit).await? == state {
            return Ok(true);
        }
        let reached = async {
            while let Some(signal) = changes.next().await {
                let Ok(args) = signal.args() else { continue };
                if args.changed_properties().get("ActiveState").and_then(|value| <&str>::try_from(value).ok())
                    == Some(state)
                {
                    return true;
                }
            }
            false
        };
        Ok(tokio::time::timeout(timeout, reached).await.unwrap_or(false))
    }

    /// The standard properties interface of a unit's object.
    async fn unit_properties(&self, name: &str) -> Result<PropertiesProxy<'static>, Error> {
        let path = Self::answer(self.manager().await?.get_unit(name).await)?;
        self.properties_of(path.into_inner()).await
    }
}

async fn active_state(unit: &PropertiesProxy<'_>) -> Result<String, Error> {
    let value: OwnedValue = Service::<SystemdState>::answer(
        unit.get(InterfaceName::from_static_str_unchecked(UNIT_INTERFACE), "ActiveState")
            .await
            .map_err(zbus::Error::from),
    )?;
    String::try_from(value).map_err(|error| Error::Call { service: SystemdState::SERVICE, reason: error.to_string() })
}
