//! The journal as `journalctl --no-pager` prints it, for the balena device API's
//! `/v2/journal-logs`: its options `follow` (`--follow`), `count` (`-n`), `unit` (`-u`) and
//! `format` (`-o`), read through systemd-journal-gatewayd. The gateway gives `short`, `json`
//! and `export` itself; `cat` (the messages alone) is made here from the export format.

use crate::gateway::{success, Gateway, EXPORT, JSON, TEXT};
use crate::logs::{Lines, LINES_MAX};
use crate::JournalError;
use base::logs::LineFormat;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

/// How many entries `--follow` shows before the new ones, as journalctl without `-n`.
const FOLLOW_LINES: u64 = 10;

const CURSOR_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// A `journalctl -o` output the gateway can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Short,
    Json,
    Export,
    Cat,
}

impl Output {
    pub const NAMES: [&str; 4] = ["short", "json", "export", "cat"];

    pub fn from_name(name: &str) -> Option<Output> {
        match name {
            "short" => Some(Output::Short),
            "json" => Some(Output::Json),
            "export" => Some(Output::Export),
            "cat" => Some(Output::Cat),
            _ => None,
        }
    }

    /// The content type of the answer.
    pub fn content_type(self) -> &'static str {
        match self {
            Output::Short | Output::Cat => "text/plain; charset=utf-8",
            Output::Json => JSON,
            Output::Export => EXPORT,
        }
    }
}

/// What `journalctl` is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journalctl {
    /// Keep the answer open and send entries as they are written.
    pub follow: bool,
    /// Only the newest `count` entries.
    pub count: Option<u64>,
    /// Only the entries of this systemd unit (`.service` when it names no type).
    pub unit: Option<String>,
    pub output: Output,
}

impl Gateway {
    /// The entries `request` selects, streamed in its output format.
    pub async fn journalctl(&self, request: &Journalctl) -> Result<BoxStream<'static, Bytes>, JournalError> {
        let unit = request.unit.as_deref().map(unit_name);
        let mut params = Vec::new();
        if let Some(unit) = &unit {
            params.push(("_SYSTEMD_UNIT", unit.as_str()));
        }
        let count = request.count.or(request.follow.then_some(FOLLOW_LINES));
        let entries = |count: u64| if request.follow { LINES_MAX } else { count };
        let range = match count {
            Some(0) if !request.follow => return Ok(futures_util::stream::empty().boxed()),
            // A range that ends at the tail says at least 2 entries (`:-0` is the head), so the
            // newest one is found by its cursor.
            Some(1) => match self.newest_cursor(&params).await? {
                Some(cursor) => format!("entries={cursor}:0:{}", entries(1)),
                None if request.follow => format!("entries=:0:{LINES_MAX}"),
                None => return Ok(futures_util::stream::empty().boxed()),
            },
            Some(count) => format!("entries=:-{}:{}", count.saturating_sub(1), entries(count)),
            None => format!("entries=:0:{LINES_MAX}"),
        };
        if request.follow {
            params.push(("follow", ""));
        }
        let accept = match request.output {
            Output::Short => TEXT,
            Output::Json => JSON,
            Output::Export | Output::Cat => EXPORT,
        };
        let response = success(self.get("/entries", &params, accept, Some(&range), None).await?).await?;
        let body = response.bytes_stream();
        if request.output == Output::Cat {
            let lines =
                Lines { body: body.boxed(), parser: Default::default(), format: LineFormat::Plain, no_colors: false };
            return Ok(lines.into_stream(String::new()).boxed());
        }
        // A failure once the answer flows can only end it.
        Ok(body.take_while(|chunk| std::future::ready(chunk.is_ok())).filter_map(|chunk| async { chunk.ok() }).boxed())
    }
}

impl Gateway {
    /// The cursor of the newest entry matching `params`, if any.
    async fn newest_cursor(&self, params: &[(&str, &str)]) -> Result<Option<String>, JournalError> {
        let newest = self.json_entries(params, Some("entries=:-1:2"), CURSOR_TIMEOUT).await?;
        Ok(newest.last().and_then(|entry| entry["__CURSOR"].as_str()).map(str::to_owned))
    }
}

/// A unit as journalctl completes it: a name without a type is a service.
fn unit_name(unit: &str) -> String {
    const TYPES: [&str; 11] = [
        ".service",
        ".socket",
        ".target",
        ".device",
        ".mount",
        ".automount",
        ".swap",
        ".timer",
        ".path",
        ".slice",
        ".scope",
    ];
    if TYPES.iter().any(|suffix| unit.ends_with(suffix)) {
        unit.to_owned()
    } else {
        format!("{unit}.service")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_without_a_type_are_services() {
        assert_eq!(unit_name("ssh"), "ssh.service");
        assert_eq!(unit_name("docker.socket"), "docker.socket");
        assert_eq!(unit_name("my.app"), "my.app.service");
    }

    #[test]
    fn outputs_are_named_as_journalctl_names_them() {
        for name in Output::NAMES {
            assert!(Output::from_name(name).is_some(), "{name}");
        }
        assert_eq!(Output::from_name("verbose"), None);
    }
}
