//! The two deployments of `deploy/`, checked as they run:
//!
//! - under systemd: the unit passes `systemd-analyze verify`; the daemon speaks the notify
//!   protocol to the socket systemd passes (ready, watchdog, reloading on a restart in place,
//!   stopping) and, when its stderr is the journal's stream, writes each line with its priority
//!   and without a time of its own;
//! - as a container: `deploy/Dockerfile` builds with BuildKit from this machine's images (the
//!   Debian 12 base of `cargo xtask test-images` for `debian:bookworm-slim`, and the programs
//!   this test run built for the build stage, since no registry gives `rust:1-bookworm`), and
//!   the container it makes turns healthy through the image's own HEALTHCHECK.

use e2e::Daemon;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Debian 12 as `debian:bookworm-slim` would give it (`cargo xtask test-images`).
const BOOKWORM_IMAGE: &str = "supervisor-test-bookworm:latest";

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the project root").to_owned()
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(project_root().join("deploy/supervisor.service")).unwrap();
    assert!(unit.contains("\nType=notify\n") && unit.contains("\nWatchdogSec="), "{unit}");
    // verify wants the program it names to exist: the one this run built.
    let supervisor = e2e::bin("supervisor");
    let dir = tempfile::tempdir().unwrap();
    let checked: String = unit
        .lines()
        .map(|line| match line.strip_prefix("ExecStart=") {
            Some(_) => format!("ExecStart={}\n", supervisor.display()),
            None => format!("{line}\n"),
        })
        .collect();
    let path = dir.path().join("supervisor.service");
    std::fs::write(&path, checked).unwrap();
    let output = Command::new("systemd-analyze").arg("verify").arg(&path).output().expect("run systemd-analyze");
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{said}");
    // Unknown keys and bad values are only warnings: any line about the unit is a failure.
    assert!(!said.contains("supervisor.service"), "{said}");
}

/// The messages of the notify socket at `socket`, as they arrive.
fn notifications(socket: UnixDatagram) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = socket.recv(&mut buf) {
            if sender.send(String::from_utf8_lossy(&buf[..n]).into_owned()).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The next of `received` that `wanted` picks within 30 s, skipping others (watchdog pings
/// between notifications, other log lines).
fn next_of(received: &mpsc::Receiver<String>, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(item) if wanted(&item) => return item,
            Ok(_) => {}
            Err(e) => panic!("no {what}: {e}"),
        }
    }
}

/// The next notification that starts with `prefix`.
fn next_starting(messages: &mpsc::Receiver<String>, prefix: &str) -> String {
    next_of(messages, &format!("{prefix:?} notification"), |message| message.starts_with(prefix))
}

#[test]
fn under_systemd_the_daemon_says_ready_feeds_the_watchdog_reloads_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let messages = notifications(UnixDatagram::bind(&path).unwrap());
    let socket = path.to_str().unwrap();
    // A watchdog of one second: pings every half second.
    let mut daemon = Daemon::start_with(&[("NOTIFY_SOCKET", socket), ("WATCHDOG_USEC", "1000000")]);
    let ready = next_starting(&messages, "READY=1");
    assert!(ready.contains(&format!("STATUS=Serving on {}", daemon.address())), "{ready}");
    for _ in 0..2 {
        assert_eq!(next_starting(&messages, "WATCHDOG"), "WATCHDOG=1");
    }

    let (status, body) = daemon.post("/supervisor/restart", json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(next_starting(&messages, "RELOADING"), "RELOADING=1");
    daemon.follow_restart_in_place();
    let ready = next_starting(&messages, "READY=1");
    assert!(ready.contains(&format!("STATUS=Serving on {}", daemon.address())), "{ready}");

    assert!(daemon.terminate().success());
    assert_eq!(next_starting(&messages, "STOPPING"), "STOPPING=1");
}

#[test]
fn a_watchdog_meant_for_another_process_is_not_fed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let messages = notifications(UnixDatagram::bind(&path).unwrap());
    let socket = path.to_str().unwrap();
    let _daemon = Daemon::start_with(&[("NOTIFY_SOCKET", socket), ("WATCHDOG_USEC", "200000"), ("WATCHDOG_PID", "1")]);
    next_starting(&messages, "READY=1");
    std::thread::sleep(Duration::from_secs(1));
    let pings: Vec<String> = messages.try_iter().filter(|m| m.starts_with("WATCHDOG")).collect();
    assert!(pings.is_empty(), "{pings:?}");
}

/// The daemon's stderr lines, as they arrive; `journal` tells it that stderr is the journal's
/// stream (as systemd does, by the pipe's device and inode).
fn stderr_lines(journal: bool) -> (Daemon, mpsc::Receiver<String>) {
    use std::os::unix::fs::MetadataExt;
    let (reader, writer) = std::io::pipe().unwrap();
    let stream = std::fs::metadata(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&writer))).unwrap();
    let named = format!("{}:{}", stream.dev(), stream.ino() + u64::from(!journal));
    let daemon = Daemon::start_with_stderr(&[("JOURNAL_STREAM", named.as_str())], writer);
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    (daemon, receiver)
}

fn line_naming(lines: &mpsc::Receiver<String>, marker: &str) -> String {
    next_of(lines, &format!("line naming {marker}"), |line| line.contains(marker))
}

#[test]
fn on_the_journal_stream_lines_carry_their_priority_and_no_time() {
    let (daemon, lines) = stderr_lines(true);
    let listening = line_naming(&lines, "supervisor listening");
    assert!(listening.starts_with("<6>"), "{listening}");
    daemon.log_a_warning("journal-priority-marker");
    let warning = line_naming(&lines, "journal-priority-marker");
    assert!(warning.starts_with("<4>"), "{warning}");
    assert!(!warning[3..].trim_start().starts_with(|c: char| c.is_ascii_digit()), "a time of its own: {warning}");

    // A JOURNAL_STREAM that names another stream (inherited from a parent) changes nothing.
    let (daemon, lines) = stderr_lines(false);
    daemon.log_a_warning("terminal-marker");
    let warning = line_naming(&lines, "terminal-marker");
    assert!(warning.starts_with(|c: char| c.is_ascii_digit()), "no time of its own: {warning}");
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("run docker")
}

fn ok(output: Output, what: &str) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{what}: {text}");
    text
}

/// The container and images the image test makes, removed however it ends.
struct Made {
    container: String,
    images: Vec<String>,
}

impl Drop for Made {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.container]);
        for image in &self.images {
            let _ = docker(&["rmi", "-f", image]);
        }
    }
}

#[test]
fn the_container_image_builds_from_the_dockerfile_and_turns_healthy() {
    let name = format!("e2e{}-deploy", std::process::id());
    let made = Made {
        container: format!("{name}-supervisor"),
        images: vec![format!("{name}-programs:test"), format!("{name}-supervisor:test")],
    };
    let (programs, image) = (&made.images[0], &made.images[1]);

    // The programs this run built, without their debug information (what the build stage's
    // release build would give), in an image of their own at /out/.
    let context = tempfile::tempdir().unwrap();
    std::fs::create_dir(context.path().join("out")).unwrap();
    for program in ["supervisor", "ha", "plugin-dns", "plugin-multicast", "plugin-observer"] {
        let target = context.path().join("out").join(program);
        let status = Command::new("strip").arg("--strip-debug").arg("-o").arg(&target).arg(e2e::bin(program)).status();
        assert!(status.expect("run strip").success(), "strip {program}");
    }
    std::fs::write(context.path().join("Dockerfile"), "FROM scratch\nCOPY out /out\n").unwrap();
    ok(docker(&["build", "--quiet", "--tag", programs, &context.path().to_string_lossy()]), "the programs' image");

    // BuildKit skips the build stage that PROGRAMS replaces. The client on the path may be a
    // newer one that wants the buildx plugin for it; the engine's own (Debian's docker.io) has
    // BuildKit built in.
    let client = if Path::new("/usr/bin/docker").exists() { "/usr/bin/docker" } else { "docker" };
    let root = project_root();
    let output = Command::new(client)
        .env("DOCKER_BUILDKIT", "1")
        .args(["build", "--network", "host", "--file"])
        .arg(root.join("deploy/Dockerfile"))
        .args(["--build-arg", &format!("BUILDER={BOOKWORM_IMAGE}")])
        .args(["--build-arg", &format!("RUNTIME={BOOKWORM_IMAGE}")])
        .args(["--build-arg", &format!("PROGRAMS={programs}")])
        .args(["--tag", image])
        .arg(&root)
        .output()
        .expect("run docker build");
    ok(output, "docker build of deploy/Dockerfile");

    // The image's own HEALTHCHECK command, checked more often than its 30 s.
    ok(
        docker(&[
            "run",
            "--detach",
            "--name",
            &made.container,
            "--health-interval",
            "1s",
            "--health-retries",
            "60",
            image,
        ]),
        "docker run",
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let health =
            ok(docker(&["inspect", "--format", "{{.State.Health.Status}}", &made.container]), "docker inspect");
        if health.trim() == "healthy" {
            break;
        }
        if Instant::now() > deadline {
            let logs = docker(&["logs", "--tail", "40", &made.container]);
            panic!("the container is {health} after two minutes; its log: {}", String::from_utf8_lossy(&logs.stderr));
        }
        std::thread::sleep(Duration::from_millis(500));
    }

    let exec = |args: &[&str]| docker(&[&["exec", made.container.as_str()], args].concat());
    // The check fails when no API answers where it asks.
    let refused = exec(&["env", "SUPERVISOR_LISTEN=127.0.0.1:1", "/usr/bin/supervisor", "--healthcheck"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    // What the built-in repositories, add-ons' profiles and the plugins need is in the image.
    ok(exec(&["git", "--version"]), "git in the image");
    ok(exec(&["apparmor_parser", "--version"]), "apparmor_parser in the image");
    ok(exec(&["test", "-s", "/etc/ssl/certs/ca-certificates.crt"]), "CA certificates in the image");
    ok(exec(&["test", "-f", "/usr/share/supervisor/plugins/dns/image.yaml"]), "the plugins' recipes");
    ok(exec(&["ha", "--help"]), "ha in the image");
}
