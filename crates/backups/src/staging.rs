//! Restores are staged, then committed: every inner archive is unpacked (and so decrypted and
//! checked) into a staging directory first, and only when all of them are whole is a commit
//! record written and the staged trees swapped in by renames. A wrong password, a corrupt or
//! truncated archive, or a crash before the commit record leaves the current data untouched; a
//! crash after it is finished at the next start ([`recover`]), so a restore is all or nothing.

use base::fs::atomic_write;
use base::paths::beneath;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

const COMMIT: &str = "commit.json";

/// One tree to put in place: `staged` (relative to the staging directory) becomes `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swap {
    pub staged: PathBuf,
    pub target: PathBuf,
}

/// The staging directory of one restore, under `<data>/restore`.
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    /// A fresh, empty staging directory for `slug` under `root`.
    pub fn new(root: &Path, slug: &str) -> io::Result<Staging> {
        let dir = beneath(root, slug).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(dir.join("staged"))?;
        Ok(Staging { dir })
    }

    /// Where the inner archive of `part` is unpacked (created empty).
    pub fn part_dir(&self, part: &str) -> io::Result<PathBuf> {
        let dir = beneath(&self.dir.join("staged"), &part.replace('/', "_"))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// A path of the staging directory as a [`Swap`] records it.
    pub fn relative(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.dir).unwrap_or(path).to_path_buf()
    }

    /// Records the swaps durably, then carries them out. What was staged but not swapped stays
    /// until [`Staging::discard`] (an add-on's saved image, used after the swap).
    ///
    /// The staged files are synced first: once the record exists the old trees may go, and a
    /// power cut must not leave the new ones with files the disk never received.
    pub fn commit(&self, swaps: &[Swap]) -> io::Result<()> {
        sync_file_system(&self.dir)?;
        let record = serde_json::to_vec(swaps).map_err(io::Error::other)?;
        atomic_write(&self.dir.join(COMMIT), &record, 0o600)?;
        apply(&self.dir, swaps)?;
        fs::remove_file(self.dir.join(COMMIT))
    }

    /// Removes the staging directory: after a commit, or to give up before one (then nothing
    /// else changed).
    pub fn discard(self) {
        if let Err(error) = fs::remove_dir_all(&self.dir) {
            tracing::warn!("cannot remove the restore staging {}: {error}", self.dir.display());
        }
    }
}

/// Writes out everything pending on the file system holding `dir`: one call for the whole
/// staged tree, where an fsync per file would cost one flush each.
fn sync_file_system(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let dir = fs::File::open(dir)?;
    // SAFETY: a valid open file descriptor, borrowed for the call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Finishes committed restores and drops uncommitted ones, under `root`. Run at start.
pub fn recover(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let dir = entry.path();
        let swaps = fs::read(dir.join(COMMIT)).ok().and_then(|bytes| serde_json::from_slice::<Vec<Swap>>(&bytes).ok());
        let outcome = match swaps {
            Some(swaps) => {
                tracing::info!("finishing the restore interrupted in {}", dir.display());
                apply(&dir, &swaps).and_then(|()| fs::remove_dir_all(&dir))
            }
            None => fs::remove_dir_all(&dir),
        };
        if let Err(error) = outcome {
            tracing::error!("cannot clean up the restore in {}: {error}", dir.display());
        }
    }
}

/// Each swap moves the current tree aside, then the staged one in; both are renames, and a swap
/// already done is recognised by its staged tree being gone, so this can run again after a crash.
fn apply(dir: &Path, swaps: &[Swap]) -> io::Result<()> {
    let old = dir.join("old");
    fs::create_dir_all(&old)?;
    for (index, swap) in swaps.iter().enumerate() {
        let staged = dir.join(&swap.staged);
        if !staged.exists() {
            continue;
        }
        let aside = old.join(index.to_string());
        if swap.target.symlink_metadata().is_ok() && aside.symlink_metadata().is_err() {
            fs::rename(&swap.target, &aside)?;
        }
        if let Some(parent) = swap.target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::rename(&staged, &swap.target)?;
        if let Some(parent) = swap.target.parent() {
            fs::File::open(parent)?.sync_all()?;
        }
    }
    fs::remove_dir_all(&old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// Pages of `file` in the page cache not yet written to the disk, from `cachestat(2)`.
    fn dirty_pages(file: &fs::File) -> u64 {
        #[repr(C)]
        struct Range {
            off: u64,
            len: u64,
        }
        #[repr(C)]
        #[derive(Default)]
        struct Stat {
            cache: u64,
            dirty: u64,
            writeback: u64,
            evicted: u64,
            recently_evicted: u64,
        }
        // cachestat's number, the same on every architecture (Linux 6.5); libc lacks it here.
        const SYS_CACHESTAT: libc::c_long = 451;
        let range = Range { off: 0, len: 0 };
        let mut stat = Stat::default();
        // SAFETY: a valid descriptor and pointers to structs of the kernel's layout.
        let rc = unsafe { libc::syscall(SYS_CACHESTAT, file.as_raw_fd(), &range, &mut stat, 0) };
        assert_eq!(rc, 0, "cachestat: {}", io::Error::last_os_error());
        stat.dirty + stat.writeback
    }

    #[test]
    fn staged_data_is_on_disk_before_the_commit() {
        let data = tempfile::tempdir().unwrap();
        let staging = Staging::new(&data.path().join("restore"), "sync").unwrap();
        let part = staging.part_dir("share").unwrap();
        fs::write(part.join("big"), vec![7u8; 4 << 20]).unwrap();
        assert!(dirty_pages(&fs::File::open(part.join("big")).unwrap()) > 0, "the test needs a disk-backed tmp");
        let target = data.path().join("share");
        staging.commit(&[Swap { staged: staging.relative(&part), target: target.clone() }]).unwrap();
        assert_eq!(dirty_pages(&fs::File::open(target.join("big")).unwrap()), 0);
        staging.discard();
    }

    #[test]
    fn commit_swaps_trees_and_recover_finishes_or_drops() {
        let data = tempfile::tempdir().unwrap();
        let root = data.path().join("restore");
        let share = data.path().join("share");
        fs::create_dir_all(&share).unwrap();
        fs::write(share.join("old.txt"), "old").unwrap();

        let staging = Staging::new(&root, "abc").unwrap();
        let part = staging.part_dir("share").unwrap();
        fs::write(part.join("new.txt"), "new").unwrap();
        let swap = Swap { staged: staging.relative(&part), target: share.clone() };
        staging.commit(std::slice::from_ref(&swap)).unwrap();
        assert_eq!(fs::read_to_string(share.join("new.txt")).unwrap(), "new");
        assert!(!share.join("old.txt").exists());
        staging.discard();
        assert!(!root.join("abc").exists());

        // Killed after the commit record, before the swap: the next start finishes it.
        let staging = Staging::new(&root, "def").unwrap();
        let part = staging.part_dir("share").unwrap();
        fs::write(part.join("newer.txt"), "newer").unwrap();
        let swap = Swap { staged: staging.relative(&part), target: share.clone() };
        atomic_write(&root.join("def").join(COMMIT), &serde_json::to_vec(&[swap]).unwrap(), 0o600).unwrap();
        recover(&root);
        assert!(share.join("newer.txt").exists() && !share.join("new.txt").exists());

        // Killed before the commit record: the staging goes, the data stays.
        let staging = Staging::new(&root, "ghi").unwrap();
        fs::write(staging.part_dir("share").unwrap().join("never.txt"), "x").unwrap();
        recover(&root);
        assert!(share.join("newer.txt").exists() && !share.join("never.txt").exists());
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
    }
}
