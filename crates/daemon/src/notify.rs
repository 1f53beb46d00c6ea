//! systemd's notification protocol (`sd_notify`) for a unit of `Type=notify`: systemd passes
//! the socket in `NOTIFY_SOCKET`; the daemon says `READY=1` once both APIs listen, `STOPPING=1`
//! when it shuts down and `RELOADING=1` before a restart in place (the same PID comes back and
//! says `READY=1` again). When the unit sets `WatchdogSec=`, systemd passes `WATCHDOG_USEC` and
//! the daemon sends `WATCHDOG=1` at half that period, each time only after its own API answered
//! a ping ([`crate::health`]), so a hung daemon is restarted rather than kept.
//!
//! The protocol is one datagram per message on a unix socket (a path, or an abstract name
//! written with a leading `@`): too small a thing for a dependency.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The service manager's socket, when the daemon runs under one.
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
}

impl Notifier {
    /// The socket of `NOTIFY_SOCKET`; `None` when it is not set or cannot be used.
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let bytes = path.as_bytes();
        let address = match bytes.strip_prefix(b"@") {
            Some(name) => SocketAddr::from_abstract_name(name),
            None => SocketAddr::from_pathname(&path),
        };
        let opened = address.and_then(|address| Ok(Notifier { socket: UnixDatagram::unbound()?, address }));
        match opened {
            Ok(notifier) => Some(notifier),
            Err(e) => {
                tracing::warn!("NOTIFY_SOCKET {path:?} can't be used: {e}");
                None
            }
        }
    }

    /// Sends `state` (newline-separated `KEY=value` assignments).
    pub fn notify(&self, state: &str) {
        if let Err(e) = self.socket.send_to_addr(state.as_bytes(), &self.address) {
            tracing::warn!("can't notify the service manager of {state:?}: {e}");
        }
    }
}

/// How often to feed the watchdog: half of `WATCHDOG_USEC`, when it is set for this process
/// (`WATCHDOG_PID`, when given, names it).
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        if pid.to_str()?.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}
