//! The node's lease and the keys it keeps under it (`alive/<node>`, `status/<instance>`).
//!
//! The node remembers the last value of every such key, so when its lease is lost (it expired
//! during a partition, or etcd lost it) a new lease is granted and every key is written again
//! under it: the fleet sees the node and its instances come back as they are now. A write that
//! failed is also retried at the next keep-alive, so etcd never keeps a stale value for long.

use etcd::LeaseId;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Leased {
    etcd: etcd::Client,
    ttl: i64,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    lease: Option<LeaseId>,
    keys: BTreeMap<String, Vec<u8>>,
    /// A write failed since every key was last written: write them all again.
    stale: bool,
}

impl Leased {
    /// Grants the node's first lease, retrying until etcd grants one.
    pub async fn start(etcd: etcd::Client, ttl: Duration) -> Arc<Leased> {
        let leased = Arc::new(Leased {
            etcd,
            ttl: ttl.as_secs().max(1) as i64,
            state: tokio::sync::Mutex::new(State::default()),
        });
        let mut attempt = 0;
        loop {
            let mut state = leased.state.lock().await;
            match leased.renew(&mut state).await {
                Ok(()) => break,
                Err(e) => tracing::warn!("can't get a lease from etcd: {e}"),
            }
            drop(state);
            tokio::time::sleep(crate::join::backoff(attempt)).await;
            attempt += 1;
        }
        leased
    }

    /// Writes `key` under the lease, and keeps it there across lease renewals.
    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T) {
        let value = serde_json::to_vec(value).expect("the fleet's records are JSON");
        let mut state = self.state.lock().await;
        state.keys.insert(key.to_owned(), value.clone());
        let Some(lease) = state.lease else { return };
        if let Err(e) = self.etcd.put(key, value, Some(lease)).await {
            tracing::warn!(key, "can't write to etcd, trying again shortly: {e}");
            state.stale = true;
        }
    }

    /// Deletes `key` and stops keeping it.
    pub async fn delete(&self, key: &str) {
        let mut state = self.state.lock().await;
        state.keys.remove(key);
        if let Err(e) = self.etcd.delete(key).await {
            // Its lease takes it at the latest; it is no longer written again meanwhile.
            tracing::warn!(key, "can't delete from etcd: {e}");
        }
    }

    /// Keeps the lease alive every third of its TTL; grants a new one when it is lost.
    pub async fn keep(self: Arc<Self>, ttl: Duration) {
        let mut ticks = tokio::time::interval((ttl / 3).max(Duration::from_millis(300)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let mut state = self.state.lock().await;
            let alive = match state.lease {
                Some(lease) => match self.etcd.keep_alive(lease).await {
                    Ok(ttl) => ttl.is_some(),
                    Err(e) => {
                        tracing::warn!("can't keep the fleet lease alive: {e}");
                        continue;
                    }
                },
                None => false,
            };
            let outcome = if !alive {
                tracing::warn!("the fleet lease was lost; taking a new one and writing the node's keys again");
                self.renew(&mut state).await
            } else if state.stale {
                self.write_all(&mut state).await
            } else {
                Ok(())
            };
            if let Err(e) = outcome {
                tracing::warn!("can't restore the node's keys in etcd: {e}");
            }
        }
    }

    async fn renew(&self, state: &mut State) -> Result<(), etcd::Error> {
        state.lease = None;
        state.lease = Some(self.etcd.grant(self.ttl).await?);
        self.write_all(state).await
    }

    async fn write_all(&self, state: &mut State) -> Result<(), etcd::Error> {
        state.stale = true;
        for (key, value) in &state.keys {
            self.etcd.put(key, value.clone(), state.lease).await?;
        }
        state.stale = false;
        Ok(())
    }
}
