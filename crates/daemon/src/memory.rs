//! What the daemon does to keep its resident memory small on a board with 1 GB: few allocator
//! arenas, freed heap handed back to the kernel when the work that used it is over, and the code
//! only the start or a job runs paged out once the daemon is idle again.
//!
//! Each step follows an event (the start's tasks ending, the last running job ending, then a
//! quiet period with no job), never a periodic timer, so an idle daemon stays asleep.

use jobs::JobManager;
use std::io::BufRead;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

/// glibc's arenas kept at most: by default it makes up to 8 per core, one for each thread that
/// allocates while another holds an arena, and every arena keeps the pages it once used. The
/// daemon's threads mostly wait on I/O, so two arenas contend little and keep far less.
const ARENAS: libc::c_int = 2;

/// Longest the memory waits for the start's tasks before it settles anyway.
const BOOT_SETTLE: Duration = Duration::from_secs(30);

/// How long no job may run before the code the last jobs ran is paged out. Paging out as soon as
/// a job ends made the next one fault its code back in from disk: installing and starting one
/// add-on after another took 5.9 s each instead of 3.9. Jobs come in bursts (an update of several
/// add-ons, a restore), so a pause this long means the burst is over.
const QUIET: Duration = Duration::from_secs(60);

/// Settles the memory once the start's tasks (`boot`) are over, or after [`BOOT_SETTLE`] since
/// without an engine some wait for it indefinitely. Then trims the heap each time the last running
/// job ends, as a backup or an install leaves buffers behind that the allocator would otherwise
/// keep, and pages the code out again once no job has run for [`QUIET`].
pub async fn keep_small(boot: Vec<JoinHandle<()>>, jobs: JobManager) {
    let mut changes = jobs.subscribe();
    let _ = tokio::time::timeout(BOOT_SETTLE, async {
        for task in boot {
            let _ = task.await;
        }
    })
    .await;
    settle();
    let mut were_running = false;
    let mut quiet_from: Option<tokio::time::Instant> = None;
    loop {
        let change = match quiet_from {
            Some(since) => tokio::select! {
                change = changes.recv() => change,
                () = tokio::time::sleep_until(since + QUIET) => {
                    quiet_from = None;
                    settle();
                    continue;
                }
            },
            None => changes.recv().await,
        };
        match change {
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        let running = jobs.running() > 0;
        if were_running && !running {
            trim_heap();
            quiet_from = Some(tokio::time::Instant::now());
        } else if running {
            quiet_from = None;
        }
        were_running = running;
    }
}

/// Limits the allocator's arenas; called first thing in `main`, before any thread exists.
pub fn limit_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; no thread allocates yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Hands the heap's free pages back to the kernel: the top of every arena and the free pages
/// inside them. Costs a walk of the free lists, a millisecond or so.
fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim is thread-safe; it takes each arena's lock in turn.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trims the heap and asks the kernel to page out the executable's read-only mappings. The kernel
/// reads code around every page touched (64 KiB by default), so the start, which runs code of
/// every manager once, or an install, leaves tens of MiB of the binary resident that an idle
/// daemon does not run; what it still runs faults back in.
fn settle() {
    trim_heap();
    let paged = page_out_executable();
    tracing::debug!(paged_out_kib = paged / 1024, "memory settled");
}

/// `MADV_PAGEOUT` on every mapping of the executable that is not writable (code and read-only
/// data; writable ones hold relocated data that would be swapped, not dropped). Returns the bytes
/// advised. Kernels before 5.4 refuse the advice and nothing changes.
fn page_out_executable() -> usize {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else { return 0 };
    let Ok(maps) = std::fs::File::open("/proc/self/maps") else { return 0 };
    let mut advised = 0;
    for line in std::io::BufReader::new(maps).lines().map_while(Result::ok) {
        let Some((start, end, writable, path)) = parse_mapping(&line) else { continue };
        if writable || std::path::Path::new(path) != exe {
            continue;
        }
        let length = end - start;
        // SAFETY: the range is a whole mapping of this process, read from its own maps; paging
        // out changes no content, only where it lives.
        if unsafe { libc::madvise(start as *mut libc::c_void, length, libc::MADV_PAGEOUT) } == 0 {
            advised += length;
        }
    }
    advised
}

/// A `/proc/<pid>/maps` line's start, end, whether it is writable, and its path.
fn parse_mapping(line: &str) -> Option<(usize, usize, bool, &str)> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let permissions = fields.next()?;
    let path = fields.nth(3)?;
    Some((
        usize::from_str_radix(start, 16).ok()?,
        usize::from_str_radix(end, 16).ok()?,
        permissions.contains('w'),
        path,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maps_line_gives_its_range_rights_and_path() {
        let line = "55d0c2a00000-55d0c2b10000 r-xp 00200000 fd:01 1234   /usr/bin/supervisor";
        assert_eq!(parse_mapping(line), Some((0x55d0c2a00000, 0x55d0c2b10000, false, "/usr/bin/supervisor")));
        let line = "7f00-8f00 rw-p 00000000 00:00 0 ";
        assert_eq!(parse_mapping(line), None, "an anonymous mapping has no path");
        assert_eq!(parse_mapping("7f00-8f00 rw-p 0 00:00 0 [heap]").map(|m| m.2), Some(true));
    }

    #[test]
    fn paging_out_the_executable_advises_its_code() {
        // The test binary is an executable with code mappings of its own.
        assert!(page_out_executable() > 0);
    }
}
