//! Connection limits per peer, so that one container or LAN host holding thousands of idle
//! connections cannot take the slots the Core, the CLI and other add-ons need.
//!
//! actix counts connections per worker only. Here every accepted connection takes a slot of its
//! peer's address, held in the connection's own extensions so that it is given back when the
//! connection ends, however it ends. A peer over its limit has the new connection shut down at
//! once. Loopback peers are the host itself (the CLI, Core on the host network) and are bounded by
//! the total limit and the header timeout only, so that a local flood can never lock the CLI out.

use actix_web::dev::Extensions;
use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

/// Open connections one non-loopback address may hold at once.
pub const PER_PEER: usize = 256;

/// The open connections per peer address, shared by every worker of every listener.
#[derive(Clone, Default)]
pub struct Peers {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's slot; dropped with the connection.
struct Slot {
    peers: Peers,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.peers.open.lock().expect("peer table");
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// What a new connection of a peer gets.
enum Admission {
    /// A loopback peer: bounded by the total limit only.
    Unlimited,
    Admitted(Slot),
    Refused,
}

impl Peers {
    /// For `HttpServer::on_connect`: takes a slot for the connection's peer, or shuts the
    /// connection down when the peer has no slot left.
    pub fn on_connect(&self, connection: &dyn Any, extensions: &mut Extensions) {
        let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else { return };
        let Ok(peer) = stream.peer_addr() else { return };
        match self.admit(peer.ip()) {
            Admission::Unlimited => {}
            Admission::Admitted(slot) => {
                extensions.insert(slot);
            }
            Admission::Refused => {
                tracing::warn!(%peer, "refused a connection: the peer already holds {PER_PEER}");
                // The dispatcher then reads end-of-file and ends the connection at once.
                // SAFETY: the descriptor is the live stream's own; shutdown does not close it.
                unsafe { libc::shutdown(stream.as_raw_fd(), libc::SHUT_RDWR) };
            }
        }
    }

    fn admit(&self, ip: IpAddr) -> Admission {
        if ip.is_loopback() {
            return Admission::Unlimited;
        }
        let mut open = self.open.lock().expect("peer table");
        let count = open.entry(ip).or_default();
        if *count >= PER_PEER {
            return Admission::Refused;
        }
        *count += 1;
        Admission::Admitted(Slot { peers: self.clone(), ip })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_its_slots_and_gives_them_back() {
        let peers = Peers::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let mut slots: Vec<Slot> = (0..PER_PEER)
            .map(|_| match peers.admit(ip) {
                Admission::Admitted(slot) => slot,
                _ => panic!("a peer under its limit is admitted"),
            })
            .collect();
        assert!(matches!(peers.admit(ip), Admission::Refused));
        // Another peer is not affected.
        assert!(matches!(peers.admit("192.0.2.8".parse().unwrap()), Admission::Admitted(_)));
        // A connection that ends gives its slot back.
        slots.pop();
        assert!(matches!(peers.admit(ip), Admission::Admitted(_)));
        drop(slots);
        assert!(peers.open.lock().unwrap().is_empty(), "every slot was given back");
    }

    #[test]
    fn loopback_is_bounded_by_the_total_only() {
        let peers = Peers::default();
        for _ in 0..PER_PEER * 2 {
            assert!(matches!(peers.admit("127.0.0.1".parse().unwrap()), Admission::Unlimited));
            assert!(matches!(peers.admit("::1".parse().unwrap()), Admission::Unlimited));
        }
    }
}
