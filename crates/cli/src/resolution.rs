//! `ha resolution`: the resolution center's verdicts, issues, suggestions and checks. `check`,
//! `issue` and `suggestion` without a subcommand show the center's info, as the real CLI does.

use crate::client::{Body, CONTAINER_OPERATION_TIMEOUT, DEFAULT_TIMEOUT};
use crate::App;
use anyhow::Result;
use clap::{ArgAction, Args, Subcommand};
use serde_json::Value;

pub const LONG_ABOUT: &str = "The resolution command allows you to manage the Resolution center of the Home Assistant
Supervisor: see the issues it found and the suggestions that fix them, and run its checks.";

#[derive(Subcommand)]
pub enum Command {
    #[command(
        visible_aliases = ["in", "inf"],
        about = "Show issues and suggestions",
        after_help = "Examples:\n  ha resolution info"
    )]
    Info,

    #[command(
        visible_aliases = ["checks", "test", "che", "ch"],
        about = "Check management by the Resolution center",
        after_help = "Examples:\n  ha resolution check options [slug]\n  ha resolution check run [slug]"
    )]
    Check {
        #[command(subcommand)]
        command: Option<Check>,
    },

    #[command(
        visible_aliases = ["is", "trouble"],
        about = "Issues reported by the Resolution center",
        after_help = "Examples:\n  ha resolution issue dismiss [id]"
    )]
    Issue {
        #[command(subcommand)]
        command: Option<Issue>,
    },

    #[command(
        visible_aliases = ["su", "solution"],
        about = "Suggestions reported by the Resolution center",
        after_help = "Examples:\n  ha resolution suggestion dismiss [id]\n  ha resolution suggestion apply [id]"
    )]
    Suggestion {
        #[command(subcommand)]
        command: Option<Suggestion>,
    },

    #[command(
        visible_aliases = ["evaluate", "run"],
        about = "Execute system healthcheck and fixups",
        after_help = "Examples:\n  ha resolution healthcheck"
    )]
    Healthcheck,
}

#[derive(Subcommand)]
pub enum Check {
    #[command(
        visible_aliases = ["option", "opt", "opts", "op"],
        about = "Options apply to checks managed by the Resolution center",
        after_help = "Examples:\n  ha resolution check options [slug]"
    )]
    Options(CheckOptionsArgs),

    #[command(
        visible_aliases = ["execute", "ru"],
        about = "Run a specific check at the Resolution center",
        after_help = "Examples:\n  ha resolution check run [slug]"
    )]
    Run { slug: String },
}

#[derive(Args)]
pub struct CheckOptionsArgs {
    slug: String,
    /// Enable/Disable check on the system
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::parse_bool)]
    enabled: Option<bool>,
}

#[derive(Subcommand)]
pub enum Issue {
    #[command(
        visible_aliases = ["disable", "remove"],
        about = "Dismiss issues",
        after_help = "Examples:\n  ha resolution issue dismiss [id]"
    )]
    Dismiss { id: String },

    #[command(
        visible_aliases = ["su", "solutions"],
        about = "Suggestions that fix an issue",
        after_help = "Examples:\n  ha resolution issue suggestions [id]"
    )]
    Suggestions { id: String },
}

#[derive(Subcommand)]
pub enum Suggestion {
    #[command(
        visible_aliases = ["enable", "run"],
        about = "Suggestion apply reported by Resolution center",
        after_help = "Examples:\n  ha resolution suggestion apply [id]"
    )]
    Apply { id: String },

    #[command(
        visible_aliases = ["disable", "remove"],
        about = "Dismiss suggestions",
        after_help = "Examples:\n  ha resolution suggestion dismiss [id]"
    )]
    Dismiss { id: String },
}

impl CheckOptionsArgs {
    fn body(&self) -> Body {
        let mut body = Body::new();
        if let Some(enabled) = self.enabled {
            body.insert("enabled".into(), Value::Bool(enabled));
        }
        body
    }
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        let info = ["resolution", "info"];
        match self {
            Command::Info
            | Command::Check { command: None }
            | Command::Issue { command: None }
            | Command::Suggestion { command: None } => app.get(&info).await,
            Command::Check { command: Some(Check::Options(args)) } => {
                app.post(&["resolution", "check", &args.slug, "options"], &args.body(), DEFAULT_TIMEOUT).await
            }
            Command::Check { command: Some(Check::Run { slug }) } => {
                app.post_spinning(&["resolution", "check", &slug, "run"], &Body::new(), CONTAINER_OPERATION_TIMEOUT)
                    .await
            }
            Command::Issue { command: Some(Issue::Dismiss { id }) } => app.delete(&["resolution", "issue", &id]).await,
            Command::Issue { command: Some(Issue::Suggestions { id }) } => {
                app.get(&["resolution", "issue", &id, "suggestions"]).await
            }
            Command::Suggestion { command: Some(Suggestion::Apply { id }) } => {
                app.post_spinning(&["resolution", "suggestion", &id], &Body::new(), CONTAINER_OPERATION_TIMEOUT).await
            }
            Command::Suggestion { command: Some(Suggestion::Dismiss { id }) } => {
                app.delete(&["resolution", "suggestion", &id]).await
            }
            Command::Healthcheck => {
                app.post_spinning(&["resolution", "healthcheck"], &Body::new(), CONTAINER_OPERATION_TIMEOUT).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enabled_is_sent_only_when_given() {
        let args = |enabled| CheckOptionsArgs { slug: "free_space".into(), enabled };
        assert_eq!(Value::from(args(None).body()), json!({}));
        assert_eq!(Value::from(args(Some(false)).body()), json!({"enabled": false}));
    }
}
