//! Our encryptor and decryptor against each other: message boundaries, sizes announced up front,
//! wrong passwords, and streams cut short or altered, which must fail rather than yield less.

mod common;

use common::{encrypt, pattern};
use securetar::{v3_encrypted_size, Decryptor, Encryptor, Error, Password, RootKey, Version, CHUNK_SIZE};
use std::io::{self, Cursor, Read, Write};
use std::sync::LazyLock;

const PASSWORD: &str = "correct horse battery staple";

/// One Argon2id for the whole binary, as one backup derives it once.
static ROOT: LazyLock<RootKey> = LazyLock::new(|| RootKey::new(PASSWORD).unwrap());
static READ_PASSWORD: LazyLock<Password> = LazyLock::new(|| Password::new(PASSWORD));

fn decrypt(encrypted: &[u8]) -> Result<Vec<u8>, io::Error> {
    let mut decryptor = Decryptor::new(encrypted, &READ_PASSWORD)?;
    let mut plaintext = Vec::new();
    decryptor.read_to_end(&mut plaintext)?;
    Ok(plaintext)
}

/// The SecureTar error a failed decryption carries.
fn failure(encrypted: &[u8]) -> String {
    let err = decrypt(encrypted).expect_err("a damaged stream must not decrypt");
    Error::of(&err).map(ToString::to_string).unwrap_or_else(|| panic!("not a SecureTar error: {err}"))
}

#[test]
fn round_trips_across_message_boundaries() {
    for len in [0, 1, 4095, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 5] {
        let plaintext = pattern(len, len as u64);
        let encrypted = encrypt(&plaintext, &ROOT);
        assert_eq!(encrypted.len() as u64, v3_encrypted_size(len as u64), "size of {len} bytes");
        let decryptor = Decryptor::new(&encrypted[..], &READ_PASSWORD).unwrap();
        assert_eq!(decryptor.version(), Version::V3);
        assert_eq!(decryptor.plaintext_size(), Some(len as u64));
        assert!(decrypt(&encrypted).unwrap() == plaintext, "content of {len} bytes");
    }
}

#[test]
fn every_archive_gets_its_own_key() {
    let plaintext = pattern(1000, 1);
    let (first, second) = (encrypt(&plaintext, &ROOT), encrypt(&plaintext, &ROOT));
    // The root salt and password check are shared; the archive's salt and stream header differ.
    assert_eq!(first[32..96], second[32..96]);
    assert_ne!(first[96..136], second[96..136]);
    assert_ne!(first[136..], second[136..]);
    assert_eq!(decrypt(&first).unwrap(), decrypt(&second).unwrap());
}

#[test]
fn small_writes_and_small_reads_stream() {
    // 64 MiB in pieces of odd sizes, read back in other odd sizes: nothing holds the whole stream.
    const LEN: usize = 64 * 1024 * 1024;
    // A period that is no multiple of anything, stored twice so any piece is one slice.
    const PERIOD: usize = CHUNK_SIZE + 4093;
    let source = pattern(PERIOD, 7).repeat(2);
    let piece = |at: usize, len: usize| &source[at % PERIOD..at % PERIOD + len];
    let mut encryptor = Encryptor::new(Cursor::new(Vec::with_capacity(LEN + 4096)), &ROOT).unwrap();
    let mut at = 0;
    while at < LEN {
        let len = (at % 70_001 + 1).min(LEN - at);
        encryptor.write_all(piece(at, len)).unwrap();
        at += len;
    }
    let finished = encryptor.finish().unwrap();
    assert_eq!(finished.plaintext_size, LEN as u64);
    let encrypted = finished.rewrite_header().unwrap().into_inner();

    let mut decryptor = Decryptor::new(&encrypted[..], &READ_PASSWORD).unwrap();
    let mut buffer = vec![0u8; 100_003];
    let mut at = 0;
    loop {
        let want = at % buffer.len() + 1;
        let n = decryptor.read(&mut buffer[..want]).unwrap();
        if n == 0 {
            break;
        }
        assert!(buffer[..n] == *piece(at, n), "content at {at}");
        at += n;
    }
    assert_eq!(at, LEN);
}

#[test]
fn a_size_announced_up_front_needs_no_rewrite() {
    let plaintext = pattern(CHUNK_SIZE + 10, 3);
    let mut encryptor = Encryptor::with_plaintext_size(Vec::new(), &ROOT, plaintext.len() as u64).unwrap();
    encryptor.write_all(&plaintext).unwrap();
    let finished = encryptor.finish().unwrap();
    assert_eq!(&finished.inner[..finished.header().len()], finished.header());
    assert_eq!(decrypt(&finished.inner).unwrap(), plaintext);

    let mut longer = Encryptor::with_plaintext_size(Vec::new(), &ROOT, 10).unwrap();
    let err = longer.write_all(&[0; 11]).unwrap_err();
    assert!(matches!(Error::of(&err), Some(Error::SizeMismatch { announced: 10, written: 11 })), "{err}");

    let mut shorter = Encryptor::with_plaintext_size(Vec::new(), &ROOT, 10).unwrap();
    shorter.write_all(&[0; 9]).unwrap();
    assert!(matches!(shorter.finish(), Err(Error::SizeMismatch { announced: 10, written: 9 })));
}

#[test]
fn a_wrong_password_is_refused_before_reading() {
    let encrypted = encrypt(b"secret", &ROOT);
    let err = Decryptor::new(&encrypted[..], &Password::new("wrong")).err().expect("wrong password");
    assert!(matches!(err, Error::WrongPassword), "{err}");
}

#[test]
fn cut_streams_fail() {
    let plaintext = pattern(2 * CHUNK_SIZE + 100, 4);
    let encrypted = encrypt(&plaintext, &ROOT);
    let message = CHUNK_SIZE + 17;
    for len in [0, 10, 100, 136, 137, 136 + 5000, 136 + message, 136 + 2 * message, encrypted.len() - 1] {
        assert_eq!(failure(&encrypted[..len]), "the encrypted archive is truncated", "cut at {len}");
    }
}

#[test]
fn reads_after_a_failure_fail_too() {
    let encrypted = encrypt(&pattern(3 * CHUNK_SIZE, 9), &ROOT);
    let mut altered = encrypted.clone();
    altered[136 + CHUNK_SIZE + 17 + 10] ^= 1;
    let mut decryptor = Decryptor::new(&altered[..], &READ_PASSWORD).unwrap();
    let mut buffer = vec![0; CHUNK_SIZE];
    decryptor.read_exact(&mut buffer).unwrap();
    assert!(decryptor.read(&mut buffer).is_err());
    // The third message is intact, but what follows damage is not served.
    assert!(decryptor.read(&mut buffer).is_err());
}

#[test]
fn an_unfinished_stream_fails() {
    // Dropped without finish: two full messages are out, the rest never is.
    let mut announced = Vec::new();
    let mut encryptor = Encryptor::with_plaintext_size(&mut announced, &ROOT, 3 * CHUNK_SIZE as u64).unwrap();
    encryptor.write_all(&pattern(2 * CHUNK_SIZE + 1, 5)).unwrap();
    drop(encryptor);
    assert_eq!(failure(&announced), "the encrypted archive is truncated");
    // The header was never rewritten, so it announces nothing, which the messages contradict.
    let mut unannounced = Vec::new();
    let mut encryptor = Encryptor::new(&mut unannounced, &ROOT).unwrap();
    encryptor.write_all(&pattern(2 * CHUNK_SIZE + 1, 5)).unwrap();
    drop(encryptor);
    assert_eq!(failure(&unannounced), "the encrypted archive is corrupt: a message fails authentication");
}

#[test]
fn altered_bytes_fail() {
    let plaintext = pattern(2 * CHUNK_SIZE + 100, 6);
    let encrypted = encrypt(&plaintext, &ROOT);
    let message = CHUNK_SIZE + 17;
    // Encrypted tag, ciphertext, MAC of the first message; the last message; the archive's salt
    // and stream header in the header.
    for at in [136, 137, 136 + message - 1, 136 + 2 * message + 50, 100, 120] {
        let mut altered = encrypted.clone();
        altered[at] ^= 0x01;
        assert_eq!(
            failure(&altered),
            "the encrypted archive is corrupt: a message fails authentication",
            "bit flipped at {at}"
        );
    }
    // The password check in the header.
    let mut altered = encrypted.clone();
    altered[64] ^= 0x80;
    assert!(matches!(Decryptor::new(&altered[..], &READ_PASSWORD).err(), Some(Error::WrongPassword)));
    // A plaintext size that does not match the messages.
    for size in [plaintext.len() - 1, plaintext.len() + 1, CHUNK_SIZE, 2 * CHUNK_SIZE] {
        let mut altered = encrypted.clone();
        altered[16..24].copy_from_slice(&(size as u64).to_be_bytes());
        assert!(decrypt(&altered).is_err(), "size changed to {size}");
    }
}

#[test]
fn messages_cannot_be_reordered_or_dropped() {
    let plaintext = pattern(3 * CHUNK_SIZE, 8);
    let encrypted = encrypt(&plaintext, &ROOT);
    let message = CHUNK_SIZE + 17;
    let (header, body) = encrypted.split_at(136);
    let messages: Vec<&[u8]> = body.chunks(message).collect();
    assert_eq!(messages.len(), 3);

    let swapped = [header, messages[1], messages[0], messages[2]].concat();
    assert_eq!(failure(&swapped), "the encrypted archive is corrupt: a message fails authentication");
    // Dropping a message with the header's size adjusted to match.
    let mut dropped = [header, messages[0], messages[2]].concat();
    dropped[16..24].copy_from_slice(&(2 * CHUNK_SIZE as u64).to_be_bytes());
    assert_eq!(failure(&dropped), "the encrypted archive is corrupt: a message fails authentication");
    // Cutting after a whole message with the size adjusted: that message is not FINAL.
    let mut cut = [header, messages[0]].concat();
    cut[16..24].copy_from_slice(&(CHUNK_SIZE as u64).to_be_bytes());
    assert_eq!(failure(&cut), "the encrypted archive is corrupt: the last message is not tagged final");
}

#[test]
fn unknown_versions_and_bad_headers_are_refused() {
    let mut encrypted = encrypt(b"data", &ROOT);
    encrypted[9] = 4;
    assert!(matches!(Decryptor::new(&encrypted[..], &READ_PASSWORD).err(), Some(Error::UnsupportedVersion(4))));
    encrypted[9] = 3;
    encrypted[12] = 1;
    assert!(matches!(Decryptor::new(&encrypted[..], &READ_PASSWORD).err(), Some(Error::InvalidHeader(_))));
}
