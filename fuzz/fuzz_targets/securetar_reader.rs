//! Any bytes as an encrypted inner archive read with a fixed password, to the end of its
//! plaintext. The seeds are archives encrypted with that password, so that mutations of their
//! bodies get past the password check into the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use securetar::{Decryptor, Password};
use std::io;
use std::sync::{LazyLock, OnceLock};

/// The password `cargo xtask fuzz` encrypts the seeds with.
const PASSWORD: &str = "fuzz";
/// Where a v3 header holds the salts of the root key and of its password check.
const SALTS: std::ops::Range<usize> = 32..64;

// One for the whole run: it keeps the Argon2id root keys it derived.
static KEY: LazyLock<Password> = LazyLock::new(|| Password::new(PASSWORD));
/// The salts of the first v3 input, a seed's.
static SEED_SALTS: OnceLock<Vec<u8>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let mut data = data.to_vec();
    // Other salts cost an Argon2id derivation each (16 MiB, 8 passes), only to reach the
    // wrong-password refusal that altered validation keys reach as well: every v3 input gets the
    // seeds' salts, so that the run is spent on the header and the stream.
    if data.starts_with(b"SecureTar\x03") && data.len() >= SALTS.end {
        let salts = SEED_SALTS.get_or_init(|| data[SALTS].to_vec());
        data[SALTS].copy_from_slice(salts);
    }
    if let Ok(mut decryptor) = Decryptor::new(&data[..], &KEY) {
        let _ = io::copy(&mut decryptor, &mut io::sink());
    }
});
