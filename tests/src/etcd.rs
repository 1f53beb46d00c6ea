//! An etcd cluster per test: Debian's `etcd` (`etcd-server`), one process per member on
//! `127.0.0.1` with free client and peer ports, each with its own data directory in one
//! temporary directory, joined under a cluster token unique to the cluster. Members can be killed
//! and started again on their data (`--initial-cluster-state existing`). Dropping the cluster
//! kills its members and removes the directory, so no key a test wrote outlives it.
//!
//! Elections are quicker than etcd's defaults (50 ms heartbeats, 500 ms election timeout), so
//! that tests of a lost member do not wait seconds for a new leader; the minimum lease TTL
//! follows (about a second).
//!
//! `cargo xtask test-images` installs the package (and keeps its own service from running).

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const ETCD_BIN: &str = "/usr/bin/etcd";
/// Ports are picked free and then taken by etcd; another process may win that race.
const START_ATTEMPTS: usize = 5;
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct EtcdCluster {
    dir: tempfile::TempDir,
    token: String,
    members: Vec<Member>,
}

struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

impl EtcdCluster {
    /// Starts `members` members and waits until each answers healthy (a leader elected).
    pub fn start(members: usize) -> EtcdCluster {
        assert!(Path::new(ETCD_BIN).exists(), "{ETCD_BIN} is missing; run cargo xtask test-images");
        for _ in 0..START_ATTEMPTS {
            if let Some(cluster) = Self::try_start(members) {
                return cluster;
            }
        }
        panic!("etcd did not start in {START_ATTEMPTS} attempts");
    }

    fn try_start(count: usize) -> Option<EtcdCluster> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let token = format!("e2e-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let members = (0..count)
            .map(|index| Member {
                name: format!("m{index}"),
                client_port: crate::free_port(),
                peer_port: crate::free_port(),
                child: None,
            })
            .collect();
        let mut cluster = EtcdCluster { dir: tempfile::tempdir().expect("etcd directory"), token, members };
        for index in 0..count {
            cluster.spawn(index, "new");
        }
        (0..count).all(|index| cluster.wait_healthy(index)).then_some(cluster)
    }

    /// The members' client URLs, `http://127.0.0.1:<port>`, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len()).map(|index| self.endpoint(index)).collect()
    }

    pub fn endpoint(&self, index: usize) -> String {
        format!("http://127.0.0.1:{}", self.members[index].client_port)
    }

    /// The index of the member whose client URL is `endpoint`.
    pub fn member_of(&self, endpoint: &str) -> Option<usize> {
        (0..self.members.len()).find(|index| self.endpoint(*index) == endpoint)
    }

    /// A key prefix no other test of this run uses, `/e2e-<pid>-<n>/`.
    pub fn prefix(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        format!("/e2e-{}-{}/", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Kills member `index` (SIGKILL: no goodbye to the others).
    pub fn stop_member(&mut self, index: usize) {
        if let Some(mut child) = self.members[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `index` again on its data directory and waits until it is healthy.
    pub fn start_member(&mut self, index: usize) {
        assert!(self.members[index].child.is_none(), "member {index} is running");
        self.spawn(index, "existing");
        assert!(self.wait_healthy(index), "member {index} did not start again; its log:\n{}", self.log(index));
    }

    /// What member `index` printed, for failure messages.
    pub fn log(&self, index: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{}.log", self.members[index].name))).unwrap_or_default()
    }

    fn spawn(&mut self, index: usize, state: &str) {
        let peer_url = |member: &Member| format!("http://127.0.0.1:{}", member.peer_port);
        let initial: Vec<String> =
            self.members.iter().map(|member| format!("{}={}", member.name, peer_url(member))).collect();
        let member = &self.members[index];
        let client_url = format!("http://127.0.0.1:{}", member.client_port);
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{}.log", member.name)))
            .expect("etcd log");
        let child = Command::new(ETCD_BIN)
            .args(["--name", &member.name])
            .arg("--data-dir")
            .arg(self.dir.path().join(&member.name))
            .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url(member), "--initial-advertise-peer-urls", &peer_url(member)])
            .args(["--initial-cluster", &initial.join(","), "--initial-cluster-token", &self.token])
            .args(["--initial-cluster-state", state])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.members[index].child = Some(child);
    }

    /// Waits for member `index`'s `/health` to say true; false if it exited first (a port was
    /// taken meanwhile).
    fn wait_healthy(&mut self, index: usize) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        let address = format!("127.0.0.1:{}", self.members[index].client_port);
        loop {
            let child = self.members[index].child.as_mut().expect("a running member");
            if child.try_wait().expect("etcd status").is_some() {
                self.members[index].child = None;
                return false;
            }
            if health(&address).is_some_and(|body| body.contains(r#""health":"true""#)) {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "etcd member {index} did not become healthy; its log:\n{}",
                self.log(index)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `GET /health` over a plain connection: the harness may run inside a test's async runtime,
/// where a blocking HTTP client must not be used.
fn health(address: &str) -> Option<String> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET /health HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for index in 0..self.members.len() {
            self.stop_member(index);
        }
    }
}
