use crate::StreamType;
use std::path::PathBuf;
use std::time::Duration;

/// Why an operation on the sound server failed; each message names what it was about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing answers on the socket (the plugin is not running, or not yet listening).
    #[error("Can't connect to PulseAudio at {}: {source}", socket.display())]
    Connect { socket: PathBuf, source: std::io::Error },
    /// The connection failed or the server sent something this client cannot read.
    #[error("PulseAudio at {}: {message}", socket.display())]
    Protocol { socket: PathBuf, message: String },
    /// The server did not answer in time.
    #[error("PulseAudio at {} did not answer within {} s", socket.display(), after.as_secs())]
    Timeout { socket: PathBuf, after: Duration },
    /// No device with this name.
    #[error("Can't find {stream_type} device {name}")]
    NoDeviceNamed { stream_type: StreamType, name: String },
    /// No device or application stream with this index.
    #[error("Can't find {stream_type} {} {index}", if *application { "application" } else { "device" })]
    NoStream { stream_type: StreamType, index: u32, application: bool },
    #[error("Can't find sound card {0}")]
    NoCard(String),
    #[error("Sound card {card} has no profile {profile}")]
    NoProfile { card: String, profile: String },
    /// A volume that is not a number from 0 up.
    #[error("Invalid volume {0}: a volume is a number from 0 (silent) up, 1 being 100 %")]
    InvalidVolume(f64),
    /// A name the protocol cannot carry.
    #[error("Invalid name {0:?}: it contains a NUL character")]
    InvalidName(String),
    /// The server refused the operation.
    #[error("Can't {action}: {error}")]
    Refused { action: String, error: pulseaudio::protocol::PulseError },
}

impl Error {
    /// Whether the error is about a device, stream, card or profile that does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::NoDeviceNamed { .. } | Error::NoStream { .. } | Error::NoCard(_) | Error::NoProfile { .. }
        )
    }
}

/// The real Supervisor answers every failure of its sound control with 400 and the message, so
/// every kind here is `invalid`.
impl From<Error> for base::Error {
    fn from(error: Error) -> Self {
        base::Error::invalid(error.to_string())
    }
}
