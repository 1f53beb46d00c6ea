//! The add-on watchdogs, for add-ons whose user enabled `watchdog`. The container watchdog
//! (addon-config.md §7.2): the engine's events tell when an add-on's container dies; one that
//! crashed (non-zero exit) and that nobody stopped is started again, with back-off between
//! failed attempts and a cap on how often. The application watchdog: a running add-on whose
//! config declares a `watchdog` URL is probed on the real Supervisor's schedule, and restarted
//! when it missed two probes in a row.

use crate::data::Installed;
use crate::engine::AddonState;
use crate::manager::{spec, AddonManager};
use crate::url::Template;
use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptionsBuilder;
use docker::LABEL_MANAGED;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Failed restart attempts after which the watchdog gives up.
pub const MAX_ATTEMPTS: u32 = 5;
/// The first wait; it doubles with every failure.
const RETRY: Duration = Duration::from_secs(10);
/// At most this many watchdog restarts of one add-on per [`RATE_PERIOD`], as the real
/// Supervisor throttles them, so a crash loop cannot keep the engine busy forever.
const RATE_MAX: usize = 10;
const RATE_PERIOD: Duration = Duration::from_secs(30 * 60);

/// How often the real Supervisor probes the add-ons' applications (`RUN_WATCHDOG_APP_APPLICATION`).
pub const APPLICATION_INTERVAL: Duration = Duration::from_secs(120);
/// Probes missed in a row after which the application is restarted: the real one lets one pass.
const APPLICATION_MISSES: u32 = 2;
/// How long an HTTP probe may take (`WATCHDOG_TIMEOUT`).
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TCP probe waits for the connection (`check_port`).
const TCP_TIMEOUT: Duration = Duration::from_millis(500);

/// The wait before the next attempt after `failures` failed ones (0: another job was in the
/// way), or `None` once the attempts are used up: 10 s, 10 s, 20 s, 40 s, 80 s, give up.
pub fn backoff(failures: u32) -> Option<Duration> {
    (failures < MAX_ATTEMPTS).then(|| RETRY * 2u32.pow(failures.saturating_sub(1)))
}

/// Follows the engine's container events for as long as the process runs, reconnecting when
/// the engine goes away.
pub(crate) async fn watch(manager: AddonManager) {
    loop {
        if let Ok(client) = manager.inner.docker.client() {
            let filters =
                HashMap::from([("type", vec!["container"]), ("event", vec!["die"]), ("label", vec![LABEL_MANAGED])]);
            let options = EventsOptionsBuilder::default().filters(&filters).build();
            let mut events = client.events(Some(options));
            while let Some(event) = events.next().await {
                match event {
                    Ok(event) => on_die(&manager, event),
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

fn on_die(manager: &AddonManager, event: EventMessage) {
    let attributes = event.actor.and_then(|a| a.attributes).unwrap_or_default();
    let Some(slug) = attributes.get("name").and_then(|name| manager.slug_of_container(name)) else { return };
    let exit: i64 = attributes.get("exitCode").and_then(|c| c.parse().ok()).unwrap_or(0);
    let Some(addon) = manager.get(&slug) else { return };
    // A stop by the user or by an operation ends the container too; that is no crash.
    if exit == 0 || manager.with_runtime(&slug, |r| r.manual_stop) {
        return;
    }
    if exit == 143 {
        tracing::warn!(addon = %slug, "App {slug} was ended by SIGTERM it did not handle (exit code 143)");
    } else {
        tracing::warn!(addon = %slug, "App {slug} exited with non-zero exit code {exit}");
    }
    if !addon.user.watchdog {
        return;
    }
    let start = manager.with_runtime(&slug, |r| {
        if r.watchdog_active {
            return false;
        }
        r.watchdog_restarts.retain(|at| at.elapsed() < RATE_PERIOD);
        if r.watchdog_restarts.len() >= RATE_MAX {
            tracing::error!(addon = %slug, "Watchdog restarted app {slug} {RATE_MAX} times in 30 minutes, giving up");
            return false;
        }
        r.watchdog_active = true;
        true
    });
    if start {
        tracing::warn!(addon = %slug, "Watchdog found app {slug} exited with code {exit}, restarting...");
        tokio::spawn(restart_after_problem(manager.clone(), slug));
    }
}

/// Starts the add-on again until it runs, the user steps in, or the attempts are used up.
async fn restart_after_problem(manager: AddonManager, slug: String) {
    let mut failures = 0;
    loop {
        let gone = manager.get(&slug).is_none_or(|a| !a.user.watchdog);
        if gone || manager.with_runtime(&slug, |r| r.manual_stop) || manager.state(&slug).await != AddonState::Error {
            break;
        }
        let restart = manager.clone();
        let target = slug.clone();
        let result = manager
            .jobs()
            .run(spec("addon_restart_after_problem", &slug), |_| async move { restart.start_container(&target).await })
            .await;
        match result {
            Ok(()) => {
                manager.with_runtime(&slug, |r| r.watchdog_restarts.push(Instant::now()));
                break;
            }
            // Another operation on the add-on runs: wait for it without counting a failure.
            Err(e) if e.error_key.as_deref() == Some("job_group_busy") => {}
            Err(e) => {
                failures += 1;
                tracing::warn!(addon = %slug, "Watchdog restart of app {slug} failed! {}", e.message);
            }
        }
        let Some(wait) = backoff(failures) else {
            tracing::error!(addon = %slug, "Watchdog cannot restart app {slug}, failed all {MAX_ATTEMPTS} attempts");
            break;
        };
        tokio::time::sleep(wait).await;
    }
    manager.with_runtime(&slug, |r| r.watchdog_active = false);
}

/// Probes the applications of the running add-ons every `interval`, for as long as the process
/// runs.
pub(crate) async fn watch_applications(manager: AddonManager, interval: Duration) {
    // Add-ons serve their health endpoints with certificates of their own making; the real
    // Supervisor does not check them either.
    // The add-ons' addresses are this host's: a proxy of the daemon's environment must not
    // stand between.
    let client = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .danger_accept_invalid_certs(true)
        .no_proxy()
        .build()
        .expect("an HTTP client without settings that can fail");
    loop {
        tokio::time::sleep(interval).await;
        for addon in manager.list() {
            if addon.user.watchdog && addon.config().watchdog.is_some() {
                check_application(&manager, &client, &addon).await;
            }
        }
    }
}

async fn check_application(manager: &AddonManager, client: &reqwest::Client, addon: &Installed) {
    let slug = addon.slug.as_str();
    if manager.state(slug).await != AddonState::Started || manager.in_progress(slug) {
        return;
    }
    if application_answers(manager, client, addon).await {
        manager.with_runtime(slug, |r| r.application_misses = 0);
        return;
    }
    let misses = manager.with_runtime(slug, |r| {
        r.application_misses += 1;
        r.application_misses
    });
    if misses < APPLICATION_MISSES {
        tracing::warn!(addon = slug, "Watchdog missing application response from {slug}");
        return;
    }
    tracing::warn!(addon = slug, "Watchdog found a problem with {slug} application!");
    if let Err(e) = manager.restart(slug, false).await {
        tracing::error!(addon = slug, "{slug} watchdog reanimation failed with {}", e.message);
    }
    manager.with_runtime(slug, |r| r.application_misses = 0);
}

/// Whether the add-on's `watchdog` URL answers. `[HOST]` is the add-on's address (the host's,
/// as the network's gateway, for a host-network add-on), and `[PORT:n]` the host's port
/// published for `n` when it runs on the host's network.
async fn application_answers(manager: &AddonManager, client: &reqwest::Client, addon: &Installed) -> bool {
    let config = addon.config();
    let Some(template) = config.watchdog.as_deref().and_then(Template::parse) else { return true };
    let port = if config.host_network { template.published_port(&addon.ports()) } else { template.port };
    let host = manager.ip_address(addon).await;
    // No address known (`0.0.0.0` would reach this host's own services): no answer.
    if host == "0.0.0.0" {
        return false;
    }
    answers(client, template.scheme(&addon.options()), &host, port, &template.suffix).await
}

/// A TCP connection to `host:port` for `tcp`, else an HTTP status below 300 for the URL.
async fn answers(client: &reqwest::Client, scheme: &str, host: &str, port: u16, suffix: &str) -> bool {
    if scheme == "tcp" {
        let connect = tokio::net::TcpStream::connect((host, port));
        return matches!(tokio::time::timeout(TCP_TIMEOUT, connect).await, Ok(Ok(_)));
    }
    let url = format!("{scheme}://{host}:{port}{suffix}");
    client.get(&url).send().await.is_ok_and(|response| response.status().as_u16() < 300)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on a free local port answering every request with `status`; its port.
    async fn serve(status: &'static str) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0; 1024];
                let _ = stream.read(&mut request).await;
                let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        port
    }

    /// A local port nothing listens on.
    async fn closed_port() -> u16 {
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn probes_want_a_connection_or_a_status_below_300() {
        let client = reqwest::Client::new();
        let (ok, missing, closed) = (serve("200 OK").await, serve("404 Not Found").await, closed_port().await);
        assert!(answers(&client, "http", "127.0.0.1", ok, "/health").await);
        assert!(!answers(&client, "http", "127.0.0.1", missing, "/health").await);
        assert!(!answers(&client, "http", "127.0.0.1", closed, "/health").await);
        assert!(answers(&client, "tcp", "127.0.0.1", missing, "").await);
        assert!(!answers(&client, "tcp", "127.0.0.1", closed, "").await);
    }

    #[test]
    fn backoff_doubles_and_gives_up_after_five_failures() {
        let secs: Vec<Option<u64>> = (0..=6).map(|n| backoff(n).map(|d| d.as_secs())).collect();
        assert_eq!(secs, vec![Some(10), Some(10), Some(20), Some(40), Some(80), None, None]);
    }
}
