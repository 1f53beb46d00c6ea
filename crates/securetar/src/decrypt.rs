//! Reading an encrypted inner archive of any version, told apart by its header.
//!
//! v3 is authenticated message by message and its end is known from the header's plaintext
//! size, so a wrong password, altered bytes or a cut stream are errors, never short data.
//! v1/v2 (AES-128-CBC) carry no MAC: the password is judged, as the Python library does, by the
//! first decrypted block looking like gzip or tar; v2's PKCS#7 padding and plaintext size are
//! checked at the end. v1 writers padded every unaligned write of the tar layer on its own (the
//! gzip trailer's fields included), so its final padding is removed only where it is valid.

use crate::header::{Header, V3Header};
use crate::keys::{legacy_iv, Password};
use crate::secretstream::{self, State};
use crate::{Error, Version, CHUNK_SIZE};
use aes::cipher::inout::InOutBuf;
use aes::cipher::{BlockDecryptMut, KeyIvInit};
use aes::Aes128;
use std::io::{self, Read};

const AES_BLOCK: usize = 16;
/// Decrypted bytes the v1/v2 password check looks at, as the Python library does.
const CHECK_LEN: usize = 512;
const LEGACY_BUFFER: usize = 256 * 1024;

/// Decrypts the inner archive read from `R`. It reads the header and checks the password when
/// created; reading then yields the plaintext, or an [`io::Error`] carrying an [`Error`]
/// ([`Error::of`]) if the stream is cut short or altered.
///
/// `R` must end where the archive ends (e.g. the outer tar's entry): v1/v2 are read to its EOF.
pub struct Decryptor<R: Read> {
    inner: R,
    version: Version,
    plaintext_size: Option<u64>,
    body: Body,
    /// Set by a failed read: later reads fail too rather than serve what follows the damage.
    failed: Option<io::ErrorKind>,
}

enum Body {
    V3(Stream),
    // The AES key schedules are large.
    Legacy(Box<Legacy>),
}

impl<R: Read> Decryptor<R> {
    pub fn new(mut inner: R, password: &Password) -> Result<Decryptor<R>, Error> {
        let header = Header::read(&mut inner)?;
        let version = header.version();
        let (plaintext_size, body) = match header {
            Header::V3(header) => (Some(header.plaintext_size), Body::V3(Stream::new(&header, password)?)),
            Header::V2 { plaintext_size, salt } => {
                // 0: written by a writer that could not seek back to fill it in.
                let size = (plaintext_size != 0).then_some(plaintext_size);
                (size, Body::Legacy(Box::new(Legacy::new(password.legacy_key(), &salt, true, size))))
            }
            Header::V1 { salt } => {
                (None, Body::Legacy(Box::new(Legacy::new(password.legacy_key(), &salt, false, None))))
            }
        };
        let mut decryptor = Decryptor { inner, version, plaintext_size, body, failed: None };
        if let Body::Legacy(legacy) = &mut decryptor.body {
            legacy.check_password(&mut decryptor.inner)?;
        }
        Ok(decryptor)
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The plaintext size the header announces (v3 always; v2 when its writer filled it in).
    pub fn plaintext_size(&self) -> Option<u64> {
        self.plaintext_size
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(kind) = self.failed {
            return Err(io::Error::new(kind, "an earlier read of the encrypted archive failed"));
        }
        if out.is_empty() {
            return Ok(0);
        }
        let result = match &mut self.body {
            Body::V3(stream) => stream.read(&mut self.inner, out),
            Body::Legacy(legacy) => legacy.read(&mut self.inner, out),
        };
        result.map_err(|err| {
            let err = io::Error::from(err);
            if err.kind() != io::ErrorKind::Interrupted {
                self.failed = Some(err.kind());
            }
            err
        })
    }
}

/// Copies what `buffer[*pos..end]` holds into `out`.
fn serve(buffer: &[u8], pos: &mut usize, end: usize, out: &mut [u8]) -> usize {
    let n = out.len().min(end - *pos);
    out[..n].copy_from_slice(&buffer[*pos..*pos + n]);
    *pos += n;
    n
}

/// The v3 secretstream, one message at a time.
struct Stream {
    state: State,
    /// Plaintext bytes of messages not read yet.
    remaining: u64,
    done: bool,
    /// The current message, decrypted in place; its plaintext is `message[pos..end]`.
    message: Vec<u8>,
    pos: usize,
    end: usize,
}

impl Stream {
    fn new(header: &V3Header, password: &Password) -> Result<Stream, Error> {
        let root = password.root_key(header)?;
        let state = State::new(&root.archive_key(&header.derivation_salt), &header.stream_header);
        Ok(Stream { state, remaining: header.plaintext_size, done: false, message: Vec::new(), pos: 0, end: 0 })
    }

    fn read(&mut self, inner: &mut impl Read, out: &mut [u8]) -> Result<usize, Error> {
        while self.pos == self.end {
            if self.done {
                return Ok(0);
            }
            self.next_message(inner)?;
        }
        Ok(serve(&self.message, &mut self.pos, self.end, out))
    }

    /// Reads, authenticates and decrypts the next message; its length follows from the plaintext
    /// still to come, as the writer cut full messages until the last.
    fn next_message(&mut self, inner: &mut impl Read) -> Result<(), Error> {
        let len = usize::try_from(self.remaining.min(CHUNK_SIZE as u64)).expect("at most CHUNK_SIZE");
        let last = self.remaining <= CHUNK_SIZE as u64;
        self.message.resize(len + secretstream::A_BYTES, 0);
        inner.read_exact(&mut self.message).map_err(|err| match err.kind() {
            io::ErrorKind::UnexpectedEof => Error::Truncated,
            _ => Error::Io(err),
        })?;
        let tag = self.state.pull(&mut self.message).map_err(|_| Error::Corrupt("a message fails authentication"))?;
        match (tag == secretstream::TAG_FINAL, last) {
            (true, false) => return Err(Error::Corrupt("the stream ends before its announced size")),
            (false, true) => return Err(Error::Corrupt("the last message is not tagged final")),
            _ => {}
        }
        self.remaining -= len as u64;
        self.done = last;
        self.pos = 1;
        self.end = 1 + len;
        Ok(())
    }
}

/// v1/v2: AES-128-CBC read to the end of the input.
struct Legacy {
    cipher: cbc::Decryptor<Aes128>,
    /// v2: PKCS#7 padding must be valid; v1: removed only where valid.
    strict: bool,
    expected: Option<u64>,
    /// `buffer[pos..ready]` is plaintext to serve, `buffer[ready..filled]` ciphertext not yet
    /// decrypted: the last whole block is held back until the end shows whether it is padded.
    buffer: Vec<u8>,
    pos: usize,
    ready: usize,
    filled: usize,
    eof: bool,
    decrypted: u64,
}

impl Legacy {
    fn new(key: &[u8; 16], salt: &[u8; 16], strict: bool, expected: Option<u64>) -> Legacy {
        Legacy {
            cipher: cbc::Decryptor::new(key.into(), &legacy_iv(key, salt).into()),
            strict,
            expected,
            buffer: vec![0; LEGACY_BUFFER],
            pos: 0,
            ready: 0,
            filled: 0,
            eof: false,
            decrypted: 0,
        }
    }

    /// Decrypts the first 512 bytes and checks they start a gzip stream or a tar archive, which
    /// random bytes from a wrong key do not.
    fn check_password(&mut self, inner: &mut impl Read) -> Result<(), Error> {
        let mut filled = Ok(());
        while filled.is_ok() && self.ready < CHECK_LEN && !self.eof {
            filled = self.fill(inner);
        }
        // A short archive's padding is checked on the way: a wrong key fails that too, and is
        // told as such.
        if let Err(Error::Io(_)) = filled {
            return filled;
        }
        let head = &self.buffer[..self.ready.min(CHECK_LEN)];
        let gzip = head.starts_with(&[0x1f, 0x8b, 0x08]);
        let tar = head.get(257..262) == Some(b"ustar");
        // An empty tar archive is nothing but zero blocks.
        let empty_tar = head.len() == CHECK_LEN && head.iter().all(|&byte| byte == 0);
        if gzip || tar || empty_tar {
            filled
        } else {
            Err(Error::WrongPassword)
        }
    }

    fn read(&mut self, inner: &mut impl Read, out: &mut [u8]) -> Result<usize, Error> {
        while self.pos == self.ready {
            if self.eof {
                return Ok(0);
            }
            self.fill(inner)?;
        }
        Ok(serve(&self.buffer, &mut self.pos, self.ready, out))
    }

    /// Reads more ciphertext and decrypts what can be.
    fn fill(&mut self, inner: &mut impl Read) -> Result<(), Error> {
        // Keep what is unread (plaintext during the password check, else only held-back
        // ciphertext) at the front.
        self.buffer.copy_within(self.pos..self.filled, 0);
        self.ready -= self.pos;
        self.filled -= self.pos;
        self.pos = 0;
        let n = loop {
            match inner.read(&mut self.buffer[self.filled..]) {
                Ok(n) => break n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(Error::Io(err)),
            }
        };
        self.filled += n;
        let pending = self.filled - self.ready;
        if n > 0 {
            let hold = match pending % AES_BLOCK {
                0 => AES_BLOCK.min(pending),
                partial => partial,
            };
            self.decrypt(pending - hold);
            return Ok(());
        }
        self.eof = true;
        if !pending.is_multiple_of(AES_BLOCK) {
            return Err(Error::Truncated);
        }
        self.decrypt(pending);
        self.unpad()
    }

    /// Decrypts `len` (whole blocks) bytes of pending ciphertext in place.
    fn decrypt(&mut self, len: usize) {
        let (blocks, tail) = InOutBuf::from(&mut self.buffer[self.ready..self.ready + len]).into_chunks();
        debug_assert!(tail.is_empty());
        self.cipher.decrypt_blocks_inout_mut(blocks);
        self.ready += len;
        self.decrypted += len as u64;
    }

    /// At the end: removes the padding and checks the size.
    fn unpad(&mut self) -> Result<(), Error> {
        if let Some(expected) = self.expected {
            // There is always at least one byte of padding.
            if self.decrypted <= expected {
                return Err(Error::Truncated);
            }
        }
        let plaintext = &self.buffer[self.pos..self.ready];
        let padding = plaintext.last().copied().map_or(0, usize::from);
        let valid = (1..=AES_BLOCK).contains(&padding)
            && padding <= plaintext.len()
            && plaintext[plaintext.len() - padding..].iter().all(|&byte| usize::from(byte) == padding);
        match (valid, self.strict) {
            (true, _) => {
                self.ready -= padding;
                self.decrypted -= padding as u64;
            }
            (false, true) => return Err(Error::Corrupt("invalid padding at the end")),
            (false, false) => {}
        }
        match self.expected {
            Some(expected) if expected != self.decrypted => {
                Err(Error::Corrupt("the plaintext size differs from the header's"))
            }
            _ => Ok(()),
        }
    }
}
