//! The `/os` API group: Home Assistant OS's version and updates, boot slots, configuration
//! import, swap, data disk and board settings. Everything that changes the host runs as a job
//! under the real Supervisor's job name and conditions, so that on another OS it is refused
//! with their message (`... no Home Assistant OS available`).

use crate::datadisk::Disk;
use crate::fields::Fields;
use crate::manager::{GreenLeds, YellowLeds};
use crate::OsManager;
use actix_web::{get, post, web};
use http_api::body::Body;
use http_api::routes::{ADMIN, INFO, MANAGER};
use http_api::Routes;
use http_api::{ok, ok_empty, ApiError, ApiResult};
use jobs::api::{answer, JobStarted};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("os", "Home Assistant OS");
    routes
        .group("/os")
        .route(INFO, os_info)
        .route(MANAGER, os_update)
        .route(MANAGER, os_boot_slot)
        .route(MANAGER, os_config_sync)
        .route(MANAGER, os_config_swap)
        .route(MANAGER, os_config_swap_options)
        .route(MANAGER, os_datadisk_list)
        .route(MANAGER, os_datadisk_move)
        .route(ADMIN, os_datadisk_wipe)
        .route(MANAGER, os_boards_yellow)
        .route(MANAGER, os_boards_yellow_options)
        .route(MANAGER, os_boards_green)
        .route(MANAGER, os_boards_green_options)
        .route(MANAGER, os_boards_raspberrypi_firmware)
        .route(MANAGER, os_boards_raspberrypi_firmware_update)
        .route(MANAGER, os_boards_board);
}

#[derive(Serialize, ToSchema)]
pub struct OsInfo {
    /// The running version, or the installed one that waits for a reboot; `null` when this is
    /// not Home Assistant OS.
    version: Option<String>,
    /// The newest version this board may update to now.
    version_latest: Option<String>,
    /// An installed update that becomes active at the next reboot.
    version_pending: Option<String>,
    update_available: bool,
    board: Option<String>,
    /// The booted slot (`A` or `B`).
    boot: Option<String>,
    /// The id of the disk holding the data partition.
    data_disk: Option<String>,
    /// By bootname.
    boot_slots: BTreeMap<String, BootSlotInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct BootSlotInfo {
    /// `booted`, `active` or `inactive`.
    state: String,
    /// `good` or `bad`.
    status: Option<String>,
    version: Option<String>,
}

/// What the OS is, its versions and slots.
#[utoipa::path(tag = "os", responses((status = 200, body = http_api::envelope::Envelope<OsInfo>)))]
#[get("/info")]
async fn os_info(os: web::Data<OsManager>) -> ApiResult {
    let boot_slots = os
        .boot_slots()
        .await
        .into_iter()
        .filter_map(|slot| {
            let info = BootSlotInfo { state: slot.state, status: slot.boot_status, version: slot.bundle_version };
            Some((slot.bootname?, info))
        })
        .collect();
    let version_pending = os.version_pending();
    ok(OsInfo {
        // Clients that compare `version` with `version_latest` must not offer an installed update again.
        version: version_pending.clone().or_else(|| os.version()),
        version_latest: os.latest_version(),
        version_pending,
        update_available: os.need_update(),
        board: os.board(),
        boot: os.boot_slot(),
        data_disk: os.data_disk().map(|disk| disk.id),
        boot_slots,
    })
}

#[derive(ToSchema)]
pub struct OsUpdate {
    /// The version to install (a string or a number); the latest by default.
    version: Option<String>,
    /// Answer at once with `{"job_id": ...}` instead of waiting for the job.
    background: Option<bool>,
    /// Update even while an add-on holds its update lock (`/tmp/balena/updates.lock`).
    force: Option<bool>,
}

impl OsUpdate {
    fn parse(body: Map<String, Value>) -> Result<OsUpdate, ApiError> {
        let fields = Fields::new(body, &["version", "background", "force"])?;
        Ok(OsUpdate {
            version: fields.version("version")?,
            background: fields.get("background")?,
            force: fields.get("force")?,
        })
    }
}

/// Downloads and installs an OS update with RAUC; it becomes active at the next reboot.
#[utoipa::path(
    tag = "os",
    request_body = Option<OsUpdate>,
    responses(
        (status = 200, description = "Installed, or started with `background`", body = http_api::envelope::Envelope<JobStarted>),
        (status = 400, body = http_api::envelope::ErrorEnvelope),
        (status = 409, description = "An add-on holds its update lock", body = http_api::envelope::ErrorEnvelope)
    )
)]
#[post("/update")]
async fn os_update(os: web::Data<OsManager>, body: Body<Map<String, Value>>) -> ApiResult {
    let body = OsUpdate::parse(body.into_inner())?;
    answer(os.update(body.version, body.background.unwrap_or(false), body.force.unwrap_or(false)).await?)
}

/// A boot slot's name.
#[derive(Clone, Copy, ToSchema)]
pub enum BootSlot {
    A,
    B,
}

impl BootSlot {
    fn name(self) -> &'static str {
        match self {
            BootSlot::A => "A",
            BootSlot::B => "B",
        }
    }
}

#[derive(ToSchema)]
pub struct BootSlotBody {
    boot_slot: BootSlot,
}

impl BootSlotBody {
    fn parse(body: Map<String, Value>) -> Result<BootSlotBody, ApiError> {
        const EXPECTED: &str = "expected BootSlot or one of 'A', 'B'";
        let fields = Fields::new(body, &["boot_slot"])?;
        let boot_slot = match fields.require::<String>("boot_slot", EXPECTED)?.as_str() {
            "A" => BootSlot::A,
            "B" => BootSlot::B,
            other => return Err(ApiError::bad_request(format!("Invalid boot_slot '{other}': {EXPECTED}"))),
        };
        Ok(BootSlotBody { boot_slot })
    }
}

/// Makes a slot the one to boot and reboots into it.
#[utoipa::path(tag = "os", request_body = BootSlotBody, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/boot-slot")]
async fn os_boot_slot(os: web::Data<OsManager>, body: Body<Map<String, Value>>) -> ApiResult {
    let slot = BootSlotBody::parse(body.into_inner())?.boot_slot;
    os.set_boot_slot(slot.name()).await?;
    ok_empty()
}

/// Imports host configuration from a USB stick.
#[utoipa::path(tag = "os", request_body(content = Option<Object>, description = "No keys: `{}` when given"),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/config/sync")]
async fn os_config_sync(os: web::Data<OsManager>, body: Body<Map<String, Value>>) -> ApiResult {
    Fields::new(body.into_inner(), &[])?;
    os.config_sync().await?;
    ok_empty()
}

#[derive(Serialize, ToSchema)]
pub struct SwapInfo {
    /// E.g. `2G`; empty while the OS default applies.
    swap_size: String,
    swappiness: i32,
}

/// The swap settings (Home Assistant OS 15.0 or newer).
#[utoipa::path(tag = "os", responses((status = 200, body = http_api::envelope::Envelope<SwapInfo>), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[get("/config/swap")]
async fn os_config_swap(os: web::Data<OsManager>) -> ApiResult {
    let swap = os.swap()?;
    ok(SwapInfo { swap_size: swap.swap_size, swappiness: swap.swappiness })
}

#[derive(ToSchema)]
pub struct SwapOptions {
    /// A number of bytes with an optional unit: `K`, `M`, `G`, optionally followed by `B` or
    /// `iB` (`2G`, `512MiB`); below 40K swap is off.
    swap_size: Option<String>,
    /// 0 to 200.
    swappiness: Option<i32>,
}

impl SwapOptions {
    fn parse(body: Map<String, Value>) -> Result<SwapOptions, ApiError> {
        let fields = Fields::new(body, &["swap_size", "swappiness"])?;
        let swap_size: Option<String> = fields.get("swap_size")?;
        if let Some(size) = swap_size.as_deref().filter(|size| !swap_size_is_valid(size)) {
            return Err(ApiError::bad_request(format!(
                "Invalid swap_size '{size}': a number of bytes with an optional unit K, M or G (e.g. 2G)"
            )));
        }
        let swappiness: Option<i64> = fields.get("swappiness")?;
        let swappiness = swappiness
            .map(|value| {
                i32::try_from(value).ok().filter(|value| (0..=200).contains(value)).ok_or_else(|| {
                    ApiError::bad_request(format!("Invalid swappiness {value}: must be between 0 and 200"))
                })
            })
            .transpose()?;
        Ok(SwapOptions { swap_size, swappiness })
    }
}

/// The real Supervisor's swap size format: digits, then optionally `K`, `M` or `G` (with `B` or
/// `iB` after it) or just `B`, in any case.
fn swap_size_is_valid(size: &str) -> bool {
    let digits = size.bytes().take_while(u8::is_ascii_digit).count();
    let unit = size[digits..].to_ascii_uppercase();
    digits > 0 && ["", "B", "K", "M", "G", "KB", "MB", "GB", "KIB", "MIB", "GIB"].contains(&unit.as_str())
}

/// Changes the swap settings (Home Assistant OS 15.0 or newer); they apply after a reboot.
#[utoipa::path(tag = "os", request_body = SwapOptions, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[post("/config/swap")]
async fn os_config_swap_options(os: web::Data<OsManager>, body: Body<Map<String, Value>>) -> ApiResult {
    let options = SwapOptions::parse(body.into_inner())?;
    os.set_swap(options.swap_size.as_deref(), options.swappiness).await?;
    ok_empty()
}

#[derive(Serialize, ToSchema)]
pub struct DataDiskList {
    /// The ids of the disks the data partition may move to.
    devices: Vec<String>,
    disks: Vec<Disk>,
}

/// The disks the data partition may move to.
#[utoipa::path(tag = "os", responses((status = 200, body = http_api::envelope::Envelope<DataDiskList>)))]
#[get("/datadisk/list")]
async fn os_datadisk_list(os: web::Data<OsManager>) -> ApiResult {
    let disks = os.available_disks();
    ok(DataDiskList { devices: disks.iter().map(|disk| disk.id.clone()).collect(), disks })
}

#[derive(ToSchema)]
pub struct MoveBody {
    /// The id or device path of the disk to move the data partition to.
    device: String,
}

impl MoveBody {
    fn parse(body: Map<String, Value>) -> Result<MoveBody, ApiError> {
        let fields = Fields::new(body, &["device"])?;
        Ok(MoveBody { device: fields.require("device", "the id or device path of a disk")? })
    }
}

/// Moves the data partition to another disk at the next boot, and reboots.
#[utoipa::path(tag = "os", request_body = MoveBody, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/datadisk/move")]
async fn os_datadisk_move(os: web::Data<OsManager>, body: Body<Map<String, Value>>) -> ApiResult {
    let device = MoveBody::parse(body.into_inner())?.device;
    os.migrate_data_disk(&device).await?;
    ok_empty()
}

/// Wipes the data partition (every setting and all data) at the next boot, and reboots. Admin only.
#[utoipa::path(tag = "os", request_body(content = Option<Object>, description = "No keys: `{}` when given"),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 403, body = http_api::envelope::ErrorEnvelope)))]
#[post("/datadisk/wipe")]
async fn os_datadisk_wipe(os: web::Data<OsManager>, body: Body<Map<String, Value>>) -> ApiResult {
    Fields::new(body.into_inner(), &[])?;
    os.wipe_data_disk().await?;
    ok_empty()
}

#[derive(Serialize, ToSchema)]
pub struct YellowInfo {
    disk_led: bool,
    heartbeat_led: bool,
    power_led: bool,
}

/// The Home Assistant Yellow's LEDs.
#[utoipa::path(tag = "os", responses((status = 200, body = http_api::envelope::Envelope<YellowInfo>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[get("/boards/yellow")]
async fn os_boards_yellow(os: web::Data<OsManager>) -> ApiResult {
    let yellow = os.yellow()?;
    ok(YellowInfo { disk_led: yellow.disk_led, heartbeat_led: yellow.heartbeat_led, power_led: yellow.power_led })
}

#[derive(ToSchema)]
pub struct YellowOptions {
    disk_led: Option<bool>,
    heartbeat_led: Option<bool>,
    power_led: Option<bool>,
}

impl YellowOptions {
    fn parse(body: Map<String, Value>) -> Result<YellowOptions, ApiError> {
        let fields = Fields::new(body, &["disk_led", "heartbeat_led", "power_led"])?;
        Ok(YellowOptions {
            disk_led: fields.get("disk_led")?,
            heartbeat_led: fields.get("heartbeat_led")?,
            power_led: fields.get("power_led")?,
        })
    }
}

/// Switches the Yellow's LEDs; the setting is kept and applied again at every start.
#[utoipa::path(tag = "os", request_body = YellowOptions, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/boards/yellow")]
async fn os_boards_yellow_options(os: web::Data<OsManager>, body: Body<Map<String, Value>>) -> ApiResult {
    let options = YellowOptions::parse(body.into_inner())?;
    let leds =
        YellowLeds { disk_led: options.disk_led, heartbeat_led: options.heartbeat_led, power_led: options.power_led };
    os.set_yellow(leds).await?;
    ok_empty()
}

#[derive(Serialize, ToSchema)]
pub struct GreenInfo {
    activity_led: bool,
    power_led: bool,
    system_health_led: bool,
}

/// The Home Assistant Green's LEDs.
#[utoipa::path(tag = "os", responses((status = 200, body = http_api::envelope::Envelope<GreenInfo>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[get("/boards/green")]
async fn os_boards_green(os: web::Data<OsManager>) -> ApiResult {
    let green = os.green()?;
    ok(GreenInfo { activity_led: green.activity_led, power_led: green.power_led, system_health_led: green.user_led })
}

#[derive(ToSchema)]
pub struct GreenOptions {
    activity_led: Option<bool>,
    power_led: Option<bool>,
    system_health_led: Option<bool>,
}

impl GreenOptions {
    fn parse(body: Map<String, Value>) -> Result<GreenOptions, ApiError> {
        let fields = Fields::new(body, &["activity_led", "power_led", "system_health_led"])?;
        Ok(GreenOptions {
            activity_led: fields.get("activity_led")?,
            power_led: fields.get("power_led")?,
            system_health_led: fields.get("system_health_led")?,
        })
    }
}

/// Switches the Green's LEDs; the setting is kept and applied again at every start.
#[utoipa::path(tag = "os", request_body = GreenOptions, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/boards/green")]
async fn os_boards_green_options(os: web::Data<OsManager>, body: Body<Map<String, Value>>) -> ApiResult {
    let options = GreenOptions::parse(body.into_inner())?;
    let leds = GreenLeds {
        activity_led: options.activity_led,
        power_led: options.power_led,
        system_health_led: options.system_health_led,
    };
    os.set_green(leds).await?;
    ok_empty()
}

/// The Raspberry Pi bootloader EEPROM firmware, as the OS-Agent reports it.
#[derive(Serialize, ToSchema)]
pub struct RpiFirmwareInfo {
    /// The installed firmware: the bootloader's build time in seconds since the epoch, followed
    /// by `-<VL805 revision>` on boards with that USB controller; empty when the agent could not
    /// read it.
    current_version: String,
    /// The firmware bundled with the OS, in the same form.
    latest_version: String,
    update_available: bool,
    /// The boot device cannot take an update.
    update_blocked: bool,
    /// An update was applied and runs after the next reboot.
    update_pending: bool,
    /// Why the update is blocked (`unsupported_boot_device`, ...); `null` when it is not.
    blocked_reason: Option<String>,
}

/// The Raspberry Pi firmware of a Raspberry Pi 4 or 5 or a Yellow (OS-Agent 1.9.0 or newer).
#[utoipa::path(
    tag = "os",
    responses(
        (status = 200, body = http_api::envelope::Envelope<RpiFirmwareInfo>),
        (status = 404, description = "Not this board, or an older OS-Agent", body = http_api::envelope::ErrorEnvelope)
    )
)]
#[get("/boards/raspberrypi/firmware")]
async fn os_boards_raspberrypi_firmware(os: web::Data<OsManager>) -> ApiResult {
    let firmware = os.rpi_firmware_info()?;
    ok(RpiFirmwareInfo {
        current_version: firmware.current_version,
        latest_version: firmware.latest_version,
        update_available: firmware.update_available,
        update_blocked: firmware.update_blocked,
        update_pending: firmware.update_pending,
        blocked_reason: Some(firmware.blocked_reason).filter(|reason| !reason.is_empty()),
    })
}

#[derive(ToSchema)]
pub struct RpiFirmwareUpdateBody {
    /// Answer at once with `{"job_id": ...}` instead of waiting for the job.
    background: Option<bool>,
}

impl RpiFirmwareUpdateBody {
    fn parse(body: Map<String, Value>) -> Result<RpiFirmwareUpdateBody, ApiError> {
        Ok(RpiFirmwareUpdateBody { background: Fields::new(body, &["background"])?.get("background")? })
    }
}

/// Flashes the firmware bundled with the OS (bootloader EEPROM, and VL805 where present) as the
/// job `os_manager_update_raspberrypi_firmware`; it runs after the next reboot.
#[utoipa::path(
    tag = "os",
    request_body = Option<RpiFirmwareUpdateBody>,
    responses(
        (status = 200, description = "Applied, or started with `background`", body = http_api::envelope::Envelope<JobStarted>),
        (status = 400, description = "Blocked on this boot device, or the agent failed", body = http_api::envelope::ErrorEnvelope),
        (status = 404, description = "Not this board, or an older OS-Agent", body = http_api::envelope::ErrorEnvelope)
    )
)]
#[post("/boards/raspberrypi/firmware/update")]
async fn os_boards_raspberrypi_firmware_update(os: web::Data<OsManager>, body: Body<Map<String, Value>>) -> ApiResult {
    let body = RpiFirmwareUpdateBody::parse(body.into_inner())?;
    answer(os.update_rpi_firmware(body.background.unwrap_or(false)).await?)
}

/// Any other board: nothing to show or set, an empty answer when it is this machine's board.
#[utoipa::path(
    tag = "os",
    params(("board" = String, Path, description = "The `board` of `/os/info`")),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope))
)]
#[get("/boards/{board}")]
async fn os_boards_board(os: web::Data<OsManager>, board: web::Path<String>) -> ApiResult {
    if os.board().as_deref() != Some(board.as_str()) {
        return Err(ApiError::bad_request(format!("{board} board is not in use")));
    }
    ok_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn swap_sizes_follow_the_real_format() {
        for good in ["0", "2G", "2g", "512MiB", "1024KB", "100B", "40k"] {
            assert!(swap_size_is_valid(good), "{good}");
        }
        for bad in ["", "G", "2T", "2 G", "-1", "33%", "2GiBs"] {
            assert!(!swap_size_is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn swap_options_name_the_field_they_refuse() {
        let options = SwapOptions::parse(body(json!({"swap_size": "2G", "swappiness": 200}))).unwrap();
        assert_eq!((options.swap_size.as_deref(), options.swappiness), (Some("2G"), Some(200)));
        let refused = |value| SwapOptions::parse(body(value)).err().unwrap().error.message;
        assert!(refused(json!({"swappiness": 201})).starts_with("Invalid swappiness 201"));
        assert!(refused(json!({"swappiness": -1})).starts_with("Invalid swappiness -1"));
        assert!(refused(json!({"swappiness": "high"})).starts_with("Invalid swappiness"));
        assert!(refused(json!({"swap_size": "33%"})).starts_with("Invalid swap_size '33%'"));
        assert!(refused(json!({"swap_size": 2})).starts_with("Invalid swap_size"));
        assert!(refused(json!({"size": "2G"})).contains("unknown field `size`"));
    }

    #[test]
    fn boot_slots_are_a_or_b() {
        assert_eq!(BootSlotBody::parse(body(json!({"boot_slot": "B"}))).unwrap().boot_slot.name(), "B");
        let refused = BootSlotBody::parse(body(json!({"boot_slot": "C"}))).err().unwrap();
        assert_eq!(refused.error.message, "Invalid boot_slot 'C': expected BootSlot or one of 'A', 'B'");
        assert!(BootSlotBody::parse(body(json!({}))).err().unwrap().error.message.starts_with("Missing boot_slot"));
    }

    #[test]
    fn update_versions_may_be_numbers() {
        let update = OsUpdate::parse(body(json!({"version": 16.1, "background": true}))).unwrap();
        assert_eq!((update.version.as_deref(), update.background), (Some("16.1"), Some(true)));
        assert!(OsUpdate::parse(body(json!({"background": "yes"}))).is_err());
    }

    #[test]
    fn led_options_must_be_booleans() {
        let options = YellowOptions::parse(body(json!({"disk_led": false}))).unwrap();
        assert_eq!((options.disk_led, options.heartbeat_led, options.power_led), (Some(false), None, None));
        let refused = GreenOptions::parse(body(json!({"power_led": "off"}))).err().unwrap();
        assert!(refused.error.message.starts_with("Invalid power_led"), "{}", refused.error.message);
    }
}
