//! The daemon's memory does not grow with use: after a warm-up, more rounds of the same mixed
//! traffic (reads across the API groups, option changes, a backup made and deleted) end where
//! they started. It fails on a leak only; the figures of the footprint live in
//! `cargo xtask bench` (`idle_rss`, `soak`).

use e2e::Daemon;
use serde_json::{json, Value};

/// Every GET of the checked-in OpenAPI document without a path parameter, but those that stream
/// (followed logs, Core's websocket) and wait for more than the round.
fn reads() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let document: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("openapi.json")).expect("JSON");
    let paths = document["paths"].as_object().expect("paths");
    let reads: Vec<String> = paths
        .iter()
        .filter(|(path, operations)| {
            operations.get("get").is_some()
                && !path.contains('{')
                && !path.ends_with("/follow")
                && !path.contains("websocket")
        })
        .map(|(path, _)| path.clone())
        .collect();
    assert!(reads.len() > 50, "the document's GET routes: {reads:?}");
    reads
}

/// Reads of each path per round.
const REPEATS: usize = 5;
const WARM_UP_ROUNDS: usize = 3;
const MEASURED_ROUNDS: usize = 8;
/// What the issue allows between the start and the end of a soak.
const GROWTH_KIB: u64 = 1024;

#[test]
fn memory_ends_where_it_started_after_rounds_of_mixed_traffic_and_backups() {
    let daemon = Daemon::start();
    daemon.wait_for_engine();
    std::fs::write(daemon.data_dir().join("share/notes.txt"), "x".repeat(256 << 10)).unwrap();
    let reads = reads();
    for _ in 0..WARM_UP_ROUNDS {
        round(&daemon, &reads);
    }
    let before = settled_anonymous_kib(&daemon);
    for _ in 0..MEASURED_ROUNDS {
        round(&daemon, &reads);
    }
    let after = settled_anonymous_kib(&daemon);
    eprintln!("anonymous resident: {before} KiB after the warm-up, {after} KiB after {MEASURED_ROUNDS} more rounds");
    let requests = MEASURED_ROUNDS * (reads.len() * REPEATS + 6);
    assert!(
        after <= before + GROWTH_KIB,
        "anonymous resident memory grew from {before} KiB to {after} KiB over {requests} requests and {MEASURED_ROUNDS} backups"
    );
}

/// One round: every read [`REPEATS`] times, two option changes put back, and a backup of the
/// `share` folder made, listed and deleted.
fn round(daemon: &Daemon, reads: &[String]) {
    let token = daemon.cli_token();
    for _ in 0..REPEATS {
        for path in reads {
            let response = daemon.request("GET", path, Some(&token), None);
            // Whatever the answer (some need a host service this daemon has not), it is read whole.
            response.bytes().unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    }
    for debug in [true, false] {
        let (status, body) = daemon.post("/supervisor/options", json!({"debug": debug}));
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = daemon.post("/backups/new/partial", json!({"name": "soak", "folders": ["share"]}));
    assert_eq!(status, 200, "{body}");
    let slug = body["data"]["slug"].as_str().expect("a slug").to_owned();
    let (status, body) = daemon.get(&format!("/backups/{slug}/info"));
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.call("DELETE", &format!("/backups/{slug}"), None);
    assert_eq!(status, 200, "{body}");
}

/// The smallest of a few samples of the daemon's anonymous resident memory (its heap, stacks and
/// arenas: where a leak lies) a moment apart, as the heap is trimmed when the last job ends, just
/// after the backup's answer. Not VmRSS: that counts the code too, which the daemon pages out once
/// no job has run for a while and which faults back in when run, neither of which is a leak.
fn settled_anonymous_kib(daemon: &Daemon) -> u64 {
    (0..5)
        .map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let status =
                std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).expect("the daemon's status");
            let line = status.lines().find_map(|l| l.strip_prefix("RssAnon:")).expect("RssAnon");
            line.trim().trim_end_matches("kB").trim().parse::<u64>().expect("RssAnon in kB")
        })
        .min()
        .expect("samples")
}
