//! Running what the fleet assigns to the node: every `assign/<node>/<instance>` becomes a
//! container, and `status/<instance>` (under the node's lease) says how it goes: Pulling with
//! the pull's progress, Started with the container's facts, Stopping while it restarts, Error
//! with why.
//!
//! Each instance has a task of its own that is told the assignment as it changes (a later
//! value replaces an earlier one not yet acted on) and brings the container to it: started,
//! restarted when the restart number grew, removed with its status when the assignment went.
//! While it runs, the task follows the engine's `die` events of its container: a container that
//! ends on its own is reported Stopped (exit code 0) or Error (with the code), until a restart.
//! A new task for an instance id waits for the previous one to finish, so two never act on one
//! container. Containers carry the node's id and the instance's id as labels; at start the
//! node removes its containers no assignment names (their instances moved on while it was away)
//! and takes over the running ones that are still assigned.

use crate::follow::{Change, Follow};
use crate::{images, ports, script, Node};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, DeviceMapping, EndpointSettings, HostConfig, NetworkingConfig,
    PortBinding, PortMap,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, EventsOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    RestartContainerOptionsBuilder,
};
use chrono::{DateTime, Utc};
use fleet::{Assignment, InstanceState, InstanceStatus, Keys, PortForward, TemplateOnNode, VmInfo};
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The label naming the node that runs a container.
pub(crate) const LABEL_NODE: &str = "io.fleet.node";
/// The label naming the instance a container is.
pub(crate) const LABEL_INSTANCE: &str = "io.fleet.instance";
/// Seconds an instance gets to stop before it is killed.
const STOP_TIMEOUT: i32 = 10;

/// Reads and watches the node's assignments for as long as the daemon lives.
pub(crate) async fn run(node: Arc<Node>) {
    node.docker.connect_until_ready(Duration::from_secs(2)).await;
    let prefix = node.keys.assigned_to(&node.id);
    let mut dispatcher = Dispatcher { node: Arc::clone(&node), running: HashMap::new(), ending: HashMap::new() };
    let mut orphans_removed = false;
    let mut follow = Follow::new(node.etcd.clone(), prefix, "the node's assignments");
    loop {
        match follow.next().await {
            Change::Listed(listed) => {
                let assigned: BTreeMap<String, Assignment> = listed.iter().filter_map(read).collect();
                if !orphans_removed {
                    orphans_removed = remove_orphans(&node, &assigned).await;
                }
                let gone: Vec<String> =
                    dispatcher.running.keys().filter(|id| !assigned.contains_key(*id)).cloned().collect();
                for id in gone {
                    dispatcher.unassign(&id);
                }
                for (id, assignment) in assigned {
                    dispatcher.assign(id, assignment);
                }
            }
            Change::Events(events) => {
                for event in events {
                    match event.kind {
                        etcd::EventKind::Put => {
                            if let Some((id, assignment)) = read(&event.kv) {
                                dispatcher.assign(id, assignment);
                            }
                        }
                        etcd::EventKind::Delete => dispatcher.unassign(Keys::id_of(&event.kv.key)),
                    }
                }
            }
        }
    }
}

/// The instance id and assignment of a key of the range.
fn read(kv: &etcd::KeyValue) -> Option<(String, Assignment)> {
    match kv.json::<Assignment>() {
        Ok(assignment) => Some((Keys::id_of(&kv.key).to_owned(), assignment)),
        Err(e) => {
            tracing::warn!(key = %kv.key, "an assignment the node can't read: {e}");
            None
        }
    }
}

/// The instances' tasks, by instance id.
struct Dispatcher {
    node: Arc<Node>,
    running: HashMap<String, (watch::Sender<Option<Assignment>>, JoinHandle<()>)>,
    /// The tasks of instances no longer assigned, while they remove their container.
    ending: HashMap<String, JoinHandle<()>>,
}

impl Dispatcher {
    fn assign(&mut self, id: String, assignment: Assignment) {
        if let Some((desired, _)) = self.running.get(&id) {
            desired.send_if_modified(|current| {
                let changed = current.as_ref() != Some(&assignment);
                *current = Some(assignment);
                changed
            });
            return;
        }
        self.ending.retain(|_, task| !task.is_finished());
        let before = self.ending.remove(&id);
        let (desired, receiver) = watch::channel(Some(assignment));
        let task = tokio::spawn(instance_task(Arc::clone(&self.node), id.clone(), receiver, before));
        self.running.insert(id, (desired, task));
    }

    fn unassign(&mut self, id: &str) {
        if let Some((desired, task)) = self.running.remove(id) {
            desired.send_replace(None);
            self.ending.insert(id.to_owned(), task);
        }
    }
}

/// The container of instance `id` on this node.
pub(crate) fn container_name(node: &Node, id: &str) -> String {
    node.docker.container_name(&format!("fleet-{id}"))
}

/// Removes the containers of this node that no assignment names; answers whether the engine
/// could be asked.
async fn remove_orphans(node: &Node, assigned: &BTreeMap<String, Assignment>) -> bool {
    let Ok(docker) = node.docker.client() else { return false };
    let filters = HashMap::from([("label".to_owned(), vec![format!("{LABEL_NODE}={}", node.id)])]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let containers = match docker.list_containers(Some(options)).await {
        Ok(containers) => containers,
        Err(e) => {
            tracing::warn!("can't list the node's containers: {e}");
            return false;
        }
    };
    for container in containers {
        let instance = container.labels.as_ref().and_then(|labels| labels.get(LABEL_INSTANCE)).cloned();
        if instance.as_ref().is_some_and(|id| assigned.contains_key(id)) {
            continue;
        }
        let Some(id) = container.id else { continue };
        tracing::info!(container = %id, instance = ?instance, "removing a container no longer assigned to this node");
        remove(&docker, &id).await;
    }
    true
}

/// Force-removes a container; a missing one is fine.
async fn remove(docker: &bollard::Docker, container: &str) {
    let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    match docker.remove_container(container, Some(options)).await {
        Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
        Err(e) => tracing::warn!(container, "can't remove the container: {e}"),
    }
}

/// One instance's task: brings its container to each assignment it is told, until told none.
async fn instance_task(
    node: Arc<Node>,
    id: String,
    mut desired: watch::Receiver<Option<Assignment>>,
    before: Option<JoinHandle<()>>,
) {
    if let Some(before) = before {
        let _ = before.await;
    }
    let mut instance = Instance::new(node, id);
    loop {
        let assignment = desired.borrow_and_update().clone();
        let Some(assignment) = assignment else {
            instance.remove().await;
            return;
        };
        instance.bring_to(&assignment).await;
        let running = instance.status.state == InstanceState::Started;
        tokio::select! {
            changed = desired.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            exit = instance.ended(), if running => instance.report_end(exit).await,
        }
    }
}

/// How long to wait before following the engine's events again after they broke off.
const EVENTS_RETRY: Duration = Duration::from_secs(5);

struct Instance {
    node: Arc<Node>,
    id: String,
    name: String,
    status: InstanceStatus,
    /// The restart number acted on, once the instance was started (or failed to start).
    acted: Option<u32>,
}

impl Instance {
    fn new(node: Arc<Node>, id: String) -> Instance {
        let status = InstanceStatus { node_id: node.id.clone(), ..Default::default() };
        Instance { name: container_name(&node, &id), node, id, status, acted: None }
    }

    async fn bring_to(&mut self, assignment: &Assignment) {
        match self.acted {
            None => self.start(assignment).await,
            Some(acted) if assignment.restarts > acted => self.restart(assignment).await,
            Some(_) => {}
        }
        self.acted = Some(assignment.restarts);
    }

    async fn report(&mut self) {
        self.status.ts = Utc::now();
        self.node.leased.put_json(&self.node.keys.status(&self.id), &self.status).await;
    }

    async fn fail(&mut self, message: String) {
        tracing::warn!(instance = %self.id, "{message}");
        self.status.state = InstanceState::Error;
        self.status.message = message;
        self.report().await;
    }

    async fn start(&mut self, assignment: &Assignment) {
        self.status.restarts = assignment.restarts;
        self.status.state = InstanceState::Pulling;
        self.status.progress = 0.0;
        self.status.message.clear();
        self.report().await;
        match self.launch(assignment).await {
            Ok(started) => self.started(assignment, started).await,
            Err(message) => self.fail(message).await,
        }
    }

    async fn restart(&mut self, assignment: &Assignment) {
        let Ok(docker) = self.node.docker.client() else {
            return self.fail("the container engine is not available".into()).await;
        };
        if docker.inspect_container(&self.name, None).await.is_err() {
            return self.start(assignment).await;
        }
        self.status.state = InstanceState::Stopping;
        self.report().await;
        let options = RestartContainerOptionsBuilder::default().t(STOP_TIMEOUT).build();
        if let Err(e) = docker.restart_container(&self.name, Some(options)).await {
            return self.fail(format!("can't restart the container: {e}")).await;
        }
        self.status.restarts = assignment.restarts;
        self.started(assignment, true).await;
    }

    /// Reports the running container, then runs the startup script if it was just started.
    async fn started(&mut self, assignment: &Assignment, just_started: bool) {
        let Ok(docker) = self.node.docker.client() else {
            return self.fail("the container engine is not available".into()).await;
        };
        let inspect = match docker.inspect_container(&self.name, None).await {
            Ok(inspect) => inspect,
            Err(e) => return self.fail(format!("can't inspect the container: {e}")).await,
        };
        self.status.state = InstanceState::Started;
        self.status.progress = 1.0;
        self.status.message.clear();
        self.status.vminfo = Some(vminfo(&self.node, assignment, &inspect));
        self.report().await;
        let Some(source) = assignment.startup_script.as_deref().filter(|_| just_started) else { return };
        let timeout = assignment.script_timeout.map_or(script::DEFAULT_TIMEOUT, Duration::from_secs);
        let result = script::run(&docker, &self.name, source, timeout).await;
        let failed = script::failed_instance(&result);
        self.status.startup_script = Some(result);
        if failed && assignment.script_monitoring {
            self.fail("the startup script failed".into()).await;
        } else {
            self.report().await;
        }
    }

    /// Makes the container run: takes over a running one of this assignment, else (re)creates
    /// it, pulling its image first. Answers whether it was started now.
    async fn launch(&mut self, assignment: &Assignment) -> Result<bool, String> {
        let docker = self.node.docker.client().map_err(|e| e.message)?;
        self.ensure_image(assignment).await?;
        if let Ok(existing) = docker.inspect_container(&self.name, None).await {
            if self.is_ours(&existing, assignment) {
                if existing.state.as_ref().and_then(|state| state.running) == Some(true) {
                    return Ok(false);
                }
                let _ports = self.node.ports.lock().await;
                if docker.start_container(&self.name, None).await.is_ok() {
                    return Ok(true);
                }
            }
            remove(&docker, &self.name).await;
        }
        let _ports = self.node.ports.lock().await;
        let forwards = ports::choose(&assignment.port_forwarding, ports::is_free_on_host)
            .ok_or_else(|| "no free host port is left for the instance's port forwarding".to_owned())?;
        let body = container_body(&self.node.id, assignment, &forwards);
        let options = CreateContainerOptionsBuilder::default().name(&self.name).build();
        docker.create_container(Some(options), body).await.map_err(|e| format!("can't create the container: {e}"))?;
        if let Err(e) = docker.start_container(&self.name, None).await {
            remove(&docker, &self.name).await;
            return Err(format!("can't start the container: {e}"));
        }
        tracing::info!(instance = %self.id, image = %assignment.image, "started an instance");
        Ok(true)
    }

    fn is_ours(&self, container: &ContainerInspectResponse, assignment: &Assignment) -> bool {
        let config = container.config.as_ref();
        let labels = config.and_then(|config| config.labels.as_ref());
        let label = |key: &str| labels.and_then(|labels| labels.get(key)).map(String::as_str);
        label(LABEL_NODE) == Some(self.node.id.as_str())
            && label(LABEL_INSTANCE) == Some(self.id.as_str())
            && config.and_then(|config| config.image.as_deref()) == Some(assignment.image.as_str())
    }

    /// Pulls the assignment's image unless the engine has it, reporting the pull's progress.
    async fn ensure_image(&mut self, assignment: &Assignment) -> Result<(), String> {
        let (image, tag) = images::split_reference(&assignment.image);
        if self.node.docker.image_exists(image, tag).await.map_err(|e| e.message)? {
            return Ok(());
        }
        let node = Arc::clone(&self.node);
        let key = node.keys.status(&self.id);
        let mut status = self.status.clone();
        images::pull(&node, &assignment.image, &self.id, |progress| {
            status.progress = progress;
            status.ts = Utc::now();
            let (node, key, status) = (&node, &key, status.clone());
            async move { node.leased.put_json(key, &status).await }
        })
        .await?;
        self.node.heartbeat.holds(
            &assignment.image,
            TemplateOnNode {
                uuid: assignment.template_id.clone(),
                name: images::repository_of(&assignment.image).to_owned(),
                tag: assignment.tag.clone(),
            },
        );
        Ok(())
    }

    /// Waits until the container ends without being told to, answering its exit code.
    async fn ended(&self) -> i64 {
        loop {
            if let Ok(docker) = self.node.docker.client() {
                let filters = HashMap::from([
                    ("type", vec!["container"]),
                    ("event", vec!["die"]),
                    ("container", vec![self.name.as_str()]),
                ]);
                let mut events = docker.events(Some(EventsOptionsBuilder::default().filters(&filters).build()));
                // Ended before the events were followed: the engine says so.
                if let Ok(inspect) = docker.inspect_container(&self.name, None).await {
                    let state = inspect.state.as_ref();
                    if state.and_then(|state| state.running) == Some(false) {
                        return state.and_then(|state| state.exit_code).unwrap_or(0);
                    }
                }
                match events.next().await {
                    Some(Ok(event)) => {
                        let attributes = event.actor.and_then(|actor| actor.attributes).unwrap_or_default();
                        return attributes.get("exitCode").and_then(|code| code.parse().ok()).unwrap_or(0);
                    }
                    Some(Err(e)) => tracing::warn!(instance = %self.id, "the engine's events broke off: {e}"),
                    None => {}
                }
            }
            tokio::time::sleep(EVENTS_RETRY).await;
        }
    }

    /// The container ended on its own: Stopped after exit code 0, else Error naming the code.
    async fn report_end(&mut self, exit: i64) {
        tracing::warn!(instance = %self.id, "the instance's container ended with exit code {exit}");
        let now = Utc::now();
        if let Some(vminfo) = &mut self.status.vminfo {
            vminfo.status = "exited".into();
            vminfo.stop_date = Some(now);
            vminfo.timestamp = now;
        }
        if exit == 0 {
            self.status.state = InstanceState::Stopped;
            self.status.message.clear();
        } else {
            self.status.state = InstanceState::Error;
            self.status.message = format!("the instance's container ended with exit code {exit}");
        }
        self.report().await;
    }

    /// The assignment went: the container and the status go too.
    async fn remove(&mut self) {
        if let Ok(docker) = self.node.docker.client() {
            remove(&docker, &self.name).await;
            tracing::info!(instance = %self.id, "removed an instance no longer assigned");
        }
        self.node.leased.delete(&self.node.keys.status(&self.id)).await;
    }
}

/// The container of `assignment`: its image with a terminal (an image whose command is a shell,
/// as a machine's template has, then stays up like a machine), the node's labels, the ports
/// published as `forwards` chose, its USB device, MAC address and resource limits.
fn container_body(node_id: &str, assignment: &Assignment, forwards: &[PortForward]) -> ContainerCreateBody {
    let mut exposed = Vec::new();
    let mut bindings = PortMap::new();
    for forward in forwards {
        let key = format!("{}/{}", forward.guest_port, forward.protocol.to_lowercase());
        exposed.push(key.clone());
        let binding =
            PortBinding { host_ip: forward.host_ip.clone(), host_port: forward.host_port.map(|port| port.to_string()) };
        bindings.entry(key).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(binding);
    }
    let devices = assignment.usb_device.as_ref().map(|device| {
        vec![DeviceMapping {
            path_on_host: Some(device.path.clone()),
            path_in_container: Some(device.path.clone()),
            cgroup_permissions: Some("rwm".to_owned()),
        }]
    });
    let networking_config = assignment.mac_address.as_ref().map(|mac| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            "bridge".to_owned(),
            EndpointSettings { mac_address: Some(mac.clone()), ..Default::default() },
        )])),
    });
    ContainerCreateBody {
        image: Some(assignment.image.clone()),
        tty: Some(true),
        open_stdin: Some(true),
        exposed_ports: Some(exposed),
        labels: Some(HashMap::from([
            (LABEL_NODE.to_owned(), node_id.to_owned()),
            (LABEL_INSTANCE.to_owned(), assignment.instance_id.clone()),
        ])),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            devices,
            nano_cpus: assignment.vcpu.map(|cpus| i64::from(cpus) * 1_000_000_000),
            memory: assignment.vram.map(|mib| (mib as i64).saturating_mul(1024 * 1024)),
            ..Default::default()
        }),
        networking_config,
        ..Default::default()
    }
}

/// The running instance as the fleet shows it (`vminfo`).
fn vminfo(node: &Node, assignment: &Assignment, inspect: &ContainerInspectResponse) -> VmInfo {
    let state = inspect.state.as_ref();
    let settings = inspect.network_settings.as_ref();
    let ip = settings
        .and_then(|settings| settings.networks.as_ref())
        .and_then(|networks| {
            networks.values().find_map(|network| network.ip_address.clone().filter(|ip| !ip.is_empty()))
        })
        .unwrap_or_default();
    let published = settings.and_then(|settings| settings.ports.as_ref());
    VmInfo {
        uuid: inspect.id.clone().unwrap_or_default(),
        name: inspect.name.as_deref().unwrap_or_default().trim_start_matches('/').to_owned(),
        status: state.and_then(|state| state.status).map(|status| status.to_string()).unwrap_or_default(),
        version: assignment.tag.clone(),
        creation_date: inspect.created.as_deref().and_then(date),
        start_date: state.and_then(|state| state.started_at.as_deref()).and_then(date),
        stop_date: None,
        cpu_cores: assignment.vcpu.unwrap_or(0),
        ram: assignment.vram.map(|mib| format!("{mib}MiB")).unwrap_or_default(),
        node_id: node.id.clone(),
        host_ip: node.host_ip.clone(),
        ip,
        port_forwarding: published_ports(&assignment.port_forwarding, published),
        timestamp: Utc::now(),
    }
}

/// `forwards` with the host ports the engine published them on.
fn published_ports(forwards: &[PortForward], published: Option<&PortMap>) -> Vec<PortForward> {
    forwards
        .iter()
        .map(|forward| {
            let key = format!("{}/{}", forward.guest_port, forward.protocol.to_lowercase());
            let port = published
                .and_then(|ports| ports.get(&key))
                .and_then(|bindings| bindings.as_ref()?.iter().find_map(|b| b.host_port.as_deref()?.parse().ok()));
            PortForward { host_port: port.or(forward.host_port), ..forward.clone() }
        })
        .collect()
}

/// An engine's date; its zero date (`0001-01-01…`, never) is none.
fn date(text: &str) -> Option<DateTime<Utc>> {
    let date = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    (date.timestamp() > 0).then_some(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment() -> Assignment {
        Assignment {
            instance_id: "i1".into(),
            image: "reg/t:v1".into(),
            template_id: "t".into(),
            tag: "v1".into(),
            usb_device: Some(fleet::UsbDevice {
                name: "phone".into(),
                path: "/dev/ttyUSB0".into(),
                ..Default::default()
            }),
            mac_address: Some("02:42:ac:11:00:99".into()),
            startup_script: None,
            script_monitoring: false,
            script_timeout: None,
            port_forwarding: vec![],
            vcpu: Some(2),
            vram: Some(512),
            restarts: 0,
        }
    }

    #[test]
    fn the_container_carries_the_assignments_ports_device_address_and_limits() {
        let forwards = vec![PortForward {
            name: "ssh".into(),
            guest_port: 22,
            host_port: Some(10000),
            host_ip: None,
            protocol: "TCP".into(),
        }];
        let body = container_body("n1", &assignment(), &forwards);
        assert_eq!(body.exposed_ports, Some(vec!["22/tcp".to_owned()]));
        let host = body.host_config.unwrap();
        let binding = &host.port_bindings.unwrap()["22/tcp"].clone().unwrap()[0];
        assert_eq!(binding.host_port.as_deref(), Some("10000"));
        assert_eq!(host.devices.unwrap()[0].path_on_host.as_deref(), Some("/dev/ttyUSB0"));
        assert_eq!((host.nano_cpus, host.memory), (Some(2_000_000_000), Some(512 * 1024 * 1024)));
        let labels = body.labels.unwrap();
        assert_eq!((labels[LABEL_NODE].as_str(), labels[LABEL_INSTANCE].as_str()), ("n1", "i1"));
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(endpoints["bridge"].mac_address.as_deref(), Some("02:42:ac:11:00:99"));
    }

    #[test]
    fn published_ports_are_read_back_and_engine_zero_dates_are_none() {
        let forwards = vec![PortForward {
            name: "web".into(),
            guest_port: 80,
            host_port: None,
            host_ip: None,
            protocol: "tcp".into(),
        }];
        let ports = PortMap::from([(
            "80/tcp".to_owned(),
            Some(vec![PortBinding { host_ip: Some("0.0.0.0".into()), host_port: Some("10004".into()) }]),
        )]);
        assert_eq!(published_ports(&forwards, Some(&ports))[0].host_port, Some(10004));
        assert_eq!(published_ports(&forwards, None)[0].host_port, None);
        assert_eq!(date("0001-01-01T00:00:00Z"), None);
        assert!(date("2024-05-01T10:00:00.123456789Z").is_some());
    }
}
