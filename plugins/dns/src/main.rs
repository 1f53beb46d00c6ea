//! `plugin-dns`: the DNS server of the supervisor's container network, run in the dns plugin's
//! container. It answers the names the supervisor lists in `hosts` (the supervisor, Core, the
//! plugins, the add-ons) authoritatively and forwards everything else to the upstreams of
//! `dns.json`, with the real plugin's loop detection, health-checked upstreams, fallback and
//! cache. SIGHUP reloads both files. Built on hickory-server: no DNS wire format is written here.

mod cache;
mod config;
mod resolver;
mod server;
mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::resolver::Resolver;
use crate::server::Handler;
use crate::upstream::Tuning;

const USAGE: &str =
    "usage: plugin-dns [--config DIR] [--listen ADDR] [--upstream-timeout-ms N] [--max-fails N] [--health-check-ms N]
  --config DIR             where dns.json and hosts are (default /config)
  --listen ADDR            UDP and TCP address to serve (default 0.0.0.0:53; port 0 picks a free one)
  --upstream-timeout-ms N  how long one upstream has to answer (default 2000)
  --max-fails N            unanswered queries in a row after which an upstream is skipped (default 3)
  --health-check-ms N      how often a skipped upstream is checked (default 60000)";

/// How long a TCP client may stay silent before its connection is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Answers queued per TCP connection.
const TCP_QUEUE: usize = 16;

#[derive(Debug)]
struct Args {
    config: PathBuf,
    listen: SocketAddr,
    tuning: Tuning,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut parsed = Args {
            config: PathBuf::from("/config"),
            listen: SocketAddr::from(([0, 0, 0, 0], 53)),
            tuning: Tuning {
                timeout: Duration::from_millis(2000),
                max_fails: 3,
                health_check: Duration::from_millis(60_000),
            },
        };
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            if flag == "--help" || flag == "-h" {
                return Err(String::new());
            }
            let value = inline.or_else(|| args.next()).ok_or_else(|| format!("{flag} needs a value"))?;
            let number = |min: u64| {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n >= min)
                    .ok_or_else(|| format!("{flag}: {value:?} is not a number of at least {min}"))
            };
            match flag.as_str() {
                "--config" => parsed.config = PathBuf::from(&value),
                "--listen" => {
                    parsed.listen =
                        value.parse().map_err(|_| format!("--listen: {value:?} is not an IP:PORT address"))?
                }
                "--upstream-timeout-ms" => parsed.tuning.timeout = Duration::from_millis(number(1)?),
                "--max-fails" => {
                    parsed.tuning.max_fails = u32::try_from(number(1)?).map_err(|_| "--max-fails: too large")?
                }
                "--health-check-ms" => parsed.tuning.health_check = Duration::from_millis(number(1)?),
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        Ok(parsed)
    }
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(why) if why.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("plugin-dns: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // The query log is ours (`debug` in dns.json); the library's own per-query lines stay off.
    let filter = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("hickory_server", LevelFilter::WARN)
        .with_target("hickory_net", LevelFilter::ERROR)
        .with_target("hickory_proto", LevelFilter::ERROR);
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false).with_target(false))
        .with(filter)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            error!("{why}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let (udp, tcp) = bind(args.listen).await.map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = udp.local_addr().map_err(|e| e.to_string())?;
    let resolver = Resolver::new(args.config.clone(), args.tuning);
    let mut server = Server::new(Handler { resolver: resolver.clone() });
    server.register_socket(udp);
    server.register_listener(tcp, TCP_IDLE, TCP_QUEUE);
    info!("listening on {local} (UDP and TCP), configuration in {}", args.config.display());
    // After the sockets serve: the loop probes must find us answering.
    resolver.reload();

    let signals = |kind| signal(kind).map_err(|e| format!("cannot watch signals: {e}"));
    let (mut hangup, mut terminate, mut interrupt) =
        (signals(SignalKind::hangup())?, signals(SignalKind::terminate())?, signals(SignalKind::interrupt())?);
    let shutdown = server.shutdown_token().clone();
    let done = server.block_until_done();
    tokio::pin!(done);
    loop {
        tokio::select! {
            result = &mut done => return result.map_err(|e| format!("the server stopped: {e}")),
            _ = hangup.recv() => {
                info!("SIGHUP: reloading");
                resolver.reload();
            }
            // As PID 1 of its container, the process must end itself on SIGTERM.
            _ = terminate.recv() => { info!("SIGTERM: stopping"); shutdown.cancel(); }
            _ = interrupt.recv() => { info!("SIGINT: stopping"); shutdown.cancel(); }
        }
    }
}

/// UDP and TCP on the same address; with port 0, a port free for both.
async fn bind(addr: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut attempts = 0;
    loop {
        let udp = UdpSocket::bind(addr).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse && attempts < 20 => attempts += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn flags_have_the_contract_defaults_and_refusals_name_the_flag() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.config, PathBuf::from("/config"));
        assert_eq!(args.listen, "0.0.0.0:53".parse().unwrap());
        let args = parse(&["--config", "/tmp/x", "--listen=127.0.0.1:5300", "--max-fails", "2"]).unwrap();
        assert_eq!(
            (args.config, args.listen, args.tuning.max_fails),
            ("/tmp/x".into(), "127.0.0.1:5300".parse().unwrap(), 2)
        );
        assert_eq!(parse(&["--listen", "localhost"]).unwrap_err(), "--listen: \"localhost\" is not an IP:PORT address");
        assert_eq!(parse(&["--config"]).unwrap_err(), "--config needs a value");
        assert_eq!(parse(&["--port", "53"]).unwrap_err(), "unknown flag --port");
        assert!(parse(&["--max-fails", "0"]).unwrap_err().contains("at least 1"));
    }
}
