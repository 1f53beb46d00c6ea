//! Shell completion as cobra, the real CLI's framework, does it: `ha completion <shell>` prints a
//! small script, and the script calls back `ha __complete <words…>` (or `__completeNoDesc`) at
//! each Tab. The answer is one candidate per line, `value` or `value<TAB>description`, then a
//! `:<directive>` line. Because the candidates come from the running program, the names of apps,
//! backups, interfaces, repositories and mounts come live from the API.
//!
//! Only command names are offered, not their aliases, and flags only once a `-` is typed, so that
//! a Tab after `ha ` lists each command once.

use crate::client::{Body, Client, DEFAULT_TIMEOUT};
use crate::config::GlobalArgs;
use anyhow::Result;
use clap::{Arg, Args, Parser, Subcommand};
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

/// The hidden command the scripts call, with descriptions.
pub const COMPLETE: &str = "__complete";
/// The same without descriptions, for `--no-descriptions` scripts.
pub const COMPLETE_NO_DESC: &str = "__completeNoDesc";

/// Cobra's directive bits.
const NO_SPACE: u32 = 2;
const NO_FILE_COMP: u32 = 4;

/// A completion script takes long enough without waiting for a slow Supervisor.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Subcommand)]
pub enum Command {
    #[command(about = "Generate the autocompletion script for bash")]
    Bash(ScriptArgs),
    #[command(about = "Generate the autocompletion script for fish")]
    Fish(ScriptArgs),
    #[command(about = "Generate the autocompletion script for powershell")]
    Powershell(ScriptArgs),
    #[command(about = "Generate the autocompletion script for zsh")]
    Zsh(ScriptArgs),
}

#[derive(Args)]
pub struct ScriptArgs {
    /// disable completion descriptions
    #[arg(long)]
    no_descriptions: bool,
}

impl Command {
    /// The script for `program`, the name the program was called by.
    pub fn script(&self, program: &str) -> String {
        let (template, args) = match self {
            Command::Bash(args) => (BASH, args),
            Command::Fish(args) => (FISH, args),
            Command::Powershell(args) => (POWERSHELL, args),
            Command::Zsh(args) => (ZSH, args),
        };
        let hook = if args.no_descriptions { COMPLETE_NO_DESC } else { COMPLETE };
        let function = format!("__{}_complete", program.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
        template.replace("@PROGRAM@", program).replace("@HOOK@", hook).replace("@FUNCTION@", function.as_str())
    }
}

// The scripts hand every word up to the cursor to the program and offer what it answers; with
// directive bit 4 they do not fall back to file names.
const BASH: &str = r#"# bash completion for @PROGRAM@
@FUNCTION@() {
    local IFS=$'\n' out directive
    out=$("${COMP_WORDS[0]}" @HOOK@ "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return
    directive=${out##*:}
    out=${out%:*}
    COMPREPLY=()
    local line
    for line in $out; do
        COMPREPLY+=("${line%%$'\t'*}")
    done
    if (( directive & 2 )); then compopt -o nospace; fi
    if (( ${#COMPREPLY[@]} == 0 )) && (( (directive & 4) == 0 )); then
        COMPREPLY=($(compgen -f -- "${COMP_WORDS[COMP_CWORD]}"))
    fi
}
complete -o nosort -F @FUNCTION@ @PROGRAM@ 2>/dev/null || complete -F @FUNCTION@ @PROGRAM@
"#;

const ZSH: &str = r#"#compdef @PROGRAM@
# zsh completion for @PROGRAM@
@FUNCTION@() {
    local -a lines candidates
    local directive line
    lines=("${(@f)$(${words[1]} @HOOK@ ${words[2,CURRENT]} 2>/dev/null)}")
    directive=${lines[-1]#:}
    for line in ${lines[1,-2]}; do
        candidates+=("${${line%%$'\t'*}//:/\\:}${${line#*$'\t'}:+:${line#*$'\t'}}")
    done
    if (( ${#candidates} )); then
        _describe -V @PROGRAM@ candidates
    elif (( (directive & 4) == 0 )); then
        _files
    fi
}
compdef @FUNCTION@ @PROGRAM@
"#;

const FISH: &str = r#"# fish completion for @PROGRAM@
function @FUNCTION@
    set -l words (commandline -opc)
    set -l current (commandline -ct)
    set -l out ($words[1] @HOOK@ $words[2..-1] $current 2>/dev/null)
    for line in $out[1..-2]
        echo $line
    end
end
complete -c @PROGRAM@ -f -a '(@FUNCTION@)'
"#;

const POWERSHELL: &str = r#"# powershell completion for @PROGRAM@
Register-ArgumentCompleter -Native -CommandName '@PROGRAM@' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $words = @($commandAst.CommandElements | Select-Object -Skip 1 | ForEach-Object { $_.ToString() })
    if ($wordToComplete -eq '') { $words += '""' }
    $out = & '@PROGRAM@' @HOOK@ @words 2>$null
    $out | Select-Object -SkipLast 1 | ForEach-Object {
        $value, $description = $_ -split "`t", 2
        if (-not $description) { $description = $value }
        [System.Management.Automation.CompletionResult]::new($value, $value, 'ParameterValue', $description)
    }
}
"#;

/// What to offer for the word under the cursor.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    /// Subcommand names of the command reached.
    Subcommands,
    /// The flags of the command reached.
    Flags,
    /// A value of the flag with this id.
    FlagValue(String),
    /// A value of the flag with this id typed in the same word, after `--name=`.
    InlineFlagValue(String),
    /// The `index`th positional argument of the command at `path`.
    Positional { path: Vec<String>, index: usize },
}

/// One candidate: a value and an optional description.
type Candidate = (String, Option<String>);

/// Answers `ha __complete <words…>`: `words` are the arguments after the hook, the last one the
/// (possibly empty) word being completed.
pub fn run(mut root: clap::Command, words: &[String], descriptions: bool) -> String {
    root.build();
    let (current, done) = match words.split_last() {
        Some((current, done)) => (current.as_str(), done),
        None => ("", &[][..]),
    };
    let (command, want) = locate(&root, done, current);
    let mut directive = NO_FILE_COMP;
    let candidates: Vec<Candidate> = match &want {
        Want::Subcommands => {
            // Sorted by name, as cobra lists commands; cobra has `help` at the top only.
            let top = std::ptr::eq(command, &root);
            let mut names: Vec<Candidate> = command
                .get_subcommands()
                .filter(|sub| !sub.is_hide_set() && (top || sub.get_name() != "help"))
                .map(|sub| (sub.get_name().to_owned(), sub.get_about().map(|about| about.to_string())))
                .collect();
            names.sort();
            names
        }
        Want::Flags => flags(command, current),
        Want::InlineFlagValue(id) => {
            let arg = command.get_arguments().find(|arg| arg.get_id().as_str() == id);
            let prefix = current.split_once('=').map_or(current, |(flag, _)| flag);
            let values = arg.map(|arg| flag_values(&global_args(done), arg)).unwrap_or_default();
            values.into_iter().map(|(value, help)| (format!("{prefix}={value}"), help)).collect()
        }
        Want::FlagValue(id) => {
            let arg = command.get_arguments().find(|arg| arg.get_id().as_str() == id);
            if id == "config" {
                // Files are what the shell offers when no candidates and no directive say otherwise.
                directive = 0;
            }
            arg.map(|arg| flag_values(&global_args(done), arg)).unwrap_or_default()
        }
        Want::Positional { path, index } => positional(&global_args(done), path, *index),
    };
    if candidates.iter().any(|(value, _)| value.ends_with('=')) {
        directive |= NO_SPACE;
    }
    let mut out = String::new();
    for (value, description) in candidates.into_iter().filter(|(value, _)| value.starts_with(current)) {
        out.push_str(&value);
        if let Some(description) = description.filter(|text| descriptions && !text.is_empty()) {
            out.push('\t');
            // One line per candidate: only the first line of a description.
            out.push_str(description.lines().next().unwrap_or_default());
        }
        out.push('\n');
    }
    out.push_str(&format!(":{directive}\n"));
    out
}

/// Where a list of words leads in the command tree.
pub(crate) struct Position<'a> {
    pub command: &'a clap::Command,
    /// The names of the commands on the way, without the program's.
    pub path: Vec<String>,
    /// How many positional arguments the reached command got.
    pub positionals: usize,
    /// The flag the last word was, when it waits for its value.
    pub pending_value: Option<&'a Arg>,
}

/// Walks `words` down the tree of `root`, which must be built (`Command::build`) so that every
/// command knows the global flags.
pub(crate) fn walk<'a>(root: &'a clap::Command, words: &[String]) -> Position<'a> {
    let mut at = Position { command: root, path: Vec::new(), positionals: 0, pending_value: None };
    for word in words {
        if at.pending_value.take().is_some() {
            continue;
        }
        if let Some(long) = word.strip_prefix("--") {
            if !long.contains('=') {
                at.pending_value =
                    at.command.get_arguments().find(|arg| arg.get_long() == Some(long)).filter(|a| needs_value(a));
            }
            continue;
        }
        if let Some(shorts) = word.strip_prefix('-').filter(|shorts| !shorts.is_empty()) {
            // `-abc` is a cluster of flags; only a lone one takes the next word as its value.
            let last = shorts.chars().last();
            at.pending_value = at
                .command
                .get_arguments()
                .find(|arg| arg.get_short().is_some() && arg.get_short() == last)
                .filter(|arg| needs_value(arg) && shorts.chars().count() == 1);
            continue;
        }
        if at.positionals == 0 {
            if let Some(sub) = at.command.find_subcommand(word) {
                at.command = sub;
                at.path.push(sub.get_name().to_owned());
                continue;
            }
        }
        at.positionals += 1;
    }
    at
}

/// Walks the words already typed down the command tree, and says what the current one is.
fn locate<'a>(root: &'a clap::Command, done: &[String], current: &str) -> (&'a clap::Command, Want) {
    let at = walk(root, done);
    let command = at.command;
    if let Some(arg) = at.pending_value {
        return (command, Want::FlagValue(arg.get_id().to_string()));
    }
    if let Some((long, _)) = current.strip_prefix("--").and_then(|flag| flag.split_once('=')) {
        if let Some(arg) = command.get_arguments().find(|arg| arg.get_long() == Some(long)) {
            return (command, Want::InlineFlagValue(arg.get_id().to_string()));
        }
    }
    if current.starts_with('-') {
        return (command, Want::Flags);
    }
    if command.get_subcommands().any(|sub| !sub.is_hide_set()) && at.positionals == 0 {
        return (command, Want::Subcommands);
    }
    (command, Want::Positional { path: at.path, index: at.positionals })
}

/// A flag that takes the next word as its value (`--name value`), unlike switches and the
/// `--flag[=BOOL]` kind.
fn needs_value(arg: &Arg) -> bool {
    arg.get_action().takes_values() && arg.get_num_args().is_some_and(|range| range.min_values() > 0)
}

fn flags(command: &clap::Command, current: &str) -> Vec<Candidate> {
    let mut out = Vec::new();
    for arg in command.get_arguments().filter(|arg| !arg.is_hide_set()) {
        let help = arg.get_help().map(|help| help.to_string());
        if let Some(long) = arg.get_long() {
            out.push((format!("--{long}"), help.clone()));
        }
        // Short forms only for a bare `-`, as cobra offers them.
        if let (Some(short), "-") = (arg.get_short(), current) {
            out.push((format!("-{short}"), help));
        }
    }
    out
}

/// The global flags among the words, so that lookups go to the Supervisor the command would.
fn global_args(done: &[String]) -> GlobalArgs {
    #[derive(Parser)]
    struct Globals {
        #[command(flatten)]
        global: GlobalArgs,
    }
    let mut picked = vec!["ha".to_owned()];
    let mut words = done.iter();
    while let Some(word) = words.next() {
        for name in ["--endpoint", "--api-token", "--config"] {
            if word == name {
                picked.push(word.clone());
                picked.extend(words.next().cloned());
            } else if word.starts_with(&format!("{name}=")) {
                picked.push(word.clone());
            }
        }
    }
    Globals::try_parse_from(&picked)
        .or_else(|_| Globals::try_parse_from(["ha"]))
        .map(|parsed| parsed.global)
        .expect("no flags always parse")
}

fn flag_values(global: &GlobalArgs, arg: &Arg) -> Vec<Candidate> {
    let possible: Vec<Candidate> = arg
        .get_possible_values()
        .into_iter()
        .filter(|value| !value.is_hide_set())
        .map(|value| (value.get_name().to_owned(), value.get_help().map(|help| help.to_string())))
        .collect();
    if !possible.is_empty() {
        return possible;
    }
    match arg.get_id().as_str() {
        // slog's names, which the real CLI offers.
        "log_level" => ["DEBUG", "INFO", "WARN", "ERROR"].iter().map(|level| ((*level).to_owned(), None)).collect(),
        // `ha backups new --app` and `restore --app`.
        "app" | "addons" => lookup(global, Lookup::Apps(AppFilter::Any)),
        "location" => {
            let mut out = vec![(".local".to_owned(), Some("Local storage, /backups".to_owned()))];
            out.extend(lookup(global, Lookup::BackupMounts));
            out
        }
        _ => Vec::new(),
    }
}

/// The API lookups positional arguments complete from.
enum Lookup {
    Apps(AppFilter),
    StoreApps { installed: bool },
    Backups,
    Interfaces,
    Repositories,
    Mounts,
    BackupMounts,
    Registries,
}

/// Which installed apps an app command can act on, as the real CLI narrows them.
enum AppFilter {
    Any,
    NotStarted,
    NotStopped,
    Buildable,
    Updatable,
}

fn positional(global: &GlobalArgs, path: &[String], index: usize) -> Vec<Candidate> {
    if index != 0 {
        return Vec::new();
    }
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let what = match path.as_slice() {
        ["apps", "start"] => Lookup::Apps(AppFilter::NotStarted),
        ["apps", "stop"] => Lookup::Apps(AppFilter::NotStopped),
        ["apps", "rebuild"] => Lookup::Apps(AppFilter::Buildable),
        ["apps", "update"] => Lookup::Apps(AppFilter::Updatable),
        ["apps", "changelog" | "info" | "logs" | "restart" | "stats" | "uninstall"] => Lookup::Apps(AppFilter::Any),
        ["apps", "install"] | ["store", "apps", "install"] => Lookup::StoreApps { installed: false },
        ["store", "apps", "update"] => Lookup::StoreApps { installed: true },
        ["backups", "info" | "remove" | "restore"] => Lookup::Backups,
        ["network", "info" | "scan" | "update" | "vlan"] => Lookup::Interfaces,
        ["store", "delete" | "repair"] => Lookup::Repositories,
        ["mounts", "update" | "delete" | "reload"] => Lookup::Mounts,
        ["docker", "registries", "delete"] => Lookup::Registries,
        _ => return Vec::new(),
    };
    lookup(global, what)
}

/// Asks the Supervisor; a completion that cannot reach it offers nothing rather than failing.
fn lookup(global: &GlobalArgs, what: Lookup) -> Vec<Candidate> {
    let path: &[&str] = match what {
        Lookup::Apps(_) => &["addons"],
        Lookup::StoreApps { .. } | Lookup::Repositories => &["store"],
        Lookup::Backups => &["backups"],
        Lookup::Interfaces => &["network", "info"],
        Lookup::Mounts | Lookup::BackupMounts => &["mounts"],
        Lookup::Registries => &["docker", "registries"],
    };
    let Ok(data) = fetch(global, path) else {
        return Vec::new();
    };
    candidates_from(&what, &data)
}

fn fetch(global: &GlobalArgs, path: &[&str]) -> Result<Value> {
    let settings = global.resolve()?;
    let client = Client::new(settings.endpoint, settings.token.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let reply = runtime.block_on(client.call(Method::GET, path, &Body::new(), LOOKUP_TIMEOUT.min(DEFAULT_TIMEOUT)))?;
    Ok(reply.data)
}

/// The candidates in one answer of the API.
fn candidates_from(what: &Lookup, data: &Value) -> Vec<Candidate> {
    let list = |key: &str| data.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let text = |item: &Value, key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
    let flag = |item: &Value, key: &str| item.get(key).and_then(Value::as_bool);
    // `slug<TAB>name, url`, the description the real CLI shows.
    let described = |item: &Value, id: &str, keys: &[&str]| -> Option<Candidate> {
        let value = text(item, id)?;
        let parts: Vec<String> =
            keys.iter().filter_map(|key| text(item, key)).filter(|part| !part.is_empty()).collect();
        Some((value, (!parts.is_empty()).then(|| parts.join(", "))))
    };
    match what {
        Lookup::Apps(filter) => list("addons")
            .iter()
            .filter(|app| match filter {
                AppFilter::Any => true,
                AppFilter::NotStarted => text(app, "state").as_deref() != Some("started"),
                AppFilter::NotStopped => text(app, "state").as_deref() != Some("stopped"),
                AppFilter::Buildable => flag(app, "build") != Some(false),
                AppFilter::Updatable => flag(app, "update_available") != Some(false),
            })
            .filter_map(|app| described(app, "slug", &["name", "url"]))
            .collect(),
        Lookup::StoreApps { installed } => list("addons")
            .iter()
            .filter(|app| flag(app, "installed").unwrap_or(false) == *installed)
            .filter(|app| !installed || flag(app, "update_available") != Some(false))
            .filter_map(|app| described(app, "slug", &["name", "url"]))
            .collect(),
        Lookup::Backups => {
            list("backups").iter().filter_map(|backup| described(backup, "slug", &["name", "date", "type"])).collect()
        }
        Lookup::Interfaces => {
            list("interfaces").iter().filter_map(|iface| described(iface, "interface", &[])).collect()
        }
        Lookup::Repositories => {
            list("repositories").iter().filter_map(|repo| described(repo, "slug", &["name", "url"])).collect()
        }
        Lookup::Mounts => {
            list("mounts").iter().filter_map(|mount| described(mount, "name", &["usage", "type"])).collect()
        }
        Lookup::BackupMounts => list("mounts")
            .iter()
            .filter(|mount| text(mount, "usage").as_deref() == Some("backup"))
            .filter_map(|mount| described(mount, "name", &["server", "share", "path"]))
            .collect(),
        Lookup::Registries => data
            .get("registries")
            .and_then(Value::as_object)
            .map(|registries| registries.keys().map(|name| (name.clone(), None)).collect())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(line: &str) -> Vec<String> {
        let mut words: Vec<String> = line.split(' ').map(str::to_owned).collect();
        if line.is_empty() {
            words = vec![String::new()];
        }
        words
    }

    fn want(line: &str) -> Want {
        let mut root = crate::cli_command();
        root.build();
        let all = words(line);
        let (current, done) = all.split_last().unwrap();
        locate(&root, done, current).1
    }

    #[test]
    fn the_word_under_the_cursor_is_located() {
        assert_eq!(want(""), Want::Subcommands);
        assert_eq!(want("back"), Want::Subcommands);
        assert_eq!(want("backups "), Want::Subcommands);
        assert_eq!(want("bk info "), Want::Positional { path: vec!["backups".into(), "info".into()], index: 0 });
        assert_eq!(want("bk info abc "), Want::Positional { path: vec!["backups".into(), "info".into()], index: 1 });
        assert_eq!(want("backups new --app "), Want::FlagValue("app".into()));
        assert_eq!(want("backups new -a "), Want::FlagValue("app".into()));
        assert_eq!(want("--log-level "), Want::FlagValue("log_level".into()));
        assert_eq!(
            want("--endpoint x apps logs -n 5 "),
            Want::Positional { path: vec!["apps".into(), "logs".into()], index: 0 }
        );
        assert_eq!(
            want("apps logs --follow "),
            Want::Positional { path: vec!["apps".into(), "logs".into()], index: 0 }
        );
        assert_eq!(want("network update --"), Want::Flags);
        assert_eq!(want("backups new --location=."), Want::InlineFlagValue("location".into()));
        // Port 9 refuses at once: the lookup of backup mounts finds none.
        let out = run(crate::cli_command(), &words("--endpoint 127.0.0.1:9 backups new --location=.l"), false);
        assert_eq!(out, "--location=.local\n:4\n");
    }

    #[test]
    fn only_command_names_are_offered_with_their_descriptions() {
        let out = run(crate::cli_command(), &words("ba"), true);
        assert_eq!(out, "backups\tCreate, restore and remove backups\nbanner\tPrints the Home Assistant banner along with some useful information\n:4\n");
        let out = run(crate::cli_command(), &words("snap"), true);
        assert_eq!(out, ":4\n", "aliases are not offered");
        let out = run(crate::cli_command(), &words("ba"), false);
        assert_eq!(out, "backups\nbanner\n:4\n");
        let out = run(crate::cli_command(), &words("he"), false);
        assert_eq!(out, "help\n:4\n");
        let out = run(crate::cli_command(), &words("backups "), false);
        assert!(out.starts_with("freeze\ninfo\n"), "{out}");
    }

    #[test]
    fn flags_only_after_a_dash() {
        let out = run(crate::cli_command(), &words("backups new --na"), false);
        assert_eq!(out, "--name\n:4\n");
        let out = run(crate::cli_command(), &words("host logs -"), false);
        assert!(out.contains("--identifier\n") && out.contains("-t\n") && out.contains("--raw-json\n"), "{out}");
    }

    #[test]
    fn api_answers_become_candidates() {
        let apps = json!({"addons": [
            {"slug": "core_ssh", "name": "SSH", "state": "started", "build": false, "update_available": true},
            {"slug": "local_x", "name": "X", "url": "https://x", "state": "stopped", "build": true, "update_available": false},
        ]});
        let slugs = |filter| candidates_from(&Lookup::Apps(filter), &apps).into_iter().map(|c| c.0).collect::<Vec<_>>();
        assert_eq!(slugs(AppFilter::Any), ["core_ssh", "local_x"]);
        assert_eq!(slugs(AppFilter::NotStarted), ["local_x"]);
        assert_eq!(slugs(AppFilter::NotStopped), ["core_ssh"]);
        assert_eq!(slugs(AppFilter::Buildable), ["local_x"]);
        assert_eq!(slugs(AppFilter::Updatable), ["core_ssh"]);
        assert_eq!(
            candidates_from(&Lookup::Apps(AppFilter::Any), &apps)[1],
            ("local_x".to_owned(), Some("X, https://x".to_owned()))
        );
        let interfaces = json!({"interfaces": [{"interface": "eth0"}, {"interface": "wlan0"}]});
        assert_eq!(candidates_from(&Lookup::Interfaces, &interfaces), [("eth0".into(), None), ("wlan0".into(), None)]);
        let store = json!({"repositories": [{"slug": "a0d7b954", "name": "Community", "url": "https://c"}]});
        assert_eq!(
            candidates_from(&Lookup::Repositories, &store),
            [("a0d7b954".into(), Some("Community, https://c".into()))]
        );
    }

    #[test]
    fn the_bash_script_is_valid_bash() {
        let script = Command::Bash(ScriptArgs { no_descriptions: false }).script("ha");
        let status = std::process::Command::new("bash").args(["-n", "-c", &script]).status().expect("bash runs");
        assert!(status.success(), "{script}");
    }

    #[test]
    fn scripts_call_the_right_hook() {
        let bash = Command::Bash(ScriptArgs { no_descriptions: true }).script("ha");
        assert!(bash.contains("ha __completeNoDesc") || bash.contains(" __completeNoDesc "), "{bash}");
        assert!(bash.contains("complete -o nosort -F __ha_complete ha"));
        let zsh = Command::Zsh(ScriptArgs { no_descriptions: false }).script("ha");
        assert!(zsh.starts_with("#compdef ha\n") && zsh.contains(" __complete "));
    }
}
