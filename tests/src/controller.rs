//! A fleet controller replica per call: the `controller` binary on a free loopback port, over a
//! test's etcd cluster and registry, under the test's own key prefix. Dropping it kills it.

use crate::registry::LocalRegistry;
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The operator's password and the join token every test controller uses.
pub const ROOT_PASSWORD: &str = "test-root-password";
pub const JOIN_TOKEN: &str = "test-join-token-0123456789";
/// The MAC pool of every test controller (filled only by `PUT /api/v1/macaddr`).
pub const MAC_RANGE: &str = "02:00:00:00:0A:FE-02:00:00:00:0B:01";

pub struct Controller {
    child: Child,
    address: String,
    client: Client,
    /// The replica's log, printed when a test fails.
    log: tempfile::NamedTempFile,
}

impl Controller {
    /// Starts a replica; `lease_ttl` is how long its leadership outlives it.
    pub fn start(etcd: &[String], registry: &LocalRegistry, prefix: &str, lease_ttl: u32) -> Controller {
        let log = tempfile::NamedTempFile::new().expect("a file for the controller's log");
        let mut child = Command::new(crate::bin("controller"))
            .env("CONTROLLER_ETCD", etcd.join(","))
            .env("CONTROLLER_LISTEN", "127.0.0.1:0")
            .env("CONTROLLER_REGISTRY", format!("http://{}", registry.address()))
            .env("CONTROLLER_REGISTRY_USER", registry.username())
            .env("CONTROLLER_REGISTRY_PASSWORD", registry.password())
            .env("CONTROLLER_PREFIX", prefix)
            .env("CONTROLLER_ROOT_PASSWORD", ROOT_PASSWORD)
            .env("CONTROLLER_JOIN_TOKEN", JOIN_TOKEN)
            .env("CONTROLLER_LEASE_TTL", lease_ttl.to_string())
            .env("CONTROLLER_MAC_RANGE", MAC_RANGE)
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("the controller's log"))
            .spawn()
            .expect("start the controller");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the listening line");
        let address =
            line.trim().strip_prefix("controller listening on ").unwrap_or_else(|| panic!("{line:?}")).to_string();
        let client = Client::builder().timeout(Duration::from_secs(30)).build().expect("http client");
        Controller { child, address, client, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Calls the API as the operator; the status and the envelope.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(method, path, body, Some(ROOT_PASSWORD))
    }

    /// Calls the API with `password` as root's (none: no credentials).
    pub fn call_as(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        password: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method.parse().expect("a method"), self.url(path));
        if let Some(password) = password {
            request = request.basic_auth("root", Some(password));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().expect("the controller answers");
        let status = response.status();
        (status, response.json().unwrap_or(Value::Null))
    }

    /// The body of a successful call; panics with the envelope otherwise.
    pub fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, reply) = self.call(method, path, body);
        assert!(status.is_success() && reply["status"] == "OK", "{method} {path}: {status} {reply}");
        reply["body"].clone()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            for line in log.lines().filter(|line| line.contains("WARN") || line.contains("ERROR")).take(20) {
                eprintln!("controller {}> {line}", self.address);
            }
        }
    }
}
