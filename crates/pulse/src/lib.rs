//! The audio plugin's sound server seen from the supervisor: a client of the PulseAudio native
//! protocol over a unix socket (the plugin's `/run/audio/pulse.sock`), doing what the real
//! Supervisor's sound control does.
//!
//! - [`Client`]: [`Client::info`] reads the cards with their profiles, the inputs (sources, less
//!   the monitors) and outputs (sinks) with their volumes, mutes, default and applications, and
//!   the application streams; [`Client::set_default`], [`Client::set_volume`],
//!   [`Client::set_mute`] (devices or applications) and [`Client::set_profile`] change them.
//! - [`Audio`] and its members serialize to the `audio` object of `/audio/info` with the real
//!   field names; volumes are the mean of the channels' raw volumes over 100 % (0x10000), as
//!   the real one computes them.
//! - [`Error`]: each failure names what was not found or refused.
//! - [`clients`]: the socket and configuration files of the containers that use the server.
//!
//! The `pulseaudio` crate encodes and decodes the protocol's messages; this crate carries them
//! over an async socket (`connection`). It knows nothing of HTTP.

mod client;
pub mod clients;
mod connection;
mod error;
mod model;

pub use client::Client;
pub use error::Error;
pub use model::{Application, Audio, Card, Device, Profile, StreamType};
