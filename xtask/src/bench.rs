//! `cargo xtask bench [part...]`: the daemon's performance figures, each printed on one
//! `bench <name>:` line. With no part named, every part runs, in this order: `supervisor_info` of
//! this file, then the footprint parts (`idle_rss`: the idle daemon's resident memory and where it
//! lies; `idle_cpu`: its CPU use and wake-ups; `binary_size`: the release binary's size on disk and
//! mapped, and the crates that weigh most in it), in `bench_footprint.rs`, then `startup` of this
//! file, then `routing` (flat against scoped actix routing at 300 routes, no daemon), in
//! `bench_routing.rs`, then the host benchmarks (`host_info`: `/host/info` next to
//! `/supervisor/info`; `log_follow`: a followed journal line), in `bench_host.rs`, then `backups`
//! (create, restore, ping latency and memory during them), in `bench_backups.rs`, then `addons`
//! (store reload, install to running, memory with 20 add-ons), in `bench_addons.rs`, then
//! `plugins` (each plugin's image size and idle memory, the daemon's memory with all five
//! running), in `bench_plugins.rs`, then `balena_target` (a balena target state of two services
//! brought up, against `docker-compose up` of the same), in `bench_balena.rs`, then `fleet` (50
//! instances across three nodes, and a dead node's taken up elsewhere), in `bench_fleet.rs`, then
//! `soak` (the memory after 30 minutes of mixed traffic, add-on restarts and backups), in
//! `bench_soak.rs`. Naming parts (`cargo xtask bench host_info routing`) runs only those, still in
//! that order.
//!
//! - `supervisor_info`: requests per second and p99 latency of `GET /supervisor/info` with the
//!   admin token, against the release daemon and against a bare actix-web handler that serves the
//!   same bytes, so the ratio shows what the router, the guard middleware and the handler cost;
//! - `startup`: time from exec to the first answered ping, on a fresh data directory and on the
//!   same directory started again (medians over several starts).
//!
//! Every daemon runs on its own temporary data directory, listens on loopback only, reads its
//! version manifest from a file there (missing, so nothing goes to the network, but for the
//! plugins' daemon, which is given one) and is killed when its benchmark ends, failed or not. The
//! task builds the daemon (and, for `plugins`, the plugins' programs) in release and, when itself
//! built in debug (as `cargo xtask` does), runs again as a release build, since the load generator
//! and the bare server are part of it. `BENCH_DAEMON=<binary>` measures that daemon instead of
//! building this tree's: the figures of an older build, from the same harness, for a comparison.

// In its own file, named like the other benches', but a part of this module.
#[path = "bench_routing.rs"]
mod routing;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::{bail, ensure, Context};
use std::fs::File;
use std::io::{BufRead, Read, Seek, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Keep-alive connections the load generator keeps busy, each sending its next request as soon
/// as the previous answer is in.
pub(crate) const CONNECTIONS: usize = 16;
/// Load before the measurement, so both servers have their connections open and caches warm.
const WARM_UP: Duration = Duration::from_secs(1);
/// The measurement alternates between the two servers in rounds, so that whatever else the
/// machine is doing meanwhile weighs on both alike.
pub(crate) const ROUNDS: u32 = 5;
pub(crate) const ROUND: Duration = Duration::from_secs(1);
/// HTTP workers of both servers in the throughput comparison: one each leaves the other core of a
/// 2-core machine to the load generator, and compares per-worker cost rather than scheduling.
pub(crate) const SERVER_WORKERS: usize = 1;
/// How long [`Daemon::settled_rss_kib`] samples the memory after some work.
const SETTLE: Duration = Duration::from_secs(5);
/// Starts timed per data-directory case; the median of these is printed.
const STARTS: usize = 10;
/// Pause between two pings while waiting for the daemon.
const PING_PERIOD: Duration = Duration::from_millis(1);
/// Longest a daemon may take to listen or to answer its first ping before the bench fails.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// The version manifest a daemon reads, in its data directory.
pub(crate) const MANIFEST: &str = "version-manifest.json";

/// The parts of the bench, in the order they run; `cargo xtask bench <part>...` runs only those.
const PARTS: [&str; 14] = [
    "supervisor_info",
    "idle_rss",
    "idle_cpu",
    "binary_size",
    "startup",
    "routing",
    "host_info",
    "log_follow",
    "backups",
    "addons",
    "plugins",
    "balena_target",
    "fleet",
    "soak",
];
/// Names a daemon binary to measure instead of this tree's release build, which is then not built:
/// an older build, for a baseline of the same parts in the same harness.
const DAEMON_VAR: &str = "BENCH_DAEMON";
/// The parts that measure actix alone, without the daemon.
const WITHOUT_DAEMON: [&str; 1] = ["routing"];

/// Builds the release daemon (when a part needs it), then measures from a release build of this
/// task the parts named after `bench` on the command line, or all of them.
pub fn run(root: &Path) -> anyhow::Result<()> {
    let named: Vec<String> = std::env::args().skip(2).collect();
    if let Some(unknown) = named.iter().find(|part| !PARTS.contains(&part.as_str())) {
        bail!("no bench part {unknown:?}; the parts are {}", PARTS.join(", "));
    }
    let parts: Vec<&str> =
        PARTS.into_iter().filter(|part| named.is_empty() || named.iter().any(|n| n == part)).collect();
    let with_daemon = parts.iter().any(|part| !WITHOUT_DAEMON.contains(part));
    let other_daemon = std::env::var_os(DAEMON_VAR).map(PathBuf::from);
    if with_daemon && other_daemon.is_none() {
        crate::run(root, "cargo", &["build", "--release", "-p", "daemon"])?;
    }
    // The plugins' programs go beside the daemon, where it finds them for their images. Built on
    // their own: built with the daemon, they would change the features of its dependencies, so
    // the daemon every part measures would not be the one `-p daemon` builds.
    if parts.contains(&"plugins") {
        let mut build = vec!["build", "--release"];
        build.extend(crate::bench_plugins::PACKAGES.iter().flat_map(|package| ["-p", package]));
        crate::run(root, "cargo", &build)?;
    }
    // The load generator and the bare actix server run inside this process; from a debug build
    // they would be far slower than the release daemon and the comparison would mean nothing.
    if cfg!(debug_assertions) {
        let mut args = vec!["run", "--release", "--quiet", "-p", "xtask", "--", "bench"];
        args.extend(named.iter().map(String::as_str));
        return crate::run(root, "cargo", &args);
    }
    // `cargo build --release` puts the daemon beside this release binary.
    let bin = match other_daemon {
        Some(bin) => bin,
        None => std::env::current_exe().context("locating the xtask binary")?.with_file_name("supervisor"),
    };
    ensure!(!with_daemon || bin.exists(), "{} is missing after the release build", bin.display());
    for part in parts {
        match part {
            "supervisor_info" => supervisor_info(&bin)?,
            "idle_rss" => crate::bench_footprint::idle_rss(&bin)?,
            "idle_cpu" => crate::bench_footprint::idle_cpu(&bin)?,
            "binary_size" => crate::bench_footprint::binary_size(root, &bin)?,
            "startup" => startup(&bin)?,
            "routing" => routing::run()?,
            "host_info" => crate::bench_host::host_info(&bin)?,
            "log_follow" => crate::bench_host::log_follow(&bin)?,
            "backups" => crate::bench_backups::run(&bin)?,
            "addons" => crate::bench_addons::run(root, &bin)?,
            "plugins" => crate::bench_plugins::run(root, &bin)?,
            "balena_target" => crate::bench_balena::run(root, &bin)?,
            "fleet" => crate::bench_fleet::run(root, bin.parent().context("the release folder")?)?,
            "soak" => crate::bench_soak::run(root, &bin)?,
            _ => unreachable!("{part} is one of PARTS"),
        }
    }
    Ok(())
}

/// Throughput and p99 latency of the daemon's `/supervisor/info` against a bare actix handler.
fn supervisor_info(bin: &Path) -> anyhow::Result<()> {
    // One thread, so the load generator stays on about one core, like each server's single worker.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let data = tempfile::tempdir()?;
    let mut daemon = Daemon::start(bin, data.path(), &["--workers", &SERVER_WORKERS.to_string()])?;
    daemon.wait_ready()?;
    let token = std::fs::read_to_string(data.path().join("cli_token")).context("reading cli_token")?;
    // Both servers get these very bytes, token included, though only the daemon checks it.
    let request =
        format!("GET /supervisor/info HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n", token.trim());
    let body = runtime.block_on(async {
        let mut connection = Connection::open(daemon.address, request.as_bytes()).await?;
        connection.get().await?;
        anyhow::Ok(web::Bytes::copy_from_slice(&connection.body))
    })?;
    let bare = bare_server(body)?;

    let [supervisor, baseline] =
        runtime.block_on(compare([(daemon.address, request.as_bytes()), (bare.address, request.as_bytes())]))?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "bench supervisor_info: supervisor {supervisor} | bare actix {baseline} | ratio {:.2} (aim >= 0.7; \
         {SERVER_WORKERS} server worker each, {CONNECTIONS} keep-alive connections, {ROUNDS} alternating {} s rounds \
         each, load generator on the same {cores} cores)",
        supervisor.per_second() / baseline.per_second(),
        ROUND.as_secs(),
    );
    Ok(())
}

/// Time from exec to the first answered ping, on a fresh data directory and then on the same one.
fn startup(bin: &Path) -> anyhow::Result<()> {
    // No engine to talk to, so the figure is the daemon's own start.
    let args = ["--docker", "unix:///nonexistent.sock"];
    let (mut fresh, mut existing) = (Vec::new(), Vec::new());
    for _ in 0..STARTS {
        let data = tempfile::tempdir()?;
        let mut first = Daemon::start(bin, data.path(), &args)?;
        fresh.push(first.wait_ready()?);
        // A clean stop, as a service manager would do, so the second start finds a closed database.
        first.stop()?;
        let mut second = Daemon::start(bin, data.path(), &args)?;
        existing.push(second.wait_ready()?);
    }
    println!(
        "bench startup: fresh data dir {:.1} ms | existing data dir {:.1} ms (exec to first answered ping, \
         median of {STARTS}, aim < 100 ms)",
        median_ms(&mut fresh),
        median_ms(&mut existing)
    );
    Ok(())
}

pub(crate) fn median_ms(samples: &mut [Duration]) -> f64 {
    samples.sort_unstable();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

/// A release daemon on a data directory its caller owns; killed when dropped.
pub(crate) struct Daemon {
    child: Child,
    pub(crate) address: SocketAddr,
    /// The balena device API's address.
    pub(crate) balena_address: SocketAddr,
    /// Taken just before the exec, for the startup time.
    spawned: Instant,
    /// The daemon's stderr (its log), shown when it fails to start.
    log: File,
}

impl Daemon {
    /// Starts the daemon on a free loopback port and returns once it has bound it.
    pub(crate) fn start(bin: &Path, data: &Path, args: &[&str]) -> anyhow::Result<Daemon> {
        Self::start_with(bin, data, args, &[])
    }

    /// Like [`Daemon::start`], with extra environment variables (a private bus's address, say).
    pub(crate) fn start_with(bin: &Path, data: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Daemon> {
        let log = tempfile::tempfile()?;
        let mut command = Command::new(bin);
        // The caller's `SUPERVISOR_*` settings (a debug log level, say) would skew the figures.
        for (name, _) in std::env::vars_os().filter(|(name, _)| name.to_string_lossy().starts_with("SUPERVISOR_")) {
            command.env_remove(name);
        }
        let spawned = Instant::now();
        let mut child = command
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0", "--balena-listen", "127.0.0.1:0"])
            .arg("--version-source")
            .arg(data.join(MANIFEST))
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.try_clone()?)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut daemon = Daemon { child, address: unbound, balena_address: unbound, spawned, log };
        // The ports are only known from the first two lines; reading them on a thread bounds the
        // wait. The thread then drains the rest, so a later print never fails on a closed pipe.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            let _ = tx.send(lines.next());
            lines.for_each(drop);
        });
        let mut addresses = Vec::new();
        for prefix in ["listening on ", "balena listening on "] {
            let line = match rx.recv_timeout(READY_TIMEOUT) {
                Ok(Some(Ok(line))) => line,
                _ => return Err(daemon.failure("did not print its addresses")),
            };
            match line.strip_prefix(prefix).map(str::parse) {
                Some(Ok(parsed)) => addresses.push(parsed),
                _ => return Err(daemon.failure(&format!("printed {line:?} instead of its address"))),
            }
        }
        (daemon.address, daemon.balena_address) = (addresses[0], addresses[1]);
        Ok(daemon)
    }

    /// Pings until answered; returns the time since exec.
    pub(crate) fn wait_ready(&mut self) -> anyhow::Result<Duration> {
        while self.spawned.elapsed() < READY_TIMEOUT {
            if ping(self.address) {
                return Ok(self.spawned.elapsed());
            }
            if self.child.try_wait()?.is_some() {
                break;
            }
            std::thread::sleep(PING_PERIOD);
        }
        Err(self.failure("did not answer /supervisor/ping"))
    }

    /// The daemon's resident memory (VmRSS), in KiB.
    pub(crate) fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).context("no VmRSS in /proc/<pid>/status")?;
        let kib = line.trim().trim_end_matches("kB").trim();
        kib.parse().with_context(|| format!("VmRSS {line:?}"))
    }

    /// VmRSS once the daemon has settled (its heap is trimmed when its last job ends): the
    /// smallest of samples a second apart over [`SETTLE`].
    pub(crate) fn settled_rss_kib(&self) -> anyhow::Result<u64> {
        let mut smallest = u64::MAX;
        for _ in 0..SETTLE.as_secs() {
            std::thread::sleep(Duration::from_secs(1));
            smallest = smallest.min(self.rss_kib()?);
        }
        Ok(smallest)
    }

    /// Its process id, for what else `/proc` tells about it.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the daemon is still running; a daemon that exited is an error carrying its log.
    pub(crate) fn ensure_alive(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(_) => Err(self.failure("exited")),
        }
    }

    /// SIGTERM, then waits for the exit; the daemon flushes its database on the way out.
    fn stop(&mut self) -> anyhow::Result<()> {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status()?;
        ensure!(status.success(), "kill -TERM {} failed: {status}", self.child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "the daemon exited with {status} on SIGTERM");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        bail!("the daemon did not stop within 10 s of SIGTERM")
    }

    /// An error that says what went wrong and carries the daemon's log.
    pub(crate) fn failure(&mut self, what: &str) -> anyhow::Error {
        let _ = self.child.kill();
        let status = self.child.wait().map_or_else(|e| e.to_string(), |s| s.to_string());
        let mut log = String::new();
        let _ = self.log.rewind().and_then(|()| self.log.read_to_string(&mut log));
        anyhow::anyhow!("the daemon {what} (exit: {status}); its log:\n{log}")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `GET /supervisor/ping` on a fresh connection; true on a 200.
fn ping(address: SocketAddr) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1)) else { return false };
    let request = format!("GET /supervisor/ping HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    stream.set_read_timeout(Some(Duration::from_secs(2))).is_ok()
        && stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_end(&mut response).is_ok()
        && response.starts_with(b"HTTP/1.1 200")
}

/// The baseline: actix-web with one route that answers fixed bytes, no middleware, no state.
fn bare_server(body: web::Bytes) -> anyhow::Result<LocalServer> {
    LocalServer::start("the bare actix server", move || {
        let body = body.clone();
        App::new().route(
            "/supervisor/info",
            web::get().to(move || {
                let body = body.clone();
                async move { HttpResponse::Ok().content_type("application/json").body(body) }
            }),
        )
    })
}

/// An actix app served in this process, with the daemon's worker count and keep-alive, on a free
/// loopback port, on its own thread and actix system; stopped when dropped.
pub(crate) struct LocalServer {
    pub(crate) address: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl LocalServer {
    /// Serves the apps `app` makes (one per worker); `what` names the server in errors.
    pub(crate) fn start<T, B>(
        what: &str,
        app: impl Fn() -> App<T> + Send + Clone + 'static,
    ) -> anyhow::Result<LocalServer>
    where
        T: ServiceFactory<
                ServiceRequest,
                Config = (),
                Response = ServiceResponse<B>,
                Error = actix_web::Error,
                InitError = (),
            > + 'static,
        B: MessageBody + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(app)
                    .workers(SERVER_WORKERS)
                    // The daemon's keep-alive: connections idle while the other server has its round.
                    .keep_alive(Duration::from_secs(30))
                    .disable_signals()
                    .bind(("127.0.0.1", 0))?;
                let address = server.addrs()[0];
                let server = server.run();
                let _ = tx.send((address, server.handle()));
                server.await
            })
        });
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok((address, handle)) => Ok(LocalServer { address, handle, thread: Some(thread) }),
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e).with_context(|| format!("starting {what}")),
                _ => bail!("{what} did not start"),
            },
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; the returned future only waits for it.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Everything measured against one server.
#[derive(Default)]
pub(crate) struct Load {
    /// Sorted once the measurement is over.
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Load {
    pub(crate) fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn p99(&self) -> Duration {
        self.latencies[(self.latencies.len() * 99).div_ceil(100) - 1]
    }
}

impl std::fmt::Display for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.0} req/s p99 {:.2} ms", self.per_second(), self.p99().as_secs_f64() * 1e3)
    }
}

/// Warms the targets (each a server and the request it gets) up, then loads them in alternating
/// rounds, each over its own connections.
pub(crate) async fn compare<const N: usize>(targets: [(SocketAddr, &[u8]); N]) -> anyhow::Result<[Load; N]> {
    let mut connections = Vec::new();
    for (address, request) in targets {
        let mut opened = Vec::new();
        for _ in 0..CONNECTIONS {
            opened.push(Connection::open(address, request).await?);
        }
        connections.push(opened);
    }
    for opened in &mut connections {
        load(opened, WARM_UP, &mut Load::default()).await?;
    }
    let mut loads: [Load; N] = std::array::from_fn(|_| Load::default());
    for _ in 0..ROUNDS {
        for (opened, measured) in connections.iter_mut().zip(&mut loads) {
            load(opened, ROUND, measured).await?;
        }
    }
    for measured in &mut loads {
        measured.latencies.sort_unstable();
    }
    Ok(loads)
}

/// Keeps every connection busy for `duration`, adding each request's latency to `into`.
async fn load(connections: &mut Vec<Connection>, duration: Duration, into: &mut Load) -> anyhow::Result<()> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for mut connection in connections.drain(..) {
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                connection.get().await?;
                latencies.push(sent.elapsed());
            }
            anyhow::Ok((connection, latencies))
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (connection, latencies) = done??;
        into.latencies.extend(latencies);
        connections.push(connection);
    }
    // Requests in flight at the deadline still finish, so the time counts until the last one did.
    into.elapsed += started.elapsed();
    ensure!(!into.latencies.is_empty(), "no request was answered");
    Ok(())
}

/// One keep-alive HTTP/1.1 connection that sends the same request over and over.
///
/// Hand-written rather than reqwest: on one thread reqwest topped out at about 100k requests/s,
/// so both servers measured the same, the client's limit; this one drives the bare server about
/// twice as fast. It copes with what the two actix servers answer: a status line, headers with a
/// `Content-Length`, and that many bytes of body.
pub(crate) struct Connection {
    stream: BufReader<TcpStream>,
    request: Vec<u8>,
    line: String,
    /// The last answer's body.
    pub(crate) body: Vec<u8>,
}

impl Connection {
    pub(crate) async fn open(address: SocketAddr, request: &[u8]) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(address).await.with_context(|| format!("connecting to {address}"))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream: BufReader::new(stream),
            request: request.to_vec(),
            line: String::new(),
            body: Vec::new(),
        })
    }

    /// Sends the request and reads the whole answer into `body`; anything but a 200 is an error.
    pub(crate) async fn get(&mut self) -> anyhow::Result<()> {
        self.stream.get_mut().write_all(&self.request).await?;
        self.read_line().await?;
        let status: u16 = self.line.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_default();
        let mut length = None;
        loop {
            self.read_line().await?;
            let header = self.line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = Some(value.trim().parse::<usize>()?);
                }
            }
        }
        self.body.resize(length.context("an answer without Content-Length")?, 0);
        self.stream.read_exact(&mut self.body).await?;
        ensure!(status == 200, "answered {status}: {}", String::from_utf8_lossy(&self.body));
        Ok(())
    }

    async fn read_line(&mut self) -> anyhow::Result<()> {
        self.line.clear();
        ensure!(self.stream.read_line(&mut self.line).await? > 0, "the server closed the connection");
        Ok(())
    }
}
