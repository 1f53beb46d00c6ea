//! systemd-hostnamed (`org.freedesktop.hostname1`): the hostname, chassis, deployment, kernel and
//! operating system that `/host/info` shows (and `/os/info` derives HAOS from, via the CPE
//! name), and `SetStaticHostname` for `/host/options`.

use crate::service::Service;
use crate::watch::{set_string, Properties};
use crate::Error;
use zbus::proxy;
use zbus::zvariant::Value;

/// The properties of `org.freedesktop.hostname1` the supervisor shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostnameState {
    /// The kernel's hostname (`Hostname`).
    pub hostname: String,
    /// The configured one (`StaticHostname`), which `/host/info` calls `hostname`.
    pub static_hostname: String,
    pub chassis: String,
    pub deployment: String,
    pub kernel_release: String,
    pub operating_system_pretty_name: String,
    /// `cpe:2.3:o:home-assistant:haos:<version>:...` on Home Assistant OS; empty on most others.
    pub operating_system_cpe_name: String,
}

impl Properties for HostnameState {
    const SERVICE: &'static str = "org.freedesktop.hostname1";
    const PATH: &'static str = "/org/freedesktop/hostname1";
    const INTERFACE: Option<&'static str> = Some("org.freedesktop.hostname1");

    fn apply(&mut self, name: &str, value: &Value<'_>) {
        match name {
            "Hostname" => set_string(&mut self.hostname, value),
            "StaticHostname" => set_string(&mut self.static_hostname, value),
            "Chassis" => set_string(&mut self.chassis, value),
            "Deployment" => set_string(&mut self.deployment, value),
            "KernelRelease" => set_string(&mut self.kernel_release, value),
            "OperatingSystemPrettyName" => set_string(&mut self.operating_system_pretty_name, value),
            "OperatingSystemCPEName" => set_string(&mut self.operating_system_cpe_name, value),
            _ => {}
        }
    }
}

#[proxy(
    interface = "org.freedesktop.hostname1",
    default_service = "org.freedesktop.hostname1",
    default_path = "/org/freedesktop/hostname1"
)]
pub trait Hostname1 {
    fn set_static_hostname(&self, hostname: &str, interactive: bool) -> zbus::Result<()>;
}

/// The client of systemd-hostnamed.
pub type Hostname = Service<HostnameState>;

impl Service<HostnameState> {
    /// Sets the static hostname (and with it the kernel's); an empty name removes it. An invalid
    /// name is refused with `org.freedesktop.DBus.Error.InvalidArgs`.
    pub async fn set_static_hostname(&self, hostname: &str) -> Result<(), Error> {
        let proxy: Hostname1Proxy<'_> = self.proxy().await?;
        Self::answer(proxy.set_static_hostname(hostname, false).await)
    }
}
