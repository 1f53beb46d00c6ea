//! One connection to the server: the handshake, then commands answered one at a time. The
//! `pulseaudio` crate encodes and decodes every message; this module only moves them over an
//! async unix socket and pairs each reply with its command.

use crate::Error;
use pulseaudio::protocol::{
    self, Command, CommandReply, ProtocolError, PulseError, TagStructRead, TagStructReader, TagStructWrite,
    TagStructWriter,
};
use std::ffi::CString;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// The client name the server lists us under, as the real Supervisor's.
const CLIENT_NAME: &std::ffi::CStr = c"supervisor";
/// The cookie field is fixed-size on the wire; the plugin's socket allows anonymous clients, so
/// its content does not matter.
const COOKIE_LENGTH: usize = 256;
/// No reply of the commands sent here comes near this; a larger length is a broken stream.
const MAX_PACKET: u32 = 16 << 20;

pub(crate) struct Connection {
    socket: PathBuf,
    stream: UnixStream,
    version: u16,
    sequence: u32,
}

/// The empty reply of a command that only acts.
struct Ack;

impl TagStructRead for Ack {
    fn read(_: &mut TagStructReader<'_>, _: u16) -> Result<Self, ProtocolError> {
        Ok(Ack)
    }
}

impl TagStructWrite for Ack {
    fn write(&self, _: &mut TagStructWriter<'_>, _: u16) -> Result<(), ProtocolError> {
        Ok(())
    }
}

impl CommandReply for Ack {}

/// How a command failed: the server's refusal is told apart so the caller can name what was
/// refused, or not found.
pub(crate) enum Failure {
    Refused(PulseError),
    Broken(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Broken(error)
    }
}

impl Connection {
    pub(crate) async fn open(socket: &Path) -> Result<Self, Error> {
        let stream =
            UnixStream::connect(socket).await.map_err(|source| Error::Connect { socket: socket.to_owned(), source })?;
        let mut connection =
            Connection { socket: socket.to_owned(), stream, version: protocol::MAX_VERSION, sequence: 0 };
        let auth = protocol::AuthParams {
            version: protocol::MAX_VERSION,
            supports_shm: false,
            supports_memfd: false,
            cookie: vec![0; COOKIE_LENGTH],
        };
        let reply: protocol::AuthReply =
            connection.request(Command::Auth(auth)).await.map_err(|failure| match failure {
                Failure::Refused(error) => connection.broken(format!("the handshake was refused: {error}")),
                Failure::Broken(error) => error,
            })?;
        if reply.version < protocol::MIN_VERSION {
            return Err(connection.broken(format!("protocol version {} is too old", reply.version)));
        }
        connection.version = reply.version.min(protocol::MAX_VERSION);
        let mut props = protocol::Props::new();
        props.set(protocol::Prop::ApplicationName, CLIENT_NAME);
        props.set(protocol::Prop::ApplicationProcessId, CString::new(std::process::id().to_string()).expect("digits"));
        let _: protocol::SetClientNameReply =
            connection.request(Command::SetClientName(props)).await.map_err(|failure| match failure {
                Failure::Refused(error) => connection.broken(format!("setting the client name was refused: {error}")),
                Failure::Broken(error) => error,
            })?;
        Ok(connection)
    }

    /// Sends `command` and reads its reply.
    pub(crate) async fn request<R: CommandReply>(&mut self, command: Command) -> Result<R, Failure> {
        let sequence = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        let mut message = Vec::new();
        protocol::write_command_message(&mut message, sequence, &command, self.version)
            .map_err(|error| self.broken(format!("encoding {:?}: {error}", command.tag())))?;
        self.stream.write_all(&message).await.map_err(|error| self.broken(format!("sending: {error}")))?;
        loop {
            let packet = self.read_packet().await?;
            let Some(packet) = packet else { continue };
            match protocol::read_reply_message::<R>(&mut Cursor::new(packet), self.version) {
                Ok((seq, reply)) if seq == sequence => return Ok(reply),
                Ok((seq, _)) => {
                    return Err(self.broken(format!("a reply to command {seq} came for command {sequence}")).into())
                }
                Err(ProtocolError::ServerError(error)) => return Err(Failure::Refused(error)),
                // Events of the server (never asked for here) are not replies; skip them.
                Err(ProtocolError::UnexpectedCommand(_)) => continue,
                Err(error) => {
                    return Err(self.broken(format!("reading the reply to {:?}: {error}", command.tag())).into())
                }
            }
        }
    }

    /// Sends a command whose reply is empty.
    pub(crate) async fn act(&mut self, command: Command) -> Result<(), Failure> {
        self.request::<Ack>(command).await.map(|Ack| ())
    }

    /// The next control packet (descriptor and payload, as the protocol crate reads them);
    /// `None` for audio data, which no command here asks for.
    async fn read_packet(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let mut packet = vec![0; protocol::DESCRIPTOR_SIZE];
        self.stream.read_exact(&mut packet).await.map_err(|error| self.broken(format!("reading: {error}")))?;
        let descriptor = protocol::read_descriptor(&mut Cursor::new(&packet))
            .map_err(|error| self.broken(format!("reading a packet header: {error}")))?;
        if descriptor.length > MAX_PACKET {
            return Err(self.broken(format!("a packet of {} bytes", descriptor.length)));
        }
        packet.resize(protocol::DESCRIPTOR_SIZE + descriptor.length as usize, 0);
        self.stream
            .read_exact(&mut packet[protocol::DESCRIPTOR_SIZE..])
            .await
            .map_err(|error| self.broken(format!("reading: {error}")))?;
        Ok((descriptor.channel == u32::MAX).then_some(packet))
    }

    fn broken(&self, message: String) -> Error {
        Error::Protocol { socket: self.socket.clone(), message }
    }
}
