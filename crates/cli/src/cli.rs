//! `ha cli`: the cli plugin, this command line in a container of its own.

use crate::client::CONTAINER_DOWNLOAD_TIMEOUT;
use crate::supervisor::UpdateArgs;
use crate::App;
use anyhow::Result;
use clap::Subcommand;

pub const LONG_ABOUT: &str = "
The cli command allows you to manage the internal Home Assistant CLI backend by
exposing commands to view, monitor, configure and control it.";

#[derive(Subcommand)]
pub enum Command {
    #[command(
        visible_aliases = ["in", "inf"],
        about = "Shows information about the internal Home Assistant CLI backend",
        long_about = "\nShows information about the internally running Home Assistant CLI backend",
        after_help = "Examples:\n  ha cli info"
    )]
    Info,

    #[command(
        visible_aliases = ["status", "stat"],
        about = "Provides system usage stats of the Home Assistant CLI backend",
        long_about = "\nProvides insight into the system usage stats of the Home Assistant CLI backend.\nIt shows you how much CPU, memory, disk & network resources it uses.",
        after_help = "Examples:\n  ha cli stats"
    )]
    Stats,

    #[command(
        visible_aliases = ["upgrade", "downgrade", "up", "down"],
        about = "Updates the internal Home Assistant CLI backend",
        long_about = "\nUsing this command you can upgrade or downgrade the internal Home Assistant\nCLI backend, to the latest version or the version specified.",
        after_help = "Examples:\n  ha cli update --version 5"
    )]
    Update(UpdateArgs),
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        match self {
            Command::Info => app.get(&["cli", "info"]).await,
            Command::Stats => app.get(&["cli", "stats"]).await,
            Command::Update(args) => {
                app.post_spinning(&["cli", "update"], &args.body(), CONTAINER_DOWNLOAD_TIMEOUT).await
            }
        }
    }
}
