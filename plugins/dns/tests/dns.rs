//! The real `plugin-dns` binary on loopback, asked by a real DNS client (hickory's) over UDP and
//! TCP, with upstream resolvers the tests run on other loopback ports (DNS servers made with the
//! same library, whose behaviour each test sets and whose received queries it reads).

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::net::tcp::TcpClientStream;
use hickory_server::net::udp::UdpClientStream;
use hickory_server::net::xfer::Protocol;
use hickory_server::net::DnsHandle;
use hickory_server::proto::op::{
    DnsRequest, DnsRequestOptions, Edns, Header, HeaderCounts, Message, Metadata, Query, ResponseCode,
};
use hickory_server::proto::rr::rdata::{A, SOA, TXT};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;

/// Short enough for tests to see an upstream skipped and checked again within seconds.
const TUNING: [&str; 6] = ["--upstream-timeout-ms", "1000", "--max-fails", "2", "--health-check-ms", "500"];

/// How an upstream the test runs answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// A names: its own address; `nx.*`: NXDOMAIN; `big.*` TXT: more than fits in UDP.
    Answer,
    ServFail,
    Refused,
    /// Never answers.
    Silent,
    /// Asks the server at this address and passes on its answer: a forwarder.
    Relay(SocketAddr),
}

#[derive(Clone)]
struct Upstream {
    addr: SocketAddr,
    ip: Ipv4Addr,
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<(String, RecordType, Protocol)>>>,
}

impl Upstream {
    /// Serves on UDP and TCP of one loopback port, answering A queries with `ip`.
    async fn start(ip: [u8; 4], mode: Mode) -> Upstream {
        let (udp, tcp) = loop {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            if let Ok(tcp) = tokio::net::TcpListener::bind(udp.local_addr().unwrap()).await {
                break (udp, tcp);
            }
        };
        let upstream = Upstream {
            addr: udp.local_addr().unwrap(),
            ip: Ipv4Addr::from(ip),
            mode: Arc::new(Mutex::new(mode)),
            seen: Arc::default(),
        };
        let mut server = Server::new(upstream.clone());
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 8);
        tokio::spawn(async move { server.block_until_done().await });
        upstream
    }

    fn url(&self) -> String {
        format!("dns://{}", self.addr)
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// The queries it received, loop probes (HINFO) left out unless asked for.
    fn seen(&self, with_probes: bool) -> Vec<(String, RecordType, Protocol)> {
        let seen = self.seen.lock().unwrap().clone();
        seen.into_iter().filter(|(_, t, _)| with_probes || *t != RecordType::HINFO).collect()
    }

    fn asked(&self, name: &str) -> usize {
        self.seen(false).iter().filter(|(n, _, _)| n == name).count()
    }
}

#[async_trait::async_trait]
impl RequestHandler for Upstream {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, mut response: R) -> ResponseInfo {
        let query = request.request_info().unwrap().query.original().clone();
        let name = query.name().to_ascii().to_lowercase();
        self.seen.lock().unwrap().push((name.clone(), query.query_type(), request.protocol()));
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        let mode = *self.mode.lock().unwrap();
        let mut answers = Vec::new();
        let mut authorities = Vec::new();
        let zone = Name::from_ascii("test.").unwrap();
        let soa =
            Record::from_rdata(zone.clone(), 60, RData::SOA(SOA::new(zone.clone(), zone.clone(), 1, 60, 60, 60, 60)));
        match mode {
            Mode::Silent => return ResponseInfo::from(Header { metadata, counts: HeaderCounts::default() }),
            Mode::ServFail => metadata.response_code = ResponseCode::ServFail,
            Mode::Refused => metadata.response_code = ResponseCode::Refused,
            Mode::Relay(target) => {
                let relayed = ask_query(target, false, query.clone()).await;
                metadata.response_code = relayed.metadata.response_code;
                answers = relayed.answers;
            }
            Mode::Answer if name.starts_with("nx.") => {
                metadata.response_code = ResponseCode::NXDomain;
                authorities.push(soa);
            }
            Mode::Answer => match query.query_type() {
                RecordType::A => answers.push(Record::from_rdata(query.name().clone(), 300, RData::A(A(self.ip)))),
                RecordType::TXT if name.starts_with("big.") => {
                    for i in 0..40 {
                        let text = format!("{i:02}-{}", "x".repeat(100));
                        answers.push(Record::from_rdata(query.name().clone(), 300, RData::TXT(TXT::new(vec![text]))));
                    }
                }
                _ => authorities.push(soa),
            },
        }
        let edns = request.edns.as_ref().map(|asked| {
            let mut edns = Edns::new();
            edns.set_max_payload(asked.max_payload());
            edns
        });
        let mut builder = MessageResponseBuilder::new(&request.queries, None);
        if let Some(edns) = &edns {
            builder.edns(edns);
        }
        let message =
            builder.build(metadata, answers.iter(), authorities.iter(), std::iter::empty(), std::iter::empty());
        response.send_response(message).await.unwrap()
    }
}

/// A question to a DNS server, as a client without EDNS asks it (as busybox's nslookup).
async fn ask(server: SocketAddr, tcp: bool, name: &str, record_type: RecordType) -> Message {
    ask_query(server, tcp, Query::query(Name::from_ascii(name).unwrap(), record_type)).await
}

async fn ask_query(server: SocketAddr, tcp: bool, query: Query) -> Message {
    let mut message = Message::query();
    message.queries.push(query);
    message.metadata.recursion_desired = true;
    let request = DnsRequest::new(message, DnsRequestOptions::default());
    let timeout = Duration::from_secs(10);
    // The provider owns the exchange's background task: it must live until the answer came.
    let provider = TokioRuntimeProvider::new();
    let answer = if tcp {
        let exchange = TcpClientStream::exchange(server, None, timeout, None, provider.clone()).await.unwrap();
        exchange.send(request).next().await
    } else {
        let exchange = UdpClientStream::builder(server, provider.clone()).with_timeout(Some(timeout)).exchange();
        exchange.send(request).next().await
    };
    drop(provider);
    answer.expect("an answer").expect("a DNS answer").into_message()
}

fn addresses(message: &Message) -> Vec<String> {
    message
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => a.to_string(),
            RData::AAAA(aaaa) => aaaa.to_string(),
            RData::PTR(ptr) => ptr.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// The plugin's binary, killed when dropped.
struct Plugin {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Plugin {
    /// Starts it on `listen` (port 0: a free one, read from its log) with `dir` as its config.
    async fn start(dir: &Path, listen: &str) -> Plugin {
        let mut child = Command::new(env!("CARGO_BIN_EXE_plugin-dns"))
            .args(["--config", dir.to_str().unwrap(), "--listen", listen])
            .args(TUNING)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut plugin = Plugin { child, addr: "0.0.0.0:0".parse().unwrap(), log };
        plugin.wait_log("listening on ", 1).await;
        let log = plugin.log();
        let at = log.find("listening on ").unwrap() + "listening on ".len();
        plugin.addr = log[at..].split_whitespace().next().unwrap().parse().unwrap();
        plugin.wait_log("configuration: ", 1).await;
        plugin
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// Waits until `needle` is in the log `times` times.
    async fn wait_log(&self, needle: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.count(needle) < times {
            assert!(Instant::now() < deadline, "no {needle:?} ({times}x) in the log:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGHUP, and wait until the reload is done.
    async fn reload(&self) {
        let done = self.count("configuration: ");
        let status = Command::new("kill").args(["-HUP", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        self.wait_log("configuration: ", done + 1).await;
    }

    async fn ask(&self, tcp: bool, name: &str, record_type: RecordType) -> Message {
        ask(self.addr, tcp, name, record_type).await
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

/// Waits until the plugin's `loops.json` names the upstreams `looping`.
async fn wait_loops(dir: &Path, looping: &[String]) {
    let expected = serde_json::json!({ "looping": looping });
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(dir.join("loops.json")).unwrap_or_default();
        if serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|found| found == expected) {
            return;
        }
        assert!(Instant::now() < deadline, "loops.json is {text:?}, not {expected}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn dns_json(
    servers: &[&Upstream],
    locals: &[&Upstream],
    fallback: bool,
    fallback_servers: &[&Upstream],
    debug: bool,
) -> String {
    let urls = |list: &[&Upstream]| list.iter().map(|u| u.url()).collect::<Vec<_>>();
    serde_json::json!({
        "servers": urls(servers),
        "locals": urls(locals),
        "fallback": fallback,
        "fallback_servers": urls(fallback_servers),
        "debug": debug,
    })
    .to_string()
}

const HOSTS: &str = "# written by the supervisor\n\
    172.30.32.2 supervisor supervisor.local.hass.io hassio\n\
    fd00::2 supervisor\n\
    172.30.32.1 homeassistant. homeassistant.local.hass.io\n";

#[tokio::test]
async fn hosts_names_are_answered_authoritatively_over_udp_and_tcp_and_never_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start([192, 0, 2, 1], Mode::Answer).await;
    write(dir.path(), "hosts", HOSTS);
    write(dir.path(), "dns.json", &dns_json(&[&upstream], &[], true, &[], true));
    let plugin = Plugin::start(dir.path(), "127.0.0.1:0").await;

    for tcp in [false, true] {
        let answer = plugin.ask(tcp, "supervisor", RecordType::A).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert!(answer.metadata.authoritative, "hosts answers are authoritative");
        assert_eq!(addresses(&answer), vec!["172.30.32.2"]);
        let answer = plugin.ask(tcp, "SuperVisor.LOCAL.hass.io.", RecordType::A).await;
        assert_eq!(addresses(&answer), vec!["172.30.32.2"]);
        assert_eq!(answer.answers[0].name.to_ascii(), "SuperVisor.LOCAL.hass.io.", "the name as it was asked");
        assert_eq!(addresses(&plugin.ask(tcp, "supervisor.", RecordType::AAAA).await), vec!["fd00::2"]);
        assert_eq!(addresses(&plugin.ask(tcp, "HomeAssistant", RecordType::A).await), vec!["172.30.32.1"]);
        assert_eq!(addresses(&plugin.ask(tcp, "hassio", RecordType::A).await), vec!["172.30.32.2"]);
        for (name, record_type) in [("supervisor", RecordType::MX), ("homeassistant", RecordType::AAAA)] {
            let answer = plugin.ask(tcp, name, record_type).await;
            assert_eq!(answer.metadata.response_code, ResponseCode::NoError, "{name} {record_type}");
            assert!(answer.metadata.authoritative && answer.answers.is_empty(), "{name} {record_type}: {answer:?}");
        }
        let answer = plugin.ask(tcp, "missing.local.hass.io", RecordType::A).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
        let answer = plugin.ask(tcp, "2.32.30.172.in-addr.arpa", RecordType::PTR).await;
        assert_eq!(addresses(&answer), vec!["supervisor.", "supervisor.local.hass.io.", "hassio."]);
    }
    assert_eq!(upstream.seen(false), vec![], "hosts names and the network's zones are never forwarded");
    // `debug` is on: one line per query.
    plugin.wait_log("query SuperVisor.LOCAL.hass.io. IN A from 127.0.0.1:", 2).await;
    assert!(plugin.log().contains("(hosts)"), "{}", plugin.log());
}

#[tokio::test]
async fn upstreams_are_asked_in_order_past_failures_and_answers_are_cached() {
    let dir = tempfile::tempdir().unwrap();
    let silent = Upstream::start([192, 0, 2, 1], Mode::Silent).await;
    let servfail = Upstream::start([192, 0, 2, 2], Mode::ServFail).await;
    let refused = Upstream::start([192, 0, 2, 3], Mode::Refused).await;
    let good = Upstream::start([192, 0, 2, 4], Mode::Answer).await;
    let fallback = Upstream::start([192, 0, 2, 5], Mode::Answer).await;
    write(dir.path(), "dns.json", &dns_json(&[&silent, &servfail], &[&refused, &good], true, &[&fallback], false));
    let plugin = Plugin::start(dir.path(), "127.0.0.1:0").await;

    let answer = plugin.ask(false, "www.example.test", RecordType::A).await;
    assert_eq!((answer.metadata.response_code, addresses(&answer)), (ResponseCode::NoError, vec!["192.0.2.4".into()]));
    assert!(!answer.metadata.authoritative && answer.metadata.recursion_available);
    // The silent one may have been sent the query twice: UDP queries are sent again within the
    // timeout, as datagrams get lost.
    assert!(silent.asked("www.example.test.") >= 1);
    for upstream in [&servfail, &refused, &good] {
        assert_eq!(upstream.asked("www.example.test."), 1, "{} asked once, in order", upstream.url());
    }
    assert_eq!(fallback.asked("www.example.test."), 0, "the fallback is not needed");

    // From the cache, with the TTL gone down rather than up.
    let again = plugin.ask(true, "WWW.example.test", RecordType::A).await;
    assert_eq!(addresses(&again), vec!["192.0.2.4"]);
    assert!(again.answers[0].ttl <= 300);
    assert_eq!(good.asked("www.example.test."), 1, "the second answer comes from the cache");

    // A second silence in a row (--max-fails 2) and the silent upstream is skipped.
    plugin.ask(false, "two.example.test", RecordType::A).await;
    plugin.wait_log(&format!("upstream {} failed 2 times in a row", silent.url()), 1).await;
    let answer = plugin.ask(false, "three.example.test", RecordType::A).await;
    assert_eq!(addresses(&answer), vec!["192.0.2.4"]);
    assert_eq!(silent.asked("three.example.test."), 0, "a skipped upstream is not asked");
    assert_eq!(servfail.asked("three.example.test."), 1);

    // It is checked in the background, and used again once it answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    while silent.seen(false).iter().all(|(name, t, _)| !(name == "." && *t == RecordType::NS)) {
        assert!(Instant::now() < deadline, "the skipped upstream is checked: {:?}", silent.seen(true));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    silent.set_mode(Mode::Answer);
    plugin.wait_log("answers again", 1).await;
    let answer = plugin.ask(false, "four.example.test", RecordType::A).await;
    assert_eq!(addresses(&answer), vec!["192.0.2.1"]);
    assert_eq!(plugin.count("INFO query "), 0, "no query log while debug is off:\n{}", plugin.log());
}

#[tokio::test]
async fn the_fallback_answers_failures_and_denials_only_when_on() {
    let dir = tempfile::tempdir().unwrap();
    let primary = Upstream::start([192, 0, 2, 1], Mode::Answer).await;
    let fallback = Upstream::start([192, 0, 2, 9], Mode::Answer).await;
    write(dir.path(), "dns.json", &dns_json(&[&primary], &[], true, &[&fallback], false));
    let plugin = Plugin::start(dir.path(), "127.0.0.1:0").await;

    assert_eq!(addresses(&plugin.ask(false, "www.example.test", RecordType::A).await), vec!["192.0.2.1"]);
    assert_eq!(fallback.asked("www.example.test."), 0);
    // A denial of the primary upstreams is asked of the fallback too, as the real plugin does.
    let answer = plugin.ask(false, "nx.example.test", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!((primary.asked("nx.example.test."), fallback.asked("nx.example.test.")), (1, 1));

    primary.set_mode(Mode::ServFail);
    assert_eq!(addresses(&plugin.ask(false, "one.example.test", RecordType::A).await), vec!["192.0.2.9"]);

    write(dir.path(), "dns.json", &dns_json(&[&primary], &[], false, &[&fallback], false));
    plugin.reload().await;
    let answer = plugin.ask(false, "two.example.test", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
    assert_eq!((primary.asked("two.example.test."), fallback.asked("two.example.test.")), (1, 0));
}

#[tokio::test]
async fn servfail_when_nothing_answers_and_hosts_are_served_without_upstreams() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = Plugin::start(dir.path(), "127.0.0.1:0").await;
    assert!(plugin.log().contains("no upstreams") && plugin.log().contains("no host names"), "{}", plugin.log());
    let answer = plugin.ask(false, "www.example.test", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);

    let silent = Upstream::start([192, 0, 2, 1], Mode::Silent).await;
    let refused = Upstream::start([192, 0, 2, 2], Mode::Refused).await;
    write(dir.path(), "hosts", HOSTS);
    write(dir.path(), "dns.json", &dns_json(&[&silent], &[&refused], true, &[], false));
    plugin.reload().await;
    assert_eq!(addresses(&plugin.ask(false, "supervisor", RecordType::A).await), vec!["172.30.32.2"]);
    for tcp in [false, true] {
        let name = if tcp { "tcp.example.test" } else { "udp.example.test" };
        let answer = plugin.ask(tcp, name, RecordType::A).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
        assert!(silent.asked(&format!("{name}.")) >= 1);
        assert_eq!(refused.asked(&format!("{name}.")), 1);
    }
}

#[tokio::test]
async fn sighup_rereads_the_files_and_a_bad_file_keeps_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let first = Upstream::start([192, 0, 2, 1], Mode::Answer).await;
    let second = Upstream::start([192, 0, 2, 2], Mode::Answer).await;
    write(dir.path(), "hosts", HOSTS);
    write(dir.path(), "dns.json", &dns_json(&[&first], &[], false, &[], false));
    let plugin = Plugin::start(dir.path(), "127.0.0.1:0").await;
    assert_eq!(addresses(&plugin.ask(false, "supervisor", RecordType::A).await), vec!["172.30.32.2"]);

    write(dir.path(), "hosts", "172.30.33.7 supervisor\n172.30.33.8 addon-x.local.hass.io\n");
    write(dir.path(), "dns.json", &dns_json(&[&second], &[], false, &[], false));
    plugin.reload().await;
    assert_eq!(addresses(&plugin.ask(false, "supervisor", RecordType::A).await), vec!["172.30.33.7"]);
    assert_eq!(addresses(&plugin.ask(true, "addon-x.local.hass.io", RecordType::A).await), vec!["172.30.33.8"]);
    let answer = plugin.ask(false, "homeassistant.local.hass.io", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain, "a name no longer listed is gone");
    assert_eq!(addresses(&plugin.ask(false, "www.example.test", RecordType::A).await), vec!["192.0.2.2"]);

    // Bad files: each keeps what was in force, and the log says why.
    write(dir.path(), "dns.json", r#"{"servers": ["8.8.8.8"]}"#);
    write(dir.path(), "hosts", "172.30.33.9 supervisor\nnot-an-ip core\n");
    plugin.reload().await;
    assert!(plugin
        .log()
        .contains(r#"dns.json: servers[0] "8.8.8.8" does not start with dns://: keeping the previous configuration"#));
    assert!(plugin
        .log()
        .contains(r#"hosts: line 2: "not-an-ip" is not an IP address: keeping the previous host names"#));
    assert_eq!(addresses(&plugin.ask(false, "supervisor", RecordType::A).await), vec!["172.30.33.7"]);
    assert_eq!(addresses(&plugin.ask(false, "other.example.test", RecordType::A).await), vec!["192.0.2.2"]);

    // A good file is taken even when the other one is bad.
    write(dir.path(), "dns.json", "{not json");
    write(dir.path(), "hosts", "172.30.33.10 supervisor\n");
    plugin.reload().await;
    assert!(plugin.log().contains("dns.json: not valid JSON"));
    assert_eq!(addresses(&plugin.ask(false, "supervisor", RecordType::A).await), vec!["172.30.33.10"]);
    assert_eq!(addresses(&plugin.ask(false, "third.example.test", RecordType::A).await), vec!["192.0.2.2"]);
}

#[tokio::test]
async fn an_upstream_that_is_the_plugin_itself_is_found_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.local_addr().unwrap().port()
    };
    let good = Upstream::start([192, 0, 2, 4], Mode::Answer).await;
    let own = format!("dns://127.0.0.1:{port}");
    write(dir.path(), "dns.json", &format!(r#"{{"servers": ["{own}", "{}"], "debug": true}}"#, good.url()));
    let plugin = Plugin::start(dir.path(), &format!("127.0.0.1:{port}")).await;
    plugin.wait_log(&format!("upstream {own} sends queries back to this server (loop detected)"), 1).await;
    wait_loops(dir.path(), std::slice::from_ref(&own)).await;

    assert_eq!(addresses(&plugin.ask(false, "www.example.test", RecordType::A).await), vec!["192.0.2.4"]);
    plugin.wait_log("query www.example.test. IN A", 1).await;
    assert_eq!(plugin.count("query www.example.test. IN A"), 1, "not asked of itself:\n{}", plugin.log());
}

#[tokio::test]
async fn an_upstream_that_forwards_back_is_found_at_reload_and_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let good = Upstream::start([192, 0, 2, 4], Mode::Answer).await;
    write(dir.path(), "dns.json", &dns_json(&[&good], &[], false, &[], false));
    let plugin = Plugin::start(dir.path(), "127.0.0.1:0").await;
    wait_loops(dir.path(), &[]).await;
    let forwarder = Upstream::start([192, 0, 2, 1], Mode::Relay(plugin.addr)).await;

    write(dir.path(), "dns.json", &dns_json(&[&forwarder, &good], &[], false, &[], false));
    plugin.reload().await;
    plugin
        .wait_log(&format!("upstream {} sends queries back to this server (loop detected)", forwarder.url()), 1)
        .await;
    wait_loops(dir.path(), &[forwarder.url()]).await;
    assert_eq!(forwarder.seen(true).len(), 1, "the probe went through it: {:?}", forwarder.seen(true));
    assert_eq!(forwarder.seen(true)[0].1, RecordType::HINFO);

    for tcp in [false, true] {
        let name = if tcp { "tcp.example.test" } else { "udp.example.test" };
        assert_eq!(addresses(&plugin.ask(tcp, name, RecordType::A).await), vec!["192.0.2.4"]);
    }
    assert_eq!(forwarder.seen(false), vec![], "a looping upstream is not asked");

    // Told where to forward, it no longer loops: found at the next reload, and used again.
    forwarder.set_mode(Mode::Answer);
    plugin.reload().await;
    plugin.wait_log(&format!("upstream {} no longer sends queries back to this server", forwarder.url()), 1).await;
    wait_loops(dir.path(), &[]).await;
    assert_eq!(addresses(&plugin.ask(false, "again.example.test", RecordType::A).await), vec!["192.0.2.1"]);
}

#[tokio::test]
async fn a_truncated_upstream_answer_is_asked_again_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start([192, 0, 2, 4], Mode::Answer).await;
    write(dir.path(), "dns.json", &dns_json(&[&upstream], &[], false, &[], false));
    let plugin = Plugin::start(dir.path(), "127.0.0.1:0").await;

    let answer = plugin.ask(true, "big.example.test", RecordType::TXT).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(answer.answers.len(), 40, "the whole answer, fetched over TCP");
    let protocols: Vec<Protocol> = upstream.seen(false).iter().map(|(_, _, p)| *p).collect();
    assert_eq!(protocols, vec![Protocol::Udp, Protocol::Tcp]);

    // A client over UDP without EDNS gets what fits in 512 bytes, marked truncated.
    let answer = plugin.ask(false, "big.example.test", RecordType::TXT).await;
    assert!(answer.metadata.truncation && answer.answers.len() < 40, "{} answers", answer.answers.len());
}

#[tokio::test]
async fn sigterm_stops_it_at_once() {
    // In its container the plugin is PID 1, for which the kernel ignores an unhandled SIGTERM.
    let dir = tempfile::tempdir().unwrap();
    let mut plugin = Plugin::start(dir.path(), "127.0.0.1:0").await;
    let status = Command::new("kill").args(["-TERM", &plugin.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let exit = loop {
        if let Some(exit) = plugin.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM:\n{}", plugin.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "{exit}");
}
