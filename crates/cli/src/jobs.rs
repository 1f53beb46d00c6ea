//! `ha jobs`: the job manager's state, the conditions it ignores, and resetting them.

use crate::client::{Body, DEFAULT_TIMEOUT};
use crate::App;
use anyhow::Result;
use clap::{Args, Subcommand};

pub const LONG_ABOUT: &str = "The jobs command allows you to manage the internal Home Assistant Job Manager and
exposing commands to view, configure and control it.";

#[derive(Subcommand)]
pub enum Command {
    #[command(
        visible_aliases = ["in", "inf"],
        about = "Provides information about the Home Assistant Job Manager",
        after_help = "Examples:\n  ha jobs info"
    )]
    Info,

    #[command(
        visible_aliases = ["option", "opt", "opts", "op"],
        about = "Allow to set options for the Job Manager backend",
        after_help = "Examples:\n  ha jobs options --ignore-conditions healthy"
    )]
    Options(OptionsArgs),

    #[command(
        about = "Resets the internal Home Assistant Job Manager configuration",
        after_help = "Examples:\n  ha jobs reset"
    )]
    Reset,
}

#[derive(Args)]
pub struct OptionsArgs {
    /// Conditions to ignore on Job Manager. Use multiple times for ignored conditions.
    #[arg(short, long, value_name = "CONDITION", value_delimiter = ',')]
    ignore_conditions: Vec<String>,
}

impl OptionsArgs {
    fn body(&self) -> Body {
        let mut body = Body::new();
        let conditions: Vec<_> = self.ignore_conditions.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
        if !conditions.is_empty() {
            body.insert("ignore_conditions".into(), conditions.into());
        }
        body
    }
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        match self {
            Command::Info => app.get(&["jobs", "info"]).await,
            Command::Options(args) => app.post(&["jobs", "options"], &args.body(), DEFAULT_TIMEOUT).await,
            Command::Reset => app.post_spinning(&["jobs", "reset"], &Body::new(), DEFAULT_TIMEOUT).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(conditions: &[&str]) -> serde_json::Value {
        OptionsArgs { ignore_conditions: conditions.iter().map(|c| c.to_string()).collect() }.body().into()
    }

    #[test]
    fn conditions_are_sent_as_a_list_only_when_given() {
        assert_eq!(body(&[]), json!({}));
        assert_eq!(body(&["healthy", "internet_system"]), json!({"ignore_conditions": ["healthy", "internet_system"]}));
        assert_eq!(body(&["", " healthy "]), json!({"ignore_conditions": ["healthy"]}));
    }
}
