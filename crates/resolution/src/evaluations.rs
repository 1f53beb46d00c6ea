//! The evaluations: whether the system is supported (and healthy), with the real Supervisor's
//! `UnsupportedReason` names and rules. Each is a pure function of [`Facts`], gathered once per
//! pass by the manager, so every rule is tested here without a machine that breaks it.
//!
//! A fact that is not known yet (the engine not connected, the version manifest not read)
//! leaves its evaluation's verdict as it was: the real Supervisor orders its start so that facts
//! exist before their evaluation runs; here the engine and the manifest arrive in the
//! background, so the evaluation waits for them instead.

use std::collections::BTreeSet;

/// The reasons an unsupported verdict also makes the system unhealthy for (as `docker`).
pub const UNHEALTHY_WHEN_UNSUPPORTED: [&str; 2] = ["lxc", "privileged"];

/// The oldest engine version the real Supervisor supports.
const MIN_DOCKER: (u64, u64, u64) = (24, 0, 0);

/// Containers from these images make the system unhealthy: they update or manage containers
/// behind the supervisor's back.
const UNHEALTHY_IMAGES: [&str; 3] = ["watchtower", "ouroboros", "portainer"];

/// What the evaluations look at, read once per pass.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// `Y` in `/sys/module/apparmor/parameters/enabled`; `None` when the file is missing.
    pub apparmor: Option<bool>,
    /// `container=lxc` in PID 1's environment, or LXD's guest socket.
    pub lxc: bool,
    /// The system bus answers.
    pub dbus: bool,
    /// The container engine's facts, once connected.
    pub engine: Option<Engine>,
    /// The host's features (`/host/info` names).
    pub features: BTreeSet<String>,
    /// NetworkManager's connectivity check, when NetworkManager answers.
    pub connectivity_check_enabled: Option<bool>,
    /// Home Assistant OS, with its version, the latest one and its board.
    pub os: Option<Os>,
    /// The host's virtualization (`kvm`, `vmware`, ...; empty on bare metal).
    pub virtualization: String,
    /// The supervisor process holds every capability (as the real one's privileged container).
    pub privileged: bool,
    pub arch: String,
    pub core: Core,
    /// Not on the latest supervisor, while auto-update is off.
    pub supervisor_outdated: bool,
    /// Job conditions the user told the supervisor to ignore.
    pub ignored_conditions: bool,
    /// The running containers on the engine, once listed.
    pub containers: Option<Vec<Container>>,
    /// Images the supervisor itself runs (Core, add-ons, plugins, the builder).
    pub known_images: BTreeSet<String>,
    /// The supervisor is running (not setting up or shutting down): some evaluations judge
    /// only then, as the real ones' `states`.
    pub running: bool,
    /// The dns plugin falls back to its public servers when the others fail.
    pub dns_fallback: bool,
    /// The resolution center holds an issue about one of the host's DNS servers.
    pub dns_server_issues: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub version: String,
    pub storage: String,
    pub logging: String,
    pub cgroup: String,
}

#[derive(Debug, Clone, Default)]
pub struct Os {
    pub version: Option<String>,
    /// The manifest's newest for the board, not the step an update may take now.
    pub latest: Option<String>,
    pub board: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Core {
    pub image: String,
    pub default_image: String,
    pub version: Option<String>,
    pub latest: Option<String>,
}

/// A container on the engine: its name, image (without tag) and restart policy, and whether
/// the supervisor runs it (and then which policy it must have).
#[derive(Debug, Clone, Default)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub restart_policy: String,
    /// `Some(expected policy)` for the supervisor's own containers.
    pub managed: Option<&'static str>,
}

/// One evaluation's verdict: `Some(true)` unsupported, `Some(false)` fine, `None` not known yet.
pub struct Verdict {
    pub reason: &'static str,
    pub unsupported: Option<bool>,
    /// What the log says when the system fails it.
    pub message: String,
}

/// Every evaluation, in the real Supervisor's order of names.
pub fn evaluate(facts: &Facts) -> Vec<Verdict> {
    let feature = |name: &str| facts.features.contains(name);
    let engine = facts.engine.as_ref();
    let mut verdicts = vec![
        verdict("apparmor", Some(facts.apparmor != Some(true)), "AppArmor is required for Home Assistant.".to_owned()),
        verdict(
            "cgroup_version",
            engine.map(|e| !matches!(e.cgroup.as_str(), "1" | "2")),
            format!("Docker cgroup version {} is not supported! {{'1', '2'}}", engine.map_or("", |e| &e.cgroup)),
        ),
        verdict(
            "connectivity_check",
            facts.connectivity_check_enabled.map(|enabled| !enabled),
            "Connectivity checks are required for Home Assistant.".to_owned(),
        ),
        software(facts),
        verdict("dbus", Some(!facts.dbus), "D-Bus is required for Home Assistant.".to_owned()),
        verdict(
            "dns_server",
            facts.running.then_some(!facts.dns_fallback && facts.dns_server_issues),
            "Found unsupported DNS server and fallback is disabled.".to_owned(),
        ),
        docker_configuration(engine),
        verdict(
            "docker_version",
            engine.map(|e| !docker_supported(&e.version)),
            format!("Docker version '{}' is not supported by the Supervisor!", engine.map_or("", |e| &e.version)),
        ),
        verdict(
            "home_assistant_core_custom_image",
            (!facts.core.image.is_empty()).then(|| facts.core.image != facts.core.default_image),
            format!("Home Assistant Core is using the non-default image '{}'!", facts.core.image),
        ),
        verdict(
            "home_assistant_core_version",
            Some(core_too_old(&facts.core)),
            format!(
                "Home Assistant Core version '{}' is more than 2 years old!",
                facts.core.version.as_deref().unwrap_or("")
            ),
        ),
        verdict(
            "job_conditions",
            Some(facts.ignored_conditions),
            "Found unsupported job conditions settings.".to_owned(),
        ),
        verdict("lxc", Some(facts.lxc), "Detected Docker running inside LXC.".to_owned()),
        verdict("network_manager", Some(!feature("network")), "NetworkManager is not correctly configured".to_owned()),
        verdict("os", Some(facts.os.is_none()), "Detected unsupported OS".to_owned()),
        verdict("os_agent", Some(!feature("os_agent")), "OS-Agent is not correctly working".to_owned()),
        os_version(facts.os.as_ref()),
        verdict("privileged", Some(!facts.privileged), "Supervisor does not run in Privileged mode.".to_owned()),
        restart_policy(facts),
        verdict(
            "supervisor_version",
            Some(facts.supervisor_outdated),
            "Not using latest version of Supervisor and auto update is disabled.".to_owned(),
        ),
        verdict(
            "system_architecture",
            Some(matches!(facts.arch.as_str(), "i386" | "armhf" | "armv7")),
            "System architecture is no longer supported. Move to a supported system architecture.".to_owned(),
        ),
        verdict(
            "systemd",
            Some(["hostname", "services", "shutdown", "reboot", "timedate"].iter().any(|f| !feature(f))),
            "Systemd is not correctly working".to_owned(),
        ),
        verdict(
            "systemd_journal",
            Some(!feature("journal")),
            "Systemd journal is not working correctly or inaccessible".to_owned(),
        ),
        verdict(
            "systemd_resolved",
            Some(!feature("resolved")),
            "Systemd-Resolved is required for DNS in Home Assistant.".to_owned(),
        ),
    ];
    verdicts.push(verdict(
        "virtualization_image",
        Some(facts.os.as_ref().is_some_and(|os| {
            !facts.virtualization.is_empty() && !matches!(os.board.as_deref(), Some("ova" | "generic-aarch64"))
        })),
        "Image of Home Assistant OS in use does not support virtualization.".to_owned(),
    ));
    verdicts
}

/// Containers whose image makes the system unhealthy (`docker`), as the evaluation of foreign
/// containers finds them.
pub fn unhealthy_images(facts: &Facts) -> Vec<String> {
    foreign_images(facts)
        .into_iter()
        .filter(|image| {
            let name = image.rsplit('/').next().unwrap_or(image);
            UNHEALTHY_IMAGES.iter().any(|bad| name.starts_with(bad))
        })
        .collect()
}

fn verdict(reason: &'static str, unsupported: Option<bool>, message: String) -> Verdict {
    Verdict { reason, unsupported, message }
}

/// Images of running containers the supervisor does not run (`software`).
fn foreign_images(facts: &Facts) -> BTreeSet<String> {
    let Some(containers) = &facts.containers else { return BTreeSet::new() };
    containers
        .iter()
        .filter(|c| c.managed.is_none() && !c.image.starts_with("sha256") && !facts.known_images.contains(&c.image))
        .map(|c| c.image.clone())
        .collect()
}

fn software(facts: &Facts) -> Verdict {
    let images = foreign_images(facts);
    let message = format!("Found unsupported images: {}", images.iter().cloned().collect::<Vec<_>>().join(", "));
    verdict("software", facts.containers.as_ref().map(|_| !images.is_empty()), message)
}

fn docker_configuration(engine: Option<&Engine>) -> Verdict {
    let unsupported =
        engine.map(|e| !matches!(e.storage.as_str(), "overlay2" | "overlayfs") || e.logging != "journald");
    let message = engine.map_or_else(String::new, |e| {
        format!(
            "The configuration of Docker is not supported (storage driver {}, logging driver {})",
            e.storage, e.logging
        )
    });
    verdict("docker_configuration", unsupported, message)
}

fn restart_policy(facts: &Facts) -> Verdict {
    let wrong: Vec<&str> = facts
        .containers
        .iter()
        .flatten()
        .filter_map(|c| {
            let expected = c.managed?;
            let policy = if c.restart_policy.is_empty() { "no" } else { c.restart_policy.as_str() };
            (policy != expected).then_some(c.name.as_str())
        })
        .collect();
    verdict(
        "restart_policy",
        facts.containers.as_ref().map(|_| !wrong.is_empty()),
        format!("Found containers with unsupported restart policy: {}", wrong.join(", ")),
    )
}

/// `major.minor.patch` of an engine version such as `24.0.7` or `27.5.1+dfsg4`.
fn numbers(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty());
    Some((
        parts.next()?.parse().ok()?,
        parts.next().unwrap_or("0").parse().ok()?,
        parts.next().unwrap_or("0").parse().ok()?,
    ))
}

fn docker_supported(version: &str) -> bool {
    numbers(version).is_some_and(|v| v >= MIN_DOCKER)
}

/// More than two years of monthly releases behind the latest known Core (`landingpage` never).
fn core_too_old(core: &Core) -> bool {
    let (Some(current), Some(latest)) = (core.version.as_deref(), core.latest.as_deref()) else { return false };
    if current == "landingpage" {
        return false;
    }
    let calver = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.split('.');
        let year: u64 = parts.next()?.parse().ok()?;
        let month: u64 = parts.next()?.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()?;
        (year >= 2000).then_some((year, month))
    };
    match (calver(current), calver(latest)) {
        (Some(current), Some((year, month))) => current < (year - 2, month),
        _ => true,
    }
}

/// Older than the last four major releases of Home Assistant OS.
fn os_version(os: Option<&Os>) -> Verdict {
    let major = |v: &str| v.split('.').next().and_then(|m| m.parse::<u64>().ok());
    let unsupported = os.and_then(|os| {
        let current = os.version.as_deref()?;
        let latest = major(os.latest.as_deref()?)?;
        Some(major(current).is_none_or(|current| current + 3 < latest))
    });
    let message = format!(
        "OS version '{}' is older than the last 4 major releases (latest '{}')!",
        os.and_then(|o| o.version.as_deref()).unwrap_or(""),
        os.and_then(|o| o.latest.as_deref()).unwrap_or("")
    );
    verdict("os_version", Some(unsupported.unwrap_or(false)), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine every evaluation passes on.
    fn good() -> Facts {
        Facts {
            apparmor: Some(true),
            dbus: true,
            engine: Some(Engine {
                version: "27.5.1".into(),
                storage: "overlay2".into(),
                logging: "journald".into(),
                cgroup: "2".into(),
            }),
            features: [
                "reboot", "shutdown", "services", "network", "hostname", "timedate", "os_agent", "resolved", "journal",
            ]
            .map(str::to_owned)
            .into(),
            connectivity_check_enabled: Some(true),
            os: Some(Os { version: Some("16.0".into()), latest: Some("16.1".into()), board: Some("rpi5-64".into()) }),
            privileged: true,
            running: true,
            dns_fallback: true,
            arch: "aarch64".into(),
            core: Core {
                image: "ghcr.io/home-assistant/raspberrypi5-64-homeassistant".into(),
                default_image: "ghcr.io/home-assistant/raspberrypi5-64-homeassistant".into(),
                version: Some("2026.11.1".into()),
                latest: Some("2026.12.0".into()),
            },
            containers: Some(vec![Container {
                name: "homeassistant".into(),
                image: "ghcr.io/home-assistant/raspberrypi5-64-homeassistant".into(),
                restart_policy: "no".into(),
                managed: Some("no"),
            }]),
            ..Facts::default()
        }
    }

    fn unsupported(facts: &Facts) -> Vec<&'static str> {
        evaluate(facts).into_iter().filter(|v| v.unsupported == Some(true)).map(|v| v.reason).collect()
    }

    #[test]
    fn a_good_machine_is_supported() {
        assert_eq!(unsupported(&good()), Vec::<&str>::new());
    }

    #[test]
    fn a_plain_debian_host_without_the_os_agent_is_unsupported_with_its_reasons() {
        let mut facts = good();
        facts.os = None;
        facts.features.remove("os_agent");
        facts.engine.as_mut().unwrap().logging = "json-file".into();
        assert_eq!(unsupported(&facts), ["docker_configuration", "os", "os_agent"]);
    }

    /// A change that breaks one rule.
    type Breaker = fn(&mut Facts);

    #[test]
    fn each_rule_trips_on_its_fact() {
        let cases: Vec<(&str, Breaker)> = vec![
            ("apparmor", |f| f.apparmor = None),
            ("apparmor", |f| f.apparmor = Some(false)),
            ("cgroup_version", |f| f.engine.as_mut().unwrap().cgroup = "3".into()),
            ("connectivity_check", |f| f.connectivity_check_enabled = Some(false)),
            ("dbus", |f| f.dbus = false),
            ("dns_server", |f| {
                f.dns_fallback = false;
                f.dns_server_issues = true;
            }),
            ("docker_configuration", |f| f.engine.as_mut().unwrap().storage = "vfs".into()),
            ("docker_version", |f| f.engine.as_mut().unwrap().version = "23.0.6".into()),
            ("home_assistant_core_custom_image", |f| f.core.image = "me/my-core".into()),
            ("home_assistant_core_version", |f| f.core.version = Some("2024.11.0".into())),
            ("job_conditions", |f| f.ignored_conditions = true),
            ("lxc", |f| f.lxc = true),
            ("network_manager", |f| {
                f.features.remove("network");
            }),
            ("os_version", |f| f.os.as_mut().unwrap().version = Some("12.4".into())),
            ("privileged", |f| f.privileged = false),
            ("supervisor_version", |f| f.supervisor_outdated = true),
            ("system_architecture", |f| f.arch = "armv7".into()),
            ("systemd", |f| {
                f.features.remove("timedate");
            }),
            ("systemd_journal", |f| {
                f.features.remove("journal");
            }),
            ("systemd_resolved", |f| {
                f.features.remove("resolved");
            }),
            ("virtualization_image", |f| f.virtualization = "kvm".into()),
        ];
        for (reason, break_it) in cases {
            let mut facts = good();
            break_it(&mut facts);
            assert_eq!(unsupported(&facts), [reason], "{reason}");
        }
    }

    #[test]
    fn foreign_and_misconfigured_containers() {
        let mut facts = good();
        let containers = facts.containers.as_mut().unwrap();
        containers.push(Container { name: "x".into(), image: "containrrr/watchtower".into(), ..Container::default() });
        containers[0].restart_policy = "always".into();
        assert_eq!(unsupported(&facts), ["software", "restart_policy"]);
        assert_eq!(unhealthy_images(&facts), ["containrrr/watchtower"]);
        facts.known_images.insert("containrrr/watchtower".into());
        assert!(unhealthy_images(&facts).is_empty());
    }

    #[test]
    fn unknown_facts_leave_their_verdict_open() {
        let mut facts = good();
        facts.engine = None;
        facts.containers = None;
        facts.connectivity_check_enabled = None;
        let open: Vec<&str> =
            evaluate(&facts).into_iter().filter(|v| v.unsupported.is_none()).map(|v| v.reason).collect();
        assert_eq!(
            open,
            [
                "cgroup_version",
                "connectivity_check",
                "software",
                "docker_configuration",
                "docker_version",
                "restart_policy"
            ]
        );
    }

    #[test]
    fn a_failing_dns_server_is_unsupported_only_without_the_fallback_and_while_running() {
        let mut facts = good();
        facts.dns_server_issues = true;
        assert_eq!(unsupported(&facts), Vec::<&str>::new(), "the fallback answers instead");
        facts.dns_server_issues = false;
        facts.dns_fallback = false;
        assert_eq!(unsupported(&facts), Vec::<&str>::new(), "no DNS server fails");
        facts.dns_server_issues = true;
        facts.running = false;
        let dns = evaluate(&facts).into_iter().find(|v| v.reason == "dns_server").unwrap();
        assert_eq!(dns.unsupported, None, "judged while running only");
    }

    #[test]
    fn core_versions_two_years_behind_the_latest() {
        let core = |version: &str, latest: &str| Core {
            version: Some(version.into()),
            latest: Some(latest.into()),
            ..Core::default()
        };
        assert!(!core_too_old(&core("2024.12.0", "2026.12.0")));
        assert!(core_too_old(&core("2024.11.5", "2026.12.0")));
        assert!(!core_too_old(&core("landingpage", "2026.12.0")));
        assert!(core_too_old(&core("2026.1.0", "dev")));
    }
}
