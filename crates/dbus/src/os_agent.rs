//! The Home Assistant OS-Agent (`io.hass.os`): one watched state per object that has properties
//! (the agent itself, AppArmor, the board and its LEDs, the Raspberry Pi firmware, swap,
//! timesyncd's servers, the data disk), and the methods of
//! the objects without (System, CGroup) on the agent's client, whose presence is theirs.
//!
//! Newer agents export only the board object in use; the other board's state then stays `None`.

use crate::service::Service;
use crate::watch::{set, set_string, set_strings, Properties};
use crate::{Error, SystemBus};
use zbus::proxy;
use zbus::zvariant::Value;

/// Declares the watched state of one agent object: the struct, and `Properties` mapping each
/// D-Bus property to its field with the given setter.
macro_rules! agent_object {
    ($(#[$doc:meta])* $name:ident, $path:literal, $interface:literal, { $($(#[$field_doc:meta])* $field:ident: $type:ty = $property:literal via $setter:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $($(#[$field_doc])* pub $field: $type,)*
        }

        impl Properties for $name {
            const SERVICE: &'static str = "io.hass.os";
            const PATH: &'static str = $path;
            const INTERFACE: Option<&'static str> = Some($interface);

            fn apply(&mut self, name: &str, value: &Value<'_>) {
                match name {
                    $($property => $setter(&mut self.$field, value),)*
                    _ => {}
                }
            }
        }
    };
}

agent_object!(
    /// `/io/hass/os`: `agent_version` of `/host/info` and the diagnostics switch.
    AgentState, "/io/hass/os", "io.hass.os", {
        version: String = "Version" via set_string,
        diagnostics: bool = "Diagnostics" via set,
    }
);

agent_object!(
    /// `/io/hass/os/AppArmor`: `apparmor_version` of `/host/info`.
    AppArmorState, "/io/hass/os/AppArmor", "io.hass.os.AppArmor", {
        parser_version: String = "ParserVersion" via set_string,
    }
);

agent_object!(
    /// `/io/hass/os/Boards`: which board this is (`Yellow`, `Green`, `Supervised`, ...).
    BoardsState, "/io/hass/os/Boards", "io.hass.os.Boards", {
        board: String = "Board" via set_string,
    }
);

agent_object!(
    /// `/io/hass/os/Boards/Yellow`: the Home Assistant Yellow's LEDs.
    YellowState, "/io/hass/os/Boards/Yellow", "io.hass.os.Boards.Yellow", {
        power_led: bool = "PowerLED" via set,
        disk_led: bool = "DiskLED" via set,
        heartbeat_led: bool = "HeartbeatLED" via set,
    }
);

agent_object!(
    /// `/io/hass/os/Boards/Green`: the Home Assistant Green's LEDs.
    GreenState, "/io/hass/os/Boards/Green", "io.hass.os.Boards.Green", {
        power_led: bool = "PowerLED" via set,
        activity_led: bool = "ActivityLED" via set,
        /// `system_health_led` in the API.
        user_led: bool = "UserLED" via set,
    }
);

agent_object!(
    /// `/io/hass/os/Boards/RaspberryPi/Firmware` (agent 1.9.0 on, on a Raspberry Pi 4 or 5 and
    /// the Yellow): the bootloader EEPROM (and VL805) firmware. Versions are the agent's
    /// composite `<bootloader build time>[-<VL805 revision>]`.
    RpiFirmwareState, "/io/hass/os/Boards/RaspberryPi/Firmware", "io.hass.os.Boards.RaspberryPi.Firmware", {
        current_version: String = "CurrentVersion" via set_string,
        latest_version: String = "LatestVersion" via set_string,
        update_available: bool = "UpdateAvailable" via set,
        /// The boot device cannot take an update (`blocked_reason` says why).
        update_blocked: bool = "UpdateBlocked" via set,
        /// Applied, running the old firmware until the next reboot.
        update_pending: bool = "UpdatePending" via set,
        /// Empty when not blocked.
        blocked_reason: String = "BlockedReason" via set_string,
    }
);

agent_object!(
    /// `/io/hass/os/Config/Swap`.
    SwapState, "/io/hass/os/Config/Swap", "io.hass.os.Config.Swap", {
        /// E.g. `2G`; empty when the OS default applies.
        swap_size: String = "SwapSize" via set_string,
        swappiness: i32 = "Swappiness" via set,
    }
);

agent_object!(
    /// `/io/hass/os/Config/Timesyncd`: the NTP servers of systemd-timesyncd's configuration, as
    /// the agent reads and writes it; empty when the configuration names none (timesyncd then
    /// uses the servers from DHCP and its built-in defaults).
    TimesyncdState, "/io/hass/os/Config/Timesyncd", "io.hass.os.Config.Timesyncd", {
        ntp_servers: Vec<String> = "NTPServer" via set_strings,
        fallback_ntp_servers: Vec<String> = "FallbackNTPServer" via set_strings,
    }
);

agent_object!(
    /// `/io/hass/os/DataDisk`.
    DataDiskState, "/io/hass/os/DataDisk", "io.hass.os.DataDisk", {
        /// The device holding the data partition, e.g. `/dev/nvme0n1`.
        current_device: String = "CurrentDevice" via set_string,
    }
);

#[proxy(interface = "io.hass.os.AppArmor", default_service = "io.hass.os", default_path = "/io/hass/os/AppArmor")]
pub trait AgentAppArmor {
    fn load_profile(&self, profile_path: &str, cache_path: &str) -> zbus::Result<bool>;
    fn unload_profile(&self, profile_path: &str, cache_path: &str) -> zbus::Result<bool>;
}

#[proxy(
    interface = "io.hass.os.Boards.RaspberryPi.Firmware",
    default_service = "io.hass.os",
    default_path = "/io/hass/os/Boards/RaspberryPi/Firmware"
)]
pub trait AgentRpiFirmware {
    fn update(&self) -> zbus::Result<()>;
}

#[proxy(interface = "io.hass.os.CGroup", default_service = "io.hass.os", default_path = "/io/hass/os/CGroup")]
pub trait AgentCGroup {
    fn add_devices_allowed(&self, container_id: &str, permission: &str) -> zbus::Result<bool>;
}

#[proxy(interface = "io.hass.os.DataDisk", default_service = "io.hass.os", default_path = "/io/hass/os/DataDisk")]
pub trait AgentDataDisk {
    fn change_device(&self, new_device: &str) -> zbus::Result<bool>;
    fn reload_device(&self) -> zbus::Result<bool>;
    fn mark_data_move(&self) -> zbus::Result<()>;
}

#[proxy(interface = "io.hass.os.System", default_service = "io.hass.os", default_path = "/io/hass/os/System")]
pub trait AgentSystem {
    fn schedule_wipe_device(&self) -> zbus::Result<bool>;
    #[zbus(name = "AddSSHAuthKey")]
    fn add_ssh_auth_key(&self, key: &str) -> zbus::Result<()>;
    #[zbus(name = "ClearSSHAuthKeys")]
    fn clear_ssh_auth_keys(&self) -> zbus::Result<()>;
    fn migrate_docker_storage_driver(&self, backend: &str) -> zbus::Result<()>;
}

/// The OS-Agent's clients, one per object.
pub struct OsAgent {
    /// Also carries the System and CGroup methods.
    pub agent: Service<AgentState>,
    pub apparmor: Service<AppArmorState>,
    pub boards: Service<BoardsState>,
    pub yellow: Service<YellowState>,
    pub green: Service<GreenState>,
    /// Absent on other boards and older agents.
    pub rpi_firmware: Service<RpiFirmwareState>,
    pub swap: Service<SwapState>,
    /// Absent on older agents.
    pub timesyncd: Service<TimesyncdState>,
    pub datadisk: Service<DataDiskState>,
}

impl OsAgent {
    pub async fn watch(bus: Option<&SystemBus>) -> OsAgent {
        let (agent, apparmor, boards, yellow, green, rpi_firmware, swap, timesyncd, datadisk) = tokio::join!(
            Service::watch(bus),
            Service::watch(bus),
            Service::watch(bus),
            Service::watch(bus),
            Service::watch(bus),
            Service::watch(bus),
            Service::watch(bus),
            Service::watch(bus),
            Service::watch(bus),
        );
        OsAgent { agent, apparmor, boards, yellow, green, rpi_firmware, swap, timesyncd, datadisk }
    }
}

impl Service<AgentState> {
    pub async fn set_diagnostics(&self, enabled: bool) -> Result<(), Error> {
        self.set_property("Diagnostics", enabled.into()).await
    }

    /// Appends ` haos.wipe=1` to the kernel command line: the data disk is wiped at the next
    /// boot. `false` when the agent could not.
    pub async fn schedule_wipe_device(&self) -> Result<bool, Error> {
        let proxy: AgentSystemProxy<'_> = self.proxy().await?;
        Self::answer(proxy.schedule_wipe_device().await)
    }

    pub async fn add_ssh_auth_key(&self, key: &str) -> Result<(), Error> {
        let proxy: AgentSystemProxy<'_> = self.proxy().await?;
        Self::answer(proxy.add_ssh_auth_key(key).await)
    }

    pub async fn clear_ssh_auth_keys(&self) -> Result<(), Error> {
        let proxy: AgentSystemProxy<'_> = self.proxy().await?;
        Self::answer(proxy.clear_ssh_auth_keys().await)
    }

    /// Only `overlayfs` is supported; anything else is refused.
    pub async fn migrate_docker_storage_driver(&self, backend: &str) -> Result<(), Error> {
        let proxy: AgentSystemProxy<'_> = self.proxy().await?;
        Self::answer(proxy.migrate_docker_storage_driver(backend).await)
    }

    /// Lets a container use devices matching a cgroup rule such as `c 189:* rwm`.
    pub async fn add_devices_allowed(&self, container_id: &str, permission: &str) -> Result<bool, Error> {
        let proxy: AgentCGroupProxy<'_> = self.proxy().await?;
        Self::answer(proxy.add_devices_allowed(container_id, permission).await)
    }
}

impl Service<AppArmorState> {
    pub async fn load_profile(&self, profile_path: &str, cache_path: &str) -> Result<bool, Error> {
        let proxy: AgentAppArmorProxy<'_> = self.proxy().await?;
        Self::answer(proxy.load_profile(profile_path, cache_path).await)
    }

    pub async fn unload_profile(&self, profile_path: &str, cache_path: &str) -> Result<bool, Error> {
        let proxy: AgentAppArmorProxy<'_> = self.proxy().await?;
        Self::answer(proxy.unload_profile(profile_path, cache_path).await)
    }
}

impl Service<YellowState> {
    pub async fn set_power_led(&self, on: bool) -> Result<(), Error> {
        self.set_property("PowerLED", on.into()).await
    }

    pub async fn set_disk_led(&self, on: bool) -> Result<(), Error> {
        self.set_property("DiskLED", on.into()).await
    }

    pub async fn set_heartbeat_led(&self, on: bool) -> Result<(), Error> {
        self.set_property("HeartbeatLED", on.into()).await
    }
}

impl Service<GreenState> {
    pub async fn set_power_led(&self, on: bool) -> Result<(), Error> {
        self.set_property("PowerLED", on.into()).await
    }

    pub async fn set_activity_led(&self, on: bool) -> Result<(), Error> {
        self.set_property("ActivityLED", on.into()).await
    }

    pub async fn set_user_led(&self, on: bool) -> Result<(), Error> {
        self.set_property("UserLED", on.into()).await
    }
}

impl Service<RpiFirmwareState> {
    /// Flashes the bundled firmware; it runs at the next reboot. The agent refuses when the
    /// update is blocked or there is none, and answers only once the flash is done.
    pub async fn update(&self) -> Result<(), Error> {
        let proxy: AgentRpiFirmwareProxy<'_> = self.proxy().await?;
        Self::answer(proxy.update().await)
    }
}

impl Service<SwapState> {
    /// E.g. `2G`; the agent refuses other formats.
    pub async fn set_swap_size(&self, size: &str) -> Result<(), Error> {
        self.set_property("SwapSize", size.into()).await
    }

    /// 0 to 100; the agent refuses others.
    pub async fn set_swappiness(&self, swappiness: i32) -> Result<(), Error> {
        self.set_property("Swappiness", swappiness.into()).await
    }
}

impl Service<TimesyncdState> {
    /// Writes the NTP servers into timesyncd's configuration; an empty list removes them, so the
    /// servers from DHCP and the built-in defaults apply again. timesyncd reads it when it
    /// (re)starts.
    pub async fn set_ntp_servers(&self, servers: &[String]) -> Result<(), Error> {
        self.set_property("NTPServer", servers.to_vec().into()).await
    }

    /// As [`Self::set_ntp_servers`], for the fallback servers.
    pub async fn set_fallback_ntp_servers(&self, servers: &[String]) -> Result<(), Error> {
        self.set_property("FallbackNTPServer", servers.to_vec().into()).await
    }
}

impl Service<DataDiskState> {
    /// Old agents (< 1.5.0) move the data themselves; returns whether it will.
    pub async fn change_device(&self, new_device: &str) -> Result<bool, Error> {
        let proxy: AgentDataDiskProxy<'_> = self.proxy().await?;
        Self::answer(proxy.change_device(new_device).await)
    }

    pub async fn reload_device(&self) -> Result<bool, Error> {
        let proxy: AgentDataDiskProxy<'_> = self.proxy().await?;
        Self::answer(proxy.reload_device().await)
    }

    /// Marks the prepared external partition for the data move at the next boot.
    pub async fn mark_data_move(&self) -> Result<(), Error> {
        let proxy: AgentDataDiskProxy<'_> = self.proxy().await?;
        Self::answer(proxy.mark_data_move().await)
    }
}
