//! `org.freedesktop.login1` at `/org/freedesktop/login1`: systemd-logind's Manager, for what the
//! supervisor uses of it. `Reboot(b)` and `PowerOff(b)` record themselves in the fixture's
//! `Calls` (see `control`) instead of taking the machine down.

use crate::control::{Calls, Control, HasProps};
use crate::props::Props;
use crate::Profile;
use zbus::{interface, Connection};

pub const BUS_NAME: &str = "org.freedesktop.login1";
pub const PATH: &str = "/org/freedesktop/login1";

pub struct Login1 {
    props: Props,
    calls: Calls,
}

/// Exports the service's objects on a connection that has not taken the bus name yet.
/// It looks the same with every profile.
pub async fn serve(connection: &Connection, _profile: Profile) -> zbus::Result<()> {
    let calls = Calls::default();
    // logind announces neither: shutdown is signalled with `PrepareForShutdown` instead.
    let props = Props::default().quiet("PreparingForShutdown", false).quiet("Docked", false);
    let server = connection.object_server();
    server.at(PATH, Login1 { props, calls: calls.clone() }).await?;
    server.at(PATH, Control::new::<Login1>(PATH, calls)).await?;
    Ok(())
}

impl HasProps for Login1 {
    fn props_mut(&mut self) -> &mut Props {
        &mut self.props
    }
}

#[interface(name = "org.freedesktop.login1.Manager")]
impl Login1 {
    fn reboot(&self, interactive: bool) {
        self.calls.record(format!("Reboot({interactive})"));
    }

    fn power_off(&self, interactive: bool) {
        self.calls.record(format!("PowerOff({interactive})"));
    }

    #[zbus(property(emits_changed_signal = "false"))]
    fn preparing_for_shutdown(&self) -> bool {
        self.props.get("PreparingForShutdown")
    }

    #[zbus(property(emits_changed_signal = "false"))]
    fn docked(&self) -> bool {
        self.props.get("Docked")
    }
}
