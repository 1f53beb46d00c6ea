//! The host ports of an instance's forwarded ports: the one asked for, else the first free one
//! from [`FIRST_PORT`] up, as the Anka Controller's nodes hand them out.

use fleet::PortForward;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};

/// Where the search for a free host port begins.
pub(crate) const FIRST_PORT: u16 = 10000;

/// `forwards` with every host port chosen: the given ones kept, the others the first ports from
/// [`FIRST_PORT`] up that `is_free` accepts and that no other forward of the instance has.
/// `None` when no port is left.
pub(crate) fn choose(forwards: &[PortForward], is_free: impl Fn(u16, &str) -> bool) -> Option<Vec<PortForward>> {
    let mut taken: BTreeSet<u16> = forwards.iter().filter_map(|forward| forward.host_port).collect();
    let mut chosen = Vec::with_capacity(forwards.len());
    for forward in forwards {
        let mut forward = forward.clone();
        if forward.host_port.is_none() {
            let port =
                (FIRST_PORT..=u16::MAX).find(|port| !taken.contains(port) && is_free(*port, &forward.protocol))?;
            taken.insert(port);
            forward.host_port = Some(port);
        }
        chosen.push(forward);
    }
    Some(chosen)
}

/// Whether nothing on the host holds `port` (the engine's proxy of a published port included).
pub(crate) fn is_free_on_host(port: u16, protocol: &str) -> bool {
    let address = (Ipv4Addr::UNSPECIFIED, port);
    if protocol.eq_ignore_ascii_case("udp") {
        UdpSocket::bind(address).is_ok()
    } else {
        TcpListener::bind(address).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(name: &str, guest_port: u16, host_port: Option<u16>) -> PortForward {
        PortForward { name: name.into(), guest_port, host_port, host_ip: None, protocol: "tcp".into() }
    }

    #[test]
    fn a_given_port_is_kept_and_the_others_are_the_first_free_from_10000() {
        let busy = [10000, 10002];
        let chosen = choose(
            &[forward("ssh", 22, None), forward("web", 80, Some(10001)), forward("vnc", 5900, None)],
            |port, _| !busy.contains(&port),
        )
        .unwrap();
        let ports: Vec<_> = chosen.iter().map(|f| f.host_port.unwrap()).collect();
        assert_eq!(ports, [10003, 10001, 10004], "10001 is the web port's, 10000 and 10002 are busy");
        assert_eq!(chosen[0].guest_port, 22);
    }

    #[test]
    fn no_free_port_is_no_choice() {
        assert_eq!(choose(&[forward("ssh", 22, None)], |_, _| false), None);
        assert_eq!(choose(&[], |_, _| false), Some(vec![]));
    }

    #[test]
    fn a_held_port_is_not_free() {
        let held = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        assert!(!is_free_on_host(held.local_addr().unwrap().port(), "tcp"));
    }
}
