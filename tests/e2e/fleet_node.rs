//! A supervisor as a fleet node (`crates/fleet-node`), against a real etcd cluster of the
//! harness and a join endpoint of the test's own (a few lines of HTTP answering the controller's
//! envelope, since the node needs nothing else of the controller): the node registers and
//! heartbeats, runs an assigned instance from the local test image with its startup script,
//! restarts it when asked, removes it when unassigned, pulls a template from a registry as a
//! task, and its heartbeat vanishes with its lease when the daemon is killed.
//!
//! The test writes assignments and tasks straight into etcd, as the controller would.

use e2e::etcd::EtcdCluster;
use e2e::registry::{LocalRegistry, BASE_IMAGE};
use e2e::Daemon;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "e2e-join-token";

/// The join endpoint: answers `POST /api/v1/node/join` with the controller's envelope for the
/// right bearer token, 401 and `FAIL` for any other. Keeps the bodies it was sent.
struct JoinEndpoint {
    url: String,
    joins: Arc<Mutex<Vec<Value>>>,
}

impl JoinEndpoint {
    fn start(node_id: &str, endpoints: Vec<String>, prefix: &str) -> JoinEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the join endpoint");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let joins = Arc::new(Mutex::new(Vec::new()));
        let (seen, node_id, prefix) = (Arc::clone(&joins), node_id.to_owned(), prefix.to_owned());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().expect("the connection"));
                let (mut length, mut authorized, mut line) = (0usize, false, String::new());
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    let lower = line.to_ascii_lowercase();
                    if let Some(value) = lower.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    authorized |= line.trim() == format!("Authorization: Bearer {TOKEN}")
                        || line.trim() == format!("authorization: Bearer {TOKEN}");
                    line.clear();
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let (status, answer) = if authorized {
                    seen.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                    let body = json!({"node_id": node_id, "etcd_endpoints": endpoints, "prefix": prefix});
                    ("200 OK", json!({"status": "OK", "message": "", "body": body}))
                } else {
                    ("401 Unauthorized", json!({"status": "FAIL", "message": "Authentication failed"}))
                };
                let answer = answer.to_string();
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        JoinEndpoint { url, joins }
    }
}

/// The fleet's etcd, read and written as the controller would.
struct Fleet {
    runtime: tokio::runtime::Runtime,
    etcd: etcd::Client,
    prefix: String,
}

impl Fleet {
    fn get(&self, key: &str) -> Option<Value> {
        let key = format!("{}/{key}", self.prefix);
        self.runtime.block_on(self.etcd.get_json::<Value>(&key)).expect("etcd get").map(|(value, _)| value)
    }

    fn put(&self, key: &str, value: &Value) {
        let key = format!("{}/{key}", self.prefix);
        self.runtime.block_on(self.etcd.put_json(&key, value, None)).expect("etcd put");
    }

    fn delete(&self, key: &str) {
        let key = format!("{}/{key}", self.prefix);
        self.runtime.block_on(self.etcd.delete(&key)).expect("etcd delete");
    }
}

/// Waits up to `seconds` for `probe` to answer something.
fn within<T>(seconds: u64, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn inspect(container: &str) -> Option<Value> {
    let output = Command::new("docker").args(["container", "inspect", container]).output().expect("docker");
    output.status.success().then(|| serde_json::from_slice::<Value>(&output.stdout).expect("JSON")[0].clone())
}

/// Removes the test's containers whatever happened.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("docker").args(["rm", "-f", name]).output();
        }
    }
}

fn assignment(instance: &str, restarts: u32) -> Value {
    json!({
        "instance_id": instance,
        "image": BASE_IMAGE,
        "template_id": "base",
        "tag": "latest",
        // `echo started; echo oops >&2`
        "startup_script": "ZWNobyBzdGFydGVkOyBlY2hvIG9vcHMgPiYy",
        "script_monitoring": true,
        "port_forwarding": [{"name": "web", "guest_port": 80, "protocol": "tcp"}],
        "vcpu": 1,
        "vram": 64,
        "restarts": restarts,
    })
}

#[test]
fn a_node_joins_runs_restarts_and_removes_its_instances_and_goes_offline_with_its_lease() {
    let cluster = EtcdCluster::start(1);
    let prefix = cluster.prefix().trim_end_matches('/').to_owned();
    let node_id = format!("node-{}", std::process::id());
    let join = JoinEndpoint::start(&node_id, cluster.endpoints(), &prefix);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let fleet = Fleet { runtime, etcd: etcd::Client::new(&cluster.endpoints()).unwrap(), prefix: prefix.clone() };

    let mut daemon = Daemon::start_with(&[
        ("SUPERVISOR_CONTROLLER", join.url.as_str()),
        ("SUPERVISOR_JOIN_TOKEN", TOKEN),
        ("SUPERVISOR_FLEET_LEASE_TTL", "2"),
        ("SUPERVISOR_FLEET_NODE_NAME", "e2e-node"),
        ("SUPERVISOR_FLEET_VLAN", "7,9"),
    ]);
    daemon.wait_ready();
    let container = format!("{}fleet-i1", daemon.instance());
    let _cleanup = Containers(vec![container.clone()]);

    // Joined and registered with its facts, and heartbeating.
    let node = within(30, "the node's registration", || fleet.get(&format!("nodes/{node_id}")));
    assert_eq!(node["node_name"], "e2e-node", "{node}");
    assert_eq!(node["vlans"], json!(["7", "9"]), "{node}");
    assert_eq!(node["ip_address"], "127.0.0.1", "{node}");
    assert!(node["cpu_count"].as_u64().unwrap() >= 1 && node["ram_bytes"].as_u64().unwrap() > 0, "{node}");
    let joins = join.joins.lock().unwrap().clone();
    assert_eq!(joins[0]["node_id"], "", "the first join asks for an id: {joins:?}");
    assert_eq!(joins[0]["node_name"], "e2e-node");
    let alive = within(10, "the heartbeat", || fleet.get(&format!("alive/{node_id}")));
    assert_eq!(alive["updating"], false, "{alive}");
    assert!(alive["free_disk_space"].as_u64().unwrap() > 0, "{alive}");

    // An assignment runs as a container, with its script run and its port published.
    fleet.put(&format!("assign/{node_id}/i1"), &assignment("i1", 0));
    let status = within(60, "the instance started", || {
        fleet.get("status/i1").filter(|status| status["state"] == "Started" && status["startup_script"].is_object())
    });
    assert_eq!(status["node_id"], node_id.as_str());
    let script = &status["startup_script"];
    assert_eq!((script["return_code"].as_i64(), script["stdout"].as_str()), (Some(0), Some("started\n")), "{status}");
    assert_eq!(script["stderr"], "oops\n");
    let vminfo = &status["vminfo"];
    assert_eq!(vminfo["name"], container.as_str());
    assert_eq!(vminfo["status"], "running");
    let host_port = vminfo["port_forwarding"][0]["host_port"].as_u64().expect("a host port");
    assert!(host_port >= 10000, "{vminfo}");
    let inspected = inspect(&container).expect("the instance's container");
    assert_eq!(inspected["Id"], vminfo["uuid"]);
    assert_eq!(inspected["Config"]["Labels"]["io.fleet.node"], node_id.as_str());
    assert_eq!(inspected["HostConfig"]["NanoCpus"], 1_000_000_000i64);
    assert_eq!(inspected["HostConfig"]["Memory"], 64 * 1024 * 1024);
    assert_eq!(inspected["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], host_port.to_string());

    // A higher restart number restarts it.
    let first_start = vminfo["start_date"].as_str().unwrap().to_owned();
    fleet.put(&format!("assign/{node_id}/i1"), &assignment("i1", 1));
    let restarted = within(30, "the restart", || {
        fleet.get("status/i1").filter(|status| status["restarts"] == 1 && status["state"] == "Started")
    });
    assert_ne!(restarted["vminfo"]["start_date"].as_str().unwrap(), first_start, "{restarted}");

    // A pull task of a template in a registry is done and reported.
    let registry = LocalRegistry::start();
    let template = registry.push(BASE_IMAGE, &format!("fleet-e2e-{}/base:v1", std::process::id()));
    let login = json!({registry.address(): {"username": registry.username(), "password": registry.password()}});
    let (code, body) = daemon.post("/docker/registries", login);
    assert_eq!(code, 200, "{body}");
    let _ = Command::new("docker").args(["image", "rm", &template]).output();
    fleet.put(
        &format!("tasks/{node_id}/t1"),
        &json!({"kind": "pull", "template_id": "base", "tag": "v1", "image": template}),
    );
    let done = within(60, "the pull task", || {
        fleet.get(&format!("task-status/t1/{node_id}")).filter(|status| status["done"] == true)
    });
    assert_eq!((done["error"].clone(), done["progress"].as_f64()), (Value::Null, Some(1.0)), "{done}");
    let templates = within(10, "the template in the heartbeat", || {
        fleet
            .get(&format!("alive/{node_id}"))
            .filter(|alive| alive["templates"].as_array().is_some_and(|t| !t.is_empty()))
    });
    assert_eq!(templates["templates"][0]["tag"], "v1", "{templates}");

    // Unassigned: the container and its status go.
    fleet.delete(&format!("assign/{node_id}/i1"));
    within(30, "the container removed", || inspect(&container).is_none().then_some(()));
    within(10, "the status removed", || fleet.get("status/i1").is_none().then_some(()));

    // Killed: its heartbeat goes with its lease.
    daemon.kill9();
    within(15, "the heartbeat gone", || fleet.get(&format!("alive/{node_id}")).is_none().then_some(()));
    fleet.runtime.block_on(fleet.etcd.delete_prefix(&format!("{prefix}/"))).expect("etcd cleanup");
}
