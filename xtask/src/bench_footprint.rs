//! The footprint benchmarks of `cargo xtask bench`, run after `supervisor_info` with the same
//! release daemon, each printed on `bench <name>:` lines:
//!
//! - `idle_rss`: resident memory (VmRSS) of the idle daemon once settled, with 2 HTTP workers (the
//!   default) and with 1, and where the 2 workers' resident pages lie (`idle_rss_breakdown`, from
//!   `/proc/<pid>/smaps`: the binary's code, read-only data and writable data, heap and allocator
//!   arenas, thread stacks, shared libraries, the rest);
//! - `idle_cpu`: the settled daemon's CPU time, in % of one core, and its wake-ups per second (the
//!   context switches of all its threads), over [`IDLE_CPU_WINDOW`] (`BENCH_IDLE_CPU_SECS=<seconds>`
//!   shortens it for a quick run); `idle_cpu_threads` shows the threads that woke most;
//! - `binary_size`: the release `supervisor` as built and stripped, what of it a running daemon
//!   maps, and (`binary_size_crates`) the crates whose symbols weigh most, read with `nm` from the
//!   binary, or from an unstripped build of it in `target/bench-unstripped` when the release
//!   profile strips the symbols.
//!
//! "Idle" is the setting of issue 17: a fresh daemon on an empty data directory, every fixture
//! host service of `dbus-fixtures` answering on a private bus, the engine at the default socket
//! reached (`/docker/info` names its version), and the memory settled. The daemon settles (trims
//! its heap, pages its start-up code out) once its start's tasks end, and at the latest
//! [`BOOT_SETTLE`] after its start; on an empty data directory Core's install waits for a version
//! manifest that never comes, so it is the latter. The daemons get the instance prefix
//! `bench-<pid>-footprint...` for their network, which an [`EngineObjects`] guard removes after.

use crate::bench::Daemon;
use crate::bench_addons::{command_output, BenchDaemon, EngineObjects};
use anyhow::{bail, ensure, Context};
use dbus_fixtures::{PrivateBus, Service};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the daemon's memory may wait for its start's tasks before it settles anyway (the
/// daemon's own `BOOT_SETTLE`), plus a second for the settling itself.
pub(crate) const BOOT_SETTLE: Duration = Duration::from_secs(31);
/// How long the daemon waits without jobs before it pages out the code they ran (the daemon's own
/// `QUIET`), plus a second for the settling itself.
pub(crate) const JOBS_QUIET: Duration = Duration::from_secs(61);
/// Idling after the engine is reached, before the first sample, at the least.
const ENGINE_PAUSE: Duration = Duration::from_secs(5);
/// The window `idle_cpu` measures over, unless `BENCH_IDLE_CPU_SECS` says otherwise.
const IDLE_CPU_WINDOW: Duration = Duration::from_secs(60);
const IDLE_CPU_SECS_VAR: &str = "BENCH_IDLE_CPU_SECS";
/// Threads named in `idle_cpu_threads`.
const TOP_THREADS: usize = 5;
/// Crates named in `binary_size_crates`.
const TOP_CRATES: usize = 10;
/// The largest guard page below a thread's stack (glibc's is one page); an arena's reserved tail
/// that happens to lie below another mapping is far larger.
const GUARD_MAX_KIB: u64 = 64;
/// Where the unstripped daemon is built when the release profile strips symbols.
const UNSTRIPPED_TARGET: &str = "target/bench-unstripped";

/// VmRSS of the settled daemon with 2 workers and with 1, and where the 2 workers' pages lie.
pub(crate) fn idle_rss(bin: &Path) -> anyhow::Result<()> {
    crate::test_tools::ensure()?;
    let engine = EngineObjects::new();
    let (mut figures, mut breakdown) = (Vec::new(), None);
    for workers in [2, 1] {
        let mut idle = IdleDaemon::start(bin, &engine, workers)?;
        figures.push(format!("workers {workers} {:.1} MiB", mib(idle.rss_kib)));
        if breakdown.is_none() {
            let exe = idle.exe()?;
            breakdown = Some(Breakdown::of(&smaps(idle.daemon().pid())?, &exe));
        }
    }
    println!(
        "bench idle_rss: {} (VmRSS of a fresh daemon, settled, every host service on a private D-Bus, engine at the \
         default socket reached, aim < 12 MiB)",
        figures.join(" | ")
    );
    let breakdown = breakdown.context("no daemon was measured")?;
    println!("bench idle_rss_breakdown: {breakdown} (MiB resident by /proc/<pid>/smaps, 2 workers)");
    Ok(())
}

/// CPU use and wake-ups of the settled daemon with 2 workers.
pub(crate) fn idle_cpu(bin: &Path) -> anyhow::Result<()> {
    crate::test_tools::ensure()?;
    let window = match std::env::var(IDLE_CPU_SECS_VAR) {
        Ok(secs) => Duration::from_secs(secs.parse().with_context(|| format!("{IDLE_CPU_SECS_VAR}={secs:?}"))?),
        Err(_) => IDLE_CPU_WINDOW,
    };
    let ticks_per_second: f64 = command_output(Command::new("getconf").arg("CLK_TCK"))?.trim().parse()?;
    let engine = EngineObjects::new();
    let mut idle = IdleDaemon::start(bin, &engine, 2)?;
    let pid = idle.daemon().pid();
    let (cpu_before, threads_before) = (cpu_ticks(pid)?, threads(pid)?);
    let started = Instant::now();
    std::thread::sleep(window);
    let (cpu_after, threads_after) = (cpu_ticks(pid)?, threads(pid)?);
    let elapsed = started.elapsed().as_secs_f64();
    idle.daemon().ensure_alive()?;

    let ticks = cpu_after - cpu_before;
    let percent = ticks as f64 / ticks_per_second / elapsed * 100.0;
    // By name: the runtime's workers share theirs. A thread born in the window counts from 0.
    let mut by_name: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for (tid, (name, switches)) in &threads_after {
        let before = threads_before.get(tid).map_or(0, |(_, switches)| *switches);
        let entry = by_name.entry(name.as_str()).or_default();
        entry.0 += 1;
        entry.1 += switches.saturating_sub(before);
    }
    let total: u64 = by_name.values().map(|(_, switches)| switches).sum();
    let mut busiest: Vec<_> = by_name.into_iter().collect();
    busiest.sort_by_key(|(_, (_, switches))| std::cmp::Reverse(*switches));
    let busiest: Vec<String> = busiest
        .iter()
        .take(TOP_THREADS)
        .map(|(name, (count, switches))| {
            let count = if *count > 1 { format!(" x{count}") } else { String::new() };
            format!("{name}{count} {:.2}/s", *switches as f64 / elapsed)
        })
        .collect();
    println!(
        "bench idle_cpu: {percent:.3} % of one core ({ticks} ticks of 1/{ticks_per_second:.0} s) | {:.2} wake-ups/s \
         over {} threads (aim < 0.1 %; the settled daemon with 2 workers over {:.0} s, utime+stime of \
         /proc/<pid>/stat, voluntary+nonvoluntary context switches of its threads)",
        total as f64 / elapsed,
        threads_after.len(),
        elapsed,
    );
    println!("bench idle_cpu_threads: {} (wake-ups per second by thread name, the busiest)", busiest.join(" | "));
    Ok(())
}

/// The release binary's size on disk, stripped, mapped, and by crate.
pub(crate) fn binary_size(root: &Path, bin: &Path) -> anyhow::Result<()> {
    let built = std::fs::metadata(bin)?.len();
    let stripped = match Command::new("strip").arg("--version").output() {
        Ok(_) => {
            let copy = tempfile::NamedTempFile::new()?;
            command_output(Command::new("strip").arg("-o").arg(copy.path()).arg(bin))?;
            format!("{:.1} MiB", mib(std::fs::metadata(copy.path())?.len() / 1024))
        }
        Err(_) => "n/a (no strip)".to_owned(),
    };
    // What it maps does not depend on what it does; no engine, so nothing is made on it.
    let data = tempfile::tempdir()?;
    let mut daemon = Daemon::start(bin, data.path(), &["--docker", "unix:///nonexistent.sock"])?;
    daemon.wait_ready()?;
    let exe = std::fs::read_link(format!("/proc/{}/exe", daemon.pid()))?;
    let mapped: u64 = smaps(daemon.pid())?.iter().filter(|m| Path::new(&m.path) == exe).map(|m| m.size_kib).sum();
    drop(daemon);
    println!(
        "bench binary_size: {:.1} MiB as built | {stripped} stripped | {:.1} MiB mapped (target/release/supervisor; \
         mapped: the Size of its own mappings in a running daemon's smaps)",
        mib(built / 1024),
        mib(mapped),
    );

    let (mut symbols, mut from) = (nm(bin)?, "the release binary");
    if symbols.is_empty() {
        symbols = nm(&unstripped(root)?)?;
        from = "an unstripped build (target/bench-unstripped), the release profile strips symbols";
    }
    let sizes = crate_sizes(&symbols);
    let total: u64 = sizes.iter().map(|(_, size)| size).sum();
    let top: Vec<String> =
        sizes.iter().take(TOP_CRATES).map(|(name, size)| format!("{name} {} KiB", size / 1024)).collect();
    println!(
        "bench binary_size_crates: {} (of {} KiB of sized symbols, by the first path segment of each demangled \
         symbol, standard library code made for another crate's type counted for that crate; from {from})",
        top.join(" | "),
        total / 1024
    );
    Ok(())
}

/// A daemon started as `idle_rss` and `idle_cpu` measure it, once its memory has settled;
/// killed when dropped, before its bus goes.
struct IdleDaemon {
    bench: BenchDaemon,
    _bus: PrivateBus,
    /// VmRSS once settled, in KiB.
    rss_kib: u64,
}

impl IdleDaemon {
    fn start(bin: &Path, engine: &EngineObjects, workers: usize) -> anyhow::Result<IdleDaemon> {
        let bus = PrivateBus::start(Service::ALL).context("starting the fixture services")?;
        let workers = workers.to_string();
        let started = Instant::now();
        let name = format!("footprint{workers}");
        let mut bench =
            BenchDaemon::start_with(bin, engine, &name, tempfile::tempdir()?, &["--workers", &workers], &[bus.env()])?;
        let host = bench.get("/host/info")?;
        ensure!(host["hostname"].is_string(), "the fixture services do not answer: {host}");

        let first_sample = (Instant::now() + ENGINE_PAUSE).max(started + BOOT_SETTLE);
        std::thread::sleep(first_sample.saturating_duration_since(Instant::now()));
        let rss_kib = bench.daemon.settled_rss_kib()?;
        bench.daemon.ensure_alive()?;
        Ok(IdleDaemon { bench, _bus: bus, rss_kib })
    }

    fn daemon(&mut self) -> &mut Daemon {
        &mut self.bench.daemon
    }

    /// The daemon's executable, as its mappings name it.
    fn exe(&mut self) -> anyhow::Result<PathBuf> {
        Ok(std::fs::read_link(format!("/proc/{}/exe", self.daemon().pid()))?)
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One mapping of `/proc/<pid>/smaps`, with the two sizes the benchmarks read.
#[derive(Debug, PartialEq)]
struct Mapping {
    start: u64,
    end: u64,
    permissions: String,
    /// Empty for an anonymous mapping.
    path: String,
    size_kib: u64,
    rss_kib: u64,
}

impl Mapping {
    fn anonymous(&self) -> bool {
        self.path.is_empty() || self.path.starts_with("[anon:")
    }

    /// A small inaccessible anonymous mapping: the guard page below a thread's stack.
    fn guard(&self) -> bool {
        self.anonymous() && self.permissions.starts_with("---") && self.size_kib <= GUARD_MAX_KIB
    }
}

fn smaps(pid: u32) -> anyhow::Result<Vec<Mapping>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).context("reading smaps")?;
    parse_smaps(&text)
}

/// The mappings of an smaps text: a header line (`start-end perms offset dev inode [path]`) each,
/// followed by `Key: value kB` lines.
fn parse_smaps(text: &str) -> anyhow::Result<Vec<Mapping>> {
    let mut mappings: Vec<Mapping> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if let Some(key) = first.strip_suffix(':') {
            let Some(mapping) = mappings.last_mut() else { bail!("smaps starts with {line:?}") };
            let mut kib = || fields.next().and_then(|value| value.parse().ok()).with_context(|| format!("in {line:?}"));
            match key {
                "Size" => mapping.size_kib = kib()?,
                "Rss" => mapping.rss_kib = kib()?,
                _ => {}
            }
            continue;
        }
        let (start, end) = first.split_once('-').with_context(|| format!("an smaps header {line:?}"))?;
        let permissions = fields.next().with_context(|| format!("no permissions in {line:?}"))?;
        // Offset, device and inode; the path, which may hold spaces, is what follows.
        let path: Vec<&str> = fields.skip(3).collect();
        mappings.push(Mapping {
            start: u64::from_str_radix(start, 16)?,
            end: u64::from_str_radix(end, 16)?,
            permissions: permissions.to_owned(),
            path: path.join(" "),
            size_kib: 0,
            rss_kib: 0,
        });
    }
    Ok(mappings)
}

/// Resident KiB by what the pages hold.
#[derive(Debug, Default, PartialEq)]
struct Breakdown {
    code: u64,
    read_only_data: u64,
    writable_data: u64,
    heap: u64,
    stacks: u64,
    libraries: u64,
    other: u64,
}

impl Breakdown {
    /// Sorts each mapping's resident pages; `exe` is the executable as the mappings name it.
    fn of(mappings: &[Mapping], exe: &Path) -> Breakdown {
        let mut breakdown = Breakdown::default();
        let is_exe = |mapping: &Mapping| Path::new(&mapping.path) == exe;
        for (index, mapping) in mappings.iter().enumerate() {
            let below = index.checked_sub(1).map(|below| &mappings[below]).filter(|below| below.end == mapping.start);
            let category = if is_exe(mapping) {
                if mapping.permissions.contains('x') {
                    &mut breakdown.code
                } else if mapping.permissions.contains('w') {
                    &mut breakdown.writable_data
                } else {
                    &mut breakdown.read_only_data
                }
            } else if mapping.anonymous() && below.is_some_and(|below| is_exe(below) && below.permissions.contains('w'))
            {
                // The binary's .bss, which lies past the end of its file.
                &mut breakdown.writable_data
            } else if mapping.path == "[stack]" || (mapping.anonymous() && below.is_some_and(Mapping::guard)) {
                &mut breakdown.stacks
            } else if mapping.path == "[heap]" || (mapping.anonymous() && mapping.permissions.starts_with("rw")) {
                &mut breakdown.heap
            } else if mapping.path.contains(".so") {
                &mut breakdown.libraries
            } else {
                &mut breakdown.other
            };
            *category += mapping.rss_kib;
        }
        breakdown
    }
}

impl std::fmt::Display for Breakdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "binary code {:.1} | binary read-only data {:.1} | binary writable data {:.1} | heap and malloc arenas \
             {:.1} | thread stacks {:.1} | shared libraries {:.1} | other {:.1}",
            mib(self.code),
            mib(self.read_only_data),
            mib(self.writable_data),
            mib(self.heap),
            mib(self.stacks),
            mib(self.libraries),
            mib(self.other),
        )
    }
}

/// utime + stime of a process, in clock ticks: fields 14 and 15 of `/proc/<pid>/stat`, counted
/// after the command name, which is in parentheses and may hold spaces.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    parse_cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat"))?)
}

fn parse_cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let (_, fields) = stat.rsplit_once(')').context("no command name in /proc/<pid>/stat")?;
    // The state is field 3, the first after the name.
    let mut fields = fields.split_whitespace().skip(11);
    let mut next = || fields.next().and_then(|field| field.parse::<u64>().ok()).context("a short /proc/<pid>/stat");
    Ok(next()? + next()?)
}

/// Each thread of a process by id: its name and its context switches so far.
fn threads(pid: u32) -> anyhow::Result<BTreeMap<u64, (String, u64)>> {
    let mut threads = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let entry = entry?;
        let Ok(tid) = entry.file_name().to_string_lossy().parse() else { continue };
        // A thread that ended since the listing is skipped.
        let (Ok(name), Ok(status)) =
            (std::fs::read_to_string(entry.path().join("comm")), std::fs::read_to_string(entry.path().join("status")))
        else {
            continue;
        };
        threads.insert(tid, (name.trim().to_owned(), context_switches(&status)));
    }
    Ok(threads)
}

/// voluntary_ctxt_switches + nonvoluntary_ctxt_switches of a `status` file.
fn context_switches(status: &str) -> u64 {
    status
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            matches!(key, "voluntary_ctxt_switches" | "nonvoluntary_ctxt_switches")
                .then(|| value.trim().parse::<u64>().ok())?
        })
        .sum()
}

/// The sized symbols of `binary` as `nm -C` lists them; empty when it has none (stripped).
fn nm(binary: &Path) -> anyhow::Result<String> {
    let output = Command::new("nm")
        .args(["--size-sort", "--print-size", "-C"])
        .arg(binary)
        .output()
        .context("running nm (binutils)")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.success() || stderr.contains("no symbols"), "nm {} failed: {stderr}", binary.display());
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Builds the daemon with its symbols into [`UNSTRIPPED_TARGET`] (incrementally: a no-op when
/// current); answers the binary.
fn unstripped(root: &Path) -> anyhow::Result<PathBuf> {
    let args = ["build", "--release", "-p", "daemon", "--target-dir", UNSTRIPPED_TARGET];
    eprintln!("+ CARGO_PROFILE_RELEASE_STRIP=false cargo {}", args.join(" "));
    let status = Command::new("cargo")
        .args(args)
        .env("CARGO_PROFILE_RELEASE_STRIP", "false")
        .current_dir(root)
        .status()
        .context("running cargo")?;
    ensure!(status.success(), "the unstripped build failed: {status}");
    Ok(root.join(UNSTRIPPED_TARGET).join("release/supervisor"))
}

/// Bytes of `nm --print-size -C` symbols by crate, largest first. What has no crate path (C,
/// assembly, anonymous constants) is summed as one entry; .bss, which takes no room in the
/// file, is left out.
fn crate_sizes(nm: &str) -> Vec<(String, u64)> {
    let mut sizes: BTreeMap<&str, u64> = BTreeMap::new();
    for line in nm.lines() {
        // `address size type name`; the name may hold spaces.
        let mut fields = line.splitn(4, ' ');
        let (Some(_), Some(size), Some(kind), Some(name)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(size) = u64::from_str_radix(size, 16) else { continue };
        if kind.eq_ignore_ascii_case("b") {
            continue;
        }
        *sizes.entry(crate_of(name).unwrap_or("(no crate path)")).or_default() += size;
    }
    let mut sizes: Vec<(String, u64)> = sizes.into_iter().map(|(name, size)| (name.to_owned(), size)).collect();
    sizes.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    sizes
}

/// The standard library's crates, whose generic code is made for the types of other crates.
const STANDARD: [&str; 3] = ["core", "alloc", "std"];

/// The crate a demangled symbol belongs to: its first path segment (`tokio::...`,
/// `<actix_http::...`), or for an impl on a type of no crate (`<&T as core::fmt::Debug>::fmt`)
/// the trait's; none for a symbol without a path. Code of the standard library made for another
/// crate's type counts for that crate: drop glue above all (`core::ptr::drop_in_place<addons::...>`),
/// which would otherwise make `core` the largest by far.
fn crate_of(symbol: &str) -> Option<&str> {
    let subject = symbol
        .trim_start_matches(['<', '&', '*', '(', '['])
        .trim_start_matches("mut ")
        .trim_start_matches("const ")
        .trim_start_matches("dyn ");
    let first = first_segment(subject).or_else(|| first_segment(symbol.split_once(" as ")?.1))?;
    if !STANDARD.contains(&first) {
        return Some(first);
    }
    Some(crates_named(symbol).find(|name| !STANDARD.contains(name)).unwrap_or(first))
}

/// The leading identifier of `path` when a `::` follows it.
fn first_segment(path: &str) -> Option<&str> {
    let end = path.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    (end > 0 && path[end..].starts_with("::")).then(|| &path[..end])
}

/// The first segments of every path in `symbol`, in order.
fn crates_named(symbol: &str) -> impl Iterator<Item = &str> {
    symbol.match_indices("::").filter_map(move |(at, _)| {
        let before = &symbol[..at];
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(0, |(index, c)| index + c.len_utf8());
        let name = &before[start..];
        (!name.is_empty() && !before[..start].ends_with("::")).then_some(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXE: &str = "/work/target/release/supervisor";

    /// A trimmed smaps of a daemon: its binary with .bss, the heap, an arena with its reserved
    /// tail, a thread stack below its guard page, a library, the vDSO and the main stack.
    fn sample() -> String {
        let mapping = |range: &str, perms: &str, path: &str, size: u64, rss: u64| {
            format!(
                "{range} {perms} 00000000 fd:01 1234    {path}\nSize:           {size} kB\nKernelPageSize:        4 kB\n\
                 Rss:            {rss} kB\nPss:            {rss} kB\nVmFlags: rd mr mw me sd \n"
            )
        };
        [
            mapping("55d000000000-55d000100000", "r--p", EXE, 1024, 100),
            mapping("55d000100000-55d000600000", "r-xp", EXE, 5120, 900),
            mapping("55d000600000-55d000700000", "r--p", EXE, 1024, 200),
            mapping("55d000700000-55d000710000", "rw-p", EXE, 64, 60),
            mapping("55d000710000-55d000712000", "rw-p", "", 8, 8),
            mapping("55d001000000-55d001200000", "rw-p", "[heap]", 2048, 1500),
            mapping("7f0000000000-7f0000400000", "rw-p", "", 4096, 800),
            mapping("7f0000400000-7f0004000000", "---p", "", 61440, 0),
            mapping("7f1000000000-7f1000001000", "---p", "", 4, 0),
            mapping("7f1000001000-7f1000201000", "rw-p", "", 2048, 16),
            mapping("7f2000000000-7f2000100000", "r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6", 1024, 700),
            mapping("7ffd00000000-7ffd00002000", "r-xp", "[vdso]", 8, 4),
            mapping("7ffe00000000-7ffe00021000", "rw-p", "[stack]", 132, 20),
        ]
        .concat()
    }

    #[test]
    fn smaps_gives_each_mapping_with_its_sizes() {
        let mappings = parse_smaps(&sample()).unwrap();
        assert_eq!(mappings.len(), 13);
        assert_eq!(
            mappings[1],
            Mapping {
                start: 0x55d000100000,
                end: 0x55d000600000,
                permissions: "r-xp".into(),
                path: EXE.into(),
                size_kib: 5120,
                rss_kib: 900
            }
        );
        assert!(mappings[4].anonymous() && mappings[8].guard() && !mappings[7].guard());
        let mapped: u64 = mappings.iter().filter(|m| m.path == EXE).map(|m| m.size_kib).sum();
        assert_eq!(mapped, 1024 + 5120 + 1024 + 64);
    }

    #[test]
    fn resident_pages_are_sorted_by_what_they_hold() {
        let breakdown = Breakdown::of(&parse_smaps(&sample()).unwrap(), Path::new(EXE));
        assert_eq!(
            breakdown,
            Breakdown {
                code: 900,
                read_only_data: 300,
                writable_data: 68,
                heap: 2300,
                stacks: 36,
                libraries: 700,
                other: 4
            }
        );
        assert!(breakdown.to_string().starts_with("binary code 0.9 | binary read-only data 0.3 |"));
    }

    #[test]
    fn cpu_ticks_are_utime_and_stime() {
        let stat = "4242 (tokio (worker) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 25 17 0 0 20 0 9 0 1234 0 0";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 42);
    }

    #[test]
    fn context_switches_add_both_kinds() {
        let status = "Name:\tactix-rt\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(context_switches(status), 123);
    }

    #[test]
    fn symbols_are_summed_by_crate() {
        for (symbol, expected) in [
            ("tokio::runtime::park::Inner::park", Some("tokio")),
            ("<actix_http::h1::Codec as tokio_util::codec::Decoder>::decode", Some("actix_http")),
            ("<&T as core::fmt::Debug>::fmt", Some("core")),
            ("<&mut [u8] as std::io::Read>::read", Some("std")),
            ("core::ptr::drop_in_place<alloc::vec::Vec<router::State>>", Some("router")),
            ("core::ptr::drop_in_place<addons::Manager::install::{{closure}}>", Some("addons")),
            ("<alloc::vec::Vec<T> as core::clone::Clone>::clone", Some("alloc")),
            ("sqlite3VdbeExec", None),
            ("anon.3f2a.0.llvm.123", None),
        ] {
            assert_eq!(crate_of(symbol), expected, "{symbol}");
        }
        let nm = "0000000000001000 0000000000000400 T tokio::a\n0000000000002000 0000000000000800 t tokio::b\n\
                  0000000000003000 0000000000000200 T <serde_json::Value as core::fmt::Debug>::fmt\n\
                  0000000000004000 0000000000010000 B tokio::STATIC\n0000000000005000 0000000000000100 T memcpy\n";
        assert_eq!(
            crate_sizes(nm),
            [("tokio".to_owned(), 0xc00), ("serde_json".to_owned(), 0x200), ("(no crate path)".to_owned(), 0x100)]
        );
    }
}
