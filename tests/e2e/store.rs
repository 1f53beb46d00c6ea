//! The `/store` group: the catalog the daemon reads from its `core` repository (`store-fixtures/`
//! or a private copy of it; without one, the real built-ins) and from git repositories added by URL (served from a temporary
//! folder over `file://`), the add-on files it serves, availability on this machine, reloads
//! that pull new commits, and broken or hostile repositories, which are reported and skipped
//! without hiding the rest.
//!
//! Only one test builds an image (an installed add-on pins its repository); everything else
//! reads files.

use crate::addons::{assert_nothing_left, engine_daemon, install, local_image, uninstall};
use e2e::fixtures::{store_fixtures, FixtureRepository, GitRepository};
use e2e::Daemon;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

/// The add-ons of `store-fixtures/` (every folder with a `config.yaml`), as full slugs.
fn core_addons() -> BTreeSet<String> {
    std::fs::read_dir(store_fixtures())
        .expect("store-fixtures")
        .flatten()
        .filter(|entry| entry.path().join("config.yaml").is_file())
        .map(|entry| format!("core_{}", entry.file_name().to_string_lossy()))
        .collect()
}

const ITEM_KEYS: [&str; 18] = [
    "advanced",
    "arch",
    "available",
    "build",
    "description",
    "documentation",
    "homeassistant",
    "icon",
    "installed",
    "logo",
    "name",
    "repository",
    "slug",
    "stage",
    "update_available",
    "url",
    "version_latest",
    "version",
];

const DETAIL_KEYS: [&str; 14] = [
    "apparmor",
    "auth_api",
    "detached",
    "docker_api",
    "full_access",
    "hassio_api",
    "hassio_role",
    "homeassistant_api",
    "host_network",
    "host_pid",
    "ingress",
    "long_description",
    "rating",
    "signed",
];

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().expect("an object").keys().cloned().collect()
}

fn store_addons(daemon: &Daemon) -> Vec<Value> {
    let (status, body) = daemon.get("/store/addons");
    assert_eq!(status, 200, "{body}");
    body["data"]["addons"].as_array().expect("a list").clone()
}

fn store_slugs(daemon: &Daemon) -> BTreeSet<String> {
    store_addons(daemon).iter().map(|a| a["slug"].as_str().unwrap().to_owned()).collect()
}

pub(crate) fn store_addon(daemon: &Daemon, slug: &str) -> Value {
    let (status, body) = daemon.get(&format!("/store/addons/{slug}"));
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn repositories(daemon: &Daemon) -> Vec<Value> {
    let (status, body) = daemon.get("/store/repositories");
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().expect("a list").clone()
}

fn repository(daemon: &Daemon, slug: &str) -> Value {
    let (status, body) = daemon.get(&format!("/store/repositories/{slug}"));
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn repository_errors(daemon: &Daemon, slug: &str) -> Vec<String> {
    repository(daemon, slug)["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn add_repository(daemon: &Daemon, url: &str) {
    let (status, body) = daemon.post("/store/repositories", json!({ "repository": url }));
    assert_eq!(status, 200, "{body}");
}

/// The slug of a git repository: the first 8 hex digits of the SHA-1 of its lower-cased source.
pub(crate) fn repository_hash(source: &str) -> String {
    let mut child = Command::new("sha1sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("run sha1sum");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(source.to_lowercase().as_bytes()).unwrap();
    let output = child.wait_with_output().expect("sha1sum");
    String::from_utf8(output.stdout).unwrap()[..8].to_owned()
}

fn git_folders(daemon: &Daemon) -> Vec<String> {
    std::fs::read_dir(daemon.data_dir().join("addons/git"))
        .map(|dir| dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn the_store_lists_the_core_fixtures_with_their_keys() {
    let daemon = Daemon::start();
    let (status, body) = daemon.get("/store");
    assert_eq!(status, 200, "{body}");
    let addons = body["data"]["addons"].as_array().expect("addons");
    let slugs: BTreeSet<String> = addons.iter().map(|a| a["slug"].as_str().unwrap().to_owned()).collect();
    assert_eq!(slugs, core_addons(), "{body}");
    for fixture in ["build_local", "prebuilt", "schema_all", "ingress", "api_client", "crasher", "stdin_reader"] {
        assert!(slugs.contains(&format!("core_{fixture}")), "{fixture} is missing");
    }
    let item_keys: BTreeSet<String> = ITEM_KEYS.iter().map(|k| k.to_string()).collect();
    for addon in addons {
        assert_eq!(keys(addon), item_keys, "{addon}");
        assert_eq!(addon["repository"], "core");
        assert_eq!(addon["installed"], false);
        assert_eq!(addon["available"], true, "{addon}");
    }
    let build_local = addons.iter().find(|a| a["slug"] == "core_build_local").unwrap();
    assert_eq!(
        build_local,
        &json!({
            "advanced": false, "arch": ["amd64", "aarch64"], "available": true, "build": true,
            "description": "Built locally from its Dockerfile; starts at boot", "documentation": true,
            "homeassistant": null, "icon": true, "installed": false, "logo": true, "name": "Build local",
            "repository": "core", "slug": "core_build_local", "stage": "stable", "update_available": false,
            "url": "https://example.com/supervisor-store-fixtures/build_local", "version_latest": "1.0.0",
            "version": null
        })
    );
    let prebuilt = addons.iter().find(|a| a["slug"] == "core_prebuilt").unwrap();
    assert_eq!(prebuilt["build"], false);

    let repositories = body["data"]["repositories"].as_array().expect("repositories");
    let repository_keys: BTreeSet<String> =
        ["slug", "name", "source", "url", "maintainer"].iter().map(|k| k.to_string()).collect();
    for repository in repositories {
        assert_eq!(keys(repository), repository_keys, "{repository}");
    }
    let listed: BTreeSet<&str> = repositories.iter().map(|r| r["slug"].as_str().unwrap()).collect();
    assert_eq!(listed, BTreeSet::from(["core", "local"]));
    assert_eq!(store_addons(&daemon), *addons, "/store/addons differs from /store");
}

#[test]
fn a_store_addon_has_its_details() {
    let daemon = Daemon::start();
    let details = store_addon(&daemon, "core_api_client");
    let expected: BTreeSet<String> = ITEM_KEYS.iter().chain(&DETAIL_KEYS).map(|k| k.to_string()).collect();
    assert_eq!(keys(&details), expected, "{details}");
    let readme = std::fs::read_to_string(store_fixtures().join("api_client/README.md")).unwrap();
    assert_eq!(details["long_description"], readme);
    assert_eq!(details["hassio_api"], true);
    assert_eq!(details["hassio_role"], "default");
    assert_eq!(details["apparmor"], "default");
    assert_eq!((&details["detached"], &details["signed"]), (&json!(false), &json!(false)));
    assert_eq!(details["rating"], 5, "the real rating: no ingress, no auth API, nothing risky");
    assert_eq!(details["version"], Value::Null);

    let (status, body) = daemon.get("/store/addons/core_api_client/1.0.0");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], details, "the version path differs");

    // Not installed: the legacy /addons/<slug>/info answers with the store's facts.
    let (status, body) = daemon.get("/addons/core_api_client/info");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["state"], "unknown");
    assert_eq!(body["data"]["version"], Value::Null);

    let (status, body) = daemon.get("/store/addons/core_nope");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error_key"], "store_addon_not_found_error");
    assert_eq!(body["message"], "App core_nope does not exist in the store");
}

#[test]
fn availability_says_why_an_addon_does_not_fit_this_machine() {
    let repository = FixtureRepository::copy();
    repository.set_config("crasher", "arch", "[armv7]");
    repository.set_config("api_client", "machine", "[raspberrypi5-64]");
    let daemon = Daemon::start_with(&[repository.env()]);

    let (status, body) = daemon.get("/store/addons/core_build_local/availability");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"result": "ok", "data": {}}));

    let (status, body) = daemon.get("/store/addons/core_crasher/availability");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_key"], "addon_not_supported_architecture_error");
    assert_eq!(body["message"], "App core_crasher not supported on this platform, supported architectures: armv7");
    assert_eq!(body["extra_fields"], json!({"slug": "core_crasher", "architectures": "armv7"}));

    let (status, body) = daemon.get("/store/addons/core_api_client/availability");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_key"], "addon_not_supported_machine_type_error");
    assert_eq!(
        body["message"],
        "App core_api_client not supported on this machine, supported machine types: raspberrypi5-64"
    );

    for addon in store_addons(&daemon) {
        let fits = !["core_crasher", "core_api_client"].contains(&addon["slug"].as_str().unwrap());
        assert_eq!(addon["available"], fits, "{addon}");
    }
    // Install refuses it with the same answer, before anything happens.
    let (status, body) = daemon.post("/store/addons/core_crasher/install", json!({}));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_key"], "addon_not_supported_architecture_error");
    let (_, list) = daemon.get("/addons");
    assert_eq!(list["data"]["addons"], json!([]));
}

#[test]
fn icon_logo_changelog_and_documentation_are_served() {
    let repository = FixtureRepository::copy();
    std::fs::remove_file(repository.addon("crasher").join("icon.png")).unwrap();
    std::fs::remove_file(repository.addon("crasher").join("CHANGELOG.md")).unwrap();
    let daemon = Daemon::start_with(&[repository.env()]);
    let token = daemon.cli_token();
    let get = |path: &str| {
        let response = daemon.request("GET", path, Some(&token), None);
        let status = response.status().as_u16();
        let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (status, kind, response.bytes().unwrap().to_vec())
    };
    let file = |name: &str| std::fs::read(repository.addon("build_local").join(name)).unwrap();

    for prefix in ["/store/addons/core_build_local", "/addons/core_build_local"] {
        for (path, name, kind) in [
            ("icon", "icon.png", "image/png"),
            ("logo", "logo.png", "image/png"),
            ("changelog", "CHANGELOG.md", "text/plain"),
            ("documentation", "DOCS.md", "text/plain"),
        ] {
            let (status, content_type, body) = get(&format!("{prefix}/{path}"));
            assert_eq!(status, 200, "{prefix}/{path}");
            assert!(content_type.starts_with(kind), "{prefix}/{path}: {content_type}");
            assert_eq!(body, file(name), "{prefix}/{path}");
        }
    }

    let (status, content_type, body) = get("/store/addons/core_crasher/icon");
    assert_eq!((status, String::from_utf8(body).unwrap()), (400, "No icon found for app core_crasher!".to_owned()));
    assert_eq!(content_type, "application/octet-stream", "as the real Supervisor types the errors of images");
    let (status, _, body) = get("/store/addons/core_crasher/changelog");
    assert_eq!(
        (status, String::from_utf8(body).unwrap()),
        (200, "No changelog found for app core_crasher!".to_owned())
    );
    let (status, _, _) = get("/store/addons/core_nope/logo");
    assert_eq!(status, 404);
    let crasher = store_addon(&daemon, "core_crasher");
    assert_eq!((&crasher["icon"], &crasher["logo"]), (&json!(false), &json!(true)));
}

#[test]
fn a_git_repository_added_by_url_lists_its_addon() {
    let git = GitRepository::new("E2E repository");
    let daemon = Daemon::start();
    let url = git.url();
    add_repository(&daemon, &url);
    let hash = repository_hash(&url);

    let listed = repositories(&daemon);
    let added = listed.iter().find(|r| r["source"] == url.as_str()).unwrap_or_else(|| panic!("{listed:?}"));
    assert_eq!(added, &json!({"slug": hash, "name": "E2E repository", "source": url, "url": url, "maintainer": "e2e"}));
    assert_eq!(repository_errors(&daemon, &hash), Vec::<String>::new());
    let slug = format!("{hash}_stdin_reader");
    assert!(store_slugs(&daemon).contains(&slug), "{slug} is not in the store");
    let details = store_addon(&daemon, &slug);
    assert_eq!(details["repository"], hash.as_str());
    assert_eq!(details["name"], "Stdin reader");
    assert_eq!(git_folders(&daemon), vec![hash.clone()]);

    let (status, body) = daemon.post("/store/repositories", json!({ "repository": url }));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], format!("Can't add {url}, already in the store"));
}

#[test]
fn a_reload_pulls_the_new_commit() {
    let git = GitRepository::new("E2E repository");
    let daemon = Daemon::start();
    add_repository(&daemon, &git.url());
    let slug = format!("{}_stdin_reader", repository_hash(&git.url()));
    assert_eq!(store_addon(&daemon, &slug)["version_latest"], "1.0.0");

    git.set_config("stdin_reader", "version", "1.0.1");
    git.set_config("stdin_reader", "description", "A newer commit");
    git.commit("bump");
    let (status, body) = daemon.post("/store/reload", json!({}));
    assert_eq!(status, 200, "{body}");
    let details = store_addon(&daemon, &slug);
    assert_eq!((&details["version_latest"], &details["description"]), (&json!("1.0.1"), &json!("A newer commit")));
}

#[test]
fn a_broken_commit_is_reported_at_reload_and_the_rest_keeps_working() {
    let git = GitRepository::new("E2E repository");
    let daemon = Daemon::start();
    add_repository(&daemon, &git.url());
    let hash = repository_hash(&git.url());
    git.write("second/config.yaml", &valid_config("second", ""));
    git.commit("a second add-on");
    let (status, body) = daemon.post("/store/reload", json!({}));
    assert_eq!(status, 200, "{body}");
    assert!(store_slugs(&daemon).contains(&format!("{hash}_second")));

    git.write("stdin_reader/config.yaml", "name: Stdin reader\nversion: [1.0\n");
    git.commit("broken YAML");
    let (status, body) = daemon.post("/store/reload", json!({}));
    assert_eq!(status, 200, "{body}");
    let slugs = store_slugs(&daemon);
    assert!(!slugs.contains(&format!("{hash}_stdin_reader")), "the broken add-on is listed");
    assert!(slugs.contains(&format!("{hash}_second")), "the good add-on of the repository is gone");
    assert!(core_addons().is_subset(&slugs), "the core add-ons are gone");
    let errors = repository_errors(&daemon, &hash);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("stdin_reader"), "{errors:?}");
}

#[test]
fn a_repository_is_removed_only_while_none_of_its_addons_is_installed() {
    let git = GitRepository::new("E2E repository");
    let daemon = engine_daemon(&[]);
    let url = git.url();
    add_repository(&daemon, &url);
    let hash = repository_hash(&url);
    let slug = format!("{hash}_stdin_reader");
    install(&daemon, &slug);

    let path = format!("/store/repositories/{hash}");
    let (status, body) = daemon.call("DELETE", &path, None);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], format!("Can't remove '{url}'. It's used by installed add-ons"));
    assert!(repositories(&daemon).iter().any(|r| r["slug"] == hash.as_str()), "removed anyway");
    assert!(store_slugs(&daemon).contains(&slug));

    uninstall(&daemon, &slug);
    assert_nothing_left(&daemon, &slug, &local_image(&daemon, &hash, "stdin_reader", "1.0.0"));
    let (status, body) = daemon.call("DELETE", &path, None);
    assert_eq!(status, 200, "{body}");
    assert!(!repositories(&daemon).iter().any(|r| r["slug"] == hash.as_str()), "still listed");
    assert!(!store_slugs(&daemon).contains(&slug), "its add-on is still listed");
    assert_eq!(git_folders(&daemon), Vec::<String>::new(), "the clone is left");
    let (status, body) = daemon.call("DELETE", &path, None);
    assert_eq!(status, 404, "{body}");

    let (status, body) = daemon.call("DELETE", "/store/repositories/core", None);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], "Can't remove built-in repositories!");
}

#[test]
fn a_git_repository_without_a_valid_repository_file_is_refused_and_leaves_nothing() {
    let git = GitRepository::new("E2E repository");
    git.write("repository.yaml", "maintainer: nobody\n");
    git.commit("no name");
    let daemon = Daemon::start();
    let url = git.url();
    let (status, body) = daemon.post("/store/repositories", json!({ "repository": url }));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], format!("{url} is not a valid add-on repository"));
    assert!(!repositories(&daemon).iter().any(|r| r["source"] == url.as_str()));
    assert_eq!(git_folders(&daemon), Vec::<String>::new(), "the clone is left");

    let (status, body) = daemon.post("/store/repositories", json!({"repository": "not a url"}));
    assert_eq!(status, 400, "{body}");
}

/// A valid `config.yaml` for an add-on `slug` with `extra` YAML lines appended.
fn valid_config(slug: &str, extra: &str) -> String {
    format!(
        "name: {slug}\nversion: 1.0.0\nslug: {slug}\ndescription: e2e\narch: [amd64, aarch64]\nboot: manual\n{extra}"
    )
}

/// Adds one broken add-on folder per case to a copy of the fixtures; answers the copy.
fn repository_with(cases: &[(&str, String)]) -> FixtureRepository {
    let repository = FixtureRepository::copy();
    for (folder, config) in cases {
        repository.write(&format!("{folder}/config.yaml"), config);
    }
    repository
}

/// Starts a daemon on `repository` and checks that exactly the fixtures are listed and that
/// `core` reports one error per broken folder, each naming its folder and `needle`.
fn assert_skipped_and_reported(repository: &FixtureRepository, cases: &[(&str, &str)]) {
    let daemon = Daemon::start_with(&[repository.env()]);
    assert_eq!(store_slugs(&daemon), core_addons(), "broken add-ons are listed");
    let errors = repository_errors(&daemon, "core");
    assert_eq!(errors.len(), cases.len(), "{errors:#?}");
    for (folder, needle) in cases {
        let error = errors
            .iter()
            .find(|e| e.contains(&format!("'{folder}'")))
            .unwrap_or_else(|| panic!("nothing reported for {folder}: {errors:#?}"));
        assert!(error.contains(needle), "the error for {folder} does not name {needle}: {error}");
    }
    // The rest of the repository keeps working.
    assert_eq!(store_addon(&daemon, "core_build_local")["available"], true);
    let (status, body) = daemon.get("/store/addons/core_build_local/availability");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn broken_addons_are_reported_and_skipped_while_the_rest_keeps_working() {
    let mut missing_version = valid_config("missing_version", "");
    missing_version = missing_version.replace("version: 1.0.0\n", "");
    let repository = repository_with(&[
        ("bad_yaml", "name: Bad YAML\nversion: [1.0\nslug: bad_yaml\n".to_owned()),
        ("missing_version", missing_version),
        ("bad_schema", valid_config("bad_schema", "options: {}\nschema:\n  level: integer(1,5)\n")),
    ]);
    assert_skipped_and_reported(
        &repository,
        &[("bad_yaml", "config.yaml"), ("missing_version", "version"), ("bad_schema", "level")],
    );
}

#[test]
fn an_unknown_key_is_dropped_with_a_warning_and_the_add_on_stays() {
    let repository = repository_with(&[("unknown_key", valid_config("unknown_key", "frobnicate: true\n"))]);
    let daemon = Daemon::start_with(&[repository.env()]);
    let mut expected = core_addons();
    expected.insert("core_unknown_key".to_owned());
    assert_eq!(store_slugs(&daemon), expected);
    let errors = repository_errors(&daemon, "core");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("'unknown_key'") && errors[0].contains("unknown key 'frobnicate' ignored"),
        "{errors:#?}"
    );
}

#[test]
fn hostile_addon_configs_are_skipped() {
    let repository = repository_with(&[
        ("map_relative", valid_config("map_relative", "map:\n  - type: share\n    path: ../../etc\n")),
        ("map_climbing", valid_config("map_climbing", "map:\n  - type: share\n    path: /share/../../etc\n")),
        ("slug_climbing", valid_config("slug_climbing", "").replace("slug: slug_climbing", "slug: ../../etc")),
        ("bad_image", valid_config("bad_image", "image: \"evil image; rm -rf /\"\n")),
    ]);
    assert_skipped_and_reported(
        &repository,
        &[("map_relative", "path"), ("map_climbing", "path"), ("slug_climbing", "slug"), ("bad_image", "image")],
    );
}

#[test]
fn files_that_link_out_of_the_repository_are_not_served() {
    let repository = FixtureRepository::copy();
    let crasher = repository.addon("crasher");
    for (name, target) in [("icon.png", "/etc/hostname"), ("DOCS.md", "/etc/passwd"), ("README.md", "/etc/passwd")] {
        std::fs::remove_file(crasher.join(name)).unwrap();
        std::os::unix::fs::symlink(target, crasher.join(name)).unwrap();
    }
    // An add-on whose whole configuration is a link out of the repository is not read at all.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("config.yaml"), valid_config("linked", "")).unwrap();
    std::fs::create_dir(repository.path().join("linked")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("config.yaml"), repository.path().join("linked/config.yaml"))
        .unwrap();
    let daemon = Daemon::start_with(&[repository.env()]);

    let token = daemon.cli_token();
    let response = daemon.request("GET", "/store/addons/core_crasher/icon", Some(&token), None);
    assert_eq!(response.status(), 400);
    assert_eq!(response.text().unwrap(), "No icon found for app core_crasher!");
    let response = daemon.request("GET", "/store/addons/core_crasher/documentation", Some(&token), None);
    assert_eq!(response.text().unwrap(), "No documentation found for app core_crasher!");
    let details = store_addon(&daemon, "core_crasher");
    assert_eq!((&details["icon"], &details["documentation"]), (&json!(false), &json!(false)), "{details}");
    assert_eq!(details["long_description"], Value::Null);

    assert_eq!(store_slugs(&daemon), core_addons(), "the linked add-on is listed");
    let errors = repository_errors(&daemon, "core");
    assert!(errors.iter().any(|e| e.contains("'linked'")), "{errors:?}");
}

#[test]
fn ha_store_lists_and_adds_and_ha_apps_info_shows_a_store_app() {
    let git = GitRepository::new("E2E repository");
    let daemon = Daemon::start();
    let ha = |args: &[&str]| {
        let output = daemon.ha(args, &[]);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "ha {args:?} failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    let out = ha(&["store"]);
    assert!(out.lines().any(|l| l == "repositories:"), "{out}");
    assert!(out.lines().any(|l| l.trim_start_matches(['-', ' ']) == "slug: core_build_local"), "{out}");
    let out = ha(&["apps", "info", "core_build_local"]);
    assert!(out.lines().any(|l| l == "name: Build local"), "{out}");
    assert!(out.lines().any(|l| l == "state: unknown"), "{out}");

    ha(&["store", "add", &git.url()]);
    let hash = repository_hash(&git.url());
    let out = ha(&["store", "apps", "--raw-json"]);
    let body: Value = serde_json::from_str(&out).expect("JSON");
    let slugs: Vec<&str> =
        body["data"]["addons"].as_array().unwrap().iter().map(|a| a["slug"].as_str().unwrap()).collect();
    assert!(slugs.contains(&format!("{hash}_stdin_reader").as_str()), "{slugs:?}");
    ha(&["store", "delete", &hash]);
    assert!(!repositories(&daemon).iter().any(|r| r["slug"] == hash.as_str()));
}

/// A `supervisor` process started by hand, killed on drop.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_installed_binary_starts_offline_on_the_real_builtin_repositories() {
    // The binary alone, in a folder outside the source tree, started from there without a
    // `core` folder: its store is the real Supervisor's built-ins, cloned from GitHub. GitHub
    // is made unreachable (git rewrites its URLs to a missing folder), as on a machine offline:
    // the daemon must start and serve all the same.
    let install = tempfile::tempdir().expect("install folder");
    let binary = install.path().join("supervisor");
    std::fs::copy(e2e::bin("supervisor"), &binary).expect("copy the binary");
    let data = tempfile::tempdir().expect("data directory");
    let start = || {
        let mut child = Command::new(&binary)
            .current_dir(install.path())
            .arg("--data-dir")
            .arg(data.path())
            .args(["--listen", "127.0.0.1:0", "--balena-listen", "127.0.0.1:0", "--workers", "1"])
            .env_remove("SUPERVISOR_CORE_REPOSITORY")
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", format!("url.file://{}/.insteadOf", data.path().join("no-github").display()))
            .env("GIT_CONFIG_VALUE_0", "https://github.com/")
            .env("SUPERVISOR_VERSION_SOURCE", data.path().join("version-{channel}.json"))
            .env("SUPERVISOR_JOURNAL", format!("unix:{}", data.path().join("no-journal.sock").display()))
            .env("DBUS_SYSTEM_BUS_ADDRESS", format!("unix:path={}", data.path().join("no-bus.sock").display()))
            // No engine: this test touches nothing on the shared one.
            .env("SUPERVISOR_DOCKER", format!("unix://{}", data.path().join("no-docker.sock").display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the copied supervisor");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().expect("stdout")), &mut line)
            .expect("the listening line");
        let address = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}")).to_owned();
        (Running(child), address)
    };
    let get = |address: &str, path: &str| {
        let token = std::fs::read_to_string(data.path().join("cli_token")).expect("cli_token");
        let client = reqwest::blocking::Client::new();
        let response = client.get(format!("http://{address}{path}")).bearer_auth(token.trim()).send().expect("request");
        let (status, body) = e2e::json_of(response);
        assert_eq!(status, 200, "{body}");
        body
    };
    let check = |address: &str| {
        let repositories = get(address, "/store/repositories");
        let slugs: Vec<&str> =
            repositories["data"].as_array().expect("a list").iter().map(|r| r["slug"].as_str().unwrap()).collect();
        assert_eq!(slugs, ["core", "local", "a0d7b954", "5c53de3b", "d5369777"], "the real built-ins");
        let addons = get(address, "/store/addons");
        let slugs: BTreeSet<String> = addons["data"]["addons"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|a| a["slug"].as_str().unwrap().to_owned())
            .collect();
        assert!(slugs.is_disjoint(&core_addons()), "no test add-on is offered as official: {slugs:?}");
    };

    let (first, address) = start();
    check(&address);
    drop(first);

    // A second start on the same data directory, still offline, serves the same.
    let (_second, address) = start();
    check(&address);
}
