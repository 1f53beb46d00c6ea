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
//! - [`locks`]: the update locks services hold through their `/tmp/balena` folder.
//! - [`manager`]: what the endpoints do (device facts, host config, power, blink, journal).
//! - [`target`]: the local-mode target state and its validation; [`engine`], the state engine
//!   that converges the container engine to it as jobs; [`actions`], the application and
//!   service endpoints over it.
//! - [`proxy`]: the host's proxy settings in redsocks' format.
//! - [`api`]: the endpoints; [`openapi`], the document `openapi/balena.json`.

pub mod access;
pub mod actions;
pub mod api;
mod body;
pub mod engine;
mod failure;
pub mod keys;
pub mod locks;
pub mod manager;
pub mod openapi;
pub mod proxy;
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
