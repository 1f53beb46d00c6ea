//! The `/mounts` API group, with the real Supervisor's paths, shapes and messages.

use crate::config::MountRequest;
use crate::manager::{MountManager, MountsInfo};
use actix_web::{delete, get, post, put, web};
use http_api::body::{Body, Options};
use http_api::routes::MANAGER;
use http_api::Routes;
use http_api::{ok, ok_empty, ApiResult};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("mounts", "Network storage mounts");
    routes
        .group("/mounts")
        .route(MANAGER, mounts_info)
        .route(MANAGER, mounts_options)
        .route(MANAGER, mounts_create)
        .route(MANAGER, mount_update)
        .route(MANAGER, mount_delete)
        .route(MANAGER, mount_reload);
}

type Mounts = web::Data<MountManager>;

/// The mounts with their state (never their credentials), and the default backup mount.
#[utoipa::path(tag = "mounts", responses((status = 200, body = http_api::envelope::Envelope<MountsInfo>)))]
#[get("")]
async fn mounts_info(mounts: Mounts) -> ApiResult {
    ok(mounts.info())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MountsOptions {
    /// A backup mount's name, or `null` for the backup folder.
    #[serde(default, deserialize_with = "http_api::body::present")]
    #[schema(value_type = Option<String>)]
    default_backup_mount: Option<Option<String>>,
}

/// Sets where backups go when no location is given.
#[utoipa::path(tag = "mounts", request_body = MountsOptions,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[post("/options")]
async fn mounts_options(mounts: Mounts, body: Options<MountsOptions>) -> ApiResult {
    if let Some(name) = body.into_inner().default_backup_mount {
        mounts.set_default_backup_mount(name)?;
    }
    ok_empty()
}

/// Adds a mount and mounts it; one that does not come up is not kept.
#[utoipa::path(tag = "mounts", request_body = MountRequest,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("")]
async fn mounts_create(mounts: Mounts, body: Body<Map<String, Value>>) -> ApiResult {
    let config = MountRequest::parse(&body.into_inner(), None)?;
    mounts.create(config).await?;
    ok_empty()
}

/// Changes a mount (not its name) and mounts it again.
#[utoipa::path(tag = "mounts", params(("mount" = String, Path)), request_body = MountRequest,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[put("/{mount}")]
async fn mount_update(mounts: Mounts, path: web::Path<String>, body: Body<Map<String, Value>>) -> ApiResult {
    let current = mounts.existing(&path)?;
    let config = MountRequest::parse(&body.into_inner(), Some(&current))?;
    mounts.update(config).await?;
    ok_empty()
}

/// Unmounts and forgets a mount.
#[utoipa::path(tag = "mounts", params(("mount" = String, Path)),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[delete("/{mount}")]
async fn mount_delete(mounts: Mounts, path: web::Path<String>) -> ApiResult {
    mounts.remove(&path).await?;
    ok_empty()
}

/// Unmounts and mounts a mount again with the same settings.
#[utoipa::path(tag = "mounts", params(("mount" = String, Path)),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[post("/{mount}/reload")]
async fn mount_reload(mounts: Mounts, path: web::Path<String>) -> ApiResult {
    mounts.reload(&path).await?;
    ok_empty()
}
