//! The records of a fleet, as they are stored in etcd (JSON). Field names follow the Anka
//! Controller's API where a record is shown by it, so the controller can answer with them as they
//! are.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a node tells the fleet about itself when it joins; rewritten when it joins again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub node_id: String,
    pub node_name: String,
    /// Where the node's instances are reached: the address it joined from.
    pub ip_address: String,
    pub cpu_count: u32,
    pub ram_bytes: u64,
    pub disk_size: u64,
    /// Docker's architecture names: `amd64`, `arm64`.
    pub arch: String,
    pub usb_devices: Vec<UsbDevice>,
    /// The VLAN ids the node's host has interfaces on.
    #[serde(default)]
    pub vlans: Vec<String>,
    /// The supervisor version the node runs.
    pub version: String,
    pub joined: DateTime<Utc>,
}

/// A USB device plugged into a node. Instances claim a device by `name`, which several devices
/// (of several nodes) may share: the name is a kind of device ("phone-a"), the path one device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsbDevice {
    pub name: String,
    /// The device node on the host (`/dev/ttyUSB0`, `/dev/bus/usb/001/004`).
    pub path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vendor_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub product_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serial: String,
}

/// How a node's capacity is counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CapacityMode {
    /// At most `max_vm_count` instances.
    #[default]
    Number,
    /// The instances' CPUs and memory within the node's (or the overrides').
    Resource,
}

/// What operators set about a node (`POST /api/v1/node/config`, `/api/v1/node/group`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub max_vm_count: u32,
    #[serde(default)]
    pub capacity_mode: CapacityMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpu_override: Option<u32>,
    /// Memory, in MiB, when counting by resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ram_override: Option<u64>,
    #[serde(default)]
    pub disable_central_logging: bool,
    #[serde(default)]
    pub drain_mode: bool,
    /// Ids of the node groups the node is in.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Raised by `PUT /api/v1/node/update`; the node updates its supervisor when it sees a
    /// number it has not acted on.
    #[serde(default)]
    pub update_generation: u64,
}

impl NodeConfig {
    /// A new node runs two instances until told otherwise, as the Anka Controller's nodes do.
    pub const DEFAULT_CAPACITY: u32 = 2;
}

impl Default for NodeConfig {
    fn default() -> NodeConfig {
        NodeConfig {
            name: None,
            host: None,
            max_vm_count: NodeConfig::DEFAULT_CAPACITY,
            capacity_mode: CapacityMode::Number,
            vcpu_override: None,
            ram_override: None,
            disable_central_logging: false,
            drain_mode: false,
            groups: Vec::new(),
            update_generation: 0,
        }
    }
}

/// What a node says while it lives, rewritten every heartbeat under its lease.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub updating: bool,
    pub ts: DateTime<Utc>,
    pub free_disk_space: u64,
    pub cpu_util: f64,
    pub ram_util: f64,
    /// The templates the node holds (pulled images of the fleet's registry).
    #[serde(default)]
    pub templates: Vec<TemplateOnNode>,
    /// The last `update_generation` the node acted on.
    #[serde(default)]
    pub update_generation: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateOnNode {
    pub uuid: String,
    pub name: String,
    pub tag: String,
}

/// An instance's state, in the Anka Controller's words: Scheduling -> Pulling -> Started (or
/// Stopped, Pushing, Error) -> Terminating -> Terminated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InstanceState {
    #[default]
    Scheduling,
    Pulling,
    Started,
    Stopping,
    Stopped,
    Terminating,
    Terminated,
    Error,
    Pushing,
}

impl InstanceState {
    /// Whether the instance is done and only kept to be shown.
    pub fn is_final(self) -> bool {
        matches!(self, InstanceState::Terminated)
    }
}

/// A port of an instance published on its node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForward {
    pub name: String,
    pub guest_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    #[serde(default = "tcp")]
    pub protocol: String,
}

fn tcp() -> String {
    "tcp".to_string()
}

/// What was asked of an instance (`POST /api/v1/vm`), kept as asked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceSpec {
    /// The template's id.
    pub vmid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// A node asked for by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// 1 (most urgent) to 10000.
    pub priority: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usb_device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<String>,
    /// Base64, as sent; run with `sh` in the instance once it has started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_script: Option<String>,
    #[serde(default)]
    pub script_monitoring: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_fail_handler: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_forwarding: Vec<PortForward>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpu: Option<u32>,
    /// MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vram: Option<u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// The permission group it was started under (the request's `group`): it goes only to nodes
    /// that group may create instances on, and only that group's keys see and touch it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_group: Option<String>,
}

/// An instance as the controller keeps it: what was asked, which template version it runs and
/// where it was placed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub instance_id: String,
    pub spec: InstanceSpec,
    /// The controller's side of the state: Scheduling until placed, Terminating once deleted.
    /// Between the two, the node's [`InstanceStatus`] tells.
    pub state: InstanceState,
    /// The template's tag and version number, resolved when the instance was asked for.
    pub tag: String,
    pub version: u32,
    /// The image the node pulls: `<registry>/<repository>:<tag>`.
    pub image: String,
    pub registry: String,
    pub arch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// The node's USB device the instance holds, by path, when it asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usb_path: Option<String>,
    /// Why it is not placed yet, or why it failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    pub inflight_reqid: String,
    pub cr_time: DateTime<Utc>,
    pub ts: DateTime<Utc>,
    /// Raised by a restart request; the node restarts the instance when it sees a new number.
    #[serde(default)]
    pub restarts: u32,
}

/// What a node is told to run: everything it needs, so it never reads the controller's records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub instance_id: String,
    pub image: String,
    pub template_id: String,
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usb_device: Option<UsbDevice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_script: Option<String>,
    #[serde(default)]
    pub script_monitoring: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_forwarding: Vec<PortForward>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vram: Option<u64>,
    #[serde(default)]
    pub restarts: u32,
}

/// What the node running an instance reports, under its lease.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub node_id: String,
    pub state: InstanceState,
    /// The pull's progress, 0.0 to 1.0, while Pulling.
    pub progress: f64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vminfo: Option<VmInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_script: Option<ScriptResult>,
    /// The restart number the node last acted on.
    #[serde(default)]
    pub restarts: u32,
    pub ts: DateTime<Utc>,
}

/// The running instance itself (the Anka Controller's `vminfo`): here, a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VmInfo {
    /// The container's id.
    pub uuid: String,
    pub name: String,
    /// `running`, `stopped`, ...: the engine's word for the container's state.
    pub status: String,
    pub version: String,
    pub creation_date: Option<DateTime<Utc>>,
    pub start_date: Option<DateTime<Utc>>,
    pub stop_date: Option<DateTime<Utc>>,
    pub cpu_cores: u32,
    pub ram: String,
    pub node_id: String,
    pub host_ip: String,
    pub ip: String,
    pub port_forwarding: Vec<PortForward>,
    pub timestamp: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptResult {
    pub return_code: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    pub did_timeout: bool,
    pub stdout: String,
    pub stderr: String,
}

/// A node group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Where instances asked for this group go when its nodes are full.
    pub fallback_group_id: Option<String>,
}

/// One-off work for a node, written by the controller under `tasks/<node>/<task>`; the node
/// reports under `task-status/<task>/<node>` and the controller removes both when done with them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// Pull a template's image ahead of use (distribution).
    Pull { template_id: String, tag: String, image: String },
    /// Remove a template's images (every tag) from the node.
    RemoveTemplate { template_id: String, repository: String },
    /// Save a running instance as a new template version: commit its container, push it as
    /// `image`, then terminate the instance.
    SaveImage {
        instance_id: String,
        image: String,
        script: Option<String>,
        cancel_on_script_failure: bool,
        /// Pause the container while committing it.
        #[serde(default)]
        pause: bool,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// 0.0 to 1.0.
    pub progress: f64,
    pub done: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_result: Option<ScriptResult>,
    pub ts: DateTime<Utc>,
}

/// A request to pull a template onto nodes ahead of use (`POST /api/v1/registry/vm/distribute`);
/// each node's part is a [`Task::Pull`] under the request's id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub request_id: String,
    pub template_id: String,
    pub tag: String,
    pub image: String,
    pub node_ids: Vec<String>,
    pub time_requested: DateTime<Utc>,
}

/// A request to save a running instance as a template version (`POST /api/v1/image`); the
/// node's part is a [`Task::SaveImage`] under the request's id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SaveRequest {
    pub id: String,
    pub instance_id: String,
    pub node_id: String,
    pub template_id: String,
    pub new_template_name: String,
    pub tag: String,
    pub description: String,
    pub image: String,
    pub timestamp: DateTime<Utc>,
    /// `pending`, `done` or `error`: set by the leader once the node's part ended.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_result: Option<ScriptResult>,
}

/// A MAC address of the controller's pool and the instance holding it, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacLease {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

/// A user API key (`POST /api/v1/apikey`): its owner proves holding the private key of
/// `public_key` at the handshake, then calls with what the permission groups `groups` grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub groups: Vec<String>,
    /// The RSA public key, base64 of its PKIX (SubjectPublicKeyInfo) ASN.1 DER form.
    pub public_key: String,
    pub created: DateTime<Utc>,
    pub expiration: DateTime<Utc>,
}

/// A session a key opened at the handshake, kept under the digest of its token (never the
/// token) and under a lease that ends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySession {
    pub expires: DateTime<Utc>,
}

/// What a permission group may do to a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    ChangeConfig,
    CreateInstance,
    DeleteTemplate,
    Distribute,
    ForceUpgrade,
    List,
    Remove,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::ChangeConfig,
        Permission::CreateInstance,
        Permission::DeleteTemplate,
        Permission::Distribute,
        Permission::ForceUpgrade,
        Permission::List,
        Permission::Remove,
    ];
}

/// One resource a permission group holds permissions on; a group's record is a list of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceGrant {
    /// The node's id.
    pub id: String,
    /// How `id` names the resource: `id`.
    pub id_type: String,
    /// The resource's type: `node`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub permissions: Vec<Permission>,
}
