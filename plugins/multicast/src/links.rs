//! The interfaces to repeat between, as the kernel has them now, and this host's own addresses.

use nix::ifaddrs::getifaddrs;
use nix::net::if_::if_nametoindex;
use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// One interface of `--interfaces`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub index: u32,
    /// The address IPv4 multicast leaves from; `None` when the interface has no IPv4 address, so
    /// that IPv4 is not repeated there.
    pub ipv4: Option<Ipv4Addr>,
    /// Whether the interface has an IPv6 address (a link-local one at least), so that IPv6 is
    /// repeated there.
    pub ipv6: bool,
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let families = match (self.ipv4, self.ipv6) {
            (Some(ipv4), true) => format!("{ipv4} and IPv6"),
            (Some(ipv4), false) => ipv4.to_string(),
            (None, true) => "IPv6 only".to_owned(),
            (None, false) => "no address yet".to_owned(),
        };
        write!(f, "{} ({families})", self.name)
    }
}

/// The named interfaces, in order, and every address of this host: a packet from one of them was
/// sent here (by the repeater itself, or by a program of the host that reaches each link itself).
pub fn inspect(names: &[String]) -> Result<(Vec<Link>, HashSet<IpAddr>), String> {
    let mut links = names
        .iter()
        .map(|name| {
            let index = if_nametoindex(name.as_str()).map_err(|_| format!("there is no interface {name}"))?;
            Ok(Link { name: name.clone(), index, ipv4: None, ipv6: false })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut own = HashSet::new();
    let addresses = getifaddrs().map_err(|error| format!("cannot list the interfaces' addresses: {error}"))?;
    for entry in addresses {
        let Some(address) = entry.address else { continue };
        let link = links.iter_mut().find(|link| link.name == entry.interface_name);
        if let Some(ipv4) = address.as_sockaddr_in().map(|address| address.ip()) {
            own.insert(IpAddr::V4(ipv4));
            if let Some(link) = link {
                link.ipv4.get_or_insert(ipv4);
            }
        } else if let Some(ipv6) = address.as_sockaddr_in6().map(|address| address.ip()) {
            own.insert(IpAddr::V6(ipv6));
            if let Some(link) = link {
                link.ipv6 = true;
            }
        }
    }
    Ok((links, own))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_found_with_its_addresses() {
        let (links, own) = inspect(&["lo".to_owned()]).unwrap();
        assert_eq!(links[0].name, "lo");
        assert!(links[0].index > 0);
        assert_eq!(links[0].ipv4, Some(Ipv4Addr::LOCALHOST));
        assert!(own.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[test]
    fn a_missing_interface_is_named() {
        assert_eq!(inspect(&["lo".to_owned(), "nosuchif0".to_owned()]).unwrap_err(), "there is no interface nosuchif0");
    }
}
