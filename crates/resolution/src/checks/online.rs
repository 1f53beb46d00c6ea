//! The checks that ask a server on the network: the host's DNS servers, queried for the check
//! host, and the add-ons' passwords, looked up in the Pwned Passwords range API. As in the real
//! Supervisor each runs only with the system online (`internet_system`), the issues found before
//! are confirmed at every pass and new ones are looked for at most once a day.

use super::{finding, Finding};
use crate::model::{ContextType, Issue, IssueType, Subject, SuggestionType};
use crate::Parts;
use addons::AddonState;
use jobs::{JobCondition, JobLimit, JobSpec};
use sha1::{Digest, Sha1};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// How often a check looks for new issues of its kind.
const SCAN_PERIOD: Duration = Duration::from_secs(24 * 3600);
/// The name every DNS server is asked for.
const DNS_CHECK_HOST: &str = "_checkdns.home-assistant.io";
/// How long a DNS server may take to answer.
const DNS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the range API may take to answer.
const PWNED_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `work` as the internal job `name`, online only, at most once per [`SCAN_PERIOD`] when
/// `throttled`; `None` when it may not run now.
async fn online_job<T, Fut>(parts: &Parts, name: &str, throttled: bool, work: Fut) -> Option<T>
where
    Fut: std::future::Future<Output = T>,
{
    let mut spec = JobSpec::new(name).conditions(&[JobCondition::InternetSystem]);
    if throttled {
        spec = spec.limit(JobLimit::Throttle(SCAN_PERIOD));
    }
    match parts.jobs.run(spec, |_job| async move { Ok(work.await) }).await {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::debug!("{}", e.message);
            None
        }
    }
}

/// The issues found before that are still true (none when the check may not run: the real
/// approval answers nothing then), and the new ones when it is time to look.
fn merge(mut confirmed: Vec<Finding>, scanned: Option<Vec<Finding>>) -> Vec<Finding> {
    for found in scanned.unwrap_or_default() {
        if !confirmed.iter().any(|kept| kept.subject == found.subject) {
            confirmed.push(found);
        }
    }
    confirmed
}

/// The record type a DNS check asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    A,
    Aaaa,
}

impl Record {
    fn code(self) -> u16 {
        match self {
            Record::A => 1,
            Record::Aaaa => 28,
        }
    }

    fn check(self) -> &'static str {
        match self {
            Record::A => "dns_server",
            Record::Aaaa => "dns_server_ipv6",
        }
    }

    fn issue(self) -> IssueType {
        match self {
            Record::A => IssueType::DnsServerFailed,
            Record::Aaaa => IssueType::DnsServerIpv6Error,
        }
    }
}

/// What a DNS server answered, as the real check tells failures apart.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Records,
    /// The name exists, without records of the type (not an IPv6 problem).
    NoData,
    Failed(String),
}

impl Answer {
    fn is_issue(&self, record: Record) -> bool {
        match self {
            Answer::Records => false,
            Answer::NoData => record == Record::A,
            Answer::Failed(_) => true,
        }
    }
}

/// The host's DNS servers (`dns://<address>`), as the real DNS plugin's `locals`: the IPv4
/// name servers of NetworkManager's configurations other than VPNs, by priority, once each.
fn local_dns_servers(parts: &Parts) -> Vec<String> {
    let Some(network) = parts.host.services().network.state() else { return Vec::new() };
    let mut servers: Vec<(i32, String)> = network
        .dns
        .iter()
        .filter(|config| !config.vpn)
        .flat_map(|config| config.nameservers.iter().map(|ns| (config.priority, ns.clone())))
        .collect();
    servers.sort();
    let mut unique: Vec<String> = Vec::new();
    for (_, server) in servers {
        if server.parse::<Ipv4Addr>().is_ok() && !unique.contains(&server) {
            unique.push(server);
        }
    }
    unique.into_iter().map(|server| format!("dns://{server}")).collect()
}

/// DNS servers that fail to answer for the check host (for `Aaaa`: that fail otherwise than by
/// having no IPv6 address for it).
pub async fn dns_servers(parts: &Parts, existing: &[Issue], record: Record) -> Option<Vec<Finding>> {
    let servers = local_dns_servers(parts);
    let failing = |server: String| async move {
        let answer = query(&server, record).await;
        if let Answer::Failed(why) = &answer {
            tracing::debug!("DNS server {server} failed for {DNS_CHECK_HOST}: {why}");
        }
        answer.is_issue(record).then(|| finding(record.issue(), Subject::of(ContextType::DnsServer, &server), &[]))
    };
    let approve = format!("check_{}_approve", record.check());
    let confirmed = online_job(parts, &approve, false, async {
        let mut kept = Vec::new();
        for issue in existing {
            let Some(server) = issue.subject.reference.clone().filter(|s| servers.contains(s)) else { continue };
            kept.extend(failing(server).await);
        }
        kept
    })
    .await
    .unwrap_or_default();
    let run = format!("check_{}_run", record.check());
    let scanned = online_job(parts, &run, true, async {
        let answers = futures_util::future::join_all(servers.iter().cloned().map(failing)).await;
        answers.into_iter().flatten().collect()
    })
    .await;
    Some(merge(confirmed, scanned))
}

async fn query(server: &str, record: Record) -> Answer {
    let address = server.strip_prefix("dns://").unwrap_or(server);
    let Ok(ip) = address.parse::<Ipv4Addr>() else { return Answer::Failed(format!("{address} is no address")) };
    let id: u16 = rand_id();
    let exchange = async {
        let socket = tokio::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
        socket.connect(SocketAddr::from((ip, 53))).await?;
        socket.send(&dns_query(id, DNS_CHECK_HOST, record.code())).await?;
        let mut buffer = vec![0u8; 4096];
        loop {
            let read = socket.recv(&mut buffer).await?;
            // Anything that is not the answer to this question is ignored.
            if let Some(answer) = dns_answer(&buffer[..read], id, record.code()) {
                return Ok::<Answer, std::io::Error>(answer);
            }
        }
    };
    match tokio::time::timeout(DNS_TIMEOUT, exchange).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => Answer::Failed(e.to_string()),
        Err(_) => Answer::Failed("timeout".to_owned()),
    }
}

fn rand_id() -> u16 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u16::from_be_bytes([bytes[0], bytes[1]])
}

/// A recursive query for one name and type, class IN (RFC 1035 4.1).
fn dns_query(id: u16, name: &str, kind: u16) -> Vec<u8> {
    let mut packet = Vec::with_capacity(64);
    packet.extend(id.to_be_bytes());
    // Recursion desired; one question.
    packet.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|label| !label.is_empty()) {
        packet.push(u8::try_from(label.len()).unwrap_or(63).min(63));
        packet.extend(label.bytes().take(63));
    }
    packet.push(0);
    packet.extend(kind.to_be_bytes());
    packet.extend(1u16.to_be_bytes());
    packet
}

/// The answer to query `id` for `kind`, or `None` for a packet that is not one.
fn dns_answer(packet: &[u8], id: u16, kind: u16) -> Option<Answer> {
    let header = packet.get(..12)?;
    let is_response = header[2] & 0x80 != 0;
    if u16::from_be_bytes([header[0], header[1]]) != id || !is_response {
        return None;
    }
    let rcode = header[3] & 0x0f;
    if rcode != 0 {
        let name = match rcode {
            1 => "format error",
            2 => "server failure",
            3 => "domain name not found",
            4 => "not implemented",
            5 => "refused",
            _ => "error",
        };
        return Some(Answer::Failed(format!("{name} (rcode {rcode})")));
    }
    let questions = u16::from_be_bytes([header[4], header[5]]);
    let answers = u16::from_be_bytes([header[6], header[7]]);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(packet, at)? + 4;
    }
    for _ in 0..answers {
        at = skip_name(packet, at)?;
        let fixed = packet.get(at..at + 10)?;
        if u16::from_be_bytes([fixed[0], fixed[1]]) == kind {
            return Some(Answer::Records);
        }
        at += 10 + usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    }
    Some(Answer::NoData)
}

/// The offset after the (possibly compressed) name at `at`.
fn skip_name(packet: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let length = *packet.get(at)?;
        match length {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

/// The SHA-1 (upper-case hex) of every password option of an add-on, as its options stand (the
/// validated ones when they validate).
fn password_hashes(parts: &Parts, addon: &addons::Installed) -> Vec<String> {
    let Some(schema) = &addon.config().schema else { return Vec::new() };
    let options = parts.addons.validated_options(addon).unwrap_or_else(|_| serde_json::Value::Object(addon.options()));
    schema
        .passwords(&options)
        .iter()
        .map(|password| Sha1::digest(password.as_bytes()).iter().map(|b| format!("{b:02X}")).collect())
        .collect()
}

/// Why a secret could not be confirmed as safe.
enum Lookup {
    Pwned,
    Unreachable(String),
    Failed(String),
}

/// Looks a password's SHA-1 up in the range API by its first five characters. As the real
/// Supervisor's `verify_secret`, a finding (or a failure) counts only with `force_security`:
/// otherwise every password passes.
async fn verify_secret(parts: &Parts, client: &reqwest::Client, hash: &str) -> Result<(), Lookup> {
    let options = parts.security.options();
    if !options.pwned {
        return Ok(());
    }
    let found = lookup(client, &parts.pwned_api, hash).await;
    match found {
        Err(_) if options.force_security => found,
        _ => Ok(()),
    }
}

async fn lookup(client: &reqwest::Client, api: &str, hash: &str) -> Result<(), Lookup> {
    let (prefix, suffix) = hash.split_at(5.min(hash.len()));
    let url = format!("{}/{prefix}", api.trim_end_matches('/'));
    let response = client.get(&url).send().await.map_err(|e| Lookup::Unreachable(e.to_string()))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(Lookup::Failed(format!("Pwned service response with {}", response.status().as_u16())));
    }
    let body = response.text().await.map_err(|e| Lookup::Unreachable(e.to_string()))?;
    if in_range(&body, suffix) {
        return Err(Lookup::Pwned);
    }
    Ok(())
}

/// Whether the range answer (`SUFFIX:count` lines) lists `suffix`.
fn in_range(body: &str, suffix: &str) -> bool {
    body.lines().filter_map(|line| line.split(':').next()).any(|listed| {
        let listed = listed.trim();
        !listed.is_empty() && listed.eq_ignore_ascii_case(suffix)
    })
}

/// Add-ons whose passwords are in a known breach; stopping a running one is suggested.
pub async fn pwned(parts: &Parts, existing: &[Issue]) -> Option<Vec<Finding>> {
    let client = reqwest::Client::builder().timeout(PWNED_TIMEOUT).build().ok()?;
    let client = &client;
    let finding_for = |slug: &str, started: bool| {
        let suggestions: &[SuggestionType] = if started { &[SuggestionType::ExecuteStop] } else { &[] };
        finding(IssueType::Pwned, Subject::of(ContextType::Addon, slug), suggestions)
    };
    let confirmed = online_job(parts, "check_app_pwned_approve", false, async {
        let mut kept = Vec::new();
        for issue in existing {
            let Some(addon) = issue.subject.reference.as_deref().and_then(|slug| parts.addons.get(slug)) else {
                continue;
            };
            for hash in password_hashes(parts, &addon) {
                if let Err(Lookup::Pwned) = verify_secret(parts, client, &hash).await {
                    let started = parts.addons.state(&addon.slug).await == AddonState::Started;
                    kept.push(finding_for(&addon.slug, started));
                    break;
                }
            }
        }
        kept
    })
    .await
    .unwrap_or_default();
    let scanned = online_job(parts, "check_app_pwned_run", true, async {
        let mut found = Vec::new();
        if !parts.security.options().pwned {
            tracing::warn!("Skipping app_pwned, pwned is globally disabled");
            return found;
        }
        for addon in parts.addons.list() {
            for hash in password_hashes(parts, &addon) {
                match verify_secret(parts, client, &hash).await {
                    Ok(()) => {}
                    Err(Lookup::Pwned) => {
                        let started = parts.addons.state(&addon.slug).await == AddonState::Started;
                        found.push(finding_for(&addon.slug, started));
                        break;
                    }
                    Err(Lookup::Unreachable(why)) => {
                        tracing::warn!("Can't fetch HIBP data: {why}");
                        return found;
                    }
                    Err(Lookup::Failed(why)) => tracing::warn!("{why}"),
                }
            }
        }
        found
    })
    .await;
    Some(merge(confirmed, scanned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_asks_recursively_for_one_name() {
        let packet = dns_query(0xabcd, "_checkdns.home-assistant.io", 28);
        let mut expected = vec![0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9];
        expected.extend(b"_checkdns");
        expected.push(14);
        expected.extend(b"home-assistant");
        expected.push(2);
        expected.extend(b"io");
        expected.extend([0, 0, 28, 0, 1]);
        assert_eq!(packet, expected);
    }

    /// A response to `query` with `rcode` and answers of these types (compressed names).
    fn response(query: &[u8], rcode: u8, answers: &[u16]) -> Vec<u8> {
        let mut packet = query.to_vec();
        packet[2] |= 0x80;
        packet[3] = 0x80 | rcode;
        packet[7] = u8::try_from(answers.len()).unwrap();
        for &kind in answers {
            packet.extend([0xc0, 12]);
            packet.extend(kind.to_be_bytes());
            packet.extend([0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
        }
        packet
    }

    #[test]
    fn answers_are_told_apart_as_the_real_check_does() {
        let query = dns_query(7, DNS_CHECK_HOST, 1);
        assert_eq!(dns_answer(&response(&query, 0, &[5, 1]), 7, 1), Some(Answer::Records));
        assert_eq!(dns_answer(&response(&query, 0, &[5]), 7, 1), Some(Answer::NoData));
        assert!(matches!(dns_answer(&response(&query, 3, &[]), 7, 1), Some(Answer::Failed(_))));
        assert_eq!(dns_answer(&response(&query, 0, &[1]), 8, 1), None, "another query's answer");
        assert_eq!(dns_answer(&query, 7, 1), None, "not a response");
        assert_eq!(dns_answer(&response(&query, 0, &[1])[..20], 7, 1), None, "cut short");
        assert!(Answer::NoData.is_issue(Record::A));
        assert!(!Answer::NoData.is_issue(Record::Aaaa));
    }

    #[test]
    fn a_range_answer_lists_suffixes_with_counts() {
        let body = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n1E4C9B93F3F0682250B6CF8331B7EE68FD8:3861493\r\n";
        assert!(in_range(body, "1E4C9B93F3F0682250B6CF8331B7EE68FD8"));
        assert!(!in_range(body, "1E4C9B93F3F0682250B6CF8331B7EE68FD9"));
        assert!(!in_range("", ""));
    }
}
