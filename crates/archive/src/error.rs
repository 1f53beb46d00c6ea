//! Why an archive could not be read or unpacked; the messages name the entry, for the API client.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("corrupt archive: {0}")]
    Corrupt(String),
    #[error("truncated archive")]
    Truncated,
    #[error("archive header of {size} bytes for '{path}' is larger than the limit of {limit} bytes")]
    OversizeHeader { path: String, size: u64, limit: u64 },
    #[error("archive entry '{0}' has an absolute path")]
    AbsolutePath(String),
    #[error("archive entry '{0}' leads out of the target with '..'")]
    ParentPath(String),
    #[error("archive entry '{path}' is a link to '{target}', outside the target")]
    LinkOutside { path: String, target: String },
    #[error("archive entry '{0}' goes through a link")]
    ThroughLink(String),
    #[error("archive entry '{0}' is a device node or FIFO, which backups never contain")]
    Special(String),
    #[error("archive entry '{path}' has an unsupported type '{kind}'")]
    Unsupported { path: String, kind: char },
    /// The `limit` is what the caller allowed (its free space), not the archive's own size.
    #[error("the archive unpacks to more than the {limit} bytes of space available for it")]
    TooLarge { limit: u64 },
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl ArchiveError {
    /// Reading stopped before the archive's end: a short read is truncation, not an I/O fault.
    pub(crate) fn from_read(error: io::Error) -> ArchiveError {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            ArchiveError::Truncated
        } else {
            ArchiveError::Io(error)
        }
    }
}
