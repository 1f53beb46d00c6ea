//! `ha authentication`: Home Assistant's users as the supervisor sees them through Core.

use crate::client::{Body, DEFAULT_TIMEOUT};
use crate::App;
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use std::io::{BufRead, Write};

pub const LONG_ABOUT: &str = "This command set allows you to manage the authentication of Home Assistant users.";

#[derive(Subcommand)]
pub enum Command {
    #[command(visible_aliases = ["data", "ca"], about = "Reset the authentication cache of the supervisor",
              after_help = "Examples:\n  ha authentication cache")]
    Cache,

    #[command(
        visible_alias = "ls",
        about = "List the Home Assistant users",
        after_help = "Examples:\n  ha authentication list"
    )]
    List,

    #[command(visible_aliases = ["rst", "change"], about = "Reset the password of a Home Assistant user",
              after_help = "Examples:\n  ha authentication reset --username \"JohnDoe\" --password \"123SuperSecret!\"\n  ha authentication reset --interactive")]
    Reset(ResetArgs),
}

#[derive(Args)]
pub struct ResetArgs {
    /// Username to reset the password of
    #[arg(long)]
    username: Option<String>,
    /// The new password
    #[arg(long)]
    password: Option<String>,
    /// Ask for the username and the new password
    #[arg(long)]
    interactive: bool,
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        match self {
            Command::Cache => app.delete(&["auth", "cache"]).await,
            Command::List => app.get(&["auth", "list"]).await,
            Command::Reset(args) => {
                let (username, password) = args.credentials()?;
                let mut body = Body::new();
                body.insert("username".into(), username.into());
                body.insert("password".into(), password.into());
                app.post(&["auth", "reset"], &body, DEFAULT_TIMEOUT).await
            }
        }
    }
}

impl ResetArgs {
    /// The username and password given, asked for with `--interactive` where missing.
    fn credentials(&self) -> Result<(String, String)> {
        if !self.interactive && (self.username.is_none() || self.password.is_none()) {
            bail!("required flag(s) \"password\", \"username\" not set (or use --interactive)");
        }
        let ask = |what: &str| -> Result<String> {
            eprint!("{what}: ");
            std::io::stderr().flush()?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            Ok(line.trim_end_matches(['\r', '\n']).to_owned())
        };
        let username = match &self.username {
            Some(username) => username.clone(),
            None => ask("Username")?,
        };
        let password = match &self.password {
            Some(password) => password.clone(),
            None => ask("Password")?,
        };
        Ok((username, password))
    }
}
