//! A backup file on disk: its outer tar indexed (member names and offsets, found by seeking, so
//! a large backup is listed without reading it) and its `backup.json` read.

use crate::model::{member_candidates, BackupMeta, LEGACY_META, META};
use archive::{Kind, Member};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Larger than any real `backup.json`; a bigger one is not a backup.
const META_LIMIT: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct BackupFile {
    pub path: PathBuf,
    pub meta: BackupMeta,
    /// The file's size in bytes.
    pub size: u64,
    members: Vec<Member>,
}

impl BackupFile {
    /// Reads the backup at `path`; the error says why it is not one.
    pub fn open(path: &Path) -> Result<BackupFile, String> {
        let mut file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let size = file.metadata().map_err(|e| e.to_string())?.len();
        let members = archive::members(&mut file).map_err(|e| format!("not a backup archive: {e}"))?;
        let meta = members
            .iter()
            .find(|m| is_named(m, META))
            .or_else(|| members.iter().find(|m| is_named(m, LEGACY_META)))
            .ok_or("not a backup: it has no backup.json")?;
        if meta.entry.kind != Kind::File {
            return Err("not a backup: its backup.json is not a regular file".into());
        }
        if meta.entry.size > META_LIMIT {
            return Err("not a backup: its backup.json is too large".into());
        }
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(meta.offset)).map_err(|e| e.to_string())?;
        (&mut file).take(meta.entry.size).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        let meta = BackupMeta::parse(&bytes)?;
        Ok(BackupFile { path: path.to_path_buf(), meta, size, members })
    }

    /// The inner archive of `part` (an add-on slug, `homeassistant` or a folder), if present: a
    /// regular member, never a link of the outer tar.
    pub fn member(&self, part: &str) -> Option<&Member> {
        member_candidates(part)
            .iter()
            .find_map(|name| self.members.iter().find(|m| m.entry.kind == Kind::File && is_named(m, name)))
    }

    /// The stored bytes of `member` (still compressed or encrypted).
    pub fn read_member(&self, member: &Member) -> io::Result<io::Take<File>> {
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(member.offset))?;
        Ok(file.take(member.entry.size))
    }

    /// Whether the inner archives are encrypted: what `backup.json` says.
    pub fn protected(&self) -> bool {
        self.meta.protected
    }
}

/// Member names are compared without a leading `./`: writers differ.
fn is_named(member: &Member, name: &str) -> bool {
    let strip = |p: &str| p.trim_start_matches("./").to_owned();
    strip(&member.entry.path.to_string_lossy()) == strip(name)
}
