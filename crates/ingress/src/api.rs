//! The `/ingress` API group: the panels (Core, the CLI and admin add-ons), sessions (Home
//! Assistant Core alone: the routes require it, so the guard answers anyone else with the plain
//! 401 of the real Supervisor's web framework) and the proxy, open to all since it checks the
//! session cookie itself.

use crate::manager::{IngressManager, Panel};
use crate::proxy::{self, plain};
use actix_web::http::StatusCode;
use actix_web::{get, post, route, web, HttpRequest, HttpResponse};
use http_api::body::parse_object;
use http_api::routes::{Requires, ADMIN, OPEN};
use http_api::{ok, ok_empty, ApiResult, Routes};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("ingress", "Add-on web interfaces inside Home Assistant");
    routes
        .group("/ingress")
        .route(ADMIN, ingress_panels)
        .route(ADMIN.requiring(Requires::Core), ingress_session)
        .route(ADMIN.requiring(Requires::Core), ingress_validate_session)
        .route(OPEN.requiring(Requires::OwnCredential), ingress_proxy);
}

#[derive(Serialize, ToSchema)]
pub struct IngressPanels {
    /// By add-on slug.
    panels: BTreeMap<String, Panel>,
}

/// The sidebar panel of every installed add-on with ingress.
#[utoipa::path(tag = "ingress", responses((status = 200, body = http_api::envelope::Envelope<IngressPanels>)))]
#[get("/panels")]
async fn ingress_panels(manager: web::Data<IngressManager>) -> ApiResult {
    ok(IngressPanels { panels: manager.panels() })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngressSessionRequest {
    /// The Home Assistant user the session is for; the add-on is told who it is.
    user_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct IngressSession {
    /// 128 hex characters, valid for 15 minutes.
    session: String,
}

/// Opens an ingress session (Home Assistant Core only).
#[utoipa::path(
    tag = "ingress",
    request_body = Option<IngressSessionRequest>,
    responses(
        (status = 200, body = http_api::envelope::Envelope<IngressSession>),
        (status = 401, description = "Not Home Assistant Core (plain text)"),
    )
)]
#[post("/session")]
async fn ingress_session(body: web::Bytes, manager: web::Data<IngressManager>) -> ApiResult {
    let IngressSessionRequest { user_id } = parse_object(&body, false)?;
    ok(IngressSession { session: manager.open_session(user_id.as_deref()).await? })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngressSessionValidation {
    session: String,
}

/// Checks an ingress session and extends it by 15 minutes past its old expiry (Home Assistant
/// Core only).
#[utoipa::path(
    tag = "ingress",
    request_body = IngressSessionValidation,
    responses(
        (status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>),
        (status = 401, description = "Not Home Assistant Core, or no such live session (plain text)"),
    )
)]
#[post("/validate_session")]
async fn ingress_validate_session(body: web::Bytes, manager: web::Data<IngressManager>) -> ApiResult {
    let IngressSessionValidation { session } = parse_object(&body, false)?;
    if !manager.validate_session(&session) {
        tracing::warn!("No valid ingress session");
        return Ok(plain(StatusCode::UNAUTHORIZED));
    }
    ok_empty()
}

/// The add-on's web interface: any request (websockets too) with a live session in the
/// `ingress_session` cookie goes on to the add-on's ingress port.
#[utoipa::path(
    tag = "ingress",
    method(get, post, put, delete, patch, head, options),
    path = "/{token}/{path}",
    params(
        ("token" = String, Path, description = "The add-on's ingress token"),
        ("path" = String, Path, description = "The path on the add-on's web server"),
    ),
    responses(
        (status = 200, description = "The add-on's answer, whatever its status and type"),
        (status = 401, description = "No live session (plain text)"),
        (status = 502, description = "The add-on does not answer (plain text)"),
        (status = 503, description = "No add-on has this ingress token (plain text)"),
    )
)]
#[route(
    "/{token}/{path:.*}",
    method = "GET",
    method = "POST",
    method = "PUT",
    method = "DELETE",
    method = "PATCH",
    method = "HEAD",
    method = "OPTIONS"
)]
async fn ingress_proxy(req: HttpRequest, payload: web::Payload, manager: web::Data<IngressManager>) -> HttpResponse {
    proxy::handle(req, payload, &manager).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::SessionUser;
    use actix_web::{test, App, HttpServer};
    use addons::AddonManager;
    use base::{DataDir, System};
    use docker::{DockerManager, Naming};
    use futures_util::{SinkExt, StreamExt};
    use homeassistant::{CoreManager, Settings};
    use jobs::JobManager;
    use security::{AddonRights, Caller, Tokens};
    use serde_json::{json, Map, Value};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::Message;
    use updater::Updater;

    /// An ingress token of the test add-ons: their slug.
    fn installed(slug: &str, extra: Value) -> (String, Value, Value) {
        let mut config = json!({
            "name": format!("Name of {slug}"), "version": "1.0.0", "slug": slug, "description": "test",
            "arch": ["amd64", "aarch64"],
        });
        config.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let config = addon_config::AddonConfig::from_value(config).unwrap();
        let user = json!({"version": "1.0.0", "image": "local/x", "uuid": "u", "ingress_token": slug,
                          "ingress_panel": slug == "web"});
        let system = json!({"repository": "local", "config": serde_json::to_value(config).unwrap()});
        (format!("local_{slug}"), user, system)
    }

    /// The manager over add-ons installed as `addons` says, with an engine and a Core that are
    /// never reached: an add-on's address is then `0.0.0.0`, which reaches this machine.
    fn manager(dir: &std::path::Path, addons: &[(&str, Value)]) -> (IngressManager, web::Data<Tokens>) {
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
        let core = CoreManager::new(
            &store,
            data,
            jobs,
            docker,
            updater,
            Arc::clone(&tokens),
            Arc::new(|| "UTC".to_owned()),
            settings,
        )
        .unwrap();
        tokens.register("core-token", Caller::HomeAssistant);
        tokens.register("cli-token", Caller::Cli);
        (IngressManager::new(&store, addons, core).unwrap(), web::Data::from(tokens))
    }

    /// The group behind the request guard, as the router mounts it.
    fn app(
        manager: &IngressManager,
        tokens: &web::Data<Tokens>,
    ) -> App<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        security::testing::guarded(super::routes, tokens.clone(), Arc::new(NoAddons))
            .app_data(web::Data::new(manager.clone()))
    }

    struct NoAddons;

    impl AddonRights for NoAddons {
        fn rights(&self, _slug: &str) -> Option<security::Grants> {
            None
        }
    }

    async fn call(manager: &IngressManager, tokens: &web::Data<Tokens>, req: test::TestRequest) -> (u16, String) {
        let app = test::init_service(app(manager, tokens)).await;
        let resp = test::call_service(&app, req.to_request()).await;
        let status = resp.status().as_u16();
        (status, String::from_utf8_lossy(&test::read_body(resp).await).into_owned())
    }

    fn as_token(req: test::TestRequest, token: &str) -> test::TestRequest {
        req.insert_header(("Authorization", format!("Bearer {token}")))
    }

    #[actix_web::test]
    async fn panels_of_addons_with_ingress() {
        let dir = tempfile::tempdir().unwrap();
        let (manager, tokens) = manager(
            dir.path(),
            &[
                ("web", json!({"ingress": true, "panel_title": "Web", "panel_icon": "mdi:web"})),
                ("plain_ui", json!({"ingress": true, "panel_admin": false})),
                ("headless", json!({})),
            ],
        );
        let (status, body) =
            call(&manager, &tokens, as_token(test::TestRequest::get().uri("/ingress/panels"), "cli-token")).await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body["data"],
            json!({"panels": {
                "local_plain_ui": {"title": "Name of plain_ui", "icon": "mdi:puzzle", "admin": false, "enable": false},
                "local_web": {"title": "Web", "icon": "mdi:web", "admin": true, "enable": true},
            }})
        );
    }

    #[actix_web::test]
    async fn sessions_are_opened_and_validated_by_core_only() {
        let dir = tempfile::tempdir().unwrap();
        let (manager, tokens) = manager(dir.path(), &[]);
        for path in ["/ingress/session", "/ingress/validate_session"] {
            let req = as_token(test::TestRequest::post().uri(path), "cli-token").set_payload("{\"bogus\": 1}");
            assert_eq!(call(&manager, &tokens, req).await, (401, "401: Unauthorized".to_owned()), "{path}");
        }
        // Core cannot be asked for the user: the session is opened without one.
        let req = as_token(test::TestRequest::post().uri("/ingress/session"), "core-token")
            .set_json(json!({"user_id": "abc"}));
        let (status, body) = call(&manager, &tokens, req).await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        let session = body["data"]["session"].as_str().unwrap().to_owned();
        assert_eq!(session.len(), 128);
        assert_eq!(manager.session_user(&session), None);

        let validate = |session: &str| {
            as_token(test::TestRequest::post().uri("/ingress/validate_session"), "core-token")
                .set_json(json!({"session": session}))
        };
        let (status, body) = call(&manager, &tokens, validate(&session)).await;
        assert_eq!((status, body.as_str()), (200, r#"{"result":"ok","data":{}}"#));
        assert_eq!(call(&manager, &tokens, validate("nope")).await, (401, "401: Unauthorized".to_owned()));
        let req = as_token(test::TestRequest::post().uri("/ingress/session"), "core-token").set_payload("");
        assert_eq!(call(&manager, &tokens, req).await.0, 200, "the body is optional");
    }

    /// A one-request HTTP server on a free port: answers `answer` and hands over the request.
    async fn upstream_once(answer: &'static str) -> (u16, tokio::sync::oneshot::Receiver<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&request).contains("\r\n\r\n") {
                let n = stream.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
            }
            stream.write_all(answer.as_bytes()).await.unwrap();
            let _ = tx.send(String::from_utf8_lossy(&request).into_owned());
        });
        (port, rx)
    }

    #[actix_web::test]
    async fn the_proxy_needs_a_live_session_and_a_known_token() {
        let dir = tempfile::tempdir().unwrap();
        let (manager, tokens) = manager(dir.path(), &[("web", json!({"ingress": true}))]);
        // Open: no supervisor token, the handler's own plain answers.
        let (status, body) = call(&manager, &tokens, test::TestRequest::get().uri("/ingress/web/index.html")).await;
        assert_eq!((status, body.as_str()), (401, "401: Unauthorized"));
        let session = manager.open_session(None).await.unwrap();
        let cookie = ("Cookie", format!("ingress_session={session}"));
        let req = test::TestRequest::get().uri("/ingress/unknown/index.html").insert_header(cookie.clone());
        let (status, body) = call(&manager, &tokens, req).await;
        assert_eq!((status, body.as_str()), (503, "503: Service Unavailable"));
    }

    #[actix_web::test]
    async fn http_goes_to_the_addon_with_the_sessions_user() {
        let dir = tempfile::tempdir().unwrap();
        let answer = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\nX-Upstream: yes\r\nConnection: close\r\n\r\nhello";
        let (port, request) = upstream_once(answer).await;
        let (manager, tokens) = manager(dir.path(), &[("web", json!({"ingress": true, "ingress_port": port}))]);
        let user = SessionUser { id: "u1".into(), username: Some("owner".into()), name: Some("Owner".into()) };
        let session = manager.open_session_for(user);
        let req = test::TestRequest::get()
            .uri("/ingress/web/a/b%20c?x=1&y=%2F")
            .insert_header(("Cookie", format!("ingress_session={session}")))
            .insert_header(("X-Supervisor-Token", "core-token"))
            .insert_header(("X-Remote-User-Id", "forged"))
            .insert_header(("X-Forwarded-For", "192.168.1.5"))
            .peer_addr("172.30.32.1:5555".parse().unwrap());
        let app = test::init_service(app(&manager, &tokens)).await;
        let resp = test::call_service(&app, req.to_request()).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers().get("x-upstream").unwrap(), "yes");
        assert_eq!(resp.headers().get("content-type").unwrap(), "text/html");
        assert_eq!(test::read_body(resp).await, "hello");

        let request = request.await.unwrap().to_ascii_lowercase();
        assert!(request.starts_with("get /a/b%20c?x=1&y=%2f http/1.1\r\n"), "{request}");
        for line in [
            "x-remote-user-id: u1",
            "x-remote-user-name: owner",
            "x-remote-user-display-name: owner",
            "x-forwarded-for: 192.168.1.5, 172.30.32.1",
            &format!("cookie: ingress_session={session}"),
        ] {
            assert!(request.contains(&format!("\r\n{line}\r\n")), "{line} in {request}");
        }
        assert!(!request.contains("forged") && !request.contains("x-supervisor-token"), "{request}");
    }

    #[actix_web::test]
    // The add-on's handshake callback has tungstenite's signature, large error and all.
    #[allow(clippy::result_large_err)]
    async fn websockets_are_relayed_with_their_subprotocol() {
        let dir = tempfile::tempdir().unwrap();
        // The add-on: takes the first subprotocol offered and echoes.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let choose =
                |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                 mut resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
                    let offered = req.headers().get("sec-websocket-protocol").unwrap().to_str().unwrap();
                    let first = offered.split(',').next().unwrap().trim().to_owned();
                    resp.headers_mut().insert("sec-websocket-protocol", first.parse().unwrap());
                    assert_eq!(req.uri().path(), "/ws");
                    Ok(resp)
                };
            let mut socket = tokio_tungstenite::accept_hdr_async(stream, choose).await.unwrap();
            while let Some(Ok(message)) = socket.next().await {
                if message.is_text() || message.is_binary() {
                    socket.send(message).await.unwrap();
                }
            }
        });
        let (manager, tokens) = manager(dir.path(), &[("web", json!({"ingress": true, "ingress_port": port}))]);
        let session = manager.open_session(None).await.unwrap();
        let server = HttpServer::new({
            let (manager, tokens) = (manager.clone(), tokens.clone());
            move || app(&manager, &tokens)
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let address = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);

        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{address}/ingress/web/ws").into_client_request().unwrap();
        request.headers_mut().insert("cookie", format!("ingress_session={session}").parse().unwrap());
        request.headers_mut().insert("sec-websocket-protocol", "mqtt, other".parse().unwrap());
        let (mut client, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.headers().get("sec-websocket-protocol").unwrap(), "mqtt");
        client.send(Message::text("ping me")).await.unwrap();
        let echoed = client.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_text().unwrap().as_str(), "ping me");
        client.send(Message::binary(vec![1, 2, 3])).await.unwrap();
        assert_eq!(client.next().await.unwrap().unwrap().into_data().as_ref(), [1, 2, 3]);
        handle.stop(false).await;
    }
}
