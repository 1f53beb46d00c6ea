//! The resolution center: it holds the issues and suggestions, runs the checks and the
//! evaluations (at start, every hour, after a suggestion is applied and when asked), applies
//! suggestions as jobs, and tells Core of every change as the real Supervisor does.
//!
//! The verdicts live in [`base::System`], where the info endpoints and the job conditions read
//! them. Issues and suggestions are kept in the database, so the list Core shows survives a
//! restart with the same uuids, and the first pass after it drops what is no longer true.

use crate::checks::{self, Check, Finding};
use crate::evaluations::{self, Facts, UNHEALTHY_WHEN_UNSUPPORTED};
use crate::fixups;
use crate::model::{
    check_slug_from_v1, v1_check_slug, ContextType, Issue, IssueType, IssueView, Subject, Suggestion, SuggestionType,
    SuggestionView,
};
use crate::Parts;
use base::system::IssueChange;
use base::{CoreState, Error};
use jobs::{JobSpec, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use state::Persisted;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// How often the health check runs by itself (the real `SCHEDULED_HEALTHCHECK`).
const HEALTHCHECK_PERIOD: Duration = Duration::from_secs(3600);

/// What is persisted: the checks' options, and the issues and suggestions found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Record {
    #[serde(default)]
    checks: BTreeMap<String, CheckOptions>,
    #[serde(default)]
    issues: Vec<Issue>,
    #[serde(default)]
    suggestions: Vec<Suggestion>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct CheckOptions {
    enabled: bool,
}

/// `/resolution/info`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResolutionInfo {
    unsupported: Vec<String>,
    unhealthy: Vec<String>,
    suggestions: Vec<SuggestionView>,
    issues: Vec<IssueView>,
    checks: Vec<CheckInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckInfo {
    enabled: bool,
    slug: String,
}

#[derive(Clone)]
pub struct ResolutionManager {
    inner: Arc<Inner>,
}

struct Inner {
    parts: Parts,
    record: Persisted<Record>,
    /// One pass of checks or evaluations at a time, so that two never race on the issues.
    pass: tokio::sync::Mutex<()>,
    /// How often each fixup was tried since the start, for those applied by themselves only a
    /// few times.
    attempts: std::sync::Mutex<BTreeMap<&'static str, u32>>,
}

fn issue_not_found(uuid: &str) -> Error {
    Error::not_found(format!("Issue {uuid} does not exist")).with_key("resolution_issue_not_found")
}

fn suggestion_not_found(uuid: &str) -> Error {
    Error::not_found(format!("Suggestion {uuid} does not exist")).with_key("resolution_suggestion_not_found")
}

fn check_not_found(slug: &str) -> Error {
    Error::not_found(format!("Check '{slug}' does not exist")).with_key("resolution_check_not_found")
}

impl ResolutionManager {
    pub fn new(store: &state::Store, parts: Parts) -> state::Result<ResolutionManager> {
        let record = Persisted::load(store.section("resolution")?, "state")?;
        let inner = Inner { parts, record, pass: tokio::sync::Mutex::new(()), attempts: std::sync::Mutex::default() };
        Ok(ResolutionManager { inner: Arc::new(inner) })
    }

    fn record(&self) -> Record {
        self.inner.record.get()
    }

    fn enabled(record: &Record, check: Check) -> bool {
        record.checks.get(check.slug()).is_none_or(|options| options.enabled)
    }

    /// `/resolution/info`, with the V1 names.
    pub fn info(&self) -> ResolutionInfo {
        let record = self.record();
        let system = &self.inner.parts.system;
        ResolutionInfo {
            unsupported: system.unsupported_reasons(),
            unhealthy: system.unhealthy_reasons(),
            suggestions: record.suggestions.iter().map(|s| self.suggestion_view(s)).collect(),
            issues: record.issues.iter().map(IssueView::from).collect(),
            checks: Check::ALL
                .iter()
                .map(|&check| CheckInfo {
                    enabled: Self::enabled(&record, check),
                    slug: v1_check_slug(check.slug()).to_owned(),
                })
                .collect(),
        }
    }

    /// The suggestions that fix the issue `uuid`.
    pub fn suggestions_for_issue(&self, uuid: &str) -> Result<Vec<SuggestionView>, Error> {
        let record = self.record();
        let issue = record.issues.iter().find(|i| i.uuid == uuid).ok_or_else(|| issue_not_found(uuid))?;
        Ok(suggestions_of(&record, issue).into_iter().map(|s| self.suggestion_view(s)).collect())
    }

    /// Sets a check's options (the check named by either of its slugs).
    pub fn set_check_options(&self, slug: &str, enabled: Option<bool>) -> Result<(), Error> {
        let check = find_check(slug)?;
        let Some(enabled) = enabled else { return Ok(()) };
        self.inner
            .record
            .update(|record| {
                record.checks.insert(check.slug().to_owned(), CheckOptions { enabled });
            })
            .map(drop)
            .map_err(|e| Error::internal(format!("Can't save the resolution center's options: {e}")))
    }

    /// Runs one check now, enabled or not.
    pub async fn run_check(&self, slug: &str) -> Result<(), Error> {
        let check = find_check(slug)?;
        let _pass = self.inner.pass.lock().await;
        self.run(check).await;
        Ok(())
    }

    /// Dismisses a suggestion; its issues stay.
    pub fn dismiss_suggestion(&self, uuid: &str) -> Result<(), Error> {
        let record = self.record();
        let suggestion =
            record.suggestions.iter().find(|s| s.uuid == uuid).cloned().ok_or_else(|| suggestion_not_found(uuid))?;
        self.change(|record| record.suggestions.retain(|s| s.uuid != uuid))?;
        for issue in issues_of(&record, &suggestion) {
            self.tell_issue_changed(&issue);
        }
        Ok(())
    }

    /// Dismisses an issue, and the suggestions that fixed only it. A check that finds it again
    /// brings it back.
    pub fn dismiss_issue(&self, uuid: &str) -> Result<(), Error> {
        let record = self.record();
        let issue = record.issues.iter().find(|i| i.uuid == uuid).cloned().ok_or_else(|| issue_not_found(uuid))?;
        self.remove_issues(&[issue])
    }

    /// Applies a suggestion as the job of its fixup, then runs the health check. The issues it
    /// fixes and the suggestion go when the fixup succeeded.
    pub async fn apply_suggestion(&self, uuid: &str) -> Result<(), Error> {
        let record = self.record();
        let suggestion =
            record.suggestions.iter().find(|s| s.uuid == uuid).cloned().ok_or_else(|| suggestion_not_found(uuid))?;
        let fixups: Vec<&fixups::Fixup> = fixups::for_suggestion(&suggestion).collect();
        for fixup in fixups {
            self.run_fixup(fixup, &suggestion).await?;
        }
        self.healthcheck().await;
        Ok(())
    }

    /// A suggestion as the API shows it, `auto` when a fixup of it is applied by itself now.
    fn suggestion_view(&self, suggestion: &Suggestion) -> SuggestionView {
        SuggestionView::new(suggestion, fixups::for_suggestion(suggestion).any(|f| self.automatic(f)))
    }

    fn automatic(&self, fixup: &fixups::Fixup) -> bool {
        let attempts = self.inner.attempts.lock().unwrap_or_else(|e| e.into_inner());
        fixup.automatic(attempts.get(fixup.slug).copied().unwrap_or(0))
    }

    async fn run_fixup(&self, fixup: &'static fixups::Fixup, suggestion: &Suggestion) -> Result<(), Error> {
        *self.inner.attempts.lock().unwrap_or_else(|e| e.into_inner()).entry(fixup.slug).or_default() += 1;
        let mut spec = JobSpec::new(format!("fixup_{}_process", fixup.slug));
        if let Some(reference) = &suggestion.subject.reference {
            spec = spec.reference(reference.clone());
        }
        let manager = self.clone();
        let owned = suggestion.clone();
        let outcome = self
            .inner
            .parts
            .jobs
            .perform(spec, false, move |_job| async move { fixup.process(&manager.inner.parts, &owned).await })
            .await;
        match outcome {
            Ok(Outcome::Done | Outcome::Started(_)) => {
                let record = self.record();
                let fixed = issues_of(&record, suggestion);
                self.change(|record| record.suggestions.retain(|s| s.uuid != suggestion.uuid))?;
                self.remove_issues(&fixed)
            }
            Err(e) => {
                tracing::warn!("The fixup {} failed: {}", fixup.slug, e.message);
                if fixup.hopeless(&self.inner.parts, suggestion).await {
                    self.dismiss_suggestion(&suggestion.uuid)?;
                }
                Err(e)
            }
        }
    }

    /// The health check: every enabled check, the evaluations, then the fixups the supervisor
    /// applies by itself.
    pub async fn healthcheck(&self) {
        self.healthcheck_in(false).await;
    }

    /// The health check; the one at `start` stands for the real Supervisor's first, made while
    /// it sets up, so the checks of the setup state run in it too.
    async fn healthcheck_in(&self, start: bool) {
        {
            let _pass = self.inner.pass.lock().await;
            let state = self.inner.parts.system.state();
            let record = self.record();
            tracing::info!("Starting system checks with state {state:?}");
            for check in Check::ALL {
                if !(check.runs_in(state) || start && check.runs_in(CoreState::Setup)) {
                    continue;
                }
                if !Self::enabled(&record, check) {
                    tracing::warn!("Skipping disabled check {}", check.slug());
                    continue;
                }
                self.run(check).await;
            }
            tracing::info!("System checks complete");
        }
        self.evaluate().await;
        self.autofix().await;
    }

    /// Applies every suggestion whose fixup is automatic (when the system is healthy).
    async fn autofix(&self) {
        if !self.inner.parts.system.healthy() {
            return;
        }
        let automatic: Vec<(Suggestion, &'static fixups::Fixup)> = self
            .record()
            .suggestions
            .into_iter()
            .flat_map(|s| {
                fixups::for_suggestion(&s).filter(|f| self.automatic(f)).map(|f| (s.clone(), f)).collect::<Vec<_>>()
            })
            .collect();
        for (suggestion, fixup) in automatic {
            if let Err(e) = self.run_fixup(fixup, &suggestion).await {
                tracing::warn!("Error during processing {:?}: {}", suggestion.kind, e.message);
            }
        }
    }

    /// Runs `check` and replaces its issues by what it found. The caller holds the pass lock.
    async fn run(&self, check: Check) {
        let record = self.record();
        let kind = check.issue();
        let existing: Vec<Issue> = record.issues.iter().filter(|i| i.kind == kind).cloned().collect();
        let Some(found) = check.find(&self.inner.parts, &existing).await else {
            tracing::debug!("The check {} can't tell now", check.slug());
            return;
        };
        if check == Check::SystemdUnitFailure {
            self.mark_filesystem_checks().await;
        }
        if check == Check::DuplicateOsInstallation && !found.is_empty() {
            self.inner.parts.system.mark_unhealthy("duplicate_os_installation", true);
        }
        self.replace(&existing, found);
    }

    /// Replaces the issues `existing` (all of one kind) by `found`: the ones not found again go,
    /// the new ones come, the others stay with their uuids.
    fn replace(&self, existing: &[Issue], found: Vec<Finding>) {
        let gone: Vec<Issue> =
            existing.iter().filter(|i| !found.iter().any(|f| f.subject == i.subject)).cloned().collect();
        if let Err(e) = self.remove_issues(&gone) {
            tracing::warn!("{}", e.message);
        }
        for finding in found {
            if let Err(e) = self.add(finding) {
                tracing::warn!("{}", e.message);
            }
        }
    }

    /// Adds the issues other domains raised while working, and removes the ones they withdrew.
    async fn take_raised(&self, changes: Vec<IssueChange>) {
        let _pass = self.inner.pass.lock().await;
        for change in changes {
            let (raised, issue) = match change {
                IssueChange::Raised(issue) => (true, issue),
                IssueChange::Withdrawn(issue) => (false, issue),
            };
            let parsed = (
                serde_json::from_value::<IssueType>(json!(issue.kind)),
                serde_json::from_value::<ContextType>(json!(issue.context)),
                serde_json::from_value::<Vec<SuggestionType>>(json!(issue.suggestions)),
            );
            let (Ok(kind), Ok(context), Ok(suggestions)) = parsed else {
                tracing::warn!("An issue of unknown kind was raised: {issue:?}");
                continue;
            };
            let subject = Subject { context, reference: issue.reference, reference_extra: issue.extra };
            let outcome = if raised {
                self.add(Finding { kind, subject, suggestions })
            } else {
                let gone: Vec<Issue> = self
                    .record()
                    .issues
                    .into_iter()
                    .filter(|known| {
                        known.kind == kind
                            && known.subject.context == subject.context
                            && known.subject.reference == subject.reference
                    })
                    .collect();
                self.remove_issues(&gone)
            };
            if let Err(e) = outcome {
                tracing::warn!("{}", e.message);
            }
        }
    }

    /// A mount that was tried and is not mounted is an issue until it is mounted again or gone,
    /// as the real mount manager raises it.
    async fn follow_mounts(self) {
        let mut statuses = self.inner.parts.mounts.subscribe();
        loop {
            let found: Vec<Finding> = statuses
                .borrow_and_update()
                .iter()
                .filter(|status| status.failed())
                .map(|status| Finding {
                    kind: IssueType::MountFailed,
                    subject: Subject::of(ContextType::Mount, &status.name),
                    suggestions: vec![SuggestionType::ExecuteReload, SuggestionType::ExecuteRemove],
                })
                .collect();
            {
                let _pass = self.inner.pass.lock().await;
                let existing: Vec<Issue> =
                    self.record().issues.into_iter().filter(|i| i.kind == IssueType::MountFailed).collect();
                self.replace(&existing, found);
            }
            if statuses.changed().await.is_err() {
                return;
            }
        }
    }

    /// A failed file system check of Home Assistant OS makes the system unhealthy.
    async fn mark_filesystem_checks(&self) {
        let Ok(units) = self.inner.parts.host.services().systemd.list_units().await else { return };
        for unit in units.iter().filter(|u| u.active_state == "failed") {
            if let Some(reason) = checks::filesystem_check(&unit.name) {
                tracing::error!("Filesystem check failed: {}", unit.name);
                self.inner.parts.system.mark_unhealthy(reason, true);
            }
        }
    }

    /// Adds an issue found by a check (kept with its uuid when it is already there) and its
    /// suggestions; Core is told of a new issue or a new suggestion.
    fn add(&self, finding: Finding) -> Result<(), Error> {
        let Finding { kind, subject, suggestions } = finding;
        let record = self.record();
        let known = record.issues.iter().find(|i| i.kind == kind && i.subject == subject).cloned();
        let new_suggestions: Vec<Suggestion> = suggestions
            .into_iter()
            .filter(|&s| !record.suggestions.iter().any(|known| known.kind == s && known.subject == subject))
            .map(|kind| Suggestion { kind, subject: subject.clone(), uuid: uuid() })
            .collect();
        if known.is_some() && new_suggestions.is_empty() {
            return Ok(());
        }
        let issue = known.unwrap_or_else(|| {
            tracing::info!("Create new issue {kind:?} - {:?} / {:?}", subject.context, subject.reference);
            Issue { kind, subject: subject.clone(), uuid: uuid() }
        });
        let added = issue.clone();
        self.change(move |record| {
            if !record.issues.iter().any(|i| i.uuid == added.uuid) {
                record.issues.push(added);
            }
            record.suggestions.extend(new_suggestions);
        })?;
        self.tell_issue_changed(&issue);
        Ok(())
    }

    /// Removes `issues` and the suggestions left without an issue; Core is told of each.
    fn remove_issues(&self, issues: &[Issue]) -> Result<(), Error> {
        if issues.is_empty() {
            return Ok(());
        }
        let uuids: BTreeSet<&str> = issues.iter().map(|i| i.uuid.as_str()).collect();
        self.change(|record| {
            record.issues.retain(|i| !uuids.contains(i.uuid.as_str()));
            let left = record.issues.clone();
            record.suggestions.retain(|s| left.iter().any(|i| fixes(s, i)));
        })?;
        for issue in issues {
            self.inner.parts.core.tell("issue_removed", json!(IssueView::from(issue)));
        }
        Ok(())
    }

    fn change(&self, change: impl FnOnce(&mut Record)) -> Result<(), Error> {
        self.inner
            .record
            .update(change)
            .map(drop)
            .map_err(|e| Error::internal(format!("Can't save the resolution center's issues: {e}")))
    }

    fn tell_issue_changed(&self, issue: &Issue) {
        let record = self.record();
        let mut data = json!(IssueView::from(issue));
        data["suggestions"] = json!(suggestions_of(&record, issue)
            .into_iter()
            .map(|s| json!({"type": s.kind, "context": s.subject.context, "reference": s.subject.reference, "reference_extra": s.subject.reference_extra, "uuid": s.uuid}))
            .collect::<Vec<Value>>());
        self.inner.parts.core.tell("issue_changed", data);
    }

    /// Runs every evaluation whose facts are known and records the verdicts; Core is told when
    /// the supported or healthy verdict changes.
    pub async fn evaluate(&self) {
        let _pass = self.inner.pass.lock().await;
        let system = &self.inner.parts.system;
        let before = (system.unsupported_reasons(), system.unhealthy_reasons());
        tracing::info!("Starting system evaluation with state {:?}", system.state());
        let facts = crate::facts::gather(&self.inner.parts, &self.record().issues).await;
        system.set_network_manager(facts.connectivity_check_enabled.is_some());
        for verdict in evaluations::evaluate(&facts) {
            let Some(unsupported) = verdict.unsupported else { continue };
            if unsupported && !system.unsupported_reasons().iter().any(|r| r == verdict.reason) {
                tracing::warn!(
                    "{} (more-info: https://www.home-assistant.io/more-info/unsupported/{})",
                    verdict.message,
                    verdict.reason
                );
            }
            system.mark_unsupported(verdict.reason, unsupported);
        }
        self.mark_unhealthy_containers(&facts);
        tracing::info!("System evaluation complete");
        let (unsupported, unhealthy) = (system.unsupported_reasons(), system.unhealthy_reasons());
        if unsupported != before.0 {
            let reasons = (!unsupported.is_empty()).then_some(&unsupported);
            self.inner
                .parts
                .core
                .tell("supported_changed", json!({"supported": system.supported(), "unsupported_reasons": reasons}));
        }
        if unhealthy != before.1 {
            let reasons = (!unhealthy.is_empty()).then_some(&unhealthy);
            self.inner
                .parts
                .core
                .tell("health_changed", json!({"healthy": system.healthy(), "unhealthy_reasons": reasons}));
        }
    }

    /// Docker inside LXC, an unprivileged supervisor or a container updater on the engine make
    /// the system unhealthy (`docker`). Only ever added: the engine's own connection clears it.
    fn mark_unhealthy_containers(&self, facts: &Facts) {
        let system = &self.inner.parts.system;
        let unsupported = system.unsupported_reasons();
        let images = evaluations::unhealthy_images(facts);
        for image in &images {
            tracing::error!("Found image in unhealthy image list '{image}' on the host");
        }
        if !images.is_empty() || UNHEALTHY_WHEN_UNSUPPORTED.iter().any(|r| unsupported.iter().any(|u| u == r)) {
            system.mark_unhealthy("docker", true);
        }
    }

    /// Runs the evaluations and the health check at start, after one attempt to reach the
    /// engine (its facts are evaluated again when it connects later), then the health check
    /// every hour and the evaluations whenever a domain asks.
    pub async fn boot(self) {
        let parts = &self.inner.parts;
        tokio::spawn(self.clone().follow_mounts());
        parts.docker.connect().await;
        self.evaluate().await;
        self.healthcheck_in(true).await;
        let mut next = tokio::time::Instant::now() + HEALTHCHECK_PERIOD;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {
                    self.healthcheck().await;
                    next = tokio::time::Instant::now() + HEALTHCHECK_PERIOD;
                }
                _ = parts.system.evaluation_requested() => self.evaluate().await,
                raised = parts.system.raised_issues() => self.take_raised(raised).await,
            }
            if matches!(parts.system.state(), CoreState::Shutdown | CoreState::Stopping | CoreState::Close) {
                return;
            }
        }
    }
}

fn find_check(slug: &str) -> Result<Check, Error> {
    Check::from_slug(check_slug_from_v1(slug)).ok_or_else(|| check_not_found(slug))
}

fn uuid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether `suggestion` fixes `issue`: a fixup of the suggestion fixes its kind, at the same
/// place.
fn fixes(suggestion: &Suggestion, issue: &Issue) -> bool {
    suggestion.subject == issue.subject && fixups::fixes(suggestion, issue.kind)
}

fn suggestions_of<'r>(record: &'r Record, issue: &Issue) -> Vec<&'r Suggestion> {
    record.suggestions.iter().filter(|s| fixes(s, issue)).collect()
}

fn issues_of(record: &Record, suggestion: &Suggestion) -> Vec<Issue> {
    record.issues.iter().filter(|i| fixes(suggestion, i)).cloned().collect()
}
