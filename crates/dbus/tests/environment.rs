//! `SystemBus::connect` takes its address from `DBUS_SYSTEM_BUS_ADDRESS`. Alone in its test
//! binary because it changes the process environment, which no other thread may read meanwhile.

use dbus::{Hostname, SystemBus};
use dbus_fixtures::{PrivateBus, Service as Fixture};

#[tokio::test]
async fn the_environment_names_the_bus() {
    std::env::set_var(dbus::ADDRESS_ENV, "unix:path=/nonexistent/env_bus_socket");
    assert_eq!(SystemBus::address_from_env(), "unix:path=/nonexistent/env_bus_socket");
    let error = SystemBus::connect().await.unwrap_err();
    assert!(error.to_string().contains("/nonexistent/env_bus_socket"), "{error}");

    let bus = PrivateBus::start(&[Fixture::Hostname1]).unwrap();
    std::env::set_var(dbus::ADDRESS_ENV, bus.address());
    let system = SystemBus::connect().await.unwrap();
    assert_eq!(system.address(), bus.address());
    assert!(Hostname::watch(Some(&system)).await.is_available());
}
