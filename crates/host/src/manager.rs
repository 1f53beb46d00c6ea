//! [`HostManager`]: what the `/host` group knows and does. It reads the host services' watched
//! states for everything it shows, calls them for what it changes (hostname, power, units), and
//! keeps the one figure that costs a D-Bus call to read, the data disk's wear, up to date in the
//! background.

use crate::disks::{self, DiskUsage};
use crate::info::{self, Feature, HostInfo, Presence, Snapshot, Space};
use base::DataDir;
use dbus::{Error as BusError, HostServices, HostnameState};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use utoipa::ToSchema;

/// Home Assistant OS's stage before a reboot or power-off: its services stop cleanly in it.
const HAOS_PRE_SHUTDOWN_TARGET: &str = "haos-pre-shutdown.target";
const HAOS_PRE_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a setting may take to come back as its service's signal.
const SETTING_SETTLE: Duration = Duration::from_secs(2);
/// The unit that reads the NTP servers the OS-Agent writes.
const TIMESYNCD_UNIT: &str = "systemd-timesyncd.service";
/// How long the data directory's file system figures are reused: `/host/info` is read often
/// (Core polls it) and the figures, shown in tenths of GiB, hardly move within a second.
const SPACE_TTL: Duration = Duration::from_secs(1);

/// One systemd service of `/host/services`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HostService {
    /// The unit, e.g. `docker.service`.
    pub name: String,
    pub description: String,
    /// Its `ActiveState`: `active`, `inactive`, `failed`, ...
    pub state: String,
}

/// What `/host/service/{service}/...` asks of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitAction {
    Start,
    Stop,
    Restart,
    Reload,
}

pub struct HostManager {
    services: Arc<HostServices>,
    data: DataDir,
    /// Where the host's `/sys` is found (`--host-root`).
    host_root: PathBuf,
    journal: journal::Gateway,
    /// Whether the journal's gateway is there, as of the start or the last reload (the real
    /// Supervisor looks once, at its start).
    journal_available: AtomicBool,
    /// The data directory's file system, and when it was read.
    space: Mutex<Option<(Instant, Space)>>,
    /// The data disk's wear in percent, as last read; `None` while unknown.
    life_time: Arc<RwLock<Option<f64>>>,
    _life_time_watcher: AbortOnDrop,
    /// The network storage mounts, for their usage (the mounts domain sits above this one).
    mounts: std::sync::OnceLock<Arc<dyn MountedDisks>>,
}

/// Where an active network storage mount is mounted, for `/host/disks/<mount>/usage`.
pub trait MountedDisks: Send + Sync {
    /// The folder of the mount `name`: 404 when there is none, 400 when it is not active.
    fn active_place(&self, name: &str) -> Result<PathBuf, base::Error>;
}

/// How long a caller waits for a mount's usage (the real Supervisor's bound).
const MOUNT_USAGE_TIMEOUT: Duration = Duration::from_secs(60);

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl HostManager {
    /// The manager of the host behind `services` (its `/sys` under `host_root`), whose data
    /// directory is `data`, with its journal at `journal`. Starts reading the data disk's wear,
    /// again whenever UDisks2's view of the disks changes; needs a Tokio runtime.
    pub fn new(
        services: Arc<HostServices>,
        data: DataDir,
        journal: journal::Gateway,
        host_root: PathBuf,
    ) -> HostManager {
        let life_time = Arc::new(RwLock::new(None));
        let watcher = tokio::spawn(watch_life_time(
            Arc::clone(&services),
            data.clone(),
            host_root.clone(),
            Arc::clone(&life_time),
        ));
        HostManager {
            services,
            data,
            host_root,
            journal_available: AtomicBool::new(journal.is_available()),
            journal,
            space: Mutex::new(None),
            life_time,
            _life_time_watcher: AbortOnDrop(watcher),
            mounts: std::sync::OnceLock::new(),
        }
    }

    pub fn services(&self) -> &HostServices {
        &self.services
    }

    pub fn journal(&self) -> &journal::Gateway {
        &self.journal
    }

    /// The host's features as the real Supervisor names them.
    pub fn features(&self) -> Vec<Feature> {
        let hostname = self.services.hostname.subscribe();
        let state = hostname.borrow();
        self.features_with(state.as_ref())
    }

    fn features_with(&self, hostname: Option<&HostnameState>) -> Vec<Feature> {
        let s = &self.services;
        let network = s.network.subscribe();
        let network_interfaces = network.borrow().as_ref().is_some_and(info::has_interfaces);
        let haos = hostname.is_some_and(|state| info::is_haos(&state.operating_system_cpe_name));
        let agent_version = s.os_agent.agent.state().map(|agent| agent.version);
        info::features(Presence {
            systemd: s.systemd.is_available(),
            network_interfaces,
            hostname: hostname.is_some(),
            timedate: s.timedate.is_available(),
            os_agent: s.os_agent.agent.is_available(),
            haos,
            resolved: s.resolved.is_available(),
            journal: self.journal_available.load(Ordering::Relaxed),
            udisks2: s.udisks2.is_available(),
            mount: info::mount_supported(s.systemd.is_available(), hostname),
            ntp: info::ntp_supported(haos, agent_version.as_deref(), s.os_agent.timesyncd.is_available()),
        })
    }

    /// The data disk's used life time in percent, when the host reports it.
    pub fn disk_life_time(&self) -> Option<f64> {
        *self.life_time.read().expect("life time lock")
    }

    /// The static hostname and the operating system's name, as `/info` shows them.
    pub fn hostname_and_os(&self) -> (Option<String>, Option<String>) {
        let hostname = self.services.hostname.subscribe();
        let state = hostname.borrow();
        let state = state.as_ref();
        (state.map(|s| s.static_hostname.clone()), state.map(|s| s.operating_system_pretty_name.clone()))
    }

    /// `/host/info`, from the watched states and the data directory's file system.
    pub fn info(&self) -> Result<HostInfo, base::Error> {
        let s = &self.services;
        let hostname = s.hostname.state();
        let features = self.features_with(hostname.as_ref());
        let snapshot = Snapshot {
            agent_version: s.os_agent.agent.state().map(|agent| agent.version),
            apparmor_version: s.os_agent.apparmor.state().map(|apparmor| apparmor.parser_version),
            hostname,
            systemd: s.systemd.state(),
            timedate: s.timedate.state(),
            resolved: s.resolved.state(),
        };
        let space = self.space()?;
        Ok(HostInfo::new(snapshot, space, self.disk_life_time(), &features))
    }

    /// The data directory's file system, read at most once per [`SPACE_TTL`].
    fn space(&self) -> Result<Space, base::Error> {
        let mut cached = self.space.lock().expect("space lock");
        if let Some((read_at, space)) = *cached {
            if read_at.elapsed() < SPACE_TTL {
                return Ok(space);
            }
        }
        let usage = base::system::disk_usage(self.data.root()).map_err(|error| {
            base::Error::internal(format!("Can't read the disk usage of the data directory: {error}"))
        })?;
        let space = Space { total: usage.total, used: usage.used, free: usage.free };
        *cached = Some((Instant::now(), space));
        Ok(space)
    }

    /// Sets the static hostname through hostnamed, which judges it; returns once the new name
    /// shows in the watched state (or hostnamed did not announce it in time).
    pub async fn set_hostname(&self, hostname: &str) -> Result<(), base::Error> {
        let service = &self.services.hostname;
        if !service.is_available() {
            return Err(no_connection(Feature::Hostname));
        }
        tracing::info!("Set hostname {hostname}");
        match service.set_static_hostname(hostname).await {
            Ok(()) => {}
            Err(error) if error.error_name() == Some("org.freedesktop.DBus.Error.InvalidArgs") => {
                let extra = serde_json::Map::from_iter([("hostname".to_owned(), hostname.into())]);
                tracing::debug!("hostnamed refused {hostname:?}: {error}");
                return Err(base::Error::invalid(format!("Invalid hostname '{hostname}'"))
                    .with_key("host_invalid_hostname")
                    .with_extra(extra));
            }
            Err(error) => return Err(error.into()),
        }
        let mut changes = service.subscribe();
        let shown = changes.wait_for(|state| state.as_ref().is_none_or(|state| state.static_hostname == hostname));
        let _ = tokio::time::timeout(SETTING_SETTLE, shown).await;
        Ok(())
    }

    /// Reboots the host: through logind when it is there, else systemd.
    pub async fn reboot(&self) -> Result<(), base::Error> {
        let use_logind = self.power_control(Feature::Reboot)?;
        tracing::info!("Initialize host reboot using {}", if use_logind { "logind" } else { "systemd" });
        self.enter_haos_pre_shutdown().await;
        let s = &self.services;
        let result = if use_logind { s.logind.reboot().await } else { s.systemd.reboot().await };
        Ok(result?)
    }

    /// Powers the host off: through logind when it is there, else systemd.
    pub async fn shutdown(&self) -> Result<(), base::Error> {
        let use_logind = self.power_control(Feature::Shutdown)?;
        tracing::info!("Initialize host power off using {}", if use_logind { "logind" } else { "systemd" });
        self.enter_haos_pre_shutdown().await;
        let s = &self.services;
        let result = if use_logind { s.logind.power_off().await } else { s.systemd.power_off().await };
        Ok(result?)
    }

    /// Whether logind does it (else systemd); an error when neither is there.
    fn power_control(&self, feature: Feature) -> Result<bool, base::Error> {
        let s = &self.services;
        if s.logind.is_available() {
            Ok(true)
        } else if s.systemd.is_available() {
            Ok(false)
        } else {
            Err(no_connection(feature))
        }
    }

    /// On Home Assistant OS, starts its pre-shutdown target and waits (boundedly) for it, so its
    /// services stop before the machine goes down. Elsewhere the target does not exist.
    async fn enter_haos_pre_shutdown(&self) {
        let systemd = &self.services.systemd;
        if !systemd.is_available() {
            return;
        }
        match systemd.start_unit(HAOS_PRE_SHUTDOWN_TARGET).await {
            Ok(_) => {}
            Err(error) if error.error_name() == Some("org.freedesktop.systemd1.NoSuchUnit") => {
                tracing::debug!("Home Assistant OS pre-shutdown target is not available");
                return;
            }
            Err(error) => {
                tracing::warn!("Could not enter Home Assistant OS pre-shutdown phase: {error}");
                return;
            }
        }
        tracing::info!("Entering Home Assistant OS pre-shutdown phase");
        match systemd.wait_for_active_state(HAOS_PRE_SHUTDOWN_TARGET, "active", HAOS_PRE_SHUTDOWN_TIMEOUT).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("Timed out entering Home Assistant OS pre-shutdown phase"),
            Err(error) => tracing::warn!("Could not enter Home Assistant OS pre-shutdown phase: {error}"),
        }
    }

    /// Reads every host service again (for what they do not announce, such as NTP
    /// synchronisation), the data disk's wear and space, and whether the journal is there.
    pub async fn reload(&self) {
        let s = &self.services;
        let agent = &s.os_agent;
        tokio::join!(
            s.systemd.refresh(),
            s.logind.refresh(),
            s.hostname.refresh(),
            s.timedate.refresh(),
            s.resolved.refresh(),
            s.network.refresh(),
            s.rauc.refresh(),
            s.udisks2.refresh(),
            agent.agent.refresh(),
            agent.apparmor.refresh(),
            agent.boards.refresh(),
            agent.yellow.refresh(),
            agent.green.refresh(),
            agent.rpi_firmware.refresh(),
            agent.swap.refresh(),
            agent.timesyncd.refresh(),
            agent.datadisk.refresh(),
        );
        let life_time = read_life_time(&self.services, &self.data, &self.host_root).await;
        *self.life_time.write().expect("life time lock") = life_time;
        self.journal_available.store(self.journal.is_available(), Ordering::Relaxed);
        *self.space.lock().expect("space lock") = None;
        tracing::info!("Host information reload completed");
    }

    /// The NTP servers of timesyncd's configuration (servers, fallback servers), where the
    /// supervisor may set them (the `ntp` feature); not found elsewhere, as in the real one.
    pub fn ntp_servers(&self) -> Result<(Vec<String>, Vec<String>), base::Error> {
        self.check_ntp()?;
        let state = self.services.os_agent.timesyncd.state().ok_or_else(ntp_unavailable)?;
        Ok((state.ntp_servers, state.fallback_ntp_servers))
    }

    /// Not found unless the supervisor may set the NTP servers here (the `ntp` feature).
    pub fn check_ntp(&self) -> Result<(), base::Error> {
        if !self.features().contains(&Feature::Ntp) {
            return Err(ntp_unavailable());
        }
        Ok(())
    }

    /// Sets timesyncd's servers and fallback servers through the OS-Agent, which keeps them in
    /// timesyncd's configuration (an empty list removes them: the servers from DHCP and
    /// timesyncd's defaults apply again), then restarts timesyncd so that it reads them. `None`
    /// leaves a list as it is; with neither, nothing is touched. Returns once the agent's
    /// announcement of the new lists arrived (or did not in time).
    pub async fn set_ntp_servers(
        &self,
        servers: Option<Vec<String>>,
        fallback_servers: Option<Vec<String>>,
    ) -> Result<(), base::Error> {
        self.check_ntp()?;
        if servers.is_none() && fallback_servers.is_none() {
            return Ok(());
        }
        let timesyncd = &self.services.os_agent.timesyncd;
        if let Some(servers) = &servers {
            tracing::info!("Setting NTP servers: {}", servers.join(" "));
            timesyncd.set_ntp_servers(servers).await?;
        }
        if let Some(fallback) = &fallback_servers {
            tracing::info!("Setting fallback NTP servers: {}", fallback.join(" "));
            timesyncd.set_fallback_ntp_servers(fallback).await?;
        }
        let mut changes = timesyncd.subscribe();
        let shown = changes.wait_for(|state| {
            state.as_ref().is_none_or(|state| {
                servers.as_ref().is_none_or(|servers| &state.ntp_servers == servers)
                    && fallback_servers.as_ref().is_none_or(|fallback| &state.fallback_ntp_servers == fallback)
            })
        });
        let _ = tokio::time::timeout(SETTING_SETTLE, shown).await;
        self.services.systemd.restart_unit(TIMESYNCD_UNIT).await?;
        Ok(())
    }

    /// The loaded systemd services, by name, as systemd lists them now.
    pub async fn host_services(&self) -> Result<Vec<HostService>, base::Error> {
        let systemd = &self.services.systemd;
        if !systemd.is_available() {
            return Err(no_systemd());
        }
        let units = systemd.list_units().await.map_err(|error| match error {
            BusError::Unavailable(_) => no_systemd(),
            error => error.into(),
        })?;
        let mut services: Vec<HostService> = units
            .into_iter()
            .filter(|unit| unit.name.ends_with(".service") && unit.load_state == "loaded")
            .map(|unit| HostService { name: unit.name, description: unit.description, state: unit.active_state })
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(services)
    }

    /// Starts, stops, restarts or reloads one of the services `/host/services` lists; nothing
    /// else (no targets, mounts or sockets).
    pub async fn unit_action(&self, unit: &str, action: UnitAction) -> Result<(), base::Error> {
        if !self.host_services().await?.iter().any(|service| service.name == unit) {
            return Err(base::Error::invalid(format!("Unit '{unit}' not found")));
        }
        let systemd = &self.services.systemd;
        let verb = match action {
            UnitAction::Start => "Starting",
            UnitAction::Stop => "Stopping",
            UnitAction::Restart => "Restarting",
            UnitAction::Reload => "Reloading",
        };
        tracing::info!("{verb} local service {unit}");
        match action {
            UnitAction::Start => systemd.start_unit(unit).await?,
            UnitAction::Stop => systemd.stop_unit(unit).await?,
            UnitAction::Restart => systemd.restart_unit(unit).await?,
            UnitAction::Reload => systemd.reload_unit(unit).await?,
        };
        Ok(())
    }

    /// `/host/disks/default/usage`: walks the data directory, off the async workers.
    /// How a network storage mount's space is used (`/host/disks/<mount>/usage`): the mount
    /// must be active and still mounted. The walk runs to the kernel's own bound; the wait for
    /// it ends after a minute.
    pub async fn mount_usage(&self, name: &str, max_depth: u32) -> Result<DiskUsage, base::Error> {
        let mounts = self.mounts.get().ok_or_else(|| {
            base::Error::not_found(format!("No mount exists with name {name}")).with_key("mount_not_found_error")
        })?;
        let place = mounts.active_place(name)?;
        let owned = name.to_owned();
        let walk = tokio::task::spawn_blocking(move || disks::mount_usage(&owned, &place, max_depth));
        let usage = match tokio::time::timeout(MOUNT_USAGE_TIMEOUT, walk).await {
            Err(_) => {
                return Err(base::Error::invalid(format!("Timed out reading storage usage for mount {name}"))
                    .with_key("mount_usage_timeout_error"))
            }
            Ok(joined) => {
                joined.map_err(|error| base::Error::internal(format!("The disk usage walk failed: {error}")))?
            }
        };
        match usage {
            Ok(Some(usage)) => Ok(usage),
            Ok(None) => {
                Err(base::Error::invalid(format!("Could not read storage usage for mount {name}: no longer mounted"))
                    .with_key("mount_usage_not_mounted_error"))
            }
            Err(error) => Err(base::Error::invalid(format!("Could not read storage usage for mount {name}: {error}"))
                .with_key("mount_usage_read_error")),
        }
    }

    /// How mounts are found for their usage; set once by the daemon.
    pub fn set_mounts(&self, mounts: Arc<dyn MountedDisks>) {
        let _ = self.mounts.set(mounts);
    }

    pub async fn disk_usage(&self, max_depth: u32) -> Result<DiskUsage, base::Error> {
        let data = self.data.clone();
        let walk = tokio::task::spawn_blocking(move || {
            let known = [
                ("addons_data", data.addons_data()),
                ("addons_config", data.addon_configs()),
                ("media", data.media()),
                ("share", data.share()),
                ("backup", data.backup()),
                ("ssl", data.ssl()),
                ("homeassistant", data.homeassistant()),
            ];
            disks::usage(data.root(), &known, max_depth)
        });
        let usage =
            walk.await.map_err(|error| base::Error::internal(format!("The disk usage walk failed: {error}")))?;
        usage
            .map_err(|error| base::Error::internal(format!("Can't read the disk usage of the data directory: {error}")))
    }
}

/// The real Supervisor's answer when a power or settings call has no service to go to.
fn no_connection(feature: Feature) -> base::Error {
    base::Error::invalid(format!("No {} D-Bus connection available", feature.name()))
}

fn ntp_unavailable() -> base::Error {
    base::Error::not_found("Home Assistant OS 18.3 or newer required for NTP settings")
}

fn no_systemd() -> base::Error {
    base::Error::invalid("No systemd D-Bus connection available")
}

/// Keeps `life_time` current: read now, then again whenever UDisks2 comes, goes or sees its
/// disks change (the drive holding the data may only show up later).
async fn watch_life_time(
    services: Arc<HostServices>,
    data: DataDir,
    host_root: PathBuf,
    life_time: Arc<RwLock<Option<f64>>>,
) {
    let mut disks = services.udisks2.subscribe();
    loop {
        let read = read_life_time(&services, &data, &host_root).await;
        *life_time.write().expect("life time lock") = read;
        if disks.changed().await.is_err() {
            return;
        }
    }
}

/// The data disk's wear: NVMe through UDisks2, else eMMC; `None` for other disks.
async fn read_life_time(services: &HostServices, data: &DataDir, host_root: &Path) -> Option<f64> {
    let root = data.root().to_path_buf();
    let disk = tokio::task::spawn_blocking(move || disks::disk_of(&root)).await.ok()??;
    if let Some(used) = disks::nvme_life_time(&services.udisks2, &disk).await {
        return Some(used);
    }
    let host_root = host_root.to_path_buf();
    tokio::task::spawn_blocking(move || disks::emmc_life_time(&host_root, &disk)).await.ok()?
}
