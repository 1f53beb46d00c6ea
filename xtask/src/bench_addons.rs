//! The add-on benchmarks of `cargo xtask bench`, run after those of `bench.rs` with the same
//! release daemon, each printed on one `bench <name>:` line:
//!
//! - `store_reload`: `POST /store/reload` with a `core` repository of 500 generated add-ons;
//! - `install_to_running`: install and start of the locally built fixture `core_build_local`
//!   through the daemon, against `docker build` + `docker run -d` of the same folder by hand;
//! - `rss_with_20_addons`: the daemon's resident memory once 20 locally built add-ons are installed
//!   and running, right after their starts and once the daemon has been without jobs for a minute.
//!
//! These need the engine: the fixtures' base image is imported first (`cargo xtask test-images`).
//! Every daemon gets its own data directory and the instance prefix `bench-<pid>-<bench>-` for
//! its containers, images and network (`<prefix>hassio`, subnet chosen by the engine); the images
//! and containers built by hand are named `bench-<pid>-manual...`. An [`EngineObjects`] guard
//! removes everything named `bench-<pid>-` when the benchmarks end, failed or not.

use crate::bench::{median_ms, Daemon};
use crate::test_images::BASE_IMAGE;
use anyhow::{bail, ensure, Context};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Add-ons in the generated repository of `store_reload`.
const STORE_ADDONS: usize = 500;
/// Reloads timed; the median is printed.
const RELOADS: usize = 5;
/// Installs timed per side in `install_to_running`; the medians are compared.
const BUILD_ROUNDS: usize = 3;
/// Add-ons installed for `rss_with_20_addons`.
const RSS_ADDONS: usize = 20;
/// The fixture add-on `install_to_running` installs, and its full slug.
pub(crate) const FIXTURE: &str = "build_local";
pub(crate) const FIXTURE_SLUG: &str = "core_build_local";
/// Longest an answer may take: an install builds an image.
const CALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest the daemon may take to report itself healthy (engine connected), or an add-on to run.
const STATE_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between two polls of a state.
const POLL_PERIOD: Duration = Duration::from_millis(10);
/// Lists the engine's tagged images by name.
const IMAGES: [&str; 3] = ["images", "--format", "{{.Repository}}:{{.Tag}}"];

/// Imports the base image, then runs the three add-on benchmarks; the engine is cleaned up after.
pub fn run(root: &Path, bin: &Path) -> anyhow::Result<()> {
    crate::test_images::run()?;
    let engine = EngineObjects::new();
    store_reload(root, bin, &engine)?;
    engine.remove_all();
    install_to_running(root, bin, &engine)?;
    engine.remove_all();
    rss_with_20_addons(root, bin, &engine)
}

/// The median time of `POST /store/reload` over a repository of 500 add-ons.
fn store_reload(root: &Path, bin: &Path, engine: &EngineObjects) -> anyhow::Result<()> {
    let repository = tempfile::tempdir()?;
    let icon = std::fs::read(root.join("store-fixtures").join(FIXTURE).join("icon.png")).context("reading the icon")?;
    write_repository(repository.path(), "Generated store")?;
    for n in 1..=STORE_ADDONS {
        let dir = repository.path().join(format!("generated_{n:03}"));
        std::fs::create_dir(&dir)?;
        std::fs::write(dir.join("config.yaml"), catalog_config(n))?;
        std::fs::write(dir.join("DOCS.md"), format!("# Generated {n}\n\nNothing to configure but `message`.\n"))?;
        std::fs::write(dir.join("icon.png"), &icon)?;
    }
    let mut daemon = BenchDaemon::start(bin, engine, "reload", repository.path())?;
    ensure_catalog(&mut daemon, STORE_ADDONS)?;
    let mut samples = Vec::new();
    for _ in 0..RELOADS {
        let started = Instant::now();
        daemon.post("/store/reload")?;
        samples.push(started.elapsed());
    }
    // Every reload read the whole repository again, and skipped none of it.
    ensure_catalog(&mut daemon, STORE_ADDONS)?;
    daemon.daemon.ensure_alive()?;
    let (min, max) = (samples.iter().min().copied(), samples.iter().max().copied());
    println!(
        "bench store_reload: {:.1} ms (median of {RELOADS} POST /store/reload, min {:.1} max {:.1} ms; core \
         repository of {STORE_ADDONS} generated add-ons, each config.yaml with options/schema, DOCS.md, icon.png; \
         aim < 300 ms)",
        median_ms(&mut samples),
        min.unwrap_or_default().as_secs_f64() * 1e3,
        max.unwrap_or_default().as_secs_f64() * 1e3,
    );
    Ok(())
}

/// A valid add-on of the generated catalog, number `n`.
fn catalog_config(n: usize) -> String {
    format!(
        "name: Generated add-on {n}\nversion: 1.0.{n}\nslug: generated_{n:03}\n\
         description: Add-on {n} of the store_reload benchmark's catalog\narch:\n  - amd64\n  - aarch64\n\
         startup: application\nboot: manual\noptions:\n  message: hello {n}\n  count: 3\n  verbose: false\n\
         schema:\n  message: str\n  count: int(1,10)\n  verbose: bool\n  level: list(debug|info|warning)?\n"
    )
}

/// Fails unless the store lists exactly `expected` add-ons.
fn ensure_catalog(daemon: &mut BenchDaemon, expected: usize) -> anyhow::Result<()> {
    let addons = daemon.get("/store/addons")?;
    let count = addons["addons"].as_array().map_or(0, Vec::len);
    ensure!(count == expected, "the store lists {count} add-ons instead of {expected}");
    Ok(())
}

/// Install + start of `core_build_local` through the daemon against `docker build` + `docker run`.
///
/// The engine's build cache is shared by every image on it, whoever built it: another
/// supervisor's `build_local` image (a test's, say) would serve the daemon's build from cache,
/// since the daemon cannot be told `--no-cache`. So the daemon gets a copy of the fixture whose
/// `build.yaml` sets `FIXTURE_ARG` (an `ARG` of the Dockerfile) to a value of its own before each
/// install: from the `RUN` on, nothing can come from cache. The manual build uses that copy too.
fn install_to_running(root: &Path, bin: &Path, engine: &EngineObjects) -> anyhow::Result<()> {
    let repository = tempfile::tempdir()?;
    write_repository(repository.path(), "Install benchmark")?;
    let folder = repository.path().join(FIXTURE);
    copy_dir(&root.join("store-fixtures").join(FIXTURE), &folder)?;
    let build_yaml = std::fs::read_to_string(folder.join("build.yaml")).context("reading build.yaml")?;
    let mut daemon = BenchDaemon::start(bin, engine, "install", repository.path())?;
    let (mut supervisor, mut manual) = (Vec::new(), Vec::new());
    for round in 0..BUILD_ROUNDS {
        let unique = fixture_arg(&build_yaml, &format!("{}run{round}", engine.prefix))?;
        std::fs::write(folder.join("build.yaml"), unique).context("writing build.yaml")?;
        // Whoever goes first alternates, so a slower phase of the machine weighs on both.
        if round % 2 == 0 {
            manual.push(manual_build_and_run(engine, &folder, round)?);
            supervisor.push(daemon.install_and_start()?);
        } else {
            supervisor.push(daemon.install_and_start()?);
            manual.push(manual_build_and_run(engine, &folder, round)?);
        }
    }
    daemon.daemon.ensure_alive()?;
    let (supervisor, manual) = (median_ms(&mut supervisor), median_ms(&mut manual));
    println!(
        "bench install_to_running: supervisor {:.2} s | docker build + run {:.2} s | ratio {:.2} (aim <= 1.2; \
         {FIXTURE_SLUG}: POST install + POST start until info says started, against `docker build --no-cache` + \
         `docker run -d` of the same folder until inspect says running; median of {BUILD_ROUNDS} each, alternating; \
         classic builder for both; cached: only the base image, each run's RUN has a FIXTURE_ARG of its own (the \
         daemon may reuse the 2 ARG steps before it); images removed between runs, by the uninstall for the daemon)",
        supervisor / 1e3,
        manual / 1e3,
        supervisor / manual,
    );
    Ok(())
}

/// `docker build` of `folder` from scratch and `docker run -d` of the image, until running.
fn manual_build_and_run(engine: &EngineObjects, folder: &Path, round: usize) -> anyhow::Result<Duration> {
    let tag = format!("{}manual/{FIXTURE}:{round}", engine.prefix);
    let container = format!("{}manual-{FIXTURE}-{round}", engine.prefix);
    let folder = folder.to_str().context("the fixture path is not UTF-8")?;
    let started = Instant::now();
    // The classic builder, as the daemon's build through the engine API uses.
    let mut build = Command::new("docker");
    build.env("DOCKER_BUILDKIT", "0").args(["build", "--no-cache", "--force-rm", "--quiet", "--tag", &tag]);
    // FIXTURE_ARG as the daemon's build gets one (from build.yaml), of this run's own: the same
    // `RUN`, and the leftovers of a failed build are recognised by the cleanup.
    let fixture_arg = format!("FIXTURE_ARG={}manual{round}", engine.prefix);
    build.args(["--build-arg", &format!("BUILD_FROM={BASE_IMAGE}"), "--build-arg", &fixture_arg, folder]);
    docker_command(build)?;
    docker(&["run", "--detach", "--name", &container, &tag])?;
    let deadline = Instant::now() + STATE_TIMEOUT;
    while docker(&["inspect", "--format", "{{.State.Running}}", &container])?.trim() != "true" {
        ensure!(Instant::now() < deadline, "{container} did not run within {STATE_TIMEOUT:?}");
        std::thread::sleep(POLL_PERIOD);
    }
    let elapsed = started.elapsed();
    docker(&["rm", "--force", "--volumes", &container])?;
    docker(&["rmi", &tag])?;
    Ok(elapsed)
}

/// Resident memory of the daemon once 20 locally built add-ons are installed.
fn rss_with_20_addons(root: &Path, bin: &Path, engine: &EngineObjects) -> anyhow::Result<()> {
    let repository = tempfile::tempdir()?;
    write_repository(repository.path(), "Twenty add-ons")?;
    let fixture = root.join("store-fixtures").join(FIXTURE);
    // FIXTURE_ARG of this run, the same for all: the first build is made here (not served by
    // another build_local image on the engine), the others share its layers.
    let build_yaml = std::fs::read_to_string(fixture.join("build.yaml")).context("reading build.yaml")?;
    let build_yaml = fixture_arg(&build_yaml, &format!("{}rss", engine.prefix))?;
    let slugs: Vec<String> = (1..=RSS_ADDONS).map(|n| format!("rss_{n:02}")).collect();
    for slug in &slugs {
        let dir = repository.path().join(slug);
        std::fs::create_dir(&dir)?;
        for file in ["Dockerfile", "run.sh"] {
            std::fs::copy(fixture.join(file), dir.join(file)).with_context(|| format!("copying {file}"))?;
        }
        std::fs::write(dir.join("build.yaml"), &build_yaml)?;
        // The same name and description for all: they become image labels, so that every build but
        // the first is served from the engine's cache.
        let config = format!(
            "name: RSS bench add-on\nversion: 1.0.0\nslug: {slug}\ndescription: One of the rss_with_20_addons \
             benchmark's add-ons\narch:\n  - amd64\n  - aarch64\nstartup: application\nboot: manual\ninit: false\n\
             options:\n  message: hello\nschema:\n  message: str\n"
        );
        std::fs::write(dir.join("config.yaml"), config)?;
    }
    let mut daemon = BenchDaemon::start(bin, engine, "rss", repository.path())?;
    // The start settles when its tasks end, at the latest then: Core's install waits for a version
    // manifest that never comes here.
    std::thread::sleep(crate::bench_footprint::BOOT_SETTLE);
    let idle = daemon.daemon.settled_rss_kib()?;
    let started = Instant::now();
    for slug in &slugs {
        daemon.post(&format!("/store/addons/core_{slug}/install"))?;
    }
    let installing = started.elapsed();
    let installed = daemon.get("/addons")?["addons"].as_array().map_or(0, Vec::len);
    ensure!(installed == RSS_ADDONS, "/addons lists {installed} add-ons after {RSS_ADDONS} installs");
    for slug in &slugs {
        daemon.post(&format!("/addons/core_{slug}/start"))?;
    }
    for slug in &slugs {
        daemon.wait_for(&format!("/addons/core_{slug}/info"), "state", &Value::from("started"))?;
    }
    let busy = daemon.daemon.settled_rss_kib()?;
    std::thread::sleep(crate::bench_footprint::JOBS_QUIET);
    let rss = daemon.daemon.settled_rss_kib()?;
    for slug in &slugs {
        daemon.post(&format!("/addons/core_{slug}/uninstall"))?;
    }
    daemon.daemon.ensure_alive()?;
    let left = EngineObjects::named(&daemon.instance, &IMAGES)?;
    ensure!(left.is_empty(), "uninstalling every add-on left images behind: {}", left.join(" "));
    println!(
        "bench rss_with_20_addons: {:.1} MiB (VmRSS once settled after a minute without jobs, with {RSS_ADDONS} \
         locally built add-ons installed one after another in {:.1} s, all but the first build served from its \
         layers, and running; {:.1} MiB right after the starts; {:.1} MiB before; 2 workers; aim < 16 MiB)",
        rss as f64 / 1024.0,
        installing.as_secs_f64(),
        busy as f64 / 1024.0,
        idle as f64 / 1024.0,
    );
    Ok(())
}

/// The fixture's `build.yaml` with `value` for the build argument `FIXTURE_ARG`.
fn fixture_arg(build_yaml: &str, value: &str) -> anyhow::Result<String> {
    let set = format!("FIXTURE_ARG: {FIXTURE}");
    ensure!(build_yaml.contains(&set), "the fixture's build.yaml no longer sets {set}");
    Ok(build_yaml.replace(&set, &format!("FIXTURE_ARG: {value}")))
}

/// Copies the folder `from` to `to`, recursively (files and folders only).
pub(crate) fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// `repository.yaml` of a generated repository.
pub(crate) fn write_repository(dir: &Path, name: &str) -> anyhow::Result<()> {
    let yaml = format!("name: {name}\nurl: https://example.com/bench\nmaintainer: cargo xtask bench\n");
    std::fs::write(dir.join("repository.yaml"), yaml).context("writing repository.yaml")
}

/// A release daemon on its own data directory and engine names.
pub(crate) struct BenchDaemon {
    /// Declared first, so it is killed before its data directory goes.
    pub(crate) daemon: Daemon,
    api: Api,
    /// Its instance prefix on the engine.
    pub(crate) instance: String,
    _data: TempDir,
}

impl BenchDaemon {
    /// Starts it with `repository` as `core` and returns once it reports itself healthy (it has
    /// reached the engine).
    pub(crate) fn start(
        bin: &Path,
        engine: &EngineObjects,
        name: &str,
        repository: &Path,
    ) -> anyhow::Result<BenchDaemon> {
        let repository = repository.to_str().context("the repository path is not UTF-8")?;
        Self::start_with(bin, engine, name, tempfile::tempdir()?, &["--core-repository", repository], &[])
    }

    /// Like [`BenchDaemon::start`], on a data directory the caller prepared, with the daemon's
    /// flags `args` instead of a `core` repository and the environment `env` (a private bus).
    pub(crate) fn start_with(
        bin: &Path,
        engine: &EngineObjects,
        name: &str,
        data: TempDir,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<BenchDaemon> {
        let instance = engine.instance(name);
        let network = format!("{instance}hassio");
        let mut flags = vec!["--instance", &instance, "--network", &network, "--network-subnet", "auto"];
        flags.extend_from_slice(args);
        let mut daemon = Daemon::start_with(bin, data.path(), &flags, env)?;
        daemon.wait_ready()?;
        let token = std::fs::read_to_string(data.path().join("cli_token")).context("reading cli_token")?;
        let api = Api { address: daemon.address, token: token.trim().to_owned() };
        let mut started = BenchDaemon { daemon, api, instance, _data: data };
        // Installs need the `healthy` condition and the engine, which the daemon reaches in the
        // background after it answers.
        started.wait_for("/supervisor/info", "healthy", &Value::Bool(true))?;
        started
            .wait_until("/docker/info", "a version", |info| info["version"].as_str().is_some_and(|v| v != "0.0.0"))?;
        Ok(started)
    }

    pub(crate) fn get(&mut self, path: &str) -> anyhow::Result<Value> {
        self.call("GET", path)
    }

    /// A POST without a body (the daemon reads an empty body as `{}`).
    pub(crate) fn post(&mut self, path: &str) -> anyhow::Result<Value> {
        self.call("POST", path)
    }

    /// One API call; when it fails because the daemon is gone, the error carries the daemon's log.
    pub(crate) fn call(&mut self, method: &str, path: &str) -> anyhow::Result<Value> {
        let answer = self.api.call(method, path);
        if answer.is_err() {
            self.daemon.ensure_alive()?;
        }
        answer
    }

    /// Polls `path` until its `key` is `expected`.
    fn wait_for(&mut self, path: &str, key: &str, expected: &Value) -> anyhow::Result<()> {
        self.wait_until(path, &format!("{key} = {expected}"), |data| &data[key] == expected)
    }

    /// Polls `path` until its data passes `check`, which `what` describes.
    fn wait_until(&mut self, path: &str, what: &str, check: impl Fn(&Value) -> bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + STATE_TIMEOUT;
        loop {
            let data = self.get(path)?;
            if check(&data) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let what = format!("still has no {what} at {path} after {STATE_TIMEOUT:?}: {data}");
                return Err(self.daemon.failure(&what));
            }
            self.daemon.ensure_alive()?;
            std::thread::sleep(POLL_PERIOD);
        }
    }

    /// Install + start of the fixture until it runs; then uninstalls it (which removes its image,
    /// so the next install builds from scratch) and checks that nothing of it is left.
    fn install_and_start(&mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.post(&format!("/store/addons/{FIXTURE_SLUG}/install"))?;
        self.post(&format!("/addons/{FIXTURE_SLUG}/start"))?;
        self.wait_for(&format!("/addons/{FIXTURE_SLUG}/info"), "state", &Value::from("started"))?;
        let elapsed = started.elapsed();
        self.post(&format!("/addons/{FIXTURE_SLUG}/uninstall"))?;
        let images = EngineObjects::named(&self.instance, &IMAGES)?;
        ensure!(images.is_empty(), "the uninstall left images behind: {}", images.join(" "));
        Ok(elapsed)
    }
}

/// The daemon's API with the admin token: one HTTP/1.1 request per connection, JSON answers.
struct Api {
    address: SocketAddr,
    token: String,
}

impl Api {
    /// Sends the request and answers the envelope's `data`; anything but a 200 `ok` is an error.
    fn call(&self, method: &str, path: &str) -> anyhow::Result<Value> {
        let what = format!("{method} {path}");
        let mut stream = TcpStream::connect_timeout(&self.address, Duration::from_secs(5))
            .with_context(|| format!("{what}: connecting to {}", self.address))?;
        stream.set_read_timeout(Some(CALL_TIMEOUT))?;
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.address);
        write!(request, "Authorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", self.token)?;
        stream.write_all(request.as_bytes()).with_context(|| format!("{what}: sending"))?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).with_context(|| format!("{what}: reading the answer"))?;
        ensure!(!response.is_empty(), "{what}: the daemon closed the connection without answering");
        let (status, body) = parse_response(&response).with_context(|| format!("{what}: reading the answer"))?;
        let value: Value = serde_json::from_slice(&body)
            .with_context(|| format!("{what}: answered {status} with {}", String::from_utf8_lossy(&body)))?;
        ensure!(status == 200 && value["result"] == "ok", "{what} answered {status}: {value}");
        Ok(value["data"].clone())
    }
}

/// Status and body of a whole HTTP/1.1 answer, with a `Content-Length` or chunked.
pub(crate) fn parse_response(response: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").context("no end of the headers")?;
    let head = std::str::from_utf8(&response[..end]).context("headers not in UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).context("status line")?;
    let chunked = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("transfer-encoding") && value.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let mut body = &response[end + 4..];
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut joined = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").context("a chunk without its size")?;
        let size = std::str::from_utf8(&body[..line_end])?.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).with_context(|| format!("chunk size {size:?}"))?;
        if size == 0 {
            return Ok((status, joined));
        }
        let chunk = body.get(line_end + 2..line_end + 2 + size).context("a chunk cut short")?;
        joined.extend_from_slice(chunk);
        body = body.get(line_end + 4 + size..).context("a chunk cut short")?;
    }
}

/// Everything the benchmarks create on the engine is named with `prefix`; the guard removes every
/// container, image and network so named when dropped, whether the benchmarks failed or not.
pub(crate) struct EngineObjects {
    prefix: String,
}

impl EngineObjects {
    /// The guard of this process's names, `bench-<pid>-`.
    pub(crate) fn new() -> EngineObjects {
        EngineObjects { prefix: format!("bench-{}-", std::process::id()) }
    }

    /// The instance prefix of the daemon of the benchmark `name`, within the guard's names.
    pub(crate) fn instance(&self, name: &str) -> String {
        format!("{}{name}-", self.prefix)
    }

    /// Names starting with `prefix` in the output of `docker <args>`, one name a line.
    fn named(prefix: &str, args: &[&str]) -> anyhow::Result<Vec<String>> {
        let listing = docker(args)?;
        Ok(listing.lines().map(str::trim).filter(|name| name.starts_with(prefix)).map(str::to_owned).collect())
    }

    /// Removes containers first (they hold images and networks), then images, then networks.
    /// Failures are reported and skipped: what can be removed is.
    fn remove_all(&self) {
        let steps: [(&[&str], &[&str]); 3] = [
            (&["ps", "--all", "--format", "{{.Names}}"], &["rm", "--force", "--volumes"]),
            (&IMAGES, &["rmi", "--force"]),
            (&["network", "ls", "--format", "{{.Name}}"], &["network", "rm"]),
        ];
        for (list, remove) in steps {
            let names = match Self::named(&self.prefix, list) {
                Ok(names) => names,
                Err(e) => {
                    eprintln!("cleanup: listing with docker {}: {e:#}", list.join(" "));
                    continue;
                }
            };
            if names.is_empty() {
                continue;
            }
            let args: Vec<&str> = remove.iter().copied().chain(names.iter().map(String::as_str)).collect();
            if let Err(e) = docker(&args) {
                eprintln!("cleanup: {e:#}");
            }
        }
        if let Err(e) = self.remove_unfinished_builds() {
            eprintln!("cleanup: {e:#}");
        }
    }

    /// A build that failed or was cut short leaves untagged layers; those of the benchmarks' builds
    /// have this run's `FIXTURE_ARG` in their history. Removing the last layer removes its
    /// untagged parents too.
    fn remove_unfinished_builds(&self) -> anyhow::Result<()> {
        let marker = format!("FIXTURE_ARG={}", self.prefix);
        for id in docker(&["images", "--quiet", "--no-trunc", "--filter", "dangling=true"])?.split_whitespace() {
            let history = docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", id]).unwrap_or_default();
            if history.contains(&marker) {
                docker(&["rmi", id])?;
            }
        }
        Ok(())
    }
}

impl Drop for EngineObjects {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// Runs `docker <args>` and answers its stdout; a failure is an error carrying its stderr.
pub(crate) fn docker(args: &[&str]) -> anyhow::Result<String> {
    let mut command = Command::new("docker");
    command.args(args);
    docker_command(command)
}

fn docker_command(mut command: Command) -> anyhow::Result<String> {
    command_output(command.stdin(Stdio::null()))
}

/// The stdout of a command that must succeed; a failure is an error carrying its stderr.
pub(crate) fn command_output(command: &mut Command) -> anyhow::Result<String> {
    let output = command.output().with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!("{command:?} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
