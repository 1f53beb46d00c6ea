//! Who may call a route of the controller, and the guard that decides it. A route declares its
//! [`Access`] where it is listed ([`crate::api::routes`]); the guard looks up the rule of the
//! route actix matched (an undeclared path needs the operator, then answers 404).
//!
//! Operators authenticate as the Anka Controller's root does: `Authorization: Basic` of
//! `root:<password>` (or `Bearer <password>`). Nodes join with the fleet's join token as a
//! bearer token. Both secrets are compared in constant time and never logged.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_api::routes::{ErrorContent, Guarded, RouteRules};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, SecurityRequirement};

use crate::envelope::Fail;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the status and the health check.
    Open,
    /// A supervisor joining with the fleet's join token.
    Node,
    /// The operator (root).
    Operator,
}

/// The secrets the guard checks requests against.
pub struct Secrets {
    pub root_password: String,
    pub join_token: String,
}

impl Guarded for Access {
    fn security(&self) -> Option<Vec<SecurityRequirement>> {
        match self {
            Access::Open => None,
            Access::Node => Some(vec![SecurityRequirement::new::<_, [&str; 0], &str>("join_token", [])]),
            Access::Operator => Some(vec![
                SecurityRequirement::new::<_, [&str; 0], &str>("root", []),
                SecurityRequirement::new::<_, [&str; 0], &str>("root_bearer", []),
            ]),
        }
    }

    fn refusals() -> Vec<(&'static str, RefOr<Response>)> {
        vec![("401", ResponseBuilder::new().description("No credentials, or wrong ones (`FAIL`)").build().into())]
    }

    fn error_content() -> Option<ErrorContent> {
        None
    }
}

/// The security schemes the document names.
pub fn schemes() -> Vec<(&'static str, SecurityScheme)> {
    vec![
        ("root", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build())),
        ("root_bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build())),
        ("join_token", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build())),
    ]
}

/// The password or token a request carries: a bearer token, or the password of Basic `root:…`.
fn credential(req: &ServiceRequest) -> Option<Vec<u8>> {
    let header = req.headers().get("Authorization")?.to_str().ok()?;
    let (scheme, value) = header.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(value.trim().as_bytes().to_vec());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(value.trim()).ok()?;
        let (user, password) = decoded.split_at(decoded.iter().position(|b| *b == b':')?);
        return (user == b"root").then(|| password[1..].to_vec());
    }
    None
}

/// The guard; mount it with `actix_web::middleware::from_fn(check)`.
pub async fn check(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let access = req
        .match_pattern()
        .and_then(|pattern| req.app_data::<web::Data<RouteRules<Access>>>()?.rule(req.method(), &pattern))
        .unwrap_or(Access::Operator);
    let secrets = req.app_data::<web::Data<Secrets>>().expect("the controller's secrets are mounted");
    let expected = match access {
        Access::Open => return Ok(next.call(req).await?.map_into_left_body()),
        Access::Node => secrets.join_token.as_bytes(),
        Access::Operator => secrets.root_password.as_bytes(),
    };
    if credential(&req).is_some_and(|sent| base::random::constant_time_eq(&sent, expected)) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    tracing::warn!(path = %req.path(), "controller: no credentials, or wrong ones");
    let what = if access == Access::Node { "the fleet's join token" } else { "the operator's credentials" };
    let refusal =
        Fail { status: StatusCode::UNAUTHORIZED, message: format!("{what} are missing or wrong") }.error_response();
    Ok(req.into_response(refusal).map_into_right_body())
}
