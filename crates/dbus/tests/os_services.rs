//! The clients of Home Assistant OS's services (RAUC, the OS-Agent) against their fixtures.

mod common;

use common::until;
use dbus::{Error, OsAgent, Rauc, SystemBus};
use dbus_fixtures::{PrivateBus, Profile, Service as Fixture};

#[tokio::test]
async fn rauc_installs_into_the_other_slot_and_marks_slots() {
    let bus = PrivateBus::start_with(&[Fixture::Rauc], Profile::Haos).unwrap();
    let system = SystemBus::connect_to(bus.address()).await.unwrap();
    let rauc = Rauc::watch(Some(&system)).await;
    let state = rauc.state().unwrap();
    assert_eq!(
        (state.operation.as_str(), state.boot_slot.as_str(), state.compatible.as_str()),
        ("idle", "A", "haos-yellow")
    );

    let slots = rauc.slots().await.unwrap();
    let booted: Vec<_> = slots
        .iter()
        .filter(|slot| slot.bootname.is_some())
        .map(|slot| (slot.bootname.clone().unwrap(), slot.state.clone(), slot.bundle_version.clone().unwrap()))
        .collect();
    assert_eq!(booted, [("A".into(), "booted".into(), "16.0".into()), ("B".into(), "inactive".into(), "15.2".into())]);
    assert_eq!(slots.iter().find(|slot| slot.name == "rootfs.1").unwrap().parent.as_deref(), Some("kernel.1"));
    assert_eq!(rauc.primary().await.unwrap(), "kernel.0");

    let mut failed = Vec::new();
    let result = rauc.install("/nonexistent/haos_yellow-16.1.raucb", |step| failed.push(step.clone())).await;
    assert_eq!(result.unwrap(), 1);
    assert_eq!(
        failed.last().map(|step| (step.percentage, step.message.as_str(), step.depth)),
        Some((100, "Installing failed.", 1)),
        "{failed:?}"
    );
    until(&rauc, "the error", |state| state.as_ref().is_some_and(|state| state.last_error.contains("No such file")))
        .await;

    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("haos_yellow-16.1.raucb");
    std::fs::write(&bundle, b"bundle").unwrap();
    let mut steps = Vec::new();
    assert_eq!(rauc.install(bundle.to_str().unwrap(), |step| steps.push(step.clone())).await.unwrap(), 0);
    // Every step RAUC announced reached the caller, in order, before the result.
    let percentages: Vec<i32> = steps.iter().map(|step| step.percentage).collect();
    assert_eq!(percentages, [0, 0, 20, 20, 40, 40, 60, 60, 80, 80, 90, 100, 100], "{steps:?}");
    assert_eq!(steps.first().unwrap().message, "Installing");
    assert_eq!(steps.last().unwrap().message, "Installing done.");
    let state = until(&rauc, "idle again", |state| state.as_ref().is_some_and(|state| state.operation == "idle"))
        .await
        .unwrap();
    assert_eq!(state.last_error, "");
    assert_eq!(
        rauc.slots().await.unwrap().iter().find(|slot| slot.name == "kernel.1").unwrap().bundle_version.as_deref(),
        Some("16.1")
    );
    assert_eq!(rauc.primary().await.unwrap(), "kernel.1");

    assert_eq!(
        rauc.mark("active", "booted").await.unwrap(),
        ("kernel.0".to_owned(), "marked slot kernel.0 as active".to_owned())
    );
    assert_eq!(rauc.mark("bad", "other").await.unwrap().0, "kernel.1");
    assert_eq!(
        rauc.slots().await.unwrap().iter().find(|slot| slot.name == "kernel.1").unwrap().boot_status.as_deref(),
        Some("bad")
    );
    assert!(rauc.mark("active", "kernel.7").await.is_err());
}

#[tokio::test]
async fn an_install_ends_when_rauc_leaves() {
    let bus = PrivateBus::start_with(&[Fixture::Rauc], Profile::Haos).unwrap();
    let system = SystemBus::connect_to(bus.address()).await.unwrap();
    let rauc = Rauc::watch(Some(&system)).await;
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("haos_yellow-16.1.raucb");
    std::fs::write(&bundle, b"bundle").unwrap();
    let installing = rauc.install(bundle.to_str().unwrap(), |_| {});
    // RAUC goes away while the install runs (the fixture takes some 130 ms for its steps).
    let stopping = async {
        until(&rauc, "the install to start", |state| {
            state.as_ref().is_some_and(|state| state.operation == "installing")
        })
        .await;
        bus.stop_service(Fixture::Rauc).unwrap();
    };
    let (result, ()) = tokio::join!(installing, stopping);
    assert!(matches!(result, Err(Error::Unavailable("de.pengutronix.rauc"))), "{result:?}");
}

#[tokio::test]
async fn the_os_agent_objects_are_watched_and_written() {
    let bus = PrivateBus::start_with(&[Fixture::OsAgent], Profile::Haos).unwrap();
    let system = SystemBus::connect_to(bus.address()).await.unwrap();
    let agent = OsAgent::watch(Some(&system)).await;
    assert_eq!(agent.agent.state().unwrap().version, "1.13.0");
    assert_eq!(agent.apparmor.state().unwrap().parser_version, "3.1.7");
    assert_eq!(agent.boards.state().unwrap().board, "Yellow");
    assert_eq!(agent.datadisk.state().unwrap().current_device, "/dev/nvme0n1p2");
    let swap = agent.swap.state().unwrap();
    assert_eq!((swap.swap_size.as_str(), swap.swappiness), ("", 1));
    assert!(agent.yellow.state().unwrap().heartbeat_led);

    agent.agent.set_diagnostics(true).await.unwrap();
    agent.yellow.set_heartbeat_led(false).await.unwrap();
    agent.green.set_user_led(false).await.unwrap();
    agent.swap.set_swap_size("2G").await.unwrap();
    agent.swap.set_swappiness(10).await.unwrap();
    until(&agent.agent, "diagnostics on", |state| state.as_ref().is_some_and(|state| state.diagnostics)).await;
    until(&agent.yellow, "the heartbeat off", |state| state.as_ref().is_some_and(|state| !state.heartbeat_led)).await;
    until(&agent.green, "the user LED off", |state| state.as_ref().is_some_and(|state| !state.user_led)).await;
    until(&agent.swap, "the swap settings", |state| {
        state.as_ref().is_some_and(|state| state.swap_size == "2G" && state.swappiness == 10)
    })
    .await;

    // The agent announces a new version as an invalidation: the watcher reads it.
    bus.set_property(Fixture::OsAgent, "Version", "1.8.0").unwrap();
    until(&agent.agent, "the new version", |state| state.as_ref().is_some_and(|state| state.version == "1.8.0")).await;

    let refused = agent.swap.set_swap_size("33%").await.unwrap_err();
    assert_eq!(refused.error_name(), Some("org.freedesktop.DBus.Error.Failed"));
    assert_eq!(refused.to_string(), "invalid swap size format");
    assert!(agent.swap.set_swappiness(101).await.is_err());

    assert!(agent.agent.schedule_wipe_device().await.unwrap());
    agent.agent.add_ssh_auth_key("ssh-ed25519 AAAA test").await.unwrap();
    agent.agent.clear_ssh_auth_keys().await.unwrap();
    assert!(agent.agent.migrate_docker_storage_driver("btrfs").await.is_err());
    assert!(agent.agent.add_devices_allowed("abc123", "c 189:* rwm").await.unwrap());
    assert!(agent.apparmor.load_profile("/data/apparmor/x", "/data/apparmor/cache").await.unwrap());
    assert!(agent.apparmor.unload_profile("/data/apparmor/x", "/data/apparmor/cache").await.unwrap());
    assert!(agent.datadisk.change_device("/dev/sda").await.unwrap());
    assert!(agent.datadisk.reload_device().await.unwrap());
    agent.datadisk.mark_data_move().await.unwrap();
    // Home Assistant OS ships a fallback server and no servers; the agent writes the lists.
    let time = agent.timesyncd.state().unwrap();
    assert_eq!(
        (time.ntp_servers.as_slice(), time.fallback_ntp_servers.as_slice()),
        (&[][..], &["time.cloudflare.com".to_owned()][..])
    );
    agent.timesyncd.set_ntp_servers(&["pool.ntp.org".to_owned(), "10.0.0.1".to_owned()]).await.unwrap();
    agent.timesyncd.set_fallback_ntp_servers(&[]).await.unwrap();
    until(&agent.timesyncd, "the new servers", |state| {
        state.as_ref().is_some_and(|state| {
            state.ntp_servers == ["pool.ntp.org", "10.0.0.1"] && state.fallback_ntp_servers.is_empty()
        })
    })
    .await;
    assert_eq!(
        bus.calls(Fixture::OsAgent).unwrap(),
        [
            "Set(Diagnostics, true)",
            "Set(HeartbeatLED, false)",
            "Set(UserLED, false)",
            "Set(SwapSize, 2G)",
            "Set(Swappiness, 10)",
            "Set(SwapSize, 33%)",
            "Set(Swappiness, 101)",
            "ScheduleWipeDevice()",
            "AddSSHAuthKey(ssh-ed25519 AAAA test)",
            "ClearSSHAuthKeys()",
            "MigrateDockerStorageDriver(btrfs)",
            "AddDevicesAllowed(abc123, c 189:* rwm)",
            "LoadProfile(/data/apparmor/x, /data/apparmor/cache)",
            "UnloadProfile(/data/apparmor/x, /data/apparmor/cache)",
            "ChangeDevice(/dev/sda)",
            "ReloadDevice()",
            "MarkDataMove()",
            "Set(NTPServer, [pool.ntp.org, 10.0.0.1])",
            "Set(FallbackNTPServer, [])",
        ]
    );

    bus.stop_service(Fixture::OsAgent).unwrap();
    until(&agent.boards, "the agent to leave", Option::is_none).await;
    until(&agent.swap, "the agent to leave", Option::is_none).await;
    assert!(matches!(agent.agent.schedule_wipe_device().await, Err(Error::Unavailable("io.hass.os"))));
}

#[tokio::test]
async fn a_supervised_host_has_the_supervised_board() {
    let bus = PrivateBus::start(&[Fixture::OsAgent]).unwrap();
    let system = SystemBus::connect_to(bus.address()).await.unwrap();
    let agent = OsAgent::watch(Some(&system)).await;
    assert_eq!(agent.boards.state().unwrap().board, "Supervised");
    assert_eq!(agent.datadisk.state().unwrap().current_device, "");
    // Only boards with a Raspberry Pi bootloader EEPROM have the firmware object.
    assert!(agent.rpi_firmware.state().is_none());
    assert!(matches!(agent.rpi_firmware.update().await, Err(Error::Unavailable("io.hass.os"))));
}

#[tokio::test]
async fn the_raspberry_pi_firmware_is_read_and_updated_once() {
    let bus = PrivateBus::start_with(&[Fixture::OsAgent], Profile::Haos).unwrap();
    let system = SystemBus::connect_to(bus.address()).await.unwrap();
    let agent = OsAgent::watch(Some(&system)).await;
    let firmware = agent.rpi_firmware.state().unwrap();
    assert_eq!((firmware.current_version.as_str(), firmware.latest_version.as_str()), ("1713175412", "1741606543"));
    assert!(firmware.update_available && !firmware.update_blocked && !firmware.update_pending);
    assert_eq!(firmware.blocked_reason, "");

    agent.rpi_firmware.update().await.unwrap();
    until(&agent.rpi_firmware, "the update pending", |state| state.as_ref().is_some_and(|state| state.update_pending))
        .await;
    assert_eq!(bus.calls(Fixture::OsAgent).unwrap(), ["Update()"]);
}

#[tokio::test]
async fn a_raspberry_pi_5_has_the_firmware_and_an_update_can_fail() {
    let bus = PrivateBus::start_with(&[Fixture::OsAgent], Profile::HaosRpi5).unwrap();
    let system = SystemBus::connect_to(bus.address()).await.unwrap();
    let agent = OsAgent::watch(Some(&system)).await;
    assert_eq!(agent.boards.state().unwrap().board, "RaspberryPi5");
    assert!(agent.rpi_firmware.state().unwrap().update_available);

    bus.set_property(Fixture::OsAgent, "UpdateFails", true).unwrap();
    let failed = agent.rpi_firmware.update().await.unwrap_err();
    assert_eq!(failed.to_string(), "rpi-eeprom-update -a failed: exit status 1");
    assert!(!agent.rpi_firmware.state().unwrap().update_pending);

    bus.set_property(Fixture::OsAgent, "UpdateBlocked", true).unwrap();
    until(&agent.rpi_firmware, "the update blocked", |state| state.as_ref().is_some_and(|state| state.update_blocked))
        .await;
    let blocked = agent.rpi_firmware.update().await.unwrap_err();
    assert_eq!(blocked.to_string(), "EEPROM update is unavailable on this boot device");
    assert_eq!(bus.calls(Fixture::OsAgent).unwrap(), ["Update()", "Update()"]);
}
