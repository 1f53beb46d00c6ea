//! [`HardwareManager`]: what the `/hardware` group knows, read when asked: devices and sound
//! from the host's file systems under its root, drives from UDisks2's watched state (so a drive
//! plugged in shows up without a reload).

use crate::audio::{self, Audio};
use crate::devices::{self, Device};
use crate::drives::{self, Drive};
use dbus::HostServices;
use std::path::PathBuf;
use std::sync::Arc;

pub struct HardwareManager {
    services: Arc<HostServices>,
    /// Where the host's `/sys`, `/dev`, `/run/udev` and `/proc` are: `/`, or a fabricated tree.
    root: PathBuf,
    /// The audio plugin's sound server.
    sound: pulse::Client,
}

impl HardwareManager {
    pub fn new(services: Arc<HostServices>, root: PathBuf, data: &base::DataDir) -> HardwareManager {
        HardwareManager { services, root, sound: pulse::Client::new(data.pulse_socket()) }
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
