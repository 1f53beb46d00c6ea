//! `ha store`: the app store, its repositories, and installing or updating apps from it.
//! Install and update run as background jobs that `ha` follows.

use crate::apps::{self, UpdateArgs};
use crate::client::{Body, CONTAINER_DOWNLOAD_TIMEOUT, CONTAINER_OPERATION_TIMEOUT};
use crate::App;
use anyhow::Result;
use clap::{Args, Subcommand};

pub const LONG_ABOUT: &str = "The store command allows you to manage Home Assistant apps by exposing
commands for installing or updating them. It also provides functionality
for managing stores that provide additional apps.";

/// The old names of `ha store apps`; using one prints a deprecation notice.
pub const DEPRECATED_APPS_ALIASES: [&str; 4] = ["addons", "add-on", "addon", "add-ons"];

#[derive(Subcommand)]
pub enum Command {
    #[command(
        visible_aliases = ["set", "new"],
        about = "Add new repository to Home Assistant store",
        long_about = "Add new repository of apps to the Home Assistant store.",
        after_help = "Examples:\n  ha store add https://github.com/home-assistant/addons-example"
    )]
    Add(AddArgs),

    #[command(
        visible_aliases = ["app", "addons", "add-on", "addon", "add-ons"],
        about = "Install and update Home Assistant apps",
        long_about = "The store command allows you to manage Home Assistant apps by exposing
commands for installing or update them.",
        after_help = "Examples:\n  ha store apps install core_ssh\n  ha store apps update core_ssh"
    )]
    Apps {
        #[command(subcommand)]
        command: Option<AppsCommand>,
    },

    #[command(
        visible_aliases = ["del", "remove"],
        about = "Delete repository from Home Assistant store",
        long_about = "Remove a repository of apps that isn't in use from the Home Assistant store.",
        after_help = "Examples:\n  ha store delete 94cfad5a"
    )]
    Delete(Repository),

    #[command(
        visible_aliases = ["refresh", "re"],
        about = "Reloads/Refreshes the Home Assistant app store",
        long_about = "This commands allows you to force a reload/refresh of the Home Assistant app
store. Using this, you can force the download of the most recent version
information of an app. This might be helpful when you know a new version of
an app is released, but not yet available as an upgrade in Home Assistant.",
        after_help = "Examples:\n  ha store reload"
    )]
    Reload,

    #[command(
        visible_alias = "reset",
        about = "Repair/reset repository from Home Assistant store",
        long_about = "Repair/reset a repository of apps that is missing from the store,
showing incorrect information, or otherwise working incorrectly.",
        after_help = "Examples:\n  ha store repair 94cfad5a"
    )]
    Repair(Repository),
}

#[derive(Subcommand)]
pub enum AppsCommand {
    #[command(
        visible_aliases = ["i", "inst"],
        about = "Installs a Home Assistant app",
        long_about = "This command allows you to install a Home Assistant app from the commandline.",
        after_help = "Examples:\n  ha store apps install core_ssh"
    )]
    Install(apps::Slug),

    #[command(
        visible_aliases = ["upgrade", "up"],
        about = "Upgrades a Home Assistant app to the latest version",
        long_about = "This command can upgrade a Home Assistant app to its latest version.
It is currently not possible to upgrade/downgrade to a specific version.",
        after_help = "Examples:\n  ha store apps update core_ssh"
    )]
    Update(UpdateArgs),
}

#[derive(Args)]
pub struct AddArgs {
    /// The repository: a git URL with an optional #branch
    repository: String,
}

impl AddArgs {
    fn body(&self) -> Body {
        let mut body = Body::new();
        body.insert("repository".into(), self.repository.clone().into());
        body
    }
}

#[derive(Args)]
pub struct Repository {
    /// The repository's slug, e.g. 94cfad5a
    slug: String,
}

/// `ha store` without a subcommand: the apps and repositories of the store.
pub async fn info(app: &App) -> Result<()> {
    app.get(&["store"]).await
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        match self {
            // Cloning a repository may take a while.
            Command::Add(args) => {
                app.post_spinning(&["store", "repositories"], &args.body(), CONTAINER_OPERATION_TIMEOUT).await
            }
            Command::Apps { command: None } => app.get(&["store", "addons"]).await,
            Command::Apps { command: Some(command) } => command.run(app).await,
            Command::Delete(Repository { slug }) => app.delete(&["store", "repositories", &slug]).await,
            Command::Reload => app.post_spinning(&["store", "reload"], &Body::new(), CONTAINER_OPERATION_TIMEOUT).await,
            Command::Repair(Repository { slug }) => {
                let path = ["store", "repositories", &slug, "repair"];
                app.post_spinning(&path, &Body::new(), CONTAINER_OPERATION_TIMEOUT).await
            }
        }
    }
}

impl AppsCommand {
    async fn run(self, app: &App) -> Result<()> {
        match self {
            AppsCommand::Install(apps::Slug { slug }) => {
                let path = ["store", "addons", &slug, "install"];
                app.run_job(&path, Body::new(), CONTAINER_DOWNLOAD_TIMEOUT, true).await
            }
            AppsCommand::Update(args) => {
                let path = ["store", "addons", args.slug(), "update"];
                app.run_job(&path, args.body(), CONTAINER_DOWNLOAD_TIMEOUT, false).await
            }
        }
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

    #[test]
    fn add_sends_the_repository() {
        let Command::Add(args) = parse(&["add", "https://example.com/repo#dev"]) else { panic!("not add") };
        assert_eq!(Value::from(args.body()), json!({"repository": "https://example.com/repo#dev"}));
        assert!(matches!(parse(&["new", "x"]), Command::Add(_)));
    }

    #[test]
    fn apps_run_alone_or_with_install_and_update() {
        assert!(matches!(parse(&["apps"]), Command::Apps { command: None }));
        assert!(matches!(parse(&["addons", "i", "core_x"]), Command::Apps { command: Some(AppsCommand::Install(_)) }));
        let Command::Apps { command: Some(AppsCommand::Update(args)) } = parse(&["app", "up", "core_x", "--backup"])
        else {
            panic!("not update")
        };
        assert_eq!(args.slug(), "core_x");
        assert_eq!(Value::from(args.body()), json!({"backup": true}));
    }

    #[test]
    fn repositories_are_named_by_slug() {
        assert!(matches!(parse(&["del", "94cfad5a"]), Command::Delete(Repository { slug }) if slug == "94cfad5a"));
        assert!(matches!(parse(&["reset", "94cfad5a"]), Command::Repair(_)));
        assert!(matches!(parse(&["re"]), Command::Reload));
    }
}
