//! The checks of the disks, from the watched UDisks2 state and the OS-Agent's data disk: a data
//! file system HAOS disabled at boot, a second one with the data disk's name, and the
//! partitions of a second Home Assistant OS installation.

use super::{finding, Finding};
use crate::model::{IssueType, Subject, SuggestionType};
use crate::Parts;
use dbus::udisks2::{Block, DisksState};

/// The label of the file system HAOS keeps its data on.
pub const DATA_DISK_LABEL: &str = "hassos-data";
/// What HAOS renames a second data file system to at boot.
const DISABLED_DATA_DISK_LABEL: &str = "hassos-data-dis";
/// What a data file system that is not to be used is renamed to.
pub const OLD_DATA_DISK_LABEL: &str = "hassos-data-old";
/// The partition names of a HAOS installation on GPT.
const HAOS_PARTITION_NAMES: [&str; 5] =
    ["hassos-boot", "hassos-kernel0", "hassos-kernel1", "hassos-system0", "hassos-system1"];
/// The partition UUIDs of a HAOS installation on MBR (boot, kernel0, system0, kernel1, system1).
const HAOS_PARTITION_UUIDS: [&str; 5] = ["48617373-01", "48617373-05", "48617373-06", "48617373-07", "48617373-08"];

const FIXES: [SuggestionType; 2] = [SuggestionType::RenameDataDisk, SuggestionType::AdoptDataDisk];

fn labelled<'d>(disks: &'d DisksState, label: &'d str) -> impl Iterator<Item = &'d Block> + 'd {
    disks.blocks.iter().filter(move |block| block.filesystem.is_some() && block.id_label == label)
}

fn data_disk_finding(kind: IssueType, block: &Block) -> Finding {
    finding(kind, Subject::of(crate::model::ContextType::System, &block.device), &FIXES)
}

/// File systems HAOS disabled as a second data disk.
pub fn disabled_data_disks(parts: &Parts) -> Option<Vec<Finding>> {
    let disks = parts.host.services().udisks2.state()?;
    Some(
        labelled(&disks, DISABLED_DATA_DISK_LABEL)
            .map(|block| data_disk_finding(IssueType::DisabledDataDisk, block))
            .collect(),
    )
}

/// File systems named as the data disk that are not the one in use (Home Assistant OS only).
pub fn multiple_data_disks(parts: &Parts) -> Option<Vec<Finding>> {
    if !parts.system.haos() {
        return Some(Vec::new());
    }
    let disks = parts.host.services().udisks2.state()?;
    let current = parts.host.services().os_agent.datadisk.state().map(|state| state.current_device);
    Some(
        other_data_disks(&disks, current.as_deref().unwrap_or_default())
            .map(|block| data_disk_finding(IssueType::MultipleDataDisks, block))
            .collect(),
    )
}

fn other_data_disks<'d>(disks: &'d DisksState, current: &'d str) -> impl Iterator<Item = &'d Block> + 'd {
    labelled(disks, DATA_DISK_LABEL).filter(move |block| block.device != current)
}

/// A HAOS partition (by GPT name or MBR UUID) on more than one device (Home Assistant OS only).
pub fn duplicate_os_installation(parts: &Parts) -> Option<Vec<Finding>> {
    if !parts.system.haos() {
        return Some(Vec::new());
    }
    let disks = parts.host.services().udisks2.state()?;
    Some(match duplicated_partition(&disks) {
        Some((what, devices)) => {
            tracing::warn!(
                "Found duplicate OS installation: {what} exists on {} devices ({})",
                devices.len(),
                devices.join(", ")
            );
            vec![finding(IssueType::DuplicateOsInstallation, Subject::system(), &[])]
        }
        None => Vec::new(),
    })
}

/// The first HAOS partition found on several devices, and those devices.
fn duplicated_partition(disks: &DisksState) -> Option<(String, Vec<String>)> {
    let named = HAOS_PARTITION_NAMES.iter().map(|name| (format!("{name} partition"), name, true));
    let by_uuid = HAOS_PARTITION_UUIDS.iter().map(|uuid| (format!("{uuid} partition UUID"), uuid, false));
    named.chain(by_uuid).find_map(|(what, wanted, by_name)| {
        let devices: Vec<String> = disks
            .blocks
            .iter()
            .filter(|block| {
                block.partition.as_ref().is_some_and(|p| if by_name { p.name == *wanted } else { p.uuid == *wanted })
            })
            .map(|block| block.device.clone())
            .collect();
        (devices.len() > 1).then_some((what, devices))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbus::udisks2::{Filesystem, Partition};

    fn block(device: &str, label: &str, partition: Option<(&str, &str)>) -> Block {
        Block {
            device: device.into(),
            id_label: label.into(),
            filesystem: (!label.is_empty()).then(Filesystem::default),
            partition: partition.map(|(name, uuid)| Partition {
                name: name.into(),
                uuid: uuid.into(),
                ..Default::default()
            }),
            ..Block::default()
        }
    }

    #[test]
    fn only_other_file_systems_named_as_the_data_disk_are_found() {
        let mut disks = DisksState {
            blocks: vec![block("/dev/nvme0n1p8", DATA_DISK_LABEL, None), block("/dev/sda1", "backup", None)],
            ..DisksState::default()
        };
        assert_eq!(other_data_disks(&disks, "/dev/nvme0n1p8").count(), 0);
        disks.blocks.push(block("/dev/sdb1", DATA_DISK_LABEL, None));
        // The name without a file system says nothing.
        disks.blocks.push(Block { device: "/dev/sdc".into(), id_label: DATA_DISK_LABEL.into(), ..Block::default() });
        let others: Vec<&str> = other_data_disks(&disks, "/dev/nvme0n1p8").map(|b| b.device.as_str()).collect();
        assert_eq!(others, ["/dev/sdb1"]);
    }

    #[test]
    fn a_haos_partition_on_two_devices_is_a_duplicate_installation() {
        let mut disks = DisksState {
            blocks: vec![
                block("/dev/mmcblk0p1", "hassos-boot", Some(("hassos-boot", "48617373-01"))),
                block("/dev/mmcblk0p2", "", Some(("hassos-kernel0", "48617373-05"))),
                block("/dev/sda1", "", Some(("other", "48617373-02"))),
            ],
            ..DisksState::default()
        };
        assert_eq!(duplicated_partition(&disks), None);
        disks.blocks.push(block("/dev/sdb2", "", Some(("", "48617373-05"))));
        assert_eq!(
            duplicated_partition(&disks),
            Some(("48617373-05 partition UUID".to_owned(), vec!["/dev/mmcblk0p2".to_owned(), "/dev/sdb2".to_owned()]))
        );
        disks.blocks.push(block("/dev/sdb1", "", Some(("hassos-boot", ""))));
        assert_eq!(duplicated_partition(&disks).unwrap().0, "hassos-boot partition");
    }
}
