//! libsodium's `crypto_secretstream_xchacha20poly1305`, the stream cipher of SecureTar v3, built
//! from ChaCha20 (IETF), HChaCha20 and Poly1305 so that it matches libsodium (which the Python
//! library calls through PyNaCl) byte for byte.
//!
//! A stream starts from a 32-byte key and a 24-byte header: HChaCha20 of the key and the header's
//! first 16 bytes gives the working key, the header's last 8 bytes the "inonce". Each message is
//! `[encrypted tag (1)][ciphertext][Poly1305 MAC (16)]`; the MAC covers the empty additional data,
//! the 64-byte block that encrypts the tag, and the ciphertext. After each message the inonce is
//! XORed with the MAC's first 8 bytes and the 32-bit counter advances, so messages cannot be
//! reordered, dropped or replayed; a tag with the REKEY bit (FINAL has it) or a wrapped counter
//! derives a new key.

use chacha20::cipher::consts::U10;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use poly1305::universal_hash::{KeyInit, UniversalHash};
use poly1305::Poly1305;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

pub const KEY_BYTES: usize = 32;
pub const HEADER_BYTES: usize = 24;
/// The encrypted tag byte before the ciphertext plus the MAC after it.
pub const A_BYTES: usize = 1 + MAC_BYTES;
const MAC_BYTES: usize = 16;
const INONCE_BYTES: usize = 8;

pub const TAG_MESSAGE: u8 = 0;
pub const TAG_FINAL: u8 = 3;
const TAG_REKEY: u8 = 2;

/// One direction of a stream: the working key, the 32-bit counter and the inonce.
pub struct State {
    key: [u8; KEY_BYTES],
    counter: u32,
    inonce: [u8; INONCE_BYTES],
}

/// A message whose MAC does not match: wrong key, or altered, reordered or cut data.
#[derive(Debug)]
pub struct Forged;

impl State {
    pub fn new(key: &[u8; KEY_BYTES], header: &[u8; HEADER_BYTES]) -> State {
        let subkey = chacha20::hchacha::<U10>(key.into(), header[..16].into());
        let mut state = State { key: subkey.into(), counter: 1, inonce: [0; INONCE_BYTES] };
        state.inonce.copy_from_slice(&header[16..]);
        state
    }

    /// Encrypts `message` in place: `message[0]` receives the encrypted `tag`,
    /// `message[1..len - 16]` holds the plaintext and becomes ciphertext, and the last 16 bytes
    /// (whatever they held) receive the MAC.
    pub fn push(&mut self, message: &mut [u8], tag: u8) {
        let (head, rest) = message.split_first_mut().expect("a message has room for its tag");
        let (body, mac_out) = rest.split_at_mut(rest.len() - MAC_BYTES);
        let (mut cipher, mut poly) = self.start();
        let block = tag_block(&mut cipher, tag);
        *head = block[0];
        poly.update_padded(&block);
        cipher.apply_keystream(body);
        let mac = mac(poly, body);
        mac_out.copy_from_slice(&mac);
        self.advance(&mac, tag);
    }

    /// Checks and decrypts `message` (as [`State::push`] laid it out) in place; returns the tag
    /// and leaves the plaintext in `message[1..len - 16]`.
    pub fn pull(&mut self, message: &mut [u8]) -> Result<u8, Forged> {
        if message.len() < A_BYTES {
            return Err(Forged);
        }
        let (head, rest) = message.split_first_mut().expect("checked above");
        let (body, mac_in) = rest.split_at_mut(rest.len() - MAC_BYTES);
        let (mut cipher, mut poly) = self.start();
        let mut block = tag_block(&mut cipher, *head);
        let tag = block[0];
        // The MAC covers the tag block as the writer had it: the encrypted tag byte first.
        block[0] = *head;
        poly.update_padded(&block);
        let mac = mac(poly, body);
        if !bool::from(mac.ct_eq(mac_in)) {
            return Err(Forged);
        }
        cipher.apply_keystream(body);
        self.advance(&mac, tag);
        Ok(tag)
    }

    /// The ChaCha20 keystream for this message, positioned after block 0, and Poly1305 keyed with
    /// block 0's first 32 bytes.
    fn start(&self) -> (ChaCha20, Poly1305) {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&self.counter.to_le_bytes());
        nonce[4..].copy_from_slice(&self.inonce);
        let mut cipher = ChaCha20::new(&self.key.into(), &nonce.into());
        let mut block0 = [0u8; 64];
        cipher.apply_keystream(&mut block0);
        let poly = Poly1305::new(poly1305::Key::from_slice(&block0[..32]));
        block0.zeroize();
        (cipher, poly)
    }

    fn advance(&mut self, mac: &[u8; MAC_BYTES], tag: u8) {
        for (byte, mac_byte) in self.inonce.iter_mut().zip(mac) {
            *byte ^= mac_byte;
        }
        self.counter = self.counter.wrapping_add(1);
        if tag & TAG_REKEY != 0 || self.counter == 0 {
            self.rekey();
        }
    }

    /// New key and inonce: the current ones XORed with the keystream (block 0) of the current
    /// nonce; the counter starts again at 1.
    fn rekey(&mut self) {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&self.counter.to_le_bytes());
        nonce[4..].copy_from_slice(&self.inonce);
        let mut material = [0u8; KEY_BYTES + INONCE_BYTES];
        material[..KEY_BYTES].copy_from_slice(&self.key);
        material[KEY_BYTES..].copy_from_slice(&self.inonce);
        ChaCha20::new(&self.key.into(), &nonce.into()).apply_keystream(&mut material);
        self.key.copy_from_slice(&material[..KEY_BYTES]);
        self.inonce.copy_from_slice(&material[KEY_BYTES..]);
        material.zeroize();
        self.counter = 1;
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.key.zeroize();
        self.inonce.zeroize();
    }
}

/// Block 1 of the keystream XORed with `[tag, 0, ...]`.
fn tag_block(cipher: &mut ChaCha20, tag: u8) -> [u8; 64] {
    let mut block = [0u8; 64];
    block[0] = tag;
    cipher.apply_keystream(&mut block);
    block
}

/// The MAC: Poly1305 over the tag block (already fed), then the ciphertext, `len % 16` zero bytes
/// (libsodium's padding expression, kept for compatibility: it is not the usual pad to 16) and
/// the lengths of the additional data (always 0 here) and of the tag block plus the ciphertext.
/// What follows the ciphertext's whole blocks may end in a partial block, which Poly1305 closes
/// with its usual `1` byte.
fn mac(mut poly: Poly1305, body: &[u8]) -> [u8; MAC_BYTES] {
    let whole = body.len() - body.len() % 16;
    poly.update_padded(&body[..whole]);
    let partial = &body[whole..];
    let mut tail = [0u8; 2 * 15 + 16];
    tail[..partial.len()].copy_from_slice(partial);
    let lengths = 2 * partial.len();
    tail[lengths + 8..lengths + 16].copy_from_slice(&(64 + body.len() as u64).to_le_bytes());
    poly.compute_unpadded(&tail[..lengths + 16]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// Two messages libsodium (through PyNaCl) pushed with key 0, 1, .., 31 and header
    /// 100, 101, .., 123: `hello` tagged MESSAGE, then `world!` tagged FINAL.
    const FIRST: &str = "5f347fda2a012fa7ba45a05145cb4da4f081ec364c50";
    const SECOND: &str = "46b7cf1e5b2f40a6ecd4a381bd427a66b72e9003a7dd69";

    fn start() -> State {
        State::new(&std::array::from_fn(|i| i as u8), &std::array::from_fn(|i| 100 + i as u8))
    }

    #[test]
    fn push_matches_libsodium() {
        let mut state = start();
        let mut first = [b"\0".as_slice(), b"hello", &[0; 16]].concat();
        state.push(&mut first, TAG_MESSAGE);
        let mut second = [b"\0".as_slice(), b"world!", &[0; 16]].concat();
        state.push(&mut second, TAG_FINAL);
        assert_eq!((hex(&first), hex(&second)), (FIRST.to_owned(), SECOND.to_owned()));
    }

    #[test]
    fn pull_reads_libsodium() {
        let mut state = start();
        let mut first = unhex(FIRST);
        assert_eq!(state.pull(&mut first).unwrap(), TAG_MESSAGE);
        assert_eq!(&first[1..first.len() - MAC_BYTES], b"hello");
        let mut second = unhex(SECOND);
        assert_eq!(state.pull(&mut second).unwrap(), TAG_FINAL);
        assert_eq!(&second[1..second.len() - MAC_BYTES], b"world!");
        // Out of order: the second message alone does not authenticate as the first.
        assert!(start().pull(&mut unhex(SECOND)).is_err());
    }

    #[test]
    fn pull_follows_a_rekey() {
        // libsodium: `before` tagged REKEY, then `after a rekey` under the new key.
        let mut state = start();
        let mut before = unhex("5d3e7fd0291c76f44795bb461c97ed1c0cbc0f01f8f655");
        assert_eq!(state.pull(&mut before).unwrap(), TAG_REKEY);
        let mut after = unhex("9776a9986aa12e8c3bf4d50f481b69d769a625d22bc55291d96b4f460f46");
        assert_eq!(state.pull(&mut after).unwrap(), TAG_MESSAGE);
        assert_eq!(&after[1..after.len() - MAC_BYTES], b"after a rekey");
    }

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
    }
}
