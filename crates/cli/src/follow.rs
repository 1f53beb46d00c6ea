//! Following a background job to its end over `GET /jobs/<id>/follow`, a server-sent-events
//! stream of job snapshots, and turning the final snapshot into success or an error. A
//! Supervisor without that endpoint (the real one before it had it) is asked `GET /jobs/<id>`
//! until the job is done instead.

use crate::client::{Body, Client, DEFAULT_TIMEOUT};
use crate::output::{self, JobProgress, Level};
use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use reqwest::{Method, Response, StatusCode};
use serde::Deserialize;
use std::time::Duration;

/// How often a job is asked for when it cannot be followed.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// A job as the supervisor reports it; only what the CLI looks at.
#[derive(Debug, Clone, Deserialize)]
pub struct JobInfo {
    pub name: String,
    /// What the job acted on, such as the slug of the backup it made.
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub progress: f64,
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub done: Option<bool>,
    #[serde(default)]
    pub errors: Vec<JobError>,
    #[serde(default)]
    pub child_jobs: Vec<JobInfo>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JobError {
    pub message: String,
}

impl JobInfo {
    fn is_done(&self) -> bool {
        self.done == Some(true)
    }

    /// What to show of the job: its own progress and stage, or, while its own progress has not
    /// moved, those of the first child still at work, so that a job whose work happens in its
    /// children (a backup's per-app jobs) does not sit at 0%.
    pub fn shown(&self) -> (f64, Option<&str>) {
        let own_stage = self.stage.as_deref().filter(|stage| !stage.is_empty());
        if self.progress > 0.0 || self.is_done() {
            return (self.progress, own_stage);
        }
        match self.child_jobs.iter().find(|child| !child.is_done()) {
            Some(child) => {
                let (progress, stage) = child.shown();
                (progress, own_stage.or(stage).or(Some(child.name.as_str())))
            }
            None => (self.progress, own_stage),
        }
    }

    /// The job's own first error, else the first one among its children, depth first.
    pub fn first_error(&self) -> Option<&str> {
        self.errors
            .first()
            .map(|error| error.message.as_str())
            .or_else(|| self.child_jobs.iter().find_map(JobInfo::first_error))
    }
}

/// Follows job `job_id` until it is done, showing its progress; fails with the job's first error,
/// else answers the job's last snapshot.
pub async fn follow(client: &Client, job_id: &str, no_progress: bool) -> Result<JobInfo> {
    let stream = client
        .open_stream_unless(&["jobs", job_id, "follow"], &[], "text/event-stream", Some(StatusCode::NOT_FOUND))
        .await?;
    let mut progress = JobProgress::new(no_progress);
    let job = match stream {
        Some(response) => watch(client, job_id, response, &mut progress).await,
        None => {
            output::log(Level::Debug, "the Supervisor cannot stream jobs; asking for the job instead");
            poll(client, job_id, &mut progress).await
        }
    };
    // Cleared before any error is printed, so the message gets a line of its own.
    progress.finish();
    let job = job?;
    match job.first_error() {
        Some(message) => bail!("{message}"),
        None => Ok(job),
    }
}

/// Reads the job's events until the one that says it is done, and returns that snapshot.
async fn watch(client: &Client, job_id: &str, response: Response, progress: &mut JobProgress) -> Result<JobInfo> {
    let mut parser = SseParser::default();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(err) => {
                // Asking for the job below tells whether it ended anyway.
                output::log(Level::Warn, format_args!("the job stream broke off: {}", client.transport_error(err)));
                break;
            }
        };
        for event in parser.feed(&chunk) {
            if event.name != "job" {
                continue;
            }
            let job: JobInfo =
                serde_json::from_str(&event.data).context("the Supervisor sent a job event that cannot be read")?;
            progress.update(&job);
            if job.is_done() {
                return Ok(job);
            }
        }
    }

    let job = fetch(client, job_id, progress).await.with_context(|| format!("lost track of job {job_id}"))?;
    if !job.is_done() {
        bail!("the Supervisor stopped reporting on job {job_id} before it ended");
    }
    Ok(job)
}

/// Asks for the job until it is done.
async fn poll(client: &Client, job_id: &str, progress: &mut JobProgress) -> Result<JobInfo> {
    loop {
        let job = fetch(client, job_id, progress).await?;
        if job.is_done() {
            return Ok(job);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The job as `GET /jobs/<id>` answers it, shown.
async fn fetch(client: &Client, job_id: &str, progress: &mut JobProgress) -> Result<JobInfo> {
    let reply = client.call(Method::GET, &["jobs", job_id], &Body::new(), DEFAULT_TIMEOUT).await?;
    let job: JobInfo = serde_json::from_value(reply.data).context("the Supervisor sent a job that cannot be read")?;
    progress.update(&job);
    Ok(job)
}

/// One server-sent event.
#[derive(Debug, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

/// An incremental `text/event-stream` parser: bytes go in as they arrive, split anywhere, and
/// whole events come out.
#[derive(Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The last line ended with `\r`, so a `\n` starting the next chunk belongs to it.
    after_cr: bool,
    name: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            if byte == b'\n' || byte == b'\r' {
                self.after_cr = byte == b'\r';
                let line = std::mem::take(&mut self.line);
                events.extend(self.end_line(&line));
            } else {
                self.line.push(byte);
            }
        }
        events
    }

    fn end_line(&mut self, line: &[u8]) -> Option<Event> {
        // Decoded only now, so a character split across chunks arrives whole.
        let line = String::from_utf8_lossy(line);
        if line.is_empty() {
            let name = std::mem::take(&mut self.name);
            let data = std::mem::take(&mut self.data);
            if !std::mem::take(&mut self.has_data) {
                return None;
            }
            let name = if name.is_empty() { "message".to_owned() } else { name };
            return Some(Event { name, data });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.name = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // `id` and `retry` matter only to clients that reconnect, which this one does not.
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = ": keep-alive\n\n\
        event: job\ndata: {\"name\":\"supervisor_update\",\"progress\":0,\"stage\":null,\"done\":false,\"errors\":[],\"child_jobs\":[]}\n\n\
        : keep-alive\r\n\r\n\
        event: job\r\ndata: {\"name\":\"supervisor_update\",\"progress\":42.5,\"stage\":\"überprüfen\",\"done\":false,\"errors\":[],\"child_jobs\":[]}\r\n\r\n\
        event: other\ndata: ignored\n\n\
        event:job\rdata:{\"name\":\"supervisor_update\",\"progress\":100,\r\
        data:\"done\":true,\"errors\":[],\"child_jobs\":[{\"name\":\"pull\",\"progress\":100,\"errors\":[{\"type\":\"x\",\"message\":\"disk full\",\"stage\":null}]}]}\r\r";

    fn jobs(events: &[Event]) -> Vec<JobInfo> {
        events.iter().filter(|e| e.name == "job").map(|e| serde_json::from_str(&e.data).unwrap()).collect()
    }

    fn check(events: &[Event]) {
        assert_eq!(events.len(), 4, "{events:?}");
        assert_eq!(events[2], Event { name: "other".into(), data: "ignored".into() });
        let jobs = jobs(events);
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0].stage, None);
        assert_eq!(jobs[1].stage.as_deref(), Some("überprüfen"));
        assert_eq!(jobs[1].progress, 42.5);
        assert!(jobs[2].is_done());
        assert_eq!(jobs[2].first_error(), Some("disk full"));
    }

    #[test]
    fn parses_a_stream_in_one_piece() {
        check(&SseParser::default().feed(STREAM.as_bytes()));
    }

    #[test]
    fn parses_a_stream_split_at_every_point() {
        let bytes = STREAM.as_bytes();
        for at in 0..=bytes.len() {
            let mut parser = SseParser::default();
            let mut events = parser.feed(&bytes[..at]);
            events.extend(parser.feed(&bytes[at..]));
            check(&events);
        }
    }

    #[test]
    fn parses_a_stream_fed_byte_by_byte() {
        let mut parser = SseParser::default();
        let events: Vec<Event> = STREAM.as_bytes().iter().flat_map(|byte| parser.feed(&[*byte])).collect();
        check(&events);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let events = SseParser::default().feed(b"data: a\ndata: b\n\nevent: e\n\n");
        assert_eq!(events, vec![Event { name: "message".into(), data: "a\nb".into() }]);
    }

    #[test]
    fn a_job_at_zero_shows_its_working_child() {
        let job: JobInfo = serde_json::from_str(
            r#"{"name":"backup_manager_full_backup","progress":0,"stage":null,"done":false,"errors":[],"child_jobs":[
                {"name":"backup_store_addons","progress":100,"done":true,"errors":[]},
                {"name":"backup_addon_save","progress":40,"stage":"copy","done":false,"errors":[]}]}"#,
        )
        .unwrap();
        assert_eq!(job.shown(), (40.0, Some("copy")));
        let own: JobInfo =
            serde_json::from_str(r#"{"name":"a","progress":12.5,"stage":"s","errors":[],"child_jobs":[]}"#).unwrap();
        assert_eq!(own.shown(), (12.5, Some("s")));
    }

    #[test]
    fn first_error_prefers_the_job_then_its_children() {
        let job: JobInfo = serde_json::from_str(
            r#"{"name":"a","progress":1,"errors":[],"child_jobs":[
                {"name":"b","errors":[],"child_jobs":[{"name":"c","errors":[{"message":"deep"}]}]},
                {"name":"d","errors":[{"message":"later"}]}]}"#,
        )
        .unwrap();
        assert_eq!(job.first_error(), Some("deep"));
        let own: JobInfo =
            serde_json::from_str(r#"{"name":"a","errors":[{"message":"own"}],"child_jobs":[]}"#).unwrap();
        assert_eq!(own.first_error(), Some("own"));
    }
}
