//! The system bus: typed clients of the services the supervisor manages the machine through
//! (systemd, logind, hostnamed, timedated, resolved, RAUC, the OS-Agent, NetworkManager,
//! UDisks2). Each client is a [`Service`]: its state is watched (read once, then kept current
//! from the service's signals, with its presence on the bus tracked) and readable synchronously;
//! its methods are async functions whose errors say when the service is not there.
//!
//! Connect once with [`SystemBus::connect`]; a missing bus is not fatal: pass `None` and every
//! client reports itself unavailable. E.g. `Hostname::watch(bus.as_ref()).await`.
//! Tests run the clients against the services of the `dbus-fixtures` crate on a private bus.

mod bus;
mod error;
pub mod hostname;
pub mod logind;
pub mod network;
pub mod os_agent;
pub mod rauc;
pub mod resolved;
mod service;
mod services;
pub mod systemd;
pub mod timedate;
mod tree;
pub mod udisks2;
mod watch;

pub use bus::{SystemBus, ADDRESS_ENV, DEFAULT_ADDRESS};
pub use error::Error;
pub use hostname::{Hostname, HostnameState};
pub use logind::{Logind, LogindState};
pub use network::{NetworkManager, NetworkState};
pub use os_agent::OsAgent;
pub use rauc::{Rauc, RaucState, Slot};
pub use resolved::{Resolved, ResolvedState};
pub use service::{RefreshRequests, Service, State};
pub use services::HostServices;
pub use systemd::{Systemd, SystemdState, Unit, UnitJob};
pub use timedate::{Timedate, TimedateState};
pub use udisks2::{DisksState, UDisks2};
pub use watch::Properties;
/// The D-Bus value types the clients' APIs use (connection settings, SMART attributes).
pub use zbus::zvariant;
