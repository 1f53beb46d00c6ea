//! The tokens the supervisor issued and the callers they stand for.
//!
//! The CLI and Home Assistant Core tokens are made on first start and kept in the database (the
//! CLI token also in `<data>/cli_token`, mode 0600, for the `ha` CLI to read); add-on tokens are
//! registered by the add-on manager. Tokens are never logged.

use crate::Caller;
use base::DataDir;
use state::{Section, Store};
use std::collections::HashMap;
use std::sync::RwLock;

/// Token length in random bytes (hex-encoded, twice as many characters).
const TOKEN_BYTES: usize = 32;

pub struct Tokens {
    callers: RwLock<HashMap<String, Caller>>,
    cli: String,
    homeassistant: String,
}

impl Tokens {
    /// Loads the CLI and Core tokens, making them on first start, and writes `cli_token`.
    pub fn load(store: &Store, data: &DataDir) -> anyhow::Result<Tokens> {
        let section = store.section("tokens")?;
        let cli = issued(&section, "cli")?;
        let homeassistant = issued(&section, "homeassistant")?;
        let path = data.cli_token();
        if std::fs::read_to_string(&path).map(|t| t.trim() != cli).unwrap_or(true) {
            base::fs::atomic_write(&path, cli.as_bytes(), 0o600)?;
        }
        let callers = HashMap::from([(cli.clone(), Caller::Cli), (homeassistant.clone(), Caller::HomeAssistant)]);
        Ok(Tokens { callers: RwLock::new(callers), cli, homeassistant })
    }

    /// The caller a token stands for, if the supervisor issued it.
    pub fn caller(&self, token: &str) -> Option<Caller> {
        self.callers.read().expect("token lock").get(token).cloned()
    }

    /// Registers a token made elsewhere (an add-on's) for `caller`.
    pub fn register(&self, token: &str, caller: Caller) {
        self.callers.write().expect("token lock").insert(token.to_owned(), caller);
    }

    /// Forgets a token, so that it is refused from now on.
    pub fn revoke(&self, token: &str) {
        self.callers.write().expect("token lock").remove(token);
    }

    pub fn cli(&self) -> &str {
        &self.cli
    }

    /// The token Home Assistant Core gets as `SUPERVISOR_TOKEN`.
    pub fn homeassistant(&self) -> &str {
        &self.homeassistant
    }
}

fn issued(section: &Section, name: &str) -> anyhow::Result<String> {
    if let Some(token) = section.get::<String>(name)? {
        return Ok(token);
    }
    let token = base::random::hex_token(TOKEN_BYTES);
    section.put(name, &token)?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tokens_persist_and_cli_token_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let (cli, core) = {
            let store = Store::open(&data.database()).unwrap();
            let tokens = Tokens::load(&store, &data).unwrap();
            (tokens.cli().to_owned(), tokens.homeassistant().to_owned())
        };
        assert_ne!(cli, core);
        let store = Store::open(&data.database()).unwrap();
        let tokens = Tokens::load(&store, &data).unwrap();
        assert_eq!(tokens.cli(), cli);
        assert_eq!(tokens.caller(&core), Some(Caller::HomeAssistant));
        assert_eq!(tokens.caller("nope"), None);
        let addon = Caller::Addon { slug: "local_x".into(), role: crate::Role::Default, hassio_api: false };
        tokens.register("addon-token", addon.clone());
        assert_eq!(tokens.caller("addon-token"), Some(addon));
        tokens.revoke("addon-token");
        assert_eq!(tokens.caller("addon-token"), None);
        let file = data.cli_token();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), cli);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
