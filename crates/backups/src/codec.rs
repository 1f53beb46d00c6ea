//! The layers of an inner archive: a tar, compressed, maybe encrypted (compression inside the
//! encryption, as the real Supervisor does). We write zstd; we read zstd, gzip (what the Python
//! Supervisor writes) and plain tar, told apart by their first bytes, so a backup's file names
//! never decide how its data is read.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};

/// zstd's level for backups: `zstd -3`, the command-line tool's default.
const ZSTD_LEVEL: i32 = 3;
const BUFFER: usize = 1 << 20;
/// The input of one multithreaded zstd job.
const JOB_SIZE: u32 = 1 << 20;
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A writer that has an end to write (a compressor's last frame, a cipher's final tag).
pub trait Sink: Write {
    /// Writes the end. Returns what must replace the first bytes of the output, known only now
    /// (the encryption header's plaintext size), for the caller to patch in.
    fn finish(self: Box<Self>) -> io::Result<Option<Vec<u8>>>;
}

impl<W: Write> Sink for BufWriter<W> {
    fn finish(mut self: Box<Self>) -> io::Result<Option<Vec<u8>>> {
        self.flush()?;
        Ok(None)
    }
}

impl<'a> Sink for zstd::Encoder<'static, Box<dyn Sink + Send + 'a>> {
    fn finish(self: Box<Self>) -> io::Result<Option<Vec<u8>>> {
        (*self).finish()?.finish()
    }
}

impl<'a> Sink for securetar::Encryptor<Box<dyn Sink + Send + 'a>> {
    fn finish(self: Box<Self>) -> io::Result<Option<Vec<u8>>> {
        let finished = (*self).finish()?;
        let header = finished.header().to_vec();
        finished.inner.finish()?;
        Ok(Some(header))
    }
}

/// The writer of an inner archive's bytes into `out`: compressed when asked, encrypted with
/// `key` when there is one.
pub fn encoder<'a, W: Write + Send + 'a>(
    out: W,
    compressed: bool,
    key: Option<&securetar::RootKey>,
) -> io::Result<Box<dyn Sink + Send + 'a>> {
    let mut sink: Box<dyn Sink + Send + 'a> = Box::new(BufWriter::with_capacity(BUFFER, out));
    if let Some(key) = key {
        sink = Box::new(securetar::Encryptor::new(sink, key).map_err(io::Error::from)?);
    }
    if compressed {
        let mut encoder = zstd::Encoder::new(sink, ZSTD_LEVEL)?;
        // Restores check it: a damaged archive fails before anything is swapped in.
        encoder.include_checksum(true)?;
        // Reading files and encrypting keep one core busy; zstd workers take the others but one,
        // which stays free for the API (with fewer than three cores, the reading thread
        // compresses too). Even at SCHED_IDLE, a backup on both cores of a 2-core machine made
        // the API's p99 1.2-2.4x its idle figure (0.35 ms); on one core it was 1.6x (0.27 ms),
        // and the backup kept its pace against `tar | zstd -3` (1.11x against 1.10x).
        let workers = (std::thread::available_parallelism().map_or(1, |n| n.get()) as u32).saturating_sub(2);
        if workers > 0 {
            encoder.multithread(workers)?;
            // zstd's default job at level 3 is 8 MiB, and it buffers several per worker (about
            // 70 MiB with 2 workers); 1 MiB jobs take about 15 MiB and compress within 1% as well.
            encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(JOB_SIZE))?;
        }
        sink = Box::new(encoder);
    }
    Ok(sink)
}

/// The reader of an inner archive's tar from its stored bytes: decrypted with `password` when given,
/// then decompressed by what its first bytes say.
pub fn decoder<'a, R: Read + Send + 'a>(
    stored: R,
    password: Option<&securetar::Password>,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    let plain: Box<dyn Read + Send + 'a> = match password {
        Some(password) => Box::new(securetar::Decryptor::new(stored, password).map_err(io::Error::from)?),
        None => Box::new(stored),
    };
    let mut buffered = BufReader::with_capacity(BUFFER, plain);
    let head = buffered.fill_buf()?;
    Ok(if head.starts_with(&ZSTD_MAGIC) {
        Box::new(zstd::Decoder::with_buffer(buffered)?)
    } else if head.starts_with(&GZIP_MAGIC) {
        Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    })
}

/// Whether an error of [`decoder`]'s reader means the password is wrong.
pub fn is_wrong_password(error: &io::Error) -> bool {
    matches!(securetar::Error::of(error), Some(securetar::Error::WrongPassword))
}
