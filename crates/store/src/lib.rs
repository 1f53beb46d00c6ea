//! Add-on repositories and the catalog of add-ons they offer, and the `/store` API (install and
//! update live with the installed add-ons, in the addons crate).
//!
//! Three kinds of repository feed the store: `core`, the repository shipped with the supervisor
//! (a local folder: by default the project's `store-fixtures/`, embedded in the binary and
//! unpacked into `<data>/addons/core` by [`builtin`]), `local`
//! (`<data>/addons/local`, where users drop their own add-ons) and git repositories, cloned
//! with the real `git` into `<data>/addons/git/<hash>` and pulled on reload. The list of git
//! repositories is persisted; the catalog is read from disk at start and on reload.

pub mod api;
pub mod builtin;
mod git;
mod manager;
mod repository;
mod scan;

pub use manager::{AddonFile, Installed, StoreAddon, StoreManager};
pub use repository::{check_source, repository_hash, Repository, RepositoryKind};
