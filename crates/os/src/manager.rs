//! [`OsManager`]: what the `/os` group knows and does.

use dbus::HostServices;
use std::sync::Arc;

pub struct OsManager {
    services: Arc<HostServices>,
}

impl OsManager {
    pub fn new(services: Arc<HostServices>) -> OsManager {
        OsManager { services }
    }

    pub fn services(&self) -> &HostServices {
        &self.services
    }
}
