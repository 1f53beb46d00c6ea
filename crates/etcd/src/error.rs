//! What a call to etcd can fail with.

/// An etcd call's failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No endpoint answered: each refused the connection, timed out, or answered that it cannot
    /// serve (a 5xx, such as a member without a leader). `endpoints` says what each one did.
    #[error("no etcd endpoint answered ({endpoints})")]
    Unavailable {
        endpoints: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// etcd refused the request: the HTTP status, etcd's gRPC code and its message.
    #[error("etcd answered {status} (code {code}): {message}")]
    Http { status: u16, code: i64, message: String },
    /// An answer (or a stored value read as JSON) that does not decode.
    #[error("cannot decode etcd's answer: {0}")]
    Decode(String),
    /// A value that cannot be written as JSON.
    #[error("cannot encode the value as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// A watch started from a revision etcd has compacted away: read the current state again and
    /// watch from after `compact_revision`.
    #[error("revisions up to {compact_revision} were compacted")]
    Compacted { compact_revision: i64 },
    /// etcd ended a watch for another reason than compaction.
    #[error("etcd canceled the watch: {reason}")]
    WatchCanceled { reason: String },
    /// The lease was revoked or has expired.
    #[error("the lease was not found (revoked or expired)")]
    LeaseNotFound,
    /// `Client::new` was given no endpoint or one that is not an `http(s)://` URL.
    #[error("invalid etcd endpoint {0:?}")]
    InvalidEndpoint(String),
}

/// gRPC's codes as etcd's gateway reports them; the ones this client acts on.
pub(crate) mod code {
    pub const NOT_FOUND: i64 = 5;
    pub const UNAVAILABLE: i64 = 14;
}

impl Error {
    /// Whether another endpoint may succeed where this one failed.
    pub(crate) fn is_unavailable(&self) -> bool {
        match self {
            Error::Http { status, code, .. } => *status >= 500 || *code == code::UNAVAILABLE,
            Error::Unavailable { .. } => true,
            _ => false,
        }
    }

    /// An error etcd reported as `{"error", "message", "code"}` (or in a stream, with
    /// `grpc_code` and `http_code`), with the HTTP status it came with.
    pub(crate) fn from_gateway(status: u16, error: crate::wire::GatewayError) -> Error {
        let message = if error.message.is_empty() { error.error } else { error.message };
        let code = if error.code != 0 { error.code } else { error.grpc_code };
        let status = if status == 200 && error.http_code != 0 { error.http_code as u16 } else { status };
        if code == code::NOT_FOUND && message.contains("lease not found") {
            return Error::LeaseNotFound;
        }
        Error::Http { status, code, message }
    }
}
