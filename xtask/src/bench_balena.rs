//! The balena part of `cargo xtask bench`, `balena_target`: the time from `POST
//! /v2/local/target-state` of an application of two services until both run (as
//! `/v2/state/status` reports them), next to `docker-compose up -d` of the same two services
//! until the engine lists both running, in alternating rounds; medians printed on one
//! `bench balena_target:` line.
//!
//! Both start the busybox base image of the tests (`cargo xtask test-images`), already on the
//! engine, with the same command; between rounds each side removes its containers (an empty
//! target; `docker-compose down`). The daemon runs under its own instance prefix and everything
//! both sides made is removed at the end.

use crate::bench::{median_ms, Daemon};
use anyhow::{bail, ensure, Context};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Rounds of each side.
const ROUNDS: usize = 5;
const IMAGE: &str = crate::test_images::BASE_IMAGE;
/// How often each side is asked whether its services run.
const POLL: Duration = Duration::from_millis(10);
/// Longest a side may take to bring its services up or down before the bench fails.
const DEADLINE: Duration = Duration::from_secs(60);
/// A service's command: a loop that stops at once on SIGTERM.
const SCRIPT: &str = "trap 'exit 0' TERM; while true; do sleep 1; done";

pub(crate) fn run(root: &Path, bin: &Path) -> anyhow::Result<()> {
    ensure!(docker(&["image", "inspect", IMAGE]).is_ok(), "{IMAGE} is missing: run `cargo xtask test-images`");
    let instance = format!("bench{}-", std::process::id());
    let data = tempfile::tempdir()?;
    let store = root.join("store-fixtures");
    let network = format!("{instance}hassio");
    let env = [
        ("SUPERVISOR_INSTANCE", instance.as_str()),
        ("SUPERVISOR_NETWORK", network.as_str()),
        ("SUPERVISOR_NETWORK_SUBNET", "auto"),
        ("SUPERVISOR_CORE_INSTALL", "false"),
        ("SUPERVISOR_PLUGINS_INSTALL", "false"),
        ("SUPERVISOR_CORE_REPOSITORY", store.to_str().context("a UTF-8 path")?),
    ];
    let compose_dir = tempfile::tempdir()?;
    let result = (|| {
        let mut daemon = Daemon::start_with(bin, data.path(), &["--workers", "1"], &env)?;
        daemon.wait_ready()?;
        let key = std::fs::read_to_string(data.path().join("balena/api_key")).context("reading the API key")?;
        let balena = daemon.balena_address;
        let status = |key: &str| request(balena, "GET", "/v2/state/status", key, None);
        let deadline = Instant::now() + DEADLINE;
        while status(&key).is_err() {
            ensure!(Instant::now() < deadline, "the device API did not reach the engine");
            std::thread::sleep(POLL);
        }
        std::fs::write(compose_dir.path().join("docker-compose.yml"), compose_file())?;
        let project = format!("{instance}compose");
        let (mut balena_times, mut compose_times) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let started = Instant::now();
            request(balena, "POST", "/v2/local/target-state", &key, Some(target(true)))?;
            wait(|| Ok(running(&status(&key)?) == 2))?;
            balena_times.push(started.elapsed());
            request(balena, "POST", "/v2/local/target-state", &key, Some(target(false)))?;
            wait(|| Ok(status(&key)?["containers"].as_array().is_some_and(Vec::is_empty)))?;

            let started = Instant::now();
            compose(compose_dir.path(), &project, &["up", "-d"])?;
            wait(|| Ok(compose_running(&project)? == 2))?;
            compose_times.push(started.elapsed());
            compose(compose_dir.path(), &project, &["down", "-t", "1"])?;
            daemon.ensure_alive().with_context(|| format!("round {round}"))?;
        }
        let (balena_ms, compose_ms) = (median_ms(&mut balena_times), median_ms(&mut compose_times));
        println!(
            "bench balena_target: target-state POST to 2 services running {balena_ms:.0} ms | docker-compose up -d \
             to 2 running {compose_ms:.0} ms | ratio {:.2} (medians of {ROUNDS} alternating rounds, local image, \
             busybox shell loops)",
            balena_ms / compose_ms
        );
        anyhow::Ok(())
    })();
    let _ = compose(compose_dir.path(), &format!("{instance}compose"), &["down", "-t", "1"]);
    remove_instance(&instance);
    result
}

/// The two services, in the compose file's words.
fn compose_file() -> String {
    let service = |name: &str| {
        format!("  {name}:\n    image: {IMAGE}\n    restart: always\n    command: [\"sh\", \"-c\", \"{SCRIPT}\"]\n")
    };
    format!("version: \"2.1\"\nservices:\n{}{}", service("one"), service("two"))
}

/// The target state with the two services, or with none.
fn target(with_services: bool) -> Value {
    let service = |name: &str, id: u32| {
        json!({"serviceName": name, "serviceId": id, "imageId": id, "image": IMAGE, "command": ["sh", "-c", SCRIPT],
            "environment": {}, "labels": {}})
    };
    let services = if with_services { json!({"1": service("one", 1), "2": service("two", 2)}) } else { json!({}) };
    json!({"local": {"name": "", "config": {}, "apps": {"1": {"name": "bench", "commit": "c1", "releaseId": "1",
        "services": services, "volumes": {}, "networks": {}}}}, "dependent": {"apps": [], "devices": []}})
}

fn running(status: &Value) -> usize {
    status["containers"].as_array().map_or(0, |all| all.iter().filter(|c| c["status"] == "Running").count())
}

fn wait(mut done: impl FnMut() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    let deadline = Instant::now() + DEADLINE;
    while !done()? {
        ensure!(Instant::now() < deadline, "the services did not come up or go in time");
        std::thread::sleep(POLL);
    }
    Ok(())
}

/// One request to the device API with the key; the JSON answer of a 2xx.
fn request(address: SocketAddr, method: &str, path: &str, key: &str, body: Option<Value>) -> anyhow::Result<Value> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(DEADLINE))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        key.trim(),
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("an HTTP answer")?;
    if !head.starts_with("HTTP/1.1 2") {
        bail!("{method} {path} answered {head}: {body}");
    }
    Ok(serde_json::from_str(body).unwrap_or(Value::Null))
}

fn compose(dir: &Path, project: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("docker-compose")
        .current_dir(dir)
        .args(["-p", project])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running docker-compose")?;
    ensure!(output.status.success(), "docker-compose {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    Ok(())
}

fn compose_running(project: &str) -> anyhow::Result<usize> {
    let filter = format!("label=com.docker.compose.project={project}");
    Ok(docker(&["ps", "-q", "--filter", &filter, "--filter", "status=running"])?.lines().count())
}

fn docker(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("docker").args(args).stdin(Stdio::null()).output().context("running docker")?;
    ensure!(output.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Removes what the daemon made under `instance`: containers, volumes, networks.
fn remove_instance(instance: &str) {
    let label = format!("label=io.balena.supervisor-instance={instance}");
    for kind in ["container", "volume", "network"] {
        let all = if kind == "container" { "-aq" } else { "-q" };
        let listing = docker(&[kind, "ls", all, "--filter", &label]).unwrap_or_default();
        for id in listing.split_whitespace() {
            let _ = docker(&[kind, "rm", "-f", id]).or_else(|_| docker(&[kind, "rm", id]));
        }
    }
    let _ = docker(&["network", "rm", &format!("{instance}hassio")]);
}
