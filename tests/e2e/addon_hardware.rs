//! Add-ons' hardware grants on the real engine, against a host fabricated under the daemon's
//! host root: device nodes made with `mknod`, their sysfs entries and udev records written here.
//! The `devices` fixture add-on writes which nodes of its `/dev` it may open: each grant opens
//! exactly its devices, no grant none; a device plugged in while an add-on runs reaches it (and
//! `/hardware/info`) without a restart, and goes from both when removed.

use crate::addons::{addon_data, engine_daemon, install};
use dbus_fixtures::{PrivateBus, Service};
use e2e::fixtures::FixtureRepository;
use e2e::{eventually, Daemon};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A device of the fabricated host.
struct Device {
    sysfs: &'static str,
    /// Where sysfs lists it: `class/tty`, `bus/usb/devices`.
    listing: &'static str,
    subsystem: &'static str,
    /// Its node, relative to `/dev`.
    node: &'static str,
    major: u32,
    minor: u32,
    /// Its `/dev/serial/by-id/` name.
    by_id: Option<&'static str>,
}

const TTY_USB: Device = Device {
    sysfs: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/ttyUSB0/tty/ttyUSB0",
    listing: "class/tty",
    subsystem: "tty",
    node: "ttyUSB0",
    major: 188,
    minor: 0,
    by_id: Some("usb-Silicon_Labs_CP2102_USB_to_UART_Bridge_Controller_0001-if00-port0"),
};
/// A serial port of a driver without a major of its own in the policy: allowed by its numbers.
const TTY_OTHER: Device = Device {
    sysfs: "/sys/devices/platform/serial-xr/tty/ttyXR0",
    listing: "class/tty",
    subsystem: "tty",
    node: "ttyXR0",
    major: 239,
    minor: 0,
    by_id: None,
};
const USB: Device = Device {
    sysfs: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2",
    listing: "bus/usb/devices",
    subsystem: "usb",
    node: "bus/usb/001/002",
    major: 189,
    minor: 1,
    by_id: None,
};
const GPIO: Device = Device {
    sysfs: "/sys/devices/platform/gpio-mockup/gpiochip0",
    listing: "bus/gpio/devices",
    subsystem: "gpio",
    node: "gpiochip0",
    major: 240,
    minor: 0,
    by_id: None,
};
const VIDEO: Device = Device {
    sysfs: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4:1.0/video4linux/video0",
    listing: "class/video4linux",
    subsystem: "video4linux",
    node: "video0",
    major: 81,
    minor: 0,
    by_id: None,
};
const MEDIA: Device = Device {
    sysfs: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4:1.0/media0",
    listing: "class/media",
    subsystem: "media",
    node: "media0",
    major: 237,
    minor: 0,
    by_id: None,
};
/// The Zigbee stick plugged in while add-ons run.
const CONBEE: Device = Device {
    sysfs: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3:1.0/tty/ttyACM0",
    listing: "class/tty",
    subsystem: "tty",
    node: "ttyACM0",
    major: 166,
    minor: 0,
    by_id: Some("usb-dresden_elektronik_ingenieurtechnik_GmbH_ConBee_II_DE2123456-if00"),
};

fn by_id_path(device: &Device) -> String {
    format!("/dev/serial/by-id/{}", device.by_id.expect("a by-id name"))
}

/// The host: a `/dev` as a container needs it (`null`, the folders the engine mounts on) and
/// the udev database.
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new(devices: &[&Device]) -> Host {
        let host = Host { dir: tempfile::tempdir().unwrap() };
        for dir in ["dev/pts", "dev/shm", "dev/mqueue", "run/udev/data"] {
            std::fs::create_dir_all(host.at(dir)).unwrap();
        }
        mknod(&host.at("dev/null"), 1, 3);
        for device in devices {
            host.plug(device);
        }
        host
    }

    fn root(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    fn at(&self, path: &str) -> PathBuf {
        self.dir.path().join(path.trim_start_matches('/'))
    }

    /// As the kernel and udevd do: the sysfs entry and the node, then the links and, last, the
    /// udev record.
    fn plug(&self, device: &Device) {
        let dir = self.at(device.sysfs);
        std::fs::create_dir_all(&dir).unwrap();
        let uevent = format!("MAJOR={}\nMINOR={}\nDEVNAME={}\n", device.major, device.minor, device.node);
        std::fs::write(dir.join("uevent"), uevent).unwrap();
        symlink(format!("/sys/class/{}", device.subsystem), dir.join("subsystem")).unwrap();
        let list = self.at(&format!("sys/{}", device.listing));
        std::fs::create_dir_all(&list).unwrap();
        let up = "../".repeat(device.listing.split('/').count());
        symlink(format!("{up}{}", device.sysfs.trim_start_matches("/sys/")), list.join(name(device))).unwrap();
        let node = self.at(&format!("dev/{}", device.node));
        std::fs::create_dir_all(node.parent().unwrap()).unwrap();
        mknod(&node, device.major, device.minor);
        let mut record = String::from("I:5384093\nE:ID_BUS=usb\n");
        if let Some(by_id) = device.by_id {
            let link = self.at(&by_id_path(device));
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            symlink(format!("../../{}", device.node), link).unwrap();
            record.insert_str(0, &format!("S:serial/by-id/{by_id}\n"));
        }
        std::fs::write(self.at(&format!("run/udev/data/c{}:{}", device.major, device.minor)), record).unwrap();
    }

    /// The reverse: the node, links and sysfs entry go, then udevd deletes the record.
    fn unplug(&self, device: &Device) {
        std::fs::remove_file(self.at(&format!("dev/{}", device.node))).unwrap();
        if device.by_id.is_some() {
            std::fs::remove_file(self.at(&by_id_path(device))).unwrap();
        }
        std::fs::remove_file(self.at(&format!("sys/{}/{}", device.listing, name(device)))).unwrap();
        std::fs::remove_dir_all(self.at(device.sysfs)).unwrap();
        std::fs::remove_file(self.at(&format!("run/udev/data/c{}:{}", device.major, device.minor))).unwrap();
    }
}

fn name(device: &Device) -> &'static str {
    device.sysfs.rsplit('/').next().unwrap()
}

fn mknod(path: &Path, major: u32, minor: u32) {
    let status =
        Command::new("mknod").arg(path).args(["c", &major.to_string(), &minor.to_string()]).status().expect("mknod");
    assert!(status.success(), "mknod {}", path.display());
}

/// A copy of the `devices` fixture named `name`, with `key: value` in its config; its slug.
fn variant(repository: &FixtureRepository, name: &str, key: &str, value: &str) -> String {
    let to = repository.addon(name);
    std::fs::create_dir_all(&to).unwrap();
    for file in ["config.yaml", "build.yaml", "Dockerfile", "run.sh"] {
        std::fs::copy(repository.addon("devices").join(file), to.join(file)).unwrap();
    }
    repository.set_config(name, "slug", name);
    repository.set_config(name, "name", name);
    repository.set_config(name, key, value);
    format!("core_{name}")
}

fn start(daemon: &Daemon, slug: &str) {
    let (status, body) = daemon.post(&format!("/addons/{slug}/start"), json!({}));
    assert_eq!(status, 200, "start of {slug}: {body}");
}

/// What the add-on last wrote: each node it sees, and whether it may open it.
fn seen(daemon: &Daemon, slug: &str) -> Option<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(addon_data(daemon, slug).join("devices")).ok()?;
    Some(
        text.lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(node, access)| (node.to_owned(), access.to_owned()))
            .collect(),
    )
}

/// The nodes the add-on may open, once it reported.
fn opened(daemon: &Daemon, slug: &str) -> Vec<String> {
    let seen = eventually(&format!("{slug} to list its devices"), || seen(daemon, slug));
    seen.into_iter().filter(|(_, access)| access == "open").map(|(node, _)| node).collect()
}

fn device_names(daemon: &Daemon) -> Vec<String> {
    let (status, body) = daemon.get("/hardware/info");
    assert_eq!(status, 200, "{body}");
    body["data"]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|device| device["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn each_grant_opens_exactly_its_devices() {
    let host = Host::new(&[&TTY_USB, &TTY_OTHER, &USB, &GPIO, &VIDEO, &MEDIA]);
    let repository = FixtureRepository::copy();
    let serial = by_id_path(&TTY_USB);
    let nodes = |nodes: &[&str]| nodes.iter().map(|node| (*node).to_owned()).collect::<Vec<String>>();
    let slugs = [
        ("core_devices".to_owned(), vec![]),
        (variant(&repository, "devices_uart", "uart", "true"), nodes(&[&serial, "/dev/ttyUSB0", "/dev/ttyXR0"])),
        (variant(&repository, "devices_usb", "usb", "true"), nodes(&["/dev/bus/usb/001/002"])),
        (variant(&repository, "devices_gpio", "gpio", "true"), nodes(&["/dev/gpiochip0"])),
        (variant(&repository, "devices_video", "video", "true"), nodes(&["/dev/media0", "/dev/video0"])),
        (variant(&repository, "devices_named", "devices", &format!("[{serial}]")), nodes(&[&serial, "/dev/ttyUSB0"])),
    ];
    let daemon = engine_daemon(&[repository.env(), ("SUPERVISOR_HOST_ROOT", host.root())]);
    for (slug, _) in &slugs {
        install(&daemon, slug);
        start(&daemon, slug);
    }
    for (slug, expected) in &slugs {
        assert_eq!(&opened(&daemon, slug), expected, "{slug}");
    }
    // Every add-on sees the host's nodes; without a grant it may open none.
    let plain = eventually("the plain add-on's list", || seen(&daemon, "core_devices"));
    for node in ["/dev/ttyUSB0", "/dev/bus/usb/001/002", "/dev/gpiochip0", "/dev/video0"] {
        assert_eq!(plain.get(node).map(String::as_str), Some("denied"), "{node} in {plain:?}");
    }
}

/// The open nodes of `slug` once `ready` holds for them.
fn opened_when(daemon: &Daemon, slug: &str, what: &str, ready: impl Fn(&[String]) -> bool) -> Vec<String> {
    eventually(what, || {
        let open: Vec<String> =
            seen(daemon, slug)?.into_iter().filter(|(_, access)| access == "open").map(|(node, _)| node).collect();
        ready(&open).then_some(open)
    })
}

fn resolution(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/resolution/info");
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn access_missing(daemon: &Daemon, slug: &str) -> Option<Value> {
    resolution(daemon)["issues"]
        .as_array()?
        .iter()
        .find(|issue| issue["type"] == "device_access_missing" && issue["reference"] == slug)
        .cloned()
}

#[test]
fn a_stick_plugged_in_reaches_a_running_addon_and_goes_when_removed() {
    let host = Host::new(&[&TTY_USB]);
    let repository = FixtureRepository::copy();
    let uart = variant(&repository, "devices_uart", "uart", "true");
    let named = variant(&repository, "devices_named", "devices", &format!("[{}]", by_id_path(&CONBEE)));
    let daemon = engine_daemon(&[repository.env(), ("SUPERVISOR_HOST_ROOT", host.root())]);
    for slug in [&uart, &named] {
        install(&daemon, slug);
        start(&daemon, slug);
    }
    assert_eq!(opened(&daemon, &uart), [by_id_path(&TTY_USB), "/dev/ttyUSB0".to_owned()]);
    assert!(opened(&daemon, &named).is_empty(), "its stick is not there yet");
    assert!(!device_names(&daemon).contains(&"ttyACM0".to_owned()));

    host.plug(&CONBEE);
    // The uart grant covers the stick's class: it opens at once, by node and by link.
    let open = opened_when(&daemon, &uart, "the stick in the uart add-on", |open| open.len() == 4);
    assert_eq!(open, [by_id_path(&TTY_USB), by_id_path(&CONBEE), "/dev/ttyACM0".to_owned(), "/dev/ttyUSB0".to_owned()]);
    assert!(device_names(&daemon).contains(&"ttyACM0".to_owned()), "/hardware/info shows it");
    // The add-on that names the stick sees it but can't open it until it restarts (no OS Agent
    // to widen its device cgroup): the resolution center says so and restarting fixes it.
    let issue = eventually("the device_access_missing issue", || access_missing(&daemon, &named));
    assert_eq!(issue["context"], "addon");
    eventually("the stick listed, denied, by the add-on naming it", || {
        let seen = seen(&daemon, &named)?;
        (seen.get("/dev/ttyACM0").map(String::as_str) == Some("denied")).then_some(())
    });
    let restart = resolution(&daemon)["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|suggestion| suggestion["type"] == "execute_restart" && suggestion["reference"] == named.as_str())
        .cloned()
        .expect("a restart suggestion");
    let (status, body) =
        daemon.post(&format!("/resolution/suggestion/{}", restart["uuid"].as_str().unwrap()), json!({}));
    assert_eq!(status, 200, "{body}");
    let open = opened_when(&daemon, &named, "the stick in the restarted add-on", |open| !open.is_empty());
    assert_eq!(open, [by_id_path(&CONBEE), "/dev/ttyACM0".to_owned()]);
    eventually("the issue gone with the restart", || access_missing(&daemon, &named).is_none().then_some(()));

    host.unplug(&CONBEE);
    let open = opened_when(&daemon, &uart, "the stick gone from the uart add-on", |open| open.len() == 2);
    assert_eq!(open, [by_id_path(&TTY_USB), "/dev/ttyUSB0".to_owned()]);
    eventually("the stick gone from /hardware/info", || {
        (!device_names(&daemon).contains(&"ttyACM0".to_owned())).then_some(())
    });
}

#[test]
fn with_the_os_agent_a_named_stick_is_allowed_in_the_running_container() {
    let host = Host::new(&[]);
    let repository = FixtureRepository::copy();
    let named = variant(&repository, "devices_named", "devices", &format!("[{}]", by_id_path(&CONBEE)));
    let bus = PrivateBus::start(&[Service::OsAgent]).unwrap();
    let daemon = engine_daemon(&[repository.env(), bus.env(), ("SUPERVISOR_HOST_ROOT", host.root())]);
    install(&daemon, &named);
    start(&daemon, &named);
    let container = crate::addons::inspect_container(&crate::addons::container_name(&daemon, &named)).unwrap();
    let id = container["Id"].as_str().unwrap().to_owned();

    host.plug(&CONBEE);
    let expected = format!("AddDevicesAllowed({id}, c 166:0 rwm)");
    eventually("the OS Agent asked", || bus.calls(Service::OsAgent).unwrap().contains(&expected).then_some(()));
    assert!(access_missing(&daemon, &named).is_none(), "no issue where the agent allowed it");
}
