//! Core's persisted settings: the installed version and image, and the options `/core/options`
//! sets, with the real Supervisor's defaults.

use serde::{Deserialize, Serialize};

/// The port Core serves its API on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8123;
/// The version the landing page runs as, before Core itself is installed.
pub const LANDINGPAGE: &str = "landingpage";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CoreConfig {
    /// Installed version (`landingpage` while the landing page runs); `None` before anything is.
    pub version: Option<String>,
    /// The image the user set; `None` follows the version manifest's `images.core`.
    pub image: Option<String>,
    pub boot: bool,
    pub port: u16,
    pub ssl: bool,
    pub watchdog: bool,
    /// Given by Core's `hassio` integration; exchanged for access tokens to call Core's API.
    pub refresh_token: Option<String>,
    pub audio_input: Option<String>,
    pub audio_output: Option<String>,
    pub backups_exclude_database: bool,
    pub duplicate_log_file: bool,
    /// Core's installation id, made once.
    pub uuid: String,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            version: None,
            image: None,
            boot: true,
            port: DEFAULT_PORT,
            ssl: false,
            watchdog: true,
            refresh_token: None,
            audio_input: None,
            audio_output: None,
            backups_exclude_database: false,
            duplicate_log_file: false,
            uuid: base::random::hex_token(16),
        }
    }
}

impl CoreConfig {
    /// Whether a real Core (not only the landing page) is installed.
    pub fn installed(&self) -> bool {
        self.version.as_deref().is_some_and(|v| v != LANDINGPAGE)
    }
}
