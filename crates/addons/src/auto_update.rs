//! The auto-update of add-ons whose user turned `auto_update` on, on the real Supervisor's
//! schedule (`RUN_UPDATE_APPS`). An add-on is left alone when the update would cross one of
//! the `breaking_versions` its installed version declares (as the real one reads them), while its latest version is younger than a day (the store's
//! `version_timestamp`), or when its options do not fit the new version's schema. Otherwise
//! Core is asked over its websocket to update it with a backup, so that the backup is made and
//! listed by Core as for an update the user started there.

use crate::data::Installed;
use crate::manager::AddonManager;
use addon_config::AddonConfig;
use base::version::order;
use base::Error;
use futures_util::future::BoxFuture;
use jobs::{JobCondition, JobSpec};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Between two rounds (`RUN_UPDATE_APPS`, 16 hours).
pub const INTERVAL: Duration = Duration::from_secs(57_600);
/// How long a version must have been in the store before it is installed unasked.
pub const DELAY: Duration = Duration::from_secs(24 * 60 * 60);
/// The real task's conditions (`APP_UPDATE_CONDITIONS` and a running system).
const CONDITIONS: [JobCondition; 6] = [
    JobCondition::FreeSpace,
    JobCondition::Healthy,
    JobCondition::InternetHost,
    JobCondition::PluginsUpdated,
    JobCondition::SupervisorUpdated,
    JobCondition::Running,
];

/// Sends one command over Core's websocket and answers its result.
pub type CoreCommand = Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Value, Error>> + Send + Sync>;

/// Runs a round every [`crate::Settings::auto_update_interval`] for as long as the process runs.
pub async fn run(manager: AddonManager, core: CoreCommand) {
    let interval = manager.settings().auto_update_interval;
    loop {
        tokio::time::sleep(interval).await;
        let spec = JobSpec::new("tasks_update_apps").conditions(&CONDITIONS);
        let round = manager
            .jobs()
            .run(spec, |_| async {
                update_addons(&manager, &core).await;
                Ok(())
            })
            .await;
        if let Err(e) = round {
            tracing::warn!("Add-on auto-update skipped: {}", e.message);
        }
    }
}

async fn update_addons(manager: &AddonManager, core: &CoreCommand) {
    let delay = manager.settings().auto_update_delay;
    for addon in manager.list().into_iter().filter(|addon| addon.user.auto_update) {
        let Some(store) = manager.catalog().addon(&addon.slug) else { continue };
        let (slug, current, latest) = (&addon.slug, &addon.user.version, &store.config.version);
        if current == latest {
            continue;
        }
        if crosses_breaking_version(current, latest, &addon.config().breaking_versions) {
            tracing::debug!(
                addon = %slug,
                "Not updating app {slug} from {current} to {latest} as that would cross a known breaking version"
            );
            continue;
        }
        let seen = manager.catalog().version_timestamp(slug).unwrap_or_else(SystemTime::now);
        if seen.elapsed().unwrap_or_default() < delay {
            tracing::debug!(
                addon = %slug,
                "Not updating app {slug} from {current} to {latest} as the latest version is less than a day old"
            );
            continue;
        }
        if !options_fit(manager, &addon, &store.config) {
            tracing::warn!(addon = %slug, "App {slug} will be ignored, schema tests failed");
            continue;
        }
        tracing::info!(addon = %slug, "App auto update process {slug}");
        let message = update_command(slug);
        tracing::debug!("Sending update app WebSocket command to Home Assistant Core: {message}");
        if let Err(e) = core(message).await {
            tracing::warn!("Could not send app update command to Home Assistant Core: {}", e.message);
        }
    }
}

/// The command Core's `hassio` integration registers for updating an add-on. The real
/// Supervisor's newer name, `hassio/update/app` with `app`, is sent only behind its
/// `SUPERVISOR_WEBSOCKET_V2_API` feature flag; released Core versions know only this one.
fn update_command(slug: &str) -> Value {
    json!({"type": "hassio/update/addon", "addon": slug, "backup": true})
}

/// Whether the add-on's options, over the new version's defaults, validate under the new
/// version's schema (`test_update_schema`).
fn options_fit(manager: &AddonManager, addon: &Installed, next: &AddonConfig) -> bool {
    if next.schema.is_none() {
        return true;
    }
    let options = Value::Object(crate::data::merge_options(&next.options, &addon.user.options));
    match manager.validate_under(next, &addon.slug, &options) {
        Ok(_) => true,
        Err(why) => {
            tracing::warn!(addon = %addon.slug, "App {} new schema is not compatible: {why}", addon.slug);
            false
        }
    }
}

/// Whether updating from `current` to `latest` crosses one of `breaking` (the real
/// `auto_update_available`): a breaking version above the current one is crossed. When the
/// current version cannot be ordered against it (the version scheme changed), it is crossed
/// if the latest version is at or above it; when neither can be, it is taken to lie in the past.
pub fn crosses_breaking_version(current: &str, latest: &str, breaking: &[String]) -> bool {
    breaking.iter().any(|version| match order(current, version) {
        Some(ordering) => ordering == Ordering::Less,
        None => order(latest, version).is_some_and(|ordering| ordering != Ordering::Less),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crosses(current: &str, latest: &str, breaking: &[&str]) -> bool {
        let breaking: Vec<String> = breaking.iter().map(|v| (*v).to_owned()).collect();
        crosses_breaking_version(current, latest, &breaking)
    }

    #[test]
    fn a_breaking_version_above_the_current_one_is_crossed() {
        assert!(crosses("1.0.0", "2.1.0", &["2.0.0"]));
        assert!(crosses("1.9.9", "2.0.0", &["2.0.0"]));
        assert!(crosses("1.0.0", "3.0.0", &["0.5.0", "2.0.0"]));
    }

    #[test]
    fn a_breaking_version_at_or_below_the_current_one_is_not() {
        assert!(!crosses("2.0.0", "2.1.0", &["2.0.0"]));
        assert!(!crosses("2.5.0", "3.0.0", &["1.0.0", "2.0.0"]));
        assert!(!crosses("1.0.0", "1.1.0", &[]));
    }

    #[test]
    fn a_changed_version_scheme_is_judged_by_the_latest_version() {
        // The current version cannot be ordered against the breaking one: the latest decides.
        assert!(crosses("dev", "2.0.0", &["2.0.0"]));
        assert!(crosses("abc1234", "3.0.0", &["2.0.0"]));
        assert!(!crosses("dev", "1.5.0", &["2.0.0"]));
        // Neither can be ordered against it: taken to lie in the past.
        assert!(!crosses("dev", "nightly", &["2.0.0"]));
        assert!(!crosses("1.0.0", "2.0.0", &["stable"]));
    }

    #[test]
    fn the_command_is_the_one_core_registers() {
        assert_eq!(update_command("core_x"), json!({"type": "hassio/update/addon", "addon": "core_x", "backup": true}));
    }
}
