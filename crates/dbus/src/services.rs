//! [`HostServices`]: every client, watched once at start and shared by the domains that manage the
//! machine (host, OS, network, hardware), so each service has one watcher and one connection.

use crate::{Hostname, Logind, NetworkManager, OsAgent, Rauc, Resolved, SystemBus, Systemd, Timedate, UDisks2};

/// The clients of every host service; each is unavailable when its service (or the bus) is not there.
pub struct HostServices {
    /// The bus, when there is one (for its address in messages).
    pub bus: Option<SystemBus>,
    pub systemd: Systemd,
    pub logind: Logind,
    pub hostname: Hostname,
    pub timedate: Timedate,
    pub resolved: Resolved,
    pub network: NetworkManager,
    pub rauc: Rauc,
    pub udisks2: UDisks2,
    pub os_agent: OsAgent,
}

impl HostServices {
    /// Starts watching every service on `bus`; never fails (see [`crate::Service::watch`]).
    pub async fn watch(bus: Option<SystemBus>) -> HostServices {
        let on = bus.as_ref();
        let (systemd, logind, hostname, timedate, resolved, network, rauc, udisks2, os_agent) = tokio::join!(
            Systemd::watch(on),
            Logind::watch(on),
            Hostname::watch(on),
            Timedate::watch(on),
            Resolved::watch(on),
            NetworkManager::watch(on),
            Rauc::watch(on),
            UDisks2::watch(on),
            OsAgent::watch(on),
        );
        HostServices { bus, systemd, logind, hostname, timedate, resolved, network, rauc, udisks2, os_agent }
    }

    /// Connects to the system bus named by `DBUS_SYSTEM_BUS_ADDRESS` and watches every service;
    /// without a bus every service is unavailable and the reason is logged.
    pub async fn connect() -> HostServices {
        let bus = match SystemBus::connect().await {
            Ok(bus) => Some(bus),
            Err(error) => {
                tracing::warn!("no system bus, the host services are unavailable: {error}");
                None
            }
        };
        Self::watch(bus).await
    }
}
