//! What the device API's endpoints do, over the daemon's own managers: the device's facts from
//! the host services and the network interfaces, the host config (hostname through the host
//! manager, the proxy files of [`crate::proxy`]), reboot and shutdown through the host manager
//! behind the update locks, the identifying blink of the board's LED, and the journal.

use crate::engine::EngineState;
use crate::keys::Keys;
use crate::proxy::{self, Change, Proxy, ProxyFiles};
use crate::target::Target;
use base::{DataDir, System};
use host::HostManager;
use serde::Serialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use update_locks::{LockError, Locks};
use utoipa::ToSchema;

/// How long the LED blinks, and how fast.
const BLINK_FOR: Duration = Duration::from_secs(15);
const BLINK_EVERY: Duration = Duration::from_millis(500);

/// The units balenaOS restarts to apply new proxy settings, where the host has them.
const PROXY_UNITS: [&str; 3] = ["balena-proxy-config.service", "resin-proxy-config.service", "redsocks.service"];

/// Interfaces whose addresses are not the device's: loopback, containers, bridges, tunnels.
const HIDDEN_INTERFACES: [&str; 11] =
    ["lo", "docker", "veth", "br-", "hassio", "balena", "resin", "supervisor0", "tun", "virbr", "cni"];

/// A device action that could not be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// An update lock is held (423).
    Locked(String),
    Failed(String),
}

impl From<LockError> for ActionError {
    fn from(error: LockError) -> Self {
        match error {
            LockError::Locked(message) => ActionError::Locked(message),
            LockError::Failed(message) => ActionError::Failed(message),
        }
    }
}

/// `GET /v1/device`: the device's state, as a device in local mode reports it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceState {
    /// The device API's port.
    pub api_port: u16,
    /// The device's addresses, separated by spaces.
    pub ip_address: String,
    /// The MAC addresses of its interfaces, separated by spaces.
    pub mac_address: String,
    /// The commit of the running application; none without one.
    pub commit: Option<String>,
    /// `Stopping`, `Starting`, `Downloading`, `Installing` or `Idle`.
    pub status: String,
    /// Percent of the update downloaded; `null` when nothing downloads.
    pub download_progress: Option<u8>,
    pub os_version: Option<String>,
    pub supervisor_version: String,
    pub update_pending: bool,
    pub update_downloaded: bool,
    pub update_failed: bool,
}

/// `GET /v1/device/host-config`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HostConfig {
    pub network: NetworkConfig,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NetworkConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Proxy>,
    pub hostname: String,
}

/// A checked `PATCH /v1/device/host-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfigPatch {
    /// The new hostname; empty resets it to the default.
    pub hostname: Option<String>,
    pub proxy: Option<Change>,
}

/// The parts the device API works with.
pub struct Parts {
    pub data: DataDir,
    pub host: Arc<HostManager>,
    pub system: Arc<System>,
    /// The machine type (`--machine`), the device type of `/v2/local/device-info`.
    pub machine: String,
    /// The engine the applications run on.
    pub docker: Arc<docker::DockerManager>,
    pub jobs: jobs::JobManager,
    /// Where the target state is kept.
    pub store: state::Section,
}

/// The device API's manager.
pub struct BalenaManager {
    pub(crate) parts: Parts,
    pub(crate) keys: Keys,
    pub(crate) locks: Locks,
    proxy: ProxyFiles,
    api_address: Mutex<SocketAddr>,
    /// The supervisor network's gateway, and whether the device API is served there.
    pub(crate) gateway: tokio::sync::watch::Sender<crate::supervisor_network::Gateway>,
    blinking: AtomicBool,
    /// The stored target state.
    pub(crate) target: state::Persisted<Target>,
    pub(crate) engine: EngineState,
}

impl BalenaManager {
    /// Loads the keys (making the device's at the first start) and the target state.
    pub fn new(parts: Parts) -> std::io::Result<BalenaManager> {
        let keys = Keys::load(&parts.data)?;
        let locks = Locks::new(parts.data.balena_locks());
        let proxy = ProxyFiles::new(parts.data.balena_system_proxy());
        let target = state::Persisted::load(parts.store.clone(), "target").map_err(std::io::Error::other)?;
        Ok(BalenaManager {
            parts,
            keys,
            locks,
            proxy,
            api_address: Mutex::new(SocketAddr::from((Ipv4Addr::LOCALHOST, crate::DEFAULT_PORT))),
            gateway: tokio::sync::watch::Sender::default(),
            blinking: AtomicBool::new(false),
            target,
            engine: EngineState::default(),
        })
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn locks(&self) -> &Locks {
        &self.locks
    }

    /// The address the device API listens on, once it is bound.
    pub fn set_api_address(&self, address: SocketAddr) {
        *self.api_address.lock().unwrap_or_else(|e| e.into_inner()) = address;
    }

    /// Whether the device API listens on every address, its supervisor network's gateway among
    /// them.
    pub fn listens_everywhere(&self) -> bool {
        self.api_address.lock().unwrap_or_else(|e| e.into_inner()).ip().is_unspecified()
    }

    /// Where services on the host's network reach the device API: its address, the loopback
    /// one when it listens on every address.
    pub fn api_address(&self) -> SocketAddr {
        let mut address = *self.api_address.lock().unwrap_or_else(|e| e.into_inner());
        if address.ip().is_unspecified() {
            address.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        address
    }

    /// Whether the supervisor is healthy (`/v1/healthy`).
    pub fn healthy(&self) -> bool {
        self.parts.system.healthy()
    }

    /// The device's state.
    pub fn device(&self) -> DeviceState {
        let (ip_address, mac_address) = addresses();
        DeviceState {
            api_port: self.api_address().port(),
            ip_address,
            mac_address,
            commit: None,
            status: "Idle".to_owned(),
            download_progress: None,
            os_version: self.parts.host.hostname_and_os().1,
            supervisor_version: base::SUPERVISOR_VERSION.to_owned(),
            update_pending: false,
            update_downloaded: false,
            update_failed: false,
        }
    }

    /// The device's name: the one given (`PATCH /v2/device/name`, the target's `name`), else
    /// its hostname.
    pub fn device_name(&self) -> String {
        let named = self.target.read().name.clone();
        if !named.is_empty() {
            return named;
        }
        self.parts.host.hostname_and_os().0.unwrap_or_else(|| self.default_hostname())
    }

    /// The architecture and device type, in balena's names.
    pub fn device_info(&self) -> (&'static str, String) {
        let arch = match base::arch::arch() {
            "aarch64" => "aarch64",
            "armv7" => "armv7hf",
            "armhf" => "rpi",
            "i386" => "i386",
            _ => "amd64",
        };
        (arch, self.parts.machine.clone())
    }

    /// The host config.
    pub fn host_config(&self) -> Result<HostConfig, base::Error> {
        let proxy =
            self.proxy.read().map_err(|e| base::Error::internal(format!("Can't read the proxy settings: {e}")))?;
        let hostname = self.parts.host.hostname_and_os().0.unwrap_or_else(|| self.default_hostname());
        Ok(HostConfig { network: NetworkConfig { proxy, hostname } })
    }

    /// Applies a checked host config: the hostname first (hostnamed may still refuse it, and
    /// then nothing changed), then the proxy files, then the proxy services restarted.
    pub async fn patch_host_config(&self, patch: HostConfigPatch) -> Result<(), base::Error> {
        if let Some(hostname) = &patch.hostname {
            let hostname = if hostname.is_empty() { self.default_hostname() } else { hostname.clone() };
            self.parts.host.set_hostname(&hostname).await?;
        }
        if let Some(change) = &patch.proxy {
            self.proxy
                .write(change)
                .map_err(|e| base::Error::internal(format!("Can't write the proxy settings: {e}")))?;
            tracing::info!("host proxy settings changed");
            for unit in PROXY_UNITS {
                if let Err(error) = self.parts.host.unit_action(unit, host::UnitAction::Restart).await {
                    tracing::debug!("{unit} not restarted: {}", error.message);
                }
            }
        }
        Ok(())
    }

    /// The hostname an empty one resets to: the first 7 characters of the device's id, as the
    /// balena Supervisor takes them from the device's uuid.
    fn default_hostname(&self) -> String {
        base::system::machine_id().map(|id| id.chars().take(7).collect()).unwrap_or_else(|| "balena".to_owned())
    }

    /// Reboots the host once no update lock is held (or `force`), holding the locks meanwhile.
    pub async fn reboot(&self, force: bool) -> Result<(), ActionError> {
        let _held = self.locks.lock_all(force).await?;
        tracing::info!(force, "reboot requested through the balena device API");
        self.parts.host.reboot().await.map_err(|e| ActionError::Failed(e.message))
    }

    /// Powers the host off once no update lock is held (or `force`), holding the locks meanwhile.
    pub async fn shutdown(&self, force: bool) -> Result<(), ActionError> {
        let _held = self.locks.lock_all(force).await?;
        tracing::info!(force, "shutdown requested through the balena device API");
        self.parts.host.shutdown().await.map_err(|e| ActionError::Failed(e.message))
    }

    /// Blinks the board's LED for 15 seconds (the OS-Agent's power LED of a Yellow, the user LED
    /// of a Green), then sets it back; on other boards it is only logged. A blink already going
    /// on is not restarted.
    pub fn blink(self: &Arc<Self>) {
        if self.blinking.swap(true, Ordering::SeqCst) {
            return;
        }
        let manager = Arc::clone(self);
        actix_web::rt::spawn(async move {
            let agent = &manager.parts.host.services().os_agent;
            if let Some(yellow) = agent.yellow.state() {
                blink("power", yellow.power_led, |on| agent.yellow.set_power_led(on)).await;
            } else if let Some(green) = agent.green.state() {
                blink("user", green.user_led, |on| agent.green.set_user_led(on)).await;
            } else {
                tracing::info!("blink requested: this board has no LED the supervisor can blink");
            }
            manager.blinking.store(false, Ordering::SeqCst);
        });
    }

    /// The journal, as `journalctl` prints it.
    pub async fn journal(
        &self,
        request: &journal::Journalctl,
    ) -> Result<futures_util::stream::BoxStream<'static, bytes::Bytes>, journal::JournalError> {
        self.parts.host.journal().journalctl(request).await
    }
}

/// Checks a `PATCH /v1/device/host-config` body in full; the message names the bad field.
pub fn host_config_patch(body: &serde_json::Map<String, serde_json::Value>) -> Result<HostConfigPatch, String> {
    if let Some(unknown) = body.keys().find(|key| !matches!(key.as_str(), "network" | "force")) {
        return Err(format!("{unknown} is not a host config setting"));
    }
    let network = match body.get("network") {
        Some(serde_json::Value::Object(network)) => network,
        Some(_) => return Err("network must be an object".to_owned()),
        None => return Err("Key 'network' must exist in PATCH body".to_owned()),
    };
    if let Some(unknown) = network.keys().find(|key| !matches!(key.as_str(), "hostname" | "proxy")) {
        return Err(format!("network.{unknown} is not a host config setting"));
    }
    let hostname = match network.get("hostname") {
        None => None,
        Some(serde_json::Value::Null) => Some(String::new()),
        Some(serde_json::Value::String(hostname)) if valid_hostname(hostname) => Some(hostname.clone()),
        Some(_) => {
            return Err("network.hostname must be a hostname: letters, digits, '-' and '.', at most 253".to_owned())
        }
    };
    let proxy = network.get("proxy").map(proxy::parse).transpose()?;
    Ok(HostConfigPatch { hostname, proxy })
}

/// Empty (the default), or a name hostnamed can take as static hostname.
fn valid_hostname(name: &str) -> bool {
    let label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    name.is_empty() || (name.len() <= 253 && name.split('.').all(label))
}

/// The device's addresses and MAC addresses, of the interfaces that are its own.
fn addresses() -> (String, String) {
    let Ok(interfaces) = nix::ifaddrs::getifaddrs() else { return (String::new(), String::new()) };
    let mut ips = Vec::new();
    let mut macs = Vec::new();
    for interface in interfaces {
        if HIDDEN_INTERFACES.iter().any(|hidden| interface.interface_name.starts_with(hidden)) {
            continue;
        }
        let Some(address) = interface.address else { continue };
        if let Some(ip) = address.as_sockaddr_in() {
            ips.push(ip.ip().to_string());
        } else if let Some(ip) = address.as_sockaddr_in6() {
            let ip = ip.ip();
            // Link-local addresses are not the device's to reach.
            if ip.segments()[0] & 0xffc0 != 0xfe80 {
                ips.push(ip.to_string());
            }
        } else if let Some(mac) = address.as_link_addr().and_then(|link| link.addr()) {
            let mac = mac.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":");
            if mac != "00:00:00:00:00:00" && !macs.contains(&mac) {
                macs.push(mac);
            }
        }
    }
    (ips.join(" "), macs.join(" "))
}

/// Toggles the `name` LED through `set` every [`BLINK_EVERY`] for [`BLINK_FOR`], then puts it
/// back as it `was`.
async fn blink<F, Fut, E>(name: &str, was: bool, set: F)
where
    F: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tracing::info!("blinking the {name} LED");
    let mut on = was;
    for _ in 0..BLINK_FOR.as_millis() / BLINK_EVERY.as_millis() {
        on = !on;
        if let Err(error) = set(on).await {
            tracing::warn!("can't blink the {name} LED: {error}");
            break;
        }
        tokio::time::sleep(BLINK_EVERY).await;
    }
    let _ = set(was).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(body: serde_json::Value) -> Result<HostConfigPatch, String> {
        host_config_patch(body.as_object().unwrap())
    }

    #[test]
    fn host_config_patches_are_checked_in_full() {
        assert_eq!(
            patch(json!({"network": {"hostname": "newname"}, "force": true})).unwrap(),
            HostConfigPatch { hostname: Some("newname".into()), proxy: None }
        );
        assert_eq!(patch(json!({"network": {"hostname": ""}})).unwrap().hostname.as_deref(), Some(""));
        assert_eq!(patch(json!({"network": {"proxy": {}}})).unwrap().proxy, Some(Change::Clear));
        for (body, field) in [
            (json!({}), "Key 'network'"),
            (json!({"network": 1}), "network"),
            (json!({"network": {"hostname": "a b"}}), "network.hostname"),
            (json!({"network": {"hostname": 7}}), "network.hostname"),
            (json!({"network": {"hostname": "-a"}}), "network.hostname"),
            (json!({"network": {"dns": true}}), "network.dns"),
            (
                json!({"network": {"hostname": "ok", "proxy": {"type": "x", "ip": "a", "port": 1}}}),
                "network.proxy.type",
            ),
            (json!({"other": 1, "network": {}}), "other"),
        ] {
            let message = patch(body.clone()).unwrap_err();
            assert!(message.starts_with(field), "{body}: {message}");
        }
    }
}
