//! The `/hardware` group against fixture services on a private bus and a device tree fabricated
//! under the daemon's host root (`SUPERVISOR_HOST_ROOT`): sysfs, the udev database, `/dev` and
//! `/proc/asound`.

use dbus_fixtures::{PrivateBus, Service};
use e2e::{eventually, Daemon};
use serde_json::{json, Value};
use std::os::unix::fs::symlink;
use std::path::Path;

const USB: &str = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2";
const TTY_USB: &str = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/ttyUSB0/tty/ttyUSB0";
const BY_ID: &str = "/dev/serial/by-id/usb-Silicon_Labs_CP2102_USB_to_UART_Bridge_Controller_0001-if00-port0";

/// A host with a USB serial adapter (in the udev database, with its by-id link), a virtual
/// terminal (hidden, as udev's list for the real Supervisor hides it) and a sound card.
fn fabricated_host() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let at = |path: &str| root.path().join(path.trim_start_matches('/'));
    device(
        root.path(),
        USB,
        "bus/usb/devices",
        "usb",
        "MAJOR=189\nMINOR=1\nDEVNAME=bus/usb/001/002\nDEVTYPE=usb_device\n",
    );
    // The interface between them is a device without a node: a child, not listed.
    std::fs::create_dir_all(at(&format!("{USB}/1-2:1.0"))).unwrap();
    std::fs::write(at(&format!("{USB}/1-2:1.0/uevent")), "DEVTYPE=usb_interface\nDRIVER=cp210x\n").unwrap();
    device(root.path(), TTY_USB, "class/tty", "tty", "MAJOR=188\nMINOR=0\nDEVNAME=ttyUSB0\n");
    device(root.path(), "/sys/devices/virtual/tty/tty1", "class/tty", "tty", "MAJOR=4\nMINOR=1\nDEVNAME=tty1\n");
    std::fs::create_dir_all(at("/run/udev/data")).unwrap();
    std::fs::write(
        at("/run/udev/data/c188:0"),
        format!(
            "S:{}\nS:serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0\nI:5384093\n\
             E:ID_VENDOR=Silicon_Labs\nE:ID_MODEL=CP2102_USB_to_UART_Bridge_Controller\nG:systemd\n",
            BY_ID.trim_start_matches("/dev/")
        ),
    )
    .unwrap();
    std::fs::create_dir_all(at("/dev/serial/by-id")).unwrap();
    symlink("../../ttyUSB0", at(BY_ID)).unwrap();
    std::fs::create_dir_all(at("/proc/asound")).unwrap();
    std::fs::write(
        at("/proc/asound/cards"),
        " 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n                      HDA Intel PCH at 0xf7f10000 irq 32\n",
    )
    .unwrap();
    std::fs::write(
        at("/proc/asound/pcm"),
        "00-00: ALC892 Analog : ALC892 Analog : playback 1 : capture 1\n00-03: HDMI 0 : HDMI 0 : playback 1\n",
    )
    .unwrap();
    root
}

/// A sysfs device directory with its `uevent`, its `subsystem` link and its entry in `listing`
/// (`class/tty`, `bus/usb/devices`), linked as sysfs links them.
fn device(root: &Path, sysfs: &str, listing: &str, subsystem: &str, uevent: &str) {
    let dir = root.join(sysfs.trim_start_matches('/'));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("uevent"), uevent).unwrap();
    symlink(format!("/sys/class/{subsystem}"), dir.join("subsystem")).unwrap();
    let list = root.join("sys").join(listing);
    std::fs::create_dir_all(&list).unwrap();
    let up = "../".repeat(listing.split('/').count());
    let name = sysfs.rsplit('/').next().unwrap();
    symlink(format!("{up}{}", sysfs.trim_start_matches("/sys/")), list.join(name)).unwrap();
}

fn info(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/hardware/info");
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn drive<'i>(info: &'i Value, vendor: &str) -> Option<&'i Value> {
    info["drives"].as_array().unwrap().iter().find(|drive| drive["vendor"] == vendor)
}

#[test]
fn devices_come_from_sysfs_and_udev() {
    let host = fabricated_host();
    let daemon = Daemon::start_with(&[("SUPERVISOR_HOST_ROOT", host.path().to_str().unwrap())]);
    let info = info(&daemon);
    let devices = info["devices"].as_array().unwrap();
    let names: Vec<&str> = devices.iter().map(|device| device["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["1-2", "ttyUSB0"], "virtual terminals are hidden");

    let tty = &devices[1];
    assert_eq!(tty["sysfs"], TTY_USB);
    assert_eq!(tty["dev_path"], "/dev/ttyUSB0");
    assert_eq!(tty["subsystem"], "tty");
    assert_eq!(tty["by_id"], BY_ID);
    assert_eq!(tty["attributes"]["ID_VENDOR"], "Silicon_Labs");
    assert_eq!(tty["attributes"]["DEVNAME"], "/dev/ttyUSB0");
    assert_eq!(tty["attributes"]["MAJOR"], "188");
    assert_eq!(tty["attributes"]["TAGS"], ":systemd:");
    assert_eq!(tty["children"], json!([]));

    let usb = &devices[0];
    assert_eq!(usb["dev_path"], "/dev/bus/usb/001/002");
    assert_eq!(usb["by_id"], Value::Null);
    assert_eq!(usb["attributes"]["DEVTYPE"], "usb_device");
    assert_eq!(usb["children"], json!([format!("{USB}/1-2:1.0"), TTY_USB]));
    // Without UDisks2 there are no drives, and no error.
    assert_eq!(info["drives"], json!([]));
}

#[test]
fn drives_list_their_file_systems() {
    let bus = PrivateBus::start(&[Service::UDisks2]).unwrap();
    let daemon = Daemon::start_with(&[bus.env()]);
    let info = eventually("the drives", || {
        let info = info(&daemon);
        (info["drives"].as_array().unwrap().len() == 2).then_some(info)
    });
    let usb = drive(&info, "SSK").unwrap();
    assert_eq!(usb["model"], "SSK Storage");
    assert_eq!(usb["serial"], "DF56419883D56");
    assert_eq!(usb["id"], "SSK-SSK-Storage-DF56419883D56");
    assert_eq!(usb["size"], 250_059_350_016u64);
    assert_eq!(usb["time_detected"], "2026-01-01T08:00:03+00:00");
    assert_eq!(usb["connection_bus"], "usb");
    assert_eq!(usb["seat"], "seat0");
    assert_eq!((usb["removable"].as_bool(), usb["ejectable"].as_bool()), (Some(true), Some(true)));
    let filesystems = usb["filesystems"].as_array().unwrap();
    assert_eq!(filesystems.len(), 1);
    assert_eq!(filesystems[0]["device"], "/dev/sda1");
    assert_eq!(filesystems[0]["name"], "backup");
    assert_eq!(filesystems[0]["system"], false);
    assert_eq!(filesystems[0]["mount_points"], json!([]));
    assert!(filesystems[0]["id"].as_str().unwrap().starts_with("by-uuid-"));

    let nvme = info["drives"].as_array().unwrap().iter().find(|drive| drive["connection_bus"] == "").unwrap();
    let mounts: Vec<(&Value, &Value, &Value)> = nvme["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|fs| (&fs["device"], &fs["system"], &fs["mount_points"]))
        .collect();
    assert_eq!(
        mounts,
        [
            (&json!("/dev/nvme0n1p1"), &json!(true), &json!(["/boot/efi"])),
            (&json!("/dev/nvme0n1p2"), &json!(false), &json!(["/"]))
        ]
    );
}

#[test]
fn a_drive_plugged_in_shows_up_without_a_reload() {
    let bus = PrivateBus::start(&[Service::UDisks2]).unwrap();
    let daemon = Daemon::start_with(&[bus.env()]);
    eventually("the drives", || drive(&info(&daemon), "SSK").map(|_| ()));
    assert!(drive(&info(&daemon), "SanDisk").is_none());

    bus.plug(Service::UDisks2, "sdb").unwrap();
    let stick = eventually("the stick", || {
        drive(&info(&daemon), "SanDisk").filter(|stick| stick["filesystems"].as_array().unwrap().len() == 1).cloned()
    });
    assert_eq!(stick["model"], "Ultra");
    assert_eq!(stick["filesystems"][0]["device"], "/dev/sdb1");
    assert_eq!(stick["filesystems"][0]["name"], "STICK");

    bus.unplug(Service::UDisks2, "sda").unwrap();
    eventually("the SSK disk gone", || drive(&info(&daemon), "SSK").is_none().then_some(()));
}

#[test]
fn udisks_leaving_empties_the_drives_and_coming_back_fills_them() {
    let host = fabricated_host();
    let bus = PrivateBus::start(&[Service::UDisks2]).unwrap();
    let daemon = Daemon::start_with(&[bus.env(), ("SUPERVISOR_HOST_ROOT", host.path().to_str().unwrap())]);
    eventually("the drives", || drive(&info(&daemon), "SSK").map(|_| ()));

    bus.stop_service(Service::UDisks2).unwrap();
    let info_without = eventually("no drives", || {
        let info = info(&daemon);
        (info["drives"] == json!([])).then_some(info)
    });
    assert_eq!(info_without["devices"].as_array().unwrap().len(), 2, "the devices stay");

    bus.start_service(Service::UDisks2).unwrap();
    eventually("the drives back", || drive(&info(&daemon), "SSK").map(|_| ()));
}

#[test]
fn audio_lists_the_sound_devices() {
    let host = fabricated_host();
    let daemon = Daemon::start_with(&[("SUPERVISOR_HOST_ROOT", host.path().to_str().unwrap())]);
    let (status, body) = daemon.get("/hardware/audio");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({"audio": {
            "input": {"hw:PCH,0": "HDA Intel PCH: ALC892 Analog"},
            "output": {"hw:PCH,0": "HDA Intel PCH: ALC892 Analog", "hw:PCH,3": "HDA Intel PCH: HDMI 0"},
        }})
    );

    // A host without sound has none.
    let daemon = Daemon::start_with(&[("SUPERVISOR_HOST_ROOT", "/nonexistent")]);
    let (status, body) = daemon.get("/hardware/audio");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({"audio": {"input": {}, "output": {}}}));
}

#[test]
fn ha_hardware_prints_devices_and_audio() {
    let host = fabricated_host();
    let bus = PrivateBus::start(&[Service::UDisks2]).unwrap();
    let daemon = Daemon::start_with(&[bus.env(), ("SUPERVISOR_HOST_ROOT", host.path().to_str().unwrap())]);
    eventually("the drives", || drive(&info(&daemon), "SSK").map(|_| ()));

    let output = daemon.ha(&["hardware", "info"], &[]);
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}{}", String::from_utf8_lossy(&output.stderr));
    assert!(out.lines().any(|line| line.trim() == format!("by_id: {BY_ID}")), "{out}");
    assert!(out.lines().any(|line| line.trim() == "model: SSK Storage"), "{out}");

    let output = daemon.ha(&["hw", "audio", "--raw-json"], &[]);
    assert!(output.status.success());
    let body: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(body["data"]["audio"]["input"]["hw:PCH,0"], "HDA Intel PCH: ALC892 Analog");
}
