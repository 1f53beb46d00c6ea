//! Each evaluation that a machine state made from outside can trip: the state made (with the
//! version manifest, the engine, the D-Bus fixtures, the journal's gateway, Core's options, the
//! user the supervisor runs as), the reason read from `/resolution/info` and the verdict from
//! `/info` and `/supervisor/info`, then the state undone and the reason gone on the trigger the
//! real Supervisor evaluates on (a manifest read, the health check, a restart for the
//! evaluations of the setup). Core's test also has its rolled back update, an issue until an
//! update goes well.

use super::{healthcheck, info, issue, names, suggestions_of, unsupported, NOBODY};
use crate::addons::{docker, engine_daemon, install};
use dbus_fixtures::{PrivateBus, Profile, Service};
use e2e::registry::{LocalRegistry, BASE_IMAGE};
use e2e::{eventually, manifest, Daemon};
use serde_json::{json, Value};

/// `supported` of `/info` and of `/supervisor/info`.
fn supported(daemon: &Daemon) -> (Value, Value) {
    let (_, root) = daemon.get("/info");
    let (_, supervisor) = daemon.get("/supervisor/info");
    (root["data"]["supported"].clone(), supervisor["data"]["supported"].clone())
}

/// Waits until the health check finds `reason` unsupported (`present`) or not.
fn wait_unsupported(daemon: &Daemon, reason: &str, present: bool) {
    let what = format!("{reason} to be {}", if present { "unsupported" } else { "cleared" });
    eventually(&what, || {
        healthcheck(daemon);
        (unsupported(daemon).iter().any(|r| r == reason) == present).then_some(())
    });
}

fn reload_updates(daemon: &Daemon) {
    let (status, body) = daemon.post("/reload_updates", json!({}));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn an_outdated_supervisor_without_auto_update_is_unsupported_until_it_is_current() {
    let daemon = Daemon::start();
    let (status, body) = daemon.post("/supervisor/options", json!({"auto_update": false}));
    assert_eq!(status, 200, "{body}");
    assert!(!unsupported(&daemon).contains(&"supervisor_version".to_owned()), "{}", info(&daemon));

    daemon.write_manifest("stable", &manifest("stable", "99.0.0"));
    reload_updates(&daemon);
    // The manifest's read asks for an evaluation by itself.
    eventually("the outdated supervisor", || {
        unsupported(&daemon).contains(&"supervisor_version".to_owned()).then_some(())
    });
    assert_eq!(supported(&daemon), (json!(false), json!(false)));

    // Auto-update on: it would update itself, which is supported.
    let (status, body) = daemon.post("/supervisor/options", json!({"auto_update": true}));
    assert_eq!(status, 200, "{body}");
    eventually("auto-update to count", || {
        (!unsupported(&daemon).contains(&"supervisor_version".to_owned())).then_some(())
    });

    let (status, body) = daemon.post("/supervisor/options", json!({"auto_update": false}));
    assert_eq!(status, 200, "{body}");
    eventually("the outdated supervisor", || {
        unsupported(&daemon).contains(&"supervisor_version".to_owned()).then_some(())
    });
    daemon.write_manifest("stable", &manifest("stable", env!("CARGO_PKG_VERSION")));
    reload_updates(&daemon);
    eventually("the current supervisor", || {
        (!unsupported(&daemon).contains(&"supervisor_version".to_owned())).then_some(())
    });
}

#[test]
fn a_managed_container_with_another_restart_policy_is_unsupported_until_it_is_set_back() {
    let daemon = engine_daemon(&[]);
    install(&daemon, "core_build_local");
    let (status, body) = daemon.post("/addons/core_build_local/start", json!({}));
    assert_eq!(status, 200, "{body}");
    healthcheck(&daemon);
    assert!(!unsupported(&daemon).contains(&"restart_policy".to_owned()), "{}", info(&daemon));

    // Someone told the engine to restart the add-on by itself, behind the supervisor's back.
    let container = crate::addons::container_name(&daemon, "core_build_local");
    assert!(docker(&["update", "--restart", "always", &container]).is_some(), "the policy changed");
    wait_unsupported(&daemon, "restart_policy", true);
    assert_eq!(supported(&daemon), (json!(false), json!(false)));

    assert!(docker(&["update", "--restart", "no", &container]).is_some(), "the policy set back");
    wait_unsupported(&daemon, "restart_policy", false);
}

/// A container of the test's own on the shared engine, removed when dropped.
struct Foreign(String);

impl Foreign {
    fn run(name: String, image: &str) -> Foreign {
        let started = docker(&["run", "-d", "--name", &name, image, "sleep", "600"]);
        assert!(started.is_some(), "{name} started from {image}");
        Foreign(name)
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        docker(&["rm", "-f", &self.0]);
    }
}

/// An image name of the test's own: `BASE_IMAGE` tagged as `<unique>/<name>`, removed when
/// dropped.
struct Tag(String);

impl Tag {
    fn of_base(name: &str) -> Tag {
        let tag = format!("e2e-foreign-{}/{name}:1", std::process::id());
        assert!(docker(&["tag", BASE_IMAGE, &tag]).is_some(), "tagged {tag}");
        Tag(tag)
    }
}

impl Drop for Tag {
    fn drop(&mut self) {
        docker(&["rmi", &self.0]);
    }
}

/// Whether the engine runs a container of another image than this daemon's own (another test's,
/// on the shared engine), which keeps `software` as the real rule says.
fn others_run(daemon: &Daemon) -> bool {
    let listed = docker(&["ps", "--format", "{{.Names}}"]).unwrap_or_default();
    listed.lines().any(|name| !name.starts_with(daemon.instance()))
}

#[test]
fn a_foreign_container_on_the_engine_is_unsupported_software() {
    let daemon = engine_daemon(&[]);
    let tag = Tag::of_base("some-app");
    let foreign = Foreign::run(format!("e2e-foreign-{}-app", std::process::id()), &tag.0);
    wait_unsupported(&daemon, "software", true);
    assert_eq!(supported(&daemon), (json!(false), json!(false)));
    // An ordinary app is no harm to the system's health; a container updater would be (the
    // evaluations' unit tests: one here would make every daemon on the shared engine unhealthy).
    assert!(!names(&info(&daemon)["unhealthy"]).contains(&"docker".to_owned()), "{}", info(&daemon));

    drop(foreign);
    healthcheck(&daemon);
    if !others_run(&daemon) {
        wait_unsupported(&daemon, "software", false);
    }
}

#[test]
fn the_engine_is_judged_on_its_version_and_configuration() {
    let daemon = engine_daemon(&[]);
    let facts = docker(&["info", "--format", "{{.ServerVersion}} {{.Driver}} {{.LoggingDriver}} {{.CgroupVersion}}"])
        .expect("docker info");
    let facts: Vec<&str> = facts.split_whitespace().collect();
    let [version, storage, logging, cgroup] = facts[..] else { panic!("docker info: {facts:?}") };
    let major: u64 = version.split('.').next().and_then(|m| m.parse().ok()).expect("a version");
    let expected = [
        ("docker_version", major < 24),
        ("docker_configuration", !matches!(storage, "overlay2" | "overlayfs") || logging != "journald"),
        ("cgroup_version", !matches!(cgroup, "1" | "2")),
    ];
    healthcheck(&daemon);
    let found = unsupported(&daemon);
    for (reason, unsupported) in expected {
        assert_eq!(found.contains(&reason.to_owned()), unsupported, "{reason} on {facts:?}: {found:?}");
    }
}

#[test]
fn a_virtual_machine_on_an_image_for_a_board_is_unsupported_until_it_runs_on_the_board() {
    let bus = PrivateBus::start_with(Service::ALL, Profile::Haos).expect("a private bus");
    bus.set_property(Service::Systemd1, "Virtualization", "kvm").unwrap();
    let mut daemon = Daemon::start_with(&[bus.env()]);
    // The Yellow's image, which is not the one for virtual machines.
    wait_unsupported(&daemon, "virtualization_image", true);
    assert_eq!(supported(&daemon), (json!(false), json!(false)));

    // systemd tells it once, at its start: evaluated at the supervisor's setup.
    bus.set_property(Service::Systemd1, "Virtualization", "").unwrap();
    daemon.kill9_and_restart();
    wait_unsupported(&daemon, "virtualization_image", false);
    assert!(!unsupported(&daemon).contains(&"os".to_owned()), "still Home Assistant OS: {}", info(&daemon));
}

#[test]
fn home_assistant_os_four_majors_behind_the_manifest_is_unsupported_until_the_manifest_is_near() {
    let bus = PrivateBus::start_with(Service::ALL, Profile::Haos).expect("a private bus");
    let mut daemon = Daemon::start_with(&[bus.env()]);
    // The Yellow runs 16.0; the last four majors of 19 still include 16.
    let mut versions = manifest("stable", env!("CARGO_PKG_VERSION"));
    versions["hassos"] = json!({"yellow": "19.2"});
    daemon.write_manifest("stable", &versions);
    reload_updates(&daemon);
    healthcheck(&daemon);
    assert!(!unsupported(&daemon).contains(&"os_version".to_owned()), "{}", info(&daemon));

    // A fifth major is out: read with the manifest. That 16 must update to 16.3 first does
    // not make it any less behind.
    versions["hassos"] = json!({"yellow": "20.0"});
    versions["hassos-upgrade"] = json!({"16": "16.3"});
    daemon.write_manifest("stable", &versions);
    reload_updates(&daemon);
    eventually("the old OS", || unsupported(&daemon).contains(&"os_version".to_owned()).then_some(()));
    assert_eq!(supported(&daemon), (json!(false), json!(false)));
    assert!(!unsupported(&daemon).contains(&"os".to_owned()), "still Home Assistant OS: {}", info(&daemon));

    // As in the real one, an unsupported OS reads no manifest any more (`os_supported`): the
    // way out is an OS update, running after the host's reboot.
    let (status, body) = daemon.post("/reload_updates", json!({}));
    let refused = json!("'updater_fetch_data' blocked from execution, unsupported OS version");
    assert_eq!((status.as_u16(), &body["message"]), (400, &refused), "{body}");
    let cpe = "cpe:2.3:o:home-assistant:haos:17.0:*:production:*:*:*:yellow:*";
    bus.set_property(Service::Hostname1, "OperatingSystemCPEName", cpe).unwrap();
    daemon.kill9_and_restart();
    wait_unsupported(&daemon, "os_version", false);
    reload_updates(&daemon);
}

#[test]
fn a_host_without_its_journal_is_unsupported_until_the_journal_answers() {
    let journal = journal::testing::TestJournal::serve_unix(&[]).expect("a test journal");
    let mut daemon = Daemon::start();
    wait_unsupported(&daemon, "systemd_journal", true);
    assert_eq!(supported(&daemon), (json!(false), json!(false)));

    // The journal is looked for at the supervisor's setup.
    daemon.kill9_and_restart_with(&[("SUPERVISOR_JOURNAL", journal.address())]);
    wait_unsupported(&daemon, "systemd_journal", false);
    let (_, host) = daemon.get("/host/info");
    assert!(host["data"]["features"].as_array().unwrap().contains(&json!("journal")), "{host}");
}

#[test]
fn core_on_a_custom_image_or_two_years_behind_is_unsupported_and_a_rolled_back_update_is_an_issue() {
    use crate::homeassistant::{daemon_with_core, write_manifest, MACHINE};
    let registry = LocalRegistry::start();
    let (daemon, _port) = daemon_with_core(&registry, &[], "2025.1.0");
    healthcheck(&daemon);
    let found = unsupported(&daemon);
    for reason in ["home_assistant_core_custom_image", "home_assistant_core_version"] {
        assert!(!found.contains(&reason.to_owned()), "{reason}: {found:?}");
    }

    // Core's own image, not the manifest's.
    let (_, core) = daemon.get("/core/info");
    let image = core["data"]["image"].as_str().expect("Core's image").to_owned();
    let (status, body) = daemon.post("/core/options", json!({"image": format!("{image}-custom")}));
    assert_eq!(status, 200, "{body}");
    wait_unsupported(&daemon, "home_assistant_core_custom_image", true);
    assert_eq!(supported(&daemon), (json!(false), json!(false)));
    let (status, body) = daemon.post("/core/options", json!({"image": null}));
    assert_eq!(status, 200, "{body}");
    wait_unsupported(&daemon, "home_assistant_core_custom_image", false);

    // Releases went on for more than two years: read with the manifest.
    let manifest_image = image.replace(MACHINE, "{machine}");
    write_manifest(&daemon, &manifest_image, "2027.2.0");
    eventually("the old Core", || {
        unsupported(&daemon).contains(&"home_assistant_core_version".to_owned()).then_some(())
    });

    // An update to a version that crashes is rolled back, which is an issue of Core.
    registry.push_core_fixture(MACHINE, "2026.6.0", Some("crash"));
    let (status, body) = daemon.post("/core/update", json!({"version": "2026.6.0"}));
    assert_eq!(status, 400, "{body}");
    let rollback = eventually("the rollback", || issue(&daemon, "update_rollback"));
    assert_eq!((rollback["context"].clone(), rollback["reference"].clone()), (json!("core"), Value::Null));
    assert!(suggestions_of(&daemon, &rollback).is_empty(), "nothing to apply: {rollback}");

    // Updating to the latest known version makes it supported again, and the update went well.
    registry.push_core_fixture(MACHINE, "2027.2.0", None);
    let (status, body) = daemon.post("/core/update", json!({}));
    assert_eq!(status, 200, "{body}");
    wait_unsupported(&daemon, "home_assistant_core_version", false);
    eventually("the rollback to be over", || issue(&daemon, "update_rollback").is_none().then_some(()));
}

#[test]
fn a_supervisor_without_privileges_is_unsupported_and_unhealthy_until_it_runs_privileged() {
    let mut daemon = Daemon::start_as(NOBODY.0, NOBODY.1);
    eventually("the missing privileges", || unsupported(&daemon).contains(&"privileged".to_owned()).then_some(()));
    // Without them the engine is not the supervisor's to manage: unhealthy, as in the real one.
    assert!(names(&info(&daemon)["unhealthy"]).contains(&"docker".to_owned()), "{}", info(&daemon));
    assert_eq!(supported(&daemon), (json!(false), json!(false)));
    let (_, supervisor) = daemon.get("/supervisor/info");
    assert_eq!(supervisor["data"]["healthy"], false, "{supervisor}");

    // Judged when the supervisor starts.
    daemon.kill9_and_restart_as_root();
    daemon.wait_for_engine();
    eventually("the privileges", || (!unsupported(&daemon).contains(&"privileged".to_owned())).then_some(()));
    assert!(names(&info(&daemon)["unhealthy"]).is_empty(), "{}", info(&daemon));
}
