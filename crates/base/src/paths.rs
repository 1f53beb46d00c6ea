//! The layout of the data directory, the same as the real Supervisor's `/data`.
//!
//! Every path a domain writes to is named here, so the layout can be read in one place and a
//! backup or a migration knows exactly what exists.

use std::io;
use std::path::{Path, PathBuf};

/// The root of everything the supervisor keeps on disk.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// Creates every folder of the layout that does not exist yet.
    pub fn ensure_layout(&self) -> io::Result<()> {
        for dir in [
            self.addons_core(),
            self.addons_git(),
            self.addons_local(),
            self.addons_data(),
            self.addon_configs(),
            self.backup(),
            self.share(),
            self.ssl(),
            self.media(),
            self.homeassistant(),
            self.tmp(),
            self.logs(),
        ] {
            std::fs::create_dir_all(dir)?;
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The sled database holding configuration and records.
    pub fn database(&self) -> PathBuf {
        self.root.join("db")
    }

    /// The admin token the `ha` CLI reads when none is given.
    pub fn cli_token(&self) -> PathBuf {
        self.root.join("cli_token")
    }

    pub fn addons_core(&self) -> PathBuf {
        self.root.join("addons/core")
    }

    pub fn addons_git(&self) -> PathBuf {
        self.root.join("addons/git")
    }

    pub fn addons_local(&self) -> PathBuf {
        self.root.join("addons/local")
    }

    pub fn addons_data(&self) -> PathBuf {
        self.root.join("addons/data")
    }

    /// The public configuration folders of add-ons, one per add-on (`/addon_configs`).
    pub fn addon_configs(&self) -> PathBuf {
        self.root.join("addon_configs")
    }

    pub fn backup(&self) -> PathBuf {
        self.root.join("backup")
    }

    pub fn share(&self) -> PathBuf {
        self.root.join("share")
    }

    pub fn ssl(&self) -> PathBuf {
        self.root.join("ssl")
    }

    pub fn media(&self) -> PathBuf {
        self.root.join("media")
    }

    pub fn homeassistant(&self) -> PathBuf {
        self.root.join("homeassistant")
    }

    /// Scratch space; emptied at every start.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The supervisor's own log, one file per start, until the journal backend exists.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs/supervisor")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_created_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        data.ensure_layout().unwrap();
        for sub in
            ["addons/data", "addons/local", "addons/git", "share", "ssl", "media", "backup", "homeassistant", "tmp"]
        {
            assert!(dir.path().join(sub).is_dir(), "{sub} missing");
        }
    }
}
