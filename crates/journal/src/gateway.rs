//! The systemd-journal-gatewayd client: where it is, how a request goes out and what failing to
//! reach it means, and the two listings: boots (oldest first, addressed by offset as the real
//! Supervisor does) and syslog identifiers.

use crate::{JournalError, Unavailable};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where the real Supervisor finds the gateway: the socket HAOS activates it on.
pub const DEFAULT_ADDRESS: &str = "unix:/run/systemd-journal-gatewayd.sock";

/// The listings give up after this long, like the real Supervisor's.
const LIST_TIMEOUT: Duration = Duration::from_secs(20);
/// A gateway that does not accept within this long is as good as absent.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// "System start-up is now complete", logged once per boot: the boot list of a gateway without
/// `/boots` (systemd < 256) is made from these entries.
pub(crate) const STARTUP_COMPLETE: &str = "b07a249cd024414a82dd00cd181378ff";

pub(crate) const EXPORT: &str = "application/vnd.fdo.journal";
pub(crate) const JSON: &str = "application/json";
const JSON_SEQ: &str = "application/json-seq";
pub(crate) const TEXT: &str = "text/plain";

/// A systemd-journal-gatewayd, over TCP or its unix socket. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Gateway {
    client: reqwest::Client,
    base: Arc<str>,
    socket: Option<Arc<Path>>,
}

impl Gateway {
    /// `http://host:port` (as the real Supervisor's `SUPERVISOR_SYSTEMD_JOURNAL_GATEWAYD_URL`)
    /// or `unix:/path/to/socket`.
    pub fn new(address: &str) -> Result<Gateway, String> {
        let builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
        let (builder, base, socket) = if let Some(path) = address.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(format!("The journal socket must be an absolute path: {address}"));
            }
            let path = PathBuf::from(path);
            (builder.unix_socket(path.clone()), "http://localhost".to_owned(), Some(Arc::from(path)))
        } else if address.starts_with("http://") || address.starts_with("https://") {
            (builder, address.trim_end_matches('/').to_owned(), None)
        } else {
            return Err(format!("The journal address must be http://host:port or unix:/path: {address}"));
        };
        let client = builder.build().map_err(|e| format!("Can't make the journal client: {e}"))?;
        Ok(Gateway { client, base: base.into(), socket })
    }

    /// Whether there is a gateway to ask (the `journal` host feature): a URL is taken on trust,
    /// as the real Supervisor takes its `SUPERVISOR_SYSTEMD_JOURNAL_GATEWAYD_URL`; a unix socket
    /// must exist as one.
    pub fn is_available(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        match &self.socket {
            None => true,
            Some(socket) => std::fs::metadata(socket).is_ok_and(|meta| meta.file_type().is_socket()),
        }
    }

    /// A `GET` to the gateway; any status comes back, only not reaching it is an error.
    pub(crate) async fn get(
        &self,
        path: &str,
        params: &[(&str, &str)],
        accept: &str,
        range: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, JournalError> {
        if let Some(socket) = &self.socket {
            if !socket.exists() {
                return Err(Unavailable::NoSocket.into());
            }
        }
        let mut request = self.client.get(format!("{}{path}", self.base)).query(params).header("Accept", accept);
        if let Some(range) = range {
            request = request.header("Range", range);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        request.send().await.map_err(|e| {
            if e.is_connect() {
                tracing::debug!("systemd-journal-gatewayd: {e}");
                Unavailable::Unreachable.into()
            } else {
                JournalError::Failed(format!("systemd-journal-gatewayd did not answer: {e}"))
            }
        })
    }

    /// The syslog identifiers the journal holds, sorted.
    pub async fn identifiers(&self) -> Result<Vec<String>, JournalError> {
        let text = async {
            let response = self.get("/fields/SYSLOG_IDENTIFIER", &[], TEXT, None, Some(LIST_TIMEOUT)).await?;
            text_of(success(response).await?).await
        };
        let text = text
            .await
            .map_err(|e| e.listing("Could not get a list of syslog identifiers from systemd-journal-gatewayd"))?;
        let mut identifiers: Vec<String> = text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
        identifiers.sort();
        Ok(identifiers)
    }

    /// The boots the journal holds, oldest first. Asked every time rather than cached: a list
    /// made before this boot logged anything would lack it.
    pub async fn boots(&self) -> Result<Boots, JournalError> {
        let boots = async {
            match self.boots_native().await? {
                Some(ids) => Ok(ids),
                None => self.boots_from_entries().await,
            }
        };
        let ids =
            boots.await.map_err(|e| e.listing("Could not get a list of boot IDs from systemd-journal-gatewayd"))?;
        Ok(Boots(ids))
    }

    /// `/boots` (systemd ≥ 256): JSON records separated by RS, each with its `index`; `None`
    /// when the gateway has no such endpoint.
    async fn boots_native(&self) -> Result<Option<Vec<String>>, JournalError> {
        let response = self.get("/boots", &[], JSON_SEQ, None, Some(LIST_TIMEOUT)).await?;
        if !response.status().is_success() {
            return Ok(None);
        }
        let text = text_of(response).await?;
        let mut boots = Vec::new();
        for record in text.split('\x1e').map(str::trim).filter(|r| !r.is_empty()) {
            let value: serde_json::Value =
                serde_json::from_str(record).map_err(|e| JournalError::Failed(format!("bad /boots record: {e}")))?;
            let (Some(index), Some(id)) = (value["index"].as_i64(), value["boot_id"].as_str()) else {
                return Err(JournalError::Failed(format!("bad /boots record: {record}")));
            };
            boots.push((index, id.to_owned()));
        }
        // The order of the records is not promised; the index is.
        boots.sort_by_key(|(index, _)| *index);
        Ok(Some(boots.into_iter().map(|(_, id)| id).collect()))
    }

    /// The boots of the oldest entry, of every start-up message and of the newest entry, in
    /// that order: the oldest boot's start may be rotated out, and the current boot may not
    /// have finished starting.
    async fn boots_from_entries(&self) -> Result<Vec<String>, JournalError> {
        let oldest = self.json_entries(&[], Some("entries=:0:1"), LIST_TIMEOUT).await?;
        let startups = self.json_entries(&[("MESSAGE_ID", STARTUP_COMPLETE)], None, LIST_TIMEOUT).await?;
        let newest = self.json_entries(&[], Some("entries=:-1:2"), LIST_TIMEOUT).await?;
        let mut boots: Vec<String> = Vec::new();
        for entry in oldest.iter().chain(&startups).chain(newest.last()) {
            if let Some(id) = entry["_BOOT_ID"].as_str() {
                if !boots.iter().any(|known| known == id) {
                    boots.push(id.to_owned());
                }
            }
        }
        Ok(boots)
    }

    /// Entries as JSON objects, one a line.
    pub(crate) async fn json_entries(
        &self,
        params: &[(&str, &str)],
        range: Option<&str>,
        timeout: Duration,
    ) -> Result<Vec<serde_json::Value>, JournalError> {
        let response = self.get("/entries", params, JSON, range, Some(timeout)).await?;
        let text = text_of(success(response).await?).await?;
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).map_err(|e| JournalError::Failed(format!("bad journal entry: {e}"))))
            .collect()
    }
}

/// The response if the gateway accepted the request, else its complaint as the error.
pub(crate) async fn success(response: reqwest::Response) -> Result<reqwest::Response, JournalError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    Err(JournalError::Failed(format!("systemd-journal-gatewayd answered {status}: {}", text.trim())))
}

async fn text_of(response: reqwest::Response) -> Result<String, JournalError> {
    response.text().await.map_err(|e| JournalError::Failed(format!("systemd-journal-gatewayd broke off: {e}")))
}

/// The journal's boots, oldest first. Serializes as the real Supervisor's `boots` object:
/// offsets (`"-2"`, `"-1"`, `"0"`: `0` is the current boot) to boot ids, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boots(Vec<String>);

impl Boots {
    pub fn ids(&self) -> &[String] {
        &self.0
    }

    /// The boot id a `{bootid}` path segment names: an integer is an offset (`0` the current
    /// boot, `-1` the one before, `1` the oldest, `2` the next), anything else a boot id.
    pub fn resolve(&self, bootid: &str) -> Result<String, JournalError> {
        let Ok(offset) = bootid.parse::<i64>() else {
            return Ok(bootid.to_owned());
        };
        let len = self.0.len() as i64;
        let index = offset - 1;
        let index = if index < 0 { len + index } else { index };
        usize::try_from(index)
            .ok()
            .filter(|_| index < len)
            .map(|index| self.0[index].clone())
            .ok_or_else(|| JournalError::Failed(format!("Logs only contain {len} boots")))
    }
}

impl Serialize for Boots {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = self.0.len();
        let mut map = serializer.serialize_map(Some(len))?;
        for (i, id) in self.0.iter().enumerate() {
            map.serialize_entry(&(i as i64 + 1 - len as i64).to_string(), id)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_back_from_the_current_boot_and_up_from_the_oldest() {
        let boots = Boots(vec!["aaa".into(), "bbb".into(), "ccc".into()]);
        let resolve = |b: &str| boots.resolve(b);
        assert_eq!(resolve("0"), Ok("ccc".into()));
        assert_eq!(resolve("-2"), Ok("aaa".into()));
        assert_eq!(resolve("1"), Ok("aaa".into()));
        assert_eq!(resolve("3"), Ok("ccc".into()));
        assert_eq!(resolve("deadbeef"), Ok("deadbeef".into()));
        for out in ["4", "-3"] {
            assert_eq!(resolve(out), Err(JournalError::Failed("Logs only contain 3 boots".into())));
        }
        assert_eq!(serde_json::to_string(&boots).unwrap(), r#"{"-2":"aaa","-1":"bbb","0":"ccc"}"#);
    }

    #[test]
    fn addresses_are_urls_or_absolute_sockets() {
        assert!(Gateway::new("http://127.0.0.1:19531/").is_ok());
        assert!(Gateway::new("unix:/run/systemd-journal-gatewayd.sock").is_ok());
        assert!(Gateway::new("unix:relative.sock").is_err());
        assert!(Gateway::new("127.0.0.1:19531").is_err());
        assert!(Gateway::new("http://127.0.0.1:19531").unwrap().is_available());
        assert!(!Gateway::new("unix:/nonexistent/gatewayd.sock").unwrap().is_available());
    }
}
