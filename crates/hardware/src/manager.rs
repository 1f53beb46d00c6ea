//! [`HardwareManager`]: what the `/hardware` group knows and does.

use dbus::HostServices;
use std::sync::Arc;

pub struct HardwareManager {
    services: Arc<HostServices>,
}

impl HardwareManager {
    pub fn new(services: Arc<HostServices>) -> HardwareManager {
        HardwareManager { services }
    }

    pub fn services(&self) -> &HostServices {
        &self.services
    }
}
