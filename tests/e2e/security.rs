//! The `/security` group: the security options, their defaults, checks and persistence.

use e2e::Daemon;
use serde_json::{json, Value};

fn security_info(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/security/info");
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

#[test]
fn info_shows_the_defaults() {
    let daemon = Daemon::start();
    assert_eq!(security_info(&daemon), json!({"content_trust": true, "pwned": true, "force_security": false}));
}

#[test]
fn options_round_trip_and_survive_a_kill9() {
    let mut daemon = Daemon::start();
    let options = json!({"content_trust": false, "pwned": false, "force_security": true});
    let (status, body) = daemon.post("/security/options", options.clone());
    assert_eq!(status, 200, "{body}");
    assert_eq!(security_info(&daemon), options);
    daemon.kill9_and_restart();
    assert_eq!(security_info(&daemon), options);
}

#[test]
fn options_change_only_what_is_given() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/security/options", json!({"force_security": true}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(security_info(&daemon), json!({"content_trust": true, "pwned": true, "force_security": true}));
}

#[test]
fn invalid_options_are_refused_and_change_nothing() {
    let daemon = Daemon::start();
    for invalid in [json!({"pwned": false, "force_security": "yes"}), json!({"pwned": false, "bogus": true})] {
        let (status, body) = daemon.post("/security/options", invalid.clone());
        assert_eq!(status, 400, "{invalid}: {body}");
    }
    assert_eq!(security_info(&daemon)["pwned"], true);
}

/// Whether the daemon has not closed `stream` yet (nothing to read and no end of file).
fn still_open(stream: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    stream.set_nonblocking(true).expect("non-blocking");
    let open = matches!(stream.read(&mut [0; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    stream.set_nonblocking(false).expect("blocking");
    open
}

#[test]
fn ping_answers_while_thousands_of_idle_connections_are_held() {
    let daemon = Daemon::start();
    daemon.wait_ready();
    // More than one worker's old connection limit, none of them ever sending a request.
    let mut idle: Vec<_> =
        (0..2_200).map(|_| std::net::TcpStream::connect(daemon.address()).expect("connect")).collect();
    let response = daemon.client().get(daemon.url("/supervisor/ping")).send().expect("ping");
    assert_eq!(response.status(), 200);
    // It was answered while the idle connections were still held, not once they had gone.
    let held = idle.iter_mut().take(100).map(still_open).filter(|open| *open).count();
    assert_eq!(held, 100, "the ping was only answered after idle connections were dropped");
    // And idle connections without a request do not stay for long.
    e2e::eventually("the daemon to close header-less connections", || {
        idle.iter_mut().take(100).all(|stream| !still_open(stream)).then_some(())
    });
    assert_eq!(daemon.client().get(daemon.url("/supervisor/ping")).send().expect("ping").status(), 200);
}

#[test]
fn the_integrity_check_is_gone_as_in_the_real_supervisor() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/security/integrity", json!({}));
    assert_eq!(status, 410, "{body}");
    assert_eq!(
        (body["result"].clone(), body["message"].clone()),
        (json!("error"), json!("Integrity check feature has been removed."))
    );
    let output = daemon.ha(&["security", "integrity"], &[]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Integrity check feature has been removed."),
        "{output:?}"
    );
}
