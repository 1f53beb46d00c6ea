//! `ha mounts`: the network storage mounts: list, add, update, delete, reload, and the default
//! backup mount.

use crate::client::{Body, DEFAULT_TIMEOUT};
use crate::{output, parse_bool, App};
use anyhow::Result;
use clap::{ArgAction, Args, Subcommand};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

pub const LONG_ABOUT: &str = "The mounts command allows you to manage mounts in Supervisor by exposing
commands to view, mount, update or remove mounts such as network shares.";

/// How long a reload may take (the real CLI's mount timeout): a stop and a start of the unit.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Subcommand)]
pub enum Command {
    #[command(
        visible_aliases = ["in", "inf"],
        about = "Shows information about mounts",
        long_about = "Shows information about the currently configured mounts in Supervisor",
        after_help = "Examples:\n  ha mounts info"
    )]
    Info,

    #[command(
        visible_aliases = ["create", "new"],
        about = "Add new mount to Supervisor",
        long_about = "Add and mount a new mount in Supervisor",
        after_help = "Examples:\n  ha mounts add my_share --usage media --type cifs --server server.local --share media\n  ha mounts add my_share --usage backup --type nfs --server server.local --path /backups"
    )]
    Add(MountArgs),

    #[command(
        visible_aliases = ["change", "set", "up", "modify", "mod"],
        about = "Update configuration of a mount in Supervisor",
        long_about = "Update configuration of an existing mount in Supervisor and remount it",
        after_help = "Examples:\n  ha mounts update my_share --usage media --type cifs --server server.local --share media"
    )]
    Update(MountArgs),

    #[command(
        visible_aliases = ["del", "remove", "rm"],
        about = "Delete a mount from Supervisor",
        long_about = "Unmount and delete an existing mount from Supervisor",
        after_help = "Examples:\n  ha mounts delete my_share"
    )]
    Delete {
        /// The mount's name
        name: String,
    },

    #[command(
        visible_aliases = ["re", "refresh", "remount"],
        about = "Reload a mount in Supervisor",
        long_about = "Unmount and remount an existing mount in Supervisor using the same configuration",
        after_help = "Examples:\n  ha mounts reload my_share"
    )]
    Reload {
        /// The mount's name
        name: String,
    },

    #[command(
        visible_aliases = ["option", "opt", "opts", "op"],
        about = "Set options for mount manager",
        long_about = "Set options for the mount manager in Supervisor",
        after_help = "Examples:\n  ha mounts options --default-backup-mount my_share"
    )]
    Options {
        /// Set default backup mount (empty for the backup folder)
        #[arg(long, alias = "default_backup_mount", num_args = 0..=1, default_missing_value = "")]
        default_backup_mount: Option<String>,
    },
}

#[derive(Args)]
pub struct MountArgs {
    /// The mount's name
    name: String,

    /// Type of mount
    #[arg(short = 't', long = "type", default_value = "cifs")]
    kind: String,

    /// Usage of mount within Home Assistant
    #[arg(short, long, default_value = "media")]
    usage: String,

    /// IP address or hostname of network share server
    #[arg(short, long)]
    server: Option<String>,

    /// Port to use if network share is exposed on non-standard port for the type
    #[arg(short = 'o', long)]
    port: Option<u16>,

    /// Share to mount (cifs mounts only)
    #[arg(short = 'r', long)]
    share: Option<String>,

    /// Username to use for authentication (cifs mounts only)
    #[arg(short = 'n', long)]
    username: Option<String>,

    /// Password to use for authentication (cifs mounts only)
    #[arg(short, long)]
    password: Option<String>,

    /// Version to use for the mount (cifs mounts only)
    #[arg(short, long)]
    version: Option<String>,

    /// Path to mount (nfs mounts only)
    #[arg(short = 'a', long)]
    path: Option<String>,

    /// Is mount read-only (not available for backup mounts)
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    read_only: Option<bool>,
}

impl MountArgs {
    /// The mount as the real CLI sends it: only the flags given (strings not empty, a port above
    /// zero), the defaults of `--type` and `--usage` included.
    fn body(&self, with_name: bool) -> Body {
        let mut body = Body::new();
        if with_name {
            body.insert("name".into(), self.name.clone().into());
        }
        let strings = [
            ("type", Some(&self.kind)),
            ("usage", Some(&self.usage)),
            ("server", self.server.as_ref()),
            ("share", self.share.as_ref()),
            ("path", self.path.as_ref()),
            ("username", self.username.as_ref()),
            ("password", self.password.as_ref()),
            ("version", self.version.as_ref()),
        ];
        for (key, value) in strings {
            if let Some(value) = value.filter(|value| !value.is_empty()) {
                body.insert(key.into(), value.clone().into());
            }
        }
        if let Some(port) = self.port.filter(|port| *port > 0) {
            body.insert("port".into(), port.into());
        }
        if let Some(read_only) = self.read_only {
            body.insert("read_only".into(), read_only.into());
        }
        body
    }
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        let (method, path, body, timeout) = match self {
            Command::Info => return app.get(&["mounts"]).await,
            Command::Add(args) => (Method::POST, vec!["mounts".to_owned()], args.body(true), DEFAULT_TIMEOUT),
            Command::Update(args) => {
                (Method::PUT, vec!["mounts".to_owned(), args.name.clone()], args.body(false), DEFAULT_TIMEOUT)
            }
            Command::Delete { name } => (Method::DELETE, vec!["mounts".to_owned(), name], Body::new(), DEFAULT_TIMEOUT),
            Command::Reload { name } => {
                (Method::POST, vec!["mounts".to_owned(), name, "reload".to_owned()], Body::new(), MOUNT_TIMEOUT)
            }
            Command::Options { default_backup_mount } => {
                let mut body = Body::new();
                if let Some(name) = default_backup_mount {
                    let value = if name.is_empty() { Value::Null } else { Value::String(name) };
                    body.insert("default_backup_mount".into(), value);
                }
                (Method::POST, vec!["mounts".to_owned(), "options".to_owned()], body, DEFAULT_TIMEOUT)
            }
        };
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let reply = app.client.call(method, &path, &body, timeout).await?;
        output::show(&reply, app.raw_json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    fn body(args: &[&str]) -> Value {
        let cli = Cli::try_parse_from([&["ha"], args].concat()).unwrap();
        match cli.command {
            Command::Add(args) => Value::from(args.body(true)),
            Command::Update(args) => Value::from(args.body(false)),
            _ => panic!("not a mount"),
        }
    }

    #[test]
    fn flags_become_the_real_body() {
        assert_eq!(
            body(&["add", "nas", "-s", "server.local", "-r", "media", "-n", "u", "-p", "p", "-v", "2.0"]),
            json!({"name": "nas", "type": "cifs", "usage": "media", "server": "server.local", "share": "media",
                   "username": "u", "password": "p", "version": "2.0"})
        );
        assert_eq!(
            body(&["update", "nas", "-t", "nfs", "-u", "backup", "-s", "s", "-a", "/b", "-o", "2049", "--read-only"]),
            json!({"type": "nfs", "usage": "backup", "server": "s", "path": "/b", "port": 2049, "read_only": true})
        );
        assert_eq!(
            body(&["add", "x", "--read-only=false", "-o", "0"]),
            json!({"name": "x", "type": "cifs", "usage": "media", "read_only": false})
        );
    }
}
