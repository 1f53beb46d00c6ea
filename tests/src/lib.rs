//! The harness of the black-box tests: starts the real `supervisor` binary on a temporary data
//! directory and a free port, talks to it over real HTTP, kills it, and runs the real `ha` CLI.
//!
//! The binaries come from `SUPERVISOR_BIN_DIR`, else the cargo target directory this test runs
//! from; `cargo xtask test` builds them first.
//!
//! `browser` drives a headless Chromium for the admin UI's tests; `fixtures` holds the add-on
//! repository the daemon reads as its `core` store, `registry` a private container registry to
//! push add-on and Core images to, `etcd` an etcd cluster of the test's own, and `core_fixture`
//! the helpers of tests that run the Core fixture.

pub mod browser;
pub mod controller;
pub mod core_fixture;
pub mod etcd;
pub mod fixtures;
pub mod registry;

use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The folder of the project's binaries.
fn bin_dir() -> PathBuf {
    std::env::var_os("SUPERVISOR_BIN_DIR").map(PathBuf::from).unwrap_or_else(|| {
        // target/<profile>/deps/e2e-<hash> -> target/<profile>
        let exe = std::env::current_exe().expect("test executable path");
        exe.parent().and_then(Path::parent).expect("target directory").to_path_buf()
    })
}

/// The path of one of the project's binaries.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(path.exists(), "{} is missing; build it first (cargo xtask test does)", path.display());
    path
}

/// Whether one of the project's binaries was built, for tests of a part that may not exist yet.
pub fn has_bin(name: &str) -> bool {
    bin_dir().join(name).exists()
}

/// A running daemon on its own data directory.
pub struct Daemon {
    child: Option<Child>,
    /// Kept open: the daemon prints its listening line again when it restarts in place.
    stdout: Option<BufReader<ChildStdout>>,
    data: tempfile::TempDir,
    address: String,
    /// The balena device API's address.
    balena_address: String,
    extra: Vec<(String, String)>,
    client: Client,
    /// Prefix of every container, image and network this daemon creates on the shared engine.
    instance: String,
    /// The user and group the daemon runs as, when not root's.
    user: Option<(u32, u32)>,
    /// Where the first start's stderr goes, when a test reads it itself.
    stderr: Option<Stdio>,
    /// Every other start's stderr, kept for the test's failure message ([`Daemon::drop`]).
    log: tempfile::NamedTempFile,
}

/// What a failing test's output prints before each of its daemon's last warnings and errors;
/// `cargo xtask test` keeps such lines in its digest of the failures.
const LOG_PREFIX: &str = "daemon> ";
/// How many of the last warnings and errors a failing test prints.
const LOG_LINES: usize = 20;

/// A prefix no other daemon of any test run uses at the same time.
fn unique_instance() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("e2e{}x{}-", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Daemon {
    /// Starts a daemon on a new data directory with a version manifest file it may read.
    pub fn start() -> Daemon {
        Self::start_with(&[])
    }

    /// Starts a daemon with extra environment variables (`SUPERVISOR_*` flags among them).
    pub fn start_with(env: &[(&str, &str)]) -> Daemon {
        let extra = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::start_on(tempfile::tempdir().expect("temporary data directory"), extra, None, None)
    }

    /// Starts a daemon as the user `uid` and group `gid` (a supervisor without root's
    /// privileges), on a data directory that user owns.
    pub fn start_as(uid: u32, gid: u32) -> Daemon {
        Self::start_as_with(uid, gid, &[])
    }

    /// Starts a daemon as `uid` and `gid` with extra environment variables.
    pub fn start_as_with(uid: u32, gid: u32, env: &[(&str, &str)]) -> Daemon {
        let data = tempfile::tempdir().expect("temporary data directory");
        std::os::unix::fs::chown(data.path(), Some(uid), Some(gid)).expect("the data directory given away");
        let extra = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::start_on(data, extra, Some((uid, gid)), None)
    }

    /// Starts a daemon on a data directory `prepare` set up first (a file system mounted on it,
    /// folders the daemon must cope with at start).
    pub fn start_prepared(prepare: impl FnOnce(&Path)) -> Daemon {
        let data = tempfile::tempdir().expect("temporary data directory");
        prepare(data.path());
        Self::start_on(data, Vec::new(), None, None)
    }

    /// Starts a daemon with `env` set too, its stderr written to `stderr` (a test of what the
    /// daemon logs there, or of a stream it is told about).
    pub fn start_with_stderr(env: &[(&str, &str)], stderr: impl Into<Stdio>) -> Daemon {
        let data = tempfile::tempdir().expect("temporary data directory");
        let extra = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::start_on(data, extra, None, Some(stderr.into()))
    }

    fn start_on(
        data: tempfile::TempDir,
        extra: Vec<(String, String)>,
        user: Option<(u32, u32)>,
        stderr: Option<Stdio>,
    ) -> Daemon {
        let client = Client::builder().timeout(Duration::from_secs(60)).build().expect("http client");
        let instance = unique_instance();
        let mut daemon = Daemon {
            child: None,
            stdout: None,
            data,
            address: String::new(),
            balena_address: String::new(),
            extra,
            client,
            instance,
            user,
            stderr,
            log: tempfile::NamedTempFile::new().expect("a file for the daemon's log"),
        };
        daemon.spawn();
        daemon
    }

    fn spawn(&mut self) {
        let mut command = Command::new(bin("supervisor"));
        command
            .arg("--data-dir")
            .arg(self.data.path())
            .args(["--listen", "127.0.0.1:0", "--balena-listen", "127.0.0.1:0", "--workers", "1"])
            .env("SUPERVISOR_VERSION_SOURCE", self.data.path().join("version-{channel}.json"))
            .env("SUPERVISOR_JOURNAL", format!("unix:{}", self.data.path().join("no-journal.sock").display()))
            // Never the machine's own bus: a test that wants one passes a private bus's address.
            .env("DBUS_SYSTEM_BUS_ADDRESS", format!("unix:path={}", self.data.path().join("no-bus.sock").display()))
            .env("SUPERVISOR_INSTANCE", &self.instance)
            .env("SUPERVISOR_NETWORK", format!("{}hassio", self.instance))
            .env("SUPERVISOR_NETWORK_SUBNET", "auto")
            // No test but Core's own wants a Core installed from the manifest it writes.
            .env("SUPERVISOR_CORE_INSTALL", "false")
            // Nor plugin containers, but the plugins' own tests (which name the plugins they want).
            .env("SUPERVISOR_PLUGINS_INSTALL", "false")
            // The closed store of `store-fixtures/`, never the real repositories from GitHub
            // (a test's own copy, passed in `extra`, comes after and wins).
            .env("SUPERVISOR_CORE_REPOSITORY", fixtures::store_fixtures())
            .stdout(Stdio::piped())
            .stderr(self.stderr.take().unwrap_or_else(|| {
                let log = std::fs::OpenOptions::new().append(true).open(self.log.path()).expect("the daemon's log");
                Stdio::from(log)
            }));
        for (k, v) in &self.extra {
            command.env(k, v);
        }
        if let Some((uid, gid)) = self.user {
            use std::os::unix::process::CommandExt;
            command.uid(uid).gid(gid);
        }
        let mut child = command.spawn().expect("start supervisor");
        self.stdout = Some(BufReader::new(child.stdout.take().expect("stdout")));
        self.child = Some(child);
        self.read_address();
    }

    /// Reads the next `listening on <address>` line the daemon prints, and the balena device
    /// API's `balena listening on <address>` after it.
    fn read_address(&mut self) {
        let mut read = |prefix: &str| {
            let mut line = String::new();
            self.stdout.as_mut().expect("running").read_line(&mut line).expect("read the listening line");
            line.trim().strip_prefix(prefix).unwrap_or_else(|| panic!("unexpected line {line:?}")).to_owned()
        };
        let address = read("listening on ");
        let balena_address = read("balena listening on ");
        (self.address, self.balena_address) = (address, balena_address);
    }

    /// After a restart in place (`POST /supervisor/restart`): follows the daemon to its new
    /// address (it listens on a new free port) and waits until it answers.
    pub fn follow_restart_in_place(&mut self) {
        self.read_address();
        self.wait_ready();
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// The URL of `path` on the balena device API.
    pub fn balena_url(&self, path: &str) -> String {
        format!("http://{}{}", self.balena_address, path)
    }

    /// The device's key of the balena device API.
    pub fn balena_key(&self) -> String {
        std::fs::read_to_string(self.data.path().join("balena/api_key")).expect("balena/api_key")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The admin token the CLI uses.
    pub fn cli_token(&self) -> String {
        std::fs::read_to_string(self.data.path().join("cli_token")).expect("cli_token")
    }

    /// Writes the version manifest the daemon reads for `channel`.
    pub fn write_manifest(&self, channel: &str, manifest: &Value) {
        std::fs::write(self.data.path().join(format!("version-{channel}.json")), manifest.to_string())
            .expect("manifest");
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A request with the admin token; answers the status and the JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let token = self.cli_token();
        json_of(self.request(method, path, Some(&token), body))
    }

    pub fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(body))
    }

    /// A GET with the admin token whose answer is text (logs); answers the status and the body.
    pub fn text(&self, path: &str) -> (StatusCode, String) {
        let response = self.request("GET", path, Some(&self.cli_token()), None);
        (response.status(), response.text().expect("body"))
    }

    /// A raw request with any token (or none).
    pub fn request(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().expect("request")
    }

    /// Waits until `/supervisor/ping` answers.
    pub fn wait_ready(&self) {
        eventually("the supervisor to answer its ping", || {
            let response = self.client.get(self.url("/supervisor/ping")).send().ok()?;
            response.status().is_success().then_some(())
        });
    }

    /// Waits until the daemon has connected to the Docker engine, which it does in the
    /// background after it starts serving: until then engine work answers 503
    /// `docker_unavailable`.
    pub fn wait_for_engine(&self) {
        eventually("the supervisor to connect to the Docker engine", || {
            let (status, body) = self.get("/docker/info");
            (status.is_success() && body["data"]["version"] != "0.0.0").then_some(())
        });
    }

    /// Makes the daemon log a WARN line naming `marker`: a request without a token to `/<marker>`,
    /// which the request guard refuses and logs.
    pub fn log_a_warning(&self, marker: &str) {
        let response = self.request("GET", &format!("/{marker}"), None, None);
        assert_eq!(response.status(), 401, "the request for {marker} was not refused");
    }

    /// Everything the daemon logged to its own log files (`<data-dir>/logs/supervisor`).
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(self.data_dir().join("logs/supervisor")).into_iter().flatten().flatten() {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
        text
    }

    /// kill -9, then start again on the same data directory.
    pub fn kill9_and_restart(&mut self) {
        self.kill9();
        self.spawn();
        self.wait_ready();
    }

    /// kill -9, then start again as root on the same data directory.
    pub fn kill9_and_restart_as_root(&mut self) {
        self.user = None;
        self.kill9_and_restart();
    }

    /// kill -9, then start again on the same data directory with `env` set too (a flag that
    /// changed between two runs).
    pub fn kill9_and_restart_with(&mut self, env: &[(&str, &str)]) {
        self.extra.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.kill9_and_restart();
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stdout = None;
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let status = child.wait().expect("wait");
        self.stdout = None;
        status
    }

    /// Runs the `ha` CLI against this daemon with the given arguments and environment.
    pub fn ha(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        self.ha_command(args, env).output().expect("run ha")
    }

    /// Runs the `ha` CLI with `input` on its standard input, for the commands that ask.
    pub fn ha_answering(&self, args: &[&str], input: &str) -> std::process::Output {
        let mut child = self
            .ha_command(args, &[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ha");
        child.stdin.take().expect("piped stdin").write_all(input.as_bytes()).expect("answer ha");
        child.wait_with_output().expect("wait for ha")
    }

    fn ha_command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(bin("ha"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SUPERVISOR_ENDPOINT", &self.address)
            .env("SUPERVISOR_DATA_DIR", self.data.path());
        for (k, v) in env {
            command.env(k, v);
        }
        command
    }
}

impl Daemon {
    /// The prefix of what this daemon creates on the engine.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Removes the containers, locally built images, volumes and networks this daemon created.
    fn remove_engine_objects(&self) {
        let docker = |args: &[&str]| {
            Command::new("docker").args(args).stderr(Stdio::null()).output().map(|o| o.stdout).unwrap_or_default()
        };
        let words =
            |out: Vec<u8>| String::from_utf8_lossy(&out).split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let name_filter = format!("name=^/{}", self.instance);
        let containers = words(docker(&["ps", "-aq", "--filter", &name_filter]));
        if !containers.is_empty() {
            docker(&[&["rm", "-f", "-v"][..], &containers.iter().map(String::as_str).collect::<Vec<_>>()].concat());
        }
        let images = words(docker(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            &format!("reference={}*/*", self.instance),
        ]));
        if !images.is_empty() {
            docker(&[&["rmi", "-f"][..], &images.iter().map(String::as_str).collect::<Vec<_>>()].concat());
        }
        docker(&["network", "rm", &format!("{}hassio", self.instance)]);
        // The balena applications' volumes and networks (`<instance><app id>_<name>`).
        let ours = |listing: Vec<u8>| -> Vec<String> {
            words(listing).into_iter().filter(|name| name.starts_with(&self.instance)).collect()
        };
        let volumes = ours(docker(&["volume", "ls", "-q", "--filter", &format!("name={}", self.instance)]));
        if !volumes.is_empty() {
            docker(&[&["volume", "rm", "-f"][..], &volumes.iter().map(String::as_str).collect::<Vec<_>>()].concat());
        }
        let networks =
            ours(docker(&["network", "ls", "--format", "{{.Name}}", "--filter", &format!("name={}", self.instance)]));
        for network in networks {
            docker(&["network", "rm", &network]);
        }
    }
}

impl Drop for Daemon {
    /// Stops the daemon and removes what it made on the engine; when the test failed, prints
    /// the daemon's last warnings and errors, whose causes its API answers only point to.
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            let notable: Vec<&str> =
                log.lines().filter(|line| line.contains("ERROR") || line.contains("WARN")).collect();
            for line in &notable[notable.len().saturating_sub(LOG_LINES)..] {
                eprintln!("{LOG_PREFIX}{line}");
            }
        }
        self.remove_engine_objects();
    }
}

/// Status and JSON body of a response (a non-JSON body is a test failure).
pub fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

/// Polls `probe` until it answers `Some` and returns that; fails the test after 30 seconds,
/// naming `what` it waited for. For state the daemon reaches in the background, never for timing.
pub fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A port on 127.0.0.1 that was free a moment ago; whoever takes it may lose a race, so callers
/// that can retry do.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port").port()
}

/// A valid version manifest for `channel` announcing supervisor `supervisor`; its image name is
/// unique to the call, so nothing could ever collide on the shared Docker engine.
pub fn manifest(channel: &str, supervisor: &str) -> Value {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let unique = format!("{}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
    serde_json::json!({
        "channel": channel,
        "supervisor": supervisor,
        "homeassistant": {"default": "2024.10.4"},
        "hassos": {},
        "cli": "1", "dns": "1", "audio": "1", "observer": "1", "multicast": "1",
        "images": {"supervisor": format!("localhost/e2e-{unique}/{{arch}}-supervisor")},
    })
}

/// Every entry under `dir` in name order, recursively, named relative to `root`: a link as
/// `-> <target>` (never followed), anything else as `describe` says. A missing `dir` lists
/// nothing.
pub fn tree_listing(
    root: &Path,
    dir: &Path,
    describe: &dyn Fn(&Path, &std::fs::Metadata) -> String,
) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut entries: Vec<_> = entries.map(|e| e.expect("a folder entry")).collect();
    entries.sort_by_key(|e| e.file_name());
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.path();
        let name = path.strip_prefix(root).expect("under the root").display().to_string();
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).expect("a link");
            out.push((name, format!("-> {}", target.display())));
        } else {
            out.push((name, describe(&path, &meta)));
            if meta.is_dir() {
                out.extend(tree_listing(root, &path, describe));
            }
        }
    }
    out
}

/// A tmpfs mounted on a folder (a data directory made small), unmounted when dropped: after
/// the daemon using it stopped, so declare it before the daemon.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}
