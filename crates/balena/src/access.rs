//! Who may call a route of the device API, and the guard that decides it. A route declares its
//! [`Access`] in [`crate::api::routes`]; the guard looks up the rule of the route actix matched
//! (an undeclared path needs a key, then answers 404) and lets the request through when the rule
//! is met, leaving the key's [`Scope`] in the request for the handlers of application routes.
//!
//! The key comes from the `apikey` query parameter or an `Authorization: Bearer <key>` (or
//! `ApiKey <key>`) header, as the balena Supervisor reads it; a missing or unknown key gets its
//! plain `401 Unauthorized`. Keys are never logged, and neither is the query that carries them.

use crate::keys::Scope;
use crate::BalenaManager;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use http_api::routes::{ErrorContent, Guarded, RouteRules};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{Content, RefOr, SecurityRequirement};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a key: `/ping`.
    Open,
    /// A caller with any key the supervisor issued; a route of one application checks that the
    /// key's [`Scope`] reaches it.
    Key,
}

impl Guarded for Access {
    fn security(&self) -> Option<Vec<SecurityRequirement>> {
        match self {
            Access::Open => None,
            Access::Key => Some(vec![
                SecurityRequirement::new::<_, [&str; 0], &str>("apikey", []),
                SecurityRequirement::new::<_, [&str; 0], &str>("bearer", []),
            ]),
        }
    }

    fn refusals() -> Vec<(&'static str, RefOr<Response>)> {
        let text = Content::new(Some(<String as utoipa::PartialSchema>::schema()));
        let unauthorized =
            ResponseBuilder::new().description("No API key, or an unknown one").content("text/plain", text).build();
        vec![("401", unauthorized.into())]
    }

    fn error_content() -> Option<ErrorContent> {
        None
    }
}

/// The guard; mount it with `actix_web::middleware::from_fn(check)`.
pub async fn check(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let access = req
        .match_pattern()
        .and_then(|pattern| req.app_data::<web::Data<RouteRules<Access>>>()?.rule(req.method(), &pattern))
        .unwrap_or(Access::Key);
    if access == Access::Open {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let manager = req.app_data::<web::Data<BalenaManager>>().expect("the device API's manager is mounted");
    let key = key_of(&req);
    match key.as_deref().and_then(|key| manager.keys().scope(key)).zip(key) {
        Some((scope, key)) => {
            req.extensions_mut().insert(Caller { scope, key });
            Ok(next.call(req).await?.map_into_left_body())
        }
        None => {
            tracing::warn!(path = %req.path(), "balena device API: no API key, or an unknown one");
            let refusal = HttpResponse::Unauthorized().content_type("text/plain; charset=utf-8").body("Unauthorized");
            Ok(req.into_response(refusal).map_into_right_body())
        }
    }
}

/// The key of a request: `?apikey=`, else the `Authorization` header's `Bearer` or `ApiKey`.
fn key_of(req: &ServiceRequest) -> Option<String> {
    let query = web::Query::<Vec<(String, String)>>::from_query(req.query_string()).ok();
    if let Some(key) = query.and_then(|q| q.0.into_iter().find(|(name, _)| name == "apikey")).map(|(_, key)| key) {
        return Some(key).filter(|key| !key.is_empty());
    }
    let header = req.headers().get("Authorization")?.to_str().ok()?;
    let (scheme, key) = header.split_once(' ')?;
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("apikey");
    let word = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (known && word).then(|| key.to_owned())
}

/// The caller the guard let through with its key, for handlers (a route of [`Access::Key`] has
/// one). No `Debug`: the key must not reach a log.
#[derive(Clone)]
pub struct Caller {
    pub scope: Scope,
    key: String,
}

impl Caller {
    /// The key the caller used.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl actix_web::FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Caller, actix_web::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let caller = req.extensions().get::<Caller>().cloned();
        std::future::ready(caller.ok_or_else(|| actix_web::error::ErrorUnauthorized("Unauthorized")))
    }
}
