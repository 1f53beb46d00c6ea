//! Transactions: comparisons on keys, then one list of operations if they all hold and another
//! if not, applied atomically at one revision. A compare-and-swap is a transaction with one
//! comparison (the key's version or revision as last read) and one put.

use crate::wire::{self, encode};
use crate::{Error, KeyValue, LeaseId};
use serde::Serialize;
use serde_json::{json, Value};

/// A transaction under construction: `Txn::new().when(..).and_then(..).or_else(..)`.
#[derive(Clone, Debug, Default)]
pub struct Txn {
    compare: Vec<Compare>,
    success: Vec<Op>,
    failure: Vec<Op>,
}

impl Txn {
    pub fn new() -> Txn {
        Txn::default()
    }

    /// A comparison that must hold (all must) for the `and_then` branch.
    pub fn when(mut self, compare: Compare) -> Txn {
        self.compare.push(compare);
        self
    }

    /// An operation of the branch taken when every comparison holds.
    pub fn and_then(mut self, op: Op) -> Txn {
        self.success.push(op);
        self
    }

    /// An operation of the branch taken when a comparison fails.
    pub fn or_else(mut self, op: Op) -> Txn {
        self.failure.push(op);
        self
    }

    pub(crate) fn to_json(&self) -> Value {
        let ops = |ops: &[Op]| ops.iter().map(Op::to_json).collect::<Vec<_>>();
        json!({
            "compare": self.compare.iter().map(Compare::to_json).collect::<Vec<_>>(),
            "success": ops(&self.success),
            "failure": ops(&self.failure),
        })
    }
}

/// An equality a transaction checks on one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compare {
    /// How many times the key was written since it was created; 0 when it does not exist.
    Version {
        key: String,
        version: i64,
    },
    /// The revision of the key's creation; 0 when it does not exist.
    CreateRevision {
        key: String,
        revision: i64,
    },
    /// The revision of the key's last write.
    ModRevision {
        key: String,
        revision: i64,
    },
    Value {
        key: String,
        value: Vec<u8>,
    },
    /// The lease the key is attached to; `LeaseId(0)` for none.
    Lease {
        key: String,
        lease: LeaseId,
    },
}

impl Compare {
    /// The key's version is `version`; 0 means the key is absent.
    pub fn version_eq(key: &str, version: i64) -> Compare {
        Compare::Version { key: key.to_owned(), version }
    }

    pub fn create_revision_eq(key: &str, revision: i64) -> Compare {
        Compare::CreateRevision { key: key.to_owned(), revision }
    }

    pub fn mod_revision_eq(key: &str, revision: i64) -> Compare {
        Compare::ModRevision { key: key.to_owned(), revision }
    }

    pub fn value_eq(key: &str, value: impl Into<Vec<u8>>) -> Compare {
        Compare::Value { key: key.to_owned(), value: value.into() }
    }

    pub fn lease_eq(key: &str, lease: LeaseId) -> Compare {
        Compare::Lease { key: key.to_owned(), lease }
    }

    fn to_json(&self) -> Value {
        let (key, target, field, value) = match self {
            Compare::Version { key, version } => (key, "VERSION", "version", json!(version.to_string())),
            Compare::CreateRevision { key, revision } => {
                (key, "CREATE", "create_revision", json!(revision.to_string()))
            }
            Compare::ModRevision { key, revision } => (key, "MOD", "mod_revision", json!(revision.to_string())),
            Compare::Value { key, value } => (key, "VALUE", "value", json!(encode(value))),
            Compare::Lease { key, lease } => (key, "LEASE", "lease", json!(lease.0.to_string())),
        };
        json!({"key": encode(key.as_bytes()), "target": target, "result": "EQUAL", field: value})
    }
}

/// An operation in a transaction's branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put {
        key: String,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    },
    Delete {
        key: String,
    },
    DeletePrefix {
        prefix: String,
    },
    /// Reads the key; its answer is in [`TxnResponse::gets`].
    Get {
        key: String,
    },
    /// Reads every key under the prefix, sorted; its answer is in [`TxnResponse::gets`].
    GetPrefix {
        prefix: String,
    },
}

impl Op {
    pub fn put(key: &str, value: impl Into<Vec<u8>>, lease: Option<LeaseId>) -> Op {
        Op::Put { key: key.to_owned(), value: value.into(), lease }
    }

    /// A put of `value` as JSON; fails only when `value` cannot be written as JSON (a map with
    /// keys that are not strings, a failing `Serialize`).
    pub fn put_json<T: Serialize>(key: &str, value: &T, lease: Option<LeaseId>) -> Result<Op, Error> {
        Ok(Op::put(key, serde_json::to_vec(value).map_err(Error::Encode)?, lease))
    }

    pub fn delete(key: &str) -> Op {
        Op::Delete { key: key.to_owned() }
    }

    pub fn delete_prefix(prefix: &str) -> Op {
        Op::DeletePrefix { prefix: prefix.to_owned() }
    }

    pub fn get(key: &str) -> Op {
        Op::Get { key: key.to_owned() }
    }

    /// A read of a whole prefix at the transaction's revision: a consistent snapshot of it.
    pub fn get_prefix(prefix: &str) -> Op {
        Op::GetPrefix { prefix: prefix.to_owned() }
    }

    fn to_json(&self) -> Value {
        match self {
            Op::Put { key, value, lease } => json!({"request_put": put_request(key, value, *lease)}),
            Op::Delete { key } => json!({"request_delete_range": {"key": encode(key.as_bytes())}}),
            Op::DeletePrefix { prefix } => json!({"request_delete_range": prefix_range(prefix)}),
            Op::Get { key } => json!({"request_range": {"key": encode(key.as_bytes())}}),
            Op::GetPrefix { prefix } => {
                let mut range = prefix_range(prefix);
                range["sort_order"] = json!("ASCEND");
                json!({"request_range": range})
            }
        }
    }
}

pub(crate) fn put_request(key: &str, value: &[u8], lease: Option<LeaseId>) -> Value {
    json!({"key": encode(key.as_bytes()), "value": encode(value), "lease": lease.map_or(0, |lease| lease.0).to_string()})
}

/// The range of every key that starts with `prefix`.
pub(crate) fn prefix_range(prefix: &str) -> Value {
    json!({"key": encode(prefix.as_bytes()), "range_end": encode(&wire::prefix_end(prefix.as_bytes()))})
}

/// What a transaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnResponse {
    /// Whether every comparison held (so the `and_then` branch ran).
    pub succeeded: bool,
    /// The store's revision after the transaction.
    pub revision: i64,
    /// The keys each [`Op::Get`] of the branch taken read, in the order of the ops (empty for a
    /// key that is absent).
    pub gets: Vec<Vec<KeyValue>>,
}

impl TxnResponse {
    pub(crate) fn from_wire(answer: wire::TxnResponse) -> Result<TxnResponse, Error> {
        let gets = answer
            .responses
            .into_iter()
            .filter_map(|response| response.response_range)
            .map(|range| wire::key_values(range.kvs))
            .collect::<Result<_, _>>()?;
        Ok(TxnResponse { succeeded: answer.succeeded, revision: answer.header.revision, gets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compare_and_swap_is_written_as_the_gateway_reads_it() {
        let txn = Txn::new()
            .when(Compare::version_eq("/k", 0))
            .when(Compare::lease_eq("/k", LeaseId(5)))
            .and_then(Op::put("/k", "v", Some(LeaseId(5))))
            .and_then(Op::delete_prefix("/p/"))
            .or_else(Op::get("/k"));
        assert_eq!(
            txn.to_json(),
            json!({
                "compare": [
                    {"key": "L2s=", "target": "VERSION", "result": "EQUAL", "version": "0"},
                    {"key": "L2s=", "target": "LEASE", "result": "EQUAL", "lease": "5"},
                ],
                "success": [
                    {"request_put": {"key": "L2s=", "value": "dg==", "lease": "5"}},
                    {"request_delete_range": {"key": "L3Av", "range_end": "L3Aw"}},
                ],
                "failure": [{"request_range": {"key": "L2s="}}],
            })
        );
    }

    #[test]
    fn put_json_writes_the_value_as_json() {
        let op = Op::put_json("/k", &json!({"a": [1]}), None).unwrap();
        assert_eq!(op, Op::put("/k", br#"{"a":[1]}"#.to_vec(), None));
        let map: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!(Op::put_json("/k", &map, None), Err(Error::Encode(_))));
    }
}
