//! The request guard every route sits behind, in the real Supervisor's order: refuse requests
//! that look like exploits, refuse everything while the system is not ready, then decide by the
//! token and the access table. The caller it found is left in the request for handlers (`self`).

use crate::access::{decide, Decision};
use crate::{Caller, Tokens};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use base::{ApiError, CoreState, System};
use regex::Regex;
use std::sync::LazyLock;

/// The request guard; mount it with `actix_web::middleware::from_fn(Guard::check)`.
pub struct Guard;

/// Paths and queries that only attacks send (the real Supervisor's filter list).
static EXPLOITS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:proc/self/environ|(?:<|%3C).*script.*(?:>|%3E)|(?:\.\.//?)+|[a-zA-Z0-9_]=/(?:[a-z0-9_.]//?)+|union.*select.*\(|union.*all.*select.*|concat.*\()",
    )
    .expect("exploit filter")
});

impl Guard {
    pub async fn check(
        req: ServiceRequest,
        next: Next<impl MessageBody>,
    ) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
        // Decide on the decoded path, so an encoded character cannot slip past a pattern.
        let path = unquote(req.path()).into_owned();
        tracing::debug!(method = %req.method(), path = %path, "request");
        if EXPLOITS.is_match(&path) || EXPLOITS.is_match(&unquote(req.query_string())) {
            tracing::warn!(path = %path, "filtered a potentially harmful request");
            return Ok(refuse(req, ApiError::bad_request("The request was refused as potentially harmful")));
        }
        if let Some(system) = req.app_data::<web::Data<System>>() {
            let state = system.state();
            if !matches!(state, CoreState::Startup | CoreState::Running | CoreState::Freeze) {
                let name = serde_json::to_value(state).ok().and_then(|v| v.as_str().map(str::to_owned));
                return Ok(refuse(
                    req,
                    ApiError::bad_request(format!("System is not ready with state: {}", name.unwrap_or_default())),
                ));
            }
        }
        let tokens = req.app_data::<web::Data<Tokens>>().expect("the token registry is mounted");
        let token = token_of(&req);
        let caller = token.map(|t| tokens.caller(t));
        match decide(&path, caller.as_ref().map(Option::as_ref)) {
            Decision::Allow => {
                req.extensions_mut().insert(caller.flatten().unwrap_or(Caller::Anonymous));
                Ok(next.call(req).await?.map_into_left_body())
            }
            Decision::Unauthorized(why) => {
                tracing::warn!(path = %path, "{why}");
                Ok(refuse(req, ApiError::unauthorized(why)))
            }
            Decision::Forbidden(why) => {
                tracing::warn!(path = %path, "access denied: {why}");
                Ok(refuse(req, ApiError::forbidden(why)))
            }
        }
    }
}

fn refuse<B>(req: ServiceRequest, error: ApiError) -> ServiceResponse<EitherBody<B>> {
    req.into_response(error.error_response()).map_into_right_body()
}

/// The token, from `X-Supervisor-Token`, the legacy `X-Hassio-Key`, or the last word of
/// `Authorization` (`Bearer <token>`); an empty header counts as none.
fn token_of(req: &ServiceRequest) -> Option<&str> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    header("X-Supervisor-Token")
        .or_else(|| header("X-Hassio-Key"))
        .or_else(|| header("Authorization").and_then(|v| v.rsplit(' ').next()))
        .filter(|t| !t.is_empty())
}

/// Percent-decodes until nothing changes, so double-encoded attacks are seen too.
fn unquote(input: &str) -> std::borrow::Cow<'_, str> {
    if !input.contains('%') {
        return std::borrow::Cow::Borrowed(input);
    }
    let mut current = input.to_owned();
    for _ in 0..8 {
        let decoded = percent_decode(&current);
        if decoded == current {
            break;
        }
        current = decoded;
    }
    std::borrow::Cow::Owned(current)
}

fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquote_sees_through_double_encoding() {
        assert_eq!(unquote("test/%252E%252E/api"), "test/../api");
        assert_eq!(unquote("%3Cscript%3E"), "<script>");
        assert_eq!(unquote("100%"), "100%");
    }

    #[test]
    fn exploit_filter() {
        for bad in ["/proc/self/environ", "/x/../../etc", "/UNION SELECT (a, b)", "<script >", "concat(1"] {
            assert!(EXPLOITS.is_match(&unquote(bad)), "{bad}");
        }
        for good in ["/supervisor/info", "/addons/local_ssh/logs", "lines=100"] {
            assert!(!EXPLOITS.is_match(good), "{good}");
        }
    }
}
