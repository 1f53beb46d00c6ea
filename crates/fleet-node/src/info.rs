//! What the node tells the fleet about itself when it joins: its capacity, architecture,
//! version, name, address, and the USB devices and VLANs it offers.

use crate::Settings;
use fleet::{NodeInfo, UsbDevice};
use std::net::{ToSocketAddrs, UdpSocket};

/// A USB device the operator offers to the fleet's instances (`--fleet-usb NAME=PATH`):
/// instances claim it by `name`, and get the device node at `path` passed into their container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsbClaim {
    pub name: String,
    pub path: String,
}

impl UsbClaim {
    /// Reads `NAME=PATH`; the path must be a device node's absolute path.
    pub fn parse(value: &str) -> Result<UsbClaim, String> {
        let (name, path) = value.split_once('=').ok_or_else(|| format!("{value:?} is not NAME=PATH"))?;
        let (name, path) = (name.trim(), path.trim());
        if name.is_empty() || !path.starts_with('/') {
            return Err(format!("{value:?} is not NAME=PATH with a name and an absolute path"));
        }
        Ok(UsbClaim { name: name.to_owned(), path: path.to_owned() })
    }
}

/// The engine's name of this build's architecture (`amd64`, `arm64`), which the fleet places
/// templates by.
pub fn docker_arch() -> &'static str {
    match base::arch::arch() {
        "aarch64" => "arm64",
        "armv7" | "armhf" => "arm",
        "i386" => "386",
        other => other,
    }
}

/// The node's facts as they are now; `node_id` is left for the caller.
pub(crate) fn gather(settings: &Settings, data: &base::DataDir, hardware: &hardware::HardwareManager) -> NodeInfo {
    let devices = hardware.devices();
    let usb_devices = settings
        .usb
        .iter()
        .map(|claim| {
            let device = devices.iter().find(|device| device.is_named(&claim.path));
            let attribute = |key: &str| device.and_then(|d| d.attributes.get(key)).cloned().unwrap_or_default();
            UsbDevice {
                name: claim.name.clone(),
                path: claim.path.clone(),
                vendor_id: attribute("ID_VENDOR_ID"),
                product_id: attribute("ID_MODEL_ID"),
                serial: attribute("ID_SERIAL_SHORT"),
            }
        })
        .collect();
    NodeInfo {
        node_id: String::new(),
        node_name: settings.node_name.clone().unwrap_or_else(hostname),
        ip_address: local_address_towards(&settings.controller).unwrap_or_default(),
        cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        ram_bytes: meminfo("MemTotal:").unwrap_or(0),
        disk_size: base::system::disk_usage(data.root()).map_or(0, |usage| usage.total),
        arch: docker_arch().to_owned(),
        usb_devices,
        vlans: settings.vlans.clone(),
        version: base::SUPERVISOR_VERSION.to_owned(),
        joined: chrono::Utc::now(),
    }
}

/// The host's name, as the kernel has it.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|name| name.trim().to_owned()).unwrap_or_default()
}

/// A `/proc/meminfo` field in bytes.
pub(crate) fn meminfo(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_field(&text, field)
}

fn meminfo_field(text: &str, field: &str) -> Option<u64> {
    let kib: u64 = text.lines().find_map(|line| line.strip_prefix(field))?.split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// The address this host uses to reach the controller at `url`: where the fleet reaches the
/// node's instances too. A UDP socket's connect sends nothing; it only picks the route.
fn local_address_towards(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let target = (url.host_str()?, url.port_or_known_default()?).to_socket_addrs().ok()?.next()?;
    let socket = UdpSocket::bind(if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).ok()?;
    socket.connect(target).ok()?;
    Some(socket.local_addr().ok()?.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usb_claim_is_a_name_and_an_absolute_path() {
        assert_eq!(
            UsbClaim::parse("phone-a=/dev/ttyUSB0"),
            Ok(UsbClaim { name: "phone-a".into(), path: "/dev/ttyUSB0".into() })
        );
        assert!(UsbClaim::parse("phone-a").is_err());
        assert!(UsbClaim::parse("=/dev/ttyUSB0").is_err());
        assert!(UsbClaim::parse("phone=ttyUSB0").is_err());
    }

    #[test]
    fn meminfo_fields_are_bytes() {
        let text = "MemTotal:       16318412 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(meminfo_field(text, "MemTotal:"), Some(16_318_412 * 1024));
        assert_eq!(meminfo_field(text, "SwapTotal:"), None);
    }

    #[test]
    fn the_controller_is_reached_from_loopback_on_loopback() {
        assert_eq!(local_address_towards("http://127.0.0.1:8090").as_deref(), Some("127.0.0.1"));
        assert_eq!(local_address_towards("not a url"), None);
    }
}
