//! `org.freedesktop.systemd1`: the Manager at `/org/freedesktop/systemd1` and one object per
//! unit at `/org/freedesktop/systemd1/unit/<escaped id>` (interface
//! `org.freedesktop.systemd1.Unit`: `Id`, `Description`, `LoadState`, `ActiveState`,
//! `SubState`).
//!
//! `ListUnits` returns the units of a Debian 12 host running Docker (plus the HAOS units with the
//! `haos` profile). `StartUnit`, `StopUnit`, `RestartUnit` and `ReloadOrRestartUnit` change a
//! unit's `ActiveState`/`SubState` at once (systemd goes through `activating` first) and announce
//! it on the unit's object, and return a job path; `ReloadUnit` changes nothing (systemd runs the
//! unit's reload command, and a unit that is not running fails the job, not the call). A unit
//! that does not exist, or is `not-found`, answers `org.freedesktop.systemd1.NoSuchUnit`; an
//! unknown job mode `InvalidArgs`.
//! `Reboot` and `PowerOff` only record themselves. The Manager's own properties are constant, as
//! systemd's are.

use crate::control::{Calls, Control, HasProps};
use crate::error::ServiceError;
use crate::props::Props;
use crate::Profile;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use zbus::fdo::Properties;
use zbus::names::InterfaceName;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedObjectPath, Value};
use zbus::{interface, Connection};

pub const BUS_NAME: &str = "org.freedesktop.systemd1";
pub const PATH: &str = "/org/freedesktop/systemd1";
const UNIT_INTERFACE: &str = "org.freedesktop.systemd1.Unit";
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";
/// The job modes systemd knows; anything else is refused.
const JOB_MODES: [&str; 9] = [
    "replace",
    "fail",
    "isolate",
    "ignore-dependencies",
    "ignore-requirements",
    "flush",
    "replace-irreversibly",
    "triggering",
    "restart-dependencies",
];
/// The kernel's start, realtime µs (2026-01-01 08:00:00 UTC); the boot timestamps follow it.
const KERNEL_TIMESTAMP: u64 = 1_767_254_400_000_000;
const USERSPACE_MONOTONIC: u64 = 1_843_213;
const FINISH_MONOTONIC: u64 = 6_512_448;

/// One row of `ListUnits`.
#[derive(Clone)]
struct Unit {
    description: &'static str,
    load_state: &'static str,
    active_state: &'static str,
    sub_state: &'static str,
}

/// The units by id, shared by the Manager (which changes them) and the unit objects.
type Units = Arc<Mutex<BTreeMap<String, Unit>>>;

/// `(id, description, load state, active state, sub state)` of a Debian 12 host with Docker.
const DEBIAN_UNITS: &[(&str, &str, &str, &str, &str)] = &[
    ("-.mount", "Root Mount", "loaded", "active", "mounted"),
    ("apt-daily.service", "Daily apt download activities", "loaded", "inactive", "dead"),
    ("apt-daily.timer", "Daily apt download activities", "loaded", "active", "waiting"),
    ("containerd.service", "containerd container runtime", "loaded", "active", "running"),
    ("cron.service", "Regular background program processing daemon", "loaded", "active", "running"),
    ("dbus.service", "D-Bus System Message Bus", "loaded", "active", "running"),
    ("dbus.socket", "D-Bus System Message Bus Socket", "loaded", "active", "running"),
    ("docker.service", "Docker Application Container Engine", "loaded", "active", "running"),
    ("docker.socket", "Docker Socket for the API", "loaded", "active", "running"),
    ("multi-user.target", "Multi-User System", "loaded", "active", "active"),
    ("NetworkManager.service", "Network Manager", "loaded", "active", "running"),
    ("plymouth-quit-wait.service", "plymouth-quit-wait.service", "not-found", "inactive", "dead"),
    ("sockets.target", "Socket Units", "loaded", "active", "active"),
    ("ssh.service", "OpenBSD Secure Shell server", "loaded", "active", "running"),
    ("systemd-hostnamed.service", "Hostname Service", "loaded", "inactive", "dead"),
    ("systemd-journald.service", "Journal Service", "loaded", "active", "running"),
    ("systemd-logind.service", "User Login Management", "loaded", "active", "running"),
    ("systemd-resolved.service", "Network Name Resolution", "loaded", "active", "running"),
    ("systemd-timesyncd.service", "Network Time Synchronization", "loaded", "active", "running"),
    ("systemd-udevd.service", "Rule-based Manager for Device Events and Files", "loaded", "active", "running"),
];

/// What Home Assistant OS has on top.
const HAOS_UNITS: &[(&str, &str, &str, &str, &str)] = &[
    // Renamed `haos-config.service` only in HAOS 18.
    ("hassos-config.service", "HassOS device config", "loaded", "inactive", "dead"),
    ("haos-pre-shutdown.target", "Home Assistant OS pre-shutdown", "loaded", "inactive", "dead"),
    ("os-agent.service", "Home Assistant OS Agent", "loaded", "active", "running"),
    ("rauc.service", "Rauc Update Service", "loaded", "active", "running"),
];

pub struct Manager {
    props: Props,
    units: Units,
    calls: Calls,
    last_job: u32,
}

struct UnitObject {
    id: String,
    units: Units,
}

/// Exports the Manager and the unit objects on a connection that has not taken the bus name yet.
pub async fn serve(connection: &Connection, profile: Profile) -> zbus::Result<()> {
    let rows = match profile {
        Profile::Debian => DEBIAN_UNITS.to_vec(),
        Profile::Haos => [DEBIAN_UNITS, HAOS_UNITS].concat(),
    };
    let units: Units = Arc::new(Mutex::new(
        rows.iter()
            .map(|&(id, description, load_state, active_state, sub_state)| {
                (id.to_owned(), Unit { description, load_state, active_state, sub_state })
            })
            .collect(),
    ));
    let calls = Calls::default();
    let props = Props::default()
        .quiet("Version", "252.33-1~deb12u1")
        .quiet("Architecture", "x86-64")
        .quiet("Virtualization", "kvm")
        .quiet("FirmwareTimestampMonotonic", 0u64)
        .quiet("LoaderTimestampMonotonic", 0u64)
        .quiet("KernelTimestamp", KERNEL_TIMESTAMP)
        .quiet("KernelTimestampMonotonic", 0u64)
        .quiet("UserspaceTimestamp", KERNEL_TIMESTAMP + USERSPACE_MONOTONIC)
        .quiet("UserspaceTimestampMonotonic", USERSPACE_MONOTONIC)
        .quiet("FinishTimestamp", KERNEL_TIMESTAMP + FINISH_MONOTONIC)
        .quiet("FinishTimestampMonotonic", FINISH_MONOTONIC);
    let server = connection.object_server();
    for (id, _, _, _, _) in rows {
        server.at(unit_path(id), UnitObject { id: id.to_owned(), units: units.clone() }).await?;
    }
    server.at(PATH, Manager { props, units, calls: calls.clone(), last_job: 0 }).await?;
    server.at(PATH, Control::new::<Manager>(PATH, calls)).await?;
    Ok(())
}

/// systemd's object path for a unit: bytes other than ASCII letters (and digits after the
/// first) become `_` and two hex digits, so `docker.service` is `.../unit/docker_2eservice`.
fn unit_path(id: &str) -> String {
    let mut path = format!("{PATH}/unit/");
    if id.is_empty() {
        path.push('_');
    }
    for (index, byte) in id.bytes().enumerate() {
        if byte.is_ascii_alphabetic() || (index > 0 && byte.is_ascii_digit()) {
            path.push(char::from(byte));
        } else {
            path.push_str(&format!("_{byte:02x}"));
        }
    }
    path
}

fn object_path(path: String) -> OwnedObjectPath {
    OwnedObjectPath::try_from(path).expect("escaped unit paths are valid object paths")
}

/// The sub-state a unit of this type settles in once active.
fn active_sub_state(id: &str) -> &'static str {
    match id.rsplit_once('.').map(|(_, kind)| kind) {
        Some("service") => "running",
        Some("mount") => "mounted",
        Some("socket") => "listening",
        Some("timer") => "waiting",
        _ => "active",
    }
}

fn no_such_unit(message: String) -> ServiceError {
    ServiceError::new(NO_SUCH_UNIT, message)
}

impl Manager {
    /// Moves a loaded unit to a new state and announces it on the unit's object, returning the
    /// job systemd would have queued.
    async fn transition(
        &mut self,
        connection: &Connection,
        id: &str,
        mode: &str,
        active: bool,
    ) -> Result<OwnedObjectPath, ServiceError> {
        if !JOB_MODES.contains(&mode) {
            return Err(ServiceError::invalid_args(format!("Job mode {mode} invalid")));
        }
        let (active_state, sub_state) = if active { ("active", active_sub_state(id)) } else { ("inactive", "dead") };
        {
            let mut units = self.units.lock().expect("units lock");
            let unit = units
                .get_mut(id)
                .filter(|unit| unit.load_state == "loaded")
                .ok_or_else(|| no_such_unit(format!("Unit {id} not found.")))?;
            unit.active_state = active_state;
            unit.sub_state = sub_state;
        }
        let emitter = SignalEmitter::new(connection, unit_path(id))?;
        let changed = HashMap::from([("ActiveState", Value::from(active_state)), ("SubState", Value::from(sub_state))]);
        Properties::properties_changed(
            &emitter,
            InterfaceName::from_static_str_unchecked(UNIT_INTERFACE),
            changed,
            Cow::Borrowed(&[]),
        )
        .await?;
        self.last_job += 1;
        Ok(object_path(format!("{PATH}/job/{}", self.last_job)))
    }
}

impl HasProps for Manager {
    fn props_mut(&mut self) -> &mut Props {
        &mut self.props
    }
}

#[interface(name = "org.freedesktop.systemd1.Manager")]
impl Manager {
    #[allow(clippy::type_complexity)]
    fn list_units(
        &self,
    ) -> Vec<(String, String, String, String, String, String, OwnedObjectPath, u32, String, OwnedObjectPath)> {
        let units = self.units.lock().expect("units lock");
        units
            .iter()
            .map(|(id, unit)| {
                (
                    id.clone(),
                    unit.description.to_owned(),
                    unit.load_state.to_owned(),
                    unit.active_state.to_owned(),
                    unit.sub_state.to_owned(),
                    String::new(),
                    object_path(unit_path(id)),
                    0,
                    String::new(),
                    object_path("/".to_owned()),
                )
            })
            .collect()
    }

    fn get_unit(&self, name: String) -> Result<OwnedObjectPath, ServiceError> {
        if !self.units.lock().expect("units lock").contains_key(&name) {
            return Err(no_such_unit(format!("Unit {name} not loaded.")));
        }
        Ok(object_path(unit_path(&name)))
    }

    async fn start_unit(
        &mut self,
        name: String,
        mode: String,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<OwnedObjectPath, ServiceError> {
        self.calls.record(format!("StartUnit({name}, {mode})"));
        self.transition(connection, &name, &mode, true).await
    }

    async fn stop_unit(
        &mut self,
        name: String,
        mode: String,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<OwnedObjectPath, ServiceError> {
        self.calls.record(format!("StopUnit({name}, {mode})"));
        self.transition(connection, &name, &mode, false).await
    }

    async fn restart_unit(
        &mut self,
        name: String,
        mode: String,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<OwnedObjectPath, ServiceError> {
        self.calls.record(format!("RestartUnit({name}, {mode})"));
        self.transition(connection, &name, &mode, true).await
    }

    async fn reload_or_restart_unit(
        &mut self,
        name: String,
        mode: String,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<OwnedObjectPath, ServiceError> {
        self.calls.record(format!("ReloadOrRestartUnit({name}, {mode})"));
        self.transition(connection, &name, &mode, true).await
    }

    fn reload_unit(&mut self, name: String, mode: String) -> Result<OwnedObjectPath, ServiceError> {
        self.calls.record(format!("ReloadUnit({name}, {mode})"));
        if !JOB_MODES.contains(&mode.as_str()) {
            return Err(ServiceError::invalid_args(format!("Job mode {mode} invalid")));
        }
        let loaded = self.units.lock().expect("units lock").get(&name).is_some_and(|unit| unit.load_state == "loaded");
        if !loaded {
            return Err(no_such_unit(format!("Unit {name} not found.")));
        }
        self.last_job += 1;
        Ok(object_path(format!("{PATH}/job/{}", self.last_job)))
    }

    fn reboot(&self) {
        self.calls.record("Reboot()");
    }

    fn power_off(&self) {
        self.calls.record("PowerOff()");
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        self.props.get("Version")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn architecture(&self) -> String {
        self.props.get("Architecture")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn virtualization(&self) -> String {
        self.props.get("Virtualization")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn firmware_timestamp_monotonic(&self) -> u64 {
        self.props.get("FirmwareTimestampMonotonic")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn loader_timestamp_monotonic(&self) -> u64 {
        self.props.get("LoaderTimestampMonotonic")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn kernel_timestamp(&self) -> u64 {
        self.props.get("KernelTimestamp")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn kernel_timestamp_monotonic(&self) -> u64 {
        self.props.get("KernelTimestampMonotonic")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn userspace_timestamp(&self) -> u64 {
        self.props.get("UserspaceTimestamp")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn userspace_timestamp_monotonic(&self) -> u64 {
        self.props.get("UserspaceTimestampMonotonic")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn finish_timestamp(&self) -> u64 {
        self.props.get("FinishTimestamp")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn finish_timestamp_monotonic(&self) -> u64 {
        self.props.get("FinishTimestampMonotonic")
    }
}

impl UnitObject {
    fn read<T>(&self, field: impl FnOnce(&Unit) -> T) -> T {
        let units = self.units.lock().expect("units lock");
        field(units.get(&self.id).expect("unit objects exist only for known units"))
    }
}

#[interface(name = "org.freedesktop.systemd1.Unit")]
impl UnitObject {
    #[zbus(property(emits_changed_signal = "const"))]
    fn id(&self) -> String {
        self.id.clone()
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn description(&self) -> String {
        self.read(|unit| unit.description.to_owned())
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn load_state(&self) -> String {
        self.read(|unit| unit.load_state.to_owned())
    }

    #[zbus(property)]
    fn active_state(&self) -> String {
        self.read(|unit| unit.active_state.to_owned())
    }

    #[zbus(property)]
    fn sub_state(&self) -> String {
        self.read(|unit| unit.sub_state.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_paths_are_escaped_like_systemd() {
        assert_eq!(unit_path("docker.service"), "/org/freedesktop/systemd1/unit/docker_2eservice");
        assert_eq!(unit_path("-.mount"), "/org/freedesktop/systemd1/unit/_2d_2emount");
        assert_eq!(
            unit_path("haos-pre-shutdown.target"),
            "/org/freedesktop/systemd1/unit/haos_2dpre_2dshutdown_2etarget"
        );
        assert_eq!(unit_path("1a"), "/org/freedesktop/systemd1/unit/_31a");
    }
}
