//! The fixtures as a client sees them over the bus, the `PrivateBus` controls, and the binary.

use dbus_fixtures::{PrivateBus, Profile, Service, FIXTURE_INTERFACE};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zbus::zvariant::{OwnedObjectPath, Value};
use zbus::{Connection, Proxy};

async fn proxy<'a>(connection: &Connection, service: Service, interface: &'a str) -> Proxy<'a> {
    Proxy::new(connection, service.bus_name(), service.path(), interface).await.unwrap()
}

/// The D-Bus error name of a failed call.
fn error_name(error: zbus::Error) -> String {
    match error {
        zbus::Error::MethodError(name, _, _) => name.to_string(),
        other => panic!("not a D-Bus error reply: {other:?}"),
    }
}

/// A string property read fresh from the service (no proxy cache in between).
async fn property(
    connection: &Connection,
    service: Service,
    path: &str,
    interface: &'static str,
    name: &str,
) -> String {
    let properties = zbus::fdo::PropertiesProxy::builder(connection)
        .destination(service.bus_name())
        .unwrap()
        .path(path.to_owned())
        .unwrap()
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap();
    let value = properties.get(interface.try_into().unwrap(), name).await.unwrap();
    String::try_from(value).unwrap()
}

async fn has_owner(connection: &Connection, service: Service) -> bool {
    let dbus = zbus::fdo::DBusProxy::new(connection).await.unwrap();
    dbus.name_has_owner(service.bus_name().try_into().unwrap()).await.unwrap()
}

#[tokio::test]
async fn systemd_refuses_what_systemd_refuses() {
    let bus = PrivateBus::start(&[Service::Systemd1]).unwrap();
    let connection = zbus::connection::Builder::address(bus.address()).unwrap().build().await.unwrap();
    let manager = proxy(&connection, Service::Systemd1, "org.freedesktop.systemd1.Manager").await;

    let unknown = manager.call::<_, _, OwnedObjectPath>("GetUnit", &("nope.service",)).await.unwrap_err();
    assert_eq!(error_name(unknown), "org.freedesktop.systemd1.NoSuchUnit");
    let not_found =
        manager.call::<_, _, OwnedObjectPath>("StartUnit", &("plymouth-quit-wait.service", "replace")).await;
    assert_eq!(error_name(not_found.unwrap_err()), "org.freedesktop.systemd1.NoSuchUnit");
    let bad_mode = manager.call::<_, _, OwnedObjectPath>("StartUnit", &("docker.service", "sometimes")).await;
    assert_eq!(error_name(bad_mode.unwrap_err()), "org.freedesktop.DBus.Error.InvalidArgs");

    let path: OwnedObjectPath = manager.call("GetUnit", &("docker.service",)).await.unwrap();
    assert_eq!(path.as_str(), "/org/freedesktop/systemd1/unit/docker_2eservice");
    let unit = "org.freedesktop.systemd1.Unit";
    assert_eq!(property(&connection, Service::Systemd1, path.as_str(), unit, "SubState").await, "running");
    let _: OwnedObjectPath = manager.call("StopUnit", &("docker.service", "replace")).await.unwrap();
    assert_eq!(property(&connection, Service::Systemd1, path.as_str(), unit, "ActiveState").await, "inactive");
    assert_eq!(property(&connection, Service::Systemd1, path.as_str(), unit, "SubState").await, "dead");
}

#[tokio::test]
async fn the_fixture_interface_sets_properties_of_their_own_type() {
    let bus = PrivateBus::start(&[Service::Hostname1]).unwrap();
    let connection = zbus::connection::Builder::address(bus.address()).unwrap().build().await.unwrap();
    let control = proxy(&connection, Service::Hostname1, FIXTURE_INTERFACE).await;
    let hostname = proxy(&connection, Service::Hostname1, "org.freedesktop.hostname1").await;

    let cpe = "cpe:2.3:o:home-assistant:haos:16.0:*:production:*:*:*:generic-x86-64:*";
    let () = control.call("SetProperty", &("OperatingSystemCPEName", Value::from(cpe))).await.unwrap();
    let cpe_now = property(
        &connection,
        Service::Hostname1,
        Service::Hostname1.path(),
        "org.freedesktop.hostname1",
        "OperatingSystemCPEName",
    )
    .await;
    assert_eq!(cpe_now, cpe);

    let wrong_type = control.call::<_, _, ()>("SetProperty", &("Chassis", Value::from(7u32))).await.unwrap_err();
    assert_eq!(error_name(wrong_type), "org.freedesktop.DBus.Error.InvalidArgs");
    let unknown = control.call::<_, _, ()>("SetProperty", &("Nope", Value::from("x"))).await.unwrap_err();
    assert_eq!(error_name(unknown), "org.freedesktop.DBus.Error.InvalidArgs");

    let () = hostname.call("SetStaticHostname", &("box", false)).await.unwrap();
    assert_eq!(bus.calls(Service::Hostname1).unwrap(), ["SetStaticHostname(box, false)"]);
    let () = control.call("ClearCalls", &()).await.unwrap();
    assert!(bus.calls(Service::Hostname1).unwrap().is_empty());
}

#[test]
fn private_bus_controls_report_misuse() {
    let bus = PrivateBus::start(&[Service::Login1]).unwrap();
    assert!(bus.start_service(Service::Login1).unwrap_err().to_string().contains("already running"));
    assert!(bus.stop_service(Service::Timedate1).unwrap_err().to_string().contains("not running"));
    assert!(bus.calls(Service::Timedate1).is_err());
    assert!(bus.set_property(Service::Login1, "Docked", "yes").unwrap_err().to_string().contains("type 'b'"));
    bus.set_property(Service::Login1, "Docked", true).unwrap();
    assert_eq!(bus.env(), ("DBUS_SYSTEM_BUS_ADDRESS", bus.address()));
}

#[tokio::test]
async fn the_haos_profile_describes_home_assistant_os() {
    let bus = PrivateBus::start_with(&[Service::Hostname1, Service::Systemd1], Profile::Haos).unwrap();
    let connection = zbus::connection::Builder::address(bus.address()).unwrap().build().await.unwrap();
    let hostname = proxy(&connection, Service::Hostname1, "org.freedesktop.hostname1").await;
    let cpe: String = hostname.get_property("OperatingSystemCPEName").await.unwrap();
    assert!(cpe.starts_with("cpe:2.3:o:home-assistant:haos:16.0:"), "{cpe}");
    assert_eq!(hostname.get_property::<String>("StaticHostname").await.unwrap(), "homeassistant");
    let manager = proxy(&connection, Service::Systemd1, "org.freedesktop.systemd1.Manager").await;
    let _: OwnedObjectPath = manager.call("StartUnit", &("haos-pre-shutdown.target", "replace")).await.unwrap();
}

#[test]
fn names_parse_and_unknown_ones_are_listed() {
    assert_eq!("timedate1".parse::<Service>(), Ok(Service::Timedate1));
    assert!("timedate".parse::<Service>().unwrap_err().contains("known: systemd1, login1"));
    assert_eq!("haos".parse::<Profile>(), Ok(Profile::Haos));
    assert!("fedora".parse::<Profile>().is_err());
}

/// Polls until `done` or fails after a few seconds: the binary starts in its own time.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_binary_serves_on_a_given_bus_until_terminated() {
    let bus = PrivateBus::start(&[]).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbus-fixtures"))
        .args(["--address", bus.address(), "--only", "hostname1,login1", "--profile", "haos"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let connection = zbus::connection::Builder::address(bus.address()).unwrap().build().await.unwrap();
    eventually("the services", async || {
        has_owner(&connection, Service::Hostname1).await && has_owner(&connection, Service::Login1).await
    })
    .await;
    assert!(!has_owner(&connection, Service::Systemd1).await);
    let hostname = proxy(&connection, Service::Hostname1, "org.freedesktop.hostname1").await;
    assert_eq!(hostname.get_property::<String>("StaticHostname").await.unwrap(), "homeassistant");

    Command::new("kill").arg(child.id().to_string()).status().unwrap();
    assert!(child.wait().unwrap().success(), "SIGTERM ends it cleanly");
    eventually("the services to leave", async || !has_owner(&connection, Service::Hostname1).await).await;
}

#[test]
fn the_binary_without_an_address_starts_its_own_bus() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbus-fixtures"))
        .args(["--only", "timedate1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line.trim().strip_prefix("DBUS_SYSTEM_BUS_ADDRESS=").expect("the address is printed").to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let connection = zbus::connection::Builder::address(address.as_str()).unwrap().build().await.unwrap();
        assert!(has_owner(&connection, Service::Timedate1).await);
    });
    Command::new("kill").arg(child.id().to_string()).status().unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        !std::path::Path::new(address.trim_start_matches("unix:path=").split(',').next().unwrap()).exists(),
        "the bus is gone"
    );
}
