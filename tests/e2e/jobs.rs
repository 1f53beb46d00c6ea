//! The `/jobs` group: ignored conditions (checked and persisted), and real jobs (`reload_updates`)
//! run in the background, failing, followed as server-sent events and deleted.
//!
//! A job is held running by making the version manifest a named pipe: the daemon's read blocks
//! until the test writes a manifest into it, so the test decides when the job ends.

use e2e::{eventually, manifest, Daemon};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::Command;

fn job(daemon: &Daemon, id: &str) -> Value {
    let (status, body) = daemon.get(&format!("/jobs/{id}"));
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn wait_done(daemon: &Daemon, id: &str) -> Value {
    eventually("the job to be done", || Some(job(daemon, id)).filter(|j| j["done"] == true))
}

fn start_reload_in_background(daemon: &Daemon) -> String {
    let (status, body) = daemon.post("/reload_updates", json!({"background": true}));
    assert_eq!(status, 200, "{body}");
    body["data"]["job_id"].as_str().expect("a job id").to_owned()
}

fn ignored(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/jobs/info");
    assert_eq!(status, 200, "{body}");
    body["data"]["ignore_conditions"].clone()
}

/// Replaces the stable manifest with a named pipe, once the version fetch every start makes has
/// ended (else that fetch would be the one to block on it).
fn manifest_pipe(daemon: &Daemon) -> PathBuf {
    eventually("the first version fetch to end", || {
        let (_, body) = daemon.get("/jobs/info");
        let jobs = body["data"]["jobs"].as_array().cloned().unwrap_or_default();
        jobs.iter().any(|j| j["name"] == "updater_fetch_data" && j["done"] == true).then_some(())
    });
    let path = daemon.data_dir().join("version-stable.json");
    let _ = std::fs::remove_file(&path);
    let status = Command::new("mkfifo").arg(&path).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo failed");
    path
}

/// Writes a valid manifest into the pipe once the daemon has it open for reading, which ends the
/// job blocked on it.
fn feed_pipe(pipe: &std::path::Path) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    /// `O_NONBLOCK` on Linux: opening a pipe for writing fails at once while nobody reads it.
    const O_NONBLOCK: i32 = 0o4000;
    let mut writer = eventually("the daemon to open the manifest pipe", || {
        std::fs::OpenOptions::new().write(true).custom_flags(O_NONBLOCK).open(pipe).ok()
    });
    writer.write_all(manifest("stable", "99.0.0").to_string().as_bytes()).expect("write into the pipe");
}

/// Reads the next `event: job` of a `/jobs/<id>/follow` stream; `None` when the stream ended.
fn next_job_event(stream: &mut impl BufRead) -> Option<Value> {
    let (mut name, mut data) = (String::new(), String::new());
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).expect("read the event stream") == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if name == "job" {
                return Some(serde_json::from_str(&data).expect("the event data is a job"));
            }
            (name, data) = (String::new(), String::new());
        } else if let Some(value) = line.strip_prefix("event:") {
            name = value.trim().to_owned();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.trim_start());
        }
    }
}

fn follow(daemon: &Daemon, id: &str) -> BufReader<reqwest::blocking::Response> {
    let response = daemon.request("GET", &format!("/jobs/{id}/follow"), Some(&daemon.cli_token()), None);
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    BufReader::new(response)
}

#[test]
fn info_lists_ignored_conditions_and_jobs() {
    let daemon = Daemon::start();
    let (status, body) = daemon.get("/jobs/info");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["ignore_conditions"], json!([]));
    assert!(body["data"]["jobs"].is_array(), "{body}");
}

#[test]
fn ignored_conditions_survive_a_kill9() {
    let mut daemon = Daemon::start();
    let (status, body) = daemon.post("/jobs/options", json!({"ignore_conditions": ["healthy"]}));
    assert_eq!(status, 200, "{body}");
    daemon.kill9_and_restart();
    assert_eq!(ignored(&daemon), json!(["healthy"]));
}

#[test]
fn an_unknown_condition_is_refused_and_changes_nothing() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/jobs/options", json!({"ignore_conditions": ["healthy"]}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.post("/jobs/options", json!({"ignore_conditions": ["free_space", "moon_phase"]}));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("moon_phase"), "{body}");
    assert_eq!(ignored(&daemon), json!(["healthy"]));
}

#[test]
fn reset_stops_ignoring_every_condition() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/jobs/options", json!({"ignore_conditions": ["healthy", "free_space"]}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.post("/jobs/reset", json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(ignored(&daemon), json!([]));
}

#[test]
fn a_background_job_answers_its_id_and_completes() {
    let daemon = Daemon::start();
    daemon.write_manifest("stable", &manifest("stable", "99.0.0"));
    let id = start_reload_in_background(&daemon);
    let done = wait_done(&daemon, &id);
    assert_eq!(done["name"], "reload_updates");
    assert_eq!(done["uuid"], id.as_str());
    assert_eq!(done["progress"], 100.0);
    assert_eq!(done["errors"], json!([]));
    let (_, body) = daemon.get("/jobs/info");
    assert!(body["data"]["jobs"].as_array().unwrap().iter().any(|j| j["uuid"] == id.as_str()), "{body}");
}

#[test]
fn a_failing_background_job_records_its_error() {
    let daemon = Daemon::start();
    let id = start_reload_in_background(&daemon);
    let done = wait_done(&daemon, &id);
    let message = done["errors"][0]["message"].as_str().expect("an error message");
    assert!(message.contains("version-stable.json"), "{done}");
}

#[test]
fn a_failing_job_answers_its_error_with_the_job_id() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/reload_updates", json!({}));
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().expect("a message");
    let id = body["job_id"].as_str().expect("a job_id");
    let failed = job(&daemon, id);
    assert_eq!(failed["done"], true);
    assert_eq!(failed["errors"][0]["message"], message);
}

#[test]
fn a_failing_call_names_its_own_job_in_the_error() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/reload_updates", json!({}));
    assert_eq!(status, 400, "{body}");
    let id = body["job_id"].as_str().expect("a job_id");
    assert_eq!(job(&daemon, id)["name"], "reload_updates", "the error names another job than the call's");
}

#[test]
fn following_a_finished_job_sends_it_once_and_ends() {
    let daemon = Daemon::start();
    daemon.write_manifest("stable", &manifest("stable", "99.0.0"));
    let id = start_reload_in_background(&daemon);
    wait_done(&daemon, &id);
    let mut stream = follow(&daemon, &id);
    let event = next_job_event(&mut stream).expect("one event");
    assert_eq!(event["uuid"], id.as_str());
    assert_eq!(event["done"], true);
    assert_eq!(next_job_event(&mut stream), None);
    let mut rest = String::new();
    stream.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "the stream goes on after the end");
}

#[test]
fn following_a_running_job_streams_it_to_the_end() {
    let daemon = Daemon::start();
    let pipe = manifest_pipe(&daemon);
    let id = start_reload_in_background(&daemon);
    let mut stream = follow(&daemon, &id);
    let first = next_job_event(&mut stream).expect("a first event");
    assert_eq!(first["name"], "reload_updates");
    assert_ne!(first["done"], true, "{first}");

    feed_pipe(&pipe);
    let mut last = first;
    while let Some(event) = next_job_event(&mut stream) {
        last = event;
    }
    assert_eq!(last["done"], true, "{last}");
    assert_eq!(last["progress"], 100.0, "{last}");
    assert_eq!(last["errors"], json!([]), "{last}");
}

#[test]
fn following_an_unknown_job_is_a_404() {
    let daemon = Daemon::start();
    let (status, body) = daemon.get("/jobs/0123456789abcdef/follow");
    assert_eq!(status, 404, "{body}");
}

#[test]
fn an_unknown_job_is_a_404() {
    let daemon = Daemon::start();
    let (status, body) = daemon.get("/jobs/0123456789abcdef");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["result"], "error");
}

#[test]
fn deleting_a_done_job_forgets_it() {
    let daemon = Daemon::start();
    let id = start_reload_in_background(&daemon);
    wait_done(&daemon, &id);
    let (status, body) = daemon.call("DELETE", &format!("/jobs/{id}"), None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.get(&format!("/jobs/{id}"));
    assert_eq!(status, 404, "{body}");
}

#[test]
fn deleting_an_unknown_job_is_a_404() {
    let daemon = Daemon::start();
    let (status, body) = daemon.call("DELETE", "/jobs/0123456789abcdef", None);
    assert_eq!(status, 404, "{body}");
}

#[test]
fn deleting_a_running_job_is_refused() {
    let daemon = Daemon::start();
    let pipe = manifest_pipe(&daemon);
    let id = start_reload_in_background(&daemon);
    let (status, body) = daemon.call("DELETE", &format!("/jobs/{id}"), None);
    assert_eq!(status, 400, "{body}");
    feed_pipe(&pipe);
    wait_done(&daemon, &id);
    assert_eq!(job(&daemon, &id)["uuid"], id.as_str(), "the job was deleted while running");
}
