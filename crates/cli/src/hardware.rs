//! `ha hardware`: the host's devices, drives and audio devices.

use crate::App;
use anyhow::Result;
use clap::Subcommand;

pub const LONG_ABOUT: &str = "
The hardware command provides information about the hardware of your system
that is running Home Assistant. It is useful for finding things like: available
audio devices and serial ports.";

#[derive(Subcommand)]
pub enum Command {
    #[command(
        visible_aliases = ["in", "inf"],
        about = "Provides hardware information about your system",
        long_about = "
The hardware command provides information about the hardware of your system
that is running Home Assistant. It is useful for finding things like: available
serial ports.",
        after_help = "Examples:\n  ha hardware info"
    )]
    Info,

    #[command(visible_aliases = ["sounds", "snd", "au"], about = "Provides information about audio devices on your system")]
    Audio,
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        match self {
            Command::Info => app.get(&["hardware", "info"]).await,
            Command::Audio => app.get(&["hardware", "audio"]).await,
        }
    }
}
