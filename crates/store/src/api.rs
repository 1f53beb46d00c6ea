//! The `/store` API group (install and update belong to the addons crate), with the legacy
//! `/addons/reload` and `/addons/{addon}/icon|logo|changelog|documentation` aliases.

use crate::manager::{AddonFile, StoreAddon, StoreManager};
use crate::repository::Repository;
use actix_web::http::StatusCode;
use actix_web::{delete, get, post, web, HttpResponse};
use addon_config::Stage;
use http_api::routes::{MANAGER, OPEN};
use http_api::Routes;
use http_api::{ok, ok_empty, ApiError, ApiResult, Body};
use jobs::api::BackgroundBody;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("store", "Add-on repositories and the add-ons they offer");
    routes
        .group("/store")
        .route(MANAGER, store_info)
        .route(MANAGER, store_addons)
        .route(MANAGER, store_addon)
        .route(OPEN, store_addon_icon)
        .route(OPEN, store_addon_logo)
        .route(MANAGER, store_addon_changelog)
        .route(MANAGER, store_addon_documentation)
        .route(MANAGER, store_addon_availability)
        .route(MANAGER, store_addon_version)
        .route(MANAGER, store_reload)
        .route(MANAGER, store_repositories)
        .route(MANAGER, store_repositories_add)
        .route(MANAGER, store_repository)
        .route(MANAGER, store_repository_delete)
        .route(MANAGER, store_repository_repair);
    routes
        .group("/addons")
        .route(OPEN, addons_addon_icon)
        .route(OPEN, addons_addon_logo)
        .route(MANAGER.or_own(), addons_addon_changelog)
        .route(MANAGER.or_own(), addons_addon_documentation)
        .route(MANAGER, addons_reload);
}

/// An add-on of the store as lists show it.
#[derive(Serialize, ToSchema)]
pub struct StoreAddonInfo {
    /// Always `false` (deprecated upstream).
    advanced: bool,
    arch: Vec<String>,
    /// Whether it can be installed on this system.
    available: bool,
    /// Built locally (no `image`).
    build: bool,
    description: String,
    /// Has a `DOCS.md`.
    documentation: bool,
    /// The minimum Home Assistant version.
    homeassistant: Option<String>,
    icon: bool,
    installed: bool,
    logo: bool,
    name: String,
    repository: String,
    /// The full slug (`<repository>_<slug>`).
    slug: String,
    #[schema(value_type = String)]
    stage: Stage,
    /// Installed, and the store has another version.
    update_available: bool,
    url: Option<String>,
    /// The version the store offers.
    version_latest: String,
    /// The installed version, `null` when not installed.
    version: Option<String>,
}

/// One add-on of the store with its details.
#[derive(Serialize, ToSchema)]
pub struct StoreAddonDetails {
    #[serde(flatten)]
    info: StoreAddonInfo,
    /// `disable` or `default`.
    apparmor: String,
    auth_api: bool,
    /// Always `false` for store add-ons.
    detached: bool,
    docker_api: bool,
    full_access: bool,
    hassio_api: bool,
    #[schema(value_type = String)]
    hassio_role: security::Role,
    homeassistant_api: bool,
    host_network: bool,
    host_pid: bool,
    ingress: bool,
    /// The add-on's `README.md`.
    long_description: Option<String>,
    /// The security rating, 1 (least safe) to 8.
    rating: u8,
    /// Always `false`.
    signed: bool,
}

/// A repository.
#[derive(Serialize, ToSchema)]
pub struct RepositoryInfo {
    slug: String,
    name: String,
    /// As added: `core`, `local` or `url[#branch]`.
    source: String,
    url: String,
    maintainer: String,
}

/// A repository with what could not be read of it.
#[derive(Serialize, ToSchema)]
pub struct RepositoryDetails {
    #[serde(flatten)]
    info: RepositoryInfo,
    /// One message per broken part (a bad `repository.yaml`, an add-on that was skipped, a failed
    /// update); empty when everything was read.
    errors: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StoreInfo {
    addons: Vec<StoreAddonInfo>,
    repositories: Vec<RepositoryInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct StoreAddons {
    addons: Vec<StoreAddonInfo>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRepository {
    /// `url[#branch]` of a git repository (http, https, git, ssh or file URL).
    repository: String,
}

fn repository_info(repository: &Repository) -> RepositoryInfo {
    RepositoryInfo {
        slug: repository.slug.clone(),
        name: repository.name.clone(),
        source: repository.source.clone(),
        url: repository.url.clone(),
        maintainer: repository.maintainer.clone(),
    }
}

fn addon_info(store: &StoreManager, addon: &StoreAddon) -> StoreAddonInfo {
    let config = &addon.config;
    let version = store.installed_version(&addon.slug);
    StoreAddonInfo {
        advanced: false,
        arch: config.arch.clone(),
        available: store.availability(addon).is_ok(),
        build: config.image.is_none(),
        description: config.description.clone(),
        documentation: store.addon_file(addon, AddonFile::Documentation).is_some(),
        homeassistant: config.homeassistant.clone(),
        icon: store.addon_file(addon, AddonFile::Icon).is_some(),
        installed: version.is_some(),
        logo: store.addon_file(addon, AddonFile::Logo).is_some(),
        name: config.name.clone(),
        repository: addon.repository.clone(),
        slug: addon.slug.clone(),
        stage: config.stage,
        update_available: version.as_ref().is_some_and(|v| *v != config.version),
        url: config.url.clone(),
        version_latest: config.version.clone(),
        version,
    }
}

async fn addon_details(store: &StoreManager, addon: &StoreAddon) -> StoreAddonDetails {
    let config = &addon.config;
    let long_description = store.addon_text(addon, AddonFile::Readme).await;
    StoreAddonDetails {
        info: addon_info(store, addon),
        apparmor: if config.apparmor { "default" } else { "disable" }.to_owned(),
        auth_api: config.auth_api,
        detached: false,
        docker_api: config.docker_api,
        full_access: config.full_access,
        hassio_api: config.hassio_api,
        hassio_role: config.hassio_role,
        homeassistant_api: config.homeassistant_api,
        host_network: config.host_network,
        host_pid: config.host_pid,
        ingress: config.ingress,
        long_description,
        rating: config.rating(),
        signed: false,
    }
}

fn not_in_store(slug: &str) -> ApiError {
    base::Error::not_found(format!("App {slug} does not exist in the store"))
        .with_key("store_addon_not_found_error")
        .with_extra(serde_json::Map::from_iter([("addon".to_owned(), slug.into())]))
        .into()
}

fn find(store: &StoreManager, slug: &str) -> Result<std::sync::Arc<StoreAddon>, ApiError> {
    store.shared_addon(slug).ok_or_else(|| not_in_store(slug))
}

/// Add-ons and repositories.
#[utoipa::path(tag = "store", responses((status = 200, body = http_api::envelope::Envelope<StoreInfo>)))]
#[get("")]
async fn store_info(store: web::Data<StoreManager>) -> ApiResult {
    let addons = store.shared_addons().iter().map(|a| addon_info(&store, a)).collect();
    let repositories = store.repositories().iter().map(repository_info).collect();
    ok(StoreInfo { addons, repositories })
}

/// Every add-on of every repository.
#[utoipa::path(tag = "store", responses((status = 200, body = http_api::envelope::Envelope<StoreAddons>)))]
#[get("/addons")]
async fn store_addons(store: web::Data<StoreManager>) -> ApiResult {
    ok(StoreAddons { addons: store.shared_addons().iter().map(|a| addon_info(&store, a)).collect() })
}

/// One add-on of the store.
#[utoipa::path(
    tag = "store",
    params(("addon" = String, Path, description = "Full slug")),
    responses((status = 200, body = http_api::envelope::Envelope<StoreAddonDetails>), (status = 404, body = http_api::envelope::ErrorEnvelope))
)]
#[get("/addons/{addon}")]
async fn store_addon(store: web::Data<StoreManager>, addon: web::Path<String>) -> ApiResult {
    let addon = find(&store, &addon)?;
    ok(addon_details(&store, &addon).await)
}

/// The same as `/store/addons/{addon}`: the store only has its newest version.
#[utoipa::path(
    tag = "store",
    params(("addon" = String, Path, description = "Full slug"), ("version" = String, Path, description = "Ignored")),
    responses((status = 200, body = http_api::envelope::Envelope<StoreAddonDetails>), (status = 404, body = http_api::envelope::ErrorEnvelope))
)]
#[get("/addons/{addon}/{version}")]
async fn store_addon_version(store: web::Data<StoreManager>, path: web::Path<(String, String)>) -> ApiResult {
    let addon = find(&store, &path.0)?;
    ok(addon_details(&store, &addon).await)
}

/// 200 when the add-on can be installed on this system, else 400 saying why.
#[utoipa::path(
    tag = "store",
    params(("addon" = String, Path, description = "Full slug")),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope))
)]
#[get("/addons/{addon}/availability")]
async fn store_addon_availability(store: web::Data<StoreManager>, addon: web::Path<String>) -> ApiResult {
    let addon = find(&store, &addon)?;
    store.availability(&addon)?;

    ok_empty()
}

/// A raw text answer, for the file endpoints whose errors are not JSON.
fn text(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(body)
}

/// A raw error of an image endpoint: the message as `application/octet-stream`, the type the
/// real Supervisor gives the errors of its binary answers.
fn binary_error(status: StatusCode, message: String) -> HttpResponse {
    HttpResponse::build(status).content_type("application/octet-stream").body(message)
}

/// `icon.png` or `logo.png`: the image, 400 when the add-on has none, 404 for an unknown add-on
/// (raw errors, as the real Supervisor answers).
async fn image(store: &StoreManager, slug: &str, file: AddonFile) -> ApiResult {
    let Some(addon) = store.shared_addon(slug) else {
        return Ok(binary_error(StatusCode::NOT_FOUND, format!("App {slug} does not exist in the store")));
    };
    let what = if file == AddonFile::Icon { "icon" } else { "logo" };
    let missing = || binary_error(StatusCode::BAD_REQUEST, format!("No {what} found for app {slug}!"));
    match store.read_addon_file(&addon, file).await {
        Some(bytes) => Ok(HttpResponse::Ok().content_type("image/png").body(bytes)),
        None => Ok(missing()),
    }
}

/// `CHANGELOG.md` or `DOCS.md`. Always 200 with text, the error included: the frontend shows
/// whatever it gets, as with the real Supervisor.
async fn markdown(store: &StoreManager, slug: &str, file: AddonFile) -> ApiResult {
    let Some(addon) = store.shared_addon(slug) else {
        return Ok(text(StatusCode::OK, format!("App {slug} does not exist in the store")));
    };
    let what = if file == AddonFile::Changelog { "changelog" } else { "documentation" };
    let missing = || text(StatusCode::OK, format!("No {what} found for app {slug}!"));
    match store.addon_text(&addon, file).await {
        Some(markdown) => Ok(text(StatusCode::OK, markdown)),
        None => Ok(missing()),
    }
}

/// The add-on's icon (`image/png`).
#[utoipa::path(
    tag = "store",
    params(("addon" = String, Path, description = "Full slug")),
    responses((status = 200, content_type = "image/png", body = String, description = "The PNG file"), (status = 400, content_type = "application/octet-stream", body = String), (status = 404, content_type = "application/octet-stream", body = String))
)]
#[get("/addons/{addon}/icon")]
async fn store_addon_icon(store: web::Data<StoreManager>, addon: web::Path<String>) -> ApiResult {
    image(&store, &addon, AddonFile::Icon).await
}

/// The add-on's logo (`image/png`).
#[utoipa::path(
    tag = "store",
    params(("addon" = String, Path, description = "Full slug")),
    responses((status = 200, content_type = "image/png", body = String, description = "The PNG file"), (status = 400, content_type = "application/octet-stream", body = String), (status = 404, content_type = "application/octet-stream", body = String))
)]
#[get("/addons/{addon}/logo")]
async fn store_addon_logo(store: web::Data<StoreManager>, addon: web::Path<String>) -> ApiResult {
    image(&store, &addon, AddonFile::Logo).await
}

/// The add-on's `CHANGELOG.md`, or a sentence saying there is none.
#[utoipa::path(
    tag = "store",
    params(("addon" = String, Path, description = "Full slug")),
    responses((status = 200, content_type = "text/plain", body = String))
)]
#[get("/addons/{addon}/changelog")]
async fn store_addon_changelog(store: web::Data<StoreManager>, addon: web::Path<String>) -> ApiResult {
    markdown(&store, &addon, AddonFile::Changelog).await
}

/// The add-on's `DOCS.md`, or a sentence saying there is none.
#[utoipa::path(
    tag = "store",
    params(("addon" = String, Path, description = "Full slug")),
    responses((status = 200, content_type = "text/plain", body = String))
)]
#[get("/addons/{addon}/documentation")]
async fn store_addon_documentation(store: web::Data<StoreManager>, addon: web::Path<String>) -> ApiResult {
    markdown(&store, &addon, AddonFile::Documentation).await
}

/// Legacy alias of `/store/addons/{addon}/icon`.
#[utoipa::path(
    tag = "store",
    params(("addon" = String, Path, description = "Full slug")),
    responses((status = 200, content_type = "image/png", body = String, description = "The PNG file"), (status = 400, content_type = "application/octet-stream", body = String), (status = 404, content_type = "application/octet-stream", body = String))
)]
#[get("/{addon}/icon")]
async fn addons_addon_icon(store: web::Data<StoreManager>, addon: web::Path<String>) -> ApiResult {
    image(&store, &addon, AddonFile::Icon).await
}

/// Legacy alias of `/store/addons/{addon}/logo`.
#[utoipa::path(
    tag = "store",
    params(("addon" = String, Path, description = "Full slug")),
    responses((status = 200, content_type = "image/png", body = String, description = "The PNG file"), (status = 400, content_type = "application/octet-stream", body = String), (status = 404, content_type = "application/octet-stream", body = String))
)]
#[get("/{addon}/logo")]
async fn addons_addon_logo(store: web::Data<StoreManager>, addon: web::Path<String>) -> ApiResult {
    image(&store, &addon, AddonFile::Logo).await
}

/// Legacy alias of `/store/addons/{addon}/changelog`.
#[utoipa::path(
    tag = "store",
    params(("addon" = String, Path, description = "Full slug")),
    responses((status = 200, content_type = "text/plain", body = String))
)]
#[get("/{addon}/changelog")]
async fn addons_addon_changelog(store: web::Data<StoreManager>, addon: web::Path<String>) -> ApiResult {
    markdown(&store, &addon, AddonFile::Changelog).await
}

/// Legacy alias of `/store/addons/{addon}/documentation`.
#[utoipa::path(
    tag = "store",
    params(("addon" = String, Path, description = "Full slug")),
    responses((status = 200, content_type = "text/plain", body = String))
)]
#[get("/{addon}/documentation")]
async fn addons_addon_documentation(store: web::Data<StoreManager>, addon: web::Path<String>) -> ApiResult {
    markdown(&store, &addon, AddonFile::Documentation).await
}

async fn reload(store: &StoreManager, body: BackgroundBody) -> ApiResult {
    jobs::api::answer(store.reload(body.background).await?)
}

/// Updates every git repository and reads all repositories again (job `store_manager_reload`).
#[utoipa::path(
    tag = "store",
    request_body = BackgroundBody,
    responses((status = 200, body = http_api::envelope::Envelope<jobs::api::JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope))
)]
#[post("/reload")]
async fn store_reload(store: web::Data<StoreManager>, body: Body<BackgroundBody>) -> ApiResult {
    reload(&store, body.into_inner()).await
}

/// Legacy alias of `/store/reload`.
#[utoipa::path(
    tag = "store",
    request_body = BackgroundBody,
    responses((status = 200, body = http_api::envelope::Envelope<jobs::api::JobStarted>), (status = 400, body = http_api::envelope::ErrorEnvelope))
)]
#[post("/reload")]
async fn addons_reload(store: web::Data<StoreManager>, body: Body<BackgroundBody>) -> ApiResult {
    reload(&store, body.into_inner()).await
}

/// Every repository.
#[utoipa::path(tag = "store", responses((status = 200, body = http_api::envelope::Envelope<Vec<RepositoryInfo>>)))]
#[get("/repositories")]
async fn store_repositories(store: web::Data<StoreManager>) -> ApiResult {
    ok(store.repositories().iter().map(repository_info).collect::<Vec<_>>())
}

/// Adds a git repository (job `store_manager_add_repository`); it must hold a `repository.yaml`.
#[utoipa::path(
    tag = "store",
    request_body = AddRepository,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope))
)]
#[post("/repositories")]
async fn store_repositories_add(store: web::Data<StoreManager>, body: Body<AddRepository>) -> ApiResult {
    store.add_repository(&body.into_inner().repository).await?;
    ok_empty()
}

fn find_repository(store: &StoreManager, slug: &str) -> Result<Repository, ApiError> {
    store
        .repositories()
        .into_iter()
        .find(|r| r.slug == slug)
        .ok_or_else(|| ApiError::not_found(format!("Repository {slug} does not exist in the store")))
}

/// One repository, with the errors met reading it.
#[utoipa::path(
    tag = "store",
    params(("repository" = String, Path, description = "`core`, `local` or the repository hash")),
    responses((status = 200, body = http_api::envelope::Envelope<RepositoryDetails>), (status = 404, body = http_api::envelope::ErrorEnvelope))
)]
#[get("/repositories/{repository}")]
async fn store_repository(store: web::Data<StoreManager>, repository: web::Path<String>) -> ApiResult {
    let repository = find_repository(&store, &repository)?;
    ok(RepositoryDetails { info: repository_info(&repository), errors: repository.errors })
}

/// Removes a git repository no installed add-on comes from.
#[utoipa::path(
    tag = "store",
    params(("repository" = String, Path, description = "The repository hash")),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope))
)]
#[delete("/repositories/{repository}")]
async fn store_repository_delete(store: web::Data<StoreManager>, repository: web::Path<String>) -> ApiResult {
    store.remove_repository(&repository).await?;
    ok_empty()
}

/// Clones a git repository again from scratch.
#[utoipa::path(
    tag = "store",
    params(("repository" = String, Path, description = "The repository hash")),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope), (status = 500, body = http_api::envelope::ErrorEnvelope))
)]
#[post("/repositories/{repository}/repair")]
async fn store_repository_repair(store: web::Data<StoreManager>, repository: web::Path<String>) -> ApiResult {
    store.reset_repository(&repository).await?;
    ok_empty()
}
