//! The UDisks2 client against the UDisks2 fixture: the watched drives and block devices, and
//! the methods that change disks as moving the data disk does.

mod common;

use common::until;
use dbus::{DisksState, SystemBus, UDisks2};
use dbus_fixtures::{PrivateBus, Profile, Service as Fixture};

const LINUX_FILESYSTEM: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";

async fn disks(bus: &PrivateBus) -> UDisks2 {
    let system = SystemBus::connect_to(bus.address()).await.unwrap();
    UDisks2::watch(Some(&system)).await
}

fn path_of(state: &DisksState, device: &str) -> String {
    state.block_by_device(device).unwrap_or_else(|| panic!("{device} exists")).path.clone()
}

#[tokio::test]
async fn drives_and_blocks_are_read() {
    let bus = PrivateBus::start(&[Fixture::UDisks2]).unwrap();
    let udisks = disks(&bus).await;
    let state = udisks.state().expect("UDisks2 is there");
    assert_eq!(state.version, "2.9.4");
    assert!(state.supported_filesystems.contains(&"ext4".to_owned()));
    let usb = state.drives.iter().find(|drive| drive.connection_bus == "usb").expect("the USB disk");
    assert_eq!((usb.vendor.as_str(), usb.model.as_str(), usb.serial.as_str()), ("SSK", "SSK Storage", "DF56419883D56"));
    assert_eq!(
        (usb.id.as_str(), usb.size, usb.removable, usb.nvme),
        ("SSK-SSK-Storage-DF56419883D56", 250_059_350_016, true, false)
    );
    let nvme = state.drives.iter().find(|drive| drive.nvme).expect("the NVMe disk");

    let sda = state.block_by_device("/dev/sda").unwrap();
    assert_eq!(sda.drive.as_deref(), Some(usb.path.as_str()));
    let table = sda.partition_table.as_ref().expect("sda has a table");
    assert_eq!(table.kind, "gpt");
    let sda1 = state.block(&table.partitions[0]).unwrap();
    assert_eq!((sda1.device.as_str(), sda1.id_type.as_str(), sda1.id_label.as_str()), ("/dev/sda1", "ext4", "backup"));
    assert!(sda1.symlinks.iter().any(|link| link.starts_with("/dev/disk/by-uuid/")));
    assert_eq!(sda1.partition.as_ref().unwrap().table.as_deref(), Some(sda.path.as_str()));
    assert_eq!(sda1.filesystem.as_ref().unwrap().mount_points, Vec::<String>::new());

    let root = state.block_by_device("/dev/nvme0n1p2").unwrap();
    assert_eq!(root.filesystem.as_ref().unwrap().mount_points, ["/"]);
    assert_eq!(state.blocks_of(&nvme.path).count(), 3);
    let percent_used = udisks.smart_attributes(&nvme.path).await.unwrap()["percent_used"].clone();
    assert_eq!(u8::try_from(percent_used).unwrap(), 3);

    assert_eq!(udisks.resolve_device("path", "/dev/sda1").await.unwrap(), [sda1.path.as_str()]);
    assert_eq!(udisks.resolve_device("label", "backup").await.unwrap(), [sda1.path.as_str()]);
    assert!(udisks.resolve_device("path", "/dev/sdz").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_disk_is_prepared_as_the_data_disk() {
    let bus = PrivateBus::start_with(&[Fixture::UDisks2], Profile::Haos).unwrap();
    let udisks = disks(&bus).await;
    let state = udisks.state().unwrap();
    let data = state
        .blocks
        .iter()
        .find(|block| block.partition.as_ref().is_some_and(|partition| partition.name == "hassos-data"))
        .unwrap();
    assert_eq!(data.filesystem.as_ref().unwrap().mount_points, ["/mnt/data"]);

    let nvme0n1 = path_of(&state, "/dev/nvme0n1");
    let busy = udisks.format(&nvme0n1, "gpt").await.unwrap_err();
    assert_eq!(busy.error_name(), Some("org.freedesktop.UDisks2.Error.DeviceBusy"));

    // What the OS manager does to move the data disk: a fresh GPT and one partition.
    let sda = path_of(&state, "/dev/sda");
    udisks.format(&sda, "gpt").await.unwrap();
    until(&udisks, "sda1 gone", |state| {
        state.as_ref().is_some_and(|state| state.block_by_device("/dev/sda1").is_none())
    })
    .await;
    let partition = udisks.create_partition(&sda, 0, 0, LINUX_FILESYSTEM, "hassos-data-external").await.unwrap();
    let state = until(&udisks, "the new partition", |state| {
        state.as_ref().and_then(|state| state.block(&partition)).is_some_and(|block| block.partition.is_some())
    })
    .await
    .unwrap();
    let created = state.block(&partition).unwrap();
    assert_eq!(created.device, "/dev/sda1");
    assert_eq!(created.partition.as_ref().unwrap().name, "hassos-data-external");
    assert_eq!(state.block(&sda).unwrap().partition_table.as_ref().unwrap().partitions, [partition.as_str()]);
    assert_eq!(udisks.resolve_device("partlabel", "hassos-data-external").await.unwrap(), [partition.as_str()]);

    udisks.set_partition_name(&partition, "hassos-data-external-old").await.unwrap();
    until(&udisks, "the new name", |state| {
        state
            .as_ref()
            .and_then(|state| state.block(&partition)?.partition.clone())
            .is_some_and(|partition| partition.name == "hassos-data-external-old")
    })
    .await;
    udisks.delete_partition(&partition).await.unwrap();
    until(&udisks, "the partition gone", |state| state.as_ref().is_some_and(|state| state.block(&partition).is_none()))
        .await;
}

#[tokio::test]
async fn file_systems_mount_and_unmount() {
    let bus = PrivateBus::start(&[Fixture::UDisks2]).unwrap();
    let udisks = disks(&bus).await;
    let state = udisks.state().unwrap();
    let sda1 = path_of(&state, "/dev/sda1");

    assert_eq!(udisks.mount(&sda1).await.unwrap(), "/media/root/backup");
    until(&udisks, "the mount", |state| {
        state
            .as_ref()
            .and_then(|state| state.block(&sda1)?.filesystem.clone())
            .is_some_and(|fs| fs.mount_points == ["/media/root/backup"])
    })
    .await;
    let twice = udisks.mount(&sda1).await.unwrap_err();
    assert_eq!(twice.error_name(), Some("org.freedesktop.UDisks2.Error.AlreadyMounted"));
    udisks.unmount(&sda1).await.unwrap();
    let again = udisks.unmount(&sda1).await.unwrap_err();
    assert_eq!(again.error_name(), Some("org.freedesktop.UDisks2.Error.NotMounted"));

    udisks.set_label(&sda1, "photos").await.unwrap();
    until(&udisks, "the label", |state| {
        state.as_ref().and_then(|state| state.block(&sda1)).is_some_and(|block| block.id_label == "photos")
    })
    .await;
    assert!(udisks.check(&sda1).await.unwrap());
    assert!(udisks.repair(&sda1).await.unwrap());
    udisks.format(&sda1, "vfat").await.unwrap();
    until(&udisks, "vfat", |state| {
        state.as_ref().and_then(|state| state.block(&sda1)).is_some_and(|block| block.id_type == "vfat")
    })
    .await;

    let usb = state.drives.iter().find(|drive| drive.removable).unwrap().path.clone();
    udisks.eject(&usb).await.unwrap();
    let nvme = state.drives.iter().find(|drive| drive.nvme).unwrap().path.clone();
    assert!(udisks.eject(&nvme).await.is_err());
    assert_eq!(
        bus.calls(Fixture::UDisks2).unwrap(),
        [
            "Mount(/dev/sda1)",
            "Mount(/dev/sda1)",
            "Unmount(/dev/sda1)",
            "Unmount(/dev/sda1)",
            "SetLabel(/dev/sda1, photos)",
            "Check(/dev/sda1)",
            "Repair(/dev/sda1)",
            "Format(/dev/sda1, vfat)",
            &format!("Eject({usb})"),
            &format!("Eject({nvme})"),
        ]
    );

    bus.stop_service(Fixture::UDisks2).unwrap();
    until(&udisks, "UDisks2 to leave", Option::is_none).await;
    assert!(udisks.mount(&sda1).await.is_err());
}

#[tokio::test]
async fn usb_disks_come_and_go() {
    let bus = PrivateBus::start(&[Fixture::UDisks2]).unwrap();
    let udisks = disks(&bus).await;
    assert!(udisks.state().unwrap().block_by_device("/dev/sdb").is_none());

    bus.plug(Fixture::UDisks2, "sdb").unwrap();
    let state = until(&udisks, "the stick", |state| {
        state.as_ref().is_some_and(|state| state.block_by_device("/dev/sdb1").is_some())
    })
    .await
    .unwrap();
    let stick = state.drives.iter().find(|drive| drive.vendor == "SanDisk").expect("the stick's drive");
    assert_eq!((stick.model.as_str(), stick.connection_bus.as_str(), stick.removable), ("Ultra", "usb", true));
    let sdb1 = state.block_by_device("/dev/sdb1").unwrap();
    assert_eq!((sdb1.id_type.as_str(), sdb1.id_label.as_str()), ("vfat", "STICK"));
    assert_eq!(sdb1.drive.as_deref(), Some(stick.path.as_str()));
    assert!(bus.plug(Fixture::UDisks2, "sdb").unwrap_err().to_string().contains("already plugged in"));

    bus.unplug(Fixture::UDisks2, "sda").unwrap();
    let state = until(&udisks, "sda gone", |state| {
        state.as_ref().is_some_and(|state| state.block_by_device("/dev/sda").is_none())
    })
    .await
    .unwrap();
    assert!(state.block_by_device("/dev/sda1").is_none());
    assert!(!state.drives.iter().any(|drive| drive.vendor == "SSK"));
    assert!(bus.plug(Fixture::UDisks2, "sdz").is_err());
}
