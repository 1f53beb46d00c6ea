//! The drives of `/hardware/info`, from UDisks2's watched state: each drive with the file
//! systems on it (the drive's block devices that hold one), in the real Supervisor's shape.
//! Without UDisks2 there are none, as the real one answers.

use chrono::{DateTime, Utc};
use dbus::udisks2::{Block, DisksState};
use serde::Serialize;
use utoipa::ToSchema;

/// A drive UDisks2 knows, with the file systems on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
// Named apart from other groups' models in the OpenAPI document.
#[schema(as = HardwareDrive)]
pub struct Drive {
    pub vendor: String,
    pub model: String,
    /// The firmware revision.
    pub revision: String,
    pub serial: String,
    /// UDisks2's unique and persistent id.
    pub id: String,
    /// In bytes.
    pub size: u64,
    /// When UDisks2 first saw it, ISO 8601 in UTC.
    pub time_detected: String,
    /// `usb`, `sdio`, `ieee1394`, or empty.
    pub connection_bus: String,
    pub seat: String,
    pub removable: bool,
    pub ejectable: bool,
    pub filesystems: Vec<Filesystem>,
}

/// A block device of a drive that holds a file system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
// Named apart from other groups' models in the OpenAPI document.
#[schema(as = HardwareFilesystem)]
pub struct Filesystem {
    /// The block device, e.g. `/dev/sda1`.
    pub device: String,
    /// UDisks2's id of the block device.
    pub id: String,
    /// In bytes.
    pub size: u64,
    /// The file system's label.
    pub name: String,
    /// Whether UDisks2 considers it a system device.
    pub system: bool,
    pub mount_points: Vec<String>,
}

/// Every drive UDisks2 has, or none while it is not there.
pub fn from_state(state: Option<&DisksState>) -> Vec<Drive> {
    let Some(state) = state else { return Vec::new() };
    state
        .drives
        .iter()
        .map(|drive| Drive {
            vendor: drive.vendor.clone(),
            model: drive.model.clone(),
            revision: drive.revision.clone(),
            serial: drive.serial.clone(),
            id: drive.id.clone(),
            size: drive.size,
            time_detected: iso_time(drive.time_detected),
            connection_bus: drive.connection_bus.clone(),
            seat: drive.seat.clone(),
            removable: drive.removable,
            ejectable: drive.ejectable,
            filesystems: state.blocks_of(&drive.path).filter_map(filesystem).collect(),
        })
        .collect()
}

fn filesystem(block: &Block) -> Option<Filesystem> {
    let filesystem = block.filesystem.as_ref()?;
    Some(Filesystem {
        device: block.device.clone(),
        id: block.id.clone(),
        size: block.size,
        name: block.id_label.clone(),
        system: block.hint_system,
        mount_points: filesystem.mount_points.clone(),
    })
}

/// µs since the epoch as Python's `isoformat()` writes an aware UTC time: fractions only when
/// there are any, always six digits.
fn iso_time(micros: u64) -> String {
    let time = i64::try_from(micros).ok().and_then(DateTime::<Utc>::from_timestamp_micros).unwrap_or_default();
    let fraction = time.timestamp_subsec_micros();
    let seconds = time.format("%Y-%m-%dT%H:%M:%S");
    if fraction == 0 {
        format!("{seconds}+00:00")
    } else {
        format!("{seconds}.{fraction:06}+00:00")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbus::udisks2::{Drive as UDisksDrive, Filesystem as UDisksFilesystem};

    fn state() -> DisksState {
        let drive = UDisksDrive {
            path: "/org/freedesktop/UDisks2/drives/SSK".to_owned(),
            vendor: "SSK".to_owned(),
            model: "SSK Storage".to_owned(),
            id: "SSK-SSK-Storage-DF56419883D56".to_owned(),
            size: 250_059_350_016,
            time_detected: 1_767_254_403_000_000,
            connection_bus: "usb".to_owned(),
            removable: true,
            ..UDisksDrive::default()
        };
        let disk = Block {
            path: "/org/freedesktop/UDisks2/block_devices/sda".to_owned(),
            device: "/dev/sda".to_owned(),
            drive: Some(drive.path.clone()),
            ..Block::default()
        };
        let partition = Block {
            path: "/org/freedesktop/UDisks2/block_devices/sda1".to_owned(),
            device: "/dev/sda1".to_owned(),
            id: "by-uuid-5f1c".to_owned(),
            size: 250_000_000_000,
            id_label: "backup".to_owned(),
            drive: Some(drive.path.clone()),
            filesystem: Some(UDisksFilesystem { mount_points: vec!["/media/backup".to_owned()], size: 1 }),
            ..Block::default()
        };
        let elsewhere = Block {
            path: "/org/freedesktop/UDisks2/block_devices/loop0".to_owned(),
            device: "/dev/loop0".to_owned(),
            filesystem: Some(UDisksFilesystem::default()),
            ..Block::default()
        };
        DisksState { drives: vec![drive], blocks: vec![disk, partition, elsewhere], ..DisksState::default() }
    }

    #[test]
    fn a_drive_lists_the_file_systems_on_it() {
        let drives = from_state(Some(&state()));
        assert_eq!(drives.len(), 1);
        let drive = &drives[0];
        assert_eq!((drive.vendor.as_str(), drive.connection_bus.as_str(), drive.removable), ("SSK", "usb", true));
        assert_eq!(drive.time_detected, "2026-01-01T08:00:03+00:00");
        assert_eq!(
            drive.filesystems,
            [Filesystem {
                device: "/dev/sda1".to_owned(),
                id: "by-uuid-5f1c".to_owned(),
                size: 250_000_000_000,
                name: "backup".to_owned(),
                system: false,
                mount_points: vec!["/media/backup".to_owned()],
            }]
        );
    }

    #[test]
    fn no_udisks_no_drives() {
        assert!(from_state(None).is_empty());
    }

    #[test]
    fn times_are_written_as_python_does() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso_time(1_767_254_403_000_120), "2026-01-01T08:00:03.000120+00:00");
    }
}
