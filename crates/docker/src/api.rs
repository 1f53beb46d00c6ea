//! The `/docker` API group.

use crate::{DockerManager, Registry};
use actix_web::{delete, get, post, web};
use http_api::body::{present, Body, Options};
use http_api::routes::{INFO, MANAGER};
use http_api::Routes;
use http_api::{ok, ok_empty, ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("docker", "The container engine");
    routes
        .group("/docker")
        .route(INFO, docker_info)
        .route(MANAGER, docker_options)
        .route(MANAGER, registries_list)
        .route(MANAGER, registries_add)
        .route(MANAGER, registries_delete)
        .route(MANAGER, migrate_storage_driver);
}

#[derive(Serialize, ToSchema)]
pub struct RegistryUser {
    username: String,
}

#[derive(Serialize, ToSchema)]
pub struct DockerInfo {
    /// The engine's version (`0.0.0` while it cannot be reached).
    version: String,
    enable_ipv6: Option<bool>,
    mtu: Option<u32>,
    /// The storage driver.
    storage: String,
    /// The logging driver.
    logging: String,
    registries: BTreeMap<String, RegistryUser>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerOptions {
    /// Enable IPv6 on the `hassio` network; `null` resets to the default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    enable_ipv6: Option<Option<bool>>,
    /// The MTU of the `hassio` network (68 to 65535); `null` resets to the default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    mtu: Option<Option<u32>>,
}

#[derive(Serialize, ToSchema)]
pub struct RegistryList {
    registries: BTreeMap<String, RegistryUser>,
}

/// One registry login in a `POST /docker/registries` payload, keyed by hostname.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryLogin {
    username: String,
    password: String,
}

fn users(registries: &BTreeMap<String, Registry>) -> BTreeMap<String, RegistryUser> {
    registries.iter().map(|(host, r)| (host.clone(), RegistryUser { username: r.username.clone() })).collect()
}

/// The engine and its settings.
#[utoipa::path(tag = "docker", responses((status = 200, body = http_api::envelope::Envelope<DockerInfo>)))]
#[get("/info")]
async fn docker_info(docker: web::Data<DockerManager>) -> ApiResult {
    let config = docker.config();
    let engine = docker.engine_or_unknown();
    ok(DockerInfo {
        version: engine.version,
        enable_ipv6: config.enable_ipv6,
        mtu: config.mtu,
        storage: engine.storage,
        logging: engine.logging,
        registries: users(&config.registries),
    })
}

/// Sets engine options; they apply to the `hassio` network when it is next created.
#[utoipa::path(tag = "docker", request_body = DockerOptions, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/options")]
async fn docker_options(docker: web::Data<DockerManager>, body: Options<DockerOptions>) -> ApiResult {
    let options = body.into_inner();
    if let Some(Some(mtu)) = options.mtu {
        if !(68..=65535).contains(&mtu) {
            return Err(ApiError::bad_request(format!("mtu must be between 68 and 65535, got {mtu}")));
        }
    }
    let changed = docker.update_config(|config| {
        if let Some(enable_ipv6) = options.enable_ipv6 {
            config.enable_ipv6 = enable_ipv6;
        }
        if let Some(mtu) = options.mtu {
            config.mtu = mtu;
        }
    })?;
    if changed {
        tracing::info!("docker options changed; they apply once the hassio network is recreated (reboot)");
    }
    ok_empty()
}

/// The configured registries, without passwords.
#[utoipa::path(tag = "docker", responses((status = 200, body = http_api::envelope::Envelope<RegistryList>)))]
#[get("/registries")]
async fn registries_list(docker: web::Data<DockerManager>) -> ApiResult {
    ok(RegistryList { registries: users(&docker.config().registries) })
}

/// Adds or replaces registry logins, keyed by hostname (`hub.docker.com` for Docker Hub).
#[utoipa::path(tag = "docker", request_body = BTreeMap<String, RegistryLogin>, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/registries")]
async fn registries_add(docker: web::Data<DockerManager>, body: Options<BTreeMap<String, RegistryLogin>>) -> ApiResult {
    let logins = body.into_inner();
    for (host, login) in &logins {
        if !valid_registry_host(host) {
            return Err(ApiError::bad_request(format!("Invalid registry hostname: {host:?}")));
        }
        if login.username.is_empty() || login.password.is_empty() {
            return Err(ApiError::bad_request(format!("Registry {host} needs a username and a password")));
        }
    }
    docker.update_config(|config| {
        for (host, login) in logins {
            config.registries.insert(host, Registry { username: login.username, password: login.password });
        }
    })?;
    ok_empty()
}

/// Removes a registry login.
#[utoipa::path(tag = "docker", params(("registry" = String, Path)), responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[delete("/registries/{registry}")]
async fn registries_delete(docker: web::Data<DockerManager>, registry: web::Path<String>) -> ApiResult {
    if !docker.config().registries.contains_key(registry.as_str()) {
        return Err(ApiError::not_found(format!("Hostname {registry} does not exist in registries")));
    }
    docker.update_config(|config| {
        config.registries.remove(registry.as_str());
    })?;
    ok_empty()
}

/// Schedules a storage driver migration; only Home Assistant OS 17.0 or newer can, so on any
/// other system this is a 404, as the reference says.
#[utoipa::path(tag = "docker", request_body(content = Option<Object>, description = "Ignored; must be JSON when given"),
    responses((status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[post("/migrate-storage-driver")]
async fn migrate_storage_driver(_body: Body<serde_json::Value>) -> ApiResult {
    Err(ApiError::not_found("Home Assistant OS 17.0 or newer required for Docker storage driver migration"))
}

/// A registry host: DNS labels, optionally with a port.
fn valid_registry_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
    };
    !name.is_empty() && name.split('.').all(label_ok) && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

#[cfg(test)]
mod tests {
    use super::valid_registry_host;

    #[test]
    fn registry_hosts() {
        for good in ["ghcr.io", "hub.docker.com", "localhost:5000", "my-registry.local:443"] {
            assert!(valid_registry_host(good), "{good}");
        }
        for bad in ["", "a/b", "-x.io", "host:port", "x..io", "x.io:0"] {
            assert!(!valid_registry_host(bad), "{bad}");
        }
    }
}
