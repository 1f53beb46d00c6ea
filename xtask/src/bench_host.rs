//! The host benchmarks of `cargo xtask bench`, the parts `host_info` and `log_follow`, run after
//! those of `bench.rs` with the same release daemon, each printed on one `bench <name>:` line:
//!
//! - `host_info`: requests per second and p99 latency of `GET /host/info` with every fixture
//!   service of `dbus-fixtures` answering on a private bus, next to `GET /supervisor/info` of the
//!   same daemon in the same run (alternating rounds, as in `supervisor_info`), and their ratio:
//!   `/host/info` is answered from the watched service states, not from D-Bus calls;
//! - `log_follow`: how long a journal entry takes to reach a client following `/host/logs/follow`:
//!   from the start of the append (systemd-journal-remote writing it into the journal file that
//!   systemd-journal-gatewayd serves) until the line arrives, median and p99 over 50 lines, next
//!   to the same for a client following gatewayd itself, and the append's own duration.
//!
//! The fixture services and the test journal are those of the tests (`cargo xtask test-images`
//! installs `dbus` and `systemd-journal-remote`).

use crate::bench::{compare, median_ms, Daemon};
use anyhow::{bail, ensure, Context};
use dbus_fixtures::{PrivateBus, Service};
use journal::testing::{Entry, TestJournal};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Lines appended and timed in `log_follow`.
const FOLLOWED_LINES: usize = 50;
/// Longest a followed line may take before the bench fails.
const LINE_TIMEOUT: Duration = Duration::from_secs(10);
/// A host service's syslog identifier, so that `/host/logs` shows its lines.
const IDENTIFIER: &str = "kernel";
const BOOT: &str = "0123456789abcdef0123456789abcdef";

/// `/host/info` against `/supervisor/info` of one daemon whose host services all answer.
pub(crate) fn host_info(bin: &Path) -> anyhow::Result<()> {
    crate::test_tools::ensure()?;
    let bus = PrivateBus::start(Service::ALL).context("starting the fixture services")?;
    let data = tempfile::tempdir()?;
    let mut daemon = Daemon::start_with(bin, data.path(), &["--workers", "1"], &[bus.env()])?;
    daemon.wait_ready()?;
    let token = std::fs::read_to_string(data.path().join("cli_token")).context("reading cli_token")?;
    let request = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n", token.trim())
    };
    let info = fetch(daemon.address, &request("/host/info"))?;
    let info: serde_json::Value = serde_json::from_str(&info).context("/host/info is JSON")?;
    let features = info["data"]["features"].as_array().map_or(0, Vec::len);
    ensure!(info["data"]["hostname"].is_string() && features >= 9, "the fixture services do not answer: {info}");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (host, supervisor) = (request("/host/info"), request("/supervisor/info"));
    let [host, supervisor] =
        runtime.block_on(compare([(daemon.address, host.as_bytes()), (daemon.address, supervisor.as_bytes())]))?;
    daemon.ensure_alive()?;
    println!(
        "bench host_info: /host/info {host} | /supervisor/info {supervisor} | ratio {:.2} (aim >= 0.5; one \
         daemon with 1 worker, {features} host features, every fixture service on a private bus)",
        host.per_second() / supervisor.per_second()
    );
    Ok(())
}

/// The time from appending a journal entry to its line reaching a follower of `/host/logs/follow`
/// (and, for comparison, a follower of gatewayd itself).
pub(crate) fn log_follow(bin: &Path) -> anyhow::Result<()> {
    crate::test_tools::ensure()?;
    let journal = TestJournal::serve(&[entry("bench start")]).context("starting the test journal")?;
    let data = tempfile::tempdir()?;
    let mut daemon = Daemon::start(bin, data.path(), &["--workers", "1", "--journal", journal.address()])?;
    daemon.wait_ready()?;
    let token = std::fs::read_to_string(data.path().join("cli_token")).context("reading cli_token")?;
    let through_daemon = Follower::open(
        daemon.address,
        &format!(
            "GET /host/logs/follow HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nAccept: text/plain\r\n\r\n",
            token.trim()
        ),
    )?;
    let gatewayd: SocketAddr = journal
        .address()
        .strip_prefix("http://")
        .and_then(|address| address.parse().ok())
        .context("the test journal listens on a loopback port")?;
    let direct = Follower::open(
        gatewayd,
        &format!(
            "GET /entries?follow&SYSLOG_IDENTIFIER={IDENTIFIER} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n"
        ),
    )?;
    through_daemon.wait_for("bench start")?;
    direct.wait_for("bench start")?;

    let (mut via_daemon, mut via_gatewayd, mut appends) = (Vec::new(), Vec::new(), Vec::new());
    for line in 0..FOLLOWED_LINES {
        let message = format!("bench followed line {line}");
        let started = Instant::now();
        journal.append(&[entry(&message)])?;
        appends.push(started.elapsed());
        via_daemon.push(through_daemon.wait_for(&message)? - started);
        via_gatewayd.push(direct.wait_for(&message)? - started);
    }
    daemon.ensure_alive()?;
    println!(
        "bench log_follow: /host/logs/follow median {:.1} ms p99 {:.1} ms | gatewayd itself median {:.1} ms p99 \
         {:.1} ms | the append alone median {:.1} ms (aim < 50 ms; from the start of the append to the line \
         arriving, {FOLLOWED_LINES} lines)",
        median_ms(&mut via_daemon),
        p99_ms(&mut via_daemon),
        median_ms(&mut via_gatewayd),
        p99_ms(&mut via_gatewayd),
        median_ms(&mut appends),
    );
    Ok(())
}

/// A line of the followed identifier, written now.
fn entry(message: &str) -> Entry {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_micros() as u64);
    Entry::log(BOOT, now, IDENTIFIER, message)
}

fn p99_ms(samples: &mut [Duration]) -> f64 {
    samples.sort_unstable();
    samples[(samples.len() * 99).div_ceil(100) - 1].as_secs_f64() * 1e3
}

/// One GET on a fresh connection that the server closes; answers the body.
fn fetch(address: SocketAddr, request: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(LINE_TIMEOUT))?;
    let request = request.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1);
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("an HTTP answer")?;
    ensure!(head.starts_with("HTTP/1.1 200"), "answered {head}");
    Ok(body.to_owned())
}

/// A streaming GET whose lines a thread reads as they come, each with the moment it arrived.
/// The transfer encoding's chunk sizes come through as lines of their own; only the lines'
/// content is looked at.
struct Follower {
    lines: mpsc::Receiver<(String, Instant)>,
}

impl Follower {
    fn open(address: SocketAddr, request: &str) -> anyhow::Result<Follower> {
        let mut stream = TcpStream::connect(address).with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        stream.write_all(request.as_bytes())?;
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { return };
                if sender.send((line, Instant::now())).is_err() {
                    return;
                }
            }
        });
        Ok(Follower { lines })
    }

    /// When the first line containing `text` arrived.
    fn wait_for(&self, text: &str) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + LINE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((line, arrived)) if line.contains(text) => return Ok(arrived),
                Ok(_) => {}
                Err(_) => bail!("{text:?} did not arrive within {} s", LINE_TIMEOUT.as_secs()),
            }
        }
    }
}
