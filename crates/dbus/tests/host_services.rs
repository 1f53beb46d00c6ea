//! The host service clients against the fixture services on a private bus: the first read, a
//! change arriving by signal, a service leaving and coming back, and no bus at all.

mod common;

use common::{until, WAIT};
use dbus::{Error, Hostname, Logind, Resolved, SystemBus, Systemd, Timedate};
use dbus_fixtures::{PrivateBus, Service as Fixture};
use std::time::Duration;

async fn connect(bus: &PrivateBus) -> SystemBus {
    SystemBus::connect_to(bus.address()).await.expect("the private bus accepts connections")
}

#[tokio::test]
async fn hostname_is_read_then_follows_its_signals() {
    let bus = PrivateBus::start(&[Fixture::Hostname1]).unwrap();
    let system = connect(&bus).await;
    let hostname = Hostname::watch(Some(&system)).await;

    let state = hostname.state().expect("hostnamed is there");
    assert_eq!(state.static_hostname, "debian");
    assert_eq!(state.chassis, "vm");
    assert_eq!(state.kernel_release, "6.1.0-28-amd64");
    assert_eq!(state.operating_system_pretty_name, "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(state.operating_system_cpe_name, "");

    hostname.set_static_hostname("homeassistant").await.unwrap();
    let state = until(&hostname, "the new hostname", |state| {
        state
            .as_ref()
            .is_some_and(|state| state.static_hostname == "homeassistant" && state.hostname == "homeassistant")
    })
    .await
    .unwrap();
    assert_eq!(state.chassis, "vm", "the rest is kept");

    let refused = hostname.set_static_hostname("not_valid").await.unwrap_err();
    assert_eq!(refused.error_name(), Some("org.freedesktop.DBus.Error.InvalidArgs"));
    assert_eq!(refused.to_string(), "Invalid static hostname 'not_valid'");
    assert_eq!(hostname.state().unwrap().static_hostname, "homeassistant");
    assert_eq!(
        bus.calls(Fixture::Hostname1).unwrap(),
        ["SetStaticHostname(homeassistant, false)", "SetStaticHostname(not_valid, false)"]
    );
}

#[tokio::test]
async fn changes_come_from_signals_not_from_reading_again() {
    let bus = PrivateBus::start(&[Fixture::Timedate1]).unwrap();
    let system = connect(&bus).await;
    let timedate = Timedate::watch(Some(&system)).await;
    let state = timedate.state().unwrap();
    assert_eq!((state.timezone.as_str(), state.ntp, state.ntp_synchronized), ("Etc/UTC", true, true));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64;
    assert!(state.now_usec().abs_diff(now) < 5_000_000, "the host clock is carried forward");

    // timedated never announces NTPSynchronized: a watcher that re-read on every signal would
    // pick this up with the time zone below.
    bus.set_property(Fixture::Timedate1, "NTPSynchronized", false).unwrap();
    timedate.set_timezone("Europe/Amsterdam").await.unwrap();
    let state = until(&timedate, "the new time zone", |state| {
        state.as_ref().is_some_and(|state| state.timezone == "Europe/Amsterdam")
    })
    .await
    .unwrap();
    assert!(state.ntp_synchronized, "only the announced property changed");

    timedate.set_ntp(false).await.unwrap();
    until(&timedate, "NTP off", |state| state.as_ref().is_some_and(|state| !state.ntp)).await;

    timedate.refresh().await;
    assert!(!timedate.state().unwrap().ntp_synchronized, "an explicit refresh reads everything");

    let refused = timedate.set_timezone("Not/AZone").await.unwrap_err();
    assert_eq!(refused.error_name(), Some("org.freedesktop.DBus.Error.InvalidArgs"));
    timedate.set_ntp(true).await.unwrap();
    let refused = timedate.set_time(0).await.unwrap_err();
    assert_eq!(refused.error_name(), Some("org.freedesktop.timedate1.AutomaticTimeSyncEnabled"));
}

#[tokio::test]
async fn a_service_that_leaves_becomes_unavailable_and_is_read_again_when_back() {
    let bus = PrivateBus::start(&[Fixture::Hostname1]).unwrap();
    let system = connect(&bus).await;
    let hostname = Hostname::watch(Some(&system)).await;
    hostname.set_static_hostname("changed").await.unwrap();
    until(&hostname, "the change", |state| state.as_ref().is_some_and(|state| state.static_hostname == "changed"))
        .await;

    bus.stop_service(Fixture::Hostname1).unwrap();
    until(&hostname, "hostnamed to leave", Option::is_none).await;
    assert!(!hostname.is_available());
    let error = hostname.set_static_hostname("again").await.unwrap_err();
    assert!(matches!(error, Error::Unavailable("org.freedesktop.hostname1")), "{error:?}");
    assert_eq!(error.to_string(), "org.freedesktop.hostname1 is not available on this system");

    // A restarted service starts from its own state, which only a fresh read can show.
    bus.start_service(Fixture::Hostname1).unwrap();
    let state = until(&hostname, "hostnamed to return", Option::is_some).await.unwrap();
    assert_eq!(state.static_hostname, "debian");
    hostname.set_static_hostname("again").await.unwrap();
}

#[tokio::test]
async fn a_service_missing_at_start_is_picked_up_when_it_appears() {
    let bus = PrivateBus::start(&[]).unwrap();
    let system = connect(&bus).await;
    let resolved = Resolved::watch(Some(&system)).await;
    assert!(resolved.state().is_none());

    bus.start_service(Fixture::Resolve1).unwrap();
    let state = until(&resolved, "resolved to appear", Option::is_some).await.unwrap();
    assert_eq!(state.llmnr_hostname, "debian");
    assert_eq!(state.broadcast_llmnr(), Some(true));
    assert_eq!(state.broadcast_mdns(), Some(false));
}

#[tokio::test]
async fn systemd_units_start_and_stop_and_the_machine_reboots_on_paper() {
    let bus = PrivateBus::start(&[Fixture::Systemd1]).unwrap();
    let system = connect(&bus).await;
    let systemd = Systemd::watch(Some(&system)).await;
    let state = systemd.state().unwrap();
    assert_eq!(state.virtualization, "kvm");
    assert_eq!(state.finish_timestamp, state.kernel_timestamp + 6_512_448);
    assert!((state.startup_time() - 1.843213).abs() < 1e-9);

    let units = systemd.list_units().await.unwrap();
    let docker = units.iter().find(|unit| unit.name == "docker.service").expect("docker is listed");
    assert_eq!((docker.load_state.as_str(), docker.active_state.as_str()), ("loaded", "active"));
    assert!(units.iter().any(|unit| unit.load_state == "not-found"));

    systemd.stop_unit("docker.service").await.unwrap();
    assert_eq!(systemd.unit_active_state("docker.service").await.unwrap(), "inactive");
    let units = systemd.list_units().await.unwrap();
    assert_eq!(units.iter().find(|unit| unit.name == "docker.service").unwrap().active_state, "inactive");

    let job = systemd.start_unit("docker.service").await.unwrap();
    assert!(job.as_str().starts_with("/org/freedesktop/systemd1/job/"), "{job}");
    assert!(systemd.wait_for_active_state("docker.service", "active", WAIT).await.unwrap());
    systemd.restart_unit("ssh.service").await.unwrap();
    systemd.reload_or_restart_unit("cron.service").await.unwrap();
    systemd.reload_unit("cron.service").await.unwrap();
    assert_eq!(systemd.unit_active_state("cron.service").await.unwrap(), "active", "a reload changes no state");

    let missing = systemd.start_unit("nope.service").await.unwrap_err();
    assert_eq!(missing.error_name(), Some("org.freedesktop.systemd1.NoSuchUnit"));
    assert_eq!(missing.to_string(), "Unit nope.service not found.");
    let missing = systemd.unit_active_state("nope.service").await.unwrap_err();
    assert_eq!(missing.error_name(), Some("org.freedesktop.systemd1.NoSuchUnit"));

    systemd.reboot().await.unwrap();
    systemd.power_off().await.unwrap();
    assert_eq!(
        bus.calls(Fixture::Systemd1).unwrap(),
        [
            "StopUnit(docker.service, replace)",
            "StartUnit(docker.service, replace)",
            "RestartUnit(ssh.service, replace)",
            "ReloadOrRestartUnit(cron.service, replace)",
            "ReloadUnit(cron.service, replace)",
            "StartUnit(nope.service, replace)",
            "Reboot()",
            "PowerOff()",
        ]
    );
}

#[tokio::test]
async fn waiting_for_a_unit_follows_its_signals() {
    let bus = PrivateBus::start(&[Fixture::Systemd1]).unwrap();
    let system = connect(&bus).await;
    let systemd = Systemd::watch(Some(&system)).await;
    systemd.stop_unit("docker.service").await.unwrap();
    assert!(!systemd.wait_for_active_state("docker.service", "active", Duration::from_millis(200)).await.unwrap());

    let waiting = systemd.wait_for_active_state("docker.service", "active", WAIT);
    let starting = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        systemd.start_unit("docker.service").await.unwrap();
    };
    let (reached, ()) = tokio::join!(waiting, starting);
    assert!(reached.unwrap());
}

#[tokio::test]
async fn logind_reboots_and_powers_off() {
    let bus = PrivateBus::start(&[Fixture::Login1]).unwrap();
    let system = connect(&bus).await;
    let logind = Logind::watch(Some(&system)).await;
    assert!(logind.is_available());
    logind.reboot().await.unwrap();
    logind.power_off().await.unwrap();
    assert_eq!(bus.calls(Fixture::Login1).unwrap(), ["Reboot(false)", "PowerOff(false)"]);

    bus.stop_service(Fixture::Login1).unwrap();
    until(&logind, "logind to leave", Option::is_none).await;
    assert!(matches!(logind.reboot().await, Err(Error::Unavailable("org.freedesktop.login1"))));
}

#[tokio::test]
async fn without_a_bus_everything_is_unavailable() {
    let error = SystemBus::connect_to("unix:path=/nonexistent/system_bus_socket").await.unwrap_err();
    assert!(
        matches!(&error, Error::Connect { address, .. } if address == "unix:path=/nonexistent/system_bus_socket"),
        "{error:?}"
    );
    assert!(SystemBus::connect_to("not an address").await.is_err());

    let hostname = Hostname::watch(None).await;
    let systemd = Systemd::watch(None).await;
    assert!(hostname.state().is_none());
    assert!(!systemd.is_available());
    hostname.refresh().await;
    assert!(matches!(hostname.set_static_hostname("x").await, Err(Error::Unavailable("org.freedesktop.hostname1"))));
    assert!(matches!(systemd.list_units().await, Err(Error::Unavailable("org.freedesktop.systemd1"))));
    let api = base::Error::from(systemd.reboot().await.unwrap_err());
    assert_eq!(api.kind, base::Kind::Invalid);
}

#[tokio::test]
async fn losing_the_bus_makes_every_service_unavailable() {
    let bus = PrivateBus::start(&[Fixture::Hostname1, Fixture::Systemd1]).unwrap();
    let system = connect(&bus).await;
    let hostname = Hostname::watch(Some(&system)).await;
    let systemd = Systemd::watch(Some(&system)).await;
    assert!(hostname.is_available() && systemd.is_available());
    drop(bus);
    until(&hostname, "the bus to go", Option::is_none).await;
    until(&systemd, "the bus to go", Option::is_none).await;
}
