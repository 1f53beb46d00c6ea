//! [`Network`]: the host's network through NetworkManager, as the real Supervisor manages it.
//!
//! What it shows is read from the watched state of the NetworkManager client (kept current from
//! NetworkManager's signals, so a new address or a change of connectivity shows at once). What it
//! changes goes through the same steps as the real Supervisor: the interface's profile is updated
//! (and applied in place, or activated again), or a profile is created and activated, or the
//! profile is deleted to disable the interface; VLANs are new profiles, which bring their device.
//! Changes are made one at a time.

use crate::interface::{text, Interface, InterfaceType};
use crate::settings::{connection_settings, merge};
use base::{Error, System};
use dbus::network::{AccessPoint, Device, NetworkState, Settings, ACTIVATED, DEACTIVATED};
use dbus::{HostServices, NetworkManager};
use docker::{DockerManager, NetworkInfo};
use std::sync::Arc;
use std::time::Duration;

/// The real Supervisor's answer when NetworkManager is not there.
const NO_NETWORK_MANAGER: &str = "No network D-Bus connection available";
/// How long an activation may take before the change is reported as failed.
const ACTIVATION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a requested scan may take; its results are read then, finished or not.
const SCAN_TIMEOUT: Duration = Duration::from_secs(5);
/// `NMConnectivityState` full: the host reaches the internet.
const CONNECTIVITY_FULL: u32 = 4;

pub struct Network {
    services: Arc<HostServices>,
    docker: Arc<DockerManager>,
    system: Arc<System>,
    /// Held while the network is being changed.
    changes: tokio::sync::Mutex<()>,
}

impl Network {
    pub fn new(services: Arc<HostServices>, docker: Arc<DockerManager>, system: Arc<System>) -> Network {
        Network { services, docker, system, changes: tokio::sync::Mutex::new(()) }
    }

    fn nm(&self) -> &NetworkManager {
        &self.services.network
    }

    fn state(&self) -> Result<NetworkState, Error> {
        self.nm().state().ok_or_else(|| Error::invalid(NO_NETWORK_MANAGER))
    }

    /// Every interface, in NetworkManager's order; none while NetworkManager is not there.
    pub fn interfaces(&self) -> Vec<Interface> {
        self.nm().state().map(|state| interfaces(&state)).unwrap_or_default()
    }

    /// The interface named `name` (or with that MAC address); `default` is the primary one.
    pub fn interface(&self, name: &str) -> Result<Interface, Error> {
        let all = interfaces(&self.state()?);
        let found = if name.eq_ignore_ascii_case("default") {
            all.into_iter().find(|interface| interface.primary)
        } else {
            all.into_iter().find(|interface| interface.name == name || interface.mac == name)
        };
        found.ok_or_else(|| Error::not_found(format!("Interface {name} does not exist")))
    }

    /// Whether the host reaches the internet, as NetworkManager's connectivity check says;
    /// unknown without NetworkManager or with its check switched off.
    pub fn host_internet(&self) -> Option<bool> {
        let state = self.nm().state()?;
        state.connectivity_check_enabled.then_some(state.connectivity == CONNECTIVITY_FULL)
    }

    /// Whether the supervisor reached the internet on its last attempt.
    pub fn supervisor_internet(&self) -> bool {
        self.system.internet()
    }

    /// The container network's name, and the network once it exists.
    pub fn docker_network(&self) -> (String, Option<NetworkInfo>) {
        (self.docker.network_name().to_owned(), self.docker.network_info())
    }

    /// Reads everything from NetworkManager again and has it check connectivity.
    pub async fn reload(&self) -> Result<(), Error> {
        self.state()?;
        self.refresh().await;
        Ok(())
    }

    async fn refresh(&self) {
        self.nm().refresh().await;
        if self.nm().state().is_some_and(|state| state.connectivity_check_enabled) {
            if let Err(error) = self.nm().check_connectivity().await {
                tracing::warn!("can't update connectivity information: {error}");
            }
        }
    }

    /// Makes `interface` (as changed by a request) what the host has.
    pub async fn apply(&self, interface: Interface) -> Result<(), Error> {
        let _one_at_a_time = self.changes.lock().await;
        let state = self.state()?;
        let device = state
            .device(&interface.name)
            .ok_or_else(|| Error::not_found(format!("Interface {} does not exist", interface.name)))?;
        let outcome = match self.change_profile(&state, device, &interface).await {
            Ok(Some(active)) => self.wait_for_activation(&active).await,
            Ok(None) => Ok(()),
            Err(error) => Err(error),
        };
        // Failed or not, the change is over: what follows sees its outcome.
        self.refresh().await;
        outcome
    }

    /// Updates, creates or deletes the interface's profile as the real Supervisor does; returns
    /// the active connection to wait for, if one is being activated.
    async fn change_profile(
        &self,
        state: &NetworkState,
        device: &Device,
        interface: &Interface,
    ) -> Result<Option<String>, Error> {
        let profile = device
            .active
            .as_ref()
            .and_then(|active| Some((active.settings_path.as_deref()?, active.settings.as_ref()?)));
        match profile {
            Some((path, settings)) if interface.enabled && profile_matches(interface, settings) => {
                self.update_profile(state, device, interface, path).await
            }
            _ if interface.enabled => {
                tracing::info!("creating and activating connection for interface {}", interface.name);
                let settings = connection_settings(interface, None, None, &state.version);
                let (_, active) =
                    self.nm().add_and_activate_connection(&settings, &device.path).await.map_err(|error| {
                        Error::invalid(format!("Can't create config and activate {}: {error}", interface.name))
                    })?;
                Ok(Some(active))
            }
            Some((path, _)) => {
                tracing::info!("deleting configuration for interface {}", interface.name);
                self.nm()
                    .delete_connection(path)
                    .await
                    .map_err(|error| Error::invalid(format!("Can't disable interface {}: {error}", interface.name)))?;
                Ok(None)
            }
            None => {
                tracing::debug!("interface {} is already disabled", interface.name);
                Ok(None)
            }
        }
    }

    /// Updates the interface's profile; returns the active connection when it had to be
    /// activated again rather than applied in place.
    async fn update_profile(
        &self,
        state: &NetworkState,
        device: &Device,
        interface: &Interface,
        path: &str,
    ) -> Result<Option<String>, Error> {
        let failed = |error: dbus::Error| Error::invalid(format!("Can't update config on {}: {error}", interface.name));
        // The profile as it is now, with what the supervisor does not manage in it.
        let current = self.nm().get_settings(path).await.map_err(failed)?;
        let id = text(&current, "connection", "id").unwrap_or_default();
        let uuid = text(&current, "connection", "uuid").unwrap_or_default();
        let new = connection_settings(interface, Some((&id, &uuid)), None, &state.version);
        let merged = merge(&current, &new);
        self.nm().update_connection(path, &merged).await.map_err(failed)?;
        if self.applied_in_place(device, &new, merged != current).await {
            return Ok(None);
        }
        tracing::info!("activating connection for interface {}", interface.name);
        self.nm().activate_connection(path, &device.path).await.map(Some).map_err(failed)
    }

    /// Applies changed settings to the device's connection without taking it down, where that
    /// works: it must be up, and a new key must not be among the changes (NetworkManager neither
    /// shows secrets nor applies them in place). Unchanged settings are activated again, which is
    /// how a user asks for a reconnect.
    async fn applied_in_place(&self, device: &Device, new: &Settings, changed: bool) -> bool {
        let new_secret = new.get("802-11-wireless-security").is_some_and(|security| security.contains_key("psk"));
        let up = device.active.as_ref().is_some_and(|active| active.state == ACTIVATED);
        if new_secret || !up || !changed {
            return false;
        }
        match self.nm().reapply(&device.path, &Settings::new()).await {
            Ok(()) => {
                tracing::info!("reapplied changed settings for interface {} in place", device.interface);
                true
            }
            Err(error) => {
                tracing::debug!("can't reapply settings for {} in place: {error}", device.interface);
                false
            }
        }
    }

    async fn wait_for_activation(&self, active: &str) -> Result<(), Error> {
        let state = self.nm().wait_for_activation(active, ACTIVATION_TIMEOUT).await?;
        match state {
            ACTIVATED => Ok(()),
            DEACTIVATED => Err(Error::invalid("Activating connection failed, check connection settings.")),
            _ => Err(Error::invalid("Timed out waiting for connection to activate, check connection settings")),
        }
    }

    /// Creates `vlan` (see [`Interface::new_vlan`]) on its parent; NetworkManager brings the
    /// device up with the profile.
    pub async fn create_vlan(&self, vlan: Interface) -> Result<(), Error> {
        let _one_at_a_time = self.changes.lock().await;
        let state = self.state()?;
        let config = vlan.vlan.as_ref().expect("a VLAN to create has its VLAN");
        if interfaces(&state).iter().any(|interface| interface.name == vlan.name) {
            return Err(Error::invalid(format!("VLAN {} already exists on interface {}", config.id, config.parent)));
        }
        // NetworkManager follows the parent's profile by UUID, so the VLAN stays on it whatever
        // the parent's name becomes.
        let parent_uuid = state
            .device(&config.parent)
            .and_then(|parent| parent.active.as_ref())
            .map(|active| active.uuid.clone())
            .filter(|uuid| !uuid.is_empty());
        let settings = connection_settings(&vlan, None, parent_uuid.as_deref(), &state.version);
        self.nm()
            .add_connection(&settings)
            .await
            .map_err(|error| Error::invalid(format!("Can't create new interface: {error}")))?;
        self.refresh().await;
        Ok(())
    }

    /// Scans for wireless networks on `interface` and lists the access points it sees.
    pub async fn scan(&self, interface: &Interface) -> Result<Vec<AccessPoint>, Error> {
        let not_wireless = || Error::invalid(format!("Can only scan with wireless card - {}", interface.name));
        let last_scan = |state: &Option<NetworkState>| {
            let device = state.as_ref()?.device(&interface.name)?;
            Some((device.path.clone(), device.wireless.as_ref()?.last_scan))
        };
        let mut changes = self.nm().subscribe();
        let (path, before) = last_scan(&changes.borrow_and_update()).ok_or_else(not_wireless)?;
        self.nm()
            .request_scan(&path)
            .await
            .map_err(|error| Error::invalid(format!("Can't request a new scan on {}: {error}", interface.name)))?;
        // The scan has finished when the device says so; then what it found is in the state.
        let finished = changes.wait_for(|state| last_scan(state).is_none_or(|(_, last)| last != before));
        if tokio::time::timeout(SCAN_TIMEOUT, finished).await.is_err() {
            tracing::debug!("the scan on {} did not finish in time, listing what is known", interface.name);
        }
        let state = self.state()?;
        let device = state.device(&interface.name).ok_or_else(not_wireless)?;
        Ok(device.wireless.as_ref().map(|wireless| wireless.access_points.clone()).unwrap_or_default())
    }
}

fn interfaces(state: &NetworkState) -> Vec<Interface> {
    let primary = state.primary_connection.as_deref();
    state.devices.iter().filter_map(|device| Interface::from_device(device, primary)).collect()
}

/// Whether `settings` are the profile of this interface (rather than one NetworkManager applied
/// to any device of its kind): it names the device by its udev path or its interface name.
fn profile_matches(interface: &Interface, settings: &Settings) -> bool {
    if interface.kind == InterfaceType::Vlan {
        return settings.contains_key("vlan");
    }
    let paths = settings
        .get("match")
        .and_then(|section| section.get("path"))
        .and_then(|paths| Vec::<String>::try_from(paths.clone()).ok())
        .unwrap_or_default();
    if !paths.is_empty() {
        return paths.contains(&interface.udev_path);
    }
    text(settings, "connection", "interface-name").as_deref() == Some(interface.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbus::zvariant::{OwnedValue, Str, Value};
    use std::collections::HashMap;

    fn settings(section: &str, key: &str, value: OwnedValue) -> Settings {
        HashMap::from([(section.to_owned(), HashMap::from([(key.to_owned(), value)]))])
    }

    #[test]
    fn a_profile_belongs_to_the_device_it_names() {
        let device = Device {
            interface: "eth0".into(),
            device_type: 1,
            managed: true,
            udev_path: "pci-0000:00:1f.6".into(),
            ..Default::default()
        };
        let eth0 = Interface::from_device(&device, None).unwrap();
        let by_name = settings("connection", "interface-name", OwnedValue::from(Str::from("eth0")));
        let by_other_name = settings("connection", "interface-name", OwnedValue::from(Str::from("eth1")));
        let path = |path: &str| OwnedValue::try_from(Value::from(vec![path.to_owned()])).unwrap();
        assert!(profile_matches(&eth0, &by_name));
        assert!(!profile_matches(&eth0, &by_other_name));
        assert!(profile_matches(&eth0, &settings("match", "path", path("pci-0000:00:1f.6"))));
        assert!(!profile_matches(&eth0, &settings("match", "path", path("pci-0000:03:00.0"))));
        assert!(!profile_matches(&eth0, &Settings::new()), "a profile for any device is not this one's");
    }
}
