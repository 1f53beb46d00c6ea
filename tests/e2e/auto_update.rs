//! The add-on auto-update: on its (shortened) schedule, an installed add-on whose user turned
//! `auto_update` on and whose repository offers a newer version is updated through Core (the
//! Core fixture receives `hassio/update/addon` with a backup and asks the supervisor to update
//! it); one with `auto_update` off, and one whose update would cross a `breaking_versions`
//! entry, are left alone; so is one whose new version the store saw less than a day ago, and one
//! whose options the new version's schema refuses.

use crate::addons::install;
use crate::homeassistant::{daemon_with_core, wait_for};
use e2e::core_fixture::fixture_state;
use e2e::fixtures::FixtureRepository;
use e2e::registry::LocalRegistry;
use serde_json::{json, Value};
use std::time::Duration;

const UPDATED: &str = "core_build_local";
const NOT_ASKED: &str = "core_stdin_reader";
const BREAKING: &str = "core_crasher";

fn version(daemon: &e2e::Daemon, slug: &str) -> Value {
    let (status, body) = daemon.get(&format!("/addons/{slug}/info"));
    assert_eq!(status, 200, "{body}");
    body["data"]["version"].clone()
}

#[test]
fn auto_update_goes_through_core_and_respects_the_user_and_breaking_versions() {
    let repository = FixtureRepository::copy();
    // As the real Supervisor, the installed version's config names the breaking versions.
    repository.set_config("crasher", "breaking_versions", "[\"2.0.0\"]");
    let registry = LocalRegistry::start();
    let knobs = [
        repository.env(),
        ("SUPERVISOR_ADDON_AUTO_UPDATE_INTERVAL", "2"),
        ("SUPERVISOR_ADDON_AUTO_UPDATE_DELAY", "0"),
        ("SUPERVISOR_LOG_LEVEL", "debug"),
    ];
    let (daemon, port) = daemon_with_core(&registry, &knobs, "2025.1.0");
    // The test machine reaches no internet; the task's other conditions hold.
    let (status, body) = daemon.post("/jobs/options", json!({"ignore_conditions": ["internet_host"]}));
    assert_eq!(status, 200, "{body}");
    for slug in [UPDATED, NOT_ASKED, BREAKING] {
        install(&daemon, slug);
    }
    for slug in [UPDATED, BREAKING] {
        let (status, body) = daemon.post(&format!("/addons/{slug}/options"), json!({"auto_update": true}));
        assert_eq!(status, 200, "{body}");
    }

    repository.set_config("build_local", "version", "1.0.1");
    repository.set_config("stdin_reader", "version", "1.0.1");
    repository.set_config("crasher", "version", "2.0.0");
    let (status, body) = daemon.post("/store/reload", json!({}));
    assert_eq!(status, 200, "{body}");

    let updates = wait_for(&daemon, "Core to be asked to update an add-on", Duration::from_secs(120), || {
        let updates = fixture_state(port)?["addon_updates"].clone();
        (!updates.as_array()?.is_empty()).then_some(updates)
    });
    assert_eq!(updates, json!([{"addon": UPDATED, "backup": true}]));
    // Core asked the supervisor in turn, which made the backup and updated the add-on.
    wait_for(&daemon, "the add-on to be updated", Duration::from_secs(120), || {
        (version(&daemon, UPDATED) == "1.0.1").then_some(())
    });
    let (_, backups) = daemon.get("/backups");
    let backed_up = backups["data"]["backups"]
        .as_array()
        .expect("a list")
        .iter()
        .any(|b| b["content"]["addons"].as_array().is_some_and(|addons| addons.iter().any(|a| a == UPDATED)));
    assert!(backed_up, "no backup of {UPDATED}: {backups}");

    // Two rounds that saw the breaking version: the first of them went past every add-on.
    let skipped = "Not updating app core_crasher from 1.0.0 to 2.0.0 as that would cross a known breaking version";
    wait_for(&daemon, "two rounds past the breaking version", Duration::from_secs(60), || {
        (daemon.log_text().matches(skipped).count() >= 2).then_some(())
    });
    assert_eq!(fixture_state(port).expect("the fixture")["addon_updates"], json!([{"addon": UPDATED, "backup": true}]));
    assert_eq!(version(&daemon, NOT_ASKED), "1.0.0");
    assert_eq!(version(&daemon, BREAKING), "1.0.0");
}

/// A daemon with the round every second and `delay` seconds of wait for new versions, with
/// `core_build_local` installed with `auto_update` on and offered at 1.0.1 with `changes` to its
/// config; answers once `awaited` was logged twice (two rounds went past it).
fn round_past(repository: &FixtureRepository, delay: &str, changes: &[(&str, &str)], awaited: &str) -> e2e::Daemon {
    let knobs = [
        repository.env(),
        ("SUPERVISOR_ADDON_AUTO_UPDATE_INTERVAL", "1"),
        ("SUPERVISOR_ADDON_AUTO_UPDATE_DELAY", delay),
        ("SUPERVISOR_LOG_LEVEL", "debug"),
    ];
    let daemon = crate::addons::engine_daemon(&knobs);
    let (status, body) = daemon.post("/jobs/options", json!({"ignore_conditions": ["internet_host"]}));
    assert_eq!(status, 200, "{body}");
    install(&daemon, UPDATED);
    let (status, body) = daemon.post(&format!("/addons/{UPDATED}/options"), json!({"auto_update": true}));
    assert_eq!(status, 200, "{body}");
    repository.set_config("build_local", "version", "1.0.1");
    for (key, value) in changes {
        repository.set_config("build_local", key, value);
    }
    let (status, body) = daemon.post("/store/reload", json!({}));
    assert_eq!(status, 200, "{body}");
    wait_for(&daemon, awaited, Duration::from_secs(60), || {
        (daemon.log_text().matches(awaited).count() >= 2).then_some(())
    });
    daemon
}

#[test]
fn a_version_the_store_saw_less_than_a_day_ago_waits() {
    let repository = FixtureRepository::copy();
    let awaited = "Not updating app core_build_local from 1.0.0 to 1.0.1 as the latest version is less than a day old";
    let daemon = round_past(&repository, "86400", &[], awaited);
    assert_eq!(version(&daemon, UPDATED), "1.0.0");
}

#[test]
fn options_the_new_schema_refuses_keep_the_addon_where_it_is() {
    let repository = FixtureRepository::copy();
    // The new version wants an option the user never set and that has no default.
    let awaited = "App core_build_local will be ignored, schema tests failed";
    let daemon = round_past(&repository, "0", &[("schema", "{message: str, token: str}")], awaited);
    assert_eq!(version(&daemon, UPDATED), "1.0.0");
}
