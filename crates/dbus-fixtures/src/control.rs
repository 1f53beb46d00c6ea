//! `io.supervisor.Fixture`, the fixture-only interface next to each service's main interface
//! (same object path). No real service has it; it is how tests observe and steer a fixture:
//!
//! - property `Calls` (`as`): the state-changing methods called so far, oldest first, each as
//!   `Method(arg, arg)`, e.g. `Reboot(false)` or `StartUnit(docker.service, replace)`. Methods
//!   that would take the machine down (logind `Reboot`, `PowerOff`) only record themselves here.
//! - method `ClearCalls()`: forgets them.
//! - method `SetProperty(s name, v value)`: changes a property of the main interface as if the
//!   host had changed behind the service's back (a new CPE after an OS update, NTP
//!   synchronisation, ...). The value must keep the property's type (else `InvalidArgs`).
//!   `PropertiesChanged` follows as the real service would send it: with the value, as an
//!   invalidation, or not at all.
//! - methods `Plug(s device)` and `Unplug(s device)`: a device of the fixture's catalog is
//!   plugged into or pulled out of the host (a USB disk for UDisks2), announced as the real
//!   service announces hot-plugging. Fixtures without a catalog answer `NotSupported`.

use crate::error::ServiceError;
use crate::props::{Announce, Props};
use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use zbus::fdo::Properties;
use zbus::object_server::Interface;
use zbus::zvariant::{OwnedValue, Value};
use zbus::{interface, Connection};

/// The fixture-only interface's name.
pub const INTERFACE: &str = "io.supervisor.Fixture";

/// The log of state-changing calls a fixture received, shared by its interfaces.
#[derive(Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    pub fn record(&self, call: impl Into<String>) {
        self.0.lock().expect("calls lock").push(call.into());
    }

    pub fn list(&self) -> Vec<String> {
        self.0.lock().expect("calls lock").clone()
    }

    fn clear(&self) {
        self.0.lock().expect("calls lock").clear();
    }
}

/// A fixture interface whose properties `SetProperty` may change.
pub trait HasProps: Interface {
    fn props_mut(&mut self) -> &mut Props;
}

pub type SetFuture = Pin<Box<dyn Future<Output = Result<(), ServiceError>> + Send>>;
/// How `SetProperty` changes a fixture: given its connection, the name and the value.
pub type Setter = Box<dyn Fn(Connection, String, Value<'static>) -> SetFuture + Send + Sync>;
/// How `Plug` (`true`) and `Unplug` (`false`) change a fixture: given its connection and the
/// device's name.
pub type Plugger = Box<dyn Fn(Connection, String, bool) -> SetFuture + Send + Sync>;

/// The `io.supervisor.Fixture` object of one service.
pub struct Control {
    calls: Calls,
    /// Bound at construction to the main interface's type and path, so that the D-Bus method
    /// needs no knowledge of which service it belongs to.
    setter: Setter,
    plugger: Option<Plugger>,
}

impl Control {
    /// The control object of the fixture whose main interface `I` is served at `path`.
    pub fn new<I: HasProps>(path: &'static str, calls: Calls) -> Self {
        Control { calls, setter: props_setter::<I>(path), plugger: None }
    }

    /// The control object of a fixture whose state is not a [`Props`] (NetworkManager's model).
    pub fn with_setter(calls: Calls, setter: Setter) -> Self {
        Control { calls, setter, plugger: None }
    }

    /// Gives the fixture devices to plug in and pull out.
    pub fn with_plugger(mut self, plugger: Plugger) -> Self {
        self.plugger = Some(plugger);
        self
    }

    async fn hotplug(&self, connection: &Connection, device: String, plugged: bool) -> Result<(), ServiceError> {
        match &self.plugger {
            Some(plugger) => plugger(connection.clone(), device, plugged).await,
            None => {
                Err(ServiceError::new("org.freedesktop.DBus.Error.NotSupported", "This fixture has no devices to plug"))
            }
        }
    }
}

/// How `SetProperty` changes the [`Props`] of interface `I` at `path`, for a fixture whose
/// control object steers more than one object.
pub fn props_setter<I: HasProps>(path: &'static str) -> Setter {
    Box::new(move |connection, name, value| Box::pin(set_property::<I>(connection, path, name, value)))
}

async fn set_property<I: HasProps>(
    connection: Connection,
    path: &'static str,
    name: String,
    value: Value<'static>,
) -> Result<(), ServiceError> {
    let failed = |error: zbus::Error| ServiceError::new("org.freedesktop.DBus.Error.Failed", error.to_string());
    let iface = connection.object_server().interface::<_, I>(path).await.map_err(failed)?;
    let announce = {
        let copy = value.try_clone().map_err(|error| ServiceError::invalid_args(error.to_string()))?;
        iface.get_mut().await.props_mut().replace(&name, copy).map_err(ServiceError::invalid_args)?
    };
    let (changed, invalidated) = match announce {
        Announce::Value => (HashMap::from([(name.as_str(), value)]), vec![]),
        Announce::Invalidate => (HashMap::new(), vec![name.as_str()]),
        Announce::Never => return Ok(()),
    };
    Properties::properties_changed(iface.signal_emitter(), I::name(), changed, Cow::Owned(invalidated))
        .await
        .map_err(failed)
}

#[interface(name = "io.supervisor.Fixture")]
impl Control {
    #[zbus(property(emits_changed_signal = "false"))]
    fn calls(&self) -> Vec<String> {
        self.calls.list()
    }

    fn clear_calls(&self) {
        self.calls.clear();
    }

    async fn set_property(
        &self,
        name: String,
        value: OwnedValue,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<(), ServiceError> {
        (self.setter)(connection.clone(), name, value.into()).await
    }

    async fn plug(&self, device: String, #[zbus(connection)] connection: &Connection) -> Result<(), ServiceError> {
        self.hotplug(connection, device, true).await
    }

    async fn unplug(&self, device: String, #[zbus(connection)] connection: &Connection) -> Result<(), ServiceError> {
        self.hotplug(connection, device, false).await
    }
}
