//! `ha security`: the security backend's state and options.

use crate::client::{Body, DEFAULT_TIMEOUT};
use crate::{parse_bool, App};
use anyhow::Result;
use clap::{ArgAction, Args, Subcommand};

#[derive(Subcommand)]
pub enum Command {
    #[command(
        visible_aliases = ["in", "inf"],
        about = "Provides information about the Home Assistant Security backend",
        after_help = "Examples:\n  ha security info"
    )]
    Info,

    #[command(
        visible_aliases = ["option", "opt", "opts", "op"],
        about = "Allow to set options for the Security backend",
        after_help = "Examples:\n  ha security options --force-security=True"
    )]
    Options(OptionsArgs),

    #[command(
        visible_aliases = ["int", "trust"],
        about = "Execute security integrity check",
        after_help = "Examples:\n  ha security integrity"
    )]
    Integrity,
}

#[derive(Args)]
pub struct OptionsArgs {
    /// Enable/Disable pwned check the backend
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    pwned: Option<bool>,

    /// Enable/Disable force-security on the backend
    // A bare `--force-security` means false, as in the real CLI.
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "false", value_parser = parse_bool)]
    force_security: Option<bool>,
}

impl OptionsArgs {
    fn body(&self) -> Body {
        let mut body = Body::new();
        for (key, value) in [("pwned", self.pwned), ("force_security", self.force_security)] {
            if let Some(value) = value {
                body.insert(key.into(), value.into());
            }
        }
        body
    }
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        match self {
            Command::Info => app.get(&["security", "info"]).await,
            Command::Options(args) => app.post(&["security", "options"], &args.body(), DEFAULT_TIMEOUT).await,
            Command::Integrity => app.post_spinning(&["security", "integrity"], &Body::new(), DEFAULT_TIMEOUT).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_given_options_are_sent() {
        let none = OptionsArgs { pwned: None, force_security: None };
        assert_eq!(serde_json::Value::from(none.body()), json!({}));
        let both = OptionsArgs { pwned: Some(false), force_security: Some(true) };
        assert_eq!(serde_json::Value::from(both.body()), json!({"pwned": false, "force_security": true}));
    }
}
