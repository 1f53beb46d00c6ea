//! Writing one inner archive into a backup's outer tar: metadata files and directory trees,
//! through the codec (compression, encryption) straight into the outer member, with progress.
//! Runs on a blocking thread: it is file and CPU work.

use crate::codec;
use archive::{pack_dir, OuterArchive};
use jobs::Job;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A directory tree to add, under `name` in the archive, minus what `exclude` says.
pub struct Tree {
    pub source: PathBuf,
    pub name: PathBuf,
    pub exclude: Box<dyn Fn(&Path) -> bool + Send + Sync>,
}

impl Tree {
    pub fn all(source: PathBuf, name: &str) -> Tree {
        Tree { source, name: PathBuf::from(name), exclude: Box::new(|_| false) }
    }
}

/// Progress of a whole backup, measured in bytes of data read against an estimate.
pub struct Progress {
    job: Job,
    total: u64,
    done: AtomicU64,
    /// The share of the job before (start) this work and the share it covers.
    span: (f64, f64),
}

impl Progress {
    pub fn new(job: Job, total: u64, span: (f64, f64)) -> Progress {
        Progress { job, total: total.max(1), done: AtomicU64::new(0), span }
    }

    fn advance(&self, bytes: u64) {
        const STEP: u64 = 8 << 20;
        let before = self.done.fetch_add(bytes, Ordering::Relaxed);
        if before / STEP != (before + bytes) / STEP {
            let share = ((before + bytes) as f64 / self.total as f64).min(1.0);
            self.job.set_progress(self.span.0 + share * self.span.1);
        }
    }
}

/// Counts the uncompressed bytes going into the archive.
struct Counting<'p, W> {
    inner: W,
    progress: &'p Progress,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.progress.advance(written as u64);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What one inner archive holds.
#[derive(Default)]
pub struct Contents {
    /// Metadata files: name in the archive and contents.
    pub files: Vec<(String, Vec<u8>)>,
    /// Files taken from the disk: name in the archive and path.
    pub disk_files: Vec<(String, PathBuf)>,
    pub trees: Vec<Tree>,
}

/// Adds the inner archive `member` (metadata files, files from the disk, then trees)
/// to `outer`. Returns the stored size. Runs as background work ([`crate::background`]).
pub fn write_part(
    outer: &mut OuterArchive,
    member: &str,
    compressed: bool,
    key: Option<&securetar::RootKey>,
    contents: &Contents,
    progress: &Progress,
) -> io::Result<u64> {
    crate::background::run("backup", || pack_part(outer, member, compressed, key, contents, progress))?
}

fn pack_part(
    outer: &mut OuterArchive,
    member: &str,
    compressed: bool,
    key: Option<&securetar::RootKey>,
    contents: &Contents,
    progress: &Progress,
) -> io::Result<u64> {
    let mut writer = outer.member(member)?;
    let sink = codec::encoder(&mut writer, compressed, key)?;
    let mut builder = tar::Builder::new(Counting { inner: sink, progress });
    let mtime = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    for (name, data) in &contents.files {
        let mut header = tar::Header::new_gnu();
        header.set_path(name)?;
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(mtime);
        header.set_cksum();
        builder.append(&header, &data[..])?;
    }
    for (name, path) in &contents.disk_files {
        builder.append_path_with_name(path, name)?;
    }
    for tree in &contents.trees {
        pack_dir(&mut builder, &tree.source, &tree.name, &*tree.exclude)?;
    }
    let start = builder.into_inner()?.inner.finish()?;
    let stored = writer.written();
    if let Some(start) = start {
        writer.overwrite_start(&start)?;
    }
    writer.finish()?;
    Ok(stored)
}

/// The bytes under `dir` (an estimate for progress; unreadable parts count as nothing).
pub fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => tree_size(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
