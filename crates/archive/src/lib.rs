//! Tar archives as backups use them. Backups are untrusted input when restored (a user uploads
//! them, they come from other machines), so reading is our own: [`TarReader`] is a streaming
//! reader whose extension headers (PAX, GNU long names) are bounded, and [`unpack`] writes
//! entries only inside its target directory, refusing absolute paths, `..`, links that lead
//! outside, device nodes and paths that go through a link. Writing uses the `tar` crate:
//! [`pack_dir`] adds a directory tree with an exclusion filter, and [`OuterArchive`] writes a
//! backup's outer tar whose members (compressed, encrypted inner archives of unknown size) are
//! streamed straight into the file and their header filled in afterwards.

mod error;
mod outer;
mod pack;
mod reader;
mod unpack;

pub use error::ArchiveError;
pub use outer::{MemberWriter, OuterArchive};
pub use pack::{pack_dir, Packed};
pub use reader::{members, Entry, Kind, Member, TarReader};
pub use unpack::{unpack, Unpacked};
