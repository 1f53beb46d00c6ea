//! The systemd journal as the log backend of every `.../logs` endpoint, read through
//! systemd-journal-gatewayd the way the real Supervisor reads it: `GET /entries` with
//! `SYSLOG_IDENTIFIER` / `CONTAINER_NAME` / `_BOOT_ID` matches, a
//! `Range: entries=cursor[[:num_skip]:num_entries]` header and `follow`, in the Journal Export
//! Format, turned into plain or verbose text lines.
//!
//! - [`Gateway`]: the client (a `http://host:port` URL or `unix:/path/to/socket`), with the
//!   JSON listings behind `/host/logs/boots` ([`Gateway::boots`]) and
//!   `/host/logs/identifiers` ([`Gateway::identifiers`]).
//! - [`Logs`], [`Request`] and [`Gateway::entries`]: the entries one `.../logs` request selects,
//!   as streamed text lines ([`Text`]), or the message of a wrong request; [`Unavailable`] when
//!   the journal cannot answer, so the endpoint can fall back to another log. `http_api::logs`
//!   answers them over HTTP; this crate knows nothing of the server.
//! - [`Journalctl`] and [`Gateway::journalctl`]: the journal as `journalctl` prints it, with its
//!   options (`--follow`, `-n`, `-u`, `-o`), for the balena device API's `/v2/journal-logs`.
//! - `testing` (feature `testing`): journal files and a gatewayd serving them, for tests.

mod export;
mod format;
mod gateway;
mod journalctl;
mod logs;
#[cfg(feature = "testing")]
pub mod testing;

pub use gateway::{Boots, Gateway, DEFAULT_ADDRESS};
pub use journalctl::{Journalctl, Output};
pub use logs::{Header, Logs, Request, Source, Text, HOST_IDENTIFIERS};

/// The journal cannot answer this request; the endpoint may serve another log instead, or
/// say so (the real Supervisor answers 400 with the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// The gateway's unix socket does not exist (no gatewayd on this host).
    #[error("No systemd-journal-gatewayd Unix socket available")]
    NoSocket,
    /// Nothing accepts connections at the gateway's address.
    #[error("Unable to connect to systemd-journal-gatewayd")]
    Unreachable,
    /// The journal holds no entry of the source (asked for with [`Logs::fallback_when_empty`]).
    #[error("The journal has no entries of {0}")]
    NoEntries(String),
}

/// Why a journal request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// The request or the gateway's answer is wrong; the message is for the API client.
    #[error("{0}")]
    Failed(String),
}

impl JournalError {
    /// A listing's own message in place of a detail, keeping `Unavailable` as it is (the real
    /// Supervisor reports a gateway it cannot reach the same way for every request).
    fn listing(self, message: &str) -> JournalError {
        match self {
            JournalError::Failed(detail) => {
                tracing::debug!("{message}: {detail}");
                JournalError::Failed(message.to_owned())
            }
            unavailable => unavailable,
        }
    }
}

/// For the JSON endpoints (`/host/logs/boots`, `/host/logs/identifiers`): the envelope's 400.
impl From<JournalError> for base::Error {
    fn from(error: JournalError) -> base::Error {
        base::Error::invalid(error.to_string())
    }
}
