//! The watched properties of one object of a service: read once, then kept current from the
//! service's signals. The task behind a [`Properties`] state
//! - reads all properties of the interface (`GetAll`) when it starts and whenever the service
//!   (re)appears on the bus (`NameOwnerChanged` with a new owner);
//! - applies `PropertiesChanged` as it arrives, fetching invalidated properties one by one; it
//!   never polls, so a property the service does not announce changes only on
//!   [`Service::refresh`] (what `/host/reload` is for: timedated never announces
//!   `NTPSynchronized`);
//! - marks the service unavailable (`None`) when its name loses its owner, unless the bus can
//!   start it on demand.

use crate::service::{activatable, present, RefreshRequests, Service, State};
use crate::Error;
use futures_util::StreamExt;
use std::collections::HashMap;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zbus::fdo::{DBusProxy, NameOwnerChangedStream, PropertiesChanged, PropertiesChangedStream, PropertiesProxy};
use zbus::names::InterfaceName;
use zbus::proxy::CacheProperties;
use zbus::zvariant::{ObjectPath, OwnedValue, Value};
use zbus::Connection;

/// The watched state of one object: which object and interface, and how a property lands in it.
pub trait Properties: Clone + Default + PartialEq + Send + Sync + 'static {
    /// The bus name.
    const SERVICE: &'static str;
    /// The object whose properties are watched.
    const PATH: &'static str;
    /// The interface whose properties are watched; `None` for a service watched for its
    /// presence only.
    const INTERFACE: Option<&'static str>;

    /// Takes in one property. Unknown names and unexpected types are ignored: other versions of
    /// a service have other properties, and one odd value must not hide the rest.
    fn apply(&mut self, name: &str, value: &Value<'_>);
}

impl<P: Properties> State for P {
    const SERVICE: &'static str = <P as Properties>::SERVICE;

    async fn start(
        connection: Connection,
        sender: watch::Sender<Option<Self>>,
        refresh: RefreshRequests,
    ) -> zbus::Result<JoinHandle<()>> {
        let watcher = Watcher::<P>::subscribe(&connection).await?;
        watcher.refresh(&sender).await;
        Ok(tokio::spawn(watcher.run(sender, refresh)))
    }
}

impl<P: Properties> Service<P> {
    /// Writes a property of the watched interface (`org.freedesktop.DBus.Properties.Set`). The
    /// service announces the change, which is how the state learns it.
    pub(crate) async fn set_property(&self, name: &str, value: Value<'_>) -> Result<(), Error> {
        let interface = P::INTERFACE.expect("only services with properties have writable ones");
        let properties = self.properties_of(ObjectPath::from_static_str_unchecked(P::PATH)).await?;
        let result = properties.set(InterfaceName::from_static_str_unchecked(interface), name, value).await;
        Self::answer(result.map_err(zbus::Error::from))
    }
}

/// The watcher task's view of the bus.
struct Watcher<P> {
    dbus: DBusProxy<'static>,
    properties: PropertiesProxy<'static>,
    owners: NameOwnerChangedStream,
    changes: Option<PropertiesChangedStream>,
    _state: std::marker::PhantomData<P>,
}

impl<P: Properties> Watcher<P> {
    /// Subscribes to the signals before the first read, so that no change falls between the two.
    async fn subscribe(connection: &Connection) -> zbus::Result<Self> {
        let dbus = DBusProxy::new(connection).await?;
        let owners = dbus.receive_name_owner_changed_with_args(&[(0, P::SERVICE)]).await?;
        let properties = PropertiesProxy::builder(connection)
            .destination(P::SERVICE)?
            .path(P::PATH)?
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let changes = match P::INTERFACE {
            Some(interface) => Some(properties.receive_properties_changed_with_args(&[(0, interface)]).await?),
            None => None,
        };
        Ok(Watcher { dbus, properties, owners, changes, _state: std::marker::PhantomData })
    }

    async fn run(mut self, sender: watch::Sender<Option<P>>, mut refresh: RefreshRequests) {
        loop {
            tokio::select! {
                signal = self.owners.next() => match signal {
                    Some(signal) => self.owner_changed(&sender, signal.args().ok().is_some_and(|args| args.new_owner().is_some())).await,
                    None => break,
                },
                signal = next_change(&mut self.changes) => match signal {
                    Some(signal) => self.properties_changed(&sender, signal).await,
                    None => break,
                },
                request = refresh.recv() => match request {
                    Some(done) => {
                        self.refresh(&sender).await;
                        let _ = done.send(());
                    }
                    None => break,
                },
            }
        }
        // The connection is gone: nothing can be known or called any more.
        sender.send_replace(None);
    }

    async fn owner_changed(&self, sender: &watch::Sender<Option<P>>, has_owner: bool) {
        if has_owner {
            tracing::debug!("{} appeared on the bus", P::SERVICE);
            self.refresh(sender).await;
        } else if !activatable(&self.dbus, P::SERVICE).await {
            tracing::info!("{} left the bus", P::SERVICE);
            sender.send_replace(None);
        }
    }

    async fn properties_changed(&self, sender: &watch::Sender<Option<P>>, signal: PropertiesChanged) {
        let (Some(interface), Ok(args)) = (P::INTERFACE, signal.args()) else { return };
        let mut updates: Vec<(String, OwnedValue)> = Vec::new();
        for (name, value) in args.changed_properties() {
            if let Ok(value) = OwnedValue::try_from(value) {
                updates.push((name.to_string(), value));
            }
        }
        for name in args.invalidated_properties().iter() {
            match self.properties.get(InterfaceName::from_static_str_unchecked(interface), name).await {
                Ok(value) => updates.push((name.to_string(), value)),
                Err(error) => tracing::debug!("reading {name} of {}: {error}", P::SERVICE),
            }
        }
        sender.send_if_modified(|current| {
            // A change before the first successful read waits for that read, which is complete.
            let Some(state) = current else { return false };
            let before = state.clone();
            for (name, value) in &updates {
                state.apply(name, value);
            }
            *state != before
        });
    }

    async fn refresh(&self, sender: &watch::Sender<Option<P>>) {
        let state = self.read().await;
        sender.send_if_modified(|current| {
            let changed = *current != state;
            *current = state;
            changed
        });
    }

    /// The service's state now, or `None` if it is not there.
    async fn read(&self) -> Option<P> {
        if !present(&self.dbus, P::SERVICE).await {
            return None;
        }
        let Some(interface) = P::INTERFACE else { return Some(P::default()) };
        match self.properties.get_all(InterfaceName::from_static_str_unchecked(interface)).await {
            Ok(values) => Some(from_values(&values)),
            Err(error) => {
                // Newer versions of a service may leave an object out (the OS-Agent exports only
                // the board in use): that object is simply not there.
                let absent =
                    matches!(error, zbus::fdo::Error::UnknownObject(_) | zbus::fdo::Error::UnknownInterface(_));
                if absent {
                    tracing::debug!("{} has no {interface} at {}", P::SERVICE, P::PATH);
                } else {
                    tracing::warn!("reading the properties of {}: {error}", P::SERVICE);
                }
                None
            }
        }
    }
}

fn from_values<P: Properties>(values: &HashMap<String, OwnedValue>) -> P {
    let mut state = P::default();
    for (name, value) in values {
        state.apply(name, value);
    }
    state
}

/// The next property change, or never for a service watched for presence only.
async fn next_change(changes: &mut Option<PropertiesChangedStream>) -> Option<PropertiesChanged> {
    match changes {
        Some(changes) => changes.next().await,
        None => std::future::pending().await,
    }
}

/// Sets `field` from a string property, leaving it alone if the value is not one.
pub(crate) fn set_string(field: &mut String, value: &Value<'_>) {
    if let Ok(text) = <&str>::try_from(value) {
        text.clone_into(field);
    }
}

/// Sets `field` from a string list property (`as`), leaving it alone if the value is not one.
pub(crate) fn set_strings(field: &mut Vec<String>, value: &Value<'_>) {
    if let Some(list) = value.try_clone().ok().and_then(|value| Vec::<String>::try_from(value).ok()) {
        *field = list;
    }
}

/// Sets `field` from a property of a basic type, leaving it alone if the value has another.
pub(crate) fn set<T>(field: &mut T, value: &Value<'_>)
where
    T: for<'v> TryFrom<&'v Value<'v>>,
{
    if let Ok(new) = T::try_from(value) {
        *field = new;
    }
}
