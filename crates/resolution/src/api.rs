//! The `/resolution` API group (the V1 shapes: the add-on issue types and check slugs by their
//! older names, either name accepted in a path). Every role may read the info; the rest is for
//! the manager role and Core.

use crate::manager::{ResolutionInfo, ResolutionManager};
use crate::model::SuggestionView;
use actix_web::{delete, get, post, web};
use http_api::body::Body;
use http_api::routes::{INFO, MANAGER};
use http_api::{ok, ok_empty, ApiResult, Routes};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("resolution", "The resolution center: support and health, issues, suggestions and checks");
    routes
        .group("/resolution")
        .route(INFO, resolution_info)
        .route(MANAGER, check_options)
        .route(MANAGER, check_run)
        .route(MANAGER, issue_suggestions)
        .route(MANAGER, issue_dismiss)
        .route(MANAGER, suggestion_apply)
        .route(MANAGER, suggestion_dismiss)
        .route(MANAGER, healthcheck);
}

/// The verdicts, the issues with their suggestions, and the checks.
#[utoipa::path(tag = "resolution", responses((status = 200, body = http_api::envelope::Envelope<ResolutionInfo>)))]
#[get("/info")]
async fn resolution_info(manager: web::Data<ResolutionManager>) -> ApiResult {
    ok(manager.info())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckOptionsBody {
    /// Whether the health check runs the check.
    enabled: Option<bool>,
}

/// Enables or disables a check.
#[utoipa::path(
    tag = "resolution",
    params(("check" = String, Path)),
    request_body = CheckOptionsBody,
    responses(
        (status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>),
        (status = 404, description = "No such check"),
    )
)]
#[post("/check/{check}/options")]
async fn check_options(
    check: web::Path<String>,
    body: Body<CheckOptionsBody>,
    manager: web::Data<ResolutionManager>,
) -> ApiResult {
    manager.set_check_options(&check, body.into_inner().enabled)?;
    ok_empty()
}

/// Runs a check now, enabled or not.
#[utoipa::path(
    tag = "resolution",
    params(("check" = String, Path)),
    responses(
        (status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>),
        (status = 404, description = "No such check"),
    )
)]
#[post("/check/{check}/run")]
async fn check_run(check: web::Path<String>, manager: web::Data<ResolutionManager>) -> ApiResult {
    manager.run_check(&check).await?;
    ok_empty()
}

#[derive(Serialize, ToSchema)]
pub struct IssueSuggestions {
    suggestions: Vec<SuggestionView>,
}

/// The suggestions that fix an issue.
#[utoipa::path(
    tag = "resolution",
    params(("issue" = String, Path)),
    responses(
        (status = 200, body = http_api::envelope::Envelope<IssueSuggestions>),
        (status = 404, description = "No such issue"),
    )
)]
#[get("/issue/{issue}/suggestions")]
async fn issue_suggestions(issue: web::Path<String>, manager: web::Data<ResolutionManager>) -> ApiResult {
    ok(IssueSuggestions { suggestions: manager.suggestions_for_issue(&issue)? })
}

/// Dismisses an issue (a check that finds it again brings it back).
#[utoipa::path(
    tag = "resolution",
    params(("issue" = String, Path)),
    responses(
        (status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>),
        (status = 404, description = "No such issue"),
    )
)]
#[delete("/issue/{issue}")]
async fn issue_dismiss(issue: web::Path<String>, manager: web::Data<ResolutionManager>) -> ApiResult {
    manager.dismiss_issue(&issue)?;
    ok_empty()
}

/// Applies a suggestion: its fixup runs as a job, then the health check.
#[utoipa::path(
    tag = "resolution",
    params(("suggestion" = String, Path)),
    responses(
        (status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>),
        (status = 404, description = "No such suggestion"),
    )
)]
#[post("/suggestion/{suggestion}")]
async fn suggestion_apply(suggestion: web::Path<String>, manager: web::Data<ResolutionManager>) -> ApiResult {
    manager.apply_suggestion(&suggestion).await?;
    ok_empty()
}

/// Dismisses a suggestion; its issue stays.
#[utoipa::path(
    tag = "resolution",
    params(("suggestion" = String, Path)),
    responses(
        (status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>),
        (status = 404, description = "No such suggestion"),
    )
)]
#[delete("/suggestion/{suggestion}")]
async fn suggestion_dismiss(suggestion: web::Path<String>, manager: web::Data<ResolutionManager>) -> ApiResult {
    manager.dismiss_suggestion(&suggestion)?;
    ok_empty()
}

/// Runs the health check now: every enabled check, the evaluations and the automatic fixups.
#[utoipa::path(tag = "resolution", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>)))]
#[post("/healthcheck")]
async fn healthcheck(manager: web::Data<ResolutionManager>) -> ApiResult {
    manager.healthcheck().await;
    ok_empty()
}
