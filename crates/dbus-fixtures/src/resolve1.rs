//! `org.freedesktop.resolve1` at `/org/freedesktop/resolve1`: systemd-resolved's Manager with
//! Debian's defaults (LLMNR on, multicast DNS off). Only `LLMNRHostname` is announced when it
//! changes; `LLMNR`, `MulticastDNS` and the DNS modes are not, as in resolved, so clients must
//! re-read them.

use crate::control::{Calls, Control, HasProps};
use crate::props::Props;
use crate::Profile;
use zbus::{interface, Connection};

pub const BUS_NAME: &str = "org.freedesktop.resolve1";
pub const PATH: &str = "/org/freedesktop/resolve1";

pub struct Resolve1 {
    props: Props,
}

/// Exports the service's objects on a connection that has not taken the bus name yet.
pub async fn serve(connection: &Connection, profile: Profile) -> zbus::Result<()> {
    let props = Props::default()
        .signalled("LLMNRHostname", profile.hostname())
        .quiet("LLMNR", "yes")
        .quiet("MulticastDNS", "no")
        .quiet("DNSOverTLS", "no")
        .quiet("DNSSEC", "no")
        .quiet("DNSSECSupported", false)
        .quiet("DNSStubListener", "yes")
        .quiet("ResolvConfMode", "stub");
    let server = connection.object_server();
    server.at(PATH, Resolve1 { props }).await?;
    server.at(PATH, Control::new::<Resolve1>(PATH, Calls::default())).await?;
    Ok(())
}

impl HasProps for Resolve1 {
    fn props_mut(&mut self) -> &mut Props {
        &mut self.props
    }
}

#[interface(name = "org.freedesktop.resolve1.Manager")]
impl Resolve1 {
    #[zbus(property, name = "LLMNRHostname")]
    fn llmnr_hostname(&self) -> String {
        self.props.get("LLMNRHostname")
    }

    #[zbus(property(emits_changed_signal = "false"), name = "LLMNR")]
    fn llmnr(&self) -> String {
        self.props.get("LLMNR")
    }

    #[zbus(property(emits_changed_signal = "false"), name = "MulticastDNS")]
    fn multicast_dns(&self) -> String {
        self.props.get("MulticastDNS")
    }

    #[zbus(property(emits_changed_signal = "false"), name = "DNSOverTLS")]
    fn dns_over_tls(&self) -> String {
        self.props.get("DNSOverTLS")
    }

    #[zbus(property(emits_changed_signal = "false"), name = "DNSSEC")]
    fn dnssec(&self) -> String {
        self.props.get("DNSSEC")
    }

    #[zbus(property(emits_changed_signal = "false"), name = "DNSSECSupported")]
    fn dnssec_supported(&self) -> bool {
        self.props.get("DNSSECSupported")
    }

    #[zbus(property(emits_changed_signal = "false"), name = "DNSStubListener")]
    fn dns_stub_listener(&self) -> String {
        self.props.get("DNSStubListener")
    }

    #[zbus(property(emits_changed_signal = "false"))]
    fn resolv_conf_mode(&self) -> String {
        self.props.get("ResolvConfMode")
    }
}
