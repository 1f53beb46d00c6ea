//! The add-on repository format: `config.yaml`, `build.yaml`, `repository.yaml`, translations
//! and the options schema language, read and validated the way the real Supervisor does.

mod build;
mod config;
mod files;
mod pyre;
mod rating;
mod repository;
mod schema;
mod secrets;
mod translations;

pub use build::BuildConfig;
pub use config::{
    is_docker_image, AddonConfig, BackupMode, BootConfig, MapEntry, MapType, Stage, Startup, Ulimit, Unavailable,
    WatchdogRestartPolicy,
};
pub use pyre::python_regex;
pub use repository::RepositoryConfig;
pub use schema::Schema;
pub use secrets::{keep_secret_references, load_secrets};
pub use translations::load_translations;

/// A file of a repository that is not valid; the message names the file and the offending key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);
