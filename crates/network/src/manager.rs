//! [`Network`]: what the `/network` group knows and does.

use dbus::HostServices;
use std::sync::Arc;

pub struct Network {
    services: Arc<HostServices>,
}

impl Network {
    pub fn new(services: Arc<HostServices>) -> Network {
        Network { services }
    }

    pub fn services(&self) -> &HostServices {
        &self.services
    }
}
