//! The controller's endpoints, in the Anka Controller's shape (`/api/v1/...`, the
//! `status`/`message`/`body` envelope). Each handler parses, reads or writes the fleet's records
//! in etcd, and answers; placement is the scheduler's ([`crate::scheduler`]), which the leader
//! runs on every change these writes make. A user key's caller is narrowed here to the nodes its
//! permission groups grant ([`crate::permissions::Scope`]) and the instances started under them.

use crate::access::{Access, Caller};
use crate::envelope::{done, ok, Answer, Body, Fail};
use crate::permissions::{scope, Scope};
use crate::store::{Fleet, Snapshot};
use crate::templates;
use crate::Controller;
use actix_web::{delete, get, post, put, web};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use etcd::Op;
use fleet::{
    CapacityMode, Distribution, Group, Instance, InstanceSpec, InstanceState, MacLease, NodeConfig, NodeInfo,
    Permission, PortForward, SaveRequest, Task,
};
use http_api::Routes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Declares every route with who may call it.
pub fn routes(routes: &mut Routes<Access>) {
    routes.tag("controller", "The fleet controller (the Anka Controller's API)");
    routes
        .group("/api/v1")
        .route(Access::Open, controller_status)
        .route(Access::Open, health)
        .route(Access::Node, node_join)
        .route(Access::Permitted(Permission::List), node_list)
        .route(Access::Permitted(Permission::Remove), node_delete)
        .route(Access::Permitted(Permission::ChangeConfig), node_config)
        .route(Access::Permitted(Permission::ForceUpgrade), node_update)
        .route(Access::Operator, node_group_add)
        .route(Access::Operator, node_group_remove)
        .route(Access::Operator, group_create)
        .route(Access::Operator, group_list)
        .route(Access::Operator, group_update)
        .route(Access::Operator, group_delete)
        .route(Access::Permitted(Permission::CreateInstance), vm_start)
        .route(Access::Instances, vm_list)
        .route(Access::Instances, vm_update)
        .route(Access::Instances, vm_terminate)
        .route(Access::Instances, vm_restart)
        .route(Access::Operator, mac_list)
        .route(Access::Operator, mac_populate)
        .route(Access::Operator, mac_purge)
        .route(Access::Operator, usb_list)
        .route(Access::Operator, vlan_list)
        .route(Access::Operator, template_list)
        .route(Access::Operator, template_delete)
        .route(Access::Operator, template_revert)
        .route(Access::Permitted(Permission::DeleteTemplate), template_remove_from_nodes)
        .route(Access::Permitted(Permission::Distribute), distribute_start)
        .route(Access::Operator, distribute_status)
        .route(Access::Operator, distribute_cancel)
        .route(Access::Instances, save_image)
        .route(Access::Instances, save_image_requests);
}

type State = web::Data<Controller>;

/// `?id=`.
#[derive(Deserialize, utoipa::IntoParams)]
struct IdQuery {
    id: Option<String>,
}

fn required(id: Option<String>, what: &str) -> Result<String, Fail> {
    id.filter(|id| !id.is_empty()).ok_or_else(|| Fail::bad_request(format!("{what} is required")))
}

// ---- status -------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
struct StatusBody {
    /// `Running`, or `FAIL` when the store can't be reached.
    status: String,
    version: String,
    registry_address: String,
    /// `Running` when the registry answers.
    registry_status: String,
    license: String,
    /// Whether this replica runs the scheduler now.
    leader: bool,
}

/// The controller's status, its registry's and whether this replica leads.
#[utoipa::path(tag = "controller", responses((status = 200, body = inline(crate::envelope::Reply<StatusBody>))))]
#[get("/status")]
async fn controller_status(controller: State) -> Answer {
    let registry_status = if controller.registry.ping().await.is_ok() { "Running" } else { "Unreachable" };
    ok(StatusBody {
        status: "Running".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        registry_address: controller.registry_url.clone(),
        registry_status: registry_status.into(),
        license: "Apache-2.0".into(),
        leader: controller.leadership.is_leader(),
    })
}

/// Healthy when the store answers: a load balancer's check (503 otherwise).
#[utoipa::path(tag = "controller", responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 503, description = "The store can't be reached")))]
#[get("/health")]
async fn health(controller: State) -> Answer {
    let store = controller.fleet.etcd.status().await?;
    ok(json!({ "etcd": "ok", "etcd_leader": store.leader.to_string(), "leader": controller.leadership.is_leader() }))
}

// ---- nodes --------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
struct JoinBody {
    node_id: String,
    etcd_endpoints: Vec<String>,
    prefix: String,
}

/// A supervisor joins (or joins again) with its facts; it learns its id and where the fleet's
/// store is, and from then on heartbeats and reads its assignments there.
#[utoipa::path(tag = "controller", request_body = Object, responses((status = 200, body = inline(crate::envelope::Reply<JoinBody>))))]
#[post("/node/join")]
async fn node_join(controller: State, body: Body<NodeInfo>) -> Answer {
    let mut info = body.into_inner();
    if info.node_id.is_empty() {
        info.node_id = uuid::Uuid::new_v4().to_string();
    }
    crate::permissions::check_name("node_id", &info.node_id)?;
    info.joined = Utc::now();
    let keys = &controller.fleet.keys;
    let config_key = keys.node_config(&info.node_id);
    let config = controller.fleet.etcd.get(&config_key).await?;
    let mut ops = vec![Fleet::put(&keys.node(&info.node_id), &info)?];
    if config.is_none() {
        ops.push(Fleet::put(&config_key, &NodeConfig::default())?);
    }
    controller.fleet.commit(&[], ops).await?;
    tracing::info!(node = %info.node_id, name = %info.node_name, "a node joined");
    ok(JoinBody {
        node_id: info.node_id,
        etcd_endpoints: controller.etcd_endpoints.clone(),
        prefix: keys.prefix().to_string(),
    })
}

#[derive(Serialize, ToSchema)]
struct GroupView {
    id: String,
    name: String,
    description: String,
    fallback_group_id: Option<String>,
}

impl From<&Group> for GroupView {
    fn from(group: &Group) -> GroupView {
        GroupView {
            id: group.id.clone(),
            name: group.name.clone(),
            description: group.description.clone(),
            fallback_group_id: group.fallback_group_id.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct NodeView {
    node_id: String,
    node_name: String,
    cpu_count: u32,
    /// GiB.
    ram: u64,
    vm_count: u32,
    vcpu_count: u32,
    /// MiB.
    vram: u64,
    cpu_util: f64,
    ram_util: f64,
    ip_address: String,
    /// `Active`, `Offline`, `Updating`, `Unhealthy` or `Drain Mode`.
    state: String,
    capacity: u32,
    groups: Vec<GroupView>,
    #[schema(value_type = Object)]
    anka_version: Value,
    #[schema(value_type = Vec<Object>)]
    usb_devices: Vec<fleet::UsbDevice>,
    capacity_mode: String,
    vcpu_override: Option<u32>,
    ram_override: Option<u64>,
    disk_size: u64,
    free_disk_space: u64,
    anka_disk_usage: u64,
    #[schema(value_type = Vec<Object>)]
    templates: Vec<fleet::TemplateOnNode>,
    drain_mode: bool,
    arch: String,
    vlans: Vec<String>,
}

fn node_view(snapshot: &Snapshot, loads: &BTreeMap<String, crate::scheduler::Load>, info: &NodeInfo) -> NodeView {
    let id = &info.node_id;
    let config = snapshot.config(id);
    let beat = snapshot.alive.get(id);
    let load = loads.get(id).cloned().unwrap_or_default();
    let running = snapshot
        .instances
        .values()
        .filter(|(instance, _)| instance.node_id.as_ref() == Some(id) && !instance.state.is_final())
        .filter(|(instance, _)| {
            snapshot.statuses.get(&instance.instance_id).map(|s| s.state) == Some(InstanceState::Started)
        })
        .count() as u32;
    let state = match beat {
        None => "Offline",
        Some(beat) if beat.updating => "Updating",
        Some(_) if config.drain_mode => "Drain Mode",
        Some(_) if load.count >= config.max_vm_count && load.count > 0 && running == 0 => "Unhealthy",
        Some(_) => "Active",
    };
    NodeView {
        node_id: id.clone(),
        node_name: config.name.clone().unwrap_or_else(|| info.node_name.clone()),
        cpu_count: info.cpu_count,
        ram: info.ram_bytes >> 30,
        vm_count: load.count,
        vcpu_count: load.vcpu,
        vram: load.vram_mib,
        cpu_util: beat.map_or(0.0, |beat| beat.cpu_util),
        ram_util: beat.map_or(0.0, |beat| beat.ram_util),
        ip_address: config.host.clone().unwrap_or_else(|| info.ip_address.clone()),
        state: state.into(),
        capacity: config.max_vm_count,
        groups: config
            .groups
            .iter()
            .filter_map(|group| snapshot.groups.get(group))
            .map(|(group, _)| GroupView::from(group))
            .collect(),
        anka_version: json!({ "product": "Supervisor", "version": info.version }),
        usb_devices: info.usb_devices.clone(),
        capacity_mode: match config.capacity_mode {
            CapacityMode::Number => "number".into(),
            CapacityMode::Resource => "resource".into(),
        },
        vcpu_override: config.vcpu_override,
        ram_override: config.ram_override,
        disk_size: info.disk_size,
        free_disk_space: beat.map_or(0, |beat| beat.free_disk_space),
        anka_disk_usage: 0,
        templates: beat.map(|beat| beat.templates.clone()).unwrap_or_default(),
        drain_mode: config.drain_mode,
        arch: info.arch.clone(),
        vlans: info.vlans.clone(),
    }
}

/// Every node, or the one of `?id=`.
#[utoipa::path(tag = "controller", params(IdQuery), responses((status = 200, body = inline(crate::envelope::Reply<Vec<NodeView>>)), (status = 404, description = "No such node")))]
#[get("/node")]
async fn node_list(controller: State, caller: Caller, query: web::Query<IdQuery>) -> Answer {
    let snapshot = controller.fleet.snapshot().await?;
    let listed = scope(&caller, &snapshot, Permission::List, None)?;
    let loads = crate::scheduler::loads(&snapshot);
    match &query.id {
        Some(id) => {
            let info = snapshot.nodes.get(id).ok_or_else(|| Fail::not_found(format!("no node {id}")))?;
            listed.check(id, Permission::List)?;
            ok(vec![node_view(&snapshot, &loads, info)])
        }
        None => ok(snapshot
            .nodes
            .values()
            .filter(|info| listed.allows(&info.node_id))
            .map(|info| node_view(&snapshot, &loads, info))
            .collect::<Vec<_>>()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NodeIdRequest {
    node_id: String,
}

/// Forgets a node that is gone: its records and assignments. Its instances are scheduled again.
#[utoipa::path(tag = "controller", request_body = NodeIdRequest, responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 404, description = "No such node"), (status = 409, description = "The node is still online")))]
#[delete("/node")]
async fn node_delete(controller: State, caller: Caller, body: Body<NodeIdRequest>) -> Answer {
    let node = body.into_inner().node_id;
    let snapshot = controller.fleet.snapshot().await?;
    if !snapshot.nodes.contains_key(&node) {
        return Err(Fail::not_found(format!("no node {node}")));
    }
    scope(&caller, &snapshot, Permission::Remove, None)?.check(&node, Permission::Remove)?;
    if snapshot.alive.contains_key(&node) {
        return Err(Fail::conflict(format!(
            "node {node} is online: disjoin it first (stop its supervisor's fleet membership)"
        )));
    }
    let keys = &controller.fleet.keys;
    let ops = vec![
        Op::delete(&keys.node(&node)),
        Op::delete(&keys.node_config(&node)),
        Op::delete_prefix(&keys.assigned_to(&node)),
        Op::delete_prefix(&keys.tasks_of(&node)),
    ];
    controller.fleet.commit(&[(&keys.alive(&node), 0)], ops).await?;
    done()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NodeConfigRequest {
    node_id: String,
    max_vm_count: Option<u32>,
    name: Option<String>,
    host: Option<String>,
    /// `number` or `resource`.
    capacity_mode: Option<String>,
    vcpu_override: Option<u32>,
    ram_override: Option<u64>,
    disable_central_logging: Option<bool>,
    drain_mode: Option<bool>,
}

/// Changes a node's capacity, name, host, capacity mode and overrides, or drain mode.
#[utoipa::path(tag = "controller", request_body = NodeConfigRequest, responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 404, description = "No such node")))]
#[post("/node/config")]
async fn node_config(controller: State, caller: Caller, body: Body<NodeConfigRequest>) -> Answer {
    let request = body.into_inner();
    let snapshot = controller.fleet.snapshot().await?;
    if !snapshot.nodes.contains_key(&request.node_id) {
        return Err(Fail::not_found(format!("no node {}", request.node_id)));
    }
    scope(&caller, &snapshot, Permission::ChangeConfig, None)?.check(&request.node_id, Permission::ChangeConfig)?;
    let mode = match request.capacity_mode.as_deref() {
        None => None,
        Some("number") => Some(CapacityMode::Number),
        Some("resource") => Some(CapacityMode::Resource),
        Some(other) => {
            return Err(Fail::bad_request(format!("capacity_mode {other:?} is neither \"number\" nor \"resource\"")))
        }
    };
    if request.max_vm_count == Some(0) {
        return Err(Fail::bad_request("max_vm_count must be at least 1"));
    }
    change_node_config(&controller, &request.node_id.clone(), move |config| {
        if let Some(count) = request.max_vm_count {
            config.max_vm_count = count;
        }
        if let Some(name) = &request.name {
            config.name = Some(name.clone()).filter(|name| !name.is_empty());
        }
        if let Some(host) = &request.host {
            config.host = Some(host.clone()).filter(|host| !host.is_empty());
        }
        if let Some(mode) = mode {
            config.capacity_mode = mode;
        }
        if request.vcpu_override.is_some() {
            config.vcpu_override = request.vcpu_override;
        }
        if request.ram_override.is_some() {
            config.ram_override = request.ram_override;
        }
        if let Some(disable) = request.disable_central_logging {
            config.disable_central_logging = disable;
        }
        if let Some(drain) = request.drain_mode {
            config.drain_mode = drain;
        }
        Ok(())
    })
    .await?;
    done()
}

/// Applies `change` to a node's configuration, as one compare-and-swap.
async fn change_node_config(
    controller: &Controller,
    node: &str,
    change: impl Fn(&mut NodeConfig) -> Result<(), Fail>,
) -> Result<(), Fail> {
    let snapshot = controller.fleet.snapshot().await?;
    if !snapshot.nodes.contains_key(node) {
        return Err(Fail::not_found(format!("no node {node}")));
    }
    let key = controller.fleet.keys.node_config(node);
    let revision = snapshot.configs.get(node).map_or(0, |(_, revision)| *revision);
    let mut config = snapshot.config(node);
    change(&mut config)?;
    controller.fleet.commit(&[(&key, revision)], vec![Fleet::put(&key, &config)?]).await
}

/// Asks every node (a key: every node it may force to upgrade) to update its supervisor to the
/// newest version.
#[utoipa::path(tag = "controller", responses((status = 200, body = inline(crate::envelope::Reply<Object>))))]
#[put("/node/update")]
async fn node_update(controller: State, caller: Caller) -> Answer {
    let snapshot = controller.fleet.snapshot().await?;
    let upgradable = scope(&caller, &snapshot, Permission::ForceUpgrade, None)?;
    for node in snapshot.nodes.keys().filter(|node| upgradable.allows(node)) {
        change_node_config(&controller, node, |config| {
            config.update_generation += 1;
            Ok(())
        })
        .await?;
    }
    done()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NodeGroupsRequest {
    group_ids: Vec<String>,
    node_ids: Vec<String>,
}

/// Checks that every group and node named exists.
async fn node_groups_request(controller: &Controller, request: &NodeGroupsRequest) -> Result<(), Fail> {
    let snapshot = controller.fleet.snapshot().await?;
    if let Some(group) = request.group_ids.iter().find(|group| !snapshot.groups.contains_key(*group)) {
        return Err(Fail::not_found(format!("no group {group}")));
    }
    if let Some(node) = request.node_ids.iter().find(|node| !snapshot.nodes.contains_key(*node)) {
        return Err(Fail::not_found(format!("no node {node}")));
    }
    Ok(())
}

/// Adds nodes to groups.
#[utoipa::path(tag = "controller", request_body = NodeGroupsRequest, responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 404, description = "No such node or group")))]
#[post("/node/group")]
async fn node_group_add(controller: State, body: Body<NodeGroupsRequest>) -> Answer {
    let request = body.into_inner();
    node_groups_request(&controller, &request).await?;
    for node in &request.node_ids {
        change_node_config(&controller, node, |config| {
            for group in &request.group_ids {
                if !config.groups.contains(group) {
                    config.groups.push(group.clone());
                }
            }
            Ok(())
        })
        .await?;
    }
    done()
}

/// Removes nodes from groups.
#[utoipa::path(tag = "controller", request_body = NodeGroupsRequest, responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 404, description = "No such node or group")))]
#[delete("/node/group")]
async fn node_group_remove(controller: State, body: Body<NodeGroupsRequest>) -> Answer {
    let request = body.into_inner();
    node_groups_request(&controller, &request).await?;
    for node in &request.node_ids {
        change_node_config(&controller, node, |config| {
            config.groups.retain(|group| !request.group_ids.contains(group));
            Ok(())
        })
        .await?;
    }
    done()
}

// ---- groups -------------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GroupRequest {
    name: Option<String>,
    description: Option<String>,
    fallback_group_id: Option<String>,
}

/// Creates a node group.
#[utoipa::path(tag = "controller", request_body = GroupRequest, responses((status = 200, body = inline(crate::envelope::Reply<GroupView>)), (status = 400, description = "No name, or an unknown fallback group")))]
#[post("/group")]
async fn group_create(controller: State, body: Body<GroupRequest>) -> Answer {
    let request = body.into_inner();
    let name = required(request.name, "name")?;
    let snapshot = controller.fleet.snapshot().await?;
    check_fallback(&snapshot, request.fallback_group_id.as_deref(), None)?;
    let group = Group {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        description: request.description.unwrap_or_default(),
        fallback_group_id: request.fallback_group_id.filter(|id| !id.is_empty()),
    };
    let key = controller.fleet.keys.group(&group.id);
    controller.fleet.commit(&[(&key, 0)], vec![Fleet::put(&key, &group)?]).await?;
    ok(GroupView::from(&group))
}

fn check_fallback(snapshot: &Snapshot, fallback: Option<&str>, group: Option<&str>) -> Result<(), Fail> {
    match fallback.filter(|id| !id.is_empty()) {
        Some(id) if Some(id) == group => Err(Fail::bad_request("a group can't be its own fallback")),
        Some(id) if !snapshot.groups.contains_key(id) => Err(Fail::bad_request(format!("no fallback group {id}"))),
        _ => Ok(()),
    }
}

/// Every node group.
#[utoipa::path(tag = "controller", responses((status = 200, body = inline(crate::envelope::Reply<Vec<GroupView>>))))]
#[get("/group")]
async fn group_list(controller: State) -> Answer {
    let snapshot = controller.fleet.snapshot().await?;
    ok(snapshot.groups.values().map(|(group, _)| GroupView::from(group)).collect::<Vec<_>>())
}

/// Changes a group's name, description or fallback.
#[utoipa::path(tag = "controller", params(IdQuery), request_body = GroupRequest, responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 404, description = "No such group")))]
#[put("/group")]
async fn group_update(controller: State, query: web::Query<IdQuery>, body: Body<GroupRequest>) -> Answer {
    let id = required(query.into_inner().id, "id")?;
    let request = body.into_inner();
    let snapshot = controller.fleet.snapshot().await?;
    let (group, revision) = snapshot.groups.get(&id).ok_or_else(|| Fail::not_found(format!("no group {id}")))?;
    check_fallback(&snapshot, request.fallback_group_id.as_deref(), Some(&id))?;
    let mut group = group.clone();
    if let Some(name) = request.name {
        if name.is_empty() {
            return Err(Fail::bad_request("name can't be empty"));
        }
        group.name = name;
    }
    if let Some(description) = request.description {
        group.description = description;
    }
    if let Some(fallback) = request.fallback_group_id {
        group.fallback_group_id = Some(fallback).filter(|id| !id.is_empty());
    }
    let key = controller.fleet.keys.group(&id);
    controller.fleet.commit(&[(&key, *revision)], vec![Fleet::put(&key, &group)?]).await?;
    done()
}

/// Deletes a group; its nodes leave it.
#[utoipa::path(tag = "controller", params(IdQuery), responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 404, description = "No such group")))]
#[delete("/group")]
async fn group_delete(controller: State, query: web::Query<IdQuery>) -> Answer {
    let id = required(query.into_inner().id, "id")?;
    let snapshot = controller.fleet.snapshot().await?;
    if !snapshot.groups.contains_key(&id) {
        return Err(Fail::not_found(format!("no group {id}")));
    }
    for (node, (config, _)) in &snapshot.configs {
        if config.groups.contains(&id) {
            change_node_config(&controller, node, |config| {
                config.groups.retain(|group| group != &id);
                Ok(())
            })
            .await?;
        }
    }
    controller.fleet.commit(&[], vec![Op::delete(&controller.fleet.keys.group(&id))]).await?;
    done()
}

// ---- instances ----------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    vmid: Option<String>,
    tag: Option<String>,
    version: Option<u32>,
    name: Option<String>,
    external_id: Option<String>,
    count: Option<u32>,
    node_id: Option<String>,
    startup_script: Option<String>,
    startup_script_condition: Option<u8>,
    script_monitoring: Option<bool>,
    script_timeout: Option<u64>,
    script_fail_handler: Option<u8>,
    name_template: Option<String>,
    group_id: Option<String>,
    /// The permission group to start under: required of a user key (one of its groups); the
    /// instance goes only to nodes that group may create instances on.
    group: Option<String>,
    priority: Option<u32>,
    usb_device: Option<String>,
    vcpu: Option<u32>,
    vram: Option<u64>,
    #[schema(value_type = Object)]
    metadata: Option<BTreeMap<String, Value>>,
    mac_address: Option<String>,
    vlan_tag: Option<String>,
    #[schema(value_type = Vec<Object>)]
    port_forwarding_override: Option<Vec<PortForwardRequest>>,
}

/// A port forwarding rule as sent: ports may be strings or numbers.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortForwardRequest {
    name: String,
    guest_port: Value,
    host_port: Option<Value>,
    host_ip: Option<String>,
    protocol: Option<String>,
}

fn port(value: &Value, what: &str) -> Result<u16, Fail> {
    let number = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    number
        .filter(|n| (1..=65535).contains(n))
        .map(|n| n as u16)
        .ok_or_else(|| Fail::bad_request(format!("{what} {value} is not a port (1-65535)")))
}

/// The most instances one request starts.
const MAX_COUNT: u32 = 1000;

/// Starts instances of a template; the scheduler places them.
#[utoipa::path(tag = "controller", request_body = StartRequest, responses((status = 200, body = inline(crate::envelope::Reply<Vec<String>>)), (status = 400, description = "A field is wrong"), (status = 404, description = "No such template, tag or version")))]
#[post("/vm")]
async fn vm_start(controller: State, caller: Caller, body: Body<StartRequest>) -> Answer {
    let request = body.into_inner();
    if let Some(group) = &request.group {
        crate::permissions::check_name("permission group", group)?;
    }
    if matches!(caller, Caller::Key { .. }) && request.group.is_none() {
        return Err(Fail::bad_request("group (the permission group to start under) is required of a user key"));
    }
    let vmid = required(request.vmid, "vmid")?;
    let count = request.count.unwrap_or(1);
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(Fail::bad_request(format!("count must be 1 to {MAX_COUNT}")));
    }
    let priority = request.priority.unwrap_or(1000);
    if !(1..=10000).contains(&priority) {
        return Err(Fail::bad_request("priority must be 1 to 10000 (lower is more urgent)"));
    }
    if request.startup_script_condition.is_some_and(|condition| condition > 1) {
        return Err(Fail::bad_request("startup_script_condition must be 0 or 1"));
    }
    if request.script_fail_handler.is_some_and(|handler| handler > 2) {
        return Err(Fail::bad_request("script_fail_handler must be 0, 1 or 2"));
    }
    if let Some(script) = &request.startup_script {
        STANDARD.decode(script).map_err(|_| Fail::bad_request("startup_script is not base64"))?;
    }
    if let Some(mac) = &request.mac_address {
        crate::macs::parse(mac)?;
        if count > 1 {
            return Err(Fail::bad_request("a mac_address can be given to one instance only (count 1)"));
        }
    }
    let mut port_forwarding = Vec::new();
    for rule in request.port_forwarding_override.unwrap_or_default() {
        port_forwarding.push(PortForward {
            name: rule.name,
            guest_port: port(&rule.guest_port, "guest_port")?,
            host_port: rule.host_port.as_ref().map(|p| port(p, "host_port")).transpose()?,
            host_ip: rule.host_ip,
            protocol: rule.protocol.unwrap_or_else(|| "tcp".into()),
        });
    }
    let snapshot = controller.fleet.snapshot().await?;
    if let Some(group) = &request.group_id {
        if !snapshot.groups.contains_key(group) {
            return Err(Fail::not_found(format!("no group {group}")));
        }
    }
    if let Some(node) = &request.node_id {
        if !snapshot.nodes.contains_key(node) {
            return Err(Fail::not_found(format!("no node {node}")));
        }
    }
    let creatable = scope(&caller, &snapshot, Permission::CreateInstance, request.group.as_deref())?;
    if creatable == Scope::Nodes(Default::default()) {
        return Err(Fail::forbidden(format!(
            "permission group {} may create instances on no node",
            request.group.as_deref().unwrap_or_default()
        )));
    }
    if let Some(node) = &request.node_id {
        creatable.check(node, Permission::CreateInstance)?;
    }
    let template = templates::find(&controller.registry, &vmid).await?;
    let version = template.version(request.tag.as_deref(), request.version)?;
    let spec = InstanceSpec {
        vmid: vmid.clone(),
        name: request.name.or(request.name_template),
        external_id: request.external_id,
        node_id: request.node_id,
        group_id: request.group_id,
        priority,
        usb_device: request.usb_device,
        mac_address: request.mac_address,
        vlan: request.vlan_tag,
        startup_script: request.startup_script,
        script_monitoring: request.script_monitoring.unwrap_or(false),
        script_timeout: request.script_timeout,
        script_fail_handler: request.script_fail_handler,
        port_forwarding,
        vcpu: request.vcpu,
        vram: request.vram,
        metadata: request.metadata.unwrap_or_default(),
        permission_group: request.group,
    };
    let now = Utc::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut ids = Vec::new();
    let mut ops = Vec::new();
    // Instances that name no MAC address take free ones of the pool, if it has any.
    let mut free_macs = snapshot.macs.iter().filter(|(_, (lease, _))| lease.instance_id.is_none());
    let mut unchanged = Vec::new();
    for _ in 0..count {
        let instance_id = uuid::Uuid::new_v4().to_string();
        let mut spec = spec.clone();
        if spec.mac_address.is_none() {
            if let Some((mac, (_, revision))) = free_macs.next() {
                let key = controller.fleet.keys.mac(mac);
                ops.push(Fleet::put(&key, &MacLease { instance_id: Some(instance_id.clone()) })?);
                unchanged.push((key, *revision));
                spec.mac_address = Some(mac.clone());
            }
        }
        let instance = Instance {
            instance_id,
            spec,
            state: InstanceState::Scheduling,
            tag: version.tag.clone(),
            version: version.number,
            image: format!("{}/{}:{}", controller.registry.host(), template.repository, version.tag),
            registry: controller.registry_url.clone(),
            arch: version.image.architecture.clone(),
            node_id: None,
            usb_path: None,
            message: String::new(),
            inflight_reqid: request_id.clone(),
            cr_time: now,
            ts: now,
            restarts: 0,
        };
        ops.push(Fleet::put(&controller.fleet.keys.instance(&instance.instance_id), &instance)?);
        ids.push(instance.instance_id);
    }
    let unchanged: Vec<(&str, i64)> = unchanged.iter().map(|(key, revision)| (key.as_str(), *revision)).collect();
    controller.fleet.commit(&unchanged, ops).await?;
    ok(ids)
}

#[derive(Serialize, ToSchema)]
struct VmView {
    instance_id: String,
    instance_state: InstanceStateName,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
    anka_registry: String,
    vmid: String,
    tag: String,
    version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    vminfo: Option<fleet::VmInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_id: Option<String>,
    inflight_reqid: String,
    #[schema(value_type = String)]
    ts: chrono::DateTime<Utc>,
    #[schema(value_type = String)]
    cr_time: chrono::DateTime<Utc>,
    progress: f64,
    group_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    metadata: BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mac_address: Option<String>,
    arch: String,
    vlan: String,
    usb_device: String,
    priority: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    startup_script: Option<fleet::ScriptResult>,
}

/// `Scheduling`, `Pulling`, `Started`, `Stopping`, `Stopped`, `Terminating`, `Terminated`,
/// `Error` or `Pushing`.
#[derive(Serialize, ToSchema)]
#[schema(value_type = String)]
struct InstanceStateName(InstanceState);

fn vm_view(snapshot: &Snapshot, instance: &Instance) -> VmView {
    let status = snapshot
        .statuses
        .get(&instance.instance_id)
        .filter(|status| Some(&status.node_id) == instance.node_id.as_ref());
    let state = match (instance.state, status) {
        (InstanceState::Scheduling, Some(status)) => status.state,
        (InstanceState::Scheduling, None) if instance.node_id.is_some() => InstanceState::Pulling,
        (state, _) => state,
    };
    let message = match status {
        Some(status) if !status.message.is_empty() => status.message.clone(),
        _ => instance.message.clone(),
    };
    VmView {
        instance_id: instance.instance_id.clone(),
        instance_state: InstanceStateName(state),
        message,
        anka_registry: instance.registry.clone(),
        vmid: instance.spec.vmid.clone(),
        tag: instance.tag.clone(),
        version: instance.version,
        vminfo: status.and_then(|status| status.vminfo.clone()),
        node_id: instance.node_id.clone(),
        inflight_reqid: instance.inflight_reqid.clone(),
        ts: status.map_or(instance.ts, |status| status.ts.max(instance.ts)),
        cr_time: instance.cr_time,
        progress: status.map_or(0.0, |status| status.progress),
        group_id: instance.spec.group_id.clone().unwrap_or_default(),
        name: instance.spec.name.clone(),
        external_id: instance.spec.external_id.clone(),
        metadata: instance.spec.metadata.clone(),
        mac_address: instance.spec.mac_address.clone(),
        arch: instance.arch.clone(),
        vlan: instance.spec.vlan.clone().unwrap_or_default(),
        usb_device: instance.spec.usb_device.clone().unwrap_or_default(),
        priority: instance.spec.priority,
        startup_script: status.and_then(|status| status.startup_script.clone()),
    }
}

#[derive(Serialize, ToSchema)]
struct VmListEntry {
    instance_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<String>,
    name: Option<String>,
    vm: VmView,
}

/// Every instance, or the one of `?id=` (its `vm` object alone).
#[utoipa::path(tag = "controller", params(IdQuery), responses((status = 200, body = inline(crate::envelope::Reply<Vec<VmListEntry>>)), (status = 404, description = "No such instance")))]
#[get("/vm")]
async fn vm_list(controller: State, caller: Caller, query: web::Query<IdQuery>) -> Answer {
    let snapshot = controller.fleet.snapshot().await?;
    if let Some(id) = &query.id {
        let (instance, _) = snapshot.instances.get(id).ok_or_else(|| Fail::not_found(format!("no instance {id}")))?;
        caller.check_instance(instance)?;
        return ok(vm_view(&snapshot, instance));
    }
    let mut instances: Vec<&Instance> = snapshot
        .instances
        .values()
        .map(|(instance, _)| instance)
        .filter(|instance| caller.may_touch(instance))
        .collect();
    instances.sort_by_key(|instance| instance.cr_time);
    ok(instances
        .into_iter()
        .map(|instance| VmListEntry {
            instance_id: instance.instance_id.clone(),
            external_id: instance.spec.external_id.clone(),
            name: instance.spec.name.clone(),
            vm: vm_view(&snapshot, instance),
        })
        .collect::<Vec<_>>())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VmUpdateRequest {
    name: Option<String>,
    external_id: Option<String>,
    #[schema(value_type = Object)]
    metadata: Option<BTreeMap<String, Value>>,
}

/// Applies `change` to an instance, as one compare-and-swap.
async fn change_instance(
    controller: &Controller,
    caller: &Caller,
    id: &str,
    change: impl FnOnce(&mut Instance, &Snapshot) -> Result<Vec<Op>, Fail>,
) -> Result<(), Fail> {
    let snapshot = controller.fleet.snapshot().await?;
    let (instance, revision) =
        snapshot.instances.get(id).ok_or_else(|| Fail::not_found(format!("no instance {id}")))?;
    caller.check_instance(instance)?;
    let mut next = instance.clone();
    let mut ops = change(&mut next, &snapshot)?;
    next.ts = Utc::now();
    let key = controller.fleet.keys.instance(id);
    ops.push(Fleet::put(&key, &next)?);
    controller.fleet.commit(&[(&key, *revision)], ops).await
}

/// Changes an instance's name, external id or metadata.
#[utoipa::path(tag = "controller", params(IdQuery), request_body = VmUpdateRequest, responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 404, description = "No such instance")))]
#[put("/vm")]
async fn vm_update(
    controller: State,
    caller: Caller,
    query: web::Query<IdQuery>,
    body: Body<VmUpdateRequest>,
) -> Answer {
    let id = required(query.into_inner().id, "id")?;
    let request = body.into_inner();
    change_instance(&controller, &caller, &id, |instance, _| {
        if let Some(name) = request.name {
            instance.spec.name = Some(name);
        }
        if let Some(external_id) = request.external_id {
            instance.spec.external_id = Some(external_id);
        }
        if let Some(metadata) = request.metadata {
            instance.spec.metadata = metadata;
        }
        Ok(Vec::new())
    })
    .await?;
    done()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct InstanceIdRequest {
    id: Option<String>,
    instance_id: Option<String>,
}

impl InstanceIdRequest {
    fn id(self) -> Result<String, Fail> {
        required(self.id.or(self.instance_id), "id")
    }
}

/// Terminates an instance: its node stops and removes it.
#[utoipa::path(tag = "controller", request_body = InstanceIdRequest, responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 404, description = "No such instance")))]
#[delete("/vm")]
async fn vm_terminate(controller: State, caller: Caller, body: Body<InstanceIdRequest>) -> Answer {
    let id = body.into_inner().id()?;
    let keys = controller.fleet.keys.clone();
    change_instance(&controller, &caller, &id, |instance, _| {
        if instance.state.is_final() {
            return Err(Fail::conflict(format!("instance {id} is terminated already")));
        }
        // The leader ends it (and frees what it held) once its node has removed it.
        instance.state = InstanceState::Terminating;
        Ok(instance.node_id.iter().map(|node| Op::delete(&keys.assignment(node, &id))).collect())
    })
    .await?;
    done()
}

/// Restarts an instance on its node.
#[utoipa::path(tag = "controller", request_body = InstanceIdRequest, responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 404, description = "No such instance"), (status = 409, description = "The instance is not placed")))]
#[post("/rpc/vm/restart")]
async fn vm_restart(controller: State, caller: Caller, body: Body<InstanceIdRequest>) -> Answer {
    let id = body.into_inner().id()?;
    let keys = controller.fleet.keys.clone();
    change_instance(&controller, &caller, &id, |instance, snapshot| {
        let Some(node) = instance
            .node_id
            .clone()
            .filter(|_| !instance.state.is_final() && instance.state != InstanceState::Terminating)
        else {
            return Err(Fail::conflict(format!("instance {id} runs on no node")));
        };
        instance.restarts += 1;
        let device = instance.usb_path.as_ref().and_then(|path| {
            snapshot.nodes.get(&node)?.usb_devices.iter().find(|device| &device.path == path).cloned()
        });
        Ok(vec![Fleet::put(&keys.assignment(&node, &id), &crate::scheduler::assignment(instance, device))?])
    })
    .await?;
    done()
}

// ---- USB and VLANs ------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
struct UsbCount {
    available: u32,
    busy: u32,
}

/// The USB devices of the active nodes, by name: how many are free and how many held.
#[utoipa::path(tag = "controller", responses((status = 200, body = inline(crate::envelope::Reply<BTreeMap<String, UsbCount>>))))]
#[get("/usb")]
async fn usb_list(controller: State) -> Answer {
    let snapshot = controller.fleet.snapshot().await?;
    let loads = crate::scheduler::loads(&snapshot);
    let mut counts: BTreeMap<String, UsbCount> = BTreeMap::new();
    for (id, node) in snapshot.nodes.iter().filter(|(id, _)| snapshot.alive.contains_key(*id)) {
        for device in &node.usb_devices {
            let count = counts.entry(device.name.clone()).or_insert(UsbCount { available: 0, busy: 0 });
            if loads.get(id).is_some_and(|load| load.usb_busy.contains(&device.path)) {
                count.busy += 1;
            } else {
                count.available += 1;
            }
        }
    }
    ok(counts)
}

/// The VLAN ids the active nodes offer.
#[utoipa::path(tag = "controller", responses((status = 200, body = inline(crate::envelope::Reply<Vec<String>>))))]
#[get("/vlan")]
async fn vlan_list(controller: State) -> Answer {
    let snapshot = controller.fleet.snapshot().await?;
    let mut vlans: Vec<String> = snapshot
        .nodes
        .iter()
        .filter(|(id, _)| snapshot.alive.contains_key(*id))
        .flat_map(|(_, node)| node.vlans.iter().cloned())
        .collect();
    vlans.sort();
    vlans.dedup();
    ok(vlans)
}

// ---- templates ----------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
struct VersionView {
    number: u32,
    tag: String,
    description: String,
    images: Vec<String>,
    state_files: Vec<String>,
    config_file: String,
    size: u64,
    arch: String,
    last_push: i64,
}

#[derive(Serialize, ToSchema)]
struct TemplateView {
    id: String,
    name: String,
    size: u64,
    arch: String,
    last_push: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    versions: Option<Vec<VersionView>>,
}

fn template_view(template: &templates::Template, with_versions: bool) -> TemplateView {
    let pushed = |version: &templates::Version| version.image.created.map_or(0, |created| created.timestamp());
    TemplateView {
        id: template.id.clone(),
        name: template.repository.clone(),
        size: template.size(),
        arch: template.arch(),
        last_push: template.versions.iter().map(pushed).max().unwrap_or(0),
        versions: with_versions.then(|| {
            template
                .versions
                .iter()
                .map(|version| VersionView {
                    number: version.number,
                    tag: version.tag.clone(),
                    description: String::new(),
                    images: version.image.layers.clone(),
                    state_files: Vec::new(),
                    config_file: version.image.config_digest.clone(),
                    size: version.image.size,
                    arch: version.image.architecture.clone(),
                    last_push: pushed(version),
                })
                .collect()
        }),
    }
}

/// Every template of the registry, or the one of `?id=` with its versions.
#[utoipa::path(tag = "controller", params(IdQuery), responses((status = 200, body = inline(crate::envelope::Reply<Vec<TemplateView>>)), (status = 404, description = "No such template")))]
#[get("/registry/vm")]
async fn template_list(controller: State, query: web::Query<IdQuery>) -> Answer {
    match &query.id {
        Some(id) => ok(template_view(&templates::find(&controller.registry, id).await?, true)),
        None => {
            let all = templates::list(&controller.registry).await?;
            ok(all.iter().map(|template| template_view(template, false)).collect::<Vec<_>>())
        }
    }
}

/// Deletes a template: every version of it in the registry.
#[utoipa::path(tag = "controller", params(IdQuery), responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 404, description = "No such template")))]
#[delete("/registry/vm")]
async fn template_delete(controller: State, query: web::Query<IdQuery>) -> Answer {
    let id = required(query.into_inner().id, "id")?;
    let template = templates::find(&controller.registry, &id).await?;
    templates::delete_after(&controller.registry, &template, None).await?;
    done()
}

#[derive(Deserialize, utoipa::IntoParams)]
struct RevertQuery {
    id: Option<String>,
    tag: Option<String>,
    /// The version number to keep (0 is the first).
    version: Option<u32>,
    /// The same as `version`.
    number: Option<u32>,
}

/// Reverts a template to a tag or version number, deleting every newer version; without either,
/// deletes the latest version.
#[utoipa::path(tag = "controller", params(RevertQuery), responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 404, description = "No such template, tag or version")))]
#[delete("/registry/revert")]
async fn template_revert(controller: State, query: web::Query<RevertQuery>) -> Answer {
    let query = query.into_inner();
    let id = required(query.id, "id")?;
    let template = templates::find(&controller.registry, &id).await?;
    let keep = match (query.tag.as_deref(), query.version.or(query.number)) {
        (None, None) => template.latest().map(|latest| latest.number).and_then(|n| n.checked_sub(1)),
        (tag, number) => Some(template.version(tag, number)?.number),
    };
    if keep.is_none() && template.versions.len() == 1 {
        return Err(Fail::conflict(format!(
            "template {id} has one version only: delete the template instead of reverting it"
        )));
    }
    templates::delete_after(&controller.registry, &template, keep).await?;
    done()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NodeIdsRequest {
    node_ids: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
struct RequestsSent {
    requests_sent: usize,
    node_ids: Vec<String>,
}

/// The nodes a request names (checked to exist and to be within `scope`, the caller's nodes for
/// `permission`), or every node within it.
fn nodes_named(
    snapshot: &Snapshot,
    named: Option<Vec<String>>,
    group: Option<&str>,
    scope: &Scope,
    permission: Permission,
) -> Result<Vec<String>, Fail> {
    let nodes: Vec<String> = match named.filter(|nodes| !nodes.is_empty()) {
        Some(nodes) => {
            if let Some(node) = nodes.iter().find(|node| !snapshot.nodes.contains_key(*node)) {
                return Err(Fail::not_found(format!("no node {node}")));
            }
            for node in &nodes {
                scope.check(node, permission)?;
            }
            nodes
        }
        None => snapshot.nodes.keys().filter(|node| scope.allows(node)).cloned().collect(),
    };
    Ok(nodes
        .into_iter()
        .filter(|node| group.is_none_or(|group| snapshot.config(node).groups.iter().any(|g| g == group)))
        .collect())
}

/// Removes a template (every tag of it) from nodes: all, or those named.
#[utoipa::path(tag = "controller", params(IdQuery), request_body = NodeIdsRequest, responses((status = 200, body = inline(crate::envelope::Reply<RequestsSent>)), (status = 404, description = "No such template or node")))]
#[delete("/registry/vm/remove")]
async fn template_remove_from_nodes(
    controller: State,
    caller: Caller,
    query: web::Query<IdQuery>,
    body: Body<NodeIdsRequest>,
) -> Answer {
    let id = required(query.into_inner().id, "id")?;
    let template = templates::find(&controller.registry, &id).await?;
    let snapshot = controller.fleet.snapshot().await?;
    let removable = scope(&caller, &snapshot, Permission::DeleteTemplate, None)?;
    let nodes = nodes_named(&snapshot, body.into_inner().node_ids, None, &removable, Permission::DeleteTemplate)?;
    let task_id = uuid::Uuid::new_v4().to_string();
    let repository = format!("{}/{}", controller.registry.host(), template.repository);
    let task = Task::RemoveTemplate { template_id: id, repository };
    let keys = &controller.fleet.keys;
    let ops = nodes.iter().map(|node| Fleet::put(&keys.task(node, &task_id), &task)).collect::<Result<Vec<_>, _>>()?;
    controller.fleet.commit(&[], ops).await?;
    ok(RequestsSent { requests_sent: nodes.len(), node_ids: nodes })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DistributeRequest {
    template_id: Option<String>,
    tag: Option<String>,
    version: Option<u32>,
    node_ids: Option<Vec<String>>,
    group_id: Option<String>,
    /// The permission group to distribute as (a user key's); without it, any of the key's.
    group: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct RequestId {
    request_id: String,
}

/// Pulls a template's version onto nodes (all, those named, or a group's) ahead of use.
#[utoipa::path(tag = "controller", request_body = DistributeRequest, responses((status = 200, body = inline(crate::envelope::Reply<RequestId>)), (status = 404, description = "No such template, version, node or group")))]
#[post("/registry/vm/distribute")]
async fn distribute_start(controller: State, caller: Caller, body: Body<DistributeRequest>) -> Answer {
    let request = body.into_inner();
    let template_id = required(request.template_id, "template_id")?;
    let template = templates::find(&controller.registry, &template_id).await?;
    let version = template.version(request.tag.as_deref(), request.version)?;
    let snapshot = controller.fleet.snapshot().await?;
    if let Some(group) = &request.group_id {
        if !snapshot.groups.contains_key(group) {
            return Err(Fail::not_found(format!("no group {group}")));
        }
    }
    let distributable = scope(&caller, &snapshot, Permission::Distribute, request.group.as_deref())?;
    let nodes =
        nodes_named(&snapshot, request.node_ids, request.group_id.as_deref(), &distributable, Permission::Distribute)?;
    let distribution = Distribution {
        request_id: uuid::Uuid::new_v4().to_string(),
        template_id,
        tag: version.tag.clone(),
        image: format!("{}/{}:{}", controller.registry.host(), template.repository, version.tag),
        node_ids: nodes,
        time_requested: Utc::now(),
    };
    let keys = &controller.fleet.keys;
    let task = Task::Pull {
        template_id: distribution.template_id.clone(),
        tag: distribution.tag.clone(),
        image: distribution.image.clone(),
    };
    let mut ops = vec![Fleet::put(&keys.distribution(&distribution.request_id), &distribution)?];
    for node in &distribution.node_ids {
        ops.push(Fleet::put(&keys.task(node, &distribution.request_id), &task)?);
    }
    controller.fleet.commit(&[], ops).await?;
    ok(RequestId { request_id: distribution.request_id })
}

#[derive(Serialize, ToSchema)]
struct NodeProgress {
    /// Whether the node has the template.
    status: bool,
    progress: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct DistributionRequestView {
    request_id: String,
    template_id: String,
    tag: String,
    #[schema(value_type = String)]
    time_requested: chrono::DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
struct DistributionView {
    request: DistributionRequestView,
    distribute_status: BTreeMap<String, NodeProgress>,
}

fn distribution_view(snapshot: &Snapshot, distribution: &Distribution) -> DistributionView {
    let statuses = snapshot.task_statuses.get(&distribution.request_id);
    DistributionView {
        request: DistributionRequestView {
            request_id: distribution.request_id.clone(),
            template_id: distribution.template_id.clone(),
            tag: distribution.tag.clone(),
            time_requested: distribution.time_requested,
        },
        distribute_status: distribution
            .node_ids
            .iter()
            .map(|node| {
                let status = statuses.and_then(|statuses| statuses.get(node));
                let progress = NodeProgress {
                    status: status.is_some_and(|status| status.done && status.error.is_none()),
                    progress: status.map_or(0.0, |status| status.progress),
                    error: status.and_then(|status| status.error.clone()),
                };
                (node.clone(), progress)
            })
            .collect(),
    }
}

/// Every distribution request with each node's progress, or the one of `?id=`.
#[utoipa::path(tag = "controller", params(IdQuery), responses((status = 200, body = inline(crate::envelope::Reply<Vec<DistributionView>>)), (status = 404, description = "No such request")))]
#[get("/registry/vm/distribute")]
async fn distribute_status(controller: State, query: web::Query<IdQuery>) -> Answer {
    let snapshot = controller.fleet.snapshot().await?;
    match &query.id {
        Some(id) => {
            let distribution = snapshot
                .distributions
                .get(id)
                .ok_or_else(|| Fail::not_found(format!("no distribution request {id}")))?;
            ok(distribution_view(&snapshot, distribution))
        }
        None => ok(snapshot.distributions.values().map(|d| distribution_view(&snapshot, d)).collect::<Vec<_>>()),
    }
}

/// Cancels a distribution: nodes that have not pulled yet stop; the request is forgotten.
#[utoipa::path(tag = "controller", params(IdQuery), responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 404, description = "No such request")))]
#[delete("/registry/vm/distribute")]
async fn distribute_cancel(controller: State, query: web::Query<IdQuery>) -> Answer {
    let id = required(query.into_inner().id, "id")?;
    let snapshot = controller.fleet.snapshot().await?;
    let distribution =
        snapshot.distributions.get(&id).ok_or_else(|| Fail::not_found(format!("no distribution request {id}")))?;
    let keys = &controller.fleet.keys;
    let mut ops = vec![Op::delete(&keys.distribution(&id)), Op::delete_prefix(&keys.task_statuses(&id))];
    ops.extend(distribution.node_ids.iter().map(|node| Op::delete(&keys.task(node, &id))));
    controller.fleet.commit(&[], ops).await?;
    done()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SaveImageRequest {
    id: Option<String>,
    tag: Option<String>,
    new_template_name: Option<String>,
    target_vm_id: Option<String>,
    description: Option<String>,
    /// Pause the container while it is saved (the default), as suspending does a VM.
    suspend: Option<bool>,
    script: Option<String>,
    revert_before_push: Option<bool>,
    revert_tag: Option<String>,
    do_suspend_sanity_test: Option<bool>,
    cancel_on_script_failure: Option<bool>,
}

/// Saves a running instance as a new version of a template (or a new template); once pushed,
/// the instance is terminated.
#[utoipa::path(tag = "controller", request_body = SaveImageRequest, responses((status = 200, body = inline(crate::envelope::Reply<RequestId>)), (status = 400, description = "A field is wrong"), (status = 404, description = "No such instance or template"), (status = 409, description = "The instance is not running")))]
#[post("/image")]
async fn save_image(controller: State, caller: Caller, body: Body<SaveImageRequest>) -> Answer {
    let request = body.into_inner();
    let instance_id = required(request.id, "id")?;
    let tag = required(request.tag, "tag")?;
    if request.do_suspend_sanity_test == Some(true) {
        return Err(Fail::bad_request("do_suspend_sanity_test: a container has no suspended state to test"));
    }
    if let Some(script) = &request.script {
        STANDARD.decode(script).map_err(|_| Fail::bad_request("script is not base64"))?;
    }
    let (repository, template_id) = match (&request.target_vm_id, &request.new_template_name) {
        (Some(target), _) => {
            let template = templates::find(&controller.registry, target).await?;
            if request.revert_before_push.unwrap_or(false) {
                let keep = match &request.revert_tag {
                    Some(tag) => template.versions.iter().find(|v| &v.tag == tag).map(|v| v.number.checked_sub(1)),
                    None => template.latest().map(|latest| latest.number.checked_sub(1)),
                };
                if let Some(keep) = keep {
                    templates::delete_after(&controller.registry, &template, keep).await?;
                }
            }
            (template.repository.clone(), template.id.clone())
        }
        (None, Some(name)) => (name.clone(), templates::id_of(name)),
        (None, None) => return Err(Fail::bad_request("new_template_name is required when target_vm_id is not given")),
    };
    let image = format!("{}/{repository}:{tag}", controller.registry.host());
    registry_client::check_repository(&repository)
        .and_then(|()| registry_client::check_tag(&tag))
        .map_err(|error| Fail::bad_request(error.to_string()))?;
    let snapshot = controller.fleet.snapshot().await?;
    let (instance, _) =
        snapshot.instances.get(&instance_id).ok_or_else(|| Fail::not_found(format!("no instance {instance_id}")))?;
    caller.check_instance(instance)?;
    let running = snapshot.statuses.get(&instance_id).is_some_and(|status| status.state == InstanceState::Started);
    let Some(node) = instance.node_id.clone().filter(|_| running && instance.state == InstanceState::Scheduling) else {
        return Err(Fail::conflict(format!("instance {instance_id} is not running")));
    };
    let save = SaveRequest {
        id: uuid::Uuid::new_v4().to_string(),
        instance_id: instance_id.clone(),
        node_id: node.clone(),
        template_id,
        new_template_name: request.new_template_name.unwrap_or_default(),
        tag,
        description: request.description.unwrap_or_default(),
        image: image.clone(),
        timestamp: Utc::now(),
        status: "pending".into(),
        error: None,
        script_result: None,
    };
    let task = Task::SaveImage {
        instance_id,
        image,
        script: request.script,
        cancel_on_script_failure: request.cancel_on_script_failure.unwrap_or(false),
        pause: request.suspend.unwrap_or(true),
    };
    let keys = &controller.fleet.keys;
    let ops = vec![Fleet::put(&keys.save(&save.id), &save)?, Fleet::put(&keys.task(&node, &save.id), &task)?];
    controller.fleet.commit(&[], ops).await?;
    ok(RequestId { request_id: save.id })
}

#[derive(Serialize, ToSchema)]
struct SaveRequestView {
    id: String,
    /// `pending`, `done` or `error`.
    status: String,
    #[schema(value_type = Object)]
    request: Value,
    #[schema(value_type = Option<Object>)]
    error: Option<Value>,
    #[schema(value_type = Option<Object>)]
    script_result: Option<fleet::ScriptResult>,
}

fn save_view(save: &SaveRequest) -> SaveRequestView {
    SaveRequestView {
        id: save.id.clone(),
        status: save.status.clone(),
        request: json!({
            "RequestId": save.id,
            "Timestamp": save.timestamp.timestamp(),
            "InstanceID": save.instance_id,
            "NodeID": save.node_id,
            "TemplateID": save.template_id,
            "NewTemplateName": save.new_template_name,
            "Tag": save.tag,
            "Description": save.description,
        }),
        error: save.error.as_ref().map(|message| json!({ "Message": message })),
        script_result: save.script_result.clone(),
    }
}

/// Every save-image request, or the one of `?id=`.
#[utoipa::path(tag = "controller", params(IdQuery), responses((status = 200, body = inline(crate::envelope::Reply<Vec<SaveRequestView>>)), (status = 404, description = "No such request")))]
#[get("/image")]
async fn save_image_requests(controller: State, caller: Caller, query: web::Query<IdQuery>) -> Answer {
    let snapshot = controller.fleet.snapshot().await?;
    // A key sees the saves of instances it may touch (and not those of instances gone since).
    let visible = |save: &SaveRequest| {
        caller == Caller::Root
            || snapshot.instances.get(&save.instance_id).is_some_and(|(instance, _)| caller.may_touch(instance))
    };
    match &query.id {
        Some(id) => {
            let (save, _) = snapshot
                .saves
                .get(id)
                .filter(|(save, _)| visible(save))
                .ok_or_else(|| Fail::not_found(format!("no save-image request {id}")))?;
            ok(save_view(save))
        }
        None => ok(snapshot
            .saves
            .values()
            .filter(|(save, _)| visible(save))
            .map(|(save, _)| save_view(save))
            .collect::<Vec<_>>()),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
struct MacQuery {
    /// Answer the number of free addresses.
    count: Option<String>,
    /// Answer (or list) only the addresses in use.
    in_use: Option<String>,
    /// List at most this many addresses.
    limit: Option<usize>,
    /// List from after this address.
    last: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct MacView {
    mac_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_id: Option<String>,
}

fn flag(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|value| !matches!(value, "" | "0" | "false"))
}

/// Counts the pool's free addresses (`count`) or those in use (`in_use`), or lists them
/// (`limit`, from after `last`).
#[utoipa::path(tag = "controller", params(MacQuery), responses((status = 200, body = inline(crate::envelope::Reply<Vec<MacView>>)), (status = 400, description = "Neither count/in_use nor limit")))]
#[get("/macaddr")]
async fn mac_list(controller: State, query: web::Query<MacQuery>) -> Answer {
    let query = query.into_inner();
    let in_use = flag(&query.in_use);
    if query.limit.is_none() && !flag(&query.count) && !in_use {
        return Err(Fail::bad_request("give count or in_use, or limit (and last)"));
    }
    if let Some(last) = &query.last {
        crate::macs::parse(last)?;
    }
    let snapshot = controller.fleet.snapshot().await?;
    let chosen = snapshot.macs.iter().filter(|(_, (lease, _))| lease.instance_id.is_some() == in_use);
    match query.limit {
        None => ok(chosen.count()),
        Some(limit) => ok(chosen
            .filter(|(mac, _)| query.last.as_ref().is_none_or(|last| *mac > last))
            .take(limit)
            .map(|(mac, (lease, _))| MacView { mac_address: mac.clone(), instance_id: lease.instance_id.clone() })
            .collect::<Vec<_>>()),
    }
}

/// Fills the pool with the configured range (`--mac-range`); addresses in use stay held.
#[utoipa::path(tag = "controller", responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 409, description = "No range is configured")))]
#[put("/macaddr")]
async fn mac_populate(controller: State) -> Answer {
    let range =
        controller.mac_range.as_deref().ok_or_else(|| Fail::conflict("no MAC range is configured (--mac-range)"))?;
    let snapshot = controller.fleet.snapshot().await?;
    let missing: Vec<String> =
        crate::macs::range(range)?.into_iter().filter(|mac| !snapshot.macs.contains_key(mac)).collect();
    for chunk in missing.chunks(64) {
        let ops = chunk
            .iter()
            .map(|mac| Fleet::put(&controller.fleet.keys.mac(mac), &MacLease::default()))
            .collect::<Result<Vec<_>, _>>()?;
        controller.fleet.commit(&[], ops).await?;
    }
    done()
}

/// Empties the pool; instances keep the addresses they have.
#[utoipa::path(tag = "controller", responses((status = 200, body = inline(crate::envelope::Reply<Object>))))]
#[delete("/macaddr")]
async fn mac_purge(controller: State) -> Answer {
    controller.fleet.commit(&[], vec![Op::delete_prefix(&controller.fleet.keys.macs())]).await?;
    done()
}
