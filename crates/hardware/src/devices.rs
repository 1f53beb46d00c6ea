//! The devices of `/hardware/info`: every device with a node under `/dev`, as udev knows it,
//! read from sysfs, the udev database and `/dev` without libudev.
//!
//! The list is what the real Supervisor's udev enumeration gives: the devices of every bus and
//! class in sysfs (`/sys/bus/*/devices/*`, `/sys/class/*/*`) that have a device node, except the
//! virtual terminals and virtual block devices (`/sys/devices/virtual/{tty,block,vc}/...`), by
//! sysfs path. A device's attributes are its udev properties: what the kernel says in its
//! `uevent` file, `DEVPATH` and `SUBSYSTEM`, then what udevd recorded (see `udev`). Its children
//! are the devices below it in sysfs (every directory under it with a `uevent` file, as libudev
//! crawls for a parent match). Its `by_id` is its first `/dev/*/by-id/*` link: from the udev
//! database, else from the `by-id` folders of `/dev` (a host whose udev database is not visible,
//! as in a container, still names its serial adapters).
//!
//! Everything is read under a root (`/` on a real host) and reported as the host sees it, so a
//! test can fabricate a device tree in a temporary directory.

use crate::udev;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};
use utoipa::ToSchema;

/// One device, in the real Supervisor's shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
// Named apart from other groups' models in the OpenAPI document.
#[schema(as = HardwareDevice)]
pub struct Device {
    /// The kernel's name of the device, e.g. `ttyUSB0`.
    pub name: String,
    /// Its sysfs path, e.g. `/sys/devices/pci0000:00/.../ttyUSB0`.
    pub sysfs: String,
    /// Its device node, e.g. `/dev/ttyUSB0`.
    pub dev_path: String,
    /// E.g. `tty`, `block`, `usb`, `input`, `sound`.
    pub subsystem: String,
    /// Its `/dev/*/by-id/*` link, the stable name of a serial adapter or disk.
    pub by_id: Option<String>,
    /// Its udev properties.
    pub attributes: BTreeMap<String, String>,
    /// The sysfs paths of the devices below it.
    pub children: Vec<String>,
}

impl Device {
    /// Its major and minor number, from the kernel's `uevent`.
    pub fn number(&self) -> Option<(u32, u32)> {
        let number = |key: &str| self.attributes.get(key)?.parse().ok();
        Some((number("MAJOR")?, number("MINOR")?))
    }

    /// Whether `path` names it: its node, its sysfs path, or one of its links under `/dev`.
    pub fn is_named(&self, path: &str) -> bool {
        let links = self.attributes.get("DEVLINKS").map(String::as_str).unwrap_or_default();
        path == self.dev_path
            || path == self.sysfs
            || self.by_id.as_deref() == Some(path)
            || links.split(' ').any(|link| link == path)
    }
}

/// Udev hides these from the real Supervisor's list: terminals and loop/ram disks.
const HIDDEN: [&str; 3] = ["/sys/devices/virtual/tty/", "/sys/devices/virtual/block/", "/sys/devices/virtual/vc/"];

/// Reads every device under `root`; a root without sysfs has none.
pub fn read(root: &Path) -> Vec<Device> {
    let Ok(root) = root.canonicalize() else { return Vec::new() };
    let links_in_dev = by_id_links(&root);
    let udev_data = root.join("run/udev/data");
    let mut devices: Vec<Device> = Vec::new();
    // The real Supervisor keys its devices by name: a later device of the same name replaces an
    // earlier one in its place.
    let mut position: HashMap<String, usize> = HashMap::new();
    for sysfs in enumerate(&root) {
        let Some(device) = read_device(&root, &udev_data, &links_in_dev, &sysfs) else { continue };
        match position.get(&device.name) {
            Some(&index) => devices[index] = device,
            None => {
                position.insert(device.name.clone(), devices.len());
                devices.push(device);
            }
        }
    }
    devices
}

/// The sysfs path of every device of a bus or class, as the host sees it, in order.
fn enumerate(root: &Path) -> BTreeSet<String> {
    let sys = root.join("sys");
    let mut found = BTreeSet::new();
    let listings = [(sys.join("bus"), Some("devices")), (sys.join("class"), None)];
    for (top, below) in listings {
        for group in entries(&top) {
            let folder = match below {
                Some(below) => group.join(below),
                None => group,
            };
            for entry in entries(&folder) {
                let resolved = entry.canonicalize().ok();
                if let Some(path) = resolved.as_deref().and_then(|real| host_path(root, real)) {
                    found.insert(path);
                }
            }
        }
    }
    found
}

fn entries(dir: &Path) -> impl Iterator<Item = PathBuf> {
    let listing = std::fs::read_dir(dir).into_iter().flatten();
    listing.filter_map(|entry| entry.ok().map(|entry| entry.path()))
}

/// `real` (under `root`) as the host names it: `/sys/...`, `/dev/...`.
fn host_path(root: &Path, real: &Path) -> Option<String> {
    let inner = real.strip_prefix(root).ok()?;
    Some(format!("/{}", inner.to_str()?))
}

/// The host path `path` under `root`.
fn local(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn read_device(
    root: &Path,
    udev_data: &Path,
    links_in_dev: &HashMap<String, Vec<String>>,
    sysfs: &str,
) -> Option<Device> {
    if HIDDEN.iter().any(|hidden| sysfs.starts_with(hidden)) {
        return None;
    }
    let dir = local(root, sysfs);
    let uevent = std::fs::read_to_string(dir.join("uevent")).ok()?;
    let mut attributes = BTreeMap::new();
    for (key, value) in uevent.lines().filter_map(|line| line.split_once('=')) {
        // The kernel names the node relative to /dev; udev reports it whole.
        let value =
            if key == "DEVNAME" && !value.starts_with('/') { format!("/dev/{value}") } else { value.to_owned() };
        attributes.insert(key.to_owned(), value);
    }
    let dev_path = attributes.get("DEVNAME")?.clone();
    let subsystem = std::fs::read_link(dir.join("subsystem"))
        .ok()
        .and_then(|target| target.file_name().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or_default();
    attributes.insert("DEVPATH".to_owned(), sysfs.trim_start_matches("/sys").to_owned());
    if !subsystem.is_empty() {
        attributes.insert("SUBSYSTEM".to_owned(), subsystem.clone());
    }
    let record = match (attributes.get("MAJOR"), attributes.get("MINOR")) {
        (Some(major), Some(minor)) => udev::read(udev_data, subsystem == "block", major, minor),
        _ => None,
    };
    let mut links = Vec::new();
    if let Some(record) = record {
        attributes.extend(record.properties.iter().cloned());
        attributes.extend(record.derived_properties());
        links = record.links;
    }
    for link in links_in_dev.get(&dev_path).into_iter().flatten() {
        if !links.contains(link) {
            links.push(link.clone());
        }
    }
    let by_id = links.into_iter().find(|link| is_by_id(link));
    let name = sysfs.rsplit('/').next().unwrap_or_default().replace('!', "/");
    let mut children = Vec::new();
    crawl_children(&dir, sysfs, &mut children);
    children.sort();
    Some(Device { name, sysfs: sysfs.to_owned(), dev_path, subsystem, by_id, attributes, children })
}

/// `/dev/<one folder>/by-id/<one name>`, as the real Supervisor matches it.
fn is_by_id(link: &str) -> bool {
    let parts: Vec<&str> = link.split('/').collect();
    matches!(parts.as_slice(), ["", "dev", folder, "by-id", name] if !folder.is_empty() && !name.is_empty())
}

/// Every directory below `dir` (not through links) that is a device, by host path.
fn crawl_children(dir: &Path, host: &str, children: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let child = format!("{host}/{name}");
        if entry.path().join("uevent").is_file() {
            children.push(child.clone());
        }
        crawl_children(&entry.path(), &child, children);
    }
}

/// The links in `/dev/*/by-id/`, by the device node they point to.
fn by_id_links(root: &Path) -> HashMap<String, Vec<String>> {
    let mut links: HashMap<String, Vec<String>> = HashMap::new();
    let mut folders: Vec<PathBuf> = entries(&root.join("dev")).map(|folder| folder.join("by-id")).collect();
    folders.sort();
    for folder in folders {
        let mut names: Vec<PathBuf> = entries(&folder).collect();
        names.sort();
        for link in names {
            let (Ok(target), Some(host)) = (std::fs::read_link(&link), host_path(root, &link)) else { continue };
            let node = normalize(&Path::new(&host).parent().unwrap_or(Path::new("/")).join(target));
            links.entry(node).or_default().push(host);
        }
    }
    links
}

/// A path with `.` and `..` resolved by name only (the targets may not exist under a root).
fn normalize(path: &Path) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().unwrap_or_default()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fabricated host: sysfs with a USB serial adapter, a SATA disk with a partition, a
    /// virtual terminal, a loop device and an input device; the udev database; and `/dev`.
    pub(crate) struct Host {
        pub dir: tempfile::TempDir,
    }

    pub(crate) const USB: &str = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2";
    pub(crate) const TTY_USB: &str = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/ttyUSB0/tty/ttyUSB0";
    pub(crate) const SDA: &str = "/sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda";

    impl Host {
        pub(crate) fn new() -> Host {
            let host = Host { dir: tempfile::tempdir().unwrap() };
            host.device(USB, "bus", "usb", "MAJOR=189\nMINOR=1\nDEVNAME=bus/usb/001/002\nDEVTYPE=usb_device\n");
            host.directory(&format!("{USB}/1-2:1.0"), "usb", "DEVTYPE=usb_interface\nDRIVER=cp210x\n");
            host.directory(&format!("{USB}/1-2:1.0/ttyUSB0"), "usb-serial", "DRIVER=cp210x\n");
            host.device(TTY_USB, "class", "tty", "MAJOR=188\nMINOR=0\nDEVNAME=ttyUSB0\n");
            host.udev(
                "c188:0",
                "S:serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0\n\
                 S:serial/by-id/usb-Silicon_Labs_CP2102_0001-if00-port0\n\
                 I:5384093\nE:ID_VENDOR=Silicon_Labs\nE:ID_SERIAL_SHORT=0001\nG:systemd\n",
            );
            host.dev_link("serial/by-id/usb-Silicon_Labs_CP2102_0001-if00-port0", "../../ttyUSB0");

            host.device(SDA, "class", "block", "MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n");
            host.device(
                &format!("{SDA}/sda1"),
                "class",
                "block",
                "MAJOR=8\nMINOR=1\nDEVNAME=sda1\nDEVTYPE=partition\n",
            );
            host.directory(&format!("{SDA}/queue"), "", "");
            // Not in the udev database: its by-id link is found in /dev.
            host.dev_link("disk/by-id/ata-WDC_WD10EZEX-08WN4A0_WD-WCC6Y0000000", "../../sda");
            host.dev_link("disk/by-uuid/0f1e2d3c", "../../sda1");
            host.udev("b8:1", "S:disk/by-uuid/0f1e2d3c\nE:ID_FS_TYPE=ext4\n");

            host.device("/sys/devices/virtual/tty/tty1", "class", "tty", "MAJOR=4\nMINOR=1\nDEVNAME=tty1\n");
            host.device("/sys/devices/virtual/block/loop0", "class", "block", "MAJOR=7\nMINOR=0\nDEVNAME=loop0\n");
            // A device without a node is enumerated but not listed.
            host.device("/sys/devices/platform/i8042/serio0/input/input3", "class", "input", "PRODUCT=11/1/1/ab41\n");
            host.device(
                "/sys/devices/platform/i8042/serio0/input/input3/event3",
                "class",
                "input",
                "MAJOR=13\nMINOR=67\nDEVNAME=input/event3\n",
            );
            host
        }

        pub(crate) fn root(&self) -> &Path {
            self.dir.path()
        }

        /// A device directory with its `uevent` and `subsystem` link, listed under its bus
        /// (`bus`) or class (`class`).
        pub(crate) fn device(&self, sysfs: &str, listing: &str, subsystem: &str, uevent: &str) {
            self.directory(sysfs, subsystem, uevent);
            let name = sysfs.rsplit('/').next().unwrap();
            let list = match listing {
                "bus" => self.root().join(format!("sys/bus/{subsystem}/devices")),
                _ => self.root().join(format!("sys/class/{subsystem}")),
            };
            std::fs::create_dir_all(&list).unwrap();
            symlink(relative(&list, &local(self.root(), sysfs)), list.join(name)).unwrap();
        }

        /// A sysfs directory; with a `uevent` file unless `uevent` is empty and no subsystem.
        pub(crate) fn directory(&self, sysfs: &str, subsystem: &str, uevent: &str) {
            let dir = local(self.root(), sysfs);
            std::fs::create_dir_all(&dir).unwrap();
            if !subsystem.is_empty() {
                std::fs::write(dir.join("uevent"), uevent).unwrap();
                let class = self.root().join("sys/class").join(subsystem);
                symlink(relative(&dir, &class), dir.join("subsystem")).unwrap();
            }
        }

        pub(crate) fn udev(&self, id: &str, record: &str) {
            let data = self.root().join("run/udev/data");
            std::fs::create_dir_all(&data).unwrap();
            std::fs::write(data.join(id), record).unwrap();
        }

        pub(crate) fn dev_link(&self, link: &str, target: &str) {
            let path = self.root().join("dev").join(link);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            symlink(target, path).unwrap();
        }
    }

    /// `to` relative to the directory `from`, as sysfs writes its links.
    fn relative(from: &Path, to: &Path) -> PathBuf {
        let from: Vec<_> = from.components().collect();
        let to: Vec<_> = to.components().collect();
        let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
        let mut path = PathBuf::new();
        for _ in common..from.len() {
            path.push("..");
        }
        for part in &to[common..] {
            path.push(part);
        }
        path
    }

    fn find<'d>(devices: &'d [Device], name: &str) -> &'d Device {
        devices.iter().find(|device| device.name == name).unwrap_or_else(|| panic!("{name} in {devices:#?}"))
    }

    #[test]
    fn devices_with_a_node_are_listed_in_sysfs_order() {
        let host = Host::new();
        let devices = read(host.root());
        let names: Vec<&str> = devices.iter().map(|device| device.name.as_str()).collect();
        assert_eq!(names, ["1-2", "ttyUSB0", "sda", "sda1", "event3"]);
    }

    #[test]
    fn a_serial_adapter_has_its_udev_properties_and_by_id_link() {
        let host = Host::new();
        let devices = read(host.root());
        let tty = find(&devices, "ttyUSB0");
        assert_eq!(tty.sysfs, TTY_USB);
        assert_eq!(tty.dev_path, "/dev/ttyUSB0");
        assert_eq!(tty.subsystem, "tty");
        assert_eq!(tty.by_id.as_deref(), Some("/dev/serial/by-id/usb-Silicon_Labs_CP2102_0001-if00-port0"));
        let attribute = |key: &str| tty.attributes.get(key).map(String::as_str);
        assert_eq!(attribute("DEVNAME"), Some("/dev/ttyUSB0"));
        assert_eq!(attribute("DEVPATH"), Some(TTY_USB.trim_start_matches("/sys")));
        assert_eq!(attribute("SUBSYSTEM"), Some("tty"));
        assert_eq!(attribute("MAJOR"), Some("188"));
        assert_eq!(attribute("ID_VENDOR"), Some("Silicon_Labs"));
        assert_eq!(attribute("TAGS"), Some(":systemd:"));
        assert_eq!(attribute("USEC_INITIALIZED"), Some("5384093"));
        assert_eq!(
            attribute("DEVLINKS"),
            Some(
                "/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0 \
                 /dev/serial/by-id/usb-Silicon_Labs_CP2102_0001-if00-port0"
            )
        );
        assert!(tty.children.is_empty());
    }

    #[test]
    fn children_are_every_device_below() {
        let host = Host::new();
        let devices = read(host.root());
        assert_eq!(
            find(&devices, "1-2").children,
            [format!("{USB}/1-2:1.0"), format!("{USB}/1-2:1.0/ttyUSB0"), TTY_USB.to_owned()]
        );
        // `queue` has no uevent file: not a device.
        assert_eq!(find(&devices, "sda").children, [format!("{SDA}/sda1")]);
    }

    #[test]
    fn by_id_comes_from_dev_without_a_udev_record() {
        let host = Host::new();
        let devices = read(host.root());
        let sda = find(&devices, "sda");
        assert_eq!(sda.by_id.as_deref(), Some("/dev/disk/by-id/ata-WDC_WD10EZEX-08WN4A0_WD-WCC6Y0000000"));
        assert_eq!(sda.attributes.get("DEVLINKS"), None, "attributes are udev's only");
        assert_eq!(sda.attributes.get("DEVTYPE").map(String::as_str), Some("disk"));
        // A by-uuid link is no by-id link.
        let sda1 = find(&devices, "sda1");
        assert_eq!(sda1.by_id, None);
        assert_eq!(sda1.attributes.get("ID_FS_TYPE").map(String::as_str), Some("ext4"));
        assert_eq!(find(&devices, "event3").dev_path, "/dev/input/event3");
    }

    #[test]
    fn a_root_without_sysfs_has_no_devices() {
        let empty = tempfile::tempdir().unwrap();
        assert!(read(empty.path()).is_empty());
        assert!(read(&empty.path().join("missing")).is_empty());
    }

    #[test]
    fn by_id_links_match_the_real_pattern() {
        assert!(is_by_id("/dev/serial/by-id/usb-x"));
        assert!(is_by_id("/dev/disk/by-id/ata-x"));
        assert!(!is_by_id("/dev/disk/by-uuid/x"));
        assert!(!is_by_id("/dev/by-id/x"));
        assert!(!is_by_id("/dev/a/b/by-id/x"));
    }

    #[test]
    fn link_targets_resolve_by_name() {
        assert_eq!(normalize(Path::new("/dev/serial/by-id/../../ttyUSB0")), "/dev/ttyUSB0");
        assert_eq!(normalize(Path::new("/dev/disk/by-id/./../../sda")), "/dev/sda");
    }
}
