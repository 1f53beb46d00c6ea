//! The Anka Controller's envelope: `{"status":"OK","message":"","body":…}` on success,
//! `{"status":"FAIL","message":"…"}` with a 4xx or 5xx status on failure, the message naming the
//! problem.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

/// Every answer's shape, as the OpenAPI document describes it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Reply<T> {
    /// `OK` or `FAIL`.
    pub status: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<T>,
}

/// What every handler returns.
pub type Answer = Result<HttpResponse, Fail>;

/// `OK` with `body`.
pub fn ok<T: Serialize>(body: T) -> Answer {
    Ok(HttpResponse::Ok().json(Reply { status: "OK".into(), message: String::new(), body: Some(body) }))
}

/// `OK` without a body, for actions.
pub fn done() -> Answer {
    Ok(HttpResponse::Ok().json(Reply::<()> { status: "OK".into(), message: String::new(), body: None }))
}

/// `OK` without a body, with a message: what the Anka Controller says when it saved something.
pub fn done_saying(message: &str) -> Answer {
    Ok(HttpResponse::Ok().json(Reply::<()> { status: "OK".into(), message: message.into(), body: None }))
}

/// A refusal or a failure: its status and the message the caller reads.
#[derive(Debug)]
pub struct Fail {
    pub status: StatusCode,
    pub message: String,
}

impl Fail {
    pub fn bad_request(message: impl Into<String>) -> Fail {
        Fail { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
    pub fn unauthorized(message: impl Into<String>) -> Fail {
        Fail { status: StatusCode::UNAUTHORIZED, message: message.into() }
    }
    pub fn forbidden(message: impl Into<String>) -> Fail {
        Fail { status: StatusCode::FORBIDDEN, message: message.into() }
    }
    pub fn not_found(message: impl Into<String>) -> Fail {
        Fail { status: StatusCode::NOT_FOUND, message: message.into() }
    }
    pub fn conflict(message: impl Into<String>) -> Fail {
        Fail { status: StatusCode::CONFLICT, message: message.into() }
    }
    pub fn unavailable(message: impl Into<String>) -> Fail {
        Fail { status: StatusCode::SERVICE_UNAVAILABLE, message: message.into() }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for Fail {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(Reply::<()> {
            status: "FAIL".into(),
            message: self.message.clone(),
            body: None,
        })
    }
}

/// The store can't be read or written: the request changed nothing the caller can rely on.
impl From<etcd::Error> for Fail {
    fn from(error: etcd::Error) -> Fail {
        Fail::unavailable(format!("the fleet's store (etcd) failed: {error}"))
    }
}

/// A JSON object body deserialized into `T`, refused with a `FAIL` naming the problem. Anka's
/// clients send JSON whatever their `Content-Type` says (`curl -d`), so only the bytes count.
pub struct Body<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Body<T> {
    type Error = Fail;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Body<T>, Fail>>>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let bytes = actix_web::web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|error| Fail::bad_request(format!("Invalid request body: {error}")))?;
            http_api::body::parse_object(&bytes, false)
                .map(Body)
                .map_err(|error| Fail { status: error.status_code(), message: error.error.message })
        })
    }
}
