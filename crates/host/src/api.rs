//! The `/host` API group.

use actix_web::web;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(tags((name = "host", description = "The host machine")))]
pub struct HostApi;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
