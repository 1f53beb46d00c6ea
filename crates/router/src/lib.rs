//! The HTTP API: one actix `App` that mounts every domain's routes behind the request guard
//! (exploit filter, system state, token and access table), answers unknown routes with a 404 in
//! the envelope, limits request bodies, and serves the root endpoints and `/openapi.json`, and
//! the admin UI under `/admin/` with its security headers.

#[cfg(test)]
mod access_spec;
mod access_table;
mod openapi;
mod root;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest};
use addons::AddonManager;
use auth::AuthManager;
use backups::BackupManager;
use base::System;
use discovery::{DiscoveryManager, ServicesManager};
use docker::DockerManager;
use hardware::HardwareManager;
use homeassistant::CoreManager;
use host::HostManager;
use http_api::routes::RouteRules;
use http_api::{ApiError, Routes};
use ingress::IngressManager;
use jobs::JobManager;
use mounts::MountManager;
use network::Network;
use os::OsManager;
use plugins::PluginManager;
use resolution::ResolutionManager;
use security::{AddonRights, Guard, SecurityManager, Tokens};
use std::sync::{Arc, LazyLock};
use store::StoreManager;
use supervisor::SupervisorManager;
use updater::Updater;

pub use access_table::access_table;
pub use openapi::openapi;

/// The largest request body accepted (the real Supervisor's limit); bigger ones get 413.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Every manager a handler can ask for.
#[derive(Clone)]
pub struct AppState {
    pub system: web::Data<System>,
    /// The admin UI's login codes and sessions.
    pub admin: web::Data<admin::Sessions>,
    pub tokens: web::Data<Tokens>,
    pub jobs: web::Data<JobManager>,
    pub docker: web::Data<DockerManager>,
    pub updater: web::Data<Updater>,
    pub supervisor: web::Data<SupervisorManager>,
    pub security: web::Data<SecurityManager>,
    pub store: web::Data<StoreManager>,
    pub addons: web::Data<AddonManager>,
    pub backups: web::Data<BackupManager>,
    pub journal: web::Data<journal::Gateway>,
    pub host: web::Data<HostManager>,
    pub os: web::Data<OsManager>,
    pub network: web::Data<Network>,
    pub hardware: web::Data<HardwareManager>,
    pub core: web::Data<CoreManager>,
    pub auth: web::Data<AuthManager>,
    pub discovery: web::Data<DiscoveryManager>,
    pub services: web::Data<ServicesManager>,
    pub ingress: web::Data<IngressManager>,
    pub mounts: web::Data<MountManager>,
    pub resolution: web::Data<ResolutionManager>,
    pub plugins: web::Data<PluginManager>,
}

/// The application for one worker.
pub fn app(
    state: &AppState,
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
        .app_data(state.system.clone())
        .app_data(state.admin.clone())
        .app_data(state.tokens.clone())
        .app_data(state.jobs.clone())
        .app_data(state.docker.clone())
        .app_data(state.updater.clone())
        .app_data(state.supervisor.clone())
        .app_data(state.security.clone())
        .app_data(state.store.clone())
        .app_data(state.addons.clone())
        .app_data(web::Data::<dyn AddonRights>::from(state.addons.clone().into_inner() as Arc<dyn AddonRights>))
        .app_data(state.backups.clone())
        .app_data(state.journal.clone())
        .app_data(state.host.clone())
        .app_data(state.os.clone())
        .app_data(state.network.clone())
        .app_data(state.hardware.clone())
        .app_data(state.core.clone())
        .app_data(state.auth.clone())
        .app_data(state.discovery.clone())
        .app_data(state.services.clone())
        .app_data(state.ingress.clone())
        .app_data(state.mounts.clone())
        .app_data(state.resolution.clone())
        .app_data(state.plugins.clone())
        .app_data(web::PayloadConfig::new(MAX_BODY))
        .app_data(RULES.clone())
        .wrap(from_fn(Guard::check))
        // Outside the guard, so that its refusals of `/admin` paths carry the headers too.
        .wrap(from_fn(admin::secure_headers))
        .configure(|cfg| routes().mount(cfg))
        .default_service(web::to(unknown_route))
}

/// Every route of the API, each declared once by its group's `routes` function; the app mounts
/// them, the guard applies their rules and `openapi` documents them.
pub fn routes() -> Routes {
    let mut routes = Routes::new();
    root::routes(&mut routes);
    supervisor::api::routes(&mut routes);
    jobs::api::routes(&mut routes);
    docker::api::routes(&mut routes);
    security::api::routes(&mut routes);
    addons::api::routes(&mut routes);
    store::api::routes(&mut routes);
    backups::api::routes(&mut routes);
    host::api::routes(&mut routes);
    os::api::routes(&mut routes);
    network::api::routes(&mut routes);
    hardware::api::routes(&mut routes);
    homeassistant::api::routes(&mut routes);
    auth::api::routes(&mut routes);
    discovery::api::routes(&mut routes);
    ingress::api::routes(&mut routes);
    mounts::api::routes(&mut routes);
    resolution::api::routes(&mut routes);
    plugins::api::routes(&mut routes);
    admin::api::routes(&mut routes);
    openapi::routes(&mut routes);
    routes
}

/// The rules of every route, for the guard; built once.
static RULES: LazyLock<web::Data<RouteRules>> = LazyLock::new(|| web::Data::new(routes().rules()));

async fn unknown_route(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(format!("No route for {} {}", req.method(), req.path())))
}
