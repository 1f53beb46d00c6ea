//! What the supervisor keeps of each plugin, as the real one keeps `<plugin>.json`: the installed
//! version and image, the plugin's token where it has one, and the dns plugin's options.

use serde::{Deserialize, Serialize};

/// One plugin's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginRecord {
    /// The installed version; `None` until installed.
    pub version: Option<String>,
    /// The image the installed version came from, without the tag.
    pub image: Option<String>,
    /// The token the plugin's current container holds (the cli and the observer), kept so that
    /// it is known again after a restart of the supervisor while the container runs on.
    pub access_token: Option<String>,
}

/// The dns plugin's options (`/dns/options`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsOptions {
    /// Upstream servers tried first, `dns://IP[:PORT]`.
    pub servers: Vec<String>,
    /// Whether the fallback servers are tried when the others fail.
    pub fallback: bool,
}

impl Default for DnsOptions {
    fn default() -> Self {
        DnsOptions { servers: Vec::new(), fallback: true }
    }
}
