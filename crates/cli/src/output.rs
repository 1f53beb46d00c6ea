//! Everything `ha` writes: results on stdout (YAML, raw JSON or a confirmation), errors and its
//! own diagnostics on stderr, and the progress of long jobs.

use crate::client::Reply;
use crate::follow::JobInfo;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::fmt::Display;
use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// What an action that returns no data prints.
pub const COMPLETED: &str = "Command completed successfully.";

/// How much of its own diagnostics `ha` writes to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error = 1,
    Warn,
    Info,
    Debug,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Warn as u8);

impl Level {
    /// The vocabulary the daemon reads from the same `SUPERVISOR_LOG_LEVEL`: its option's names
    /// (`critical` counts as `error` here) and the real CLI's `warn`, in any case.
    pub fn parse(name: &str) -> Option<Level> {
        match name.trim().to_ascii_lowercase().as_str() {
            "error" | "critical" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn log(level: Level, message: impl Display) {
    if level as u8 <= LEVEL.load(Ordering::Relaxed) {
        stderr_line(format_args!("{} {message}", level.label()));
    }
}

/// A line on stderr; a stderr that cannot be written to is no reason to fail a command.
fn stderr_line(line: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Writes to stdout at once, so streamed logs show as they arrive.
pub fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// A line of its own on stderr, such as a deprecation notice.
pub fn print_notice(message: impl Display) {
    stderr_line(message);
}

pub fn print_error(message: impl Display) {
    stderr_line(error_line(message, io::stderr().is_terminal()));
}

fn error_line(message: impl Display, color: bool) -> String {
    if color {
        format!("\x1b[1;31mError:\x1b[0m {message}")
    } else {
        format!("Error: {message}")
    }
}

/// Prints a successful reply: the body as received in raw mode, else its `data`.
pub fn show(reply: &Reply, raw_json: bool) -> Result<()> {
    if raw_json {
        write_stdout(&reply.body)?;
    } else {
        write_stdout(render(&reply.data).as_bytes())?;
    }
    Ok(())
}

/// `data` as YAML, or the confirmation line when there is nothing to show.
pub fn render(data: &Value) -> String {
    let empty = match data {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        _ => false,
    };
    if empty {
        return format!("{COMPLETED}\n");
    }
    crate::yaml::to_string(data)
}

/// Asks on stdout and reads the answer from stdin, as the real CLI's confirmations do.
pub fn confirm(prompt: &str) -> Result<bool> {
    let stdin = io::stdin();
    for _ in 0..2 {
        write_stdout(format!("{prompt} [enter YES to confirm] ").as_bytes())?;
        let mut answer = String::new();
        if stdin.lock().read_line(&mut answer)? == 0 {
            write_stdout(b"\n")?;
            anyhow::bail!("Aborted: no answer on standard input");
        }
        let answer = answer.trim().to_ascii_lowercase();
        if answer == "yes" {
            return Ok(true);
        }
        if answer.starts_with('n') {
            return Ok(false);
        }
    }
    Ok(false)
}

/// The real CLI's spinner around a synchronous call that may take long.
pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    /// Only drawn for a person at a terminal, as the real CLI does.
    pub fn start(no_progress: bool) -> Spinner {
        if no_progress || !io::stdout().is_terminal() || !io::stderr().is_terminal() {
            return Spinner(None);
        }
        let bar = ProgressBar::new_spinner().with_message("Processing...");
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .expect("the template is valid")
                .tick_strings(&["⣾", "⣽", "⣻", "⢿", "⡿", "⣟", "⣯", "⣷", " "]),
        );
        bar.enable_steady_tick(Duration::from_millis(125));
        Spinner(Some(bar))
    }

    pub fn stop(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
            stderr_line("Processing... Done.\n");
        }
    }
}

/// Shows how a followed job gets on: a bar for a person at a terminal, nothing otherwise, as the
/// real CLI draws its spinner only for a terminal.
pub struct JobProgress(Option<ProgressBar>);

impl JobProgress {
    pub fn new(no_progress: bool) -> JobProgress {
        if no_progress || !io::stdout().is_terminal() || !io::stderr().is_terminal() {
            return JobProgress(None);
        }
        let bar = ProgressBar::new(100);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{bar:40}] {percent:>3}% {msg}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(125));
        JobProgress(Some(bar))
    }

    pub fn update(&mut self, job: &JobInfo) {
        if let Some(bar) = &self.0 {
            let (progress, stage) = job.shown();
            bar.set_position(whole_percent(progress));
            bar.set_message(progress_message(&job.name, stage));
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}

/// The text next to the bar: the job's name and, when there is one, its stage.
fn progress_message(name: &str, stage: Option<&str>) -> String {
    match stage {
        Some(stage) => format!("{name} ({stage})"),
        None => name.to_owned(),
    }
}

/// Rounded down, so that a job never shows 100% before it is.
fn whole_percent(progress: f64) -> u64 {
    if progress.is_nan() {
        return 0;
    }
    progress.clamp(0.0, 100.0).floor() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_data_prints_the_confirmation() {
        assert_eq!(render(&json!({})), "Command completed successfully.\n");
        assert_eq!(render(&Value::Null), "Command completed successfully.\n");
    }

    #[test]
    fn data_prints_as_yaml_with_sorted_keys() {
        let data = json!({
            "version": "2024.1.0",
            "channel": "stable",
            "addons": [{"slug": "ssh", "state": "started"}],
            "debug": false,
            "wait_boot": 5,
            "ip_address": null,
            "progress": 12.5,
            "empty": [],
        });
        let yaml = render(&data);
        assert_eq!(
            yaml,
            "addons:\n- slug: ssh\n  state: started\nchannel: stable\ndebug: false\nempty: []\n\
             ip_address: null\nprogress: 12.5\nversion: 2024.1.0\nwait_boot: 5\n"
        );
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        let yaml = render(&json!({"a": "true", "b": "1.0", "c": ""}));
        assert_eq!(yaml, "a: \"true\"\nb: \"1.0\"\nc: \"\"\n");
    }

    #[test]
    fn progress_shows_name_stage_and_whole_percents() {
        assert_eq!(progress_message("supervisor_update", Some("download")), "supervisor_update (download)");
        assert_eq!(progress_message("supervisor_update", None), "supervisor_update");
        assert_eq!(whole_percent(99.9), 99);
        assert_eq!(whole_percent(100.0), 100);
        assert_eq!(whole_percent(-3.0), 0);
        assert_eq!(whole_percent(f64::NAN), 0);
    }

    #[test]
    fn errors_are_coloured_only_for_terminals() {
        assert_eq!(error_line("nope", false), "Error: nope");
        assert_eq!(error_line("nope", true), "\x1b[1;31mError:\x1b[0m nope");
    }

    #[test]
    fn log_levels_parse_loosely() {
        assert_eq!(Level::parse("DEBUG"), Some(Level::Debug));
        assert_eq!(Level::parse("warning"), Some(Level::Warn));
        assert_eq!(Level::parse("Critical"), Some(Level::Error));
        assert_eq!(Level::parse("trace"), None);
        assert_eq!(Level::parse("loud"), None);
    }
}
