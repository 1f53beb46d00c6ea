//! The real `ha` CLI against a real daemon: YAML and raw JSON output, options, errors with the
//! server's message and a failing exit status, following a job, and shell completion.

use e2e::{manifest, Daemon};
use serde_json::Value;
use std::process::Output;

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
    let err = stderr(&output);
    let progress: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!progress.is_empty(), "no progress lines");
    for line in &progress {
        let (name, rest) = line.split_once(": ").unwrap_or_else(|| panic!("not a progress line: {line:?}"));
        let (stage, percent) = rest.rsplit_once(' ').unwrap_or_else(|| panic!("not a progress line: {line:?}"));
        assert_eq!(name, "refresh_updates", "{line}");
        assert!(!stage.is_empty(), "{line}");
        let number = percent.strip_suffix('%').unwrap_or_else(|| panic!("no percent in {line:?}"));
        assert!(number.parse::<u8>().is_ok_and(|n| n <= 100), "{line}");
    }
    assert!(progress.last().unwrap().ends_with(" 100%"), "{err}");
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
