//! The container network's gateway kept from other networks, as the real Supervisor does at the
//! host's load: a oneshot transient unit `supervisor-firewall-gateway.service` whose shell
//! commands insert, unless there, two rules per address family at the top of the raw table's
//! PREROUTING chain: packets for the gateway from the loopback are accepted, from any interface
//! but the network's bridge dropped. The supervisor serves containers on the gateway; nothing
//! else on the LAN should reach it there. A unit that fails or does not finish in time makes the
//! system unhealthy (`docker_gateway_unprotected`).
//!
//! Without systemd the rules are not applied and only that is logged: the real one makes the
//! system unhealthy then too, but here a missing service makes its feature unavailable (the
//! system is unsupported for it already), never the whole supervisor unusable.

use crate::manager::HostManager;
use base::system::System;
use dbus::systemd::UnitJob;
use dbus::zvariant::Value;
use std::net::IpAddr;
use std::time::Duration;

/// The unit the rules are applied by.
pub const FIREWALL_SERVICE: &str = "supervisor-firewall-gateway.service";
/// The unhealthy reason of a gateway left open.
pub const UNPROTECTED: &str = "docker_gateway_unprotected";
/// How long the unit may take.
const TIMEOUT: Duration = Duration::from_secs(30);
const SH: &str = "/bin/sh";

/// One `ExecStart` entry as systemd takes it: the binary, its argv, whether a failure is ignored.
type ExecStart = (String, Vec<String>, bool);

/// The unit's commands for the bridge interface `bridge` and its addresses `gateways`: for each,
/// the drop first and the loopback's accept after it, both inserted at the top, so that the
/// accept comes first in the chain; each checked first, so that applying them again adds none.
pub fn exec_start(bridge: &str, gateways: &[IpAddr]) -> Vec<ExecStart> {
    let mut entries = Vec::new();
    for gateway in gateways {
        let iptables = if gateway.is_ipv4() { "/usr/sbin/iptables" } else { "/usr/sbin/ip6tables" };
        for rule in [format!("! -i {bridge} -d {gateway} -j DROP"), format!("-i lo -d {gateway} -j ACCEPT")] {
            let command =
                format!("{iptables} -t raw -C PREROUTING {rule} 2>/dev/null || {iptables} -t raw -I PREROUTING {rule}");
            entries.push((SH.to_owned(), vec![SH.to_owned(), "-c".to_owned(), command], false));
        }
    }
    entries
}

impl HostManager {
    /// Applies the rules that keep the gateway `gateways` of the bridge `bridge` from other
    /// interfaces; a failure makes `system` unhealthy.
    pub async fn protect_gateway(&self, bridge: &str, gateways: &[IpAddr], system: &System) {
        let systemd = &self.services().systemd;
        if !systemd.is_available() {
            tracing::warn!("Systemd not available, cannot apply gateway firewall rules");
            return;
        }
        // A failed unit of an earlier start would refuse the new one.
        if let Err(e) = systemd.reset_failed_unit(FIREWALL_SERVICE).await {
            tracing::debug!("no failed {FIREWALL_SERVICE} to reset: {e}");
        }
        let properties = [
            ("Description", Value::from("Supervisor gateway firewall rules")),
            ("Type", Value::from("oneshot")),
            ("ExecStart", Value::from(exec_start(bridge, gateways))),
        ];
        let failure = match systemd
            .run_job(UnitJob::StartTransientReplacing(FIREWALL_SERVICE, &properties), TIMEOUT)
            .await
        {
            Ok(Some(result)) if result == "done" => {
                tracing::info!("Gateway firewall rules applied");
                return;
            }
            Ok(Some(result)) => format!("Gateway firewall unit failed ({result}), iptables rules may not be applied"),
            Ok(None) => format!("Failed waiting for gateway firewall unit to complete in {}s", TIMEOUT.as_secs()),
            Err(e) => format!("Failed to apply gateway firewall rules: {e}"),
        };
        tracing::error!("{failure}");
        system.mark_unhealthy(UNPROTECTED, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_drop_what_comes_to_the_gateway_from_elsewhere_and_accept_the_loopback() {
        let gateways = ["172.30.32.1".parse().unwrap(), "fd0c:ac1e:2100::1".parse().unwrap()];
        let entries = exec_start("hassio", &gateways);
        let commands: Vec<&str> = entries
            .iter()
            .map(|(binary, argv, ignore)| {
                assert_eq!((binary.as_str(), &argv[..2], *ignore), (SH, &[SH.to_owned(), "-c".to_owned()][..], false));
                argv[2].as_str()
            })
            .collect();
        assert_eq!(
            commands,
            [
                "/usr/sbin/iptables -t raw -C PREROUTING ! -i hassio -d 172.30.32.1 -j DROP 2>/dev/null \
                 || /usr/sbin/iptables -t raw -I PREROUTING ! -i hassio -d 172.30.32.1 -j DROP",
                "/usr/sbin/iptables -t raw -C PREROUTING -i lo -d 172.30.32.1 -j ACCEPT 2>/dev/null \
                 || /usr/sbin/iptables -t raw -I PREROUTING -i lo -d 172.30.32.1 -j ACCEPT",
                "/usr/sbin/ip6tables -t raw -C PREROUTING ! -i hassio -d fd0c:ac1e:2100::1 -j DROP 2>/dev/null \
                 || /usr/sbin/ip6tables -t raw -I PREROUTING ! -i hassio -d fd0c:ac1e:2100::1 -j DROP",
                "/usr/sbin/ip6tables -t raw -C PREROUTING -i lo -d fd0c:ac1e:2100::1 -j ACCEPT 2>/dev/null \
                 || /usr/sbin/ip6tables -t raw -I PREROUTING -i lo -d fd0c:ac1e:2100::1 -j ACCEPT",
            ]
        );
    }
}
