//! One upstream resolver: queries over UDP with a retry over TCP when the answer is truncated,
//! and its health. An upstream that does not answer `max_fails` times in a row is skipped and
//! checked in the background until it answers again (CoreDNS's `max_fails` and `health_check`);
//! one that sends our queries back to us is not used until a probe at a later reload goes
//! through it without coming back.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::net::tcp::TcpClientStream;
use hickory_server::net::udp::UdpClientStream;
use hickory_server::net::xfer::DnsExchange;
use hickory_server::net::DnsHandle;
use hickory_server::proto::op::{DnsRequest, DnsRequestOptions, Edns, Message, Query};
use hickory_server::proto::rr::{Name, RecordType};
use tracing::{info, warn};

/// The EDNS payload we offer upstreams (the 2020 DNS flag day's size): larger answers come
/// truncated and are asked again over TCP.
const PAYLOAD: u16 = 1232;

/// How the plugin treats failing upstreams.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// How long one upstream has to answer one query.
    pub timeout: Duration,
    /// Unanswered queries in a row after which an upstream is skipped.
    pub max_fails: u32,
    /// How often a skipped upstream is checked.
    pub health_check: Duration,
}

/// What an upstream did with a query.
pub enum Outcome {
    Answer(Message),
    /// No usable answer: timed out, unreachable, or not a DNS answer.
    Failed(String),
}

#[derive(Default)]
struct Health {
    fails: u32,
    down: bool,
    looping: bool,
}

pub struct Upstream {
    pub addr: SocketAddr,
    /// Owns the background tasks of the exchanges (they end with it).
    provider: TokioRuntimeProvider,
    udp: DnsExchange<TokioRuntimeProvider>,
    health: Mutex<Health>,
    tuning: Tuning,
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "dns://{}", self.addr)
    }
}

impl Upstream {
    /// Must be called inside the runtime: the UDP exchange runs a background task.
    pub fn new(addr: SocketAddr, tuning: Tuning) -> Arc<Upstream> {
        let provider = TokioRuntimeProvider::new();
        let udp = UdpClientStream::builder(addr, provider.clone()).with_timeout(Some(tuning.timeout)).exchange();
        Arc::new(Upstream { addr, provider, udp, health: Mutex::new(Health::default()), tuning })
    }

    pub fn is_down(&self) -> bool {
        self.health.lock().unwrap().down
    }

    pub fn is_looping(&self) -> bool {
        self.health.lock().unwrap().looping
    }

    /// Our own probe came back through this upstream; whether that is news.
    pub fn mark_looping(&self) -> bool {
        let mut health = self.health.lock().unwrap();
        if health.looping {
            return false;
        }
        health.looping = true;
        warn!("upstream {self} sends queries back to this server (loop detected): not used until the next reload");
        true
    }

    /// A probe went through this upstream without coming back.
    pub fn clear_looping(&self) {
        let mut health = self.health.lock().unwrap();
        if health.looping {
            health.looping = false;
            info!("upstream {self} no longer sends queries back to this server");
        }
    }

    /// Asks the query, counting a failure towards skipping this upstream.
    pub async fn query(self: &Arc<Self>, query: &Query, dnssec_ok: bool, checking_disabled: bool) -> Outcome {
        let outcome = self.exchange(query, true, dnssec_ok, checking_disabled).await;
        match &outcome {
            Outcome::Answer(_) => self.answered(),
            Outcome::Failed(why) => self.failed(why),
        }
        outcome
    }

    /// Asks the query without touching the upstream's health: loop probes.
    pub async fn ask(&self, query: &Query) -> Outcome {
        self.exchange(query, true, false, false).await
    }

    async fn exchange(&self, query: &Query, recursion: bool, dnssec_ok: bool, checking_disabled: bool) -> Outcome {
        let mut message = Message::query();
        message.queries.push(query.clone());
        message.metadata.recursion_desired = recursion;
        message.metadata.checking_disabled = checking_disabled;
        let mut edns = Edns::new();
        edns.set_max_payload(PAYLOAD).set_dnssec_ok(dnssec_ok);
        message.edns = Some(edns);
        let mut options = DnsRequestOptions::default();
        options.edns_payload_len = PAYLOAD;
        options.edns_set_dnssec_ok = dnssec_ok;
        options.recursion_desired = recursion;
        let request = DnsRequest::new(message, options);

        let answer = match first(&self.udp, request.clone(), self.tuning.timeout).await {
            Ok(answer) => answer,
            Err(why) => return Outcome::Failed(format!("UDP: {why}")),
        };
        if !answer.metadata.truncation {
            return Outcome::Answer(answer);
        }
        let tcp = TcpClientStream::exchange(self.addr, None, self.tuning.timeout, Some(1), self.provider.clone());
        let tcp = match tokio::time::timeout(self.tuning.timeout, tcp).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Outcome::Failed(format!("truncated over UDP, and TCP: {e}")),
            Err(_) => return Outcome::Failed("truncated over UDP, and TCP: connection timed out".to_owned()),
        };
        match first(&tcp, request, self.tuning.timeout).await {
            Ok(answer) => Outcome::Answer(answer),
            Err(why) => Outcome::Failed(format!("truncated over UDP, and TCP: {why}")),
        }
    }

    fn answered(&self) {
        let mut health = self.health.lock().unwrap();
        health.fails = 0;
        if health.down {
            health.down = false;
            info!("upstream {self} answers again: used again");
        }
    }

    fn failed(self: &Arc<Self>, why: &str) {
        let mut health = self.health.lock().unwrap();
        health.fails += 1;
        if health.down || health.fails < self.tuning.max_fails {
            return;
        }
        health.down = true;
        warn!(
            "upstream {self} failed {} times in a row ({why}): skipped, checked every {:?} until it answers",
            health.fails, self.tuning.health_check
        );
        tokio::spawn(health_check(Arc::downgrade(self)));
    }
}

/// The first answer of an exchange within the timeout.
async fn first(
    exchange: &DnsExchange<TokioRuntimeProvider>,
    request: DnsRequest,
    timeout: Duration,
) -> Result<Message, String> {
    match tokio::time::timeout(timeout, exchange.send(request).next()).await {
        Err(_) | Ok(None) => Err(format!("no answer within {timeout:?}")),
        Ok(Some(Err(e))) => Err(e.to_string()),
        Ok(Some(Ok(response))) => Ok(response.into_message()),
    }
}

/// Asks a skipped upstream for the root's name servers (any answer will do, as CoreDNS's
/// health check) until it answers (here, or to a query asked while every upstream was
/// skipped), or until a reload has dropped it.
async fn health_check(upstream: Weak<Upstream>) {
    let root = Query::query(Name::root(), RecordType::NS);
    loop {
        let Some(period) = upstream.upgrade().map(|u| u.tuning.health_check) else { return };
        tokio::time::sleep(period).await;
        let Some(upstream) = upstream.upgrade() else { return };
        if !upstream.is_down() {
            return;
        }
        if let Outcome::Answer(_) = upstream.exchange(&root, false, false, false).await {
            upstream.answered();
            return;
        }
    }
}
