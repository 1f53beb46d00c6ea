//! The host's clock checked once at start against the whoami service (the time of a server on
//! the internet), as the real Supervisor's setup does: a clock more than an hour off that NTP has
//! not synchronised is set from it, with NTP stopped first (timedated refuses to set the clock
//! while NTP runs), which is an `ntp_sync_failed` issue whose `enable_ntp` starts NTP again.

use crate::manager::HostManager;
use base::system::{RaisedIssue, System};
use serde::Deserialize;
use std::time::Duration;

/// The unit that keeps the clock with NTP.
pub const TIMESYNCD: &str = "systemd-timesyncd.service";
/// How long the whoami service may take to answer.
const WHOAMI_TIMEOUT: Duration = Duration::from_secs(10);
/// How far off the clock may be before it is set.
const MAX_DRIFT_USEC: u64 = 3600 * 1_000_000;

/// The whoami service's answer; only the time is used here.
#[derive(Deserialize)]
struct Whoami {
    /// Seconds since the epoch, UTC.
    timestamp: f64,
}

/// The issue a stopped NTP is.
pub fn ntp_sync_failed() -> RaisedIssue {
    RaisedIssue {
        kind: "ntp_sync_failed",
        context: "system",
        reference: None,
        extra: None,
        suggestions: vec!["enable_ntp"],
    }
}

async fn whoami(url: &str) -> Result<u64, String> {
    let client = reqwest::Client::builder().timeout(WHOAMI_TIMEOUT).build().map_err(|e| e.to_string())?;
    let response = client.get(url).send().await.map_err(|e| format!("Can't fetch Whoami data: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("Whoami service response with {}", response.status().as_u16()));
    }
    let answer: Whoami = response.json().await.map_err(|e| format!("Can't read Whoami data: {e}"))?;
    if !answer.timestamp.is_finite() || answer.timestamp < 0.0 {
        return Err(format!("Whoami service answered the time {}", answer.timestamp));
    }
    // Whole microseconds are all the clock takes.
    Ok((answer.timestamp * 1_000_000.0) as u64)
}

impl HostManager {
    /// Sets the host's clock from the whoami service at `url` when it is more than an hour off
    /// and NTP has not synchronised it; NTP stopped for that raises `ntp_sync_failed`.
    pub async fn adjust_clock(&self, url: &str, system: &System) {
        let services = self.services();
        let Some(timedate) = services.timedate.state() else { return };
        let utc = match whoami(url).await {
            Ok(utc) => utc,
            Err(e) => {
                tracing::warn!("Can't adjust Time/Date settings: {e}");
                return;
            }
        };
        if utc.abs_diff(timedate.now_usec()) <= MAX_DRIFT_USEC || timedate.ntp_synchronized {
            // A clock NTP stopped for at an earlier start is right now.
            system.withdraw_issue(ntp_sync_failed());
            return;
        }
        tracing::warn!("System time/date shift over more than 1 hour detected!");
        if timedate.ntp {
            tracing::info!("Stopping {TIMESYNCD} to allow manual time adjustment");
            if let Err(e) = services.systemd.stop_unit(TIMESYNCD).await {
                tracing::warn!("Can't stop {TIMESYNCD}: {e}");
            }
            system.raise_issue(ntp_sync_failed());
        }
        if let Err(e) = services.timedate.set_time(utc as i64).await {
            tracing::warn!("Can't set the host's clock: {e}");
        }
    }
}
