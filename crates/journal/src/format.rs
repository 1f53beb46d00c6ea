//! The line formats of the real Supervisor's log endpoints: plain (the message alone),
//! timestamp (`2024-03-04 02:52:56.193 message`) and verbose (`2024-03-04 02:52:56.193 host
//! identifier[pid]: message`), the time in UTC with milliseconds cut, not rounded; and the
//! `no_colors` filter that drops ANSI colour escapes.

use crate::export::Entry;
use base::logs::LineFormat;
use chrono::DateTime;

/// One entry as a line, without its newline.
pub fn line(entry: &Entry, format: LineFormat, no_colors: bool) -> String {
    let message = entry.message.as_deref().unwrap_or_default();
    let time = || {
        entry
            .realtime
            .as_deref()
            .and_then(|usec| usec.parse::<i64>().ok())
            .and_then(DateTime::from_timestamp_micros)
            .map(|time| time.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
            .unwrap_or_default()
    };
    let line = match format {
        LineFormat::Plain => message.to_owned(),
        LineFormat::Timestamp => format!("{} {message}", time()),
        LineFormat::Verbose => {
            let identifier = entry.identifier.as_deref().unwrap_or("_UNKNOWN_");
            let hostname = entry.hostname.as_deref().unwrap_or_default();
            match &entry.pid {
                Some(pid) => format!("{} {hostname} {identifier}[{pid}]: {message}", time()),
                None => format!("{} {hostname} {identifier}: {message}", time()),
            }
        }
    };
    if no_colors {
        strip_colors(&line)
    } else {
        line
    }
}

/// `text` without SGR sequences (`ESC [ parameters m`), the only escapes programs colour with.
fn strip_colors(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\x1b[") {
        out.push_str(&rest[..at]);
        let params = &rest[at + 2..];
        let end = params.find(|c: char| !(c.is_ascii_digit() || c == ';'));
        match end {
            Some(end) if params[end..].starts_with('m') => rest = &params[end + 1..],
            // Not a colour: keep the escape as it is.
            _ => {
                out.push_str("\x1b[");
                rest = params;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: Option<&str>) -> Entry {
        Entry {
            realtime: Some("1709520776193999".into()),
            hostname: Some("homeassistant".into()),
            identifier: Some("systemd".into()),
            pid: pid.map(Into::into),
            message: Some("\x1b[1;31mStarted\x1b[0m foo.".into()),
            ..Entry::default()
        }
    }

    #[test]
    fn verbose_lines_read_like_the_real_supervisor() {
        assert_eq!(
            line(&entry(Some("1")), LineFormat::Verbose, true),
            "2024-03-04 02:52:56.193 homeassistant systemd[1]: Started foo."
        );
        assert_eq!(
            line(&entry(None), LineFormat::Verbose, true),
            "2024-03-04 02:52:56.193 homeassistant systemd: Started foo."
        );
        assert_eq!(line(&Entry::default(), LineFormat::Verbose, false), "  _UNKNOWN_: ");
    }

    #[test]
    fn plain_lines_are_the_message_with_or_without_colours() {
        assert_eq!(line(&entry(None), LineFormat::Plain, false), "\x1b[1;31mStarted\x1b[0m foo.");
        assert_eq!(line(&entry(None), LineFormat::Plain, true), "Started foo.");
        assert_eq!(strip_colors("a\x1b[2Jb\x1b[m c\x1b["), "a\x1b[2Jb c\x1b[");
    }

    #[test]
    fn timestamp_lines_put_the_time_before_the_message() {
        assert_eq!(line(&entry(Some("1")), LineFormat::Timestamp, true), "2024-03-04 02:52:56.193 Started foo.");
    }
}
