//! The supervisor's own log over `/supervisor/logs`: plain text, line selection by `lines` and by
//! `Range`, following new lines as they are written, and the logs of earlier starts.

use e2e::{eventually, Daemon};
use std::io::{BufRead, BufReader};

/// Waits until the daemon logged what it logs in the background after a start (the first
/// version fetch, the Docker connection), so that no such line lands between a test's own.
fn settle(daemon: &Daemon) {
    eventually("the first version fetch to be logged", || {
        text_ok(daemon, "/supervisor/logs/latest").contains("version information").then_some(())
    });
    eventually("the Docker connection", || (daemon.get("/docker/info").1["data"]["version"] != "0.0.0").then_some(()));
    // Both ask the resolution center to evaluate the system again, which it logs: wait for the
    // log to be quiet for half a second.
    let mut before = text_ok(daemon, "/supervisor/logs/latest");
    eventually("the log to settle", || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let now = text_ok(daemon, "/supervisor/logs/latest");
        let quiet = now == before;
        before = now;
        quiet.then_some(())
    });
}

fn text_ok(daemon: &Daemon, path: &str) -> String {
    let (status, text) = daemon.text(path);
    assert_eq!(status, 200, "{path}: {text}");
    text
}

#[test]
fn logs_are_plain_text_of_this_start() {
    let daemon = Daemon::start();
    let response = daemon.request("GET", "/supervisor/logs", Some(&daemon.cli_token()), None);
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().unwrap();
    assert!(text.contains("supervisor listening"), "{text}");
}

#[test]
fn lines_limits_the_answer_to_the_last_lines() {
    let daemon = Daemon::start();
    settle(&daemon);
    for i in 0..5 {
        daemon.log_a_warning(&format!("e2e-line-{i}"));
    }
    let text = text_ok(&daemon, "/supervisor/logs?lines=2");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("e2e-line-3") && lines[1].contains("e2e-line-4"), "{text}");
}

#[test]
fn a_range_header_selects_entries_from_the_end() {
    let daemon = Daemon::start();
    settle(&daemon);
    for i in 0..5 {
        daemon.log_a_warning(&format!("e2e-range-{i}"));
    }
    // `entries=:-(N-1):N` is how the real Supervisor asks for the last N entries.
    let response = daemon
        .client()
        .get(daemon.url("/supervisor/logs"))
        .bearer_auth(daemon.cli_token())
        .header("Range", "entries=:-2:3")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (line, i) in lines.iter().zip(2..) {
        assert!(line.contains(&format!("e2e-range-{i}")), "{text}");
    }
}

#[test]
fn a_malformed_range_header_is_a_400() {
    let daemon = Daemon::start();
    let response = daemon
        .client()
        .get(daemon.url("/supervisor/logs"))
        .bearer_auth(daemon.cli_token())
        .header("Range", "bytes=0-100")
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[test]
fn follow_delivers_a_line_logged_while_following() {
    let daemon = Daemon::start();
    let response = daemon.request("GET", "/supervisor/logs/follow", Some(&daemon.cli_token()), None);
    assert_eq!(response.status(), 200);
    daemon.log_a_warning("e2e-followed-warning");
    let mut reader = BufReader::new(response);
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line).expect("read the followed log");
        assert!(read > 0, "the log stream ended before the warning arrived");
        if line.contains("e2e-followed-warning") {
            break;
        }
    }
    assert!(line.contains("WARN") && line.contains("No API token provided"), "{line}");
}

#[test]
fn latest_is_the_whole_log_of_this_start() {
    let daemon = Daemon::start();
    for i in 0..120 {
        daemon.log_a_warning(&format!("e2e-latest-{i}"));
    }
    let text = text_ok(&daemon, "/supervisor/logs/latest");
    assert!(text.contains("supervisor listening"), "the first lines are missing");
    assert!(text.contains("e2e-latest-119"), "the last line is missing");
}

#[test]
fn boot_zero_is_this_start() {
    let daemon = Daemon::start();
    daemon.log_a_warning("e2e-boot-zero");
    let text = text_ok(&daemon, "/supervisor/logs/boots/0");
    assert!(text.contains("e2e-boot-zero"), "{text}");
}

#[test]
fn there_is_no_previous_boot_on_a_first_start() {
    let daemon = Daemon::start();
    let (status, body) = daemon.get("/supervisor/logs/boots/-1");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["result"], "error");
}

#[test]
fn boot_minus_one_is_the_previous_start_after_a_restart() {
    let mut daemon = Daemon::start();
    daemon.log_a_warning("e2e-first-start");
    daemon.kill9_and_restart();
    daemon.log_a_warning("e2e-second-start");
    let previous = text_ok(&daemon, "/supervisor/logs/boots/-1");
    assert!(previous.contains("e2e-first-start"), "{previous}");
    assert!(!previous.contains("e2e-second-start"), "{previous}");
    let current = text_ok(&daemon, "/supervisor/logs/boots/0");
    assert!(current.contains("e2e-second-start"), "{current}");
    assert!(!current.contains("e2e-first-start"), "{current}");
}
