//! The dns plugin's side of the manager: its options (`/dns/options`, `/dns/reset`), the host's
//! resolvers and name protocols `/dns/info` shows, and its files (`dns.json`, `hosts`) written
//! whenever what they say changes, the running plugin told with SIGHUP.

use crate::config::DnsOptions;
use crate::dns::{self, ForwardConfig, HostEntry};
use crate::manager::PluginManager;
use crate::Plugin;
use base::Error;
use bollard::query_parameters::{InspectContainerOptions, KillContainerOptionsBuilder};
use std::net::Ipv4Addr;

impl PluginManager {
    pub fn dns_options(&self) -> DnsOptions {
        self.inner.dns_options.get()
    }

    /// The host's resolvers, as `dns://` URLs.
    pub fn locals(&self) -> Vec<String> {
        let network_manager = self.inner.host.network.state().map(|state| {
            state.dns.iter().flat_map(|configuration| configuration.nameservers.iter().cloned()).collect()
        });
        dns::locals(network_manager, &self.inner.settings.host_root)
    }

    /// Whether the host resolves multicast DNS names (systemd-resolved).
    pub fn mdns(&self) -> bool {
        self.inner.host.resolved.state().is_some_and(|state| dns::resolves(&state.multicast_dns))
    }

    /// Whether the host resolves LLMNR names (systemd-resolved).
    pub fn llmnr(&self) -> bool {
        self.inner.host.resolved.state().is_some_and(|state| dns::resolves(&state.llmnr))
    }

    /// Sets the upstream servers and the fallback (each if given), checked first, on disk first,
    /// then tells the plugin.
    pub async fn set_dns_options(&self, servers: Option<Vec<String>>, fallback: Option<bool>) -> Result<(), Error> {
        if let Some(servers) = &servers {
            dns::validate_servers(servers).map_err(|why| Error::invalid(format!("servers: {why}")))?;
        }
        self.inner.dns_options.update(|options| {
            if let Some(servers) = servers {
                options.servers = servers;
            }
            if let Some(fallback) = fallback {
                options.fallback = fallback;
            }
        })?;
        self.write_dns_files(true).await
    }

    /// Forgets the user's servers, turns the fallback on and writes the files anew.
    pub async fn reset_dns(&self) -> Result<(), Error> {
        self.inner.dns_options.update(|options| *options = DnsOptions::default())?;
        *self.inner.dns_files.lock().await = None;
        self.write_dns_files(true).await
    }

    /// Writes the files again when what they say changed, once there are files (the dns plugin
    /// is installed, or the options were set); failures are logged.
    pub(crate) async fn refresh_dns_files(&self) {
        let written = self.config_dir(Plugin::Dns).join("dns.json").is_file();
        if self.version(Plugin::Dns).is_none() && !written {
            return;
        }
        if let Err(e) = self.write_dns_files(true).await {
            tracing::warn!("can't update the dns plugin's files: {}", e.message);
        }
    }

    /// Writes `dns.json` and `hosts` into the dns plugin's config folder when they changed (or
    /// are gone); with `signal`, a running plugin is then told to read them (SIGHUP).
    pub(crate) async fn write_dns_files(&self, signal: bool) -> Result<(), Error> {
        let options = self.dns_options();
        let debug = tracing::enabled!(tracing::Level::DEBUG);
        let forward = ForwardConfig::new(options.servers, self.locals(), options.fallback, debug);
        let config = serde_json::to_vec_pretty(&forward).expect("the config serializes");
        let hosts = dns::render_hosts(&self.host_entries().await).into_bytes();
        let dir = self.config_dir(Plugin::Dns);
        let (config_file, hosts_file) = (dir.join("dns.json"), dir.join("hosts"));
        let mut written = self.inner.dns_files.lock().await;
        let current = written.as_ref().is_some_and(|(c, h)| *c == config && *h == hosts);
        if current && config_file.is_file() && hosts_file.is_file() {
            return Ok(());
        }
        let write = |path: &std::path::Path, bytes: &[u8]| {
            base::fs::atomic_write(path, bytes, 0o644)
                .map_err(|e| Error::internal(format!("Can't update {}: {e}", path.display())))
        };
        base::fs::ensure_real_dir(&dir).map_err(|e| Error::internal(format!("can't make {}: {e}", dir.display())))?;
        write(&config_file, &config)?;
        write(&hosts_file, &hosts)?;
        *written = Some((config, hosts));
        drop(written);
        if signal && self.running(Plugin::Dns).await {
            let client = self.inner.docker.client()?;
            let options = KillContainerOptionsBuilder::default().signal("SIGHUP").build();
            if let Err(e) = client.kill_container(&self.container_name(Plugin::Dns), Some(options)).await {
                tracing::warn!("can't tell the dns plugin of its new files: {e}");
            }
        }
        Ok(())
    }

    /// The names the dns plugin answers itself, as the real Supervisor's hosts file has them:
    /// the supervisor and Core (both on the host, at the network's gateway here), the installed
    /// plugins, and every add-on on the network under its hostname.
    async fn host_entries(&self) -> Vec<HostEntry> {
        let mut entries = vec![HostEntry::new(Ipv4Addr::LOCALHOST, &["localhost"])];
        let Ok(network) = self.docker().ensure_network().await else { return entries };
        entries.push(HostEntry::new(network.gateway, &["hassio", "supervisor"]));
        entries.push(HostEntry::new(network.gateway, &["homeassistant", "home-assistant"]));
        for plugin in Plugin::ALL {
            if self.version(plugin).is_some() {
                if let Some(address) = self.address(plugin).await {
                    entries.push(HostEntry::new(address, &[plugin.slug()]));
                }
            }
        }
        entries.extend(self.addon_entries(&network.name).await);
        entries
    }

    /// The add-ons' containers on the network, by hostname.
    async fn addon_entries(&self, network: &str) -> Vec<HostEntry> {
        let Ok(client) = self.docker().client() else { return Vec::new() };
        let Ok(inspect) = client.inspect_network(network, None).await else { return Vec::new() };
        let prefix = self.docker().container_name("addon_");
        let mut entries = Vec::new();
        for endpoint in inspect.containers.unwrap_or_default().into_values() {
            let (Some(name), Some(address)) = (endpoint.name, endpoint.ipv4_address) else { continue };
            let Some(address) = address.split('/').next().and_then(|a| a.parse::<Ipv4Addr>().ok()) else { continue };
            if !name.starts_with(&prefix) {
                continue;
            }
            let container = client.inspect_container(&name, None::<InspectContainerOptions>).await;
            if let Some(hostname) = container.ok().and_then(|c| c.config).and_then(|c| c.hostname) {
                entries.push(HostEntry { address, names: vec![hostname] });
            }
        }
        entries.sort_by(|a, b| a.names.cmp(&b.names));
        entries
    }
}
