//! The plugins benchmark of `cargo xtask bench`, run after the add-on benchmarks with the same
//! release daemon: a daemon installs all five plugins at start, each image made from the
//! project's recipe (`plugins/<name>`, since the image the manifest names cannot be pulled), and
//! once all five run and have idled a while the benchmark prints
//!
//! - `plugins_<plugin>`, for dns, audio, cli, observer and multicast: the size of the plugin's
//!   image on the engine and the memory its container uses, as the supervisor's own
//!   `GET /<plugin>/stats` reports it (`memory_usage`);
//! - `rss_with_plugins`: the daemon's resident memory with the five running, against that of the
//!   same daemon told to install none, measured first.
//!
//! The images are made of the programs beside the supervisor's executable (the release build of
//! [`PACKAGES`]) and of host packages (busybox for the cli, Debian's PulseAudio for the audio
//! plugin), which are installed first when missing. Each daemon gets its own data directory with
//! a manifest offering each plugin at version 1 from an image named after its instance prefix
//! (`bench-<pid>-plugins-`, `bench-<pid>-noplugins-`), a free port of the host for the observer's
//! page, and no Core to install; an [`EngineObjects`] guard removes everything named `bench-<pid>-` when the benchmark
//! ends, failed or not.

use crate::bench::MANIFEST;
use crate::bench_addons::{docker, BenchDaemon, EngineObjects};
use anyhow::{ensure, Context};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// The plugins, in the order their lines are printed.
const PLUGINS: [&str; 5] = ["dns", "audio", "cli", "observer", "multicast"];
/// The packages of the programs the recipes' `binaries` name (`plugin-dns`, `plugin-multicast`,
/// `plugin-observer`, `ha`), built in release beside the daemon.
pub(crate) const PACKAGES: [&str; 4] = ["plugin-dns", "plugin-multicast", "plugin-observer", "cli"];
/// The version the manifest offers every plugin at.
const VERSION: &str = "1";
/// Longest the five may take to run from the daemon's start: their images are made first.
const UP_TIMEOUT: Duration = Duration::from_secs(300);
/// Pause between two looks at whether the plugins run.
const POLL_PERIOD: Duration = Duration::from_millis(250);
/// How long the plugins idle once all five run, before their memory is read: the sound server
/// and the dns plugin settle after their start.
const SETTLE: Duration = Duration::from_secs(5);
/// Reads of every plugin's memory and of the daemon's, `READ_PERIOD` apart; medians are printed.
const READS: usize = 5;
const READ_PERIOD: Duration = Duration::from_secs(1);

/// Installs the host packages the recipes take files from, reads the memory of a daemon that
/// installs no plugin, then starts one that installs all five, waits for them and prints their
/// figures; the engine is cleaned up after.
pub fn run(root: &Path, bin: &Path) -> anyhow::Result<()> {
    crate::test_tools::ensure()?;
    let engine = EngineObjects::new();
    // The same daemon but for the plugins, so that the difference is theirs.
    let mut bare = start(root, bin, &engine, "noplugins", false)?;
    std::thread::sleep(SETTLE);
    let mut bare_rss = Vec::new();
    for read in 0..READS {
        if read > 0 {
            std::thread::sleep(READ_PERIOD);
        }
        bare_rss.push(bare.daemon.rss_kib()?);
    }
    bare.daemon.ensure_alive()?;
    drop(bare);

    let started = Instant::now();
    let mut daemon = start(root, bin, &engine, "plugins", true)?;
    wait_running(&mut daemon)?;
    let up = started.elapsed();

    std::thread::sleep(SETTLE);
    let mut memory = vec![Vec::new(); PLUGINS.len()];
    let mut rss = Vec::new();
    for read in 0..READS {
        if read > 0 {
            std::thread::sleep(READ_PERIOD);
        }
        for (plugin, samples) in PLUGINS.iter().zip(&mut memory) {
            let stats = daemon.get(&format!("/{plugin}/stats"))?;
            let bytes = stats["memory_usage"].as_u64().with_context(|| format!("/{plugin}/stats: {stats}"))?;
            ensure!(bytes > 0, "/{plugin}/stats says its container uses no memory: {stats}");
            samples.push(bytes);
        }
        rss.push(daemon.daemon.rss_kib()?);
    }
    daemon.daemon.ensure_alive()?;
    for (plugin, samples) in PLUGINS.iter().zip(&mut memory) {
        let reference = format!("{}:{VERSION}", image(&daemon.instance, plugin));
        let size = docker(&["image", "inspect", "--format", "{{.Size}}", &reference])?;
        let size: u64 = size.trim().parse().with_context(|| format!("the size of {reference}: {size:?}"))?;
        println!(
            "bench plugins_{plugin}: image {:.1} MB | idle memory {:.1} MiB (image made from plugins/{plugin}, \
             `docker image inspect` Size; memory_usage of GET /{plugin}/stats, median of {READS} reads {} s apart, \
             from {} s after all five plugins ran)",
            size as f64 / 1e6,
            median(samples) as f64 / (1024.0 * 1024.0),
            READ_PERIOD.as_secs(),
            SETTLE.as_secs(),
        );
    }
    println!(
        "bench rss_with_plugins: {:.1} MiB | without plugins {:.1} MiB (VmRSS of the daemon with dns, audio, cli, \
         observer and multicast running, median of {READS} reads {} s apart from {} s after all five ran, {:.1} s \
         after its start, their images made from the recipes; against the same daemon, manifest and engine with \
         --plugins-install false, read alike from {} s after it was healthy; 2 workers)",
        median(&mut rss) as f64 / 1024.0,
        median(&mut bare_rss) as f64 / 1024.0,
        READ_PERIOD.as_secs(),
        SETTLE.as_secs(),
        up.as_secs_f64(),
        SETTLE.as_secs(),
    );
    Ok(())
}

/// A daemon named `name` on a data directory of its own, whose manifest offers every plugin at
/// [`VERSION`] from an image named after its instance prefix; it installs all five plugins at
/// start when `install`, else none. Returned once it reports itself healthy.
fn start(root: &Path, bin: &Path, engine: &EngineObjects, name: &str, install: bool) -> anyhow::Result<BenchDaemon> {
    let instance = engine.instance(name);
    let data = tempfile::tempdir()?;
    let mut manifest = json!({
        "channel": "stable",
        "supervisor": env!("CARGO_PKG_VERSION"),
        "homeassistant": {"default": "2024.10.4"},
        "hassos": {},
        "images": {"supervisor": format!("{instance}supervisor")},
    });
    for plugin in PLUGINS {
        manifest[plugin] = json!(VERSION);
        manifest["images"][plugin] = json!(image(&instance, plugin));
    }
    std::fs::write(data.path().join(MANIFEST), manifest.to_string()).context("writing the manifest")?;
    let source = root.join("plugins");
    let source = source.to_str().context("the project path is not UTF-8")?;
    let observer_port = std::net::TcpListener::bind("0.0.0.0:0")?.local_addr()?.port().to_string();
    let args = [
        ["--plugins-install", if install { "true" } else { "false" }],
        ["--plugins-source", source],
        ["--observer-port", &observer_port],
        ["--core-install", "false"],
    ];
    BenchDaemon::start_with(bin, engine, name, data, args.as_flattened(), &[])
}

/// Waits until every plugin is installed at [`VERSION`] (`/<plugin>/info`) and its container runs
/// that version's image; on timeout, fails naming the plugins that do not run, with the daemon's
/// jobs and log.
fn wait_running(daemon: &mut BenchDaemon) -> anyhow::Result<()> {
    let deadline = Instant::now() + UP_TIMEOUT;
    loop {
        let mut missing = Vec::new();
        for plugin in PLUGINS {
            let installed = daemon.get(&format!("/{plugin}/info"))?["version"] == VERSION;
            if !installed || !runs(&daemon.instance, plugin) {
                missing.push(plugin);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let jobs = daemon.get("/jobs/info").unwrap_or_else(|e| json!(format!("{e:#}")));
            let what = format!(
                "did not run the {} plugin(s) at version {VERSION} within {UP_TIMEOUT:?}; its /jobs/info: {jobs}",
                missing.join(", ")
            );
            return Err(daemon.daemon.failure(&what));
        }
        daemon.daemon.ensure_alive()?;
        std::thread::sleep(POLL_PERIOD);
    }
}

/// The image the manifest of the daemon with `instance` names for `plugin`.
fn image(instance: &str, plugin: &str) -> String {
    format!("{instance}plugins/{plugin}")
}

/// Whether the plugin's container runs its image at [`VERSION`]. One the engine cannot inspect
/// (not made yet, or being made anew) does not.
fn runs(instance: &str, plugin: &str) -> bool {
    let container = format!("{instance}hassio_{plugin}");
    let format = "{{.State.Running}} {{.Config.Image}}";
    docker(&["inspect", "--type", "container", "--format", format, &container])
        .is_ok_and(|state| state.trim() == format!("true {}:{VERSION}", image(instance, plugin)))
}

/// The middle of `samples`, sorted in place.
fn median(samples: &mut [u64]) -> u64 {
    samples.sort_unstable();
    samples[samples.len() / 2]
}
