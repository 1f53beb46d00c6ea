//! [`OuterArchive`]: a backup's outer tar, written in one pass. Its members are the inner
//! archives, compressed and maybe encrypted on the fly, so their size is known only at their end:
//! [`MemberWriter`] leaves room for the header, streams the data into the file, then goes back
//! and writes the header with the size. Nothing is staged in memory or in a temporary file.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

const BLOCK: u64 = 512;

/// A tar file being written; [`OuterArchive::finish`] ends and syncs it.
pub struct OuterArchive {
    file: File,
    mtime: u64,
}

impl OuterArchive {
    /// Writes members into `file` (empty, opened for writing) with `mtime` on every header.
    pub fn new(file: File, mtime: u64) -> OuterArchive {
        OuterArchive { file, mtime }
    }

    /// A member whose content is `data`.
    pub fn add_bytes(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut member = self.member(name)?;
        member.write_all(data)?;
        member.finish()
    }

    /// A member streamed through the returned writer; call [`MemberWriter::finish`].
    pub fn member(&mut self, name: &str) -> io::Result<MemberWriter<'_>> {
        let start = self.file.stream_position()?;
        self.file.write_all(&[0; BLOCK as usize])?;
        let header = header(name, 0, self.mtime)?;
        Ok(MemberWriter { file: &mut self.file, start, written: 0, header })
    }

    /// Ends the archive, flushes it to the disk and returns the file.
    pub fn finish(mut self) -> io::Result<File> {
        self.file.write_all(&[0; 2 * BLOCK as usize])?;
        self.file.sync_all()?;
        Ok(self.file)
    }
}

/// The data of one member of an [`OuterArchive`].
pub struct MemberWriter<'a> {
    file: &'a mut File,
    start: u64,
    written: u64,
    header: tar::Header,
}

impl MemberWriter<'_> {
    /// Pads the data to a block and fills in the header.
    pub fn finish(mut self) -> io::Result<()> {
        let padding = (BLOCK - self.written % BLOCK) % BLOCK;
        self.file.write_all(&vec![0; padding as usize])?;
        let end = self.file.stream_position()?;
        self.header.set_size(self.written);
        self.header.set_cksum();
        self.file.seek(SeekFrom::Start(self.start))?;
        self.file.write_all(self.header.as_bytes())?;
        self.file.seek(SeekFrom::Start(end))?;
        Ok(())
    }

    /// Replaces the first bytes of the data written so far (a header known only at the end).
    pub fn overwrite_start(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() as u64 > self.written {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "overwriting more than was written"));
        }
        let end = self.file.stream_position()?;
        self.file.seek(SeekFrom::Start(self.start + BLOCK))?;
        self.file.write_all(bytes)?;
        self.file.seek(SeekFrom::Start(end))?;
        Ok(())
    }

    /// Bytes of data written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

impl Write for MemberWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.file.write(buf)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A ustar header: every tar reader, Python's `tarfile` included, takes it. Member names are
/// ours and short, and written as given (the `tar` crate would drop a leading `./`).
fn header(name: &str, size: u64, mtime: u64) -> io::Result<tar::Header> {
    let mut header = tar::Header::new_ustar();
    let field = &mut header.as_ustar_mut().expect("a ustar header").name;
    if name.is_empty() || name.len() > field.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("member name '{name}' does not fit a tar header"),
        ));
    }
    field[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_size(size);
    header.set_cksum();
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TarReader;
    use std::io::Read;

    #[test]
    fn members_of_unknown_size_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backup.tar");
        let mut archive = OuterArchive::new(File::create(&path).unwrap(), 1_700_000_000);
        archive.add_bytes("./backup.json", b"{}").unwrap();
        let mut member = archive.member("./share.tar.zst").unwrap();
        for _ in 0..100 {
            member.write_all(&[42; 1000]).unwrap();
        }
        assert_eq!(member.written(), 100_000);
        member.finish().unwrap();
        archive.finish().unwrap();

        let mut reader = TarReader::new(File::open(&path).unwrap());
        let first = reader.next_entry().unwrap().unwrap();
        assert_eq!(first.path.to_str(), Some("./backup.json"));
        let mut json = String::new();
        reader.read_to_string(&mut json).unwrap();
        assert_eq!(json, "{}");
        let second = reader.next_entry().unwrap().unwrap();
        assert_eq!(
            (second.path.to_str(), second.size, second.mtime),
            (Some("./share.tar.zst"), 100_000, 1_700_000_000)
        );
        let mut data = Vec::new();
        reader.read_to_end(&mut data).unwrap();
        assert!(data.iter().all(|&b| b == 42) && data.len() == 100_000);
        assert!(reader.next_entry().unwrap().is_none());
    }
}
