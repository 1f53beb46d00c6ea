//! What an add-on's config asks of the running add-on beyond its container, on the real engine:
//! its `webui` link and the application watchdog probing its `watchdog` URL (fixture `health`, probed every second
//! through `SUPERVISOR_ADDON_WATCHDOG_INTERVAL` instead of the real 120 s), `!secret` option
//! values resolved from Core's `secrets.yaml` into `/data/options.json` only, and an add-on's
//! own AppArmor profile (fixture `apparmor`) checked, kept under its slug, carried by backups
//! and removed again.

use crate::addons::{
    addon_data, container_name, data_lines, engine_daemon, info, inspect_container, install, installed_slugs,
    set_options, start, state, stop, uninstall,
};
use crate::backups::{backup, restore};
use e2e::fixtures::FixtureRepository;
use e2e::{eventually, Daemon};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// The jobs named `name` about `slug`.
fn jobs_named(daemon: &Daemon, name: &str, slug: &str) -> Vec<Value> {
    let (status, body) = daemon.get("/jobs/info");
    assert_eq!(status, 200, "{body}");
    let jobs = body["data"]["jobs"].as_array().expect("jobs").clone();
    jobs.into_iter().filter(|job| job["name"] == name && job["reference"] == slug).collect()
}

#[test]
fn the_application_watchdog_restarts_an_addon_whose_health_check_fails_and_no_healthy_one() {
    let daemon = engine_daemon(&[("SUPERVISOR_ADDON_WATCHDOG_INTERVAL", "1")]);
    let slug = "core_health";
    install(&daemon, slug);
    // `webui` as the real info answers it: the published port, the scheme by the option, and
    // `[HOST]` left for the frontend.
    assert_eq!(info(&daemon, slug)["webui"], "http://[HOST]:8080/");
    let port = e2e::free_port();
    set_options(&daemon, slug, json!({"network": {"8080/tcp": port}, "options": {"healthy": true, "ssl": true}}));
    assert_eq!(info(&daemon, slug)["webui"], format!("https://[HOST]:{port}/"));

    set_options(&daemon, slug, json!({"watchdog": true, "network": null, "options": {"healthy": true}}));
    start(&daemon, slug);
    // Several probes pass, each of which would count a miss if the endpoint failed.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(data_lines(&daemon, slug, "starts").len(), 1, "a healthy add-on was restarted");
    assert!(jobs_named(&daemon, "addon_restart", slug).is_empty());

    // From its next start on the endpoint answers 404.
    set_options(&daemon, slug, json!({"options": {"healthy": false}}));
    stop(&daemon, slug);
    start(&daemon, slug);
    eventually("the application watchdog to restart the add-on", || {
        (data_lines(&daemon, slug, "starts").len() >= 3 && !jobs_named(&daemon, "addon_restart", slug).is_empty())
            .then_some(())
    });
    let job = &jobs_named(&daemon, "addon_restart", slug)[0];
    let log = daemon.log_text();
    assert!(log.contains("Watchdog missing application response from core_health"), "{log}");
    assert!(log.contains("Watchdog found a problem with core_health application!"), "{log}");
    eventually("the restart to end", || (jobs_named(&daemon, "addon_restart", slug)[0]["done"] == true).then_some(()));
    assert_eq!(job["reference"], slug);

    // With the watchdog off a failing add-on is left alone (a probe under way may still finish).
    set_options(&daemon, slug, json!({"watchdog": false}));
    std::thread::sleep(Duration::from_secs(3));
    eventually("the add-on to run", || (state(&daemon, slug) == "started").then_some(()));
    let starts = data_lines(&daemon, slug, "starts").len();
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(data_lines(&daemon, slug, "starts").len(), starts, "restarted without a watchdog");
    uninstall(&daemon, slug);
}

#[test]
fn secrets_reach_only_the_options_file_and_a_missing_one_is_refused() {
    let daemon = engine_daemon(&[]);
    let slug = "core_schema_all";
    let password = "hunter2-fixture-secret";
    install(&daemon, slug);
    let secrets = daemon.data_dir().join("homeassistant/secrets.yaml");
    std::fs::write(&secrets, format!("fixture_password: {password}\nfixture_count: 42\nlisted: [1]\n")).unwrap();

    let mut options = info(&daemon, slug)["options"].clone();
    options["secret"] = json!("!secret fixture_password");
    options["count"] = json!("!secret fixture_count");
    set_options(&daemon, slug, json!({ "options": options }));
    let shown = info(&daemon, slug)["options"].clone();
    assert_eq!(
        (&shown["secret"], &shown["count"]),
        (&json!("!secret fixture_password"), &json!("!secret fixture_count"))
    );
    let (status, body) = daemon.post(&format!("/addons/{slug}/options/validate"), json!({}));
    assert_eq!((status.as_u16(), &body["data"]["valid"]), (200, &json!(true)), "{body}");

    start(&daemon, slug);
    let written: Value =
        serde_json::from_slice(&std::fs::read(addon_data(&daemon, slug).join("options.json")).unwrap()).unwrap();
    assert_eq!((&written["secret"], &written["count"]), (&json!(password), &json!(42)), "{written}");

    // A secret that does not exist, or only as a list: refused, and the options stay as they were.
    for missing in ["nope", "listed"] {
        let mut bad = options.clone();
        bad["name"] = json!(format!("!secret {missing}"));
        let (status, body) = daemon.post(&format!("/addons/{slug}/options"), json!({ "options": bad }));
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error_key"], "addon_configuration_invalid_error", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(&format!("Unknown secret '{missing}' in Schema all (core_schema_all)")), "{message}");
        assert_eq!(info(&daemon, slug)["options"], shown);
    }

    // A secret gone from the file: the next start is refused.
    stop(&daemon, slug);
    std::fs::write(&secrets, "fixture_count: 42\n").unwrap();
    let (status, body) = daemon.post(&format!("/addons/{slug}/start"), json!({}));
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("Unknown secret 'fixture_password'"), "{body}");

    assert!(!daemon.log_text().contains(password), "the secret reached the log");
    let (_, body) = daemon.get(&format!("/addons/{slug}/info"));
    assert!(!body.to_string().contains(password), "the secret is in the info");
    uninstall(&daemon, slug);
}

/// Whether this machine's kernel has AppArmor, as the daemon (host root `/`) decides it.
fn kernel_has_apparmor() -> bool {
    Path::new("/sys/kernel/security/apparmor").is_dir()
        || std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|e| e.trim() == "Y")
}

#[test]
fn an_addon_profile_is_checked_kept_under_its_slug_and_removed_and_a_broken_one_refused() {
    let repository = FixtureRepository::copy();
    let daemon = engine_daemon(&[repository.env()]);
    let slug = "core_apparmor";
    let kept = daemon.data_dir().join("apparmor").join(slug);
    install(&daemon, slug);
    let profile = std::fs::read_to_string(&kept).expect("the profile is kept");
    assert!(profile.contains("\nprofile core_apparmor flags=(attach_disconnected,mediate_deleted) {\n"), "{profile}");
    assert!(!profile.contains("apparmor_fixture"), "{profile}");
    let details = info(&daemon, slug);
    assert_eq!(details["apparmor"], "profile");
    assert_eq!(details["rating"], 6, "a profile of its own earns a point");
    start(&daemon, slug);
    let container = inspect_container(&container_name(&daemon, slug)).expect("the container");
    let confined = if kernel_has_apparmor() { json!(["apparmor=core_apparmor"]) } else { Value::Null };
    assert_eq!(container["HostConfig"]["SecurityOpt"], confined);

    // A backup carries the profile; uninstalled, the add-on loses it, restored, has it again.
    let backup_slug = backup(&daemon, "partial", json!({"addons": [slug]}));
    uninstall(&daemon, slug);
    assert!(!kept.exists(), "the profile outlived the add-on");
    let (status, answer) = restore(&daemon, &backup_slug, "partial", json!({"addons": [slug]}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(std::fs::read_to_string(&kept).expect("the profile is restored"), profile);
    assert_eq!(info(&daemon, slug)["apparmor"], "profile");
    uninstall(&daemon, slug);
    assert!(!kept.exists(), "the profile outlived the add-on");

    // apparmor_parser refuses a profile that does not compile; the real check one without a profile.
    let broken = [
        ("profile broken {\n  this is no rule\n}\n", "AppArmor profile of app core_apparmor is not valid: "),
        ("# nothing here\n", "Missing AppArmor profile inside file: apparmor.txt"),
        ("profile a {\n}\nprofile b {\n}\n", "Too many AppArmor profiles inside file: apparmor.txt"),
    ];
    for (text, expected) in broken {
        repository.write("apparmor/apparmor.txt", text);
        let (status, body) = daemon.post(&format!("/store/addons/{slug}/install"), json!({}));
        assert_eq!(status, 400, "{text}: {body}");
        assert!(body["message"].as_str().unwrap().contains(expected), "{text}: {body}");
        assert!(installed_slugs(&daemon).is_empty(), "{text}: the refused add-on is installed");
        assert!(!kept.exists(), "{text}: a refused profile is kept");
    }
}
