//! A small cache of upstream answers, honouring their TTLs (capped, as the real plugin's
//! `cache 600`) and bounded in size so that a flood of distinct names cannot grow it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::{DNSClass, LowerName, RData, RecordType};

/// What an answer depends on besides the name: the DNSSEC bits change what upstreams return.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub name: LowerName,
    pub record_type: RecordType,
    pub class: DNSClass,
    pub dnssec_ok: bool,
    pub checking_disabled: bool,
}

struct Entry {
    message: Arc<Message>,
    stored: Instant,
    lifetime: Duration,
}

pub struct Cache {
    entries: HashMap<Key, Entry>,
    capacity: usize,
    max_ttl: u32,
}

impl Cache {
    pub fn new(capacity: usize, max_ttl: u32) -> Cache {
        Cache { entries: HashMap::new(), capacity, max_ttl }
    }

    /// The cached answer with its TTLs lowered by the time it has been kept.
    pub fn get(&mut self, key: &Key, now: Instant) -> Option<Message> {
        let entry = self.entries.get(key)?;
        let age = now.saturating_duration_since(entry.stored);
        if age >= entry.lifetime {
            self.entries.remove(key);
            return None;
        }
        let elapsed = u32::try_from(age.as_secs()).unwrap_or(u32::MAX);
        let mut message = Message::clone(&entry.message);
        for record in message.answers.iter_mut().chain(&mut message.authorities).chain(&mut message.additionals) {
            record.ttl = record.ttl.saturating_sub(elapsed);
        }
        Some(message)
    }

    /// Keeps an answer for as long as its records say: the lowest TTL of a positive answer, the
    /// SOA's negative TTL of a denial (RFC 2308; a denial without SOA is not kept). Failures,
    /// truncated answers and TTL 0 are not kept.
    pub fn insert(&mut self, key: Key, message: Arc<Message>, now: Instant) {
        let Some(ttl) = cache_ttl(&message) else { return };
        let ttl = ttl.min(self.max_ttl);
        if ttl == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, entry| now.saturating_duration_since(entry.stored) < entry.lifetime);
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let soonest =
                self.entries.iter().min_by_key(|(_, entry)| entry.stored + entry.lifetime).map(|(k, _)| k.clone());
            if let Some(soonest) = soonest {
                self.entries.remove(&soonest);
            }
        }
        self.entries.insert(key, Entry { message, stored: now, lifetime: Duration::from_secs(ttl.into()) });
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

fn cache_ttl(message: &Message) -> Option<u32> {
    if message.metadata.truncation {
        return None;
    }
    let negative = || {
        message.authorities.iter().find_map(|record| match &record.data {
            RData::SOA(soa) => Some(record.ttl.min(soa.minimum)),
            _ => None,
        })
    };
    match message.metadata.response_code {
        ResponseCode::NoError if !message.answers.is_empty() => {
            message.answers.iter().chain(&message.authorities).map(|record| record.ttl).min()
        }
        ResponseCode::NoError | ResponseCode::NXDomain => negative(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_server::proto::op::{MessageType, OpCode};
    use hickory_server::proto::rr::rdata::{A, SOA};
    use hickory_server::proto::rr::{Name, Record};

    fn key(name: &str) -> Key {
        Key {
            name: LowerName::new(&Name::from_ascii(name).unwrap()),
            record_type: RecordType::A,
            class: DNSClass::IN,
            dnssec_ok: false,
            checking_disabled: false,
        }
    }

    fn answer(ttls: &[u32]) -> Arc<Message> {
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        for ttl in ttls {
            message.answers.push(Record::from_rdata(
                Name::from_ascii("a.test.").unwrap(),
                *ttl,
                RData::A(A::new(192, 0, 2, 1)),
            ));
        }
        Arc::new(message)
    }

    fn denial(code: ResponseCode, soa: Option<(u32, u32)>) -> Arc<Message> {
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        message.metadata.response_code = code;
        if let Some((ttl, minimum)) = soa {
            let name = Name::from_ascii("test.").unwrap();
            let soa = SOA::new(name.clone(), name.clone(), 1, 60, 60, 60, minimum);
            message.authorities.push(Record::from_rdata(name, ttl, RData::SOA(soa)));
        }
        Arc::new(message)
    }

    #[test]
    fn answers_live_as_long_as_their_lowest_ttl_and_age_on_the_way_out() {
        let mut cache = Cache::new(10, 600);
        let now = Instant::now();
        cache.insert(key("a.test."), answer(&[30, 20]), now);
        let aged = cache.get(&key("A.TEST."), now + Duration::from_secs(5)).unwrap();
        assert_eq!(aged.answers.iter().map(|r| r.ttl).collect::<Vec<_>>(), vec![25, 15]);
        assert!(cache.get(&key("a.test."), now + Duration::from_secs(20)).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn ttls_are_capped_and_failures_and_bare_denials_are_not_kept() {
        let mut cache = Cache::new(10, 600);
        let now = Instant::now();
        cache.insert(key("long.test."), answer(&[86400]), now);
        assert!(cache.get(&key("long.test."), now + Duration::from_secs(599)).is_some());
        assert!(cache.get(&key("long.test."), now + Duration::from_secs(600)).is_none());
        cache.insert(key("zero.test."), answer(&[0]), now);
        cache.insert(key("fail.test."), denial(ResponseCode::ServFail, Some((60, 60))), now);
        cache.insert(key("bare.test."), denial(ResponseCode::NXDomain, None), now);
        assert_eq!(cache.len(), 0);
        cache.insert(key("nx.test."), denial(ResponseCode::NXDomain, Some((300, 30))), now);
        assert!(cache.get(&key("nx.test."), now + Duration::from_secs(29)).is_some());
        assert!(cache.get(&key("nx.test."), now + Duration::from_secs(30)).is_none());
    }

    #[test]
    fn a_full_cache_drops_the_entry_that_expires_first() {
        let mut cache = Cache::new(2, 600);
        let now = Instant::now();
        cache.insert(key("a.test."), answer(&[100]), now);
        cache.insert(key("b.test."), answer(&[10]), now);
        cache.insert(key("c.test."), answer(&[50]), now);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&key("b.test."), now).is_none());
        assert!(cache.get(&key("a.test."), now).is_some() && cache.get(&key("c.test."), now).is_some());
    }
}
