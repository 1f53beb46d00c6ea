//! The `/hardware` API group.

use actix_web::web;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(tags((name = "hardware", description = "The hardware")))]
pub struct HardwareApi;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
