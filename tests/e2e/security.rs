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
