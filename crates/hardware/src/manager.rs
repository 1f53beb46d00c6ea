//! [`HardwareManager`]: what the `/hardware` group knows, read when asked: devices and sound
//! from the host's file systems under its root (so a device plugged in shows up at once),
//! drives from UDisks2's watched state (so a drive plugged in shows up without a reload). It
//! runs the hardware monitor, which tells the add-ons of devices that come and go.

use crate::audio::{self, Audio};
use crate::devices::{self, Device};
use crate::drives::{self, Drive};
use crate::monitor::{self, Change};
use dbus::HostServices;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::broadcast;

pub struct HardwareManager {
    services: Arc<HostServices>,
    /// Where the host's `/sys`, `/dev`, `/run/udev` and `/proc` are: `/`, or a fabricated tree.
    root: PathBuf,
    /// The audio plugin's sound server.
    sound: pulse::Client,
    /// The hardware monitor's news.
    changes: broadcast::Sender<Change>,
}

impl HardwareManager {
    pub fn new(services: Arc<HostServices>, root: PathBuf, data: &base::DataDir) -> HardwareManager {
        let (changes, _) = broadcast::channel(64);
        HardwareManager { services, root, sound: pulse::Client::new(data.pulse_socket()), changes }
    }

    /// Where the host's file systems are.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Starts following the devices plugged in and removed, for those subscribed by then; a
    /// monitor without the privileges to watch makes `system` unhealthy.
    pub fn start_monitor(&self, system: Arc<base::System>) {
        monitor::start(self.root.clone(), self.changes.clone(), system);
    }

    /// The devices that come and go from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Lets a running container open the devices `rule` matches, through the OS Agent (the
    /// supervisor can't change a container's device cgroup itself). Fails without the agent.
    pub async fn allow_devices(&self, container_id: &str, rule: &str) -> Result<(), String> {
        let agent = &self.services.os_agent.agent;
        if !agent.is_available() {
            return Err("the OS Agent is not available".to_owned());
        }
        match agent.add_devices_allowed(container_id, rule).await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the OS Agent refused".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Reads sysfs and the udev database: blocking file system work.
    pub fn devices(&self) -> Vec<Device> {
        devices::read(&self.root)
    }

    pub fn drives(&self) -> Vec<Drive> {
        drives::from_state(self.services.udisks2.state().as_ref())
    }

    /// Reads `/proc/asound`: blocking file system work.
    /// The sound server's devices, else the kernel's (blocking file system work then).
    pub async fn audio(&self) -> Audio {
        if let Ok(server) = self.sound.info().await {
            return audio::from_server(&server);
        }
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || audio::read(&root)).await.unwrap_or_default()
    }
}
