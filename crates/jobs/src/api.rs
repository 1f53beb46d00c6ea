//! The `/jobs` API group.

use crate::{JobInfo, JobManager, JobsInfo, JobsOptions};
use actix_web::{delete, get, post, web, HttpResponse};
use bytes::Bytes;
use http_api::routes::{INFO, MANAGER};
use http_api::Routes;
use http_api::{ok, ok_empty, ApiResult, Body};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("jobs", "Long operations and their progress");
    routes
        .group("/jobs")
        .route(INFO, jobs_info)
        .route(MANAGER, jobs_options)
        .route(MANAGER, jobs_reset)
        .route(MANAGER, job_follow)
        .route(MANAGER, job_info)
        .route(MANAGER, job_delete);
}

/// Ignored conditions and every running or completed job.
#[utoipa::path(tag = "jobs", responses((status = 200, body = http_api::envelope::Envelope<JobsInfo>)))]
#[get("/info")]
async fn jobs_info(jobs: web::Data<JobManager>) -> ApiResult {
    ok(jobs.info())
}

/// Sets the conditions to ignore.
#[utoipa::path(tag = "jobs", request_body = JobsOptions, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/options")]
async fn jobs_options(jobs: web::Data<JobManager>, body: http_api::body::Options<JobsOptions>) -> ApiResult {
    if let Some(conditions) = body.into_inner().ignore_conditions {
        jobs.set_ignored_conditions(conditions)?;
    }
    ok_empty()
}

/// Stops ignoring any condition.
#[utoipa::path(tag = "jobs", request_body(content = Option<Object>, description = "Ignored; must be JSON when given"),
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope)))]
#[post("/reset")]
async fn jobs_reset(jobs: web::Data<JobManager>, _body: Body<serde_json::Map<String, serde_json::Value>>) -> ApiResult {
    jobs.set_ignored_conditions(Vec::new())?;
    ok_empty()
}

/// One job, with its child jobs.
#[utoipa::path(tag = "jobs", params(("job_id" = String, Path)), responses((status = 200, body = http_api::envelope::Envelope<JobInfo>), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[get("/{job_id}")]
async fn job_info(jobs: web::Data<JobManager>, job_id: web::Path<String>) -> ApiResult {
    ok(jobs.job(&job_id).ok_or_else(|| crate::manager::no_such_job(&job_id))?)
}

/// Forgets a job that has ended.
#[utoipa::path(tag = "jobs", params(("job_id" = String, Path)), responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[delete("/{job_id}")]
async fn job_delete(jobs: web::Data<JobManager>, job_id: web::Path<String>) -> ApiResult {
    jobs.remove(&job_id)?;
    ok_empty()
}

/// Follows a job without polling: a `text/event-stream` whose events (`event: job`) each carry
/// the job as `GET /jobs/{job_id}` returns it, sent whenever it or a child changes; the stream
/// ends after the event in which `done` is true.
#[utoipa::path(
    tag = "jobs",
    params(("job_id" = String, Path)),
    responses(
        (status = 200, description = "Server-sent events, one `job` event per change", content_type = "text/event-stream", body = JobInfo),
        (status = 404, body = http_api::envelope::ErrorEnvelope)
    )
)]
#[get("/{job_id}/follow")]
async fn job_follow(jobs: web::Data<JobManager>, job_id: web::Path<String>) -> ApiResult {
    let job_id = job_id.into_inner();
    let changes = jobs.subscribe();
    let first = jobs.job(&job_id).ok_or_else(|| crate::manager::no_such_job(&job_id))?;
    let jobs = jobs.into_inner();
    let follow = Follow { jobs, job_id, changes, next: Some(first), last: String::new(), ended: false };
    let stream = futures_util::stream::unfold(follow, |mut follow| async move {
        let event = follow.next_event().await?;
        Some((Ok::<_, actix_web::Error>(event), follow))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(stream))
}

/// The state of one `/jobs/{job_id}/follow` stream.
struct Follow {
    jobs: std::sync::Arc<JobManager>,
    job_id: String,
    changes: tokio::sync::broadcast::Receiver<String>,
    next: Option<JobInfo>,
    last: String,
    ended: bool,
}

impl Follow {
    /// The next chunk to send, or `None` once the job ended or vanished.
    async fn next_event(&mut self) -> Option<Bytes> {
        loop {
            if self.ended {
                return None;
            }
            if let Some(info) = self.next.take() {
                let json = serde_json::to_string(&info).expect("job serializes");
                if json != self.last {
                    self.ended = info.done == Some(true);
                    let event = Bytes::from(format!("event: job\ndata: {json}\n\n"));
                    self.last = json;
                    return Some(event);
                }
            }
            match tokio::time::timeout(Duration::from_secs(15), self.changes.recv()).await {
                Err(_) => return Some(Bytes::from_static(b": keep-alive\n\n")),
                Ok(Err(RecvError::Closed)) => return None,
                Ok(Ok(_) | Err(RecvError::Lagged(_))) => self.next = Some(self.jobs.job(&self.job_id)?),
            }
        }
    }
}

/// The body of action endpoints that can run in the background.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackgroundBody {
    /// Answer at once with `{"job_id": ...}` instead of waiting for the job.
    #[serde(default)]
    pub background: bool,
}

/// Answer of an action started with `background: true`.
#[derive(Serialize, ToSchema)]
pub struct JobStarted {
    pub job_id: String,
}

/// The answer to an action run as a job: `{}` once it is done, `{"job_id": ...}` when it runs on
/// in the background.
pub fn answer(outcome: crate::Outcome) -> ApiResult {
    match outcome {
        crate::Outcome::Done => ok_empty(),
        crate::Outcome::Started(job_id) => ok(JobStarted { job_id }),
    }
}
