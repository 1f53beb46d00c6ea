//! Devices plugged in and removed while the supervisor runs.
//!
//! udevd writes a device's record into its database (`/run/udev/data`) once its rules ran and
//! deletes it when the device goes; the kernel makes and removes the node in `/dev`. Both
//! folders under the host root are watched with inotify (a test root is watched as the host's
//! is); on a change the devices are read again and compared with the last reading, so each
//! listener hears of a device once it is complete (a device whose udev record or links came
//! after its node is announced again with them), and of every device that went.
//!
//! A monitor that may not watch a folder that is there does not start, and the system is
//! unhealthy (`privileged`), as the real Supervisor's when its udev monitor cannot open the
//! kernel's socket; folders that are not there (a host without udev) are only logged.

use crate::devices::{self, Device};
use base::System;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// How long a burst of changes (udevd writes a record in steps) is let settle before reading.
const SETTLE: Duration = Duration::from_millis(200);

/// A device that came or went.
#[derive(Clone, Debug)]
pub enum Change {
    Added(Device),
    Removed(Device),
}

/// Watches the host under `root` on a thread of its own and sends each change, while anyone
/// listens.
pub(crate) fn start(root: PathBuf, changes: broadcast::Sender<Change>, system: Arc<System>) {
    let spawned = std::thread::Builder::new().name("hardware-monitor".to_owned()).spawn(move || match open(&root) {
        Ok(Some(inotify)) => watch(&root, &inotify, &changes),
        Ok(None) => {}
        Err(e) => {
            tracing::error!("Not privileged to run the hardware monitor: {e}");
            system.mark_unhealthy("privileged", true);
        }
    });
    if let Err(e) = spawned {
        tracing::error!("can't start the hardware monitor: {e}");
    }
}

/// Watches the udev database and `/dev` under `root`; `None` when neither is there, an error
/// when one that is there may not be watched.
fn open(root: &Path) -> Result<Option<Inotify>, Errno> {
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
    let mut watched = 0;
    for dir in [UDEV_DATA, DEV] {
        match inotify.add_watch(&root.join(dir), events_of(dir)) {
            Ok(_) => watched += 1,
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    if watched == 0 {
        tracing::info!("no udev database and no /dev under {}: devices plugged in are not followed", root.display());
        return Ok(None);
    }
    Ok(Some(inotify))
}

const UDEV_DATA: &str = "run/udev/data";
const DEV: &str = "dev";

/// The events that tell of a device in `dir`. Nodes in `/dev` are made and removed; udevd writes
/// its records in place or renames them in. A write to a node (`/dev/null`, which every shell
/// redirection closes after writing) is no device change, and on a busy host would wake the
/// monitor for a reading of every device many times a second.
fn events_of(dir: &str) -> AddWatchFlags {
    let made_or_removed =
        AddWatchFlags::IN_CREATE | AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_MOVED_FROM;
    if dir == UDEV_DATA {
        made_or_removed | AddWatchFlags::IN_CLOSE_WRITE
    } else {
        made_or_removed
    }
}

fn watch(root: &Path, inotify: &Inotify, changes: &broadcast::Sender<Change>) {
    tracing::info!("started the hardware monitor");
    let mut known = by_sysfs(devices::read(root));
    loop {
        // Asleep until the kernel has an event: no wake-ups while nothing is plugged in.
        let mut ready = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        match poll(&mut ready, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                tracing::error!("the hardware monitor stopped: {e}");
                return;
            }
        }
        match inotify.read_events() {
            Ok(events) if !events.is_empty() => {
                std::thread::sleep(SETTLE);
                let _ = inotify.read_events();
                let now = by_sysfs(devices::read(root));
                for change in compare(&known, &now) {
                    match &change {
                        Change::Added(device) => tracing::info!("Detecting add hardware {}", device.dev_path),
                        Change::Removed(device) => tracing::info!("Detecting remove hardware {}", device.dev_path),
                    }
                    // Nobody listening is no error: the next listener reads the devices anew.
                    let _ = changes.send(change);
                }
                known = now;
            }
            Ok(_) | Err(Errno::EAGAIN) => {}
            Err(e) => {
                tracing::error!("the hardware monitor stopped: {e}");
                return;
            }
        }
        // Everyone who listened is gone (the daemon serves anew): so is the monitor.
        if changes.receiver_count() == 0 {
            return;
        }
    }
}

fn by_sysfs(devices: Vec<Device>) -> HashMap<String, Device> {
    devices.into_iter().map(|device| (device.sysfs.clone(), device)).collect()
}

/// What changed from `before` to `after`: new or changed devices, then the ones gone.
fn compare(before: &HashMap<String, Device>, after: &HashMap<String, Device>) -> Vec<Change> {
    let mut changes: Vec<Change> = after
        .iter()
        .filter(|(sysfs, device)| before.get(*sysfs) != Some(device))
        .map(|(_, device)| Change::Added(device.clone()))
        .collect();
    changes.extend(
        before
            .iter()
            .filter(|(sysfs, _)| !after.contains_key(*sysfs))
            .map(|(_, device)| Change::Removed(device.clone())),
    );
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::tests::{Host, TTY_USB};

    #[test]
    fn new_changed_and_gone_devices_are_told() {
        let host = Host::new();
        let before = by_sysfs(devices::read(host.root()));
        let mut after = before.clone();
        let tty = after.get_mut(TTY_USB).unwrap();
        tty.by_id = None;
        let sda = after.keys().find(|sysfs| sysfs.ends_with("/sda")).unwrap().clone();
        after.remove(&sda);
        let changes = compare(&before, &after);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes.iter().any(|change| matches!(change, Change::Added(device) if device.sysfs == TTY_USB)));
        assert!(changes.iter().any(|change| matches!(change, Change::Removed(device) if device.sysfs == sda)));
        assert!(compare(&before, &before).is_empty());
    }

    #[test]
    fn writing_to_a_device_node_wakes_nothing_but_a_node_made_does() {
        let host = Host::new();
        let null = host.root().join("dev/null");
        std::fs::write(&null, "").unwrap();
        let inotify = open(host.root()).unwrap().expect("dev and the udev database are watched");
        std::fs::write(&null, "a redirected line").unwrap();
        assert_eq!(inotify.read_events().map(|events| events.len()), Err(Errno::EAGAIN));
        std::fs::write(host.root().join("dev/ttyACM1"), "").unwrap();
        assert_eq!(inotify.read_events().map(|events| events.len()), Ok(1));
        std::fs::write(host.root().join("run/udev/data/c166:1"), "E:ID_BUS=usb\n").unwrap();
        assert!(!inotify.read_events().unwrap().is_empty(), "a udev record written is heard");
    }

    #[tokio::test]
    async fn a_device_plugged_in_is_heard_with_its_udev_record() {
        let host = Host::new();
        let (sender, mut changes) = broadcast::channel(16);
        start(host.root().to_path_buf(), sender, Arc::new(System::default()));
        // Let the monitor take its first reading before the device comes.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let acm = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3:1.0/tty/ttyACM0";
        host.device(acm, "class", "tty", "MAJOR=166\nMINOR=0\nDEVNAME=ttyACM0\n");
        host.udev("c166:0", "S:serial/by-id/usb-dresden_elektronik_ConBee_II-if00\n");
        let change = tokio::time::timeout(Duration::from_secs(10), changes.recv()).await.unwrap().unwrap();
        let Change::Added(device) = change else { panic!("{change:?}") };
        assert_eq!(device.dev_path, "/dev/ttyACM0");
        assert_eq!(device.by_id.as_deref(), Some("/dev/serial/by-id/usb-dresden_elektronik_ConBee_II-if00"));

        // As on a host: the kernel's device goes, then udevd deletes its record.
        std::fs::remove_dir_all(host.root().join(acm.trim_start_matches('/'))).unwrap();
        std::fs::remove_file(host.root().join("sys/class/tty/ttyACM0")).unwrap();
        std::fs::remove_file(host.root().join("run/udev/data/c166:0")).unwrap();
        let gone = loop {
            match tokio::time::timeout(Duration::from_secs(10), changes.recv()).await.unwrap().unwrap() {
                Change::Removed(device) => break device,
                Change::Added(_) => continue,
            }
        };
        assert_eq!(gone.dev_path, "/dev/ttyACM0");
    }
}
