//! The device API's OpenAPI document, from its declared routes, with the two ways its key is
//! given; served at `/openapi.json` of its listener and kept in `openapi/balena.json` by
//! `cargo xtask openapi`.

use crate::Access;
use actix_web::{get, HttpResponse};
use http_api::Routes;
use std::sync::LazyLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;

/// Declares `/openapi.json`.
pub fn routes(routes: &mut Routes<Access>) {
    routes.group("").route(Access::Key, openapi_json);
}

/// The device API's document.
pub fn openapi() -> Document {
    crate::routes().document(
        "balena Supervisor device API",
        "Wire-compatible with the balena Supervisor's device API (port 48484).",
        &[("http://127.0.0.1:48484", "The host and its services (the default `--balena-listen`)")],
        vec![
            ("apikey", SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("apikey")))),
            ("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build())),
        ],
    )
}

static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| openapi().to_pretty_json().expect("the OpenAPI document serializes"));

/// This document.
#[utoipa::path(tag = "balena", responses((status = 200, content_type = "application/json", body = Object)))]
#[get("/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT.as_str())
}

#[cfg(test)]
mod tests {
    #[test]
    fn checked_in_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/balena.json");
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        let current = super::openapi().to_pretty_json().unwrap() + "\n";
        assert!(checked_in == current, "openapi/balena.json is stale: run `cargo xtask openapi`");
    }
}
