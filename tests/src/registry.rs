//! A private container registry per test: Debian's `docker-registry` on `127.0.0.1` and a free
//! port, with a login of its own (bcrypt `htpasswd`) and storage in a temporary directory.
//!
//! Docker treats registries on 127.0.0.0/8 as insecure, so plain HTTP works without any engine
//! setting. The `docker` commands the helper runs use a client configuration directory of their
//! own (`DOCKER_CONFIG`), so its login never touches the machine's and tests stay independent.
//! Deleting manifests is enabled (`storage.delete.enabled`), as the registry client's tests need.
//! Dropping the helper stops the registry and removes the image tags it created in the engine.
//!
//! `cargo xtask test-images` installs the packages (`docker-registry`, `apache2-utils`) and the
//! images this pushes: the base of the fixture add-ons and the Core fixture.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const HTPASSWD_BIN: &str = "/usr/bin/htpasswd";
/// What every fixture add-on builds on; `cargo xtask test-images` imports it.
pub const BASE_IMAGE: &str = "supervisor-test-base:latest";
/// Home Assistant Core as the tests know it (`crates/core-fixture`); `cargo xtask test-images`
/// builds it.
pub const CORE_IMAGE: &str = "supervisor-test-core:latest";
/// Home Assistant Core's client library `aiohasupervisor` on Python 3.13, its `python3` on the
/// path; `cargo xtask test-images` builds it.
pub const CLIENT_LIBRARY_IMAGE: &str = "supervisor-test-aiohasupervisor:0.11.0";
/// Ports are picked free and then taken by the registry; another process may win that race.
const START_ATTEMPTS: usize = 5;

pub struct LocalRegistry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    username: String,
    password: String,
    /// Tags this helper created in the engine, removed on drop.
    tags: Mutex<Vec<String>>,
}

impl LocalRegistry {
    /// Starts a registry and waits until it answers (with 401: it wants a login).
    pub fn start() -> LocalRegistry {
        for _ in 0..START_ATTEMPTS {
            if let Some(registry) = Self::try_start() {
                return registry;
            }
        }
        panic!("the registry did not start in {START_ATTEMPTS} attempts");
    }

    fn try_start() -> Option<LocalRegistry> {
        assert!(Path::new(REGISTRY_BIN).exists(), "{REGISTRY_BIN} is missing; run cargo xtask test-images");
        let dir = tempfile::tempdir().expect("registry directory");
        let port = crate::free_port();
        let (username, password) = ("supervisor-tests".to_owned(), random_hex(12));
        std::fs::write(dir.path().join("htpasswd"), htpasswd_line(&username, &password)).expect("htpasswd file");
        std::fs::write(dir.path().join("config.yml"), config(dir.path(), port)).expect("registry config");
        std::fs::create_dir_all(dir.path().join("docker")).expect("docker client directory");
        let log = File::create(dir.path().join("registry.log")).expect("registry log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let mut registry = LocalRegistry { child, dir, port, username, password, tags: Mutex::new(Vec::new()) };
        registry.wait_ready().then_some(registry)
    }

    /// Waits for the registry's `/v2/` to answer; false if the process ended first (the port was
    /// taken meanwhile).
    fn wait_ready(&mut self) -> bool {
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(2)).build().expect("client");
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://{}/v2/", self.address());
        loop {
            if self.child.try_wait().expect("registry status").is_some() {
                return false;
            }
            if client.get(&url).send().is_ok_and(|response| response.status() == 401) {
                return true;
            }
            assert!(Instant::now() < deadline, "the registry did not answer; its log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:<port>`, the registry part of image names.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// What the registry printed, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The `docker` CLI with this registry's own client configuration (and so its login).
    pub fn docker(&self) -> Command {
        docker_with_config(&self.dir.path().join("docker"))
    }

    /// `docker login` to this registry, in this helper's client configuration.
    pub fn login(&self) {
        let mut command = self.docker();
        command.args(["login", "--username", &self.username, "--password-stdin", &self.address()]);
        let output = run_with_stdin(command, self.password.as_bytes());
        assert!(output.status.success(), "docker login failed: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// Tags the engine's `local_image` as `<address>/<name>` (a name with a tag) and pushes it,
    /// logged in. Answers the full reference.
    pub fn push(&self, local_image: &str, name: &str) -> String {
        let reference = format!("{}/{name}", self.address());
        self.login();
        self.run_docker(&["tag", local_image, &reference]);
        self.tags.lock().expect("tags").push(reference.clone());
        self.run_docker(&["push", &reference]);
        reference
    }

    /// Builds the `prebuilt` fixture add-on's image (`store-fixtures/prebuilt/image-source`) and
    /// pushes it for this machine's architecture at `version`. Answers the value for the add-on's
    /// `image` key, `<address>/supervisor-fixtures/prebuilt-{arch}`.
    pub fn push_prebuilt_fixture(&self, version: &str) -> String {
        let image = format!("{}/supervisor-fixtures/prebuilt-{{arch}}", self.address());
        let reference = format!("{}:{version}", image.replace("{arch}", crate::fixtures::arch()));
        self.build_and_push(&crate::fixtures::store_fixtures().join("prebuilt/image-source"), &reference);
        image
    }

    /// Builds an image of the Core fixture that reports `version` (and, with `mode`, starts in
    /// that `CORE_FIXTURE_MODE`: `crash` or `hang`) and pushes it as Core's image for `machine`
    /// at `version`. Answers the value for the version manifest's `images.core`,
    /// `<address>/supervisor-fixtures/{machine}-homeassistant` (the placeholder kept).
    pub fn push_core_fixture(&self, machine: &str, version: &str, mode: Option<&str>) -> String {
        let image = format!("{}/supervisor-fixtures/{{machine}}-homeassistant", self.address());
        let mut recipe = format!("FROM {CORE_IMAGE}\nENV CORE_FIXTURE_VERSION={version}\n");
        if let Some(mode) = mode {
            recipe += &format!("ENV CORE_FIXTURE_MODE={mode}\n");
        }
        self.push_recipe(&recipe, &format!("supervisor-fixtures/{machine}-homeassistant:{version}"));
        image
    }

    /// Builds the Dockerfile `recipe` (no build context besides it) as `<address>/<name>` (a
    /// name with a tag) and pushes it, logged in: an image of its own digest, where [`push`]
    /// of the same local image under two tags gives one. Answers the full reference.
    ///
    /// [`push`]: LocalRegistry::push
    pub fn push_recipe(&self, recipe: &str, name: &str) -> String {
        let reference = format!("{}/{name}", self.address());
        let context = tempfile::tempdir().expect("build context");
        std::fs::write(context.path().join("Dockerfile"), recipe).expect("write the Dockerfile");
        self.build_and_push(context.path(), &reference);
        reference
    }

    /// `docker build` of the recipe in `context` as `reference` (a tag removed on drop), pushed
    /// logged in.
    fn build_and_push(&self, context: &Path, reference: &str) {
        self.tags.lock().expect("tags").push(reference.to_owned());
        self.run_docker(&["build", "--quiet", "--tag", reference, context.to_str().expect("UTF-8 path")]);
        self.login();
        self.run_docker(&["push", reference]);
    }

    fn run_docker(&self, args: &[&str]) -> Output {
        let output = self.docker().args(args).stdin(Stdio::null()).output().expect("run docker");
        assert!(
            output.status.success(),
            "docker {} failed: {}\nregistry log:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        output
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for tag in self.tags.lock().map(|tags| tags.clone()).unwrap_or_default() {
            // Untags only; fails harmlessly when a test's container still uses the image.
            let _ = self.docker().args(["image", "rm", &tag]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}

/// The `docker` CLI with the client configuration (logins) in `dir`.
pub fn docker_with_config(dir: &Path) -> Command {
    let mut command = Command::new("docker");
    command.env("DOCKER_CONFIG", dir);
    command
}

fn run_with_stdin(mut command: Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn command");
    child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
    child.wait_with_output().expect("wait for command")
}

fn config(dir: &Path, port: u16) -> String {
    let path = |name: &str| -> PathBuf { dir.join(name) };
    format!(
        "version: 0.1\n\
         log:\n  level: warn\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: {}\n\
         auth:\n  htpasswd:\n    realm: supervisor-tests\n    path: {}\n",
        path("storage").display(),
        random_hex(16),
        path("htpasswd").display(),
    )
}

/// `user:<bcrypt hash>`, the only kind of htpasswd entry the registry accepts.
fn htpasswd_line(username: &str, password: &str) -> String {
    assert!(Path::new(HTPASSWD_BIN).exists(), "{HTPASSWD_BIN} is missing; run cargo xtask test-images");
    let output = Command::new(HTPASSWD_BIN).args(["-Bbn", username, password]).output().expect("run htpasswd");
    assert!(output.status.success(), "htpasswd failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("htpasswd output").trim().to_owned() + "\n"
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    File::open("/dev/urandom").and_then(|mut random| random.read_exact(&mut buffer)).expect("random bytes");
    buffer.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A front of a registry on its own loopback port that answers every request for a manifest
/// with 429 and the registry's `TOOMANYREQUESTS` error, as Docker Hub does at its rate limit,
/// until [`RateLimited::lift`]; from then on every new connection is passed to the registry as
/// it is. Its answers close their connection, so that the engine's next request comes anew.
pub struct RateLimited {
    address: String,
    limited: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The manifests refused so far.
    refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl RateLimited {
    pub fn start(registry: &LocalRegistry) -> RateLimited {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the front's port");
        let address = listener.local_addr().unwrap().to_string();
        let upstream = registry.address();
        let (limited, refused) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicUsize::new(0)));
        let (limiting, counting) = (Arc::clone(&limited), Arc::clone(&refused));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (limiting, counting, upstream) = (Arc::clone(&limiting), Arc::clone(&counting), upstream.clone());
                std::thread::spawn(move || {
                    if limiting.load(Ordering::SeqCst) {
                        refuse(stream, &counting);
                    } else {
                        pass(stream, &upstream);
                    }
                });
            }
        });
        RateLimited { address, limited, refused }
    }

    /// `127.0.0.1:<port>`, the registry's name in an image reference.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The limit is over: the registry serves.
    pub fn lift(&self) {
        self.limited.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn refused(&self) -> usize {
        self.refused.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Answers one request: the version check as a registry, anything else (a manifest, above all)
/// with the rate limit. What is not HTTP (the engine tries TLS first) is hung up on.
fn refuse(stream: std::net::TcpStream, refused: &std::sync::atomic::AtomicUsize) {
    use std::io::{BufRead, BufReader, Write};
    let mut reader = BufReader::new(&stream);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() || !request.ends_with("HTTP/1.1\r\n") {
        return;
    }
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or_default();
    let (status, body) = if path == "/v2/" {
        ("200 OK", "{}".to_owned())
    } else {
        if path.contains("/manifests/") {
            refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let error = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#;
        ("429 Too Many Requests", error.to_owned())
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nDocker-Distribution-Api-Version: registry/2.0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = (&stream).write_all(answer.as_bytes());
}

/// Passes the connection to the registry at `upstream` and back, byte for byte.
fn pass(client: std::net::TcpStream, upstream: &str) {
    let Ok(server) = std::net::TcpStream::connect(upstream) else { return };
    let (Ok(mut client_in), Ok(mut server_out)) = (client.try_clone(), server.try_clone()) else { return };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut server_out);
        let _ = server_out.shutdown(std::net::Shutdown::Write);
    });
    let (mut server_in, mut client_out) = (server, client);
    let _ = std::io::copy(&mut server_in, &mut client_out);
    let _ = client_out.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}
