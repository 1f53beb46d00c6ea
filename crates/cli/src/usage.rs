//! Usage errors in the words of cobra, the real CLI's framework (`unknown flag: --x`,
//! `accepts 1 arg(s), received 0`, ...), followed by where to find help. Clap finds the error;
//! this module only rewords it. No usage line is printed, so nothing taken from the environment
//! (`SUPERVISOR_ENDPOINT`, ...) shows up in an error.

use crate::complete::{walk, Position};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Arg;
use std::any::TypeId;
use std::error::Error;
use std::num::{IntErrorKind, ParseIntError};

/// The lines printed for `err`, which parsing `words` (the arguments after the program name)
/// against `root` gave: the message, then `Run '<command> --help' for usage.`
pub fn message(err: &clap::Error, root: &clap::Command, program: &str, words: &[String]) -> (String, String) {
    let mut root = root.clone();
    root.build();
    let at = walk(&root, words);
    let command_path = std::iter::once(program.to_owned()).chain(at.path.iter().cloned()).collect::<Vec<_>>().join(" ");
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(text)) => Some(text.clone()),
        Some(ContextValue::Strings(texts)) => texts.first().cloned(),
        _ => None,
    };
    let fallback = || {
        // clap's own first line, without its `error: ` prefix.
        let rendered = err.render().to_string();
        let line = rendered.lines().next().unwrap_or_default();
        line.strip_prefix("error: ").unwrap_or(line).to_owned()
    };
    let message = match err.kind() {
        ErrorKind::InvalidSubcommand => {
            let name = context(ContextKind::InvalidSubcommand).unwrap_or_default();
            let mut text = format!("unknown command \"{name}\" for \"{command_path}\"");
            let suggestions = suggestions(at.command, &name);
            if !suggestions.is_empty() {
                text.push_str("\n\nDid you mean this?\n");
                for suggestion in suggestions {
                    text.push_str(&format!("\t{suggestion}\n"));
                }
            }
            text
        }
        ErrorKind::UnknownArgument => {
            let word = context(ContextKind::InvalidArg).unwrap_or_default();
            if let Some(long) = word.strip_prefix("--") {
                format!("unknown flag: --{}", long.split('=').next().unwrap_or_default())
            } else if let Some(short) = word.strip_prefix('-').and_then(|shorts| shorts.chars().next()) {
                format!("unknown shorthand flag: '{short}' in {word}")
            } else {
                argument_count(&at).unwrap_or_else(|| format!("unknown command \"{word}\" for \"{command_path}\""))
            }
        }
        ErrorKind::MissingRequiredArgument => {
            let missing: Vec<String> = match err.get(ContextKind::InvalidArg) {
                Some(ContextValue::Strings(names)) => names.clone(),
                _ => Vec::new(),
            };
            let flags: Vec<String> = missing
                .iter()
                .filter(|name| name.starts_with('-'))
                .map(|name| format!("\"{}\"", flag_name(name)))
                .collect();
            if flags.is_empty() {
                argument_count(&at).unwrap_or_else(fallback)
            } else {
                format!("required flag(s) {} not set", flags.join(", "))
            }
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let arg_text = context(ContextKind::InvalidArg).unwrap_or_default();
            let value = context(ContextKind::InvalidValue).unwrap_or_default();
            let arg = find_flag(at.command, &arg_text);
            match arg {
                Some(arg) if value.is_empty() && err.kind() == ErrorKind::InvalidValue => {
                    format!("flag needs an argument: {}", used_form(arg, words))
                }
                Some(arg) => {
                    let reason = err.source().map(|source| go_reason(arg, &value, source)).unwrap_or_else(|| {
                        let valid = match err.get(ContextKind::ValidValue) {
                            Some(ContextValue::Strings(values)) => values.join(", "),
                            _ => String::new(),
                        };
                        format!("must be one of {valid}")
                    });
                    format!("invalid argument \"{value}\" for \"{}\" flag: {reason}", flag_display(arg))
                }
                None => fallback(),
            }
        }
        _ => fallback(),
    };
    (message, format!("Run '{command_path} --help' for usage."))
}

/// The commands cobra suggests for a mistyped one: those within two edits, or starting with it.
fn suggestions(command: &clap::Command, typed: &str) -> Vec<String> {
    let typed = typed.to_lowercase();
    command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .map(|sub| sub.get_name())
        .filter(|name| edit_distance(&name.to_lowercase(), &typed) <= 2 || name.to_lowercase().starts_with(&typed))
        .map(str::to_owned)
        .collect()
}

/// The Levenshtein distance between two words.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Cobra's words for a wrong number of positional arguments, or `None` for a command that takes
/// none (cobra calls an argument there an unknown command).
fn argument_count(at: &Position) -> Option<String> {
    let positionals: Vec<&Arg> = at.command.get_positionals().collect();
    if positionals.is_empty() {
        return None;
    }
    let received = at.positionals;
    let min = positionals.iter().filter(|arg| arg.is_required_set()).count();
    let unbounded = positionals.iter().any(|arg| arg.get_num_args().is_some_and(|range| range.max_values() > 1));
    let max = positionals.len();
    Some(if unbounded {
        format!("requires at least {min} arg(s), only received {received}")
    } else if min == max {
        format!("accepts {max} arg(s), received {received}")
    } else if min == 0 {
        format!("accepts at most {max} arg(s), received {received}")
    } else {
        format!("accepts between {min} and {max} arg(s), received {received}")
    })
}

/// Why a value was refused, as Go's `strconv` says it for numbers.
fn go_reason(arg: &Arg, value: &str, source: &(dyn Error + 'static)) -> String {
    let Some(int) = source.downcast_ref::<ParseIntError>() else {
        return source.to_string();
    };
    let parser = arg.get_value_parser().type_id();
    let unsigned = [TypeId::of::<u8>(), TypeId::of::<u16>(), TypeId::of::<u32>(), TypeId::of::<u64>()]
        .iter()
        .any(|id| parser == *id);
    let function = if unsigned { "ParseUint" } else { "ParseInt" };
    let problem = match int.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => "value out of range",
        _ => "invalid syntax",
    };
    format!("strconv.{function}: parsing {value:?}: {problem}")
}

/// `--lines <N>` → `lines`, `--follow[=<BOOL>]` → `follow`.
fn flag_name(text: &str) -> &str {
    let name = text.trim_start_matches('-');
    let end = name.find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')).unwrap_or(name.len());
    &name[..end]
}

fn find_flag<'a>(command: &'a clap::Command, text: &str) -> Option<&'a Arg> {
    let name = flag_name(text);
    command.get_arguments().find(|arg| {
        arg.get_long() == Some(name) || (name.chars().count() == 1 && arg.get_short() == name.chars().next())
    })
}

/// `-n, --lines` or `--lines`, as pflag names a flag.
fn flag_display(arg: &Arg) -> String {
    let long = arg.get_long().unwrap_or_default();
    match arg.get_short() {
        Some(short) => format!("-{short}, --{long}"),
        None => format!("--{long}"),
    }
}

/// `--name`, or `'n' in -n` when the short form was typed.
fn used_form(arg: &Arg, words: &[String]) -> String {
    match arg.get_short() {
        Some(short) if words.iter().any(|word| *word == format!("-{short}")) => format!("'{short}' in -{short}"),
        _ => format!("--{}", arg.get_long().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_for(line: &str) -> String {
        let words: Vec<String> = line.split(' ').map(str::to_owned).collect();
        let root = crate::cli_command();
        let argv = std::iter::once("ha".to_owned()).chain(words.iter().cloned());
        let err = match root.clone().try_get_matches_from(argv) {
            Ok(_) => panic!("{line} parsed"),
            Err(err) => err,
        };
        let (message, hint) = message(&err, &root, "ha", &words);
        format!("{message}\n{hint}")
    }

    #[test]
    fn usage_errors_use_cobras_words() {
        let cases = [
            ("info extra", "unknown command \"extra\" for \"ha info\"\nRun 'ha info --help' for usage."),
            ("info --foo", "unknown flag: --foo\nRun 'ha info --help' for usage."),
            ("info --foo=1", "unknown flag: --foo\nRun 'ha info --help' for usage."),
            ("info -x", "unknown shorthand flag: 'x' in -x\nRun 'ha info --help' for usage."),
            ("network update", "accepts 1 arg(s), received 0\nRun 'ha network update --help' for usage."),
            ("backups info a b", "accepts 1 arg(s), received 2\nRun 'ha backups info --help' for usage."),
            ("network vlan eth0", "accepts 2 arg(s), received 1\nRun 'ha network vlan --help' for usage."),
            ("backups new --name", "flag needs an argument: --name\nRun 'ha backups new --help' for usage."),
            ("host logs -t", "flag needs an argument: 't' in -t\nRun 'ha host logs --help' for usage."),
            ("bogus", "unknown command \"bogus\" for \"ha\"\nRun 'ha --help' for usage."),
        ];
        for (line, expected) in cases {
            assert_eq!(message_for(line), expected, "{line}");
        }
        let invalid_values = [
            ("supervisor logs -n abc", "\"-n, --lines\" flag: strconv.ParseUint: parsing \"abc\": invalid syntax"),
            (
                "backups options --days-until-stale 99999999999999999999",
                "\"--days-until-stale\" flag: strconv.ParseInt: parsing \"99999999999999999999\": value out of range",
            ),
            (
                "supervisor logs --follow=maybe",
                "\"-f, --follow\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax",
            ),
        ];
        for (line, expected) in invalid_values {
            let message = message_for(line);
            assert!(message.starts_with("invalid argument \"") && message.contains(expected), "{message}");
        }
        let suggested = message_for("backupz");
        assert!(suggested.contains("Did you mean this?\n\tbackups\n"), "{suggested}");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
