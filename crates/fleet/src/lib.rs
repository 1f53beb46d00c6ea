//! The fleet's shared model: what the controller replicas and the supervisor nodes keep in etcd,
//! under which key, and who writes it. The controller keeps no state of its own; everything here
//! is the whole truth of a fleet, so any replica (or a restarted one) picks up where another
//! left off.
//!
//! Ownership is what keeps concurrent writers apart: every key has exactly one kind of writer.
//!
//! | key (under the fleet's prefix)  | record              | written by                              |
//! |---------------------------------|---------------------|-----------------------------------------|
//! | `nodes/<node>`                  | [`NodeInfo`]        | the node, when it joins                 |
//! | `node-config/<node>`            | [`NodeConfig`]      | the controller (`POST /node/config`)    |
//! | `alive/<node>`                  | [`Heartbeat`]       | the node, under its lease               |
//! | `instances/<instance>`          | [`Instance`]        | the controller                          |
//! | `assign/<node>/<instance>`      | [`Assignment`]      | the controller (the node watches it)    |
//! | `status/<instance>`             | [`InstanceStatus`]  | the node running it, under its lease    |
//! | `groups/<group>`                | [`Group`]           | the controller                          |
//! | `tasks/<node>/<task>`           | [`Task`]            | the controller (the node watches it)    |
//! | `task-status/<task>/<node>`     | [`TaskStatus`]      | the node doing it                       |
//! | `distributions/<request>`       | [`Distribution`]    | the controller                          |
//! | `saves/<request>`               | [`SaveRequest`]     | the controller                          |
//! | `macs/<mac>`                    | [`MacLease`]        | the controller                          |
//! | `apikeys/<key>`                 | [`ApiKey`]          | the controller (`/api/v1/apikey`)       |
//! | `handshakes/<key>/<digest>`     | the key's id        | the controller (`/tap/v1/hand`), 60 s lease |
//! | `sessions/<key>/<digest>`       | [`KeySession`]      | the controller (`/tap/v1/shake`), under a lease |
//! | `permissions/<group>`           | [`ResourceGrant`]s  | the controller (`/admin/api/v1/permission`) |
//! | `leader`                        | the leader's id     | a controller replica, under its lease   |
//!
//! Handshake secrets and session tokens are kept as their SHA-256 digests (`<digest>`, hex), so
//! reading etcd gives no one a way in.
//!
//! Keys a node writes under its lease vanish when it stops heartbeating, so "offline" and "its
//! instances need a new home" are facts etcd establishes, not guesses of a controller.

mod model;

pub use model::*;

/// The key layout of one fleet: every key lives under `prefix`, so several fleets (or tests)
/// share an etcd cluster without seeing each other.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// `prefix` without a trailing slash, e.g. `/fleet`.
    pub fn new(prefix: &str) -> Keys {
        Keys { prefix: prefix.trim_end_matches('/').to_string() }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn dir(&self, name: &str) -> String {
        format!("{}/{name}/", self.prefix)
    }

    pub fn nodes(&self) -> String {
        self.dir("nodes")
    }
    pub fn node(&self, node: &str) -> String {
        self.nodes() + node
    }
    pub fn node_configs(&self) -> String {
        self.dir("node-config")
    }
    pub fn node_config(&self, node: &str) -> String {
        self.node_configs() + node
    }
    pub fn alive_all(&self) -> String {
        self.dir("alive")
    }
    pub fn alive(&self, node: &str) -> String {
        self.alive_all() + node
    }
    pub fn instances(&self) -> String {
        self.dir("instances")
    }
    pub fn instance(&self, instance: &str) -> String {
        self.instances() + instance
    }
    /// Everything assigned to every node.
    pub fn assignments(&self) -> String {
        self.dir("assign")
    }
    /// The range a node watches: what it must run.
    pub fn assigned_to(&self, node: &str) -> String {
        format!("{}{node}/", self.assignments())
    }
    pub fn assignment(&self, node: &str, instance: &str) -> String {
        self.assigned_to(node) + instance
    }
    pub fn statuses(&self) -> String {
        self.dir("status")
    }
    pub fn status(&self, instance: &str) -> String {
        self.statuses() + instance
    }
    pub fn groups(&self) -> String {
        self.dir("groups")
    }
    pub fn group(&self, group: &str) -> String {
        self.groups() + group
    }
    /// The range a node watches for one-off work (template pulls and removals, image saves).
    pub fn tasks_of(&self, node: &str) -> String {
        format!("{}{node}/", self.dir("tasks"))
    }
    pub fn task(&self, node: &str, task: &str) -> String {
        self.tasks_of(node) + task
    }
    /// Every node's progress on one task.
    pub fn task_statuses(&self, task: &str) -> String {
        format!("{}{task}/", self.dir("task-status"))
    }
    pub fn task_status(&self, task: &str, node: &str) -> String {
        self.task_statuses(task) + node
    }
    pub fn distributions(&self) -> String {
        self.dir("distributions")
    }
    pub fn distribution(&self, request: &str) -> String {
        self.distributions() + request
    }
    pub fn saves(&self) -> String {
        self.dir("saves")
    }
    pub fn save(&self, request: &str) -> String {
        self.saves() + request
    }
    pub fn macs(&self) -> String {
        self.dir("macs")
    }
    pub fn mac(&self, mac: &str) -> String {
        self.macs() + mac
    }
    pub fn api_keys(&self) -> String {
        self.dir("apikeys")
    }
    pub fn api_key(&self, key: &str) -> String {
        self.api_keys() + key
    }
    /// A key's pending handshakes, by the digest of their secret.
    pub fn handshakes_of(&self, key: &str) -> String {
        format!("{}{key}/", self.dir("handshakes"))
    }
    pub fn handshake(&self, key: &str, digest: &str) -> String {
        self.handshakes_of(key) + digest
    }
    /// A key's open sessions, by the digest of their token.
    pub fn sessions_of(&self, key: &str) -> String {
        format!("{}{key}/", self.dir("sessions"))
    }
    pub fn session(&self, key: &str, digest: &str) -> String {
        self.sessions_of(key) + digest
    }
    pub fn permission_groups(&self) -> String {
        self.dir("permissions")
    }
    pub fn permission_group(&self, group: &str) -> String {
        self.permission_groups() + group
    }
    pub fn leader(&self) -> String {
        format!("{}/leader", self.prefix)
    }

    /// The last part of `key`: the id of the record it holds.
    pub fn id_of(key: &str) -> &str {
        key.rsplit('/').next().unwrap_or(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_nest_under_the_prefix_and_a_nodes_range_holds_only_its_own() {
        let keys = Keys::new("/t1/");
        assert_eq!(keys.node("n1"), "/t1/nodes/n1");
        assert_eq!(keys.assignment("n1", "i1"), "/t1/assign/n1/i1");
        assert!(keys.assignment("n1", "i1").starts_with(&keys.assigned_to("n1")));
        assert!(!keys.assignment("n10", "i1").starts_with(&keys.assigned_to("n1")));
        assert_eq!(Keys::id_of(&keys.status("i9")), "i9");
        assert_eq!(keys.leader(), "/t1/leader");
        assert_eq!(keys.session("k1", "ab"), "/t1/sessions/k1/ab");
        assert!(!keys.session("k10", "ab").starts_with(&keys.sessions_of("k1")));
        assert_eq!(keys.permission_group("devops"), "/t1/permissions/devops");
    }
}
