//! An etcd v3 client over etcd's JSON gateway: plain HTTP POSTs of JSON to `/v3/...` on each
//! member's client URL, so no gRPC stack and no generated code. It covers what the fleet
//! controller keeps its state with: keys and prefixes (values as bytes or JSON),
//! compare-and-swap transactions ([`Txn`]), leases with keep-alive, watches of a prefix
//! ([`Watch`]) and a member's status.
//!
//! A [`Client`] holds every endpoint of the cluster. It keeps talking to the one that answered
//! last and moves on to the next when one cannot be reached, times out or answers that it cannot
//! serve (5xx, gRPC `UNAVAILABLE`): any member serves any request, since etcd forwards writes to
//! its leader and reads are linearizable. A request that timed out may still have been applied
//! when it is retried on the next endpoint; a compare-and-swap retried that way reports failure,
//! so callers read again before concluding anything from a failed one.
//!
//! The gateway's JSON is protobuf's: keys and values in base64, 64-bit integers as strings,
//! zero values left out (`wire`). Keys are text here (etcd's are bytes; every key this project
//! writes is a path such as `/fleet/nodes/<id>`).

mod error;
mod txn;
mod watch;
mod wire;

pub use error::Error;
pub use txn::{Compare, Op, Txn, TxnResponse};
pub use watch::{Event, EventKind, Watch};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wire::encode;

/// How long a call waits for one endpoint before trying the next (a member cut off from its
/// leader holds requests until etcd's own timeout).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// A member that is down refuses at once on a local network; one that is unreachable should
/// not hold the call for long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A lease's id, as etcd numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseId(pub i64);

/// A key as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// The revision that created the key (since it was last absent).
    pub create_revision: i64,
    /// The revision of its last write: what a compare-and-swap compares.
    pub mod_revision: i64,
    /// How many times it was written since it was created.
    pub version: i64,
    pub lease: Option<LeaseId>,
}

impl KeyValue {
    /// The value read as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.value).map_err(|err| Error::Decode(format!("the value of {}: {err}", self.key)))
    }
}

/// What one member says of itself and the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The endpoint that answered.
    pub endpoint: String,
    pub member_id: u64,
    /// The member id of the leader it knows; 0 when it knows none.
    pub leader: u64,
    pub raft_term: u64,
    pub raft_index: u64,
    /// The store's revision.
    pub revision: i64,
    /// etcd's version, such as `3.4.23`.
    pub version: String,
    pub db_size: i64,
}

impl Status {
    pub fn is_leader(&self) -> bool {
        self.leader != 0 && self.leader == self.member_id
    }
}

/// A client of one etcd cluster; clones share the connections and the endpoint in use.
#[derive(Clone, Debug)]
pub struct Client {
    endpoints: Arc<[String]>,
    http: reqwest::Client,
    /// The endpoint that answered last, tried first.
    current: Arc<AtomicUsize>,
    timeout: Duration,
}

impl Client {
    /// A client of the cluster whose members' client URLs (`http://127.0.0.1:2379`) are
    /// `endpoints`. Connects lazily: nothing is checked beyond the URLs' form.
    pub fn new(endpoints: &[String]) -> Result<Client, Error> {
        if endpoints.is_empty() {
            return Err(Error::InvalidEndpoint(String::new()));
        }
        let mut list = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let url = reqwest::Url::parse(endpoint).map_err(|_| Error::InvalidEndpoint(endpoint.clone()))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(Error::InvalidEndpoint(endpoint.clone()));
            }
            list.push(endpoint.trim_end_matches('/').to_owned());
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|err| Error::InvalidEndpoint(format!("the HTTP client cannot be made: {err}")))?;
        Ok(Client { endpoints: list.into(), http, current: Arc::new(AtomicUsize::new(0)), timeout: DEFAULT_TIMEOUT })
    }

    /// This client with another time limit per endpoint for each call (5 seconds unless set).
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The endpoint the next call tries first: the one that answered last.
    pub fn current_endpoint(&self) -> &str {
        &self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()]
    }

    pub async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error> {
        let answer: wire::RangeResponse = self.call("/v3/kv/range", &json!({"key": encode(key.as_bytes())})).await?;
        Ok(wire::key_values(answer.kvs)?.into_iter().next())
    }

    /// Every key starting with `prefix`, sorted by key.
    pub async fn get_prefix(&self, prefix: &str) -> Result<Vec<KeyValue>, Error> {
        let mut request = txn::prefix_range(prefix);
        request["sort_order"] = json!("ASCEND");
        request["sort_target"] = json!("KEY");
        let answer: wire::RangeResponse = self.call("/v3/kv/range", &request).await?;
        wire::key_values(answer.kvs)
    }

    /// Writes `key`, attached to `lease` if any (the key goes when the lease does). Answers the
    /// revision of the write.
    pub async fn put(&self, key: &str, value: impl Into<Vec<u8>>, lease: Option<LeaseId>) -> Result<i64, Error> {
        let answer: wire::PutResponse = self.call("/v3/kv/put", &txn::put_request(key, &value.into(), lease)).await?;
        Ok(answer.header.revision)
    }

    /// Deletes `key`; answers how many keys went (0 or 1).
    pub async fn delete(&self, key: &str) -> Result<u64, Error> {
        let answer: wire::DeleteRangeResponse =
            self.call("/v3/kv/deleterange", &json!({"key": encode(key.as_bytes())})).await?;
        Ok(answer.deleted)
    }

    /// Deletes every key starting with `prefix`; answers how many went.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, Error> {
        let answer: wire::DeleteRangeResponse = self.call("/v3/kv/deleterange", &txn::prefix_range(prefix)).await?;
        Ok(answer.deleted)
    }

    pub async fn txn(&self, txn: Txn) -> Result<TxnResponse, Error> {
        TxnResponse::from_wire(self.call("/v3/kv/txn", &txn.to_json()).await?)
    }

    /// Forgets the history before `revision`: later reads and watches of older revisions fail
    /// ([`Error::Compacted`] for a watch). Waits until the compaction is done.
    pub async fn compact(&self, revision: i64) -> Result<(), Error> {
        let _: Value =
            self.call("/v3/kv/compaction", &json!({"revision": revision.to_string(), "physical": true})).await?;
        Ok(())
    }

    /// A new lease that expires `ttl_seconds` after its last keep-alive (etcd raises very short
    /// TTLs to its minimum, about 1.5 election timeouts).
    pub async fn grant(&self, ttl_seconds: i64) -> Result<LeaseId, Error> {
        let answer: wire::LeaseGrantResponse =
            self.call("/v3/lease/grant", &json!({"TTL": ttl_seconds.to_string(), "ID": "0"})).await?;
        if !answer.error.is_empty() {
            return Err(Error::Http { status: 200, code: 0, message: answer.error });
        }
        Ok(LeaseId(answer.id))
    }

    /// Renews `lease`; answers its TTL again, or `None` when it has expired or was revoked.
    pub async fn keep_alive(&self, lease: LeaseId) -> Result<Option<i64>, Error> {
        // A stream on the gateway: one request, so one message and the end.
        let body = self.call_bytes("/v3/lease/keepalive", &json!({"ID": lease.0.to_string()})).await?;
        let line = body.split(|byte| *byte == b'\n').find(|line| !line.iter().all(u8::is_ascii_whitespace));
        let message: wire::StreamMessage<wire::LeaseTtlResponse> = wire::decode("keepalive", line.unwrap_or(b"{}"))?;
        match message.into_result() {
            Ok(answer) => Ok((answer.ttl > 0).then_some(answer.ttl)),
            Err(Error::LeaseNotFound) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The seconds `lease` has left, or `None` when it has expired or was revoked.
    pub async fn time_to_live(&self, lease: LeaseId) -> Result<Option<i64>, Error> {
        let answer: wire::LeaseTtlResponse =
            self.call("/v3/lease/timetolive", &json!({"ID": lease.0.to_string()})).await?;
        Ok((answer.ttl >= 0).then_some(answer.ttl))
    }

    /// Ends `lease` now, deleting its keys; [`Error::LeaseNotFound`] if it was already gone.
    pub async fn revoke(&self, lease: LeaseId) -> Result<(), Error> {
        let _: Value = self.call("/v3/lease/revoke", &json!({"ID": lease.0.to_string()})).await?;
        Ok(())
    }

    /// Keeps `lease` alive every `interval` (a third of its TTL is usual) until it is found gone
    /// ([`Error::LeaseNotFound`]) or etcd refuses otherwise; the task's output says which.
    /// Unreachable endpoints are retried at the next tick: if none comes back before the TTL
    /// runs out the lease expires and the next keep-alive says so. Abort the handle to stop.
    pub fn keep_alive_forever(&self, lease: LeaseId, interval: Duration) -> tokio::task::JoinHandle<Error> {
        let client = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match client.keep_alive(lease).await {
                    Ok(Some(_)) => {}
                    Ok(None) => return Error::LeaseNotFound,
                    Err(err) if err.is_unavailable() => tracing::warn!("keeping etcd lease {} alive: {err}", lease.0),
                    Err(err) => return err,
                }
            }
        })
    }

    /// Watches every key starting with `prefix`, from `start_revision` (which may be in the past,
    /// down to the last compaction) or else from now; answers once etcd confirmed the watch. See
    /// [`Watch`] for resuming.
    pub async fn watch_prefix(&self, prefix: &str, start_revision: Option<i64>) -> Result<Watch, Error> {
        let mut create = txn::prefix_range(prefix);
        if let Some(revision) = start_revision {
            create["start_revision"] = json!(revision.to_string());
        }
        let (_, response) = self.send("/v3/watch", &json!({"create_request": create}), None).await?;
        Watch::start(response, start_revision).await
    }

    /// The status of the member that answers.
    pub async fn status(&self) -> Result<Status, Error> {
        let (endpoint, body) = self.call_from("/v3/maintenance/status", &json!({})).await?;
        let answer: wire::StatusResponse = wire::decode("status", &body)?;
        Ok(Status {
            endpoint,
            member_id: answer.header.member_id,
            leader: answer.leader,
            raft_term: answer.raft_term,
            raft_index: answer.raft_index,
            revision: answer.header.revision,
            version: answer.version,
            db_size: answer.db_size,
        })
    }

    /// The value of `key` read as JSON, with its `mod_revision` (for a compare-and-swap).
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<(T, i64)>, Error> {
        match self.get(key).await? {
            Some(kv) => Ok(Some((kv.json()?, kv.mod_revision))),
            None => Ok(None),
        }
    }

    /// Writes `value` as JSON; answers the revision of the write.
    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T, lease: Option<LeaseId>) -> Result<i64, Error> {
        self.put(key, serde_json::to_vec(value).map_err(Error::Encode)?, lease).await
    }

    async fn call<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, Error> {
        wire::decode(path, &self.call_bytes(path, body).await?)
    }

    async fn call_bytes(&self, path: &str, body: &Value) -> Result<Vec<u8>, Error> {
        Ok(self.call_from(path, body).await?.1)
    }

    /// A call's whole answer, with the endpoint that gave it.
    async fn call_from(&self, path: &str, body: &Value) -> Result<(String, Vec<u8>), Error> {
        let (endpoint, response) = self.send(path, body, Some(self.timeout)).await?;
        let bytes = response.bytes().await.map_err(|err| Error::Unavailable {
            endpoints: format!("{endpoint}: the answer broke off: {}", base::error::with_causes(&err)),
            source: Box::new(err),
        })?;
        Ok((endpoint, bytes.to_vec()))
    }

    /// POSTs `body` to each endpoint in turn from the current one until one answers with
    /// success or with a refusal another member would repeat; that one becomes current. Answers
    /// the endpoint with its answer.
    async fn send(
        &self,
        path: &str,
        body: &Value,
        timeout: Option<Duration>,
    ) -> Result<(String, reqwest::Response), Error> {
        let first = self.current.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        let mut last: Option<Box<dyn std::error::Error + Send + Sync>> = None;
        for offset in 0..self.endpoints.len() {
            let index = (first + offset) % self.endpoints.len();
            let endpoint = &self.endpoints[index];
            let mut request = self.http.post(format!("{endpoint}{path}")).json(body);
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            let error = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    self.current.store(index, Ordering::Relaxed);
                    return Ok((endpoint.clone(), response));
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.bytes().await.unwrap_or_default();
                    let error = match serde_json::from_slice::<wire::GatewayError>(&body) {
                        Ok(error) => Error::from_gateway(status, error),
                        Err(_) => {
                            Error::Http { status, code: 0, message: String::from_utf8_lossy(&body).trim().into() }
                        }
                    };
                    if !error.is_unavailable() {
                        return Err(error);
                    }
                    failures.push(format!("{endpoint}: {error}"));
                    Box::new(error) as Box<dyn std::error::Error + Send + Sync>
                }
                Err(err) => {
                    failures.push(format!("{endpoint}: {}", base::error::with_causes(&err)));
                    Box::new(err)
                }
            };
            tracing::debug!("etcd {path}: {}", failures.last().map(String::as_str).unwrap_or_default());
            last = Some(error);
        }
        Err(Error::Unavailable { endpoints: failures.join("; "), source: last.unwrap_or_else(|| "no endpoint".into()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_http_urls() {
        assert!(matches!(Client::new(&[]), Err(Error::InvalidEndpoint(_))));
        assert!(matches!(Client::new(&["127.0.0.1:2379".into()]), Err(Error::InvalidEndpoint(_))));
        assert!(matches!(Client::new(&["unix:///run/etcd".into()]), Err(Error::InvalidEndpoint(_))));
        let client = Client::new(&["http://127.0.0.1:2379/".into(), "http://127.0.0.2:2379".into()]).unwrap();
        assert_eq!(client.endpoints(), ["http://127.0.0.1:2379", "http://127.0.0.2:2379"]);
        assert_eq!(client.current_endpoint(), "http://127.0.0.1:2379");
    }

    #[tokio::test]
    async fn no_endpoint_answering_is_unavailable_naming_each() {
        // Ports nothing listens on: bound, then released.
        let ports: Vec<u16> =
            (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
        let endpoints: Vec<String> = ports.iter().map(|port| format!("http://127.0.0.1:{port}")).collect();
        let client = Client::new(&endpoints).unwrap();
        let error = client.get("/k").await.unwrap_err();
        let Error::Unavailable { endpoints: message, .. } = &error else { panic!("{error:?}") };
        for endpoint in &endpoints {
            assert!(message.contains(endpoint.as_str()), "{message}");
        }
        assert!(error.is_unavailable());
    }
}
