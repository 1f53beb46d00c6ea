//! Core's watchdog, as the real Supervisor keeps Core alive: a container that dies while the
//! user did not stop it is started again, then rebuilt while it still fails (with a cap per half
//! hour), and a running Core whose API fails two checks in a row is restarted.

use crate::manager::{CoreManager, CoreState};
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Rebuilds after a crash and a failed start before the watchdog gives up.
const MAX_ATTEMPTS: u32 = 5;
/// Between two attempts.
const RETRY: Duration = Duration::from_secs(10);
/// At most this many watchdog restarts per [`RATE_PERIOD`].
const RATE_MAX: usize = 10;
const RATE_PERIOD: Duration = Duration::from_secs(30 * 60);

/// Follows the engine's events for Core's container and checks Core's API, for as long as the
/// process runs.
pub(crate) async fn watch(manager: CoreManager) {
    tokio::spawn(watch_api(manager.clone()));
    loop {
        if let Ok(client) = manager.inner.docker.client() {
            let name = manager.container_name();
            let filters = HashMap::from([
                ("type", vec!["container"]),
                ("event", vec!["die"]),
                ("container", vec![name.as_str()]),
            ]);
            let options = EventsOptionsBuilder::default().filters(&filters).build();
            let mut events = client.events(Some(options));
            while let Some(event) = events.next().await {
                match event {
                    // The engine's filter matches names by pattern (`homeassistant_check` too).
                    Ok(event)
                        if event
                            .actor
                            .as_ref()
                            .and_then(|a| a.attributes.as_ref())
                            .and_then(|a| a.get("name"))
                            .cloned()
                            == Some(name.clone()) =>
                    {
                        on_die(&manager).await
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("engine events interrupted: {e}");
                        break;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Whether the watchdog may act now: it is on, nobody stopped Core on purpose, no operation on
/// Core runs, and the rate limit allows one more restart (then counted).
fn may_restart(manager: &CoreManager) -> bool {
    if !manager.config().watchdog || !manager.config().installed() {
        return false;
    }
    manager.with_runtime(|r| {
        if r.manual_stop {
            return false;
        }
        r.watchdog_restarts.retain(|at| at.elapsed() < RATE_PERIOD);
        if r.watchdog_restarts.len() >= RATE_MAX {
            tracing::error!("Watchdog restarted Home Assistant Core {RATE_MAX} times in 30 minutes, giving up");
            return false;
        }
        r.watchdog_restarts.push(Instant::now());
        true
    })
}

/// Starts a Core that died again, as the real Supervisor does in the job
/// `home_assistant_core_restart_after_problem`: a start first, then, while Core still does not
/// run, a rebuild of its container every [`RETRY`], at most [`MAX_ATTEMPTS`] times.
async fn on_die(manager: &CoreManager) {
    // A stop by an operation also ends the container; the operation marked it first.
    if manager.with_runtime(|r| r.manual_stop) || manager.running().await || !may_restart(manager) {
        return;
    }
    let core = manager.clone();
    let restarted = manager
        .jobs()
        .run(jobs::JobSpec::new("home_assistant_core_restart_after_problem"), |_| async move {
            tracing::warn!("Watchdog found Home Assistant Core failed, restarting...");
            let mut attempt = 0;
            loop {
                let result = if attempt == 0 { core.start().await } else { core.rebuild(false, true).await };
                match result {
                    Ok(()) => return Ok(()),
                    // Another operation on Core runs; it decides what becomes of Core.
                    Err(e) if e.kind == base::Kind::Conflict => return Ok(()),
                    Err(e) => tracing::error!("Watchdog restart of Home Assistant failed: {}", e.message),
                }
                attempt += 1;
                if attempt > MAX_ATTEMPTS || core.with_runtime(|r| r.manual_stop) {
                    return Err(base::Error::internal(format!(
                        "Watchdog cannot restart Home Assistant, failed all {MAX_ATTEMPTS} attempts"
                    )));
                }
                tokio::time::sleep(RETRY).await;
            }
        })
        .await;
    if let Err(e) = restarted {
        tracing::error!("{}", e.message);
    }
}

/// Checks Core's API every interval; the second failure in a row restarts Core.
async fn watch_api(manager: CoreManager) {
    let mut failed_once = false;
    loop {
        tokio::time::sleep(manager.inner.settings.watchdog_interval).await;
        let busy = manager
            .jobs()
            .jobs()
            .iter()
            .any(|job| job.name.starts_with("home_assistant_core_") && job.done != Some(true));
        if busy
            || !manager.config().watchdog
            || manager.error_state()
            || !matches!(manager.state().await, Ok(CoreState::Running))
        {
            failed_once = false;
            continue;
        }
        if manager.api().running().await {
            failed_once = false;
            continue;
        }
        if !failed_once {
            tracing::warn!("Watchdog missed a Home Assistant Core API response");
            failed_once = true;
            continue;
        }
        failed_once = false;
        if !may_restart(&manager) {
            continue;
        }
        tracing::error!("Watchdog found a problem with Home Assistant API, restarting Core");
        if let Err(e) = manager.restart(false, true).await {
            tracing::error!("Watchdog could not restart Home Assistant Core: {}", e.message);
        }
    }
}
