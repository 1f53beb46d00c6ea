//! The sockets of one set of links and the repeating between them.
//!
//! For each link and family there is one socket per service bound to the service's group, tied to
//! the link (`SO_BINDTODEVICE`), so a packet read from it came in on that link and a packet sent
//! on it leaves on that link only. mDNS answers come back by multicast, so repeating both ways
//! is enough. LLMNR answers come back by unicast to whoever asked: queries leave each link from a
//! relay socket of the repeater, and the answers that reach it go on to the original asker.

use crate::links::Link;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

/// The largest packet repeated: RFC 6762 caps a Multicast DNS packet at 9000 bytes. The receive
/// buffer holds one byte more, so that a longer (truncated) packet shows and is dropped.
const MAX_PACKET: usize = 9000;
/// A DNS header; anything shorter is not mDNS or LLMNR.
const HEADER: usize = 12;
/// How long LLMNR answers to a repeated query are passed on (a querier waits about a second
/// per try, RFC 4795).
const QUERY_LIFETIME: Duration = Duration::from_secs(3);
/// LLMNR queries in flight that are remembered; past it the oldest is forgotten.
const MAX_QUERIES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Mdns,
    Llmnr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Service {
    fn port(self) -> u16 {
        match self {
            Service::Mdns => 5353,
            Service::Llmnr => 5355,
        }
    }

    fn group(self, family: Family) -> IpAddr {
        match (self, family) {
            (Service::Mdns, Family::V4) => IpAddr::V4(Ipv4Addr::new(224, 0, 0, 251)),
            (Service::Llmnr, Family::V4) => IpAddr::V4(Ipv4Addr::new(224, 0, 0, 252)),
            (Service::Mdns, Family::V6) => IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb)),
            (Service::Llmnr, Family::V6) => IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 3)),
        }
    }

    /// mDNS is sent with TTL 255 (RFC 6762 section 11); LLMNR multicast stays on the link with
    /// the kernel's default of 1.
    fn hops(self) -> u32 {
        match self {
            Service::Mdns => 255,
            Service::Llmnr => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Service::Mdns => "mDNS",
            Service::Llmnr => "LLMNR",
        }
    }
}

/// A socket bound to a service's group on one link: it reads what the link's hosts send to the
/// group and sends what the other links' hosts sent.
struct Group {
    link: String,
    service: Service,
    family: Family,
    socket: UdpSocket,
    destination: SocketAddr,
    /// Whether the last send failed, so a link that is down is reported once, not per packet.
    failing: AtomicBool,
}

/// The socket LLMNR queries leave a link from, and their unicast answers come back to.
struct Relay {
    link: String,
    family: Family,
    socket: UdpSocket,
    failing: AtomicBool,
}

pub struct Repeater {
    groups: Vec<Group>,
    relays: Vec<Relay>,
    own: RwLock<HashSet<IpAddr>>,
    queries: Mutex<Queries>,
}

impl Repeater {
    /// Opens the sockets of every link for the families the link has.
    pub fn open(links: &[Link], own: HashSet<IpAddr>) -> Result<Arc<Repeater>, String> {
        let mut groups = Vec::new();
        let mut relays = Vec::new();
        for link in links {
            let families = [link.ipv4.map(|_| Family::V4), link.ipv6.then_some(Family::V6)];
            for family in families.into_iter().flatten() {
                for service in [Service::Mdns, Service::Llmnr] {
                    let socket = group_socket(link, service, family).map_err(|error| {
                        format!("cannot open the {} {family:?} socket on {}: {error}", service.name(), link.name)
                    })?;
                    groups.push(Group {
                        link: link.name.clone(),
                        service,
                        family,
                        socket,
                        destination: group_destination(link, service, family),
                        failing: AtomicBool::new(false),
                    });
                }
                let socket = relay_socket(link, family).map_err(|error| {
                    format!("cannot open the LLMNR {family:?} relay socket on {}: {error}", link.name)
                })?;
                relays.push(Relay { link: link.name.clone(), family, socket, failing: AtomicBool::new(false) });
            }
        }
        Ok(Arc::new(Repeater { groups, relays, own: RwLock::new(own), queries: Mutex::new(Queries::default()) }))
    }

    pub fn set_own(&self, own: HashSet<IpAddr>) {
        *self.own.write().expect("never poisoned") = own;
    }

    /// One task per socket; dropping the set stops them.
    pub fn spawn(self: &Arc<Self>) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        for group in 0..self.groups.len() {
            tasks.spawn(self.clone().read_group(group));
        }
        for relay in 0..self.relays.len() {
            tasks.spawn(self.clone().read_relay(relay));
        }
        tasks
    }

    async fn read_group(self: Arc<Self>, index: usize) {
        let group = &self.groups[index];
        let mut buffer = vec![0; MAX_PACKET + 1];
        loop {
            let Some((packet, source)) = receive(&group.socket, &mut buffer, &group.link).await else { continue };
            // The repeater's own packets (and those of the host's programs, which reach every
            // link themselves) never go round again.
            if self.own.read().expect("never poisoned").contains(&source.ip()) {
                continue;
            }
            if group.service == Service::Llmnr && !is_response(packet) {
                self.queries.lock().expect("never poisoned").remember(Instant::now(), id(packet), &group.link, source);
            }
            let others = self.groups.iter().filter(|other| {
                other.service == group.service && other.family == group.family && other.link != group.link
            });
            for other in others {
                match group.service {
                    Service::Mdns => send(&other.socket, packet, other.destination, &other.failing, &other.link),
                    Service::Llmnr => {
                        let relay = self.relays.iter().find(|r| r.link == other.link && r.family == other.family);
                        if let Some(relay) = relay {
                            send(&relay.socket, packet, other.destination, &relay.failing, &relay.link);
                        }
                    }
                }
            }
        }
    }

    async fn read_relay(self: Arc<Self>, index: usize) {
        let relay = &self.relays[index];
        let mut buffer = vec![0; MAX_PACKET + 1];
        loop {
            let Some((packet, _)) = receive(&relay.socket, &mut buffer, &relay.link).await else { continue };
            if !is_response(packet) {
                continue;
            }
            let asker = self.queries.lock().expect("never poisoned").asker(Instant::now(), id(packet), &relay.link);
            let Some((link, asker)) = asker else { continue };
            // From the group socket of the asker's link, so the answer comes from port 5355 as a
            // responder's own would.
            let group = self
                .groups
                .iter()
                .find(|group| group.link == link && group.service == Service::Llmnr && group.family == relay.family);
            if let Some(group) = group {
                send(&group.socket, packet, asker, &group.failing, &group.link);
            }
        }
    }
}

/// The next packet of a DNS size, or `None` for one to drop.
async fn receive<'a>(socket: &UdpSocket, buffer: &'a mut [u8], link: &str) -> Option<(&'a [u8], SocketAddr)> {
    match socket.recv_from(buffer).await {
        Ok((length, source)) if (HEADER..=MAX_PACKET).contains(&length) => Some((&buffer[..length], source)),
        Ok(_) => None,
        Err(error) => {
            eprintln!("plugin-multicast: reading on {link}: {error}");
            // A persistent error would otherwise spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

/// Sends without waiting: a packet that does not fit the socket's buffer now is dropped, as a
/// busy link would drop it, so nothing queues up in the repeater.
fn send(socket: &UdpSocket, packet: &[u8], destination: SocketAddr, failing: &AtomicBool, link: &str) {
    match socket.try_send_to(packet, destination) {
        Ok(_) => {
            if failing.swap(false, Ordering::Relaxed) {
                eprintln!("plugin-multicast: sending on {link} works again");
            }
        }
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
        Err(error) => {
            if !failing.swap(true, Ordering::Relaxed) {
                eprintln!("plugin-multicast: cannot send to {destination} on {link}: {error}");
            }
        }
    }
}

fn id(packet: &[u8]) -> u16 {
    u16::from_be_bytes([packet[0], packet[1]])
}

/// The QR bit of the DNS header.
fn is_response(packet: &[u8]) -> bool {
    packet[2] & 0x80 != 0
}

fn group_destination(link: &Link, service: Service, family: Family) -> SocketAddr {
    match service.group(family) {
        IpAddr::V4(group) => SocketAddr::V4(SocketAddrV4::new(group, service.port())),
        IpAddr::V6(group) => SocketAddr::V6(SocketAddrV6::new(group, service.port(), 0, link.index)),
    }
}

/// A socket of one link only: it neither hears nor sends on any other, and does not hear its own
/// packets looped back.
fn link_socket(link: &Link, family: Family, hops: u32) -> io::Result<Socket> {
    let domain = match family {
        Family::V4 => Domain::IPV4,
        Family::V6 => Domain::IPV6,
    };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    // Host programs (an mDNS responder, Home Assistant's zeroconf) listen on the same ports.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind_device(Some(link.name.as_bytes()))?;
    match family {
        Family::V4 => {
            if let Some(address) = link.ipv4 {
                socket.set_multicast_if_v4(&address)?;
            }
            socket.set_multicast_loop_v4(false)?;
            socket.set_multicast_ttl_v4(hops)?;
        }
        Family::V6 => {
            socket.set_only_v6(true)?;
            socket.set_multicast_if_v6(link.index)?;
            socket.set_multicast_loop_v6(false)?;
            socket.set_multicast_hops_v6(hops)?;
        }
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn group_socket(link: &Link, service: Service, family: Family) -> io::Result<UdpSocket> {
    let socket = link_socket(link, family, service.hops())?;
    // Bound to the group address itself, so the socket gets that group's packets only.
    let bound = group_destination(link, service, family);
    match bound.ip() {
        IpAddr::V4(group) => socket.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(link.index))?,
        IpAddr::V6(group) => socket.join_multicast_v6(&group, link.index)?,
    }
    socket.bind(&SockAddr::from(bound))?;
    UdpSocket::from_std(socket.into())
}

fn relay_socket(link: &Link, family: Family) -> io::Result<UdpSocket> {
    let socket = link_socket(link, family, Service::Llmnr.hops())?;
    // The link's own address, so the answers come to this socket (IPv6 picks the link-local one).
    let bound = match family {
        Family::V4 => SocketAddr::from((link.ipv4.unwrap_or(Ipv4Addr::UNSPECIFIED), 0)),
        Family::V6 => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    socket.bind(&SockAddr::from(bound))?;
    UdpSocket::from_std(socket.into())
}

/// The LLMNR queries repeated lately: who asked, on which link, so that answers reach them.
#[derive(Default)]
struct Queries {
    /// Oldest first.
    entries: Vec<Query>,
}

struct Query {
    id: u16,
    link: String,
    asker: SocketAddr,
    until: Instant,
}

impl Queries {
    fn remember(&mut self, now: Instant, id: u16, link: &str, asker: SocketAddr) {
        self.entries.retain(|query| query.until > now && !(query.id == id && query.asker == asker));
        if self.entries.len() >= MAX_QUERIES {
            self.entries.remove(0);
        }
        self.entries.push(Query { id, link: link.to_owned(), asker, until: now + QUERY_LIFETIME });
    }

    /// The latest asker of query `id` that an answer coming in on `link` goes to: never one of the
    /// same link, which heard the responder itself.
    fn asker(&self, now: Instant, id: u16, link: &str) -> Option<(String, SocketAddr)> {
        self.entries
            .iter()
            .rev()
            .find(|query| query.id == id && query.until > now && query.link != link)
            .map(|query| (query.link.clone(), query.asker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 40000))
    }

    #[test]
    fn answers_go_to_the_asker_while_the_query_lives() {
        let start = Instant::now();
        let mut queries = Queries::default();
        queries.remember(start, 7, "hassio", address(2));
        assert_eq!(queries.asker(start, 7, "eth0"), Some(("hassio".to_owned(), address(2))));
        assert_eq!(queries.asker(start, 8, "eth0"), None, "another query");
        assert_eq!(queries.asker(start, 7, "hassio"), None, "not back to the asker's own link");
        assert_eq!(queries.asker(start + QUERY_LIFETIME, 7, "eth0"), None, "expired");
    }

    #[test]
    fn the_latest_asker_of_an_id_wins_and_repeats_are_remembered_once() {
        let start = Instant::now();
        let mut queries = Queries::default();
        queries.remember(start, 7, "hassio", address(2));
        queries.remember(start, 7, "hassio", address(2));
        queries.remember(start, 7, "wlan0", address(3));
        assert_eq!(queries.entries.len(), 2);
        assert_eq!(queries.asker(start, 7, "eth0"), Some(("wlan0".to_owned(), address(3))));
        assert_eq!(queries.asker(start, 7, "wlan0"), Some(("hassio".to_owned(), address(2))));
    }

    #[test]
    fn the_memory_is_bounded_and_forgets_the_oldest() {
        let start = Instant::now();
        let mut queries = Queries::default();
        for id in 0..(MAX_QUERIES as u16 + 10) {
            queries.remember(start, id, "hassio", address(2));
        }
        assert_eq!(queries.entries.len(), MAX_QUERIES);
        assert_eq!(queries.asker(start, 0, "eth0"), None);
        assert!(queries.asker(start, MAX_QUERIES as u16 + 9, "eth0").is_some());
        queries.remember(start + QUERY_LIFETIME, 1000, "hassio", address(2));
        assert_eq!(queries.entries.len(), 1, "expired queries are dropped as new ones come");
    }

    #[test]
    fn header_fields() {
        let query = [0x12, 0x34, 0x00, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        let answer = [0x12, 0x34, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0];
        assert_eq!(id(&query), 0x1234);
        assert!(!is_response(&query));
        assert!(is_response(&answer));
    }
}
