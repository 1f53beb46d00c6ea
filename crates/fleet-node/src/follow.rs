//! Following a key range of etcd: read it whole, then watch it from the revision after the read;
//! when the watch ends (the member went away, the connection broke) read it whole again before
//! watching anew, so nothing that happened meanwhile is missed. Whoever follows a range takes a
//! repeated value as it is (the watch may replay what the read already showed).

use std::time::Duration;

/// What a followed range says next.
pub(crate) enum Change {
    /// Every key of the range as it is now.
    Listed(Vec<etcd::KeyValue>),
    /// Changes since.
    Events(Vec<etcd::Event>),
}

pub(crate) struct Follow {
    etcd: etcd::Client,
    prefix: String,
    /// What is followed, for the log.
    what: &'static str,
    watch: Option<etcd::Watch>,
}

impl Follow {
    pub fn new(etcd: etcd::Client, prefix: String, what: &'static str) -> Follow {
        Follow { etcd, prefix, what, watch: None }
    }

    /// The next read or batch of changes; waits (retrying) while etcd cannot be reached.
    pub async fn next(&mut self) -> Change {
        loop {
            if let Some(watch) = &mut self.watch {
                match watch.next().await {
                    Ok(Some(events)) => return Change::Events(events),
                    Ok(None) => {}
                    Err(e) => tracing::warn!("the watch of {} failed: {e}", self.what),
                }
                self.watch = None;
                pause().await;
            }
            match self.read().await {
                Ok((listed, watch)) => {
                    self.watch = Some(watch);
                    return Change::Listed(listed);
                }
                Err(e) => {
                    tracing::warn!("can't read {}: {e}", self.what);
                    pause().await;
                }
            }
        }
    }

    /// The range, and a watch from just after a revision the read saw it at or after.
    async fn read(&self) -> Result<(Vec<etcd::KeyValue>, etcd::Watch), etcd::Error> {
        let revision = self.etcd.status().await?.revision;
        let listed = self.etcd.get_prefix(&self.prefix).await?;
        let watch = self.etcd.watch_prefix(&self.prefix, Some(revision + 1)).await?;
        Ok((listed, watch))
    }
}

/// Waits before another attempt after a failure of a loop that reads etcd or the engine.
async fn pause() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}
