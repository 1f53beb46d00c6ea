//! The `soak` part of `cargo xtask bench`: whether the daemon's memory stays where it was after
//! half an hour of use. One release daemon with a locally built add-on running takes mixed API
//! traffic (reads across the API groups at a steady rate), restarts of the add-on and two full
//! backups (made, then deleted); its resident memory at the end is printed next to the start's.
//!
//! The start is measured after one warm-up of each kind of work, since the first backup and the
//! first restart set up what every later one reuses (the engine's connection pool, zstd's
//! contexts); the line prints the figure before the warm-up too. `BENCH_SOAK_SECS` shortens
//! the 30 minutes for a quick look.

use crate::bench_addons::{copy_dir, write_repository, BenchDaemon, EngineObjects, FIXTURE, FIXTURE_SLUG};
use anyhow::Context;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the soak lasts, unless `BENCH_SOAK_SECS` says otherwise.
const SOAK: Duration = Duration::from_secs(30 * 60);
/// Reads per second of the mixed traffic: a busy Home Assistant with a frontend open.
const READS_PER_SECOND: u32 = 50;
/// The add-on is restarted this often.
const RESTART_EVERY: Duration = Duration::from_secs(5 * 60);
/// Backups made during the soak, evenly spread.
const BACKUPS: u32 = 2;
/// What the issue allows between the start and the end.
const AIM_KIB: u64 = 1024;
/// Read in turn by the traffic.
const READS: &[&str] = &[
    "/supervisor/info",
    "/info",
    "/host/info",
    "/core/info",
    "/addons",
    "/store",
    "/backups",
    "/jobs/info",
    "/resolution/info",
    "/network/info",
    "/os/info",
    "/docker/info",
    "/dns/info",
    "/mounts",
];

pub(crate) fn run(root: &Path, bin: &Path) -> anyhow::Result<()> {
    crate::test_images::run()?;
    let soak = std::env::var("BENCH_SOAK_SECS")
        .ok()
        .map(|secs| secs.parse().map(Duration::from_secs).context("BENCH_SOAK_SECS is a number of seconds"))
        .transpose()?
        .unwrap_or(SOAK);
    let engine = EngineObjects::new();
    let repository = tempfile::tempdir()?;
    write_repository(repository.path(), "Soak")?;
    copy_dir(&root.join("store-fixtures").join(FIXTURE), &repository.path().join(FIXTURE))?;
    let mut daemon = BenchDaemon::start(bin, &engine, "soak", repository.path())?;
    daemon.post(&format!("/store/addons/{FIXTURE_SLUG}/install"))?;
    daemon.post(&format!("/addons/{FIXTURE_SLUG}/start"))?;
    let fresh = daemon.daemon.settled_rss_kib()?;

    // The warm-up: one of each.
    let mut warm_up = Work { daemon: &mut daemon, reads: 0, restarts: 0, backups: 0 };
    warm_up.read_round()?;
    warm_up.restart()?;
    warm_up.backup()?;
    let start = daemon.daemon.settled_rss_kib()?;
    let mut work = Work { daemon: &mut daemon, reads: 0, restarts: 0, backups: 0 };

    let began = Instant::now();
    let (mut next_restart, mut next_backup) = (RESTART_EVERY, soak / (BACKUPS + 1));
    let mut peak = start;
    while began.elapsed() < soak {
        let second = Instant::now();
        for _ in 0..READS_PER_SECOND {
            work.read()?;
        }
        if began.elapsed() >= next_restart {
            work.restart()?;
            next_restart += RESTART_EVERY;
        }
        if began.elapsed() >= next_backup && work.backups < BACKUPS {
            work.backup()?;
            next_backup += soak / (BACKUPS + 1);
        }
        peak = peak.max(work.daemon.daemon.rss_kib()?);
        std::thread::sleep(Duration::from_secs(1).saturating_sub(second.elapsed()));
    }
    let end = work.daemon.daemon.settled_rss_kib()?;
    work.daemon.daemon.ensure_alive()?;
    let growth = end as i64 - start as i64;
    println!(
        "bench soak: start {:.1} MiB | end {:.1} MiB | growth {growth:+} KiB (aim within {AIM_KIB} KiB; {:.0} min of \
         {READS_PER_SECOND} reads/s, {} reads, {} add-on restarts, {} full backups with the add-on running; peak \
         {:.1} MiB; {:.1} MiB right after the start, before a warm-up of one of each)",
        start as f64 / 1024.0,
        end as f64 / 1024.0,
        soak.as_secs_f64() / 60.0,
        work.reads,
        work.restarts,
        work.backups,
        peak as f64 / 1024.0,
        fresh as f64 / 1024.0,
    );
    Ok(())
}

/// The soak's kinds of work, counted.
struct Work<'d> {
    daemon: &'d mut BenchDaemon,
    reads: u64,
    restarts: u64,
    backups: u32,
}

impl Work<'_> {
    fn read(&mut self) -> anyhow::Result<()> {
        let path = READS[self.reads as usize % READS.len()];
        self.daemon.get(path).with_context(|| format!("GET {path}"))?;
        self.reads += 1;
        Ok(())
    }

    fn read_round(&mut self) -> anyhow::Result<()> {
        READS.iter().try_for_each(|_| self.read())
    }

    fn restart(&mut self) -> anyhow::Result<()> {
        self.daemon.post(&format!("/addons/{FIXTURE_SLUG}/restart"))?;
        self.restarts += 1;
        Ok(())
    }

    /// A full backup (the running add-on's hot backup among it), then its removal.
    fn backup(&mut self) -> anyhow::Result<()> {
        let made = self.daemon.post("/backups/new/full")?;
        let slug = made["slug"].as_str().context("the backup's answer names no slug")?.to_owned();
        self.daemon.call("DELETE", &format!("/backups/{slug}"))?;
        self.backups += 1;
        Ok(())
    }
}
