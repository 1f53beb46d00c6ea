//! `ha observer`: the observer plugin, the page on the host's port 4357.

use crate::client::CONTAINER_DOWNLOAD_TIMEOUT;
use crate::supervisor::UpdateArgs;
use crate::App;
use anyhow::Result;
use clap::Subcommand;

pub const LONG_ABOUT: &str = "
The observer command allows you to manage the internal Home Assistant observer by
exposing commands to view, monitor, configure and control it.";

#[derive(Subcommand)]
pub enum Command {
    #[command(
        visible_aliases = ["in", "inf"],
        about = "Shows information about the internal Home Assistant observer",
        long_about = "\nShows information about the internally running Home Assistant observer",
        after_help = "Examples:\n  ha observer info"
    )]
    Info,

    #[command(
        visible_aliases = ["status", "stat"],
        about = "Provides system usage stats of the Home Assistant observer",
        long_about = "\nProvides insight into the system usage stats of the Home Assistant observer.\nIt shows you how much CPU, memory, disk & network resources it uses.",
        after_help = "Examples:\n  ha observer stats"
    )]
    Stats,

    #[command(
        visible_aliases = ["upgrade", "downgrade", "up", "down"],
        about = "Updates the internal Home Assistant observer",
        long_about = "\nUsing this command you can upgrade or downgrade the internal Home Assistant\nobserver, to the latest version or the version specified.",
        after_help = "Examples:\n  ha observer update --version 5"
    )]
    Update(UpdateArgs),
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        match self {
            Command::Info => app.get(&["observer", "info"]).await,
            Command::Stats => app.get(&["observer", "stats"]).await,
            Command::Update(args) => {
                app.post_spinning(&["observer", "update"], &args.body(), CONTAINER_DOWNLOAD_TIMEOUT).await
            }
        }
    }
}
