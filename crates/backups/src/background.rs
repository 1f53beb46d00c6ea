//! The threads that write and read backups run as background work: a backup or restore keeps
//! every core and the disk busy (files read, encrypted and compressed by zstd workers), and the
//! API's threads must still get a core at once when Core or an add-on calls during the nightly
//! backup. The lowered priority lives and dies with a thread of its own, so no pooled thread
//! keeps it.

use std::io;

/// `ioprio_set`'s "the calling thread" and its idle class: the thread's reads and writes are
/// served only when no one else is waiting on the disk (with the BFQ scheduler; others ignore it).
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
const IOPRIO_CLASS_IDLE: libc::c_int = 3;
const IOPRIO_CLASS_SHIFT: libc::c_int = 13;

/// Runs `work` on a thread named `name` at background priority, waiting for it; the threads it
/// starts (zstd's workers) inherit the priority.
pub fn run<T: Send>(name: &str, work: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn_scoped(scope, || {
            lower_this_thread();
            work()
        })?;
        Ok(thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

/// `SCHED_IDLE`: the thread runs only on a core that nothing of normal priority wants, so a
/// request's thread takes the core at its next wake-up instead of sharing it by niceness. And the
/// idle I/O class. Each is best effort: refused, the work runs at normal priority.
fn lower_this_thread() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain values; on Linux, pid 0 is the calling thread alone.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
        tracing::debug!("backup thread at normal priority: {}", io::Error::last_os_error());
    }
    // SAFETY: the same for the I/O priority.
    let idle = IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT;
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, idle) } != 0 {
        tracing::debug!("backup thread at normal I/O priority: {}", io::Error::last_os_error());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_runs_at_idle_priority_and_the_caller_keeps_its_own() {
        let policy = run("test", || unsafe { libc::sched_getscheduler(0) }).unwrap();
        assert_eq!(policy, libc::SCHED_IDLE);
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
        let io = run("test", || unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) }).unwrap();
        assert_eq!(io as libc::c_int >> IOPRIO_CLASS_SHIFT, IOPRIO_CLASS_IDLE);
    }
}
