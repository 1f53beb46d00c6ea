//! A supervisor's side of a fleet (issue 15): it joins the fleet controller, heartbeats through
//! an etcd lease, runs the instances the controller assigns to it as containers, and does the
//! one-off tasks the controller gives it (template pulls and removals, image saves, updates of
//! the node's supervisor).
//!
//! The controller keeps no state of its own, so after the join the node talks to etcd only: it
//! watches its own key ranges (`assign/<node>/`, `tasks/<node>/`, `node-config/<node>`) and
//! writes what it reports under its lease (`alive/<node>`, `status/<instance>`), so that when the
//! node dies etcd itself says so by dropping those keys. Every loop here survives etcd or the
//! engine going away: it retries, and reads the whole of its range again before watching anew,
//! so nothing that happened meanwhile is missed.

mod follow;
mod heartbeat;
mod images;
mod info;
mod instances;
mod join;
mod lease;
mod ports;
mod script;
mod tasks;
mod update;

pub use info::{docker_arch, UsbClaim};
pub use join::Joined;

use docker::DockerManager;
use fleet::Keys;
use jobs::JobManager;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The daemon's update of its own supervisor, run when the controller asks for a node update
/// (`PUT /api/v1/node/update`). A closure given by the daemon, so this crate needs nothing of
/// the supervisor's crate.
pub type UpdateHook = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// What the operator told the node about its fleet.
#[derive(Clone)]
pub struct Settings {
    /// The controller's base URL (`http://controller:8090`).
    pub controller: String,
    /// The join token the controller hands out; sent as a bearer token and never logged.
    pub join_token: String,
    /// The TTL of the node's lease: how long after its last heartbeat a dead node is offline.
    pub lease_ttl: Duration,
    /// The node's name; the host's name when not given.
    pub node_name: Option<String>,
    /// The USB devices the operator offers to the fleet's instances.
    pub usb: Vec<UsbClaim>,
    /// The VLAN ids the host has interfaces on.
    pub vlans: Vec<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("controller", &self.controller)
            .field("join_token", &"<hidden>")
            .field("lease_ttl", &self.lease_ttl)
            .field("node_name", &self.node_name)
            .field("usb", &self.usb)
            .field("vlans", &self.vlans)
            .finish()
    }
}

/// The daemon's parts the node works with.
pub struct Parts {
    pub data: base::DataDir,
    pub docker: Arc<DockerManager>,
    pub jobs: JobManager,
    pub hardware: Arc<hardware::HardwareManager>,
    pub update: UpdateHook,
}

/// Everything the node's loops share once it has joined.
pub(crate) struct Node {
    pub id: String,
    pub keys: Keys,
    pub etcd: etcd::Client,
    pub leased: Arc<lease::Leased>,
    pub docker: Arc<DockerManager>,
    pub jobs: JobManager,
    /// Where the node's own files are (`DataDir::fleet`).
    pub dir: PathBuf,
    /// The address the node's instances are reached at.
    pub host_ip: String,
    pub heartbeat: heartbeat::State,
    /// One choice of free host ports at a time, until the engine holds them.
    pub ports: tokio::sync::Mutex<()>,
}

/// Joins the fleet (retrying while the controller cannot be reached) and then runs the node's
/// loops for as long as the daemon lives.
pub async fn run(settings: Settings, parts: Parts) {
    let dir = parts.data.fleet();
    if let Err(e) = base::fs::ensure_real_dir(&dir) {
        tracing::error!("fleet node not started: can't make {}: {e}", dir.display());
        return;
    }
    let mut info = info::gather(&settings, &parts.data, &parts.hardware);
    info.node_id = join::saved_node_id(&dir).unwrap_or_default();
    let joined = join::join_until_accepted(&settings, &info).await;
    if let Err(e) = join::save_node_id(&dir, &joined.node_id) {
        tracing::error!("the fleet's node id is not saved, the next start joins as a new node: {e}");
    }
    info.node_id = joined.node_id.clone();
    tracing::info!(node = %joined.node_id, prefix = %joined.prefix, "joined the fleet");
    let etcd = match etcd::Client::new(&joined.etcd_endpoints) {
        Ok(etcd) => etcd,
        Err(e) => {
            tracing::error!("the fleet's etcd endpoints are unusable: {e}");
            return;
        }
    };
    let keys = Keys::new(&joined.prefix);
    register(&etcd, &keys, &info).await;
    let leased = lease::Leased::start(etcd.clone(), settings.lease_ttl).await;
    let node = Arc::new(Node {
        id: joined.node_id,
        keys,
        etcd,
        leased: Arc::clone(&leased),
        docker: parts.docker,
        jobs: parts.jobs,
        heartbeat: heartbeat::State::load(&dir),
        dir,
        host_ip: info.ip_address,
        ports: tokio::sync::Mutex::new(()),
    });
    tokio::spawn(leased.keep(settings.lease_ttl));
    tokio::spawn(heartbeat::run(Arc::clone(&node)));
    tokio::spawn(instances::run(Arc::clone(&node)));
    tokio::spawn(tasks::run(Arc::clone(&node)));
    update::run(node, parts.update).await;
}

/// Writes `nodes/<node>`, retrying until etcd takes it.
async fn register(etcd: &etcd::Client, keys: &Keys, info: &fleet::NodeInfo) {
    let mut attempt = 0;
    loop {
        match etcd.put_json(&keys.node(&info.node_id), info, None).await {
            Ok(_) => return,
            Err(e) => tracing::warn!("can't register the node in etcd: {e}"),
        }
        tokio::time::sleep(join::backoff(attempt)).await;
        attempt += 1;
    }
}
