//! Fixtures of services that export many objects which come and go under an ObjectManager
//! (NetworkManager, UDisks2): one model, every object's properties computed from it.
//!
//! A change goes through [`Shared::change`], which compares all properties before and after:
//! objects that appeared are exported (the ObjectManager announces them with
//! `InterfacesAdded`), every property that changed is announced with `PropertiesChanged`, and
//! objects that went are removed (`InterfacesRemoved`), in that order so that no announced
//! property ever names an object a client cannot find.

use crate::control::Calls;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use zbus::fdo::Properties;
use zbus::names::InterfaceName;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedValue, Value};
use zbus::{Connection, ObjectServer};

/// All properties of all objects: (path, interface) → name → value.
pub type Snapshot = BTreeMap<(String, &'static str), BTreeMap<&'static str, OwnedValue>>;

/// The state of a tree-shaped fixture.
pub trait Model: Sized + Send + 'static {
    /// Every object and interface the service exports now, with its properties.
    fn snapshot(&self) -> Snapshot;

    /// Exports the struct serving `interface` at `path`.
    fn export(
        server: &ObjectServer,
        model: &Handle<Self>,
        path: &str,
        interface: &str,
    ) -> impl Future<Output = zbus::Result<bool>> + Send;
}

/// The model, and the lock that makes changes (and their announcements) one at a time.
pub struct Shared<M> {
    model: Mutex<M>,
    changes: tokio::sync::Mutex<()>,
    pub calls: Calls,
}

pub type Handle<M> = Arc<Shared<M>>;

impl<M: Model> Shared<M> {
    pub fn new(model: M, calls: Calls) -> Handle<M> {
        Arc::new(Shared { model: Mutex::new(model), changes: tokio::sync::Mutex::new(()), calls })
    }

    /// Reads the model.
    pub fn read<R>(&self, read: impl FnOnce(&M) -> R) -> R {
        read(&self.model.lock().expect("model lock"))
    }

    /// Exports every object of the model, before the service takes its name.
    pub async fn export_all(self: &Arc<Self>, connection: &Connection) -> zbus::Result<()> {
        let all = self.read(M::snapshot);
        for (path, interface) in all.keys() {
            M::export(connection.object_server(), self, path, interface).await?;
        }
        Ok(())
    }

    /// Makes one change to the model and announces it (see the module's documentation).
    pub async fn change<R>(
        self: &Arc<Self>,
        connection: &Connection,
        mutate: impl FnOnce(&mut M) -> R,
    ) -> zbus::Result<R> {
        let _one_at_a_time = self.changes.lock().await;
        let (before, result, after) = {
            let mut model = self.model.lock().expect("model lock");
            let before = model.snapshot();
            let result = mutate(&mut model);
            (before, result, model.snapshot())
        };
        let server = connection.object_server();
        for (path, interface) in after.keys().filter(|key| !before.contains_key(*key)) {
            M::export(server, self, path, interface).await?;
        }
        for (key, properties) in &after {
            let Some(old) = before.get(key) else { continue };
            let changed: HashMap<&str, Value<'_>> = properties
                .iter()
                .filter(|(name, value)| old.get(*name) != Some(*value))
                .map(|(name, value)| (*name, Value::from(value.clone())))
                .collect();
            if !changed.is_empty() {
                let emitter = SignalEmitter::new(connection, key.0.as_str())?;
                let interface = InterfaceName::from_static_str_unchecked(key.1);
                Properties::properties_changed(&emitter, interface, changed, Cow::Borrowed(&[])).await?;
            }
        }
        for (path, interface) in before.keys().filter(|key| !after.contains_key(*key)) {
            server.remove_named(path.as_str(), InterfaceName::from_static_str_unchecked(interface)).await?;
        }
        Ok(result)
    }
}

/// One object's view of the model: the interface structs of tree fixtures are made of these.
pub struct View<M> {
    pub model: Handle<M>,
    pub path: String,
}

impl<M: Model> View<M> {
    pub fn new(model: &Handle<M>, path: &str) -> Self {
        View { model: model.clone(), path: path.to_owned() }
    }

    /// A property of this object, as the model has it now. Panics if the model does not define
    /// it: that is a mistake in the fixture, caught by its tests.
    pub fn get<T>(&self, interface: &'static str, name: &str) -> T
    where
        T: TryFrom<OwnedValue>,
        T::Error: std::fmt::Debug,
    {
        let mut all = self.model.read(M::snapshot);
        let properties = all.remove(&(self.path.clone(), interface)).unwrap_or_default();
        let value = properties
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("{interface}.{name} of {} is not defined", self.path));
        T::try_from(value).unwrap_or_else(|error| panic!("{interface}.{name} has another type: {error:?}"))
    }

    pub fn record(&self, call: String) {
        self.model.calls.record(call);
    }
}

/// A D-Bus value from anything that converts to one.
pub fn value(value: impl Into<Value<'static>>) -> OwnedValue {
    OwnedValue::try_from(value.into()).expect("fixture values hold no file descriptors")
}

/// A string value.
pub fn text(text: impl Into<String>) -> OwnedValue {
    OwnedValue::from(zbus::zvariant::Str::from(text.into()))
}
