//! `ha backups` (formerly `ha snapshots`): the backups, making and restoring them, removing them,
//! and freezing the system for a backup taken by other software. Making and restoring run as
//! background jobs that `ha` follows.

use crate::client::{Body, DEFAULT_TIMEOUT};
use crate::{follow, output, parse_bool, App};
use anyhow::Result;
use clap::{ArgAction, Args, Subcommand};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

pub const LONG_ABOUT: &str = "Backups of your Home Assistant system, which you can create,
restore, and delete using this command.";

/// The group's old names; using one prints a deprecation notice, as the real CLI does.
pub const DEPRECATED_ALIASES: [&str; 5] = ["snapshots", "snapshot", "snap", "shot", "sn"];

/// A backup or restore copies every app and the whole configuration; the real CLI waits this long.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(3 * 60 * 60);

#[derive(Subcommand)]
pub enum Command {
    #[command(
        visible_alias = "frz",
        about = "Freeze supervisor for external backup",
        long_about = "This command tells Supervisor to prepare Home Assistant and apps for a backup
or snapshot taken by external software. Caller should call thaw when done.",
        after_help = "Examples:\n  ha backups freeze --timeout 300"
    )]
    Freeze(FreezeArgs),

    #[command(
        visible_aliases = ["in", "inf"],
        about = "Provides information about the current available backups",
        long_about = "When a Home Assistant backup is created, it will be available for restore.
This command gives you information about a specific backup.",
        after_help = "Examples:\n  ha backups info c1a07617"
    )]
    Info(Slug),

    #[command(
        visible_aliases = ["create", "backup"],
        about = "Create a new Home Assistant backup",
        long_about = "This command can be used to trigger the creation of a new Home Assistant
backup.",
        after_help = "Examples:\n  ha backups new\n  ha backups new --app core_ssh --app core_mosquitto\n  ha backups new --folders homeassistant\n  ha backups new --uncompressed"
    )]
    New(NewArgs),

    #[command(
        visible_aliases = ["option", "opt", "opts", "op"],
        about = "Allow to set options on backup manager",
        long_about = "This command allows you to set configuration options for backup manager.",
        after_help = "Examples:\n  ha backups options --days-until-stale 60"
    )]
    Options(OptionsArgs),

    #[command(
        visible_aliases = ["refresh", "re"],
        about = "Reload the files on disk to check for new or removed backups",
        long_about = "If a backup has been manually placed inside the backup folder, or has been
removed manually, this command can trigger Home Assistant to re-read the files
on disk",
        after_help = "Examples:\n  ha backups reload"
    )]
    Reload,

    #[command(
        visible_aliases = ["delete", "del", "rem", "rm"],
        about = "Deletes a backup from disk",
        long_about = "Backups can take quite a bit of diskspace, this command allows you to
clean backups from disk.",
        after_help = "Examples:\n  ha backups remove c1a07617"
    )]
    Remove(RemoveArgs),

    #[command(
        about = "Restores a Home Assistant backup",
        long_about = "When something goes wrong, this command allows you to restore a previously
take Home Assistant backup on your system.",
        after_help = "Examples:\n  ha backups restore c1a07617\n  ha backups restore c1a07617 --app core_ssh --app core_mosquitto\n  ha backups restore c1a07617 --folders homeassistant"
    )]
    Restore(RestoreArgs),

    #[command(
        visible_alias = "th",
        about = "Thaw supervisor after an external backup",
        long_about = "End a freeze initiated by the freeze command after an external backup or snapshot
has completed.",
        after_help = "Examples:\n  ha backups thaw"
    )]
    Thaw,
}

#[derive(Args)]
pub struct Slug {
    /// The backup's slug, e.g. c1a07617
    pub slug: String,
}

#[derive(Args)]
pub struct NewArgs {
    /// Name of the backup
    #[arg(long)]
    name: Option<String>,

    /// Password
    #[arg(long)]
    password: Option<String>,

    /// Use uncompressed archives
    // Given at all, with any value, it asks for an uncompressed backup, as in the real CLI.
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "false", value_parser = parse_bool)]
    uncompressed: Option<bool>,

    /// App to backup, triggers a partial backup. Use multiple times for multiple apps.
    #[arg(short, long, value_name = "APP")]
    app: Vec<String>,

    /// The old name of --app
    #[arg(long, value_name = "APP", hide = true)]
    addons: Vec<String>,

    /// Folders to backup, triggers a partial backup
    #[arg(short, long, value_name = "FOLDER")]
    folders: Vec<String>,

    /// Where to put backup file (backup mount or local). Use multiple times for multiple locations.
    #[arg(short, long, value_name = "LOCATION", num_args = 0..=1, require_equals = true,
          default_missing_value = ".local")]
    location: Vec<String>,

    /// Exclude the Home Assistant database file from backup
    // A bare flag means false, as in the real CLI; `=true` excludes the database.
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "false", value_parser = parse_bool)]
    homeassistant_exclude_database: Option<bool>,

    /// Name to use for the backup file
    #[arg(long)]
    filename: Option<String>,
}

impl NewArgs {
    /// The kind of backup (`full`, or `partial` when apps or folders are named) and its body.
    fn request(&self) -> (&'static str, Body) {
        let mut body = Body::new();
        let mut kind = "full";
        insert_text(&mut body, "name", &self.name);
        insert_text(&mut body, "password", &self.password);
        let apps = apps(&self.app, &self.addons);
        if !apps.is_empty() {
            body.insert("addons".into(), apps.into());
            kind = "partial";
        }
        if !self.folders.is_empty() {
            body.insert("folders".into(), self.folders.clone().into());
            kind = "partial";
        }
        if self.uncompressed.is_some() {
            body.insert("compressed".into(), false.into());
        }
        if !self.location.is_empty() {
            body.insert("location".into(), self.location.clone().into());
        }
        insert_text(&mut body, "filename", &self.filename);
        if let Some(exclude) = self.homeassistant_exclude_database {
            body.insert("homeassistant_exclude_database".into(), exclude.into());
        }
        (kind, body)
    }
}

#[derive(Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    slug: Slug,

    /// Password
    #[arg(long)]
    password: Option<String>,

    /// Restore homeassistant (default true), performs a partial restore when set to false
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    homeassistant: Option<bool>,

    /// App to restore, performs a partial restore. Use multiple times for multiple apps.
    #[arg(short, long, value_name = "APP")]
    app: Vec<String>,

    /// The old name of --app
    #[arg(long, value_name = "APP", hide = true)]
    addons: Vec<String>,

    /// Folders to restore, performs a partial restore
    #[arg(short, long, value_name = "FOLDER")]
    folders: Vec<String>,

    /// Where to put the backup file (backup mount or local)
    #[arg(short, long, value_name = "LOCATION", num_args = 0..=1, require_equals = true,
          default_missing_value = ".local")]
    location: Option<String>,
}

impl RestoreArgs {
    /// The kind of restore (`full`, or `partial` when anything is picked) and its body.
    fn request(&self) -> (&'static str, Body) {
        let mut body = Body::new();
        let mut kind = "full";
        insert_text(&mut body, "password", &self.password);
        if let Some(homeassistant) = self.homeassistant {
            body.insert("homeassistant".into(), homeassistant.into());
            kind = "partial";
        }
        let apps = apps(&self.app, &self.addons);
        if !apps.is_empty() {
            body.insert("addons".into(), apps.into());
            kind = "partial";
        }
        if !self.folders.is_empty() {
            body.insert("folders".into(), self.folders.clone().into());
            kind = "partial";
        }
        if let Some(location) = &self.location {
            body.insert("location".into(), location.as_str().into());
        }
        (kind, body)
    }
}

#[derive(Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    slug: Slug,

    /// Location(s) to remove backup from (instead of all), use multiple times for multiple locations.
    #[arg(short, long, value_name = "LOCATION", num_args = 0..=1, require_equals = true,
          default_missing_value = ".local")]
    location: Vec<String>,
}

impl RemoveArgs {
    fn body(&self) -> Body {
        let mut body = Body::new();
        if !self.location.is_empty() {
            body.insert("location".into(), self.location.clone().into());
        }
        body
    }
}

#[derive(Args)]
pub struct FreezeArgs {
    /// Seconds before freeze times out and thaw begins
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    timeout: Option<i64>,
}

impl FreezeArgs {
    fn body(&self) -> Body {
        let mut body = Body::new();
        // Zero is the real CLI's "not given".
        if let Some(timeout) = self.timeout.filter(|timeout| *timeout != 0) {
            body.insert("timeout".into(), timeout.into());
        }
        body
    }
}

#[derive(Args)]
pub struct OptionsArgs {
    /// Days until backup considered stale
    // The real CLI also takes the old spelling with underscores.
    #[arg(long, value_name = "DAYS", alias = "days_until_stale", allow_negative_numbers = true)]
    days_until_stale: Option<i64>,
}

impl OptionsArgs {
    fn body(&self) -> Body {
        let mut body = Body::new();
        if let Some(days) = self.days_until_stale.filter(|days| *days != 0) {
            body.insert("days_until_stale".into(), days.into());
        }
        body
    }
}

/// `ha backups` without a subcommand: the backups and the backup manager's options.
pub async fn info(app: &App) -> Result<()> {
    app.get(&["backups", "info"]).await
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        match self {
            Command::Freeze(args) => app.post(&["backups", "freeze"], &args.body(), DEFAULT_TIMEOUT).await,
            Command::Info(Slug { slug }) => app.get(&["backups", &slug, "info"]).await,
            Command::New(args) => {
                warn_deprecated_addons(&args.addons);
                let (kind, body) = args.request();
                follow_job(app, &["backups", "new", kind], body, Some("slug")).await
            }
            Command::Options(args) => app.post(&["backups", "options"], &args.body(), DEFAULT_TIMEOUT).await,
            Command::Reload => app.post(&["backups", "reload"], &Body::new(), DEFAULT_TIMEOUT).await,
            Command::Remove(args) => {
                let path = ["backups", &args.slug.slug];
                let reply = app.client.call(Method::DELETE, &path, &args.body(), DEFAULT_TIMEOUT).await?;
                output::show(&reply, app.raw_json)
            }
            Command::Restore(args) => {
                warn_deprecated_addons(&args.addons);
                let (kind, body) = args.request();
                follow_job(app, &["backups", &args.slug.slug, "restore", kind], body, None).await
            }
            Command::Thaw => app.post(&["backups", "thaw"], &Body::new(), DEFAULT_TIMEOUT).await,
        }
    }
}

/// Starts a backup or restore as a background job, follows it with the progress bar, and then
/// prints what the synchronous call answers: the job id and, under `result_key`, what the job
/// acted on (a new backup's slug).
///
/// With `--raw-json` the call is synchronous instead, with the real CLI's spinner, so that the
/// envelope printed is the action's own answer.
async fn follow_job(app: &App, path: &[&str], mut body: Body, result_key: Option<&str>) -> Result<()> {
    if app.raw_json {
        return app.post_spinning(path, &body, BACKUP_TIMEOUT).await;
    }
    body.insert("background".into(), Value::Bool(true));
    let reply = app.client.call(Method::POST, path, &body, BACKUP_TIMEOUT).await?;
    // A server without background jobs did the work already and answers as usual.
    let Some(job_id) = reply.data.get("job_id").and_then(Value::as_str) else {
        return output::show(&reply, false);
    };
    let job = follow::follow(&app.client, job_id, app.no_progress).await?;
    let mut result = reply.data.clone();
    if let (Some(key), Some(reference), Some(fields)) = (result_key, job.reference, result.as_object_mut()) {
        fields.entry(key).or_insert(reference.into());
    }
    output::write_stdout(output::render(&result).as_bytes())?;
    Ok(())
}

/// Sends a text option only when it is not empty, as the real CLI does.
fn insert_text(body: &mut Body, key: &str, value: &Option<String>) {
    if let Some(value) = value.as_deref().filter(|value| !value.is_empty()) {
        body.insert(key.into(), value.into());
    }
}

/// The apps named with `--app` and with its old name `--addons`.
fn apps(app: &[String], addons: &[String]) -> Vec<String> {
    app.iter().chain(addons).cloned().collect()
}

/// The real CLI's notice for each use of the hidden old flag.
fn warn_deprecated_addons(addons: &[String]) {
    for _ in addons {
        output::print_notice("Flag --addons has been deprecated, use --app instead");
    }
}

/// The notices for every deprecated group name among the words `ha` was called with (the
/// program name excluded), as the real CLI prints them on stderr.
pub fn deprecation_notices(args: &[String]) -> Vec<String> {
    args.iter()
        .skip(1)
        .filter(|arg| DEPRECATED_ALIASES.contains(&arg.as_str()))
        .map(|arg| format!("The use of '{arg}' is deprecated, please use 'backups' instead!"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{parse_command, try_parse_command};
    use serde_json::json;

    fn try_parse(args: &[&str]) -> Result<Command, clap::Error> {
        try_parse_command(args)
    }

    fn parse(args: &[&str]) -> Command {
        parse_command(args)
    }

    /// The path below `/backups/` and the body a command sends.
    fn request(args: &[&str]) -> (String, Value) {
        match parse(args) {
            Command::New(args) => {
                let (kind, body) = args.request();
                (format!("new/{kind}"), body.into())
            }
            Command::Restore(args) => {
                let (kind, body) = args.request();
                (format!("{}/restore/{kind}", args.slug.slug), body.into())
            }
            Command::Remove(args) => (args.slug.slug.clone(), args.body().into()),
            Command::Freeze(args) => ("freeze".into(), args.body().into()),
            Command::Options(args) => ("options".into(), args.body().into()),
            _ => panic!("not a command with a body"),
        }
    }

    fn expect(args: &[&str], path: &str, body: Value) {
        assert_eq!(request(args), (path.to_owned(), body), "{args:?}");
    }

    #[test]
    fn new_is_full_unless_apps_or_folders_are_named() {
        expect(&["new"], "new/full", json!({}));
        expect(
            &["create", "--name", "nightly", "--password", "pw"],
            "new/full",
            json!({"name": "nightly", "password": "pw"}),
        );
        expect(&["backup", "--name", "", "--filename", ""], "new/full", json!({}));
        expect(
            &["new", "-a", "core_ssh", "--app", "core_mosquitto"],
            "new/partial",
            json!({"addons": ["core_ssh", "core_mosquitto"]}),
        );
        expect(&["new", "-f", "share", "--folders", "ssl"], "new/partial", json!({"folders": ["share", "ssl"]}));
        expect(&["new", "--addons", "old", "-a", "new"], "new/partial", json!({"addons": ["new", "old"]}));
    }

    #[test]
    fn new_sends_compression_locations_filename_and_database_choice() {
        expect(&["new", "--uncompressed"], "new/full", json!({"compressed": false}));
        expect(&["new", "--uncompressed=false"], "new/full", json!({"compressed": false}));
        expect(
            &["new", "-l", "-l=nas", "--location=.local"],
            "new/full",
            json!({"location": [".local", "nas", ".local"]}),
        );
        expect(&["new", "--filename", "mine.tar"], "new/full", json!({"filename": "mine.tar"}));
        expect(
            &["new", "--homeassistant-exclude-database"],
            "new/full",
            json!({"homeassistant_exclude_database": false}),
        );
        expect(
            &["new", "--homeassistant-exclude-database=true", "-f", "homeassistant"],
            "new/partial",
            json!({"homeassistant_exclude_database": true, "folders": ["homeassistant"]}),
        );
    }

    #[test]
    fn new_refuses_bad_values_and_arguments() {
        assert!(try_parse(&["new", "--uncompressed=maybe"]).is_err());
        assert!(try_parse(&["new", "--homeassistant-exclude-database=yes"]).is_err());
        assert!(try_parse(&["new", "extra"]).is_err());
    }

    #[test]
    fn restore_is_partial_when_anything_is_picked() {
        expect(&["restore", "c1a07617"], "c1a07617/restore/full", json!({}));
        expect(&["restore", "c1a07617", "--password", "pw"], "c1a07617/restore/full", json!({"password": "pw"}));
        expect(&["restore", "c1a07617", "-l"], "c1a07617/restore/full", json!({"location": ".local"}));
        expect(&["restore", "c1a07617", "--homeassistant"], "c1a07617/restore/partial", json!({"homeassistant": true}));
        expect(
            &["restore", "c1a07617", "--homeassistant=false", "-a", "core_ssh", "--addons", "core_x", "-f", "share"],
            "c1a07617/restore/partial",
            json!({"homeassistant": false, "addons": ["core_ssh", "core_x"], "folders": ["share"]}),
        );
        assert!(try_parse(&["restore"]).is_err());
        assert!(try_parse(&["restore", "a", "b"]).is_err());
    }

    #[test]
    fn remove_names_locations_only_when_given() {
        expect(&["remove", "c1a07617"], "c1a07617", json!({}));
        expect(&["rm", "c1a07617", "-l", "--location=nas"], "c1a07617", json!({"location": [".local", "nas"]}));
        assert!(try_parse(&["delete"]).is_err());
    }

    #[test]
    fn freeze_and_options_send_numbers_only_when_given() {
        expect(&["freeze"], "freeze", json!({}));
        expect(&["frz", "--timeout", "300"], "freeze", json!({"timeout": 300}));
        expect(&["freeze", "--timeout", "0"], "freeze", json!({}));
        expect(&["freeze", "--timeout", "-5"], "freeze", json!({"timeout": -5}));
        assert!(try_parse(&["freeze", "--timeout", "soon"]).is_err());
        expect(&["options"], "options", json!({}));
        expect(&["opt", "--days-until-stale", "60"], "options", json!({"days_until_stale": 60}));
        expect(&["options", "--days_until_stale", "7"], "options", json!({"days_until_stale": 7}));
    }

    #[test]
    fn the_other_commands_and_their_aliases_parse() {
        assert!(matches!(parse(&["inf", "c1a07617"]), Command::Info(Slug { slug }) if slug == "c1a07617"));
        assert!(try_parse(&["info"]).is_err());
        assert!(matches!(parse(&["refresh"]), Command::Reload));
        assert!(matches!(parse(&["th"]), Command::Thaw));
    }

    #[test]
    fn deprecated_names_are_noticed() {
        let args: Vec<String> = ["ha", "snapshots", "new", "sn"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            deprecation_notices(&args),
            [
                "The use of 'snapshots' is deprecated, please use 'backups' instead!",
                "The use of 'sn' is deprecated, please use 'backups' instead!"
            ]
        );
        let args: Vec<String> = ["snap", "backups", "info"].iter().map(|s| s.to_string()).collect();
        assert!(deprecation_notices(&args).is_empty());
    }
}
