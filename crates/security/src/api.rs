//! The `/security` API group: the security options of the whole system.

use crate::manager::SecurityChange;
pub use crate::manager::{SecurityInfo, SecurityManager};
use actix_web::{get, post, web};
use http_api::body::Options;
use http_api::routes::{INFO, MANAGER};
use http_api::Routes;
use http_api::{ok, ok_empty, ApiResult};
use serde::Deserialize;
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("security", "Security options");
    routes
        .group("/security")
        .route(INFO, security_info)
        .route(MANAGER, security_options)
        .route(MANAGER, security_integrity);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityOptions {
    content_trust: Option<bool>,
    pwned: Option<bool>,
    force_security: Option<bool>,
}

#[utoipa::path(tag = "security", responses((status = 200, body = http_api::envelope::Envelope<SecurityInfo>)))]
#[get("/info")]
async fn security_info(security: web::Data<SecurityManager>) -> ApiResult {
    ok(security.options())
}

#[utoipa::path(tag = "security", request_body = SecurityOptions, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/options")]
async fn security_options(security: web::Data<SecurityManager>, body: Options<SecurityOptions>) -> ApiResult {
    let SecurityOptions { content_trust, pwned, force_security } = body.into_inner();
    security.update(SecurityChange { content_trust, pwned, force_security })?;
    ok_empty()
}

/// The image integrity check: removed from the real Supervisor with CodeNotary, so it answers
/// 410 as the real one does.
#[utoipa::path(tag = "security", responses((status = 410, body = http_api::envelope::ErrorEnvelope)))]
#[post("/integrity")]
async fn security_integrity(security: web::Data<SecurityManager>) -> ApiResult {
    security.integrity_check()?;
    ok_empty()
}
