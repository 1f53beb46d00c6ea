//! Joining the fleet: `POST {controller}/api/v1/node/join` with the join token as a bearer token
//! and the node's [`NodeInfo`] as the body. The controller answers in its envelope
//! (`{"status":"OK","message":"","body":{"node_id":…,"etcd_endpoints":[…],"prefix":…}}`, or
//! `status` `FAIL` with 401 for a token it does not know). The node id is kept in the data
//! directory, so a node that starts again joins as the node it was, with its instances.

use crate::Settings;
use fleet::NodeInfo;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// What the controller gives a node that joined: its id and where the fleet's state is.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Joined {
    pub node_id: String,
    pub etcd_endpoints: Vec<String>,
    /// The prefix of every key of the fleet (`/fleet`).
    pub prefix: String,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    message: String,
    body: Option<Joined>,
}

/// Why a join did not go through.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// The controller could not be reached or answered something else than its envelope.
    Unreachable(String),
    /// The controller refused (a bad token): trying again soon does not help.
    Refused(String),
}

const NODE_ID_FILE: &str = "node_id";
/// The longest wait between two join attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The wait before attempt `attempt + 1`: a second, doubling, at most a minute.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(6)).min(MAX_BACKOFF)
}

/// Joins, trying again with a growing pause while the controller cannot be reached or refuses.
pub(crate) async fn join_until_accepted(settings: &Settings, info: &NodeInfo) -> Joined {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client");
    let mut attempt = 0;
    loop {
        let wait = match join(&http, settings, info).await {
            Ok(joined) => return joined,
            Err(Failure::Unreachable(why)) => {
                tracing::warn!(controller = %settings.controller, "can't join the fleet yet: {why}");
                backoff(attempt)
            }
            Err(Failure::Refused(why)) => {
                tracing::error!(controller = %settings.controller, "the fleet refused the node: {why}");
                MAX_BACKOFF
            }
        };
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

async fn join(http: &reqwest::Client, settings: &Settings, info: &NodeInfo) -> Result<Joined, Failure> {
    let url = format!("{}/api/v1/node/join", settings.controller.trim_end_matches('/'));
    let response = http
        .post(&url)
        .bearer_auth(&settings.join_token)
        .json(info)
        .send()
        .await
        .map_err(|e| Failure::Unreachable(e.without_url().to_string()))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| Failure::Unreachable(e.to_string()))?;
    answer(status.as_u16(), &body)
}

/// Reads the controller's answer.
fn answer(status: u16, body: &[u8]) -> Result<Joined, Failure> {
    let envelope: Option<Envelope> = serde_json::from_slice(body).ok();
    match envelope {
        Some(Envelope { status: ok, body: Some(joined), .. }) if ok == "OK" && (200..300).contains(&status) => {
            if joined.node_id.is_empty() || joined.etcd_endpoints.is_empty() {
                return Err(Failure::Unreachable("the controller gave no node id or etcd endpoint".into()));
            }
            Ok(joined)
        }
        Some(Envelope { message, .. }) if matches!(status, 400..=499) => {
            Err(Failure::Refused(format!("{status}: {message}")))
        }
        Some(Envelope { message, .. }) => Err(Failure::Unreachable(format!("{status}: {message}"))),
        None => Err(Failure::Unreachable(format!("{status}: not the controller's answer"))),
    }
}

/// The node id an earlier join got, if any.
pub(crate) fn saved_node_id(dir: &Path) -> Option<String> {
    let id = std::fs::read_to_string(dir.join(NODE_ID_FILE)).ok()?;
    Some(id.trim().to_owned()).filter(|id| !id.is_empty())
}

pub(crate) fn save_node_id(dir: &Path, id: &str) -> std::io::Result<()> {
    base::fs::atomic_write(&dir.join(NODE_ID_FILE), format!("{id}\n").as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_controllers_envelope_gives_the_node_its_id_and_the_fleet() {
        let ok = br#"{"status":"OK","message":"","body":{"node_id":"n1","etcd_endpoints":["http://127.0.0.1:2379"],"prefix":"/fleet"}}"#;
        assert_eq!(
            answer(200, ok),
            Ok(Joined {
                node_id: "n1".into(),
                etcd_endpoints: vec!["http://127.0.0.1:2379".into()],
                prefix: "/fleet".into()
            })
        );
        let refused = br#"{"status":"FAIL","message":"Authentication failed"}"#;
        assert_eq!(answer(401, refused), Err(Failure::Refused("401: Authentication failed".into())));
        assert!(matches!(answer(502, b"<html>bad gateway</html>"), Err(Failure::Unreachable(_))));
        assert!(matches!(answer(503, refused), Err(Failure::Unreachable(_))));
        let empty = br#"{"status":"OK","message":"","body":{"node_id":"","etcd_endpoints":[],"prefix":"/f"}}"#;
        assert!(matches!(answer(200, empty), Err(Failure::Unreachable(_))));
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(6), Duration::from_secs(60));
        assert_eq!(backoff(40), Duration::from_secs(60));
    }

    #[test]
    fn the_node_id_survives_in_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(saved_node_id(dir.path()), None);
        save_node_id(dir.path(), "n7").unwrap();
        assert_eq!(saved_node_id(dir.path()).as_deref(), Some("n7"));
    }
}
