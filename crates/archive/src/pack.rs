//! [`pack_dir`]: a directory tree added to a tar, in a stable order, leaving out what the caller
//! excludes. Links are stored as links; sockets and other special files are skipped (they are
//! recreated by whoever owns them, and a restore refuses them anyway).

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// What was packed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Packed {
    pub entries: u64,
    /// File data added.
    pub bytes: u64,
}

/// Adds `source` and everything under it as `name` (e.g. `.` or `data`). `exclude` sees each
/// path relative to `source` and says whether to leave it (and, for a directory, its contents) out.
pub fn pack_dir<W: Write>(
    builder: &mut tar::Builder<W>,
    source: &Path,
    name: &Path,
    exclude: &dyn Fn(&Path) -> bool,
) -> io::Result<Packed> {
    builder.follow_symlinks(false);
    let mut packed = Packed::default();
    builder.append_path_with_name(source, name)?;
    packed.entries += 1;
    add_children(builder, source, Path::new(""), name, exclude, &mut packed)?;
    Ok(packed)
}

fn add_children<W: Write>(
    builder: &mut tar::Builder<W>,
    source: &Path,
    relative: &Path,
    name: &Path,
    exclude: &dyn Fn(&Path) -> bool,
    packed: &mut Packed,
) -> io::Result<()> {
    let mut children: Vec<_> = fs::read_dir(source.join(relative))?.collect::<Result<_, _>>()?;
    children.sort_by_key(|child| child.file_name());
    for child in children {
        let child_relative = relative.join(child.file_name());
        if exclude(&child_relative) {
            continue;
        }
        let path = source.join(&child_relative);
        let file_type = child.file_type()?;
        if !(file_type.is_dir() || file_type.is_file() || file_type.is_symlink()) {
            tracing::debug!("not backing up {}: not a file, directory or link", path.display());
            continue;
        }
        builder.append_path_with_name(&path, name.join(&child_relative))?;
        packed.entries += 1;
        if file_type.is_file() {
            packed.bytes += child.metadata()?.len();
        } else if file_type.is_dir() {
            add_children(builder, source, &child_relative, name, exclude, packed)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{unpack, TarReader};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn round_trips_a_tree_without_the_excluded_parts() {
        let source = tempfile::tempdir().unwrap();
        fs::create_dir_all(source.path().join("keep/sub")).unwrap();
        fs::create_dir_all(source.path().join("cache")).unwrap();
        fs::write(source.path().join("keep/sub/a"), "alpha").unwrap();
        fs::write(source.path().join("cache/big"), "skip me").unwrap();
        fs::write(source.path().join("home-assistant_v2.db"), "db").unwrap();
        std::os::unix::fs::symlink("keep/sub/a", source.path().join("link")).unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(source.path().join("sock")).unwrap();

        let mut builder = tar::Builder::new(Vec::new());
        let exclude = |path: &Path| path == Path::new("cache") || path.ends_with("home-assistant_v2.db");
        let packed = pack_dir(&mut builder, source.path(), Path::new("data"), &exclude).unwrap();
        assert_eq!(packed, Packed { entries: 5, bytes: 5 });
        let bytes = builder.into_inner().unwrap();

        let target = tempfile::tempdir().unwrap();
        unpack(&mut TarReader::new(&bytes[..]), target.path(), u64::MAX).unwrap();
        let data = target.path().join("data");
        assert_eq!(fs::read_to_string(data.join("keep/sub/a")).unwrap(), "alpha");
        assert_eq!(fs::read_link(data.join("link")).unwrap(), Path::new("keep/sub/a"));
        assert!(!data.join("cache").exists() && !data.join("home-assistant_v2.db").exists());
        assert!(!data.join("sock").exists());
        let (before, after) =
            (fs::metadata(source.path().join("keep/sub/a")).unwrap(), fs::metadata(data.join("keep/sub/a")).unwrap());
        assert_eq!((before.mode(), before.mtime(), before.uid()), (after.mode(), after.mtime(), after.uid()));
    }
}
