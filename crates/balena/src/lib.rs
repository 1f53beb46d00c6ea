//! The balena Supervisor's device API: the second face of the daemon, on its own listener
//! (`--balena-listen`, port 48484) and with its own credentials (the API keys of [`keys`]), over
//! the same host services, journal and managers as the HA API. It answers in balena's
//! conventions, not the HA envelope: `OK` as text, bare JSON objects, `{"status": "success"}`
//! or `{"status": "failed", "message"}`, `{"Data", "Error"}` for the device actions, a plain
//! `Unauthorized` 401.
//!
//! - [`access`]: each route's [`Access`] (no key for `/ping`, any issued key for the rest),
//!   declared with the route in [`api::routes`] through the project's route table, and the guard
//!   that checks it on the route actix matched.
//! - [`keys`]: the device's key and the services' application-scoped keys.
//! - the update locks services hold through their `/tmp/balena` folder are the crate
//!   `update_locks`'s, shared with the add-ons.
//! - [`manager`]: what the endpoints do (device facts, host config, power, blink, journal).
//! - [`target`]: the local-mode target state and its validation; [`engine`], the state engine
//!   that converges the container engine to it as jobs; [`actions`], the application and
//!   service endpoints over it.
//! - [`supervisor_network`]: the network on whose gateway services that ask for it reach the
//!   device API.
//! - [`proxy`]: the host's proxy settings in redsocks' format.
//! - [`api`]: the endpoints; [`openapi`], the document `openapi/balena.json`.

pub mod access;
pub mod actions;
pub mod api;
mod body;
pub mod engine;
mod failure;
pub mod keys;
pub mod manager;
pub mod openapi;
pub mod proxy;
pub mod supervisor_network;
pub mod target;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpResponse};
use http_api::routes::RouteRules;
use http_api::Routes;
use std::sync::LazyLock;

pub use access::Access;
pub use manager::BalenaManager;

/// The port of the device API, as services know it (`BALENA_SUPERVISOR_PORT`).
pub const DEFAULT_PORT: u16 = 48484;

/// The largest request body accepted; the device API's bodies are small options.
const MAX_BODY: usize = 1024 * 1024;

/// Every route of the device API, each declared once with who may call it.
pub fn routes() -> Routes<Access> {
    let mut routes = Routes::default();
    api::routes(&mut routes);
    api::app_routes(&mut routes);
    openapi::routes(&mut routes);
    routes
}

/// The rules of every route, for the guard; built once.
static RULES: LazyLock<web::Data<RouteRules<Access>>> = LazyLock::new(|| web::Data::new(routes().rules()));

/// The device API's application for one worker.
pub fn app(
    manager: &web::Data<BalenaManager>,
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
        .app_data(manager.clone())
        .app_data(web::PayloadConfig::new(MAX_BODY))
        .app_data(RULES.clone())
        .wrap(from_fn(access::check))
        .configure(|cfg| routes().mount(cfg))
        .default_service(web::to(unknown_route))
}

/// The balena Supervisor's framework answers an unknown route with a plain 404.
async fn unknown_route(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body(format!(
        "Cannot {} {}",
        req.method(),
        req.path()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The device API's access table: `/ping` is the one route without a key, as in the balena
    /// Supervisor, and every endpoint of the reference is declared.
    #[test]
    fn only_ping_is_open_and_every_endpoint_is_declared() {
        let routes = routes();
        let declared: Vec<(String, Access)> =
            routes.operations().iter().map(|op| (format!("{} {}", op.method, op.path), op.rule)).collect();
        for (route, access) in &declared {
            let expected = if route == "GET /ping" { Access::Open } else { Access::Key };
            assert_eq!(*access, expected, "{route}");
        }
        for route in [
            "GET /ping",
            "POST /v1/blink",
            "POST /v1/update",
            "POST /v1/reboot",
            "POST /v1/shutdown",
            "POST /v1/purge",
            "POST /v1/restart",
            "POST /v1/regenerate-api-key",
            "GET /v1/device",
            "POST /v1/apps/{appId}/stop",
            "POST /v1/apps/{appId}/start",
            "GET /v1/apps/{appId}",
            "GET /v1/healthy",
            "PATCH /v1/device/host-config",
            "GET /v1/device/host-config",
            "GET /v2/applications/state",
            "GET /v2/applications/{appId}/state",
            "GET /v2/state/status",
            "POST /v2/applications/{appId}/restart-service",
            "POST /v2/applications/{appId}/stop-service",
            "POST /v2/applications/{appId}/start-service",
            "POST /v2/applications/{appId}/restart",
            "POST /v2/applications/{appId}/purge",
            "GET /v2/version",
            "GET /v2/containerId",
            "GET /v2/local/target-state",
            "POST /v2/local/target-state",
            "GET /v2/local/device-info",
            "GET /v2/local/logs",
            "GET /v2/device/name",
            "PATCH /v2/device/name",
            "GET /v2/device/tags",
            "GET /v2/device/vpn",
            "GET /v2/cleanup-volumes",
            "GET /v2/journal-logs",
        ] {
            assert!(declared.iter().any(|(declared, _)| declared == route), "{route} is not declared");
        }
    }
}
