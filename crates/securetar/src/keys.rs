//! Keys from a password.
//!
//! v3: the root key is Argon2id (v1.3, 8 passes, 16 MiB, one lane, 32 bytes) of the password
//! with a random 16-byte root salt, derived once per backup since it is deliberately slow. Each
//! inner archive gets its own key, keyed BLAKE2b-256 of nothing under the root key with a fresh
//! 16-byte salt and the personalisation `SecureTarv3`. The same construction with another salt
//! gives the password check stored in every header, so a wrong password is known before any
//! data is read.
//!
//! v1/v2: the AES-128 key is the first 16 bytes of SHA-256 applied 100 times to the password;
//! the IV is the first 16 bytes of SHA-256 applied 100 times to key + salt.

use crate::header::{V3Header, SALT_LEN, VALIDATION_KEY_LEN};
use crate::Error;
use argon2::{Algorithm, Argon2, Params};
use blake2::digest::consts::U32;
use blake2::digest::Mac;
use blake2::Blake2bMac;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use zeroize::{Zeroize, Zeroizing};

pub const KEY_LEN: usize = 32;
pub const LEGACY_KEY_LEN: usize = 16;
const PERSONALISATION: &[u8] = b"SecureTarv3";
/// libsodium's `opslimit` and `memlimit` (bytes) the Python library passes to `crypto_pwhash`.
const ARGON2_PASSES: u32 = 8;
const ARGON2_MEMORY_KIB: u32 = 16 * 1024;

/// The v3 root key of one backup, with the salts and password check every header repeats.
/// Derive it once per backup ([`RootKey::new`]) and encrypt each inner archive with it.
pub struct RootKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    pub(crate) root_salt: [u8; SALT_LEN],
    pub(crate) validation_salt: [u8; SALT_LEN],
    pub(crate) validation_key: [u8; VALIDATION_KEY_LEN],
}

impl RootKey {
    /// A new root key for `password` with fresh random salts (Argon2id: tens of milliseconds).
    pub fn new(password: &str) -> Result<RootKey, Error> {
        Ok(RootKey::derive(password.as_bytes(), random()?, random()?))
    }

    fn derive(password: &[u8], root_salt: [u8; SALT_LEN], validation_salt: [u8; SALT_LEN]) -> RootKey {
        let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, Some(KEY_LEN)).expect("valid Argon2 parameters");
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        Argon2::new(Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password_into(password, &root_salt, key.as_mut())
            .expect("a 16-byte salt and a 32-byte output are within Argon2's limits");
        let validation_key = *subkey(&key, &validation_salt);
        RootKey { key, root_salt, validation_salt, validation_key }
    }

    /// The key of the inner archive whose header carries `derivation_salt`.
    pub(crate) fn archive_key(&self, derivation_salt: &[u8; SALT_LEN]) -> Zeroizing<[u8; KEY_LEN]> {
        subkey(&self.key, derivation_salt)
    }
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootKey").finish_non_exhaustive()
    }
}

/// Keyed BLAKE2b-256 of the empty message with `salt` and the SecureTar personalisation.
fn subkey(key: &[u8; KEY_LEN], salt: &[u8; SALT_LEN]) -> Zeroizing<[u8; KEY_LEN]> {
    let mac = Blake2bMac::<U32>::new_with_salt_and_personal(key, salt, PERSONALISATION)
        .expect("key, salt and personalisation are within BLAKE2b's limits");
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// A password to read encrypted archives of any version with. The v3 root keys it derives are
/// kept, so that the archives of one backup (which share a root salt) cost one Argon2id.
pub struct Password {
    secret: Zeroizing<Vec<u8>>,
    legacy_key: Zeroizing<[u8; LEGACY_KEY_LEN]>,
    root_keys: Mutex<Vec<Arc<RootKey>>>,
}

impl Password {
    pub fn new(password: &str) -> Password {
        let digest = Zeroizing::new(sha256_rounds(password.as_bytes()));
        let mut legacy_key = Zeroizing::new([0u8; LEGACY_KEY_LEN]);
        legacy_key.copy_from_slice(&digest[..LEGACY_KEY_LEN]);
        Password { secret: Zeroizing::new(password.as_bytes().to_vec()), legacy_key, root_keys: Mutex::default() }
    }

    /// The root key a v3 header was written with, or [`Error::WrongPassword`] when the header's
    /// password check does not match.
    pub(crate) fn root_key(&self, header: &V3Header) -> Result<Arc<RootKey>, Error> {
        let mut root_keys = self.root_keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let known = root_keys
            .iter()
            .find(|key| key.root_salt == header.root_salt && key.validation_salt == header.validation_salt);
        let root_key = match known {
            Some(key) => key.clone(),
            None => {
                let key = Arc::new(RootKey::derive(&self.secret, header.root_salt, header.validation_salt));
                root_keys.push(key.clone());
                key
            }
        };
        // Not secret (it sits in the header), so a plain comparison will do.
        if root_key.validation_key != header.validation_key {
            return Err(Error::WrongPassword);
        }
        Ok(root_key)
    }

    /// The AES-128 key of v1 and v2.
    pub(crate) fn legacy_key(&self) -> &[u8; LEGACY_KEY_LEN] {
        &self.legacy_key
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Password").finish_non_exhaustive()
    }
}

/// The v1/v2 IV for `salt`.
pub(crate) fn legacy_iv(key: &[u8; LEGACY_KEY_LEN], salt: &[u8; SALT_LEN]) -> [u8; 16] {
    let mut input = [0u8; LEGACY_KEY_LEN + SALT_LEN];
    input[..LEGACY_KEY_LEN].copy_from_slice(key);
    input[LEGACY_KEY_LEN..].copy_from_slice(salt);
    let mut digest = sha256_rounds(&input);
    input.zeroize();
    let iv = digest[..16].try_into().expect("16 bytes");
    digest.zeroize();
    iv
}

/// SHA-256 applied 100 times.
fn sha256_rounds(input: &[u8]) -> [u8; 32] {
    let mut digest: [u8; 32] = Sha256::digest(input).into();
    for _ in 1..100 {
        digest = Sha256::digest(digest).into();
    }
    digest
}

pub(crate) fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|err| Error::Io(std::io::Error::other(format!("no random bytes: {err}"))))?;
    Ok(bytes)
}
