//! The header in front of every encrypted inner archive.
//!
//! v2 and v3 start with a 16-byte file ID (`SecureTar`, the version byte, 6 zero bytes) and
//! 16 bytes of metadata (the plaintext size, big-endian u64, and 8 ignored bytes), followed by
//! the cipher's initialisation: v2 a 16-byte salt for the AES IV; v3 the root key's salt, the
//! password check's salt and value, the salt of this archive's key and the secretstream header.
//! v1 has no header of its own: its first 16 bytes are the AES salt.

use crate::secretstream;
use crate::Error;
use std::io::{self, Read};

const MAGIC: &[u8; 9] = b"SecureTar";
pub const SALT_LEN: usize = 16;
pub const VALIDATION_KEY_LEN: usize = 32;
/// File ID, metadata and the v3 cipher initialisation: 16 + 16 + 104.
pub const V3_LEN: usize = 32 + 3 * SALT_LEN + VALIDATION_KEY_LEN + secretstream::HEADER_BYTES;

/// The format generation of an encrypted inner archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// AES-128-CBC with no header but its salt (securetar before 2025).
    V1,
    /// AES-128-CBC behind a `SecureTar` header (securetar 2025).
    V2,
    /// XChaCha20-Poly1305 secretstream with Argon2id and per-archive keys (securetar 2026).
    V3,
}

pub enum Header {
    V1 { salt: [u8; SALT_LEN] },
    V2 { plaintext_size: u64, salt: [u8; SALT_LEN] },
    V3(V3Header),
}

/// What a v3 header holds; the three root fields are the same in every archive of a backup.
#[derive(Clone)]
pub struct V3Header {
    pub plaintext_size: u64,
    pub root_salt: [u8; SALT_LEN],
    pub validation_salt: [u8; SALT_LEN],
    pub validation_key: [u8; VALIDATION_KEY_LEN],
    pub derivation_salt: [u8; SALT_LEN],
    pub stream_header: [u8; secretstream::HEADER_BYTES],
}

impl V3Header {
    pub fn to_bytes(&self) -> [u8; V3_LEN] {
        let mut bytes = [0u8; V3_LEN];
        bytes[..MAGIC.len()].copy_from_slice(MAGIC);
        bytes[MAGIC.len()] = 3;
        bytes[16..24].copy_from_slice(&self.plaintext_size.to_be_bytes());
        let fields: [&[u8]; 5] =
            [&self.root_salt, &self.validation_salt, &self.validation_key, &self.derivation_salt, &self.stream_header];
        let mut at = 32;
        for field in fields {
            bytes[at..at + field.len()].copy_from_slice(field);
            at += field.len();
        }
        bytes
    }
}

impl Header {
    /// Reads the header from the start of `reader`, leaving it at the first ciphertext byte.
    pub fn read(reader: &mut impl Read) -> Result<Header, Error> {
        let id: [u8; 16] = read_array(reader)?;
        if &id[..MAGIC.len()] != MAGIC {
            return Ok(Header::V1 { salt: id });
        }
        let version = id[MAGIC.len()];
        if version != 2 && version != 3 {
            return Err(Error::UnsupportedVersion(version));
        }
        if id[MAGIC.len() + 1..].iter().any(|&byte| byte != 0) {
            return Err(Error::InvalidHeader("reserved bytes of the file ID are not zero"));
        }
        let metadata: [u8; 16] = read_array(reader)?;
        let plaintext_size = u64::from_be_bytes(metadata[..8].try_into().expect("8 bytes"));
        if version == 2 {
            return Ok(Header::V2 { plaintext_size, salt: read_array(reader)? });
        }
        Ok(Header::V3(V3Header {
            plaintext_size,
            root_salt: read_array(reader)?,
            validation_salt: read_array(reader)?,
            validation_key: read_array(reader)?,
            derivation_salt: read_array(reader)?,
            stream_header: read_array(reader)?,
        }))
    }

    pub fn version(&self) -> Version {
        match self {
            Header::V1 { .. } => Version::V1,
            Header::V2 { .. } => Version::V2,
            Header::V3(_) => Version::V3,
        }
    }
}

/// `N` bytes, or [`Error::Truncated`] if the stream ends first.
pub fn read_array<const N: usize>(reader: &mut impl Read) -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    reader.read_exact(&mut bytes).map_err(|err| match err.kind() {
        io::ErrorKind::UnexpectedEof => Error::Truncated,
        _ => Error::Io(err),
    })?;
    Ok(bytes)
}
