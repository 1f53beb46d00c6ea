//! Errors in the device API's conventions, which differ by endpoint as the balena Supervisor's
//! do: plain text (the v1 endpoints), `{"status": "failed", "message"}` (the v2 endpoints) or
//! `{"Data": "", "Error"}` (reboot and shutdown).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Text,
    Status,
    Device,
}

/// A refusal or failure of a device API request.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    shape: Shape,
    message: String,
}

impl Failure {
    /// A plain-text answer.
    pub fn text(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure { status, shape: Shape::Text, message: message.into() }
    }

    /// `{"status": "failed", "message": ...}`.
    pub fn failed(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure { status, shape: Shape::Status, message: message.into() }
    }

    /// `{"Data": "", "Error": ...}`.
    pub fn device(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure { status, shape: Shape::Device, message: message.into() }
    }

    /// A domain error as plain text, with the status its kind has in the device API: what the
    /// request got wrong is a 400, what is not there a 404, anything else the balena
    /// Supervisor's 503.
    pub fn text_from(error: base::Error) -> Failure {
        Failure::text(status_of(&error), error.message)
    }
}

fn status_of(error: &base::Error) -> StatusCode {
    match error.kind {
        base::Kind::Invalid => StatusCode::BAD_REQUEST,
        base::Kind::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for Failure {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut answer = HttpResponse::build(self.status);
        match self.shape {
            Shape::Text => answer.content_type("text/plain; charset=utf-8").body(self.message.clone()),
            Shape::Status => answer.json(json!({"status": "failed", "message": self.message})),
            Shape::Device => answer.json(json!({"Data": "", "Error": self.message})),
        }
    }
}
