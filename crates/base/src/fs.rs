//! Crash-safe file writes that never follow links.
//!
//! A file is written to a temporary sibling, synced, renamed over the target and the directory
//! synced, so a reader (or the next start after a kill -9 or a full disk) sees the old content or
//! the new one, never half of either.
//!
//! Many targets sit in folders a container can write (an add-on's `/data`), where the add-on can
//! plant links at any name it can guess. So the directory is opened once and everything happens
//! relative to that handle: the temporary file has a random name and is created exclusively
//! without following links, and the rename replaces whatever entry holds the target's name (a
//! planted link included) instead of writing through it.

use std::ffi::{CString, OsStr};
use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Atomically replaces `path` with `contents`, with permission bits exactly `mode`.
///
/// The directory part of `path` is trusted (the caller's own layout); its last component is not.
pub fn atomic_write(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let dir_path = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io::Error::other("atomic_write: path has no file name"))?;
    let dir = OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(dir_path)?;
    let target = c_name(name)?;
    let mut tmp_name = b".".to_vec();
    tmp_name.extend_from_slice(name.as_bytes());
    tmp_name.extend_from_slice(format!(".tmp-{}", crate::random::hex_token(16)).as_bytes());
    let tmp = c_name(OsStr::from_bytes(&tmp_name))?;
    // SAFETY: both pointers are valid for the call; the flags create a new file only.
    let fd = cvt(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            tmp.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600 as libc::c_uint,
        )
    })?;
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let result = (|| {
        // Set after the open, so that the umask does not change what the caller asked for.
        file.set_permissions(Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        // SAFETY: the descriptor and both names are valid for the call.
        cvt(unsafe { libc::renameat(dir.as_raw_fd(), tmp.as_ptr(), dir.as_raw_fd(), target.as_ptr()) })?;
        dir.sync_all()
    })();
    if result.is_err() {
        // SAFETY: the descriptor and the name are valid for the call.
        unsafe { libc::unlinkat(dir.as_raw_fd(), tmp.as_ptr(), 0) };
    }
    result
}

/// Makes sure `path` is a real directory (created if missing, parents included) and not a link
/// to one: a container that can write the parent could otherwise point the daemon, or a bind
/// mount made from `path`, anywhere on the host.
pub fn ensure_real_dir(path: &Path) -> io::Result<()> {
    std::fs::create_dir_all(path)?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{} is a link or a file, not a directory", path.display())))
    }
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::other("file name contains NUL"))
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn replaces_content_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        atomic_write(&path, b"one", 0o600).unwrap();
        atomic_write(&path, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left");
    }

    #[test]
    fn planted_links_are_replaced_never_written_through() {
        let outside = tempfile::tempdir().unwrap();
        let canary = outside.path().join("canary");
        fs::write(&canary, b"untouched").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("options.json");
        // Every name an attacker could guess for the temporary file: the old pid scheme and
        // plain variants, each pointing at the canary.
        let pid = std::process::id();
        let guesses = [
            format!(".options.json.tmp-{pid}"),
            ".options.json.tmp".to_owned(),
            "options.json.tmp".to_owned(),
            ".options.json.swp".to_owned(),
            "options.json~".to_owned(),
        ];
        for guess in &guesses {
            symlink(&canary, dir.path().join(guess)).unwrap();
        }
        symlink(&canary, &path).unwrap();

        let canary_mode = fs::metadata(&canary).unwrap().permissions().mode();

        atomic_write(&path, b"{\"evil\":false}", 0o600).unwrap();

        assert_eq!(fs::read(&canary).unwrap(), b"untouched");
        assert_eq!(fs::metadata(&canary).unwrap().permissions().mode(), canary_mode);
        let meta = fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file(), "the link at the target is replaced by a regular file");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"{\"evil\":false}");
        for guess in &guesses {
            assert!(fs::symlink_metadata(dir.path().join(guess)).unwrap().file_type().is_symlink());
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), guesses.len() + 1, "no temporary file is left");
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("taken")).unwrap();
        assert!(atomic_write(&dir.path().join("taken"), b"x", 0o600).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn real_dir_is_created_and_a_link_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        ensure_real_dir(&dir.path().join("a/b")).unwrap();
        ensure_real_dir(&dir.path().join("a/b")).unwrap();
        symlink(outside.path(), dir.path().join("linked")).unwrap();
        assert!(ensure_real_dir(&dir.path().join("linked")).is_err());
        symlink(outside.path().join("missing"), dir.path().join("dangling")).unwrap();
        assert!(ensure_real_dir(&dir.path().join("dangling")).is_err());
        assert!(!outside.path().join("missing").exists(), "nothing is created through the link");
    }
}
