//! Devices plugged in while add-ons run, as the hardware monitor tells of them.
//!
//! A device of a class an add-on's grants cover opens at once: its node appears in the
//! container's `/dev` (the host's, bound) and the class was allowed when the container was made.
//! A device the add-on names itself (`devices`, or a `device` option) is allowed by its numbers,
//! which are known only once it is there: when it comes while the add-on runs, the supervisor
//! asks the OS Agent to add its rule to the running container, as the real Supervisor does;
//! where that can't be done, the resolution center learns that the add-on lacks the device until
//! it restarts (`device_access_missing`, fixed by restarting it). A device removed needs nothing:
//! its node goes from the host's `/dev`, and so from the container's.

use crate::container;
use crate::manager::AddonManager;
use hardware::monitor::Change;
use hardware::{policy, Device, HardwareManager};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

impl AddonManager {
    /// Makes containers with the host's devices and follows the devices that come.
    pub fn set_hardware(&self, hardware: Arc<HardwareManager>) {
        let mut changes = hardware.subscribe();
        if self.inner.hardware.set(hardware).is_err() {
            return;
        }
        let manager = self.clone();
        tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(Change::Added(device)) => manager.device_added(&device).await,
                    Ok(Change::Removed(_)) => {}
                    Err(RecvError::Lagged(missed)) => tracing::warn!("missed {missed} hardware changes"),
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    /// The host's root and its devices now (none before the hardware is known).
    pub(crate) async fn host_devices(&self) -> (PathBuf, Vec<Device>) {
        let Some(hardware) = self.inner.hardware.get().cloned() else { return (PathBuf::from("/"), Vec::new()) };
        let root = hardware.root().to_path_buf();
        let devices = tokio::task::spawn_blocking(move || hardware.devices()).await.unwrap_or_default();
        (root, devices)
    }

    /// Gives `device` to each running add-on that names it and was made without it.
    async fn device_added(&self, device: &Device) {
        let Some(rule) = policy::rule(device) else { return };
        let Some(hardware) = self.inner.hardware.get().cloned() else { return };
        let naming: Vec<_> = self
            .list()
            .into_iter()
            .filter(|addon| container::named_devices(addon).iter().any(|path| device.is_named(path)))
            .collect();
        if naming.is_empty() {
            return;
        }
        let (_, devices) = self.host_devices().await;
        let allowed = policy::allowed(device, &devices);
        for addon in naming {
            let slug = addon.slug.as_str();
            if !allowed {
                let name = &addon.config().name;
                tracing::error!(
                    addon = slug,
                    "App {name} tried to access blocked device {} via hardware event!",
                    device.name
                );
                continue;
            }
            let Ok(Some(container)) = self.inspect(slug).await else { continue };
            if !container.state.as_ref().and_then(|state| state.running).unwrap_or(false) {
                continue;
            }
            let granted = container.host_config.and_then(|host| host.device_cgroup_rules).unwrap_or_default();
            if allows(&granted, device, &rule) {
                continue;
            }
            let id = container.id.unwrap_or_default();
            match hardware.allow_devices(&id, &rule).await {
                Ok(()) => {
                    tracing::info!(addon = slug, "Added cgroup permissions '{rule}' for device {}", device.dev_path)
                }
                Err(why) => {
                    tracing::warn!(addon = slug, "can't give it {} until it restarts: {why}", device.dev_path);
                    self.inner.jobs.system().raise_issue(access_missing(slug));
                }
            }
        }
    }
}

/// Whether the rules a container was made with let it open `device` already.
fn allows(granted: &[String], device: &Device, rule: &str) -> bool {
    let class = device.number().map(|(major, _)| format!("c {major}:* rwm"));
    granted.iter().any(|given| given == rule || given == policy::FULL_ACCESS || Some(given) == class.as_ref())
}

/// The add-on can't open a device it needs until it restarts.
pub(crate) fn access_missing(slug: &str) -> base::system::RaisedIssue {
    base::system::RaisedIssue {
        kind: "device_access_missing",
        context: "addon",
        reference: Some(slug.to_owned()),
        extra: None,
        suggestions: vec!["execute_restart"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_class_rule_or_full_access_already_allows_a_device() {
        let device = Device {
            name: "ttyUSB1".to_owned(),
            sysfs: "/sys/devices/usb1/ttyUSB1".to_owned(),
            dev_path: "/dev/ttyUSB1".to_owned(),
            subsystem: "tty".to_owned(),
            by_id: None,
            attributes: BTreeMap::from([("MAJOR".to_owned(), "188".to_owned()), ("MINOR".to_owned(), "1".to_owned())]),
            children: Vec::new(),
        };
        let rule = "c 188:1 rwm";
        assert!(allows(&["c 188:* rwm".to_owned()], &device, rule));
        assert!(allows(&["a *:* rwm".to_owned()], &device, rule));
        assert!(allows(&[rule.to_owned()], &device, rule));
        assert!(!allows(&["c 188:0 rwm".to_owned(), "c 166:* rwm".to_owned()], &device, rule));
        assert!(!allows(&[], &device, rule));
    }
}
