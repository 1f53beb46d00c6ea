//! Which replica schedules. Every replica answers the API; one at a time, the leader, runs the
//! scheduler. Leadership is the `leader` key, created only where absent and held under the
//! replica's lease: when a leader dies its lease runs out, the key vanishes, and the replicas
//! watching it campaign again. The leader schedules on every change under the fleet's prefix
//! (a watch, not a timer); its only periodic work is keeping its lease alive.

use crate::scheduler;
use crate::store::Fleet;
use etcd::{Compare, EventKind, Op, Txn};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Whether this replica leads, for `/api/v1/status`.
#[derive(Clone, Default)]
pub struct Leadership(Arc<AtomicBool>);

impl Leadership {
    pub fn is_leader(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// How long to wait before trying again after the store failed.
const RETRY: Duration = Duration::from_secs(1);

/// Campaigns, leads while it holds the key, and campaigns again; never returns.
pub async fn run(fleet: Fleet, replica: String, ttl_seconds: i64, leadership: Leadership) {
    loop {
        if let Err(error) = campaign_and_lead(&fleet, &replica, ttl_seconds, &leadership).await {
            tracing::warn!(%error, "leadership: the store failed; trying again");
        }
        leadership.0.store(false, Ordering::Relaxed);
        tokio::time::sleep(RETRY).await;
    }
}

async fn campaign_and_lead(
    fleet: &Fleet,
    replica: &str,
    ttl_seconds: i64,
    leadership: &Leadership,
) -> Result<(), etcd::Error> {
    let key = fleet.keys.leader();
    let lease = fleet.etcd.grant(ttl_seconds).await?;
    let keep_every = Duration::from_millis((ttl_seconds as u64 * 1000 / 3).max(200));
    // Wait until the key is ours, keeping the lease alive meanwhile.
    loop {
        let claim = Txn::new()
            .when(Compare::version_eq(&key, 0))
            .and_then(Op::put(&key, replica, Some(lease)))
            .or_else(Op::get(&key));
        let answer = fleet.etcd.txn(claim).await?;
        if answer.succeeded {
            break;
        }
        let revision = answer.revision;
        let mut watch = fleet.etcd.watch_prefix(&key, Some(revision + 1)).await?;
        let mut keep = tokio::time::interval(keep_every);
        loop {
            tokio::select! {
                events = watch.next() => match events? {
                    Some(events) if events.iter().any(|event| event.kind == EventKind::Delete) => break,
                    Some(_) => {}
                    None => break,
                },
                _ = keep.tick() => {
                    if fleet.etcd.keep_alive(lease).await?.is_none() {
                        return Ok(());
                    }
                }
            }
        }
    }
    tracing::info!(%replica, "this replica leads the fleet's scheduling");
    leadership.0.store(true, Ordering::Relaxed);
    let result = lead(fleet, lease, keep_every).await;
    // Hand over at once rather than after the lease runs out.
    let _ = fleet.etcd.revoke(lease).await;
    result
}

/// Schedules on every change until the lease is lost.
async fn lead(fleet: &Fleet, lease: etcd::LeaseId, keep_every: Duration) -> Result<(), etcd::Error> {
    let mut keep = tokio::time::interval(keep_every);
    let prefix = format!("{}/", fleet.keys.prefix());
    let mut from = None;
    loop {
        let revision = match scheduler::pass(fleet).await {
            Ok((placed, revision)) => {
                if placed > 0 {
                    tracing::info!(placed, "instances placed");
                }
                revision
            }
            Err(error) => {
                tracing::warn!(%error, "a scheduling pass failed; trying again");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let start = from.map_or(revision + 1, |from: i64| from.max(revision + 1));
        let mut watch = fleet.etcd.watch_prefix(&prefix, Some(start)).await?;
        // Wait for the next change, keeping the lease alive.
        loop {
            tokio::select! {
                events = watch.next() => {
                    match events? {
                        Some(events) if !events.is_empty() => {
                            from = events.iter().map(|event| event.revision).max().map(|r| r + 1);
                            break;
                        }
                        Some(_) => {}
                        None => {
                            from = Some(watch.resume_revision());
                            break;
                        }
                    }
                }
                _ = keep.tick() => {
                    if fleet.etcd.keep_alive(lease).await?.is_none() {
                        tracing::warn!("the leader's lease expired: leading no more");
                        return Ok(());
                    }
                }
            }
        }
    }
}
