//! The Journal Export Format as systemd-journal-gatewayd streams it
//! (`Accept: application/vnd.fdo.journal`), read incrementally: network chunks go in, whole
//! entries come out, so a followed journal yields each entry as soon as its last byte arrives.
//!
//! A field is `NAME=value\n` when the value is printable, else `NAME\n`, a little-endian u64
//! length, the raw value and `\n` (messages with newlines or colour escapes come this way). An
//! empty line ends the entry. Only the fields the line formats need are kept.

/// The fields of one entry that the plain and verbose line formats read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Entry {
    pub cursor: Option<String>,
    pub realtime: Option<String>,
    pub hostname: Option<String>,
    pub identifier: Option<String>,
    pub pid: Option<String>,
    pub message: Option<String>,
}

impl Entry {
    fn is_empty(&self) -> bool {
        *self == Entry::default()
    }

    fn set(&mut self, name: &[u8], value: &[u8]) {
        let slot = match name {
            b"__CURSOR" => &mut self.cursor,
            b"__REALTIME_TIMESTAMP" => &mut self.realtime,
            b"_HOSTNAME" => &mut self.hostname,
            b"SYSLOG_IDENTIFIER" => &mut self.identifier,
            b"_PID" => &mut self.pid,
            b"MESSAGE" => &mut self.message,
            _ => return,
        };
        // The journal does not promise UTF-8; a stray byte must not lose the whole line.
        *slot = Some(String::from_utf8_lossy(value).into_owned());
    }
}

/// The stream is not in the export format (a binary field without its closing newline).
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// Bytes received but not yet consumed, and the entry being assembled.
#[derive(Default)]
pub struct Parser {
    buf: Vec<u8>,
    pos: usize,
    entry: Entry,
}

impl Parser {
    pub fn push(&mut self, chunk: &[u8]) {
        // Drop what is consumed before growing, so a long follow keeps a small buffer.
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete entry, or `None` until more bytes arrive.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, Malformed> {
        loop {
            let rest = &self.buf[self.pos..];
            let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
                return Ok(None);
            };
            let line = &rest[..newline];
            if line.is_empty() {
                self.pos += 1;
                let entry = std::mem::take(&mut self.entry);
                if entry.is_empty() {
                    continue;
                }
                return Ok(Some(entry));
            }
            if let Some(eq) = line.iter().position(|&b| b == b'=') {
                self.entry.set(&line[..eq], &line[eq + 1..]);
                self.pos += newline + 1;
                continue;
            }
            let data = newline + 1 + 8;
            let Some(size) = rest.get(newline + 1..data) else {
                return Ok(None);
            };
            let size = u64::from_le_bytes(size.try_into().expect("eight bytes"));
            let end = usize::try_from(size).ok().and_then(|size| data.checked_add(size)).ok_or(Malformed)?;
            let Some(&terminator) = rest.get(end) else {
                return Ok(None);
            };
            if terminator != b'\n' {
                return Err(Malformed);
            }
            self.entry.set(line, &rest[data..end]);
            self.pos += end + 1;
        }
    }

    /// The entry left when the stream ends without its closing empty line.
    pub fn finish(&mut self) -> Option<Entry> {
        let entry = std::mem::take(&mut self.entry);
        (!entry.is_empty()).then_some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(name: &str, value: &[u8]) -> Vec<u8> {
        let mut out = format!("{name}\n").into_bytes();
        out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
        out
    }

    fn all(parser: &mut Parser) -> Vec<Entry> {
        std::iter::from_fn(|| parser.next_entry().unwrap()).collect()
    }

    #[test]
    fn text_and_binary_fields_survive_any_chunking() {
        let mut stream = b"__CURSOR=c1\nMESSAGE=hello\n_PID=7\nOTHER=x\n\n".to_vec();
        stream.extend(b"__CURSOR=c2\n");
        stream.extend(binary("MESSAGE", b"two\nlines \x1b[31mred\x1b[0m"));
        stream.extend(b"SYSLOG_IDENTIFIER=kernel\n\n");
        let expected = vec![
            Entry {
                cursor: Some("c1".into()),
                message: Some("hello".into()),
                pid: Some("7".into()),
                ..Entry::default()
            },
            Entry {
                cursor: Some("c2".into()),
                message: Some("two\nlines \x1b[31mred\x1b[0m".into()),
                identifier: Some("kernel".into()),
                ..Entry::default()
            },
        ];
        for size in [1, 3, 7, stream.len()] {
            let mut parser = Parser::default();
            let mut entries = Vec::new();
            for chunk in stream.chunks(size) {
                parser.push(chunk);
                entries.extend(all(&mut parser));
            }
            assert_eq!(entries, expected, "chunks of {size}");
            assert_eq!(parser.finish(), None);
        }
    }

    #[test]
    fn an_unterminated_entry_is_kept_at_the_end() {
        let mut parser = Parser::default();
        parser.push(b"\nMESSAGE=last\n");
        assert_eq!(all(&mut parser), vec![]);
        assert_eq!(parser.finish().and_then(|e| e.message), Some("last".into()));
    }

    #[test]
    fn a_binary_field_without_its_newline_is_malformed() {
        let mut parser = Parser::default();
        let mut bad = binary("MESSAGE", b"abc");
        *bad.last_mut().unwrap() = b'x';
        parser.push(&bad);
        assert_eq!(parser.next_entry(), Err(Malformed));
    }
}
