//! `org.freedesktop.systemd1`: the Manager at `/org/freedesktop/systemd1` and one object per
//! unit at `/org/freedesktop/systemd1/unit/<escaped id>` (interface
//! `org.freedesktop.systemd1.Unit`: `Id`, `Description`, `LoadState`, `ActiveState`,
//! `SubState`).
//!
//! `ListUnits` returns the units of a Debian 12 host running Docker (plus the HAOS units with the
//! `haos` profile). `StartUnit`, `StopUnit`, `RestartUnit` and `ReloadOrRestartUnit` change a
//! unit's `ActiveState`/`SubState` at once (systemd goes through `activating` first) and announce
//! it on the unit's object, and return a job path; `ReloadUnit` changes nothing (systemd runs the
//! unit's reload command, and a unit that is not running fails the job, not the call). Every job
//! ends with the Manager's `JobRemoved` signal and its result. A unit that does not exist, or is
//! `not-found`, answers `org.freedesktop.systemd1.NoSuchUnit`; an unknown job mode `InvalidArgs`.
//!
//! `StartTransientUnit` makes a unit; a `.mount` unit is really mounted (module `mount_units`):
//! `activating`, then `active` or `failed` as `mount` went, announced, then `JobRemoved` with
//! `done` or `failed`. Stopping it unmounts it, restarting unmounts and mounts, reloading
//! remounts (`UnitInactive` unless active). A transient unit is unloaded once inactive, a failed
//! one by `ResetFailedUnit`. The properties it was given are recorded with the call, e.g.
//! `StartTransientUnit(x.mount, fail, Description=..., What=..., Options=...)`.
//!
//! A transient `.service` may be given `Type` and `ExecStart` (recorded as `ExecStart=[argv]`
//! per command, the argv's strings quoted and escaped as Rust and JSON both write them). Its commands are not run (the only ones the supervisor gives
//! change the host's firewall): a `oneshot` goes `activating`, then `inactive` as a command that
//! went well leaves it, and its job ends `done`; one whose starts the test made fail
//! (`FailStarts(unit)`) ends `failed`, its job `failed`, as when a command exits with an error.
//! Any other service runs.
//!
//! `Reboot` and `PowerOff` only record themselves. The Manager's own properties are constant, as
//! systemd's are. Next to `io.supervisor.Fixture`, the Manager's object carries
//! `io.supervisor.Fixture.FileServers`: `Serve(host, root, username, password)` makes a host
//! serve the folder `root` (CIFS shares and NFS paths are its subfolders; an empty username for
//! guest access), `Unserve(host)` takes it off the network: the units mounted from it are
//! unmounted and end `inactive`, as systemd sees a mount vanish.

use crate::control::{Calls, Control, HasProps};
use crate::error::ServiceError;
use crate::mount_units::{mount_place, FileServer, FileServers, MountSpec};
use crate::props::Props;
use crate::Profile;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use zbus::fdo::Properties;
use zbus::names::InterfaceName;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zbus::{interface, Connection};

pub const BUS_NAME: &str = "org.freedesktop.systemd1";
pub const PATH: &str = "/org/freedesktop/systemd1";
const UNIT_INTERFACE: &str = "org.freedesktop.systemd1.Unit";
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";
const UNIT_EXISTS: &str = "org.freedesktop.systemd1.UnitExists";
const UNIT_INACTIVE: &str = "org.freedesktop.systemd1.UnitInactive";
/// The properties a transient mount unit may be given, and their D-Bus types.
const MOUNT_PROPERTIES: [(&str, &str); 5] =
    [("Description", "s"), ("What", "s"), ("Type", "s"), ("Options", "s"), ("TimeoutUSec", "t")];
/// The properties a transient service may be given, and their D-Bus types.
const SERVICE_PROPERTIES: [(&str, &str); 3] = [("Description", "s"), ("Type", "s"), ("ExecStart", "a(sasb)")];
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
    description: String,
    load_state: &'static str,
    active_state: &'static str,
    sub_state: &'static str,
    /// Made by `StartTransientUnit`: unloaded once inactive.
    transient: bool,
    /// What a `.mount` unit mounts.
    mount: Option<MountSpec>,
    /// A transient service of `Type=oneshot`: it ends once its commands ran.
    oneshot: bool,
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
    servers: FileServers,
    calls: Calls,
    last_job: u32,
    failing: Failing,
}

/// The units whose starts the test made fail.
type Failing = Arc<Mutex<std::collections::BTreeSet<String>>>;

/// `io.supervisor.Fixture.FileServers`: the hosts the test serves, and units made to fail.
struct FileServersObject {
    units: Units,
    servers: FileServers,
    calls: Calls,
    failing: Failing,
}

/// What a job on a mount unit does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MountJob {
    Start,
    Stop,
    Restart,
    Reload,
}

struct UnitObject {
    id: String,
    units: Units,
}

/// Exports the Manager and the unit objects on a connection that has not taken the bus name yet.
pub async fn serve(connection: &Connection, profile: Profile) -> zbus::Result<()> {
    let rows = if profile.is_haos() { [DEBIAN_UNITS, HAOS_UNITS].concat() } else { DEBIAN_UNITS.to_vec() };
    let units: Units = Arc::new(Mutex::new(
        rows.iter()
            .map(|&(id, description, load_state, active_state, sub_state)| {
                let description = description.to_owned();
                (
                    id.to_owned(),
                    Unit {
                        description,
                        load_state,
                        active_state,
                        sub_state,
                        transient: false,
                        mount: None,
                        oneshot: false,
                    },
                )
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
    let servers = FileServers::default();
    let failing = Failing::default();
    let files = FileServersObject {
        units: units.clone(),
        servers: servers.clone(),
        calls: calls.clone(),
        failing: failing.clone(),
    };
    server.at(PATH, files).await?;
    server.at(PATH, Manager { props, units, servers, calls: calls.clone(), last_job: 0, failing }).await?;
    server.at(PATH, Control::new::<Manager>(PATH, calls)).await?;
    Ok(())
}

/// Unmounts whatever the mount units mounted, when the fixture stops: nothing it mounted
/// outlives it.
pub async fn release(connection: &Connection) {
    let Ok(manager) = connection.object_server().interface::<_, Manager>(PATH).await else { return };
    let units = manager.get().await.units.lock().expect("units lock").clone();
    for unit in units.values().filter(|unit| unit.active_state != "inactive") {
        if let Some(spec) = &unit.mount {
            spec.release();
        }
    }
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
    /// job systemd would have queued; a mount unit's job runs in the background.
    async fn transition(
        &mut self,
        connection: &Connection,
        id: &str,
        mode: &str,
        active: bool,
    ) -> Result<OwnedObjectPath, ServiceError> {
        let kind = if active { MountJob::Restart } else { MountJob::Stop };
        if let Some(job) = self.mount_job(connection, id, mode, kind)? {
            return Ok(job);
        }
        let (active_state, sub_state) = if active { ("active", active_sub_state(id)) } else { ("inactive", "dead") };
        set_state(connection, &self.units, id, active_state, sub_state).await?;
        let (number, job) = self.next_job();
        job_removed(connection, number, &job, id, "done").await?;
        Ok(job)
    }

    fn next_job(&mut self) -> (u32, OwnedObjectPath) {
        self.last_job += 1;
        (self.last_job, object_path(format!("{PATH}/job/{}", self.last_job)))
    }

    /// Starts `kind` on a mount unit in the background and answers its job; `None` for a unit
    /// that mounts nothing. Refuses an unknown mode or unit as systemd does.
    fn mount_job(
        &mut self,
        connection: &Connection,
        id: &str,
        mode: &str,
        kind: MountJob,
    ) -> Result<Option<OwnedObjectPath>, ServiceError> {
        if !JOB_MODES.contains(&mode) {
            return Err(ServiceError::invalid_args(format!("Job mode {mode} invalid")));
        }
        let spec = {
            let units = self.units.lock().expect("units lock");
            let unit = units
                .get(id)
                .filter(|unit| unit.load_state == "loaded")
                .ok_or_else(|| no_such_unit(format!("Unit {id} not found.")))?;
            if kind == MountJob::Reload && unit.active_state != "active" {
                return Err(ServiceError::new(UNIT_INACTIVE, format!("Unit {id} is not active.")));
            }
            unit.mount.clone()
        };
        let Some(spec) = spec else { return Ok(None) };
        let (number, job) = self.next_job();
        let work = MountWork {
            connection: connection.clone(),
            units: self.units.clone(),
            servers: self.servers.clone(),
            id: id.to_owned(),
            spec,
        };
        tokio::spawn(work.run(kind, number, job.clone()));
        Ok(Some(job))
    }
}

/// A job on a mount unit, run in the background as systemd runs `mount`.
struct MountWork {
    connection: Connection,
    units: Units,
    servers: FileServers,
    id: String,
    spec: MountSpec,
}

impl MountWork {
    async fn run(self, kind: MountJob, number: u32, job: OwnedObjectPath) {
        let result = match self.work(kind).await {
            Ok(()) => "done",
            Err(error) => {
                tracing::info!("{}: {error}", self.id);
                "failed"
            }
        };
        let _ = job_removed(&self.connection, number, &job, &self.id, result).await;
    }

    async fn work(&self, kind: MountJob) -> Result<(), String> {
        if matches!(kind, MountJob::Stop | MountJob::Restart) {
            self.state("deactivating", "unmounting").await;
            if let Err(error) = self.blocking(MountSpec::unmount).await {
                self.state("failed", "failed").await;
                return Err(error);
            }
            if kind == MountJob::Stop {
                self.state("inactive", "dead").await;
                return Ok(());
            }
        }
        if kind == MountJob::Reload {
            self.state("reloading", "remounting").await;
            let servers = self.servers.clone();
            let result = self.blocking(move |spec| spec.remount(&servers)).await;
            self.state("active", "mounted").await;
            return result;
        }
        self.state("activating", "mounting").await;
        let servers = self.servers.clone();
        match self.blocking(move |spec| spec.mount(&servers)).await {
            Ok(()) => {
                self.state("active", "mounted").await;
                Ok(())
            }
            Err(error) => {
                self.state("failed", "failed").await;
                Err(error)
            }
        }
    }

    async fn blocking(
        &self,
        work: impl FnOnce(&MountSpec) -> Result<(), String> + Send + 'static,
    ) -> Result<(), String> {
        let spec = self.spec.clone();
        tokio::task::spawn_blocking(move || work(&spec)).await.unwrap_or_else(|error| Err(error.to_string()))
    }

    async fn state(&self, active_state: &'static str, sub_state: &'static str) {
        if let Err(error) = set_state(&self.connection, &self.units, &self.id, active_state, sub_state).await {
            tracing::warn!("announcing the state of {}: {error:?}", self.id);
        }
    }
}

/// Sets a unit's state and announces it on its object; a transient unit that ends inactive is
/// unloaded (systemd's garbage collection), its object gone.
async fn set_state(
    connection: &Connection,
    units: &Units,
    id: &str,
    active_state: &'static str,
    sub_state: &'static str,
) -> Result<(), ServiceError> {
    let unload = {
        let mut units = units.lock().expect("units lock");
        let unit = units
            .get_mut(id)
            .filter(|unit| unit.load_state == "loaded")
            .ok_or_else(|| no_such_unit(format!("Unit {id} not found.")))?;
        unit.active_state = active_state;
        unit.sub_state = sub_state;
        let unload = unit.transient && active_state == "inactive";
        if unload {
            units.remove(id);
        }
        unload
    };
    let emitter = SignalEmitter::new(connection, unit_path(id))?;
    let changed = HashMap::from([("ActiveState", Value::from(active_state)), ("SubState", Value::from(sub_state))]);
    Properties::properties_changed(
        &emitter,
        InterfaceName::from_static_str_unchecked(UNIT_INTERFACE),
        changed,
        Cow::Borrowed(&[]),
    )
    .await?;
    if unload {
        connection.object_server().remove::<UnitObject, _>(unit_path(id)).await?;
    }
    Ok(())
}

/// The Manager's `JobRemoved(id, job, unit, result)`.
async fn job_removed(
    connection: &Connection,
    number: u32,
    job: &OwnedObjectPath,
    id: &str,
    result: &str,
) -> zbus::Result<()> {
    let emitter = SignalEmitter::new(connection, PATH)?;
    Manager::job_removed(&emitter, number, job.clone(), id, result).await
}

/// Checks the properties of a transient unit as systemd does for a mount unit, and formats them
/// for the call log.
fn transient_properties(id: &str, properties: &[(String, OwnedValue)]) -> Result<(Vec<String>, Unit), ServiceError> {
    let mut shown = Vec::new();
    let mut strings: HashMap<&str, String> = HashMap::new();
    let is_mount = id.ends_with(".mount");
    let allowed: &[(&str, &str)] = if is_mount {
        &MOUNT_PROPERTIES
    } else if id.ends_with(".service") {
        &SERVICE_PROPERTIES
    } else {
        &SERVICE_PROPERTIES[..1]
    };
    for (name, value) in properties {
        let expected = allowed.iter().find(|(known, _)| known == name).map(|(_, signature)| *signature);
        let Some(expected) = expected else {
            return Err(ServiceError::invalid_args(format!("Cannot set property {name}, or unknown property.")));
        };
        if value.value_signature().to_string() != expected {
            return Err(ServiceError::invalid_args(format!("Invalid type for property {name}")));
        }
        match &**value {
            Value::Str(text) => {
                shown.push(format!("{name}={text}"));
                strings.insert(name.as_str(), text.to_string());
            }
            Value::Array(commands) if name == "ExecStart" => {
                for command in commands.iter() {
                    let (_, argv, _): (String, Vec<String>, bool) = command
                        .try_clone()
                        .ok()
                        .and_then(|command| command.try_into().ok())
                        .ok_or_else(|| ServiceError::invalid_args("Invalid ExecStart entry"))?;
                    shown.push(format!("ExecStart={argv:?}"));
                }
            }
            other => shown.push(format!("{name}={other}")),
        }
    }
    let mount = if is_mount {
        let place =
            mount_place(id).ok_or_else(|| ServiceError::invalid_args(format!("Unit name {id} is not valid.")))?;
        let what = strings.remove("What").ok_or_else(|| ServiceError::invalid_args("What= setting is missing"))?;
        Some(MountSpec { what, place, fs_type: strings.remove("Type"), options: strings.remove("Options") })
    } else {
        None
    };
    let unit = Unit {
        oneshot: !is_mount && strings.get("Type").map(String::as_str) == Some("oneshot"),
        description: strings.remove("Description").unwrap_or_else(|| id.to_owned()),
        load_state: "loaded",
        active_state: "inactive",
        sub_state: "dead",
        transient: true,
        mount,
    };
    Ok((shown, unit))
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
                    unit.description.clone(),
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

    async fn reload_unit(
        &mut self,
        name: String,
        mode: String,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<OwnedObjectPath, ServiceError> {
        self.calls.record(format!("ReloadUnit({name}, {mode})"));
        if let Some(job) = self.mount_job(connection, &name, &mode, MountJob::Reload)? {
            return Ok(job);
        }
        let (number, job) = self.next_job();
        job_removed(connection, number, &job, &name, "done").await?;
        Ok(job)
    }

    async fn start_transient_unit(
        &mut self,
        name: String,
        mode: String,
        properties: Vec<(String, OwnedValue)>,
        _aux: Vec<(String, Vec<(String, OwnedValue)>)>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<OwnedObjectPath, ServiceError> {
        let (shown, unit) = transient_properties(&name, &properties)?;
        self.calls.record(format!("StartTransientUnit({name}, {mode}, {})", shown.join(", ")));
        if !JOB_MODES.contains(&mode.as_str()) {
            return Err(ServiceError::invalid_args(format!("Job mode {mode} invalid")));
        }
        {
            let mut units = self.units.lock().expect("units lock");
            if units.contains_key(&name) {
                return Err(ServiceError::new(
                    UNIT_EXISTS,
                    format!("Unit {name} was already loaded or has a fragment file."),
                ));
            }
            units.insert(name.clone(), unit);
        }
        connection
            .object_server()
            .at(unit_path(&name), UnitObject { id: name.clone(), units: self.units.clone() })
            .await?;
        if let Some(job) = self.mount_job(connection, &name, &mode, MountJob::Start)? {
            return Ok(job);
        }
        let oneshot = self.units.lock().expect("units lock").get(&name).is_some_and(|unit| unit.oneshot);
        if oneshot {
            let (number, job) = self.next_job();
            let fails = self.failing.lock().expect("failing lock").contains(&name);
            let (connection, units, answer) = (connection.clone(), self.units.clone(), job.clone());
            tokio::spawn(async move {
                let _ = set_state(&connection, &units, &name, "activating", "start").await;
                let (state, sub, result) =
                    if fails { ("failed", "failed", "failed") } else { ("inactive", "dead", "done") };
                let _ = set_state(&connection, &units, &name, state, sub).await;
                let _ = job_removed(&connection, number, &answer, &name, result).await;
            });
            return Ok(job);
        }
        set_state(connection, &self.units, &name, "active", active_sub_state(&name)).await?;
        let (number, job) = self.next_job();
        job_removed(connection, number, &job, &name, "done").await?;
        Ok(job)
    }

    async fn reset_failed_unit(
        &mut self,
        name: String,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<(), ServiceError> {
        self.calls.record(format!("ResetFailedUnit({name})"));
        let failed = {
            let units = self.units.lock().expect("units lock");
            let unit = units.get(&name).ok_or_else(|| no_such_unit(format!("Unit {name} not loaded.")))?;
            unit.active_state == "failed"
        };
        if failed {
            set_state(connection, &self.units, &name, "inactive", "dead").await?;
        }
        Ok(())
    }

    /// Signals go to every client here; systemd needs this call before it sends any.
    fn subscribe(&self) {}

    #[zbus(signal)]
    async fn job_removed(
        emitter: &SignalEmitter<'_>,
        id: u32,
        job: OwnedObjectPath,
        unit: &str,
        result: &str,
    ) -> zbus::Result<()>;

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

#[interface(name = "io.supervisor.Fixture.FileServers")]
impl FileServersObject {
    /// Makes `host` serve the folder `root`; an empty `username` lets guests in.
    fn serve(&self, host: String, root: String, username: String, password: String) {
        self.calls.record(format!("Serve({host}, {root})"));
        let credentials = (!username.is_empty()).then_some((username, password));
        self.servers.lock().expect("servers lock").insert(host, FileServer { root: root.into(), credentials });
    }

    /// Makes a loaded unit fail, as a crashed service does.
    async fn fail_unit(&self, unit: String, #[zbus(connection)] connection: &Connection) -> Result<(), ServiceError> {
        self.calls.record(format!("FailUnit({unit})"));
        set_state(connection, &self.units, &unit, "failed", "failed").await
    }

    /// Makes every later start of the oneshot `unit` fail, as one whose command exits with an
    /// error.
    fn fail_starts(&self, unit: String) {
        self.calls.record(format!("FailStarts({unit})"));
        self.failing.lock().expect("failing lock").insert(unit);
    }

    /// Takes `host` off the network: what was mounted from it vanishes.
    async fn unserve(&self, host: String, #[zbus(connection)] connection: &Connection) -> Result<(), ServiceError> {
        self.calls.record(format!("Unserve({host})"));
        self.servers.lock().expect("servers lock").remove(&host);
        let mounted: Vec<(String, MountSpec)> = {
            let units = self.units.lock().expect("units lock");
            units
                .iter()
                .filter(|(_, unit)| unit.active_state == "active")
                .filter_map(|(id, unit)| Some((id.clone(), unit.mount.clone()?)))
                .filter(|(_, spec)| spec.server() == Some(host.as_str()))
                .collect()
        };
        for (id, spec) in mounted {
            let _ = tokio::task::spawn_blocking(move || spec.release()).await;
            set_state(connection, &self.units, &id, "inactive", "dead").await?;
        }
        Ok(())
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
        self.read(|unit| unit.description.clone())
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
