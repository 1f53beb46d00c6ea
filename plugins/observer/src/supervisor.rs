//! What the page needs from the supervisor, asked over plain HTTP with the observer token.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long one page waits for the supervisor: past it the supervisor counts as not answering,
/// so the page itself answers at once even when the supervisor hangs.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// The largest answer read; the supervisor's info is a few kilobytes.
const MAX_ANSWER: usize = 1 << 20;

pub struct Supervisor {
    host: String,
    port: u16,
    /// The `Host` header.
    authority: HeaderValue,
    /// The endpoint's path, without a trailing slash, that the API paths follow.
    base: String,
    authorization: Option<HeaderValue>,
}

/// `/supervisor/info`, the part the page shows.
#[derive(Debug, Deserialize)]
pub struct SupervisorInfo {
    pub version: String,
    pub healthy: bool,
    pub supported: bool,
}

/// `/resolution/info`, the part the page shows.
#[derive(Debug, Deserialize)]
pub struct ResolutionInfo {
    pub unhealthy: Vec<String>,
    pub unsupported: Vec<String>,
}

/// One look at the supervisor; each part says why it is missing.
#[derive(Debug)]
pub struct Status {
    pub ping: Result<(), String>,
    pub info: Result<SupervisorInfo, String>,
    pub resolution: Result<ResolutionInfo, String>,
}

/// The supervisor's answer envelope: `{"result": "ok", "data": {...}}` or
/// `{"result": "error", "message": "..."}`.
#[derive(Deserialize)]
struct Envelope {
    result: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Value,
}

impl Supervisor {
    /// `endpoint` is `http://HOST[:PORT][/PATH]`; the supervisor speaks plain HTTP on its network.
    pub fn new(endpoint: &str, token: Option<String>) -> Result<Self, String> {
        let uri: Uri = endpoint.parse().map_err(|error| format!("not a URL: {error}"))?;
        if uri.scheme_str() != Some("http") {
            return Err("only http:// endpoints are supported".to_owned());
        }
        let authority = uri.authority().ok_or("the URL has no host")?;
        if authority.as_str().contains('@') {
            return Err("the URL may not carry a user name".to_owned());
        }
        if uri.query().is_some() {
            return Err("the URL may not have a query".to_owned());
        }
        let authorization = token
            .map(|token| HeaderValue::try_from(format!("Bearer {token}")))
            .transpose()
            .map_err(|_| "SUPERVISOR_TOKEN holds characters a header cannot carry".to_owned())?;
        Ok(Supervisor {
            host: authority.host().trim_start_matches('[').trim_end_matches(']').to_owned(),
            port: authority.port_u16().unwrap_or(80),
            authority: HeaderValue::from_str(authority.as_str()).expect("an authority is a valid header"),
            base: uri.path().trim_end_matches('/').to_owned(),
            authorization,
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}{}", self.authority.to_str().unwrap_or_default(), self.base)
    }

    /// Asks the three questions at once, all within [`ANSWER_WITHIN`].
    pub async fn status(&self) -> Status {
        let deadline = Instant::now() + ANSWER_WITHIN;
        let (ping, info, resolution) = tokio::join!(
            self.get::<Value>("/supervisor/ping", deadline),
            self.get::<SupervisorInfo>("/supervisor/info", deadline),
            self.get::<ResolutionInfo>("/resolution/info", deadline),
        );
        Status { ping: ping.map(drop), info, resolution }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, deadline: Instant) -> Result<T, String> {
        let (status, body) = tokio::time::timeout_at(deadline, self.exchange(path))
            .await
            .map_err(|_| format!("no answer within {} seconds", ANSWER_WITHIN.as_secs()))??;
        let envelope: Envelope = serde_json::from_slice(&body)
            .map_err(|_| format!("{path} answered {status} with something other than the API's JSON"))?;
        if !status.is_success() || envelope.result != "ok" {
            let message = envelope.message.unwrap_or_else(|| "no message".to_owned());
            return Err(format!("{path} answered {status}: {message}"));
        }
        serde_json::from_value(envelope.data).map_err(|error| format!("{path} answered data of another shape: {error}"))
    }

    async fn exchange(&self, path: &str) -> Result<(StatusCode, Bytes), String> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|error| format!("cannot connect: {error}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| format!("cannot speak HTTP: {error}"))?;
        let mut request = Request::get(format!("{}{path}", self.base))
            .header(header::HOST, self.authority.clone())
            .header(header::CONNECTION, "close")
            .header(header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .expect("the path is a valid URI");
        if let Some(authorization) = &self.authorization {
            request.headers_mut().insert(header::AUTHORIZATION, authorization.clone());
        }
        // The connection is driven here, not spawned, so that giving up on the answer (the
        // deadline) also drops the connection.
        let exchange = async move {
            let response = sender.send_request(request).await.map_err(|error| format!("no answer: {error}"))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|error| format!("the answer broke off: {error}"))?
                .to_bytes();
            Ok((status, body))
        };
        let (answer, _) = tokio::join!(exchange, connection);
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_take_host_port_and_path() {
        let supervisor = Supervisor::new("http://127.0.0.1:8123/", None).unwrap();
        assert_eq!((supervisor.host.as_str(), supervisor.port, supervisor.base.as_str()), ("127.0.0.1", 8123, ""));
        let supervisor = Supervisor::new("http://supervisor", Some("abc".to_owned())).unwrap();
        assert_eq!((supervisor.host.as_str(), supervisor.port), ("supervisor", 80));
        assert_eq!(supervisor.authorization.unwrap(), "Bearer abc");
        let supervisor = Supervisor::new("http://[::1]:81/api/", None).unwrap();
        assert_eq!((supervisor.host.as_str(), supervisor.port, supervisor.base.as_str()), ("::1", 81, "/api"));
        assert_eq!(supervisor.endpoint(), "http://[::1]:81/api");
    }

    #[test]
    fn bad_endpoints_name_the_problem() {
        assert!(Supervisor::new("https://supervisor", None).err().unwrap().contains("only http://"));
        assert!(Supervisor::new("supervisor:80", None).err().unwrap().contains("only http://"));
        assert!(Supervisor::new("http://a b", None).err().unwrap().contains("not a URL"));
        assert!(Supervisor::new("http://u:p@supervisor", None).err().unwrap().contains("user name"));
        assert!(Supervisor::new("http://supervisor", Some("a\nb".to_owned()))
            .err()
            .unwrap()
            .contains("SUPERVISOR_TOKEN"));
    }
}
