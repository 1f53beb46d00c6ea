//! The `/supervisor` API group.

use crate::logs::read_lines;
use crate::manager::valid_timezone;
use crate::{LogLevel, SupervisorManager};
use actix_web::{get, post, web, HttpResponse};
use addons::AddonManager;
use base::logs::Selection;
use bytes::Bytes;
use docker::Stats;
use http_api::body::{present, Body, Options};
use http_api::logs::{LogDocs, LogError, LogRequest, LogSource};
use http_api::routes::{INFO, MANAGER, OPEN};
use http_api::Routes;
use http_api::{ok, ok_empty, ApiError, ApiResult};
use jobs::api::{answer, BackgroundBody};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio::sync::broadcast::error::RecvError;
use updater::Channel;
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("supervisor", "The supervisor itself");
    routes
        .group("/supervisor")
        .route(OPEN, supervisor_ping)
        .route(INFO, supervisor_info)
        .route(MANAGER, supervisor_options)
        .route(MANAGER, supervisor_reload)
        .route(MANAGER, supervisor_restart)
        .route(MANAGER, supervisor_repair)
        .route(MANAGER, supervisor_update)
        .route(MANAGER, supervisor_stats)
        .logs("", MANAGER, SupervisorLogs);
}

/// The address add-ons reach the supervisor at before the network exists: the real default
/// gateway of the `hassio` network, where the supervisor listens when it runs on the host.
const DEFAULT_SUPERVISOR_IP: &str = "172.30.32.1";

#[derive(Serialize, ToSchema)]
pub struct SupervisorInfo {
    version: String,
    version_latest: String,
    update_available: bool,
    channel: Channel,
    arch: String,
    supported: bool,
    healthy: bool,
    ip_address: String,
    timezone: String,
    logging: LogLevel,
    debug: bool,
    debug_block: bool,
    diagnostics: Option<bool>,
    auto_update: bool,
    detect_blocking_io: bool,
    country: Option<String>,
    feature_flags: BTreeMap<String, bool>,
    /// Deprecated in the real Supervisor, still read by Core to make a device per add-on.
    wait_boot: u32,
    /// Deprecated likewise.
    addons: Vec<InstalledAddon>,
    /// Every repository, the built-in ones too (deprecated likewise).
    addons_repositories: Vec<RepositoryName>,
}

/// An installed add-on as `/supervisor/info` lists it.
#[derive(Serialize, ToSchema)]
pub struct InstalledAddon {
    name: String,
    slug: String,
    version: String,
    version_latest: String,
    update_available: bool,
    #[schema(value_type = String)]
    state: addons::AddonState,
    repository: String,
    icon: bool,
}

impl From<addons::AddonListItem> for InstalledAddon {
    fn from(item: addons::AddonListItem) -> Self {
        InstalledAddon {
            name: item.name,
            slug: item.slug,
            version: item.version,
            version_latest: item.version_latest,
            update_available: item.update_available,
            state: item.state,
            repository: item.repository,
            icon: item.icon,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RepositoryName {
    name: String,
    slug: String,
}

/// `on` and `on_at_startup` are accepted for compatibility; Rust has no event loop to watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DetectBlockingIo {
    On,
    Off,
    OnAtStartup,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupervisorOptions {
    channel: Option<Channel>,
    timezone: Option<String>,
    /// Seconds to wait at boot (1 to 60).
    wait_boot: Option<u32>,
    logging: Option<LogLevel>,
    debug: Option<bool>,
    debug_block: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    diagnostics: Option<Option<bool>>,
    addons_repositories: Option<Vec<String>>,
    auto_update: Option<bool>,
    detect_blocking_io: Option<DetectBlockingIo>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    country: Option<Option<String>>,
    feature_flags: Option<BTreeMap<String, bool>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupervisorUpdate {
    /// The version to install (only on the `dev` channel); the latest otherwise.
    version: Option<String>,
    #[serde(default)]
    background: bool,
}

/// The feature flags the supervisor knows; others are refused.
const FEATURE_FLAGS: [&str; 2] = ["supervisor_v2_api", "unix_socket_core_api"];

/// Answers whether the supervisor is up; needs no token.
#[utoipa::path(tag = "supervisor", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>)))]
#[get("/ping")]
async fn supervisor_ping() -> ApiResult {
    ok_empty()
}

#[utoipa::path(tag = "supervisor", responses((status = 200, body = http_api::envelope::Envelope<SupervisorInfo>)))]
#[get("/info")]
async fn supervisor_info(supervisor: web::Data<SupervisorManager>, addons: web::Data<AddonManager>) -> ApiResult {
    let config = supervisor.config();
    let mut feature_flags: BTreeMap<String, bool> = FEATURE_FLAGS.iter().map(|f| (f.to_string(), false)).collect();
    feature_flags.extend(config.feature_flags.clone());
    ok(SupervisorInfo {
        version: base::SUPERVISOR_VERSION.to_owned(),
        version_latest: supervisor.version_latest(),
        update_available: supervisor.update_available(),
        channel: supervisor.updater.channel(),
        arch: base::arch::arch().to_owned(),
        supported: supervisor.system.supported(),
        healthy: supervisor.system.healthy(),
        ip_address: supervisor
            .docker
            .network_info()
            .map_or_else(|| DEFAULT_SUPERVISOR_IP.to_owned(), |n| n.gateway.to_string()),
        timezone: supervisor.timezone(),
        logging: config.logging,
        debug: config.debug,
        debug_block: config.debug_block,
        diagnostics: config.diagnostics,
        auto_update: supervisor.updater.auto_update(),
        detect_blocking_io: config.detect_blocking_io,
        country: config.country,
        feature_flags,
        wait_boot: config.wait_boot,
        addons: addons.list_items().await.into_iter().map(InstalledAddon::from).collect(),
        addons_repositories: supervisor
            .catalog
            .repositories()
            .into_iter()
            .map(|r| RepositoryName { name: r.name, slug: r.slug })
            .collect(),
    })
}

/// Sets options; every value is checked before anything is stored.
#[utoipa::path(tag = "supervisor", request_body = SupervisorOptions, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/options")]
async fn supervisor_options(supervisor: web::Data<SupervisorManager>, body: Options<SupervisorOptions>) -> ApiResult {
    let options = body.into_inner();
    if let Some(zone) = &options.timezone {
        if !valid_timezone(zone) {
            return Err(ApiError::bad_request(format!("Invalid timezone: {zone}")));
        }
    }
    if let Some(wait) = options.wait_boot {
        if !(1..=60).contains(&wait) {
            return Err(ApiError::bad_request(format!("wait_boot must be between 1 and 60, got {wait}")));
        }
    }
    if let Some(flags) = &options.feature_flags {
        if let Some(unknown) = flags.keys().find(|f| !FEATURE_FLAGS.contains(&f.as_str())) {
            return Err(ApiError::bad_request(format!("Unknown feature flag: {unknown}")));
        }
    }
    if let Some(repositories) = &options.addons_repositories {
        for repository in repositories {
            store::check_source(repository).map_err(|e| {
                ApiError::bad_request(format!("Invalid add-on repository {repository:?}: {}", e.message))
            })?;
        }
    }
    if let Some(mut repositories) = options.addons_repositories {
        let mut seen = std::collections::HashSet::new();
        repositories.retain(|r| seen.insert(r.clone()));
        supervisor.set_addons_repositories(&repositories).await?;
    }
    if options.channel.is_some() || options.auto_update.is_some() {
        supervisor.updater.set_options(options.channel, options.auto_update)?;
    }
    supervisor.update_config(|config| {
        if let Some(zone) = options.timezone {
            config.timezone = Some(zone);
        }
        if let Some(wait) = options.wait_boot {
            config.wait_boot = wait;
        }
        if let Some(level) = options.logging {
            config.logging = level;
        }
        if let Some(debug) = options.debug {
            config.debug = debug;
        }
        if let Some(debug_block) = options.debug_block {
            config.debug_block = debug_block;
        }
        if let Some(diagnostics) = options.diagnostics {
            config.diagnostics = diagnostics;
        }
        if let Some(country) = options.country {
            config.country = country;
        }
        if let Some(detect) = options.detect_blocking_io {
            config.detect_blocking_io = detect != DetectBlockingIo::Off;
        }
        if let Some(flags) = options.feature_flags {
            config.feature_flags.extend(flags);
        }
    })?;
    ok_empty()
}

/// Reloads version information.
#[utoipa::path(tag = "supervisor", request_body = Option<BackgroundBody>, responses((status = 200, description = "Done (`{}`), or started with `background` (its job id)", body = http_api::envelope::Envelope<jobs::api::JobStarted>)))]
#[post("/reload")]
async fn supervisor_reload(supervisor: web::Data<SupervisorManager>, body: Body<BackgroundBody>) -> ApiResult {
    answer(supervisor.reload(body.0.background).await?)
}

/// Restarts the supervisor in place once this answer is sent.
#[utoipa::path(tag = "supervisor", request_body(content = Option<Object>, description = "Ignored; must be JSON when given"),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/restart")]
async fn supervisor_restart(supervisor: web::Data<SupervisorManager>, _body: Body<serde_json::Value>) -> ApiResult {
    supervisor.restart().await?;
    ok_empty()
}

/// Repairs the container network and what the supervisor depends on.
#[utoipa::path(tag = "supervisor", request_body = Option<BackgroundBody>, responses((status = 200, description = "Done (`{}`), or started with `background` (its job id)", body = http_api::envelope::Envelope<jobs::api::JobStarted>), (status = 503, body = http_api::envelope::ErrorEnvelope)))]
#[post("/repair")]
async fn supervisor_repair(supervisor: web::Data<SupervisorManager>, body: Body<BackgroundBody>) -> ApiResult {
    answer(supervisor.repair(body.0.background).await?)
}

/// Updates the supervisor to the latest version (or, on `dev`, to `version`).
#[utoipa::path(tag = "supervisor", request_body = Option<SupervisorUpdate>, responses((status = 200, description = "Done (`{}`), or started with `background` (its job id)", body = http_api::envelope::Envelope<jobs::api::JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/update")]
async fn supervisor_update(supervisor: web::Data<SupervisorManager>, body: Body<SupervisorUpdate>) -> ApiResult {
    let body = body.into_inner();
    answer(supervisor.update(body.version, body.background).await?)
}

/// CPU, memory, network and block figures of the supervisor process.
#[utoipa::path(tag = "supervisor", responses((status = 200, body = http_api::envelope::Envelope<Stats>)))]
#[get("/stats")]
async fn supervisor_stats(supervisor: web::Data<SupervisorManager>) -> ApiResult {
    ok(supervisor.stats.sample().map_err(|e| ApiError::internal(format!("Can't read process figures: {e}")))?)
}

/// The supervisor's log: the journal's entries of its syslog identifier when it has any
/// (running as a service), else the log files it keeps itself, one per start.
struct SupervisorLogs;

/// The syslog identifier of the supervisor's journal entries (the service's `SyslogIdentifier`,
/// the real Supervisor's name).
pub const JOURNAL_IDENTIFIER: &str = "hassio_supervisor";

impl LogSource for SupervisorLogs {
    type Manager = SupervisorManager;

    fn docs(&self) -> LogDocs {
        LogDocs {
            tag: "supervisor",
            name: "supervisor",
            whose: "The supervisor's",
            about: "From the journal when it holds entries of `hassio_supervisor` (the supervisor \
                running as a service), else from the log files the supervisor keeps itself, one per \
                start: a boot is then a start, and following goes on only in this start's. \
                `/latest` is always this start's file.",
            errors: &[LogError {
                status: 400,
                when: "A wrong `Range`, `lines` or `Accept`, or a boot the log does not hold",
                envelope: true,
            }],
        }
    }

    async fn answer(&self, supervisor: &SupervisorManager, request: LogRequest) -> actix_web::Result<HttpResponse> {
        let lines = request.lines()?;
        if request.latest() {
            return Ok(latest_log(supervisor, lines)?);
        }
        let bootid = request.boot().unwrap_or("0");
        if let Some(gateway) = request.http().app_data::<web::Data<journal::Gateway>>() {
            let logs = journal::Logs::identifiers([JOURNAL_IDENTIFIER]).fallback_when_empty().boot(bootid);
            if let Ok(response) = request.journal(gateway, &request.select(logs)).await {
                return Ok(response);
            }
        }
        Ok(logs_of_boot(supervisor, &request, lines, bootid)?)
    }
}

fn text(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(body)
}

/// Every line of this start's log file (the last `lines`).
fn latest_log(supervisor: &SupervisorManager, lines: Option<usize>) -> ApiResult {
    let selection = lines.map_or(Selection::parse_range("entries=0")?, Selection::last);
    Ok(text(read_lines(supervisor.log.current(), selection)?))
}

/// The supervisor's log from the log files it keeps itself.
fn logs_of_boot(supervisor: &SupervisorManager, request: &LogRequest, lines: Option<usize>, bootid: &str) -> ApiResult {
    let range = request.range()?;
    let selection = Selection::of_request(range, lines)?;
    let (path, current) = supervisor.log.boot(bootid)?;
    if !(request.follow() && current) {
        return Ok(text(read_lines(&path, selection)?));
    }
    // Subscribe before reading, so no line falls between the file and the stream.
    let lines = supervisor.log.subscribe();
    let first = Bytes::from(read_lines(&path, selection)?);
    let stream = futures_util::stream::unfold((Some(first), lines), |(first, mut lines)| async move {
        if let Some(first) = first {
            return Some((Ok::<_, actix_web::Error>(first), (None, lines)));
        }
        loop {
            match lines.recv().await {
                Ok(line) => return Some((Ok(Bytes::from(line + "\n")), (None, lines))),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").streaming(stream))
}
