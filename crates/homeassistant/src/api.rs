//! The `/core` API group, served the same under its old name `/homeassistant`: Core's info,
//! options, stats and logs, its life cycle, and the proxy to Core's own API.

use crate::manager::CoreManager;
use actix_web::{get, post, route, web, HttpRequest, HttpResponse};
use docker::Stats;
use http_api::body::{present, Body, Options};
use http_api::logs::{LogDocs, LogError, LogRequest, LogSource};
use http_api::routes::{GroupRoutes, Requires, HOMEASSISTANT, INFO, OPEN};
use http_api::{ok, ok_empty, ApiError, ApiResult, Routes};
use jobs::api::answer;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares the group's routes under both of its names.
pub fn routes(routes: &mut Routes) {
    routes.tag("core", "Home Assistant Core: the managed container and the proxy to its API");
    for prefix in ["/core", "/homeassistant"] {
        declare(&mut routes.group(prefix));
    }
}

fn declare(group: &mut GroupRoutes) {
    group
        .route(INFO, core_info)
        .route(HOMEASSISTANT, core_stats)
        .route(HOMEASSISTANT, core_options)
        .route(HOMEASSISTANT, core_update)
        .route(HOMEASSISTANT, core_restart)
        .route(HOMEASSISTANT, core_rebuild)
        .route(HOMEASSISTANT, core_stop)
        .route(HOMEASSISTANT, core_start)
        .route(HOMEASSISTANT, core_check)
        .route(OPEN.requiring(Requires::OwnCredential), core_websocket)
        .route(OPEN.requiring(Requires::OwnCredential), core_api_websocket)
        .route(OPEN.requiring(Requires::HomeassistantApi), core_api)
        .logs("", HOMEASSISTANT, CoreLogs);
}

#[derive(Serialize, ToSchema)]
pub struct CoreInfo {
    version: Option<String>,
    version_latest: Option<String>,
    update_available: bool,
    machine: Option<String>,
    /// Where the supervisor reaches Core: the container network's gateway (Core runs on the
    /// host's network).
    ip_address: String,
    arch: Option<String>,
    image: String,
    boot: bool,
    port: u16,
    ssl: bool,
    watchdog: bool,
    audio_input: Option<String>,
    audio_output: Option<String>,
    backups_exclude_database: bool,
    duplicate_log_file: bool,
}

#[utoipa::path(tag = "core", responses((status = 200, body = http_api::envelope::Envelope<CoreInfo>)))]
#[get("/info")]
async fn core_info(core: web::Data<CoreManager>) -> ApiResult {
    let config = core.config();
    ok(CoreInfo {
        version: config.version.clone(),
        version_latest: core.version_latest(),
        update_available: core.update_available(),
        machine: Some(core.machine().to_owned()),
        ip_address: core.api().host(),
        arch: Some(base::arch::arch().to_owned()),
        image: core.image(),
        boot: config.boot,
        port: config.port,
        ssl: config.ssl,
        watchdog: config.watchdog,
        audio_input: config.audio_input,
        audio_output: config.audio_output,
        backups_exclude_database: config.backups_exclude_database,
        duplicate_log_file: config.duplicate_log_file,
    })
}

#[utoipa::path(tag = "core", responses((status = 200, body = http_api::envelope::Envelope<Stats>)))]
#[get("/stats")]
async fn core_stats(core: web::Data<CoreManager>) -> ApiResult {
    ok(core.stats().await?)
}

/// Every key may be left out; `image`, `refresh_token` and the audio devices may be `null`
/// (back to the default).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoreOptions {
    boot: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    image: Option<Option<String>>,
    port: Option<u16>,
    ssl: Option<bool>,
    watchdog: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    refresh_token: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    audio_input: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    audio_output: Option<Option<String>>,
    backups_exclude_database: Option<bool>,
    duplicate_log_file: Option<bool>,
}

/// Sets options; everything is checked before anything is stored. Core is not restarted.
#[utoipa::path(tag = "core", request_body = CoreOptions, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/options")]
async fn core_options(core: web::Data<CoreManager>, body: Options<CoreOptions>) -> ApiResult {
    let options = body.into_inner();
    if options.port == Some(0) {
        return Err(ApiError::bad_request("port must be between 1 and 65535, got 0"));
    }
    pulse::clients::check_defaults(
        options.audio_output.as_ref().and_then(Option::as_deref),
        options.audio_input.as_ref().and_then(Option::as_deref),
    )
    .map_err(ApiError::bad_request)?;
    if let Some(Some(image)) = &options.image {
        if !addon_config::is_docker_image(image) {
            return Err(ApiError::bad_request(format!("image: {image:?} is not a Docker image name")));
        }
    }
    let default_image = core.default_image();
    core.update_config(|config| {
        if let Some(boot) = options.boot {
            config.boot = boot;
        }
        if let Some(image) = options.image {
            config.image = image.filter(|image| *image != default_image);
        }
        if let Some(port) = options.port {
            config.port = port;
        }
        if let Some(ssl) = options.ssl {
            config.ssl = ssl;
        }
        if let Some(watchdog) = options.watchdog {
            config.watchdog = watchdog;
        }
        if let Some(token) = options.refresh_token {
            config.refresh_token = token;
        }
        if let Some(input) = options.audio_input {
            config.audio_input = input;
        }
        if let Some(output) = options.audio_output {
            config.audio_output = output;
        }
        if let Some(exclude) = options.backups_exclude_database {
            config.backups_exclude_database = exclude;
        }
        if let Some(duplicate) = options.duplicate_log_file {
            config.duplicate_log_file = duplicate;
        }
    })
    .await?;
    ok_empty()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoreUpdate {
    /// The version to install; the latest by default.
    version: Option<String>,
    /// Make a partial backup of Core first.
    #[serde(default)]
    backup: bool,
    #[serde(default)]
    background: bool,
}

/// Updates Core, rolling back to the installed version when the new one does not come up.
#[utoipa::path(tag = "core", request_body = CoreUpdate, responses((status = 200, body = http_api::envelope::Envelope<jobs::api::JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/update")]
async fn core_update(core: web::Data<CoreManager>, body: Body<CoreUpdate>) -> ApiResult {
    let body = body.into_inner();
    answer(core.update(body.version, body.backup, body.background).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoreRestart {
    /// Start Core in safe mode (no custom integrations) once.
    #[serde(default)]
    safe_mode: bool,
    /// Even while Core migrates its database offline.
    #[serde(default)]
    force: bool,
}

#[utoipa::path(tag = "core", request_body = CoreRestart, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>)))]
#[post("/restart")]
async fn core_restart(core: web::Data<CoreManager>, body: Body<CoreRestart>) -> ApiResult {
    let body = body.into_inner();
    core.restart(body.safe_mode, body.force).await?;
    ok_empty()
}

/// Makes Core's container again, with a new token.
#[utoipa::path(tag = "core", request_body = CoreRestart, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>)))]
#[post("/rebuild")]
async fn core_rebuild(core: web::Data<CoreManager>, body: Body<CoreRestart>) -> ApiResult {
    let body = body.into_inner();
    core.rebuild(body.safe_mode, body.force).await?;
    ok_empty()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoreStop {
    /// Even while Core migrates its database offline.
    #[serde(default)]
    force: bool,
}

#[utoipa::path(tag = "core", request_body = CoreStop, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>)))]
#[post("/stop")]
async fn core_stop(core: web::Data<CoreManager>, body: Body<CoreStop>) -> ApiResult {
    core.stop(body.into_inner().force).await?;
    ok_empty()
}

#[utoipa::path(tag = "core", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>)))]
#[post("/start")]
async fn core_start(core: web::Data<CoreManager>) -> ApiResult {
    core.start().await?;
    ok_empty()
}

/// Checks Core's configuration with Core's own checker, run in its image; 400 with the
/// checker's output when it is invalid.
#[utoipa::path(tag = "core", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/check")]
async fn core_check(core: web::Data<CoreManager>) -> ApiResult {
    core.check_config().await?;
    ok_empty()
}

/// Core's websocket API for add-ons granted `homeassistant_api`: they log in with their own
/// token; `hassio/` and `supervisor/` commands are refused.
#[utoipa::path(tag = "core", responses((status = 101, description = "Switched to the websocket protocol"), (status = 400, description = "Not a websocket handshake"), (status = 502, description = "Core does not answer")))]
#[get("/websocket")]
async fn core_websocket(
    req: HttpRequest,
    body: web::Payload,
    core: web::Data<CoreManager>,
) -> actix_web::Result<HttpResponse> {
    crate::proxy::websocket(req, body, core.get_ref().clone()).await
}

/// The same websocket, at the path Core itself serves it.
#[utoipa::path(tag = "core", responses((status = 101, description = "Switched to the websocket protocol"), (status = 400, description = "Not a websocket handshake"), (status = 502, description = "Core does not answer")))]
#[get("/api/websocket")]
async fn core_api_websocket(
    req: HttpRequest,
    body: web::Payload,
    core: web::Data<CoreManager>,
) -> actix_web::Result<HttpResponse> {
    crate::proxy::websocket(req, body, core.get_ref().clone()).await
}

/// Core's REST API for add-ons granted `homeassistant_api` (their token in `Authorization` or
/// `X-Ha-Access`), streamed both ways; Core's Supervisor integration (`hassio...`) is refused.
#[utoipa::path(
    tag = "core",
    method(get, post, delete),
    path = "/api/{path}",
    params(("path" = String, Path, description = "The path under Core's `/api/`")),
    responses(
        (status = 200, description = "Core's answer, whatever its status and type"),
        (status = 401, description = "Not an add-on granted `homeassistant_api`"),
        (status = 502, description = "Core does not answer"),
    )
)]
#[route("/api/{path:.*}", method = "GET", method = "POST", method = "DELETE")]
async fn core_api(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    core: web::Data<CoreManager>,
) -> Result<HttpResponse, ApiError> {
    let path = path.into_inner();
    if path.starts_with("hassio/") || path.starts_with("hassio_") {
        return Err(ApiError::forbidden(format!("/api/{path} is not available through the proxy")));
    }
    crate::proxy::forward(req, &path, payload, &core).await
}

/// Core's log: its journal entries (identifier `homeassistant`), else the engine's log of its
/// container.
struct CoreLogs;

impl LogSource for CoreLogs {
    type Manager = CoreManager;

    fn docs(&self) -> LogDocs {
        LogDocs {
            tag: "core",
            name: "core",
            whose: "Home Assistant Core's",
            about: "From the journal (identifier `homeassistant`), else the engine's log of Core's current \
                container: then boot `0` is the only one.",
            errors: &[LogError {
                status: 400,
                when: "A wrong `Range`, `lines` or `Accept`, or a boot the log does not hold",
                envelope: false,
            }],
        }
    }

    async fn answer(&self, core: &CoreManager, request: LogRequest) -> actix_web::Result<HttpResponse> {
        request.lines()?;
        if let Some(gateway) = request.http().app_data::<web::Data<journal::Gateway>>() {
            let logs = journal::Logs::identifiers(["homeassistant"]).fallback_when_empty();
            if let Ok(response) = request.journal(gateway, &request.select(logs)).await {
                return Ok(response);
            }
        }
        let name = core.container_name();
        let docker = core.docker();
        request.container_log(|tail, follow| docker.container_log(&name, tail, follow)).await
    }
}
