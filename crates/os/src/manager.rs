//! [`OsManager`]: Home Assistant OS as the supervisor sees and drives it.
//!
//! Whether the host is Home Assistant OS, its version and its board come from the CPE name
//! hostnamed publishes, read live (so the `haos` job condition follows it too). Updates are RAUC
//! bundles downloaded from the manifest's `ota` URL and installed through RAUC; an installed
//! update waits for the next reboot (`version_pending`), as in the real Supervisor. Boot slots
//! are RAUC's; the data disk, swap and the board's LEDs are the OS-Agent's, with the disks from
//! UDisks2. Whatever reboots the host (a boot slot change, a data disk move or wipe) does so
//! only once everything before it succeeded.

use crate::cpe;
use crate::datadisk::{self, Disk};
use base::system::RaisedIssue;
use base::version::{at_least, is_newer};
use base::{DataDir, System};
use dbus::os_agent::{GreenState, RpiFirmwareState, SwapState, YellowState};
use dbus::rauc::Slot;
use dbus::udisks2::Block;
use dbus::HostServices;
use jobs::{Job, JobCondition, JobLimit, JobManager, JobSpec, Outcome};
use serde::{Deserialize, Serialize};
use state::{Persisted, Store};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use update_locks::{LockError, Locks};
use updater::Updater;

/// From this OS-Agent version on, the supervisor prepares the new data disk itself and the agent
/// only marks the move for the next boot; older agents do it all in `ChangeDevice`.
const MARK_DATA_MOVE_AGENT: &str = "1.5.0";
/// From this OS-Agent version on, the agent looks for the data disk again when asked at start.
const RELOAD_DEVICE_AGENT: &str = "1.2.0";
/// The OS-Agent version that first has the Raspberry Pi firmware object.
const RPI_FIRMWARE_AGENT: &str = "1.9.0";
/// The agent's boards with a Raspberry Pi bootloader EEPROM (the Yellow carries a CM4 or CM5).
const RPI_FIRMWARE_BOARDS: [&str; 3] = ["RaspberryPi4", "RaspberryPi5", "Yellow"];
/// Swap settings came with this OS version.
const SWAP_MIN_OS: &str = "15.0";
/// HAOS 18 renamed the unit that imports configuration from a USB stick.
const CONFIG_UNIT_RENAMED: &str = "18.0.rc1";
/// The share of an update's progress that is the download; RAUC's install is the rest.
const DOWNLOAD_SHARE: f64 = 50.0;
/// How long a bundle download may take, and its connection.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(180);

/// What the host's CPE name says about Home Assistant OS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsFacts {
    /// Whether the host is Home Assistant OS.
    pub available: bool,
    pub version: Option<String>,
    /// The board (`yellow`, `generic-x86-64`, ...); `supervised` on another OS that names itself.
    pub board: Option<String>,
}

impl OsFacts {
    fn from_cpe(name: &str) -> OsFacts {
        let Some(cpe) = cpe::parse(name) else { return OsFacts::default() };
        match cpe.product.as_deref() {
            Some("haos" | "hassos") => OsFacts { available: true, version: cpe.version, board: cpe.target_hardware },
            _ => OsFacts { available: false, version: None, board: Some("supervised".to_owned()) },
        }
    }
}

/// The LED settings of the board, kept so that they survive the reboots that the OS-Agent's do
/// not, and applied again at every start (all on by default), as the real Supervisor does.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
struct BoardSettings {
    disk_led: bool,
    heartbeat_led: bool,
    power_led: bool,
    activity_led: bool,
    system_health_led: bool,
}

impl Default for BoardSettings {
    fn default() -> Self {
        BoardSettings {
            disk_led: true,
            heartbeat_led: true,
            power_led: true,
            activity_led: true,
            system_health_led: true,
        }
    }
}

/// New LED settings of a Yellow; `None` leaves one as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct YellowLeds {
    pub disk_led: Option<bool>,
    pub heartbeat_led: Option<bool>,
    pub power_led: Option<bool>,
}

/// New LED settings of a Green; `None` leaves one as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct GreenLeds {
    pub activity_led: Option<bool>,
    pub power_led: Option<bool>,
    pub system_health_led: Option<bool>,
}

pub struct OsManager {
    services: Arc<HostServices>,
    updater: Arc<Updater>,
    system: Arc<System>,
    jobs: JobManager,
    data: DataDir,
    boards: Persisted<BoardSettings>,
    http: reqwest::Client,
    /// The version of an installed update that becomes active at the next reboot.
    pending: Mutex<Option<String>>,
    /// The add-ons' update locks: an add-on that holds its lock delays an OS update.
    addon_locks: Arc<Locks<String>>,
}

impl OsManager {
    pub fn new(
        store: &Store,
        services: Arc<HostServices>,
        updater: Arc<Updater>,
        system: Arc<System>,
        jobs: JobManager,
        data: DataDir,
        addon_locks: Arc<Locks<String>>,
    ) -> anyhow::Result<OsManager> {
        let boards = Persisted::load(store.section("os")?, "board")?;
        let http = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).timeout(DOWNLOAD_TIMEOUT).build()?;
        let manager =
            OsManager { services, updater, system, jobs, data, boards, http, pending: Mutex::new(None), addon_locks };
        manager.publish_conditions();
        Ok(manager)
    }

    /// At start: keeps the OS job conditions current from now on, and on Home Assistant OS
    /// marks the booted slot good (finding an update installed before a restart of the
    /// supervisor) and has the agent look for the data disk; puts the saved LED settings back.
    pub async fn load(self: Arc<Self>) {
        let watcher = Arc::clone(&self);
        tokio::spawn(async move { watcher.follow_host().await });
        let facts = self.facts();
        if facts.available {
            self.reload_data_disk().await;
            self.mark_healthy().await;
            tracing::info!(
                version = facts.version.as_deref().unwrap_or("unknown"),
                boot_slot = self.boot_slot().as_deref().unwrap_or("unknown"),
                "Home Assistant Operating System detected"
            );
        } else {
            tracing::info!("No Home Assistant Operating System found");
        }
        self.apply_board_settings().await;
    }

    /// The `haos` and `os_agent` job conditions, from what the host says now.
    fn publish_conditions(&self) {
        self.system.set_haos(self.facts().available);
        self.system.set_os_agent(self.services.os_agent.agent.is_available());
    }

    async fn follow_host(&self) {
        let mut hostname = self.services.hostname.subscribe();
        let mut agent = self.services.os_agent.agent.subscribe();
        loop {
            self.publish_conditions();
            let changed = tokio::select! {
                changed = hostname.changed() => changed,
                changed = agent.changed() => changed,
            };
            if changed.is_err() {
                return;
            }
        }
    }

    pub fn facts(&self) -> OsFacts {
        self.services
            .hostname
            .state()
            .map(|hostname| OsFacts::from_cpe(&hostname.operating_system_cpe_name))
            .unwrap_or_default()
    }

    /// The running OS version; `None` when this is not Home Assistant OS.
    pub fn version(&self) -> Option<String> {
        self.facts().version
    }

    pub fn board(&self) -> Option<String> {
        self.facts().board
    }

    /// The newest version this board may update to now, from the manifest.
    pub fn latest_version(&self) -> Option<String> {
        let unrestricted = self.latest_version_unrestricted()?;
        Some(latest(&unrestricted, &self.updater.versions().hassos_upgrade, self.version().as_deref()))
    }

    /// The newest version the manifest names for this board, whatever steps an update to it
    /// must take (`hassos-upgrade`): how far behind the running OS is.
    pub fn latest_version_unrestricted(&self) -> Option<String> {
        self.updater.versions().hassos_boards.get(&self.board()?).cloned()
    }

    /// The version of an installed update that waits for a reboot.
    pub fn version_pending(&self) -> Option<String> {
        self.pending.lock().expect("pending version lock").clone()
    }

    fn set_pending(&self, version: Option<String>) {
        *self.pending.lock().expect("pending version lock") = version;
    }

    pub fn need_update(&self) -> bool {
        let (Some(version), Some(latest)) = (self.version(), self.latest_version()) else { return false };
        is_newer(&latest, &version) && self.version_pending().is_none_or(|pending| pending != latest)
    }

    /// The bootname of the booted slot (`A`, `B`), as RAUC says.
    pub fn boot_slot(&self) -> Option<String> {
        self.services.rauc.state().map(|rauc| rauc.boot_slot).filter(|slot| !slot.is_empty())
    }

    /// RAUC's slots the bootloader starts (those with a bootname), on Home Assistant OS.
    pub async fn boot_slots(&self) -> Vec<Slot> {
        if !self.facts().available {
            return Vec::new();
        }
        match self.services.rauc.slots().await {
            Ok(slots) => slots.into_iter().filter(|slot| slot.bootname.is_some()).collect(),
            Err(error) => {
                tracing::debug!("no slot status from RAUC: {error}");
                Vec::new()
            }
        }
    }

    /// The disk the data partition is on.
    pub fn data_disk(&self) -> Option<Disk> {
        let current = self.services.os_agent.datadisk.state()?.current_device;
        datadisk::used(self.services.udisks2.state().as_ref(), &current)
    }

    /// The disks the data partition may move to.
    pub fn available_disks(&self) -> Vec<Disk> {
        self.services.udisks2.state().map(|disks| datadisk::available(&disks)).unwrap_or_default()
    }

    /// Updates the OS to `version` (the latest when `None`) as the job `os_manager_update`: the
    /// bundle is downloaded and installed with RAUC into the other slot, which becomes active at
    /// the next reboot.
    /// While an add-on holds its update lock the update is refused (409), unless `force`; the
    /// supervisor holds every add-on's lock while it installs, so the add-ons see it.
    pub async fn update(
        self: &Arc<Self>,
        version: Option<String>,
        background: bool,
        force: bool,
    ) -> Result<Outcome, base::Error> {
        let spec = JobSpec::new("os_manager_update")
            .conditions(&[
                JobCondition::Haos,
                JobCondition::Healthy,
                JobCondition::InternetSystem,
                JobCondition::Running,
                JobCondition::SupervisorUpdated,
            ])
            .limit(JobLimit::Once);
        let held = self.addon_locks.lock_all(force).await.map_err(|e| match e {
            LockError::Locked(why) => base::Error::conflict(format!(
                "An app holds its update lock, which delays an OS update; retry once it lets go, or force ({why})"
            ))
            .with_key("os_update_locked"),
            LockError::Failed(why) => base::Error::internal(why),
        })?;
        let os = Arc::clone(self);
        self.jobs
            .perform(spec, background, move |job| async move {
                let _held = held;
                os.update_in(job, version).await
            })
            .await
    }

    /// The work of an update.
    async fn update_in(&self, job: Job, version: Option<String>) -> Result<(), base::Error> {
        let version = version
            .or_else(|| self.latest_version())
            .ok_or_else(|| base::Error::invalid("No version information available, cannot update"))?;
        if self.version().as_deref() == Some(version.as_str()) {
            return Err(base::Error::invalid(format!("Version {version} is already installed")));
        }
        if self.version_pending().as_deref() == Some(version.as_str()) {
            return Err(base::Error::invalid(format!(
                "Version {version} is already installed, reboot the system to activate it"
            )));
        }
        let url = self.download_url(&version)?;
        let bundle = self.data.tmp().join(format!("hassos-{version}.raucb"));
        job.set_stage("download");
        let downloaded = self.download(&url, &bundle, &job).await;
        let installed = match downloaded {
            Ok(()) => {
                job.set_stage("install");
                self.install(&bundle, &job).await
            }
            Err(error) => Err(error),
        };
        if let Err(error) = tokio::fs::remove_file(&bundle).await {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(bundle = %bundle.display(), "can't remove the OS update bundle: {error}");
            }
        }
        if installed? == 0 {
            tracing::info!(%version, "Install of Home Assistant Operating System success; reboot required");
            self.set_pending(Some(version));
            return Ok(());
        }
        self.services.rauc.refresh().await;
        let last_error = self.services.rauc.state().map(|rauc| rauc.last_error).unwrap_or_default();
        // The failed install overwrote the other slot: an update waiting there is gone too.
        self.set_pending(None);
        Err(base::Error::invalid(format!("Home Assistant Operating System update failed with: {last_error}")))
    }

    /// The manifest's `ota` template filled in; bundles of OS 6 and later are named `haos`, and
    /// the `intel-nuc` board became `generic-x86-64` then.
    fn download_url(&self, version: &str) -> Result<String, base::Error> {
        let template =
            self.updater.versions().ota.ok_or_else(|| base::Error::invalid("Don't have an URL for OTA updates!"))?;
        let before_6 = is_newer("6.0", version);
        let mut board = self.board().unwrap_or_default();
        if board == "intel-nuc" && !before_6 {
            board = "generic-x86-64".to_owned();
        }
        let os_name = if before_6 { "hassos" } else { "haos" };
        Ok(template.replace("{version}", version).replace("{board}", &board).replace("{os_name}", os_name))
    }

    async fn download(&self, url: &str, bundle: &Path, job: &Job) -> Result<(), base::Error> {
        tracing::info!(%url, "fetching the OS update");
        let fetch_error =
            |error: reqwest::Error| base::Error::invalid(format!("Can't fetch OTA update from {url}: {error}"));
        let write_error = |error: std::io::Error| base::Error::invalid(format!("Can't write OTA file: {error}"));
        let mut response = self.http.get(url).send().await.map_err(fetch_error)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(base::Error::invalid(format!(
                "Error raised from OTA Webserver: {}",
                response.status().as_u16()
            )));
        }
        let total = response.content_length().filter(|total| *total > 0);
        let mut file = tokio::fs::File::create(bundle).await.map_err(write_error)?;
        let mut received = 0u64;
        loop {
            let chunk = tokio::select! {
                chunk = response.chunk() => chunk.map_err(fetch_error)?,
                () = job.cancelled() => return Err(base::Error::unavailable("The OS update was stopped: the supervisor is shutting down")),
            };
            let Some(chunk) = chunk else { break };
            file.write_all(&chunk).await.map_err(write_error)?;
            received += chunk.len() as u64;
            if let Some(total) = total {
                job.set_progress(download_progress(received, total));
            }
        }
        file.sync_all().await.map_err(write_error)?;
        tracing::info!(bundle = %bundle.display(), bytes = received, "OS update downloaded");
        Ok(())
    }

    /// RAUC's install of the bundle, its progress the job's; RAUC's result (0 for success).
    async fn install(&self, bundle: &Path, job: &Job) -> Result<i32, base::Error> {
        let progress = |step: &dbus::rauc::Progress| job.set_progress(install_progress(step.percentage));
        self.services
            .rauc
            .install(&bundle.to_string_lossy(), progress)
            .await
            .map_err(|error| base::Error::invalid(format!("Rauc communication error: {error}")))
    }

    /// Makes the slot with bootname `boot_name` the one to boot, and reboots into it (job
    /// `os_manager_set_boot_slot`).
    pub async fn set_boot_slot(&self, boot_name: &str) -> Result<(), base::Error> {
        let spec = JobSpec::new("os_manager_set_boot_slot").conditions(&[JobCondition::Haos]);
        self.jobs.run(spec, |_| self.set_boot_slot_in(boot_name)).await
    }

    async fn set_boot_slot_in(&self, boot_name: &str) -> Result<(), base::Error> {
        let slots = self.services.rauc.slots().await?;
        let slot = slots
            .iter()
            .find(|slot| slot.bootname.as_deref() == Some(boot_name))
            .ok_or_else(|| base::Error::invalid(format!("No boot slot {boot_name} on this system")))?;
        let (_, message) = self.services.rauc.mark("active", &slot.name).await.map_err(|error| {
            tracing::error!("marking {} active: {error}", slot.name);
            base::Error::invalid(format!("Can't mark {boot_name} as active!"))
        })?;
        tracing::info!("Rauc: {message}");
        tracing::info!("Rebooting into new boot slot now");
        self.reboot().await.map_err(|error| base::Error::invalid(format!("Can't reboot the host: {error}")))
    }

    /// Has the OS import configuration from a USB stick (`CONFIG` on a FAT/ext4 partition), as
    /// the job `os_manager_config_sync`.
    pub async fn config_sync(&self) -> Result<(), base::Error> {
        let spec = JobSpec::new("os_manager_config_sync").conditions(&[JobCondition::Haos]);
        self.jobs.run(spec, |_| self.config_sync_in()).await
    }

    async fn config_sync_in(&self) -> Result<(), base::Error> {
        tracing::info!("Synchronizing configuration from USB with Home Assistant Operating System");
        let renamed = self.version().is_some_and(|version| at_least(&version, CONFIG_UNIT_RENAMED));
        let unit = if renamed { "haos-config.service" } else { "hassos-config.service" };
        self.services.systemd.restart_unit(unit).await?;
        Ok(())
    }

    /// Swap settings need Home Assistant OS 15.0 or newer; elsewhere they are not found.
    fn check_swap(&self) -> Result<(), base::Error> {
        match self.version() {
            Some(version) if at_least(&version, SWAP_MIN_OS) => Ok(()),
            _ => Err(base::Error::not_found("Home Assistant OS 15.0 or newer required for swap settings")),
        }
    }

    pub fn swap(&self) -> Result<SwapState, base::Error> {
        self.check_swap()?;
        Ok(self.services.os_agent.swap.state().ok_or(dbus::Error::Unavailable("io.hass.os"))?)
    }

    pub async fn set_swap(&self, swap_size: Option<&str>, swappiness: Option<i32>) -> Result<(), base::Error> {
        self.check_swap()?;
        let swap = &self.services.os_agent.swap;
        if let Some(size) = swap_size {
            swap.set_swap_size(size).await?;
        }
        if let Some(swappiness) = swappiness {
            swap.set_swappiness(swappiness).await?;
        }
        Ok(())
    }

    /// Moves the data partition to `device` (a disk's id or device path) at the next boot, and
    /// reboots (job `data_disk_migrate`).
    pub async fn migrate_data_disk(&self, device: &str) -> Result<(), base::Error> {
        let spec = JobSpec::new("data_disk_migrate")
            .conditions(&[JobCondition::Haos, JobCondition::OsAgent, JobCondition::Healthy])
            .limit(JobLimit::Once);
        self.jobs.run(spec, |_| self.migrate_data_disk_in(device)).await
    }

    async fn migrate_data_disk_in(&self, device: &str) -> Result<(), base::Error> {
        let udisks = &self.services.udisks2;
        // UDisks2 does not announce everything (sizes after a resize, say): read it all first.
        udisks.refresh().await;
        let disks = udisks.state().unwrap_or_default();
        let mut targets =
            datadisk::available(&disks).into_iter().filter(|disk| disk.id == device || disk.dev_path == device);
        let (Some(target), None) = (targets.next(), targets.next()) else {
            return Err(base::Error::invalid(format!("'{device}' not a valid data disk target!")));
        };
        let used = self.data_disk();
        if let Some(used) = &used {
            // Another partition of that name would race the new one at boot.
            let conflicts: Vec<&str> = disks
                .blocks
                .iter()
                .filter(|block| {
                    block
                        .partition
                        .as_ref()
                        .is_some_and(|partition| partition.name == datadisk::EXTERNAL_DATA_PARTITION)
                        && block.device != used.dev_path
                        && block.drive.as_deref() != Some(target.drive_path.as_str())
                })
                .map(|block| block.device.as_str())
                .collect();
            if !conflicts.is_empty() {
                return Err(base::Error::invalid(format!(
                    "Partition(s) {} have name '{}' which prevents migration. Remove or rename them first.",
                    conflicts.join(", "),
                    datadisk::EXTERNAL_DATA_PARTITION
                )));
            }
        }
        let agent_version = self.services.os_agent.agent.state().map(|agent| agent.version).unwrap_or_default();
        if is_newer(MARK_DATA_MOVE_AGENT, &agent_version) {
            self.services
                .os_agent
                .datadisk
                .change_device(&target.dev_path)
                .await
                .map_err(|error| base::Error::invalid(format!("Can't move data partition to {device}: {error}")))?;
        } else {
            let current = used.as_ref().and_then(|used| disks.block(&used.block_path)).cloned();
            self.prepare_data_disk(device, &target, current.as_ref()).await?;
        }
        tracing::info!(%device, "data disk move prepared, rebooting");
        self.reboot()
            .await
            .map_err(|error| base::Error::invalid(format!("Can't restart device to finish disk migration: {error}")))
    }

    /// What newer agents leave to the supervisor: one data partition on the new disk, at least as
    /// big as the current disk, and the mark for the move at the next boot.
    async fn prepare_data_disk(&self, device: &str, target: &Disk, current: Option<&Block>) -> Result<(), base::Error> {
        let udisks = &self.services.udisks2;
        // First, so that a failure later leaves no two partitions of the same name behind.
        if let Some(current) = current {
            if current.partition.as_ref().is_some_and(|partition| partition.name == datadisk::EXTERNAL_DATA_PARTITION) {
                udisks.set_partition_name(&current.path, datadisk::OLD_EXTERNAL_DATA_PARTITION).await.map_err(
                    |error| {
                        base::Error::invalid(format!(
                            "Could not rename existing external data disk to prevent name conflict: {error}"
                        ))
                    },
                )?;
            }
        }
        udisks
            .format(&target.block_path, "gpt")
            .await
            .map_err(|error| base::Error::invalid(format!("Could not format {}: {error}", target.id)))?;
        udisks.refresh().await;
        let has_table = udisks
            .state()
            .is_some_and(|disks| disks.block(&target.block_path).is_some_and(|block| block.partition_table.is_some()));
        if !has_table {
            return Err(base::Error::invalid(
                "Block device does not contain a partition table after format, cannot create data partition",
            ));
        }
        let partition = udisks
            .create_partition(
                &target.block_path,
                0,
                0,
                datadisk::LINUX_DATA_PARTITION_TYPE,
                datadisk::EXTERNAL_DATA_PARTITION,
            )
            .await
            .map_err(|error| base::Error::invalid(format!("Could not create new data partition: {error}")))?;
        udisks.refresh().await;
        let size = udisks
            .state()
            .and_then(|disks| disks.block(&partition).map(|block| block.size))
            .ok_or_else(|| base::Error::invalid(format!("New data partition at {partition} is missing or unusable")))?;
        if let Some(current) = current.filter(|current| current.size > size) {
            return Err(base::Error::invalid(format!(
                "Cannot use {device} as data disk as it is smaller then the current one (new: {size}, current: {})",
                current.size
            )));
        }
        self.services
            .os_agent
            .datadisk
            .mark_data_move()
            .await
            .map_err(|error| base::Error::invalid(format!("Unable to create data disk migration marker: {error}")))
    }

    /// Has the OS wipe the data partition at the next boot, and reboots (job `data_disk_wipe`).
    pub async fn wipe_data_disk(&self) -> Result<(), base::Error> {
        let spec = JobSpec::new("data_disk_wipe")
            .conditions(&[JobCondition::Haos, JobCondition::OsAgent, JobCondition::Healthy])
            .limit(JobLimit::Once);
        self.jobs.run(spec, |_| self.wipe_data_disk_in()).await
    }

    async fn wipe_data_disk_in(&self) -> Result<(), base::Error> {
        tracing::info!("Scheduling wipe of data disk on next reboot");
        match self.services.os_agent.agent.schedule_wipe_device().await {
            Ok(true) => {}
            Ok(false) => {
                return Err(base::Error::invalid("Can't schedule wipe of data disk, check host logs for details"))
            }
            Err(error) => return Err(base::Error::invalid(format!("Can't schedule wipe of data disk: {error}"))),
        }
        tracing::info!("Rebooting the host to finish the wipe");
        self.reboot()
            .await
            .map_err(|error| base::Error::invalid(format!("Can't restart device to finish data disk wipe: {error}")))
    }

    /// The OS-Agent's board must be `name` (`Yellow`, `Green`).
    fn board_in_use(&self, name: &str) -> Result<(), base::Error> {
        let board = self.services.os_agent.boards.state().map(|boards| boards.board);
        if board.as_deref() == Some(name) {
            Ok(())
        } else {
            Err(base::Error::invalid(format!("{name} board is not in use")))
        }
    }

    pub fn yellow(&self) -> Result<YellowState, base::Error> {
        self.board_in_use("Yellow")?;
        Ok(self.services.os_agent.yellow.state().ok_or(dbus::Error::Unavailable("io.hass.os"))?)
    }

    pub fn green(&self) -> Result<GreenState, base::Error> {
        self.board_in_use("Green")?;
        Ok(self.services.os_agent.green.state().ok_or(dbus::Error::Unavailable("io.hass.os"))?)
    }

    pub async fn set_yellow(&self, leds: YellowLeds) -> Result<(), base::Error> {
        self.board_in_use("Yellow")?;
        let yellow = &self.services.os_agent.yellow;
        if let Some(on) = leds.disk_led {
            yellow.set_disk_led(on).await?;
        }
        if let Some(on) = leds.heartbeat_led {
            yellow.set_heartbeat_led(on).await?;
        }
        if let Some(on) = leds.power_led {
            yellow.set_power_led(on).await?;
        }
        self.boards.update(|saved| {
            saved.disk_led = leds.disk_led.unwrap_or(saved.disk_led);
            saved.heartbeat_led = leds.heartbeat_led.unwrap_or(saved.heartbeat_led);
            saved.power_led = leds.power_led.unwrap_or(saved.power_led);
        })?;
        Ok(())
    }

    pub async fn set_green(&self, leds: GreenLeds) -> Result<(), base::Error> {
        self.board_in_use("Green")?;
        let green = &self.services.os_agent.green;
        if let Some(on) = leds.activity_led {
            green.set_activity_led(on).await?;
        }
        if let Some(on) = leds.power_led {
            green.set_power_led(on).await?;
        }
        if let Some(on) = leds.system_health_led {
            green.set_user_led(on).await?;
        }
        self.boards.update(|saved| {
            saved.activity_led = leds.activity_led.unwrap_or(saved.activity_led);
            saved.power_led = leds.power_led.unwrap_or(saved.power_led);
            saved.system_health_led = leds.system_health_led.unwrap_or(saved.system_health_led);
        })?;
        Ok(())
    }

    /// The Raspberry Pi firmware state. Not found, as in the real Supervisor (whose CLI tells
    /// that apart), without an agent that manages it or on a board without the EEPROM.
    fn rpi_firmware(&self) -> Result<RpiFirmwareState, base::Error> {
        let agent = &self.services.os_agent;
        let version = agent.agent.state().map(|agent| agent.version);
        if !version.is_some_and(|version| at_least(&version, RPI_FIRMWARE_AGENT)) {
            return Err(base::Error::not_found(format!(
                "OS Agent {RPI_FIRMWARE_AGENT} or newer required for Raspberry Pi firmware management"
            )));
        }
        let board = agent.boards.state().map(|boards| boards.board).unwrap_or_default();
        match agent.rpi_firmware.state() {
            Some(firmware) if RPI_FIRMWARE_BOARDS.contains(&board.as_str()) => Ok(firmware),
            _ => Err(base::Error::not_found("Raspberry Pi firmware is not available on this board")),
        }
    }

    /// The Raspberry Pi firmware state, for `/os/boards/raspberrypi/firmware`. As the real one,
    /// reading it brings the resolution center's `rpi_firmware_update_blocked` issue in line
    /// with the agent (Core polls it, so the issue follows the boot device).
    pub fn rpi_firmware_info(&self) -> Result<RpiFirmwareState, base::Error> {
        let firmware = self.rpi_firmware()?;
        self.sync_rpi_firmware_blocked(firmware.update_blocked);
        Ok(firmware)
    }

    fn sync_rpi_firmware_blocked(&self, blocked: bool) {
        let issue = RaisedIssue {
            kind: "rpi_firmware_update_blocked",
            context: "system",
            reference: None,
            extra: None,
            suggestions: Vec::new(),
        };
        if blocked {
            self.system.raise_issue(issue);
        } else {
            self.system.withdraw_issue(issue);
        }
    }

    /// Refuses an update the boot device cannot take, before any job starts.
    fn check_rpi_firmware_update(&self) -> Result<(), base::Error> {
        if self.rpi_firmware()?.update_blocked {
            return Err(rpi_firmware_blocked());
        }
        Ok(())
    }

    /// Has the agent flash the bundled bootloader EEPROM (and VL805) firmware, which runs from
    /// the next reboot on, as the job `os_manager_update_raspberrypi_firmware`. The agent
    /// answers only when the flash is done, so the job's progress goes from 0 to 100 at once, as
    /// the real one's. A boot device that cannot take it is refused before the job (and the
    /// blocked issue raised); a flashed update raises `reboot_required`.
    pub async fn update_rpi_firmware(self: &Arc<Self>, background: bool) -> Result<Outcome, base::Error> {
        let firmware = self.rpi_firmware()?;
        if firmware.update_blocked {
            self.sync_rpi_firmware_blocked(true);
            return Err(rpi_firmware_blocked());
        }
        let spec = JobSpec::new("os_manager_update_raspberrypi_firmware")
            .conditions(&[JobCondition::Haos])
            .limit(JobLimit::Once);
        let os = Arc::clone(self);
        self.jobs.perform(spec, background, move |_| async move { os.update_rpi_firmware_in().await }).await
    }

    async fn update_rpi_firmware_in(&self) -> Result<(), base::Error> {
        self.check_rpi_firmware_update()?;
        self.services.os_agent.rpi_firmware.update().await.map_err(|error| {
            tracing::error!("Raspberry Pi firmware update failed: {error}");
            base::Error::invalid(format!(
                "Raspberry Pi firmware update failed: {error}. Check the Host logs for details."
            ))
        })?;
        tracing::info!("Raspberry Pi firmware update completed; reboot required");
        self.system.raise_issue(RaisedIssue {
            kind: "reboot_required",
            context: "system",
            reference: None,
            extra: None,
            suggestions: vec!["execute_reboot"],
        });
        Ok(())
    }

    /// The saved LED settings, set again on the board in use (the agent forgets them at boot).
    async fn apply_board_settings(&self) {
        let saved = self.boards.get();
        let applied = if self.board_in_use("Yellow").is_ok() {
            let leds = YellowLeds {
                disk_led: Some(saved.disk_led),
                heartbeat_led: Some(saved.heartbeat_led),
                power_led: Some(saved.power_led),
            };
            self.set_yellow(leds).await
        } else if self.board_in_use("Green").is_ok() {
            let leds = GreenLeds {
                activity_led: Some(saved.activity_led),
                power_led: Some(saved.power_led),
                system_health_led: Some(saved.system_health_led),
            };
            self.set_green(leds).await
        } else {
            return;
        };
        if let Err(error) = applied {
            tracing::warn!("can't set the board's LEDs as saved: {}", error.message);
        }
    }

    async fn reload_data_disk(&self) {
        let Some(agent) = self.services.os_agent.agent.state() else { return };
        if at_least(&agent.version, RELOAD_DEVICE_AGENT) {
            if let Err(error) = self.services.os_agent.datadisk.reload_device().await {
                tracing::warn!("the OS-Agent can't reload the data disk: {error}");
            }
        }
    }

    /// Marks the booted slot good (its boot counts as a success) and, unless an installed update
    /// waits in the other slot, active again.
    async fn mark_healthy(&self) {
        let rauc = &self.services.rauc;
        match rauc.mark("good", "booted").await {
            Ok((_, message)) => tracing::info!("Rauc: {message}"),
            Err(error) => {
                tracing::warn!("can't mark the booted slot as healthy: {error}");
                return;
            }
        }
        // Only now: RAUC's GRUB backend reports the booted slot as primary until it is marked good.
        self.detect_pending_update().await;
        if self.version_pending().is_none() {
            match rauc.mark("active", "booted").await {
                Ok((_, message)) => tracing::info!("Rauc: {message}"),
                Err(error) => tracing::warn!("can't mark the booted slot as active: {error}"),
            }
        }
    }

    /// An update installed before the supervisor restarted: RAUC's primary slot is not the
    /// booted one and holds another version.
    async fn detect_pending_update(&self) {
        let rauc = &self.services.rauc;
        let (primary, slots) = match (rauc.primary().await, rauc.slots().await) {
            (Ok(primary), Ok(slots)) => (primary, slots),
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!("can't read RAUC's primary slot: {error}");
                return;
            }
        };
        let Some(slot) = slots.iter().find(|slot| slot.name == primary) else { return };
        let (Some(bootname), Some(version)) = (&slot.bootname, &slot.bundle_version) else { return };
        if Some(bootname) == self.boot_slot().as_ref() || Some(version) == self.version().as_ref() {
            return;
        }
        tracing::info!(%version, "Home Assistant Operating System update is installed and pending a reboot to activate");
        self.set_pending(Some(version.clone()));
    }

    /// Reboots the host: through logind when it is there, else systemd.
    async fn reboot(&self) -> Result<(), dbus::Error> {
        if self.services.logind.is_available() {
            self.services.logind.reboot().await
        } else {
            self.services.systemd.reboot().await
        }
    }
}

/// An update's progress when `received` of `total` bytes of the bundle are here.
fn download_progress(received: u64, total: u64) -> f64 {
    DOWNLOAD_SHARE * (received.min(total) as f64 / total as f64)
}

/// An update's progress when RAUC's install is at `percentage`.
fn install_progress(percentage: i32) -> f64 {
    DOWNLOAD_SHARE + (100.0 - DOWNLOAD_SHARE) * f64::from(percentage.clamp(0, 100)) / 100.0
}

fn rpi_firmware_blocked() -> base::Error {
    base::Error::invalid("Raspberry Pi firmware update is unavailable on this boot device")
}

/// The version to update to: the board's latest, unless the upgrade map wants the last release
/// of the running major first, or the next major's last before anything newer.
fn latest(unrestricted: &str, upgrade: &BTreeMap<String, String>, current: Option<&str>) -> String {
    let major = current.and_then(|current| current.split('.').next()).filter(|major| major.parse::<u64>().is_ok());
    let (Some(current), Some(major)) = (current, major) else { return unrestricted.to_owned() };
    if let Some(last_in_major) = upgrade.get(major) {
        if current != last_in_major {
            return last_in_major.clone();
        }
        let next = major.parse::<u64>().map(|major| (major + 1).to_string()).unwrap_or_default();
        if let Some(last_in_next) = upgrade.get(&next) {
            return last_in_next.clone();
        }
    }
    unrestricted.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpe_name_says_whether_this_is_home_assistant_os() {
        let haos = OsFacts::from_cpe("cpe:2.3:o:home-assistant:haos:16.0:*:production:*:*:*:yellow:*");
        assert_eq!(haos, OsFacts { available: true, version: Some("16.0".into()), board: Some("yellow".into()) });
        let other = OsFacts::from_cpe("cpe:/o:fedoraproject:fedora:39");
        assert_eq!(other, OsFacts { available: false, version: None, board: Some("supervised".into()) });
        assert_eq!(OsFacts::from_cpe(""), OsFacts::default());
    }

    #[test]
    fn the_upgrade_map_routes_through_the_last_release_of_each_major() {
        let upgrade = BTreeMap::from([("14".to_owned(), "14.2".to_owned()), ("15".to_owned(), "15.2".to_owned())]);
        assert_eq!(latest("16.1", &upgrade, Some("14.0")), "14.2");
        assert_eq!(latest("16.1", &upgrade, Some("14.2")), "15.2");
        assert_eq!(latest("16.1", &upgrade, Some("15.2")), "16.1");
        assert_eq!(latest("16.1", &upgrade, Some("16.0")), "16.1");
        assert_eq!(latest("16.1", &BTreeMap::new(), Some("14.0")), "16.1");
        assert_eq!(latest("16.1", &upgrade, None), "16.1");
    }

    #[test]
    fn the_download_is_the_first_half_of_an_update_and_raucs_install_the_second() {
        assert_eq!(download_progress(0, 200), 0.0);
        assert_eq!(download_progress(100, 200), 25.0);
        assert_eq!(download_progress(200, 200), 50.0);
        assert_eq!(download_progress(300, 200), 50.0, "more than announced");
        assert_eq!(install_progress(0), 50.0);
        assert_eq!(install_progress(40), 70.0);
        assert_eq!(install_progress(100), 100.0);
        assert_eq!(install_progress(-1), 50.0);
    }

    #[test]
    fn minimum_versions() {
        assert!(at_least("16.0", "15.0"));
        assert!(at_least("15.0", "15.0"));
        assert!(!at_least("14.2", "15.0"));
        assert!(at_least("18.0.rc1", "18.0.rc1"));
        assert!(at_least("18.0", "18.0.rc1"));
        assert!(!at_least("17.3", "18.0.rc1"));
        assert!(!at_least("dev", "15.0"));
    }

    /// A manager on no bus at all, with the job conditions it needs to pass but `Haos` as given.
    async fn manager(dir: &std::path::Path, haos: bool) -> (Arc<OsManager>, JobManager) {
        let data = DataDir::new(dir);
        data.ensure_layout().unwrap();
        let store = Store::open(&data.database()).unwrap();
        let system = Arc::new(System::default());
        system.set_state(base::CoreState::Running);
        let jobs = JobManager::new(&store, Arc::clone(&system), data.clone()).unwrap();
        let updater = Updater::new(&store, Arc::clone(&system), jobs.clone(), "/nonexistent/{channel}.json", "ova");
        let services = Arc::new(HostServices::watch(None).await);
        let locks = Arc::new(Locks::new(data.addon_locks()));
        let updater = Arc::new(updater.unwrap());
        let os = OsManager::new(&store, services, updater, Arc::clone(&system), jobs.clone(), data, locks);
        system.set_haos(haos);
        system.set_internet(true);
        (Arc::new(os.unwrap()), jobs)
    }

    #[tokio::test]
    async fn operations_called_from_code_run_as_their_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let (os, jobs) = manager(dir.path(), false).await;
        let refused = os.update(None, true, false).await.unwrap_err();
        assert_eq!(refused.message, "'os_manager_update' blocked from execution, no Home Assistant OS available");
        let refused = os.set_boot_slot("A").await.unwrap_err();
        assert_eq!(
            refused.message,
            "'os_manager_set_boot_slot' blocked from execution, no Home Assistant OS available"
        );
        let refused = os.config_sync().await.unwrap_err();
        assert_eq!(refused.message, "'os_manager_config_sync' blocked from execution, no Home Assistant OS available");
        assert_eq!(os.migrate_data_disk("sda").await.unwrap_err().error_key.as_deref(), Some("job_condition_failed"));
        assert!(os.wipe_data_disk().await.unwrap_err().message.starts_with("'data_disk_wipe' blocked"));
        assert!(jobs.jobs().is_empty(), "refused jobs are not recorded");
    }

    #[tokio::test]
    async fn an_update_from_code_keeps_its_once_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (os, jobs) = manager(dir.path(), true).await;
        let first = os.update(Some("99.0".to_owned()), true, false).await.unwrap();
        let Outcome::Started(job_id) = first else { panic!("a background update is started: {first:?}") };
        let second = os.update(Some("99.0".to_owned()), true, false).await.unwrap_err();
        assert_eq!(second.error_key.as_deref(), Some("job_group_busy"), "{}", second.message);
        assert_eq!(jobs.job(&job_id).unwrap().name, "os_manager_update");
    }
}
