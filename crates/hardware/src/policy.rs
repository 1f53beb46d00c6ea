//! Which of the host's devices an add-on may open, as device cgroup rules, by the real
//! Supervisor's policy.
//!
//! Every add-on sees the host's `/dev` (read-only); the engine's device cgroup decides what it
//! can open. A hardware grant (`uart`, `usb`, `gpio`, `video`) allows the major numbers of its
//! device classes whole (`c 188:* rwm`), so a stick of the class plugged in after the add-on
//! started opens as well. Classes whose major the kernel picks at boot (gpiochips, hidraw,
//! media, cec) are allowed by the majors the host's devices of those subsystems have when the
//! container is made; serial ports of other drivers (`ttyS`, ...) one device at a time. An
//! explicit device (`devices`, found by its node, sysfs path or a link) is allowed by its own
//! numbers, unless it holds the system (a partition of Home Assistant OS, or a disk with one).

use crate::devices::Device;
use std::collections::BTreeSet;

/// A hardware grant of an add-on's config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    Uart,
    Gpio,
    Usb,
    Video,
}

impl Grant {
    /// The majors the kernel gives the group's classes on every host
    /// (Documentation/admin-guide/devices.txt).
    fn fixed_majors(self) -> &'static [u32] {
        match self {
            // ttyAMA/ttySAC, ttyUSB, ttyACM
            Grant::Uart => &[204, 188, 166],
            Grant::Gpio => &[],
            // fb, video4linux, drm
            Grant::Video => &[29, 81, 226],
            // usb devices, hiddev
            Grant::Usb => &[189, 180],
        }
    }

    /// The subsystems whose major is dynamic: every major the host's devices of them have.
    fn dynamic_majors(self) -> &'static [&'static str] {
        match self {
            Grant::Uart => &[],
            Grant::Gpio => &["gpio", "gpiomem"],
            Grant::Video => &["vchiq", "media", "cec", "rpivid-h264mem", "rpivid-hevcmem"],
            Grant::Usb => &["hidraw"],
        }
    }

    /// The subsystems whose devices are allowed one by one.
    fn single_devices(self) -> &'static [&'static str] {
        match self {
            Grant::Uart => &["tty"],
            Grant::Gpio | Grant::Video | Grant::Usb => &[],
        }
    }

    /// The rules of the grant on a host with `devices`.
    pub fn rules(self, devices: &[Device]) -> Vec<String> {
        let fixed = self.fixed_majors();
        let mut rules: Vec<String> = fixed.iter().map(|major| format!("c {major}:* rwm")).collect();
        let dynamic: BTreeSet<u32> = devices
            .iter()
            .filter(|device| self.dynamic_majors().contains(&device.subsystem.as_str()))
            .filter_map(|device| device.number().map(|(major, _)| major))
            .filter(|major| !fixed.contains(major))
            .collect();
        rules.extend(dynamic.iter().map(|major| format!("c {major}:* rwm")));
        for device in devices {
            let single = self.single_devices().contains(&device.subsystem.as_str());
            if let (true, Some((major, _))) = (single, device.number()) {
                if !fixed.contains(&major) {
                    rules.extend(rule(device));
                }
            }
        }
        rules
    }
}

/// The rule that allows exactly this device; `None` for a device without numbers.
pub fn rule(device: &Device) -> Option<String> {
    let (major, minor) = device.number()?;
    let kind = if device.subsystem == "block" { 'b' } else { 'c' };
    Some(format!("{kind} {major}:{minor} rwm"))
}

/// The device a config names by `path`: its node, its sysfs path or one of its links.
pub fn find<'d>(devices: &'d [Device], path: &str) -> Option<&'d Device> {
    devices.iter().find(|device| device.is_named(path))
}

/// Whether an add-on may be given `device`: not a disk or partition of the system (one whose
/// file system label starts with `hassos`), as the real Supervisor keeps them.
pub fn allowed(device: &Device, devices: &[Device]) -> bool {
    if device.subsystem != "block" {
        return true;
    }
    let system =
        |device: &Device| device.attributes.get("ID_FS_LABEL").is_some_and(|label| label.starts_with("hassos"));
    match device.number() {
        Some((_, 0)) => !device.children.iter().any(|child| {
            devices.iter().any(|other| &other.sysfs == child && other.subsystem == "block" && system(other))
        }),
        _ => !system(device),
    }
}

/// What every add-on may do with `full_access`, unprotected.
pub const FULL_ACCESS: &str = "a *:* rwm";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn device(name: &str, subsystem: &str, major: u32, minor: u32) -> Device {
        let attributes = BTreeMap::from([
            ("MAJOR".to_owned(), major.to_string()),
            ("MINOR".to_owned(), minor.to_string()),
            ("DEVLINKS".to_owned(), format!("/dev/serial/by-id/usb-{name} /dev/serial/by-path/pci-{name}")),
        ]);
        Device {
            name: name.to_owned(),
            sysfs: format!("/sys/devices/platform/{name}"),
            dev_path: format!("/dev/{name}"),
            subsystem: subsystem.to_owned(),
            by_id: Some(format!("/dev/serial/by-id/usb-{name}")),
            attributes,
            children: Vec::new(),
        }
    }

    fn host() -> Vec<Device> {
        vec![
            device("ttyUSB0", "tty", 188, 0),
            device("ttyS0", "tty", 4, 64),
            device("gpiochip0", "gpio", 254, 0),
            device("gpiochip1", "gpio", 254, 1),
            device("media0", "media", 237, 0),
            device("video0", "video4linux", 81, 0),
            device("hidraw0", "hidraw", 241, 0),
            device("sda", "block", 8, 0),
        ]
    }

    #[test]
    fn uart_allows_the_serial_majors_and_each_other_serial_port() {
        assert_eq!(Grant::Uart.rules(&host()), ["c 204:* rwm", "c 188:* rwm", "c 166:* rwm", "c 4:64 rwm"]);
    }

    #[test]
    fn dynamic_majors_come_from_the_hosts_devices() {
        assert_eq!(Grant::Gpio.rules(&host()), ["c 254:* rwm"]);
        assert_eq!(Grant::Gpio.rules(&[]), Vec::<String>::new(), "no gpiochip, no gpio rule");
        assert_eq!(Grant::Video.rules(&host()), ["c 29:* rwm", "c 81:* rwm", "c 226:* rwm", "c 237:* rwm"]);
        assert_eq!(Grant::Usb.rules(&host()), ["c 189:* rwm", "c 180:* rwm", "c 241:* rwm"]);
    }

    #[test]
    fn the_systems_disk_and_partitions_are_not_given() {
        let mut devices = host();
        let mut boot = device("sda1", "block", 8, 1);
        boot.sysfs = "/sys/devices/platform/sda/sda1".to_owned();
        boot.attributes.insert("ID_FS_LABEL".to_owned(), "hassos-boot".to_owned());
        let mut data = device("sdb1", "block", 8, 17);
        data.attributes.insert("ID_FS_LABEL".to_owned(), "backup".to_owned());
        devices.push(boot.clone());
        devices.push(data.clone());
        let sda = devices.iter_mut().find(|device| device.name == "sda").unwrap();
        sda.sysfs = "/sys/devices/platform/sda".to_owned();
        sda.children = vec![boot.sysfs.clone()];
        let sda = sda.clone();
        assert!(!allowed(&sda, &devices), "the disk holding the system");
        assert!(!allowed(&boot, &devices));
        assert!(allowed(&data, &devices));
        assert!(allowed(&devices[0], &devices), "not a disk");
    }

    #[test]
    fn a_device_is_found_by_node_sysfs_or_link() {
        let devices = host();
        for path in [
            "/dev/ttyUSB0",
            "/sys/devices/platform/ttyUSB0",
            "/dev/serial/by-id/usb-ttyUSB0",
            "/dev/serial/by-path/pci-ttyUSB0",
        ] {
            assert_eq!(find(&devices, path).map(|device| device.name.as_str()), Some("ttyUSB0"), "{path}");
        }
        assert!(find(&devices, "/dev/ttyUSB9").is_none());
        assert_eq!(rule(find(&devices, "/dev/sda").unwrap()).as_deref(), Some("b 8:0 rwm"));
        assert_eq!(rule(find(&devices, "/dev/ttyUSB0").unwrap()).as_deref(), Some("c 188:0 rwm"));
    }
}
