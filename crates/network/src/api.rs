//! The `/network` API group.

use actix_web::web;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(tags((name = "network", description = "The network")))]
pub struct NetworkApi;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
