//! systemd-resolved (`org.freedesktop.resolve1`): the LLMNR and multicast DNS settings and the
//! LLMNR hostname that `/host/info` shows.
//!
//! resolved announces only `LLMNRHostname`; `LLMNR` and `MulticastDNS` are as of the last read
//! (start, reappearance or [`Service::refresh`]).

use crate::service::Service;
use crate::watch::{set_string, Properties};
use zbus::zvariant::Value;

/// The properties of `org.freedesktop.resolve1.Manager` the supervisor shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedState {
    pub llmnr_hostname: String,
    /// `yes`, `no` or `resolve`.
    pub llmnr: String,
    /// `yes`, `no` or `resolve`.
    pub multicast_dns: String,
}

impl ResolvedState {
    /// `broadcast_llmnr` of `/host/info`: whether this host answers LLMNR queries.
    pub fn broadcast_llmnr(&self) -> Option<bool> {
        broadcasts(&self.llmnr)
    }

    /// `broadcast_mdns` of `/host/info`: whether this host answers multicast DNS queries.
    pub fn broadcast_mdns(&self) -> Option<bool> {
        broadcasts(&self.multicast_dns)
    }
}

/// Only `yes` announces the host; `resolve` only asks. Unset is unknown.
fn broadcasts(mode: &str) -> Option<bool> {
    (!mode.is_empty()).then(|| mode == "yes")
}

impl Properties for ResolvedState {
    const SERVICE: &'static str = "org.freedesktop.resolve1";
    const PATH: &'static str = "/org/freedesktop/resolve1";
    const INTERFACE: Option<&'static str> = Some("org.freedesktop.resolve1.Manager");

    fn apply(&mut self, name: &str, value: &Value<'_>) {
        match name {
            "LLMNRHostname" => set_string(&mut self.llmnr_hostname, value),
            "LLMNR" => set_string(&mut self.llmnr, value),
            "MulticastDNS" => set_string(&mut self.multicast_dns, value),
            _ => {}
        }
    }
}

/// The client of systemd-resolved.
pub type Resolved = Service<ResolvedState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_yes_broadcasts() {
        let state = |llmnr: &str| ResolvedState { llmnr: llmnr.to_owned(), ..ResolvedState::default() };
        assert_eq!(state("yes").broadcast_llmnr(), Some(true));
        assert_eq!(state("resolve").broadcast_llmnr(), Some(false));
        assert_eq!(state("no").broadcast_llmnr(), Some(false));
        assert_eq!(state("").broadcast_llmnr(), None);
    }
}
