//! Node updates: the controller raises `update_generation` of `node-config/<node>`
//! (`PUT /api/v1/node/update`); the node, seeing a number it has not acted on, says it is
//! updating in its heartbeat while the daemon's update hook runs, then records the number (in
//! its folder too, so a restart into the new version does not update again).

use crate::follow::{Change, Follow};
use crate::{Node, UpdateHook};
use fleet::NodeConfig;
use std::sync::Arc;

/// Reads and watches the node's configuration for as long as the daemon lives.
pub(crate) async fn run(node: Arc<Node>, hook: UpdateHook) {
    let key = node.keys.node_config(&node.id);
    // A prefix of the key covers `node-config/<node>1` too: only the key counts.
    let mut follow = Follow::new(node.etcd.clone(), key.clone(), "the node's configuration");
    loop {
        let written: Vec<etcd::KeyValue> = match follow.next().await {
            Change::Listed(listed) => listed,
            Change::Events(events) => {
                events.into_iter().filter(|event| event.kind == etcd::EventKind::Put).map(|event| event.kv).collect()
            }
        };
        for kv in written.iter().filter(|kv| kv.key == key) {
            consider(&node, &hook, kv).await;
        }
    }
}

async fn consider(node: &Node, hook: &UpdateHook, kv: &etcd::KeyValue) {
    let config: NodeConfig = match kv.json() {
        Ok(config) => config,
        Err(e) => return tracing::warn!("a node configuration the node can't read: {e}"),
    };
    let generation = config.update_generation;
    if generation <= node.heartbeat.update_generation() {
        return;
    }
    tracing::info!(generation, "the fleet asks for a node update");
    node.heartbeat.set_updating(true);
    if let Err(e) = hook().await {
        // Recorded all the same: the controller asks again with a new number if it wants.
        tracing::warn!(generation, "the node update failed: {e}");
    }
    node.heartbeat.updated_to(generation);
    node.heartbeat.set_updating(false);
}
