//! The Docker manager: connection, engine facts and persisted engine settings.

use base::{Error, System};
use bollard::auth::DockerCredentials;
use bollard::Docker;
use serde::{Deserialize, Serialize};
use state::{Persisted, Store};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Registry login as stored; the password never leaves the supervisor except to the engine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Registry {
    pub username: String,
    pub password: String,
}

/// What the user configured for the engine.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DockerConfig {
    pub enable_ipv6: Option<bool>,
    pub mtu: Option<u32>,
    pub registries: BTreeMap<String, Registry>,
}

/// What the engine reported when the supervisor connected.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    pub version: String,
    pub storage: String,
    pub logging: String,
    /// The cgroup version the engine runs containers with (`1`, `2`).
    pub cgroup: String,
}

/// The key under which Docker Hub credentials are stored, as the real Supervisor names it.
pub const DOCKER_HUB: &str = "hub.docker.com";
/// The other name users give Docker Hub.
const DOCKER_HUB_OFFICIAL: &str = "docker.io";

/// How the supervisor names what it creates on the engine. Several supervisors can share one
/// engine (the test suite runs many at once) when each has its own instance prefix and network.
#[derive(Debug, Clone)]
pub struct Naming {
    /// Prefix of every container and locally built image name; empty in production.
    pub instance: String,
    /// The bridge network of add-ons, Core and plugins.
    pub network: String,
    /// Its subnet; `None` lets the engine choose one.
    pub subnet: Option<String>,
}

impl Default for Naming {
    fn default() -> Self {
        Naming {
            instance: String::new(),
            network: "hassio".to_owned(),
            subnet: Some(crate::pull::NETWORK_SUBNET.to_owned()),
        }
    }
}

/// The network containers live on, once it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    pub name: String,
    /// The host's address on the network: where containers reach the supervisor.
    pub gateway: std::net::Ipv4Addr,
    /// Its IPv6 address there, where the network has IPv6.
    pub gateway_v6: Option<std::net::Ipv6Addr>,
    pub subnet: String,
    /// The host's interface of the network (`hassio`, or the engine's `br-<id>`).
    pub bridge: String,
}

pub struct DockerManager {
    socket: String,
    pub(crate) naming: Naming,
    pub(crate) system: Arc<System>,
    config: Persisted<DockerConfig>,
    connection: RwLock<Option<(Docker, EngineInfo)>>,
    /// One connection attempt at a time: a second caller waits for the first's result.
    connecting: tokio::sync::Mutex<()>,
    /// One creation of the network at a time: the engine would make two of the same name.
    pub(crate) creating_network: tokio::sync::Mutex<()>,
    pub(crate) network: tokio::sync::watch::Sender<Option<NetworkInfo>>,
    /// The resolver containers get (`dns`): the dns plugin's address once it is installed.
    resolver: RwLock<Option<std::net::Ipv4Addr>>,
}

impl DockerManager {
    pub fn new(store: &Store, system: Arc<System>, socket: impl Into<String>, naming: Naming) -> state::Result<Self> {
        let config = Persisted::load(store.section("docker")?, "config")?;
        Ok(DockerManager {
            socket: socket.into(),
            naming,
            system,
            config,
            connection: RwLock::default(),
            connecting: tokio::sync::Mutex::new(()),
            creating_network: tokio::sync::Mutex::new(()),
            network: tokio::sync::watch::channel(None).0,
            resolver: RwLock::default(),
        })
    }

    /// The name of the container for `name` (`addon_local_ssh`, say), with the instance prefix.
    pub fn container_name(&self, name: &str) -> String {
        format!("{}{name}", self.naming.instance)
    }

    /// The name of a locally built image (`local/amd64-addon-ssh`), with the instance prefix;
    /// image names must be lower case.
    pub fn local_image_name(&self, name: &str) -> String {
        format!("{}{name}", self.naming.instance).to_lowercase()
    }

    pub fn network_name(&self) -> &str {
        &self.naming.network
    }

    /// The network once it exists, and every later change of it.
    pub fn network(&self) -> tokio::sync::watch::Receiver<Option<NetworkInfo>> {
        self.network.subscribe()
    }

    /// The network as last seen, if it exists.
    pub fn network_info(&self) -> Option<NetworkInfo> {
        self.network.borrow().clone()
    }

    /// Whether containers may have fixed addresses on the network: the engine allows them only
    /// on a network whose subnet was given when it was made.
    pub fn fixed_addresses(&self) -> bool {
        self.naming.subnet.is_some()
    }

    /// The resolver new containers on the network are given, if any.
    pub fn resolver(&self) -> Option<std::net::Ipv4Addr> {
        *self.resolver.read().expect("resolver lock")
    }

    /// Sets (or clears) the resolver of containers made from now on.
    pub fn set_resolver(&self, resolver: Option<std::net::Ipv4Addr>) {
        *self.resolver.write().expect("resolver lock") = resolver;
    }

    /// Connects to the engine if not connected; marks the system unhealthy while it cannot.
    pub async fn connect(&self) -> bool {
        let _attempt = self.connecting.lock().await;
        if self.connection.read().expect("docker connection lock").is_some() {
            return true;
        }
        match self.try_connect().await {
            Ok((docker, info)) => {
                tracing::info!(version = %info.version, storage = %info.storage, "connected to the container engine");
                *self.connection.write().expect("docker connection lock") = Some((docker, info));
                self.system.mark_unhealthy("docker", false);
                // The engine's facts (version, drivers, containers) are evaluated now.
                self.system.request_evaluation();
                true
            }
            Err(e) => {
                tracing::warn!(socket = %self.socket, "container engine not available: {e}");
                self.system.mark_unhealthy("docker", true);
                false
            }
        }
    }

    async fn try_connect(&self) -> Result<(Docker, EngineInfo), bollard::errors::Error> {
        let docker = Docker::connect_with_unix(&self.socket, 120, bollard::API_DEFAULT_VERSION)?;
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| bollard::errors::Error::RequestTimeoutError)??;
        let info = docker.info().await?;
        let unknown = || "unknown".to_owned();
        let engine = EngineInfo {
            version: info.server_version.unwrap_or_else(|| "0.0.0".to_owned()),
            storage: info.driver.unwrap_or_else(unknown),
            logging: info.logging_driver.unwrap_or_else(unknown),
            cgroup: info.cgroup_version.map_or_else(unknown, |version| version.to_string()),
        };
        Ok((docker, engine))
    }

    /// Keeps trying to connect every `period` until connected, then returns.
    pub async fn connect_until_ready(&self, period: Duration) {
        while !self.connect().await {
            tokio::time::sleep(period).await;
        }
    }

    /// The engine client, or 503 when the engine is not reachable.
    pub fn client(&self) -> Result<Docker, Error> {
        self.connection
            .read()
            .expect("docker connection lock")
            .as_ref()
            .map(|(docker, _)| docker.clone())
            .ok_or_else(|| Error::unavailable("The container engine is not available").with_key("docker_unavailable"))
    }

    /// The engine's facts, if connected.
    pub fn engine(&self) -> Option<EngineInfo> {
        self.connection.read().expect("docker connection lock").as_ref().map(|(_, info)| info.clone())
    }

    /// The engine's facts as the info shows them: while it cannot be reached, version `0.0.0`
    /// and the drivers `unknown`.
    pub fn engine_or_unknown(&self) -> EngineInfo {
        self.engine().unwrap_or_else(|| EngineInfo {
            version: "0.0.0".to_owned(),
            storage: "unknown".to_owned(),
            logging: "unknown".to_owned(),
            cgroup: "unknown".to_owned(),
        })
    }

    /// The engine's version, while it is reachable.
    pub fn engine_version(&self) -> Option<String> {
        self.engine().map(|engine| engine.version)
    }

    pub fn config(&self) -> DockerConfig {
        self.config.get()
    }

    /// Applies `change` to the configuration, on disk first, and answers whether it changed.
    pub fn update_config(&self, change: impl FnOnce(&mut DockerConfig)) -> Result<bool, Error> {
        let before = self.config.update(change)?;
        Ok(before != *self.config.read())
    }

    /// The stored login for the registry that serves `image`, if any.
    pub fn credentials_for(&self, image: &str) -> Option<DockerCredentials> {
        let host = registry_of(image);
        let config = self.config.read();
        let (name, login) = match host {
            Some(host) => (host.to_owned(), config.registries.get(host)?),
            None => {
                let login = config.registries.get(DOCKER_HUB).or_else(|| config.registries.get(DOCKER_HUB_OFFICIAL))?;
                (DOCKER_HUB_OFFICIAL.to_owned(), login)
            }
        };
        Some(DockerCredentials {
            username: Some(login.username.clone()),
            password: Some(login.password.clone()),
            serveraddress: Some(name),
            ..Default::default()
        })
    }
}

/// The domain the names of the container network have (`supervisor.local.hass.io`).
pub const DNS_SUFFIX: &str = "local.hass.io";

/// Makes `resolver` a container's resolver, as the real Supervisor sets every container but the
/// dns plugin's: its address, the network's domain to search, and a timeout long enough for the
/// plugin to try its fallback servers on a first query.
pub fn use_resolver(host_config: &mut bollard::models::HostConfig, resolver: std::net::Ipv4Addr) {
    host_config.dns = Some(vec![resolver.to_string()]);
    host_config.dns_search = Some(vec![DNS_SUFFIX.to_owned()]);
    host_config.dns_options = Some(vec!["timeout:10".to_owned()]);
}

/// The registry host named in an image reference, or `None` for Docker Hub.
pub fn registry_of(image: &str) -> Option<&str> {
    let (first, rest) = image.split_once('/')?;
    let is_host = first.contains('.') || first.contains(':') || first == "localhost";
    (is_host && !rest.is_empty()).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_the_first_component_when_it_is_a_host() {
        assert_eq!(registry_of("ghcr.io/home-assistant/amd64-hassio-supervisor"), Some("ghcr.io"));
        assert_eq!(registry_of("localhost:5000/x"), Some("localhost:5000"));
        assert_eq!(registry_of("homeassistant/amd64-base"), None);
        assert_eq!(registry_of("busybox"), None);
    }

    #[test]
    fn credentials_match_the_image_registry() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let docker =
            DockerManager::new(&store, Arc::new(System::default()), "/nonexistent.sock", Naming::default()).unwrap();
        docker
            .update_config(|c| {
                c.registries.insert("ghcr.io".into(), Registry { username: "me".into(), password: "pw".into() });
                c.registries.insert(DOCKER_HUB.into(), Registry { username: "hub".into(), password: "x".into() });
            })
            .unwrap();
        assert_eq!(docker.credentials_for("ghcr.io/a/b").unwrap().username.as_deref(), Some("me"));
        assert_eq!(docker.credentials_for("library/busybox").unwrap().username.as_deref(), Some("hub"));
        assert!(docker.credentials_for("quay.io/a/b").is_none());
    }

    #[test]
    fn an_unreachable_engine_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let docker =
            DockerManager::new(&store, Arc::new(System::default()), "/nonexistent.sock", Naming::default()).unwrap();
        assert_eq!(docker.engine_version(), None);
        let engine = docker.engine_or_unknown();
        assert_eq!(
            (engine.version.as_str(), engine.storage.as_str(), engine.logging.as_str()),
            ("0.0.0", "unknown", "unknown")
        );
    }
}
