//! One `.../logs` request answered from the journal, as the real Supervisor's
//! `advanced_logs_handler` answers it.
//!
//! What the endpoint decides ([`Logs`]): whose entries (syslog identifiers or a container), which
//! boot, follow, latest, the line format by default. What the API client decides ([`Request`]):
//! `Range` or `?lines=N` (last N, at least 2), `?format=plain|timestamp|verbose` (also
//! `Accept: text/x-log` and `?verbose` for verbose lines; `Accept` is `text/plain`,
//! `text/x-log` or `*/*`), `?no_colors`. The answer ([`Text`]) is one line per
//! entry, streamed; it waits for the first entry, so that its cursor can go with the headers
//! (`X-First-Cursor`: a client pages back with `Range: entries=<cursor>:-N:N`). Answering over
//! HTTP is `http_api::logs`.

use crate::export::{Entry, Malformed, Parser};
use crate::format::line;
use crate::gateway::{success, Gateway, EXPORT};
use crate::{JournalError, Unavailable};
use base::logs::LineFormat;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use std::time::Duration;

/// The most entries a range asks for: "all of them", for following and `latest`.
pub(crate) const LINES_MAX: u64 = u64::MAX;
/// Lines answered when the client names no range and no amount.
const DEFAULT_LINES: i64 = 100;
const EPOCH_TIMEOUT: Duration = Duration::from_secs(10);
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

const INVALID_ACCEPT: &str = "Invalid content type requested. Only text/plain and text/x-log supported for now.";
const CONNECTION_RESET: &str = "Connection reset when trying to fetch data from systemd-journald.";

/// The syslog identifiers `/host/logs` shows without an `{identifier}`: the real Supervisor's
/// list of host services (`syslog-identifiers.json`).
pub const HOST_IDENTIFIERS: &[&str] = &[
    "NetworkManager",
    "bluetoothd",
    "bthelper",
    "btuart",
    "dbus-broker",
    "dockerd",
    "dropbear",
    "fstrim",
    "hassos-apparmor",
    "hassos-config",
    "hassos-expand",
    "hassos-overlay",
    "hassos-persists",
    "hassos-supervisor",
    "hassos-zram",
    "kernel",
    "mount",
    "os-agent",
    "rauc",
    "systemd",
    "systemd-coredump",
    "systemd-fsck",
    "systemd-growfs",
    "systemd-hostnamed",
    "systemd-journal-gatewayd",
    "systemd-journald",
    "systemd-logind",
    "systemd-random-seed",
    "systemd-resolved",
    "systemd-sysctl",
    "systemd-time-wait-sync",
    "systemd-timesyncd",
    "systemd-tmpfiles",
    "systemd-udevd",
    "wpa_supplicant",
];

/// Whose entries a log shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Entries with any of these `SYSLOG_IDENTIFIER`s (the gateway ORs repeated matches).
    Identifiers(Vec<String>),
    /// Entries of the container of this name, as Docker's journald driver tags them
    /// (`CONTAINER_NAME`), whatever its syslog tag.
    Container(String),
}

impl Source {
    fn matches(&self) -> Vec<(&'static str, &str)> {
        match self {
            Source::Identifiers(ids) => ids.iter().map(|id| ("SYSLOG_IDENTIFIER", id.as_str())).collect(),
            Source::Container(name) => vec![("CONTAINER_NAME", name.as_str())],
        }
    }

    /// The one container `latest` reads the log epoch of.
    fn single(&self) -> Option<&str> {
        match self {
            Source::Identifiers(ids) if ids.len() == 1 => Some(&ids[0]),
            Source::Identifiers(_) => None,
            Source::Container(name) => Some(name),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Identifiers(ids) => write!(f, "{}", ids.join(", ")),
            Source::Container(name) => write!(f, "container {name}"),
        }
    }
}

/// What a `.../logs` endpoint shows, before the client's own choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logs {
    source: Source,
    boot: Option<String>,
    follow: bool,
    latest: bool,
    format: LineFormat,
    no_colors: bool,
    fallback_when_empty: bool,
}

impl Logs {
    /// The entries of these syslog identifiers.
    pub fn identifiers<I: IntoIterator<Item = S>, S: Into<String>>(identifiers: I) -> Logs {
        Logs::of(Source::Identifiers(identifiers.into_iter().map(Into::into).collect()))
    }

    /// The entries of the container of this name.
    pub fn container(name: impl Into<String>) -> Logs {
        Logs::of(Source::Container(name.into()))
    }

    fn of(source: Source) -> Logs {
        Logs {
            source,
            boot: None,
            follow: false,
            latest: false,
            format: LineFormat::Plain,
            no_colors: false,
            fallback_when_empty: false,
        }
    }

    /// Only one boot: the `{bootid}` path segment, an offset or a boot id.
    pub fn boot(mut self, bootid: impl Into<String>) -> Logs {
        self.boot = Some(bootid.into());
        self
    }

    /// Keep the response open and send entries as they are written.
    pub fn follow(mut self, follow: bool) -> Logs {
        self.follow = follow;
        self
    }

    /// `.../logs/latest`: every entry of the container's current run (Docker's
    /// `CONTAINER_LOG_EPOCH` of its newest entry), without colours. Needs a single source.
    pub fn latest(mut self) -> Logs {
        self.latest = true;
        self.no_colors = true;
        self
    }

    /// The lines' format when the client names none (plain unless said).
    pub fn format_by_default(mut self, format: LineFormat) -> Logs {
        self.format = format;
        self
    }

    /// Answer [`Unavailable::NoEntries`] when the journal holds no entry of the source at all,
    /// so the endpoint can serve the log it keeps elsewhere (a container engine's, its own).
    pub fn fallback_when_empty(mut self) -> Logs {
        self.fallback_when_empty = true;
        self
    }
}

/// A request header as the API client sent it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Header<'a> {
    #[default]
    Absent,
    Text(&'a str),
    /// Present, but not text (not visible ASCII).
    Invalid,
}

impl<'a> Header<'a> {
    /// The header's text, if present; `invalid` when it is not text.
    fn text(self, invalid: &str) -> Result<Option<&'a str>, JournalError> {
        match self {
            Header::Absent => Ok(None),
            Header::Text(text) => Ok(Some(text)),
            Header::Invalid => Err(JournalError::Failed(invalid.to_owned())),
        }
    }
}

/// What the API client asks of a log: its query's pairs (decoded, in order) and two headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    pub query: &'a [(String, String)],
    pub accept: Header<'a>,
    pub range: Header<'a>,
}

/// The entries a request selects, as text: one line per entry, each ending in a newline.
pub enum Text {
    /// No entry is selected.
    Empty,
    /// The lines, streamed as the journal sends the entries (without end when following); the
    /// first entry's cursor, when it has one.
    Lines { first_cursor: Option<String>, lines: BoxStream<'static, Bytes> },
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Text::Empty => f.write_str("Empty"),
            Text::Lines { first_cursor, .. } => f.debug_struct("Lines").field("first_cursor", first_cursor).finish(),
        }
    }
}

/// The client's choices, read from the query string by presence as the real Supervisor does.
#[derive(Default)]
struct Query {
    lines: Option<i64>,
    format: Option<LineFormat>,
    verbose: bool,
    no_colors: bool,
}

impl Query {
    fn parse(pairs: &[(String, String)]) -> Result<Query, JournalError> {
        let mut parsed = Query::default();
        for (key, value) in pairs {
            match key.as_str() {
                // Not a number: the default rather than an error; fewer than 2 cannot be said
                // with a range that ends at the tail.
                "lines" => parsed.lines = Some(value.parse().unwrap_or(DEFAULT_LINES).max(2)),
                "format" => {
                    let format = LineFormat::from_name(value).ok_or_else(|| {
                        JournalError::Failed(format!(
                            "Invalid log format '{value}', expected one of: {}",
                            LineFormat::NAMES.join(", ")
                        ))
                    })?;
                    parsed.format = Some(format);
                }
                "verbose" => parsed.verbose = true,
                "no_colors" => parsed.no_colors = true,
                _ => {}
            }
        }
        Ok(parsed)
    }
}

impl Gateway {
    /// The entries `logs` and the client's `request` select, as text lines. A wrong request is
    /// [`JournalError::Failed`] with the message for the client; [`JournalError::Unavailable`]
    /// when the journal cannot answer, for the endpoint to fall back or say so.
    pub async fn entries(&self, request: &Request<'_>, logs: &Logs) -> Result<Text, JournalError> {
        let query = Query::parse(request.query)?;
        let accept = request.accept.text(INVALID_ACCEPT)?;
        if accept.is_some_and(|accept| !matches!(accept, "text/plain" | "text/x-log" | "*/*")) {
            return Err(JournalError::Failed(INVALID_ACCEPT.to_owned()));
        }
        let format = match query.format {
            Some(format) => format,
            None if query.verbose || accept == Some("text/x-log") => LineFormat::Verbose,
            None => logs.format,
        };
        let no_colors = logs.no_colors || query.no_colors;
        let follow_max = |lines: i64| if logs.follow { LINES_MAX.to_string() } else { lines.to_string() };
        // In the real Supervisor's order: `lines`, then latest's "everything", then the client's
        // Range, then the last 100.
        let range = if let Some(lines) = query.lines {
            format!("entries=:-{}:{}", lines - 1, follow_max(lines))
        } else if logs.latest {
            format!("entries=:0:{LINES_MAX}")
        } else if let Some(range) = request.range.text("Invalid range header")? {
            complete_range(range)?
        } else {
            format!("entries=:-{}:{}", DEFAULT_LINES - 1, follow_max(DEFAULT_LINES))
        };

        let mut params = logs.source.matches();
        if logs.fallback_when_empty && !self.has_entries(&params).await? {
            return Err(Unavailable::NoEntries(logs.source.to_string()).into());
        }
        let boot = match &logs.boot {
            Some(bootid) => Some(self.boots().await?.resolve(bootid)?),
            None => None,
        };
        if let Some(boot) = &boot {
            params.push(("_BOOT_ID", boot));
        }
        let epoch = if logs.latest { Some(self.log_epoch(&logs.source).await?) } else { None };
        if let Some(epoch) = &epoch {
            params.push(("CONTAINER_LOG_EPOCH", epoch));
        }
        if logs.follow {
            params.push(("follow", ""));
        }

        let response = success(self.get("/entries", &params, EXPORT, Some(&range), None).await?).await?;
        let mut lines = Lines { body: response.bytes_stream().boxed(), parser: Parser::default(), format, no_colors };
        // The answer waits for the first entry, so that it can name its cursor.
        let Some(first) = lines.first_entry().await? else {
            return Ok(Text::Empty);
        };
        let mut head = line(&first, format, no_colors);
        head.push('\n');
        Ok(Text::Lines { first_cursor: first.cursor, lines: lines.into_stream(head).boxed() })
    }

    /// Whether the journal holds any entry matching `params`.
    async fn has_entries(&self, params: &[(&str, &str)]) -> Result<bool, JournalError> {
        Ok(!self.json_entries(params, Some("entries=:0:1"), PROBE_TIMEOUT).await?.is_empty())
    }

    /// Docker's log epoch of the container's newest entry: its current run.
    async fn log_epoch(&self, source: &Source) -> Result<String, JournalError> {
        let name = source.single().ok_or_else(|| {
            JournalError::Failed("Latest logs can only be fetched for a specific identifier.".to_owned())
        })?;
        let failed = || {
            JournalError::Failed(format!("Cannot determine CONTAINER_LOG_EPOCH of {name}, latest logs not available."))
        };
        let entries = match self.json_entries(&[("CONTAINER_NAME", name)], Some("entries=:-1:2"), EPOCH_TIMEOUT).await {
            Err(JournalError::Failed(_)) => return Err(failed()),
            result => result?,
        };
        let epoch = entries.last().and_then(|entry| entry["CONTAINER_LOG_EPOCH"].as_str());
        epoch.map(str::to_owned).ok_or_else(failed)
    }
}

/// The client's range with an empty `num_entries` made explicit: systemd 256 refuses the empty
/// form that older gateways read as "all" (and the follow routes rely on).
fn complete_range(range: &str) -> Result<String, JournalError> {
    let Some(open) = range.strip_suffix(':') else {
        return Ok(range.to_owned());
    };
    let invalid = || JournalError::Failed(format!("Invalid range header: {range}"));
    let (cursor, skip) = open.strip_prefix("entries=").and_then(|spec| spec.split_once(':')).ok_or_else(invalid)?;
    let digits = skip.strip_prefix('-').unwrap_or(skip);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    Ok(format!("entries={cursor}:{skip}:{LINES_MAX}"))
}

/// The gateway's export stream being turned into lines.
pub(crate) struct Lines<S> {
    pub(crate) body: S,
    pub(crate) parser: Parser,
    pub(crate) format: LineFormat,
    pub(crate) no_colors: bool,
}

impl<S: Stream<Item = reqwest::Result<Bytes>> + Unpin + Send + 'static> Lines<S> {
    /// The first entry, or `None` when the selection is empty. Failing before it is the
    /// client's error to see; once lines flow, a failure can only end the stream.
    async fn first_entry(&mut self) -> Result<Option<Entry>, JournalError> {
        let reset = || JournalError::Failed(CONNECTION_RESET.to_owned());
        loop {
            if let Some(entry) = self.parser.next_entry().map_err(|Malformed| reset())? {
                return Ok(Some(entry));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.parser.push(&chunk),
                Some(Err(e)) => {
                    tracing::debug!("reading the journal: {e}");
                    return Err(reset());
                }
                None => return Ok(self.parser.finish()),
            }
        }
    }

    /// The lines of the entries complete so far, appended to `text`; `false` once the stream
    /// turns out malformed.
    fn drain_into(&mut self, text: &mut String) -> bool {
        loop {
            match self.parser.next_entry() {
                Ok(Some(entry)) => {
                    text.push_str(&line(&entry, self.format, self.no_colors));
                    text.push('\n');
                }
                Ok(None) => return true,
                Err(Malformed) => {
                    tracing::debug!("the journal sent a malformed entry; ending the log");
                    return false;
                }
            }
        }
    }

    /// `head`, then the lines of the entries as they complete, one chunk per batch received.
    pub(crate) fn into_stream(self, head: String) -> impl Stream<Item = Bytes> + Send {
        futures_util::stream::unfold(Some((self, head)), |state| async move {
            let (mut lines, mut text) = state?;
            loop {
                if !lines.drain_into(&mut text) {
                    return (!text.is_empty()).then(|| (Bytes::from(text), None));
                }
                if !text.is_empty() {
                    return Some((Bytes::from(text), Some((lines, String::new()))));
                }
                match lines.body.next().await {
                    Some(Ok(chunk)) => lines.parser.push(&chunk),
                    Some(Err(e)) => {
                        tracing::debug!("reading the journal: {e}");
                        return None;
                    }
                    None => {
                        let last = lines.parser.finish()?;
                        let text = line(&last, lines.format, lines.no_colors) + "\n";
                        return Some((Bytes::from(text), None));
                    }
                }
            }
        })
    }
}
