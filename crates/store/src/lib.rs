//! Add-on repositories and the catalog of add-ons they offer, and the `/store` API (install and
//! update live with the installed add-ons, in the addons crate).
//!
//! Three kinds of repository feed the store: `core`, the official add-on repository (by
//! default cloned from GitHub into `<data>/addons/core`, as the real Supervisor does; or a
//! local folder given at start), `local` (`<data>/addons/local`, where users drop their own
//! add-ons) and git repositories, cloned with the real `git` into `<data>/addons/git/<hash>`
//! and pulled on reload: the community, ESPHome and Music Assistant repositories, built in as
//! upstream ships them, and those the user added. The list of added git repositories is
//! persisted; the catalog is read from disk at start and on reload.

pub mod api;
mod git;
mod manager;
mod repository;
mod scan;

pub use manager::{AddonFile, Installed, StoreAddon, StoreManager};
pub use repository::{check_source, repository_hash, Repository, RepositoryKind};
