//! plugin-observer: the observer plugin. One web page on the host (port 4357 by default) that says
//! whether the supervisor answers, and whether it is healthy and supported and why not, read with
//! the observer token from `/supervisor/info` and `/resolution/info`. It keeps answering when the
//! supervisor is down or hangs, which is when a user needs it.
//!
//! Flags: `--listen ADDR` (default `0.0.0.0:4357`). Env: `SUPERVISOR_ENDPOINT` (default
//! `http://supervisor`) and `SUPERVISOR_TOKEN`.

mod page;
mod supervisor;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use supervisor::Supervisor;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Semaphore;

const USAGE: &str = "usage: plugin-observer [--listen ADDR]

Serves a status page of the supervisor on ADDR (default 0.0.0.0:4357).
Environment: SUPERVISOR_ENDPOINT (default http://supervisor), SUPERVISOR_TOKEN.";

const DEFAULT_LISTEN: &str = "0.0.0.0:4357";
const DEFAULT_ENDPOINT: &str = "http://supervisor";

/// Connections served at once; more wait in the kernel's backlog, so a flood of clients cannot
/// exhaust the memory of a small board.
const MAX_CONNECTIONS: usize = 64;
/// A client that has not sent its request headers by then is dropped (slow clients hold a slot).
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Everything one connection may take, the supervisor's answers included.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the page allows itself: its own style sheet, nothing else (no script, no frame, no
/// form, no image).
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn main() -> ExitCode {
    let listen = match listen_address(std::env::args().skip(1)) {
        Ok(Some(listen)) => listen,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("plugin-observer: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let endpoint = std::env::var("SUPERVISOR_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.to_owned());
    let token = std::env::var("SUPERVISOR_TOKEN").ok().filter(|token| !token.is_empty());
    if token.is_none() {
        eprintln!(
            "plugin-observer: SUPERVISOR_TOKEN is not set: the page can tell only whether the supervisor answers"
        );
    }
    let supervisor = match Supervisor::new(&endpoint, token) {
        Ok(supervisor) => Arc::new(supervisor),
        Err(problem) => {
            eprintln!("plugin-observer: SUPERVISOR_ENDPOINT {endpoint:?}: {problem}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("plugin-observer: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(listen, supervisor)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("plugin-observer: {problem}");
            ExitCode::FAILURE
        }
    }
}

/// The address of `--listen ADDR` or `--listen=ADDR`, the default without it; `None` for `--help`.
fn listen_address(mut args: impl Iterator<Item = String>) -> Result<Option<SocketAddr>, String> {
    let mut listen = DEFAULT_LISTEN.to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => listen = args.next().ok_or("--listen needs an address such as 0.0.0.0:4357")?,
            _ => match arg.strip_prefix("--listen=") {
                Some(value) => listen = value.to_owned(),
                None => return Err(format!("unknown argument {arg:?}")),
            },
        }
    }
    listen.parse().map(Some).map_err(|_| format!("--listen {listen:?} is not an address such as 0.0.0.0:4357"))
}

async fn run(listen: SocketAddr, supervisor: Arc<Supervisor>) -> Result<(), String> {
    let listener = TcpListener::bind(listen).await.map_err(|error| format!("cannot listen on {listen}: {error}"))?;
    let mut terminate = signal(SignalKind::terminate()).map_err(|error| format!("cannot watch SIGTERM: {error}"))?;
    eprintln!("plugin-observer: serving on {listen}, asking {}", supervisor.endpoint());
    // As PID 1 of its container the program gets no default action for SIGTERM: without this a
    // stop would wait for the engine's kill.
    tokio::select! {
        () = serve(listener, supervisor) => Ok(()),
        _ = terminate.recv() => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

async fn serve(listener: TcpListener, supervisor: Arc<Supervisor>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: wait instead of spinning on the error.
                eprintln!("plugin-observer: accept: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let supervisor = supervisor.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let supervisor = supervisor.clone();
                async move { Ok::<_, Infallible>(respond(&request, &supervisor).await) }
            });
            // One request per connection: idle keep-alive connections would hold the slots.
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            // A client that goes away or times out is its own business, not worth a log line.
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
            drop(slot);
        });
    }
}

async fn respond<B>(request: &Request<B>, supervisor: &Supervisor) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = answer(StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "Method not allowed\n");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match request.uri().path() {
        "/" | "/index.html" => {
            let status = supervisor.status().await;
            answer(StatusCode::OK, "text/html; charset=utf-8", page::render(&status))
        }
        "/style.css" => answer(StatusCode::OK, "text/css; charset=utf-8", page::STYLE),
        "/ping" => answer(StatusCode::OK, "text/plain; charset=utf-8", ""),
        _ => answer(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "Not found\n"),
    }
}

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<SocketAddr>, String> {
        listen_address(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn listen_takes_both_spellings_and_has_the_real_default() {
        assert_eq!(parse(&[]), Ok(Some("0.0.0.0:4357".parse().unwrap())));
        assert_eq!(parse(&["--listen", "127.0.0.1:80"]), Ok(Some("127.0.0.1:80".parse().unwrap())));
        assert_eq!(parse(&["--listen=[::1]:8080"]), Ok(Some("[::1]:8080".parse().unwrap())));
        assert_eq!(parse(&["--help"]), Ok(None));
    }

    #[test]
    fn bad_arguments_name_the_problem() {
        assert!(parse(&["--listen"]).unwrap_err().contains("--listen needs an address"));
        assert!(parse(&["--listen", "localhost"]).unwrap_err().contains("\"localhost\" is not an address"));
        assert!(parse(&["--port", "1"]).unwrap_err().contains("unknown argument \"--port\""));
    }
}
