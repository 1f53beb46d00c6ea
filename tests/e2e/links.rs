//! Links an add-on plants in folders it can write never make the daemon (root) write or mount
//! anything outside them. The test runs on the host, so it plants the links directly where the
//! container would: in the add-on's data folder (its `/data`) and beside its config folder (what
//! an add-on mapping `all_addon_configs:rw` sees).

use crate::addons::{addon_data, container_name, engine_daemon, inspect_container, install, uninstall};
use e2e::fixtures::FixtureRepository;
use serde_json::{json, Value};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// A folder outside the data directory with a file `canary` in it, whose content must never
/// change.
fn outside_canary() -> (tempfile::TempDir, PathBuf) {
    let outside = tempfile::tempdir().expect("a folder outside the data directory");
    let canary = outside.path().join("canary");
    std::fs::write(&canary, "canary\n").unwrap();
    (outside, canary)
}

fn assert_canary(canary: &Path) {
    assert_eq!(std::fs::read_to_string(canary).expect("the canary"), "canary\n", "written through a link");
}

#[test]
fn options_are_written_beside_planted_links_never_through_them() {
    let repository = FixtureRepository::copy();
    let daemon = engine_daemon(&[repository.env()]);
    let slug = "core_build_local";
    install(&daemon, slug);

    let (_outside, canary) = outside_canary();
    let data = addon_data(&daemon, slug);
    // The temporary names the daemon used to write through (`.options.json.tmp-<pid>`), some
    // neighbours, and the target itself.
    let pid = daemon.pid();
    let mut planted: Vec<String> =
        (pid.saturating_sub(2)..=pid + 2).map(|p| format!(".options.json.tmp-{p}")).collect();
    planted.extend([".options.json.tmp".to_owned(), "options.json.tmp".to_owned()]);
    for name in &planted {
        symlink(&canary, data.join(name)).unwrap();
    }
    symlink(&canary, data.join("options.json")).unwrap();

    let (status, body) = daemon.post(&format!("/addons/{slug}/options"), json!({"options": {"message": "pwned"}}));
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon.post(&format!("/addons/{slug}/start"), json!({}));
    assert_eq!(status, 200, "{body}");

    assert_canary(&canary);
    let options = data.join("options.json");
    assert!(std::fs::symlink_metadata(&options).unwrap().is_file(), "the planted link was not replaced");
    let written: Value = serde_json::from_slice(&std::fs::read(&options).unwrap()).unwrap();
    assert_eq!(written, json!({"message": "pwned"}));
    for name in &planted {
        assert!(std::fs::symlink_metadata(data.join(name)).unwrap().is_symlink(), "{name}");
    }
    uninstall(&daemon, slug);
    assert_canary(&canary);
}

#[test]
fn a_link_in_place_of_the_config_folder_is_not_mounted() {
    let repository = FixtureRepository::copy();
    repository.set_config("build_local", "map", r#"["addon_config:rw"]"#);
    let daemon = engine_daemon(&[repository.env()]);
    let slug = "core_build_local";
    install(&daemon, slug);

    let (outside, canary) = outside_canary();
    let addon_configs = daemon.data_dir().join("addon_configs");
    std::fs::create_dir_all(&addon_configs).unwrap();
    symlink(outside.path(), addon_configs.join(slug)).unwrap();

    let (status, body) = daemon.post(&format!("/addons/{slug}/start"), json!({}));
    assert_ne!(status, 200, "started with a link as its config folder: {body}");
    assert!(inspect_container(&container_name(&daemon, slug)).is_none(), "a container was made");
    assert_canary(&canary);
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1, "something was created outside");
    uninstall(&daemon, slug);
}
