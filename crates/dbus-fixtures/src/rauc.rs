//! `de.pengutronix.rauc` at `/` (interface `de.pengutronix.rauc.Installer`): the RAUC update
//! service of Home Assistant OS with an A/B pair of kernel and rootfs slots, A booted.
//!
//! `Install(s)` runs in the background as RAUC's does: `Operation` goes `installing`, `Progress`
//! `(percentage, message, depth)` goes through RAUC's steps (each change announced), then
//! `Operation` is back to `idle` with `Completed(i)`, 0 on success. A bundle path that does not
//! exist fails at `Checking bundle` (`Completed(1)`, `LastError` set); an existing one is
//! "installed" into the other slot with the version in its file name
//! (`haos_yellow-16.1.raucb` → `16.1`), which becomes the primary slot.
//! `Mark(state, slot)` takes `good`/`bad` (boot status) or `active` (primary) for a slot name,
//! `booted` or `other`.

use crate::control::{Calls, Control, HasProps};
use crate::error::ServiceError;
use crate::props::Props;
use crate::Profile;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedValue, Str};
use zbus::{interface, Connection};

pub const BUS_NAME: &str = "de.pengutronix.rauc";
pub const PATH: &str = "/";
const INTERFACE: &str = "de.pengutronix.rauc.Installer";
const FAILED: &str = "org.freedesktop.DBus.Error.Failed";

struct Slot {
    name: &'static str,
    class: &'static str,
    device: &'static str,
    bootname: Option<&'static str>,
    parent: Option<&'static str>,
    state: &'static str,
    boot_status: &'static str,
    version: String,
}

pub struct Rauc {
    props: Props,
    calls: Calls,
    slots: Vec<Slot>,
    /// The kernel slot the bootloader starts next.
    primary: &'static str,
    /// The bundles this system takes: `haos-<board>`.
    compatible: String,
}

/// Exports the service's objects on a connection that has not taken the bus name yet.
/// It looks the same with every profile but for the board in its compatible.
pub async fn serve(connection: &Connection, profile: Profile) -> zbus::Result<()> {
    let calls = Calls::default();
    let compatible = format!("haos-{}", profile.haos_board());
    let props = Props::default()
        .signalled("Operation", "idle")
        .signalled("LastError", "")
        .signalled("Progress", (0i32, String::new(), 0i32))
        .quiet("Compatible", compatible.clone())
        .quiet("Variant", "")
        .quiet("BootSlot", "A");
    let slot = |name, class, device, bootname, parent, state, version: &str| Slot {
        name,
        class,
        device,
        bootname,
        parent,
        state,
        boot_status: "good",
        version: version.to_owned(),
    };
    let slots = vec![
        slot("kernel.0", "kernel", "/dev/disk/by-partlabel/hassos-kernel0", Some("A"), None, "booted", "16.0"),
        slot("rootfs.0", "rootfs", "/dev/disk/by-partlabel/hassos-system0", None, Some("kernel.0"), "booted", "16.0"),
        slot("kernel.1", "kernel", "/dev/disk/by-partlabel/hassos-kernel1", Some("B"), None, "inactive", "15.2"),
        slot("rootfs.1", "rootfs", "/dev/disk/by-partlabel/hassos-system1", None, Some("kernel.1"), "inactive", "15.2"),
    ];
    let server = connection.object_server();
    server.at(PATH, Rauc { props, calls: calls.clone(), slots, primary: "kernel.0", compatible }).await?;
    server.at(PATH, Control::new::<Rauc>(PATH, calls)).await?;
    Ok(())
}

impl Rauc {
    /// The kernel slot an identifier names: a slot name, `booted` or `other`.
    fn kernel_slot(&self, identifier: &str) -> Option<&'static str> {
        let booted = self.slots.iter().find(|slot| slot.class == "kernel" && slot.state == "booted")?.name;
        match identifier {
            "booted" => Some(booted),
            "other" => {
                self.slots.iter().find(|slot| slot.class == "kernel" && slot.name != booted).map(|slot| slot.name)
            }
            name => self.slots.iter().find(|slot| slot.name == name).map(|slot| slot.name),
        }
    }

    /// Writes the bundle into the other slot pair; the error is RAUC's `LastError`.
    fn install_bundle(&mut self, source: &str) -> Result<(), String> {
        if !Path::new(source).is_file() {
            return Err(format!("Failed to open bundle {source}: No such file or directory"));
        }
        let stem = Path::new(source).file_stem().and_then(|stem| stem.to_str()).unwrap_or_default();
        let version = stem.rsplit_once('-').map_or(stem, |(_, version)| version).to_owned();
        let target = self.kernel_slot("other").expect("the fixture has two kernel slots");
        for slot in self.slots.iter_mut().filter(|slot| slot.name == target || slot.parent == Some(target)) {
            slot.version.clone_from(&version);
        }
        self.primary = target;
        Ok(())
    }
}

/// The steps of an install RAUC reports in `Progress`, up to checking the bundle; the rest
/// follows when the bundle is good. Percentage, message, nesting depth.
const CHECK_STEPS: &[(i32, &str, i32)] = &[
    (0, "Installing", 1),
    (0, "Determining slot states", 2),
    (20, "Determining slot states done.", 2),
    (20, "Checking bundle", 2),
];
const INSTALL_STEPS: &[(i32, &str, i32)] = &[
    (40, "Checking bundle done.", 2),
    (40, "Checking manifest contents", 2),
    (60, "Checking manifest contents done.", 2),
    (60, "Determining target install group", 2),
    (80, "Determining target install group done.", 2),
    (80, "Updating slots", 2),
    (90, "Copying image to the other slot", 3),
    (100, "Updating slots done.", 2),
    (100, "Installing done.", 1),
];
const FAILED_STEPS: &[(i32, &str, i32)] = &[(40, "Checking bundle failed.", 2), (100, "Installing failed.", 1)];

/// The background half of `Install`: RAUC's steps as `Progress`, then the result as `Completed`.
async fn complete_install(connection: Connection, source: String) -> zbus::Result<()> {
    let iface = connection.object_server().interface::<_, Rauc>(PATH).await?;
    let progress = |steps: &'static [(i32, &'static str, i32)]| {
        let iface = iface.clone();
        async move {
            for &(percentage, message, depth) in steps {
                tokio::time::sleep(Duration::from_millis(10)).await;
                let mut rauc = iface.get_mut().await;
                rauc.props.set("Progress", (percentage, message.to_owned(), depth));
                rauc.props.announce(iface.signal_emitter(), INTERFACE, &["Progress"]).await?;
            }
            zbus::Result::Ok(())
        }
    };
    progress(CHECK_STEPS).await?;
    let outcome = iface.get_mut().await.install_bundle(&source);
    progress(if outcome.is_ok() { INSTALL_STEPS } else { FAILED_STEPS }).await?;
    let result = {
        let mut rauc = iface.get_mut().await;
        rauc.props.set("Operation", "idle");
        rauc.props.set("LastError", outcome.as_ref().err().cloned().unwrap_or_default());
        rauc.props.announce(iface.signal_emitter(), INTERFACE, &["Operation", "LastError"]).await?;
        i32::from(outcome.is_err())
    };
    Rauc::completed(iface.signal_emitter(), result).await
}

impl HasProps for Rauc {
    fn props_mut(&mut self) -> &mut Props {
        &mut self.props
    }
}

#[interface(name = "de.pengutronix.rauc.Installer")]
impl Rauc {
    async fn install(
        &mut self,
        source: String,
        #[zbus(connection)] connection: &Connection,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), ServiceError> {
        self.calls.record(format!("Install({source})"));
        if self.props.get::<String>("Operation") != "idle" {
            return Err(ServiceError::new(FAILED, "Already processing a different method"));
        }
        self.props.set("Operation", "installing");
        self.props.announce(&emitter, INTERFACE, &["Operation"]).await?;
        let connection = connection.clone();
        tokio::spawn(async move {
            if let Err(error) = complete_install(connection, source).await {
                tracing::warn!("rauc fixture: finishing the install: {error}");
            }
        });
        Ok(())
    }

    #[zbus(out_args("slot_name", "message"))]
    fn mark(&mut self, state: String, slot_identifier: String) -> Result<(String, String), ServiceError> {
        self.calls.record(format!("Mark({state}, {slot_identifier})"));
        let name = self
            .kernel_slot(&slot_identifier)
            .ok_or_else(|| ServiceError::new(FAILED, format!("No slot with name '{slot_identifier}' found")))?;
        match state.as_str() {
            "good" | "bad" => {
                let status = if state == "good" { "good" } else { "bad" };
                for slot in self.slots.iter_mut().filter(|slot| slot.name == name) {
                    slot.boot_status = status;
                }
            }
            "active" => self.primary = name,
            other => return Err(ServiceError::new(FAILED, format!("unknown state '{other}'"))),
        }
        Ok((name.to_owned(), format!("marked slot {name} as {state}")))
    }

    fn get_slot_status(&self) -> Vec<(String, HashMap<String, OwnedValue>)> {
        self.slots
            .iter()
            .map(|slot| {
                let mut status: HashMap<String, OwnedValue> = HashMap::new();
                let mut put = |key: &str, value: &str| {
                    status.insert(key.to_owned(), OwnedValue::from(Str::from(value.to_owned())));
                };
                put("class", slot.class);
                put("type", "raw");
                put("device", slot.device);
                put("state", slot.state);
                put("status", "ok");
                put("bundle.compatible", &self.compatible);
                put("bundle.version", &slot.version);
                if let Some(bootname) = slot.bootname {
                    put("bootname", bootname);
                    put("boot-status", slot.boot_status);
                }
                if let Some(parent) = slot.parent {
                    put("parent", parent);
                }
                (slot.name.to_owned(), status)
            })
            .collect()
    }

    fn get_primary(&self) -> String {
        self.primary.to_owned()
    }

    #[zbus(signal)]
    async fn completed(emitter: &SignalEmitter<'_>, result: i32) -> zbus::Result<()>;

    #[zbus(property)]
    fn operation(&self) -> String {
        self.props.get("Operation")
    }

    #[zbus(property)]
    fn last_error(&self) -> String {
        self.props.get("LastError")
    }

    #[zbus(property)]
    fn progress(&self) -> (i32, String, i32) {
        self.props.get("Progress")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn compatible(&self) -> String {
        self.props.get("Compatible")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn variant(&self) -> String {
        self.props.get("Variant")
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn boot_slot(&self) -> String {
        self.props.get("BootSlot")
    }
}
