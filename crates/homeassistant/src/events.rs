//! What the supervisor tells Core over its websocket as `supervisor/event` messages, as the real
//! Supervisor does: every change of a job, so that Core follows the jobs it started (a backup
//! started from Core ends in Core's view only by its `done` event), and what other domains tell
//! it through [`CoreManager::tell`] (the resolution center's issues and verdicts).
//!
//! One connection is kept open and opened again when Core comes back. Events while Core's API is
//! down are dropped: Core reads the whole state when it starts.

use crate::manager::CoreManager;
use futures_util::{SinkExt, StreamExt};
use jobs::JobInfo;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::collections::HashSet;
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::tungstenite::Message;

/// Events other domains queue for Core: the event's name and its data.
pub(crate) type Events = tokio::sync::mpsc::UnboundedSender<(String, Value)>;
pub(crate) type EventQueue = tokio::sync::mpsc::UnboundedReceiver<(String, Value)>;

/// Forwards job changes and queued events to Core until the job manager closes.
pub(crate) async fn forward(manager: CoreManager, mut queue: EventQueue) {
    let jobs = manager.inner.jobs.clone();
    let mut changes = jobs.subscribe();
    let mut link = Link::default();
    let mut told = Told::default();
    loop {
        let trees = tokio::select! {
            change = changes.recv() => match change {
                Ok(uuid) => jobs.job(&uuid).into_iter().collect(),
                Err(RecvError::Lagged(_)) => {
                    let all = jobs.jobs();
                    told.keep_only(&all);
                    all
                }
                Err(RecvError::Closed) => return,
            },
            Some((event, data)) = queue.recv() => {
                link.send(&manager, &event, data).await;
                continue;
            }
            // Core answers every command; reading keeps its send queue from filling up.
            alive = link.read() => {
                if !alive {
                    link.socket = None;
                }
                continue;
            }
        };
        for tree in trees {
            for event in told.changes(&tree) {
                link.send(&manager, "job", event).await;
            }
        }
    }
}

/// The websocket to Core, when one is open.
#[derive(Default)]
struct Link {
    socket: Option<crate::client::CoreSocket>,
    next_id: u64,
}

impl Link {
    /// Waits for the next message from Core; false once the connection ended. Without a
    /// connection it never answers.
    async fn read(&mut self) -> bool {
        match self.socket.as_mut() {
            Some(socket) => matches!(socket.next().await, Some(Ok(message)) if !message.is_close()),
            None => std::future::pending().await,
        }
    }

    async fn send(&mut self, manager: &CoreManager, event: &str, data: Value) {
        if self.socket.is_none() {
            // As the real Supervisor, Core's state is asked before each attempt to connect.
            let api = &manager.inner.api;
            self.socket = if api.running().await { api.websocket().await.ok() } else { None };
        }
        let Some(socket) = self.socket.as_mut() else { return };
        self.next_id += 1;
        let message = json!({"id": self.next_id, "type": "supervisor/event", "data": {"event": event, "data": data}});
        if let Err(e) = socket.send(Message::text(message.to_string())).await {
            tracing::debug!("Can't send the event {event} to Home Assistant Core: {e}");
            self.socket = None;
        }
    }
}

/// What Core was last told of each job, to send only changes. It holds the jobs the job manager
/// holds: a full pass drops the ones it no longer has.
#[derive(Default)]
struct Told {
    jobs: HashMap<String, Value>,
}

impl Told {
    /// The events for the jobs of `tree` that changed since they were last told.
    fn changes(&mut self, tree: &JobInfo) -> Vec<Value> {
        let mut flat = Vec::new();
        flatten(tree, None, &mut flat);
        flat.retain(|event| self.jobs.get(&uuid_of(event)) != Some(event));
        for event in &flat {
            self.jobs.insert(uuid_of(event), event.clone());
        }
        flat
    }

    /// Forgets the jobs that are not in `trees`, every job the job manager holds.
    fn keep_only(&mut self, trees: &[JobInfo]) {
        let mut all = Vec::new();
        for tree in trees {
            flatten(tree, None, &mut all);
        }
        let kept: HashSet<String> = all.iter().map(uuid_of).collect();
        self.jobs.retain(|uuid, _| kept.contains(uuid));
    }
}

fn uuid_of(event: &Value) -> String {
    event["uuid"].as_str().unwrap_or_default().to_owned()
}

/// Each job of `tree` as the real Supervisor sends it: without its children, with its parent's
/// uuid and its progress to one decimal.
fn flatten(tree: &JobInfo, parent: Option<&str>, into: &mut Vec<Value>) {
    into.push(json!({
        "name": tree.name,
        "reference": tree.reference,
        "uuid": tree.uuid,
        "progress": (tree.progress * 10.0).round() / 10.0,
        "stage": tree.stage,
        "done": tree.done,
        "parent_id": parent,
        "errors": tree.errors,
        "created": tree.created,
        "extra": tree.extra,
    }));
    for child in &tree.child_jobs {
        flatten(child, Some(&tree.uuid), into);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(uuid: &str, progress: f64, done: Option<bool>, children: Vec<JobInfo>) -> JobInfo {
        JobInfo {
            name: "backup_manager_full_backup".to_owned(),
            reference: None,
            uuid: uuid.to_owned(),
            progress,
            stage: None,
            done,
            errors: Vec::new(),
            created: "2026-12-05T00:00:00+00:00".to_owned(),
            child_jobs: children,
            extra: None,
        }
    }

    #[test]
    fn only_changed_jobs_are_told_with_their_parent() {
        let mut told = Told::default();
        let first = told.changes(&job("a", 0.0, Some(false), vec![job("b", 0.0, Some(false), vec![])]));
        assert_eq!(first.len(), 2);
        assert_eq!(first[1]["parent_id"], "a");
        assert!(first[0].get("child_jobs").is_none());

        let second = told.changes(&job("a", 0.0, Some(false), vec![job("b", 33.333, Some(false), vec![])]));
        assert_eq!(second.len(), 1, "{second:?}");
        assert_eq!(second[0]["progress"], 33.3);
        assert!(told.changes(&job("a", 0.0, Some(false), vec![job("b", 33.333, Some(false), vec![])])).is_empty());
    }

    #[test]
    fn jobs_the_manager_no_longer_holds_are_forgotten() {
        let mut told = Told::default();
        told.changes(&job("a", 0.0, Some(false), vec![]));
        told.changes(&job("b", 0.0, Some(false), vec![]));
        told.keep_only(&[job("b", 0.0, Some(true), vec![])]);
        assert_eq!(told.jobs.keys().collect::<Vec<_>>(), ["b"]);
    }
}
