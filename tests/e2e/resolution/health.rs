//! What makes the system unhealthy, or raises an issue, while the supervisor works rather than in
//! a check: an update of the supervisor that fails or that the next start does not run (rolled
//! back), a step of the setup that fails, a clock far off that NTP had to be stopped to set, a
//! hardware monitor without the privileges to watch the host's devices, a pull refused for a
//! registry's rate limit (an issue for Docker Hub's alone, which the tests cannot reach), and the
//! container network's gateway left open by the firewall unit.

use super::{apply, info, issue, job_done, names, serve_http, suggestions_of, NOBODY};
use crate::addons::{assert_nothing_left, docker, engine_daemon, install, state, uninstall};
use dbus_fixtures::{PrivateBus, Service};
use e2e::fixtures::{arch, FixtureRepository};
use e2e::registry::{LocalRegistry, RateLimited, BASE_IMAGE};
use e2e::{eventually, manifest, Daemon, Tmpfs};
use serde_json::{json, Value};

/// `healthy` of `/supervisor/info` (`/info` has only `supported`).
fn healthy(daemon: &Daemon) -> Value {
    let (_, supervisor) = daemon.get("/supervisor/info");
    supervisor["data"]["healthy"].clone()
}

fn unhealthy(daemon: &Daemon) -> Vec<String> {
    names(&info(daemon)["unhealthy"])
}

/// The tags an update of the supervisor to `version` of `image` makes, removed when dropped.
struct SupervisorImage(Vec<String>);

impl Drop for SupervisorImage {
    fn drop(&mut self) {
        for tag in &self.0 {
            docker(&["rmi", tag]);
        }
    }
}

#[test]
fn a_failed_supervisor_update_is_an_issue_and_one_the_next_start_does_not_run_is_unhealthy() {
    let mut daemon = engine_daemon(&[]);
    let newer = manifest("stable", "99.0.0");
    let image = newer["images"]["supervisor"].as_str().unwrap().replace("{arch}", e2e::fixtures::arch());
    daemon.write_manifest("stable", &newer);
    let (status, body) = daemon.post("/reload_updates", json!({}));
    assert_eq!(status, 200, "{body}");

    // No registry has the image.
    let (status, body) = daemon.post("/supervisor/update", json!({}));
    assert_ne!(status, 200, "{body}");
    let failed = eventually("the failed update", || issue(&daemon, "update_failed"));
    assert_eq!((failed["context"].clone(), failed["reference"].clone()), (json!("supervisor"), Value::Null));
    assert!(suggestions_of(&daemon, &failed).is_empty(), "{failed}");
    assert!(unhealthy(&daemon).is_empty(), "a failed pull changes nothing that runs: {}", info(&daemon));

    // The image is there now: the update goes, and the supervisor restarts into... the same
    // program, which is what a rollback of the new version looks like.
    let _tags = SupervisorImage(vec![format!("{image}:99.0.0"), format!("{image}:latest")]);
    assert!(docker(&["tag", BASE_IMAGE, &format!("{image}:99.0.0")]).is_some(), "the new version's image");
    let (status, body) = daemon.post("/supervisor/update", json!({}));
    assert_eq!(status, 200, "{body}");
    daemon.follow_restart_in_place();
    daemon.wait_for_engine();
    let rolled_back = eventually("the rollback", || issue(&daemon, "update_rollback"));
    assert_eq!((rolled_back["context"].clone(), rolled_back["reference"].clone()), (json!("supervisor"), Value::Null));
    assert_eq!(issue(&daemon, "update_failed"), None, "the last update went: {}", info(&daemon));
    assert_eq!(unhealthy(&daemon), ["supervisor"]);
    assert_eq!(healthy(&daemon), json!(false));

    // Started again on the version it ran last time: nothing failed.
    daemon.write_manifest("stable", &manifest("stable", env!("CARGO_PKG_VERSION")));
    daemon.kill9_and_restart();
    daemon.wait_for_engine();
    eventually("the rollback to be forgotten", || issue(&daemon, "update_rollback").is_none().then_some(()));
    assert!(unhealthy(&daemon).is_empty(), "{}", info(&daemon));
    assert_eq!(healthy(&daemon), json!(true));
}

#[test]
fn a_failed_step_of_the_setup_is_unhealthy_until_a_start_goes_through() {
    // A mount point left in the temporary folder, which clearing it at start cannot remove.
    let mut mounted = None;
    let mut daemon = Daemon::start_prepared(|dir| {
        let held = dir.join("tmp/held");
        std::fs::create_dir_all(&held).unwrap();
        mounted = Some(Tmpfs::mount(&held, "1m"));
    });
    // Not unhealthy for want of the engine either.
    daemon.wait_for_engine();
    assert_eq!(unhealthy(&daemon), ["setup"]);
    assert_eq!(healthy(&daemon), json!(false));

    daemon.kill9();
    drop(mounted);
    daemon.kill9_and_restart();
    daemon.wait_for_engine();
    assert!(unhealthy(&daemon).is_empty(), "{}", info(&daemon));
    assert_eq!(healthy(&daemon), json!(true));
}

#[test]
fn a_hardware_monitor_that_may_not_watch_the_devices_is_unhealthy_until_it_may() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dev = root.path().join("dev");
    std::fs::create_dir(&dev).unwrap();
    // The host's /dev, which only root may read: the supervisor runs as nobody.
    std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o700)).unwrap();
    let host_root = ("SUPERVISOR_HOST_ROOT", root.path().to_str().unwrap());
    let mut daemon = Daemon::start_as_with(NOBODY.0, NOBODY.1, &[host_root]);
    eventually("the monitor's missing privileges", || {
        unhealthy(&daemon).contains(&"privileged".to_owned()).then_some(())
    });
    assert_eq!(healthy(&daemon), json!(false));

    // Still nobody, which is unsupported and unhealthy (`docker`), but the monitor runs.
    std::fs::set_permissions(&dev, std::fs::Permissions::from_mode(0o755)).unwrap();
    daemon.kill9_and_restart();
    eventually("the evaluations", || unhealthy(&daemon).contains(&"docker".to_owned()).then_some(()));
    assert!(!unhealthy(&daemon).contains(&"privileged".to_owned()), "{}", info(&daemon));
}

/// A whoami service on loopback whose clock is two hours ahead of this machine's; answers its URL.
fn whoami_ahead() -> String {
    let address = serve_http(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        ("application/json", json!({"timezone": "Etc/UTC", "timestamp": now.as_secs_f64() + 7200.0}).to_string())
    });
    format!("{address}/whoami/v1")
}

#[test]
fn a_clock_far_off_is_set_with_ntp_stopped_which_is_an_issue_that_enabling_ntp_fixes() {
    let bus = PrivateBus::start(Service::ALL).expect("a private bus");
    // NTP runs but has not synchronised the clock, which is two hours behind the internet's.
    bus.set_property(Service::Timedate1, "NTPSynchronized", false).unwrap();
    let url = whoami_ahead();
    let daemon = Daemon::start_with(&[bus.env(), ("SUPERVISOR_WHOAMI", &url)]);
    let stopped = eventually("NTP stopped for the clock", || issue(&daemon, "ntp_sync_failed"));
    assert_eq!((stopped["context"].clone(), stopped["reference"].clone()), (json!("system"), Value::Null));
    let calls = bus.calls(Service::Systemd1).unwrap();
    assert!(calls.contains(&"StopUnit(systemd-timesyncd.service, replace)".to_owned()), "{calls:?}");
    let enable = suggestions_of(&daemon, &stopped);
    assert_eq!(enable.iter().map(|s| s["type"].clone()).collect::<Vec<_>>(), [json!("enable_ntp")]);

    apply(&daemon, &enable[0]);
    assert!(job_done(&daemon, "fixup_system_enable_ntp_process"));
    let calls = bus.calls(Service::Systemd1).unwrap();
    assert!(calls.contains(&"StartUnit(systemd-timesyncd.service, replace)".to_owned()), "{calls:?}");
    assert_eq!(issue(&daemon, "ntp_sync_failed"), None, "{}", info(&daemon));
}

#[test]
fn a_pull_a_private_registry_refuses_for_its_rate_limit_is_told_as_such_and_is_no_issue() {
    let registry = LocalRegistry::start();
    let repository = FixtureRepository::with_registry(&registry);
    let front = RateLimited::start(&registry);
    let image = repository.config_value("prebuilt", "image").unwrap().replace(&registry.address(), front.address());
    repository.set_config("prebuilt", "image", &image);
    let daemon = engine_daemon(&[repository.env()]);
    let login = json!({front.address(): {"username": registry.username(), "password": registry.password()}});
    let (status, body) = daemon.post("/docker/registries", login);
    assert_eq!(status, 200, "{body}");

    // The engine's answer (500 and the registry's `toomanyrequests` before Docker 28.3) is the
    // rate limit; the add-on's install answers as the real one does for any failed pull.
    let (status, body) = daemon.post("/store/addons/core_prebuilt/install", json!({}));
    assert_eq!((status.as_u16(), &body["error_key"]), (500, &json!("addon_unknown_error")), "{body}");
    assert!(front.refused() > 0, "the manifest was asked for");
    let log = daemon.log_text();
    assert!(log.contains("Container registry rate limit exceeded"), "{log}");
    // Only Docker Hub's limit is an issue, which its login lifts; here there is nothing to do.
    assert_eq!(issue(&daemon, "docker_ratelimit"), None, "{}", info(&daemon));

    front.lift();
    install(&daemon, "core_prebuilt");
    assert_eq!(issue(&daemon, "docker_ratelimit"), None, "{}", info(&daemon));
    uninstall(&daemon, "core_prebuilt");
    assert_nothing_left(&daemon, "core_prebuilt", &format!("{}:1.0.0", image.replace("{arch}", arch())));
}

const FIREWALL: &str = "supervisor-firewall-gateway.service";

/// The commands of the firewall unit's start in the fixture systemd's log (`ExecStart=[argv]`,
/// the third of each argv being the shell's command), once it was started.
fn firewall_commands(bus: &PrivateBus) -> Vec<String> {
    let start = format!(
        "StartTransientUnit({FIREWALL}, replace, Description=Supervisor gateway firewall rules, Type=oneshot, "
    );
    let call = eventually("the firewall unit", || {
        bus.calls(Service::Systemd1).unwrap().into_iter().find(|call| call.starts_with(&start))
    });
    call.split("ExecStart=")
        .skip(1)
        .map(|entry| {
            let argv = serde_json::Deserializer::from_str(entry).into_iter::<Vec<String>>().next();
            let argv = argv.and_then(Result::ok).unwrap_or_else(|| panic!("an argv in {call}"));
            assert_eq!(argv[..2], ["/bin/sh", "-c"], "{call}");
            argv[2].clone()
        })
        .collect()
}

/// The raw table's PREROUTING chain after `commands` ran twice (they must add nothing the second
/// time), in a network namespace of its own: the machine's firewall is not touched.
fn rules_after(commands: &[String]) -> Vec<String> {
    let script = format!("{0}\n{0}\n/usr/sbin/iptables -t raw -S PREROUTING", commands.join(" && \n"));
    let output = std::process::Command::new("unshare").args(["--net", "/bin/sh", "-e", "-c", &script]).output();
    let output = output.expect("unshare runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn the_gateway_is_kept_from_other_networks_and_when_it_cannot_be_host_network_add_ons_do_not_boot() {
    let bus = PrivateBus::start(Service::ALL).expect("a private bus");
    let repository = FixtureRepository::copy();
    repository.set_config("build_local", "host_network", "true");
    let mut daemon = engine_daemon(&[bus.env(), repository.env()]);

    // The rules of this daemon's network (made first): its bridge and its gateway, checked by
    // iptables itself.
    let commands = firewall_commands(&bus);
    let network = format!("{}hassio", daemon.instance());
    let id = docker(&["network", "inspect", "--format", "{{.Id}}", &network]).expect("the network");
    let bridge = format!("br-{}", &id.trim()[..12]);
    let gateway = docker(&["network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", &network]);
    let gateway = gateway.expect("its gateway").trim().to_owned();
    assert_eq!(commands.len(), 2, "IPv4 only, as the network has: {commands:?}");
    assert_eq!(
        rules_after(&commands),
        [
            "-P PREROUTING ACCEPT".to_owned(),
            format!("-A PREROUTING -d {gateway}/32 -i lo -j ACCEPT"),
            format!("-A PREROUTING -d {gateway}/32 ! -i {bridge} -j DROP"),
        ]
    );
    assert!(unhealthy(&daemon).is_empty(), "{}", info(&daemon));

    // An add-on on the host's network starts at boot while the gateway is kept.
    let slug = "core_build_local";
    install(&daemon, slug);
    daemon.kill9_and_restart();
    eventually("the add-on started at boot", || (state(&daemon, slug) == "started").then_some(()));
    // Once its start at boot is over.
    let stop = format!("/addons/{slug}/stop");
    eventually("the add-on stopped", || (daemon.post(&stop, json!({})).0 == 200).then_some(()));

    // The rules cannot be applied: unhealthy, and it is left stopped.
    bus.fail_starts(FIREWALL).unwrap();
    daemon.kill9_and_restart();
    eventually("the open gateway", || {
        unhealthy(&daemon).contains(&"docker_gateway_unprotected".to_owned()).then_some(())
    });
    assert_eq!(healthy(&daemon), json!(false));
    let skipped = format!("Skipping boot of app {slug} because gateway firewall rules are not active");
    eventually("the add-on's boot skipped", || daemon.log_text().contains(&skipped).then_some(()));
    assert_eq!(state(&daemon, slug), "stopped");
    // The firewall's own failed unit is no issue of a failed unit: its health says it.
    let (status, body) = daemon.post("/resolution/check/systemd_unit_failure/run", json!({}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(issue(&daemon, "systemd_unit_failed"), None, "{}", info(&daemon));
}
