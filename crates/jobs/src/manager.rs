//! The job manager: the registry of jobs, their admission and their life cycle.

use crate::JobCondition;
use base::{DataDir, Error, System};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use state::{Persisted, Store};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

/// Completed top-level jobs kept for clients to read; older ones are dropped.
const KEEP_DONE: usize = 50;

/// How a job shares its group with other jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobLimit {
    /// Any number at once.
    None,
    /// One at a time; a second one is refused while the first runs.
    Once,
    /// One at a time; a second one waits for the first.
    Wait,
    /// At most one start per period; a start within the period is refused.
    Throttle(Duration),
}

/// How an operation run through [`JobManager::perform`] ended for its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job ran to its end.
    Done,
    /// The job runs on in the background under this uuid.
    Started(String),
}

/// What a domain declares about an operation before running it as a job.
#[derive(Debug, Clone)]
pub struct JobSpec {
    name: String,
    reference: Option<String>,
    conditions: Vec<JobCondition>,
    limit: JobLimit,
    group: Option<String>,
}

impl JobSpec {
    /// A job named `name` (the real Supervisor's job name where one exists, such as
    /// `supervisor_update`), with no conditions and no limit.
    pub fn new(name: impl Into<String>) -> Self {
        JobSpec { name: name.into(), reference: None, conditions: Vec::new(), limit: JobLimit::None, group: None }
    }

    /// What the job acts on (an add-on slug, a backup slug).
    pub fn reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    pub fn conditions(mut self, conditions: &[JobCondition]) -> Self {
        self.conditions = conditions.to_vec();
        self
    }

    pub fn limit(mut self, limit: JobLimit) -> Self {
        self.limit = limit;
        self
    }

    /// Jobs of one group share their limit; by default a job is its own group.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    fn group_key(&self) -> String {
        match (&self.group, &self.reference) {
            (Some(group), Some(reference)) => format!("{group}:{reference}"),
            (Some(group), None) => group.clone(),
            (None, _) => self.name.clone(),
        }
    }
}

/// An error recorded on a job.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobError {
    /// The kind of error (`error_key` of the API error when it has one).
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    /// The stage the job was in when it failed.
    pub stage: Option<String>,
}

/// A job as the API shows it (the real Supervisor's Job model).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobInfo {
    pub name: String,
    pub reference: Option<String>,
    pub uuid: String,
    /// 0 to 100.
    pub progress: f64,
    pub stage: Option<String>,
    /// `null` before it started, `false` while it runs, `true` when it ended.
    pub done: Option<bool>,
    pub errors: Vec<JobError>,
    /// When the job was created (ISO 8601).
    pub created: String,
    #[schema(no_recursion)]
    pub child_jobs: Vec<JobInfo>,
    #[schema(value_type = Option<Object>)]
    pub extra: Option<Value>,
}

/// What `/jobs/info` shows: the ignored conditions and every running or completed job.
#[derive(Serialize, ToSchema)]
pub struct JobsInfo {
    ignore_conditions: Vec<JobCondition>,
    jobs: Vec<JobInfo>,
}

/// A change of the job manager's options (`/jobs/options`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobsOptions {
    /// Conditions to ignore; replaces the list.
    pub ignore_conditions: Option<Vec<JobCondition>>,
}

struct Record {
    info: JobInfo,
    parent: Option<String>,
    group: String,
}

struct Inner {
    records: Mutex<Vec<Record>>,
    ignored: Persisted<Vec<JobCondition>>,
    system: Arc<System>,
    data: DataDir,
    /// The uuid of the top-level job that changed, for followers.
    changes: broadcast::Sender<String>,
    waits: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    last_start: Mutex<HashMap<String, Instant>>,
    shutdown: CancellationToken,
}

/// The registry of jobs. Cheap to clone; all clones share one registry.
#[derive(Clone)]
pub struct JobManager {
    inner: Arc<Inner>,
}

/// A handle on one job, given to the work it runs.
#[derive(Clone)]
pub struct Job {
    inner: Arc<Inner>,
    uuid: String,
    group: String,
    limit: JobLimit,
    cancel: CancellationToken,
}

impl JobManager {
    pub fn new(store: &Store, system: Arc<System>, data: DataDir) -> state::Result<Self> {
        let ignored = Persisted::<Vec<JobCondition>>::load(store.section("jobs")?, "ignore_conditions")?;
        system.mark_unsupported("job_conditions", !ignored.read().is_empty());
        let (changes, _) = broadcast::channel(256);
        Ok(JobManager {
            inner: Arc::new(Inner {
                records: Mutex::default(),
                ignored,
                system,
                data,
                changes,
                waits: Mutex::default(),
                last_start: Mutex::default(),
                shutdown: CancellationToken::new(),
            }),
        })
    }

    /// The system state the conditions are checked against.
    pub fn system(&self) -> &Arc<System> {
        &self.inner.system
    }

    pub fn ignored_conditions(&self) -> Vec<JobCondition> {
        self.inner.ignored.get()
    }

    /// Replaces the ignored conditions, on disk first.
    pub fn set_ignored_conditions(&self, mut conditions: Vec<JobCondition>) -> Result<(), Error> {
        conditions.sort();
        conditions.dedup();
        let any = !conditions.is_empty();
        self.inner.ignored.update(|ignored| *ignored = conditions)?;
        // Ignoring a condition takes the system out of what is supported, as in the real Supervisor.
        self.inner.system.mark_unsupported("job_conditions", any);
        Ok(())
    }

    /// The ignored conditions and every job.
    pub fn info(&self) -> JobsInfo {
        JobsInfo { ignore_conditions: self.ignored_conditions(), jobs: self.jobs() }
    }

    /// Every top-level job, oldest first, with its children nested.
    pub fn jobs(&self) -> Vec<JobInfo> {
        let records = self.inner.records.lock().expect("job records lock");
        records.iter().filter(|r| r.parent.is_none()).map(|r| tree(&records, r)).collect()
    }

    /// One job (top-level or child) with its children nested.
    pub fn job(&self, uuid: &str) -> Option<JobInfo> {
        let records = self.inner.records.lock().expect("job records lock");
        records.iter().find(|r| r.info.uuid == uuid).map(|r| tree(&records, r))
    }

    /// Forgets a job that has ended, with its children.
    pub fn remove(&self, uuid: &str) -> Result<(), Error> {
        let mut records = self.inner.records.lock().expect("job records lock");
        let record = records.iter().find(|r| r.info.uuid == uuid).ok_or_else(|| no_such_job(uuid))?;
        if record.info.done != Some(true) {
            return Err(Error::invalid(format!("Job {uuid} is not done!")));
        }
        let doomed = descendants(&records, uuid);
        records.retain(|r| !doomed.contains(&r.info.uuid));
        Ok(())
    }

    /// Notifications naming the top-level job that changed.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.inner.changes.subscribe()
    }

    /// Checks conditions and limits and registers the job; nothing runs yet.
    pub fn begin(&self, spec: JobSpec) -> Result<Job, Error> {
        self.inner.admit(spec, None)
    }

    /// Runs `work` as a job and waits for it.
    pub async fn run<T, F, Fut>(&self, spec: JobSpec, work: F) -> Result<T, Error>
    where
        F: FnOnce(Job) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        self.begin(spec)?.execute(work).await
    }

    /// Runs `work` as the job `spec` the way an API caller asked: waiting for its end, or, with
    /// `background`, returning once the job was admitted (so a refused condition or a busy group
    /// still fails the call). Managers declare their operations' jobs through this.
    pub async fn perform<F, Fut>(&self, spec: JobSpec, background: bool, work: F) -> Result<Outcome, Error>
    where
        F: FnOnce(Job) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        if background {
            Ok(Outcome::Started(self.start(spec, work)?))
        } else {
            self.run(spec, work).await?;
            Ok(Outcome::Done)
        }
    }

    /// Starts `work` as a job in the background and answers its uuid once it was admitted.
    pub fn start<T, F, Fut>(&self, spec: JobSpec, work: F) -> Result<String, Error>
    where
        T: Send + 'static,
        F: FnOnce(Job) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let job = self.begin(spec)?;
        let uuid = job.uuid.clone();
        tokio::spawn(job.execute(work));
        Ok(uuid)
    }

    /// Asks every running job to stop and waits up to `grace` for them to end.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutdown.cancel();
        let deadline = Instant::now() + grace;
        let mut changes = self.subscribe();
        while self.running() > 0 && Instant::now() < deadline {
            let _ = tokio::time::timeout(Duration::from_millis(100), changes.recv()).await;
        }
        let left = self.running();
        if left > 0 {
            tracing::warn!(jobs = left, "jobs still running at shutdown");
        }
    }

    /// How many jobs (top-level or child) have started and not ended.
    pub fn running(&self) -> usize {
        let records = self.inner.records.lock().expect("job records lock");
        records.iter().filter(|r| r.info.done == Some(false)).count()
    }
}

impl Inner {
    fn admit(self: &Arc<Self>, spec: JobSpec, parent: Option<&Job>) -> Result<Job, Error> {
        if self.shutdown.is_cancelled() {
            return Err(Error::unavailable(format!("'{}' refused: the supervisor is shutting down", spec.name)));
        }
        let ignored = self.ignored.get();
        for condition in spec.conditions.iter().filter(|c| !ignored.contains(c)) {
            if let Some(why) = condition.check(&self.system, &self.data) {
                return Err(Error::invalid(format!("'{}' blocked from execution, {why}", spec.name))
                    .with_key("job_condition_failed"));
            }
        }
        let group = spec.group_key();
        let mut records = self.records.lock().expect("job records lock");
        match spec.limit {
            JobLimit::Once if records.iter().any(|r| r.group == group && r.info.done != Some(true)) => {
                return Err(Error::conflict(format!(
                    "'{}' blocked from execution, another job of its group is running",
                    spec.name
                ))
                .with_key("job_group_busy"));
            }
            JobLimit::Throttle(period) => {
                let mut last = self.last_start.lock().expect("throttle lock");
                if last.get(&group).is_some_and(|at| at.elapsed() < period) {
                    return Err(Error::throttled(format!(
                        "'{}' was started less than {}s ago",
                        spec.name,
                        period.as_secs()
                    ))
                    .with_key("job_throttled"));
                }
                last.insert(group.clone(), Instant::now());
            }
            _ => {}
        }
        let cancel = match parent {
            Some(parent) => parent.cancel.child_token(),
            None => self.shutdown.child_token(),
        };
        let uuid = uuid::Uuid::new_v4().simple().to_string();
        records.push(Record {
            info: JobInfo {
                name: spec.name,
                reference: spec.reference,
                uuid: uuid.clone(),
                progress: 0.0,
                stage: None,
                done: None,
                errors: Vec::new(),
                created: chrono::Utc::now().to_rfc3339(),
                child_jobs: Vec::new(),
                extra: None,
            },
            parent: parent.map(|p| p.uuid.clone()),
            group: group.clone(),
        });
        if parent.is_none() {
            prune(&mut records);
        }
        let root = root_of(&records, &uuid);
        drop(records);
        let _ = self.changes.send(root);
        Ok(Job { inner: Arc::clone(self), uuid, group, limit: spec.limit, cancel })
    }

    fn update(&self, uuid: &str, change: impl FnOnce(&mut JobInfo)) {
        let mut records = self.records.lock().expect("job records lock");
        let Some(record) = records.iter_mut().find(|r| r.info.uuid == uuid) else { return };
        change(&mut record.info);
        let root = root_of(&records, uuid);
        drop(records);
        let _ = self.changes.send(root);
    }
}

impl Job {
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// Sets the progress, clamped to 0..=100.
    pub fn set_progress(&self, progress: f64) {
        let progress = (progress.clamp(0.0, 100.0) * 10.0).round() / 10.0;
        self.inner.update(&self.uuid, |info| info.progress = progress);
    }

    pub fn set_stage(&self, stage: &str) {
        self.inner.update(&self.uuid, |info| info.stage = Some(stage.to_owned()));
    }

    /// Names what the job acts on once the work knows it (a new backup's slug): followers
    /// learn it from the job, as from the real Supervisor. The limit group stays the one the
    /// job was admitted under.
    pub fn set_reference(&self, reference: &str) {
        self.inner.update(&self.uuid, |info| info.reference = Some(reference.to_owned()));
    }

    pub fn set_extra(&self, extra: Value) {
        self.inner.update(&self.uuid, |info| info.extra = Some(extra));
    }

    /// Resolves when this job is asked to stop; work selects on it at its await points.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// Runs `work` as a child job of this one and waits for it.
    pub async fn run_child<T, F, Fut>(&self, spec: JobSpec, work: F) -> Result<T, Error>
    where
        F: FnOnce(Job) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        self.inner.admit(spec, Some(self))?.execute(work).await
    }

    /// Runs the work: waits for its group if the limit says so, records the outcome.
    async fn execute<T, F, Fut>(self, work: F) -> Result<T, Error>
    where
        F: FnOnce(Job) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let _turn = match self.limit {
            JobLimit::Wait => {
                let lock = {
                    let mut waits = self.inner.waits.lock().expect("job wait lock");
                    Arc::clone(waits.entry(self.group.clone()).or_default())
                };
                Some(lock.lock_owned().await)
            }
            _ => None,
        };
        self.inner.update(&self.uuid, |info| info.done = Some(false));
        let result = work(self.clone()).await;
        let uuid = self.uuid.clone();
        self.inner.update(&uuid, |info| {
            match &result {
                Ok(_) => info.progress = 100.0,
                Err(e) => info.errors.push(JobError {
                    kind: e.error_key.clone().unwrap_or_else(|| "SupervisorError".to_owned()),
                    message: e.message.clone(),
                    stage: info.stage.clone(),
                }),
            }
            info.done = Some(true);
        });
        // Each enclosing job overwrites the id, so the caller hears of the job it started.
        result.map_err(|e| e.with_job(uuid))
    }
}

pub(crate) fn no_such_job(uuid: &str) -> Error {
    Error::not_found(format!("Job does not exist: {uuid}"))
}

/// The job `record` with its descendants nested in `child_jobs`.
fn tree(records: &[Record], record: &Record) -> JobInfo {
    let mut info = record.info.clone();
    info.child_jobs =
        records.iter().filter(|r| r.parent.as_deref() == Some(&record.info.uuid)).map(|r| tree(records, r)).collect();
    info
}

fn root_of(records: &[Record], uuid: &str) -> String {
    let mut current = uuid.to_owned();
    while let Some(parent) = records.iter().find(|r| r.info.uuid == current).and_then(|r| r.parent.clone()) {
        current = parent;
    }
    current
}

fn descendants(records: &[Record], uuid: &str) -> Vec<String> {
    let mut found = vec![uuid.to_owned()];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i].clone();
        found.extend(records.iter().filter(|r| r.parent.as_ref() == Some(&parent)).map(|r| r.info.uuid.clone()));
        i += 1;
    }
    found
}

/// Drops the oldest ended top-level jobs beyond [`KEEP_DONE`].
fn prune(records: &mut Vec<Record>) {
    let done: Vec<String> = records
        .iter()
        .filter(|r| r.parent.is_none() && r.info.done == Some(true))
        .map(|r| r.info.uuid.clone())
        .collect();
    if done.len() <= KEEP_DONE {
        return;
    }
    let doomed: Vec<String> =
        done[..done.len() - KEEP_DONE].iter().flat_map(|uuid| descendants(records, uuid)).collect();
    records.retain(|r| !doomed.contains(&r.info.uuid));
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::CoreState;

    fn manager() -> (tempfile::TempDir, JobManager) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let system = Arc::new(System::default());
        system.set_state(CoreState::Running);
        let jobs = JobManager::new(&store, system, DataDir::new(dir.path())).unwrap();
        (dir, jobs)
    }

    #[tokio::test]
    async fn a_job_records_progress_children_and_errors() {
        let (_dir, jobs) = manager();
        let result: Result<(), Error> = jobs
            .run(JobSpec::new("outer").reference("ref"), |job| async move {
                job.set_stage("work");
                job.set_progress(42.0);
                job.set_reference("named later");
                job.run_child(JobSpec::new("inner"), |_| async { Ok(()) }).await?;
                Err(Error::invalid("broken"))
            })
            .await;
        let err = result.unwrap_err();
        let uuid = err.job_id.clone().expect("error names its job");
        let info = jobs.job(&uuid).unwrap();
        assert_eq!(info.done, Some(true));
        assert_eq!(info.progress, 42.0);
        assert_eq!(info.reference.as_deref(), Some("named later"));
        assert_eq!(info.errors[0].message, "broken");
        assert_eq!(info.errors[0].stage.as_deref(), Some("work"));
        assert_eq!(info.child_jobs.len(), 1);
        assert_eq!(info.child_jobs[0].name, "inner");
        assert_eq!(jobs.jobs().len(), 1, "children are nested, not listed at the top");
        jobs.remove(&uuid).unwrap();
        assert!(jobs.job(&uuid).is_none());
    }

    #[tokio::test]
    async fn conditions_block_unless_ignored() {
        let (_dir, jobs) = manager();
        jobs.inner.system.mark_unhealthy("docker", true);
        let spec = JobSpec::new("needs_health").conditions(&[JobCondition::Healthy]);
        let err = jobs.begin(spec.clone()).err().unwrap();
        assert!(err.message.contains("not healthy - docker"), "{}", err.message);
        jobs.set_ignored_conditions(vec![JobCondition::Healthy]).unwrap();
        assert!(jobs.begin(spec).is_ok());
    }

    #[tokio::test]
    async fn once_refuses_a_second_job_of_the_group() {
        let (_dir, jobs) = manager();
        let spec = JobSpec::new("single").limit(JobLimit::Once);
        let first = jobs.begin(spec.clone()).unwrap();
        assert_eq!(jobs.begin(spec.clone()).err().unwrap().kind, base::Kind::Conflict);
        first.execute(|_| async { Ok::<_, Error>(()) }).await.unwrap();
        assert!(jobs.begin(spec).is_ok());
    }

    #[tokio::test]
    async fn throttle_refuses_a_start_within_the_period() {
        let (_dir, jobs) = manager();
        let spec = JobSpec::new("throttled").limit(JobLimit::Throttle(Duration::from_secs(3600)));
        assert!(jobs.begin(spec.clone()).is_ok());
        let refused = jobs.begin(spec).err().unwrap();
        assert_eq!(refused.kind, base::Kind::Throttled);
        assert!(jobs.begin(JobSpec::new("other").limit(JobLimit::Throttle(Duration::from_secs(3600)))).is_ok());
    }

    #[tokio::test]
    async fn shutdown_cancels_running_jobs() {
        let (_dir, jobs) = manager();
        let uuid = jobs
            .start(JobSpec::new("long"), |job| async move {
                job.cancelled().await;
                Err::<(), _>(Error::unavailable("stopped"))
            })
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        jobs.shutdown(Duration::from_secs(5)).await;
        assert_eq!(jobs.job(&uuid).unwrap().done, Some(true));
        assert!(jobs.begin(JobSpec::new("late")).is_err());
    }
}
