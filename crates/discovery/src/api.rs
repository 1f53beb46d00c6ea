//! The `/discovery` and `/services` API groups. Every add-on may call them; listing and reading
//! discovery messages is Core's alone (the routes require it, so the guard answers anyone else
//! with the plain 401 of the real Supervisor's web framework). The V1 shapes name the add-on
//! `addon`.

use crate::messages::{DiscoveryManager, Message};
use crate::services::{Service, ServiceConfig, ServiceStatus, ServicesManager};
use actix_web::{delete, get, post, web, HttpMessage, HttpRequest};
use http_api::body::Body;
use http_api::routes::{Requires, ADDONS};
use http_api::{ok, ok_empty, ApiResult, Routes};
use security::Caller;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Declares the groups' routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("discovery", "Services add-ons announce to Home Assistant");
    routes
        .group("/discovery")
        .route(ADDONS.requiring(Requires::Core), discovery_list)
        .route(ADDONS, discovery_send)
        .route(ADDONS.requiring(Requires::Core), discovery_get)
        .route(ADDONS, discovery_remove);
    routes.tag("services", "Services add-ons provide each other (mqtt, mysql)");
    routes
        .group("/services")
        .route(ADDONS, services_list)
        .route(ADDONS, service_get)
        .route(ADDONS, service_set)
        .route(ADDONS, service_delete);
}

fn caller(req: &HttpRequest) -> Option<Caller> {
    req.extensions().get::<Caller>().cloned()
}

/// The calling add-on's slug, if the caller is one.
fn caller_slug(req: &HttpRequest) -> Option<String> {
    match caller(req) {
        Some(Caller::Addon { slug, .. }) => Some(slug),
        _ => None,
    }
}

/// A discovery message as the V1 API shows it.
#[derive(Serialize, ToSchema)]
pub struct DiscoveryMessage {
    addon: String,
    service: String,
    uuid: String,
    #[schema(value_type = Object)]
    config: Map<String, Value>,
}

impl From<Message> for DiscoveryMessage {
    fn from(message: Message) -> Self {
        DiscoveryMessage { addon: message.app, service: message.service, uuid: message.uuid, config: message.config }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DiscoveryList {
    /// Messages of installed add-ons that are running.
    discovery: Vec<DiscoveryMessage>,
    /// Each service some add-on may announce, with those add-ons.
    services: BTreeMap<String, Vec<String>>,
}

/// The messages Core sets integrations up from (Home Assistant Core only).
#[utoipa::path(
    tag = "discovery",
    responses(
        (status = 200, body = http_api::envelope::Envelope<DiscoveryList>),
        (status = 401, description = "Not Home Assistant Core (plain text)"),
    )
)]
#[get("")]
async fn discovery_list(manager: web::Data<DiscoveryManager>) -> ApiResult {
    let discovery = manager.list_running().await.into_iter().map(DiscoveryMessage::from).collect();
    ok(DiscoveryList { discovery, services: manager.services() })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryRequest {
    /// A service the add-on's config lists under `discovery`.
    service: String,
    /// What Core needs to set the integration up.
    #[schema(value_type = Object)]
    config: Map<String, Value>,
}

#[derive(Serialize, ToSchema)]
pub struct DiscoveryCreated {
    uuid: String,
}

/// Announces a service the calling add-on runs; sent again, the message is updated in place.
#[utoipa::path(
    tag = "discovery",
    request_body = DiscoveryRequest,
    responses(
        (status = 200, body = http_api::envelope::Envelope<DiscoveryCreated>),
        (status = 403, description = "The service is not in the add-on's `discovery` list"),
    )
)]
#[post("")]
async fn discovery_send(
    req: HttpRequest,
    body: Body<DiscoveryRequest>,
    manager: web::Data<DiscoveryManager>,
) -> ApiResult {
    let DiscoveryRequest { service, config } = body.into_inner();
    let uuid = manager.send(caller_slug(&req).as_deref(), &service, config)?;
    ok(DiscoveryCreated { uuid })
}

/// One discovery message (Home Assistant Core only).
#[utoipa::path(
    tag = "discovery",
    params(("uuid" = String, Path)),
    responses(
        (status = 200, body = http_api::envelope::Envelope<DiscoveryMessage>),
        (status = 401, description = "Not Home Assistant Core (plain text)"),
        (status = 404, description = "No such message"),
    )
)]
#[get("/{uuid}")]
async fn discovery_get(uuid: web::Path<String>, manager: web::Data<DiscoveryManager>) -> ApiResult {
    ok(DiscoveryMessage::from(manager.get(&uuid)?))
}

/// Removes one of the calling add-on's messages.
#[utoipa::path(
    tag = "discovery",
    params(("uuid" = String, Path)),
    responses(
        (status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>),
        (status = 403, description = "Another add-on's message"),
        (status = 404, description = "No such message"),
    )
)]
#[delete("/{uuid}")]
async fn discovery_remove(
    req: HttpRequest,
    uuid: web::Path<String>,
    manager: web::Data<DiscoveryManager>,
) -> ApiResult {
    manager.remove(caller_slug(&req).as_deref(), &uuid)?;
    ok_empty()
}

#[derive(Serialize, ToSchema)]
pub struct ServicesList {
    services: Vec<ServiceStatus>,
}

/// Every service, whether a provider set it, and the installed add-ons that provide it.
#[utoipa::path(tag = "services", responses((status = 200, body = http_api::envelope::Envelope<ServicesList>)))]
#[get("")]
async fn services_list(manager: web::Data<ServicesManager>) -> ApiResult {
    ok(ServicesList { services: manager.list() })
}

/// A service's details as the V1 API shows them: the provider as `addon`.
#[derive(Serialize, ToSchema)]
pub struct ServiceData {
    #[serde(flatten)]
    config: ServiceConfig,
    addon: String,
}

/// A service's details, for an add-on that declared the service.
#[utoipa::path(
    tag = "services",
    params(("service" = Service, Path)),
    responses(
        (status = 200, body = http_api::envelope::Envelope<ServiceData>),
        (status = 400, description = "No provider has set it"),
        (status = 403, description = "The add-on did not declare the service"),
        (status = 404, description = "No such service"),
    )
)]
#[get("/{service}")]
async fn service_get(req: HttpRequest, service: web::Path<String>, manager: web::Data<ServicesManager>) -> ApiResult {
    let service = Service::parse(&service)?;
    let (config, addon) = manager.get(caller_slug(&req).as_deref(), service)?;
    ok(ServiceData { config, addon })
}

/// Sets a service's details, provided by the calling add-on.
#[utoipa::path(
    tag = "services",
    params(("service" = Service, Path)),
    request_body = ServiceConfig,
    responses(
        (status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>),
        (status = 400, description = "The details do not fit the service's schema"),
        (status = 403, description = "The add-on did not declare the service"),
        (status = 404, description = "No such service"),
        (status = 409, description = "Another provider set it (`service_already_provided_error`)"),
    )
)]
#[post("/{service}")]
async fn service_set(
    req: HttpRequest,
    service: web::Path<String>,
    body: Body<Map<String, Value>>,
    manager: web::Data<ServicesManager>,
) -> ApiResult {
    let service = Service::parse(&service)?;
    let config = ServiceConfig::parse(service, &body.into_inner())?;
    manager.set(caller_slug(&req).as_deref(), service, config)?;
    ok_empty()
}

/// Clears a service's details, for an add-on that provides it.
#[utoipa::path(
    tag = "services",
    params(("service" = Service, Path)),
    responses(
        (status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>),
        (status = 403, description = "The add-on does not provide the service"),
        (status = 404, description = "No such service, or it is not set (`service_not_provided_error`)"),
    )
)]
#[delete("/{service}")]
async fn service_delete(
    req: HttpRequest,
    service: web::Path<String>,
    manager: web::Data<ServicesManager>,
) -> ApiResult {
    let service = Service::parse(&service)?;
    manager.delete(caller_slug(&req).as_deref(), service)?;
    ok_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test;
    use addons::AddonManager;
    use base::{DataDir, System};
    use docker::{DockerManager, Naming};
    use homeassistant::{CoreManager, Settings};
    use jobs::JobManager;
    use security::Tokens;
    use serde_json::json;
    use std::sync::Arc;
    use std::time::Duration;
    use updater::Updater;

    /// The installed record of an add-on with `extra` config keys.
    fn installed(slug: &str, extra: Value) -> (String, Value, Value) {
        let mut config = json!({
            "name": slug, "version": "1.0.0", "slug": slug, "description": "test", "arch": ["amd64", "aarch64"],
        });
        config.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let config = addon_config::AddonConfig::from_value(config).unwrap();
        let user = json!({"version": "1.0.0", "image": "local/x", "uuid": "u", "ingress_token": slug});
        let system = json!({"repository": "local", "config": serde_json::to_value(config).unwrap()});
        (format!("local_{slug}"), user, system)
    }

    /// Managers over add-ons installed as `addons` says, with an engine and a Core that are
    /// never reached (Core's API counts as down).
    fn managers(dir: &std::path::Path, addons: &[(&str, Value)]) -> (DiscoveryManager, ServicesManager) {
        let data = DataDir::new(dir);
        data.ensure_layout().unwrap();
        let store = state::Store::open(&data.database()).unwrap();
        let (mut users, mut systems) = (Map::new(), Map::new());
        for (slug, extra) in addons {
            let (slug, user, system) = installed(slug, extra.clone());
            users.insert(slug.clone(), user);
            systems.insert(slug, system);
        }
        store.section("addons").unwrap().put("apps", &json!({"user": users, "system": systems})).unwrap();
        let system = Arc::new(System::default());
        let jobs = JobManager::new(&store, Arc::clone(&system), data.clone()).unwrap();
        let docker = Arc::new(
            DockerManager::new(&store, Arc::clone(&system), "/nonexistent/docker.sock", Naming::default()).unwrap(),
        );
        let updater =
            Arc::new(Updater::new(&store, system, jobs.clone(), "/nonexistent/versions.json", "qemux86-64").unwrap());
        let tokens = Arc::new(Tokens::load(&store, &data).unwrap());
        let catalog =
            store::StoreManager::new(&store, data.clone(), jobs.clone(), dir.join("core"), "qemux86-64".into())
                .unwrap();
        let addons = AddonManager::new(
            &store,
            data.clone(),
            jobs.clone(),
            Arc::clone(&docker),
            Arc::clone(&tokens),
            catalog,
            Arc::new(|| "UTC".to_owned()),
        )
        .unwrap();
        let settings = Settings { addon_port: 80, install: false, watchdog_interval: Duration::from_secs(60) };
        let core =
            CoreManager::new(&store, data, jobs, docker, updater, tokens, Arc::new(|| "UTC".to_owned()), settings)
                .unwrap();
        let discovery = DiscoveryManager::new(&store, addons.clone(), core).unwrap();
        let services = ServicesManager::new(&store, addons).unwrap();
        (discovery, services)
    }

    /// Every add-on is installed, granted nothing.
    struct PlainAddons;

    impl security::AddonRights for PlainAddons {
        fn rights(&self, _slug: &str) -> Option<security::Grants> {
            Some(security::Grants::default())
        }
    }

    fn addon(slug: &str) -> Caller {
        Caller::Addon { slug: format!("local_{slug}"), grants: security::Grants::default() }
    }

    /// Calls the API as `caller`: status and body (JSON, or the text as a JSON string).
    async fn call(
        managers: &(DiscoveryManager, ServicesManager),
        caller: Caller,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        data.ensure_layout().unwrap();
        let tokens = Tokens::load(&state::Store::open(&data.database()).unwrap(), &data).unwrap();
        tokens.register("caller-token", caller);
        let app = security::testing::guarded(routes, web::Data::new(tokens), Arc::new(PlainAddons))
            .app_data(web::Data::new(managers.0.clone()))
            .app_data(web::Data::new(managers.1.clone()));
        let app = test::init_service(app).await;
        let mut req = test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(uri)
            .insert_header(("X-Supervisor-Token", "caller-token"));
        if let Some(body) = body {
            req = req.set_json(body);
        }
        let req = req.to_request();
        let resp = test::call_service(&app, req).await;
        let status = resp.status().as_u16();
        let bytes = test::read_body(resp).await;
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        (status, body)
    }

    #[actix_web::test]
    async fn services_follow_the_declared_roles() {
        let dir = tempfile::tempdir().unwrap();
        let managers = &managers(
            dir.path(),
            &[
                ("broker", json!({"services": ["mqtt:provide"]})),
                ("client", json!({"services": ["mqtt:want", "mysql:need"]})),
                ("plain", json!({})),
            ],
        );
        let (status, body) = call(managers, addon("plain"), "GET", "/services", None).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["data"],
            json!({"services": [
                {"slug": "mqtt", "available": false, "providers": ["local_broker"]},
                {"slug": "mysql", "available": false, "providers": []},
            ]})
        );
        let (status, body) = call(managers, addon("client"), "GET", "/services/redis", None).await;
        assert_eq!((status, body["message"].as_str()), (404, Some("Service does not exist")));
        let (status, body) = call(managers, addon("plain"), "GET", "/services/mqtt", None).await;
        assert_eq!((status, body["message"].as_str()), (403, Some("No access to mqtt service!")));
        let (status, body) = call(managers, addon("client"), "GET", "/services/mqtt", None).await;
        assert_eq!((status, body["message"].as_str()), (400, Some("Service not enabled")));

        let details = json!({"host": "core-mosquitto", "port": 1883, "username": "u", "password": "p"});
        let (status, body) = call(managers, addon("broker"), "POST", "/services/mqtt", Some(json!({"host": 1}))).await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = call(managers, addon("broker"), "POST", "/services/mqtt", Some(details.clone())).await;
        assert_eq!(status, 200, "{body}");
        // Any declared role may set it; a set service conflicts.
        let (status, body) = call(managers, addon("client"), "POST", "/services/mqtt", Some(details)).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error_key"], "service_already_provided_error");
        assert_eq!(body["message"], "The mqtt service is already provided by local_broker");

        let (status, body) = call(managers, addon("client"), "GET", "/services/mqtt", None).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["data"],
            json!({"host": "core-mosquitto", "port": 1883, "username": "u", "password": "p", "ssl": false,
                   "protocol": "3.1.1", "addon": "local_broker"})
        );
        let (_, body) = call(managers, addon("plain"), "GET", "/services", None).await;
        assert_eq!(body["data"]["services"][0]["available"], true);

        let (status, body) = call(managers, addon("client"), "DELETE", "/services/mqtt", None).await;
        assert_eq!((status, body["message"].as_str()), (403, Some("No access to write mqtt service!")));
        let (status, _) = call(managers, addon("broker"), "DELETE", "/services/mqtt", None).await;
        assert_eq!(status, 200);
        let (status, body) = call(managers, addon("broker"), "DELETE", "/services/mqtt", None).await;
        assert_eq!(status, 404);
        assert_eq!(body["error_key"], "service_not_provided_error");
        assert_eq!(body["message"], "The mqtt service is not currently provided by any app");
    }

    #[actix_web::test]
    async fn an_uninstalled_provider_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let managers = managers(dir.path(), &[("broker", json!({"services": ["mqtt:provide"]}))]);
        let details = ServiceConfig::parse(Service::Mqtt, json!({"host": "h", "port": 1}).as_object().unwrap());
        managers.1.set(Some("local_broker"), Service::Mqtt, details.unwrap()).unwrap();
        managers.1.forget("local_other");
        assert!(managers.1.list()[0].available);
        managers.1.forget("local_broker");
        assert!(!managers.1.list()[0].available);
    }

    #[actix_web::test]
    async fn discovery_messages() {
        let dir = tempfile::tempdir().unwrap();
        let managers = &managers(dir.path(), &[("broker", json!({"discovery": ["mqtt"]})), ("plain", json!({}))]);
        let message = json!({"service": "mqtt", "config": {"host": "h", "port": 1883}});
        let (status, body) = call(managers, addon("plain"), "POST", "/discovery", Some(message.clone())).await;
        assert_eq!(status, 403);
        assert_eq!(body["message"], "Apps must list services they provide via discovery in their config!");
        let (status, body) =
            call(managers, addon("broker"), "POST", "/discovery", Some(json!({"service": "mqtt"}))).await;
        assert_eq!(status, 400, "{body}");

        let (status, body) = call(managers, addon("broker"), "POST", "/discovery", Some(message.clone())).await;
        assert_eq!(status, 200, "{body}");
        let uuid = body["data"]["uuid"].as_str().unwrap().to_owned();
        assert_eq!(uuid.len(), 32);
        let (_, again) = call(managers, addon("broker"), "POST", "/discovery", Some(message)).await;
        assert_eq!(again["data"]["uuid"], uuid.as_str());

        // Reading is Core's alone: anyone else gets the plain 401.
        for caller in [addon("broker"), Caller::Cli] {
            let (status, body) = call(managers, caller.clone(), "GET", "/discovery", None).await;
            assert_eq!((status, body), (401, json!("401: Unauthorized")));
            let (status, _) = call(managers, caller, "GET", &format!("/discovery/{uuid}"), None).await;
            assert_eq!(status, 401);
        }
        let (status, body) = call(managers, Caller::HomeAssistant, "GET", &format!("/discovery/{uuid}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["data"],
            json!({"addon": "local_broker", "service": "mqtt", "uuid": uuid, "config": {"host": "h", "port": 1883}})
        );
        // The add-on does not run (there is no engine): its message is not listed.
        let (status, body) = call(managers, Caller::HomeAssistant, "GET", "/discovery", None).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"], json!({"discovery": [], "services": {"mqtt": ["local_broker"]}}));
        let (status, body) = call(managers, Caller::HomeAssistant, "GET", "/discovery/nope", None).await;
        assert_eq!((status, body["message"].as_str()), (404, Some("Discovery message not found")));

        let (status, body) = call(managers, addon("plain"), "DELETE", &format!("/discovery/{uuid}"), None).await;
        assert_eq!((status, body["message"].as_str()), (403, Some("Can't remove discovery message")));
        let (status, _) = call(managers, addon("broker"), "DELETE", "/discovery/nope", None).await;
        assert_eq!(status, 404);
        let (status, _) = call(managers, addon("broker"), "DELETE", &format!("/discovery/{uuid}"), None).await;
        assert_eq!(status, 200);
        let (status, _) = call(managers, Caller::HomeAssistant, "GET", &format!("/discovery/{uuid}"), None).await;
        assert_eq!(status, 404);
    }

    #[actix_web::test]
    async fn an_uninstalled_addons_messages_go() {
        let dir = tempfile::tempdir().unwrap();
        let managers = managers(dir.path(), &[("broker", json!({"discovery": ["mqtt", "other"]}))]);
        let first = managers.0.send(Some("local_broker"), "mqtt", Map::new()).unwrap();
        let second = managers.0.send(Some("local_broker"), "other", Map::new()).unwrap();
        managers.0.forget("local_broker");
        assert!(managers.0.get(&first).is_err() && managers.0.get(&second).is_err());
    }
}
