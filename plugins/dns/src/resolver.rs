//! The plugin's state and how it answers: the configuration (reloaded from the files), the
//! upstreams in the order the configuration gives them, the cache, the queries in flight, and
//! the loop probes, whose findings are told to the supervisor in `loops.json`.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use hickory_server::proto::op::{Message, Query, ResponseCode};
use hickory_server::proto::rr::{LowerName, Name, RecordType};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::cache::{Cache, Key};
use crate::config::{Hosts, Settings};
use crate::upstream::{Outcome, Tuning, Upstream};

/// Entries the cache holds at most (CoreDNS keeps about 10k; a few thousand answers are a few
/// megabytes, which a small board can spare).
const CACHE_ENTRIES: usize = 4096;
/// The longest a cached answer is kept, in seconds (the real plugin's `cache 600`).
const CACHE_MAX_TTL: u32 = 600;
/// What the plugin tells the supervisor, next to the files it reads: `{"looping": [...]}`, the
/// upstreams that send queries back to it, written when one is found and after each reload's
/// probes.
pub const LOOPS_FILE: &str = "loops.json";

/// One configuration in force, replaced whole at a reload.
pub struct Active {
    pub settings: Settings,
    pub hosts: Hosts,
    primary: Vec<Arc<Upstream>>,
    fallback: Vec<Arc<Upstream>>,
}

/// Where an answer came from, for the query log.
pub enum Source {
    Cache,
    /// The answer of an identical query in flight at the same time.
    Shared,
    Upstream(SocketAddr),
    Nowhere,
}

pub struct Resolver {
    dir: PathBuf,
    tuning: Tuning,
    active: RwLock<Arc<Active>>,
    cache: Mutex<Cache>,
    in_flight: Mutex<HashMap<Key, Vec<oneshot::Sender<Arc<Message>>>>>,
    /// The probes under way, by name: the upstream each went through, and whether it came back.
    probes: Mutex<HashMap<LowerName, (Arc<Upstream>, bool)>>,
    /// What `loops.json` says.
    reported: Mutex<Option<Vec<String>>>,
}

impl Resolver {
    /// Starts with nothing: `reload` reads the files.
    pub fn new(dir: PathBuf, tuning: Tuning) -> Arc<Resolver> {
        let active =
            Active { settings: Settings::default(), hosts: Hosts::default(), primary: vec![], fallback: vec![] };
        Arc::new(Resolver {
            dir,
            tuning,
            active: RwLock::new(Arc::new(active)),
            cache: Mutex::new(Cache::new(CACHE_ENTRIES, CACHE_MAX_TTL)),
            in_flight: Mutex::new(HashMap::new()),
            probes: Mutex::new(HashMap::new()),
            reported: Mutex::new(None),
        })
    }

    pub fn active(&self) -> Arc<Active> {
        self.active.read().unwrap().clone()
    }

    /// Reads `dns.json` and `hosts` again. A missing file is an empty one; a bad file keeps what
    /// was in force and says why. Every upstream is probed for loops again; an upstream kept
    /// from before keeps its health, and the cache is emptied when the upstreams change.
    pub fn reload(self: &Arc<Self>) {
        let old = self.active();
        let settings = match read(&self.dir.join("dns.json")) {
            Ok(None) => {
                info!("no {}: no upstreams", self.dir.join("dns.json").display());
                Settings::default()
            }
            Ok(Some(text)) => match Settings::parse(&text) {
                Ok((settings, unknown)) => {
                    if !unknown.is_empty() {
                        warn!("dns.json: ignoring the keys this version does not know: {}", unknown.join(", "));
                    }
                    settings
                }
                Err(why) => {
                    error!("dns.json: {why}: keeping the previous configuration");
                    old.settings.clone()
                }
            },
            Err(why) => {
                error!("dns.json: {why}: keeping the previous configuration");
                old.settings.clone()
            }
        };
        let hosts = match read(&self.dir.join("hosts")) {
            Ok(None) => {
                info!("no {}: no host names", self.dir.join("hosts").display());
                Hosts::default()
            }
            Ok(Some(text)) => Hosts::parse(&text).unwrap_or_else(|why| {
                error!("hosts: {why}: keeping the previous host names");
                old.hosts.clone()
            }),
            Err(why) => {
                error!("hosts: {why}: keeping the previous host names");
                old.hosts.clone()
            }
        };

        let known: HashMap<SocketAddr, Arc<Upstream>> =
            old.primary.iter().chain(&old.fallback).map(|u| (u.addr, u.clone())).collect();
        let upstream =
            |addr: &SocketAddr| known.get(addr).cloned().unwrap_or_else(|| Upstream::new(*addr, self.tuning));
        let primary: Vec<_> = settings.primary().iter().map(upstream).collect();
        let fallback: Vec<_> = settings.fallback().iter().map(upstream).collect();
        if settings.primary() != old.settings.primary() || settings.fallback() != old.settings.fallback() {
            self.cache.lock().unwrap().clear();
        }
        let list = |upstreams: &[Arc<Upstream>]| upstreams.iter().map(|u| u.to_string()).collect::<Vec<_>>().join(" ");
        info!(
            "configuration: {} host names; upstreams [{}], fallback [{}]; query log {}",
            hosts.len(),
            list(&primary),
            list(&fallback),
            if settings.debug { "on" } else { "off" }
        );
        let active = Arc::new(Active { settings, hosts, primary, fallback });
        *self.active.write().unwrap() = active.clone();
        let probes: Vec<_> = active
            .primary
            .iter()
            .chain(&active.fallback)
            .map(|upstream| self.clone().probe(upstream.clone()))
            .collect();
        let resolver = self.clone();
        tokio::spawn(async move {
            futures_util::future::join_all(probes).await;
            // Every reload is answered, so that the supervisor hears again what it may have
            // forgotten (a loop it was told of and reset).
            resolver.report(true);
        });
    }

    /// Sends a name nobody else asks through the upstream (CoreDNS's `loop` plugin asks itself
    /// `<random>.<random>.` HINFO the same way): if it comes back to us, the upstream forwards
    /// to us, and asking it would go round in circles. What it finds replaces what the last
    /// probe found; until then a looping upstream stays unused.
    async fn probe(self: Arc<Self>, upstream: Arc<Upstream>) {
        let name = Name::from_ascii(format!("{}.{}.", random(), random())).expect("digits make a name");
        let key = LowerName::new(&name);
        self.probes.lock().unwrap().insert(key.clone(), (upstream.clone(), false));
        // The answer does not matter: an arrival is seen by `probe_arrived` before it comes.
        let _ = upstream.ask(&Query::query(name, RecordType::HINFO)).await;
        let came_back = self.probes.lock().unwrap().remove(&key).is_some_and(|(_, arrived)| arrived);
        if !came_back {
            upstream.clear_looping();
        }
    }

    /// A query for one of our probes: the upstream it went through loops. It must not be
    /// forwarded again.
    pub fn probe_arrived(&self, name: &LowerName) -> bool {
        let upstream = {
            let mut probes = self.probes.lock().unwrap();
            let Some((upstream, arrived)) = probes.get_mut(name) else { return false };
            *arrived = true;
            upstream.clone()
        };
        if upstream.mark_looping() {
            self.report(false);
        }
        true
    }

    /// Writes `loops.json` with the upstreams of the configuration in force that loop, when
    /// that changed or `always`.
    fn report(&self, always: bool) {
        let active = self.active();
        let mut looping: Vec<String> = Vec::new();
        for upstream in active.primary.iter().chain(&active.fallback).filter(|u| u.is_looping()) {
            let url = upstream.to_string();
            if !looping.contains(&url) {
                looping.push(url);
            }
        }
        let mut reported = self.reported.lock().unwrap();
        if !always && reported.as_ref() == Some(&looping) {
            return;
        }
        let path = self.dir.join(LOOPS_FILE);
        let partial = self.dir.join(format!(".{LOOPS_FILE}.partial"));
        let text = serde_json::json!({ "looping": looping }).to_string();
        // Renamed into place: the supervisor never reads half a file.
        match std::fs::write(&partial, text).and_then(|()| std::fs::rename(&partial, &path)) {
            Ok(()) => *reported = Some(looping),
            Err(e) => error!("cannot write {}: {e}", path.display()),
        }
    }

    /// The answer of the upstreams for a query, from the cache when it has one. Identical
    /// queries in flight share one upstream query: this also keeps a query that an upstream
    /// sends back to us from being forwarded again and again before its probe tells.
    pub async fn resolve(&self, key: Key, query: &Query) -> (Arc<Message>, Source) {
        if let Some(message) = self.cache.lock().unwrap().get(&key, Instant::now()) {
            return (Arc::new(message), Source::Cache);
        }
        let waiter = {
            let mut in_flight = self.in_flight.lock().unwrap();
            match in_flight.get_mut(&key) {
                Some(waiters) => {
                    let (sender, receiver) = oneshot::channel();
                    waiters.push(sender);
                    Some(receiver)
                }
                None => {
                    in_flight.insert(key.clone(), Vec::new());
                    None
                }
            }
        };
        if let Some(receiver) = waiter {
            return match receiver.await {
                Ok(message) => (message, Source::Shared),
                Err(_) => (Arc::new(failure(query)), Source::Nowhere),
            };
        }
        let mut leader = InFlight { resolver: self, key: &key, finished: false };
        let (message, source) = self.forward(&key, query).await;
        let message = Arc::new(message);
        self.cache.lock().unwrap().insert(key.clone(), message.clone(), Instant::now());
        for waiter in leader.finish() {
            let _ = waiter.send(message.clone());
        }
        (message, source)
    }

    /// Asks the upstreams in order (`servers`, `locals`) until one answers; when none answers
    /// or the answer is that the name does not exist, the fallback servers (the real plugin's
    /// `fallback REFUSED,SERVFAIL,NXDOMAIN`). Skipped upstreams are asked only when every
    /// upstream is skipped; looping ones never.
    async fn forward(&self, key: &Key, query: &Query) -> (Message, Source) {
        let active = self.active();
        let usable = |u: &&Arc<Upstream>| !u.is_looping();
        let all_down = active.primary.iter().chain(&active.fallback).filter(usable).all(|u| u.is_down());
        let mut denial = None;
        for group in [&active.primary, &active.fallback] {
            for upstream in group.iter().filter(usable).filter(|u| all_down || !u.is_down()) {
                match upstream.query(query, key.dnssec_ok, key.checking_disabled).await {
                    Outcome::Answer(message) => match message.metadata.response_code {
                        ResponseCode::NoError => return (message, Source::Upstream(upstream.addr)),
                        ResponseCode::NXDomain => {
                            denial = Some((message, Source::Upstream(upstream.addr)));
                            break;
                        }
                        code => {
                            if active.settings.debug {
                                info!(
                                    "upstream {upstream} answered {code} for {} {}",
                                    query.name(),
                                    query.query_type()
                                );
                            }
                        }
                    },
                    Outcome::Failed(why) => {
                        if active.settings.debug {
                            info!("upstream {upstream} failed for {} {}: {why}", query.name(), query.query_type());
                        }
                    }
                }
            }
        }
        denial.unwrap_or_else(|| (failure(query), Source::Nowhere))
    }
}

/// The query in flight that the first asker leads; dropped unfinished (its task ended), it
/// still lets the waiters go.
struct InFlight<'a> {
    resolver: &'a Resolver,
    key: &'a Key,
    finished: bool,
}

impl InFlight<'_> {
    fn finish(&mut self) -> Vec<oneshot::Sender<Arc<Message>>> {
        self.finished = true;
        self.resolver.in_flight.lock().unwrap().remove(self.key).unwrap_or_default()
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.resolver.in_flight.lock().unwrap().remove(self.key);
        }
    }
}

fn failure(query: &Query) -> Message {
    let mut message = Message::query();
    message.queries.push(query.clone());
    message.metadata.response_code = ResponseCode::ServFail;
    message
}

/// A random number from the standard library's per-process random hash keys: probe names only
/// need to be unguessable by others and unique, not cryptographic.
fn random() -> u64 {
    RandomState::new().hash_one(Instant::now())
}

fn read(path: &std::path::Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}
