//! The HTTP side: Core's token endpoint, the part of its `/api` the supervisor uses (behind the
//! bearer check and the hang switch), its websocket protocol, and the fixture's own control
//! endpoints under `/fixture`, which need no token.

use crate::state::Fixture;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{Message, MessageStream, Session};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// `GET /api/stream` sends this many events, one every `STREAM_INTERVAL`.
const STREAM_EVENTS: u32 = 20;
const STREAM_INTERVAL: Duration = Duration::from_millis(100);
/// Proxied bodies (`/api/echo`) may be large uploads.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(web::PayloadConfig::new(BODY_LIMIT))
        .route("/auth/token", web::post().to(auth_token))
        .service(
            web::scope("/fixture")
                .route("/state", web::get().to(fixture_state))
                .route("/crash", web::post().to(fixture_crash))
                .route("/hang", web::post().to(fixture_hang)),
        )
        .service(
            web::scope("/api")
                .wrap(from_fn(gate))
                .route("/", web::get().to(|| async { HttpResponse::Ok().json(json!({"message": "API running."})) }))
                .route("/core/state", web::get().to(core_state))
                .route("/config", web::get().to(config_info))
                .route("/echo/{tail:.*}", web::route().to(echo))
                .route("/stream", web::get().to(stream))
                .route("/hassio_auth", web::post().to(hassio_auth))
                .route("/hassio_auth/password_reset", web::post().to(password_reset))
                .route("/hassio_push/discovery/{uuid}", web::post().to(discovery))
                .route("/hassio_push/discovery/{uuid}", web::delete().to(discovery))
                .route("/hassio_push/panel/{slug}", web::post().to(panel))
                .route("/hassio_push/panel/{slug}", web::delete().to(panel))
                .route("/websocket", web::get().to(websocket)),
        );
}

/// Every `/api` request: recorded, then held forever once the fixture hangs, then refused
/// without a valid access token (the websocket authenticates inside its protocol instead).
async fn gate(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let fixture = request.app_data::<web::Data<Fixture>>().expect("the fixture is app data").clone();
    fixture.record(|r| r.api_requests.push(json!({"method": request.method().as_str(), "path": request.path()})));
    if fixture.is_hung() {
        std::future::pending::<()>().await;
    }
    let authorized = bearer(request.request()).is_some_and(|token| fixture.authorized(token));
    if !authorized && request.path() != "/api/websocket" {
        let refusal = HttpResponse::Unauthorized().content_type("text/plain").body("401: Unauthorized");
        return Ok(request.into_response(refusal).map_into_right_body());
    }
    Ok(next.call(request).await?.map_into_left_body())
}

fn bearer(request: &HttpRequest) -> Option<&str> {
    request.headers().get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")
}

/// `POST /auth/token` with `grant_type=refresh_token`: a new access token for our refresh token.
async fn auth_token(fixture: web::Data<Fixture>, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let granted = (form.get("grant_type").map(String::as_str) == Some("refresh_token"))
        .then(|| fixture.exchange(form.get("refresh_token")?))
        .flatten();
    match granted {
        Some(token) => {
            HttpResponse::Ok().json(json!({"access_token": token, "expires_in": 1800, "token_type": "Bearer"}))
        }
        None => HttpResponse::BadRequest().json(json!({"error": "invalid_grant"})),
    }
}

async fn core_state() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "state": "RUNNING",
        "recorder_state": {"migration_in_progress": false, "migration_is_live": false},
    }))
}

async fn config_info(fixture: web::Data<Fixture>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "version": fixture.version,
        "location_name": "Fixture",
        "components": ["api", "auth", "backup", "hassio", "http", "websocket_api"],
        "state": "RUNNING",
    }))
}

/// Any request under `/api/echo/`, answered with what arrived, for the proxy's tests.
async fn echo(request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut headers = Map::new();
    for (name, value) in request.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        let joined = match headers.get(name.as_str()).and_then(Value::as_str) {
            Some(earlier) => format!("{earlier}, {value}"),
            None => value.into_owned(),
        };
        headers.insert(name.as_str().to_owned(), json!(joined));
    }
    HttpResponse::Ok().json(json!({
        "method": request.method().as_str(),
        "path": request.path(),
        "query": request.query_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

/// Server-sent events spread over two seconds, to tell a streaming proxy from a buffering one.
async fn stream() -> HttpResponse {
    let events = futures_util::stream::unfold(0, |n| async move {
        if n == STREAM_EVENTS {
            return None;
        }
        if n > 0 {
            tokio::time::sleep(STREAM_INTERVAL).await;
        }
        Some((Ok::<_, Infallible>(web::Bytes::from(format!("data: {{\"n\": {n}}}\n\n"))), n + 1))
    });
    HttpResponse::Ok().content_type("text/event-stream").streaming(events)
}

/// What the supervisor sends to check an add-on's login, or to reset a password.
#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

async fn hassio_auth(fixture: web::Data<Fixture>, body: web::Json<Credentials>) -> HttpResponse {
    if fixture.login(&body.username, &body.password) {
        HttpResponse::Ok().finish()
    } else {
        HttpResponse::Unauthorized().finish()
    }
}

async fn password_reset(fixture: web::Data<Fixture>, body: web::Json<Credentials>) -> HttpResponse {
    match fixture.reset_password(&body.username, &body.password) {
        Ok(true) => HttpResponse::Ok().finish(),
        Ok(false) => HttpResponse::NotFound().finish(),
        Err(e) => HttpResponse::InternalServerError().body(e),
    }
}

async fn discovery(
    fixture: web::Data<Fixture>,
    request: HttpRequest,
    uuid: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let method = request.method().as_str();
    fixture.record(|r| r.discovery.push(json!({"method": method, "uuid": *uuid, "body": body})));
    HttpResponse::Ok().finish()
}

async fn panel(fixture: web::Data<Fixture>, request: HttpRequest, slug: web::Path<String>) -> HttpResponse {
    let method = request.method().as_str();
    fixture.record(|r| r.panels.push(json!({"method": method, "slug": *slug})));
    HttpResponse::Ok().finish()
}

async fn fixture_state(fixture: web::Data<Fixture>) -> HttpResponse {
    HttpResponse::Ok().json(fixture.state())
}

async fn fixture_crash() -> HttpResponse {
    actix_web::rt::spawn(async {
        // Lets the answer reach the client before the process goes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        println!("core-fixture: crashing as asked");
        std::process::exit(1);
    });
    HttpResponse::Ok().json(json!({}))
}

async fn fixture_hang(fixture: web::Data<Fixture>) -> HttpResponse {
    fixture.hang();
    HttpResponse::Ok().json(json!({}))
}

/// `GET /api/websocket`: Home Assistant's websocket protocol, authenticated by its first message.
async fn websocket(
    fixture: web::Data<Fixture>,
    request: HttpRequest,
    body: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let (response, session, messages) = actix_ws::handle(&request, body)?;
    actix_web::rt::spawn(converse(fixture.into_inner(), session, messages));
    Ok(response)
}

async fn converse(fixture: Arc<Fixture>, mut session: Session, mut messages: MessageStream) {
    let mut authenticated = false;
    if send(&mut session, json!({"type": "auth_required", "ha_version": fixture.version})).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = messages.recv().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Ping(bytes) => {
                let _ = session.pong(&bytes).await;
                continue;
            }
            Message::Close(_) => break,
            _ => continue,
        };
        let message: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let kind = message["type"].as_str().unwrap_or_default().to_owned();
        fixture.record(|r| r.websocket_messages.push(kind.clone()));
        if fixture.is_hung() {
            continue;
        }
        if !authenticated {
            authenticated = kind == "auth" && message["access_token"].as_str().is_some_and(|t| fixture.authorized(t));
            let reply = if authenticated {
                json!({"type": "auth_ok", "ha_version": fixture.version})
            } else {
                json!({"type": "auth_invalid", "message": "Invalid access token or password"})
            };
            if send(&mut session, reply).await.is_err() || !authenticated {
                break;
            }
            continue;
        }
        let answers = match kind.as_str() {
            // Current Core registers the first; the second is the real Supervisor's newer name.
            "hassio/update/addon" | "hassio/update/app" => vec![update_addon(&fixture, &message).await],
            _ => replies(&fixture, &kind, &message),
        };
        for reply in answers {
            if send(&mut session, reply).await.is_err() {
                return;
            }
        }
    }
    let _ = session.close(None).await;
}

async fn send(session: &mut Session, message: Value) -> Result<(), actix_ws::Closed> {
    session.text(message.to_string()).await
}

/// Records an add-on update command and, as Core's `hassio` integration does, asks the
/// supervisor to update the add-on, answering once the supervisor did.
async fn update_addon(fixture: &Fixture, message: &Value) -> Value {
    let id = &message["id"];
    let slug = message["addon"].as_str().or_else(|| message["app"].as_str()).unwrap_or_default();
    let backup = message["backup"].as_bool().unwrap_or(false);
    fixture.record(|r| r.addon_updates.push(json!({"addon": slug, "backup": backup})));
    match crate::supervisor::update_addon(fixture, slug, backup).await {
        Ok(()) => json!({"id": id, "type": "result", "success": true, "result": null}),
        Err(why) => json!({"id": id, "type": "result", "success": false,
                           "error": {"code": "unknown_error", "message": why}}),
    }
}

/// The answers to one command of an authenticated client.
fn replies(fixture: &Fixture, kind: &str, message: &Value) -> Vec<Value> {
    let id = &message["id"];
    let result = |result: Value| json!({"id": id, "type": "result", "success": true, "result": result});
    match kind {
        "ping" => vec![json!({"id": id, "type": "pong"})],
        "backup/start" | "backup/end" => {
            fixture.record(|r| r.backup_events.push(kind.to_owned()));
            vec![result(Value::Null)]
        }
        "supervisor/event" => {
            fixture.record(|r| r.supervisor_events.push(message["data"].clone()));
            vec![result(Value::Null)]
        }
        "config/auth/list" => vec![result(fixture.users())],
        "subscribe_events" => vec![
            result(Value::Null),
            json!({"id": id, "type": "event", "event": {"event_type": "fixture", "data": {}}}),
        ],
        _ => vec![result(json!({"echo": message}))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_answered_and_backups_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Fixture::open(dir.path(), "2025.1.0".into(), None).unwrap();
        let answer = |message: Value| replies(&fixture, message["type"].as_str().unwrap(), &message);
        assert_eq!(answer(json!({"id": 1, "type": "ping"})), vec![json!({"id": 1, "type": "pong"})]);
        assert_eq!(answer(json!({"id": 2, "type": "backup/start"}))[0]["success"], true);
        assert_eq!(answer(json!({"id": 3, "type": "backup/end"}))[0]["result"], Value::Null);
        assert_eq!(answer(json!({"id": 4, "type": "config/auth/list"}))[0]["result"][0]["username"], "homer");
        assert_eq!(answer(json!({"id": 5, "type": "subscribe_events"}))[1]["event"]["event_type"], "fixture");
        assert_eq!(answer(json!({"id": 6, "type": "other", "x": 1}))[0]["result"]["echo"]["x"], 1);
        assert_eq!(fixture.state()["backup_events"], json!(["backup/start", "backup/end"]));
        let event = json!({"event": "job", "data": {"uuid": "u"}});
        assert_eq!(answer(json!({"id": 7, "type": "supervisor/event", "data": event}))[0]["success"], true);
        assert_eq!(fixture.state()["supervisor_events"], json!([event]));
    }

    #[actix_web::test]
    async fn an_addon_update_is_recorded_and_fails_without_a_supervisor_to_ask() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Fixture::open(dir.path(), "2025.1.0".into(), None).unwrap();
        let message = json!({"id": 8, "type": "hassio/update/addon", "addon": "core_x", "backup": true});
        let answer = update_addon(&fixture, &message).await;
        assert_eq!(answer["success"], false, "{answer}");
        assert_eq!(fixture.state()["addon_updates"], json!([{"addon": "core_x", "backup": true}]));
    }
}
