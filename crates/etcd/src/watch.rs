//! Watches: one streamed answer of the gateway's `/v3/watch`, newline-delimited JSON messages,
//! read as batches of events in revision order.

use crate::wire::{self, StreamMessage, WatchResponse};
use crate::{Error, KeyValue};

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The key as written; for a delete only `key` and `mod_revision` (the deletion's revision)
    /// are set.
    pub kv: KeyValue,
    /// The revision of the change.
    pub revision: i64,
}

/// A watch of a prefix, from [`Client::watch_prefix`](crate::Client::watch_prefix).
///
/// The stream ends ([`Watch::next`] answers `None`) when the member serving it goes away or the
/// connection breaks; nothing is lost if the caller watches again from
/// [`Watch::resume_revision`] (the last revision seen + 1), on whichever endpoint answers.
pub struct Watch {
    response: reqwest::Response,
    buffer: Vec<u8>,
    /// The first revision not yet delivered, once known.
    resume: Option<i64>,
    ended: bool,
}

impl Watch {
    pub(crate) fn new(response: reqwest::Response, start_revision: Option<i64>) -> Watch {
        Watch { response, buffer: Vec::new(), resume: start_revision, ended: false }
    }

    /// The next batch of events (those of one or more revisions, in order); `None` when the
    /// stream has ended. [`Error::Compacted`] when the revisions asked for are gone.
    pub async fn next(&mut self) -> Result<Option<Vec<Event>>, Error> {
        loop {
            while let Some(end) = self.buffer.iter().position(|byte| *byte == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                if let Some(events) = self.message(&line)? {
                    return Ok(Some(events));
                }
            }
            if self.ended {
                return Ok(None);
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) => self.end(None),
                Err(err) => self.end(Some(err)),
            }
        }
    }

    /// The revision to watch from again after the stream ended, so that no event is missed or
    /// seen twice; `None` when no event came and the watch began at the revision current then
    /// and its creation was not confirmed yet.
    pub fn resume_revision(&self) -> Option<i64> {
        self.resume
    }

    /// Ends the stream; what is left unterminated in the buffer is the last message.
    fn end(&mut self, error: Option<reqwest::Error>) {
        if let Some(error) = error {
            tracing::debug!("etcd watch stream broke: {error}");
        }
        self.ended = true;
        if !self.buffer.is_empty() {
            self.buffer.push(b'\n');
        }
    }

    /// Reads one message: its events, or `None` for one without (the creation's
    /// confirmation, progress notices, blank lines).
    fn message(&mut self, line: &[u8]) -> Result<Option<Vec<Event>>, Error> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let answer = wire::decode::<StreamMessage<WatchResponse>>("watch", line)?.into_result()?;
        if answer.canceled {
            self.ended = true;
            self.buffer.clear();
            if answer.compact_revision != 0 {
                return Err(Error::Compacted { compact_revision: answer.compact_revision });
            }
            return Err(Error::WatchCanceled { reason: answer.cancel_reason });
        }
        if answer.created && self.resume.is_none() {
            // Watching from now: events follow the revision current at creation.
            self.resume = Some(answer.header.revision + 1);
        }
        if answer.events.is_empty() {
            return Ok(None);
        }
        let events = answer
            .events
            .into_iter()
            .map(|event| {
                let kind = if event.kind == "DELETE" { EventKind::Delete } else { EventKind::Put };
                let kv = event.kv.into_key_value()?;
                Ok(Event { kind, revision: kv.mod_revision, kv })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        if let Some(last) = events.last() {
            self.resume = Some(last.revision + 1);
        }
        Ok(Some(events))
    }
}
