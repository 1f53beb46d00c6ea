//! The JSON of etcd's gateway: the protobuf messages of the v3 API in proto3's JSON mapping.
//! 64-bit integers travel as strings, bytes (keys, values) as standard base64, and a field at
//! its zero value (0, false, empty) is left out, so every field here has a default.

use crate::{Error, KeyValue, LeaseId};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use std::fmt::Display;
use std::str::FromStr;

pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// An integer sent as a string (what the gateway does for 64-bit ones) or as a number.
fn number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + Deserialize<'de>,
    T::Err: Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number<T> {
        Text(String),
        Plain(T),
    }
    match Number::<T>::deserialize(deserializer)? {
        Number::Text(text) => text.parse().map_err(|err| D::Error::custom(format!("{text:?}: {err}"))),
        Number::Plain(value) => Ok(value),
    }
}

fn bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    STANDARD.decode(&text).map_err(|err| D::Error::custom(format!("base64 {text:?}: {err}")))
}

/// Decodes one answer, naming what it was on failure.
pub(crate) fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|err| {
        Error::Decode(format!("{what}: {err}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])))
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Header {
    #[serde(deserialize_with = "number")]
    pub revision: i64,
    #[serde(deserialize_with = "number")]
    pub member_id: u64,
    #[serde(deserialize_with = "number")]
    pub raft_term: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawKeyValue {
    #[serde(deserialize_with = "bytes")]
    key: Vec<u8>,
    #[serde(deserialize_with = "bytes")]
    value: Vec<u8>,
    #[serde(deserialize_with = "number")]
    create_revision: i64,
    #[serde(deserialize_with = "number")]
    mod_revision: i64,
    #[serde(deserialize_with = "number")]
    version: i64,
    #[serde(deserialize_with = "number")]
    lease: i64,
}

impl RawKeyValue {
    /// Keys are bytes to etcd; this client writes only UTF-8 ones and refuses to read others.
    pub fn into_key_value(self) -> Result<KeyValue, Error> {
        let key = String::from_utf8(self.key)
            .map_err(|err| Error::Decode(format!("a key that is not UTF-8: {:?}", err.as_bytes())))?;
        Ok(KeyValue {
            key,
            value: self.value,
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            lease: (self.lease != 0).then_some(LeaseId(self.lease)),
        })
    }
}

pub(crate) fn key_values(raw: Vec<RawKeyValue>) -> Result<Vec<KeyValue>, Error> {
    raw.into_iter().map(RawKeyValue::into_key_value).collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RangeResponse {
    pub header: Header,
    pub kvs: Vec<RawKeyValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PutResponse {
    pub header: Header,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DeleteRangeResponse {
    #[serde(deserialize_with = "number")]
    pub deleted: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TxnResponse {
    pub header: Header,
    pub succeeded: bool,
    pub responses: Vec<ResponseOp>,
}

/// One of a transaction's answers: exactly one field is there.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ResponseOp {
    pub response_range: Option<RangeResponse>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LeaseGrantResponse {
    #[serde(rename = "ID", deserialize_with = "number")]
    pub id: i64,
    /// A refusal etcd puts in the answer rather than in the status.
    pub error: String,
}

/// The keep-alive and time-to-live answers: a lease that is gone has a TTL of 0 (keep-alive)
/// or -1 (time-to-live).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LeaseTtlResponse {
    #[serde(rename = "TTL", deserialize_with = "number")]
    pub ttl: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct StatusResponse {
    pub header: Header,
    pub version: String,
    #[serde(deserialize_with = "number")]
    pub db_size: i64,
    #[serde(deserialize_with = "number")]
    pub leader: u64,
    #[serde(deserialize_with = "number")]
    pub raft_index: u64,
    #[serde(deserialize_with = "number")]
    pub raft_term: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WatchResponse {
    pub header: Header,
    pub created: bool,
    pub canceled: bool,
    #[serde(deserialize_with = "number")]
    pub compact_revision: i64,
    pub cancel_reason: String,
    pub events: Vec<RawEvent>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawEvent {
    /// `PUT` is the zero value, so only `DELETE` is written out.
    #[serde(rename = "type")]
    pub kind: String,
    pub kv: RawKeyValue,
}

/// A message of a streamed answer (watch, keep-alive): a result, or an error in its place.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamMessage<T> {
    pub result: Option<T>,
    pub error: Option<GatewayError>,
}

/// How the gateway reports a refusal: as the body of a non-2xx answer
/// (`error`, `message`, `code`) or in a stream (`grpc_code`, `http_code`, `message`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct GatewayError {
    pub error: String,
    pub message: String,
    pub code: i64,
    pub grpc_code: i64,
    pub http_code: i64,
}

impl<T> StreamMessage<T> {
    pub fn into_result(self) -> Result<T, Error> {
        match (self.result, self.error) {
            (_, Some(error)) => Err(Error::from_gateway(200, error)),
            (Some(result), None) => Ok(result),
            (None, None) => Err(Error::Decode("a stream message with neither result nor error".into())),
        }
    }
}

/// The end of the range of keys starting with `prefix`: the prefix with its last byte that is
/// not 0xff increased (and what follows it dropped); `\0` (every key) when there is none.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_come_as_strings_or_numbers_and_missing_ones_are_zero() {
        let header: Header =
            serde_json::from_str(r#"{"cluster_id":"1","member_id":"18446744073709551615","revision":"42"}"#).unwrap();
        assert_eq!((header.revision, header.member_id, header.raft_term), (42, u64::MAX, 0));
        let header: Header = serde_json::from_str(r#"{"revision":7,"raft_term":3}"#).unwrap();
        assert_eq!((header.revision, header.raft_term), (7, 3));
        assert!(serde_json::from_str::<Header>(r#"{"revision":"seven"}"#).is_err());
    }

    #[test]
    fn a_key_value_decodes_from_base64_with_zero_fields_left_out() {
        // What etcd answers for a key put with an empty value and no lease.
        let raw: RawKeyValue =
            serde_json::from_str(r#"{"key":"L2EvYg==","create_revision":"7","mod_revision":"8","version":"2"}"#)
                .unwrap();
        let kv = raw.into_key_value().unwrap();
        assert_eq!(kv.key, "/a/b");
        assert_eq!(kv.value, b"");
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version, kv.lease), (7, 8, 2, None));

        let raw: RawKeyValue =
            serde_json::from_str(r#"{"key":"eA==","value":"eyJhIjoxfQ==","lease":"2324035876359606536"}"#).unwrap();
        let kv = raw.into_key_value().unwrap();
        assert_eq!(kv.lease, Some(LeaseId(2324035876359606536)));
        assert_eq!(kv.json::<serde_json::Value>().unwrap(), serde_json::json!({"a": 1}));
    }

    #[test]
    fn bad_base64_and_keys_that_are_not_text_are_refused() {
        assert!(serde_json::from_str::<RawKeyValue>(r#"{"key":"not base64!"}"#).is_err());
        let raw: RawKeyValue = serde_json::from_str(r#"{"key":"/w=="}"#).unwrap();
        assert!(matches!(raw.into_key_value(), Err(Error::Decode(_))));
    }

    #[test]
    fn an_empty_range_answer_has_no_keys() {
        let answer: RangeResponse = decode("range", br#"{"header":{"revision":"2"}}"#).unwrap();
        assert!(answer.kvs.is_empty());
        assert_eq!(answer.header.revision, 2);
    }

    #[test]
    fn a_transaction_answer_keeps_its_ranges_in_order() {
        let body = br#"{"header":{"revision":"3"},"succeeded":true,"responses":[
            {"response_range":{"header":{"revision":"2"},"kvs":[{"key":"Zm9v","value":"YmFy","version":"1"}],"count":"1"}},
            {"response_put":{"header":{"revision":"3"}}}]}"#;
        let answer: TxnResponse = decode("txn", body).unwrap();
        assert!(answer.succeeded);
        assert_eq!(answer.responses.len(), 2);
        assert_eq!(answer.responses[0].response_range.as_ref().unwrap().kvs.len(), 1);
        assert!(answer.responses[1].response_range.is_none());
        // A failed comparison leaves `succeeded` out.
        let answer: TxnResponse = decode("txn", br#"{"header":{"revision":"3"}}"#).unwrap();
        assert!(!answer.succeeded);
    }

    #[test]
    fn watch_messages_carry_events_or_the_compaction() {
        let message: StreamMessage<WatchResponse> = decode(
            "watch",
            br#"{"result":{"header":{"revision":"4"},"events":[{"kv":{"key":"YQ==","mod_revision":"3","value":"MQ=="}},{"type":"DELETE","kv":{"key":"YQ==","mod_revision":"4"}}]}}"#,
        )
        .unwrap();
        let watch = message.into_result().unwrap();
        assert_eq!(watch.events.len(), 2);
        assert_eq!((watch.events[0].kind.as_str(), watch.events[1].kind.as_str()), ("", "DELETE"));

        let message: StreamMessage<WatchResponse> =
            decode("watch", br#"{"result":{"header":{},"canceled":true,"compact_revision":"4"}}"#).unwrap();
        let watch = message.into_result().unwrap();
        assert!(watch.canceled);
        assert_eq!(watch.compact_revision, 4);
    }

    #[test]
    fn gateway_errors_become_errors() {
        let message: StreamMessage<LeaseTtlResponse> = decode(
            "keepalive",
            br#"{"error":{"grpc_code":5,"http_code":404,"message":"etcdserver: requested lease not found","http_status":"Not Found"}}"#,
        )
        .unwrap();
        assert!(matches!(message.into_result(), Err(Error::LeaseNotFound)));
        let error: GatewayError =
            decode("error", br#"{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}"#)
                .unwrap();
        let error = Error::from_gateway(503, error);
        assert!(error.is_unavailable(), "{error:?}");
        let error: GatewayError = decode("error", br#"{"error":"unexpected EOF","code":3}"#).unwrap();
        let error = Error::from_gateway(400, error);
        assert!(!error.is_unavailable());
        assert_eq!(error.to_string(), "etcd answered 400 (code 3): unexpected EOF");
    }

    #[test]
    fn status_reads_the_camel_case_fields() {
        let status: StatusResponse = decode(
            "status",
            br#"{"header":{"member_id":"3319814642761637952","revision":"2","raft_term":"2"},"version":"3.4.23","dbSize":"20480","leader":"3319814642761637952","raftIndex":"6","raftTerm":"2"}"#,
        )
        .unwrap();
        assert_eq!(status.leader, 3319814642761637952);
        assert_eq!((status.raft_index, status.raft_term, status.db_size), (6, 2, 20480));
    }

    #[test]
    fn prefix_ends_skip_trailing_0xff() {
        assert_eq!(prefix_end(b"/a/"), b"/a0");
        assert_eq!(prefix_end(&[b'a', 0xff, 0xff]), b"b");
        assert_eq!(prefix_end(&[0xff]), [0]);
        assert_eq!(prefix_end(b""), [0]);
    }

    #[test]
    fn base64_round_trips() {
        for bytes in [&b""[..], b"f", b"fo", b"foo", &[0, 0xff, 0x80]] {
            assert_eq!(STANDARD.decode(encode(bytes)).unwrap(), bytes);
        }
        assert_eq!(encode(b"foo"), "Zm9v");
    }
}
