//! The `/security` API group: the security options of the whole system.

use actix_web::{get, post, web};
use http_api::body::Options;
use http_api::routes::{INFO, MANAGER};
use http_api::Routes;
use http_api::{ok, ok_empty, ApiResult};
use serde::{Deserialize, Serialize};
use state::{Persisted, Store};
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("security", "Security options");
    routes.group("/security").route(INFO, security_info).route(MANAGER, security_options);
}

/// The security options, as `/security/info` shows them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SecurityInfo {
    /// Verify the signatures of images and add-on repositories.
    pub content_trust: bool,
    /// Refuse add-on passwords found in known breaches.
    pub pwned: bool,
    /// Refuse to start when a security check fails.
    pub force_security: bool,
}

impl Default for SecurityInfo {
    fn default() -> Self {
        SecurityInfo { content_trust: true, pwned: true, force_security: false }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityOptions {
    content_trust: Option<bool>,
    pwned: Option<bool>,
    force_security: Option<bool>,
}

/// Holds the security options; domains read them (the add-on manager checks `pwned`).
pub struct SecurityManager {
    options: Persisted<SecurityInfo>,
}

impl SecurityManager {
    pub fn load(store: &Store) -> state::Result<Self> {
        Ok(SecurityManager { options: Persisted::load(store.section("security")?, "options")? })
    }

    pub fn options(&self) -> SecurityInfo {
        self.options.get()
    }

    fn update(&self, change: SecurityOptions) -> Result<(), base::Error> {
        self.options.update(|options| {
            options.content_trust = change.content_trust.unwrap_or(options.content_trust);
            options.pwned = change.pwned.unwrap_or(options.pwned);
            options.force_security = change.force_security.unwrap_or(options.force_security);
        })?;
        Ok(())
    }
}

#[utoipa::path(tag = "security", responses((status = 200, body = http_api::envelope::Envelope<SecurityInfo>)))]
#[get("/info")]
async fn security_info(security: web::Data<SecurityManager>) -> ApiResult {
    ok(security.options())
}

#[utoipa::path(tag = "security", request_body = SecurityOptions, responses((status = 200), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/options")]
async fn security_options(security: web::Data<SecurityManager>, body: Options<SecurityOptions>) -> ApiResult {
    security.update(body.into_inner())?;
    ok_empty()
}
