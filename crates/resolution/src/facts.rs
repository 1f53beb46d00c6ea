//! Reads the [`Facts`] the evaluations judge: from the host's files under `--host-root`, the
//! watched D-Bus services, the engine and the other managers.

use crate::evaluations::{Container, Core, Engine, Facts, Os};
use crate::model::{ContextType, Issue};
use crate::Parts;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};
use std::collections::BTreeSet;

/// The facts of this moment; `issues` are the ones the resolution center holds.
pub async fn gather(parts: &Parts, issues: &[Issue]) -> Facts {
    let root = &parts.host_root;
    let services = parts.host.services();
    let read = |path: &str| std::fs::read(root.join(path)).ok();
    let engine = parts.docker.engine().map(|e| Engine {
        version: e.version,
        storage: e.storage,
        logging: e.logging,
        cgroup: e.cgroup,
    });
    let os = parts.system.haos().then(|| Os {
        version: parts.os.version(),
        latest: parts.os.latest_version_unrestricted(),
        board: parts.os.board(),
    });
    let (containers, known_images) = containers(parts).await;
    Facts {
        apparmor: read("sys/module/apparmor/parameters/enabled")
            .map(|text| String::from_utf8_lossy(&text).trim().eq_ignore_ascii_case("y")),
        lxc: read("proc/1/environ").is_some_and(|env| env.split(|&b| b == 0).any(|var| var == b"container=lxc"))
            || root.join("dev/lxd/sock").exists(),
        dbus: services.bus.is_some(),
        engine,
        features: parts.host.features().into_iter().map(|f| f.name().to_owned()).collect(),
        connectivity_check_enabled: services.network.state().map(|state| state.connectivity_check_enabled),
        os,
        virtualization: services.systemd.state().map(|state| state.virtualization).unwrap_or_default(),
        // SAFETY: geteuid has no preconditions and cannot fail.
        privileged: unsafe { libc::geteuid() } == 0,
        arch: base::arch::arch().to_owned(),
        core: Core {
            image: if parts.core.config().installed() { parts.core.image() } else { String::new() },
            default_image: parts.core.default_image(),
            version: parts.core.version(),
            latest: parts.core.version_latest(),
        },
        supervisor_outdated: !parts.updater.auto_update() && parts.supervisor.update_available(),
        ignored_conditions: !parts.jobs.ignored_conditions().is_empty(),
        containers,
        known_images,
        running: parts.system.state() == base::CoreState::Running,
        dns_fallback: parts.plugins.dns_options().fallback,
        dns_server_issues: issues.iter().any(|issue| issue.subject.context == ContextType::DnsServer),
    }
}

/// The running containers (`None` when the engine cannot list them), and the images the
/// supervisor itself runs. Core's, the add-ons' and the plugins' containers are the
/// supervisor's by name; the observer alone is meant to restart by itself.
async fn containers(parts: &Parts) -> (Option<Vec<Container>>, BTreeSet<String>) {
    let mut known: BTreeSet<String> = BTreeSet::new();
    known.insert(image_name(&parts.core.image()));
    let mut ours: Vec<(String, &'static str)> = vec![(parts.core.container_name(), "no")];
    for addon in parts.addons.list() {
        ours.push((parts.addons.container_name(&addon.slug), "no"));
    }
    for plugin in plugins::Plugin::ALL {
        known.insert(image_name(&parts.plugins.image(plugin)));
        let policy = if plugin == plugins::Plugin::Observer { "always" } else { "no" };
        ours.push((parts.plugins.container_name(plugin), policy));
    }
    let Ok(client) = parts.docker.client() else { return (None, known) };
    let Ok(summaries) = client.list_containers(None::<ListContainersOptions>).await else { return (None, known) };
    let mut containers = Vec::with_capacity(summaries.len());
    for summary in summaries {
        let name =
            summary.names.iter().flatten().next().map(|n| n.trim_start_matches('/').to_owned()).unwrap_or_default();
        let managed = ours.iter().find(|(ours, _)| *ours == name).map(|&(_, policy)| policy);
        let restart_policy = if managed.is_some() {
            let inspect = client.inspect_container(&name, None::<InspectContainerOptions>).await.ok();
            let policy = inspect.and_then(|i| i.host_config?.restart_policy?.name);
            policy.map(|p| p.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        let image = image_name(summary.image.as_deref().unwrap_or_default());
        if managed.is_some() {
            known.insert(image.clone());
        }
        containers.push(Container { name, image, restart_policy, managed });
    }
    (Some(containers), known)
}

/// An image reference without its tag or digest.
fn image_name(reference: &str) -> String {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match without_digest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name.to_owned(),
        _ => without_digest.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::image_name;

    #[test]
    fn image_names_lose_their_tag_but_keep_the_registry_port() {
        assert_eq!(
            image_name("ghcr.io/home-assistant/amd64-homeassistant:2026.12.0"),
            "ghcr.io/home-assistant/amd64-homeassistant"
        );
        assert_eq!(image_name("127.0.0.1:5000/core"), "127.0.0.1:5000/core");
        assert_eq!(image_name("127.0.0.1:5000/core:1@sha256:abc"), "127.0.0.1:5000/core");
    }
}
