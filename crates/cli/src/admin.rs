//! `ha admin`: logging a browser in to the admin web UI the supervisor serves, which the real
//! CLI has no command for. `login` prints a one-time link (the code in it works once, for five
//! minutes, and the admin token never leaves this machine); `logout-all` ends every browser
//! session.

use crate::client::{Body, DEFAULT_TIMEOUT};
use crate::config::normalise_endpoint;
use crate::{output, App};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

pub const LONG_ABOUT: &str = "Log a web browser in to the admin web UI the Supervisor serves at /admin/,
or end every browser session.";

#[derive(Subcommand)]
pub enum Command {
    #[command(
        about = "Print a one-time link that logs a browser in to the admin web UI",
        long_about = "Print a one-time link that logs a browser in to the admin web UI.
The link works once, within five minutes; the browser then holds a session
that ends after an hour without use, twelve hours after login, or at logout.",
        after_help = "Examples:\n  ha admin login\n  ha admin login --base-url http://homeassistant.local:4358"
    )]
    Login(LoginArgs),

    #[command(
        about = "End every admin web UI session and forget unused login links",
        after_help = "Examples:\n  ha admin logout-all"
    )]
    LogoutAll,
}

#[derive(Args)]
pub struct LoginArgs {
    /// Where the browser reaches the Supervisor, when not at the endpoint (a name on the LAN)
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        match self {
            Command::Login(args) => login(app, args).await,
            Command::LogoutAll => app.post(&["admin", "logout_all"], &Body::new(), DEFAULT_TIMEOUT).await,
        }
    }
}

async fn login(app: &App, args: LoginArgs) -> Result<()> {
    let reply = app.client.call(Method::POST, &["admin", "login_link"], &Body::new(), DEFAULT_TIMEOUT).await?;
    if app.raw_json {
        return output::show(&reply, true);
    }
    let path = reply.data.get("path").and_then(Value::as_str).context("the Supervisor answered no login path")?;
    let base = match args.base_url.as_deref() {
        Some(raw) => normalise_endpoint(raw)?,
        None => app.client.base().clone(),
    };
    output::write_stdout(format!("{}\n", link(base.as_str(), path)).as_bytes())?;
    output::print_notice("The link logs one browser in once, within five minutes.");
    Ok(())
}

/// The link on `base` (which may have a path of its own, behind a proxy) to `path`.
fn link(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::link;

    #[test]
    fn the_link_is_on_the_base() {
        assert_eq!(link("http://127.0.0.1:4358/", "/admin/login?code=ab"), "http://127.0.0.1:4358/admin/login?code=ab");
        assert_eq!(link("https://h/supervisor/", "/admin/login?code=ab"), "https://h/supervisor/admin/login?code=ab");
    }
}
