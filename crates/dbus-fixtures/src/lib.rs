//! Fixture D-Bus services: real services on a real bus, written here, that behave like the host's
//! for everything the supervisor's clients (crate `dbus`) use: their properties, the methods that
//! change them (with `PropertiesChanged` where the real service sends it, and only there), and
//! the errors the real services return. State is in memory; nothing touches the machine but the
//! mount units of the fixture systemd, which are really mounted (and unmounted when it stops).
//!
//! The services are listed in [`Service`]; a [`Profile`] says which host they describe (a
//! Debian machine with the supervisor, or Home Assistant OS). Every service also carries
//! `io.supervisor.Fixture` (module `control`): a `Calls` log of state-changing calls (that is how
//! a test sees a `Reboot`), `SetProperty` to change the host behind the service's back, and
//! `Plug`/`Unplug` for devices that come and go (UDisks2's USB disks).
//!
//! [`PrivateBus`] runs a private `dbus-daemon` with these services for tests; the
//! `dbus-fixtures` binary serves them on any bus, for development on a machine without systemd.

mod control;
mod error;
mod hostname1;
mod login1;
mod mount_units;
mod network_manager;
mod os_agent;
mod private_bus;
mod props;
mod rauc;
mod resolve1;
mod systemd1;
mod timedate1;
mod tree;
mod udisks2;

pub use control::INTERFACE as FIXTURE_INTERFACE;
pub use private_bus::PrivateBus;

use std::fmt;
use std::str::FromStr;
use zbus::{connection, Connection};

/// Declares the services once: the enum, the list of all, and what each one maps to.
macro_rules! services {
    ($($(#[$doc:meta])* $variant:ident => $id:literal, $module:ident;)*) => {
        /// One fixture service.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Service {
            $($(#[$doc])* $variant,)*
        }

        impl Service {
            pub const ALL: &'static [Service] = &[$(Service::$variant,)*];

            /// The short name used by `--only` and in messages: `hostname1`, `systemd1`, ...
            pub fn id(self) -> &'static str {
                match self {
                    $(Service::$variant => $id,)*
                }
            }

            pub fn bus_name(self) -> &'static str {
                match self {
                    $(Service::$variant => $module::BUS_NAME,)*
                }
            }

            /// The object carrying the main interface and `io.supervisor.Fixture`.
            pub fn path(self) -> &'static str {
                match self {
                    $(Service::$variant => $module::PATH,)*
                }
            }

            async fn export(self, connection: &Connection, profile: Profile) -> zbus::Result<()> {
                match self {
                    $(Service::$variant => $module::serve(connection, profile).await,)*
                }
            }
        }
    };
}

services! {
    /// systemd's Manager and units.
    Systemd1 => "systemd1", systemd1;
    /// systemd-logind.
    Login1 => "login1", login1;
    /// systemd-hostnamed.
    Hostname1 => "hostname1", hostname1;
    /// systemd-timedated.
    Timedate1 => "timedate1", timedate1;
    /// systemd-resolved.
    Resolve1 => "resolve1", resolve1;
    /// RAUC, the update service of Home Assistant OS.
    Rauc => "rauc", rauc;
    /// The Home Assistant OS-Agent.
    OsAgent => "os-agent", os_agent;
    /// NetworkManager.
    NetworkManager => "networkmanager", network_manager;
    /// UDisks2.
    UDisks2 => "udisks2", udisks2;
}

impl Service {
    /// Connects to the bus at `address`, exports the service's objects and takes its bus name
    /// (objects first, so that nobody sees the name before it answers). The service runs as long
    /// as the returned connection is open.
    pub async fn serve(self, address: &str, profile: Profile) -> zbus::Result<Connection> {
        let connection = connection::Builder::address(address)?.build().await?;
        self.export(&connection, profile).await?;
        connection.request_name(self.bus_name()).await?;
        Ok(connection)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Service {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Service::ALL.iter().copied().find(|service| service.id() == name).ok_or_else(|| {
            let known: Vec<&str> = Service::ALL.iter().map(|service| service.id()).collect();
            format!("unknown service '{name}' (known: {})", known.join(", "))
        })
    }
}

/// Which kind of host the fixtures describe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// A Debian 12 virtual machine with Docker: a supervised install.
    #[default]
    Debian,
    /// Home Assistant OS 16.0 on a Home Assistant Yellow: the HAOS CPE name, hostname
    /// `homeassistant`, the HAOS units and the Yellow board of the OS-Agent (a CM4, so with the
    /// Raspberry Pi firmware object).
    Haos,
    /// Home Assistant OS 16.0 on a Raspberry Pi 5: as [`Profile::Haos`], with the board
    /// `rpi5-64` in the CPE name and RAUC's compatible, and the OS-Agent's `RaspberryPi5` board
    /// with the Raspberry Pi firmware object.
    HaosRpi5,
}

impl Profile {
    /// Whether the host is Home Assistant OS.
    pub fn is_haos(self) -> bool {
        self != Profile::Debian
    }

    /// The board as Home Assistant OS names it (its CPE name, RAUC's compatible, the update
    /// bundles); the Yellow on Debian, where nothing shows it.
    fn haos_board(self) -> &'static str {
        match self {
            Profile::Debian | Profile::Haos => "yellow",
            Profile::HaosRpi5 => "rpi5-64",
        }
    }

    fn hostname(self) -> &'static str {
        if self.is_haos() {
            "homeassistant"
        } else {
            "debian"
        }
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "debian" => Ok(Profile::Debian),
            "haos" => Ok(Profile::Haos),
            "haos-rpi5" => Ok(Profile::HaosRpi5),
            _ => Err(format!("unknown profile '{name}' (known: debian, haos, haos-rpi5)")),
        }
    }
}
