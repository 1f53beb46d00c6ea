//! Placing instances on nodes, and taking them back from nodes that died. Only the leader
//! schedules ([`crate::leader`]); every pass starts from a fresh snapshot and writes each
//! decision as a transaction on the revisions it read, so a pass racing an API request or a
//! former leader loses cleanly and the next pass decides again.
//!
//! Order: the most urgent first (the lowest `priority` number), then the oldest. A node takes an
//! instance when it is alive, not draining or updating, is the node asked for (if any), is in the
//! group asked for (else that group's fallback, and so on), runs the template's architecture,
//! has room (by count, or by CPUs and memory in `resource` mode), has a free USB device of the
//! name asked for, and, for an instance started under a permission group, is a node that group
//! may create instances on. Of those, the least loaded wins.

use crate::envelope::Fail;
use crate::store::{Fleet, Snapshot};
use chrono::Utc;
use etcd::Op;
use fleet::{Assignment, CapacityMode, Instance, InstanceState, MacLease, Permission, UsbDevice};
use std::collections::{BTreeMap, HashSet};

/// What is already placed on a node.
#[derive(Clone, Debug, Default)]
pub struct Load {
    pub count: u32,
    pub vcpu: u32,
    pub vram_mib: u64,
    /// Paths of the USB devices in use.
    pub usb_busy: HashSet<String>,
}

/// CPUs and memory an instance is counted for when it names none.
const DEFAULT_VCPU: u32 = 1;
const DEFAULT_VRAM_MIB: u64 = 512;

fn vcpu_of(instance: &Instance) -> u32 {
    instance.spec.vcpu.unwrap_or(DEFAULT_VCPU)
}

fn vram_of(instance: &Instance) -> u64 {
    instance.spec.vram.unwrap_or(DEFAULT_VRAM_MIB)
}

/// Whether an instance holds a place on its node: placed and not yet gone.
fn holds_place(instance: &Instance) -> bool {
    instance.node_id.is_some() && !instance.state.is_final()
}

/// The load of every node, from the instances placed on it.
pub fn loads(snapshot: &Snapshot) -> BTreeMap<String, Load> {
    let mut loads: BTreeMap<String, Load> = BTreeMap::new();
    for (instance, _) in snapshot.instances.values() {
        if !holds_place(instance) {
            continue;
        }
        let Some(node) = &instance.node_id else { continue };
        let load = loads.entry(node.clone()).or_default();
        load.count += 1;
        load.vcpu += vcpu_of(instance);
        load.vram_mib += vram_of(instance);
        if let Some(device) = usb_claimed(snapshot, instance) {
            load.usb_busy.insert(device.path);
        }
    }
    loads
}

/// The device an instance placed on a node holds: the first of its name there not held by an
/// instance placed before it. Assignments carry the device, so this reads it back from there.
fn usb_claimed(snapshot: &Snapshot, instance: &Instance) -> Option<UsbDevice> {
    let name = instance.spec.usb_device.as_ref()?;
    let node = snapshot.nodes.get(instance.node_id.as_ref()?)?;
    let device_path = instance.usb_path.as_ref()?;
    node.usb_devices.iter().find(|device| &device.name == name && &device.path == device_path).cloned()
}

/// The groups an instance may go to, in order: the one asked for, then its fallbacks.
fn group_chain(snapshot: &Snapshot, group: &str) -> Vec<String> {
    let mut chain = vec![group.to_string()];
    let mut next = snapshot.groups.get(group).and_then(|(group, _)| group.fallback_group_id.clone());
    while let Some(id) = next {
        if chain.contains(&id) {
            break;
        }
        next = snapshot.groups.get(&id).and_then(|(group, _)| group.fallback_group_id.clone());
        chain.push(id);
    }
    chain
}

/// Where `instance` goes, with the USB device it takes there; or why it can go nowhere yet.
pub fn place(
    snapshot: &Snapshot,
    loads: &BTreeMap<String, Load>,
    instance: &Instance,
) -> Result<(String, Option<UsbDevice>), String> {
    let wanted_groups = match &instance.spec.group_id {
        Some(group) => group_chain(snapshot, group).into_iter().map(Some).collect(),
        None => vec![None],
    };
    let mut why = String::from("no node is active");
    for group in wanted_groups {
        let mut best: Option<(f64, &str, Option<UsbDevice>)> = None;
        for (id, node) in &snapshot.nodes {
            let Some(beat) = snapshot.alive.get(id) else { continue };
            let config = snapshot.config(id);
            if config.drain_mode || beat.updating {
                why = "every active node is draining or updating".into();
                continue;
            }
            if instance.spec.node_id.as_ref().is_some_and(|wanted| wanted != id) {
                why = format!("node {} is not active", instance.spec.node_id.as_deref().unwrap_or_default());
                continue;
            }
            if let Some(group) = &group {
                if !config.groups.contains(group) {
                    why = format!("no active node of group {group} has room");
                    continue;
                }
            }
            if let Some(permitted) = &instance.spec.permission_group {
                if !snapshot.grants(permitted, id, Permission::CreateInstance) {
                    why = format!("permission group {permitted} may create instances on no active node with room");
                    continue;
                }
            }
            if !instance.arch.is_empty() && instance.arch != node.arch {
                why = format!("no active node runs {}", instance.arch);
                continue;
            }
            let load = loads.get(id).cloned().unwrap_or_default();
            let share = match config.capacity_mode {
                CapacityMode::Number => {
                    if load.count >= config.max_vm_count {
                        why = "every matching node is at capacity".into();
                        continue;
                    }
                    f64::from(load.count) / f64::from(config.max_vm_count.max(1))
                }
                CapacityMode::Resource => {
                    let cpus = config.vcpu_override.unwrap_or(node.cpu_count);
                    let ram = config.ram_override.unwrap_or(node.ram_bytes >> 20);
                    let vcpu = load.vcpu + vcpu_of(instance);
                    let vram = load.vram_mib + vram_of(instance);
                    if vcpu > cpus || vram > ram {
                        why = "every matching node is out of CPUs or memory".into();
                        continue;
                    }
                    f64::from(vcpu) / f64::from(cpus.max(1))
                }
            };
            let device = match &instance.spec.usb_device {
                Some(name) => {
                    let free = node
                        .usb_devices
                        .iter()
                        .find(|device| &device.name == name && !load.usb_busy.contains(&device.path));
                    match free {
                        Some(device) => Some(device.clone()),
                        None => {
                            why = format!("no USB device {name} is free on a matching node");
                            continue;
                        }
                    }
                }
                None => None,
            };
            if best.as_ref().is_none_or(|(best_share, _, _)| share < *best_share) {
                best = Some((share, id, device));
            }
        }
        if let Some((_, id, device)) = best {
            return Ok((id.to_string(), device));
        }
    }
    Err(why)
}

/// The instances waiting for a node, most urgent first.
fn waiting(snapshot: &Snapshot) -> Vec<&Instance> {
    let mut waiting: Vec<&Instance> = snapshot
        .instances
        .values()
        .map(|(instance, _)| instance)
        .filter(|instance| instance.state == InstanceState::Scheduling && instance.node_id.is_none())
        .collect();
    waiting.sort_by_key(|instance| (instance.spec.priority, instance.cr_time));
    waiting
}

/// The assignment a node reads for `instance`.
pub fn assignment(instance: &Instance, usb_device: Option<UsbDevice>) -> Assignment {
    Assignment {
        instance_id: instance.instance_id.clone(),
        image: instance.image.clone(),
        template_id: instance.spec.vmid.clone(),
        tag: instance.tag.clone(),
        usb_device,
        mac_address: instance.spec.mac_address.clone(),
        startup_script: instance.spec.startup_script.clone(),
        script_monitoring: instance.spec.script_monitoring,
        script_timeout: instance.spec.script_timeout,
        port_forwarding: instance.spec.port_forwarding.clone(),
        vcpu: instance.spec.vcpu,
        vram: instance.spec.vram,
        restarts: instance.restarts,
    }
}

/// The writes that end an instance: terminated, and its pool MAC address free again.
fn terminated(fleet: &Fleet, snapshot: &Snapshot, instance: &Instance) -> Result<Vec<Op>, Fail> {
    let mut next = instance.clone();
    next.state = InstanceState::Terminated;
    next.ts = Utc::now();
    let mut ops = vec![Fleet::put(&fleet.keys.instance(&instance.instance_id), &next)?];
    let held = snapshot.macs.iter().filter(|(_, (lease, _))| lease.instance_id.as_ref() == Some(&instance.instance_id));
    for (mac, _) in held {
        ops.push(Fleet::put(&fleet.keys.mac(mac), &MacLease::default())?);
    }
    Ok(ops)
}

/// One pass: reclaims what dead nodes held, finishes terminations, places what waits.
/// Returns how many instances it placed, and the revision it read (the changes after it may need
/// another pass).
pub async fn pass(fleet: &Fleet) -> Result<(usize, i64), Fail> {
    let snapshot = fleet.snapshot().await?;
    let keys = &fleet.keys;
    let now = Utc::now();
    // Instances of nodes whose lease ran out: back to the queue, or gone if being terminated.
    for (id, (instance, revision)) in &snapshot.instances {
        let Some(node) = &instance.node_id else { continue };
        if instance.state.is_final() || snapshot.alive.contains_key(node) {
            continue;
        }
        let key = keys.instance(id);
        let mut ops = if instance.state == InstanceState::Terminating {
            terminated(fleet, &snapshot, instance)?
        } else {
            tracing::info!(instance = %id, %node, "its node went offline: scheduling it again");
            let mut next = instance.clone();
            next.state = InstanceState::Scheduling;
            next.node_id = None;
            next.usb_path = None;
            next.message = format!("node {node} went offline");
            next.ts = now;
            vec![Fleet::put(&key, &next)?]
        };
        ops.push(Op::delete(&keys.assignment(node, id)));
        fleet.commit(&[(&key, *revision)], ops).await?;
    }
    // Terminations the node has carried out: its status is gone.
    for (id, (instance, revision)) in &snapshot.instances {
        if instance.state == InstanceState::Terminating
            && (instance.node_id.is_none() || !snapshot.statuses.contains_key(id))
        {
            let key = keys.instance(id);
            fleet.commit(&[(&key, *revision)], terminated(fleet, &snapshot, instance)?).await?;
        }
    }
    // Save-image requests whose node is done: the instance goes on success, stays on failure.
    for (id, (save, revision)) in &snapshot.saves {
        let Some(status) = snapshot.task_statuses.get(id).and_then(|statuses| statuses.get(&save.node_id)) else {
            continue;
        };
        if save.status != "pending" || !status.done {
            continue;
        }
        let key = keys.save(id);
        let mut next = save.clone();
        next.script_result = status.script_result.clone();
        next.error = status.error.clone();
        next.status = if status.error.is_some() { "error" } else { "done" }.into();
        let mut ops = vec![Fleet::put(&key, &next)?, Op::delete(&keys.task(&save.node_id, id))];
        let mut unchanged = vec![(key.clone(), *revision)];
        if next.error.is_none() {
            if let Some((instance, instance_revision)) = snapshot.instances.get(&save.instance_id) {
                let mut terminating = instance.clone();
                terminating.state = InstanceState::Terminating;
                terminating.ts = now;
                let instance_key = keys.instance(&save.instance_id);
                ops.push(Fleet::put(&instance_key, &terminating)?);
                ops.push(Op::delete(&keys.assignment(&save.node_id, &save.instance_id)));
                unchanged.push((instance_key, *instance_revision));
            }
        }
        let unchanged: Vec<(&str, i64)> = unchanged.iter().map(|(key, revision)| (key.as_str(), *revision)).collect();
        fleet.commit(&unchanged, ops).await?;
    }
    let mut loads = loads(&snapshot);
    let mut placed = 0;
    for instance in waiting(&snapshot) {
        let key = keys.instance(&instance.instance_id);
        let revision = snapshot.instances[&instance.instance_id].1;
        let mut next = instance.clone();
        match place(&snapshot, &loads, instance) {
            Ok((node, device)) => {
                next.node_id = Some(node.clone());
                next.usb_path = device.as_ref().map(|device| device.path.clone());
                next.message.clear();
                next.ts = now;
                let load = loads.entry(node.clone()).or_default();
                load.count += 1;
                load.vcpu += vcpu_of(instance);
                load.vram_mib += vram_of(instance);
                if let Some(device) = &device {
                    load.usb_busy.insert(device.path.clone());
                }
                let ops = vec![
                    Fleet::put(&key, &next)?,
                    Fleet::put(&keys.assignment(&node, &instance.instance_id), &assignment(instance, device))?,
                ];
                fleet.commit(&[(&key, revision)], ops).await?;
                placed += 1;
            }
            Err(why) if why != instance.message => {
                next.message = why;
                fleet.commit(&[(&key, revision)], vec![Fleet::put(&key, &next)?]).await?;
            }
            Err(_) => {}
        }
    }
    Ok((placed, snapshot.revision))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use fleet::{Group, Heartbeat, InstanceSpec, NodeConfig, NodeInfo};

    fn node(snapshot: &mut Snapshot, id: &str, capacity: u32, groups: &[&str]) {
        snapshot.nodes.insert(
            id.into(),
            NodeInfo {
                node_id: id.into(),
                arch: "amd64".into(),
                cpu_count: 4,
                ram_bytes: 8 << 30,
                ..Default::default()
            },
        );
        let config = NodeConfig {
            max_vm_count: capacity,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        };
        snapshot.configs.insert(id.into(), (config, 1));
        snapshot.alive.insert(id.into(), Heartbeat::default());
    }

    pub(crate) fn instance(id: &str, priority: u32, group: Option<&str>) -> Instance {
        Instance {
            instance_id: id.into(),
            spec: InstanceSpec { vmid: "t".into(), priority, group_id: group.map(Into::into), ..Default::default() },
            state: InstanceState::Scheduling,
            tag: "v1".into(),
            version: 0,
            image: "r/t:v1".into(),
            registry: "http://r".into(),
            arch: "amd64".into(),
            node_id: None,
            usb_path: None,
            message: String::new(),
            inflight_reqid: String::new(),
            cr_time: Utc::now(),
            ts: Utc::now(),
            restarts: 0,
        }
    }

    #[test]
    fn the_least_loaded_node_of_the_group_takes_it_and_a_full_group_falls_back() {
        let mut snapshot = Snapshot::default();
        node(&mut snapshot, "a", 1, &["g1"]);
        node(&mut snapshot, "b", 2, &["g2"]);
        snapshot.groups.insert(
            "g1".into(),
            (Group { id: "g1".into(), fallback_group_id: Some("g2".into()), ..Default::default() }, 1),
        );
        let mut loads = BTreeMap::new();
        assert_eq!(place(&snapshot, &loads, &instance("i1", 1000, Some("g1"))).unwrap().0, "a");
        loads.insert("a".to_string(), Load { count: 1, ..Default::default() });
        assert_eq!(place(&snapshot, &loads, &instance("i2", 1000, Some("g1"))).unwrap().0, "b");
        loads.insert("b".to_string(), Load { count: 2, ..Default::default() });
        let why = place(&snapshot, &loads, &instance("i3", 1000, Some("g1"))).unwrap_err();
        assert!(why.contains("capacity"), "{why}");
    }

    #[test]
    fn draining_offline_and_other_architectures_take_nothing() {
        let mut snapshot = Snapshot::default();
        node(&mut snapshot, "a", 5, &[]);
        node(&mut snapshot, "b", 5, &[]);
        node(&mut snapshot, "c", 5, &[]);
        snapshot.configs.get_mut("a").unwrap().0.drain_mode = true;
        snapshot.alive.remove("b");
        snapshot.nodes.get_mut("c").unwrap().arch = "arm64".into();
        let why = place(&snapshot, &BTreeMap::new(), &instance("i", 1, None)).unwrap_err();
        assert!(why.contains("amd64"), "{why}");
    }

    #[test]
    fn a_usb_device_goes_to_one_instance_at_a_time() {
        let mut snapshot = Snapshot::default();
        node(&mut snapshot, "a", 5, &[]);
        let device = UsbDevice { name: "phone".into(), path: "/dev/p0".into(), ..Default::default() };
        snapshot.nodes.get_mut("a").unwrap().usb_devices.push(device.clone());
        let mut wants = instance("i", 1, None);
        wants.spec.usb_device = Some("phone".into());
        let (node, got) = place(&snapshot, &BTreeMap::new(), &wants).unwrap();
        assert_eq!((node.as_str(), got), ("a", Some(device)));
        let busy = Load { count: 1, usb_busy: ["/dev/p0".to_string()].into(), ..Default::default() };
        let why = place(&snapshot, &[("a".to_string(), busy)].into(), &wants).unwrap_err();
        assert!(why.contains("USB"), "{why}");
    }

    #[test]
    fn an_instance_of_a_permission_group_goes_only_where_the_group_may_create() {
        let mut snapshot = Snapshot::default();
        node(&mut snapshot, "a", 5, &[]);
        node(&mut snapshot, "b", 5, &[]);
        let grant = |node: &str, permissions: Vec<Permission>| fleet::ResourceGrant {
            id: node.into(),
            id_type: "id".into(),
            resource_type: "node".into(),
            permissions,
        };
        let resources = vec![grant("a", vec![Permission::List]), grant("b", vec![Permission::CreateInstance])];
        snapshot.permissions.insert("ci".into(), (resources, 1));
        let mut wants = instance("i", 1, None);
        wants.spec.permission_group = Some("ci".into());
        let loads = [("b".to_string(), Load { count: 4, ..Default::default() })].into();
        assert_eq!(place(&snapshot, &loads, &wants).unwrap().0, "b", "the less loaded a is not the group's");
        wants.spec.permission_group = Some("nobody".into());
        let why = place(&snapshot, &loads, &wants).unwrap_err();
        assert!(why.contains("nobody"), "{why}");
    }

    #[test]
    fn the_most_urgent_and_then_the_oldest_wait_first() {
        let mut snapshot = Snapshot::default();
        for (id, priority) in [("late", 500), ("urgent", 1), ("lazy", 9000)] {
            snapshot.instances.insert(id.into(), (instance(id, priority, None), 1));
        }
        let order: Vec<&str> = waiting(&snapshot).iter().map(|i| i.instance_id.as_str()).collect();
        assert_eq!(order, ["urgent", "late", "lazy"]);
    }
}
