//! The `/addons` API group, plus installing and updating through `/store/addons/{addon}/...`.
//!
//! `{addon}` is a full slug or `self`, the calling add-on (addon-api.md §1.3): `self` from
//! anything but an add-on is a 400, an unknown slug a 404, a store add-on that is not installed
//! a 400. The log endpoints answer their errors as plain text, like their bodies.

use crate::data::{ports_from_api, Boot, Installed, Ports};
use crate::errors;
use crate::info::{self, AddonInfo, AddonList};
use crate::manager::AddonManager;
use actix_web::{get, post, web, HttpMessage, HttpRequest, HttpResponse};
use docker::Stats;
use http_api::body::{present, Body, Options};
use http_api::logs::{text_error, LogDocs, LogError, LogRequest, LogSource};
use http_api::routes::{ADMIN, CORE, INFO, MANAGER};
use http_api::Routes;
use http_api::{ok, ok_empty, ApiError, ApiResult};
use jobs::api::{answer, JobStarted};
use security::{Caller, Role};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("addons", "Installed add-ons: life cycle, options, logs and stats");
    routes
        .group("/addons")
        .route(MANAGER, addons_list)
        .route(INFO.or_own(), addon_info)
        .route(MANAGER.or_own(), addon_install)
        .route(MANAGER, addon_update)
        .route(MANAGER.or_own(), addon_uninstall)
        .route(MANAGER.or_own(), addon_start)
        .route(MANAGER.or_own(), addon_stop)
        .route(MANAGER.or_own(), addon_restart)
        .route(MANAGER, addon_options_validate)
        .route(MANAGER.or_own(), addon_options_config)
        .route(MANAGER.or_own(), addon_options)
        .route(CORE, addon_sys_options)
        .route(MANAGER.or_own(), addon_rebuild)
        .route(MANAGER.or_own(), addon_stdin)
        .route(ADMIN, addon_security)
        .route(MANAGER.or_own(), addon_stats)
        .logs("/{addon}", MANAGER.or_own(), AddonLogs);
    routes
        .group("/store")
        .route(MANAGER, store_addon_install)
        .route(MANAGER, store_addon_install_version)
        .route(MANAGER, store_addon_update)
        .route(MANAGER, store_addon_update_version);
}

type Manager = web::Data<AddonManager>;

/// The calling add-on, if the caller is one.
fn caller_slug(req: &HttpRequest) -> Option<String> {
    match req.extensions().get::<Caller>() {
        Some(Caller::Addon { slug, .. }) => Some(slug.clone()),
        _ => None,
    }
}

/// `{addon}` resolved: an installed add-on's slug, or the error §1.3 prescribes.
fn resolve(req: &HttpRequest, manager: &AddonManager, addon: &str) -> Result<Result<String, String>, ApiError> {
    let slug = if addon == "self" { caller_slug(req).ok_or_else(errors::self_not_addon)? } else { addon.to_owned() };
    if manager.is_installed(&slug) {
        Ok(Ok(slug))
    } else if manager.catalog().addon(&slug).is_some() {
        Ok(Err(slug))
    } else {
        Err(errors::does_not_exist(&slug).into())
    }
}

/// The installed add-on `{addon}` names.
fn installed(req: &HttpRequest, manager: &AddonManager, addon: &str) -> Result<Installed, ApiError> {
    let slug = resolve(req, manager, addon)?.map_err(|_| errors::not_installed())?;
    manager.get(&slug).ok_or_else(|| errors::not_installed().into())
}

/// Installed add-ons.
#[utoipa::path(tag = "addons", responses((status = 200, body = http_api::envelope::Envelope<AddonList>)))]
#[get("")]
async fn addons_list(manager: Manager) -> ApiResult {
    ok(AddonList { addons: manager.list_items().await })
}

/// An add-on's details; for an add-on that is only in the store, its store details with state
/// `unknown` and the default options (legacy v1 behaviour).
#[utoipa::path(
    tag = "addons",
    params(("addon" = String, Path, description = "Full slug, or `self`")),
    responses(
        (status = 200, body = http_api::envelope::Envelope<AddonInfo>),
        (status = 400, body = http_api::envelope::ErrorEnvelope),
        (status = 404, body = http_api::envelope::ErrorEnvelope)
    )
)]
#[get("/{addon}/info")]
async fn addon_info(req: HttpRequest, manager: Manager, addon: web::Path<String>) -> ApiResult {
    let slug = match resolve(&req, &manager, &addon)? {
        Ok(slug) => slug,
        Err(slug) => {
            let store = manager.store_addon(&slug)?;
            let facts = manager.store_facts(&store);
            return ok(info::store_info(&slug, &store.repository, &store.config, &facts));
        }
    };
    let addon = manager.get(&slug).ok_or_else(errors::not_installed)?;
    let show_options = match req.extensions().get::<Caller>() {
        Some(Caller::Addon { slug: caller, grants }) => {
            *caller == slug || matches!(grants.role, Role::Manager | Role::Admin)
        }
        _ => true,
    };
    let runtime = info::Runtime {
        state: manager.state(&slug).await,
        ip_address: manager.ip_address(&addon).await,
        show_options,
        update_locked: manager.update_locked(&slug),
        apparmor_profile: manager.apparmor_profile(&slug),
    };
    ok(info::info(&addon, &manager.installed_facts(&addon), runtime))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallBody {
    /// Answer at once with `{"job_id": ...}` after validation instead of waiting.
    #[serde(default)]
    background: bool,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddonUpdate {
    /// Take a backup of the add-on first (ignored until backups exist).
    #[serde(default)]
    backup: Option<bool>,
    #[serde(default)]
    background: bool,
    /// Update even while the add-on holds its update lock (`/tmp/balena/updates.lock`).
    #[serde(default)]
    force: bool,
}

async fn install(manager: Manager, slug: String, body: InstallBody) -> ApiResult {
    answer(manager.install(&slug, body.background).await?)
}

async fn update(req: HttpRequest, manager: Manager, slug: String, body: AddonUpdate) -> ApiResult {
    let caller = caller_slug(&req);
    let slug = match (slug.as_str(), &caller) {
        ("self", Some(caller)) => caller.clone(),
        _ => slug,
    };
    if caller.as_deref() == Some(slug.as_str()) {
        return Err(errors::update_self(&slug).into());
    }
    answer(manager.update(&slug, body.backup.unwrap_or(false), body.background, body.force).await?)
}

/// Installs a store add-on (job `addon_manager_install`).
#[utoipa::path(tag = "store", params(("addon" = String, Path)), request_body = Option<InstallBody>,
    responses((status = 200, body = http_api::envelope::Envelope<JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[post("/addons/{addon}/install")]
async fn store_addon_install(manager: Manager, addon: web::Path<String>, body: Body<InstallBody>) -> ApiResult {
    install(manager, addon.into_inner(), body.into_inner()).await
}

/// Installs a store add-on; the version is ignored, the store version is installed.
#[utoipa::path(tag = "store", params(("addon" = String, Path), ("version" = String, Path)), request_body = Option<InstallBody>,
    responses((status = 200, body = http_api::envelope::Envelope<JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[post("/addons/{addon}/install/{version}")]
async fn store_addon_install_version(
    manager: Manager,
    path: web::Path<(String, String)>,
    body: Body<InstallBody>,
) -> ApiResult {
    install(manager, path.into_inner().0, body.into_inner()).await
}

/// Updates an installed add-on to the store version (job `addon_manager_update`).
#[utoipa::path(tag = "store", params(("addon" = String, Path)), request_body = Option<AddonUpdate>,
    responses((status = 200, body = http_api::envelope::Envelope<JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 403, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope), (status = 409, description = "The add-on holds its update lock", body = http_api::envelope::ErrorEnvelope)))]
#[post("/addons/{addon}/update")]
async fn store_addon_update(
    req: HttpRequest,
    manager: Manager,
    addon: web::Path<String>,
    body: Body<AddonUpdate>,
) -> ApiResult {
    update(req, manager, addon.into_inner(), body.into_inner()).await
}

/// Updates an installed add-on; the version is ignored, the store version is installed.
#[utoipa::path(tag = "store", params(("addon" = String, Path), ("version" = String, Path)), request_body = Option<AddonUpdate>,
    responses((status = 200, body = http_api::envelope::Envelope<JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 403, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope), (status = 409, description = "The add-on holds its update lock", body = http_api::envelope::ErrorEnvelope)))]
#[post("/addons/{addon}/update/{version}")]
async fn store_addon_update_version(
    req: HttpRequest,
    manager: Manager,
    path: web::Path<(String, String)>,
    body: Body<AddonUpdate>,
) -> ApiResult {
    update(req, manager, path.into_inner().0, body.into_inner()).await
}

/// Installs a store add-on (deprecated alias of `POST /store/addons/{addon}/install`).
#[utoipa::path(tag = "addons", params(("addon" = String, Path)), request_body = Option<InstallBody>,
    responses((status = 200, body = http_api::envelope::Envelope<JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[post("/{addon}/install")]
async fn addon_install(manager: Manager, addon: web::Path<String>, body: Body<InstallBody>) -> ApiResult {
    install(manager, addon.into_inner(), body.into_inner()).await
}

/// Updates an add-on (deprecated alias of `POST /store/addons/{addon}/update`).
#[utoipa::path(tag = "addons", params(("addon" = String, Path)), request_body = Option<AddonUpdate>,
    responses((status = 200, body = http_api::envelope::Envelope<JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 403, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope), (status = 409, description = "The add-on holds its update lock", body = http_api::envelope::ErrorEnvelope)))]
#[post("/{addon}/update")]
async fn addon_update(
    req: HttpRequest,
    manager: Manager,
    addon: web::Path<String>,
    body: Body<AddonUpdate>,
) -> ApiResult {
    update(req, manager, addon.into_inner(), body.into_inner()).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UninstallBody {
    /// Also remove the add-on's public config folder (`addon_configs/<slug>`).
    #[serde(default)]
    remove_config: bool,
    /// Answer at once with `{"job_id": ...}`.
    #[serde(default)]
    background: bool,
}

/// Uninstalls an add-on: container, image, data and token (job `addon_manager_uninstall`).
#[utoipa::path(tag = "addons", params(("addon" = String, Path)), request_body = Option<UninstallBody>,
    responses((status = 200, description = "Done (`{}`), or started with `background` (its job id)", body = http_api::envelope::Envelope<jobs::api::JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[post("/{addon}/uninstall")]
async fn addon_uninstall(
    req: HttpRequest,
    manager: Manager,
    addon: web::Path<String>,
    body: Body<UninstallBody>,
) -> ApiResult {
    let slug = installed(&req, &manager, &addon)?.slug;
    let UninstallBody { remove_config, background } = body.into_inner();
    answer(manager.uninstall(&slug, remove_config, background).await?)
}

/// Starts an add-on and waits until it is up (job `addon_start`).
#[utoipa::path(tag = "addons", params(("addon" = String, Path)),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope), (status = 409, body = http_api::envelope::ErrorEnvelope)))]
#[post("/{addon}/start")]
async fn addon_start(req: HttpRequest, manager: Manager, addon: web::Path<String>) -> ApiResult {
    let slug = installed(&req, &manager, &addon)?.slug;
    manager.start(&slug).await?;
    ok_empty()
}

/// Stops an add-on; the watchdog leaves it stopped (job `addon_stop`).
#[utoipa::path(tag = "addons", params(("addon" = String, Path)),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope), (status = 409, body = http_api::envelope::ErrorEnvelope)))]
#[post("/{addon}/stop")]
async fn addon_stop(req: HttpRequest, manager: Manager, addon: web::Path<String>) -> ApiResult {
    let slug = installed(&req, &manager, &addon)?.slug;
    manager.stop(&slug).await?;
    ok_empty()
}

/// `POST /addons/{addon}/restart`; the body is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartBody {
    /// Restart even while the add-on holds its update lock (`/tmp/balena/updates.lock`).
    #[serde(default)]
    force: bool,
}

/// Restarts an add-on (job `addon_restart`); refused with 409 while it holds its update lock,
/// unless `force`.
#[utoipa::path(tag = "addons", params(("addon" = String, Path)), request_body = Option<RestartBody>,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope), (status = 409, body = http_api::envelope::ErrorEnvelope)))]
#[post("/{addon}/restart")]
async fn addon_restart(
    req: HttpRequest,
    manager: Manager,
    addon: web::Path<String>,
    body: Body<RestartBody>,
) -> ApiResult {
    let slug = installed(&req, &manager, &addon)?.slug;
    manager.restart(&slug, body.into_inner().force).await?;
    ok_empty()
}

/// `POST /addons/{addon}/options`; `null` resets `network`, `audio_*` and `options`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionsBody {
    /// `auto` or `manual` (`manual_only` counts as `manual`).
    boot: Option<Boot>,
    /// Host ports by container port (`{"8080/tcp": 8080}`); only ports the add-on declares are kept.
    #[serde(default, deserialize_with = "ports_from_api")]
    #[schema(value_type = Option<Object>)]
    network: Option<Option<Ports>>,
    auto_update: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    audio_output: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    audio_input: Option<Option<String>>,
    ingress_panel: Option<bool>,
    watchdog: Option<bool>,
    /// The add-on's options, validated against its schema.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    options: Option<Option<Map<String, Value>>>,
}

/// Changes an add-on's settings; takes effect at its next start.
#[utoipa::path(tag = "addons", params(("addon" = String, Path)), request_body = OptionsBody,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[post("/{addon}/options")]
async fn addon_options(
    req: HttpRequest,
    manager: Manager,
    addon: web::Path<String>,
    body: Options<OptionsBody>,
) -> ApiResult {
    let addon = installed(&req, &manager, &addon)?;
    let slug = addon.slug.as_str();
    let config = addon.config();
    let body = body.into_inner();
    if body.boot.is_some() && config.boot == addon_config::BootConfig::ManualOnly {
        return Err(errors::boot_manual_only(slug).into());
    }
    pulse::clients::check_defaults(
        body.audio_output.as_ref().and_then(Option::as_deref),
        body.audio_input.as_ref().and_then(Option::as_deref),
    )
    .map_err(base::Error::invalid)?;
    let options = match body.options {
        None => None,
        Some(None) => Some(Map::new()),
        Some(Some(options)) => Some(manager.options_to_store(&addon, options)?),
    };
    let watchdog = match body.watchdog {
        Some(true) if config.startup == addon_config::Startup::Once => {
            tracing::warn!(addon = slug, "Ignoring watchdog for {slug} because startup type is 'once'");
            None
        }
        other => other,
    };
    let network = body.network.map(|ports| ports.map(|p| crate::data::allowed_ports(config, &p)));
    manager.update_user(slug, |user| {
        if let Some(boot) = body.boot {
            user.boot = Some(boot);
        }
        if let Some(network) = network {
            user.network = network;
        }
        if let Some(auto_update) = body.auto_update {
            user.auto_update = auto_update;
        }
        if let Some(output) = body.audio_output {
            user.audio_output = output;
        }
        if let Some(input) = body.audio_input {
            user.audio_input = input;
        }
        if let Some(watchdog) = watchdog {
            user.watchdog = watchdog;
        }
        if let Some(options) = options {
            user.options = options;
        }
    })?;
    if let Some(panel) = body.ingress_panel {
        manager.set_ingress_panel(slug, panel)?;
    }
    ok_empty()
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SysOptionsBody {
    system_managed: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    system_managed_config_entry: Option<Option<String>>,
}

/// Marks an add-on as managed by Home Assistant (Home Assistant only).
#[utoipa::path(tag = "addons", params(("addon" = String, Path)), request_body = SysOptionsBody,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 403, body = http_api::envelope::ErrorEnvelope)))]
#[post("/{addon}/sys_options")]
async fn addon_sys_options(
    req: HttpRequest,
    manager: Manager,
    addon: web::Path<String>,
    body: Options<SysOptionsBody>,
) -> ApiResult {
    let slug = installed(&req, &manager, &addon)?.slug;
    let body = body.into_inner();
    manager.update_user(&slug, |user| {
        if let Some(managed) = body.system_managed {
            user.system_managed = managed;
            if !managed {
                user.system_managed_config_entry = None;
            }
        }
        if let Some(entry) = body.system_managed_config_entry {
            if user.system_managed {
                user.system_managed_config_entry = entry;
            } else {
                tracing::info!("Ignoring system managed config entry for {slug} because it is not system managed");
            }
        }
    })?;
    ok_empty()
}

/// The answer of `options/validate`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidateResult {
    /// Why the options are invalid; empty when valid.
    pub message: String,
    pub valid: bool,
    /// Whether a password is known to be breached; `null`: not checked.
    pub pwned: Option<bool>,
}

/// Validates options against the add-on's schema without storing them: the body is the options
/// object itself; an empty body, `{}` or `null` validates the current options.
#[utoipa::path(tag = "addons", params(("addon" = String, Path)), request_body(content = Option<Object>, description = "The options to check"),
    responses((status = 200, body = http_api::envelope::Envelope<ValidateResult>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/{addon}/options/validate")]
async fn addon_options_validate(
    req: HttpRequest,
    manager: Manager,
    addon: web::Path<String>,
    body: web::Bytes,
) -> ApiResult {
    let addon = installed(&req, &manager, &addon)?;
    let given = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))?
    };
    let options = match given {
        Value::Null => Value::Object(addon.options()),
        Value::Object(o) if o.is_empty() => Value::Object(addon.options()),
        Value::Object(o) => Value::Object(o),
        _ => return Err(ApiError::bad_request("Invalid JSON body: expected a JSON object")),
    };
    ok(match manager.validate_options(&addon, &options).map(|_| ()) {
        Ok(()) => ValidateResult { message: String::new(), valid: true, pwned: None },
        Err(why) => ValidateResult { message: why, valid: false, pwned: None },
    })
}

/// The validated options the add-on runs with; only the add-on itself (`self`) may read them.
#[utoipa::path(tag = "addons", params(("addon" = String, Path)),
    responses((status = 200, body = http_api::envelope::Envelope<Object>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 403, body = http_api::envelope::ErrorEnvelope)))]
#[get("/{addon}/options/config")]
async fn addon_options_config(req: HttpRequest, manager: Manager, addon: web::Path<String>) -> ApiResult {
    let installed = installed(&req, &manager, &addon)?;
    if addon.as_str() != "self" {
        return Err(errors::options_config_not_self().into());
    }
    ok(manager.validated_options(&installed).map_err(|_| errors::options_config_invalid())?)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RebuildBody {
    /// Pull an image-based add-on's image again instead of refusing.
    #[serde(default)]
    force: bool,
    #[serde(default)]
    background: bool,
}

/// Builds a local add-on's image again and restarts it if it ran (job `addon_manager_rebuild`).
#[utoipa::path(tag = "addons", params(("addon" = String, Path)), request_body = Option<RebuildBody>,
    responses((status = 200, body = http_api::envelope::Envelope<JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 500, body = http_api::envelope::ErrorEnvelope)))]
#[post("/{addon}/rebuild")]
async fn addon_rebuild(
    req: HttpRequest,
    manager: Manager,
    addon: web::Path<String>,
    body: Body<RebuildBody>,
) -> ApiResult {
    let slug = installed(&req, &manager, &addon)?.slug;
    let body = body.into_inner();
    answer(manager.rebuild(&slug, body.force, body.background).await?)
}

/// Writes the raw body, and a newline, to the add-on's standard input.
#[utoipa::path(tag = "addons", params(("addon" = String, Path)), request_body(content = String, content_type = "application/octet-stream"),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/{addon}/stdin")]
async fn addon_stdin(req: HttpRequest, manager: Manager, addon: web::Path<String>, body: web::Bytes) -> ApiResult {
    let addon = installed(&req, &manager, &addon)?;
    manager.write_stdin(&addon, &body).await?;
    ok_empty()
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityBody {
    /// Protection mode: while on, `host_pid`, `docker_api` and `full_access` are withheld.
    protected: Option<bool>,
}

/// Changes an add-on's protection mode; takes effect at its next start.
#[utoipa::path(tag = "addons", params(("addon" = String, Path)), request_body = SecurityBody,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/{addon}/security")]
async fn addon_security(
    req: HttpRequest,
    manager: Manager,
    addon: web::Path<String>,
    body: Options<SecurityBody>,
) -> ApiResult {
    let slug = installed(&req, &manager, &addon)?.slug;
    if let Some(protected) = body.into_inner().protected {
        tracing::warn!(addon = %slug, "Changing protected flag for {slug}!");
        manager.update_user(&slug, |user| user.protected = protected)?;
    }
    ok_empty()
}

/// CPU, memory, network and block figures of a running add-on.
#[utoipa::path(tag = "addons", params(("addon" = String, Path)),
    responses((status = 200, body = http_api::envelope::Envelope<Stats>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[get("/{addon}/stats")]
async fn addon_stats(req: HttpRequest, manager: Manager, addon: web::Path<String>) -> ApiResult {
    let slug = installed(&req, &manager, &addon)?.slug;
    ok(manager.stats(&slug).await?)
}

/// An add-on's log: the journal's entries of its container when it holds any (Docker's journald
/// log driver), else the engine's log of its current container, as the real Supervisor falls
/// back for its own log. Errors are text, like the log.
struct AddonLogs;

impl LogSource for AddonLogs {
    type Manager = AddonManager;

    fn docs(&self) -> LogDocs {
        LogDocs {
            tag: "addons",
            name: "addon",
            whose: "The add-on's",
            about: "From the journal when it holds entries of the add-on's container (Docker's \
                journald log driver), else the engine's log of its current container: then boot \
                `0` is the only one, `Range` selects among all its lines and following ignores \
                it. An add-on may read its own log (`/addons/self/logs`).",
            errors: &[
                LogError {
                    status: 400,
                    when: "A wrong `Range`, `lines` or `Accept`, a boot the log does not hold, or an \
                        add-on that is not installed",
                    envelope: false,
                },
                LogError { status: 404, when: "No such add-on", envelope: false },
                LogError { status: 503, when: "The container engine is not available", envelope: false },
            ],
        }
    }

    async fn answer(&self, manager: &AddonManager, request: LogRequest) -> actix_web::Result<HttpResponse> {
        request.lines()?;
        let addon = match installed(request.http(), manager, request.param("addon").unwrap_or_default()) {
            Ok(addon) => addon,
            Err(e) => return Ok(text_error(e)),
        };
        let slug = addon.slug.as_str();
        if let Some(gateway) = request.http().app_data::<web::Data<journal::Gateway>>() {
            let logs = journal::Logs::container(manager.container_name(slug))
                .format_by_default(addon.config().log_format)
                .fallback_when_empty();
            if let Ok(response) = request.journal(gateway, &request.select(logs)).await {
                return Ok(response);
            }
        }
        let name = manager.container_name(slug);
        let docker = manager.docker();
        request.container_log(|tail, follow| docker.container_log(&name, tail, follow)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::web::Data;
    use actix_web::{test as web, App};
    use base::{CoreState, DataDir, System};
    use docker::{DockerManager, Naming};
    use jobs::JobManager;
    use security::Tokens;
    use std::sync::Arc;

    /// A manager over the repository's fixture store, with an engine that is never reached.
    async fn manager(dir: &std::path::Path) -> AddonManager {
        let data = DataDir::new(dir);
        data.ensure_layout().unwrap();
        let store = state::Store::open(&data.database()).unwrap();
        let system = Arc::new(System::default());
        system.set_state(CoreState::Running);
        let jobs = JobManager::new(&store, Arc::clone(&system), data.clone()).unwrap();
        let tokens = Arc::new(Tokens::load(&store, &data).unwrap());
        let docker = DockerManager::new(&store, system, "/nonexistent/docker.sock", Naming::default()).unwrap();
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../store-fixtures");
        let catalog =
            store::StoreManager::new(&store, data.clone(), jobs.clone(), fixtures, "generic-x86-64".into()).unwrap();
        catalog.load().await;
        let timezone: base::Timezone = Arc::new(|| "UTC".to_owned());
        AddonManager::new(&store, data, jobs, Arc::new(docker), tokens, catalog, timezone).unwrap()
    }

    async fn call(manager: &AddonManager, caller: Caller, method: &str, uri: &str) -> (u16, String) {
        let app =
            web::init_service(App::new().app_data(Data::new(manager.clone())).configure(http_api::Routes::of(routes)))
                .await;
        let req = web::TestRequest::default().method(method.parse().unwrap()).uri(uri).to_request();
        req.extensions_mut().insert(caller);
        let resp = web::call_service(&app, req).await;
        let status = resp.status().as_u16();
        (status, String::from_utf8_lossy(&web::read_body(resp).await).into_owned())
    }

    #[actix_web::test]
    async fn addon_resolution_follows_the_real_errors() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path()).await;
        let (status, body) = call(&manager, Caller::Cli, "GET", "/addons").await;
        assert_eq!((status, body.as_str()), (200, r#"{"result":"ok","data":{"addons":[]}}"#));
        let (status, body) = call(&manager, Caller::Cli, "GET", "/addons/self/info").await;
        assert_eq!(status, 400);
        assert!(body.contains("Self is not an App"), "{body}");
        let (status, body) = call(&manager, Caller::Cli, "GET", "/addons/core_nope/info").await;
        assert_eq!(status, 404);
        assert!(body.contains("App core_nope does not exist"), "{body}");
        let (status, body) = call(&manager, Caller::Cli, "POST", "/addons/core_crasher/start").await;
        assert_eq!(status, 400);
        assert!(body.contains("App is not installed"), "{body}");
        let (status, body) = call(&manager, Caller::Cli, "GET", "/addons/core_crasher/logs").await;
        assert_eq!((status, body.as_str()), (400, "App is not installed"), "log errors are plain text");
    }

    #[actix_web::test]
    async fn store_info_stands_in_for_an_addon_not_installed() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path()).await;
        let (status, body) = call(&manager, Caller::Cli, "GET", "/addons/core_crasher/info").await;
        assert_eq!(status, 200, "{body}");
        let data: Value = serde_json::from_str::<Value>(&body).unwrap()["data"].clone();
        assert_eq!(data["state"], "unknown");
        assert_eq!(data["version"], Value::Null);
        assert_eq!(data["update_available"], false);
        assert_eq!(data["options"], serde_json::json!({"crash": false, "crash_after": 0}));
    }

    #[actix_web::test]
    async fn install_and_update_validate_before_any_job() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path()).await;
        let (status, body) = call(&manager, Caller::Cli, "POST", "/store/addons/core_nope/install").await;
        assert_eq!(status, 404);
        assert!(body.contains("store_addon_not_found_error"), "{body}");
        let (status, body) = call(&manager, Caller::Cli, "POST", "/store/addons/core_crasher/update/9.9").await;
        assert_eq!(status, 400);
        assert!(body.contains("App core_crasher is not installed"), "{body}");
        assert!(manager.jobs().jobs().is_empty(), "validation errors start no job");
    }

    #[actix_web::test]
    async fn a_failed_install_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path()).await;
        let (status, body) = call(&manager, Caller::Cli, "POST", "/store/addons/core_crasher/install").await;
        assert_eq!(status, 503, "no engine: {body}");
        assert!(body.contains("job_id"), "{body}");
        assert!(!manager.is_installed("core_crasher"));
        assert!(!dir.path().join("addons/data/core_crasher").exists());
        assert_eq!(manager.jobs().jobs()[0].name, "addon_manager_install");
    }

    #[actix_web::test]
    async fn install_from_code_keeps_its_job_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path()).await;
        let first = manager.install("core_crasher", true).await.unwrap();
        let jobs::Outcome::Started(job_id) = first else { panic!("a background install is started: {first:?}") };
        let second = manager.install("core_crasher", true).await.unwrap_err();
        assert_eq!(second.error_key.as_deref(), Some("job_group_busy"), "{}", second.message);
        let job = manager.jobs().job(&job_id).unwrap();
        assert_eq!((job.name.as_str(), job.reference.as_deref()), ("addon_manager_install", Some("core_crasher")));
        let refused = manager.uninstall("core_nope", false, false).await.unwrap_err();
        assert_eq!(refused.message, "App is not installed", "the work refuses inside the job");
    }
}
