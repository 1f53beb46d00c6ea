//! `io.hass.os`: the Home Assistant OS-Agent, one object per feature:
//!
//! | object | interface | members |
//! |---|---|---|
//! | `/io/hass/os` | `io.hass.os` | `Version`, `Diagnostics` (rw) |
//! | `/io/hass/os/AppArmor` | `io.hass.os.AppArmor` | `ParserVersion`; `LoadProfile(ss)→b`, `UnloadProfile(ss)→b` |
//! | `/io/hass/os/Boards` | `io.hass.os.Boards` | `Board` (`Supervised`; `Yellow` with the `haos` profile, `RaspberryPi5` with `haos-rpi5`) |
//! | `/io/hass/os/Boards/Yellow` | `io.hass.os.Boards.Yellow` | `PowerLED`, `DiskLED`, `HeartbeatLED` (rw) |
//! | `/io/hass/os/Boards/Green` | `io.hass.os.Boards.Green` | `PowerLED`, `ActivityLED`, `UserLED` (rw) |
//! | `/io/hass/os/Boards/RaspberryPi/Firmware` | `io.hass.os.Boards.RaspberryPi.Firmware` | `CurrentVersion`, `LatestVersion`, `UpdateAvailable`, `UpdateBlocked`, `UpdatePending`, `BlockedReason`; `Update()` |
//! | `/io/hass/os/CGroup` | `io.hass.os.CGroup` | `AddDevicesAllowed(ss)→b` |
//! | `/io/hass/os/Config/Swap` | `io.hass.os.Config.Swap` | `SwapSize` (rw), `Swappiness` (rw) |
//! | `/io/hass/os/Config/Timesyncd` | `io.hass.os.Config.Timesyncd` | `NTPServer` (rw), `FallbackNTPServer` (rw) |
//! | `/io/hass/os/DataDisk` | `io.hass.os.DataDisk` | `CurrentDevice`; `ChangeDevice(s)→b`, `ReloadDevice()→b`, `MarkDataMove()` |
//! | `/io/hass/os/System` | `io.hass.os.System` | `ScheduleWipeDevice()→b`, `AddSSHAuthKey(s)`, `ClearSSHAuthKeys()`, `MigrateDockerStorageDriver(s)` |
//!
//! The agent is 1.13.0. Like the agent, every board object is exported and `Board` says which is
//! in use; the Raspberry Pi firmware object only on the boards with a Raspberry Pi bootloader
//! EEPROM (the Yellow, a CM4, and the Raspberry Pi 5), with an update to apply. `Update()` takes
//! a second, as flashing does, and refuses as the agent does when the update is blocked or there
//! is none; afterwards `UpdatePending` is true (the new firmware runs after a reboot) and the
//! rest stays as it was until the agent restarts, as the real one reads the EEPROM state only
//! then.
//!
//! The Timesyncd object holds the `NTP=` and `FallbackNTP=` lines of timesyncd's configuration
//! as the agent edits them: a list replaces the line, an empty list removes it (timesyncd then
//! falls back to the servers from DHCP and its built-in defaults) and the property reads empty.
//! Home Assistant OS ships `FallbackNTP=time.cloudflare.com` and no `NTP=`; Debian neither.
//! The agent leaves restarting timesyncd to its caller.
//!
//! Writable properties announce their changes; the swap settings are validated as the agent
//! does (`org.freedesktop.DBus.Error.Failed`). Every method and property write is recorded in
//! the `Calls` of `/io/hass/os` (writes as `Set(Name, value)`, lists as `[a, b]`); none touches
//! the machine. Its `SetProperty` also reaches the firmware object's properties (a blocked boot
//! device, say) and one the agent does not have: `UpdateFails` (`true`: the next `Update()`
//! fails as `rpi-eeprom-update -a` failing makes the agent's fail).

use crate::control::{props_setter, Calls, Control, HasProps, Setter};
use crate::error::ServiceError;
use crate::props::Props;
use crate::Profile;
use std::time::Duration;
use zbus::object_server::SignalEmitter;
use zbus::{fdo, interface, Connection};

pub const BUS_NAME: &str = "io.hass.os";
pub const PATH: &str = "/io/hass/os";

/// `/io/hass/os`.
pub struct Agent {
    props: Props,
    calls: Calls,
}

struct AppArmor {
    calls: Calls,
}

struct Boards {
    board: &'static str,
}

struct Yellow {
    props: Props,
    calls: Calls,
}

struct Green {
    props: Props,
    calls: Calls,
}

struct RpiFirmware {
    props: Props,
    calls: Calls,
}

/// `/io/hass/os/Config/Timesyncd`: the server lines of timesyncd's configuration.
struct Timesyncd {
    ntp: Vec<String>,
    fallback: Vec<String>,
    calls: Calls,
}

struct CGroup {
    calls: Calls,
}

struct Swap {
    swap_size: String,
    swappiness: i32,
    calls: Calls,
}

struct DataDisk {
    current_device: String,
    calls: Calls,
}

struct System {
    calls: Calls,
}

/// Exports the agent's objects on a connection that has not taken the bus name yet.
pub async fn serve(connection: &Connection, profile: Profile) -> zbus::Result<()> {
    let calls = Calls::default();
    // The agent names the data file system's partition (`/dev/disk/by-label/hassos-data`).
    let (board, data_disk) = match profile {
        Profile::Debian => ("Supervised", ""),
        Profile::Haos => ("Yellow", "/dev/nvme0n1p2"),
        Profile::HaosRpi5 => ("RaspberryPi5", "/dev/nvme0n1p2"),
    };
    let fallback_ntp = if profile.is_haos() { vec!["time.cloudflare.com".to_owned()] } else { Vec::new() };
    let leds =
        |names: [&'static str; 3]| names.into_iter().fold(Props::default(), |props, name| props.signalled(name, true));
    let server = connection.object_server();
    let agent = Agent {
        props: Props::default().invalidated("Version", "1.13.0").signalled("Diagnostics", false),
        calls: calls.clone(),
    };
    server.at(PATH, agent).await?;
    let (agent_setter, firmware_setter) = (props_setter::<Agent>(PATH), props_setter::<RpiFirmware>(RPI_FIRMWARE_PATH));
    let setter: Setter = Box::new(move |connection, name, value| {
        if RPI_FIRMWARE_PROPERTIES.contains(&name.as_str()) {
            firmware_setter(connection, name, value)
        } else {
            agent_setter(connection, name, value)
        }
    });
    server.at(PATH, Control::with_setter(calls.clone(), setter)).await?;
    server.at("/io/hass/os/AppArmor", AppArmor { calls: calls.clone() }).await?;
    server.at("/io/hass/os/Boards", Boards { board }).await?;
    let yellow = Yellow { props: leds(["PowerLED", "DiskLED", "HeartbeatLED"]), calls: calls.clone() };
    server.at("/io/hass/os/Boards/Yellow", yellow).await?;
    let green = Green { props: leds(["PowerLED", "ActivityLED", "UserLED"]), calls: calls.clone() };
    server.at("/io/hass/os/Boards/Green", green).await?;
    if ["Yellow", "RaspberryPi5"].contains(&board) {
        server.at(RPI_FIRMWARE_PATH, RpiFirmware { props: rpi_firmware_props(), calls: calls.clone() }).await?;
    }
    server.at("/io/hass/os/CGroup", CGroup { calls: calls.clone() }).await?;
    server
        .at("/io/hass/os/Config/Swap", Swap { swap_size: String::new(), swappiness: 1, calls: calls.clone() })
        .await?;
    let timesyncd = Timesyncd { ntp: Vec::new(), fallback: fallback_ntp, calls: calls.clone() };
    server.at("/io/hass/os/Config/Timesyncd", timesyncd).await?;
    server.at("/io/hass/os/DataDisk", DataDisk { current_device: data_disk.to_owned(), calls: calls.clone() }).await?;
    server.at("/io/hass/os/System", System { calls }).await?;
    Ok(())
}

const RPI_FIRMWARE_PATH: &str = "/io/hass/os/Boards/RaspberryPi/Firmware";
const RPI_FIRMWARE_INTERFACE: &str = "io.hass.os.Boards.RaspberryPi.Firmware";
/// The firmware object's properties `SetProperty` reaches, and the fixture's `UpdateFails`.
const RPI_FIRMWARE_PROPERTIES: [&str; 7] = [
    "CurrentVersion",
    "LatestVersion",
    "UpdateAvailable",
    "UpdateBlocked",
    "UpdatePending",
    "BlockedReason",
    "UpdateFails",
];
/// How long flashing takes here (the agent waits for `rpi-eeprom-update -a`, up to minutes).
const RPI_FIRMWARE_UPDATE_TIME: Duration = Duration::from_secs(1);

/// A bootloader of 2024-04-15 with the bundled one of 2025-03-10 waiting; the agent announces
/// every property with its value. `UpdateFails` is the fixture's own and never announced.
fn rpi_firmware_props() -> Props {
    Props::default()
        .signalled("CurrentVersion", "1713175412")
        .signalled("LatestVersion", "1741606543")
        .signalled("UpdateAvailable", true)
        .signalled("UpdateBlocked", false)
        .signalled("UpdatePending", false)
        .signalled("BlockedReason", "")
        .quiet("UpdateFails", false)
}

/// A list as the call log shows it: `[a, b]`.
fn list(servers: &[String]) -> String {
    format!("[{}]", servers.join(", "))
}

fn failed(message: impl Into<String>) -> fdo::Error {
    fdo::Error::Failed(message.into())
}

/// The agent's swap size format: a number with an optional K/M/G unit, optionally `B`/`iB`.
fn swap_size_is_valid(size: &str) -> bool {
    let digits = size.bytes().take_while(u8::is_ascii_digit).count();
    let unit = &size[digits..];
    digits > 0 && ["", "K", "M", "G", "B", "iB", "KB", "MB", "GB", "KiB", "MiB", "GiB"].contains(&unit)
}

impl HasProps for Agent {
    fn props_mut(&mut self) -> &mut Props {
        &mut self.props
    }
}

impl HasProps for RpiFirmware {
    fn props_mut(&mut self) -> &mut Props {
        &mut self.props
    }
}

#[interface(name = "io.hass.os")]
impl Agent {
    #[zbus(property(emits_changed_signal = "invalidates"))]
    fn version(&self) -> String {
        self.props.get("Version")
    }

    #[zbus(property)]
    fn diagnostics(&self) -> bool {
        self.props.get("Diagnostics")
    }

    #[zbus(property)]
    fn set_diagnostics(&mut self, enabled: bool) {
        self.calls.record(format!("Set(Diagnostics, {enabled})"));
        self.props.set("Diagnostics", enabled);
    }
}

#[interface(name = "io.hass.os.AppArmor")]
impl AppArmor {
    fn load_profile(&self, profile_path: String, cache_path: String) -> bool {
        self.calls.record(format!("LoadProfile({profile_path}, {cache_path})"));
        true
    }

    fn unload_profile(&self, profile_path: String, cache_path: String) -> bool {
        self.calls.record(format!("UnloadProfile({profile_path}, {cache_path})"));
        true
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn parser_version(&self) -> String {
        "3.1.7".to_owned()
    }
}

#[interface(name = "io.hass.os.Boards")]
impl Boards {
    #[zbus(property(emits_changed_signal = "invalidates"))]
    fn board(&self) -> String {
        self.board.to_owned()
    }
}

/// The LED setters of both boards: record, store, announce (zbus announces after a setter).
fn set_led(props: &mut Props, calls: &Calls, name: &str, on: bool) {
    calls.record(format!("Set({name}, {on})"));
    props.set(name, on);
}

#[interface(name = "io.hass.os.Boards.Yellow")]
impl Yellow {
    #[zbus(property, name = "PowerLED")]
    fn power_led(&self) -> bool {
        self.props.get("PowerLED")
    }

    #[zbus(property, name = "PowerLED")]
    fn set_power_led(&mut self, on: bool) {
        set_led(&mut self.props, &self.calls, "PowerLED", on);
    }

    #[zbus(property, name = "DiskLED")]
    fn disk_led(&self) -> bool {
        self.props.get("DiskLED")
    }

    #[zbus(property, name = "DiskLED")]
    fn set_disk_led(&mut self, on: bool) {
        set_led(&mut self.props, &self.calls, "DiskLED", on);
    }

    #[zbus(property, name = "HeartbeatLED")]
    fn heartbeat_led(&self) -> bool {
        self.props.get("HeartbeatLED")
    }

    #[zbus(property, name = "HeartbeatLED")]
    fn set_heartbeat_led(&mut self, on: bool) {
        set_led(&mut self.props, &self.calls, "HeartbeatLED", on);
    }
}

#[interface(name = "io.hass.os.Boards.Green")]
impl Green {
    #[zbus(property, name = "PowerLED")]
    fn power_led(&self) -> bool {
        self.props.get("PowerLED")
    }

    #[zbus(property, name = "PowerLED")]
    fn set_power_led(&mut self, on: bool) {
        set_led(&mut self.props, &self.calls, "PowerLED", on);
    }

    #[zbus(property, name = "ActivityLED")]
    fn activity_led(&self) -> bool {
        self.props.get("ActivityLED")
    }

    #[zbus(property, name = "ActivityLED")]
    fn set_activity_led(&mut self, on: bool) {
        set_led(&mut self.props, &self.calls, "ActivityLED", on);
    }

    #[zbus(property, name = "UserLED")]
    fn user_led(&self) -> bool {
        self.props.get("UserLED")
    }

    #[zbus(property, name = "UserLED")]
    fn set_user_led(&mut self, on: bool) {
        set_led(&mut self.props, &self.calls, "UserLED", on);
    }
}

#[interface(name = "io.hass.os.Boards.RaspberryPi.Firmware")]
impl RpiFirmware {
    /// Refuses as the agent does before running `rpi-eeprom-update -a`; the flashed firmware
    /// runs only after a reboot, which `UpdatePending` says until then. One update at a time:
    /// the object is held while it flashes.
    async fn update(&mut self, #[zbus(signal_emitter)] emitter: SignalEmitter<'_>) -> fdo::Result<()> {
        self.calls.record("Update()");
        if self.props.get::<bool>("UpdateBlocked") {
            return Err(failed("EEPROM update is unavailable on this boot device"));
        }
        if !self.props.get::<bool>("UpdateAvailable") {
            return Err(failed("no EEPROM update available"));
        }
        tokio::time::sleep(RPI_FIRMWARE_UPDATE_TIME).await;
        if self.props.get::<bool>("UpdateFails") {
            return Err(failed("rpi-eeprom-update -a failed: exit status 1"));
        }
        self.props.set("UpdatePending", true);
        self.props.announce(&emitter, RPI_FIRMWARE_INTERFACE, &["UpdatePending"]).await?;
        Ok(())
    }

    #[zbus(property)]
    fn current_version(&self) -> String {
        self.props.get("CurrentVersion")
    }

    #[zbus(property)]
    fn latest_version(&self) -> String {
        self.props.get("LatestVersion")
    }

    #[zbus(property)]
    fn update_available(&self) -> bool {
        self.props.get("UpdateAvailable")
    }

    #[zbus(property)]
    fn update_blocked(&self) -> bool {
        self.props.get("UpdateBlocked")
    }

    #[zbus(property)]
    fn update_pending(&self) -> bool {
        self.props.get("UpdatePending")
    }

    #[zbus(property)]
    fn blocked_reason(&self) -> String {
        self.props.get("BlockedReason")
    }
}

#[interface(name = "io.hass.os.Config.Timesyncd")]
impl Timesyncd {
    #[zbus(property, name = "NTPServer")]
    fn ntp_server(&self) -> Vec<String> {
        self.ntp.clone()
    }

    #[zbus(property, name = "NTPServer")]
    fn set_ntp_server(&mut self, servers: Vec<String>) {
        self.calls.record(format!("Set(NTPServer, {})", list(&servers)));
        self.ntp = servers;
    }

    #[zbus(property, name = "FallbackNTPServer")]
    fn fallback_ntp_server(&self) -> Vec<String> {
        self.fallback.clone()
    }

    #[zbus(property, name = "FallbackNTPServer")]
    fn set_fallback_ntp_server(&mut self, servers: Vec<String>) {
        self.calls.record(format!("Set(FallbackNTPServer, {})", list(&servers)));
        self.fallback = servers;
    }
}

#[interface(name = "io.hass.os.CGroup")]
impl CGroup {
    fn add_devices_allowed(&self, container_id: String, permission: String) -> bool {
        self.calls.record(format!("AddDevicesAllowed({container_id}, {permission})"));
        true
    }
}

#[interface(name = "io.hass.os.Config.Swap")]
impl Swap {
    #[zbus(property)]
    fn swap_size(&self) -> String {
        self.swap_size.clone()
    }

    #[zbus(property)]
    fn set_swap_size(&mut self, size: String) -> fdo::Result<()> {
        self.calls.record(format!("Set(SwapSize, {size})"));
        if !swap_size_is_valid(&size) {
            return Err(failed("invalid swap size format"));
        }
        self.swap_size = size;
        Ok(())
    }

    #[zbus(property)]
    fn swappiness(&self) -> i32 {
        self.swappiness
    }

    #[zbus(property)]
    fn set_swappiness(&mut self, swappiness: i32) -> fdo::Result<()> {
        self.calls.record(format!("Set(Swappiness, {swappiness})"));
        if !(0..=100).contains(&swappiness) {
            return Err(failed("swappiness must be between 0 and 100"));
        }
        self.swappiness = swappiness;
        Ok(())
    }
}

#[interface(name = "io.hass.os.DataDisk")]
impl DataDisk {
    fn change_device(&self, new_device: String) -> bool {
        self.calls.record(format!("ChangeDevice({new_device})"));
        true
    }

    fn reload_device(&self) -> bool {
        self.calls.record("ReloadDevice()");
        true
    }

    fn mark_data_move(&self) {
        self.calls.record("MarkDataMove()");
    }

    #[zbus(property)]
    fn current_device(&self) -> String {
        self.current_device.clone()
    }
}

#[interface(name = "io.hass.os.System")]
impl System {
    fn schedule_wipe_device(&self) -> bool {
        self.calls.record("ScheduleWipeDevice()");
        true
    }

    #[zbus(name = "AddSSHAuthKey")]
    fn add_ssh_auth_key(&self, key: String) -> Result<(), ServiceError> {
        self.calls.record(format!("AddSSHAuthKey({key})"));
        if key.trim().is_empty() {
            return Err(ServiceError::new("org.freedesktop.DBus.Error.Failed", "SSH authorized key is empty"));
        }
        Ok(())
    }

    #[zbus(name = "ClearSSHAuthKeys")]
    fn clear_ssh_auth_keys(&self) {
        self.calls.record("ClearSSHAuthKeys()");
    }

    fn migrate_docker_storage_driver(&self, backend: String) -> Result<(), ServiceError> {
        self.calls.record(format!("MigrateDockerStorageDriver({backend})"));
        if backend != "overlayfs" {
            let message = format!("unsupported driver: {backend} (only 'overlayfs' is currently supported)");
            return Err(ServiceError::new("org.freedesktop.DBus.Error.Failed", message));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::swap_size_is_valid;

    #[test]
    fn swap_sizes_follow_the_agents_format() {
        for good in ["1", "512M", "2G", "2GB", "2GiB", "1024K", "100B"] {
            assert!(swap_size_is_valid(good), "{good}");
        }
        for bad in ["", "G", "2T", "2 G", "-1", "33%", "2g"] {
            assert!(!swap_size_is_valid(bad), "{bad}");
        }
    }
}
