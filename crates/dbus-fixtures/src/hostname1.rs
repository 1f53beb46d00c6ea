//! `org.freedesktop.hostname1` at `/org/freedesktop/hostname1`: systemd-hostnamed with the values
//! of a Debian 12 virtual machine, or of Home Assistant OS 16.0 on a Home Assistant Yellow
//! (`haos` profile, whose CPE name marks it as HAOS) or a Raspberry Pi 5 (`haos-rpi5`). `SetStaticHostname` validates like
//! hostnamed (`InvalidArgs` `Invalid static hostname '<name>'`), keeps the kernel hostname in
//! step and announces both; the kernel and os-release properties never change, as on a running
//! host.

use crate::control::{Calls, Control, HasProps};
use crate::error::ServiceError;
use crate::props::Props;
use crate::Profile;
use zbus::object_server::SignalEmitter;
use zbus::{interface, Connection};

pub const BUS_NAME: &str = "org.freedesktop.hostname1";
pub const PATH: &str = "/org/freedesktop/hostname1";
const INTERFACE: &str = "org.freedesktop.hostname1";
/// What hostnamed reports as the hostname when no static one is set (Debian builds systemd
/// with this fallback).
const FALLBACK_HOSTNAME: &str = "localhost";

pub struct Hostname1 {
    props: Props,
    calls: Calls,
}

/// Exports the service's objects on a connection that has not taken the bus name yet.
pub async fn serve(connection: &Connection, profile: Profile) -> zbus::Result<()> {
    let calls = Calls::default();
    let (kernel, kernel_version, pretty_name, cpe, home) = if profile.is_haos() {
        (
            "6.12.23-haos-raspi",
            "#1 SMP PREEMPT_DYNAMIC Tue Jun 10 12:00:00 UTC 2025",
            "Home Assistant OS 16.0",
            format!("cpe:2.3:o:home-assistant:haos:16.0:*:production:*:*:*:{}:*", profile.haos_board()),
            "https://hass.io/",
        )
    } else {
        (
            "6.1.0-28-amd64",
            "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)",
            "Debian GNU/Linux 12 (bookworm)",
            String::new(),
            "https://www.debian.org/",
        )
    };
    let props = Props::default()
        .signalled("Hostname", profile.hostname())
        .signalled("StaticHostname", profile.hostname())
        .signalled("PrettyHostname", "")
        .signalled("IconName", "computer-vm")
        .signalled("Chassis", "vm")
        .signalled("Deployment", "")
        .signalled("Location", "")
        .quiet("KernelName", "Linux")
        .quiet("KernelRelease", kernel)
        .quiet("KernelVersion", kernel_version)
        .quiet("OperatingSystemPrettyName", pretty_name)
        .quiet("OperatingSystemCPEName", cpe)
        .quiet("HomeURL", home);
    let server = connection.object_server();
    server.at(PATH, Hostname1 { props, calls: calls.clone() }).await?;
    server.at(PATH, Control::new::<Hostname1>(PATH, calls)).await?;
    Ok(())
}

/// systemd's `hostname_is_valid()` without flags: dot-separated non-empty labels of ASCII
/// letters, digits and `-`, at most 64 characters in all.
fn hostname_is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

impl HasProps for Hostname1 {
    fn props_mut(&mut self) -> &mut Props {
        &mut self.props
    }
}

#[interface(name = "org.freedesktop.hostname1")]
impl Hostname1 {
    /// An empty name removes the static hostname, which sends the kernel hostname back to the
    /// fallback.
    async fn set_static_hostname(
        &mut self,
        name: String,
        interactive: bool,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), ServiceError> {
        self.calls.record(format!("SetStaticHostname({name}, {interactive})"));
        if name == self.props.get::<String>("StaticHostname") {
            return Ok(());
        }
        if !name.is_empty() && !hostname_is_valid(&name) {
            return Err(ServiceError::invalid_args(format!("Invalid static hostname '{name}'")));
        }
        let kernel = if name.is_empty() { FALLBACK_HOSTNAME.to_owned() } else { name.clone() };
        self.props.set("StaticHostname", name);
        self.props.set("Hostname", kernel);
        self.props.announce(&emitter, INTERFACE, &["StaticHostname", "Hostname"]).await?;
        Ok(())
    }

    #[zbus(property)]
    fn hostname(&self) -> String {
        self.props.get("Hostname")
    }

    #[zbus(property)]
    fn static_hostname(&self) -> String {
        self.props.get("StaticHostname")
    }

    #[zbus(property)]
    fn pretty_hostname(&self) -> String {
        self.props.get("PrettyHostname")
    }

    #[zbus(property)]
    fn icon_name(&self) -> String {
        self.props.get("IconName")
    }

    #[zbus(property)]
    fn chassis(&self) -> String {
        self.props.get("Chassis")
    }

    #[zbus(property)]
    fn deployment(&self) -> String {
        self.props.get("Deployment")
    }

    #[zbus(property)]
    fn location(&self) -> String {
        self.props.get("Location")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn kernel_name(&self) -> String {
        self.props.get("KernelName")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn kernel_release(&self) -> String {
        self.props.get("KernelRelease")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn kernel_version(&self) -> String {
        self.props.get("KernelVersion")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn operating_system_pretty_name(&self) -> String {
        self.props.get("OperatingSystemPrettyName")
    }

    #[zbus(property(emits_changed_signal = "const"), name = "OperatingSystemCPEName")]
    fn operating_system_cpe_name(&self) -> String {
        self.props.get("OperatingSystemCPEName")
    }

    #[zbus(property(emits_changed_signal = "const"), name = "HomeURL")]
    fn home_url(&self) -> String {
        self.props.get("HomeURL")
    }
}

#[cfg(test)]
mod tests {
    use super::hostname_is_valid;

    #[test]
    fn hostnames_are_validated_like_hostnamed() {
        for good in ["debian", "homeassistant", "a-b.example", "x1", &"a".repeat(64)] {
            assert!(hostname_is_valid(good), "{good}");
        }
        for bad in ["", "a..b", ".a", "a.", "under_score", "sp ace", "ü", &"a".repeat(65)] {
            assert!(!hostname_is_valid(bad), "{bad}");
        }
    }
}
