//! `ha host`: the machine the supervisor runs on: its information, hostname, power, services and
//! journal.

use crate::client::{flags, Body, CONTAINER_OPERATION_TIMEOUT, DEFAULT_TIMEOUT};
use crate::{output, parse_bool, App};
use anyhow::Result;
use clap::{ArgAction, Args, Subcommand};
use futures_util::StreamExt;

pub const LONG_ABOUT: &str = "The host command provides commandline tools to control the host (system) that
Home Assistant is running on. It allows you do thing like reboot or shutdown the
system, but also provides option to change the hostname of the system.";

#[derive(Subcommand)]
pub enum Disks {
    #[command(
        visible_aliases = ["us", "use"],
        about = "Get default disk usage information",
        long_about = "This command provides information about the default disk usage on the host system",
        after_help = "Examples:\n  ha host disks usage"
    )]
    Usage,
}

#[derive(Subcommand)]
pub enum Command {
    #[command(
        visible_alias = "disk",
        about = "Manage host disk operations",
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha host disks usage"
    )]
    Disks {
        #[command(subcommand)]
        command: Disks,
    },

    #[command(
        visible_aliases = ["in", "inf"],
        about = "Provides information on the host system",
        long_about = "This command provides information on the host system Home Assistant is
running on",
        after_help = "Examples:\n  ha host info"
    )]
    Info,

    #[command(
        visible_aliases = ["log", "lg"],
        about = "View the log output of the host systemd journal logs",
        long_about = "Allows you to look at the systemd journal on the host to see logs
across services and boots.",
        args_conflicts_with_subcommands = true,
        after_help = "Examples:\n  ha host logs\n  ha host logs -t NetworkManager -b -1\n  ha host logs boots"
    )]
    Logs(LogsArgs),

    #[command(
        visible_aliases = ["option", "opt", "opts", "op"],
        about = "Allow to set options on host system",
        long_about = "This command allows you to set configuration options on the host system that
your Home Assistant is running on.",
        after_help = "Examples:\n  ha host options --hostname homeassistant.local"
    )]
    Options {
        /// Hostname to set
        #[arg(long)]
        hostname: Option<String>,
    },

    #[command(
        visible_aliases = ["restart", "rb"],
        about = "Reboots the host machine",
        long_about = "Reboot the machine that your Home Assistant is running on.",
        after_help = "Examples:\n  ha host reboot"
    )]
    Reboot(ForceArgs),

    #[command(
        visible_aliases = ["update", "refresh", "re"],
        about = "Reload information from the host machine",
        long_about = "This commands reload the information Home Assistant has on the hostmachine.
If some setting are changed outside of Home Assistant, this commands updates
the internals of Home Assistant.",
        after_help = "Examples:\n  ha host reload"
    )]
    Reload,

    #[command(
        visible_aliases = ["service", "svc"],
        about = "Shows the systemd services of the host machine",
        after_help = "Examples:\n  ha host services"
    )]
    Services,

    #[command(
        visible_alias = "sh",
        about = "Shutdown the host machine",
        long_about = "Shuts down the machine that your Home Assistant is running on.
WARNING: This is turning off the computer/device.",
        after_help = "Examples:\n  ha host shutdown"
    )]
    Shutdown(ForceArgs),
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        match self {
            Command::Disks { command: Disks::Usage } => app.get(&["host", "disks", "default", "usage"]).await,
            Command::Info => app.get(&["host", "info"]).await,
            Command::Logs(args) => args.run(app).await,
            Command::Options { hostname } => {
                let mut body = Body::new();
                if let Some(hostname) = hostname.filter(|hostname| !hostname.is_empty()) {
                    body.insert("hostname".into(), hostname.into());
                }
                app.post(&["host", "options"], &body, DEFAULT_TIMEOUT).await
            }
            Command::Reboot(args) => app.post(&["host", "reboot"], &args.body(), CONTAINER_OPERATION_TIMEOUT).await,
            Command::Reload => app.post(&["host", "reload"], &Body::new(), DEFAULT_TIMEOUT).await,
            Command::Services => app.get(&["host", "services"]).await,
            Command::Shutdown(args) => app.post(&["host", "shutdown"], &args.body(), CONTAINER_OPERATION_TIMEOUT).await,
        }
    }
}

#[derive(Args)]
pub struct ForceArgs {
    /// Force even during an offline database migration of Home Assistant
    #[arg(short, long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = parse_bool)]
    force: bool,
}

impl ForceArgs {
    /// `force` only when set, as the real CLI sends it.
    fn body(&self) -> Body {
        flags(&[("force", self.force)])
    }
}

#[derive(Args)]
pub struct LogsArgs {
    #[command(subcommand)]
    list: Option<LogsList>,

    /// Continuously print new log entries
    #[arg(short, long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = parse_bool)]
    follow: bool,

    /// Number of log entries to show
    #[arg(short = 'n', long, value_name = "N", default_value_t = 0)]
    lines: u32,

    /// Logs of particular boot ID
    // Boot offsets such as -1 look like flags.
    #[arg(short, long, value_name = "BOOT", allow_hyphen_values = true)]
    boot: Option<String>,

    /// Return logs in verbose format
    #[arg(short, long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = parse_bool)]
    verbose: bool,

    /// Show entries with the specified syslog identifier
    #[arg(short = 't', long, value_name = "IDENTIFIER")]
    identifier: Option<String>,
}

/// What `ha host logs` can list instead of showing entries.
#[derive(Subcommand)]
enum LogsList {
    #[command(
        visible_aliases = ["list-boots", "lb"],
        about = "Show all boot IDs by offset",
        long_about = "Show all values that can be used with the boot arg to find logs.",
        after_help = "Examples:\n  ha host logs boots"
    )]
    Boots,

    #[command(
        visible_aliases = ["ids", "list-identifiers", "li"],
        about = "Show all syslog identifiers",
        long_about = "Show all values that can be used with the identifier arg to find logs.",
        after_help = "Examples:\n  ha host logs identifiers"
    )]
    Identifiers,
}

impl LogsArgs {
    async fn run(&self, app: &App) -> Result<()> {
        match self.list {
            Some(LogsList::Boots) => app.get(&["host", "logs", "boots"]).await,
            Some(LogsList::Identifiers) => app.get(&["host", "logs", "identifiers"]).await,
            None => self.stream(app).await,
        }
    }

    /// `host/logs[/boots/<boot>][/identifiers/<identifier>][/follow]`.
    fn path(&self) -> Vec<&str> {
        let mut path = vec!["host", "logs"];
        if let Some(boot) = self.boot.as_deref().filter(|boot| !boot.is_empty()) {
            path.extend(["boots", boot]);
        }
        if let Some(identifier) = self.identifier.as_deref().filter(|identifier| !identifier.is_empty()) {
            path.extend(["identifiers", identifier]);
        }
        if self.follow {
            path.push("follow");
        }
        path
    }

    /// Copies the log text to stdout as it arrives, until the server ends it (or forever with
    /// `--follow`).
    async fn stream(&self, app: &App) -> Result<()> {
        let query = if self.lines > 0 { vec![("lines", self.lines.to_string())] } else { Vec::new() };
        let accept = if self.verbose { "text/x-log" } else { "text/plain" };
        let response = app.client.open_stream(&self.path(), &query, accept).await?;
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|err| app.client.transport_error(err))?;
            output::write_stdout(&chunk)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::parse_command;
    use serde_json::{json, Value};

    fn parse(args: &[&str]) -> Command {
        parse_command(args)
    }

    fn logs(args: &[&str]) -> LogsArgs {
        match parse(&[&["logs"], args].concat()) {
            Command::Logs(args) => args,
            _ => unreachable!("a logs command"),
        }
    }

    #[test]
    fn log_paths_follow_the_flags() {
        assert_eq!(logs(&[]).path(), ["host", "logs"]);
        assert_eq!(logs(&["-f"]).path(), ["host", "logs", "follow"]);
        assert_eq!(logs(&["-t", "kernel"]).path(), ["host", "logs", "identifiers", "kernel"]);
        assert_eq!(
            logs(&["-b", "-1", "--identifier", "NetworkManager", "--follow", "-n", "5"]).path(),
            ["host", "logs", "boots", "-1", "identifiers", "NetworkManager", "follow"]
        );
        assert_eq!(logs(&["--boot=abc", "--follow=false"]).path(), ["host", "logs", "boots", "abc"]);
        assert!(logs(&["-v"]).verbose);
        assert!(matches!(logs(&["boots"]).list, Some(LogsList::Boots)));
        assert!(matches!(logs(&["li"]).list, Some(LogsList::Identifiers)));
    }

    #[test]
    fn force_is_sent_only_when_set() {
        let body = |args: &[&str]| match parse(args) {
            Command::Reboot(force) | Command::Shutdown(force) => Value::from(force.body()),
            _ => unreachable!("a power command"),
        };
        assert_eq!(body(&["reboot"]), json!({}));
        assert_eq!(body(&["reboot", "--force"]), json!({"force": true}));
        assert_eq!(body(&["shutdown", "-f"]), json!({"force": true}));
        assert_eq!(body(&["rb", "--force=false"]), json!({}));
    }
}
