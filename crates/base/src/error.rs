//! The error every domain operation returns: what went wrong for people (`message`), what kind of
//! failure it is, and the machine-readable keys the real Supervisor's clients read
//! (`error_key`, `extra_fields`, `job_id`). It knows nothing of HTTP: the API edge (`http-api`) maps
//! each kind to its status, so a manager called from the watchdog or a restore fails the same
//! way it does behind a route.

use serde_json::{Map, Value};
use std::fmt;

/// What kind of failure an [`Error`] is; the API answers each with one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request is wrong and nothing was changed (400).
    Invalid,
    /// No token, or one nobody issued (401).
    Unauthorized,
    /// The caller is known but may not do this (403).
    Forbidden,
    /// The thing named does not exist (404).
    NotFound,
    /// The request conflicts with the current state, such as a job already running (409).
    Conflict,
    /// The endpoint existed once and was removed on purpose (410).
    Gone,
    /// A limit on how often this may run was reached (429).
    Throttled,
    /// A bug or a failure of the machine, never of the request (500).
    Internal,
    /// A part the operation needs (the container engine, say) cannot be reached (503).
    Unavailable,
}

/// A failed operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub error_key: Option<String>,
    /// Boxed: rarely set, and keeps the error (in every `Result`) small.
    pub extra_fields: Option<Box<Map<String, Value>>>,
    pub job_id: Option<String>,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), error_key: None, extra_fields: None, job_id: None }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Kind::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(Kind::Conflict, message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(Kind::Gone, message)
    }

    pub fn throttled(message: impl Into<String>) -> Self {
        Self::new(Kind::Throttled, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Kind::Unavailable, message)
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.error_key = Some(key.into());
        self
    }

    pub fn with_extra(mut self, extra: Map<String, Value>) -> Self {
        self.extra_fields = Some(Box::new(extra));
        self
    }

    pub fn with_job(mut self, job_id: impl Into<String>) -> Self {
        self.job_id = Some(job_id.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// `error`'s message followed by its causes, `outer: inner: …`: an HTTP client's own message
/// ("error sending request") hides why a connection failed.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}

/// What every domain operation returns.
pub type Result<T, E = Error> = std::result::Result<T, E>;
