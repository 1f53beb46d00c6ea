//! systemd-timedated (`org.freedesktop.timedate1`): time zone, NTP and the host's clock for
//! `/host/info`, and the setters the supervisor uses.
//!
//! timedated announces `Timezone` and `NTP` but neither `NTPSynchronized` nor the clock, so those
//! are as of the last read; the clock is carried forward with this machine's (see
//! [`TimedateState::now_usec`]).

use crate::service::Service;
use crate::watch::{set, set_string, Properties};
use crate::Error;
use std::time::{SystemTime, UNIX_EPOCH};
use zbus::proxy;
use zbus::zvariant::Value;

/// The properties of `org.freedesktop.timedate1` the supervisor shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimedateState {
    pub timezone: String,
    /// Whether NTP synchronisation is enabled (`NTP`).
    pub ntp: bool,
    pub ntp_synchronized: bool,
    /// `TimeUSec` as last read: µs since the epoch, UTC.
    pub time_usec: u64,
    /// This machine's clock when `time_usec` was read, in µs since the epoch.
    pub read_at_usec: u64,
}

impl TimedateState {
    /// The host's time now (µs since the epoch, UTC): the last reading moved on by the time
    /// elapsed since.
    pub fn now_usec(&self) -> u64 {
        let elapsed = local_usec().saturating_sub(self.read_at_usec);
        self.time_usec.saturating_add(elapsed)
    }
}

fn local_usec() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Properties for TimedateState {
    const SERVICE: &'static str = "org.freedesktop.timedate1";
    const PATH: &'static str = "/org/freedesktop/timedate1";
    const INTERFACE: Option<&'static str> = Some("org.freedesktop.timedate1");

    fn apply(&mut self, name: &str, value: &Value<'_>) {
        match name {
            "Timezone" => set_string(&mut self.timezone, value),
            "NTP" => set(&mut self.ntp, value),
            "NTPSynchronized" => set(&mut self.ntp_synchronized, value),
            "TimeUSec" => {
                set(&mut self.time_usec, value);
                self.read_at_usec = local_usec();
            }
            _ => {}
        }
    }
}

#[proxy(
    interface = "org.freedesktop.timedate1",
    default_service = "org.freedesktop.timedate1",
    default_path = "/org/freedesktop/timedate1"
)]
pub trait Timedate1 {
    fn set_timezone(&self, timezone: &str, interactive: bool) -> zbus::Result<()>;
    #[zbus(name = "SetNTP")]
    fn set_ntp(&self, use_ntp: bool, interactive: bool) -> zbus::Result<()>;
    fn set_time(&self, usec_utc: i64, relative: bool, interactive: bool) -> zbus::Result<()>;
}

/// The client of systemd-timedated.
pub type Timedate = Service<TimedateState>;

impl Service<TimedateState> {
    /// Sets the time zone (`Europe/Amsterdam`); an unknown zone is refused with `InvalidArgs`.
    pub async fn set_timezone(&self, timezone: &str) -> Result<(), Error> {
        let proxy: Timedate1Proxy<'_> = self.proxy().await?;
        Self::answer(proxy.set_timezone(timezone, false).await)
    }

    /// Turns NTP synchronisation on or off.
    pub async fn set_ntp(&self, enabled: bool) -> Result<(), Error> {
        let proxy: Timedate1Proxy<'_> = self.proxy().await?;
        Self::answer(proxy.set_ntp(enabled, false).await)
    }

    /// Sets the host's clock (µs since the epoch, UTC); refused with
    /// `org.freedesktop.timedate1.AutomaticTimeSyncEnabled` while NTP is on.
    pub async fn set_time(&self, usec_utc: i64) -> Result<(), Error> {
        let proxy: Timedate1Proxy<'_> = self.proxy().await?;
        Self::answer(proxy.set_time(usec_utc, false, false).await)
    }
}
