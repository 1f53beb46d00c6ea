//! The tokens the supervisor issued and the callers they stand for.
//!
//! The CLI and Home Assistant Core tokens are made on first start. The CLI token is kept in clear
//! only in `<data>/cli_token` (mode 0600), for the `ha` CLI to read; the database holds its
//! SHA-256, enough to know the file is the one issued. The Core token is kept in the database
//! (owner-only), since Core's container holds it across restarts of the supervisor; it is renewed
//! whenever Core's container is made anew, as the real Supervisor does, so a token that leaked
//! from an old container stops working. Add-on tokens are registered by the
//! add-on manager, which keeps only their digests. In memory, too, callers are found by digest.
//! Tokens are never logged.

use crate::Caller;
use base::DataDir;
use sha2::{Digest, Sha256};
use state::{Section, Store};
use std::collections::HashMap;
use std::sync::RwLock;

/// Token length in random bytes (hex-encoded, twice as many characters).
const TOKEN_BYTES: usize = 32;

pub struct Tokens {
    /// By the digest of their token.
    callers: RwLock<HashMap<String, Caller>>,
    cli: String,
    homeassistant: RwLock<String>,
    section: Section,
}

impl Tokens {
    /// Loads the CLI and Core tokens, making them on first start, and writes `cli_token`.
    pub fn load(store: &Store, data: &DataDir) -> anyhow::Result<Tokens> {
        let section = store.section("tokens")?;
        let cli = cli_token(&section, data)?;
        let homeassistant = issued(&section, HOMEASSISTANT)?;
        let callers = HashMap::from([(sha256(&cli), Caller::Cli), (sha256(&homeassistant), Caller::HomeAssistant)]);
        Ok(Tokens { callers: RwLock::new(callers), cli, homeassistant: RwLock::new(homeassistant), section })
    }

    /// The caller a token stands for, if the supervisor issued it.
    pub fn caller(&self, token: &str) -> Option<Caller> {
        self.callers.read().expect("token lock").get(&sha256(token)).cloned()
    }

    /// Registers a token made elsewhere (an add-on's) for `caller`.
    pub fn register(&self, token: &str, caller: Caller) {
        self.register_digest(&sha256(token), caller);
    }

    /// Registers a token by its [`Tokens::digest`], for tokens kept only as digests.
    pub fn register_digest(&self, digest: &str, caller: Caller) {
        self.callers.write().expect("token lock").insert(digest.to_owned(), caller);
    }

    /// Forgets a token, so that it is refused from now on.
    pub fn revoke(&self, token: &str) {
        self.revoke_digest(&sha256(token));
    }

    pub fn revoke_digest(&self, digest: &str) {
        self.callers.write().expect("token lock").remove(digest);
    }

    /// What to keep of a token instead of the token: its SHA-256, 64 hex characters.
    pub fn digest(token: &str) -> String {
        sha256(token)
    }

    pub fn cli(&self) -> &str {
        &self.cli
    }

    /// The token Home Assistant Core's container holds as `SUPERVISOR_TOKEN`.
    pub fn homeassistant(&self) -> String {
        self.homeassistant.read().expect("token lock").clone()
    }

    /// Issues Core a new token for a new container, on disk first; the old one is refused from
    /// now on.
    pub fn renew_homeassistant(&self) -> anyhow::Result<String> {
        let token = base::random::hex_token(TOKEN_BYTES);
        self.section.put(HOMEASSISTANT, &token)?;
        let old = std::mem::replace(&mut *self.homeassistant.write().expect("token lock"), token.clone());
        let mut callers = self.callers.write().expect("token lock");
        callers.remove(&sha256(&old));
        callers.insert(sha256(&token), Caller::HomeAssistant);
        Ok(token)
    }
}

/// The CLI token from `cli_token` when the database holds its hash; otherwise (first start, the
/// file lost or changed by hand) a new one. A database from before hashes had the clear token
/// under `cli`: it is kept, and replaced by its hash.
fn cli_token(section: &Section, data: &DataDir) -> anyhow::Result<String> {
    let path = data.cli_token();
    let on_disk = std::fs::read_to_string(&path).ok().map(|t| t.trim().to_owned());
    if let Some(legacy) = section.get::<String>("cli")? {
        if on_disk.as_deref() != Some(&legacy) {
            base::fs::atomic_write(&path, legacy.as_bytes(), 0o600)?;
        }
        section.put(CLI_HASH, &sha256(&legacy))?;
        section.remove("cli")?;
        return Ok(legacy);
    }
    let known = section.get::<String>(CLI_HASH)?;
    if let Some(token) = on_disk.filter(|t| !t.is_empty() && known.as_deref() == Some(&sha256(t))) {
        return Ok(token);
    }
    let token = base::random::hex_token(TOKEN_BYTES);
    section.put(CLI_HASH, &sha256(&token))?;
    base::fs::atomic_write(&path, token.as_bytes(), 0o600)?;
    Ok(token)
}

/// Where the database keeps the CLI token's hash.
const CLI_HASH: &str = "cli_sha256";
/// Where the database keeps Core's token.
const HOMEASSISTANT: &str = "homeassistant";

fn sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
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
        let addon = Caller::Addon { slug: "local_x".into(), grants: crate::Grants::default() };
        tokens.register("addon-token", addon.clone());
        assert_eq!(tokens.caller("addon-token"), Some(addon));
        tokens.revoke("addon-token");
        assert_eq!(tokens.caller("addon-token"), None);
        tokens.register_digest(&Tokens::digest("kept-as-digest"), Caller::Cli);
        assert_eq!(tokens.caller("kept-as-digest"), Some(Caller::Cli));
        assert_eq!(tokens.caller(&Tokens::digest("kept-as-digest")), None, "a digest is not a token");
        tokens.revoke_digest(&Tokens::digest("kept-as-digest"));
        assert_eq!(tokens.caller("kept-as-digest"), None);
        let file = data.cli_token();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), cli);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    /// Every byte sled keeps on disk for the database.
    fn database_bytes(db: &std::path::Path) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(db).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                bytes.extend(database_bytes(&path));
            } else {
                bytes.extend(std::fs::read(&path).unwrap());
            }
        }
        bytes
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    #[test]
    fn database_holds_the_cli_token_hash_not_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let cli = {
            let store = Store::open(&data.database()).unwrap();
            let tokens = Tokens::load(&store, &data).unwrap();
            store.flush().unwrap();
            tokens.cli().to_owned()
        };
        let bytes = database_bytes(&data.database());
        assert!(!contains(&bytes, &cli), "the clear CLI token is in the database");
        assert!(contains(&bytes, &sha256(&cli)));
        assert_eq!(std::fs::metadata(data.database()).unwrap().permissions().mode() & 0o777, 0o700);

        // A changed file is not trusted: a new token is issued and written.
        std::fs::write(data.cli_token(), "forged").unwrap();
        let store = Store::open(&data.database()).unwrap();
        let tokens = Tokens::load(&store, &data).unwrap();
        assert_ne!(tokens.cli(), cli);
        assert_ne!(tokens.cli(), "forged");
        assert_eq!(tokens.caller("forged"), None);
        assert_eq!(std::fs::read_to_string(data.cli_token()).unwrap(), tokens.cli());
    }

    #[test]
    fn a_clear_cli_token_from_before_is_kept_and_replaced_by_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let store = Store::open(&data.database()).unwrap();
        let section = store.section("tokens").unwrap();
        section.put("cli", &"old-cli-token").unwrap();
        let tokens = Tokens::load(&store, &data).unwrap();
        assert_eq!(tokens.cli(), "old-cli-token");
        assert_eq!(tokens.caller("old-cli-token"), Some(Caller::Cli));
        assert_eq!(section.get::<String>("cli").unwrap(), None);
        assert_eq!(std::fs::read_to_string(data.cli_token()).unwrap(), "old-cli-token");
        assert_eq!(Tokens::load(&store, &data).unwrap().cli(), "old-cli-token");
    }

    #[test]
    fn a_renewed_core_token_replaces_the_old_one_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let store = Store::open(&data.database()).unwrap();
        let tokens = Tokens::load(&store, &data).unwrap();
        let old = tokens.homeassistant();
        let new = tokens.renew_homeassistant().unwrap();
        assert_ne!(old, new);
        assert_eq!(tokens.homeassistant(), new);
        assert_eq!(tokens.caller(&old), None);
        assert_eq!(tokens.caller(&new), Some(Caller::HomeAssistant));
        drop(tokens);
        let tokens = Tokens::load(&store, &data).unwrap();
        assert_eq!(tokens.caller(&new), Some(Caller::HomeAssistant));
        assert_eq!(tokens.caller(&old), None);
    }
}
