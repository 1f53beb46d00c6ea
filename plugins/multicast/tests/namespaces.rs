//! The real plugin-multicast binary in a network namespace of its own, between namespaces made
//! by the test and joined to it by veth pairs (run as root). The test's hosts are sockets opened
//! inside those namespaces; everything is removed at the end, also when an assertion fails.

use nix::net::if_::if_nametoindex;
use nix::sched::{setns, CloneFlags};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

const MDNS_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 251));
const LLMNR_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 252));
const MDNS_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb));
const LLMNR_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 3));

/// How long a repeated packet may take to arrive, and how long silence is awaited.
const ARRIVES_WITHIN: Duration = Duration::from_secs(3);
const QUIET_FOR: Duration = Duration::from_secs(1);

/// Namespaces and the repeater of one test, all removed when dropped.
struct Lab {
    id: String,
    namespaces: Vec<String>,
    /// The repeater's namespace.
    r: String,
    repeater: Option<Child>,
}

impl Lab {
    /// `None`, after saying why, when the kernel refuses network namespaces.
    fn new() -> Option<Lab> {
        let id = format!("{}{}", std::process::id() % 100_000, NEXT.fetch_add(1, Ordering::Relaxed));
        let r = format!("pm-{id}-r");
        let output = Command::new("ip").args(["netns", "add", &r]).output().expect("iproute2's ip is installed");
        if !output.status.success() {
            eprintln!(
                "skipping: the kernel refuses network namespaces: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return None;
        }
        let lab = Lab { id, namespaces: vec![r.clone()], r, repeater: None };
        ip(&["-n", &lab.r, "link", "set", "lo", "up"]);
        Some(lab)
    }

    fn namespace(&mut self, role: &str) -> String {
        let name = format!("pm-{}-{role}", self.id);
        ip(&["netns", "add", &name]);
        self.namespaces.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        name
    }

    /// A veth pair between two namespaces, both ends up with the given addresses. IPv6 gets a
    /// fixed link-local address without duplicate detection, so it is usable at once.
    fn link(&self, (ns1, if1, v4_1, v6_1): End, (ns2, if2, v4_2, v6_2): End) {
        ip(&["-n", ns1, "link", "add", if1, "type", "veth", "peer", "name", if2, "netns", ns2]);
        for (ns, name, v4, v6) in [(ns1, if1, v4_1, v6_1), (ns2, if2, v4_2, v6_2)] {
            configure(ns, name, v4, v6);
        }
        wait_for_carrier(ns1, if1);
        wait_for_carrier(ns2, if2);
    }

    fn name(&self, role: &str) -> String {
        format!("{role}{}", self.id)
    }

    /// Starts the repeater in its namespace and waits until it says it repeats.
    fn start(&mut self, interfaces: &[&str]) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.r, env!("CARGO_BIN_EXE_plugin-multicast"), "--interfaces"])
            .arg(interfaces.join(","))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the repeater starts");
        let stderr = child.stderr.take().unwrap();
        self.repeater = Some(child);
        let (lines, log) = mpsc::channel();
        std::thread::spawn(move || {
            // Read to the end, so the repeater never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                let _ = lines.send(line);
            }
        });
        let started = log.recv_timeout(Duration::from_secs(10)).expect("the repeater says something within 10 s");
        assert!(started.contains("repeating mDNS and LLMNR between"), "the repeater did not start: {started}");
    }

    /// SIGTERM, as the engine stops a container: the repeater, PID 1 there, must exit at once.
    fn stop_and_expect_a_clean_exit(&mut self) {
        let mut child = self.repeater.take().unwrap();
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "the repeater exits cleanly on SIGTERM: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "the repeater did not exit within 3 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.repeater.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for namespace in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", namespace]).status();
        }
    }
}

/// A namespace, an interface there, its IPv4 address with prefix, its IPv6 link-local address.
type End<'a> = (&'a str, &'a str, &'a str, &'a str);

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("iproute2's ip is installed");
    assert!(output.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
}

fn configure(ns: &str, name: &str, v4: &str, v6: &str) {
    ip(&["-n", ns, "link", "set", name, "addrgenmode", "none"]);
    ip(&["-n", ns, "addr", "add", v4, "dev", name]);
    ip(&["-n", ns, "addr", "add", &format!("{v6}/64"), "dev", name, "nodad"]);
    ip(&["-n", ns, "link", "set", name, "up"]);
}

/// Waits until IPv6 multicast can leave `name`: the kernel adds the route when the link has its
/// carrier, which a veth gets a moment after both ends are up.
fn wait_for_carrier(ns: &str, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let output = Command::new("ip").args(["-n", ns, "-6", "route", "show", "table", "local", "dev", name]).output();
        if String::from_utf8_lossy(&output.expect("ip runs").stdout).contains("ff00::/8") {
            return;
        }
        assert!(Instant::now() < deadline, "{name} in {ns} has no carrier after 5 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `make` on a thread that has entered `namespace`: the sockets it opens belong there.
fn inside<T: Send + 'static>(namespace: &str, make: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{namespace}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
        setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
        make()
    })
    .join()
    .expect("the thread in the namespace")
}

/// A socket of a test host on `interface`: bound to `bind`, member of `group` when given,
/// sending multicast out of `interface` without hearing its own.
fn host_socket(namespace: &str, interface: &str, bind: SocketAddr, group: Option<IpAddr>) -> UdpSocket {
    let interface = interface.to_owned();
    inside(namespace, move || {
        let index = if_nametoindex(interface.as_str()).expect("the interface is in the namespace");
        let domain = if bind.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        socket.set_reuse_address(true).unwrap();
        match (bind, group) {
            (SocketAddr::V4(_), group) => {
                let own = interface_ipv4(&interface);
                socket.set_multicast_if_v4(&own).unwrap();
                socket.set_multicast_loop_v4(false).unwrap();
                if let Some(IpAddr::V4(group)) = group {
                    socket.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(index)).unwrap();
                }
            }
            (SocketAddr::V6(_), group) => {
                socket.set_only_v6(true).unwrap();
                socket.set_multicast_if_v6(index).unwrap();
                socket.set_multicast_loop_v6(false).unwrap();
                if let Some(IpAddr::V6(group)) = group {
                    socket.join_multicast_v6(&group, index).unwrap();
                }
            }
        }
        let bind = match bind {
            SocketAddr::V6(mut v6) if v6.ip().is_unicast_link_local() => {
                v6.set_scope_id(index);
                SocketAddr::V6(v6)
            }
            other => other,
        };
        socket.bind(&SockAddr::from(bind)).unwrap();
        let socket: UdpSocket = socket.into();
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        socket
    })
}

fn interface_ipv4(interface: &str) -> Ipv4Addr {
    nix::ifaddrs::getifaddrs()
        .unwrap()
        .filter(|entry| entry.interface_name == interface)
        .find_map(|entry| entry.address.and_then(|a| a.as_sockaddr_in().map(|a| a.ip())))
        .expect("the interface has an IPv4 address")
}

/// The group's address to send to from `interface` of `namespace`.
fn destination(namespace: &str, interface: &str, group: IpAddr, port: u16) -> SocketAddr {
    match group {
        IpAddr::V4(_) => SocketAddr::new(group, port),
        IpAddr::V6(group) => {
            let interface = interface.to_owned();
            let index = inside(namespace, move || if_nametoindex(interface.as_str()).unwrap());
            SocketAddr::V6(std::net::SocketAddrV6::new(group, port, 0, index))
        }
    }
}

/// Everything `socket` receives until `wanted` arrives (its source, and the packets before it),
/// or a failure after [`ARRIVES_WITHIN`].
fn expect(socket: &UdpSocket, wanted: &[u8], what: &str) -> (SocketAddr, Vec<Vec<u8>>) {
    let deadline = Instant::now() + ARRIVES_WITHIN;
    let mut before = Vec::new();
    let mut buffer = [0; 9000];
    while Instant::now() < deadline {
        match socket.recv_from(&mut buffer) {
            Ok((length, source)) if &buffer[..length] == wanted => return (source, before),
            Ok((length, _)) => before.push(buffer[..length].to_vec()),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(error) => panic!("receiving {what}: {error}"),
        }
    }
    panic!("{what} did not arrive within {ARRIVES_WITHIN:?}; other packets: {before:?}");
}

/// Everything `socket` receives during `span`, with the sources.
fn collect(socket: &UdpSocket, span: Duration) -> Vec<(Vec<u8>, SocketAddr)> {
    let deadline = Instant::now() + span;
    let mut received = Vec::new();
    let mut buffer = [0; 9000];
    while Instant::now() < deadline {
        match socket.recv_from(&mut buffer) {
            Ok((length, source)) => received.push((buffer[..length].to_vec(), source)),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(error) => panic!("receiving: {error}"),
        }
    }
    received
}

fn name(labels: &str) -> Vec<u8> {
    let mut encoded = Vec::new();
    for label in labels.split('.') {
        encoded.push(label.len() as u8);
        encoded.extend_from_slice(label.as_bytes());
    }
    encoded.push(0);
    encoded
}

/// A DNS query for the A record of `host`.
fn query(id: u16, host: &str) -> Vec<u8> {
    let mut packet = [id.to_be_bytes().as_slice(), &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]].concat();
    packet.extend(name(host));
    packet.extend([0, 1, 0, 1]);
    packet
}

/// An authoritative answer for the A record of `host`; with `question` it repeats the query's
/// question as LLMNR does, without it is an mDNS announcement.
fn answer(id: u16, host: &str, address: Ipv4Addr, question: bool) -> Vec<u8> {
    let questions = u8::from(question);
    let mut packet = [id.to_be_bytes().as_slice(), &[0x84, 0, 0, questions, 0, 1, 0, 0, 0, 0]].concat();
    if question {
        packet.extend(name(host));
        packet.extend([0, 1, 0, 1]);
    }
    packet.extend(name(host));
    packet.extend([0, 1, 0, 1, 0, 0, 0, 120, 0, 4]);
    packet.extend(address.octets());
    packet
}

/// Namespace A and namespace B, each with one host, and the repeater in namespace R between them:
/// `a` (10.77.1.2, fe80::1:2) - `ra` (10.77.1.1, fe80::1:1) | R | `rb` (10.77.2.1, fe80::2:1) -
/// `b` (10.77.2.2, fe80::2:2).
struct TwoSides {
    lab: Lab,
    a: String,
    b: String,
    a_if: String,
    b_if: String,
}

fn two_sides() -> Option<TwoSides> {
    let mut lab = Lab::new()?;
    let (a, r, b) = (lab.namespace("a"), lab.r.clone(), lab.namespace("b"));
    let (a_if, ra, rb, b_if) = (lab.name("a"), lab.name("ra"), lab.name("rb"), lab.name("b"));
    lab.link((&r, &ra, "10.77.1.1/24", "fe80::1:1"), (&a, &a_if, "10.77.1.2/24", "fe80::1:2"));
    lab.link((&r, &rb, "10.77.2.1/24", "fe80::2:1"), (&b, &b_if, "10.77.2.2/24", "fe80::2:2"));
    lab.start(&[&ra, &rb]);
    Some(TwoSides { lab, a, b, a_if, b_if })
}

fn unspecified(group: IpAddr, port: u16) -> SocketAddr {
    match group {
        IpAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        IpAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
    }
}

/// A query from A reaches B from the repeater, B's multicast answer reaches A, and neither comes
/// back to the side it came from.
fn mdns_crosses(group: IpAddr, repeater_a: IpAddr, repeater_b: IpAddr) {
    let Some(mut sides) = two_sides() else { return };
    let a = host_socket(&sides.a, &sides.a_if, unspecified(group, 5353), Some(group));
    let b = host_socket(&sides.b, &sides.b_if, unspecified(group, 5353), Some(group));

    let question = query(0, "printer.local");
    a.send_to(&question, destination(&sides.a, &sides.a_if, group, 5353)).unwrap();
    let (source, before) = expect(&b, &question, "the query in B");
    assert_eq!((source.ip(), source.port()), (repeater_b, 5353), "repeated from the repeater's side of B");
    assert!(before.is_empty(), "B got only the query: {before:?}");

    let reply = answer(0, "printer.local", Ipv4Addr::new(10, 77, 2, 2), false);
    b.send_to(&reply, destination(&sides.b, &sides.b_if, group, 5353)).unwrap();
    let (source, before) = expect(&a, &reply, "the answer in A");
    assert_eq!((source.ip(), source.port()), (repeater_a, 5353), "repeated from the repeater's side of A");
    assert!(before.is_empty(), "the query was not echoed back to A: {before:?}");

    assert_eq!(collect(&a, QUIET_FOR), Vec::new(), "nothing more in A");
    assert_eq!(collect(&b, QUIET_FOR), Vec::new(), "the answer was not echoed back to B");
    sides.lab.stop_and_expect_a_clean_exit();
}

#[test]
fn mdns_over_ipv4_crosses_both_ways_without_echo() {
    mdns_crosses(MDNS_V4, "10.77.1.1".parse().unwrap(), "10.77.2.1".parse().unwrap());
}

#[test]
fn mdns_over_ipv6_crosses_both_ways_without_echo() {
    mdns_crosses(MDNS_V6, "fe80::1:1".parse().unwrap(), "fe80::2:1".parse().unwrap());
}

/// A query from an asker in A reaches B's responder from the repeater; the responder answers by
/// unicast to where the query came from, and the answer reaches the asker from port 5355 of the
/// repeater's side of A. The query is not echoed into A.
fn llmnr_crosses(group: IpAddr, asker_address: IpAddr, repeater_a: IpAddr, repeater_b: IpAddr) {
    let Some(sides) = two_sides() else { return };
    let asker = host_socket(&sides.a, &sides.a_if, SocketAddr::new(asker_address, 0), None);
    let responder_a = host_socket(&sides.a, &sides.a_if, unspecified(group, 5355), Some(group));
    let responder_b = host_socket(&sides.b, &sides.b_if, unspecified(group, 5355), Some(group));

    let question = query(0x4242, "nas");
    asker.send_to(&question, destination(&sides.a, &sides.a_if, group, 5355)).unwrap();
    let (source, before) = expect(&responder_b, &question, "the query in B");
    assert_eq!(source.ip(), repeater_b, "asked by the repeater's side of B");
    assert!(before.is_empty(), "B got only the query: {before:?}");

    let reply = answer(0x4242, "nas", Ipv4Addr::new(10, 77, 2, 2), true);
    responder_b.send_to(&reply, source).unwrap();
    let (source, _) = expect(&asker, &reply, "the answer at the asker");
    assert_eq!((source.ip(), source.port()), (repeater_a, 5355), "answered from the repeater's side of A");

    assert_eq!(collect(&responder_a, QUIET_FOR), Vec::new(), "the query was not echoed back to A");
    assert_eq!(collect(&asker, QUIET_FOR), Vec::new(), "one answer, once");
}

#[test]
fn llmnr_over_ipv4_crosses_and_the_unicast_answer_comes_back() {
    llmnr_crosses(LLMNR_V4, "10.77.1.2".parse().unwrap(), "10.77.1.1".parse().unwrap(), "10.77.2.1".parse().unwrap());
}

#[test]
fn llmnr_over_ipv6_crosses_and_the_unicast_answer_comes_back() {
    llmnr_crosses(LLMNR_V6, "fe80::1:2".parse().unwrap(), "fe80::1:1".parse().unwrap(), "fe80::2:1".parse().unwrap());
}

/// Both of the repeater's interfaces on one bridge with a host H: each packet of H comes in twice
/// and is repeated once out of each interface; the repeats come in again on the other interface
/// with the repeater's own address as source, and going round stops there.
#[test]
fn its_own_packets_are_not_repeated_when_the_links_are_joined() {
    let Some(mut lab) = Lab::new() else { return };
    let (segment, r, h) = (lab.namespace("s"), lab.r.clone(), lab.namespace("h"));
    let bridge = lab.name("br");
    ip(&["-n", &segment, "link", "add", &bridge, "type", "bridge"]);
    ip(&["-n", &segment, "link", "set", &bridge, "up"]);
    let ends = [
        (&r, "r1", "10.77.3.1/24", "fe80::3:1"),
        (&r, "r2", "10.77.3.2/24", "fe80::3:2"),
        (&h, "h", "10.77.3.3/24", "fe80::3:3"),
    ];
    for (namespace, role, v4, v6) in ends {
        let (inner, port) = (lab.name(role), lab.name(&format!("p{role}")));
        ip(&["-n", namespace, "link", "add", &inner, "type", "veth", "peer", "name", &port, "netns", &segment]);
        configure(namespace, &inner, v4, v6);
        ip(&["-n", &segment, "link", "set", &port, "master", &bridge, "up"]);
    }
    // The kernel drops a packet whose source is one of its own addresses before any socket sees
    // it (a "martian"); accepting those leaves the repeater's own check as the only guard.
    ip(&["netns", "exec", &r, "sysctl", "-qw", "net.ipv4.conf.all.accept_local=1"]);
    let (r1, r2) = (lab.name("r1"), lab.name("r2"));
    lab.start(&[&r1, &r2]);

    let host = host_socket(&h, &lab.name("h"), unspecified(MDNS_V4, 5353), Some(MDNS_V4));
    let announcement = answer(0, "h.local", Ipv4Addr::new(10, 77, 3, 3), false);
    host.send_to(&announcement, SocketAddr::new(MDNS_V4, 5353)).unwrap();
    let received = collect(&host, Duration::from_secs(2));
    let sources: BTreeSet<IpAddr> = received.iter().map(|(_, source)| source.ip()).collect();
    assert_eq!(received.len(), 2, "one repeat out of each interface, then silence: {received:?}");
    assert_eq!(sources, BTreeSet::from(["10.77.3.1".parse().unwrap(), "10.77.3.2".parse().unwrap()]));
    assert!(received.iter().all(|(packet, _)| *packet == announcement));
}

#[test]
fn an_unknown_interface_stops_the_program_with_its_name() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_plugin-multicast")).args(["--interfaces", "lo,nosuchif0"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("there is no interface nosuchif0"), "{stderr}");
}
