//! A real Home Assistant Core pointed at the supervisor: the image `cargo xtask real-core` builds
//! (Core from PyPI on Debian 13) published in a private registry as Core's image, installed and
//! started by the daemon the way homeassistant.rs does it with the Core fixture, with the
//! fixtures' D-Bus services as the host (so that the host, network and OS answers have something
//! to describe). Core's `hassio` integration is loaded because the container has `SUPERVISOR`
//! and `SUPERVISOR_TOKEN`; it calls the supervisor at start (options, ping, info of every group,
//! add-ons, store, ingress panels, discovery, ...) and logs what it cannot use.
//!
//! The test waits until that integration's set-up ended and its first refreshes had time to run,
//! prints what Core and the daemon logged about each other and what Core's client library makes
//! of every read endpoint (`tests/python/client_library.py`, with the library version Core
//! pins), and fails on any error of the integration (or of Core about the supervisor).
//!
//! Ignored: the image is large and takes minutes to build; `cargo xtask real-core` builds it and
//! then runs this test.

use crate::addons::engine_daemon;
use crate::homeassistant::{core_log, prepare_core, wait_for, write_manifest};
use dbus_fixtures::{PrivateBus, Service};
use e2e::registry::LocalRegistry;
use e2e::Daemon;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const MACHINE: &str = "qemux86-64";
/// The image `cargo xtask real-core` builds, unless `SUPERVISOR_REAL_CORE_IMAGE` names another.
const DEFAULT_IMAGE: &str = "supervisor-real-core:2026.2.3";
/// How long the first installation and start of Core may take on a busy machine.
const START_LIMIT: Duration = Duration::from_secs(15 * 60);
/// How long the `hassio` integration may take to set up once Core answers.
const SETUP_LIMIT: Duration = Duration::from_secs(5 * 60);
/// How long Core then runs before its log is read, so that its first refreshes happen.
const SETTLE: Duration = Duration::from_secs(45);

#[test]
#[ignore = "needs the image of `cargo xtask real-core`"]
fn real_core() {
    let image = std::env::var("SUPERVISOR_REAL_CORE_IMAGE").unwrap_or_else(|_| DEFAULT_IMAGE.to_owned());
    let version = image.rsplit_once(':').map(|(_, tag)| tag.to_owned()).expect("the image has a tag");
    let present = Command::new("docker").args(["image", "inspect", &image]).output().expect("docker");
    assert!(present.status.success(), "{image} is missing: run cargo xtask real-core");
    let started = Instant::now();

    let registry = LocalRegistry::start();
    let reference = registry.push(&image, &format!("supervisor-fixtures/{MACHINE}-homeassistant:{version}"));
    println!("[{:>4}s] pushed {image} as {reference}", started.elapsed().as_secs());
    let core_image = format!("{}/supervisor-fixtures/{{machine}}-homeassistant", registry.address());

    // The host's services (systemd, NetworkManager, the OS agent, ...) as the fixtures' private
    // bus has them, so that Core finds a host the supervisor can describe.
    let bus = PrivateBus::start(Service::ALL).expect("a private bus with the fixture services");
    let daemon = engine_daemon(&[("SUPERVISOR_CORE_INSTALL", "true"), ("SUPERVISOR_MACHINE", MACHINE), bus.env()]);
    let port = prepare_core(&daemon, &registry, write_config);
    write_manifest(&daemon, &core_image, &version);
    let container = format!("{}homeassistant", daemon.instance());

    wait_for(&daemon, &format!("Core {version} to be installed and answer on port {port}"), START_LIMIT, || {
        let (_, info) = daemon.get("/core/info");
        (info["data"]["version"] == version.as_str() && core_answers(port)).then_some(())
    });
    println!("[{:>4}s] Core answers on port {port}", started.elapsed().as_secs());
    let setup = wait_for(&daemon, "the hassio integration to be set up", SETUP_LIMIT, || {
        let log = strip_colours(&core_log(&daemon));
        entries(&log).into_iter().find(|entry| entry.ends_hassio_setup())
    });
    println!("[{:>4}s] {}", started.elapsed().as_secs(), setup.head);
    assert!(setup.head.contains("Setup of domain hassio took"), "the hassio integration failed:\n{}", setup.text);
    std::thread::sleep(SETTLE);

    let log = strip_colours(&core_log(&daemon));
    let probe = probe_client_library(&container);
    let (_, daemon_log) = daemon.text("/supervisor/logs");
    let (_, info) = daemon.get("/core/info");
    println!("[{:>4}s] done; /core/info: {}", started.elapsed().as_secs(), info["data"]);

    println!("\n===== Core's log: lines about the supervisor, and every warning and error =====");
    let entries = entries(&log);
    for entry in entries.iter().filter(|entry| entry.is_about_supervisor() || entry.level_at_least_warning()) {
        println!("{}", entry.text);
    }
    println!("\n===== the daemon's log: warnings and errors =====");
    for line in daemon_log.lines().filter(|line| line.contains("WARN") || line.contains("ERROR")) {
        println!("{line}");
    }

    println!("\n===== aiohasupervisor, Core's client library, reading everything (not asserted) =====");
    for line in &probe {
        println!("{line}");
    }

    hold(&daemon, &container);

    let errors: Vec<&Entry> = entries.iter().filter(|entry| entry.is_error() && entry.is_about_supervisor()).collect();
    println!("\n===== Core's errors about the supervisor: {} =====", errors.len());
    for entry in &errors {
        println!("  {}", entry.text.replace('\n', "\n  "));
    }
    assert!(
        errors.is_empty(),
        "Core's hassio integration reported {} errors:\n{}",
        errors.len(),
        errors.iter().map(|entry| entry.head.as_str()).collect::<Vec<_>>().join("\n")
    );
}

/// With `SUPERVISOR_REAL_CORE_HOLD=<seconds>`, keeps the daemon and Core running that long
/// before the test ends, to look at them by hand (with curl and the CLI token, or the `ha` CLI).
fn hold(daemon: &Daemon, container: &str) {
    let Some(seconds) = std::env::var("SUPERVISOR_REAL_CORE_HOLD").ok().and_then(|s| s.parse::<u64>().ok()) else {
        return;
    };
    println!(
        "\n===== holding for {seconds} s: the daemon at {} (CLI token in {}), Core in the container {container} =====",
        daemon.url(""),
        daemon.data_dir().join("cli_token").display()
    );
    std::thread::sleep(Duration::from_secs(seconds));
}

/// Core's configuration: its own port, a fixed place (so that it looks nothing up), and the
/// `hassio` integration's and its client's debug lines. No `default_config:`: it sets up
/// integrations that want the internet.
fn write_config(dir: &Path, port: u16) {
    std::fs::create_dir_all(dir).expect("the config folder");
    let config = format!(
        "homeassistant:\n  name: Real Core\n  latitude: 52.52\n  longitude: 13.40\n  elevation: 34\n  \
         unit_system: metric\n  time_zone: Europe/Berlin\n  currency: EUR\n  country: DE\n\
         http:\n  server_port: {port}\n\
         logger:\n  default: info\n  logs:\n    homeassistant.components.hassio: debug\n    aiohasupervisor: debug\n"
    );
    std::fs::write(dir.join("configuration.yaml"), config).expect("configuration.yaml");
}

/// Whether Core's HTTP server answers `/api/` (401 without a token once it is up).
fn core_answers(port: u16) -> bool {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    client.get(format!("http://127.0.0.1:{port}/api/")).send().is_ok()
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
fn strip_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Asks the supervisor, from Core's container with Core's token, everything Core's client
/// library `aiohasupervisor` can read (`tests/python/client_library.py`), each answer parsed into
/// the library's models as Core does; answers one line per call. Core itself stops at its first
/// failure (its coordinator refresh fails as a whole), so this shows what lies behind one.
fn probe_client_library(container: &str) -> Vec<String> {
    let script = include_str!("../python/client_library.py");
    let output =
        Command::new("docker").args(["exec", container, "python3", "-c", script]).output().expect("docker exec");
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    if !output.status.success() {
        lines.push(format!("FAIL the probe itself: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    lines
}

/// One entry of Core's log: `2026-01-01 12:00:00.000 ERROR (MainThread) [logger] message` and
/// the lines that follow it (a traceback).
struct Entry {
    level: String,
    logger: String,
    head: String,
    text: String,
}

impl Entry {
    fn is_error(&self) -> bool {
        matches!(self.level.as_str(), "ERROR" | "CRITICAL")
    }

    fn level_at_least_warning(&self) -> bool {
        self.is_error() || self.level == "WARNING"
    }

    /// From the integration or its client, or naming the supervisor or the integration.
    fn is_about_supervisor(&self) -> bool {
        let text = self.text.to_lowercase();
        self.logger.starts_with("homeassistant.components.hassio")
            || self.logger.starts_with("aiohasupervisor")
            || ["hassio", "supervisor"].iter().any(|word| text.contains(word))
    }

    /// The line with which Core says the set-up of `hassio` ended, well or not.
    fn ends_hassio_setup(&self) -> bool {
        ["Setup of domain hassio took", "Setup failed for 'hassio'", "Error during setup of component hassio"]
            .iter()
            .any(|marker| self.head.contains(marker))
    }
}

/// Core's log split into entries; lines before the first entry are entries of their own.
fn entries(log: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for line in log.lines() {
        match parse_head(line) {
            Some((level, logger)) => entries.push(Entry {
                level: level.to_owned(),
                logger: logger.to_owned(),
                head: line.to_owned(),
                text: line.to_owned(),
            }),
            None => match entries.last_mut() {
                Some(entry) => {
                    entry.text.push('\n');
                    entry.text.push_str(line);
                }
                None => entries.push(Entry {
                    level: String::new(),
                    logger: String::new(),
                    head: line.to_owned(),
                    text: line.to_owned(),
                }),
            },
        }
    }
    entries
}

/// The level and logger of a log line's head: `<date> <time> <LEVEL> (<thread>) [<logger>] ...`.
fn parse_head(line: &str) -> Option<(&str, &str)> {
    let mut words = line.splitn(4, ' ');
    let (date, _time, level) = (words.next()?, words.next()?, words.next()?);
    if !date.starts_with(|c: char| c.is_ascii_digit()) || !date.contains('-') {
        return None;
    }
    if !["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"].contains(&level) {
        return None;
    }
    let rest = words.next()?;
    let logger = rest.split_once('[')?.1.split_once(']')?.0;
    Some((level, logger))
}

#[test]
fn log_heads_give_their_level_and_logger() {
    let line = "2026-02-20 10:00:00.123 ERROR (MainThread) [homeassistant.components.hassio] Error on /x";
    assert_eq!(parse_head(line), Some(("ERROR", "homeassistant.components.hassio")));
    assert_eq!(parse_head("Traceback (most recent call last):"), None);
    let log = format!("{line}\nTraceback (most recent call last):\n  File \"x\"\n{line}");
    let entries = entries(&log);
    assert_eq!(entries.len(), 2);
    assert!(entries[0].text.contains("File"));
    assert!(entries[0].is_error() && entries[0].is_about_supervisor());
    assert_eq!(strip_colours("\u{1b}[31m2026 ERROR\u{1b}[0m"), "2026 ERROR");
}
