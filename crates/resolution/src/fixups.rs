//! The fixups: what applying a suggestion does, by its type and context, as the real
//! Supervisor's fixups do it. Each runs as the job `fixup_<fixup>_process` through the managers'
//! own operations, so their jobs and conditions apply too.

use crate::checks::{DATA_DISK_LABEL, MINIMUM_FULL_BACKUPS, OLD_DATA_DISK_LABEL};
use crate::model::{ContextType, IssueType, Suggestion, SuggestionType};
use crate::Parts;
use base::Error;

/// A fixup: the suggestion it applies and the issues it fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixup {
    /// The real fixup's module name; its job is `fixup_<slug>_process`.
    pub slug: &'static str,
    pub suggestion: SuggestionType,
    pub context: ContextType,
    pub fixes: &'static [IssueType],
    /// Whether the supervisor applies it by itself after each health check.
    pub auto: Auto,
}

/// When the supervisor applies a fixup by itself, after each health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auto {
    Never,
    Always,
    /// While it was tried fewer times than this since the supervisor started (a repair that
    /// keeps failing is left to the user).
    Attempts(u32),
}

/// How often the repair of an add-on's image is tried by itself, as the real one.
const REPAIR_AUTO_ATTEMPTS: u32 = 5;

const fn fixup(
    slug: &'static str,
    suggestion: SuggestionType,
    context: ContextType,
    fixes: &'static [IssueType],
    auto: Auto,
) -> Fixup {
    Fixup { slug, suggestion, context, fixes, auto }
}

use ContextType as C;
use IssueType as I;
use SuggestionType as S;

/// Every fixup this supervisor can apply: the real Supervisor's, and the reset of the dns plugin
/// that its `dns_loop` suggests (the real one has no fixup for it, so applying it there does
/// nothing).
pub const FIXUPS: [Fixup; 23] = [
    fixup("app_clear_port_config", S::ClearPortConfig, C::Addon, &[I::AppPortConflict], Auto::Never),
    fixup("app_execute_rebuild", S::ExecuteRebuild, C::Addon, &[I::DockerConfig], Auto::Never),
    fixup(
        "app_execute_remove",
        S::ExecuteRemove,
        C::Addon,
        &[I::DetachedAppRemoved, I::DeprecatedApp, I::DeprecatedArchApp],
        Auto::Never,
    ),
    fixup("app_execute_repair", S::ExecuteRepair, C::Addon, &[I::MissingImage], Auto::Attempts(REPAIR_AUTO_ATTEMPTS)),
    fixup("app_execute_start", S::ExecuteStart, C::Addon, &[I::BootFail, I::AppPortConflict], Auto::Never),
    fixup("app_execute_restart", S::ExecuteRestart, C::Addon, &[I::DeviceAccessMissing], Auto::Never),
    fixup("core_execute_rebuild", S::ExecuteRebuild, C::Core, &[I::DockerConfig], Auto::Never),
    fixup("system_execute_rebuild", S::ExecuteRebuild, C::System, &[I::DockerConfig], Auto::Never),
    fixup("store_execute_reload", S::ExecuteReload, C::Store, &[I::FatalError], Auto::Always),
    fixup("store_execute_remove", S::ExecuteRemove, C::Store, &[I::CorruptRepository], Auto::Never),
    fixup("store_execute_reset", S::ExecuteReset, C::Store, &[I::CorruptRepository, I::FatalError], Auto::Always),
    fixup("system_clear_full_backup", S::ClearFullBackup, C::System, &[I::FreeSpace], Auto::Never),
    fixup("system_create_full_backup", S::CreateFullBackup, C::System, &[I::NoCurrentBackup], Auto::Never),
    fixup("system_execute_reboot", S::ExecuteReboot, C::System, &[I::RebootRequired], Auto::Never),
    fixup("system_enable_ntp", S::EnableNtp, C::System, &[I::NtpSyncFailed], Auto::Never),
    fixup(
        "system_rename_data_disk",
        S::RenameDataDisk,
        C::System,
        &[I::DisabledDataDisk, I::MultipleDataDisks],
        Auto::Never,
    ),
    fixup(
        "system_adopt_data_disk",
        S::AdoptDataDisk,
        C::System,
        &[I::DisabledDataDisk, I::MultipleDataDisks],
        Auto::Never,
    ),
    fixup("systemd_unit_execute_restart", S::ExecuteRestart, C::System, &[I::SystemdUnitFailed], Auto::Never),
    fixup("systemd_unit_execute_reset", S::ExecuteReset, C::System, &[I::SystemdUnitFailed], Auto::Never),
    fixup("mount_execute_reload", S::ExecuteReload, C::Mount, &[I::MountFailed], Auto::Never),
    fixup("mount_execute_remove", S::ExecuteRemove, C::Mount, &[I::MountFailed], Auto::Never),
    fixup("app_disable_boot", S::DisableBoot, C::Addon, &[I::BootFail], Auto::Never),
    fixup("plugin_execute_reset", S::ExecuteReset, C::Plugin, &[I::DnsLoop], Auto::Never),
];

/// The fixups that run when `suggestion` is applied.
pub fn for_suggestion(suggestion: &Suggestion) -> impl Iterator<Item = &'static Fixup> + '_ {
    FIXUPS.iter().filter(|f| f.suggestion == suggestion.kind && f.context == suggestion.subject.context)
}

/// Whether a fixup of this suggestion fixes issues of `kind`.
pub fn fixes(suggestion: &Suggestion, kind: IssueType) -> bool {
    for_suggestion(suggestion).any(|f| f.fixes.contains(&kind))
}

impl Fixup {
    /// Whether the supervisor applies it by itself, having tried it `attempts` times.
    pub fn automatic(&self, attempts: u32) -> bool {
        match self.auto {
            Auto::Never => false,
            Auto::Always => true,
            Auto::Attempts(most) => attempts < most,
        }
    }

    /// Whether applying the suggestion again cannot help after this fixup failed: a repository
    /// still invalid after its reset has its problem upstream. The suggestion then goes, and its
    /// issue stays (with its other suggestions) so that the user knows.
    pub async fn hopeless(&self, parts: &Parts, suggestion: &Suggestion) -> bool {
        let Some(slug) = suggestion.subject.reference.as_deref() else { return false };
        self.slug == "store_execute_reset" && parts.store.checkout_invalid(slug).await
    }

    /// Does what the suggestion says; an error leaves its issue in place.
    pub async fn process(&self, parts: &Parts, suggestion: &Suggestion) -> Result<(), Error> {
        let reference = suggestion.subject.reference.clone().unwrap_or_default();
        match self.slug {
            "app_clear_port_config" => {
                let port = suggestion.subject.reference_extra.as_ref().and_then(|extra| extra.get("port")?.as_u64());
                let Some(port) = port else { return Ok(()) };
                let addon = parts.addons.get(&reference).ok_or_else(|| missing_addon(&reference))?;
                let mut ports = addon.user.network.clone().unwrap_or_else(|| addon.config().ports.clone());
                for host_port in ports.values_mut() {
                    if host_port.map(u64::from) == Some(port) {
                        *host_port = None;
                    }
                }
                parts.addons.update_user(&reference, |user| user.network = Some(ports))
            }
            "app_execute_rebuild" => recreate_addon(parts, &reference).await,
            "app_execute_remove" => parts.addons.uninstall(&reference, false, false).await.map(drop),
            "app_execute_repair" => parts.addons.repair(&reference).await,
            "app_execute_start" => parts.addons.start(&reference).await,
            "app_execute_restart" => parts.addons.restart(&reference, false).await,
            "app_disable_boot" => parts.addons.update_user(&reference, |user| user.boot = Some(addons::Boot::Manual)),
            "core_execute_rebuild" => parts.core.rebuild(false, true).await,
            "system_execute_rebuild" => {
                for finding in crate::checks::docker_config(parts).await.unwrap_or_default() {
                    match (finding.subject.context, finding.subject.reference.as_deref()) {
                        (C::Core, _) => parts.core.rebuild(false, true).await?,
                        (C::Addon, Some(slug)) => recreate_addon(parts, slug).await?,
                        _ => {}
                    }
                }
                Ok(())
            }
            "store_execute_reload" => parts.store.reload(false).await.map(drop),
            "store_execute_remove" => parts.store.remove_repository(&reference).await,
            "store_execute_reset" => match parts.store.reset_repository(&reference).await {
                Err(e) if e.kind == base::Kind::NotFound => {
                    tracing::warn!("Can't find store {reference} for fixup");
                    Ok(())
                }
                reset => reset,
            },
            "system_clear_full_backup" => clear_full_backups(parts),
            "system_create_full_backup" => create_full_backup(parts).await,
            "system_execute_reboot" => parts.host.reboot().await,
            "system_enable_ntp" => {
                tracing::info!("Starting {}", host::TIMESYNCD);
                parts
                    .host
                    .services()
                    .systemd
                    .start_unit(host::TIMESYNCD)
                    .await
                    .map(drop)
                    .map_err(|e| Error::internal(format!("Can't start {}: {e}", host::TIMESYNCD)))
            }
            "system_rename_data_disk" => rename_data_disk(parts, &reference).await,
            "system_adopt_data_disk" => adopt_data_disk(parts, &reference).await,
            "systemd_unit_execute_restart" => parts.host.unit_action(&reference, host::UnitAction::Restart).await,
            "systemd_unit_execute_reset" => parts
                .host
                .services()
                .systemd
                .reset_failed_unit(&reference)
                .await
                .map_err(|e| Error::internal(format!("Can't reset the failed unit {reference}: {e}"))),
            "mount_execute_reload" => parts.mounts.reload(&reference).await,
            "mount_execute_remove" => parts.mounts.remove(&reference).await,
            "plugin_execute_reset" if reference == "dns" => parts.plugins.reset_dns().await,
            "plugin_execute_reset" => Ok(()),
            other => Err(Error::internal(format!("The fixup {other} does not exist"))),
        }
    }
}

/// Makes the add-on's container again with its current settings: a running add-on is
/// restarted (its container is made anew at each start); a stopped one gets its new container
/// at its next start.
async fn recreate_addon(parts: &Parts, slug: &str) -> Result<(), Error> {
    parts.addons.get(slug).ok_or_else(|| missing_addon(slug))?;
    if matches!(parts.addons.state(slug).await, addons::AddonState::Started | addons::AddonState::Startup) {
        parts.addons.restart(slug, false).await?;
    }
    Ok(())
}

fn missing_addon(slug: &str) -> Error {
    Error::not_found(format!("App {slug} is not installed"))
}

/// Removes the oldest full backups, keeping the newest [`MINIMUM_FULL_BACKUPS`].
fn clear_full_backups(parts: &Parts) -> Result<(), Error> {
    let mut full: Vec<_> =
        parts.backups.list().into_iter().filter(|b| b.meta().kind == backups::BackupType::Full).collect();
    if full.len() <= MINIMUM_FULL_BACKUPS {
        return Ok(());
    }
    full.sort_by(|a, b| a.meta().date.cmp(&b.meta().date));
    let remove = full.len() - MINIMUM_FULL_BACKUPS;
    tracing::info!("Starting removal of old full backups");
    for backup in &full[..remove] {
        if let Err(e) = parts.backups.remove(&backup.meta().slug, None) {
            tracing::debug!("Can't remove backup {}: {}", backup.meta().slug, e.message);
        }
    }
    Ok(())
}

/// The UDisks2 object of the block device `device` and whether it holds a file system.
fn block_of(parts: &Parts, device: &str) -> Option<(String, String, bool)> {
    let disks = parts.host.services().udisks2.state()?;
    let block = disks.block_by_device(device)?;
    Some((block.path.clone(), block.id_label.clone(), block.filesystem.is_some()))
}

async fn set_label(parts: &Parts, device: &str, path: &str, label: &str) -> Result<(), Error> {
    parts
        .host
        .services()
        .udisks2
        .set_label(path, label)
        .await
        .map_err(|e| Error::internal(format!("Could not rename filesystem at {device}: {e}")))
}

/// Renames a second data file system so HAOS leaves it alone.
async fn rename_data_disk(parts: &Parts, device: &str) -> Result<(), Error> {
    let Some((path, _, filesystem)) = block_of(parts, device) else {
        tracing::info!("Data disk at {device} with name conflict was removed, skipping rename");
        return Ok(());
    };
    if !filesystem {
        tracing::warn!("Data disk at {device} no longer appears to be a filesystem, skipping rename");
        return Ok(());
    }
    tracing::info!("Renaming {device} to {OLD_DATA_DISK_LABEL} to prevent data disk name conflict");
    set_label(parts, device, &path, OLD_DATA_DISK_LABEL).await
}

/// Makes `device` the data disk from the next boot on: it takes the data disk's name, the one in
/// use loses it, and the host reboots.
async fn adopt_data_disk(parts: &Parts, device: &str) -> Result<(), Error> {
    let Some((path, label, _)) = block_of(parts, device) else {
        tracing::info!("Data disk at {device} with name conflict was removed, skipping adopt");
        return Ok(());
    };
    let current = parts.host.services().os_agent.datadisk.state().map(|state| state.current_device);
    let current = current.filter(|current| !current.is_empty());
    let Some((current, (current_path, _, true))) =
        current.and_then(|current| block_of(parts, &current).map(|block| (current, block)))
    else {
        return Err(Error::internal("Cannot resolve current data disk for rename"));
    };
    if label != DATA_DISK_LABEL {
        tracing::info!("Renaming disabled data disk at {device} to {DATA_DISK_LABEL} to activate it");
        set_label(parts, device, &path, DATA_DISK_LABEL).await?;
    }
    tracing::info!(
        "Renaming current data disk at {current} to {OLD_DATA_DISK_LABEL} so new data disk at {device} becomes primary"
    );
    set_label(parts, &current, &current_path, OLD_DATA_DISK_LABEL).await?;
    tracing::info!("Rebooting the host to finish adoption");
    if let Err(e) = parts.host.reboot().await {
        tracing::warn!(
            "Could not reboot host to finish data disk adoption, manual reboot required to finish process: {}",
            e.message
        );
    }
    Ok(())
}

async fn create_full_backup(parts: &Parts) -> Result<(), Error> {
    tracing::info!("Creating a full backup");
    let new = backups::NewBackup {
        kind: backups::BackupType::Full,
        name: String::new(),
        filename: None,
        password: None,
        compressed: true,
        homeassistant: true,
        exclude_database: parts.core.config().backups_exclude_database,
        addons: backups::AddonSelection::All,
        folders: Vec::new(),
        extra: serde_json::Map::new(),
        locations: None,
    };
    parts.backups.create(new, false).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixup_has_its_own_suggestion_and_context() {
        for (i, a) in FIXUPS.iter().enumerate() {
            for b in &FIXUPS[i + 1..] {
                assert!((a.suggestion, a.context) != (b.suggestion, b.context), "{} and {}", a.slug, b.slug);
            }
        }
    }

    #[test]
    fn the_repair_of_an_image_is_automatic_for_its_first_attempts_only() {
        let repair = FIXUPS.iter().find(|f| f.slug == "app_execute_repair").unwrap();
        assert!(repair.automatic(0));
        assert!(repair.automatic(REPAIR_AUTO_ATTEMPTS - 1));
        assert!(!repair.automatic(REPAIR_AUTO_ATTEMPTS));
        let reload = FIXUPS.iter().find(|f| f.slug == "store_execute_reload").unwrap();
        assert!(reload.automatic(1000));
        let remove = FIXUPS.iter().find(|f| f.slug == "store_execute_remove").unwrap();
        assert!(!remove.automatic(0));
    }
}
