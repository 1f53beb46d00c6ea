//! The logins Core confirmed, kept so that a confirmed login is answered at once and keeps
//! working while Core is down. Only hashes are stored, the real Supervisor's way (its
//! `auth.json`): the key is the username rehashed, the value the password rehashed with the
//! username as salt, so the cache says whether a pair matches and nothing more.

use base::Error;
use sha2::{Digest, Sha256};
use state::{Persisted, Store};
use std::collections::BTreeMap;

/// `value` hashed in 19 rounds of SHA-256 over `{previous}{round}{salt}`, each round's hex
/// digest feeding the next: the real Supervisor's `_rehash`, so its caches and ours agree.
pub(crate) fn rehash(value: &str, salt: &str) -> String {
    let mut current = value.to_owned();
    for round in 1..20 {
        let digest = Sha256::digest(format!("{current}{round}{salt}").as_bytes());
        current = digest.iter().map(|b| format!("{b:02x}")).collect();
    }
    current
}

/// The cache entry of a login: `(key, value)`.
fn entry(username: &str, password: &str) -> (String, String) {
    (rehash(username, ""), rehash(password, username))
}

pub(crate) struct LoginCache {
    entries: Persisted<BTreeMap<String, String>>,
}

impl LoginCache {
    pub(crate) fn load(store: &Store) -> state::Result<LoginCache> {
        Ok(LoginCache { entries: Persisted::load(store.section("auth")?, "cache")? })
    }

    /// `None` when the user is not cached, else whether the password is the cached one.
    pub(crate) fn lookup(&self, username: &str, password: &str) -> Option<bool> {
        let (key, value) = entry(username, password);
        self.entries.read().get(&key).map(|cached| *cached == value)
    }

    /// Core confirmed the login.
    pub(crate) fn confirm(&self, username: &str, password: &str) -> Result<(), Error> {
        let (key, value) = entry(username, password);
        if self.entries.read().get(&key) == Some(&value) {
            return Ok(());
        }
        self.entries.update(|entries| {
            entries.insert(key, value);
        })?;
        Ok(())
    }

    /// Core refused the login: the entry goes if it holds this password (a refused wrong
    /// password leaves the user's confirmed one alone).
    pub(crate) fn refute(&self, username: &str, password: &str) -> Result<(), Error> {
        let (key, value) = entry(username, password);
        if self.entries.read().get(&key) != Some(&value) {
            return Ok(());
        }
        self.entries.update(|entries| {
            entries.remove(&key);
        })?;
        Ok(())
    }

    pub(crate) fn clear(&self) -> Result<(), Error> {
        self.entries.update(BTreeMap::clear)?;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn raw(&self) -> BTreeMap<String, String> {
        self.entries.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rehash_matches_the_real_supervisor() {
        // Computed with the real Supervisor's `_rehash` (Python).
        assert_eq!(rehash("homeassistant", ""), "f064dd44ab80bde420782c78b72a73208e90678d9f1087ba35b28954fd152f6f");
        assert_eq!(
            rehash("secret", "homeassistant"),
            "084ead4792169bcd4472da49141d4877bcd20c78a276fa5123162d92fc151f8f"
        );
    }

    #[test]
    fn lookups_confirmations_and_refutations() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cache = LoginCache::load(&store).unwrap();
        assert_eq!(cache.lookup("homeassistant", "secret"), None);
        cache.confirm("homeassistant", "secret").unwrap();
        assert_eq!(cache.lookup("homeassistant", "secret"), Some(true));
        assert_eq!(cache.lookup("homeassistant", "wrong"), Some(false));
        assert_eq!(
            cache.raw(),
            BTreeMap::from([(
                "f064dd44ab80bde420782c78b72a73208e90678d9f1087ba35b28954fd152f6f".to_owned(),
                "084ead4792169bcd4472da49141d4877bcd20c78a276fa5123162d92fc151f8f".to_owned()
            )])
        );
        // A refused wrong password leaves the confirmed one; a refused cached one removes it.
        cache.refute("homeassistant", "wrong").unwrap();
        assert_eq!(cache.lookup("homeassistant", "secret"), Some(true));
        cache.refute("homeassistant", "secret").unwrap();
        assert_eq!(cache.lookup("homeassistant", "secret"), None);

        cache.confirm("a", "b").unwrap();
        drop(cache);
        let reopened = LoginCache::load(&store).unwrap();
        assert_eq!(reopened.lookup("a", "b"), Some(true), "the cache survives a restart");
        reopened.clear().unwrap();
        assert!(reopened.raw().is_empty());
    }
}
