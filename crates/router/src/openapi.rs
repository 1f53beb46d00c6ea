//! The OpenAPI document: every domain's fragment merged, with the bearer-token scheme, served
//! at `/openapi.json` and kept in `openapi/openapi.json` by `cargo xtask openapi`.

use actix_web::{get, HttpResponse};
use http_api::routes::ADMIN;
use http_api::Routes;
use std::sync::LazyLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;

/// Declares `/openapi.json`.
pub fn routes(routes: &mut Routes) {
    routes.group("").route(ADMIN, openapi_json);
}

/// The whole API's document, from the declared routes.
pub fn openapi() -> Document {
    crate::routes().document(
        "Supervisor API",
        "Wire-compatible with the Home Assistant Supervisor API.",
        &[
            ("http://supervisor", "Add-ons and Home Assistant Core, on the container network"),
            ("http://127.0.0.1:4358", "The host: the `ha` CLI and local tools (the default `--listen`)"),
        ],
        vec![("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()))],
    )
}

static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| openapi().to_pretty_json().expect("the OpenAPI document serializes"));

/// This document.
#[utoipa::path(tag = "root", responses((status = 200, content_type = "application/json", body = Object)))]
#[get("/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT.as_str())
}

#[cfg(test)]
mod tests {
    #[test]
    fn checked_in_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json");
        let checked_in = std::fs::read_to_string(path).expect("openapi/openapi.json");
        let current = super::openapi().to_pretty_json().unwrap() + "\n";
        assert!(checked_in == current, "openapi/openapi.json is stale: run `cargo xtask openapi`");
    }

    #[test]
    fn every_answer_is_described_and_every_route_documents_its_refusals() {
        let document = serde_json::to_value(super::openapi()).unwrap();
        assert!(document["servers"].as_array().is_some_and(|servers| !servers.is_empty()));
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                for (status, response) in responses {
                    let described = response["description"].as_str().is_some_and(|d| !d.is_empty());
                    assert!(described, "{method} {path} {status} has no description");
                }
                let open =
                    operation["security"].as_array().is_some_and(|s| s.iter().any(|r| r == &serde_json::json!({})));
                if !open {
                    assert!(responses.contains_key("401") && responses.contains_key("403"), "{method} {path}");
                }
                // Only a ping and a redirect cannot fail for the caller's fault.
                let redirect = responses.keys().all(|status| status.starts_with('3'));
                if path != "/supervisor/ping" && !redirect {
                    assert!(responses.keys().any(|status| status.starts_with('4')), "{method} {path} documents no 4xx");
                }
            }
        }
    }
}
