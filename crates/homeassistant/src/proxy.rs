//! The proxy add-ons reach Core's API through (`/core/api/...`, `/core/websocket`, and the same
//! under `/homeassistant`), as the real Supervisor runs it: the caller's token must be that of an
//! installed add-on granted `homeassistant_api` (the REST route requires it of the guard; the
//! websocket reads it from the protocol's `auth` message here); the request goes on with the
//! supervisor's own access token instead, streamed both ways. Core's Supervisor integration stays out of reach:
//! its `hassio` API paths are refused by the request guard's blacklist, and its `hassio/` and
//! `supervisor/` websocket commands here.

use crate::manager::CoreManager;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use http_api::websocket::{self, Verdict};
use http_api::ApiError;
use security::{AddonRights, Caller, Tokens};
use serde_json::{json, Value};

/// The add-on a token belongs to, if it is installed and may use Core's API.
fn addon_of(req: &HttpRequest, token: &str) -> Option<String> {
    let tokens = req.app_data::<web::Data<Tokens>>()?;
    let Caller::Addon { slug, .. } = tokens.caller(token)? else { return None };
    let rights = req.app_data::<web::Data<dyn AddonRights>>()?;
    rights.rights(&slug)?.homeassistant_api.then_some(slug)
}

/// Forwards one HTTP request to Core's `api/<path>`, the body streamed up and the answer
/// streamed down; 502 when Core does not answer.
pub async fn forward(
    req: HttpRequest,
    path: &str,
    mut payload: web::Payload,
    core: &CoreManager,
) -> Result<HttpResponse, ApiError> {
    let slug = match req.extensions().get::<Caller>() {
        Some(Caller::Addon { slug, .. }) => slug.clone(),
        _ => String::new(),
    };
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| ApiError::bad_request(format!("Unsupported method {}", req.method())))?;
    let mut target = format!("api/{path}");
    if !req.query_string().is_empty() {
        target = format!("{target}?{}", req.query_string());
    }
    tracing::debug!(addon = %slug, %method, target, "proxying to Home Assistant Core");
    // The body is read in this worker (the payload stays on its thread) and handed over in
    // chunks, so a large upload is never held whole.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    actix_web::rt::spawn(async move {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()));
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    let body = reqwest::Body::wrap_stream(tokio_stream(rx));
    let mut request = core.api().request(method, &target).body(body);
    if let Some(content_type) = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        request = request.header(reqwest::header::CONTENT_TYPE, content_type);
    }
    let token = core.api().access_token().await.map_err(|e| bad_gateway(&e.message))?;
    let response = request.bearer_auth(token).send().await.map_err(|e| bad_gateway(&e.to_string()))?;
    let status = actix_web::http::StatusCode::from_u16(response.status().as_u16())
        .map_err(|_| bad_gateway("an invalid status"))?;
    let mut answer = HttpResponse::build(status);
    if let Some(content_type) = response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        answer.insert_header((CONTENT_TYPE, content_type.to_owned()));
    }
    Ok(answer.streaming(response.bytes_stream()))
}

fn bad_gateway(why: &str) -> ApiError {
    tracing::error!("Error on Home Assistant Core API request: {why}");
    ApiError::new(actix_web::http::StatusCode::BAD_GATEWAY, format!("Home Assistant Core is not reachable: {why}"))
}

/// The receiving half of a channel as a stream.
fn tokio_stream<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Whether a websocket command of this type reaches Core's Supervisor integration.
fn denied_type(kind: &str) -> bool {
    kind.starts_with("hassio/") || kind.starts_with("supervisor/")
}

/// Relays a websocket between an add-on and Core: the add-on logs in with its own token (the
/// Home Assistant protocol's `auth` message), the supervisor logs in to Core with its own.
pub async fn websocket(req: HttpRequest, body: web::Payload, core: CoreManager) -> actix_web::Result<HttpResponse> {
    let (response, mut session, mut client) = websocket::accept(&req, body)?;
    actix_web::rt::spawn(async move {
        let version = core.version().unwrap_or_default();
        if session.text(json!({"type": "auth_required", "ha_version": version}).to_string()).await.is_err() {
            return;
        }
        let auth = match client.recv().await {
            Some(Ok(actix_ws::AggregatedMessage::Text(text))) => {
                serde_json::from_str::<Value>(&text).unwrap_or_default()
            }
            _ => return,
        };
        let token = auth["access_token"].as_str().or_else(|| auth["api_password"].as_str()).unwrap_or_default();
        if auth["type"] != "auth" || addon_of(&req, token).is_none() {
            tracing::warn!("Unauthorized websocket access to the Home Assistant API");
            let _ = session.text(json!({"type": "auth_invalid", "message": "Invalid access"}).to_string()).await;
            let _ = session.close(None).await;
            return;
        }
        let upstream = match core.api().websocket().await {
            Ok(upstream) => upstream,
            Err(e) => {
                tracing::error!("Can't relay a websocket to Home Assistant Core: {}", e.message);
                let _ = session.close(None).await;
                return;
            }
        };
        if session.text(json!({"type": "auth_ok", "ha_version": version}).to_string()).await.is_err() {
            return;
        }
        websocket::relay(session, client, upstream, |text| {
            let Ok(message) = serde_json::from_str::<Value>(text) else { return Verdict::Forward };
            match message["type"].as_str() {
                Some(kind) if denied_type(kind) => Verdict::Refuse(
                    json!({
                        "id": message["id"],
                        "type": "result",
                        "success": false,
                        "error": {"code": "unauthorized", "message": format!("{kind} is not available to add-ons")},
                    })
                    .to_string(),
                ),
                _ => Verdict::Forward,
            }
        })
        .await;
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervisor_commands_are_denied() {
        assert!(denied_type("hassio/addon/info"));
        assert!(denied_type("supervisor/api"));
        assert!(!denied_type("get_states"));
        assert!(!denied_type("subscribe_events"));
    }
}
