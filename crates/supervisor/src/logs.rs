//! The supervisor's own log: tracing set up with a run-time adjustable level, written to stderr
//! and to one file per start ("boot") under `<data>/logs/supervisor`, and read back for the
//! `/supervisor/logs` endpoints when the journal has no entries of the supervisor. The files are
//! bounded: the last 10 starts are kept, each cut at 64 MiB.
//!
//! Under systemd (stderr is the stream `JOURNAL_STREAM` names), stderr lines carry their syslog
//! priority as a `<N>` prefix and no time of their own, so journald files each line at its level
//! (`journalctl -p warning -u supervisor` works) and with one timestamp, its own.
//!
//! Every line written is also published on a channel, so a follower gets it at once instead of
//! polling the file.

use base::logs::Selection;
use base::DataDir;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};
use utoipa::ToSchema;

/// How many starts' logs are kept.
const KEEP_BOOTS: usize = 10;
/// A boot's log stops growing past this size, so a log storm cannot fill the disk.
const MAX_BOOT_LOG: u64 = 64 * 1024 * 1024;

/// The log level, in the real Supervisor's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    /// Reads a level given on the command line or in `SUPERVISOR_LOG_LEVEL`, which `ha` reads
    /// too: the option's names in any case, and `warn` for `warning`, as `ha` knows them.
    pub fn parse(name: &str) -> Option<LogLevel> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warning" | "warn" => LogLevel::Warning,
            "error" => LogLevel::Error,
            "critical" => LogLevel::Critical,
            _ => return None,
        })
    }

    /// The filter directives: our crates at the level, chatty dependencies kept at info.
    fn directives(self) -> String {
        let level = match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warn",
            LogLevel::Error | LogLevel::Critical => "error",
        };
        if self == LogLevel::Debug {
            format!("{level},sled=info,hyper=info,hyper_util=info,h2=info,rustls=info,actix_server=info,actix_http=info,bollard=info")
        } else {
            level.to_owned()
        }
    }
}

/// The log of this process and the logs of earlier starts.
pub struct SupervisorLog {
    dir: PathBuf,
    current: PathBuf,
    lines: broadcast::Sender<String>,
    filter: reload::Handle<EnvFilter, Registry>,
}

struct Sink {
    file: Option<File>,
    written: u64,
    lines: broadcast::Sender<String>,
}

/// A per-event writer: the formatter writes one event into it, and on drop the whole event goes
/// where it is meant to at once.
pub struct EventWriter {
    to: Destination,
    buf: Vec<u8>,
}

enum Destination {
    /// The boot file and the followers.
    Sink(Arc<Mutex<Sink>>),
    /// stderr under systemd, each line prefixed with the event's syslog priority.
    Journal(u8),
}

impl Write for EventWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let sink = match &self.to {
            Destination::Sink(sink) => sink,
            Destination::Journal(priority) => {
                let prefix = format!("<{priority}>");
                let mut out = Vec::with_capacity(self.buf.len() + 8);
                for line in self.buf.split_inclusive(|&b| b == b'\n') {
                    out.extend_from_slice(prefix.as_bytes());
                    out.extend_from_slice(line);
                }
                let _ = io::stderr().write_all(&out);
                return;
            }
        };
        let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
        if sink.written < MAX_BOOT_LOG {
            if let Some(file) = sink.file.as_mut() {
                if file.write_all(&self.buf).is_ok() {
                    sink.written += self.buf.len() as u64;
                }
            }
        }
        let line = String::from_utf8_lossy(&self.buf);
        for line in line.lines() {
            let _ = sink.lines.send(line.to_owned());
        }
    }
}

impl SupervisorLog {
    /// Installs the global tracing subscriber and opens this start's log file.
    pub fn init(data: &DataDir, level: LogLevel) -> anyhow::Result<Arc<SupervisorLog>> {
        let dir = data.logs();
        std::fs::create_dir_all(&dir)?;
        // Only the supervisor's user reads its log: a line may name what a user set.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let mut old = boot_files(&dir)?;
        while old.len() >= KEEP_BOOTS {
            let _ = std::fs::remove_file(old.remove(0));
        }
        let boot_id = base::random::hex_token(16);
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_micros();
        let current = dir.join(format!("{stamp:020}-{boot_id}.log"));
        let file = OpenOptions::new().create(true).append(true).mode(0o600).open(&current)?;
        let (lines, _) = broadcast::channel(1024);
        let sink = Arc::new(Mutex::new(Sink { file: Some(file), written: 0, lines: lines.clone() }));
        let (filter, handle) = reload::Layer::new(EnvFilter::new(level.directives()));
        let make_writer =
            move || EventWriter { to: Destination::Sink(Arc::clone(&sink)), buf: Vec::with_capacity(256) };
        let (terminal, journal) = if stderr_is_journal() {
            (None, Some(fmt::layer().with_ansi(false).without_time().with_writer(JournalStderr)))
        } else {
            (Some(fmt::layer().with_ansi(false).with_writer(io::stderr)), None)
        };
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt::layer().with_ansi(false).with_writer(make_writer))
            .with(terminal)
            .with(journal)
            .try_init()?;
        Ok(Arc::new(SupervisorLog { dir, current, lines, filter: handle }))
    }

    /// Changes the level of every later line.
    pub fn set_level(&self, level: LogLevel) -> Result<(), base::Error> {
        self.filter
            .reload(EnvFilter::new(level.directives()))
            .map_err(|e| base::Error::internal(format!("Can't change the log level: {e}")))
    }

    /// Lines written from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.lines.subscribe()
    }

    /// The log file of a boot named as the real Supervisor's `bootid`: `0` or a negative offset
    /// counts back from the current start, a positive one forward from the oldest kept, anything
    /// else is a boot id. Answers the file and whether it is the current start.
    pub fn boot(&self, bootid: &str) -> Result<(PathBuf, bool), base::Error> {
        let files = boot_files(&self.dir).map_err(|e| base::Error::internal(e.to_string()))?;
        let found = match bootid.parse::<i64>() {
            Ok(offset) if offset <= 0 => {
                let index = files.len() as i64 - 1 + offset;
                usize::try_from(index).ok().and_then(|i| files.get(i))
            }
            Ok(offset) => files.get(offset as usize - 1),
            Err(_) => files.iter().find(|f| boot_id_of(f) == Some(bootid)),
        };
        let path = found.cloned().ok_or_else(|| base::Error::invalid(format!("Logs not found for boot {bootid}")))?;
        let current = path == self.current;
        Ok((path, current))
    }

    pub fn current(&self) -> &Path {
        &self.current
    }
}

/// Whether stderr is the journal's stream: systemd sets `JOURNAL_STREAM` to its device and inode
/// (a variable inherited by a program whose stderr went elsewhere names another stream).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var("JOURNAL_STREAM").ok() else { return false };
    let Some((device, inode)) = stream.split_once(':') else { return false };
    let Ok(stderr) = std::fs::metadata("/proc/self/fd/2") else { return false };
    device.parse() == Ok(stderr.dev()) && inode.parse() == Ok(stderr.ino())
}

/// stderr under systemd: each line of an event starts with the event's syslog priority.
struct JournalStderr;

/// The syslog priority journald files a line of `level` at.
fn priority(level: &tracing::Level) -> u8 {
    match *level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        _ => 7,
    }
}

impl<'a> MakeWriter<'a> for JournalStderr {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter { to: Destination::Journal(6), buf: Vec::with_capacity(256) }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> EventWriter {
        EventWriter { to: Destination::Journal(priority(meta.level())), buf: Vec::with_capacity(256) }
    }
}

fn boot_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    Ok(files)
}

fn boot_id_of(path: &Path) -> Option<&str> {
    path.file_stem()?.to_str()?.split_once('-').map(|(_, id)| id)
}

/// Reads the selected lines of a log file.
pub fn read_lines(path: &Path, selection: Selection) -> Result<String, base::Error> {
    let text = std::fs::read_to_string(path).map_err(|e| base::Error::internal(format!("Can't read the log: {e}")))?;
    Ok(selection.select(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_in_the_vocabulary_ha_shares() {
        assert_eq!(LogLevel::parse("WARN"), Some(LogLevel::Warning));
        assert_eq!(LogLevel::parse(" Debug "), Some(LogLevel::Debug));
        assert_eq!(LogLevel::parse("critical"), Some(LogLevel::Critical));
        assert_eq!(LogLevel::parse("trace"), None);
    }
}
