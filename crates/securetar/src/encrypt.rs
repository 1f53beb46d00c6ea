//! Writing a v3 encrypted inner archive: the header, then the plaintext cut into 1 MiB messages
//! of the secretstream, the last one tagged FINAL, exactly as the Python library cuts them (its
//! reader expects that layout, computed from the header's plaintext size).

use crate::header::{V3Header, V3_LEN};
use crate::keys::{random, RootKey};
use crate::secretstream::{self, State};
use crate::{Error, CHUNK_SIZE};
use std::io::{self, Seek, SeekFrom, Write};

/// Encrypts what is written to it into `W`, holding at most one 1 MiB message in memory.
///
/// Call [`Encryptor::finish`]: a stream dropped without it has no FINAL message and every reader
/// rejects it as truncated. The header's plaintext size is only known at the end; a seekable
/// output rewrites it with [`Finished::rewrite_header`], others either announce the size up
/// front ([`Encryptor::with_plaintext_size`]) or patch [`Finished::header`] in themselves.
pub struct Encryptor<W: Write> {
    inner: W,
    state: State,
    header: V3Header,
    announced: Option<u64>,
    /// `[tag][message of up to CHUNK_SIZE][MAC]`, encrypted in place.
    message: Vec<u8>,
    filled: usize,
    plaintext_size: u64,
    encrypted_size: u64,
}

/// A completed stream.
pub struct Finished<W> {
    pub inner: W,
    /// Bytes written to the encryptor.
    pub plaintext_size: u64,
    /// Bytes written to `inner`: header and ciphertext.
    pub encrypted_size: u64,
    header: [u8; V3_LEN],
}

impl<W: Write> Encryptor<W> {
    /// Starts a stream under a fresh key of its own, derived from `root` (one per backup); the
    /// header written now says 0 bytes until it is rewritten.
    pub fn new(inner: W, root: &RootKey) -> Result<Encryptor<W>, Error> {
        Encryptor::start(inner, root, None)
    }

    /// Starts a stream whose plaintext will be exactly `plaintext_size` bytes, so that the header
    /// written now is final; [`Encryptor::finish`] fails if a different amount was written.
    pub fn with_plaintext_size(inner: W, root: &RootKey, plaintext_size: u64) -> Result<Encryptor<W>, Error> {
        Encryptor::start(inner, root, Some(plaintext_size))
    }

    fn start(mut inner: W, root: &RootKey, announced: Option<u64>) -> Result<Encryptor<W>, Error> {
        let header = V3Header {
            plaintext_size: announced.unwrap_or(0),
            root_salt: root.root_salt,
            validation_salt: root.validation_salt,
            validation_key: root.validation_key,
            derivation_salt: random()?,
            stream_header: random()?,
        };
        let state = State::new(&root.archive_key(&header.derivation_salt), &header.stream_header);
        inner.write_all(&header.to_bytes())?;
        Ok(Encryptor {
            inner,
            state,
            header,
            announced,
            message: vec![0; CHUNK_SIZE + secretstream::A_BYTES],
            filled: 0,
            plaintext_size: 0,
            encrypted_size: V3_LEN as u64,
        })
    }

    /// Encrypts and writes what is buffered as one message.
    fn push(&mut self, tag: u8) -> io::Result<()> {
        let message = &mut self.message[..self.filled + secretstream::A_BYTES];
        self.state.push(message, tag);
        self.inner.write_all(message)?;
        self.encrypted_size += message.len() as u64;
        self.filled = 0;
        Ok(())
    }

    /// Writes the FINAL message and returns the output with the final header.
    pub fn finish(mut self) -> Result<Finished<W>, Error> {
        if let Some(announced) = self.announced {
            if announced != self.plaintext_size {
                return Err(Error::SizeMismatch { announced, written: self.plaintext_size });
            }
        }
        self.push(secretstream::TAG_FINAL)?;
        self.header.plaintext_size = self.plaintext_size;
        Ok(Finished {
            header: self.header.to_bytes(),
            inner: self.inner,
            plaintext_size: self.plaintext_size,
            encrypted_size: self.encrypted_size,
        })
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        // A full message goes out only once more data follows: the last one must be FINAL, and
        // Python's reader expects a stream of exactly n MiB to end with a full FINAL message.
        if self.filled == CHUNK_SIZE {
            self.push(secretstream::TAG_MESSAGE)?;
        }
        let n = data.len().min(CHUNK_SIZE - self.filled);
        if let Some(announced) = self.announced {
            if self.plaintext_size + n as u64 > announced {
                let written = self.plaintext_size + n as u64;
                return Err(Error::SizeMismatch { announced, written }.into());
            }
        }
        self.message[1 + self.filled..1 + self.filled + n].copy_from_slice(&data[..n]);
        self.filled += n;
        self.plaintext_size += n as u64;
        Ok(n)
    }

    /// Flushes the output; the message being filled stays buffered until it is complete.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Finished<W> {
    /// The header with the final plaintext size, for the first [`crate::V3_HEADER_LEN`] bytes of the stream.
    pub fn header(&self) -> &[u8] {
        &self.header
    }
}

impl<W: Write + Seek> Finished<W> {
    /// Rewrites the header at the start of the stream (`encrypted_size` bytes back) and returns
    /// the output positioned at the stream's end again.
    pub fn rewrite_header(mut self) -> io::Result<W> {
        let offset = i64::try_from(self.encrypted_size).map_err(io::Error::other)?;
        self.inner.seek(SeekFrom::Current(-offset))?;
        self.inner.write_all(&self.header)?;
        self.inner.seek(SeekFrom::Current(offset - V3_LEN as i64))?;
        Ok(self.inner)
    }
}
