//! The `/os` API group.

use actix_web::web;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(tags((name = "os", description = "Home Assistant OS")))]
pub struct OsApi;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
