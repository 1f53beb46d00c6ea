//! `org.freedesktop.UDisks2`: a machine with an NVMe system disk (GPT: an EFI partition and the
//! root file system, both mounted; with the `haos` profile the `hassos-boot` and `hassos-data`
//! partitions instead) and a USB disk (`SSK SSK Storage`, GPT, one unmounted ext4 partition),
//! with the ObjectManager at `/org/freedesktop/UDisks2` as UDisks2 has. USB disks can be pulled
//! out and plugged in (`io.supervisor.Fixture.Unplug`/`Plug`): `sda`, and, not plugged in at
//! start, `sdb` (a `SanDisk Ultra` stick with one vfat partition `STICK`), `sdc` (the data disk
//! of another Home Assistant OS), `sdd` (a data disk HAOS disabled) and `sde` (a copy of Home
//! Assistant OS's boot, kernel and system partitions); their objects come and go with
//! `InterfacesAdded`/`InterfacesRemoved`, as on a real host.
//!
//! Objects: the Manager (`GetBlockDevices`, `ResolveDevice` by `path`, `label`, `uuid`,
//! `partuuid` or `partlabel`); drives (`Drive`, `Eject`; the NVMe one also
//! `NVMe.Controller.SmartGetAttributes`); block devices (`Block`, `Format`) with `PartitionTable`
//! (`CreatePartition`), `Partition` (`SetName`, `Delete`) and `Filesystem` (`Mount`, `Unmount`,
//! `SetLabel`, `Check`, `Repair`) where they apply. Formatting a disk with a mounted file system
//! is refused (`DeviceBusy`), as is mounting twice (`AlreadyMounted`) or unmounting what is not
//! (`NotMounted`). Changes are announced as UDisks2 does (see `tree`); every state-changing call
//! is recorded in `Calls` of the Manager's object.

use crate::control::{Calls, Control, SetFuture};
use crate::error::ServiceError;
use crate::tree::{text, value, Handle, Model, Shared, Snapshot, View};
use crate::Profile;
use std::collections::{BTreeMap, HashMap};
use zbus::fdo::ObjectManager;
use zbus::zvariant::{OwnedObjectPath, OwnedValue};
use zbus::{interface, Connection, ObjectServer};

pub const BUS_NAME: &str = "org.freedesktop.UDisks2";
pub const PATH: &str = "/org/freedesktop/UDisks2/Manager";
const ROOT: &str = "/org/freedesktop/UDisks2";

const MANAGER: &str = "org.freedesktop.UDisks2.Manager";
const DRIVE: &str = "org.freedesktop.UDisks2.Drive";
const NVME: &str = "org.freedesktop.UDisks2.NVMe.Controller";
const BLOCK: &str = "org.freedesktop.UDisks2.Block";
const PARTITION: &str = "org.freedesktop.UDisks2.Partition";
const PARTITION_TABLE: &str = "org.freedesktop.UDisks2.PartitionTable";
const FILESYSTEM: &str = "org.freedesktop.UDisks2.Filesystem";
const LINUX_FILESYSTEM: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";
const EFI_SYSTEM: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
const MIB: u64 = 1024 * 1024;
/// The file system types `Format` creates; the others are partition table types or `empty`.
const FILESYSTEMS: [&str; 9] = ["ext2", "ext3", "ext4", "vfat", "ntfs", "exfat", "xfs", "btrfs", "swap"];

struct Drive {
    vendor: &'static str,
    model: &'static str,
    revision: &'static str,
    serial: &'static str,
    wwn: &'static str,
    id: &'static str,
    size: u64,
    connection_bus: &'static str,
    removable: bool,
    nvme: bool,
    /// µs since the epoch.
    time_detected: u64,
}

#[derive(Clone)]
struct Partition {
    number: u32,
    kind: String,
    name: String,
    uuid: String,
    /// The name of the block device holding the table.
    table: String,
    offset: u64,
}

struct Block {
    /// The drive's object name.
    drive: Option<&'static str>,
    size: u64,
    device_number: u64,
    usage: String,
    fs_type: String,
    label: String,
    uuid: String,
    hint_system: bool,
    table: Option<String>,
    partition: Option<Partition>,
    /// The mount points, when the block holds a file system.
    filesystem: Option<Vec<String>>,
}

struct Disks {
    drives: BTreeMap<&'static str, Drive>,
    blocks: BTreeMap<String, Block>,
    next_uuid: u32,
}

fn drive_path(name: &str) -> String {
    format!("{ROOT}/drives/{name}")
}

fn block_path(name: &str) -> String {
    format!("{ROOT}/block_devices/{name}")
}

fn object(path: String) -> OwnedObjectPath {
    OwnedObjectPath::try_from(path).expect("fixture paths are valid")
}

/// UDisks2 passes paths as NUL-terminated byte strings.
fn bytes(text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0);
    bytes
}

/// The block device name of an object path of this fixture.
fn block_name(path: &str) -> Option<&str> {
    path.strip_prefix(ROOT)?.strip_prefix("/block_devices/")
}

impl Disks {
    fn new(profile: Profile) -> Disks {
        let drives = BTreeMap::from([(
            "Samsung_SSD_970_EVO_Plus_500GB_S4EVNX0N123456A",
            Drive {
                vendor: "",
                model: "Samsung SSD 970 EVO Plus 500GB",
                revision: "2B2QEXM7",
                serial: "S4EVNX0N123456A",
                wwn: "eui.0025385391b12345",
                id: "Samsung-SSD-970-EVO-Plus-500GB-S4EVNX0N123456A",
                size: 500_107_862_016,
                connection_bus: "",
                removable: false,
                nvme: true,
                time_detected: BOOT_DETECTED,
            },
        )]);
        let mut disks = Disks { drives, blocks: BTreeMap::new(), next_uuid: 1 };
        let (boot_name, boot_mount, data_name, data_label, data_mount) = if profile.is_haos() {
            ("hassos-boot", "/mnt/boot", "hassos-data", "hassos-data", "/mnt/data")
        } else {
            ("EFI System Partition", "/boot/efi", "", "", "/")
        };
        disks.add_disk("nvme0n1", "Samsung_SSD_970_EVO_Plus_500GB_S4EVNX0N123456A", 259 << 8);
        disks.add_partition("nvme0n1", 512 * MIB, EFI_SYSTEM, boot_name);
        disks.add_partition("nvme0n1", 0, LINUX_FILESYSTEM, data_name);
        disks.make_filesystem("nvme0n1p1", "vfat", "", Some(boot_mount));
        disks.make_filesystem("nvme0n1p2", "ext4", data_label, Some(data_mount));
        disks.blocks.get_mut("nvme0n1p1").expect("created above").hint_system = true;
        disks.plug("sda", BOOT_DETECTED).expect("sda is a USB disk of the catalog");
        disks
    }

    /// Plugs in a USB disk of the catalog: its drive, the disk (GPT) and its partitions, with
    /// their file systems unmounted.
    fn plug(&mut self, device: &str, time_detected: u64) -> Result<(), ServiceError> {
        let disk = usb_disk(device, time_detected).ok_or_else(|| {
            ServiceError::invalid_args(format!("No USB disk '{device}' to plug (known: {USB_DISKS})"))
        })?;
        if self.drives.contains_key(disk.drive_name) {
            return Err(ServiceError::invalid_args(format!("{device} is already plugged in")));
        }
        self.drives.insert(disk.drive_name, disk.drive);
        self.add_disk(device, disk.drive_name, disk.device_number);
        let (count, rest) = (disk.partitions.len() as u64, disk.partitions.len() == 1);
        for (name, fs_type, label) in disk.partitions {
            // One partition takes the disk; several share the first GiB.
            let size = if rest { 0 } else { 1024 * MIB / count };
            let partition = self.add_partition(device, size, LINUX_FILESYSTEM, name);
            if !fs_type.is_empty() {
                self.make_filesystem(&partition, fs_type, label, None);
            }
        }
        Ok(())
    }

    /// Pulls a USB disk of the catalog out: its drive and every block device on it go.
    fn unplug(&mut self, device: &str) -> Result<(), ServiceError> {
        let disk = usb_disk(device, 0).ok_or_else(|| {
            ServiceError::invalid_args(format!("No USB disk '{device}' to unplug (known: {USB_DISKS})"))
        })?;
        if self.drives.remove(disk.drive_name).is_none() {
            return Err(ServiceError::invalid_args(format!("{device} is not plugged in")));
        }
        self.blocks.retain(|_, block| block.drive != Some(disk.drive_name));
        Ok(())
    }

    fn uuid(&mut self) -> String {
        self.next_uuid += 1;
        format!("5f1c2e3d-4b5a-4697-8a1b-{:012x}", self.next_uuid)
    }

    fn empty_block(drive: Option<&'static str>, size: u64, device_number: u64) -> Block {
        Block {
            drive,
            size,
            device_number,
            usage: String::new(),
            fs_type: String::new(),
            label: String::new(),
            uuid: String::new(),
            hint_system: false,
            table: None,
            partition: None,
            filesystem: None,
        }
    }

    fn add_disk(&mut self, name: &str, drive: &'static str, device_number: u64) {
        let size = self.drives[drive].size;
        let mut block = Self::empty_block(Some(drive), size, device_number);
        block.table = Some("gpt".to_owned());
        self.blocks.insert(name.to_owned(), block);
    }

    fn partitions_of(&self, table: &str) -> Vec<String> {
        let mut partitions: Vec<(u32, String)> = self
            .blocks
            .iter()
            .filter_map(|(name, block)| {
                block
                    .partition
                    .as_ref()
                    .filter(|partition| partition.table == table)
                    .map(|partition| (partition.number, name.clone()))
            })
            .collect();
        partitions.sort();
        partitions.into_iter().map(|(_, name)| name).collect()
    }

    /// A new partition after the last one; size 0 takes the rest of the disk. Returns its name.
    fn add_partition(&mut self, table: &str, size: u64, kind: &str, name: &str) -> String {
        let partitions = self.partitions_of(table);
        let number = u32::try_from(partitions.len()).expect("few partitions") + 1;
        let offset = partitions
            .iter()
            .filter_map(|partition| {
                let block = &self.blocks[partition];
                Some(block.partition.as_ref()?.offset + block.size)
            })
            .max()
            .unwrap_or(MIB);
        let disk = &self.blocks[table];
        // GPT keeps its backup table in the last MiB.
        let size = if size == 0 { disk.size.saturating_sub(offset + MIB) } else { size };
        let separator = if table.ends_with(|c: char| c.is_ascii_digit()) { "p" } else { "" };
        let block_name = format!("{table}{separator}{number}");
        let mut block = Self::empty_block(disk.drive, size, disk.device_number + u64::from(number));
        let uuid = self.uuid();
        block.partition = Some(Partition {
            number,
            kind: kind.to_owned(),
            name: name.to_owned(),
            uuid,
            table: table.to_owned(),
            offset,
        });
        self.blocks.insert(block_name.clone(), block);
        block_name
    }

    fn make_filesystem(&mut self, name: &str, fs_type: &str, label: &str, mount_point: Option<&str>) {
        let uuid = self.uuid();
        let block = self.blocks.get_mut(name).expect("the block exists");
        block.usage = "filesystem".to_owned();
        block.fs_type = fs_type.to_owned();
        block.label = label.to_owned();
        block.uuid = uuid;
        block.table = None;
        block.filesystem = Some(mount_point.map(str::to_owned).into_iter().collect());
    }

    /// Whether the block, or a partition on it, has a mounted file system.
    fn busy(&self, name: &str) -> bool {
        let mounted = |name: &str| {
            self.blocks.get(name).and_then(|block| block.filesystem.as_ref()).is_some_and(|mounts| !mounts.is_empty())
        };
        mounted(name) || self.partitions_of(name).iter().any(|partition| mounted(partition))
    }

    fn snapshot(&self) -> Snapshot {
        let mut all = Snapshot::new();
        all.insert(
            (PATH.to_owned(), MANAGER),
            BTreeMap::from([
                ("Version", text("2.9.4")),
                ("SupportedFilesystems", value(FILESYSTEMS.map(str::to_owned).to_vec())),
            ]),
        );
        for (name, drive) in &self.drives {
            let path = drive_path(name);
            all.insert(
                (path.clone(), DRIVE),
                BTreeMap::from([
                    ("Vendor", text(drive.vendor)),
                    ("Model", text(drive.model)),
                    ("Revision", text(drive.revision)),
                    ("Serial", text(drive.serial)),
                    ("WWN", text(drive.wwn)),
                    ("Id", text(drive.id)),
                    ("Size", value(drive.size)),
                    ("TimeDetected", value(drive.time_detected)),
                    ("ConnectionBus", text(drive.connection_bus)),
                    ("Seat", text("seat0")),
                    ("Removable", value(drive.removable)),
                    ("Ejectable", value(drive.removable)),
                    ("MediaRemovable", value(false)),
                ]),
            );
            if drive.nvme {
                all.insert(
                    (path, NVME),
                    BTreeMap::from([
                        ("State", text("live")),
                        ("ControllerID", value(1u16)),
                        ("SmartUpdated", value(1_767_254_460u64)),
                    ]),
                );
            }
        }
        for (name, block) in &self.blocks {
            let path = block_path(name);
            let device = format!("/dev/{name}");
            let mut symlinks = vec![format!("/dev/disk/by-path/{name}")];
            if !block.uuid.is_empty() {
                symlinks.push(format!("/dev/disk/by-uuid/{}", block.uuid));
            }
            if let Some(partition) = &block.partition {
                if !partition.name.is_empty() {
                    symlinks.push(format!("/dev/disk/by-partlabel/{}", partition.name));
                }
            }
            all.insert(
                (path.clone(), BLOCK),
                BTreeMap::from([
                    ("Device", value(bytes(&device))),
                    ("PreferredDevice", value(bytes(&device))),
                    ("Symlinks", value(symlinks.iter().map(|link| bytes(link)).collect::<Vec<_>>())),
                    ("DeviceNumber", value(block.device_number)),
                    ("Id", text(if block.uuid.is_empty() { String::new() } else { format!("by-uuid-{}", block.uuid) })),
                    ("Size", value(block.size)),
                    ("ReadOnly", value(false)),
                    ("Drive", value(object(block.drive.map_or_else(|| "/".to_owned(), drive_path)))),
                    ("IdUsage", text(&block.usage)),
                    ("IdType", text(&block.fs_type)),
                    ("IdVersion", text(if block.fs_type == "ext4" { "1.0" } else { "" })),
                    ("IdLabel", text(&block.label)),
                    ("IdUUID", text(&block.uuid)),
                    ("HintPartitionable", value(block.partition.is_none())),
                    ("HintSystem", value(block.hint_system)),
                    ("HintIgnore", value(false)),
                    ("HintAuto", value(block.drive.is_some_and(|drive| self.drives[drive].removable))),
                    ("HintName", text("")),
                ]),
            );
            if let Some(kind) = &block.table {
                let partitions: Vec<OwnedObjectPath> =
                    self.partitions_of(name).iter().map(|partition| object(block_path(partition))).collect();
                all.insert(
                    (path.clone(), PARTITION_TABLE),
                    BTreeMap::from([("Type", text(kind)), ("Partitions", value(partitions))]),
                );
            }
            if let Some(partition) = &block.partition {
                all.insert(
                    (path.clone(), PARTITION),
                    BTreeMap::from([
                        ("Number", value(partition.number)),
                        ("Type", text(&partition.kind)),
                        ("Flags", value(0u64)),
                        ("Offset", value(partition.offset)),
                        ("Size", value(block.size)),
                        ("Name", text(&partition.name)),
                        ("UUID", text(&partition.uuid)),
                        ("Table", value(object(block_path(&partition.table)))),
                        ("IsContainer", value(false)),
                        ("IsContained", value(false)),
                    ]),
                );
            }
            if let Some(mounts) = &block.filesystem {
                let mounts: Vec<Vec<u8>> = mounts.iter().map(|mount| bytes(mount)).collect();
                all.insert(
                    (path, FILESYSTEM),
                    BTreeMap::from([("MountPoints", value(mounts)), ("Size", value(block.size))]),
                );
            }
        }
        all
    }
}

impl Model for Disks {
    fn snapshot(&self) -> Snapshot {
        Disks::snapshot(self)
    }

    async fn export(server: &ObjectServer, model: &Handle<Self>, path: &str, interface: &str) -> zbus::Result<bool> {
        let view = View::new(model, path);
        match interface {
            MANAGER => server.at(path, Manager(view)).await,
            DRIVE => server.at(path, DriveObject(view)).await,
            NVME => server.at(path, NvmeController(view)).await,
            BLOCK => server.at(path, BlockObject(view)).await,
            PARTITION => server.at(path, PartitionObject(view)).await,
            PARTITION_TABLE => server.at(path, PartitionTable(view)).await,
            FILESYSTEM => server.at(path, Filesystem(view)).await,
            other => unreachable!("the model has no {other}"),
        }
    }
}

/// Exports the service's objects on a connection that has not taken the bus name yet.
pub async fn serve(connection: &Connection, profile: Profile) -> zbus::Result<()> {
    let calls = Calls::default();
    let model = Shared::new(Disks::new(profile), calls.clone());
    connection.object_server().at(ROOT, ObjectManager).await?;
    model.export_all(connection).await?;
    // The disks change through their methods only.
    let setter = Box::new(|_: Connection, name: String, _| -> SetFuture {
        Box::pin(
            async move { Err(ServiceError::invalid_args(format!("Property '{name}' cannot be set on this fixture"))) },
        )
    });
    let hotplug = Box::new(move |connection: Connection, device: String, plugged: bool| -> SetFuture {
        let model = model.clone();
        Box::pin(async move {
            model
                .change(
                    &connection,
                    |disks| if plugged { disks.plug(&device, now_micros()) } else { disks.unplug(&device) },
                )
                .await?
        })
    });
    connection.object_server().at(PATH, Control::with_setter(calls, setter).with_plugger(hotplug)).await?;
    Ok(())
}

/// When the drives present at start were detected: µs since the epoch.
const BOOT_DETECTED: u64 = 1_767_254_403_000_000;

fn now_micros() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX)
}

/// The USB disks `Plug` knows.
const USB_DISKS: &str = "sda, sdb, sdc, sdd, sde";

/// A USB disk of the catalog.
struct UsbDisk {
    /// The drive's object name.
    drive_name: &'static str,
    drive: Drive,
    device_number: u64,
    /// Its partitions: GPT name, file system type (empty: none) and label.
    partitions: Vec<(&'static str, &'static str, &'static str)>,
}

/// The USB disks `Plug` knows, by block device name: `sda` (ext4 `backup`), `sdb` (a stick,
/// vfat `STICK`), `sdc` (the data disk of another Home Assistant OS, ext4 `hassos-data`), `sdd`
/// (a data disk HAOS disabled at boot, ext4 `hassos-data-dis`) and `sde` (a copy of Home
/// Assistant OS: its boot, kernel and system partitions).
fn usb_disk(device: &str, time_detected: u64) -> Option<UsbDisk> {
    let usb = |vendor, model, revision, serial, id, size| Drive {
        vendor,
        model,
        revision,
        serial,
        wwn: "",
        id,
        size,
        connection_bus: "usb",
        removable: true,
        nvme: false,
        time_detected,
    };
    let disk = |drive_name, drive, minor: u64, partitions| UsbDisk {
        drive_name,
        drive,
        device_number: (8 << 8) | minor,
        partitions,
    };
    let ssd = |serial, id| usb("Samsung", "Portable SSD T7", "0", serial, id, 500_107_862_016);
    Some(match device {
        "sda" => disk(
            "SSK_SSK_Storage_DF56419883D56",
            usb("SSK", "SSK Storage", "0206", "DF56419883D56", "SSK-SSK-Storage-DF56419883D56", 250_059_350_016),
            0,
            vec![("", "ext4", "backup")],
        ),
        "sdb" => disk(
            "SanDisk_Ultra_4C530001230906115012",
            usb(
                "SanDisk",
                "Ultra",
                "1.00",
                "4C530001230906115012",
                "SanDisk-Ultra-4C530001230906115012",
                30_752_636_928,
            ),
            16,
            vec![("", "vfat", "STICK")],
        ),
        "sdc" => disk(
            "Samsung_PSSD_T7_S5SXNS0R100001C",
            ssd("S5SXNS0R100001C", "Samsung-PSSD-T7-S5SXNS0R100001C"),
            32,
            vec![("hassos-data-external", "ext4", "hassos-data")],
        ),
        "sdd" => disk(
            "Samsung_PSSD_T7_S5SXNS0R100001D",
            ssd("S5SXNS0R100001D", "Samsung-PSSD-T7-S5SXNS0R100001D"),
            48,
            vec![("hassos-data-external", "ext4", "hassos-data-dis")],
        ),
        "sde" => disk(
            "Samsung_PSSD_T7_S5SXNS0R100001E",
            ssd("S5SXNS0R100001E", "Samsung-PSSD-T7-S5SXNS0R100001E"),
            64,
            vec![
                ("hassos-boot", "vfat", "hassos-boot"),
                ("hassos-kernel0", "", ""),
                ("hassos-system0", "", ""),
                ("hassos-kernel1", "", ""),
                ("hassos-system1", "", ""),
            ],
        ),
        _ => return None,
    })
}

fn error(name: &str, message: impl Into<String>) -> ServiceError {
    let name: &'static str = match name {
        "DeviceBusy" => "org.freedesktop.UDisks2.Error.DeviceBusy",
        "AlreadyMounted" => "org.freedesktop.UDisks2.Error.AlreadyMounted",
        "NotMounted" => "org.freedesktop.UDisks2.Error.NotMounted",
        "NotSupported" => "org.freedesktop.UDisks2.Error.NotSupported",
        _ => "org.freedesktop.UDisks2.Error.Failed",
    };
    ServiceError::new(name, message)
}

impl View<Disks> {
    /// This block device's name; the views that call it live on block objects.
    fn block(&self) -> String {
        block_name(&self.path).expect("a block device object").to_owned()
    }
}

struct Manager(View<Disks>);

#[interface(name = "org.freedesktop.UDisks2.Manager")]
impl Manager {
    fn get_block_devices(&self, _options: HashMap<String, OwnedValue>) -> Vec<OwnedObjectPath> {
        self.0.model.read(|disks| disks.blocks.keys().map(|name| object(block_path(name))).collect())
    }

    fn resolve_device(
        &self,
        devspec: HashMap<String, OwnedValue>,
        _options: HashMap<String, OwnedValue>,
    ) -> Vec<OwnedObjectPath> {
        let spec = |key: &str| devspec.get(key).and_then(|value| <&str>::try_from(&**value).ok()).map(str::to_owned);
        self.0.model.read(|disks| {
            let snapshot = disks.snapshot();
            disks
                .blocks
                .iter()
                .filter(|(name, block)| {
                    let device = format!("/dev/{name}");
                    let links = snapshot
                        .get(&(block_path(name), BLOCK))
                        .and_then(|block| Vec::<Vec<u8>>::try_from(block["Symlinks"].clone()).ok())
                        .unwrap_or_default();
                    let linked = |path: &str| links.iter().any(|link| link.strip_suffix(&[0]) == Some(path.as_bytes()));
                    let partition = block.partition.as_ref();
                    spec("path").is_some_and(|path| path == device || linked(&path))
                        || spec("label").is_some_and(|label| !label.is_empty() && label == block.label)
                        || spec("uuid").is_some_and(|uuid| !uuid.is_empty() && uuid == block.uuid)
                        || spec("partuuid")
                            .is_some_and(|uuid| partition.is_some_and(|partition| partition.uuid == uuid))
                        || spec("partlabel").is_some_and(|label| {
                            partition.is_some_and(|partition| !label.is_empty() && partition.name == label)
                        })
                })
                .map(|(name, _)| object(block_path(name)))
                .collect()
        })
    }

    #[zbus(property)]
    fn version(&self) -> String {
        self.0.get(MANAGER, "Version")
    }

    #[zbus(property)]
    fn supported_filesystems(&self) -> Vec<String> {
        self.0.get(MANAGER, "SupportedFilesystems")
    }
}

struct DriveObject(View<Disks>);

#[interface(name = "org.freedesktop.UDisks2.Drive")]
impl DriveObject {
    fn eject(&self, _options: HashMap<String, OwnedValue>) -> Result<(), ServiceError> {
        self.0.record(format!("Eject({})", self.0.path));
        if !self.0.get::<bool>(DRIVE, "Ejectable") {
            return Err(error("NotSupported", "Drive is not ejectable"));
        }
        Ok(())
    }

    #[zbus(property)]
    fn vendor(&self) -> String {
        self.0.get(DRIVE, "Vendor")
    }

    #[zbus(property)]
    fn model(&self) -> String {
        self.0.get(DRIVE, "Model")
    }

    #[zbus(property)]
    fn revision(&self) -> String {
        self.0.get(DRIVE, "Revision")
    }

    #[zbus(property)]
    fn serial(&self) -> String {
        self.0.get(DRIVE, "Serial")
    }

    #[zbus(property, name = "WWN")]
    fn wwn(&self) -> String {
        self.0.get(DRIVE, "WWN")
    }

    #[zbus(property)]
    fn id(&self) -> String {
        self.0.get(DRIVE, "Id")
    }

    #[zbus(property)]
    fn size(&self) -> u64 {
        self.0.get(DRIVE, "Size")
    }

    #[zbus(property)]
    fn time_detected(&self) -> u64 {
        self.0.get(DRIVE, "TimeDetected")
    }

    #[zbus(property)]
    fn connection_bus(&self) -> String {
        self.0.get(DRIVE, "ConnectionBus")
    }

    #[zbus(property)]
    fn seat(&self) -> String {
        self.0.get(DRIVE, "Seat")
    }

    #[zbus(property)]
    fn removable(&self) -> bool {
        self.0.get(DRIVE, "Removable")
    }

    #[zbus(property)]
    fn ejectable(&self) -> bool {
        self.0.get(DRIVE, "Ejectable")
    }

    #[zbus(property)]
    fn media_removable(&self) -> bool {
        self.0.get(DRIVE, "MediaRemovable")
    }
}

struct NvmeController(View<Disks>);

#[interface(name = "org.freedesktop.UDisks2.NVMe.Controller")]
impl NvmeController {
    fn smart_get_attributes(&self, _options: HashMap<String, OwnedValue>) -> HashMap<String, OwnedValue> {
        HashMap::from([
            ("avail_spare".to_owned(), value(100u8)),
            ("spare_thresh".to_owned(), value(10u8)),
            ("percent_used".to_owned(), value(3u8)),
            ("total_data_read".to_owned(), value(12_345_678_901_248u64)),
            ("total_data_written".to_owned(), value(9_876_543_209_472u64)),
            ("power_on_hours".to_owned(), value(4_321u64)),
        ])
    }

    #[zbus(property)]
    fn state(&self) -> String {
        self.0.get(NVME, "State")
    }

    #[zbus(property, name = "ControllerID")]
    fn controller_id(&self) -> u16 {
        self.0.get(NVME, "ControllerID")
    }

    #[zbus(property)]
    fn smart_updated(&self) -> u64 {
        self.0.get(NVME, "SmartUpdated")
    }
}

struct BlockObject(View<Disks>);

#[interface(name = "org.freedesktop.UDisks2.Block")]
impl BlockObject {
    /// `gpt`/`dos` write a new partition table, `empty` wipes, a file system type creates one
    /// (option `label`).
    async fn format(
        &self,
        kind: String,
        options: HashMap<String, OwnedValue>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<(), ServiceError> {
        let name = self.0.block();
        self.0.record(format!("Format(/dev/{name}, {kind})"));
        let label =
            options.get("label").and_then(|label| <&str>::try_from(&**label).ok()).unwrap_or_default().to_owned();
        self.0
            .model
            .change(connection, |disks| {
                if disks.busy(&name) {
                    return Err(error("DeviceBusy", format!("Error formatting /dev/{name}: device is busy")));
                }
                if !(FILESYSTEMS.contains(&kind.as_str()) || ["gpt", "dos", "empty"].contains(&kind.as_str())) {
                    return Err(error("NotSupported", format!("Creation of file system type {kind} is not supported")));
                }
                let partitions = disks.partitions_of(&name);
                for partition in partitions {
                    disks.blocks.remove(&partition);
                }
                let block = disks.blocks.get_mut(&name).expect("the block exists");
                block.table = None;
                block.filesystem = None;
                block.usage.clear();
                block.fs_type.clear();
                block.label.clear();
                block.uuid.clear();
                match kind.as_str() {
                    "gpt" | "dos" => block.table = Some(kind.clone()),
                    "empty" => {}
                    filesystem => disks.make_filesystem(&name, filesystem, &label, None),
                }
                Ok(())
            })
            .await?
    }

    #[zbus(property)]
    fn device(&self) -> Vec<u8> {
        self.0.get(BLOCK, "Device")
    }

    #[zbus(property)]
    fn preferred_device(&self) -> Vec<u8> {
        self.0.get(BLOCK, "PreferredDevice")
    }

    #[zbus(property)]
    fn symlinks(&self) -> Vec<Vec<u8>> {
        self.0.get(BLOCK, "Symlinks")
    }

    #[zbus(property)]
    fn device_number(&self) -> u64 {
        self.0.get(BLOCK, "DeviceNumber")
    }

    #[zbus(property)]
    fn id(&self) -> String {
        self.0.get(BLOCK, "Id")
    }

    #[zbus(property)]
    fn size(&self) -> u64 {
        self.0.get(BLOCK, "Size")
    }

    #[zbus(property)]
    fn read_only(&self) -> bool {
        self.0.get(BLOCK, "ReadOnly")
    }

    #[zbus(property)]
    fn drive(&self) -> OwnedObjectPath {
        self.0.get(BLOCK, "Drive")
    }

    #[zbus(property)]
    fn id_usage(&self) -> String {
        self.0.get(BLOCK, "IdUsage")
    }

    #[zbus(property)]
    fn id_type(&self) -> String {
        self.0.get(BLOCK, "IdType")
    }

    #[zbus(property)]
    fn id_version(&self) -> String {
        self.0.get(BLOCK, "IdVersion")
    }

    #[zbus(property)]
    fn id_label(&self) -> String {
        self.0.get(BLOCK, "IdLabel")
    }

    #[zbus(property, name = "IdUUID")]
    fn id_uuid(&self) -> String {
        self.0.get(BLOCK, "IdUUID")
    }

    #[zbus(property)]
    fn hint_partitionable(&self) -> bool {
        self.0.get(BLOCK, "HintPartitionable")
    }

    #[zbus(property)]
    fn hint_system(&self) -> bool {
        self.0.get(BLOCK, "HintSystem")
    }

    #[zbus(property)]
    fn hint_ignore(&self) -> bool {
        self.0.get(BLOCK, "HintIgnore")
    }

    #[zbus(property)]
    fn hint_auto(&self) -> bool {
        self.0.get(BLOCK, "HintAuto")
    }

    #[zbus(property)]
    fn hint_name(&self) -> String {
        self.0.get(BLOCK, "HintName")
    }
}

struct PartitionTable(View<Disks>);

#[interface(name = "org.freedesktop.UDisks2.PartitionTable")]
impl PartitionTable {
    /// Offset and size 0 place the partition after the last one and give it the rest.
    async fn create_partition(
        &self,
        offset: u64,
        size: u64,
        kind: String,
        name: String,
        _options: HashMap<String, OwnedValue>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<OwnedObjectPath, ServiceError> {
        let table = self.0.block();
        self.0.record(format!("CreatePartition(/dev/{table}, {offset}, {size}, {kind}, {name})"));
        let created = self.0.model.change(connection, |disks| disks.add_partition(&table, size, &kind, &name)).await?;
        Ok(object(block_path(&created)))
    }

    #[zbus(property, name = "Type")]
    fn kind(&self) -> String {
        self.0.get(PARTITION_TABLE, "Type")
    }

    #[zbus(property)]
    fn partitions(&self) -> Vec<OwnedObjectPath> {
        self.0.get(PARTITION_TABLE, "Partitions")
    }
}

struct PartitionObject(View<Disks>);

#[interface(name = "org.freedesktop.UDisks2.Partition")]
impl PartitionObject {
    async fn set_name(
        &self,
        name: String,
        _options: HashMap<String, OwnedValue>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<(), ServiceError> {
        let block = self.0.block();
        self.0.record(format!("SetName(/dev/{block}, {name})"));
        self.0
            .model
            .change(connection, |disks| {
                if let Some(partition) = disks.blocks.get_mut(&block).and_then(|block| block.partition.as_mut()) {
                    partition.name = name;
                }
            })
            .await?;
        Ok(())
    }

    async fn delete(
        &self,
        _options: HashMap<String, OwnedValue>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<(), ServiceError> {
        let block = self.0.block();
        self.0.record(format!("Delete(/dev/{block})"));
        self.0
            .model
            .change(connection, |disks| {
                if disks.busy(&block) {
                    return Err(error("DeviceBusy", format!("Error deleting partition /dev/{block}: device is busy")));
                }
                disks.blocks.remove(&block);
                Ok(())
            })
            .await?
    }

    #[zbus(property)]
    fn number(&self) -> u32 {
        self.0.get(PARTITION, "Number")
    }

    #[zbus(property, name = "Type")]
    fn kind(&self) -> String {
        self.0.get(PARTITION, "Type")
    }

    #[zbus(property)]
    fn flags(&self) -> u64 {
        self.0.get(PARTITION, "Flags")
    }

    #[zbus(property)]
    fn offset(&self) -> u64 {
        self.0.get(PARTITION, "Offset")
    }

    #[zbus(property)]
    fn size(&self) -> u64 {
        self.0.get(PARTITION, "Size")
    }

    #[zbus(property)]
    fn name(&self) -> String {
        self.0.get(PARTITION, "Name")
    }

    #[zbus(property, name = "UUID")]
    fn uuid(&self) -> String {
        self.0.get(PARTITION, "UUID")
    }

    #[zbus(property)]
    fn table(&self) -> OwnedObjectPath {
        self.0.get(PARTITION, "Table")
    }

    #[zbus(property)]
    fn is_container(&self) -> bool {
        self.0.get(PARTITION, "IsContainer")
    }

    #[zbus(property)]
    fn is_contained(&self) -> bool {
        self.0.get(PARTITION, "IsContained")
    }
}

struct Filesystem(View<Disks>);

#[interface(name = "org.freedesktop.UDisks2.Filesystem")]
impl Filesystem {
    /// Mounts under `/media/root/<label or UUID>`, as UDisks2 does for root.
    async fn mount(
        &self,
        _options: HashMap<String, OwnedValue>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String, ServiceError> {
        let block = self.0.block();
        self.0.record(format!("Mount(/dev/{block})"));
        self.0
            .model
            .change(connection, |disks| {
                let model = disks.blocks.get_mut(&block).expect("the block exists");
                let mounts = model.filesystem.as_mut().expect("filesystem objects have a file system");
                if let Some(mounted) = mounts.first() {
                    return Err(error(
                        "AlreadyMounted",
                        format!("Device /dev/{block} is already mounted at `{mounted}'."),
                    ));
                }
                let name = if model.label.is_empty() { model.uuid.clone() } else { model.label.clone() };
                let mount_point = format!("/media/root/{name}");
                mounts.push(mount_point.clone());
                Ok(mount_point)
            })
            .await?
    }

    async fn unmount(
        &self,
        _options: HashMap<String, OwnedValue>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<(), ServiceError> {
        let block = self.0.block();
        self.0.record(format!("Unmount(/dev/{block})"));
        self.0
            .model
            .change(connection, |disks| {
                let model = disks.blocks.get_mut(&block).expect("the block exists");
                let mounts = model.filesystem.as_mut().expect("filesystem objects have a file system");
                if mounts.is_empty() {
                    return Err(error("NotMounted", format!("Device `/dev/{block}' is not mounted")));
                }
                mounts.clear();
                Ok(())
            })
            .await?
    }

    async fn set_label(
        &self,
        label: String,
        _options: HashMap<String, OwnedValue>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<(), ServiceError> {
        let block = self.0.block();
        self.0.record(format!("SetLabel(/dev/{block}, {label})"));
        self.0
            .model
            .change(connection, |disks| {
                if let Some(model) = disks.blocks.get_mut(&block) {
                    model.label = label;
                }
            })
            .await?;
        Ok(())
    }

    fn check(&self, _options: HashMap<String, OwnedValue>) -> bool {
        self.0.record(format!("Check(/dev/{})", self.0.block()));
        true
    }

    fn repair(&self, _options: HashMap<String, OwnedValue>) -> bool {
        self.0.record(format!("Repair(/dev/{})", self.0.block()));
        true
    }

    #[zbus(property)]
    fn mount_points(&self) -> Vec<Vec<u8>> {
        self.0.get(FILESYSTEM, "MountPoints")
    }

    #[zbus(property)]
    fn size(&self) -> u64 {
        self.0.get(FILESYSTEM, "Size")
    }
}
