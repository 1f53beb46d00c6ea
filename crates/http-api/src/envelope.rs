//! The response envelope shared by every JSON endpoint, and the HTTP error: a domain
//! [`base::Error`] becomes one here, its kind mapped to the status the real Supervisor answers.
//!
//! Success is `{"result":"ok","data":{...}}`; failure is
//! `{"result":"error","message":"...","error_key":...,"extra_fields":...,"job_id":...}` with a
//! real HTTP status. The optional keys are only present when set, as the real Supervisor does.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// The success envelope as the OpenAPI document describes it; `ok` writes the same shape.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    /// Always `ok`.
    pub result: String,
    pub data: T,
}

/// The error envelope as the OpenAPI document describes it; [`ApiError::envelope`] writes it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    /// Always `error`.
    pub result: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extra_fields: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

/// The OpenAPI schema of a [`base::Role`] field (`#[schema(schema_with = role_schema)]`): `base`
/// stays free of the documentation layer.
pub fn role_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(base::Role::ALL.map(base::Role::as_str)))
        .build()
}

/// What every handler returns.
pub type ApiResult = Result<HttpResponse, ApiError>;

/// Wraps `data` in the success envelope.
pub fn ok<T: Serialize>(data: T) -> ApiResult {
    Ok(HttpResponse::Ok().json(Envelope { result: "ok".to_owned(), data }))
}

/// The `data` of an action that answers nothing: `{}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Empty {}

/// The success envelope with an empty `data` object, for actions that return nothing.
pub fn ok_empty() -> ApiResult {
    ok(Empty {})
}

/// An API failure: the domain error (message and machine-readable keys) and the HTTP status it
/// is answered with, which its kind decides unless a handler names another (413, say).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: base::Error,
}

impl ApiError {
    /// An error with a status of its own; its kind is only what `status` says in general.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let kind = if status.is_server_error() { base::Kind::Internal } else { base::Kind::Invalid };
        ApiError { status, error: base::Error::new(kind, message) }
    }

    /// 400: the request is wrong and nothing was changed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        base::Error::invalid(message).into()
    }

    /// 401: no token, or one nobody issued.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        base::Error::unauthorized(message).into()
    }

    /// 403: the caller is known but its role does not allow this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        base::Error::forbidden(message).into()
    }

    /// 404: the thing named in the path does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        base::Error::not_found(message).into()
    }

    /// 500: a bug or a failure of the machine, never of the request.
    pub fn internal(message: impl Into<String>) -> Self {
        base::Error::internal(message).into()
    }

    /// The error envelope, for places that answer outside a handler (middleware, streams).
    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            result: "error".to_owned(),
            message: self.error.message.clone(),
            error_key: self.error.error_key.clone(),
            extra_fields: self.error.extra_fields.as_deref().cloned(),
            job_id: self.error.job_id.clone(),
        }
    }
}

impl From<base::Error> for ApiError {
    fn from(error: base::Error) -> Self {
        use base::Kind;
        let status = match error.kind {
            Kind::Invalid => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::Gone => StatusCode::GONE,
            Kind::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError { status, error }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error.message)
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), "{}", self.error.message);
        }
        HttpResponse::build(self.status).json(self.envelope())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_has_only_the_keys_that_are_set() {
        let plain = serde_json::to_value(ApiError::bad_request("nope").envelope()).unwrap();
        assert_eq!(plain, serde_json::json!({"result": "error", "message": "nope"}));
        let busy = ApiError::from(base::Error::conflict("busy").with_key("job_busy").with_job("abc"));
        let full = serde_json::to_value(busy.envelope()).unwrap();
        assert_eq!(full["error_key"], "job_busy");
        assert_eq!(full["job_id"], "abc");
        assert!(full.get("extra_fields").is_none());
    }
}
