//! Jobs: how every long operation runs, so that clients can watch it and the system can refuse it.
//!
//! A domain describes its operation with a [`JobSpec`] (name, conditions, limit) and runs its
//! work through [`JobManager::run`] or [`JobManager::start`]. The manager checks the conditions
//! against the [`base::System`] state (minus the ones the user chose to ignore), applies the
//! limit, records progress, stage, errors and child jobs, and tells every follower of the job
//! about each change. At shutdown it asks running jobs to stop and waits for them.

pub mod api;
mod condition;
mod manager;

pub use condition::JobCondition;
pub use manager::{Job, JobError, JobInfo, JobLimit, JobManager, JobSpec, JobsInfo, JobsOptions, Outcome};
