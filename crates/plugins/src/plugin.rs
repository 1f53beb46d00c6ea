//! The five plugins and what tells them apart: their names, job names, network place and the
//! real Supervisor's behaviour where it differs between them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One of the plugin containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plugin {
    Dns,
    Audio,
    Cli,
    Observer,
    Multicast,
}

impl Plugin {
    /// In the order they are loaded at start: the resolver first, so that the others start with
    /// it in place.
    pub const ALL: [Plugin; 5] = [Plugin::Dns, Plugin::Audio, Plugin::Cli, Plugin::Observer, Plugin::Multicast];

    /// The name in paths, images, containers and the version manifest.
    pub const fn slug(self) -> &'static str {
        match self {
            Plugin::Dns => "dns",
            Plugin::Audio => "audio",
            Plugin::Cli => "cli",
            Plugin::Observer => "observer",
            Plugin::Multicast => "multicast",
        }
    }

    /// How logs and errors name it, as the real Supervisor does.
    pub const fn title(self) -> &'static str {
        match self {
            Plugin::Dns => "CoreDNS",
            Plugin::Audio => "Audio",
            Plugin::Cli => "HA cli",
            Plugin::Observer => "HA observer",
            Plugin::Multicast => "Multicast",
        }
    }

    /// The plugin a name (from a flag) stands for.
    pub fn from_slug(slug: &str) -> Option<Plugin> {
        Plugin::ALL.into_iter().find(|plugin| plugin.slug() == slug)
    }

    /// The container's name before the instance prefix.
    pub fn container(self) -> String {
        format!("hassio_{}", self.slug())
    }

    /// The place of its fixed address in the container network (`.3` for dns), as the real
    /// Supervisor gives it; `None` for the plugins on the host's network.
    pub const fn offset(self) -> Option<u32> {
        match self {
            Plugin::Dns => Some(3),
            Plugin::Audio => Some(4),
            Plugin::Cli => Some(5),
            Plugin::Observer | Plugin::Multicast => None,
        }
    }

    /// The observer serves the host's port and the multicast repeater needs the host's
    /// interfaces.
    pub const fn host_network(self) -> bool {
        self.offset().is_none()
    }

    /// The job of an update (`plugin_dns_update`).
    pub fn update_job(self) -> String {
        format!("plugin_{}_update", self.slug())
    }

    /// The watchdog's job (`plugin_dns_restart_after_problem`).
    pub fn watchdog_job(self) -> String {
        format!("plugin_{}_restart_after_problem", self.slug())
    }

    /// The job that makes and starts the container (`docker_dns_run`).
    pub fn run_job(self) -> String {
        format!("docker_{}_run", self.slug())
    }

    /// The API refuses to update to the installed version of these; the cli and the observer
    /// only log it, as the real handlers do.
    pub const fn refuses_same_version(self) -> bool {
        matches!(self, Plugin::Dns | Plugin::Audio | Plugin::Multicast)
    }

    /// Plugins with a token of their own for the supervisor's API, renewed with each container.
    pub const fn has_token(self) -> bool {
        matches!(self, Plugin::Cli | Plugin::Observer)
    }
}

impl fmt::Display for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// Which plugins the daemon installs when they are missing, from `--plugins-install`: `true`
/// (all), `false` (none) or a comma-separated list of names (`cli,dns`).
pub fn parse_install(value: &str) -> Result<Vec<Plugin>, String> {
    match value.trim() {
        "true" => return Ok(Plugin::ALL.to_vec()),
        "false" | "" => return Ok(Vec::new()),
        _ => {}
    }
    let mut plugins = Vec::new();
    for name in value.split(',').map(str::trim).filter(|name| !name.is_empty()) {
        let plugin = Plugin::from_slug(name).ok_or_else(|| {
            format!("unknown plugin {name:?}: use true, false or names among dns, audio, cli, observer, multicast")
        })?;
        if !plugins.contains(&plugin) {
            plugins.push(plugin);
        }
    }
    Ok(plugins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_jobs_are_the_real_ones() {
        assert_eq!(Plugin::Dns.container(), "hassio_dns");
        assert_eq!(Plugin::Multicast.update_job(), "plugin_multicast_update");
        assert_eq!(Plugin::Observer.watchdog_job(), "plugin_observer_restart_after_problem");
        assert_eq!(Plugin::Cli.run_job(), "docker_cli_run");
        assert_eq!(Plugin::from_slug("audio"), Some(Plugin::Audio));
        assert_eq!(Plugin::from_slug("hassio_audio"), None);
    }

    #[test]
    fn only_bridge_plugins_have_a_fixed_place() {
        let places: Vec<_> = Plugin::ALL.iter().map(|p| p.offset()).collect();
        assert_eq!(places, vec![Some(3), Some(4), Some(5), None, None]);
        assert!(Plugin::Observer.host_network() && !Plugin::Dns.host_network());
    }

    #[test]
    fn the_install_flag_takes_all_none_or_a_list() {
        assert_eq!(parse_install("true").unwrap(), Plugin::ALL.to_vec());
        assert_eq!(parse_install("false").unwrap(), Vec::<Plugin>::new());
        assert_eq!(parse_install("cli, dns,cli").unwrap(), vec![Plugin::Cli, Plugin::Dns]);
        let error = parse_install("cli,coredns").unwrap_err();
        assert!(error.contains("\"coredns\""), "{error}");
    }
}
