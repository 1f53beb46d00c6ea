//! [`unpack`]: an untrusted archive written into a directory and nowhere else.
//!
//! Every path is taken apart before anything is written: absolute paths and `..` are refused, a
//! symbolic link may only point inside the target (lexically, from where it sits), a hard link
//! only to a file already unpacked, and no entry may be written through a link an earlier entry
//! made (the classic `a -> /etc`, then `a/passwd`). Files are created with `O_NOFOLLOW` after
//! whatever was at their path is removed. Device nodes and FIFOs are refused: no backup has them.
//!
//! The lexical check alone lets chained links out (`a -> .`, then `up -> a/..`), and a later
//! entry may replace what an earlier link's check relied on, so once everything is unpacked every
//! link is resolved for real against the finished tree, following the links inside it, and the
//! unpack fails if one leads out.
//!
//! What an unpack may write is bounded (`budget`): a small compressed archive can expand without
//! limit, and a restore must never fill the disk. Each entry is charged the blocks it takes.
//!
//! Modes, owners (when running as root) and modification times are restored, except the setuid
//! and setgid bits: an archive is not allowed to plant privileged programs.

use crate::reader::{Entry, Kind, TarReader};
use crate::ArchiveError;
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Modes an archive may set: permissions and the sticky bit, not setuid or setgid.
const ALLOWED_MODE: u32 = 0o1777;
const COPY_BUFFER: usize = 256 * 1024;
/// What an entry is charged at least, and the unit file data is rounded up to: a file system
/// block, so that millions of empty entries cannot fill the disk for free.
const BLOCK: u64 = 4096;
/// Links followed while resolving one link, as the kernel's own limit (`ELOOP`).
const MAX_LINK_HOPS: usize = 40;

/// What an unpack wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    pub entries: u64,
    /// File data written.
    pub bytes: u64,
}

/// Unpacks every entry of `reader` into `target` (an existing directory), writing at most
/// `budget` bytes (entries charged in whole blocks); past it, stops with [`ArchiveError::TooLarge`]
/// and leaves the partial tree for the caller to remove.
pub fn unpack<R: Read>(reader: &mut TarReader<R>, target: &Path, budget: u64) -> Result<Unpacked, ArchiveError> {
    let restore_owner = unsafe { libc::geteuid() } == 0;
    let mut unpacked = Unpacked::default();
    let mut charged = 0u64;
    // Directory modes and times go last: a read-only directory must not stop its own entries,
    // and writing entries changes a directory's time.
    let mut directories = Vec::new();
    let mut links = Vec::new();
    let mut buffer = vec![0; COPY_BUFFER];
    while let Some(entry) = reader.next_entry()? {
        let Some(relative) = inside(&entry.path)? else {
            continue;
        };
        charged = charged.saturating_add(BLOCK);
        if charged > budget {
            return Err(ArchiveError::TooLarge { limit: budget });
        }
        let path = target.join(&relative);
        prepare_parents(target, &relative)?;
        match entry.kind {
            Kind::Directory => {
                match fs::symlink_metadata(&path) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => {
                        remove(&path)?;
                        fs::create_dir(&path)?;
                    }
                    Err(_) => fs::create_dir(&path)?,
                }
                if restore_owner {
                    chown(&path, &entry)?;
                }
                directories.push((path, entry));
            }
            Kind::File => {
                remove(&path)?;
                let mut file =
                    OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_NOFOLLOW).open(&path)?;
                let written = copy(reader, &mut file, &mut buffer, budget.saturating_sub(charged), budget)?;
                unpacked.bytes += written;
                charged = charged.saturating_add(written.div_ceil(BLOCK) * BLOCK);
                file.set_permissions(fs::Permissions::from_mode(entry.mode & ALLOWED_MODE))?;
                if restore_owner {
                    chown(&path, &entry)?;
                }
                file.set_modified(mtime(&entry))?;
            }
            Kind::Symlink => {
                let link = entry.link.as_deref().unwrap_or(Path::new(""));
                check_symlink(&relative, link, &entry.path)?;
                remove(&path)?;
                std::os::unix::fs::symlink(link, &path)?;
                if restore_owner {
                    chown(&path, &entry)?;
                }
                set_link_time(&path, &entry)?;
                links.push((relative, entry.path.clone()));
            }
            Kind::HardLink => {
                let link = entry.link.as_deref().unwrap_or(Path::new(""));
                let outside = || ArchiveError::LinkOutside {
                    path: entry.path.display().to_string(),
                    target: link.display().to_string(),
                };
                let source = inside(link).map_err(|_| outside())?.ok_or_else(outside)?;
                check_no_links(target, &source, &entry.path)?;
                let source = target.join(source);
                match fs::symlink_metadata(&source) {
                    Ok(meta) if meta.is_file() => {}
                    _ => return Err(outside()),
                }
                remove(&path)?;
                fs::hard_link(&source, &path)?;
            }
            Kind::Special => return Err(ArchiveError::Special(entry.path.display().to_string())),
        }
        unpacked.entries += 1;
    }
    for (relative, shown) in &links {
        check_resolved(target, relative, shown)?;
    }
    for (path, entry) in directories.iter().rev() {
        // A later entry may have put something else at a directory's path; a link's target
        // must not get the directory's mode.
        if fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir()) {
            fs::set_permissions(path, fs::Permissions::from_mode(entry.mode & ALLOWED_MODE))?;
            set_link_time(path, entry)?;
        }
    }
    Ok(unpacked)
}

/// Resolves the link at `relative` in the finished tree, following the links inside it as the
/// kernel would, and refuses it when the path it names leaves `target` at any point.
fn check_resolved(target: &Path, relative: &Path, shown: &Path) -> Result<(), ArchiveError> {
    let link = fs::read_link(target.join(relative))?;
    let outside =
        || ArchiveError::LinkOutside { path: shown.display().to_string(), target: link.display().to_string() };
    let mut resolved: Vec<std::ffi::OsString> =
        relative.parent().into_iter().flat_map(Path::components).map(|c| c.as_os_str().to_owned()).collect();
    // The components still to walk, the next one last.
    let mut pending: Vec<std::ffi::OsString> = Vec::new();
    let queue = |pending: &mut Vec<std::ffi::OsString>, path: &Path| -> Result<(), ArchiveError> {
        if path.has_root() {
            return Err(outside());
        }
        pending.extend(path.components().rev().map(|c| c.as_os_str().to_owned()));
        Ok(())
    };
    queue(&mut pending, &link)?;
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop().ok_or_else(outside)?;
            continue;
        }
        if part == "." {
            continue;
        }
        resolved.push(part);
        let here: PathBuf = target.join(resolved.iter().collect::<PathBuf>());
        if fs::symlink_metadata(&here).is_ok_and(|meta| meta.file_type().is_symlink()) {
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return Err(outside());
            }
            resolved.pop();
            queue(&mut pending, &fs::read_link(&here)?)?;
        }
    }
    Ok(())
}

/// The entry's path inside the target, or `None` for the archive's root (`.`).
fn inside(path: &Path) -> Result<Option<PathBuf>, ArchiveError> {
    let mut relative = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(ArchiveError::ParentPath(path.display().to_string())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(ArchiveError::AbsolutePath(path.display().to_string()))
            }
        }
    }
    Ok((!relative.as_os_str().is_empty()).then_some(relative))
}

/// Creates the missing parents of `relative`, refusing to pass through a link or a file.
fn prepare_parents(target: &Path, relative: &Path) -> Result<(), ArchiveError> {
    let mut current = target.to_path_buf();
    let Some(parent) = relative.parent() else { return Ok(()) };
    for part in parent.components() {
        current.push(part);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(ArchiveError::ThroughLink(relative.display().to_string())),
            Err(error) if error.kind() == io::ErrorKind::NotFound => fs::create_dir(&current)?,
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Refuses a path whose existing parents include a link.
fn check_no_links(target: &Path, relative: &Path, shown: &Path) -> Result<(), ArchiveError> {
    let mut current = target.to_path_buf();
    let Some(parent) = relative.parent() else { return Ok(()) };
    for part in parent.components() {
        current.push(part);
        if fs::symlink_metadata(&current).is_ok_and(|meta| !meta.is_dir()) {
            return Err(ArchiveError::ThroughLink(shown.display().to_string()));
        }
    }
    Ok(())
}

/// A symbolic link at `relative` pointing to `link` must stay inside the target.
fn check_symlink(relative: &Path, link: &Path, shown: &Path) -> Result<(), ArchiveError> {
    let outside =
        || ArchiveError::LinkOutside { path: shown.display().to_string(), target: link.display().to_string() };
    if link.as_os_str().is_empty() || link.has_root() {
        return Err(outside());
    }
    let mut depth = relative.components().count() as i64 - 1;
    for component in link.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(outside()),
        }
        if depth < 0 {
            return Err(outside());
        }
    }
    Ok(())
}

/// Clears the way for a new entry: whatever is at `path` goes, a link itself and not its target.
fn remove(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Copies the entry's data, stopping as soon as it would pass the `remaining` bytes of `budget`.
fn copy<R: Read>(
    reader: &mut TarReader<R>,
    file: &mut File,
    buffer: &mut [u8],
    remaining: u64,
    budget: u64,
) -> Result<u64, ArchiveError> {
    let mut written: u64 = 0;
    loop {
        let read = match reader.read(buffer) {
            Ok(0) => return Ok(written),
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(ArchiveError::from_read(error)),
        };
        written += read as u64;
        if written > remaining {
            return Err(ArchiveError::TooLarge { limit: budget });
        }
        file.write_all(&buffer[..read])?;
    }
}

fn mtime(entry: &Entry) -> SystemTime {
    match u64::try_from(entry.mtime) {
        Ok(seconds) => SystemTime::UNIX_EPOCH + Duration::from_secs(seconds),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn chown(path: &Path, entry: &Entry) -> io::Result<()> {
    let (Ok(uid), Ok(gid)) = (u32::try_from(entry.uid), u32::try_from(entry.gid)) else {
        return Ok(());
    };
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
}

/// The modification time of a link or directory itself (std has no `lutimes`).
fn set_link_time(path: &Path, entry: &Entry) -> io::Result<()> {
    let path = c_path(path)?;
    let time = libc::timespec { tv_sec: entry.mtime as libc::time_t, tv_nsec: 0 };
    let omit = libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_OMIT };
    let times = [omit, time];
    // SAFETY: a valid NUL-terminated path and two timespecs, as utimensat requires.
    let result = unsafe { libc::utimensat(libc::AT_FDCWD, path.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(mode);
        header.set_mtime(1_600_000_000);
        header
    }

    /// Writes names verbatim into the header, the way a hostile archive would, bypassing the
    /// `tar` crate's own checks.
    fn raw(kind: tar::EntryType, name: &str, link: &str, data: &[u8]) -> Vec<u8> {
        let mut header = header(kind, data.len() as u64, 0o644);
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_cksum();
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend_from_slice(data);
        bytes.resize(bytes.len().div_ceil(512) * 512, 0);
        bytes
    }

    fn unpack_bytes(bytes: &[u8], target: &Path) -> Result<Unpacked, ArchiveError> {
        unpack_bytes_within(bytes, target, u64::MAX)
    }

    #[test]
    fn restores_tree_modes_and_times() {
        let source = [
            raw(tar::EntryType::Directory, "./data/", "", b""),
            raw(tar::EntryType::Regular, "./data/a.txt", "", b"alpha"),
            raw(tar::EntryType::Symlink, "./data/link", "a.txt", b""),
            raw(tar::EntryType::Link, "./data/hard", "./data/a.txt", b""),
            raw(tar::EntryType::Regular, "deep/er/b", "", b"beta"),
        ]
        .concat();
        let dir = tempfile::tempdir().unwrap();
        let unpacked = unpack_bytes(&source, dir.path()).unwrap();
        assert_eq!(unpacked, Unpacked { entries: 5, bytes: 9 });
        assert_eq!(fs::read(dir.path().join("data/link")).unwrap(), b"alpha");
        assert_eq!(fs::read(dir.path().join("data/hard")).unwrap(), b"alpha");
        assert_eq!(fs::read(dir.path().join("deep/er/b")).unwrap(), b"beta");
        let meta = fs::metadata(dir.path().join("data/a.txt")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o644);
        assert_eq!(meta.mtime(), 1_600_000_000);
        assert_eq!(fs::metadata(dir.path().join("data")).unwrap().mtime(), 1_600_000_000);
    }

    #[test]
    fn strips_setuid() {
        let mut entry = raw(tar::EntryType::Regular, "suid", "", b"x");
        let mut header = header(tar::EntryType::Regular, 1, 0o4755);
        header.set_path("suid").unwrap();
        header.set_cksum();
        entry[..512].copy_from_slice(header.as_bytes());
        let dir = tempfile::tempdir().unwrap();
        unpack_bytes(&entry, dir.path()).unwrap();
        assert_eq!(fs::metadata(dir.path().join("suid")).unwrap().mode() & 0o7777, 0o755);
    }

    #[test]
    fn refuses_hostile_entries_and_writes_nothing_outside() {
        let outer = tempfile::tempdir().unwrap();
        let target = outer.path().join("target");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (raw(tar::EntryType::Regular, "/etc/evil", "", b"x"), "absolute"),
            (raw(tar::EntryType::Regular, "../evil", "", b"x"), "'..'"),
            (raw(tar::EntryType::Regular, "a/../../evil", "", b"x"), "'..'"),
            (raw(tar::EntryType::Symlink, "link", "../evil", b""), "outside"),
            (raw(tar::EntryType::Symlink, "link", "/etc/passwd", b""), "outside"),
            (raw(tar::EntryType::Symlink, "a/b/link", "../../../evil", b""), "outside"),
            (raw(tar::EntryType::Link, "hard", "/etc/passwd", b""), "outside"),
            (raw(tar::EntryType::Link, "hard", "../evil", b""), "outside"),
            (raw(tar::EntryType::Char, "null", "", b""), "device node"),
            (raw(tar::EntryType::Fifo, "fifo", "", b""), "device node"),
            (
                [
                    raw(tar::EntryType::Symlink, "escape", ".", b""),
                    raw(tar::EntryType::Symlink, "escape/up", "..", b""),
                ]
                .concat(),
                "through a link",
            ),
        ];
        for (bytes, expected) in cases {
            fs::create_dir(&target).unwrap();
            let error = unpack_bytes(&bytes, &target).unwrap_err().to_string();
            assert!(error.contains(expected), "{error} should say {expected}");
            fs::remove_dir_all(&target).unwrap();
            let left: Vec<_> = fs::read_dir(outer.path()).unwrap().collect();
            assert!(left.is_empty(), "nothing may be written next to the target: {left:?}");
        }
    }

    #[test]
    fn refuses_chained_links_that_resolve_outside() {
        let outer = tempfile::tempdir().unwrap();
        let target = outer.path().join("target");
        let mut chain =
            vec![raw(tar::EntryType::Symlink, "a", ".", b""), raw(tar::EntryType::Symlink, "up0", "a/..", b"")];
        for level in 1..12 {
            chain.push(raw(tar::EntryType::Symlink, &format!("up{level}"), &format!("up{}/a/..", level - 1), b""));
        }
        chain.push(raw(tar::EntryType::Symlink, "x", "up11/etc", b""));
        // A link checked first, made to escape by an entry that replaces what it went through.
        let replaced = [
            raw(tar::EntryType::Directory, "d/", "", b""),
            raw(tar::EntryType::Symlink, "x", "d/..", b""),
            raw(tar::EntryType::Symlink, "d", ".", b""),
        ]
        .concat();
        for bytes in [chain.concat(), replaced] {
            fs::create_dir(&target).unwrap();
            let error = unpack_bytes(&bytes, &target).unwrap_err().to_string();
            assert!(error.contains("outside the target"), "{error}");
            fs::remove_dir_all(&target).unwrap();
        }
        // Links that stay inside, even through other links, are kept.
        fs::create_dir(&target).unwrap();
        let inside = [
            raw(tar::EntryType::Directory, "conf/", "", b""),
            raw(tar::EntryType::Regular, "conf/x.yaml", "", b"x"),
            raw(tar::EntryType::Symlink, "current", "conf", b""),
            raw(tar::EntryType::Symlink, "sub/link", "../current/x.yaml", b""),
            raw(tar::EntryType::Symlink, "loop", "loop", b""),
        ];
        unpack_bytes(&inside[..4].concat(), &target).unwrap();
        assert_eq!(fs::read(target.join("sub/link")).unwrap(), b"x");
        let error = unpack_bytes(&inside[4], &target).unwrap_err().to_string();
        assert!(error.contains("outside the target"), "{error}");
    }

    #[test]
    fn stops_at_the_budget() {
        // A 1 GiB entry of zeros, as a bomb's output would be, read as it streams.
        let mut header = header(tar::EntryType::Regular, 1 << 30, 0o644);
        header.set_path("bomb").unwrap();
        header.set_cksum();
        let stream = io::Cursor::new(header.as_bytes().to_vec()).chain(io::repeat(0).take(1 << 30));
        let dir = tempfile::tempdir().unwrap();
        let error = unpack(&mut TarReader::new(stream), dir.path(), 8 << 20).unwrap_err();
        assert!(matches!(error, ArchiveError::TooLarge { limit } if limit == 8 << 20), "{error}");
        assert!(fs::metadata(dir.path().join("bomb")).unwrap().len() <= 8 << 20);

        // Many empty entries are charged a block each.
        let many: Vec<u8> = (0..100).flat_map(|n| raw(tar::EntryType::Regular, &format!("f{n}"), "", b"")).collect();
        let error = unpack_bytes_within(&many, dir.path(), 50 * BLOCK).unwrap_err();
        assert!(matches!(error, ArchiveError::TooLarge { .. }), "{error}");
        let fits = unpack_bytes_within(&raw(tar::EntryType::Regular, "ok", "", &[0; 5000]), dir.path(), 3 * BLOCK);
        assert_eq!(fits.unwrap().bytes, 5000);
    }

    fn unpack_bytes_within(bytes: &[u8], target: &Path, budget: u64) -> Result<Unpacked, ArchiveError> {
        unpack(&mut TarReader::new(bytes), target, budget)
    }

    #[test]
    fn never_writes_through_an_existing_link() {
        let outer = tempfile::tempdir().unwrap();
        let target = outer.path().join("target");
        let secret = outer.path().join("secret");
        fs::write(&secret, "keep").unwrap();
        fs::create_dir(&target).unwrap();
        std::os::unix::fs::symlink(&secret, target.join("file")).unwrap();
        unpack_bytes(&raw(tar::EntryType::Regular, "file", "", b"new"), &target).unwrap();
        assert_eq!(fs::read_to_string(&secret).unwrap(), "keep");
        assert_eq!(fs::read_to_string(target.join("file")).unwrap(), "new");
    }
}
