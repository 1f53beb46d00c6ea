//! Helpers shared by the test binaries.

use securetar::{Encryptor, RootKey};
use std::io::{Cursor, Write};

/// `len` bytes that differ at every position and with every seed (xorshift), so that a message
/// swapped, dropped or shifted shows in the output.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// `plaintext` encrypted in memory, with the header rewritten at the end as a seekable output
/// allows.
pub fn encrypt(plaintext: &[u8], root: &RootKey) -> Vec<u8> {
    let mut encryptor = Encryptor::new(Cursor::new(Vec::new()), root).unwrap();
    encryptor.write_all(plaintext).unwrap();
    encryptor.finish().unwrap().rewrite_header().unwrap().into_inner()
}
