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
}

impl HardwareManager {
    pub fn new(services: Arc<HostServices>, root: PathBuf) -> HardwareManager {
        HardwareManager { services, root }
    }

    /// Reads sysfs and the udev database: blocking file system work.
    pub fn devices(&self) -> Vec<Device> {
        devices::read(&self.root)
    }

    pub fn drives(&self) -> Vec<Drive> {
        drives::from_state(self.services.udisks2.state().as_ref())
    }

    /// Reads `/proc/asound`: blocking file system work.
    pub fn audio(&self) -> Audio {
        audio::read(&self.root)
    }
}
