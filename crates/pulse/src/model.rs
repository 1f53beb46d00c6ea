//! What the sound server holds, as the real Supervisor's `/audio/info` shows it: the `audio`
//! object (`card`, `input`, `output`, `application`) and its members, with the real field names.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which side of the server a device or an application stream is on: inputs are sources and
/// the applications recording from them (source outputs), outputs are sinks and the
/// applications playing into them (sink inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamType {
    Input,
    Output,
}

impl StreamType {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamType::Input => "input",
            StreamType::Output => "output",
        }
    }
}

impl fmt::Display for StreamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StreamType {
    type Err = String;

    /// The `{source}` of the `/audio/.../{source}` routes; the message is the real one's.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "input" => Ok(StreamType::Input),
            "output" => Ok(StreamType::Output),
            _ => Err(format!("Invalid audio source {text}, must be one of: input, output")),
        }
    }
}

/// The `audio` object of `/audio/info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Audio {
    pub card: Vec<Card>,
    pub input: Vec<Device>,
    pub output: Vec<Device>,
    pub application: Vec<Application>,
}

/// A sound card with its available profiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card {
    pub name: String,
    pub index: u32,
    pub driver: String,
    pub profiles: Vec<Profile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub active: bool,
}

/// A sink (output) or source (input) and the applications using it. Monitor sources are left
/// out of the inputs, as the real Supervisor does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub name: String,
    pub index: u32,
    pub description: String,
    /// The mean of the channels' volumes, 1.0 being 100 % (0 dB).
    pub volume: f64,
    pub mute: bool,
    /// Whether it is the server's default sink or source.
    pub default: bool,
    /// The index of its card; `null` for devices without one, such as null sinks.
    pub card: Option<u32>,
    pub applications: Vec<Application>,
}

/// An application stream: a sink input (`output`) or a source output (`input`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    /// Its `application.name` property, else the stream's own name.
    pub name: String,
    pub index: u32,
    /// The index of the sink or source it plays into or records from.
    pub stream_index: u32,
    pub stream_type: StreamType,
    pub volume: f64,
    pub mute: bool,
    /// Its `application.process.machine_id` property with `-` read as `_`, empty when unset.
    /// libpulse takes it from `/etc/machine-id`, else the hostname: in an add-on's container
    /// without a machine id that is the add-on's slug with `-`, so this names the add-on.
    pub addon: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_types_parse_as_the_routes_name_them() {
        assert_eq!("input".parse::<StreamType>(), Ok(StreamType::Input));
        assert_eq!("output".parse::<StreamType>(), Ok(StreamType::Output));
        assert_eq!(
            "speaker".parse::<StreamType>(),
            Err("Invalid audio source speaker, must be one of: input, output".to_owned())
        );
    }
}
