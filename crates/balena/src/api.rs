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
