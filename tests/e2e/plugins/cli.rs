//! The cli plugin (`plugins/cli`: the `ha` binary and the host's busybox): reached by the `ha`
//! inside it with its own token, which has the CLI's rights and is renewed with each container.

use super::{container, docker, life_cycle, Stage};
use crate::addons::engine_daemon;
use e2e::Daemon;
use serde_json::json;

/// Runs `ha <args>` inside the cli plugin's container, as a user on the machine does.
fn ha_inside(daemon: &Daemon, args: &[&str]) -> String {
    let name = container(daemon, "cli");
    let output = docker(&[&["exec", name.as_str(), "ha"][..], args].concat());
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "ha {args:?} in the cli plugin failed: {text}");
    text
}

#[test]
fn the_cli_plugin_is_installed_updated_watched_and_repaired() {
    let mut daemon = engine_daemon(&[("SUPERVISOR_PLUGINS_INSTALL", "cli")]);
    life_cycle(&mut daemon, "cli", |daemon, stage| match stage {
        Stage::Installed => {
            let (_, info) = daemon.get("/cli/info");
            assert_eq!(info["data"], json!({"version": "1", "version_latest": "1", "update_available": false}));
            // The `ha` inside reaches the supervisor with its token, as a user of the machine does.
            assert!(ha_inside(daemon, &["info"]).contains("supervisor: "), "ha info in the plugin");
            assert!(ha_inside(daemon, &["cli", "info"]).contains("update_available: false"));
            let token = super::token_of(daemon, "cli").unwrap();
            let response = daemon.request("GET", "/jobs/info", Some(&token), None);
            assert_eq!(response.status(), 200, "the cli plugin's token has the CLI's rights");
        }
        Stage::Updated => {
            let (_, info) = daemon.get("/cli/info");
            assert_eq!(info["data"], json!({"version": "2", "version_latest": "2", "update_available": false}));
        }
        Stage::Restarted | Stage::Repaired => {
            assert!(ha_inside(daemon, &["cli", "info"]).contains("version: \"2\""), "the new container's token");
        }
        Stage::SupervisorRestarted => {
            assert!(
                ha_inside(daemon, &["cli", "info"]).contains("version: \"2\""),
                "the plugin's token after a restart"
            );
            let output = daemon.ha(&["cli", "info"], &[]);
            assert!(String::from_utf8_lossy(&output.stdout).contains("version: \"2\""), "{output:?}");
        }
    });
}
