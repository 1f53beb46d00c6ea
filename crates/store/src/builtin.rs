//! The built-in `core` add-on repository, embedded in the binary at build time (`build.rs` packs
//! `store-fixtures/`) and unpacked under the data directory at start, so the supervisor finds its
//! default store wherever it is installed, not only where it was built.
//!
//! The unpack never leaves a half-written repository under the target's name: the archive goes
//! into a fresh sibling folder, is synced, gets a marker with the archive's hash (written last),
//! and only then takes the target's place by a rename. A start whose target already carries the
//! same hash does nothing. A link or a file planted at the target's name is replaced, never
//! followed; the archive itself goes through `archive::unpack`, which writes only inside its
//! folder.

use archive::TarReader;
use sha1::{Digest, Sha1};
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `store-fixtures/` as a tar, packed by `build.rs`.
static CORE_ARCHIVE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/core-repository.tar"));

/// The file in the unpacked folder naming the archive it came from (hex SHA-1 of its bytes).
const MARKER: &str = ".builtin-archive";

/// Unpacks the embedded `core` repository into `target` unless `target` already holds this
/// very archive. Answers whether it unpacked. `target`'s parent must exist and belong to the
/// supervisor (the data directory's layout); `target` itself may be anything.
pub fn unpack_core(target: &Path) -> io::Result<bool> {
    unpack_archive(CORE_ARCHIVE, target)
}

fn unpack_archive(archive: &[u8], target: &Path) -> io::Result<bool> {
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = target.file_name().ok_or_else(|| io::Error::other("the target has no file name"))?;
    let scratch_prefix = format!(".{}.unpacking-", name.to_string_lossy());
    // What a crash in the middle of an earlier unpack (or of the swap) left behind.
    remove_scratch(parent, &scratch_prefix)?;

    let digest: String = Sha1::digest(archive).iter().map(|b| format!("{b:02x}")).collect();
    if marker_of(target).as_deref() == Some(digest.as_str()) {
        return Ok(false);
    }

    let fresh = parent.join(format!("{scratch_prefix}{}", base::random::hex_token(8)));
    // create_dir fails on any existing entry, a link included: the folder is ours alone.
    fs::create_dir(&fresh)?;
    let result = (|| {
        // The archive is our own and its size bounds what it holds; the budget (each entry is
        // charged at least a 4 KiB block) only has to be generous.
        let budget = (archive.len() as u64).saturating_mul(32).max(1 << 20);
        archive::unpack(&mut TarReader::new(archive), &fresh, budget).map_err(io::Error::other)?;
        sync_filesystem(&fresh)?;
        // Last, and synced: a marker means every file before it is on disk.
        base::fs::atomic_write(&fresh.join(MARKER), digest.as_bytes(), 0o644)?;
        swap_in(&fresh, target, &scratch_prefix)
    })();
    if result.is_err() {
        let _ = remove_entry(&fresh);
    }
    result.map(|()| true)
}

/// The hash recorded in `target`'s marker, when `target` is a real folder (not a link to one)
/// and the marker a regular file in it (not a link to one).
fn marker_of(target: &Path) -> Option<String> {
    if !fs::symlink_metadata(target).ok()?.is_dir() {
        return None;
    }
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(target.join(MARKER)).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(128).read_to_string(&mut text).ok()?;
    Some(text.trim().to_owned())
}

/// Puts the complete folder `fresh` at `target`'s name, whatever is there.
fn swap_in(fresh: &Path, target: &Path, scratch_prefix: &str) -> io::Result<()> {
    match fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => {
            match exchange(fresh, target) {
                Ok(()) => {}
                // File systems without RENAME_EXCHANGE: the old copy is moved aside first. A
                // crash between the renames leaves no folder and no marker, so the next start
                // unpacks again.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)) => {
                    let parent = target.parent().unwrap_or(Path::new("."));
                    let aside = parent.join(format!("{scratch_prefix}old-{}", base::random::hex_token(8)));
                    fs::rename(target, &aside)?;
                    fs::rename(fresh, target)?;
                    fs::rename(&aside, fresh)?;
                }
                Err(e) => return Err(e),
            }
            // `fresh` now holds the old copy. The new one is in place whatever happens here;
            // what stays is removed at the next start.
            if let Err(e) = fs::remove_dir_all(fresh) {
                tracing::warn!("the old built-in repository at {} was not removed: {e}", fresh.display());
            }
        }
        Ok(_) => {
            // A link or a file: remove_file removes the entry itself, never what a link names.
            fs::remove_file(target)?;
            fs::rename(fresh, target)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::rename(fresh, target)?,
        Err(e) => return Err(e),
    }
    File::open(target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?.sync_all()
}

/// Swaps two directory entries atomically (`renameat2` with `RENAME_EXCHANGE`).
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let c = |path: &Path| CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::other("path contains NUL"));
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both strings are valid NUL-terminated paths for the duration of the call.
    let ret = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Flushes the file system holding `dir`: one call for every file the unpack wrote.
fn sync_filesystem(dir: &Path) -> io::Result<()> {
    let handle = File::open(dir)?;
    // SAFETY: the descriptor is open for the duration of the call.
    if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&handle)) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Removes every entry of `parent` whose name starts with `prefix`.
fn remove_scratch(parent: &Path, prefix: &str) -> io::Result<()> {
    for entry in fs::read_dir(parent)? {
        let entry = entry?;
        if entry.file_name().as_bytes().starts_with(prefix.as_bytes()) {
            remove_entry(&entry.path())?;
        }
    }
    Ok(())
}

/// Removes a folder with its contents, or a file or link itself (never what a link names).
fn remove_entry(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::PathBuf;

    /// The paths of an archive's entries.
    fn archive_names(archive: &[u8]) -> Vec<PathBuf> {
        let mut reader = TarReader::new(archive);
        let mut names = Vec::new();
        while let Some(entry) = reader.next_entry().expect("a valid archive") {
            names.push(entry.path.clone());
            io::copy(&mut reader, &mut io::sink()).expect("skip the entry's data");
        }
        names
    }

    /// A tar of `files` (path, contents), as build.rs would pack it.
    fn archive_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, contents) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, contents.as_bytes()).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn the_embedded_repository_holds_the_fixture_addons() {
        let names = archive_names(CORE_ARCHIVE);
        for file in ["repository.yaml", "build_local/config.yaml", "build_local/run.sh", "crasher/config.yaml"] {
            assert!(names.iter().any(|n| n == Path::new(file)), "{file} missing from {names:?}");
        }
        let data = tempfile::tempdir().unwrap();
        let target = data.path().join("core");
        assert!(unpack_core(&target).unwrap());
        assert!(target.join("repository.yaml").is_file());
        let mode = fs::metadata(target.join("build_local/run.sh")).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "scripts stay executable: {mode:o}");
    }

    #[test]
    fn a_second_unpack_of_the_same_archive_does_nothing() {
        let data = tempfile::tempdir().unwrap();
        let target = data.path().join("core");
        let archive = archive_of(&[("repository.yaml", "name: one\n"), ("a/config.yaml", "slug: a\n")]);
        assert!(unpack_archive(&archive, &target).unwrap());
        fs::write(target.join("a/note"), "kept").unwrap();
        assert!(!unpack_archive(&archive, &target).unwrap(), "the copy matches: nothing to do");
        assert_eq!(fs::read_to_string(target.join("a/note")).unwrap(), "kept");
        assert_eq!(names_in(data.path()), ["core"], "no scratch folder is left");
    }

    #[test]
    fn a_stale_or_unmarked_copy_is_replaced() {
        let data = tempfile::tempdir().unwrap();
        let target = data.path().join("core");
        let old = archive_of(&[("repository.yaml", "name: old\n"), ("gone/config.yaml", "slug: gone\n")]);
        let new = archive_of(&[("repository.yaml", "name: new\n"), ("b/config.yaml", "slug: b\n")]);
        assert!(unpack_archive(&old, &target).unwrap());
        assert!(unpack_archive(&new, &target).unwrap());
        assert_eq!(fs::read_to_string(target.join("repository.yaml")).unwrap(), "name: new\n");
        assert!(!target.join("gone").exists(), "what only the old archive had is gone");
        assert_eq!(names_in(data.path()), ["core"]);

        // A copy without its marker (a crash before it, a hand edit) is not trusted.
        fs::remove_file(target.join(MARKER)).unwrap();
        fs::write(target.join("repository.yaml"), "name: edited\n").unwrap();
        assert!(unpack_archive(&new, &target).unwrap());
        assert_eq!(fs::read_to_string(target.join("repository.yaml")).unwrap(), "name: new\n");

        // The folder the data directory's layout creates empty.
        let empty = data.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(unpack_archive(&new, &empty).unwrap());
        assert!(empty.join("b/config.yaml").is_file());
    }

    #[test]
    fn leftovers_of_an_interrupted_unpack_are_removed() {
        let data = tempfile::tempdir().unwrap();
        let target = data.path().join("core");
        fs::create_dir_all(data.path().join(".core.unpacking-1234/half")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("keep"), "x").unwrap();
        symlink(outside.path(), data.path().join(".core.unpacking-old-99")).unwrap();
        let archive = archive_of(&[("repository.yaml", "name: one\n")]);
        assert!(unpack_archive(&archive, &target).unwrap());
        assert_eq!(names_in(data.path()), ["core"]);
        assert_eq!(names_in(outside.path()), ["keep"], "a leftover link is removed, not followed");
    }

    #[test]
    fn a_planted_link_at_the_target_is_replaced_never_followed() {
        let archive = archive_of(&[("repository.yaml", "name: one\n"), ("a/config.yaml", "slug: a\n")]);
        // A folder elsewhere that looks like a finished copy, marker included.
        let outside = tempfile::tempdir().unwrap();
        let lure = outside.path().join("lure");
        assert!(unpack_archive(&archive, &lure).unwrap());
        fs::write(lure.join("repository.yaml"), "name: planted\n").unwrap();

        let data = tempfile::tempdir().unwrap();
        let target = data.path().join("core");
        symlink(&lure, &target).unwrap();
        assert!(unpack_archive(&archive, &target).unwrap(), "a link is never taken for the copy");
        assert!(fs::symlink_metadata(&target).unwrap().is_dir(), "the link is replaced by a real folder");
        assert_eq!(fs::read_to_string(target.join("repository.yaml")).unwrap(), "name: one\n");
        assert_eq!(fs::read_to_string(lure.join("repository.yaml")).unwrap(), "name: planted\n", "untouched");
        assert_eq!(names_in(&lure), [MARKER, "a", "repository.yaml"]);

        // A marker that is a link to a matching marker elsewhere is not trusted either.
        fs::remove_file(target.join(MARKER)).unwrap();
        symlink(lure.join(MARKER), target.join(MARKER)).unwrap();
        fs::write(target.join("repository.yaml"), "name: edited\n").unwrap();
        assert!(unpack_archive(&archive, &target).unwrap());
        assert_eq!(fs::read_to_string(target.join("repository.yaml")).unwrap(), "name: one\n");
        assert!(fs::symlink_metadata(target.join(MARKER)).unwrap().is_file());

        // A dangling link, and a file, at the target's name.
        let dangling = data.path().join("dangling");
        symlink("/nonexistent/core", &dangling).unwrap();
        assert!(unpack_archive(&archive, &dangling).unwrap());
        assert!(dangling.join("a/config.yaml").is_file());
        let file = data.path().join("file");
        fs::write(&file, "x").unwrap();
        assert!(unpack_archive(&archive, &file).unwrap());
        assert!(file.join("repository.yaml").is_file());
    }
}
