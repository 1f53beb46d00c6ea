//! What the client tests share: waiting for a watched state to get somewhere.

use dbus::{Service, State};
use std::time::Duration;

/// Long enough for any signal on a private bus; only a failing test waits this long.
pub const WAIT: Duration = Duration::from_secs(10);

/// Waits until the watched state satisfies `done` and returns it, failing the test after
/// [`WAIT`].
pub async fn until<S: State>(service: &Service<S>, what: &str, done: impl FnMut(&Option<S>) -> bool) -> Option<S> {
    let mut receiver = service.subscribe();
    let reached = tokio::time::timeout(WAIT, receiver.wait_for(done)).await;
    let state =
        reached.unwrap_or_else(|_| panic!("timed out waiting for {what}")).expect("the watcher is running").clone();
    state
}
