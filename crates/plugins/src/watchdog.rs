//! What the manager follows on its own: the engine's events for the plugins' containers (a
//! container that dies with a failure is made anew, as the real Supervisor's plugin watchdog
//! does), what the dns plugin's files depend on (containers joining or leaving the network,
//! the host's resolvers), and the loops the dns plugin finds.

use crate::dns;
use crate::manager::PluginManager;
use crate::Plugin;
use bollard::query_parameters::{EventsOptionsBuilder, InspectContainerOptions};
use futures_util::StreamExt;
use jobs::JobSpec;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Attempts of one restart after a problem before the watchdog gives up.
const MAX_ATTEMPTS: u32 = 5;
/// Between two attempts.
const RETRY: Duration = Duration::from_secs(10);
/// At most this many restarts per [`RATE_PERIOD`] and plugin.
const RATE_MAX: usize = 10;
const RATE_PERIOD: Duration = Duration::from_secs(30 * 60);
/// How long a container that died is left before it is looked at: one removed by hand is gone
/// by then (the engine reports its death first), and is left to a repair.
const SETTLE: Duration = Duration::from_secs(1);

/// Follows the engine's `die` events of the plugins' containers for as long as the process runs.
pub(crate) async fn watch(manager: PluginManager) {
    loop {
        if let Ok(client) = manager.docker().client() {
            let names: Vec<String> = Plugin::ALL.iter().map(|plugin| manager.container_name(*plugin)).collect();
            let filters = HashMap::from([
                ("type", vec!["container"]),
                ("event", vec!["die"]),
                ("container", names.iter().map(String::as_str).collect()),
            ]);
            let options = EventsOptionsBuilder::default().filters(&filters).build();
            let mut events = client.events(Some(options));
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        tracing::warn!("engine events interrupted: {e}");
                        break;
                    }
                };
                let attributes = event.actor.and_then(|actor| actor.attributes).unwrap_or_default();
                // The engine's filter matches names by pattern; only the exact names count.
                let Some(plugin) = Plugin::ALL
                    .into_iter()
                    .find(|plugin| attributes.get("name") == Some(&manager.container_name(*plugin)))
                else {
                    continue;
                };
                if attributes.get("exitCode").map(String::as_str) == Some("0") {
                    continue;
                }
                tokio::spawn(on_failure(manager.clone(), plugin));
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Whether the container exists, does not run and failed (a non-zero exit, or killed for
/// memory).
async fn failed(manager: &PluginManager, plugin: Plugin) -> bool {
    let Ok(client) = manager.docker().client() else { return false };
    let inspect = client.inspect_container(&manager.container_name(plugin), None::<InspectContainerOptions>).await;
    let Some(state) = inspect.ok().and_then(|inspect| inspect.state) else { return false };
    !state.running.unwrap_or(false) && (state.exit_code.unwrap_or(0) != 0 || state.oom_killed.unwrap_or(false))
}

/// Whether the rate limit allows one more restart of `plugin` (then counted).
fn may_restart(manager: &PluginManager, plugin: Plugin) -> bool {
    let mut restarts = manager.slot(plugin).restarts.lock().unwrap_or_else(|e| e.into_inner());
    restarts.retain(|at| at.elapsed() < RATE_PERIOD);
    if restarts.len() >= RATE_MAX {
        tracing::error!("Watchdog restarted the {plugin} plugin {RATE_MAX} times in 30 minutes, giving up");
        return false;
    }
    restarts.push(Instant::now());
    true
}

/// Makes the container of a plugin that failed anew as the job
/// `plugin_<plugin>_restart_after_problem`, while it stays failed, at most [`MAX_ATTEMPTS`]
/// times; an operation running on the plugin decides what becomes of it instead.
async fn on_failure(manager: PluginManager, plugin: Plugin) {
    tokio::time::sleep(SETTLE).await;
    if manager.version(plugin).is_none() || !failed(&manager, plugin).await || !may_restart(&manager, plugin) {
        return;
    }
    let runner = manager.clone();
    let restarted = manager
        .inner
        .jobs
        .run(JobSpec::new(plugin.watchdog_job()).reference(plugin.slug()), |job| async move {
            let mut attempts = 0;
            while failed(&runner, plugin).await {
                let Ok(turn) = runner.slot(plugin).busy.try_lock() else { return Ok(()) };
                tracing::warn!("Watchdog found {plugin} plugin failed, restarting...");
                let rebuilder = runner.clone();
                let rebuilt = job
                    .run_child(JobSpec::new(plugin.run_job()).reference(plugin.slug()), |run| async move {
                        rebuilder.stop_in(plugin).await?;
                        rebuilder.run_in(plugin, &run).await
                    })
                    .await;
                match rebuilt {
                    Ok(()) => return Ok(()),
                    Err(e) => tracing::error!("Watchdog restart of {plugin} plugin failed: {}", e.message),
                }
                attempts += 1;
                if attempts >= MAX_ATTEMPTS {
                    return Err(base::Error::internal(format!(
                        "Watchdog cannot restart {plugin} plugin, failed all {MAX_ATTEMPTS} attempts"
                    )));
                }
                drop(turn);
                tokio::time::sleep(RETRY).await;
            }
            Ok(())
        })
        .await;
    if let Err(e) = restarted {
        tracing::error!("{}", e.message);
    }
}

/// Keeps the dns plugin's files current: rewritten (and the plugin told) when a container joins
/// or leaves the network (an add-on started or stopped) and when the host's resolvers change.
pub(crate) async fn watch_dns_inputs(manager: PluginManager) {
    let on_network = manager.clone();
    tokio::spawn(async move {
        loop {
            if let Ok(client) = on_network.docker().client() {
                let network = on_network.docker().network_name().to_owned();
                let filters = HashMap::from([
                    ("type", vec!["network"]),
                    ("event", vec!["connect", "disconnect"]),
                    ("network", vec![network.as_str()]),
                ]);
                let options = EventsOptionsBuilder::default().filters(&filters).build();
                let mut events = client.events(Some(options));
                while let Some(event) = events.next().await {
                    if let Err(e) = event {
                        tracing::warn!("engine events interrupted: {e}");
                        break;
                    }
                    on_network.refresh_dns_files().await;
                }
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let mut changes = manager.inner.host.network.subscribe();
    while changes.changed().await.is_ok() {
        manager.refresh_dns_files().await;
    }
}

/// The issue of a dns plugin that found a loop, as the real Supervisor raises it, with its reset
/// as the suggestion.
fn dns_loop() -> base::system::RaisedIssue {
    base::system::RaisedIssue {
        kind: "dns_loop",
        context: "plugin",
        reference: Some(Plugin::Dns.slug().to_owned()),
        extra: None,
        suggestions: vec!["execute_reset"],
    }
}

/// Follows `loops.json` in the dns plugin's folder, on a thread asleep in inotify: while the
/// plugin names an upstream that sends its queries back to it, `dns_loop` stands (the real
/// Supervisor reads the loop from the log of its plugin, which dies of it; this plugin only
/// stops using the looping upstream and says so there).
pub(crate) fn watch_dns_loops(manager: &PluginManager) {
    let dir = manager.config_dir(Plugin::Dns);
    let system = std::sync::Arc::clone(manager.inner.jobs.system());
    let spawned = std::thread::Builder::new().name("dns-loops".to_owned()).spawn(move || {
        let tell = || {
            let Some(looping) = std::fs::read_to_string(dir.join(dns::LOOPS_FILE)).ok().and_then(|t| dns::looping(&t))
            else {
                return;
            };
            if looping.is_empty() {
                system.withdraw_issue(dns_loop());
            } else {
                tracing::error!("Detected a DNS loop in local Network! ({})", looping.join(", "));
                system.raise_issue(dns_loop());
            }
        };
        let watching = base::fs::ensure_real_dir(&dir).map_err(|e| e.to_string()).and_then(|()| {
            let inotify = Inotify::init(InitFlags::IN_CLOEXEC).map_err(|e| e.to_string())?;
            inotify
                .add_watch(&dir, AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO)
                .map_err(|e| e.to_string())?;
            Ok(inotify)
        });
        let inotify = match watching {
            Ok(inotify) => inotify,
            Err(e) => return tracing::error!("can't follow the dns plugin's loops in {}: {e}", dir.display()),
        };
        tell();
        loop {
            match inotify.read_events() {
                Ok(events) if events.iter().any(|e| e.name.as_deref() == Some(dns::LOOPS_FILE.as_ref())) => tell(),
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return tracing::error!("stopped following the dns plugin's loops: {e}"),
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("can't follow the dns plugin's loops: {e}");
    }
}
