//! RAUC (`de.pengutronix.rauc`, object `/`, interface `de.pengutronix.rauc.Installer`): the
//! update service of Home Assistant OS. Its state (operation, boot slot, ...) is watched; the
//! slots are read on demand; an install reports RAUC's `Progress` as it changes and waits for
//! RAUC's `Completed` signal.

use crate::service::Service;
use crate::watch::{set_string, Properties};
use crate::Error;
use futures_util::StreamExt;
use std::collections::HashMap;
use zbus::proxy;
use zbus::zvariant::{ObjectPath, OwnedValue, Value};

/// The properties of the RAUC installer the supervisor uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaucState {
    /// `idle` or `installing`.
    pub operation: String,
    pub last_error: String,
    pub compatible: String,
    pub variant: String,
    /// The bootname of the booted slot: `A` or `B`.
    pub boot_slot: String,
}

impl Properties for RaucState {
    const SERVICE: &'static str = "de.pengutronix.rauc";
    const PATH: &'static str = "/";
    const INTERFACE: Option<&'static str> = Some("de.pengutronix.rauc.Installer");

    fn apply(&mut self, name: &str, value: &Value<'_>) {
        match name {
            "Operation" => set_string(&mut self.operation, value),
            "LastError" => set_string(&mut self.last_error, value),
            "Compatible" => set_string(&mut self.compatible, value),
            "Variant" => set_string(&mut self.variant, value),
            "BootSlot" => set_string(&mut self.boot_slot, value),
            _ => {}
        }
    }
}

/// RAUC's `Progress` property during an install: `(percentage, message, nesting depth)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// 0 to 100, for the whole install.
    pub percentage: i32,
    /// E.g. `Checking bundle` or `Copying image to rootfs.1 done.`.
    pub message: String,
    /// 1 for the install itself, deeper for its steps.
    pub depth: i32,
}

impl Progress {
    fn from_value(value: &Value<'_>) -> Option<Progress> {
        let Value::Structure(structure) = value else { return None };
        match structure.fields() {
            [Value::I32(percentage), Value::Str(message), Value::I32(depth)] => {
                Some(Progress { percentage: *percentage, message: message.to_string(), depth: *depth })
            }
            _ => None,
        }
    }
}

/// One slot of `GetSlotStatus`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// `kernel.0`, `rootfs.1`, ...
    pub name: String,
    pub class: String,
    /// `booted`, `active` or `inactive`.
    pub state: String,
    pub device: String,
    /// `A`/`B` for the slots the bootloader starts.
    pub bootname: Option<String>,
    /// `good` or `bad`.
    pub boot_status: Option<String>,
    pub bundle_version: Option<String>,
    pub parent: Option<String>,
}

impl Slot {
    fn from_status(name: String, status: &HashMap<String, OwnedValue>) -> Slot {
        let text = |key: &str| status.get(key).and_then(|value| <&str>::try_from(&**value).ok()).map(str::to_owned);
        Slot {
            name,
            class: text("class").unwrap_or_default(),
            state: text("state").unwrap_or_default(),
            device: text("device").unwrap_or_default(),
            bootname: text("bootname"),
            boot_status: text("boot-status"),
            bundle_version: text("bundle.version"),
            parent: text("parent"),
        }
    }
}

#[proxy(interface = "de.pengutronix.rauc.Installer", default_service = "de.pengutronix.rauc", default_path = "/")]
pub trait Installer {
    fn install(&self, source: &str) -> zbus::Result<()>;
    fn mark(&self, state: &str, slot_identifier: &str) -> zbus::Result<(String, String)>;
    fn get_slot_status(&self) -> zbus::Result<Vec<(String, HashMap<String, OwnedValue>)>>;
    fn get_primary(&self) -> zbus::Result<String>;
    #[zbus(signal)]
    fn completed(&self, result: i32) -> zbus::Result<()>;
}

/// The client of RAUC.
pub type Rauc = Service<RaucState>;

impl Service<RaucState> {
    /// Installs the bundle at `source` (a path on the host) and waits for RAUC to finish, telling
    /// `progress` about every change of RAUC's `Progress` on the way. Returns RAUC's result: 0 for
    /// success, anything else a failure described by `LastError`.
    pub async fn install(&self, source: &str, mut progress: impl FnMut(&Progress)) -> Result<i32, Error> {
        let proxy: InstallerProxy<'_> = self.proxy().await?;
        let properties = self.properties_of(ObjectPath::from_static_str_unchecked(RaucState::PATH)).await?;
        // Subscribed before the call: the first steps and even the result may come at once.
        let interface = RaucState::INTERFACE.expect("RAUC's installer has properties");
        let mut changes = Self::answer(properties.receive_properties_changed_with_args(&[(0, interface)]).await)?;
        let mut completed = Self::answer(proxy.receive_completed().await)?;
        Self::answer(proxy.install(source).await)?;
        let mut state = self.subscribe();
        loop {
            tokio::select! {
                // Changes first: RAUC sends its last progress before `Completed`, and both may be
                // waiting when the loop wakes up.
                biased;
                change = changes.next() => {
                    let Some(change) = change else { return Err(Error::Unavailable(RaucState::SERVICE)) };
                    let Ok(args) = change.args() else { continue };
                    if let Some(now) = args.changed_properties().get("Progress").and_then(|value| Progress::from_value(value)) {
                        progress(&now);
                    }
                }
                signal = completed.next() => return match signal.map(|signal| signal.args().map(|args| args.result)) {
                    Some(Ok(result)) => Ok(result),
                    Some(Err(error)) => Err(Error::from_call(RaucState::SERVICE, error)),
                    None => Err(Error::Unavailable(RaucState::SERVICE)),
                },
                _ = state.wait_for(Option::is_none) => return Err(Error::Unavailable(RaucState::SERVICE)),
            }
        }
    }

    /// Marks a slot (`booted`, `other` or a slot name) `good`, `bad` or `active`; returns the
    /// slot's name and RAUC's message.
    pub async fn mark(&self, state: &str, slot: &str) -> Result<(String, String), Error> {
        let proxy: InstallerProxy<'_> = self.proxy().await?;
        Self::answer(proxy.mark(state, slot).await)
    }

    pub async fn slots(&self) -> Result<Vec<Slot>, Error> {
        let proxy: InstallerProxy<'_> = self.proxy().await?;
        let status = Self::answer(proxy.get_slot_status().await)?;
        Ok(status.into_iter().map(|(name, status)| Slot::from_status(name, &status)).collect())
    }

    /// The slot the bootloader will start next.
    pub async fn primary(&self) -> Result<String, Error> {
        let proxy: InstallerProxy<'_> = self.proxy().await?;
        Self::answer(proxy.get_primary().await)
    }
}
