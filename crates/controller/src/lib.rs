//! The fleet controller: one API in the Anka Controller's shape over many supervisor nodes.
//! Every replica answers the API from etcd and writes there; one replica at a time, the
//! leader, places instances on nodes. The controller keeps nothing of its own, so replicas come
//! and go freely, and losing one (or a node, or an etcd member) loses nothing.
//!
//! - [`api`]: the endpoints; [`access`]: who may call each; [`envelope`]: the answers' shape.
//! - [`store`]: the fleet's records read at one revision, and compare-and-swap writes.
//! - [`scheduler`]: placement by group, capacity, architecture, priority and USB device; taking
//!   back what dead nodes held. [`leader`]: which replica runs it.
//! - [`templates`]: templates as repositories of the registry, versions as their tags.
//! - [`macs`]: the pool of MAC addresses handed to instances.
//! - [`keys`]: user keys and the key handshake; [`permissions`]: what each permission group
//!   (a key's groups) may do on which node.

pub mod access;
pub mod api;
pub mod envelope;
pub mod keys;
pub mod leader;
pub mod macs;
pub mod permissions;
pub mod scheduler;
pub mod store;
pub mod templates;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{get, web, App, HttpRequest, HttpResponse};
use http_api::routes::RouteRules;
use http_api::Routes;
use std::sync::LazyLock;

/// What every handler reaches.
pub struct Controller {
    pub fleet: store::Fleet,
    pub registry: registry_client::Registry,
    /// The registry as operators name it, `http://host:port`.
    pub registry_url: String,
    /// What nodes are told to reach etcd at.
    pub etcd_endpoints: Vec<String>,
    pub leadership: leader::Leadership,
    /// The pool of MAC addresses `PUT /api/v1/macaddr` fills, `START-END`.
    pub mac_range: Option<String>,
}

/// Every route, declared once with its rule.
pub fn routes() -> Routes<access::Access> {
    let mut routes = Routes::default();
    api::routes(&mut routes);
    keys::routes(&mut routes);
    permissions::routes(&mut routes);
    routes.group("").route(access::Access::Open, openapi_json);
    routes
}

static RULES: LazyLock<web::Data<RouteRules<access::Access>>> = LazyLock::new(|| web::Data::new(routes().rules()));

/// The controller's application.
pub fn app(
    controller: &web::Data<Controller>,
    secrets: &web::Data<access::Secrets>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(controller.clone())
        .app_data(secrets.clone())
        .app_data(web::PayloadConfig::new(1 << 20))
        .app_data(RULES.clone())
        .wrap(from_fn(access::check))
        .configure(|cfg| routes().mount(cfg))
        .default_service(web::to(unknown_route))
}

async fn unknown_route(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    Err(envelope::Fail::not_found(format!("no route {} {}", req.method(), req.path())).into())
}

/// The controller's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().document(
        "Fleet controller API",
        "The Anka Controller's REST API over a fleet of supervisors.",
        &[("http://127.0.0.1:8090", "The controller (the default `--listen`)")],
        access::schemes(),
    )
}

static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| openapi().to_pretty_json().expect("the OpenAPI document serializes"));

/// This document.
#[utoipa::path(tag = "controller", responses((status = 200, content_type = "application/json", body = Object)))]
#[get("/openapi.json")]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT.as_str())
}

#[cfg(test)]
mod tests {
    #[test]
    fn checked_in_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/controller.json");
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        let current = super::openapi().to_pretty_json().unwrap() + "\n";
        assert!(checked_in == current, "openapi/controller.json is stale: run `cargo xtask openapi`");
    }
}
