//! The state of the whole system that every domain reads and some domains change: the core
//! state (setup, running, frozen, shutting down), the health and support evaluations with their
//! reasons, and whether the system reaches the internet.
//!
//! Domains report a reason when a part they own is missing or broken (no container engine, say);
//! job conditions and the info endpoints read the result. Reason names are the real
//! Supervisor's `UnhealthyReason` and `UnsupportedReason` values.

use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

/// The life-cycle state of the supervisor, as `/info` and `/supervisor/info` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoreState {
    Initialize,
    Setup,
    Startup,
    Running,
    Freeze,
    Shutdown,
    Stopping,
    Close,
}

/// Shared, cheaply readable system state. One instance lives for the whole process.
#[derive(Debug)]
pub struct System {
    state: RwLock<CoreState>,
    unhealthy: RwLock<BTreeSet<String>>,
    unsupported: RwLock<BTreeSet<String>>,
    internet: AtomicBool,
    /// Whether the host is Home Assistant OS, and whether its OS-Agent is there (the `haos` and
    /// `os_agent` job conditions); the OS domain keeps both current.
    haos: AtomicBool,
    os_agent: AtomicBool,
    /// Whether the host can mount network storage (the `mount_available` job condition); the
    /// mounts domain keeps it current.
    mount: AtomicBool,
    /// Whether NetworkManager answers (the `host_network` job condition), as the resolution
    /// center last saw it.
    network_manager: AtomicBool,
    lifecycle: tokio::sync::watch::Sender<Lifecycle>,
    /// Rung by a domain whose change can turn a support or health verdict.
    evaluation: tokio::sync::Notify,
    /// Issues domains found or saw go while working, for the resolution center to take.
    raised: std::sync::Mutex<Vec<IssueChange>>,
    raised_ring: tokio::sync::Notify,
}

/// An issue a domain found while working, as the real Supervisor's `create_issue` names it (a
/// port conflict at an add-on's start, say): its type, context, reference, extra and suggestions.
#[derive(Debug, Clone, PartialEq)]
pub struct RaisedIssue {
    pub kind: &'static str,
    pub context: &'static str,
    pub reference: Option<String>,
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    pub suggestions: Vec<&'static str>,
}

/// What a domain tells the resolution center of an issue it watches itself.
#[derive(Debug, Clone, PartialEq)]
pub enum IssueChange {
    /// The issue is there (kept as it is when it already was).
    Raised(RaisedIssue),
    /// The issue of this kind at this place is no longer true and goes, as the real
    /// `dismiss_issue` of a domain's own issue; its suggestions are ignored.
    Withdrawn(RaisedIssue),
}

/// What the daemon's main loop should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Serve,
    /// Stop cleanly and start again in place (same binary, same arguments).
    Restart,
    /// Stop cleanly and exit.
    Shutdown,
}

impl Default for System {
    fn default() -> Self {
        System {
            state: RwLock::new(CoreState::Initialize),
            unhealthy: RwLock::default(),
            unsupported: RwLock::default(),
            internet: AtomicBool::new(false),
            haos: AtomicBool::new(false),
            os_agent: AtomicBool::new(false),
            mount: AtomicBool::new(false),
            network_manager: AtomicBool::new(false),
            lifecycle: tokio::sync::watch::channel(Lifecycle::Serve).0,
            evaluation: tokio::sync::Notify::new(),
            raised: std::sync::Mutex::default(),
            raised_ring: tokio::sync::Notify::new(),
        }
    }
}

impl System {
    pub fn state(&self) -> CoreState {
        *self.state.read().expect("system state lock")
    }

    pub fn set_state(&self, state: CoreState) {
        let mut current = self.state.write().expect("system state lock");
        if *current != state {
            tracing::info!(from = ?*current, to = ?state, "core state changed");
            *current = state;
        }
    }

    /// Asks the resolution center to evaluate the system again (a setting the evaluations read
    /// changed), as the real Supervisor does after such an API call.
    pub fn request_evaluation(&self) {
        self.evaluation.notify_one();
    }

    /// Waits until an evaluation is asked for.
    pub async fn evaluation_requested(&self) {
        self.evaluation.notified().await;
    }

    /// Hands an issue to the resolution center.
    pub fn raise_issue(&self, issue: RaisedIssue) {
        self.tell_issue(IssueChange::Raised(issue));
    }

    /// Tells the resolution center that an issue a domain raised is no longer true.
    pub fn withdraw_issue(&self, issue: RaisedIssue) {
        self.tell_issue(IssueChange::Withdrawn(issue));
    }

    fn tell_issue(&self, change: IssueChange) {
        self.raised.lock().unwrap_or_else(|e| e.into_inner()).push(change);
        self.raised_ring.notify_one();
    }

    /// Waits for raised and withdrawn issues and takes them, in the order they came.
    pub async fn raised_issues(&self) -> Vec<IssueChange> {
        loop {
            let taken = std::mem::take(&mut *self.raised.lock().unwrap_or_else(|e| e.into_inner()));
            if !taken.is_empty() {
                return taken;
            }
            self.raised_ring.notified().await;
        }
    }

    /// Healthy while no domain reports an unhealthy reason.
    pub fn healthy(&self) -> bool {
        self.unhealthy.read().expect("health lock").is_empty()
    }

    /// Supported while no domain reports an unsupported reason.
    pub fn supported(&self) -> bool {
        self.unsupported.read().expect("support lock").is_empty()
    }

    pub fn unsupported_reasons(&self) -> Vec<String> {
        self.unsupported.read().expect("support lock").iter().cloned().collect()
    }

    pub fn unhealthy_reasons(&self) -> Vec<String> {
        self.unhealthy.read().expect("health lock").iter().cloned().collect()
    }

    /// Adds (`true`) or clears (`false`) an unhealthy reason.
    pub fn mark_unhealthy(&self, reason: &str, present: bool) {
        toggle(&self.unhealthy, reason, present, "unhealthy");
    }

    /// Adds (`true`) or clears (`false`) an unsupported reason.
    pub fn mark_unsupported(&self, reason: &str, present: bool) {
        toggle(&self.unsupported, reason, present, "unsupported");
    }

    /// Looks at an error of a file operation on a local path: one that says the file system is
    /// corrupt (`EBADMSG`, as ext4 and others answer a bad checksum) makes the system unhealthy
    /// (`oserror_bad_message`), as the real Supervisor's `check_oserror`.
    pub fn check_io_error(&self, error: &std::io::Error) {
        if error.raw_os_error() == Some(libc::EBADMSG) {
            self.mark_unhealthy("oserror_bad_message", true);
        }
    }

    /// Whether the supervisor itself reached the internet on its last attempt.
    pub fn internet(&self) -> bool {
        self.internet.load(Ordering::Relaxed)
    }

    pub fn set_internet(&self, reachable: bool) {
        self.internet.store(reachable, Ordering::Relaxed);
    }

    pub fn haos(&self) -> bool {
        self.haos.load(Ordering::Relaxed)
    }

    pub fn set_haos(&self, haos: bool) {
        self.haos.store(haos, Ordering::Relaxed);
    }

    pub fn os_agent(&self) -> bool {
        self.os_agent.load(Ordering::Relaxed)
    }

    pub fn set_os_agent(&self, present: bool) {
        self.os_agent.store(present, Ordering::Relaxed);
    }

    pub fn mount_available(&self) -> bool {
        self.mount.load(Ordering::Relaxed)
    }

    pub fn set_mount_available(&self, available: bool) {
        self.mount.store(available, Ordering::Relaxed);
    }

    pub fn network_manager(&self) -> bool {
        self.network_manager.load(Ordering::Relaxed)
    }

    pub fn set_network_manager(&self, answers: bool) {
        self.network_manager.store(answers, Ordering::Relaxed);
    }

    /// Whether an evaluation found `reason`.
    pub fn is_unsupported(&self, reason: &str) -> bool {
        self.unsupported.read().expect("support lock").contains(reason)
    }

    /// Whether a domain reported the unhealthy `reason`.
    pub fn is_unhealthy(&self, reason: &str) -> bool {
        self.unhealthy.read().expect("health lock").contains(reason)
    }

    /// Asks the daemon to stop and start again, or to stop; the first request wins.
    pub fn request(&self, next: Lifecycle) {
        self.lifecycle.send_if_modified(|current| {
            let change = *current == Lifecycle::Serve;
            if change {
                *current = next;
            }
            change
        });
    }

    /// Resolves with the first restart or shutdown request.
    pub async fn requested(&self) -> Lifecycle {
        let mut watch = self.lifecycle.subscribe();
        let next = watch.wait_for(|l| *l != Lifecycle::Serve).await.map(|l| *l);
        next.unwrap_or(Lifecycle::Shutdown)
    }
}

fn toggle(set: &RwLock<BTreeSet<String>>, reason: &str, present: bool, what: &str) {
    let mut set = set.write().expect("reason lock");
    let changed = if present { set.insert(reason.to_owned()) } else { set.remove(reason) };
    if changed {
        if present {
            tracing::warn!(reason, "system is now {what}");
        } else {
            tracing::info!(reason, "{what} reason cleared");
        }
    }
}

/// The host's machine id (`/etc/machine-id`), when it has one.
pub fn machine_id() -> Option<String> {
    std::fs::read_to_string("/etc/machine-id").ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Free bytes on the filesystem holding `path`, as an unprivileged process may use them.
pub fn free_space(path: &std::path::Path) -> std::io::Result<u64> {
    disk_usage(path).map(|usage| usage.free)
}

/// Total, used and free bytes of the filesystem holding `path`.
#[derive(Debug, Clone, Copy)]
pub struct DiskUsage {
    pub total: u64,
    pub used: u64,
    pub free: u64,
}

// The statvfs fields are u32 on 32-bit boards and u64 elsewhere; the conversions serve the former.
#[allow(clippy::useless_conversion)]
pub fn disk_usage(path: &std::path::Path) -> std::io::Result<DiskUsage> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: c_path is a valid NUL-terminated string and stat points to writable memory of the
    // right size; statvfs initialises it when it returns 0.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so the struct is initialised.
    let stat = unsafe { stat.assume_init() };
    let block = u64::from(stat.f_frsize);
    let total = u64::from(stat.f_blocks) * block;
    let free = u64::from(stat.f_bavail) * block;
    let used = total.saturating_sub(u64::from(stat.f_bfree) * block);
    Ok(DiskUsage { total, used, free })
}

/// The supervisor's time zone as containers get it, asked again at every start (the user can
/// change it at run time).
pub type Timezone = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_reasons() {
        let system = System::default();
        assert!(system.healthy());
        system.mark_unhealthy("docker", true);
        assert!(!system.healthy());
        assert_eq!(system.unhealthy_reasons(), vec!["docker".to_string()]);
        system.mark_unhealthy("docker", false);
        assert!(system.healthy());
    }

    #[test]
    fn a_corrupt_file_system_makes_the_system_unhealthy() {
        let system = System::default();
        system.check_io_error(&std::io::Error::from_raw_os_error(libc::ENOENT));
        system.check_io_error(&std::io::Error::other("not of the kernel"));
        assert!(system.healthy());
        system.check_io_error(&std::io::Error::from_raw_os_error(libc::EBADMSG));
        assert_eq!(system.unhealthy_reasons(), ["oserror_bad_message"]);
    }

    #[test]
    fn disk_usage_is_consistent() {
        let usage = disk_usage(std::path::Path::new("/")).unwrap();
        assert!(usage.total > 0 && usage.free <= usage.total && usage.used <= usage.total);
    }
}
