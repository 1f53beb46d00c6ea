//! systemd-logind (`org.freedesktop.login1`): the preferred way to reboot and power off, watched
//! for its presence only (the supervisor reads none of its properties).

use crate::service::Service;
use crate::watch::Properties;
use crate::Error;
use zbus::proxy;
use zbus::zvariant::Value;

/// logind has nothing the supervisor shows; `Some(LogindState)` just means it is there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogindState;

impl Properties for LogindState {
    const SERVICE: &'static str = "org.freedesktop.login1";
    const PATH: &'static str = "/org/freedesktop/login1";
    const INTERFACE: Option<&'static str> = None;

    fn apply(&mut self, _name: &str, _value: &Value<'_>) {}
}

#[proxy(
    interface = "org.freedesktop.login1.Manager",
    default_service = "org.freedesktop.login1",
    default_path = "/org/freedesktop/login1"
)]
pub trait Login1Manager {
    fn reboot(&self, interactive: bool) -> zbus::Result<()>;
    fn power_off(&self, interactive: bool) -> zbus::Result<()>;
}

/// The client of systemd-logind.
pub type Logind = Service<LogindState>;

impl Service<LogindState> {
    pub async fn reboot(&self) -> Result<(), Error> {
        let proxy: Login1ManagerProxy<'_> = self.proxy().await?;
        Self::answer(proxy.reboot(false).await)
    }

    pub async fn power_off(&self) -> Result<(), Error> {
        let proxy: Login1ManagerProxy<'_> = self.proxy().await?;
        Self::answer(proxy.power_off(false).await)
    }
}
