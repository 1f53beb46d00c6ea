//! The OpenAPI document: every domain's fragment merged, with the bearer-token scheme, served
//! at `/openapi.json` and kept in `openapi/openapi.json` by `cargo xtask openapi`.

use actix_web::{get, web, HttpResponse};
use std::sync::LazyLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi as Document, SecurityRequirement};
use utoipa::OpenApi;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi_json);
}

/// The whole API's document.
pub fn openapi() -> Document {
    let mut doc = Document::new(
        InfoBuilder::new()
            .title("Supervisor API")
            .version(base::SUPERVISOR_VERSION)
            .description(Some("Wire-compatible with the Home Assistant Supervisor API."))
            .build(),
        utoipa::openapi::Paths::new(),
    );
    for fragment in [
        crate::root::RootApi::openapi(),
        supervisor::SupervisorApi::openapi(),
        jobs::api::JobsApi::openapi(),
        docker::DockerApi::openapi(),
        security::SecurityApi::openapi(),
        store::StoreApi::openapi(),
        addons::AddonsApi::openapi(),
        backups::BackupsApi::openapi(),
        host::HostApi::openapi(),
        os::OsApi::openapi(),
        network::NetworkApi::openapi(),
        hardware::HardwareApi::openapi(),
        OpenApiDoc::openapi(),
    ] {
        doc.merge(fragment);
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    doc.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
    doc
}

static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| openapi().to_pretty_json().expect("the OpenAPI document serializes"));

#[derive(OpenApi)]
#[openapi(paths(openapi_json))]
struct OpenApiDoc;

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
}
