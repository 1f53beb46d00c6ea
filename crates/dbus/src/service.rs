//! [`Service`]: the client of one host service, whatever its shape. It owns the service's
//! watched [`State`] (kept current by a background task, see `watch` for single objects and
//! `tree` for object trees), and the connection its method calls go through.
//!
//! Readers get the state as a `watch` channel: [`Service::state`] is a cheap synchronous
//! snapshot, [`Service::subscribe`] lets them wait for changes. Without a bus, or when watching
//! cannot be set up, the service is simply unavailable (`None`), and its methods answer
//! [`Error::Unavailable`].

use crate::{Error, SystemBus};
use std::future::Future;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use zbus::fdo::{DBusProxy, PropertiesProxy};
use zbus::names::BusName;
use zbus::proxy::CacheProperties;
use zbus::zvariant::ObjectPath;
use zbus::Connection;

/// Requests to read everything again; each is answered once the state is current.
pub type RefreshRequests = mpsc::UnboundedReceiver<oneshot::Sender<()>>;

/// What a service's watched state is and how it is kept current.
pub trait State: Clone + PartialEq + Send + Sync + 'static {
    /// The bus name.
    const SERVICE: &'static str;

    /// Subscribes to the service's signals, publishes the first reading on `sender` and spawns
    /// the task that keeps it current and answers `refresh`. Returns that task.
    fn start(
        connection: Connection,
        sender: watch::Sender<Option<Self>>,
        refresh: RefreshRequests,
    ) -> impl Future<Output = zbus::Result<JoinHandle<()>>> + Send;
}

/// The client of one host service.
pub struct Service<S> {
    connection: Option<Connection>,
    state: watch::Receiver<Option<S>>,
    refresh: Option<mpsc::UnboundedSender<oneshot::Sender<()>>>,
    _task: Option<AbortOnDrop>,
}

/// Stops the watcher when its service client goes away.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<S: State> Service<S> {
    /// Reads the service's state and starts watching it. This never fails: a service that
    /// cannot be watched is unavailable.
    pub async fn watch(bus: Option<&SystemBus>) -> Self {
        let (sender, state) = watch::channel(None);
        let Some(bus) = bus else {
            return Service { connection: None, state, refresh: None, _task: None };
        };
        let connection = bus.connection().clone();
        let (refresh, requests) = mpsc::unbounded_channel();
        match S::start(connection.clone(), sender, requests).await {
            Ok(task) => {
                Service { connection: Some(connection), state, refresh: Some(refresh), _task: Some(AbortOnDrop(task)) }
            }
            Err(error) => {
                tracing::warn!("cannot watch {}: {error}", S::SERVICE);
                Service { connection: Some(connection), state, refresh: None, _task: None }
            }
        }
    }

    /// The current state; `None` while the service is unavailable.
    pub fn state(&self) -> Option<S> {
        self.state.borrow().clone()
    }

    pub fn is_available(&self) -> bool {
        self.state.borrow().is_some()
    }

    /// A receiver that sees every change of the state, for waiting on one.
    pub fn subscribe(&self) -> watch::Receiver<Option<S>> {
        self.state.clone()
    }

    /// Reads everything again (and the service's presence), for what the service does not
    /// announce. Returns once the state is current.
    pub async fn refresh(&self) {
        let Some(refresh) = &self.refresh else { return };
        let (done, finished) = oneshot::channel();
        if refresh.send(done).is_ok() {
            let _ = finished.await;
        }
    }

    /// The connection for a method call, or `Unavailable` when the service is not there.
    pub(crate) fn connection(&self) -> Result<&Connection, Error> {
        match &self.connection {
            Some(connection) if self.is_available() => Ok(connection),
            _ => Err(Error::Unavailable(S::SERVICE)),
        }
    }

    /// A typed proxy for a method call, or `Unavailable` when the service is not there. It
    /// caches no properties: the watcher already has them.
    pub(crate) async fn proxy<'p, T>(&self) -> Result<T, Error>
    where
        T: From<zbus::Proxy<'p>> + zbus::proxy::Defaults,
    {
        let builder = zbus::proxy::Builder::<T>::new(self.connection()?).cache_properties(CacheProperties::No);
        Self::answer(builder.build().await)
    }

    /// A typed proxy for one of the service's objects other than the proxy's default.
    pub(crate) async fn proxy_at<'p, T>(&self, path: ObjectPath<'p>) -> Result<T, Error>
    where
        T: From<zbus::Proxy<'p>> + zbus::proxy::Defaults,
    {
        let builder = zbus::proxy::Builder::<T>::new(self.connection()?).cache_properties(CacheProperties::No);
        Self::answer(async { builder.path(path)?.build().await }.await)
    }

    /// The standard properties interface of one of the service's objects.
    pub(crate) async fn properties_of(&self, path: ObjectPath<'static>) -> Result<PropertiesProxy<'static>, Error> {
        let builder = PropertiesProxy::builder(self.connection()?);
        Self::answer(
            async { builder.destination(S::SERVICE)?.path(path)?.cache_properties(CacheProperties::No).build().await }
                .await,
        )
    }

    /// The result of a call to this service, classified.
    pub(crate) fn answer<T>(result: zbus::Result<T>) -> Result<T, Error> {
        result.map_err(|error| Error::from_call(S::SERVICE, error))
    }
}

/// Whether `service` is there: it has an owner, or the bus starts it on demand (bus activation:
/// hostnamed and timedated exit when idle and come back on the next call, which is no reason to
/// hide them).
pub(crate) async fn present(dbus: &DBusProxy<'_>, service: &'static str) -> bool {
    let name = BusName::from_static_str(service).expect("service names are valid bus names");
    match dbus.name_has_owner(name).await {
        Ok(true) => true,
        Ok(false) => activatable(dbus, service).await,
        Err(error) => {
            tracing::debug!("asking the bus for {service}: {error}");
            false
        }
    }
}

/// Whether the bus would start `service` on demand.
pub(crate) async fn activatable(dbus: &DBusProxy<'_>, service: &str) -> bool {
    match dbus.list_activatable_names().await {
        Ok(names) => names.iter().any(|name| name.as_str() == service),
        Err(_) => false,
    }
}
