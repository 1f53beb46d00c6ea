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

/// A watch of a prefix, from [`Client::watch_prefix`](crate::Client::watch_prefix), which
/// answers once etcd has confirmed it: every change after that is seen.
///
/// The stream ends ([`Watch::next`] answers `None`) when the member serving it goes away or the
/// connection breaks; nothing is lost if the caller watches again from
/// [`Watch::resume_revision`] (the last revision seen + 1), on whichever endpoint answers.
pub struct Watch {
    response: reqwest::Response,
    buffer: Vec<u8>,
    /// The first revision not yet delivered.
    resume: i64,
    /// Events read while waiting for the confirmation, delivered first.
    pending: Vec<Event>,
    ended: bool,
}

impl Watch {
    /// Reads the stream up to etcd's confirmation that the watch exists.
    pub(crate) async fn start(response: reqwest::Response, start_revision: Option<i64>) -> Result<Watch, Error> {
        let mut watch = Watch { response, buffer: Vec::new(), resume: 0, pending: Vec::new(), ended: false };
        loop {
            let Some(answer) = watch.message().await? else {
                return Err(Error::WatchCanceled { reason: "the stream ended before the watch was created".into() });
            };
            let created = answer.created;
            let current = answer.header.revision;
            watch.pending.extend(events(answer)?);
            if created {
                // Without a start, the watch begins after the revision current at its creation.
                watch.resume = start_revision.unwrap_or(current + 1);
                if let Some(last) = watch.pending.last() {
                    watch.resume = last.revision + 1;
                }
                return Ok(watch);
            }
        }
    }

    /// The next batch of events (those of one or more revisions, in order); `None` when the
    /// stream has ended. [`Error::Compacted`] when the revisions asked for are gone.
    pub async fn next(&mut self) -> Result<Option<Vec<Event>>, Error> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        while let Some(answer) = self.message().await? {
            let events = events(answer)?;
            if let Some(last) = events.last() {
                self.resume = last.revision + 1;
                return Ok(Some(events));
            }
        }
        Ok(None)
    }

    /// The revision to watch from again after the stream ended, so that no event is missed or
    /// seen twice.
    pub fn resume_revision(&self) -> i64 {
        self.resume
    }

    /// The next message of the stream; `None` at its end. A cancellation is an error.
    async fn message(&mut self) -> Result<Option<WatchResponse>, Error> {
        loop {
            while let Some(end) = self.buffer.iter().position(|byte| *byte == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let answer = wire::decode::<StreamMessage<WatchResponse>>("watch", &line)?.into_result()?;
                if answer.canceled {
                    self.ended = true;
                    self.buffer.clear();
                    if answer.compact_revision != 0 {
                        return Err(Error::Compacted { compact_revision: answer.compact_revision });
                    }
                    return Err(Error::WatchCanceled { reason: answer.cancel_reason });
                }
                return Ok(Some(answer));
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
}

/// A message's events (none for progress notices and the creation's confirmation).
fn events(answer: WatchResponse) -> Result<Vec<Event>, Error> {
    answer
        .events
        .into_iter()
        .map(|event| {
            let kind = if event.kind == "DELETE" { EventKind::Delete } else { EventKind::Put };
            let kv = event.kv.into_key_value()?;
            Ok(Event { kind, revision: kv.mod_revision, kv })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A watch reading `chunks` as the stream's body.
    async fn watch(chunks: Vec<&'static str>, start: Option<i64>) -> Result<Watch, Error> {
        let chunks = chunks.into_iter().map(Ok::<_, std::io::Error>);
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        Watch::start(reqwest::Response::from(http::Response::new(body)), start).await
    }

    const CREATED: &str = r#"{"result":{"header":{"revision":"9"},"created":true}}"#;

    #[tokio::test]
    async fn messages_cut_across_chunks_are_read_whole() {
        let mut watch = watch(
            vec![
                CREATED,
                "\n{\"result\":{\"header\":{},\"events\":[{\"kv\":{\"key\":\"YQ==\",\"mod_",
                "revision\":\"10\",\"value\":\"MQ==\"}}]}}\n\n{\"result\":{\"events\":[{\"type\":\"DELETE\",",
                "\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"11\"}}]}}",
            ],
            None,
        )
        .await
        .unwrap();
        assert_eq!(watch.resume_revision(), 10);
        let put = watch.next().await.unwrap().unwrap();
        assert_eq!((put[0].kind, put[0].kv.key.as_str(), put[0].kv.value.as_slice()), (EventKind::Put, "a", &b"1"[..]));
        // The last message lacks its newline: the end of the stream ends it.
        let delete = watch.next().await.unwrap().unwrap();
        assert_eq!((delete[0].kind, delete[0].revision), (EventKind::Delete, 11));
        assert_eq!(watch.resume_revision(), 12);
        assert!(watch.next().await.unwrap().is_none());
        assert!(watch.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_start_revision_is_where_a_watch_without_events_resumes() {
        let mut watch = watch(vec![CREATED, "\n"], Some(3)).await.unwrap();
        assert_eq!(watch.resume_revision(), 3);
        assert!(watch.next().await.unwrap().is_none());
        assert_eq!(watch.resume_revision(), 3);
    }

    #[tokio::test]
    async fn compaction_and_a_stream_ending_early_are_errors() {
        let compacted = r#"{"result":{"header":{},"canceled":true,"compact_revision":"4"}}"#;
        let mut watch = watch(vec![CREATED, "\n", compacted, "\n"], Some(2)).await.unwrap();
        assert!(matches!(watch.next().await, Err(Error::Compacted { compact_revision: 4 })));
        assert!(watch.next().await.unwrap().is_none());
        assert!(matches!(super::tests::watch(vec![], None).await, Err(Error::WatchCanceled { .. })));
        let error = r#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}}"#;
        let error = super::tests::watch(vec![error], None).await.err().unwrap();
        assert!(error.is_unavailable(), "{error:?}");
    }
}
