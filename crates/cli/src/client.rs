//! The HTTP side of `ha`: requests to the supervisor with the token attached, and the reading of
//! its `{"result": "ok"|"error", "data"|"message": ...}` envelope into data or an error.

use crate::output::{self, Level};
use anyhow::{anyhow, Context, Result};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;
use std::time::Duration;

/// For ordinary calls.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// For calls that stop or start a container.
pub const CONTAINER_OPERATION_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// For calls that may download an image.
pub const CONTAINER_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// A JSON object body; an empty one is not sent at all, as the real CLI does.
pub type Body = Map<String, Value>;

/// A body with `true` for each flag that is set; the real CLI leaves unset flags out.
pub fn flags(set: &[(&str, bool)]) -> Body {
    set.iter().filter(|(_, on)| *on).map(|(name, _)| ((*name).to_owned(), Value::Bool(true))).collect()
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    /// The body exactly as received, for `--raw-json`.
    pub body: Vec<u8>,
    /// The envelope's `data`; `null` when there was none.
    pub data: Value,
}

/// The supervisor refused or failed a request.
#[derive(Debug)]
pub struct ApiError {
    pub message: String,
    /// The body when it was a JSON envelope, which `--raw-json` still prints.
    pub body: Option<Vec<u8>>,
    /// With `--raw-json`, printing the envelope is all the real CLI does: it hands every JSON
    /// answer of these statuses to the script and exits 0.
    pub raw_is_success: bool,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    fn plain(message: impl Into<String>) -> ApiError {
        ApiError { message: message.into(), body: None, raw_is_success: false }
    }

    fn enveloped(message: String, body: Vec<u8>, status: StatusCode) -> ApiError {
        let raw_is_success = matches!(status.as_u16(), 200 | 400 | 401 | 403 | 404 | 429 | 500 | 503);
        ApiError { message, body: Some(body), raw_is_success }
    }
}

pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Option<HeaderValue>,
}

impl Client {
    pub fn new(base: Url, token: Option<&str>) -> Result<Client> {
        let auth = token
            .map(|token| {
                let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| anyhow!("the API token contains characters that cannot be sent"))?;
                // Keeps it out of any debug output of the request.
                value.set_sensitive(true);
                Ok::<_, anyhow::Error>(value)
            })
            .transpose()?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("ha/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Client { http, base, auth })
    }

    /// The endpoint every call goes to.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Makes one JSON call and reads its envelope.
    pub async fn call(&self, method: Method, path: &[&str], body: &Body, timeout: Duration) -> Result<Reply> {
        let mut request = self.request(method, join(&self.base, path), "application/json").timeout(timeout);
        if !body.is_empty() {
            request = request.json(body);
        }
        let response = self.send(request).await?;
        let status = response.status();
        let json = is_json(&response);
        let bytes = response.bytes().await.map_err(|err| self.transport_error(err))?;
        output::log(Level::Debug, format_args!("response body: {}", String::from_utf8_lossy(&bytes)));
        Ok(interpret(status, json, bytes.to_vec())?)
    }

    /// Opens a streamed GET (logs, job events), failing with the server's message unless it
    /// answers with a success status.
    pub async fn open_stream(&self, path: &[&str], query: &[(&str, String)], accept: &str) -> Result<Response> {
        self.open_stream_unless(path, query, accept, None).await?.context("the Supervisor answered nothing")
    }

    /// Like [`Client::open_stream`], but answers `None` when the server answers `missing`, for
    /// endpoints that older servers lack.
    pub async fn open_stream_unless(
        &self,
        path: &[&str],
        query: &[(&str, String)],
        accept: &str,
        missing: Option<StatusCode>,
    ) -> Result<Option<Response>> {
        let mut url = join(&self.base, path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let response = self.send(self.request(Method::GET, url, accept)).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(Some(response));
        }
        if Some(status) == missing {
            return Ok(None);
        }
        let json = is_json(&response);
        let bytes = response.bytes().await.map_err(|err| self.transport_error(err))?;
        Err(match interpret(status, json, bytes.to_vec()) {
            Err(err) => err.into(),
            Ok(_) => anyhow!("unexpected server response (status: {})", status.as_u16()),
        })
    }

    fn request(&self, method: Method, url: Url, accept: &str) -> RequestBuilder {
        output::log(Level::Debug, format_args!("{method} {url} (token: {})", self.auth.is_some()));
        let request = self.http.request(method, url).header(ACCEPT, accept);
        match &self.auth {
            Some(auth) => request.header(AUTHORIZATION, auth.clone()),
            None => request,
        }
    }

    async fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = request.send().await.map_err(|err| self.transport_error(err))?;
        output::log(Level::Debug, format_args!("status {}", response.status()));
        Ok(response)
    }

    /// Says which supervisor could not be reached, which reqwest's own text leaves to its URL.
    pub fn transport_error(&self, err: reqwest::Error) -> anyhow::Error {
        let endpoint = self.base.as_str().trim_end_matches('/');
        let mut cause: &dyn std::error::Error = &err;
        while let Some(source) = cause.source() {
            cause = source;
        }
        if err.is_timeout() {
            anyhow!("the Supervisor at {endpoint} did not answer in time")
        } else if err.is_connect() {
            anyhow!("cannot connect to the Supervisor at {endpoint}: {cause}")
        } else {
            anyhow!("the request to the Supervisor at {endpoint} failed: {cause}")
        }
    }
}

/// `base` with each of `segments` appended as one escaped path segment.
pub fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut().expect("the endpoint was checked to be a base URL").pop_if_empty().extend(segments);
    url
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"))
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    result: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Option<Value>,
}

/// Reads an answer the way the real CLI does, except that the message of a JSON error envelope
/// is shown whatever the status.
fn interpret(status: StatusCode, json: bool, body: Vec<u8>) -> Result<Reply, ApiError> {
    let code = status.as_u16();
    if status == StatusCode::BAD_GATEWAY {
        return Err(ApiError::plain("bad gateway: core proxy or ingress service failure"));
    }
    if !json {
        // A refusal in plain text says more than any fixed message, except for the token
        // problems, which the real CLI explains in its own words.
        if !status.is_success() && !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            if let Some(text) = plain_text(&body) {
                return Err(ApiError::plain(text));
            }
        }
        return Err(ApiError::plain(match status {
            StatusCode::UNAUTHORIZED => "unauthorized: missing or invalid API token".to_owned(),
            StatusCode::FORBIDDEN => "forbidden: insufficient permissions or invalid token".to_owned(),
            StatusCode::INTERNAL_SERVER_ERROR => {
                "unknown error occurred, check supervisor logs with 'ha supervisor logs'".to_owned()
            }
            _ if status.is_success() || matches!(code, 400 | 404 | 429 | 503) => {
                format!("unexpected non-JSON response (status: {code})")
            }
            _ => format!("unexpected server response (status: {code})"),
        }));
    }
    let Ok(envelope) = serde_json::from_slice::<Envelope>(&body) else {
        return Err(ApiError::enveloped(format!("invalid JSON response (status: {code})"), body, status));
    };
    match envelope.result.as_str() {
        "ok" if status.is_success() => Ok(Reply { data: envelope.data.unwrap_or(Value::Null), body }),
        "error" => {
            let message = envelope
                .message
                .filter(|message| !message.is_empty())
                .unwrap_or_else(|| format!("unexpected server response (status: {code})"));
            Err(ApiError::enveloped(message, body, status))
        }
        _ => Err(ApiError::enveloped(format!("unexpected server response (status: {code})"), body, status)),
    }
}

/// A body worth showing as the error: text, not empty, and not an HTML page from a proxy.
fn plain_text(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    (!text.is_empty() && !text.starts_with('<')).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base(raw: &str) -> Url {
        crate::config::normalise_endpoint(raw).unwrap()
    }

    #[test]
    fn paths_are_appended_to_the_endpoint() {
        assert_eq!(
            join(&base("127.0.0.1:4358"), &["supervisor", "info"]).as_str(),
            "http://127.0.0.1:4358/supervisor/info"
        );
        assert_eq!(join(&base("http://h/api/hassio"), &["info"]).as_str(), "http://h/api/hassio/info");
        assert_eq!(join(&base("http://h/api/hassio/"), &["info"]).as_str(), "http://h/api/hassio/info");
    }

    #[test]
    fn path_segments_are_escaped() {
        let url = join(&base("h"), &["docker", "registries", "my registry/x?"]);
        assert_eq!(url.as_str(), "http://h/docker/registries/my%20registry%2Fx%3F");
    }

    fn body(value: Value) -> Vec<u8> {
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn ok_envelopes_give_their_data() {
        let reply = interpret(StatusCode::OK, true, body(json!({"result": "ok", "data": {"a": 1}}))).unwrap();
        assert_eq!(reply.data, json!({"a": 1}));
        let reply = interpret(StatusCode::OK, true, body(json!({"result": "ok"}))).unwrap();
        assert_eq!(reply.data, Value::Null);
    }

    #[test]
    fn error_messages_are_shown_for_every_status() {
        for status in [400, 401, 403, 404, 409, 429, 500, 503] {
            let status = StatusCode::from_u16(status).unwrap();
            let err = interpret(status, true, body(json!({"result": "error", "message": "busy", "job_id": "x"})))
                .unwrap_err();
            assert_eq!(err.message, "busy");
            assert!(err.body.is_some());
        }
    }

    #[test]
    fn plain_text_refusals_are_shown() {
        let message = |code, body: &[u8]| {
            interpret(StatusCode::from_u16(code).unwrap(), false, body.to_vec()).unwrap_err().message
        };
        assert_eq!(message(400, b"No systemd-journal-gatewayd service\n"), "No systemd-journal-gatewayd service");
        assert_eq!(message(500, b"journal broke"), "journal broke");
        assert_eq!(message(404, b""), "unexpected non-JSON response (status: 404)");
        assert_eq!(message(401, b"401: Unauthorized"), "unauthorized: missing or invalid API token");
    }

    #[test]
    fn raw_json_passes_the_statuses_the_real_cli_passes() {
        let refusal = |code| {
            let body = body(json!({"result": "error", "message": "no"}));
            interpret(StatusCode::from_u16(code).unwrap(), true, body).unwrap_err().raw_is_success
        };
        assert!(refusal(400) && refusal(404) && refusal(500) && refusal(401));
        assert!(!refusal(409));
    }

    #[test]
    fn non_json_answers_get_the_real_cli_messages() {
        let message =
            |code| interpret(StatusCode::from_u16(code).unwrap(), false, b"<html>".to_vec()).unwrap_err().message;
        assert_eq!(message(401), "unauthorized: missing or invalid API token");
        assert_eq!(message(403), "forbidden: insufficient permissions or invalid token");
        assert_eq!(message(200), "unexpected non-JSON response (status: 200)");
        assert_eq!(message(409), "unexpected server response (status: 409)");
        assert_eq!(message(502), "bad gateway: core proxy or ingress service failure");
    }
}
