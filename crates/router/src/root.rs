//! The root endpoints: `/info` (a summary across domains), `/available_updates`,
//! `/reload_updates` and `/refresh_updates`.

use actix_web::{get, post, web};
use addons::AddonManager;
use base::System;
use docker::DockerManager;
use homeassistant::CoreManager;
use host::HostManager;
use http_api::body::Body;
use http_api::routes::{ADDONS, ADMIN, MANAGER};
use http_api::Routes;
use http_api::{ok, ApiResult};
use jobs::api::{answer, BackgroundBody};
use os::OsManager;
use serde::Serialize;
use supervisor::{LogLevel, SupervisorManager};
use updater::{Channel, Updater};
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("root", "The whole system at a glance");
    routes
        .group("")
        .route(ADDONS, root_info)
        .route(MANAGER, available_updates)
        .route(ADMIN, reload_updates)
        .route(MANAGER, refresh_updates);
}

#[derive(Serialize, ToSchema)]
pub struct RootInfo {
    supervisor: String,
    homeassistant: Option<String>,
    hassos: Option<String>,
    docker: Option<String>,
    hostname: Option<String>,
    operating_system: Option<String>,
    features: Vec<String>,
    machine: String,
    machine_id: Option<String>,
    arch: String,
    supported_arch: Vec<String>,
    supported: bool,
    channel: Channel,
    logging: LogLevel,
    #[schema(value_type = String)]
    state: base::CoreState,
    timezone: String,
}

#[derive(Serialize, ToSchema)]
pub struct AvailableUpdate {
    update_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    icon: Option<String>,
    panel_path: String,
    version_latest: String,
}

#[derive(Serialize, ToSchema)]
pub struct AvailableUpdates {
    available_updates: Vec<AvailableUpdate>,
}

/// A summary of the system from every domain.
#[utoipa::path(tag = "root", responses((status = 200, body = http_api::envelope::Envelope<RootInfo>)))]
#[get("/info")]
async fn root_info(
    system: web::Data<System>,
    docker: web::Data<DockerManager>,
    updater: web::Data<Updater>,
    supervisor: web::Data<SupervisorManager>,
    host: web::Data<HostManager>,
    os: web::Data<OsManager>,
    core: web::Data<CoreManager>,
) -> ApiResult {
    let (hostname, operating_system) = host.hostname_and_os();
    ok(RootInfo {
        supervisor: base::SUPERVISOR_VERSION.to_owned(),
        homeassistant: core.version(),
        hassos: os.version(),
        docker: docker.engine_version(),
        hostname,
        operating_system,
        features: host.features().into_iter().map(|feature| feature.name().to_owned()).collect(),
        machine: updater.machine().to_owned(),
        machine_id: base::system::machine_id(),
        arch: base::arch::arch().to_owned(),
        supported_arch: base::arch::supported_archs().into_iter().map(str::to_owned).collect(),
        supported: system.supported(),
        channel: updater.channel(),
        logging: supervisor.config().logging,
        state: system.state(),
        timezone: supervisor.timezone(),
    })
}

/// Components with a newer version on the user's channel.
#[utoipa::path(tag = "root", responses((status = 200, body = http_api::envelope::Envelope<AvailableUpdates>)))]
#[get("/available_updates")]
async fn available_updates(
    supervisor: web::Data<SupervisorManager>,
    os: web::Data<OsManager>,
    addons: web::Data<AddonManager>,
    core: web::Data<CoreManager>,
) -> ApiResult {
    let mut available_updates = Vec::new();
    if let Some(version_latest) = core.version_latest().filter(|_| core.update_available()) {
        available_updates.push(AvailableUpdate {
            update_type: "core".to_owned(),
            name: None,
            icon: None,
            panel_path: "/update-available/core".to_owned(),
            version_latest,
        });
    }
    if supervisor.update_available() {
        available_updates.push(AvailableUpdate {
            update_type: "supervisor".to_owned(),
            name: None,
            icon: None,
            panel_path: "/update-available/supervisor".to_owned(),
            version_latest: supervisor.version_latest(),
        });
    }
    if let Some(version_latest) = os.latest_version().filter(|_| os.need_update()) {
        available_updates.push(AvailableUpdate {
            update_type: "os".to_owned(),
            name: None,
            icon: None,
            panel_path: "/update-available/os".to_owned(),
            version_latest,
        });
    }
    available_updates.extend(addons.available_updates().into_iter().map(|update| AvailableUpdate {
        update_type: "addon".to_owned(),
        icon: update.icon.then(|| format!("/addons/{}/icon", update.slug)),
        panel_path: format!("/update-available/{}", update.slug),
        name: Some(update.name),
        version_latest: update.version_latest,
    }));
    ok(AvailableUpdates { available_updates })
}

/// Reads the version information again.
#[utoipa::path(tag = "root", request_body = Option<BackgroundBody>, responses((status = 200, description = "Done (`{}`), or started with `background` (its job id)", body = http_api::envelope::Envelope<jobs::api::JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/reload_updates")]
async fn reload_updates(updater: web::Data<Updater>, body: Body<BackgroundBody>) -> ApiResult {
    answer(updater.reload_updates(body.0.background).await?)
}

/// Reads the version information and the add-on repositories again (discouraged; use
/// `/reload_updates` or `/store/reload`).
#[utoipa::path(tag = "root", request_body = Option<BackgroundBody>, responses((status = 200, description = "Done (`{}`), or started with `background` (its job id)", body = http_api::envelope::Envelope<jobs::api::JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/refresh_updates")]
async fn refresh_updates(updater: web::Data<Updater>, body: Body<BackgroundBody>) -> ApiResult {
    answer(updater.refresh_updates(body.0.background).await?)
}
