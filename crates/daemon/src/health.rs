//! Whether the daemon's own API answers: `GET /supervisor/ping` on its listener, over plain
//! HTTP/1.0 on a socket, so that the container's `HEALTHCHECK` (`supervisor --healthcheck`)
//! needs no other program in the image, and the systemd watchdog is fed only while the API
//! answers (not merely while some thread runs).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long one ping may take before the API counts as not answering.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks the API listening on `listen` for `/supervisor/ping`; an unspecified address (all
/// interfaces) is asked on loopback. Answers why it did not answer 200.
pub fn ping(listen: SocketAddr) -> Result<(), String> {
    let host = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let address = SocketAddr::new(host, listen.port());
    let fail = |e: std::io::Error| format!("{address}: {e}");
    let mut stream = TcpStream::connect_timeout(&address, PING_TIMEOUT).map_err(fail)?;
    stream.set_read_timeout(Some(PING_TIMEOUT)).map_err(fail)?;
    stream.set_write_timeout(Some(PING_TIMEOUT)).map_err(fail)?;
    stream.write_all(b"GET /supervisor/ping HTTP/1.0\r\nHost: supervisor\r\n\r\n").map_err(fail)?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(fail)?;
    // "HTTP/1.x 200"
    match head.get(9..12) {
        Some(b"200") => Ok(()),
        _ => Err(format!("{address} answered {:?}", String::from_utf8_lossy(&head))),
    }
}
