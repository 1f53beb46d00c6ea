//! `ha`: the command-line client of the supervisor API, a stand-in for the Home Assistant CLI.
//!
//! This file holds the command tree's root and the calls most commands share; each command group
//! lives in its own module.

mod admin;
mod apps;
mod audio;
mod authentication;
mod backups;
mod banner;
mod cli;
mod client;
mod complete;
mod config;
mod core;
mod dns;
mod docker;
mod fleet;
mod follow;
mod hardware;
mod host;
mod jobs;
mod mounts;
mod multicast;
mod network;
mod observer;
mod os;
mod output;
mod resolution;
mod root;
mod security;
mod store;
mod supervisor;
#[cfg(test)]
mod testing;
mod usage;
mod yaml;

use anyhow::Result;
use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use client::{ApiError, Body, Client};
use reqwest::Method;
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

const LONG_ABOUT: &str = "
The Home Assistant CLI is a small and simple command line utility that allows
you to control and configure different aspects of Home Assistant";

#[derive(Parser)]
#[command(
    name = "ha",
    version,
    about = "A small CLI program to control Home Assistant",
    long_about = LONG_ABOUT,
    subcommand_required = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(flatten)]
    global: config::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

// Listed alphabetically, as the real CLI's help lists them.
#[derive(Subcommand)]
enum Command {
    #[command(
        about = "Log a web browser in to the admin web UI",
        long_about = admin::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha admin login\n  ha admin logout-all"
    )]
    Admin {
        #[command(subcommand)]
        command: admin::Command,
    },

    #[command(
        visible_aliases = ["app", "addons", "addon", "add-on", "add-ons", "ad"],
        about = "Install, update, remove and configure Home Assistant apps",
        long_about = apps::LONG_ABOUT,
        after_help = "Examples:\n  ha apps logs core_ssh\n  ha apps install core_ssh\n  ha apps start core_ssh"
    )]
    Apps {
        #[command(subcommand)]
        command: Option<apps::Command>,
    },

    #[command(
        visible_aliases = ["snd", "sound"],
        about = "Audio device handling.",
        long_about = audio::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha audio info"
    )]
    Audio {
        #[command(subcommand)]
        command: audio::Command,
    },

    #[command(
        visible_aliases = ["auth", "au"],
        about = "Manage Home Assistant user authentication",
        long_about = authentication::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha authentication list\n  ha authentication reset --interactive"
    )]
    Authentication {
        #[command(subcommand)]
        command: authentication::Command,
    },

    #[command(
        visible_alias = "ba",
        about = "Prints the Home Assistant banner along with some useful information",
        after_help = "Examples:\n  ha banner"
    )]
    Banner(banner::Args),

    #[command(
        visible_aliases = ["updates", "available_updates"],
        about = "Provides information about current pending updates"
    )]
    AvailableUpdates,

    #[command(
        visible_aliases = ["homeassistant", "home-assistant", "ha"],
        about = "Provides control of Home Assistant Core",
        long_about = core::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha core check\n  ha core restart\n  ha core update"
    )]
    Core {
        #[command(subcommand)]
        command: core::Command,
    },

    #[command(
        visible_aliases = ["backup", "back", "bk", "snapshots", "snapshot", "snap", "shot", "sn"],
        about = "Create, restore and remove backups",
        long_about = backups::LONG_ABOUT,
        after_help = "Examples:\n  ha backups\n  ha backups new"
    )]
    Backups {
        #[command(subcommand)]
        command: Option<backups::Command>,
    },

    #[command(
        about = "Get information, update or configure the Home Assistant cli backend",
        long_about = cli::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha cli info\n  ha cli update"
    )]
    Cli {
        #[command(subcommand)]
        command: cli::Command,
    },

    #[command(
        about = "Generate the autocompletion script for the specified shell",
        long_about = "Generate the autocompletion script for ha for the specified shell.\nSee each sub-command's help for details on how to use the generated script.",
        subcommand_required = true,
        arg_required_else_help = true
    )]
    Completion {
        #[command(subcommand)]
        command: complete::Command,
    },

    #[command(
        about = "Get information, update or configure the Home Assistant DNS server",
        long_about = dns::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha dns logs\n  ha dns info\n  ha dns update"
    )]
    Dns {
        #[command(subcommand)]
        command: dns::Command,
    },

    #[command(
        about = "Run a fleet of supervisors from its controller",
        long_about = fleet::LONG_ABOUT,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha fleet nodes\n  ha fleet start <template> --count 3\n  ha fleet instances"
    )]
    Fleet(fleet::Fleet),

    #[command(
        visible_alias = "do",
        about = "Docker backend specific for info and OCI configuration",
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha docker info\n  ha docker options\n  ha docker registries"
    )]
    Docker {
        #[command(subcommand)]
        command: docker::Command,
    },

    #[command(
        visible_alias = "hw",
        about = "Provides hardware information about your system",
        long_about = hardware::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha hardware info\n  ha hardware audio"
    )]
    Hardware {
        #[command(subcommand)]
        command: hardware::Command,
    },

    #[command(
        visible_alias = "ho",
        about = "Control the host/system that Home Assistant is running on",
        long_about = host::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha host reboot\n  ha host options --hostname \"homeassistant.local\""
    )]
    Host {
        #[command(subcommand)]
        command: host::Command,
    },

    #[command(
        visible_aliases = ["in", "inf"],
        about = "Provides a general Home Assistant information overview",
        long_about = root::INFO_LONG_ABOUT,
        after_help = "Examples:\n  ha info"
    )]
    Info,

    #[command(
        visible_aliases = ["job", "tasks", "task"],
        about = "Get information and manage running jobs",
        long_about = jobs::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true
    )]
    Jobs {
        #[command(subcommand)]
        command: jobs::Command,
    },

    #[command(
        visible_aliases = ["mount", "mnts", "mnt"],
        about = "Get information, update or configure mounts in Supervisor",
        long_about = mounts::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha mounts info\n  ha mounts add my_share --usage media --type cifs --server server.local --share media"
    )]
    Mounts {
        #[command(subcommand)]
        command: mounts::Command,
    },

    #[command(
        visible_aliases = ["mcast", "mc"],
        about = "Get information, update or configure the Home Assistant Multicast",
        long_about = multicast::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha multicast info\n  ha multicast update"
    )]
    Multicast {
        #[command(subcommand)]
        command: multicast::Command,
    },

    #[command(
        visible_alias = "net",
        about = "Network specific for updating, info and configuration imports",
        long_about = network::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha network info\n  ha network update eth0 --ipv4-method auto"
    )]
    Network {
        #[command(subcommand)]
        command: network::Command,
    },

    #[command(
        about = "Get information, update or configure the Home Assistant observer",
        long_about = observer::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha observer info\n  ha observer update"
    )]
    Observer {
        #[command(subcommand)]
        command: observer::Command,
    },

    #[command(
        visible_alias = os::DEPRECATED_ALIAS,
        about = "Operating System specific for updating, info and configuration imports",
        long_about = os::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha os info\n  ha os update"
    )]
    Os {
        #[command(subcommand)]
        command: os::Command,
    },

    #[command(
        visible_aliases = ["refresh", "refresh_updates"],
        about = "Reload stores and version information",
        long_about = "This command reloads information about app repositories and fetches new version files."
    )]
    RefreshUpdates,

    #[command(
        visible_aliases = ["resolutions", "res"],
        about = "Resolution center of Supervisor, show issues and suggest solutions",
        long_about = resolution::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true
    )]
    Resolution {
        #[command(subcommand)]
        command: resolution::Command,
    },

    #[command(
        visible_aliases = ["secure", "sec"],
        about = "Get information and manage security functionality",
        subcommand_required = true,
        arg_required_else_help = true
    )]
    Security {
        #[command(subcommand)]
        command: security::Command,
    },

    #[command(
        visible_aliases = ["shop", "stor"],
        about = "Install and update Home Assistant apps and manage stores",
        long_about = store::LONG_ABOUT,
        after_help = "Examples:\n  ha store apps install core_ssh\n  ha store add https://github.com/home-assistant/addons-example\n  ha store delete 94cfad5a\n  ha store reload"
    )]
    Store {
        #[command(subcommand)]
        command: Option<store::Command>,
    },

    #[command(
        visible_aliases = ["super", "su"],
        about = "Monitor, control and configure the Home Assistant Supervisor",
        long_about = supervisor::LONG_ABOUT,
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha supervisor reload\n  ha supervisor update\n  ha supervisor logs"
    )]
    Supervisor {
        #[command(subcommand)]
        command: supervisor::Command,
    },
}

/// What a command needs to talk to the supervisor and print its answer.
pub struct App {
    pub client: Client,
    pub raw_json: bool,
    pub no_progress: bool,
}

impl App {
    /// GET `path` and print the answer.
    pub async fn get(&self, path: &[&str]) -> Result<()> {
        let reply = self.client.call(Method::GET, path, &Body::new(), client::DEFAULT_TIMEOUT).await?;
        output::show(&reply, self.raw_json)
    }

    /// POST `body` to `path` and print the answer.
    pub async fn post(&self, path: &[&str], body: &Body, timeout: Duration) -> Result<()> {
        let reply = self.client.call(Method::POST, path, body, timeout).await?;
        output::show(&reply, self.raw_json)
    }

    /// DELETE `path` and print the answer.
    pub async fn delete(&self, path: &[&str]) -> Result<()> {
        let reply = self.client.call(Method::DELETE, path, &Body::new(), client::DEFAULT_TIMEOUT).await?;
        output::show(&reply, self.raw_json)
    }

    /// Like [`App::post`], with the real CLI's spinner while waiting.
    pub async fn post_spinning(&self, path: &[&str], body: &Body, timeout: Duration) -> Result<()> {
        let spinner = output::Spinner::start(self.no_progress);
        let reply = self.client.call(Method::POST, path, body, timeout).await;
        spinner.stop();
        output::show(&reply?, self.raw_json)
    }

    /// Runs a long action as a background job and follows it to its end.
    ///
    /// With `--raw-json` the action runs synchronously instead, so that the body printed is the
    /// action's own answer rather than a job id; `spinning` then says whether the real CLI shows
    /// its spinner for it. `timeout` only bounds that synchronous wait.
    pub async fn run_job(&self, path: &[&str], mut body: Body, timeout: Duration, spinning: bool) -> Result<()> {
        if self.raw_json {
            return if spinning {
                self.post_spinning(path, &body, timeout).await
            } else {
                self.post(path, &body, timeout).await
            };
        }
        body.insert("background".into(), Value::Bool(true));
        let reply = self.client.call(Method::POST, path, &body, timeout).await?;
        // A server without background jobs did the work already and answers as usual.
        let Some(job_id) = reply.data.get("job_id").and_then(Value::as_str) else {
            return output::show(&reply, false);
        };
        follow::follow(&self.client, job_id, self.no_progress).await?;
        output::write_stdout(format!("{}\n", output::COMPLETED).as_bytes())?;
        Ok(())
    }
}

/// Parses a boolean flag value the way the real CLI (Go's `strconv.ParseBool`) does.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        // Go's own words, which pflag puts after `invalid argument ... flag:`.
        _ => Err(format!("strconv.ParseBool: parsing {value:?}: invalid syntax")),
    }
}

/// The program name shown in help, taken from how it was called, as the real CLI does.
fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|arg0| std::path::Path::new(&arg0).file_name().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "ha".to_owned())
}

fn cli_command() -> clap::Command {
    Cli::command().bin_name(program_name())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(hook) =
        args.get(1).filter(|arg| [complete::COMPLETE, complete::COMPLETE_NO_DESC].contains(&arg.as_str()))
    {
        let answer = complete::run(cli_command(), &args[2..], hook == complete::COMPLETE);
        let _ = output::write_stdout(answer.as_bytes());
        return ExitCode::SUCCESS;
    }
    let cli = match cli_command().try_get_matches_from(&args).and_then(|matches| Cli::from_arg_matches(&matches)) {
        Ok(cli) => cli,
        Err(err) => return usage_error(err, &args[1..]),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            output::print_error(format_args!("cannot start: {err}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            output::print_error(format_args!("{err:#}"));
            ExitCode::FAILURE
        }
    }
}

/// Help goes to stdout with success, as cobra does for a group run without a subcommand; every
/// other usage error fails with 1, the only failure code the real CLI uses, in cobra's words.
fn usage_error(err: clap::Error, words: &[String]) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = output::write_stdout(err.render().to_string().as_bytes());
            ExitCode::SUCCESS
        }
        // Also a group run alone, when a flag or a SUPERVISOR_* variable kept clap from seeing
        // it as a bare call.
        ErrorKind::MissingSubcommand => {
            let mut root = cli_command();
            root.build();
            let mut group = complete::walk(&root, words).command.clone();
            let _ = output::write_stdout(group.render_help().to_string().as_bytes());
            ExitCode::SUCCESS
        }
        _ => {
            let (message, hint) = usage::message(&err, &cli_command(), &program_name(), words);
            output::print_error(message);
            output::print_notice(hint);
            ExitCode::FAILURE
        }
    }
}

/// A reader that stops early (`ha supervisor logs | head`) is not a failure.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

async fn run(cli: Cli) -> Result<()> {
    let settings = cli.global.resolve()?;
    let app = App {
        client: Client::new(settings.endpoint, settings.token.as_deref())?,
        raw_json: settings.raw_json,
        no_progress: settings.no_progress,
    };
    let result = dispatch(&app, cli.command).await;
    if app.raw_json {
        // The envelope of a refusal is still the JSON a script asked for.
        if let Some(api) = result.as_ref().err().and_then(|err| err.downcast_ref::<ApiError>()) {
            if let Some(body) = &api.body {
                output::write_stdout(body)?;
                if api.raw_is_success {
                    return Ok(());
                }
            }
        }
    }
    result
}

async fn dispatch(app: &App, command: Command) -> Result<()> {
    print_deprecation_notices(&command);
    match command {
        Command::Admin { command } => command.run(app).await,
        Command::Apps { command: None } => apps::list(app).await,
        Command::Apps { command: Some(command) } => command.run(app).await,
        Command::Store { command: None } => store::info(app).await,
        Command::Store { command: Some(command) } => command.run(app).await,
        Command::AvailableUpdates => root::available_updates(app).await,
        Command::Backups { command: None } => backups::info(app).await,
        Command::Backups { command: Some(command) } => command.run(app).await,
        Command::Info => root::info(app).await,
        Command::Audio { command } => command.run(app).await,
        Command::Authentication { command } => command.run(app).await,
        Command::Cli { command } => command.run(app).await,
        Command::Dns { command } => command.run(app).await,
        Command::Multicast { command } => command.run(app).await,
        Command::Observer { command } => command.run(app).await,
        Command::Core { command } => command.run(app).await,
        Command::RefreshUpdates => root::refresh_updates(app).await,
        Command::Docker { command } => command.run(app).await,
        Command::Fleet(fleet) => fleet.run(app.raw_json).await,
        Command::Hardware { command } => command.run(app).await,
        Command::Host { command } => command.run(app).await,
        Command::Jobs { command } => command.run(app).await,
        Command::Mounts { command } => command.run(app).await,
        Command::Network { command } => command.run(app).await,
        Command::Os { command } => command.run(app).await,
        Command::Resolution { command } => command.run(app).await,
        Command::Security { command } => command.run(app).await,
        Command::Supervisor { command } => command.run(app).await,
        Command::Banner(args) => banner::show(app, &args).await,
        Command::Completion { command } => Ok(output::write_stdout(command.script(&program_name()).as_bytes())?),
    }
}

/// The real CLI tells on stderr when an app group is called by one of its old names.
fn print_deprecation_notices(command: &Command) {
    if let Command::Backups { .. } = command {
        let args: Vec<String> = std::env::args().collect();
        for notice in backups::deprecation_notices(&args) {
            output::print_notice(notice);
        }
        return;
    }
    if let Command::Os { .. } = command {
        let args: Vec<String> = std::env::args().collect();
        if let Some(notice) = os::deprecation_notice(&args) {
            output::print_notice(notice);
        }
        return;
    }
    if let Command::Core { .. } = command {
        let args: Vec<String> = std::env::args().collect();
        for arg in args.iter().skip(1).filter(|arg| core::DEPRECATED_ALIASES.contains(&arg.as_str())) {
            output::print_notice(format!("The use of '{arg}' is deprecated, please use 'core' instead!"));
        }
        return;
    }
    let deprecated: &[&str] = match command {
        Command::Apps { .. } => &apps::DEPRECATED_ALIASES,
        Command::Store { command: Some(store::Command::Apps { .. }) } => &store::DEPRECATED_APPS_ALIASES,
        _ => return,
    };
    let args: Vec<String> = std::env::args().collect();
    for notice in apps::deprecation_notices(&args, deprecated) {
        output::print_notice(notice);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn booleans_parse_like_go() {
        assert_eq!(parse_bool("True"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert!(parse_bool("yes").is_err());
    }
}

/// Our command tree against the real CLI's, as listed in `upstream_tree.tsv`.
#[cfg(test)]
mod upstream_tree {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// Aliases and flags of one command.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Entry {
        aliases: BTreeSet<String>,
        flags: BTreeSet<String>,
    }

    fn upstream() -> BTreeMap<String, Entry> {
        include_str!("upstream_tree.tsv")
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let mut fields = line.split('\t');
                let path = fields.next().unwrap().to_owned();
                let name = path.rsplit(' ').next().unwrap();
                let set = |field: Option<&str>, skip: &str| -> BTreeSet<String> {
                    field
                        .unwrap_or_default()
                        .split(',')
                        .filter(|x| !x.is_empty() && *x != skip)
                        .map(str::to_owned)
                        .collect()
                };
                // The real CLI lists `backups` among the aliases of `backups`; a name is no alias.
                let aliases = set(fields.next(), name);
                let flags = set(fields.next(), "");
                (path, Entry { aliases, flags })
            })
            .collect()
    }

    fn ours() -> BTreeMap<String, Entry> {
        fn walk(command: &clap::Command, prefix: &str, out: &mut BTreeMap<String, Entry>) {
            for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
                let path =
                    if prefix.is_empty() { sub.get_name().to_owned() } else { format!("{prefix} {}", sub.get_name()) };
                let flags = sub
                    .get_arguments()
                    .filter(|arg| !arg.is_global_set())
                    .filter_map(|arg| {
                        let mut flag = arg.get_long()?.to_owned();
                        if let Some(short) = arg.get_short() {
                            flag.push('/');
                            flag.push(short);
                        }
                        if arg.is_hide_set() {
                            flag.push_str("!hidden");
                        }
                        Some(flag)
                    })
                    .collect();
                let aliases = sub.get_all_aliases().map(str::to_owned).collect();
                out.insert(path.clone(), Entry { aliases, flags });
                walk(sub, &path, out);
            }
        }
        let mut out = BTreeMap::new();
        walk(&Cli::command(), "", &mut out);
        out
    }

    /// Where we differ on purpose, each with its reason.
    const OURS_ONLY: &[(&str, &str)] = &[
        // Cobra adds these itself, so they are not in the real CLI's sources.
        ("completion", "cobra's built-in completion command"),
        ("completion bash", "cobra's built-in completion command"),
        ("completion fish", "cobra's built-in completion command"),
        ("completion powershell", "cobra's built-in completion command"),
        ("completion zsh", "cobra's built-in completion command"),
        ("host services", "the Supervisor's /host/services, which the real CLI has no command for"),
        ("admin", "the admin web UI this supervisor serves, which the real one has not"),
        ("admin login", "the admin web UI this supervisor serves, which the real one has not"),
        ("admin logout-all", "the admin web UI this supervisor serves, which the real one has not"),
        ("fleet", "the fleet controller this project has, which the real one has not"),
        ("fleet status", "the fleet controller this project has, which the real one has not"),
        ("fleet nodes", "the fleet controller this project has, which the real one has not"),
        ("fleet node-config", "the fleet controller this project has, which the real one has not"),
        ("fleet groups", "the fleet controller this project has, which the real one has not"),
        ("fleet templates", "the fleet controller this project has, which the real one has not"),
        ("fleet instances", "the fleet controller this project has, which the real one has not"),
        ("fleet start", "the fleet controller this project has, which the real one has not"),
        ("fleet terminate", "the fleet controller this project has, which the real one has not"),
        ("fleet restart", "the fleet controller this project has, which the real one has not"),
        ("fleet distribute", "the fleet controller this project has, which the real one has not"),
    ];

    /// Aliases the real CLI has that clap cannot take.
    const MISSING_ALIASES: &[(&str, &str, &str)] = &[
        // `ha core st` reaches `core start` in the real CLI (the first match wins); clap refuses an
        // alias given to two commands.
        ("core stats", "st", "taken by core start"),
    ];

    #[test]
    fn the_command_tree_matches_the_real_cli() {
        let upstream = upstream();
        let mut ours = ours();
        let mut problems = Vec::new();
        for (path, _) in OURS_ONLY {
            assert!(ours.remove(*path).is_some(), "{path} is listed as ours only but does not exist");
        }
        for (path, expected) in &upstream {
            let Some(entry) = ours.remove(path) else {
                problems.push(format!("missing command: {path}"));
                continue;
            };
            let mut expected_aliases = expected.aliases.clone();
            for (missing_path, alias, _) in MISSING_ALIASES {
                if missing_path == path {
                    expected_aliases.remove(*alias);
                }
            }
            if entry.aliases != expected_aliases {
                problems.push(format!("{path}: aliases {:?}, the real CLI has {expected_aliases:?}", entry.aliases));
            }
            if entry.flags != expected.flags {
                problems.push(format!("{path}: flags {:?}, the real CLI has {:?}", entry.flags, expected.flags));
            }
        }
        problems.extend(ours.keys().map(|path| format!("command the real CLI does not have: {path}")));
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn the_global_flags_match_the_real_cli() {
        let command = Cli::command();
        let globals: BTreeSet<&str> =
            command.get_arguments().filter(|arg| arg.is_global_set()).filter_map(|arg| arg.get_long()).collect();
        let expected = BTreeSet::from(["config", "endpoint", "log-level", "api-token", "raw-json", "no-progress"]);
        assert_eq!(globals, expected);
    }
}
