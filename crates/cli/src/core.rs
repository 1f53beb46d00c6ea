//! `ha core`: Home Assistant Core's information, options, logs and life cycle.

use crate::client::{flags, Body, CONTAINER_DOWNLOAD_TIMEOUT, CONTAINER_OPERATION_TIMEOUT, DEFAULT_TIMEOUT};
use crate::supervisor::LogsArgs;
use crate::{parse_bool, App};
use anyhow::Result;
use clap::{ArgAction, Args, Subcommand};
use serde_json::Value;

pub const LONG_ABOUT: &str = "This command set allows you to control and configure Home Assistant Core.";

/// The old names of the group that the real CLI still takes, with a notice.
pub const DEPRECATED_ALIASES: [&str; 2] = ["home-assistant", "ha"];

#[derive(Subcommand)]
pub enum Command {
    #[command(visible_aliases = ["validate", "chk", "ch"], about = "Validates your Home Assistant Core configuration",
              after_help = "Examples:\n  ha core check")]
    Check,

    #[command(visible_aliases = ["in", "inf"], about = "Provides information about Home Assistant Core",
              after_help = "Examples:\n  ha core info")]
    Info,

    #[command(visible_aliases = ["log", "lg"], about = "View the log output of Home Assistant Core",
              after_help = "Examples:\n  ha core logs")]
    Logs(LogsArgs),

    #[command(visible_aliases = ["option", "opt", "opts", "op"], about = "Allow to set options on Home Assistant Core",
              after_help = "Examples:\n  ha core options --wait-boot 600")]
    Options(OptionsArgs),

    #[command(visible_aliases = ["rb", "reinstall"], about = "Rebuild the Home Assistant Core instance",
              after_help = "Examples:\n  ha core rebuild")]
    Rebuild(RestartArgs),

    #[command(
        visible_alias = "reboot",
        about = "Restarts the Home Assistant Core",
        after_help = "Examples:\n  ha core restart"
    )]
    Restart(RestartArgs),

    #[command(visible_aliases = ["run", "st"], about = "Manually start Home Assistant Core",
              after_help = "Examples:\n  ha core start")]
    Start,

    #[command(visible_aliases = ["status", "stat"], about = "Provides system usage stats of Home Assistant Core",
              after_help = "Examples:\n  ha core stats")]
    Stats,

    #[command(about = "Manually stop Home Assistant Core", after_help = "Examples:\n  ha core stop")]
    Stop(StopArgs),

    #[command(visible_aliases = ["upgrade", "downgrade", "up", "down"], about = "Updates the Home Assistant Core",
              after_help = "Examples:\n  ha core update\n  ha core update --version 2025.1.0")]
    Update(BackupUpdateArgs),
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        let operation = |name| ["core", name];
        match self {
            Command::Check => app.post_spinning(&operation("check"), &Body::new(), CONTAINER_OPERATION_TIMEOUT).await,
            Command::Info => app.get(&operation("info")).await,
            Command::Logs(args) => args.stream(app, &["core"]).await,
            Command::Options(args) => app.post(&operation("options"), &args.body(), DEFAULT_TIMEOUT).await,
            Command::Rebuild(args) => {
                app.post_spinning(&operation("rebuild"), &args.body(), CONTAINER_OPERATION_TIMEOUT).await
            }
            Command::Restart(args) => {
                app.post_spinning(&operation("restart"), &args.body(), CONTAINER_OPERATION_TIMEOUT).await
            }
            Command::Start => app.post_spinning(&operation("start"), &Body::new(), CONTAINER_OPERATION_TIMEOUT).await,
            Command::Stats => app.get(&operation("stats")).await,
            Command::Stop(args) => {
                app.post_spinning(&operation("stop"), &args.body(), CONTAINER_OPERATION_TIMEOUT).await
            }
            Command::Update(args) => {
                app.run_job(&operation("update"), args.body(), CONTAINER_DOWNLOAD_TIMEOUT, true).await
            }
        }
    }
}

/// A boolean flag as the real CLI has them: bare means true, `--flag=false` sends false.
fn flag(value: Option<bool>, key: &str, body: &mut Body) {
    if let Some(value) = value {
        body.insert(key.into(), value.into());
    }
}

#[derive(Args)]
pub struct OptionsArgs {
    /// Optional image
    #[arg(long)]
    image: Option<String>,
    /// Port to access Home Assistant Core
    #[arg(long)]
    port: Option<u16>,
    /// Start Home Assistant Core on boot
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    boot: Option<bool>,
    /// Use SSL for Home Assistant Core
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    ssl: Option<bool>,
    /// Use watchdog for Home Assistant Core
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    watchdog: Option<bool>,
    /// Exclude the database from backups
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    backups_exclude_database: Option<bool>,
    /// Also write Home Assistant Core's log to a file
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    duplicate_log_file: Option<bool>,
    /// Refresh token for the supervisor to reach Home Assistant Core
    #[arg(long)]
    refresh_token: Option<String>,
    /// Audio input device
    #[arg(long)]
    audio_input: Option<String>,
    /// Audio output device
    #[arg(long)]
    audio_output: Option<String>,
}

impl OptionsArgs {
    /// Only the options given; an empty string sends `null` (back to the default), as the real
    /// CLI does.
    fn body(&self) -> Body {
        let mut body = Body::new();
        for (key, value) in [
            ("image", &self.image),
            ("refresh_token", &self.refresh_token),
            ("audio_input", &self.audio_input),
            ("audio_output", &self.audio_output),
        ] {
            if let Some(value) = value {
                body.insert(key.into(), if value.is_empty() { Value::Null } else { value.as_str().into() });
            }
        }
        if let Some(port) = self.port.filter(|port| *port != 0) {
            body.insert("port".into(), port.into());
        }
        flag(self.boot, "boot", &mut body);
        flag(self.ssl, "ssl", &mut body);
        flag(self.watchdog, "watchdog", &mut body);
        flag(self.backups_exclude_database, "backups_exclude_database", &mut body);
        flag(self.duplicate_log_file, "duplicate_log_file", &mut body);
        body
    }
}

#[derive(Args)]
pub struct RestartArgs {
    /// Restart Home Assistant Core in safe mode
    #[arg(short, long)]
    safe_mode: bool,
    /// Force even while the database is being migrated
    #[arg(short, long)]
    force: bool,
}

impl RestartArgs {
    fn body(&self) -> Body {
        flags(&[("safe_mode", self.safe_mode), ("force", self.force)])
    }
}

#[derive(Args)]
pub struct StopArgs {
    /// Force even while the database is being migrated
    #[arg(short, long)]
    force: bool,
}

impl StopArgs {
    fn body(&self) -> Body {
        flags(&[("force", self.force)])
    }
}

/// `--version`, and `--backup` for a backup first.
#[derive(Args)]
pub struct BackupUpdateArgs {
    #[command(flatten)]
    target: crate::supervisor::UpdateArgs,
    /// Create a backup before updating
    #[arg(long)]
    backup: bool,
}

impl BackupUpdateArgs {
    fn body(&self) -> Body {
        let mut body = self.target.body();
        body.extend(flags(&[("backup", self.backup)]));
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::parse_args;
    use serde_json::json;

    fn options(args: &[&str]) -> Value {
        parse_args::<OptionsArgs>(args).body().into()
    }

    #[test]
    fn only_given_options_are_sent_and_empty_strings_reset() {
        assert_eq!(options(&[]), json!({}));
        assert_eq!(
            options(&["--port", "8124", "--ssl", "--watchdog=false", "--image", "", "--audio-input", "mic"]),
            json!({"port": 8124, "ssl": true, "watchdog": false, "image": null, "audio_input": "mic"})
        );
    }
}
