//! The disks of the data partition, as UDisks2 describes them: the one in use and the ones it
//! may move to. A disk may take the data when nothing of it is mounted and its main block device
//! is clear (the only one, or the only one with a partition table), as the real Supervisor decides.

use dbus::udisks2::{Block, DisksState, Drive};
use serde::Serialize;
use utoipa::ToSchema;

/// The name of the data partition HAOS looks for on an external disk at boot.
pub const EXTERNAL_DATA_PARTITION: &str = "hassos-data-external";
/// What an external data partition is renamed to when the data moves on to another disk.
pub const OLD_EXTERNAL_DATA_PARTITION: &str = "hassos-data-external-old";
/// The GPT type of a Linux file system partition.
pub const LINUX_DATA_PARTITION_TYPE: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

/// A disk as `/os/datadisk/list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Disk {
    /// `Vendor Model (Serial)`, or as much of it as is known.
    pub name: String,
    pub vendor: String,
    pub model: String,
    pub serial: String,
    /// Bytes.
    pub size: u64,
    /// UDisks2's drive id, or the device path for a disk without one.
    pub id: String,
    /// E.g. `/dev/sda`.
    pub dev_path: String,
    /// The UDisks2 object of the drive; empty when only the device path is known.
    #[serde(skip)]
    pub drive_path: String,
    /// The UDisks2 object of the disk's main block device; empty likewise.
    #[serde(skip)]
    pub block_path: String,
}

impl Disk {
    fn new(drive: &Drive, block: &Block) -> Disk {
        let id = if drive.id.is_empty() { block.device.clone() } else { drive.id.clone() };
        Disk {
            name: name(&drive.vendor, &drive.model, &drive.serial, &id),
            vendor: drive.vendor.clone(),
            model: drive.model.clone(),
            serial: drive.serial.clone(),
            size: drive.size,
            id,
            dev_path: block.device.clone(),
            drive_path: drive.path.clone(),
            block_path: block.path.clone(),
        }
    }

    /// A disk UDisks2 does not know: only its device path.
    fn bare(device: &str) -> Disk {
        Disk {
            name: device.to_owned(),
            vendor: String::new(),
            model: String::new(),
            serial: String::new(),
            size: 0,
            id: device.to_owned(),
            dev_path: device.to_owned(),
            drive_path: String::new(),
            block_path: String::new(),
        }
    }
}

fn name(vendor: &str, model: &str, serial: &str, id: &str) -> String {
    let mut name = vendor.to_owned();
    if !model.is_empty() {
        name = format!("{name} {model}").trim_start().to_owned();
    }
    if !serial.is_empty() {
        name = if name.is_empty() { serial.to_owned() } else { format!("{name} ({serial})") };
    }
    if name.is_empty() {
        id.to_owned()
    } else {
        name
    }
}

/// The block device that stands for a drive: its only one, or its only partitioned one.
fn primary<'s>(blocks: &[&'s Block]) -> Option<&'s Block> {
    if let [only] = blocks {
        return Some(only);
    }
    match blocks.iter().filter(|block| block.partition_table.is_some()).collect::<Vec<_>>()[..] {
        [table] => Some(table),
        _ => None,
    }
}

/// The disks the data partition may move to.
pub fn available(disks: &DisksState) -> Vec<Disk> {
    disks
        .drives
        .iter()
        .filter_map(|drive| {
            let blocks: Vec<&Block> = disks.blocks_of(&drive.path).collect();
            let mounted = blocks
                .iter()
                .any(|block| block.filesystem.as_ref().is_some_and(|filesystem| !filesystem.mount_points.is_empty()));
            let primary = primary(&blocks)?;
            (!mounted).then(|| Disk::new(drive, primary))
        })
        .collect()
}

/// The disk holding the data partition now, from the OS-Agent's `CurrentDevice` (`None` when
/// the agent names none).
pub fn used(disks: Option<&DisksState>, current_device: &str) -> Option<Disk> {
    if current_device.is_empty() {
        return None;
    }
    let known = disks.and_then(|disks| {
        let block = disks.block_by_device(current_device)?;
        let drive = disks.drive(block.drive.as_deref()?)?;
        Some(Disk::new(drive, block))
    });
    Some(known.unwrap_or_else(|| Disk::bare(current_device)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbus::udisks2::{Filesystem, Partition, PartitionTable};

    fn drive(path: &str, vendor: &str, model: &str, serial: &str, id: &str) -> Drive {
        Drive {
            path: path.into(),
            vendor: vendor.into(),
            model: model.into(),
            serial: serial.into(),
            id: id.into(),
            size: 1000,
            ..Drive::default()
        }
    }

    fn block(path: &str, device: &str, drive: &str) -> Block {
        Block { path: path.into(), device: device.into(), drive: Some(drive.into()), ..Block::default() }
    }

    fn disks() -> DisksState {
        let mut system = block("/b/nvme0n1", "/dev/nvme0n1", "/d/nvme");
        system.partition_table = Some(PartitionTable::default());
        let mut data = block("/b/nvme0n1p1", "/dev/nvme0n1p1", "/d/nvme");
        data.partition = Some(Partition::default());
        data.filesystem = Some(Filesystem { mount_points: vec!["/mnt/data".into()], size: 0 });
        let mut usb = block("/b/sda", "/dev/sda", "/d/usb");
        usb.partition_table = Some(PartitionTable::default());
        let mut usb_part = block("/b/sda1", "/dev/sda1", "/d/usb");
        usb_part.filesystem = Some(Filesystem::default());
        let card = block("/b/mmcblk0", "/dev/mmcblk0", "/d/card");
        // Two partition tables: which block is the disk cannot be told.
        let mut odd_a = block("/b/sdb", "/dev/sdb", "/d/odd");
        odd_a.partition_table = Some(PartitionTable::default());
        let mut odd_b = block("/b/sdb1", "/dev/sdb1", "/d/odd");
        odd_b.partition_table = Some(PartitionTable::default());
        DisksState {
            drives: vec![
                drive("/d/nvme", "", "Samsung SSD", "S4EV", "Samsung-SSD-S4EV"),
                drive("/d/usb", "SSK", "SSK Storage", "DF56", "SSK-SSK-Storage-DF56"),
                drive("/d/card", "", "", "", ""),
                drive("/d/odd", "Odd", "", "", "Odd-1"),
            ],
            blocks: vec![system, data, usb, usb_part, card, odd_a, odd_b],
            ..DisksState::default()
        }
    }

    #[test]
    fn only_unmounted_disks_with_a_clear_main_block_are_available() {
        let available = available(&disks());
        let summary: Vec<(&str, &str, &str)> =
            available.iter().map(|disk| (disk.name.as_str(), disk.id.as_str(), disk.dev_path.as_str())).collect();
        assert_eq!(
            summary,
            [
                ("SSK SSK Storage (DF56)", "SSK-SSK-Storage-DF56", "/dev/sda"),
                ("/dev/mmcblk0", "/dev/mmcblk0", "/dev/mmcblk0"),
            ]
        );
        assert_eq!(available[0].block_path, "/b/sda");
    }

    #[test]
    fn the_disk_in_use_is_found_by_its_device() {
        let disks = disks();
        let used = used(Some(&disks), "/dev/nvme0n1").unwrap();
        assert_eq!((used.id.as_str(), used.name.as_str()), ("Samsung-SSD-S4EV", "Samsung SSD (S4EV)"));
        assert_eq!(super::used(Some(&disks), "/dev/vda").unwrap().id, "/dev/vda");
        assert_eq!(super::used(None, "/dev/vda").unwrap().name, "/dev/vda");
        assert_eq!(super::used(Some(&disks), ""), None);
    }

    #[test]
    fn names_use_what_is_known() {
        assert_eq!(name("Generic", "Flash Disk", "123", "x"), "Generic Flash Disk (123)");
        assert_eq!(name("", "Model", "", "x"), "Model");
        assert_eq!(name("", "", "123", "x"), "123");
        assert_eq!(name("", "", "", "x"), "x");
    }
}
