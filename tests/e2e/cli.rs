//! The real `ha` CLI against a real daemon: YAML and raw JSON output, options, errors with the
//! server's message and a failing exit status, usage errors, following a job, and shell
//! completion from the API. A small stand-in HTTP server plays an older Supervisor, one without
//! `/jobs/<id>/follow`, for the polling fallback.

use e2e::{manifest, Daemon};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `ha args`, asserts it succeeded and answers its stdout.
pub(crate) fn ha_ok(daemon: &Daemon, args: &[&str]) -> String {
    let output = daemon.ha(args, &[]);
    assert!(output.status.success(), "ha {args:?} failed: {}{}", stdout(&output), stderr(&output));
    stdout(&output)
}

#[test]
fn info_prints_yaml() {
    let daemon = Daemon::start();
    let out = ha_ok(&daemon, &["info"]);
    assert!(out.lines().any(|l| l == format!("supervisor: {}", env!("CARGO_PKG_VERSION"))), "{out}");
    assert!(out.lines().any(|l| l == "state: running"), "{out}");
}

#[test]
fn raw_json_prints_the_envelope() {
    let daemon = Daemon::start();
    let out = ha_ok(&daemon, &["supervisor", "info", "--raw-json"]);
    let body: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    assert_eq!(body["result"], "ok");
    assert_eq!(body["data"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn supervisor_options_change_the_channel() {
    let daemon = Daemon::start();
    let out = ha_ok(&daemon, &["supervisor", "options", "--channel", "beta"]);
    assert_eq!(out.trim(), "Command completed successfully.");
    let out = ha_ok(&daemon, &["supervisor", "info"]);
    assert!(out.lines().any(|l| l == "channel: beta"), "{out}");
}

#[test]
fn jobs_info_prints_the_job_manager() {
    let daemon = Daemon::start();
    let out = ha_ok(&daemon, &["jobs", "info"]);
    assert!(out.lines().any(|l| l == "ignore_conditions: []"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("jobs:")), "{out}");
}

#[test]
fn jobs_options_set_ignored_conditions() {
    let daemon = Daemon::start();
    ha_ok(&daemon, &["jobs", "options", "--ignore-conditions", "healthy"]);
    let (_, body) = daemon.get("/jobs/info");
    assert_eq!(body["data"]["ignore_conditions"], serde_json::json!(["healthy"]));
}

#[test]
fn a_refusal_exits_non_zero_with_the_server_message() {
    let daemon = Daemon::start();
    let output = daemon.ha(&["docker", "registries", "delete", "nope.example.com"], &[]);
    assert!(!output.status.success(), "ha succeeded: {}", stdout(&output));
    let err = stderr(&output);
    assert!(err.contains("nope.example.com does not exist in registries"), "{err}");
}

#[test]
fn a_bogus_token_exits_non_zero_with_invalid_token() {
    let daemon = Daemon::start();
    let output = daemon.ha(&["info"], &[("SUPERVISOR_TOKEN", "bogus")]);
    assert!(!output.status.success(), "ha succeeded: {}", stdout(&output));
    assert!(stderr(&output).contains("Invalid token"), "{}", stderr(&output));
}

#[test]
fn registries_add_shows_the_user_but_never_the_password() {
    let daemon = Daemon::start();
    let password = "e2e-cli-secret-91c2";
    ha_ok(&daemon, &["docker", "registries", "add", "ghcr.io", "--username", "e2e-user", "--password", password]);
    let out = ha_ok(&daemon, &["docker", "registries"]);
    assert!(out.contains("e2e-user"), "{out}");
    assert!(!out.contains(password), "{out}");
}

#[test]
fn refresh_updates_follows_the_job_to_completion() {
    let daemon = Daemon::start();
    daemon.write_manifest("stable", &manifest("stable", "99.0.0"));
    let output = daemon.ha(&["refresh-updates"], &[]);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    // Progress only for a terminal, as the real CLI.
    assert_eq!(stderr(&output), "");
    assert_eq!(stdout(&output).trim_end().lines().last(), Some("Command completed successfully."));
    let (_, body) = daemon.get("/supervisor/info");
    assert_eq!(body["data"]["version_latest"], "99.0.0");
}

#[test]
fn refresh_updates_fails_with_the_job_error() {
    let daemon = Daemon::start();
    let output = daemon.ha(&["refresh-updates"], &[]);
    assert!(!output.status.success(), "ha succeeded without a manifest: {}", stdout(&output));
    assert!(stderr(&output).contains("version-stable.json"), "{}", stderr(&output));
}

#[test]
fn supervisor_logs_print_the_last_lines() {
    let daemon = Daemon::start();
    let out = ha_ok(&daemon, &["supervisor", "logs", "--lines", "1"]);
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn completion_prints_a_bash_script() {
    let daemon = Daemon::start();
    let out = ha_ok(&daemon, &["completion", "bash"]);
    assert!(out.contains("complete "), "{out}");
    assert!(out.contains(" __complete "), "{out}");
    let out = ha_ok(&daemon, &["completion", "bash", "--no-descriptions"]);
    assert!(out.contains(" __completeNoDesc "), "{out}");
}

#[test]
fn raw_json_prints_a_refusal_and_exits_zero() {
    let daemon = Daemon::start();
    let output = daemon.ha(&["docker", "registries", "delete", "nope.example.com", "--raw-json"], &[]);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    let body: Value = serde_json::from_slice(&output.stdout).expect("the envelope");
    assert_eq!(body["result"], "error", "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("nope.example.com"), "{body}");
    assert_eq!(stderr(&output), "");
}

#[test]
fn usage_errors_are_cobras_and_show_nothing_from_the_environment() {
    let daemon = Daemon::start();
    let cases = [
        (&["info", "extra"][..], "Error: unknown command \"extra\" for \"ha info\"\nRun 'ha info --help' for usage.\n"),
        (&["network", "update"], "Error: accepts 1 arg(s), received 0\nRun 'ha network update --help' for usage.\n"),
        (
            &["supervisor", "options", "--wait-boot", "5"],
            "Error: unknown flag: --wait-boot\nRun 'ha supervisor options --help' for usage.\n",
        ),
    ];
    for (args, expected) in cases {
        let output = daemon.ha(args, &[("SUPERVISOR_API_TOKEN", "e2e-token-from-env")]);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&output), expected, "{args:?}");
        assert!(!stderr(&output).contains(daemon.address()), "{args:?}");
    }
}

#[test]
fn version_and_help_succeed() {
    let daemon = Daemon::start();
    assert_eq!(ha_ok(&daemon, &["--version"]).trim(), format!("ha {}", env!("CARGO_PKG_VERSION")));
    let help = ha_ok(&daemon, &["supervisor"]);
    assert!(help.contains("available-updates"), "{help}");
}

#[test]
fn completion_offers_command_names_and_repositories_from_the_api() {
    let daemon = Daemon::start();
    let out = ha_ok(&daemon, &["__completeNoDesc", "back"]);
    assert_eq!(out, "backups\n:4\n");
    let out = ha_ok(&daemon, &["__complete", ""]);
    assert!(out.lines().any(|l| l.starts_with("supervisor\t")), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("snapshots") || l.starts_with("--")), "{out}");

    let (_, store) = daemon.get("/store");
    let mut expected: Vec<String> = store["data"]["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .map(|repository| repository["slug"].as_str().expect("a slug").to_owned())
        .collect();
    assert!(!expected.is_empty(), "{store}");
    expected.sort();
    let out = ha_ok(&daemon, &["__completeNoDesc", "store", "delete", ""]);
    let mut offered: Vec<String> = out.lines().filter(|l| !l.starts_with(':')).map(str::to_owned).collect();
    offered.sort();
    assert_eq!(offered, expected);
    assert_eq!(out.lines().last(), Some(":4"));
}

/// A stand-in for an older Supervisor: answers each request from `answer(method, path, count)`,
/// where `count` says how often that request came before, and keeps a list of what it was asked.
struct OldSupervisor {
    address: String,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

type Answer = (u16, &'static str, String);

impl OldSupervisor {
    fn start(answer: impl Fn(&str, &str, usize) -> Answer + Send + 'static) -> OldSupervisor {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let address = listener.local_addr().expect("an address").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen_by_server, stop_seen_by_server) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_seen_by_server.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let request = serve(stream, &seen_by_server, &answer);
                seen_by_server.lock().unwrap().extend(request);
            }
        });
        OldSupervisor { address, seen, stop }
    }

    fn ha(&self, args: &[&str]) -> Output {
        let data = tempfile::tempdir().expect("a data directory");
        Command::new(e2e::bin("ha"))
            .args(args)
            .env_clear()
            .env("SUPERVISOR_ENDPOINT", &self.address)
            .env("SUPERVISOR_DATA_DIR", data.path())
            .output()
            .expect("run ha")
    }

    fn count(&self, request: &str) -> usize {
        self.seen.lock().unwrap().iter().filter(|seen| *seen == request).count()
    }
}

impl Drop for OldSupervisor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so that it sees the flag and ends.
        let _ = TcpStream::connect(&self.address);
    }
}

/// Reads one request, answers it and closes; answers `METHOD /path`.
fn serve(
    stream: TcpStream,
    seen: &Mutex<Vec<String>>,
    answer: &impl Fn(&str, &str, usize) -> Answer,
) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut head = String::new();
    reader.read_line(&mut head).ok()?;
    let mut parts = head.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let path = target.split('?').next().unwrap_or_default().to_owned();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let request = format!("{method} {path}");
    let before = seen.lock().unwrap().iter().filter(|seen| **seen == request).count();
    let (status, content_type, text) = answer(&method, &path, before);
    let mut stream = stream;
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    stream.write_all(response.as_bytes()).ok()?;
    Some(request)
}

fn ok(data: Value) -> Answer {
    (200, "application/json", json!({"result": "ok", "data": data}).to_string())
}

fn job(name: &str, done: bool, progress: f64, error: Option<&str>) -> Value {
    let errors: Vec<Value> =
        error.map(|message| json!({"type": "JobException", "message": message})).into_iter().collect();
    json!({"name": name, "reference": null, "uuid": "x", "progress": progress, "stage": null, "done": done,
           "errors": errors, "child_jobs": [], "created": "2026-01-01T00:00:00+00:00"})
}

#[test]
fn a_job_is_polled_when_the_supervisor_cannot_stream_it() {
    let old = OldSupervisor::start(|method, path, count| match (method, path) {
        ("POST", "/supervisor/update") => ok(json!({"job_id": "good"})),
        ("POST", "/core/update") => ok(json!({"job_id": "bad"})),
        ("GET", "/jobs/good/follow" | "/jobs/bad/follow") => (404, "text/plain", "404: Not Found".to_owned()),
        ("GET", "/jobs/good") => ok(job("supervisor_update", count >= 2, if count >= 2 { 100.0 } else { 50.0 }, None)),
        ("GET", "/jobs/bad") => ok(job("home_assistant_core_update", true, 100.0, Some("disk full"))),
        _ => (404, "text/plain", "404: Not Found".to_owned()),
    });
    let output = old.ha(&["supervisor", "update"]);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    assert_eq!(stdout(&output), "Command completed successfully.\n");
    assert_eq!(old.count("GET /jobs/good/follow"), 1);
    assert_eq!(old.count("GET /jobs/good"), 3, "polled until done");

    let output = old.ha(&["core", "update"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert_eq!(stderr(&output), "Error: disk full\n");
}

#[test]
fn a_plain_text_refusal_is_shown() {
    let old = OldSupervisor::start(|_, path, _| match path {
        "/host/logs" => {
            (503, "text/plain; charset=utf-8", "No systemd-journal-gatewayd service available\n".to_owned())
        }
        _ => (404, "text/plain", String::new()),
    });
    let output = old.ha(&["host", "logs"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert_eq!(stderr(&output), "Error: No systemd-journal-gatewayd service available\n");
    let output = old.ha(&["host", "info"]);
    assert_eq!(stderr(&output), "Error: unexpected non-JSON response (status: 404)\n");
}

#[test]
fn banner_shows_where_home_assistant_is() {
    let daemon = Daemon::start();
    let out = ha_ok(&daemon, &["banner", "--no-wait"]);
    let (_, host) = daemon.get("/host/info");
    let hostname = host["data"]["hostname"].as_str().unwrap_or_default().to_owned();
    assert!(out.contains("This system:\n"), "{out}");
    assert!(out.contains(&format!("  Observer URL:             http://{hostname}.local:4357\n")), "{out}");
    assert!(out.lines().any(|line| line.starts_with("  Home Assistant URL:       http")), "{out}");
}
