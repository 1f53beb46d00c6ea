//! systemd (`org.freedesktop.systemd1`): the Manager's boot timestamps and virtualization for
//! `/host/info`, its units for `/host/services`, starting and stopping them, and reboot/power-off
//! when logind is missing.
//!
//! Unit methods always use the job mode `replace`, as the Supervisor does, except the jobs of
//! [`Service::run_job`] (mount units: `fail`, waited for through `JobRemoved`). The Manager's
//! properties are constant for a boot, so its watched state changes only when systemd
//! (re)appears; a unit's `ActiveState` is followed from its own signals
//! ([`Service::watch_active_state`]).

use crate::service::Service;
use crate::watch::{set, set_string, Properties};
use crate::Error;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::watch;
use zbus::fdo::PropertiesProxy;
use zbus::names::InterfaceName;
use zbus::proxy;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

const UNIT_INTERFACE: &str = "org.freedesktop.systemd1.Unit";
const MODE: &str = "replace";
/// The mode of the jobs the mount units get: refused rather than replacing a queued job.
const FAIL_MODE: &str = "fail";
/// `Subscribe` twice from one connection.
const ALREADY_SUBSCRIBED: &str = "org.freedesktop.systemd1.AlreadySubscribed";

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
    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: &[(&str, Value<'_>)],
        aux: &[(&str, &[(&str, Value<'_>)])],
    ) -> zbus::Result<OwnedObjectPath>;
    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;
    fn subscribe(&self) -> zbus::Result<()>;
    fn reboot(&self) -> zbus::Result<()>;
    fn power_off(&self) -> zbus::Result<()>;
    #[zbus(signal)]
    fn job_removed(&self, id: u32, job: OwnedObjectPath, unit: String, result: String) -> zbus::Result<()>;
}

/// A job [`Service::run_job`] queues, in mode `fail` unless it says otherwise.
#[derive(Debug, Clone, Copy)]
pub enum UnitJob<'a> {
    /// Creates and starts a transient unit with these properties (`Description`, `What`, ...).
    StartTransient(&'a str, &'a [(&'a str, Value<'a>)]),
    /// The same in mode `replace`: a job of the unit still queued gives way.
    StartTransientReplacing(&'a str, &'a [(&'a str, Value<'a>)]),
    Stop(&'a str),
    Reload(&'a str),
    Restart(&'a str),
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

    /// Clears the `failed` state of a unit (and so unloads a failed transient unit).
    pub async fn reset_failed_unit(&self, name: &str) -> Result<(), Error> {
        Self::answer(self.manager().await?.reset_failed_unit(name).await)
    }

    /// Queues `job` and waits for systemd's `JobRemoved` of it: returns the job's result
    /// (`done`, `failed`, `canceled`, `timeout`, `dependency`, `skipped`), or `None` if it did
    /// not finish within `timeout`. The signal is subscribed to before the job is queued, so a
    /// job that ends at once is not missed.
    pub async fn run_job(&self, job: UnitJob<'_>, timeout: Duration) -> Result<Option<String>, Error> {
        let manager = self.manager().await?;
        subscribe(&manager).await?;
        let mut removed = Self::answer(manager.receive_job_removed().await)?;
        let path = Self::answer(match job {
            UnitJob::StartTransient(name, properties) => {
                manager.start_transient_unit(name, FAIL_MODE, properties, &[]).await
            }
            UnitJob::StartTransientReplacing(name, properties) => {
                manager.start_transient_unit(name, MODE, properties, &[]).await
            }
            UnitJob::Stop(name) => manager.stop_unit(name, FAIL_MODE).await,
            UnitJob::Reload(name) => manager.reload_unit(name, FAIL_MODE).await,
            UnitJob::Restart(name) => manager.restart_unit(name, FAIL_MODE).await,
        })?;
        let finished = async {
            while let Some(signal) = removed.next().await {
                match signal.args() {
                    Ok(args) if args.job == path => return Some(args.result),
                    _ => continue,
                }
            }
            None
        };
        Ok(tokio::time::timeout(timeout, finished).await.ok().flatten())
    }

    /// A unit's `ActiveState`, read now and kept current from the unit's `PropertiesChanged`
    /// signals (subscribed to first); a unit systemd has not loaded reads `inactive`, as systemd
    /// answers for it. The watcher stops when the last receiver is dropped.
    pub async fn watch_active_state(&self, name: &str) -> Result<watch::Receiver<String>, Error> {
        subscribe(&self.manager().await?).await?;
        let unit = self.properties_of(unit_object_path(name)).await?;
        let mut changes = Self::answer(unit.receive_properties_changed_with_args(&[(0, UNIT_INTERFACE)]).await)?;
        let first = active_state(&unit).await.unwrap_or_else(|_| INACTIVE.to_owned());
        let (sender, receiver) = watch::channel(first);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = sender.closed() => return,
                    signal = changes.next() => {
                        let Some(signal) = signal else { return };
                        let Ok(args) = signal.args() else { continue };
                        let changed = args.changed_properties().get("ActiveState").and_then(|value| <&str>::try_from(value).ok());
                        let state = match changed {
                            Some(state) => state.to_owned(),
                            None if args.invalidated_properties().contains(&"ActiveState") => {
                                active_state(&unit).await.unwrap_or_else(|_| INACTIVE.to_owned())
                            }
                            None => continue,
                        };
                        sender.send_if_modified(|current| {
                            let changed = *current != state;
                            *current = state;
                            changed
                        });
                    }
                }
            }
        });
        Ok(receiver)
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

/// What systemd answers for a unit it has not loaded.
const INACTIVE: &str = "inactive";

/// Asks systemd to send its unit and job signals; it does so only while a client is subscribed.
async fn subscribe(manager: &SystemdManagerProxy<'_>) -> Result<(), Error> {
    match Systemd::answer(manager.subscribe().await) {
        Err(error) if error.error_name() != Some(ALREADY_SUBSCRIBED) => Err(error),
        _ => Ok(()),
    }
}

/// systemd's object path of a unit: bytes other than ASCII letters (and digits after the first)
/// become `_` and two hex digits, so `docker.service` is `.../unit/docker_2eservice`.
pub fn unit_object_path(name: &str) -> zbus::zvariant::ObjectPath<'static> {
    let mut path = String::from("/org/freedesktop/systemd1/unit/");
    if name.is_empty() {
        path.push('_');
    }
    for (index, byte) in name.bytes().enumerate() {
        if byte.is_ascii_alphabetic() || (index > 0 && byte.is_ascii_digit()) {
            path.push(char::from(byte));
        } else {
            path.push_str(&format!("_{byte:02x}"));
        }
    }
    zbus::zvariant::ObjectPath::try_from(path).expect("escaped unit names are valid object paths")
}

async fn active_state(unit: &PropertiesProxy<'_>) -> Result<String, Error> {
    let value: OwnedValue = Service::<SystemdState>::answer(
        unit.get(InterfaceName::from_static_str_unchecked(UNIT_INTERFACE), "ActiveState")
            .await
            .map_err(zbus::Error::from),
    )?;
    String::try_from(value).map_err(|error| Error::Call { service: SystemdState::SERVICE, reason: error.to_string() })
}
