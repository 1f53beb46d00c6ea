//! Watched object trees: services that export many objects, which come and go, under an
//! `org.freedesktop.DBus.ObjectManager` (NetworkManager, UDisks2).
//!
//! The task keeps a [`Mirror`] of the service's objects: `GetManagedObjects` when it starts and
//! whenever the service (re)appears, then `InterfacesAdded`/`InterfacesRemoved` for objects and
//! `PropertiesChanged` (every object below the service's path namespace, from the current owner
//! only) for their properties. Objects that carry a document besides their properties
//! (NetworkManager's connection settings, read with `GetSettings`) have it read when they appear
//! and again on their update signal. No polling: after each change the typed state is rebuilt
//! from the mirror and published if it differs.

use crate::service::{activatable, RefreshRequests};
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zbus::fdo::{
    DBusProxy, InterfacesAddedStream, InterfacesRemovedStream, NameOwnerChangedStream, ObjectManagerProxy,
};
use zbus::message::{Message, Type as MessageType};
use zbus::names::{BusName, OwnedUniqueName};
use zbus::proxy::CacheProperties;
use zbus::zvariant::OwnedValue;
use zbus::{Connection, MatchRule, MessageStream};

/// The properties of one interface of an object, by name.
pub type PropertyMap = HashMap<String, OwnedValue>;
/// A document of sections of settings (`a{sa{sv}}`), as NetworkManager's `GetSettings` returns.
pub type Document = HashMap<String, HashMap<String, OwnedValue>>;

/// A service's objects as its ObjectManager reports them, kept current.
#[derive(Debug, Default)]
pub struct Mirror {
    /// By object path (as text, which orders and looks up simply).
    objects: BTreeMap<String, BTreeMap<String, PropertyMap>>,
    documents: HashMap<String, Document>,
}

impl Mirror {
    /// The properties of `interface` on the object at `path`, if it has it.
    pub fn get(&self, path: &str, interface: &str) -> Option<&PropertyMap> {
        self.objects.get(path)?.get(interface)
    }

    /// Every object with `interface`, in path order.
    pub fn with_interface<'m>(&'m self, interface: &'m str) -> impl Iterator<Item = (&'m str, &'m PropertyMap)> + 'm {
        self.objects.iter().filter_map(move |(path, interfaces)| {
            interfaces.get(interface).map(|properties| (path.as_str(), properties))
        })
    }

    /// The document of the object at `path`.
    pub fn document(&self, path: &str) -> Option<&Document> {
        self.documents.get(path)
    }
}

/// Objects of `interface` carry a document read with `method` and re-read when they emit
/// `updated` (a signal of that interface).
pub struct Documents {
    pub interface: &'static str,
    pub method: &'static str,
    pub updated: &'static str,
}

/// A state built from a whole object tree.
pub trait Tree: Clone + PartialEq + Send + Sync + 'static {
    const SERVICE: &'static str;
    /// Where the service's ObjectManager is.
    const ROOT: &'static str;
    /// The path namespace of its objects.
    const NAMESPACE: &'static str;
    const DOCUMENTS: Option<Documents>;

    fn build(mirror: &Mirror) -> Self;
}

/// The `State::start` of a tree.
pub(crate) async fn start<T: Tree>(
    connection: Connection,
    sender: watch::Sender<Option<T>>,
    refresh: RefreshRequests,
) -> zbus::Result<JoinHandle<()>> {
    let mut watcher = TreeWatcher::<T>::subscribe(connection).await?;
    watcher.reload(&sender).await;
    Ok(tokio::spawn(watcher.run(sender, refresh)))
}

struct TreeWatcher<T> {
    connection: Connection,
    dbus: DBusProxy<'static>,
    manager: ObjectManagerProxy<'static>,
    owners: NameOwnerChangedStream,
    added: InterfacesAddedStream,
    removed: InterfacesRemovedStream,
    changes: MessageStream,
    updates: Option<MessageStream>,
    /// The unique name the signals must come from.
    owner: Option<OwnedUniqueName>,
    /// Whether the service is there (owned, or activatable and answering).
    present: bool,
    mirror: Mirror,
    _tree: std::marker::PhantomData<T>,
}

/// Signals of `interface.member` from the service, on any object below its namespace.
async fn signals<T: Tree>(
    connection: &Connection,
    interface: &'static str,
    member: &'static str,
) -> zbus::Result<MessageStream> {
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .sender(T::SERVICE)?
        .interface(interface)?
        .member(member)?
        .path_namespace(T::NAMESPACE)?
        .build();
    MessageStream::for_match_rule(rule, connection, None).await
}

impl<T: Tree> TreeWatcher<T> {
    /// Subscribes to every signal before the first read, so that no change falls between them.
    async fn subscribe(connection: Connection) -> zbus::Result<Self> {
        let dbus = DBusProxy::new(&connection).await?;
        let owners = dbus.receive_name_owner_changed_with_args(&[(0, T::SERVICE)]).await?;
        let manager = ObjectManagerProxy::builder(&connection)
            .destination(T::SERVICE)?
            .path(T::ROOT)?
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let added = manager.receive_interfaces_added().await?;
        let removed = manager.receive_interfaces_removed().await?;
        let changes = signals::<T>(&connection, "org.freedesktop.DBus.Properties", "PropertiesChanged").await?;
        let updates = match &T::DOCUMENTS {
            Some(documents) => Some(signals::<T>(&connection, documents.interface, documents.updated).await?),
            None => None,
        };
        Ok(TreeWatcher {
            connection,
            dbus,
            manager,
            owners,
            added,
            removed,
            changes,
            updates,
            owner: None,
            present: false,
            mirror: Mirror::default(),
            _tree: std::marker::PhantomData,
        })
    }

    async fn run(mut self, sender: watch::Sender<Option<T>>, mut refresh: RefreshRequests) {
        loop {
            tokio::select! {
                signal = self.owners.next() => match signal {
                    Some(signal) => {
                        let owner = signal.args().ok().and_then(|args| args.new_owner().as_ref().map(|owner| owner.to_owned().into()));
                        self.owner_changed(&sender, owner).await;
                    }
                    None => break,
                },
                signal = self.added.next() => match signal {
                    Some(signal) => {
                        if let Ok(args) = signal.args() {
                            let path = args.object_path().to_string();
                            for (interface, properties) in args.interfaces_and_properties() {
                                let properties = properties.iter().filter_map(|(name, value)| Some((name.to_string(), OwnedValue::try_from(value).ok()?))).collect();
                                self.mirror.objects.entry(path.clone()).or_default().insert(interface.to_string(), properties);
                            }
                            self.read_document(&path).await;
                            self.publish(&sender);
                        }
                    }
                    None => break,
                },
                signal = self.removed.next() => match signal {
                    Some(signal) => {
                        if let Ok(args) = signal.args() {
                            self.remove(args.object_path().as_str(), args.interfaces().iter().map(|name| name.as_str()));
                            self.publish(&sender);
                        }
                    }
                    None => break,
                },
                message = self.changes.next() => match message {
                    Some(Ok(message)) => {
                        self.properties_changed(&message).await;
                        self.publish(&sender);
                    }
                    Some(Err(_)) => {}
                    None => break,
                },
                message = next_message(&mut self.updates) => match message {
                    Some(Ok(message)) => {
                        if let Some(path) = self.path_if_from_owner(&message) {
                            self.read_document(&path).await;
                            self.publish(&sender);
                        }
                    }
                    Some(Err(_)) => {}
                    None => break,
                },
                request = refresh.recv() => match request {
                    Some(done) => {
                        self.reload(&sender).await;
                        let _ = done.send(());
                    }
                    None => break,
                },
            }
        }
        // The connection is gone: nothing can be known or called any more.
        sender.send_replace(None);
    }

    async fn owner_changed(&mut self, sender: &watch::Sender<Option<T>>, owner: Option<OwnedUniqueName>) {
        if owner.is_some() {
            tracing::debug!("{} appeared on the bus", T::SERVICE);
            self.reload(sender).await;
        } else if !activatable(&self.dbus, T::SERVICE).await {
            tracing::info!("{} left the bus", T::SERVICE);
            self.owner = None;
            self.present = false;
            self.mirror = Mirror::default();
            self.publish(sender);
        } else {
            self.owner = None;
        }
    }

    /// Reads the whole tree again.
    async fn reload(&mut self, sender: &watch::Sender<Option<T>>) {
        let name = BusName::from_static_str(T::SERVICE).expect("service names are valid bus names");
        let owner = self.dbus.get_name_owner(name.clone()).await.ok();
        self.mirror = Mirror::default();
        self.present = false;
        if owner.is_some() || activatable(&self.dbus, T::SERVICE).await {
            match self.manager.get_managed_objects().await {
                Ok(objects) => {
                    for (path, interfaces) in objects {
                        let interfaces =
                            interfaces.into_iter().map(|(name, properties)| (name.to_string(), properties)).collect();
                        self.mirror.objects.insert(path.to_string(), interfaces);
                    }
                    self.present = true;
                }
                Err(error) => tracing::warn!("reading the objects of {}: {error}", T::SERVICE),
            }
        }
        // Reading may have started an activatable service.
        self.owner = match owner {
            Some(owner) => Some(owner),
            None if self.present => self.dbus.get_name_owner(name).await.ok(),
            None => None,
        };
        let paths: Vec<String> = self.mirror.objects.keys().cloned().collect();
        for path in paths {
            self.read_document(&path).await;
        }
        self.publish(sender);
    }

    fn remove<'i>(&mut self, path: &str, interfaces: impl Iterator<Item = &'i str>) {
        let Some(object) = self.mirror.objects.get_mut(path) else { return };
        for interface in interfaces {
            object.remove(interface);
            if T::DOCUMENTS.as_ref().is_some_and(|documents| documents.interface == interface) {
                self.mirror.documents.remove(path);
            }
        }
        if object.is_empty() {
            self.mirror.objects.remove(path);
        }
    }

    /// The object path of a signal, if it comes from the service's current owner.
    fn path_if_from_owner(&self, message: &Message) -> Option<String> {
        let header = message.header();
        let owner = self.owner.as_ref()?;
        (header.sender() == Some(owner.inner())).then(|| header.path().map(|path| path.to_string()))?
    }

    async fn properties_changed(&mut self, message: &Message) {
        let Some(path) = self.path_if_from_owner(message) else { return };
        let Ok((interface, changed, invalidated)) = message.body().deserialize::<(String, PropertyMap, Vec<String>)>()
        else {
            return;
        };
        // Objects the mirror does not know yet come complete with their InterfacesAdded.
        let Some(properties) = self.mirror.objects.get_mut(&path).and_then(|object| object.get_mut(&interface)) else {
            return;
        };
        properties.extend(changed);
        for name in invalidated {
            let reply = self
                .connection
                .call_method(
                    Some(T::SERVICE),
                    path.as_str(),
                    Some("org.freedesktop.DBus.Properties"),
                    "Get",
                    &(interface.as_str(), name.as_str()),
                )
                .await;
            let value = reply.ok().and_then(|reply| reply.body().deserialize::<OwnedValue>().ok());
            let Some(properties) = self.mirror.objects.get_mut(&path).and_then(|object| object.get_mut(&interface))
            else {
                return;
            };
            match value {
                Some(value) => properties.insert(name, value),
                None => properties.remove(&name),
            };
        }
    }

    /// Reads (again) the document of an object that carries one.
    async fn read_document(&mut self, path: &str) {
        let Some(documents) = &T::DOCUMENTS else { return };
        let carries = self.mirror.objects.get(path).is_some_and(|object| object.contains_key(documents.interface));
        if !carries {
            return;
        }
        let reply =
            self.connection.call_method(Some(T::SERVICE), path, Some(documents.interface), documents.method, &()).await;
        match reply.and_then(|reply| reply.body().deserialize::<Document>()) {
            Ok(document) => {
                self.mirror.documents.insert(path.to_owned(), document);
            }
            Err(error) => {
                tracing::debug!("reading {} of {path}: {error}", documents.method);
                self.mirror.documents.remove(path);
            }
        }
    }

    fn publish(&self, sender: &watch::Sender<Option<T>>) {
        let state = self.present.then(|| T::build(&self.mirror));
        sender.send_if_modified(|current| {
            let changed = *current != state;
            *current = state;
            changed
        });
    }
}

/// The next document update, or never for a tree without documents.
async fn next_message(stream: &mut Option<MessageStream>) -> Option<zbus::Result<Message>> {
    match stream {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}
