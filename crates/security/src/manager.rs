//! [`SecurityManager`]: the security options of the whole system, persisted; domains read them
//! (the add-on manager checks `pwned`).

use serde::{Deserialize, Serialize};
use state::{Persisted, Store};
use utoipa::ToSchema;

/// The security options, as `/security/info` shows them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SecurityInfo {
    /// Verify the signatures of images and add-on repositories.
    pub content_trust: bool,
    /// Refuse add-on passwords found in known breaches.
    pub pwned: bool,
    /// Refuse to start when a security check fails.
    pub force_security: bool,
}

impl Default for SecurityInfo {
    fn default() -> Self {
        SecurityInfo { content_trust: true, pwned: true, force_security: false }
    }
}

/// A change of the security options; `None` leaves one as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecurityChange {
    pub content_trust: Option<bool>,
    pub pwned: Option<bool>,
    pub force_security: Option<bool>,
}

/// Holds the security options; domains read them (the add-on manager checks `pwned`).
pub struct SecurityManager {
    options: Persisted<SecurityInfo>,
}

impl SecurityManager {
    pub fn load(store: &Store) -> state::Result<Self> {
        Ok(SecurityManager { options: Persisted::load(store.section("security")?, "options")? })
    }

    pub fn options(&self) -> SecurityInfo {
        self.options.get()
    }

    /// Changes the options `change` names, and saves them.
    /// The integrity check of the supervisor's, Core's, the plugins' and the add-ons' images.
    /// The real Supervisor removed it with CodeNotary's signatures, so there is nothing to check
    /// against and the answer is that it is gone.
    pub fn integrity_check(&self) -> Result<(), base::Error> {
        Err(base::Error::gone("Integrity check feature has been removed."))
    }

    pub fn update(&self, change: SecurityChange) -> Result<(), base::Error> {
        self.options.update(|options| {
            options.content_trust = change.content_trust.unwrap_or(options.content_trust);
            options.pwned = change.pwned.unwrap_or(options.pwned);
            options.force_security = change.force_security.unwrap_or(options.force_security);
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_keeps_what_it_does_not_name_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let security = SecurityManager::load(&store).unwrap();
        security.update(SecurityChange { pwned: Some(false), ..SecurityChange::default() }).unwrap();
        let options = SecurityManager::load(&store).unwrap().options();
        assert_eq!((options.content_trust, options.pwned, options.force_security), (true, false, false));
    }
}
