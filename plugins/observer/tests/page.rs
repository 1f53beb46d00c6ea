//! The real plugin-observer binary against a fixture supervisor: a small HTTP server of this test
//! that answers `/supervisor/ping`, `/supervisor/info` and `/resolution/info` in the supervisor's
//! envelope and shapes, checks the observer token as the real one does, and can hang.

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const TOKEN: &str = "observer-token-of-the-test";

/// What the fixture supervisor says.
#[derive(Clone)]
enum Behaviour {
    Answers {
        info: Value,
        resolution: Value,
    },
    /// Accepts connections and never answers.
    Hangs,
}

/// Each request's path and `Authorization` header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

struct Fixture {
    address: SocketAddr,
    seen: Seen,
}

fn supervisor_info(healthy: bool, supported: bool) -> Value {
    json!({
        "version": "2025.11.5", "version_latest": "2025.11.5", "update_available": false,
        "channel": "stable", "arch": "amd64", "supported": supported, "healthy": healthy,
        "ip_address": "172.30.32.2", "timezone": "UTC", "logging": "info", "debug": false,
        "debug_block": false, "diagnostics": null, "auto_update": true, "country": null,
        "detect_blocking_io": false, "addons": [], "addons_repositories": [],
    })
}

fn resolution_info(unhealthy: &[&str], unsupported: &[&str]) -> Value {
    json!({
        "unsupported": unsupported, "unhealthy": unhealthy, "suggestions": [], "issues": [],
        "checks": [{"enabled": true, "slug": "free_space"}],
    })
}

async fn fixture(behaviour: Behaviour) -> Fixture {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (info, resolution) = match &behaviour {
                Behaviour::Hangs => {
                    held.push(stream);
                    continue;
                }
                Behaviour::Answers { info, resolution } => (info.clone(), resolution.clone()),
            };
            let log = log.clone();
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let authorization =
                    request.headers().get("authorization").map(|value| value.to_str().unwrap().to_owned());
                let path = request.uri().path().to_owned();
                log.lock().unwrap().push((path.clone(), authorization.clone()));
                let bearer = authorization.as_deref() == Some(&format!("Bearer {TOKEN}"));
                let (status, body) = match path.as_str() {
                    // Open to everyone, as on the real supervisor.
                    "/supervisor/ping" => (StatusCode::OK, json!({"result": "ok", "data": {}})),
                    "/supervisor/info" | "/resolution/info" if !bearer => (
                        StatusCode::UNAUTHORIZED,
                        json!({"result": "error", "message": "Invalid token", "error_key": null}),
                    ),
                    "/supervisor/info" => (StatusCode::OK, json!({"result": "ok", "data": info})),
                    "/resolution/info" => (StatusCode::OK, json!({"result": "ok", "data": resolution})),
                    _ => (StatusCode::NOT_FOUND, json!({"result": "error", "message": "Not found"})),
                };
                let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
                *response.status_mut() = status;
                async move { Ok::<_, Infallible>(response) }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    Fixture { address, seen }
}

/// The observer binary, killed when dropped.
struct Observer {
    child: Child,
    base: String,
}

impl Drop for Observer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_observer(endpoint: &str, token: &str) -> Observer {
    let listen = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_plugin-observer"))
        .args(["--listen", &listen])
        .env("SUPERVISOR_ENDPOINT", endpoint)
        .env("SUPERVISOR_TOKEN", token)
        .stdout(Stdio::null())
        .spawn()
        .expect("the observer starts");
    let observer = Observer { child, base: format!("http://{listen}") };
    let deadline = Instant::now() + Duration::from_secs(10);
    while reqwest::get(format!("{}/ping", observer.base)).await.is_err() {
        assert!(Instant::now() < deadline, "the observer did not listen on {listen} within 10 seconds");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    observer
}

/// The page, with how long it took; it also checks the headers every page carries.
async fn page(observer: &Observer) -> (String, Duration) {
    let started = Instant::now();
    let response = reqwest::get(format!("{}/", observer.base)).await.unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(!policy.contains("script-src") && !policy.contains("unsafe"), "{policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let body = response.text().await.unwrap();
    assert!(!body.contains("<script"), "the page has no script: {body}");
    assert!(body.contains("<meta http-equiv=\"refresh\" content=\"10\">"), "{body}");
    (body, took)
}

fn endpoint(fixture: &Fixture) -> String {
    format!("http://{}", fixture.address)
}

#[tokio::test]
async fn a_healthy_supported_supervisor_shows_so_with_its_version() {
    let supervisor =
        fixture(Behaviour::Answers { info: supervisor_info(true, true), resolution: resolution_info(&[], &[]) }).await;
    let observer = start_observer(&endpoint(&supervisor), TOKEN).await;
    let (body, _) = page(&observer).await;
    assert!(body.contains("Supervisor is answering"), "{body}");
    assert!(body.contains("<th>Version</th><td>2025.11.5</td>"), "{body}");
    assert!(body.contains("<th>Healthy</th><td class=\"ok\">Yes</td>"), "{body}");
    assert!(body.contains("<th>Supported</th><td class=\"ok\">Yes</td>"), "{body}");
    assert!(!body.contains("because of"), "no reasons when there are none: {body}");
}

#[tokio::test]
async fn an_unhealthy_supervisor_shows_its_reasons() {
    let supervisor = fixture(Behaviour::Answers {
        info: supervisor_info(false, true),
        resolution: resolution_info(&["docker", "privileged"], &[]),
    })
    .await;
    let observer = start_observer(&endpoint(&supervisor), TOKEN).await;
    let (body, _) = page(&observer).await;
    assert!(body.contains("<th>Healthy</th><td class=\"bad\">No</td>"), "{body}");
    assert!(body.contains("<th>Supported</th><td class=\"ok\">Yes</td>"), "{body}");
    assert!(
        body.contains(
            "<h2>Unhealthy because of</h2>\n<ul>\n<li><code>docker</code></li>\n<li><code>privileged</code></li>"
        ),
        "{body}"
    );
    assert!(!body.contains("Unsupported because of"), "{body}");
}

#[tokio::test]
async fn an_unsupported_supervisor_shows_its_reasons() {
    let supervisor = fixture(Behaviour::Answers {
        info: supervisor_info(true, false),
        resolution: resolution_info(&[], &["os", "network_manager"]),
    })
    .await;
    let observer = start_observer(&endpoint(&supervisor), TOKEN).await;
    let (body, _) = page(&observer).await;
    assert!(body.contains("<th>Supported</th><td class=\"bad\">No</td>"), "{body}");
    assert!(
        body.contains(
            "<h2>Unsupported because of</h2>\n<ul>\n<li><code>os</code></li>\n<li><code>network_manager</code></li>"
        ),
        "{body}"
    );
    assert!(!body.contains("Unhealthy because of"), "{body}");
}

#[tokio::test]
async fn the_token_goes_as_bearer_to_the_info_routes_and_a_wrong_one_is_shown() {
    let supervisor =
        fixture(Behaviour::Answers { info: supervisor_info(true, true), resolution: resolution_info(&[], &[]) }).await;
    let observer = start_observer(&endpoint(&supervisor), TOKEN).await;
    page(&observer).await;
    let seen = supervisor.seen.lock().unwrap().clone();
    let bearer = Some(format!("Bearer {TOKEN}"));
    for path in ["/supervisor/ping", "/supervisor/info", "/resolution/info"] {
        assert!(seen.contains(&(path.to_owned(), bearer.clone())), "{path} with the token: {seen:?}");
    }
    assert_eq!(seen.len(), 3, "one request per question: {seen:?}");

    let refused = start_observer(&endpoint(&supervisor), "not-the-token").await;
    let (body, _) = page(&refused).await;
    assert!(body.contains("Supervisor is answering"), "{body}");
    assert!(body.contains("The supervisor's information could not be read"), "{body}");
    assert!(body.contains("/supervisor/info answered 401 Unauthorized: Invalid token"), "{body}");
    assert!(body.contains("/resolution/info answered 401 Unauthorized: Invalid token"), "{body}");
}

#[tokio::test]
async fn a_hostile_reason_is_escaped() {
    let hostile = "<script>alert('x')</script>\"&";
    let supervisor = fixture(Behaviour::Answers {
        info: supervisor_info(false, false),
        resolution: resolution_info(&[hostile], &["<img src=x onerror=alert(1)>"]),
    })
    .await;
    let observer = start_observer(&endpoint(&supervisor), TOKEN).await;
    let (body, _) = page(&observer).await;
    assert!(
        body.contains("<li><code>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;</code></li>"),
        "{body}"
    );
    assert!(body.contains("<li><code>&lt;img src=x onerror=alert(1)&gt;</code></li>"), "{body}");
    assert!(!body.contains("<img"), "{body}");
}

#[tokio::test]
async fn a_supervisor_that_is_down_is_reported_at_once() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let observer = start_observer(&closed, TOKEN).await;
    let (body, took) = page(&observer).await;
    assert!(took < Duration::from_millis(1500), "a refused connection is reported at once, took {took:?}");
    assert!(body.contains("Supervisor is not answering"), "{body}");
    assert!(body.contains("cannot connect"), "{body}");
    assert!(!body.contains("<table>"), "nothing is shown that was not read: {body}");
}

#[tokio::test]
async fn a_supervisor_that_hangs_is_reported_after_a_short_wait() {
    let supervisor = fixture(Behaviour::Hangs).await;
    let observer = start_observer(&endpoint(&supervisor), TOKEN).await;
    let (body, took) = page(&observer).await;
    assert!(took < Duration::from_secs(4), "the page waits for the supervisor 2 seconds at most, took {took:?}");
    assert!(body.contains("Supervisor is not answering"), "{body}");
    assert!(body.contains("no answer within 2 seconds"), "{body}");
}

#[tokio::test]
async fn ping_the_style_sheet_and_unknown_paths() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let observer = start_observer(&closed, TOKEN).await;
    let started = Instant::now();
    let ping = reqwest::get(format!("{}/ping", observer.base)).await.unwrap();
    assert_eq!(ping.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(1500), "/ping does not ask the supervisor");
    let style = reqwest::get(format!("{}/style.css", observer.base)).await.unwrap();
    assert_eq!(style.status(), 200);
    assert_eq!(style.headers()["content-type"], "text/css; charset=utf-8");
    let missing = reqwest::get(format!("{}/supervisor/logs", observer.base)).await.unwrap();
    assert_eq!(missing.status(), 404);
    let post = reqwest::Client::new().post(format!("{}/", observer.base)).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
}

#[test]
fn bad_flags_and_endpoints_stop_the_program_with_the_reason() {
    let run = |args: &[&str], endpoint: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_plugin-observer"))
            .args(args)
            .env("SUPERVISOR_ENDPOINT", endpoint)
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8(output.stderr).unwrap())
    };
    let (code, stderr) = run(&["--listen", "nowhere"], "http://supervisor");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--listen \"nowhere\" is not an address"), "{stderr}");
    let (code, stderr) = run(&[], "https://supervisor");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("SUPERVISOR_ENDPOINT \"https://supervisor\": only http:// endpoints"), "{stderr}");
}

#[tokio::test]
async fn sigterm_stops_it_at_once() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let mut observer = start_observer(&closed, TOKEN).await;
    // As PID 1 of its container it gets no default action for SIGTERM; it must handle it.
    let status = Command::new("kill").args(["-TERM", &observer.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(status) = observer.child.try_wait().unwrap() {
            assert!(status.success(), "a clean exit: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "still running 3 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
