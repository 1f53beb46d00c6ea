//! The ingress proxy: a request to `/ingress/{token}/{path}` goes on to the add-on at
//! `http://<its address>:<its ingress port>/<path>?<query>`, as the real Supervisor forwards it.
//!
//! The request's headers go along but for the body framing (made anew), the websocket
//! handshake's own, the supervisor tokens and any `X-Remote-User-*` the browser sent: those
//! name the session's user, set here. `X-Forwarded-For` gains the peer. Bodies are read whole
//! except for POSTs to add-ons that ask for streaming (`ingress_stream`), since some add-on
//! servers cannot take a chunked upload. Answers are buffered when small and streamed
//! otherwise; redirects are the add-on's to give, not to follow. The upstream body is passed on
//! as it comes, `Content-Encoding` included (nothing here decompresses it).

use crate::manager::{IngressManager, Target};
use crate::sessions::SessionUser;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http_api::cookie::cookie;
use http_api::websocket::{self, Verdict};
use std::net::IpAddr;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The cookie the session travels in.
pub(crate) const COOKIE: &str = "ingress_session";
/// Answers up to this size (by their `Content-Length`) are buffered, larger ones streamed.
const MAX_BUFFERED: u64 = 4_194_000;
/// The largest request body read whole.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Request headers that do not go to the add-on (compared in lower case).
const DROPPED: [&str; 12] = [
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "sec-websocket-version",
    "sec-websocket-key",
    "x-supervisor-token",
    "x-hassio-key",
    "x-remote-user-id",
    "x-remote-user-name",
    "x-remote-user-display-name",
];

/// Answer headers that are not passed back: the framing is ours to make, and the content type
/// is set separately.
const DROPPED_ANSWER: [&str; 5] = ["transfer-encoding", "content-length", "content-type", "connection", "keep-alive"];

/// The headers sent to the add-on, from the request's: without [`DROPPED`], with the session's
/// user, and with `peer` added to `X-Forwarded-For`.
pub(crate) fn upstream_headers(
    incoming: &HeaderMap,
    user: Option<&SessionUser>,
    peer: Option<IpAddr>,
) -> Vec<(String, Vec<u8>)> {
    let mut headers = Vec::new();
    if let Some(user) = user {
        headers.push(("X-Remote-User-Id".to_owned(), user.id.clone().into_bytes()));
        if let Some(username) = &user.username {
            headers.push(("X-Remote-User-Name".to_owned(), username.clone().into_bytes()));
        }
        if let Some(name) = &user.name {
            headers.push(("X-Remote-User-Display-Name".to_owned(), name.clone().into_bytes()));
        }
    }
    for (name, value) in incoming {
        let name = name.as_str();
        if !DROPPED.contains(&name) && name != "x-forwarded-for" {
            headers.push((name.to_owned(), value.as_bytes().to_vec()));
        }
    }
    let forwarded = incoming.get(header::X_FORWARDED_FOR).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let forwarded = match (forwarded, peer) {
        (Some(existing), Some(peer)) => Some(format!("{existing}, {peer}")),
        (existing, peer) => existing.or_else(|| peer.map(|p| p.to_string())),
    };
    if let Some(forwarded) = forwarded {
        headers.push(("X-Forwarded-For".to_owned(), forwarded.into_bytes()));
    }
    headers
}

/// Whether the request asks for a websocket.
pub(crate) fn is_websocket(headers: &HeaderMap) -> bool {
    let has = |name, wanted: &str| {
        headers.get_all(name).any(|v| v.to_str().is_ok_and(|v| v.to_ascii_lowercase().contains(wanted)))
    };
    has(header::CONNECTION, "upgrade")
        && headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The subprotocols the client offers, in its order.
fn subprotocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The part of the request's path after `/ingress/{token}/`, as it was sent (still encoded).
pub(crate) fn upstream_path(raw: &str) -> &str {
    raw.splitn(4, '/').nth(3).unwrap_or_default()
}

/// The plain answers of the real Supervisor's web framework.
pub(crate) fn plain(status: StatusCode) -> HttpResponse {
    let reason = status.canonical_reason().unwrap_or_default();
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(format!("{}: {reason}", status.as_u16()))
}

/// Answers one request to `/ingress/{token}/...`.
pub(crate) async fn handle(req: HttpRequest, payload: web::Payload, manager: &IngressManager) -> HttpResponse {
    let session = cookie(req.headers(), COOKIE);
    let Some(session) = session.filter(|session| manager.validate_session(session)) else {
        tracing::warn!("No valid ingress session");
        return plain(StatusCode::UNAUTHORIZED);
    };
    let token = req.match_info().get("token").unwrap_or_default();
    let target = match manager.target(token).await {
        Ok(target) => target,
        Err(e) => {
            tracing::warn!("Ingress for an unknown token: {}", e.message);
            return plain(StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    let user = manager.session_user(&session);
    let peer = req.peer_addr().map(|addr| addr.ip());
    let headers = upstream_headers(req.headers(), user.as_ref(), peer);
    let mut path = upstream_path(req.path()).to_owned();
    if !req.query_string().is_empty() {
        path = format!("{path}?{}", req.query_string());
    }
    let answer = if is_websocket(req.headers()) {
        relay_websocket(&req, payload, &target, &path, headers).await
    } else {
        forward(&req, payload, manager, &target, &path, headers).await
    };
    answer.unwrap_or_else(|why| {
        tracing::error!(addon = %target.slug, "Ingress error: {why}");
        plain(StatusCode::BAD_GATEWAY)
    })
}

/// Forwards an HTTP request and passes the answer back.
async fn forward(
    req: &HttpRequest,
    mut payload: web::Payload,
    manager: &IngressManager,
    target: &Target,
    path: &str,
    headers: Vec<(String, Vec<u8>)>,
) -> Result<HttpResponse, String> {
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).map_err(|e| e.to_string())?;
    let mut request = manager.http().request(method.clone(), format!("{}/{path}", target.base));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let body = if method == reqwest::Method::POST && target.stream {
        // The payload stays on this worker; its chunks are handed over as they come.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
        actix_web::rt::spawn(async move {
            while let Some(chunk) = payload.next().await {
                if tx.send(chunk.map_err(|e| std::io::Error::other(e.to_string()))).await.is_err() {
                    break;
                }
            }
        });
        reqwest::Body::wrap_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    } else {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| format!("reading the request body: {e}"))?;
            if body.len() + chunk.len() > MAX_BODY {
                return Ok(plain(StatusCode::PAYLOAD_TOO_LARGE));
            }
            body.extend_from_slice(&chunk);
        }
        reqwest::Body::from(body.freeze())
    };
    let response = request.body(body).send().await.map_err(|e| e.to_string())?;
    let status = StatusCode::from_u16(response.status().as_u16()).map_err(|e| e.to_string())?;
    let mut answer = HttpResponse::build(status);
    for (name, value) in response.headers() {
        if !DROPPED_ANSWER.contains(&name.as_str()) {
            answer.append_header((name.as_str(), value.as_bytes()));
        }
    }
    let content_type = response.headers().get(reqwest::header::CONTENT_TYPE).map(|v| v.as_bytes().to_vec());
    answer.insert_header((header::CONTENT_TYPE, content_type.unwrap_or_else(|| b"application/octet-stream".to_vec())));
    let empty = matches!(status.as_u16(), 204 | 304) || req.method() == actix_web::http::Method::HEAD;
    if empty {
        return Ok(answer.finish());
    }
    let length =
        response.headers().get(reqwest::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if length.is_some_and(|length| length < MAX_BUFFERED) {
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        return Ok(answer.body(body));
    }
    answer.insert_header(("X-Accel-Buffering", "no"));
    Ok(answer.streaming(response.bytes_stream()))
}

/// Opens the add-on's websocket, then accepts the client's and relays between them.
async fn relay_websocket(
    req: &HttpRequest,
    payload: web::Payload,
    target: &Target,
    path: &str,
    headers: Vec<(String, Vec<u8>)>,
) -> Result<HttpResponse, String> {
    let ws_base = target.base.replacen("http://", "ws://", 1);
    let url = format!("{ws_base}/{path}");
    let protocols = subprotocols(req.headers());
    let upstream = match connect(&url, &headers, &protocols).await {
        // The add-on chose no subprotocol of those offered: the real Supervisor's client takes
        // that (the connection then has none); ours checks, so ask again without them.
        Err(tungstenite::Error::Protocol(tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(
            tungstenite::error::SubProtocolError::NoSubProtocol,
        ))) => connect(&url, &headers, &[]).await,
        other => other,
    };
    let (upstream, answer) = upstream.map_err(|e| e.to_string())?;
    let (mut response, session, stream) = websocket::accept(req, payload).map_err(|e| e.to_string())?;
    if let Some(protocol) = answer.headers().get("sec-websocket-protocol") {
        let value = HeaderValue::from_bytes(protocol.as_bytes()).map_err(|e| e.to_string())?;
        response.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    actix_web::rt::spawn(websocket::relay(session, stream, upstream, |_| Verdict::Forward));
    Ok(response)
}

/// The handshake with the add-on, with the request's headers (its `Host` too) and `protocols`.
async fn connect(
    url: &str,
    headers: &[(String, Vec<u8>)],
    protocols: &[String],
) -> Result<(websocket::Upstream, tungstenite::handshake::client::Response), tungstenite::Error> {
    let mut request = url.into_client_request()?;
    let map = request.headers_mut();
    for (name, value) in headers {
        // The handshake's own headers are made by the client.
        if matches!(name.to_ascii_lowercase().as_str(), "connection" | "upgrade") {
            continue;
        }
        let (Ok(name), Ok(value)) = (
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()),
            tungstenite::http::HeaderValue::from_bytes(value),
        ) else {
            continue;
        };
        if name == tungstenite::http::header::HOST {
            map.insert(name, value);
        } else {
            map.append(name, value);
        }
    }
    if !protocols.is_empty() {
        let offered = tungstenite::http::HeaderValue::from_str(&protocols.join(", "))
            .map_err(|e| tungstenite::Error::HttpFormat(e.into()))?;
        map.insert(tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL, offered);
    }
    tokio_tungstenite::connect_async(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderName;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn names(headers: &[(String, Vec<u8>)]) -> Vec<String> {
        headers.iter().map(|(name, _)| name.to_ascii_lowercase()).collect()
    }

    fn value<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a str> {
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| std::str::from_utf8(v).unwrap())
    }

    #[test]
    fn headers_are_copied_but_the_listed_ones() {
        let incoming = headers(&[
            ("Host", "homeassistant.local:8123"),
            ("Accept", "text/html"),
            ("Cookie", "ingress_session=abc"),
            ("X-Ingress-Path", "/api/hassio_ingress/tok"),
            ("Content-Length", "5"),
            ("Content-Encoding", "gzip"),
            ("Transfer-Encoding", "chunked"),
            ("Sec-WebSocket-Key", "k"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Protocol", "p"),
            ("Sec-WebSocket-Extensions", "e"),
            ("X-Supervisor-Token", "secret"),
            ("X-Hassio-Key", "secret"),
            ("X-Remote-User-Id", "forged"),
            ("X-Remote-User-Name", "forged"),
            ("X-Remote-User-Display-Name", "forged"),
        ]);
        let out = upstream_headers(&incoming, None, None);
        let mut kept = names(&out);
        kept.sort();
        assert_eq!(kept, ["accept", "cookie", "host", "x-ingress-path"]);
    }

    #[test]
    fn the_sessions_user_is_named() {
        let user = SessionUser { id: "u1".into(), username: Some("owner".into()), name: Some("Owner".into()) };
        let incoming = headers(&[("X-Remote-User-Id", "forged")]);
        let out = upstream_headers(&incoming, Some(&user), None);
        assert_eq!(value(&out, "X-Remote-User-Id"), Some("u1"));
        assert_eq!(value(&out, "X-Remote-User-Name"), Some("owner"));
        assert_eq!(value(&out, "X-Remote-User-Display-Name"), Some("Owner"));
        assert_eq!(names(&out).len(), 3);
        let anonymous = SessionUser { id: "u2".into(), username: None, name: None };
        assert_eq!(names(&upstream_headers(&HeaderMap::new(), Some(&anonymous), None)), ["x-remote-user-id"]);
    }

    #[test]
    fn the_peer_is_added_to_x_forwarded_for() {
        let peer: IpAddr = "172.30.32.1".parse().unwrap();
        let out = upstream_headers(&headers(&[("X-Forwarded-For", "192.168.1.5")]), None, Some(peer));
        assert_eq!(value(&out, "X-Forwarded-For"), Some("192.168.1.5, 172.30.32.1"));
        assert_eq!(names(&out), ["x-forwarded-for"], "one header, not two");
        let out = upstream_headers(&HeaderMap::new(), None, Some(peer));
        assert_eq!(value(&out, "X-Forwarded-For"), Some("172.30.32.1"));
    }

    #[test]
    fn websocket_requests_and_their_subprotocols() {
        assert!(is_websocket(&headers(&[("Connection", "keep-alive, Upgrade"), ("Upgrade", "WebSocket")])));
        assert!(!is_websocket(&headers(&[("Connection", "keep-alive"), ("Upgrade", "websocket")])));
        assert!(!is_websocket(&headers(&[("Connection", "upgrade"), ("Upgrade", "h2c")])));
        let offered = headers(&[("Sec-WebSocket-Protocol", "mqtt, graphql-ws"), ("Sec-WebSocket-Protocol", "x")]);
        assert_eq!(subprotocols(&offered), ["mqtt", "graphql-ws", "x"]);
    }

    #[test]
    fn the_path_after_the_token_is_kept_as_sent() {
        assert_eq!(upstream_path("/ingress/tok/"), "");
        assert_eq!(upstream_path("/ingress/tok/a/b%20c/index.html"), "a/b%20c/index.html");
        assert_eq!(upstream_path("/ingress/tok"), "");
    }

    #[test]
    fn plain_answers_are_the_frameworks() {
        let answer = plain(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.status(), 503);
        assert_eq!(answer.headers().get(header::CONTENT_TYPE).unwrap(), "text/plain; charset=utf-8");
    }
}
