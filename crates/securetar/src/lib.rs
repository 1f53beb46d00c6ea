//! SecureTar: the encryption of a password-protected backup's inner archives, interoperable
//! both ways with the Python `securetar` library the real Supervisor uses.
//!
//! A protected backup is a plain outer tar whose members (`./homeassistant.tar.gz`,
//! `./<addon>.tar.gz`, `./share.tar.gz`, ...) are each encrypted on their own. We write version 3
//! (the library's `SecureTarArchive` default): a header carrying the salts, then an XChaCha20-
//! Poly1305 secretstream under a key of the archive's own, derived from one Argon2id root key per
//! backup. We read version 3 and the older AES-128-CBC versions 2 and 1.
//!
//! - [`RootKey`]: derived once per backup from the password; [`Encryptor`] writes one inner
//!   archive under it ([`std::io::Write`], [`Encryptor::finish`]).
//! - [`Password`]: for reading; [`Decryptor`] ([`std::io::Read`]) tells the version from the
//!   header, rejects a wrong password when created, and fails reads of cut or altered streams.
//!
//! Both stream with about 1 MiB of memory, whatever the archive's size.

mod decrypt;
mod encrypt;
mod header;
mod keys;
mod secretstream;

pub use decrypt::Decryptor;
pub use encrypt::{Encryptor, Finished};
pub use header::Version;
pub use keys::{Password, RootKey};

use std::io;

/// Bytes of plaintext per v3 message.
pub const CHUNK_SIZE: usize = 1024 * 1024;
/// Bytes of a v3 header.
pub const V3_HEADER_LEN: usize = header::V3_LEN;

/// Bytes of a v3 encrypted archive of `plaintext_size` bytes: header, and per message (at least
/// one) the tag and MAC.
pub fn v3_encrypted_size(plaintext_size: u64) -> u64 {
    let messages = plaintext_size.div_ceil(CHUNK_SIZE as u64).max(1);
    V3_HEADER_LEN as u64 + plaintext_size + messages * secretstream::A_BYTES as u64
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("wrong password")]
    WrongPassword,
    #[error("unsupported SecureTar version {0}")]
    UnsupportedVersion(u8),
    #[error("invalid SecureTar header: {0}")]
    InvalidHeader(&'static str),
    #[error("the encrypted archive is truncated")]
    Truncated,
    #[error("the encrypted archive is corrupt: {0}")]
    Corrupt(&'static str),
    #[error("{written} bytes written to an encrypted archive announced as {announced}")]
    SizeMismatch { announced: u64, written: u64 },
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Error {
    /// The SecureTar error an I/O error from [`Decryptor`] or [`Encryptor`] carries, if any.
    pub fn of(err: &io::Error) -> Option<&Error> {
        err.get_ref()?.downcast_ref()
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        match err {
            Error::Io(err) => err,
            Error::Truncated => io::Error::new(io::ErrorKind::UnexpectedEof, err),
            err => io::Error::new(io::ErrorKind::InvalidData, err),
        }
    }
}
