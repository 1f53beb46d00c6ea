//! The API keys of the balena device API, as the balena Supervisor has them: the device's own
//! key, which reaches everything (the "cloud" key, global scope), and one key per service of an
//! application, which reaches only that application. The device key is made at the first start
//! and kept in `<data>/balena/api_key`; the service keys, issued by the state engine as it makes
//! a service's containers (`BALENA_SUPERVISOR_API_KEY`), in `<data>/balena/app_keys.json`. Both
//! files are 0600 in a 0700 folder and written atomically, on disk before in memory, so a key
//! the API answered survives a kill -9 and a replaced one stops working at once.
//!
//! Keys are secrets: nothing here logs one.

use base::DataDir;
use serde::{Deserialize, Serialize};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::RwLock;

/// The bytes of a key: 64 hex characters, as the balena Supervisor's.
const KEY_BYTES: usize = 32;

/// What a key reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every application and the device: the device's own key.
    Global,
    /// One application's routes only: a service's key.
    App(u32),
}

impl Scope {
    /// Whether a caller with this scope may act on application `app_id`.
    pub fn reaches(self, app_id: u32) -> bool {
        match self {
            Scope::Global => true,
            Scope::App(own) => own == app_id,
        }
    }
}

/// A service's key, as kept on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ServiceKey {
    app_id: u32,
    service: String,
    key: String,
}

struct Current {
    global: String,
    services: Vec<ServiceKey>,
}

/// The keys of the device API.
pub struct Keys {
    global_path: PathBuf,
    services_path: PathBuf,
    current: RwLock<Current>,
}

impl Keys {
    /// Reads the keys, making the device key when there is none yet (the first start).
    pub fn load(data: &DataDir) -> io::Result<Keys> {
        let dir = data.balena();
        base::fs::ensure_real_dir(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let global_path = data.balena_api_key();
        let global = match std::fs::read_to_string(&global_path) {
            Ok(key) if is_key(key.trim()) => key.trim().to_owned(),
            Ok(_) => {
                tracing::warn!("the balena API key file holds no key; making a new one");
                new_key(&global_path)?
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                tracing::info!("balena API key made");
                new_key(&global_path)?
            }
            Err(error) => return Err(error),
        };
        let services_path = data.balena_app_keys();
        let services = match std::fs::read(&services_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(io::Error::other)?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(error),
        };
        Ok(Keys { global_path, services_path, current: RwLock::new(Current { global, services }) })
    }

    /// What `key` reaches; `None` for a key nobody issued.
    pub fn scope(&self, key: &str) -> Option<Scope> {
        let current = self.current.read().expect("keys lock");
        if same(&current.global, key) {
            return Some(Scope::Global);
        }
        current.services.iter().find(|known| same(&known.key, key)).map(|known| Scope::App(known.app_id))
    }

    /// The key of `service` of application `app_id`, issued now if it has none.
    pub fn service_key(&self, app_id: u32, service: &str) -> io::Result<String> {
        let mut current = self.current.write().expect("keys lock");
        if let Some(known) = current.services.iter().find(|k| k.app_id == app_id && k.service == service) {
            return Ok(known.key.clone());
        }
        let key = base::random::hex_token(KEY_BYTES);
        let mut services = current.services.clone();
        services.push(ServiceKey { app_id, service: service.to_owned(), key: key.clone() });
        self.write_services(&services)?;
        current.services = services;
        Ok(key)
    }

    /// Replaces `old` (the device key or a service's) with a new key, which it answers; the old
    /// one stops working at once. `None` when nobody issued `old`.
    pub fn regenerate(&self, old: &str) -> io::Result<Option<String>> {
        let mut current = self.current.write().expect("keys lock");
        let key = base::random::hex_token(KEY_BYTES);
        if same(&current.global, old) {
            base::fs::atomic_write(&self.global_path, key.as_bytes(), 0o600)?;
            current.global = key.clone();
            return Ok(Some(key));
        }
        let Some(index) = current.services.iter().position(|known| same(&known.key, old)) else {
            return Ok(None);
        };
        let mut services = current.services.clone();
        services[index].key = key.clone();
        self.write_services(&services)?;
        current.services = services;
        Ok(Some(key))
    }

    fn write_services(&self, services: &[ServiceKey]) -> io::Result<()> {
        let json = serde_json::to_vec(services).map_err(io::Error::other)?;
        base::fs::atomic_write(&self.services_path, &json, 0o600)
    }
}

/// Makes and writes a new device key.
fn new_key(path: &std::path::Path) -> io::Result<String> {
    let key = base::random::hex_token(KEY_BYTES);
    base::fs::atomic_write(path, key.as_bytes(), 0o600)?;
    Ok(key)
}

fn is_key(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Compares two keys in a time that does not depend on where they differ.
fn same(known: &str, given: &str) -> bool {
    let (a, b) = (known.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_device_key_is_made_once_kept_private_and_reaches_everything() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let keys = Keys::load(&data).unwrap();
        let key = std::fs::read_to_string(data.balena_api_key()).unwrap();
        assert_eq!(key.len(), 64);
        assert_eq!((mode(&data.balena_api_key()), mode(&data.balena())), (0o600, 0o700));
        assert_eq!(keys.scope(&key), Some(Scope::Global));
        assert!(Scope::Global.reaches(7));
        assert_eq!(keys.scope("0"), None);
        assert_eq!(keys.scope(""), None);
        assert_eq!(keys.scope(&key[..63]), None);
        let again = Keys::load(&data).unwrap();
        assert_eq!(again.scope(&key), Some(Scope::Global), "the key survives a restart");
    }

    #[test]
    fn a_regenerated_key_replaces_the_old_one_at_once_and_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let keys = Keys::load(&data).unwrap();
        let old = std::fs::read_to_string(data.balena_api_key()).unwrap();
        let new = keys.regenerate(&old).unwrap().expect("the old key was known");
        assert_ne!(new, old);
        assert_eq!((keys.scope(&old), keys.scope(&new)), (None, Some(Scope::Global)));
        assert_eq!(std::fs::read_to_string(data.balena_api_key()).unwrap(), new);
        assert_eq!(mode(&data.balena_api_key()), 0o600);
        assert_eq!(keys.regenerate(&old).unwrap(), None, "an unknown key regenerates nothing");
    }

    #[test]
    fn a_service_key_reaches_its_own_application_only() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let keys = Keys::load(&data).unwrap();
        let key = keys.service_key(1, "main").unwrap();
        assert_eq!(keys.service_key(1, "main").unwrap(), key, "issued once");
        assert_ne!(keys.service_key(2, "main").unwrap(), key);
        let scope = keys.scope(&key).unwrap();
        assert_eq!(scope, Scope::App(1));
        assert!(scope.reaches(1) && !scope.reaches(2));
        assert_eq!(mode(&data.balena_app_keys()), 0o600);
        let new = keys.regenerate(&key).unwrap().unwrap();
        let again = Keys::load(&data).unwrap();
        assert_eq!((again.scope(&key), again.scope(&new)), (None, Some(Scope::App(1))));
    }
}
