use crate::connection::{Connection, Failure};
use crate::{Application, Audio, Card, Device, Error, Profile, StreamType};
use pulseaudio::protocol::{self, ChannelVolume, Command, Prop, Props, PulseError, Volume};
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The raw volume of 100 % (0 dB).
const NORM: f64 = 0x10000 as f64;
/// The highest raw volume set, +11 dB: the cap of the library the real Supervisor sets volumes
/// with (`PA_VOLUME_UI_MAX`).
const MAX_RAW: u32 = 99957;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one sound server, reached at a unix socket. Each operation opens its own
/// connection, so the client outlives restarts of the server and can be shared freely.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

impl Client {
    /// A client of the server listening on `socket`; each operation may take 10 s.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Client { socket: socket.into(), timeout: DEFAULT_TIMEOUT }
    }

    /// The same client with another limit on the time of each operation.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Client { timeout, ..self }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Reads the cards, devices and application streams from the server.
    pub async fn info(&self) -> Result<Audio, Error> {
        self.with_connection(read_audio).await
    }

    /// Reads everything again: whether the server answers, for `/audio/reload`. [`Client::info`]
    /// reads the server at each call, so there is nothing kept to refresh.
    pub async fn reload(&self) -> Result<(), Error> {
        self.info().await.map(drop)
    }

    /// Makes the device named `name` the default output (sink) or input (source).
    pub async fn set_default(&self, stream_type: StreamType, name: &str) -> Result<(), Error> {
        let c_name = c_string(name)?;
        self.with_connection(async |connection| {
            let command = match stream_type {
                StreamType::Output => Command::SetDefaultSink(c_name),
                StreamType::Input => Command::SetDefaultSource(c_name),
            };
            connection.act(command).await.map_err(|failure| match failure {
                Failure::Refused(PulseError::NoEntity) => Error::NoDeviceNamed { stream_type, name: name.to_owned() },
                failure => refused(failure, format!("make {name} the default {stream_type}")),
            })
        })
        .await
    }

    /// Sets every channel of a device (`application` false) or an application stream to
    /// `volume`, 1.0 being 100 %.
    pub async fn set_volume(
        &self,
        stream_type: StreamType,
        index: u32,
        volume: f64,
        application: bool,
    ) -> Result<(), Error> {
        if !volume.is_finite() || volume < 0.0 {
            return Err(Error::InvalidVolume(volume));
        }
        let raw = Volume::from_u32_clamped(((volume * NORM).round() as u32).min(MAX_RAW));
        self.with_connection(async |connection| {
            let channels = stream_volume(connection, stream_type, index, application).await?.channels().len();
            let mut cvolume = ChannelVolume::empty();
            for _ in 0..channels {
                cvolume.push(raw);
            }
            let command = match (stream_type, application) {
                (StreamType::Output, false) => Command::SetSinkVolume(device_volume(index, cvolume)),
                (StreamType::Input, false) => Command::SetSourceVolume(device_volume(index, cvolume)),
                (StreamType::Output, true) => {
                    Command::SetSinkInputVolume(protocol::SetStreamVolumeParams { index, volume: cvolume })
                }
                (StreamType::Input, true) => {
                    Command::SetSourceOutputVolume(protocol::SetStreamVolumeParams { index, volume: cvolume })
                }
            };
            connection.act(command).await.map_err(|failure| {
                stream_failure(failure, stream_type, index, application, &format!("set the volume of {volume}"))
            })
        })
        .await
    }

    /// Mutes or unmutes a device (`application` false) or an application stream.
    pub async fn set_mute(
        &self,
        stream_type: StreamType,
        index: u32,
        mute: bool,
        application: bool,
    ) -> Result<(), Error> {
        self.with_connection(async |connection| {
            // Asked first so that a missing index is named as such, as for volumes.
            stream_volume(connection, stream_type, index, application).await?;
            let command = match (stream_type, application) {
                (StreamType::Output, false) => Command::SetSinkMute(device_mute(index, mute)),
                (StreamType::Input, false) => Command::SetSourceMute(device_mute(index, mute)),
                (StreamType::Output, true) => Command::SetSinkInputMute(protocol::SetStreamMuteParams { index, mute }),
                (StreamType::Input, true) => {
                    Command::SetSourceOutputMute(protocol::SetStreamMuteParams { index, mute })
                }
            };
            let action = if mute { "mute" } else { "unmute" };
            connection
                .act(command)
                .await
                .map_err(|failure| stream_failure(failure, stream_type, index, application, action))
        })
        .await
    }

    /// Activates the profile named `profile` of the card named `card`.
    pub async fn set_profile(&self, card: &str, profile: &str) -> Result<(), Error> {
        let card_name = c_string(card)?;
        let profile_name = c_string(profile)?;
        self.with_connection(async |connection| {
            let info: protocol::CardInfo = connection
                .request(Command::GetCardInfo(protocol::GetCardInfo { index: None, name: Some(card_name) }))
                .await
                .map_err(|failure| match failure {
                    Failure::Refused(PulseError::NoEntity) => Error::NoCard(card.to_owned()),
                    failure => refused(failure, format!("read sound card {card}")),
                })?;
            if !info.profiles.iter().any(|known| known.name == profile_name) {
                return Err(Error::NoProfile { card: card.to_owned(), profile: profile.to_owned() });
            }
            let command = Command::SetCardProfile(protocol::SetCardProfileParams {
                card_index: Some(info.index),
                card_name: None,
                profile_name,
            });
            connection
                .act(command)
                .await
                .map_err(|failure| refused(failure, format!("activate profile {profile} of sound card {card}")))
        })
        .await
    }

    /// Runs `operation` on a new connection, within the time limit.
    async fn with_connection<T>(
        &self,
        operation: impl AsyncFnOnce(&mut Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let work = async {
            let mut connection = Connection::open(&self.socket).await?;
            operation(&mut connection).await
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| Err(Error::Timeout { socket: self.socket.clone(), after: self.timeout }))
    }
}

/// The [`Stream`] of a sink, source, sink input or source output: the four records share these
/// fields but no type.
macro_rules! stream {
    ($info:expr) => {
        Stream {
            name: &$info.name,
            index: $info.index,
            props: &$info.props,
            volume: &$info.cvolume,
            muted: $info.muted,
        }
    };
}

/// Reads the whole state the way the real Supervisor shows it.
async fn read_audio(connection: &mut Connection) -> Result<Audio, Error> {
    let server: protocol::ServerInfo = read(connection, Command::GetServerInfo, "the server").await?;
    let sink_inputs: protocol::SinkInputInfoList =
        read(connection, Command::GetSinkInputInfoList, "the playing applications").await?;
    let source_outputs: protocol::SourceOutputInfoList =
        read(connection, Command::GetSourceOutputInfoList, "the recording applications").await?;
    let sinks: protocol::SinkInfoList = read(connection, Command::GetSinkInfoList, "the outputs").await?;
    let sources: protocol::SourceInfoList = read(connection, Command::GetSourceInfoList, "the inputs").await?;
    let cards: protocol::CardInfoList = read(connection, Command::GetCardInfoList, "the sound cards").await?;

    let mut application: Vec<Application> =
        sink_inputs.iter().map(|input| stream!(input).application(StreamType::Output, input.sink_index)).collect();
    application.extend(
        source_outputs.iter().map(|output| stream!(output).application(StreamType::Input, output.source_index)),
    );
    let device = |stream_type: StreamType, stream: Stream<'_>, description: &Option<CString>, card: Option<u32>| {
        let default = match stream_type {
            StreamType::Output => &server.default_sink_name,
            StreamType::Input => &server.default_source_name,
        };
        Device {
            name: text(stream.name),
            index: stream.index,
            description: description.as_deref().map(text).unwrap_or_default(),
            volume: mean_volume(stream.volume),
            mute: stream.muted,
            default: default.as_deref() == Some(stream.name),
            card,
            applications: application
                .iter()
                .filter(|app| app.stream_type == stream_type && app.stream_index == stream.index)
                .cloned()
                .collect(),
        }
    };

    let output = sinks
        .iter()
        .map(|sink| device(StreamType::Output, stream!(sink), &sink.description, sink.card_index))
        .collect();
    // Monitors of sinks are sources too; the real Supervisor leaves them out of the inputs.
    let input = sources
        .iter()
        .filter(|source| !source.name.to_bytes().ends_with(b".monitor"))
        .map(|source| device(StreamType::Input, stream!(source), &source.description, source.card_index))
        .collect();
    let card = cards
        .iter()
        .map(|card| Card {
            name: text(&card.name),
            index: card.index,
            driver: card.driver.as_deref().map(text).unwrap_or_default(),
            profiles: card
                .profiles
                .iter()
                .filter(|profile| profile.available != 0)
                .map(|profile| Profile {
                    name: text(&profile.name),
                    description: profile.description.as_deref().map(text).unwrap_or_default(),
                    active: card.active_profile.as_ref() == Some(&profile.name),
                })
                .collect(),
        })
        .collect();
    Ok(Audio { card, input, output, application })
}

/// What devices and application streams have in common, whichever of the four kinds they are.
struct Stream<'a> {
    name: &'a CStr,
    index: u32,
    props: &'a Props,
    volume: &'a ChannelVolume,
    muted: bool,
}

impl Stream<'_> {
    /// The stream as an application playing into or recording from device `device`.
    fn application(&self, stream_type: StreamType, device: u32) -> Application {
        Application {
            name: property(self.props, Prop::ApplicationName).unwrap_or_else(|| text(self.name)),
            index: self.index,
            stream_index: device,
            stream_type,
            volume: mean_volume(self.volume),
            mute: self.muted,
            addon: addon_of(self.props),
        }
    }
}

async fn read<R: protocol::CommandReply>(
    connection: &mut Connection,
    command: Command,
    what: &str,
) -> Result<R, Error> {
    connection.request(command).await.map_err(|failure| refused(failure, format!("read {what}")))
}

/// The volume of the device or application stream, which also says whether it exists.
async fn stream_volume(
    connection: &mut Connection,
    stream_type: StreamType,
    index: u32,
    application: bool,
) -> Result<ChannelVolume, Error> {
    let failed = |failure| stream_failure(failure, stream_type, index, application, "read");
    Ok(match (stream_type, application) {
        (StreamType::Output, false) => {
            let info: protocol::SinkInfo = connection
                .request(Command::GetSinkInfo(protocol::GetSinkInfo { index: Some(index), name: None }))
                .await
                .map_err(failed)?;
            info.cvolume
        }
        (StreamType::Input, false) => {
            let info: protocol::SourceInfo = connection
                .request(Command::GetSourceInfo(protocol::GetSourceInfo { index: Some(index), name: None }))
                .await
                .map_err(failed)?;
            info.cvolume
        }
        (StreamType::Output, true) => {
            let info: protocol::SinkInputInfo =
                connection.request(Command::GetSinkInputInfo(index)).await.map_err(failed)?;
            info.cvolume
        }
        (StreamType::Input, true) => {
            let info: protocol::SourceOutputInfo =
                connection.request(Command::GetSourceOutputInfo(index)).await.map_err(failed)?;
            info.cvolume
        }
    })
}

fn device_volume(index: u32, volume: ChannelVolume) -> protocol::SetDeviceVolumeParams {
    protocol::SetDeviceVolumeParams { device_index: Some(index), device_name: None, volume }
}

fn device_mute(index: u32, mute: bool) -> protocol::SetDeviceMuteParams {
    protocol::SetDeviceMuteParams { device_index: Some(index), device_name: None, mute }
}

fn stream_failure(failure: Failure, stream_type: StreamType, index: u32, application: bool, action: &str) -> Error {
    match failure {
        Failure::Refused(PulseError::NoEntity) => Error::NoStream { stream_type, index, application },
        failure => {
            let what = if application { "application" } else { "device" };
            refused(failure, format!("{action} {stream_type} {what} {index}"))
        }
    }
}

fn refused(failure: Failure, action: String) -> Error {
    match failure {
        Failure::Refused(error) => Error::Refused { action, error },
        Failure::Broken(error) => error,
    }
}

fn c_string(name: &str) -> Result<CString, Error> {
    CString::new(name).map_err(|_| Error::InvalidName(name.to_owned()))
}

fn text(value: &CStr) -> String {
    value.to_string_lossy().into_owned()
}

/// A property's value as text: properties are NUL-terminated strings by convention.
fn property(props: &Props, prop: Prop) -> Option<String> {
    let bytes = props.get(prop)?;
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    Some(String::from_utf8_lossy(bytes).into_owned())
}

fn addon_of(props: &Props) -> String {
    property(props, Prop::ApplicationProcessMachineId).unwrap_or_default().replace('-', "_")
}

/// The mean of the channels' volumes on the linear scale of the raw values, where 1.0 is 100 %:
/// what the real Supervisor reports (not the cubic "linear" volume of PulseAudio's own tools).
fn mean_volume(volume: &ChannelVolume) -> f64 {
    let channels = volume.channels();
    if channels.is_empty() {
        return 0.0;
    }
    channels.iter().map(|channel| f64::from(channel.as_u32()) / NORM).sum::<f64>() / channels.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cvolume(raw: &[u32]) -> ChannelVolume {
        let mut volume = ChannelVolume::empty();
        for &value in raw {
            volume.push(Volume::from_u32_clamped(value));
        }
        volume
    }

    #[test]
    fn volumes_are_the_mean_of_the_channels_with_100_percent_as_one() {
        assert_eq!(mean_volume(&cvolume(&[0x10000, 0x10000])), 1.0);
        assert_eq!(mean_volume(&cvolume(&[0x8000, 0x10000])), 0.75);
        assert_eq!(mean_volume(&cvolume(&[0])), 0.0);
    }

    #[test]
    fn machine_ids_name_add_ons_with_underscores() {
        let mut props = Props::new();
        assert_eq!(addon_of(&props), "");
        props.set(Prop::ApplicationProcessMachineId, c"local-my-addon");
        assert_eq!(addon_of(&props), "local_my_addon");
    }
}
