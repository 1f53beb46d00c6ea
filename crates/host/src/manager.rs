//! [`HostManager`]: what the `/host` group knows and does.

use dbus::HostServices;
use std::sync::Arc;

pub struct HostManager {
    services: Arc<HostServices>,
}

impl HostManager {
    pub fn new(services: Arc<HostServices>) -> HostManager {
        HostManager { services }
    }

    pub fn services(&self) -> &HostServices {
        &self.services
    }
}
