//! The fleet controller's API on its own: a real etcd cluster and registry, no nodes running.
//! Credentials, groups, templates (listed, reverted, deleted in the registry), instances that
//! wait for a node, nodes that joined and went away, and refusals that change nothing.

use e2e::controller::{Controller, JOIN_TOKEN};
use e2e::etcd::EtcdCluster;
use e2e::registry::{LocalRegistry, BASE_IMAGE};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_controller_api_keeps_its_records_in_etcd_and_refuses_what_is_wrong() {
    let etcd = EtcdCluster::start(3);
    let registry = LocalRegistry::start();
    registry.push(BASE_IMAGE, "fleet-e2e/base:v1");
    std::thread::sleep(Duration::from_millis(1100)); // distinct creation times order the versions
    registry.push_recipe(&format!("FROM {BASE_IMAGE}\nLABEL fleet.version=2\n"), "fleet-e2e/base:v2");
    let controller = Controller::start(&etcd.endpoints(), &registry, &etcd.prefix(), 3);

    // Open: status and health; everything else wants root.
    let (status, reply) = controller.call_as("GET", "/api/v1/status", None, None);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["body"]["registry_status"], "Running", "{reply}");
    assert_eq!(controller.call_as("GET", "/api/v1/health", None, None).0, 200);
    for password in [None, Some("wrong-password")] {
        let (status, reply) = controller.call_as("GET", "/api/v1/node", None, password);
        assert_eq!(status, 401, "{reply}");
        assert_eq!(reply["status"], "FAIL");
    }

    // Templates: the repository with two versions, oldest first.
    let templates = controller.ok("GET", "/api/v1/registry/vm", None);
    let template =
        templates.as_array().unwrap().iter().find(|t| t["name"] == "fleet-e2e/base").expect("listed").clone();
    let id = template["id"].as_str().unwrap().to_string();
    let detail = controller.ok("GET", &format!("/api/v1/registry/vm?id={id}"), None);
    let tags: Vec<&str> = detail["versions"].as_array().unwrap().iter().map(|v| v["tag"].as_str().unwrap()).collect();
    assert_eq!(tags, ["v1", "v2"], "{detail}");
    assert!(!detail["arch"].as_str().unwrap_or_default().is_empty(), "{detail}");

    // Groups, with a fallback that must exist.
    let (status, reply) =
        controller.call("POST", "/api/v1/group", Some(json!({"name": "g", "fallback_group_id": "nope"})));
    assert_eq!(status, 400, "{reply}");
    assert!(reply["message"].as_str().unwrap().contains("nope"), "{reply}");
    assert_eq!(controller.ok("GET", "/api/v1/group", None), json!([]), "a refused group is not kept");
    let spare = controller.ok("POST", "/api/v1/group", Some(json!({"name": "spare"})));
    let group = controller.ok(
        "POST",
        "/api/v1/group",
        Some(json!({"name": "main", "description": "d", "fallback_group_id": spare["id"]})),
    );
    let group_id = group["id"].as_str().unwrap().to_string();
    controller.ok("PUT", &format!("/api/v1/group?id={group_id}"), Some(json!({"name": "renamed"})));
    let groups = controller.ok("GET", "/api/v1/group", None);
    assert!(
        groups.as_array().unwrap().iter().any(|g| g["name"] == "renamed" && g["fallback_group_id"] == spare["id"]),
        "{groups}"
    );

    // A node joins with the token only; it shows offline until it heartbeats.
    let join = |token: &str| {
        reqwest::blocking::Client::new()
            .post(controller.url("/api/v1/node/join"))
            .bearer_auth(token)
            .json(&json!({"node_id": "", "node_name": "n1", "ip_address": "127.0.0.1", "cpu_count": 2, "ram_bytes": 4u64 << 30, "disk_size": 1u64 << 40, "arch": "amd64", "usb_devices": [], "version": "test", "joined": "2026-01-01T00:00:00Z"}))
            .send()
            .unwrap()
    };
    assert_eq!(join("not-the-token").status(), 401);
    let joined: Value = join(JOIN_TOKEN).json().unwrap();
    let node = joined["body"]["node_id"].as_str().unwrap().to_string();
    assert_eq!(joined["body"]["etcd_endpoints"], json!(etcd.endpoints()));
    let nodes = controller.ok("GET", &format!("/api/v1/node?id={node}"), None);
    assert_eq!(nodes[0]["state"], "Offline", "{nodes}");
    assert_eq!(nodes[0]["capacity"], 2);

    // Node configuration: a wrong mode is refused and changes nothing.
    let (status, reply) = controller.call(
        "POST",
        "/api/v1/node/config",
        Some(json!({"node_id": node, "capacity_mode": "lots", "max_vm_count": 9})),
    );
    assert_eq!(status, 400, "{reply}");
    assert_eq!(controller.ok("GET", &format!("/api/v1/node?id={node}"), None)[0]["capacity"], 2);
    controller.ok(
        "POST",
        "/api/v1/node/config",
        Some(json!({"node_id": node, "max_vm_count": 5, "drain_mode": true, "name": "renamed-node"})),
    );
    controller.ok("POST", "/api/v1/node/group", Some(json!({"node_ids": [node], "group_ids": [group_id]})));
    let shown = &controller.ok("GET", &format!("/api/v1/node?id={node}"), None)[0];
    assert_eq!(
        (shown["capacity"].clone(), shown["drain_mode"].clone(), shown["node_name"].clone()),
        (json!(5), json!(true), json!("renamed-node"))
    );
    assert_eq!(shown["groups"][0]["id"], group_id.as_str());

    // Instances: refused with a reason, or kept waiting for a node with one.
    let (status, reply) = controller.call("POST", "/api/v1/vm", Some(json!({"vmid": "not-a-template"})));
    assert_eq!(status, 404, "{reply}");
    let (status, reply) = controller.call("POST", "/api/v1/vm", Some(json!({"vmid": id, "priority": 0})));
    assert_eq!(status, 400, "{reply}");
    let (status, reply) = controller.call("POST", "/api/v1/vm", Some(json!({"vmid": id, "tag": "v9"})));
    assert_eq!(status, 404, "{reply}");
    assert_eq!(controller.ok("GET", "/api/v1/vm", None), json!([]), "refused requests start nothing");
    // The MAC pool: empty until filled, then handing addresses to instances that name none.
    let (status, reply) = controller.call("GET", "/api/v1/macaddr", None);
    assert_eq!(status, 400, "count, in_use or limit is needed: {reply}");
    assert_eq!(controller.ok("GET", "/api/v1/macaddr?count=1", None), 0);
    controller.ok("PUT", "/api/v1/macaddr", None);
    assert_eq!(controller.ok("GET", "/api/v1/macaddr?count=1", None), 4);
    let (status, reply) =
        controller.call("POST", "/api/v1/vm", Some(json!({"vmid": id, "mac_address": "02:00:00:00:0a:fe"})));
    assert_eq!(status, 400, "capital letters: {reply}");
    let started =
        controller.ok("POST", "/api/v1/vm", Some(json!({"vmid": id, "count": 2, "tag": "v1", "external_id": "ci-1"})));
    assert_eq!(controller.ok("GET", "/api/v1/macaddr?in_use=1", None), 2);
    let listed = controller.ok("GET", "/api/v1/macaddr?limit=2&last=02:00:00:00:0A:FF", None);
    let macs: Vec<Value> = listed.as_array().unwrap().iter().map(|m| m["mac_address"].clone()).collect();
    assert_eq!(macs, [json!("02:00:00:00:0B:00"), json!("02:00:00:00:0B:01")], "{listed}");
    let instance = started[0].as_str().unwrap().to_string();
    assert_eq!(started.as_array().unwrap().len(), 2);
    wait_for("the scheduler's reason", Duration::from_secs(20), || {
        let vm = controller.ok("GET", &format!("/api/v1/vm?id={instance}"), None);
        vm["instance_state"] == "Scheduling" && vm["message"].as_str().is_some_and(|m| m.contains("no node"))
    });
    controller.ok("PUT", &format!("/api/v1/vm?id={instance}"), Some(json!({"name": "first"})));
    let vm = controller.ok("GET", &format!("/api/v1/vm?id={instance}"), None);
    assert_eq!((vm["name"].clone(), vm["tag"].clone(), vm["version"].clone()), (json!("first"), json!("v1"), json!(0)));
    controller.ok("DELETE", "/api/v1/vm", Some(json!({"id": instance})));
    wait_for("the instance terminated", Duration::from_secs(20), || {
        controller.ok("GET", &format!("/api/v1/vm?id={instance}"), None)["instance_state"] == "Terminated"
    });

    // The terminated instance's address is free again; a purge empties the pool.
    wait_for("the address freed", Duration::from_secs(20), || {
        controller.ok("GET", "/api/v1/macaddr?in_use=1", None) == 1
    });
    controller.ok("DELETE", "/api/v1/macaddr", None);
    assert_eq!(controller.ok("GET", "/api/v1/macaddr?count=1", None), 0);

    // A node that is gone is forgotten; its groups are left.
    controller.ok("DELETE", "/api/v1/node/group", Some(json!({"node_ids": [node], "group_ids": [group_id]})));
    controller.ok("DELETE", "/api/v1/node", Some(json!({"node_id": node})));
    assert_eq!(controller.call("GET", &format!("/api/v1/node?id={node}"), None).0, 404);
    controller.ok("DELETE", &format!("/api/v1/group?id={group_id}"), None);

    // Templates: revert to the first version drops the second; delete drops the template.
    controller.ok("DELETE", &format!("/api/v1/registry/revert?id={id}&version=0"), None);
    let detail = controller.ok("GET", &format!("/api/v1/registry/vm?id={id}"), None);
    assert_eq!(detail["versions"].as_array().unwrap().len(), 1, "{detail}");
    let (status, _) = controller.call("DELETE", &format!("/api/v1/registry/revert?id={id}"), None);
    assert_eq!(status, 409, "the last version is not reverted away");
    controller.ok("DELETE", &format!("/api/v1/registry/vm?id={id}"), None);
    assert_eq!(controller.call("GET", &format!("/api/v1/registry/vm?id={id}"), None).0, 404);
}
