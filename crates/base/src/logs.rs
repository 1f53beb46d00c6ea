//! Which lines of a log an API client asked for, the same for every `.../logs` endpoint: a
//! `Range: entries=cursor[[:num_skip]:num_entries]` header as the journal gateway reads it, or the
//! last `lines` lines, or the last 100; and the format of each line.

use crate::Error;
use serde::{Deserialize, Serialize};

/// How each line of a log read from the journal looks: the message alone, with the time before
/// it, or with the time, host and process. An endpoint has a default (an add-on's is its
/// config's `log_format`); a client picks another with `?format=`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineFormat {
    #[default]
    Plain,
    Timestamp,
    Verbose,
}

impl LineFormat {
    pub const NAMES: [&'static str; 3] = ["plain", "timestamp", "verbose"];

    pub fn from_name(name: &str) -> Option<LineFormat> {
        match name {
            "plain" => Some(LineFormat::Plain),
            "timestamp" => Some(LineFormat::Timestamp),
            "verbose" => Some(LineFormat::Verbose),
            _ => None,
        }
    }
}

/// Which lines of a log to answer: a `Range: entries=cursor[[:num_skip]:num_entries]` header,
/// else the last `lines` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    cursor: Option<usize>,
    skip: i64,
    count: Option<usize>,
    /// Without a cursor, counts from the last line (the journal's tail) instead of the first.
    from_end: bool,
}

/// Lines answered when the client names no amount, as the real Supervisor does.
pub const DEFAULT_LINES: usize = 100;

impl Selection {
    pub fn last(lines: usize) -> Self {
        let back = i64::try_from(lines).unwrap_or(i64::MAX);
        Selection { cursor: None, skip: 1i64.saturating_sub(back), count: Some(lines), from_end: true }
    }

    /// Parses a `Range` header value; the cursor of this backend is a line number.
    pub fn parse_range(range: &str) -> Result<Self, Error> {
        let bad = || Error::invalid(format!("Invalid Range header: {range}"));
        let spec = range.trim().strip_prefix("entries=").ok_or_else(bad)?;
        let parts: Vec<&str> = spec.split(':').collect();
        let cursor = match parts[0] {
            "" => None,
            c => Some(c.parse().map_err(|_| bad())?),
        };
        let number = |s: &str| if s.is_empty() { Ok(None) } else { s.parse::<i64>().map(Some).map_err(|_| bad()) };
        let (skip, count) = match parts.len() {
            1 => (0, None),
            2 => (0, number(parts[1])?),
            3 => (number(parts[1])?.unwrap_or(0), number(parts[2])?),
            _ => return Err(bad()),
        };
        let count = count.map(|c| usize::try_from(c).map_err(|_| bad())).transpose()?;
        Ok(Selection { cursor, skip, count, from_end: cursor.is_none() && skip < 0 })
    }

    /// The selected slice of `lines`.
    pub fn apply<'a>(&self, lines: &'a [&'a str]) -> &'a [&'a str] {
        if lines.is_empty() {
            return lines;
        }
        // Every figure comes from the client: saturate rather than overflow.
        let base = match self.cursor {
            Some(c) => i64::try_from(c).unwrap_or(i64::MAX),
            None if self.from_end => lines.len() as i64 - 1,
            None => 0,
        };
        let start = base.saturating_add(self.skip).clamp(0, lines.len() as i64) as usize;
        let end = self.count.map_or(lines.len(), |c| start.saturating_add(c).min(lines.len()));
        &lines[start..end]
    }
}

impl Selection {
    /// The selection a request names: its `Range` header, else `lines`, else the default.
    pub fn of_request(range: Option<&str>, lines: Option<usize>) -> Result<Self, Error> {
        match (range, lines) {
            (Some(range), _) => Self::parse_range(range),
            (None, Some(lines)) => Ok(Self::last(lines)),
            (None, None) => Ok(Self::last(DEFAULT_LINES)),
        }
    }

    /// The selected lines of `text`, each ending in a newline.
    pub fn select(&self, text: &str) -> String {
        let lines: Vec<&str> = text.lines().collect();
        let mut out = self.apply(&lines).join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_select_like_the_journal() {
        let lines = ["a", "b", "c", "d", "e"];
        assert_eq!(Selection::last(2).apply(&lines), ["d", "e"]);
        assert_eq!(Selection::last(100).apply(&lines), lines);
        assert_eq!(Selection::parse_range("entries=:-2:2").unwrap().apply(&lines), ["c", "d"]);
        assert_eq!(Selection::parse_range("entries=1:0:2").unwrap().apply(&lines), ["b", "c"]);
        assert_eq!(Selection::parse_range("entries=2").unwrap().apply(&lines), ["c", "d", "e"]);
        assert_eq!(Selection::parse_range("entries=:2").unwrap().apply(&lines), ["a", "b"]);
        assert!(Selection::parse_range("bytes=0-5").is_err());
        assert!(Selection::parse_range("entries=x:1:2").is_err());
        assert_eq!(Selection::of_request(None, Some(1)).unwrap().select("a\nb\n"), "b\n");
    }

    #[test]
    fn huge_figures_select_everything_or_nothing_without_overflow() {
        let lines = ["a", "b", "c"];
        assert_eq!(Selection::last(usize::MAX).apply(&lines), lines);
        assert_eq!(Selection::last(18446744073709551244).apply(&lines), lines);
        assert_eq!(Selection::last(i64::MAX as usize + 1).apply(&lines), lines);
        let far = format!("entries={}:{}:{}", usize::MAX, i64::MAX, i64::MAX);
        assert!(Selection::parse_range(&far).unwrap().apply(&lines).is_empty());
        let back = format!("entries=:{}:{}", i64::MIN, i64::MAX);
        assert_eq!(Selection::parse_range(&back).unwrap().apply(&lines), lines);
    }
}
