//! UDisks2 (`org.freedesktop.UDisks2`): drives and block devices with their partitions and file
//! systems (for `/hardware/info`, `/os/datadisk/*` and the disk life time of `/host/info`),
//! watched as one object tree; and the methods that change disks: formatting, partitioning,
//! naming, mounting, ejecting, and the NVMe health attributes.
//!
//! Every call passes `auth.no_user_interaction`, as the Supervisor does: there is nobody to ask.

use crate::service::{RefreshRequests, Service, State};
use crate::tree::{self, Documents, Mirror, PropertyMap, Tree};
use crate::Error;
use std::collections::HashMap;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zbus::proxy;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};
use zbus::Connection;

const SERVICE: &str = "org.freedesktop.UDisks2";
const MANAGER_PATH: &str = "/org/freedesktop/UDisks2/Manager";
const MANAGER: &str = "org.freedesktop.UDisks2.Manager";
const DRIVE: &str = "org.freedesktop.UDisks2.Drive";
const NVME: &str = "org.freedesktop.UDisks2.NVMe.Controller";
const BLOCK: &str = "org.freedesktop.UDisks2.Block";
const PARTITION: &str = "org.freedesktop.UDisks2.Partition";
const PARTITION_TABLE: &str = "org.freedesktop.UDisks2.PartitionTable";
const FILESYSTEM: &str = "org.freedesktop.UDisks2.Filesystem";

/// What UDisks2 knows, as the supervisor uses it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DisksState {
    pub version: String,
    pub supported_filesystems: Vec<String>,
    /// By object path.
    pub drives: Vec<Drive>,
    /// By object path.
    pub blocks: Vec<Block>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drive {
    pub path: String,
    pub vendor: String,
    pub model: String,
    pub revision: String,
    pub serial: String,
    pub wwn: String,
    pub id: String,
    pub size: u64,
    /// µs since the epoch.
    pub time_detected: u64,
    /// `usb`, `sdio`, `ieee1394`, or empty.
    pub connection_bus: String,
    pub seat: String,
    pub removable: bool,
    pub ejectable: bool,
    /// Whether it is an NVMe drive (with SMART attributes).
    pub nvme: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Block {
    pub path: String,
    /// E.g. `/dev/sda1`.
    pub device: String,
    pub symlinks: Vec<String>,
    pub device_number: u64,
    pub id: String,
    pub size: u64,
    pub read_only: bool,
    /// The drive's path.
    pub drive: Option<String>,
    pub id_usage: String,
    pub id_type: String,
    pub id_version: String,
    pub id_label: String,
    pub id_uuid: String,
    pub hint_system: bool,
    pub hint_ignore: bool,
    pub hint_auto: bool,
    pub hint_name: String,
    pub partition: Option<Partition>,
    pub partition_table: Option<PartitionTable>,
    pub filesystem: Option<Filesystem>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Partition {
    pub number: u32,
    /// The partition type: a GUID on GPT, e.g. `0fc63daf-8483-4772-8e79-3d69d8477de4`.
    pub kind: String,
    pub name: String,
    pub uuid: String,
    pub offset: u64,
    pub size: u64,
    /// The path of the block device holding the table.
    pub table: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionTable {
    /// `gpt` or `dos`.
    pub kind: String,
    /// The partitions' paths.
    pub partitions: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filesystem {
    pub mount_points: Vec<String>,
    pub size: u64,
}

impl DisksState {
    pub fn block(&self, path: &str) -> Option<&Block> {
        self.blocks.iter().find(|block| block.path == path)
    }

    /// The block device with this device file, e.g. `/dev/sda`.
    pub fn block_by_device(&self, device: &str) -> Option<&Block> {
        self.blocks.iter().find(|block| block.device == device)
    }

    pub fn drive(&self, path: &str) -> Option<&Drive> {
        self.drives.iter().find(|drive| drive.path == path)
    }

    /// The block devices of a drive: the disk itself and its partitions.
    pub fn blocks_of<'s>(&'s self, drive_path: &'s str) -> impl Iterator<Item = &'s Block> + 's {
        self.blocks.iter().filter(move |block| block.drive.as_deref() == Some(drive_path))
    }
}

fn text(properties: &PropertyMap, name: &str) -> String {
    properties.get(name).and_then(|value| <&str>::try_from(&**value).ok()).unwrap_or_default().to_owned()
}

fn number<T: for<'v> TryFrom<&'v Value<'v>> + Default>(properties: &PropertyMap, name: &str) -> T {
    properties.get(name).and_then(|value| T::try_from(value).ok()).unwrap_or_default()
}

/// An object path property; `/` means none.
fn path(properties: &PropertyMap, name: &str) -> Option<String> {
    let path = properties.get(name).and_then(|value| <&ObjectPath<'_>>::try_from(&**value).ok())?;
    (path.as_str() != "/").then(|| path.to_string())
}

/// UDisks2 passes paths as NUL-terminated byte strings.
fn byte_string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes.strip_suffix(&[0]).unwrap_or(bytes)).into_owned()
}

fn byte_strings(properties: &PropertyMap, name: &str) -> Vec<String> {
    let raw = properties.get(name).and_then(|value| Vec::<Vec<u8>>::try_from(value.clone()).ok());
    raw.unwrap_or_default().iter().map(|bytes| byte_string(bytes)).collect()
}

fn block(mirror: &Mirror, path: &str, properties: &PropertyMap) -> Block {
    let device = properties.get("Device").and_then(|value| Vec::<u8>::try_from(value.clone()).ok()).unwrap_or_default();
    Block {
        path: path.to_owned(),
        device: byte_string(&device),
        symlinks: byte_strings(properties, "Symlinks"),
        device_number: number(properties, "DeviceNumber"),
        id: text(properties, "Id"),
        size: number(properties, "Size"),
        read_only: number(properties, "ReadOnly"),
        drive: self::path(properties, "Drive"),
        id_usage: text(properties, "IdUsage"),
        id_type: text(properties, "IdType"),
        id_version: text(properties, "IdVersion"),
        id_label: text(properties, "IdLabel"),
        id_uuid: text(properties, "IdUUID"),
        hint_system: number(properties, "HintSystem"),
        hint_ignore: number(properties, "HintIgnore"),
        hint_auto: number(properties, "HintAuto"),
        hint_name: text(properties, "HintName"),
        partition: mirror.get(path, PARTITION).map(|partition| Partition {
            number: number(partition, "Number"),
            kind: text(partition, "Type"),
            name: text(partition, "Name"),
            uuid: text(partition, "UUID"),
            offset: number(partition, "Offset"),
            size: number(partition, "Size"),
            table: self::path(partition, "Table"),
        }),
        partition_table: mirror.get(path, PARTITION_TABLE).map(|table| PartitionTable {
            kind: text(table, "Type"),
            partitions: table
                .get("Partitions")
                .and_then(|value| Vec::<OwnedObjectPath>::try_from(value.clone()).ok())
                .unwrap_or_default()
                .iter()
                .map(|path| path.to_string())
                .collect(),
        }),
        filesystem: mirror.get(path, FILESYSTEM).map(|filesystem| Filesystem {
            mount_points: byte_strings(filesystem, "MountPoints"),
            size: number(filesystem, "Size"),
        }),
    }
}

fn drive(mirror: &Mirror, path: &str, properties: &PropertyMap) -> Drive {
    Drive {
        path: path.to_owned(),
        vendor: text(properties, "Vendor"),
        model: text(properties, "Model"),
        revision: text(properties, "Revision"),
        serial: text(properties, "Serial"),
        wwn: text(properties, "WWN"),
        id: text(properties, "Id"),
        size: number(properties, "Size"),
        time_detected: number(properties, "TimeDetected"),
        connection_bus: text(properties, "ConnectionBus"),
        seat: text(properties, "Seat"),
        removable: number(properties, "Removable"),
        ejectable: number(properties, "Ejectable"),
        nvme: mirror.get(path, NVME).is_some(),
    }
}

impl Tree for DisksState {
    const SERVICE: &'static str = SERVICE;
    const ROOT: &'static str = "/org/freedesktop/UDisks2";
    const NAMESPACE: &'static str = "/org/freedesktop/UDisks2";
    const DOCUMENTS: Option<Documents> = None;

    fn build(mirror: &Mirror) -> Self {
        let manager = mirror.get(MANAGER_PATH, MANAGER);
        DisksState {
            version: manager.map(|manager| text(manager, "Version")).unwrap_or_default(),
            supported_filesystems: manager
                .and_then(|manager| manager.get("SupportedFilesystems"))
                .and_then(|value| Vec::<String>::try_from(value.clone()).ok())
                .unwrap_or_default(),
            drives: mirror.with_interface(DRIVE).map(|(path, properties)| drive(mirror, path, properties)).collect(),
            blocks: mirror.with_interface(BLOCK).map(|(path, properties)| block(mirror, path, properties)).collect(),
        }
    }
}

impl State for DisksState {
    const SERVICE: &'static str = SERVICE;

    async fn start(
        connection: Connection,
        sender: watch::Sender<Option<Self>>,
        refresh: RefreshRequests,
    ) -> zbus::Result<JoinHandle<()>> {
        tree::start(connection, sender, refresh).await
    }
}

/// Options for every call: nobody is there to answer an authentication prompt.
type Options = HashMap<&'static str, Value<'static>>;

fn options() -> Options {
    HashMap::from([("auth.no_user_interaction", Value::from(true))])
}

#[proxy(
    interface = "org.freedesktop.UDisks2.Manager",
    default_service = "org.freedesktop.UDisks2",
    default_path = "/org/freedesktop/UDisks2/Manager"
)]
pub trait UDisks2Manager {
    fn resolve_device(
        &self,
        devspec: &HashMap<&str, Value<'_>>,
        options: &Options,
    ) -> zbus::Result<Vec<OwnedObjectPath>>;
}

#[proxy(
    interface = "org.freedesktop.UDisks2.Drive",
    default_service = "org.freedesktop.UDisks2",
    default_path = "/org/freedesktop/UDisks2/drives"
)]
pub trait UDisks2Drive {
    fn eject(&self, options: &Options) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.freedesktop.UDisks2.NVMe.Controller",
    default_service = "org.freedesktop.UDisks2",
    default_path = "/org/freedesktop/UDisks2/drives"
)]
pub trait UDisks2NvmeController {
    fn smart_get_attributes(&self, options: &Options) -> zbus::Result<HashMap<String, OwnedValue>>;
}

#[proxy(
    interface = "org.freedesktop.UDisks2.Block",
    default_service = "org.freedesktop.UDisks2",
    default_path = "/org/freedesktop/UDisks2/block_devices"
)]
pub trait UDisks2Block {
    fn format(&self, kind: &str, options: &Options) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.freedesktop.UDisks2.PartitionTable",
    default_service = "org.freedesktop.UDisks2",
    default_path = "/org/freedesktop/UDisks2/block_devices"
)]
pub trait UDisks2PartitionTable {
    fn create_partition(
        &self,
        offset: u64,
        size: u64,
        kind: &str,
        name: &str,
        options: &Options,
    ) -> zbus::Result<OwnedObjectPath>;
}

#[proxy(
    interface = "org.freedesktop.UDisks2.Partition",
    default_service = "org.freedesktop.UDisks2",
    default_path = "/org/freedesktop/UDisks2/block_devices"
)]
pub trait UDisks2Partition {
    fn set_name(&self, name: &str, options: &Options) -> zbus::Result<()>;
    fn delete(&self, options: &Options) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.freedesktop.UDisks2.Filesystem",
    default_service = "org.freedesktop.UDisks2",
    default_path = "/org/freedesktop/UDisks2/block_devices"
)]
pub trait UDisks2Filesystem {
    fn mount(&self, options: &Options) -> zbus::Result<String>;
    fn unmount(&self, options: &Options) -> zbus::Result<()>;
    fn set_label(&self, label: &str, options: &Options) -> zbus::Result<()>;
    fn check(&self, options: &Options) -> zbus::Result<bool>;
    fn repair(&self, options: &Options) -> zbus::Result<bool>;
}

/// The client of UDisks2.
pub type UDisks2 = Service<DisksState>;

fn object_path(path: &str) -> Result<ObjectPath<'static>, Error> {
    ObjectPath::try_from(path.to_owned())
        .map_err(|error| Error::Call { service: SERVICE, reason: format!("'{path}' is not an object path: {error}") })
}

impl Service<DisksState> {
    /// The block devices matching a device specification: `path` (a device file or one of its
    /// links), `label`, `uuid`, `partuuid` or `partlabel`.
    pub async fn resolve_device(&self, key: &str, value: &str) -> Result<Vec<String>, Error> {
        let proxy: UDisks2ManagerProxy<'_> = self.proxy().await?;
        let devspec = HashMap::from([(key, Value::from(value))]);
        let paths = Self::answer(proxy.resolve_device(&devspec, &options()).await)?;
        Ok(paths.iter().map(|path| path.to_string()).collect())
    }

    pub async fn eject(&self, drive_path: &str) -> Result<(), Error> {
        let proxy: UDisks2DriveProxy<'_> = self.proxy_at(object_path(drive_path)?).await?;
        Self::answer(proxy.eject(&options()).await)
    }

    /// The SMART attributes of an NVMe drive (`percent_used` is its wear, in percent).
    pub async fn smart_attributes(&self, drive_path: &str) -> Result<HashMap<String, OwnedValue>, Error> {
        let proxy: UDisks2NvmeControllerProxy<'_> = self.proxy_at(object_path(drive_path)?).await?;
        Self::answer(proxy.smart_get_attributes(&options()).await)
    }

    /// Writes a partition table (`gpt`, `dos`), wipes (`empty`) or makes a file system (`ext4`,
    /// ...) on a block device.
    pub async fn format(&self, block_path: &str, kind: &str) -> Result<(), Error> {
        let proxy: UDisks2BlockProxy<'_> = self.proxy_at(object_path(block_path)?).await?;
        Self::answer(proxy.format(kind, &options()).await)
    }

    /// Adds a partition to a disk's table; offset and size 0 take the rest of the disk. Returns
    /// the new partition's block path.
    pub async fn create_partition(
        &self,
        table_path: &str,
        offset: u64,
        size: u64,
        kind: &str,
        name: &str,
    ) -> Result<String, Error> {
        let proxy: UDisks2PartitionTableProxy<'_> = self.proxy_at(object_path(table_path)?).await?;
        Ok(Self::answer(proxy.create_partition(offset, size, kind, name, &options()).await)?.to_string())
    }

    pub async fn set_partition_name(&self, partition_path: &str, name: &str) -> Result<(), Error> {
        let proxy: UDisks2PartitionProxy<'_> = self.proxy_at(object_path(partition_path)?).await?;
        Self::answer(proxy.set_name(name, &options()).await)
    }

    pub async fn delete_partition(&self, partition_path: &str) -> Result<(), Error> {
        let proxy: UDisks2PartitionProxy<'_> = self.proxy_at(object_path(partition_path)?).await?;
        Self::answer(proxy.delete(&options()).await)
    }

    /// Mounts a file system; returns where.
    pub async fn mount(&self, block_path: &str) -> Result<String, Error> {
        let proxy: UDisks2FilesystemProxy<'_> = self.proxy_at(object_path(block_path)?).await?;
        Self::answer(proxy.mount(&options()).await)
    }

    pub async fn unmount(&self, block_path: &str) -> Result<(), Error> {
        let proxy: UDisks2FilesystemProxy<'_> = self.proxy_at(object_path(block_path)?).await?;
        Self::answer(proxy.unmount(&options()).await)
    }

    pub async fn set_label(&self, block_path: &str, label: &str) -> Result<(), Error> {
        let proxy: UDisks2FilesystemProxy<'_> = self.proxy_at(object_path(block_path)?).await?;
        Self::answer(proxy.set_label(label, &options()).await)
    }

    /// Checks a file system; returns whether it is consistent.
    pub async fn check(&self, block_path: &str) -> Result<bool, Error> {
        let proxy: UDisks2FilesystemProxy<'_> = self.proxy_at(object_path(block_path)?).await?;
        Self::answer(proxy.check(&options()).await)
    }

    /// Repairs a file system; returns whether it succeeded.
    pub async fn repair(&self, block_path: &str) -> Result<bool, Error> {
        let proxy: UDisks2FilesystemProxy<'_> = self.proxy_at(object_path(block_path)?).await?;
        Self::answer(proxy.repair(&options()).await)
    }
}
