//! The multicast plugin (`plugins/multicast`): its life cycle, and mDNS repeated both ways between
//! an add-on on the container network and a host of a LAN.
//!
//! The LAN is a network namespace the test makes, joined to the host by a veth pair. The daemon's
//! host root is the test's, whose routing table (`proc/net/route`) has the default route through
//! the veth's end on the host, so the supervisor has the repeater join that end beside the
//! network's bridge, as it joins a real host's LAN interfaces. The test's hosts are sockets
//! opened inside the LAN's namespace and inside the add-on container's.

use super::{address_of, container, docker, gateway, life_cycle, offer, running, wait_for};
use crate::addons::{engine_daemon, inspect_container, install};
use e2e::Daemon;
use nix::sched::{setns, CloneFlags};
use serde_json::json;
use std::fs::File;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const MDNS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("iproute2's ip is installed");
    assert!(output.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
}

/// A LAN of the test: a network namespace with one host, joined by a veth pair to the host, whose
/// end has an address of the LAN, and a host root that routes through that end. Removed when
/// dropped, also after a failure; declared before the daemon, it outlives the repeater.
struct Lan {
    namespace: String,
    /// The veth's end on the host: to the repeater, an interface of the host's LAN.
    host_end: String,
    /// The host's address on the LAN.
    host_address: Ipv4Addr,
    /// The address of the LAN's host, in the namespace.
    lan_address: Ipv4Addr,
    root: tempfile::TempDir,
}

impl Lan {
    fn new() -> Lan {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let (process, next) = (std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let id = format!("{}x{next}", process % 100_000);
        // A /30 of 10.254.0.0/16 of this process and LAN, so test runs side by side do not meet.
        let block = (process.wrapping_mul(8).wrapping_add(next) % 16_384) * 4;
        let [third, fourth] = [(block >> 8) as u8, (block & 0xff) as u8];
        let lan = Lan {
            namespace: format!("e2e-lan-{id}"),
            host_end: format!("el{id}h"),
            host_address: Ipv4Addr::new(10, 254, third, fourth + 1),
            lan_address: Ipv4Addr::new(10, 254, third, fourth + 2),
            root: tempfile::tempdir().unwrap(),
        };
        let lan_end = format!("el{id}l");
        ip(&["netns", "add", &lan.namespace]);
        ip(&["link", "add", &lan.host_end, "type", "veth", "peer", "name", &lan_end, "netns", &lan.namespace]);
        ip(&["addr", "add", &format!("{}/30", lan.host_address), "dev", &lan.host_end]);
        ip(&["link", "set", &lan.host_end, "up"]);
        let inside = |args: &[&str]| ip(&[&["-n", lan.namespace.as_str()][..], args].concat());
        inside(&["link", "set", "lo", "up"]);
        inside(&["addr", "add", &format!("{}/30", lan.lan_address), "dev", &lan_end]);
        inside(&["link", "set", &lan_end, "up"]);
        inside(&["route", "add", "default", "via", &lan.host_address.to_string()]);
        let gateway = format!("{:08X}", u32::from_le_bytes(lan.lan_address.octets()));
        let route = lan.root.path().join("proc/net/route");
        std::fs::create_dir_all(route.parent().unwrap()).unwrap();
        std::fs::write(
            &route,
            format!(
                "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
                 {0}\t00000000\t{gateway}\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                 {0}\t{1:08X}\t00000000\t0001\t0\t0\t0\tFCFFFFFF\t0\t0\t0\n",
                lan.host_end,
                u32::from_le_bytes([10, 254, third, fourth]),
            ),
        )
        .unwrap();
        // The pair carries packets once both ends are up.
        let deadline = Instant::now() + Duration::from_secs(10);
        let state = format!("/sys/class/net/{}/operstate", lan.host_end);
        while std::fs::read_to_string(&state).unwrap_or_default().trim() != "up" {
            assert!(Instant::now() < deadline, "{} has no carrier after 10 s", lan.host_end);
            std::thread::sleep(Duration::from_millis(20));
        }
        lan
    }

    fn host_root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the pair, and with it the host's.
        let _ = Command::new("ip").args(["netns", "del", &self.namespace]).status();
        let _ = Command::new("ip").args(["link", "del", &self.host_end]).output();
    }
}

/// A daemon that installs the multicast plugin at start, on the LAN's host root.
fn multicast_daemon(lan: &Lan) -> Daemon {
    let root = lan.host_root().to_str().unwrap();
    engine_daemon(&[("SUPERVISOR_PLUGINS_INSTALL", "multicast"), ("SUPERVISOR_HOST_ROOT", root)])
}

/// The host's interface of the daemon's container network.
fn bridge(daemon: &Daemon) -> String {
    let network = format!("{}hassio", daemon.instance());
    let output = docker(&["network", "inspect", "--format", "{{.Id}}", &network]);
    format!("br-{}", &String::from_utf8_lossy(&output.stdout).trim()[..12])
}

/// The arguments the repeater's container runs with.
fn command(daemon: &Daemon) -> serde_json::Value {
    inspect_container(&container(daemon, "multicast")).unwrap()["Config"]["Cmd"].clone()
}

#[test]
fn the_multicast_plugin_is_installed_updated_watched_and_repaired() {
    let lan = Lan::new();
    let mut daemon = multicast_daemon(&lan);
    life_cycle(&mut daemon, "multicast", |daemon, stage| {
        // Every container made anew repeats between the bridge and the host's LAN.
        let interfaces = format!("{},{}", bridge(daemon), lan.host_end);
        assert_eq!(command(daemon), json!(["--interfaces", interfaces]), "{stage:?}");
    });
}

/// A socket of a host in the network namespace `namespace` (a path of the namespace's file),
/// bound to mDNS's port and member of its group on the interface of `address`.
fn mdns_socket(namespace: PathBuf, address: Ipv4Addr) -> UdpSocket {
    std::thread::spawn(move || {
        let file = File::open(&namespace).unwrap_or_else(|e| panic!("{}: {e}", namespace.display()));
        // The thread's sockets are made in the namespace it is in; they stay there.
        setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 5353)).expect("mDNS's port");
        socket.join_multicast_v4(&MDNS, &address).expect("joining mDNS's group");
        socket.set_multicast_loop_v4(false).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        socket
    })
    .join()
    .expect("the thread in the namespace")
}

/// Sends `packet` to mDNS's group from `from` (once a second: a repeater still opening its
/// sockets misses one, as a LAN may lose one) until `to` receives it; answers where it came from.
fn cross(from: &UdpSocket, to: &UdpSocket, packet: &[u8], what: &str) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buffer = [0; 9000];
    let mut other = Vec::new();
    while Instant::now() < deadline {
        from.send_to(packet, SocketAddrV4::new(MDNS, 5353)).expect("sending to mDNS's group");
        let resend = Instant::now() + Duration::from_secs(1);
        while Instant::now() < resend {
            match to.recv_from(&mut buffer) {
                Ok((length, source)) if &buffer[..length] == packet => return source,
                Ok((length, source)) => other.push((buffer[..length].to_vec(), source)),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("receiving {what}: {e}"),
            }
        }
    }
    panic!("{what} did not arrive within 30 s; other packets: {other:?}");
}

/// An mDNS packet: one question for the A record of `host`, or an answer with its `address`.
fn mdns(host: &str, address: Option<Ipv4Addr>) -> Vec<u8> {
    let flags: &[u8] = if address.is_some() { &[0x84, 0, 0, 0, 0, 1] } else { &[0, 0, 0, 1, 0, 0] };
    let mut packet = [&[0, 0][..], flags, &[0, 0, 0, 0]].concat();
    for label in host.split('.') {
        packet.push(label.len() as u8);
        packet.extend(label.as_bytes());
    }
    packet.extend([0, 0, 1, 0, 1]);
    if let Some(address) = address {
        packet.extend([0, 0, 0, 120, 0, 4]);
        packet.extend(address.octets());
    }
    packet
}

#[test]
fn mdns_crosses_the_repeater_between_an_add_on_and_the_lan() {
    let lan = Lan::new();
    let daemon = multicast_daemon(&lan);
    offer(&daemon, &[("multicast", "1")]);
    running(&daemon, "multicast", "1");
    let name = container(&daemon, "multicast");
    wait_for(&daemon, "the repeater to join the LAN", || {
        let logs = docker(&["logs", &name]);
        let text = String::from_utf8_lossy(&logs.stderr).into_owned() + &String::from_utf8_lossy(&logs.stdout);
        text.lines()
            .any(|line| line.contains("repeating mDNS and LLMNR between") && line.contains(&lan.host_end))
            .then_some(())
    });

    install(&daemon, "core_build_local");
    let (status, body) = daemon.post("/addons/core_build_local/start", json!({}));
    assert_eq!(status, 200, "{body}");
    let addon_name = format!("{}addon_core_build_local", daemon.instance());
    let pid = inspect_container(&addon_name).unwrap()["State"]["Pid"].as_u64().unwrap();
    let addon_address: Ipv4Addr = address_of(&daemon, &addon_name).parse().unwrap();
    let addon = mdns_socket(PathBuf::from(format!("/proc/{pid}/ns/net")), addon_address);
    let host = mdns_socket(PathBuf::from(format!("/run/netns/{}", lan.namespace)), lan.lan_address);

    // The add-on's question reaches the LAN, from the repeater's side there; the LAN host's
    // answer reaches the add-on, from the repeater's side on the bridge.
    let host_name = format!("{}.local", daemon.instance().trim_end_matches('-'));
    let question = mdns(&host_name, None);
    let source = cross(&addon, &host, &question, "the add-on's question on the LAN");
    assert_eq!(source, SocketAddr::from((lan.host_address, 5353)));
    let answer = mdns(&host_name, Some(lan.lan_address));
    let source = cross(&host, &addon, &answer, "the LAN's answer in the add-on");
    let gateway: Ipv4Addr = gateway(&daemon).parse().unwrap();
    assert_eq!(source, SocketAddr::from((gateway, 5353)));
}
