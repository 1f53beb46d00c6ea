//! The supervisor's client of Core's API, as the real Supervisor talks to Core: HTTP on Core's
//! port with an access token it gets by exchanging the refresh token Core's `hassio` integration
//! gave it (`/auth/token`, renewed before it expires), and the websocket for commands such as
//! `backup/start`.

use crate::config::CoreConfig;
use base::Error;
use docker::DockerManager;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use state::Persisted;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Requests Core must answer within; streams (the proxy) have their own.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// An access token is renewed this long before Core says it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// Where Core answers and how the supervisor authenticates there.
pub struct CoreApi {
    http: reqwest::Client,
    config: Arc<Persisted<CoreConfig>>,
    docker: Arc<DockerManager>,
    access: tokio::sync::Mutex<Option<AccessToken>>,
}

struct AccessToken {
    token: String,
    expires: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

/// A websocket connection to Core, authenticated with the supervisor's access token.
pub type CoreSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn unavailable(why: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("Home Assistant Core is not reachable: {why}")).with_key("homeassistant_api_error")
}

impl CoreApi {
    pub fn new(config: Arc<Persisted<CoreConfig>>, docker: Arc<DockerManager>) -> CoreApi {
        let http = reqwest::Client::builder()
            // Core on `ssl` serves its own certificate for its own name, as the real Supervisor
            // accepts it.
            .danger_accept_invalid_certs(true)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client");
        CoreApi { http, config, docker, access: tokio::sync::Mutex::new(None) }
    }

    /// The address Core answers at: Core runs on the host's network, which the supervisor
    /// reaches at the container network's gateway (also from a container of its own), else on
    /// the loopback.
    pub fn host(&self) -> String {
        self.docker.network_info().map_or_else(|| "127.0.0.1".to_owned(), |n| n.gateway.to_string())
    }

    /// `host[:port]`, the port left out when it is the scheme's own.
    fn authority(&self) -> String {
        let config = self.config.read();
        match (config.ssl, config.port) {
            (false, 80) | (true, 443) => self.host(),
            (_, port) => format!("{}:{port}", self.host()),
        }
    }

    /// `http(s)://<authority>`.
    pub fn base_url(&self) -> String {
        let ssl = self.config.read().ssl;
        format!("{}://{}", if ssl { "https" } else { "http" }, self.authority())
    }

    /// The websocket URL of Core's API.
    pub fn websocket_url(&self) -> String {
        let ssl = self.config.read().ssl;
        format!("{}://{}/api/websocket", if ssl { "wss" } else { "ws" }, self.authority())
    }

    /// Forgets the access token (Core was reinstalled, or the refresh token changed).
    pub async fn forget_token(&self) {
        *self.access.lock().await = None;
    }

    /// A current access token, exchanging the refresh token when there is none or it is about to
    /// expire.
    pub async fn access_token(&self) -> Result<String, Error> {
        let mut access = self.access.lock().await;
        if let Some(token) = access.as_ref().filter(|t| t.expires > Instant::now() + RENEW_BEFORE) {
            return Ok(token.token.clone());
        }
        let refresh = self.config.read().refresh_token.clone().ok_or_else(|| {
            Error::unavailable("Home Assistant Core has not given the supervisor its refresh token yet")
                .with_key("homeassistant_auth_error")
        })?;
        let answer = self
            .http
            .post(format!("{}/auth/token", self.base_url()))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(unavailable)?;
        if !answer.status().is_success() {
            return Err(Error::unavailable(format!(
                "Home Assistant Core refused the supervisor's refresh token ({})",
                answer.status()
            ))
            .with_key("homeassistant_auth_error"));
        }
        let answer: TokenAnswer = answer.json().await.map_err(unavailable)?;
        let token = answer.access_token.clone();
        *access = Some(AccessToken {
            token: answer.access_token,
            expires: Instant::now() + Duration::from_secs(answer.expires_in),
        });
        Ok(token)
    }

    /// A request to Core's `path` (`api/...`) with the supervisor's access token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}/{}", self.base_url(), path.trim_start_matches('/')))
    }

    /// Sends `request` with the access token; a 401 makes a new token and tries once more.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        for attempt in 0..2 {
            let token = self.access_token().await?;
            let request = request.try_clone().ok_or_else(|| Error::internal("a streamed request cannot be retried"))?;
            let response = request.bearer_auth(token).send().await.map_err(unavailable)?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                self.forget_token().await;
                continue;
            }
            return Ok(response);
        }
        unreachable!("the loop answers on its second attempt")
    }

    /// POSTs `body` to Core's `path` and answers the status.
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<reqwest::StatusCode, Error> {
        let response = self.send(self.request(reqwest::Method::POST, path).json(body).timeout(TIMEOUT)).await?;
        Ok(response.status())
    }

    /// Whether Core's API answers that Core runs (`api/core/state`; Cores before 2023.9 lack it,
    /// then `api/` answering is enough).
    pub async fn running(&self) -> bool {
        let state = self.request(reqwest::Method::GET, "api/core/state").timeout(Duration::from_secs(10));
        match self.send(state).await {
            Ok(response) if response.status().is_success() => response
                .json::<Value>()
                .await
                .is_ok_and(|state| matches!(state["state"].as_str(), Some("RUNNING" | "STARTING"))),
            Ok(response) if response.status() == reqwest::StatusCode::NOT_FOUND => {
                let api = self.request(reqwest::Method::GET, "api/").timeout(Duration::from_secs(10));
                self.send(api).await.is_ok_and(|r| r.status().is_success())
            }
            _ => false,
        }
    }

    /// Whether Core's port takes connections (before it may have a refresh token). A TCP
    /// connection only: an unauthenticated HTTP request would count against Core's login ban.
    pub async fn answers(&self) -> bool {
        let port = self.config.read().port;
        let connect = tokio::net::TcpStream::connect((self.host(), port));
        matches!(tokio::time::timeout(Duration::from_secs(10), connect).await, Ok(Ok(_)))
    }

    /// Opens Core's websocket and authenticates with the supervisor's access token.
    pub async fn websocket(&self) -> Result<CoreSocket, Error> {
        let token = self.access_token().await?;
        let connect = tokio_tungstenite::connect_async(self.websocket_url());
        let (mut socket, _) = tokio::time::timeout(TIMEOUT, connect)
            .await
            .map_err(|_| unavailable("the websocket did not open in time"))?
            .map_err(unavailable)?;
        expect_type(&mut socket, "auth_required").await?;
        let auth = json!({"type": "auth", "access_token": token});
        socket.send(Message::text(auth.to_string())).await.map_err(unavailable)?;
        let answer = next_json(&mut socket).await?;
        if answer["type"] != "auth_ok" {
            self.forget_token().await;
            return Err(Error::unavailable(format!("Home Assistant Core refused the websocket login: {answer}"))
                .with_key("homeassistant_auth_error"));
        }
        Ok(socket)
    }

    /// Sends one websocket command (`{"type": ...}` and its fields) and answers its result.
    pub async fn command(&self, mut message: Value) -> Result<Value, Error> {
        let mut socket = self.websocket().await?;
        message["id"] = json!(1);
        socket.send(Message::text(message.to_string())).await.map_err(unavailable)?;
        let answer = loop {
            let answer = next_json(&mut socket).await?;
            if answer["id"] == 1 && answer["type"] == "result" {
                break answer;
            }
        };
        let _ = socket.close(None).await;
        if answer["success"] != true {
            return Err(Error::internal(format!(
                "Home Assistant Core answered {} with an error: {}",
                message["type"], answer["error"]
            )));
        }
        Ok(answer["result"].clone())
    }
}

/// The next text message of `socket` as JSON, within [`TIMEOUT`].
async fn next_json(socket: &mut CoreSocket) -> Result<Value, Error> {
    loop {
        let message = tokio::time::timeout(TIMEOUT, socket.next())
            .await
            .map_err(|_| unavailable("the websocket did not answer in time"))?
            .ok_or_else(|| unavailable("the websocket closed"))?
            .map_err(unavailable)?;
        match message {
            Message::Text(text) => return serde_json::from_str(&text).map_err(unavailable),
            Message::Close(_) => return Err(unavailable("the websocket closed")),
            _ => {}
        }
    }
}

async fn expect_type(socket: &mut CoreSocket, kind: &str) -> Result<Value, Error> {
    let message = next_json(socket).await?;
    if message["type"] != kind {
        return Err(unavailable(format!("expected {kind}, got {message}")));
    }
    Ok(message)
}
