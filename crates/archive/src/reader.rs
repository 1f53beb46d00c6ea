//! [`TarReader`]: a streaming reader of ustar, GNU and PAX archives for untrusted input.
//!
//! Ours rather than the `tar` crate's because that one reads GNU long names and PAX headers
//! into memory whatever their size: a few bytes of compressed zeros would make it allocate
//! gigabytes. Here every extension header is refused above [`HEADER_LIMIT`], checksums are
//! verified, and a PAX `size` (files over 8 GiB) is honoured.

use crate::ArchiveError;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

const BLOCK: usize = 512;
/// The largest PAX or GNU long-name header accepted: far beyond any real path.
pub const HEADER_LIMIT: u64 = 64 * 1024;

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Directory,
    Symlink,
    HardLink,
    /// A character or block device or a FIFO: refused by [`crate::unpack`].
    Special,
}

/// One entry's header, with its extensions applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// As written in the archive (often starting with `./`).
    pub path: PathBuf,
    pub kind: Kind,
    /// The data's length (0 for anything but files).
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// The target of a link.
    pub link: Option<PathBuf>,
}

/// Reads entries one after the other; [`Read`] gives the current entry's data.
pub struct TarReader<R> {
    inner: R,
    /// Data of the current entry not yet read.
    remaining: u64,
    /// Padding after the current entry's data.
    padding: u64,
    finished: bool,
}

/// What the extension headers before an entry said.
#[derive(Default)]
struct Extensions {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    mtime: Option<i64>,
    uid: Option<u64>,
    gid: Option<u64>,
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R) -> TarReader<R> {
        TarReader { inner, remaining: 0, padding: 0, finished: false }
    }

    /// The next entry, skipping what is left of the current one; `None` at the end.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ArchiveError> {
        if self.finished {
            return Ok(None);
        }
        self.skip_rest()?;
        let mut extensions = Extensions::default();
        loop {
            let Some(block) = self.read_header()? else {
                self.finished = true;
                return Ok(None);
            };
            let header = Header(&block);
            let size = header.size()?;
            let typeflag = block[156];
            match typeflag {
                b'x' | b'g' | b'L' | b'K' => {
                    if size > HEADER_LIMIT {
                        return Err(ArchiveError::OversizeHeader {
                            path: header.path_lossy(),
                            size,
                            limit: HEADER_LIMIT,
                        });
                    }
                    let data = self.read_extension(size)?;
                    match typeflag {
                        b'x' => parse_pax(&data, &mut extensions)?,
                        b'L' => extensions.path = Some(trim_nul(&data).to_vec()),
                        b'K' => extensions.link = Some(trim_nul(&data).to_vec()),
                        // Global PAX headers describe the archive's defaults; nothing we honour.
                        _ => {}
                    }
                }
                _ => return self.entry(header, typeflag, size, extensions).map(Some),
            }
        }
    }

    fn entry(&mut self, header: Header<'_>, typeflag: u8, size: u64, ext: Extensions) -> Result<Entry, ArchiveError> {
        let path = PathBuf::from(std::ffi::OsString::from_vec(ext.path.unwrap_or_else(|| header.path())));
        let kind = match typeflag {
            b'0' | b'\0' | b'7' => Kind::File,
            b'5' => Kind::Directory,
            b'2' => Kind::Symlink,
            b'1' => Kind::HardLink,
            b'3' | b'4' | b'6' => Kind::Special,
            other => return Err(ArchiveError::Unsupported { path: path.display().to_string(), kind: other as char }),
        };
        let size = ext.size.unwrap_or(size);
        let link = match kind {
            Kind::Symlink | Kind::HardLink => {
                Some(PathBuf::from(std::ffi::OsString::from_vec(ext.link.unwrap_or_else(|| header.link()))))
            }
            _ => None,
        };
        // Only files carry data we hand out; anything else that claims some has it skipped.
        let data = if kind == Kind::File { size } else { 0 };
        self.remaining = size;
        self.padding = padding(size);
        Ok(Entry {
            path,
            kind,
            size: data,
            mode: header.number(100, 8)? as u32,
            uid: ext.uid.map_or_else(|| header.number(108, 8), Ok)?,
            gid: ext.gid.map_or_else(|| header.number(116, 8), Ok)?,
            mtime: ext.mtime.map_or_else(|| header.number(136, 12).map(|t| t as i64), Ok)?,
            link,
        })
    }

    /// The next header block; `None` at the end-of-archive marker (a zero block) or at a clean
    /// end of the stream between entries.
    fn read_header(&mut self) -> Result<Option<[u8; BLOCK]>, ArchiveError> {
        let mut block = [0u8; BLOCK];
        let mut filled = 0;
        while filled < BLOCK {
            match self.inner.read(&mut block[filled..]) {
                Ok(0) if filled == 0 => return Ok(None),
                Ok(0) => return Err(ArchiveError::Truncated),
                Ok(n) => filled += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(ArchiveError::from_read(error)),
            }
        }
        if block.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        Header(&block).verify_checksum()?;
        Ok(Some(block))
    }

    fn read_extension(&mut self, size: u64) -> Result<Vec<u8>, ArchiveError> {
        let mut data = vec![0; size as usize];
        self.inner.read_exact(&mut data).map_err(ArchiveError::from_read)?;
        self.discard(padding(size))?;
        Ok(data)
    }

    fn skip_rest(&mut self) -> Result<(), ArchiveError> {
        let rest = self.remaining + self.padding;
        self.remaining = 0;
        self.padding = 0;
        self.discard(rest)
    }

    fn discard(&mut self, count: u64) -> Result<(), ArchiveError> {
        let copied = io::copy(&mut (&mut self.inner).take(count), &mut io::sink()).map_err(ArchiveError::from_read)?;
        if copied < count {
            return Err(ArchiveError::Truncated);
        }
        Ok(())
    }
}

/// One member of an archive read with [`members`]: where its data is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub entry: Entry,
    /// Offset of the data in the file.
    pub offset: u64,
}

/// The members of a seekable archive (a backup's outer tar), without reading their data.
pub fn members<R: Read + Seek>(file: R) -> Result<Vec<Member>, ArchiveError> {
    let mut reader = TarReader::new(file);
    let mut members = Vec::new();
    while let Some(entry) = reader.next_entry()? {
        let offset = reader.inner.stream_position()?;
        let end = offset + reader.remaining + reader.padding;
        if end > reader.inner.seek(SeekFrom::End(0))? {
            return Err(ArchiveError::Truncated);
        }
        reader.inner.seek(SeekFrom::Start(end))?;
        (reader.remaining, reader.padding) = (0, 0);
        members.push(Member { entry, offset });
    }
    Ok(members)
}

/// The current entry's data; an archive that ends inside it is an `UnexpectedEof` error.
impl<R: Read> Read for TarReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let limit = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..limit])?;
        if read == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated archive"));
        }
        self.remaining -= read as u64;
        Ok(read)
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn trim_nul(data: &[u8]) -> &[u8] {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    &data[..end]
}

/// PAX records: `<length> <key>=<value>\n`, each length counting the whole record.
fn parse_pax(mut data: &[u8], ext: &mut Extensions) -> Result<(), ArchiveError> {
    let corrupt = || ArchiveError::Corrupt("malformed PAX header".into());
    while !data.is_empty() {
        let space = data.iter().position(|&b| b == b' ').ok_or_else(corrupt)?;
        let length: usize =
            std::str::from_utf8(&data[..space]).ok().and_then(|n| n.parse().ok()).ok_or_else(corrupt)?;
        if length <= space + 1 || length > data.len() || data[length - 1] != b'\n' {
            return Err(corrupt());
        }
        let record = &data[space + 1..length - 1];
        let equals = record.iter().position(|&b| b == b'=').ok_or_else(corrupt)?;
        let (key, value) = (&record[..equals], &record[equals + 1..]);
        let number = || std::str::from_utf8(value).ok().and_then(|v| v.parse::<u64>().ok()).ok_or_else(corrupt);
        match key {
            b"path" => ext.path = Some(value.to_vec()),
            b"linkpath" => ext.link = Some(value.to_vec()),
            b"size" => ext.size = Some(number()?),
            b"uid" => ext.uid = Some(number()?),
            b"gid" => ext.gid = Some(number()?),
            b"mtime" => {
                // Fractional seconds are kept by the writer; whole seconds are what we restore.
                let text = std::str::from_utf8(value).map_err(|_| corrupt())?;
                let seconds = text.split('.').next().unwrap_or_default();
                ext.mtime = Some(seconds.parse().map_err(|_| corrupt())?);
            }
            _ => {}
        }
        data = &data[length..];
    }
    Ok(())
}

/// One header block's fields.
struct Header<'a>(&'a [u8; BLOCK]);

impl Header<'_> {
    fn field(&self, start: usize, len: usize) -> &[u8] {
        trim_nul(&self.0[start..start + len])
    }

    /// The path: ustar's prefix joined to the name.
    fn path(&self) -> Vec<u8> {
        let name = self.field(0, 100);
        let is_ustar = &self.0[257..263] == b"ustar\0";
        let prefix = if is_ustar { self.field(345, 155) } else { &[][..] };
        if prefix.is_empty() {
            name.to_vec()
        } else {
            [prefix, b"/", name].concat()
        }
    }

    fn path_lossy(&self) -> String {
        String::from_utf8_lossy(&self.path()).into_owned()
    }

    fn link(&self) -> Vec<u8> {
        self.field(157, 100).to_vec()
    }

    fn size(&self) -> Result<u64, ArchiveError> {
        self.number(124, 12)
    }

    /// An octal number, or GNU's base-256 when the first byte's high bit is set.
    fn number(&self, start: usize, len: usize) -> Result<u64, ArchiveError> {
        let field = &self.0[start..start + len];
        if field[0] & 0x80 != 0 {
            if field[0] & 0x40 != 0 {
                return Err(ArchiveError::Corrupt(format!("negative number in the header of '{}'", self.path_lossy())));
            }
            let mut value: u64 = u64::from(field[0] & 0x3f);
            for &byte in &field[1..] {
                value = value.checked_shl(8).filter(|_| value >> 56 == 0).ok_or_else(|| {
                    ArchiveError::Corrupt(format!("number too large in the header of '{}'", self.path_lossy()))
                })? | u64::from(byte);
            }
            return Ok(value);
        }
        let text: Vec<u8> = field.iter().copied().filter(|b| !matches!(b, b' ' | b'\0')).collect();
        if text.is_empty() {
            return Ok(0);
        }
        let text = std::str::from_utf8(&text).ok().filter(|t| t.bytes().all(|b| (b'0'..=b'7').contains(&b)));
        text.and_then(|t| u64::from_str_radix(t, 8).ok())
            .ok_or_else(|| ArchiveError::Corrupt(format!("bad number in the header of '{}'", self.path_lossy())))
    }

    /// The checksum counts the checksum field as spaces; old writers summed signed bytes.
    fn verify_checksum(&self) -> Result<(), ArchiveError> {
        let stored = self.number(148, 8)?;
        let (mut unsigned, mut signed) = (0u64, 0i64);
        for (i, &byte) in self.0.iter().enumerate() {
            let byte = if (148..156).contains(&i) { b' ' } else { byte };
            unsigned += u64::from(byte);
            signed += i64::from(byte as i8);
        }
        if stored == unsigned || stored as i64 == signed {
            Ok(())
        } else {
            Err(ArchiveError::Corrupt("header checksum mismatch".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        builder.into_inner().unwrap()
    }

    fn header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        if !path.is_empty() {
            header.set_path(path).unwrap();
        }
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(0o640);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        header
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(Entry, Vec<u8>)>, ArchiveError> {
        let mut reader = TarReader::new(bytes);
        let mut out = Vec::new();
        while let Some(entry) = reader.next_entry()? {
            let mut data = Vec::new();
            reader.read_to_end(&mut data).map_err(ArchiveError::from_read)?;
            out.push((entry, data));
        }
        Ok(out)
    }

    #[test]
    fn reads_files_directories_links_and_long_names() {
        let long = format!("dir/{}/file.txt", "x".repeat(150));
        let bytes = archive(|b| {
            b.append(&header("dir/", tar::EntryType::Directory, 0), &[][..]).unwrap();
            b.append_data(&mut header("", tar::EntryType::Regular, 5), &long, &b"hello"[..]).unwrap();
            b.append_link(&mut header("", tar::EntryType::Symlink, 0), "dir/link", "file.txt").unwrap();
        });
        let entries = read_all(&bytes).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].0.kind, Kind::Directory);
        assert_eq!(entries[1].0.path, PathBuf::from(&long));
        assert_eq!(entries[1].0.mode, 0o640);
        assert_eq!(entries[1].0.mtime, 1_700_000_000);
        assert_eq!(entries[1].1, b"hello");
        assert_eq!(entries[2].0.kind, Kind::Symlink);
        assert_eq!(entries[2].0.link, Some(PathBuf::from("file.txt")));
    }

    #[test]
    fn skips_unread_data() {
        let bytes = archive(|b| {
            b.append_data(&mut header("", tar::EntryType::Regular, 700), "a", &[7u8; 700][..]).unwrap();
            b.append_data(&mut header("", tar::EntryType::Regular, 1), "b", &b"z"[..]).unwrap();
        });
        let mut reader = TarReader::new(&bytes[..]);
        assert_eq!(reader.next_entry().unwrap().unwrap().path, PathBuf::from("a"));
        let b = reader.next_entry().unwrap().unwrap();
        assert_eq!(b.path, PathBuf::from("b"));
        let mut data = String::new();
        reader.read_to_string(&mut data).unwrap();
        assert_eq!(data, "z");
        assert!(reader.next_entry().unwrap().is_none());
    }

    #[test]
    fn honours_pax_path_and_size() {
        let record = |key: &str, value: &str| {
            let body = format!(" {key}={value}\n");
            let mut length = body.len() + 1;
            while length.to_string().len() + body.len() != length {
                length = length.to_string().len() + body.len();
            }
            format!("{length}{body}")
        };
        let pax = format!("{}{}", record("path", "ünïcode/name"), record("size", "3"));
        let bytes = archive(|b| {
            b.append(&header("PaxHeader", tar::EntryType::XHeader, pax.len() as u64), pax.as_bytes()).unwrap();
            // The ustar size field says 0, as writers do when the real size does not fit.
            let mut file = header("short", tar::EntryType::Regular, 0);
            file.set_cksum();
            b.append(&file, &[][..]).unwrap();
        });
        // The data follows the header although the ustar field says 0: splice it in by hand.
        let mut bytes = bytes;
        let file_header_end = bytes.len() - 1024;
        bytes.splice(file_header_end..file_header_end, b"abc".iter().copied().chain(std::iter::repeat_n(0, 509)));
        let entries = read_all(&bytes).unwrap();
        assert_eq!(entries[0].0.path, PathBuf::from("ünïcode/name"));
        assert_eq!(entries[0].1, b"abc");
    }

    #[test]
    fn refuses_oversize_extension_headers() {
        let mut bytes = archive(|_| {});
        bytes.clear();
        bytes.extend_from_slice(header("././@LongLink", tar::EntryType::GNULongName, 1 << 40).as_bytes());
        let error = read_all(&bytes).unwrap_err();
        assert!(matches!(error, ArchiveError::OversizeHeader { size, .. } if size == 1 << 40), "{error}");
    }

    #[test]
    fn detects_truncation_and_corruption() {
        let bytes = archive(|b| {
            b.append_data(&mut header("", tar::EntryType::Regular, 2000), "big", &[1u8; 2000][..]).unwrap();
        });
        let error = read_all(&bytes[..1500]).unwrap_err();
        assert!(matches!(error, ArchiveError::Truncated), "{error}");
        let mut corrupt = bytes.clone();
        corrupt[10] ^= 0xff;
        assert!(matches!(read_all(&corrupt).unwrap_err(), ArchiveError::Corrupt(_)));
        let error = read_all(&bytes[..300]).unwrap_err();
        assert!(matches!(error, ArchiveError::Truncated), "{error}");
    }

    #[test]
    fn indexes_members_of_a_file() {
        let bytes = archive(|b| {
            b.append_data(&mut header("", tar::EntryType::Regular, 700), "a", &[7u8; 700][..]).unwrap();
            b.append_data(&mut header("", tar::EntryType::Regular, 3), "b", &b"xyz"[..]).unwrap();
        });
        let members = members(io::Cursor::new(&bytes)).unwrap();
        assert_eq!(members.len(), 2);
        let b = &members[1];
        assert_eq!(&bytes[b.offset as usize..][..b.entry.size as usize], b"xyz");
        assert!(matches!(super::members(io::Cursor::new(&bytes[..1000])), Err(ArchiveError::Truncated)));
    }

    #[test]
    fn reports_special_files() {
        let bytes = archive(|b| {
            b.append(&header("dev/sda", tar::EntryType::Block, 0), &[][..]).unwrap();
        });
        assert_eq!(read_all(&bytes).unwrap()[0].0.kind, Kind::Special);
    }
}
