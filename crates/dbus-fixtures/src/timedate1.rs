//! `org.freedesktop.timedate1` at `/org/freedesktop/timedate1`: systemd-timedated on a host in
//! UTC with NTP on and synchronised. Like timedated, it announces `Timezone`, `LocalRTC` and
//! `NTP` changes but never `NTPSynchronized` or the clocks; `SetTime` is refused while NTP is on
//! (`org.freedesktop.timedate1.AutomaticTimeSyncEnabled`) and moves only this fixture's clock.

use crate::control::{Calls, Control, HasProps};
use crate::error::ServiceError;
use crate::props::Props;
use crate::Profile;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};
use zbus::object_server::SignalEmitter;
use zbus::{interface, Connection};

pub const BUS_NAME: &str = "org.freedesktop.timedate1";
pub const PATH: &str = "/org/freedesktop/timedate1";
const INTERFACE: &str = "org.freedesktop.timedate1";
const ZONEINFO: &str = "/usr/share/zoneinfo";

pub struct Timedate1 {
    props: Props,
    calls: Calls,
    /// What `SetTime` moved the clock by, in µs: the fixture's time is the machine's plus this.
    offset_usec: i64,
}

/// Exports the service's objects on a connection that has not taken the bus name yet.
/// It looks the same with every profile.
pub async fn serve(connection: &Connection, _profile: Profile) -> zbus::Result<()> {
    let calls = Calls::default();
    let props = Props::default()
        .signalled("Timezone", "Etc/UTC")
        .signalled("LocalRTC", false)
        .quiet("CanNTP", true)
        .signalled("NTP", true)
        .quiet("NTPSynchronized", true);
    let server = connection.object_server();
    server.at(PATH, Timedate1 { props, calls: calls.clone(), offset_usec: 0 }).await?;
    server.at(PATH, Control::new::<Timedate1>(PATH, calls)).await?;
    Ok(())
}

fn machine_usec() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    i64::try_from(since_epoch.as_micros()).expect("µs since 1970 fit in 64 bits")
}

/// timedated accepts a zone only if it is a well-formed name and installed as a TZif file. On a
/// machine without tzdata only the form is checked, so the fixture still works there.
fn timezone_is_valid(zone: &str) -> bool {
    let well_formed = !zone.is_empty()
        && zone.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b))
        });
    if !well_formed {
        return false;
    }
    if !Path::new(ZONEINFO).is_dir() {
        return true;
    }
    std::fs::read(Path::new(ZONEINFO).join(zone)).is_ok_and(|bytes| bytes.starts_with(b"TZif"))
}

impl HasProps for Timedate1 {
    fn props_mut(&mut self) -> &mut Props {
        &mut self.props
    }
}

#[interface(name = "org.freedesktop.timedate1")]
impl Timedate1 {
    async fn set_timezone(
        &mut self,
        timezone: String,
        interactive: bool,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), ServiceError> {
        self.calls.record(format!("SetTimezone({timezone}, {interactive})"));
        if !timezone_is_valid(&timezone) {
            return Err(ServiceError::invalid_args(format!("Invalid or not installed time zone '{timezone}'")));
        }
        if timezone == self.props.get::<String>("Timezone") {
            return Ok(());
        }
        self.props.set("Timezone", timezone);
        self.props.announce(&emitter, INTERFACE, &["Timezone"]).await?;
        Ok(())
    }

    #[zbus(name = "SetNTP")]
    async fn set_ntp(
        &mut self,
        use_ntp: bool,
        interactive: bool,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), ServiceError> {
        self.calls.record(format!("SetNTP({use_ntp}, {interactive})"));
        if use_ntp == self.props.get::<bool>("NTP") {
            return Ok(());
        }
        self.props.set("NTP", use_ntp);
        self.props.announce(&emitter, INTERFACE, &["NTP"]).await?;
        Ok(())
    }

    fn set_time(&mut self, usec_utc: i64, relative: bool, interactive: bool) -> Result<(), ServiceError> {
        self.calls.record(format!("SetTime({usec_utc}, {relative}, {interactive})"));
        if self.props.get::<bool>("NTP") {
            return Err(ServiceError::new(
                "org.freedesktop.timedate1.AutomaticTimeSyncEnabled",
                "Automatic time synchronization is enabled",
            ));
        }
        self.offset_usec = if relative { self.offset_usec + usec_utc } else { usec_utc - machine_usec() };
        Ok(())
    }

    #[zbus(property)]
    fn timezone(&self) -> String {
        self.props.get("Timezone")
    }

    #[zbus(property, name = "LocalRTC")]
    fn local_rtc(&self) -> bool {
        self.props.get("LocalRTC")
    }

    #[zbus(property(emits_changed_signal = "false"), name = "CanNTP")]
    fn can_ntp(&self) -> bool {
        self.props.get("CanNTP")
    }

    #[zbus(property, name = "NTP")]
    fn ntp(&self) -> bool {
        self.props.get("NTP")
    }

    #[zbus(property(emits_changed_signal = "false"), name = "NTPSynchronized")]
    fn ntp_synchronized(&self) -> bool {
        self.props.get("NTPSynchronized")
    }

    #[zbus(property(emits_changed_signal = "false"), name = "TimeUSec")]
    fn time_usec(&self) -> u64 {
        u64::try_from(machine_usec() + self.offset_usec).unwrap_or(0)
    }

    #[zbus(property(emits_changed_signal = "false"), name = "RTCTimeUSec")]
    fn rtc_time_usec(&self) -> u64 {
        self.time_usec()
    }
}

#[cfg(test)]
mod tests {
    use super::{timezone_is_valid, ZONEINFO};

    #[test]
    fn timezones_must_be_installed_names() {
        assert!(timezone_is_valid("Etc/UTC"));
        assert!(timezone_is_valid("Europe/Amsterdam"));
        assert_eq!(timezone_is_valid("Not/AZone"), !std::path::Path::new(ZONEINFO).is_dir());
        for bad in ["", "../etc/passwd", "Europe//Amsterdam", "/Etc/UTC", "Europe/Amster dam"] {
            assert!(!timezone_is_valid(bad), "{bad}");
        }
    }
}
