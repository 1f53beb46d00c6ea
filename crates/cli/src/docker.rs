//! `ha docker`: the container engine's state and options, and the registry logins it pulls with.

use crate::client::{Body, DEFAULT_TIMEOUT};
use crate::{output, parse_bool, App};
use anyhow::{bail, Result};
use clap::{ArgAction, Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

#[derive(Subcommand)]
pub enum Command {
    #[command(
        visible_aliases = ["in", "inf"],
        about = "Shows information about the host docker backend",
        after_help = "Examples:\n  ha docker info"
    )]
    Info,

    #[command(
        visible_aliases = ["option", "opt", "opts", "op"],
        about = "Set options for the Docker backend",
        after_help = "Examples:\n  ha docker options --enable-ipv6=true\n  ha docker options --mtu=1450"
    )]
    Options(OptionsArgs),

    #[command(
        visible_aliases = ["reg", "re"],
        about = "Manage private OCI docker registry",
        after_help = "Examples:\n  ha docker registries\n  ha docker registries add my-docker.example.com --username \"test\" --password \"example\"\n  ha docker registries delete my-docker.example.com"
    )]
    Registries {
        #[command(subcommand)]
        command: Option<Registries>,
    },

    #[command(
        about = "Migrate Docker storage driver",
        after_help = "Examples:\n  ha docker migrate-storage-driver overlayfs"
    )]
    MigrateStorageDriver {
        /// The storage driver to migrate to
        #[arg(default_value = "overlayfs")]
        driver: String,
    },
}

#[derive(Subcommand)]
pub enum Registries {
    #[command(
        visible_aliases = ["set", "new"],
        about = "Add new docker registry login for specific host",
        after_help = "Examples:\n  ha docker registries add my-docker.example.com --username \"test\" --password \"example\""
    )]
    Add(AddArgs),

    #[command(
        visible_aliases = ["del", "remove"],
        about = "Delete docker registry login for specific host",
        after_help = "Examples:\n  ha docker registries delete my-docker.example.com"
    )]
    Delete {
        /// The registry host
        host: String,
    },
}

#[derive(Args)]
pub struct AddArgs {
    /// The registry host
    host: String,

    /// Username for OCI auth
    #[arg(short, long)]
    username: Option<String>,

    /// Password for OCI auth
    #[arg(short, long)]
    password: Option<String>,
}

impl AddArgs {
    fn body(&self) -> Body {
        let mut login = Body::new();
        for (key, value) in [("username", &self.username), ("password", &self.password)] {
            if let Some(value) = value.as_deref().filter(|value| !value.is_empty()) {
                login.insert(key.into(), value.into());
            }
        }
        let mut body = Body::new();
        body.insert(self.host.clone(), Value::Object(login));
        body
    }
}

#[derive(Args)]
pub struct OptionsArgs {
    /// Enable IPv6
    #[arg(long, alias = "enable_ipv6", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_parser = parse_bool)]
    enable_ipv6: Option<bool>,

    /// Set Docker MTU (68-65535, 0 to reset)
    #[arg(long, allow_negative_numbers = true)]
    mtu: Option<i64>,
}

impl OptionsArgs {
    fn body(&self) -> Result<Body> {
        let mut body = Body::new();
        if let Some(enable) = self.enable_ipv6 {
            body.insert("enable_ipv6".into(), enable.into());
        }
        match self.mtu {
            Some(0) => {
                body.insert("mtu".into(), Value::Null);
            }
            Some(mtu) if (68..=65535).contains(&mtu) => {
                body.insert("mtu".into(), mtu.into());
            }
            Some(_) => bail!("MTU value must be between 68 and 65535, or 0 to reset"),
            None => {}
        }
        Ok(body)
    }

    /// The reminders the real CLI prints for settings that only apply after a restart.
    fn notes(&self) -> String {
        let mut notes = String::new();
        if self.enable_ipv6.is_some() {
            notes.push_str("Note: System restart required to apply new IPv6 configuration.\n");
        }
        if self.mtu.is_some() {
            notes.push_str("Note: System restart required to apply new MTU configuration.\n");
        }
        notes
    }
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        match self {
            Command::Info => app.get(&["docker", "info"]).await,
            Command::Options(args) => {
                let body = args.body()?;
                let reply = app.client.call(Method::POST, &["docker", "options"], &body, DEFAULT_TIMEOUT).await?;
                if !app.raw_json {
                    output::write_stdout(args.notes().as_bytes())?;
                }
                output::show(&reply, app.raw_json)
            }
            Command::Registries { command: None } => app.get(&["docker", "registries"]).await,
            Command::Registries { command: Some(Registries::Add(args)) } => {
                app.post(&["docker", "registries"], &args.body(), DEFAULT_TIMEOUT).await
            }
            Command::Registries { command: Some(Registries::Delete { host }) } => {
                app.delete(&["docker", "registries", &host]).await
            }
            Command::MigrateStorageDriver { driver } => {
                let prompt = format!(
                    "This will switch the Docker storage driver to '{driver}'.\nAre you sure you want to proceed?"
                );
                if !output::confirm(&prompt)? {
                    bail!("Aborted.");
                }
                let mut body = Body::new();
                body.insert("storage_driver".into(), driver.into());
                app.post(&["docker", "migrate-storage-driver"], &body, DEFAULT_TIMEOUT).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_send_only_given_keys_and_null_resets_the_mtu() {
        let body = |enable_ipv6, mtu| OptionsArgs { enable_ipv6, mtu }.body().map(Value::from);
        assert_eq!(body(None, None).unwrap(), json!({}));
        assert_eq!(body(Some(true), None).unwrap(), json!({"enable_ipv6": true}));
        assert_eq!(body(None, Some(1450)).unwrap(), json!({"mtu": 1450}));
        assert_eq!(body(Some(false), Some(0)).unwrap(), json!({"enable_ipv6": false, "mtu": null}));
        assert!(body(None, Some(67)).is_err());
        assert!(body(None, Some(-1)).is_err());
        assert!(body(None, Some(65536)).is_err());
    }

    #[test]
    fn registry_logins_are_keyed_by_host() {
        let args =
            AddArgs { host: "my.example.com".into(), username: Some("test".into()), password: Some("example".into()) };
        assert_eq!(Value::from(args.body()), json!({"my.example.com": {"username": "test", "password": "example"}}));
        let bare = AddArgs { host: "h".into(), username: Some(String::new()), password: None };
        assert_eq!(Value::from(bare.body()), json!({"h": {}}));
    }
}
