//! The connection to the system bus.
//!
//! Not reaching the bus is an answer, not a failure: the supervisor then runs without the host
//! services and reports their features as unavailable, so [`SystemBus::connect`] returns an error
//! for the caller to log and carry on with `None`.

use crate::Error;
use std::time::Duration;
use zbus::Connection;

/// The environment variable that names the system bus, as libdbus and sd-bus read it.
pub const ADDRESS_ENV: &str = "DBUS_SYSTEM_BUS_ADDRESS";
/// The system bus when the environment names none (the D-Bus specification's default).
pub const DEFAULT_ADDRESS: &str = "unix:path=/var/run/dbus/system_bus_socket";
/// A socket that accepts but never answers must not hold up the supervisor's start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to the system bus, shared (cheaply cloned) by every client.
#[derive(Clone, Debug)]
pub struct SystemBus {
    connection: Connection,
    address: String,
}

impl SystemBus {
    /// The address `connect` uses: `DBUS_SYSTEM_BUS_ADDRESS`, else the default system bus.
    pub fn address_from_env() -> String {
        std::env::var(ADDRESS_ENV)
            .ok()
            .filter(|address| !address.is_empty())
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_owned())
    }

    /// Connects to the system bus named by the environment.
    pub async fn connect() -> Result<SystemBus, Error> {
        Self::connect_to(&Self::address_from_env()).await
    }

    /// Connects to the bus at `address` (a D-Bus address such as `unix:path=/run/dbus/system_bus_socket`).
    pub async fn connect_to(address: &str) -> Result<SystemBus, Error> {
        let failed = |reason: String| Error::Connect { address: address.to_owned(), reason };
        let builder = zbus::connection::Builder::address(address).map_err(|error| failed(error.to_string()))?;
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, builder.build())
            .await
            .map_err(|_| failed(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(|error| failed(error.to_string()))?;
        Ok(SystemBus { connection, address: address.to_owned() })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// The underlying zbus connection, for proxies this crate does not wrap.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }
}
