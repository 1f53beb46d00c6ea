//! The device API's endpoints that need no state engine, with the balena Supervisor's paths,
//! shapes and status codes: `/ping`, the v1 device endpoints (blink, reboot, shutdown, the API
//! key, the device's state, its health and host config) and the v2 information endpoints
//! (version, device info, name, tags, VPN, the journal).

use crate::access::{Access, Caller};
use crate::body::{truthy, Body};
use crate::failure::Failure;
use crate::manager::{ActionError, DeviceState, HostConfig};
use crate::BalenaManager;
use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use http_api::Routes;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

/// Declares the routes: each handler with who may call it.
pub fn routes(routes: &mut Routes<Access>) {
    routes.tag("balena", "The balena Supervisor's device API");
    routes
        .group("")
        .route(Access::Open, ping)
        .route(Access::Key, v1_blink)
        .route(Access::Key, v1_reboot)
        .route(Access::Key, v1_shutdown)
        .route(Access::Key, v1_regenerate_api_key)
        .route(Access::Key, v1_device)
        .route(Access::Key, v1_healthy)
        .route(Access::Key, v1_device_host_config)
        .route(Access::Key, v1_device_host_config_patch)
        .route(Access::Key, v2_version)
        .route(Access::Key, v2_local_device_info)
        .route(Access::Key, v2_device_name)
        .route(Access::Key, v2_device_tags)
        .route(Access::Key, v2_device_vpn)
        .route(Access::Key, v2_journal_logs)
        .route(Access::Key, v2_journal_logs_post);
}

type Manager = web::Data<BalenaManager>;

fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(body.into())
}

/// Whether the supervisor is alive.
#[utoipa::path(tag = "balena", responses((status = 200, description = "`OK`", content_type = "text/plain", body = String)))]
#[get("/ping")]
async fn ping() -> HttpResponse {
    text(StatusCode::OK, "OK")
}

/// Blinks the device's LED for 15 seconds, where it has one the supervisor can blink.
#[utoipa::path(tag = "balena", responses((status = 200, description = "Empty")))]
#[post("/v1/blink")]
async fn v1_blink(manager: Manager) -> HttpResponse {
    manager.into_inner().blink();
    HttpResponse::Ok().finish()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerRequest {
    /// Go ahead even while a service holds its update lock.
    #[serde(default, deserialize_with = "truthy")]
    force: bool,
}

/// The answer of reboot and shutdown: `{"Data": "OK", "Error": ""}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceAction {
    #[serde(rename = "Data")]
    data: String,
    #[serde(rename = "Error")]
    error: String,
}

fn device_action(result: Result<(), ActionError>) -> Result<HttpResponse, Failure> {
    match result {
        Ok(()) => Ok(HttpResponse::Accepted().json(DeviceAction { data: "OK".into(), error: String::new() })),
        Err(ActionError::Locked(message)) => Err(Failure::device(StatusCode::LOCKED, message)),
        Err(ActionError::Failed(message)) => Err(Failure::device(StatusCode::INTERNAL_SERVER_ERROR, message)),
    }
}

/// Reboots the device, unless a service holds its update lock (`force` overrides it).
#[utoipa::path(tag = "balena", request_body = Option<PowerRequest>, responses(
    (status = 202, body = DeviceAction),
    (status = 423, description = "A service holds its update lock", body = DeviceAction),
    (status = 500, description = "The host could not reboot", body = DeviceAction)))]
#[post("/v1/reboot")]
async fn v1_reboot(manager: Manager, body: Body<PowerRequest>) -> Result<HttpResponse, Failure> {
    device_action(manager.reboot(body.0.force).await)
}

/// Powers the device off, unless a service holds its update lock (`force` overrides it).
#[utoipa::path(tag = "balena", request_body = Option<PowerRequest>, responses(
    (status = 202, body = DeviceAction),
    (status = 423, description = "A service holds its update lock", body = DeviceAction),
    (status = 500, description = "The host could not power off", body = DeviceAction)))]
#[post("/v1/shutdown")]
async fn v1_shutdown(manager: Manager, body: Body<PowerRequest>) -> Result<HttpResponse, Failure> {
    device_action(manager.shutdown(body.0.force).await)
}

/// Replaces the caller's API key with a new one, which it answers; the old key stops working.
#[utoipa::path(tag = "balena", responses((status = 200, description = "The new key", content_type = "text/plain", body = String)))]
#[post("/v1/regenerate-api-key")]
async fn v1_regenerate_api_key(manager: Manager, caller: Caller) -> Result<HttpResponse, Failure> {
    let regenerated = manager.keys().regenerate(caller.key());
    match regenerated {
        Ok(Some(key)) => Ok(text(StatusCode::OK, key)),
        Ok(None) => Err(Failure::text(StatusCode::UNAUTHORIZED, "Unauthorized")),
        Err(error) => Err(Failure::text(StatusCode::SERVICE_UNAVAILABLE, format!("Can't store the new key: {error}"))),
    }
}

/// The device's state.
#[utoipa::path(tag = "balena", responses((status = 200, body = DeviceState)))]
#[get("/v1/device")]
async fn v1_device(manager: Manager) -> HttpResponse {
    HttpResponse::Ok().json(manager.device())
}

/// Whether the supervisor is healthy: an empty 200, else a 500.
#[utoipa::path(tag = "balena", responses((status = 200, description = "Healthy"), (status = 500, description = "Unhealthy")))]
#[get("/v1/healthy")]
async fn v1_healthy(manager: Manager) -> HttpResponse {
    if manager.healthy() {
        HttpResponse::Ok().finish()
    } else {
        text(StatusCode::INTERNAL_SERVER_ERROR, "Unhealthy")
    }
}

/// The host's hostname and proxy settings.
#[utoipa::path(tag = "balena", responses((status = 200, body = HostConfig),
    (status = 503, description = "The settings could not be read", content_type = "text/plain", body = String)))]
#[get("/v1/device/host-config")]
async fn v1_device_host_config(manager: Manager) -> Result<HttpResponse, Failure> {
    Ok(HttpResponse::Ok().json(manager.host_config().map_err(Failure::text_from)?))
}

/// Changes the host's hostname (`network.hostname`; empty resets it) and proxy settings
/// (`network.proxy`: `type`, `ip`, `port`, `login`, `password`, `noProxy`; `{}` removes the
/// proxy). Either may be left out. The body is checked in full before anything changes.
#[utoipa::path(tag = "balena", request_body(content = Object, description = "`{\"network\": {\"hostname\", \"proxy\"}}`"),
    responses((status = 200, description = "`OK`", content_type = "text/plain", body = String),
        (status = 400, description = "A field is wrong; the message names it", content_type = "text/plain", body = String),
        (status = 503, description = "The host did not take it", content_type = "text/plain", body = String)))]
#[patch("/v1/device/host-config")]
async fn v1_device_host_config_patch(
    manager: Manager,
    body: Body<Map<String, Value>>,
) -> Result<HttpResponse, Failure> {
    let patch =
        crate::manager::host_config_patch(&body.0).map_err(|why| Failure::text(StatusCode::BAD_REQUEST, why))?;
    manager.patch_host_config(patch).await.map_err(Failure::text_from)?;
    Ok(text(StatusCode::OK, "OK"))
}

/// The supervisor's version.
#[utoipa::path(tag = "balena", responses((status = 200, body = Object, example = json!({"status": "success", "version": "1.0.0"}))))]
#[get("/v2/version")]
async fn v2_version() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "success", "version": base::SUPERVISOR_VERSION}))
}

/// The device's architecture and type.
#[utoipa::path(tag = "balena", responses((status = 200, body = Object,
    example = json!({"status": "success", "info": {"arch": "amd64", "deviceType": "qemux86-64"}}))))]
#[get("/v2/local/device-info")]
async fn v2_local_device_info(manager: Manager) -> HttpResponse {
    let (arch, device_type) = manager.device_info();
    HttpResponse::Ok().json(json!({"status": "success", "info": {"arch": arch, "deviceType": device_type}}))
}

/// The device's name.
#[utoipa::path(tag = "balena", responses((status = 200, body = Object,
    example = json!({"status": "success", "deviceName": "homeserver"}))))]
#[get("/v2/device/name")]
async fn v2_device_name(manager: Manager) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "success", "deviceName": manager.device_name()}))
}

/// The device's tags: a device in local mode has none.
#[utoipa::path(tag = "balena", responses((status = 200, body = Object, example = json!({"status": "success", "tags": []}))))]
#[get("/v2/device/tags")]
async fn v2_device_tags() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "success", "tags": []}))
}

/// The cloud VPN: a device in local mode runs none.
#[utoipa::path(tag = "balena", responses((status = 200, body = Object,
    example = json!({"status": "success", "vpn": {"enabled": false, "connected": false}}))))]
#[get("/v2/device/vpn")]
async fn v2_device_vpn() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "success", "vpn": {"enabled": false, "connected": false}}))
}

/// The options of `/v2/journal-logs`, as `journalctl`'s.
/// Other keys are left alone, as the balena Supervisor leaves them (the query holds `apikey`).
#[derive(Debug, Default, Deserialize, ToSchema, IntoParams)]
pub struct JournalOptions {
    /// Show every field in full (`--all`): the gateway never shortens them, so it changes
    /// nothing.
    #[serde(default, rename = "all", deserialize_with = "truthy")]
    #[schema(rename = "all")]
    #[param(rename = "all")]
    _all: bool,
    /// Keep the answer open and send entries as they are written (`--follow`).
    #[serde(default, deserialize_with = "truthy")]
    follow: bool,
    /// Only the newest `count` entries (`-n`).
    #[serde(default, deserialize_with = "count")]
    #[schema(value_type = Option<u64>)]
    #[param(value_type = Option<u64>)]
    count: Option<u64>,
    /// Only the entries of this systemd unit (`-u`).
    unit: Option<String>,
    /// `short` (the default), `json`, `export` or `cat` (`-o`).
    format: Option<String>,
}

/// A count as a number or numeric text; anything else, none (the balena Supervisor's `checkInt`).
fn count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Number(number) => number.as_u64().filter(|n| *n > 0),
        Value::String(text) => text.parse().ok().filter(|n| *n > 0),
        _ => None,
    })
}

async fn journal_logs(manager: &BalenaManager, options: JournalOptions) -> Result<HttpResponse, Failure> {
    let name = options.format.as_deref().unwrap_or("short");
    let output = journal::Output::from_name(name).ok_or_else(|| {
        Failure::failed(
            StatusCode::BAD_REQUEST,
            format!("Unknown format '{name}', expected one of: {}", journal::Output::NAMES.join(", ")),
        )
    })?;
    let request = journal::Journalctl { follow: options.follow, count: options.count, unit: options.unit, output };
    let lines = manager
        .journal(&request)
        .await
        .map_err(|error| Failure::failed(StatusCode::SERVICE_UNAVAILABLE, error.to_string()))?;
    use futures_util::StreamExt;
    Ok(HttpResponse::Ok().content_type(output.content_type()).streaming(lines.map(Ok::<_, std::convert::Infallible>)))
}

/// The host's journal, as `journalctl --no-pager` prints it, with the options in the query.
#[utoipa::path(tag = "balena", params(JournalOptions), responses(
    (status = 200, description = "The entries, streamed", content_type = "text/plain", body = String),
    (status = 400, description = "An unknown format", body = Object),
    (status = 503, description = "The journal cannot be read", body = Object)))]
#[get("/v2/journal-logs")]
async fn v2_journal_logs(manager: Manager, options: web::Query<JournalOptions>) -> Result<HttpResponse, Failure> {
    journal_logs(&manager, options.into_inner()).await
}

/// The host's journal, as `journalctl --no-pager` prints it, with the options in the body.
#[utoipa::path(tag = "balena", request_body = Option<JournalOptions>, responses(
    (status = 200, description = "The entries, streamed", content_type = "text/plain", body = String),
    (status = 400, description = "An unknown format or option", body = Object),
    (status = 503, description = "The journal cannot be read", body = Object)))]
#[post("/v2/journal-logs")]
async fn v2_journal_logs_post(manager: Manager, body: Body<JournalOptions>) -> Result<HttpResponse, Failure> {
    journal_logs(&manager, body.0).await
}

/// The routes of the applications and the state engine.
pub fn app_routes(routes: &mut Routes<Access>) {
    routes
        .group("")
        .route(Access::Key, v2_local_target_state)
        .route(Access::Key, v2_local_target_state_post)
        .route(Access::Key, v2_state_status)
        .route(Access::Key, v2_applications_state)
        .route(Access::Key, v2_applications_app_state)
        .route(Access::Key, v1_update)
        .route(Access::Key, v1_apps_app)
        .route(Access::Key, v1_apps_app_stop)
        .route(Access::Key, v1_apps_app_start)
        .route(Access::Key, v1_purge)
        .route(Access::Key, v1_restart)
        .route(Access::Key, v2_applications_app_purge)
        .route(Access::Key, v2_applications_app_restart)
        .route(Access::Key, v2_applications_app_restart_service)
        .route(Access::Key, v2_applications_app_stop_service)
        .route(Access::Key, v2_applications_app_start_service)
        .route(Access::Key, v2_container_id)
        .route(Access::Key, v2_local_logs)
        .route(Access::Key, v2_cleanup_volumes)
        .route(Access::Key, v2_cleanup_volumes_post)
        .route(Access::Key, v2_device_name_patch);
}

/// The balena Supervisor's `checkInt` of an application id: a positive integer.
fn app_id(text: &str) -> Option<u32> {
    text.parse::<u32>().ok().filter(|id| *id > 0)
}

/// The answer to a key whose scope does not reach the application.
fn out_of_scope() -> Failure {
    Failure::failed(StatusCode::UNAUTHORIZED, "Unauthorized")
}

/// An application's id from the path, and that the caller reaches it.
fn scoped_app(caller: &Caller, id: &str, missing: &str) -> Result<u32, Failure> {
    let app_id = app_id(id).ok_or_else(|| Failure::failed(StatusCode::BAD_REQUEST, missing))?;
    if !caller.scope.reaches(app_id) {
        return Err(out_of_scope());
    }
    Ok(app_id)
}

/// A domain error as text, an update lock held being the balena Supervisor's 423.
fn action_failure(error: base::Error) -> Failure {
    if error.error_key.as_deref() == Some(crate::actions::UPDATES_LOCKED) {
        return Failure::text(StatusCode::LOCKED, error.message);
    }
    Failure::text_from(error)
}

/// The local-mode target state.
#[utoipa::path(tag = "balena", responses((status = 200, body = Object,
    example = json!({"status": "success", "state": {"local": {"name": "", "config": {}, "apps": {}}, "dependent": {"apps": [], "devices": []}}}))))]
#[get("/v2/local/target-state")]
async fn v2_local_target_state(manager: Manager) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "success", "state": manager.target().to_wire()}))
}

/// Sets the local-mode target state: `local` (`name`, `config`, `apps` with their `services`,
/// `volumes`, `networks`), `dependent`, and `force` to override update locks. It is checked in
/// full and stored before the answer; the state engine then applies it.
#[utoipa::path(tag = "balena", request_body(content = Object, description = "The target state"), responses(
    (status = 200, body = Object, example = json!({"status": "success", "message": "OK"})),
    (status = 400, description = "A field is wrong; the message names it, nothing changed", body = Object)))]
#[post("/v2/local/target-state")]
async fn v2_local_target_state_post(manager: Manager, body: Body<Map<String, Value>>) -> Result<HttpResponse, Failure> {
    let posted = crate::target::parse(&Value::Object(body.0))
        .map_err(|message| Failure::failed(StatusCode::BAD_REQUEST, message))?;
    manager.set_target(posted).map_err(|e| Failure::failed(StatusCode::SERVICE_UNAVAILABLE, e.message))?;
    Ok(HttpResponse::Ok().json(json!({"status": "success", "message": "OK"})))
}

/// The state engine's status, with the containers and images of the first application.
#[utoipa::path(tag = "balena", responses((status = 200, body = Object, example = json!({
    "status": "success", "appState": "applied", "overallDownloadProgress": null,
    "containers": [{"status": "Running", "serviceName": "main", "appId": 1, "imageId": 1, "serviceId": 1,
        "containerId": "be4a860e34ff", "createdAt": "2019-03-11T16:05:34.506Z"}],
    "images": [{"name": "main:latest", "appId": 1, "serviceName": "main", "imageId": 1,
        "dockerImageId": "sha256:2662fc0c", "status": "Downloaded", "downloadProgress": null}],
    "release": "804281fb"}))))]
#[get("/v2/state/status")]
async fn v2_state_status(manager: Manager, caller: Caller) -> Result<HttpResponse, Failure> {
    let status = manager
        .state_status(caller.scope)
        .await
        .map_err(|e| Failure::failed(StatusCode::SERVICE_UNAVAILABLE, e.message))?;
    Ok(HttpResponse::Ok().json(status))
}

/// The applications the caller reaches, by name, with their services' status.
#[utoipa::path(tag = "balena", responses((status = 200, body = Object, example = json!({"localapp": {
    "appId": 1, "commit": "c1", "updateStatus": "done",
    "services": {"main": {"status": "Running", "image": "main:latest", "releaseId": 1, "downloadProgress": null}}}}))))]
#[get("/v2/applications/state")]
async fn v2_applications_state(manager: Manager, caller: Caller) -> Result<HttpResponse, Failure> {
    let state = manager
        .applications_state(caller.scope)
        .await
        .map_err(|e| Failure::failed(StatusCode::SERVICE_UNAVAILABLE, e.message))?;
    Ok(HttpResponse::Ok().json(state))
}

/// One application's services, by image id.
#[utoipa::path(tag = "balena", params(("appId" = String, Path)), responses(
    (status = 200, body = Object, example = json!({"local": {"1": {"services": {"1": {"status": "Running", "releaseId": 1, "download_progress": null}}}}, "dependent": {}, "commit": "c1"})),
    (status = 400, description = "Not an application id", body = Object),
    (status = 409, description = "No such application (for this key)", body = Object)))]
#[get("/v2/applications/{appId}/state")]
async fn v2_applications_app_state(
    manager: Manager,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, Failure> {
    let app_id = app_id(&path).ok_or_else(|| {
        Failure::failed(StatusCode::BAD_REQUEST, format!("Invalid application ID: {}", path.as_str()))
    })?;
    let state = manager.application_state(caller.scope, app_id).await.map_err(|_| {
        Failure::failed(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Unable to retrieve state for application ID: {app_id}"),
        )
    })?;
    let state = state
        .ok_or_else(|| Failure::failed(StatusCode::CONFLICT, format!("Application ID does not exist: {app_id}")))?;
    Ok(HttpResponse::Ok().json(state))
}

/// Applies the target state now; `force` overrides the update locks.
#[utoipa::path(tag = "balena", request_body = Option<PowerRequest>, responses((status = 204, description = "Empty")))]
#[post("/v1/update")]
async fn v1_update(manager: Manager, body: Body<PowerRequest>) -> HttpResponse {
    manager.update(body.0.force);
    HttpResponse::NoContent().finish()
}

/// The application of a single-container application.
#[utoipa::path(tag = "balena", params(("appId" = String, Path)), responses(
    (status = 200, body = Object, example = json!({"appId": 1, "commit": "c1", "releaseId": "1", "imageId": "main:latest", "containerId": "e5c1eace8b4e", "env": {"FOO": "bar"}})),
    (status = 400, description = "Not an application id, or an application of several containers", content_type = "text/plain", body = String),
    (status = 404, description = "No such application", content_type = "text/plain", body = String)))]
#[get("/v1/apps/{appId}")]
async fn v1_apps_app(manager: Manager, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, Failure> {
    let app_id = scoped_app(&caller, &path, "Missing app id")?;
    Ok(HttpResponse::Ok().json(manager.v1_app(app_id).await.map_err(Failure::text_from)?))
}

async fn v1_stop_start(
    manager: &BalenaManager,
    caller: &Caller,
    path: &str,
    stop: bool,
    force: bool,
) -> Result<HttpResponse, Failure> {
    let app_id = scoped_app(caller, path, "Missing app id")?;
    let container_id = manager.v1_stop_start(app_id, stop, force).await.map_err(action_failure)?;
    Ok(HttpResponse::Ok().json(json!({"containerId": container_id})))
}

/// Stops the container of a single-container application (`force` overrides its lock).
#[utoipa::path(tag = "balena", params(("appId" = String, Path)), request_body = Option<PowerRequest>, responses(
    (status = 200, body = Object, example = json!({"containerId": "5f4d4a857742"})),
    (status = 400, description = "An application of several containers", content_type = "text/plain", body = String),
    (status = 423, description = "A service holds its update lock", content_type = "text/plain", body = String)))]
#[post("/v1/apps/{appId}/stop")]
async fn v1_apps_app_stop(
    manager: Manager,
    caller: Caller,
    path: web::Path<String>,
    body: Body<PowerRequest>,
) -> Result<HttpResponse, Failure> {
    v1_stop_start(&manager, &caller, &path, true, body.0.force).await
}

/// Starts the container of a single-container application.
#[utoipa::path(tag = "balena", params(("appId" = String, Path)), request_body = Option<PowerRequest>, responses(
    (status = 200, body = Object, example = json!({"containerId": "6d9e1efdb9aa"})),
    (status = 400, description = "An application of several containers", content_type = "text/plain", body = String)))]
#[post("/v1/apps/{appId}/start")]
async fn v1_apps_app_start(
    manager: Manager,
    caller: Caller,
    path: web::Path<String>,
    body: Body<PowerRequest>,
) -> Result<HttpResponse, Failure> {
    v1_stop_start(&manager, &caller, &path, false, body.0.force).await
}

/// An application action's body: the application and whether to override its locks.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppRequest {
    /// The application.
    #[serde(default, rename = "appId", deserialize_with = "count")]
    #[schema(value_type = Option<u64>)]
    app_id: Option<u64>,
    /// Go ahead even while a service holds its update lock.
    #[serde(default, deserialize_with = "truthy")]
    force: bool,
}

impl AppRequest {
    fn app(&self, caller: &Caller) -> Result<u32, Failure> {
        let app_id = self
            .app_id
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| Failure::text(StatusCode::BAD_REQUEST, "Missing app id"))?;
        if !caller.scope.reaches(app_id) {
            return Err(out_of_scope());
        }
        Ok(app_id)
    }
}

/// Empties the application's volumes: its containers are removed, the volumes emptied and the
/// containers made again.
#[utoipa::path(tag = "balena", request_body = AppRequest, responses(
    (status = 200, body = DeviceAction),
    (status = 400, description = "No application id", content_type = "text/plain", body = String),
    (status = 423, description = "A service holds its update lock", body = DeviceAction)))]
#[post("/v1/purge")]
async fn v1_purge(manager: Manager, caller: Caller, body: Body<AppRequest>) -> Result<HttpResponse, Failure> {
    let app_id = body.0.app(&caller)?;
    match manager.app_action(app_id, crate::actions::AppAction::Purge, body.0.force).await {
        Ok(()) => Ok(HttpResponse::Ok().json(DeviceAction { data: "OK".into(), error: String::new() })),
        Err(error) if error.error_key.as_deref() == Some(crate::actions::UPDATES_LOCKED) => {
            Err(Failure::device(StatusCode::LOCKED, error.message))
        }
        Err(error) => Err(Failure::text_from(error)),
    }
}

/// Makes the application's containers again.
#[utoipa::path(tag = "balena", request_body = AppRequest, responses(
    (status = 200, description = "`OK`", content_type = "text/plain", body = String),
    (status = 400, description = "No application id", content_type = "text/plain", body = String),
    (status = 423, description = "A service holds its update lock", content_type = "text/plain", body = String)))]
#[post("/v1/restart")]
async fn v1_restart(manager: Manager, caller: Caller, body: Body<AppRequest>) -> Result<HttpResponse, Failure> {
    let app_id = body.0.app(&caller)?;
    manager.app_action(app_id, crate::actions::AppAction::Restart, body.0.force).await.map_err(action_failure)?;
    Ok(text(StatusCode::OK, "OK"))
}

/// Empties the application's volumes (its containers made again).
#[utoipa::path(tag = "balena", params(("appId" = String, Path)), request_body = Option<PowerRequest>, responses(
    (status = 200, description = "`OK`", content_type = "text/plain", body = String),
    (status = 423, description = "A service holds its update lock", content_type = "text/plain", body = String)))]
#[post("/v2/applications/{appId}/purge")]
async fn v2_applications_app_purge(
    manager: Manager,
    caller: Caller,
    path: web::Path<String>,
    body: Body<PowerRequest>,
) -> Result<HttpResponse, Failure> {
    let app_id = scoped_app(&caller, &path, "Missing app id")?;
    manager.app_action(app_id, crate::actions::AppAction::Purge, body.0.force).await.map_err(action_failure)?;
    Ok(text(StatusCode::OK, "OK"))
}

/// Makes every container of the application again.
#[utoipa::path(tag = "balena", params(("appId" = String, Path)), request_body = Option<PowerRequest>, responses(
    (status = 200, description = "`OK`", content_type = "text/plain", body = String),
    (status = 423, description = "A service holds its update lock", content_type = "text/plain", body = String)))]
#[post("/v2/applications/{appId}/restart")]
async fn v2_applications_app_restart(
    manager: Manager,
    caller: Caller,
    path: web::Path<String>,
    body: Body<PowerRequest>,
) -> Result<HttpResponse, Failure> {
    let app_id = scoped_app(&caller, &path, "Missing app id")?;
    manager.app_action(app_id, crate::actions::AppAction::Restart, body.0.force).await.map_err(action_failure)?;
    Ok(text(StatusCode::OK, "OK"))
}

/// A service action's body: the service by name or image id, and `force`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRequest {
    #[serde(default, rename = "serviceName")]
    service_name: Option<String>,
    #[serde(default, rename = "imageId", deserialize_with = "count")]
    #[schema(value_type = Option<u64>)]
    image_id: Option<u64>,
    /// Go ahead even while a service holds its update lock.
    #[serde(default, deserialize_with = "truthy")]
    force: bool,
}

async fn service_action(
    manager: &BalenaManager,
    caller: &Caller,
    path: &str,
    body: ServiceRequest,
    action: crate::actions::ServiceAction,
) -> Result<HttpResponse, Failure> {
    let app_id = scoped_app(caller, path, "Invalid app id")?;
    let selector = match (body.service_name.filter(|name| !name.is_empty()), body.image_id) {
        (Some(name), _) => crate::actions::Selector::Name(name),
        (None, Some(id)) => crate::actions::Selector::ImageId(u32::try_from(id).unwrap_or(u32::MAX)),
        (None, None) => {
            return Err(Failure::text(StatusCode::BAD_REQUEST, "This endpoint requires one of imageId or serviceName"))
        }
    };
    manager.service_action(app_id, &selector, action, body.force).await.map_err(action_failure)?;
    Ok(text(StatusCode::OK, "OK"))
}

/// Makes a service's container again.
#[utoipa::path(tag = "balena", params(("appId" = String, Path)), request_body = ServiceRequest, responses(
    (status = 200, description = "`OK`", content_type = "text/plain", body = String),
    (status = 400, description = "No service named", content_type = "text/plain", body = String),
    (status = 404, description = "No such service", content_type = "text/plain", body = String),
    (status = 423, description = "A service holds its update lock", content_type = "text/plain", body = String)))]
#[post("/v2/applications/{appId}/restart-service")]
async fn v2_applications_app_restart_service(
    manager: Manager,
    caller: Caller,
    path: web::Path<String>,
    body: Body<ServiceRequest>,
) -> Result<HttpResponse, Failure> {
    service_action(&manager, &caller, &path, body.0, crate::actions::ServiceAction::Restart).await
}

/// Stops a service's container until it is started again (or the supervisor restarts).
#[utoipa::path(tag = "balena", params(("appId" = String, Path)), request_body = ServiceRequest, responses(
    (status = 200, description = "`OK`", content_type = "text/plain", body = String),
    (status = 404, description = "No such service", content_type = "text/plain", body = String),
    (status = 423, description = "A service holds its update lock", content_type = "text/plain", body = String)))]
#[post("/v2/applications/{appId}/stop-service")]
async fn v2_applications_app_stop_service(
    manager: Manager,
    caller: Caller,
    path: web::Path<String>,
    body: Body<ServiceRequest>,
) -> Result<HttpResponse, Failure> {
    service_action(&manager, &caller, &path, body.0, crate::actions::ServiceAction::Stop).await
}

/// Starts a service's container.
#[utoipa::path(tag = "balena", params(("appId" = String, Path)), request_body = ServiceRequest, responses(
    (status = 200, description = "`OK`", content_type = "text/plain", body = String),
    (status = 404, description = "No such service", content_type = "text/plain", body = String)))]
#[post("/v2/applications/{appId}/start-service")]
async fn v2_applications_app_start_service(
    manager: Manager,
    caller: Caller,
    path: web::Path<String>,
    body: Body<ServiceRequest>,
) -> Result<HttpResponse, Failure> {
    service_action(&manager, &caller, &path, body.0, crate::actions::ServiceAction::Start).await
}

/// Which service `/v2/containerId` answers for.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ContainerQuery {
    /// One service's container only.
    #[serde(rename = "serviceName")]
    #[param(rename = "serviceName")]
    service_name: Option<String>,
    /// The same, by its older name.
    service: Option<String>,
}

/// The container of each service, or of one.
#[utoipa::path(tag = "balena", params(ContainerQuery), responses(
    (status = 200, body = Object, example = json!({"status": "success", "services": {"main": "ad6d5d32576a"}})),
    (status = 503, description = "No service of that name", body = Object)))]
#[get("/v2/containerId")]
async fn v2_container_id(
    manager: Manager,
    caller: Caller,
    query: web::Query<ContainerQuery>,
) -> Result<HttpResponse, Failure> {
    let ids = manager
        .container_ids(caller.scope)
        .await
        .map_err(|e| Failure::failed(StatusCode::SERVICE_UNAVAILABLE, e.message))?;
    let query = query.into_inner();
    if let Some(name) = query.service_name.or(query.service) {
        let (_, id) = ids
            .into_iter()
            .find(|(service, _)| *service == name)
            .ok_or_else(|| Failure::failed(StatusCode::SERVICE_UNAVAILABLE, "Could not find service with that name"))?;
        return Ok(HttpResponse::Ok().json(json!({"status": "success", "containerId": id})));
    }
    let services: Map<String, Value> = ids.into_iter().map(|(name, id)| (name, Value::String(id))).collect();
    Ok(HttpResponse::Ok().json(json!({"status": "success", "services": services})))
}

/// Every service's log lines from now on, as JSON lines, until the client goes.
#[utoipa::path(tag = "balena", responses((status = 200, description = "JSON lines: `message`, `timestamp`, `serviceName`, `serviceId`",
    content_type = "application/x-ndjson", body = String)))]
#[get("/v2/local/logs")]
async fn v2_local_logs(manager: Manager) -> HttpResponse {
    use futures_util::StreamExt;
    let lines = manager.into_inner().local_logs();
    HttpResponse::Ok().content_type("application/x-ndjson").streaming(lines.map(Ok::<_, std::convert::Infallible>))
}

async fn cleanup_volumes(manager: &BalenaManager, caller: &Caller) -> Result<HttpResponse, Failure> {
    manager
        .cleanup_volumes(caller.scope)
        .await
        .map_err(|e| Failure::failed(StatusCode::INTERNAL_SERVER_ERROR, e.message))?;
    Ok(HttpResponse::Ok().json(json!({"status": "success"})))
}

/// Removes the volumes no application of the target names.
#[utoipa::path(tag = "balena", responses((status = 200, body = Object, example = json!({"status": "success"})),
    (status = 500, description = "A volume could not be removed", body = Object)))]
#[get("/v2/cleanup-volumes")]
async fn v2_cleanup_volumes(manager: Manager, caller: Caller) -> Result<HttpResponse, Failure> {
    cleanup_volumes(&manager, &caller).await
}

/// Removes the volumes no application of the target names.
#[utoipa::path(tag = "balena", responses((status = 200, body = Object, example = json!({"status": "success"})),
    (status = 500, description = "A volume could not be removed", body = Object)))]
#[post("/v2/cleanup-volumes")]
async fn v2_cleanup_volumes_post(manager: Manager, caller: Caller) -> Result<HttpResponse, Failure> {
    cleanup_volumes(&manager, &caller).await
}

/// A new name of the device.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceName {
    name: String,
}

/// Names the device.
#[utoipa::path(tag = "balena", request_body = DeviceName, responses(
    (status = 200, body = Object, example = json!({"status": "success"})),
    (status = 400, description = "Not a name", body = Object)))]
#[patch("/v2/device/name")]
async fn v2_device_name_patch(manager: Manager, body: Body<DeviceName>) -> Result<HttpResponse, Failure> {
    let name = body.0.name;
    if name.trim().is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(Failure::failed(StatusCode::BAD_REQUEST, "name must be a name of 1 to 255 characters"));
    }
    manager.set_device_name(name).map_err(|e| Failure::failed(StatusCode::SERVICE_UNAVAILABLE, e.message))?;
    Ok(HttpResponse::Ok().json(json!({"status": "success"})))
}
