//! `core-fixture`: a stand-in for Home Assistant Core in the supervisor's tests, packed as the
//! image `supervisor-test-core:latest` by `cargo xtask test-images` (binary at
//! `/usr/local/bin/core-fixture`, default command `core-fixture serve`). It speaks only HTTP to
//! the supervisor and depends on none of our crates.
//!
//! `core-fixture serve [--config DIR]` reads `DIR/configuration.yaml` (default `/config`),
//! listens on `0.0.0.0:<http: server_port>` (default 8123) and serves:
//!
//! - `POST /auth/token` (`grant_type=refresh_token`): an access token for the refresh token;
//! - under `/api` (access token required, else 401 `401: Unauthorized`): `/`, `/core/state`,
//!   `/config`, `/echo/...` (any method; answers what it received), `/stream` (20 server-sent
//!   events, 100 ms apart), `/hassio_auth`, `/hassio_auth/password_reset`,
//!   `/hassio_push/discovery/{uuid}`, `/hassio_push/panel/{slug}` and the websocket `/api/websocket`;
//! - `/fixture/state` (everything recorded), `/fixture/crash`, `/fixture/hang`: no token.
//!
//! The environment sets it up:
//!
//! - `CORE_FIXTURE_VERSION`: the version it reports (default `2025.1.0`);
//! - `CORE_FIXTURE_MODE`: `crash` exits 1 at start, `hang` listens but never answers `/api`;
//! - `CORE_FIXTURE_REFRESH_TOKEN`: the refresh token to use (and store), so that a test can get
//!   an access token without a supervisor;
//! - `SUPERVISOR` and `SUPERVISOR_TOKEN`, as the supervisor sets them for Core: when both are
//!   set, it registers with the supervisor at start (see `supervisor`), and the websocket
//!   command `hassio/update/addon` updates the add-on through the supervisor as Core does.
//!
//! The refresh token and the users (`homer`/`donut`, owner, and the system user `Supervisor`)
//! are kept in `DIR/.storage/core_fixture.json`.
//!
//! `core-fixture check-config DIR` stands in for Core's `check_config` script: the image's
//! `python3` runs it for `python3 -m homeassistant -c DIR --script check_config`.

mod api;
mod state;
mod supervisor;

use actix_web::{web, App, HttpServer};
use serde_yaml::Value;
use state::Fixture;
use std::path::Path;
use std::process::ExitCode;

const DEFAULT_PORT: u16 = 8123;
const DEFAULT_VERSION: &str = "2025.1.0";
/// A top-level key that makes `check-config` fail, for the tests of an invalid configuration.
const INVALID_KEY: &str = "fixture_invalid";

fn main() -> ExitCode {
    exit_on_terminate();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match args.as_slice() {
        ["serve"] => serve(Path::new("/config")),
        ["serve", "--config", dir] => serve(Path::new(dir)),
        ["check-config", dir] => {
            println!("Testing configuration at {dir}");
            check_config(Path::new(dir)).map_err(|reason| format!("Invalid config for [homeassistant]: {reason}"))
        }
        _ => Err("usage: core-fixture serve [--config DIR] | core-fixture check-config DIR".to_owned()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Exits at SIGTERM at once, from the first instant on: as the container's PID 1 an unhandled
/// SIGTERM is ignored, so a stop right after a start (the landing page replaced by Core) would
/// wait for the engine's SIGKILL minutes later.
fn exit_on_terminate() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let mut terminate = runtime
        .block_on(async { tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) })
        .expect("a SIGTERM handler");
    std::thread::spawn(move || {
        runtime.block_on(terminate.recv());
        println!("core-fixture: terminated");
        std::process::exit(0);
    });
}

fn serve(config_dir: &Path) -> Result<(), String> {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let hang = match env("CORE_FIXTURE_MODE").as_deref() {
        None => false,
        Some("hang") => true,
        Some("crash") => return Err("core-fixture: crashing at start (CORE_FIXTURE_MODE=crash)".to_owned()),
        Some(other) => return Err(format!("core-fixture: unknown CORE_FIXTURE_MODE {other:?}")),
    };
    let port = match std::fs::read_to_string(config_dir.join("configuration.yaml")) {
        Ok(text) => port_of(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DEFAULT_PORT,
        Err(e) => return Err(format!("reading configuration.yaml: {e}")),
    };
    let version = env("CORE_FIXTURE_VERSION").unwrap_or_else(|| DEFAULT_VERSION.to_owned());
    let mut fixture = Fixture::open(config_dir, version, env("CORE_FIXTURE_REFRESH_TOKEN"))?;
    fixture.supervisor = env("SUPERVISOR").zip(env("SUPERVISOR_TOKEN"));
    let fixture = web::Data::new(fixture);
    if hang {
        fixture.hang();
    }
    actix_web::rt::System::new().block_on(async {
        let server = HttpServer::new({
            let fixture = fixture.clone();
            move || App::new().app_data(fixture.clone()).configure(api::configure)
        })
        .workers(2)
        .bind(("0.0.0.0", port))
        .map_err(|e| format!("listening on port {port}: {e}"))?
        .run();
        println!("core-fixture {} listening on 0.0.0.0:{port}", fixture.version);
        if let Some((host, token)) = fixture.supervisor.clone() {
            actix_web::rt::spawn(supervisor::register(fixture.into_inner(), host, token));
        }
        server.await.map_err(|e| format!("serving: {e}"))
    })
}

/// `http: server_port` of a `configuration.yaml`, 8123 when it is not set.
fn port_of(configuration: &str) -> Result<u16, String> {
    let config: Value = serde_yaml::from_str(configuration).map_err(|e| format!("configuration.yaml: {e}"))?;
    let port = &config["http"]["server_port"];
    if port.is_null() {
        return Ok(DEFAULT_PORT);
    }
    let port_number = port.as_u64().and_then(|n| u16::try_from(n).ok()).filter(|&n| n > 0);
    port_number.ok_or_else(|| format!("http: server_port is not a port: {port:?}"))
}

/// Whether `DIR/configuration.yaml` is valid for the fixture: YAML, a mapping (or empty), without
/// the key `fixture_invalid`.
fn check_config(dir: &Path) -> Result<(), String> {
    let path = dir.join("configuration.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    match serde_yaml::from_str::<Value>(&text).map_err(|e| e.to_string())? {
        Value::Null => Ok(()),
        Value::Mapping(config) if config.contains_key(INVALID_KEY) => Err(format!("{INVALID_KEY} is set")),
        Value::Mapping(_) => Ok(()),
        _ => Err("the configuration is not a mapping".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_comes_from_http_server_port() {
        assert_eq!(port_of("http:\n  server_port: 18555\n"), Ok(18555));
        assert_eq!(port_of("homeassistant:\n  name: x\n"), Ok(8123));
        assert_eq!(port_of("http:\n"), Ok(8123));
        assert_eq!(port_of(""), Ok(8123));
        assert!(port_of("http:\n  server_port: 70000\n").is_err());
        assert!(port_of("http:\n  server_port: nine\n").is_err());
        assert!(port_of("http: [").is_err());
    }

    #[test]
    fn check_config_refuses_broken_yaml_and_the_invalid_key() {
        let dir = tempfile::tempdir().unwrap();
        let check = |text: &str| {
            std::fs::write(dir.path().join("configuration.yaml"), text).unwrap();
            check_config(dir.path())
        };
        assert_eq!(check("http:\n  server_port: 8123\n"), Ok(()));
        assert_eq!(check(""), Ok(()));
        assert_eq!(check("fixture_invalid: true\n"), Err("fixture_invalid is set".to_owned()));
        assert!(check("http: [\n").is_err());
        assert!(check("- a list\n").is_err());
        std::fs::remove_file(dir.path().join("configuration.yaml")).unwrap();
        assert!(check_config(dir.path()).is_err());
    }
}
