//! The fleet as etcd holds it: a consistent snapshot of every record (one range read, so one
//! revision), and the writes of the controller's side, each a transaction that fails rather
//! than overwrite what another replica changed meanwhile.

use crate::envelope::Fail;
use etcd::{Compare, Op, Txn};
use fleet::{
    Distribution, Group, Heartbeat, Instance, InstanceStatus, Keys, MacLease, NodeConfig, NodeInfo, Permission,
    ResourceGrant, SaveRequest, TaskStatus,
};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// The controller's handle on the fleet's store.
#[derive(Clone)]
pub struct Fleet {
    pub etcd: etcd::Client,
    pub keys: Keys,
}

/// Every record of the fleet at one revision, each with the revision it was last changed at
/// (what a compare-and-swap compares).
#[derive(Default)]
pub struct Snapshot {
    pub revision: i64,
    pub nodes: BTreeMap<String, NodeInfo>,
    pub configs: BTreeMap<String, (NodeConfig, i64)>,
    pub alive: BTreeMap<String, Heartbeat>,
    pub instances: BTreeMap<String, (Instance, i64)>,
    pub statuses: BTreeMap<String, InstanceStatus>,
    pub groups: BTreeMap<String, (Group, i64)>,
    pub distributions: BTreeMap<String, Distribution>,
    pub saves: BTreeMap<String, (SaveRequest, i64)>,
    pub macs: BTreeMap<String, (MacLease, i64)>,
    /// Nodes' progress on tasks, by task and node.
    pub task_statuses: BTreeMap<String, BTreeMap<String, TaskStatus>>,
    /// What each permission group may do, by group name.
    pub permissions: BTreeMap<String, (Vec<ResourceGrant>, i64)>,
    /// Records that could not be read, by key: shown in the log, never fatal.
    pub unreadable: Vec<String>,
}

impl Snapshot {
    /// A node's configuration, or the one a node has until an operator changes it.
    pub fn config(&self, node: &str) -> NodeConfig {
        self.configs.get(node).map(|(config, _)| config.clone()).unwrap_or_default()
    }

    /// Whether permission group `group` holds `permission` on `node`.
    pub fn grants(&self, group: &str, node: &str, permission: Permission) -> bool {
        self.permissions
            .get(group)
            .is_some_and(|(resources, _)| crate::permissions::grants(resources, node, permission))
    }
}

fn parse<T: DeserializeOwned>(kv: &etcd::KeyValue, unreadable: &mut Vec<String>) -> Option<T> {
    match kv.json() {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(key = %kv.key, %error, "a fleet record can't be read");
            unreadable.push(kv.key.clone());
            None
        }
    }
}

impl Fleet {
    /// Everything under the fleet's prefix, read at one revision.
    pub async fn snapshot(&self) -> Result<Snapshot, Fail> {
        let all = format!("{}/", self.keys.prefix());
        let read = self.etcd.txn(Txn::new().and_then(Op::get_prefix(&all))).await?;
        let mut snapshot = Snapshot { revision: read.revision, ..Snapshot::default() };
        for kv in read.gets.into_iter().flatten() {
            let Some(rest) = kv.key.strip_prefix(&all) else { continue };
            let (dir, id) = rest.split_once('/').unwrap_or((rest, ""));
            let id = id.to_string();
            let unreadable = &mut snapshot.unreadable;
            match dir {
                "nodes" => {
                    if let Some(node) = parse(&kv, unreadable) {
                        snapshot.nodes.insert(id, node);
                    }
                }
                "node-config" => {
                    if let Some(config) = parse(&kv, unreadable) {
                        snapshot.configs.insert(id, (config, kv.mod_revision));
                    }
                }
                "alive" => {
                    if let Some(beat) = parse(&kv, unreadable) {
                        snapshot.alive.insert(id, beat);
                    }
                }
                "instances" => {
                    if let Some(instance) = parse(&kv, unreadable) {
                        snapshot.instances.insert(id, (instance, kv.mod_revision));
                    }
                }
                "status" => {
                    if let Some(status) = parse(&kv, unreadable) {
                        snapshot.statuses.insert(id, status);
                    }
                }
                "groups" => {
                    if let Some(group) = parse(&kv, unreadable) {
                        snapshot.groups.insert(id, (group, kv.mod_revision));
                    }
                }
                "distributions" => {
                    if let Some(distribution) = parse(&kv, unreadable) {
                        snapshot.distributions.insert(id, distribution);
                    }
                }
                "saves" => {
                    if let Some(save) = parse(&kv, unreadable) {
                        snapshot.saves.insert(id, (save, kv.mod_revision));
                    }
                }
                "macs" => {
                    if let Some(lease) = parse(&kv, unreadable) {
                        snapshot.macs.insert(id, (lease, kv.mod_revision));
                    }
                }
                "permissions" => {
                    if let Some(resources) = parse(&kv, unreadable) {
                        snapshot.permissions.insert(id, (resources, kv.mod_revision));
                    }
                }
                "task-status" => {
                    let Some((task, node)) = id.split_once('/') else { continue };
                    if let Some(status) = parse(&kv, unreadable) {
                        snapshot.task_statuses.entry(task.to_string()).or_default().insert(node.to_string(), status);
                    }
                }
                _ => {}
            }
        }
        Ok(snapshot)
    }

    /// Writes `ops` if the keys of `unchanged` are still at the revisions read (0: absent);
    /// otherwise nothing, and a conflict the caller may retry from a new snapshot.
    pub async fn commit(&self, unchanged: &[(&str, i64)], ops: Vec<Op>) -> Result<(), Fail> {
        let mut txn = Txn::new();
        for (key, revision) in unchanged {
            txn = txn.when(if *revision == 0 {
                Compare::version_eq(key, 0)
            } else {
                Compare::mod_revision_eq(key, *revision)
            });
        }
        for op in ops {
            txn = txn.and_then(op);
        }
        if self.etcd.txn(txn).await?.succeeded {
            Ok(())
        } else {
            Err(Fail::conflict("another request changed the same records meanwhile; try again"))
        }
    }

    /// `value` as a put of `key`, for [`Fleet::commit`].
    pub fn put<T: serde::Serialize>(key: &str, value: &T) -> Result<Op, Fail> {
        Op::put_json(key, value, None).map_err(Fail::from)
    }
}
