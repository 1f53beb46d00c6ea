//! The `/hardware` API group: the devices and drives of the host, and its audio devices.

use crate::audio::Audio;
use crate::devices::Device;
use crate::drives::Drive;
use crate::HardwareManager;
use actix_web::{get, web};
use http_api::routes::{INFO, MANAGER};
use http_api::Routes;
use http_api::{ok, ApiError, ApiResult};
use serde::Serialize;
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("hardware", "The hardware");
    routes.group("/hardware").route(INFO, hardware_info).route(MANAGER, hardware_audio);
}

#[derive(Serialize, ToSchema)]
pub struct HardwareInfo {
    /// Every device with a node under `/dev`, from sysfs and udev.
    devices: Vec<Device>,
    /// The drives UDisks2 knows (none without UDisks2).
    drives: Vec<Drive>,
}

#[derive(Serialize, ToSchema)]
pub struct HardwareAudio {
    audio: Audio,
}

/// Runs blocking file system reads off the server's threads.
async fn blocking<T: Send + 'static>(read: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    web::block(read).await.map_err(|error| ApiError::internal(format!("Can't read the hardware: {error}")))
}

/// The host's devices and drives.
#[utoipa::path(tag = "hardware", responses((status = 200, body = http_api::envelope::Envelope<HardwareInfo>)))]
#[get("/info")]
async fn hardware_info(hardware: web::Data<HardwareManager>) -> ApiResult {
    let reader = hardware.clone();
    let devices = blocking(move || reader.devices()).await?;
    ok(HardwareInfo { devices, drives: hardware.drives() })
}

/// The audio devices: inputs and outputs, each name with its description.
#[utoipa::path(tag = "hardware", responses((status = 200, body = http_api::envelope::Envelope<HardwareAudio>)))]
#[get("/audio")]
async fn hardware_audio(hardware: web::Data<HardwareManager>) -> ApiResult {
    ok(HardwareAudio { audio: hardware.audio().await })
}
