//! The layout of the data directory, the same as the real Supervisor's `/data`.
//!
//! Every path a domain writes to is named here, so the layout can be read in one place and a
//! backup or a migration knows exactly what exists.

use std::io;
use std::path::{Path, PathBuf};

/// Why a name from outside (a request, an archive, a repository) cannot be used as a path part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsafeName {
    pub name: String,
    pub why: &'static str,
}

impl std::fmt::Display for UnsafeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}' {}", self.name.escape_debug(), self.why)
    }
}

impl std::error::Error for UnsafeName {}

/// `base` joined with `name`, where `name` comes from outside (a slug, a file name, an archive
/// member's part): the one way such a path is built, so that nothing reaches out of `base`.
///
/// `name` must be one plain path component: not empty, not `.` or `..`, no `/`, `\` or NUL.
/// It does not resolve links; callers that write open the result without following them.
pub fn beneath(base: &Path, name: &str) -> Result<PathBuf, UnsafeName> {
    let refuse = |why| Err(UnsafeName { name: name.to_owned(), why });
    if name.is_empty() {
        return refuse("is empty");
    }
    if name == "." || name == ".." {
        return refuse("is not a name");
    }
    if name.contains(['/', '\\', '\0']) {
        return refuse("contains a path separator or NUL");
    }
    Ok(base.join(name))
}

/// The sound server's socket in the audio plugin's socket folder, as
/// `plugins/audio/rootfs/etc/pulse/system.pa` makes it.
pub const PULSE_SOCKET: &str = "pulse.sock";

/// The root of everything the supervisor keeps on disk.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// Creates every folder of the layout that does not exist yet. A folder of the layout that
    /// is a link (a restore or a hand edit may have left one, dangling or not) is replaced by an
    /// empty directory, the link's target untouched: the supervisor writes its folders, and backs
    /// them up, only where they are.
    pub fn ensure_layout(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.root)?;
        for dir in [
            self.addons_core(),
            self.addons_git(),
            self.addons_local(),
            self.addons_data(),
            self.addon_configs(),
            self.backup(),
            self.core_backup(),
            self.share(),
            self.ssl(),
            self.media(),
            self.homeassistant(),
            self.tmp(),
            self.logs(),
        ] {
            let relative = dir.strip_prefix(&self.root).expect("the layout is under the root");
            let mut current = self.root.clone();
            for part in relative.components() {
                current.push(part);
                reclaim_dir(&current)?;
            }
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

    /// The built-in `core` add-on repository, unpacked from the binary at start (unless another
    /// folder is given); replaced whole when the binary carries a different one.
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

    /// Core's own backup folder, the `.cloud_backup` location (`core/backup`, as the real
    /// Supervisor keeps it).
    pub fn core_backup(&self) -> PathBuf {
        self.root.join("core/backup")
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

    /// Where network storage is mounted, one folder per mount.
    pub fn mounts(&self) -> PathBuf {
        self.root.join("mounts")
    }

    /// The CIFS credentials files of the mounts (0600, in a 0700 folder).
    pub fn mounts_credentials(&self) -> PathBuf {
        self.root.join(".mounts_credentials")
    }

    /// Read-only stand-ins bound where a media or share mount failed, one folder per mount.
    pub fn emergency(&self) -> PathBuf {
        self.root.join("emergency")
    }

    pub fn homeassistant(&self) -> PathBuf {
        self.root.join("homeassistant")
    }

    /// A plugin's folder (`/config` in its container), one per plugin.
    pub fn plugin(&self, slug: &str) -> PathBuf {
        self.root.join("plugins").join(slug)
    }

    /// The audio plugin's socket folder: bound writable into its container, read-only into
    /// the add-ons with `audio`.
    pub fn audio_socket(&self) -> PathBuf {
        self.plugin("audio").join("run")
    }

    /// The audio plugin's sound server, in its socket folder.
    pub fn pulse_socket(&self) -> PathBuf {
        self.audio_socket().join(PULSE_SOCKET)
    }

    /// The sound configuration the add-ons with `audio` get read-only: ALSA's, and one
    /// PulseAudio client configuration per add-on. Only the supervisor writes here, so no
    /// container can plant a link where it writes.
    pub fn audio_clients(&self) -> PathBuf {
        self.root.join("audio")
    }

    /// The add-ons' own AppArmor profiles, one file per add-on named by its slug (the profile's
    /// name too), as the real Supervisor keeps them.
    pub fn apparmor(&self) -> PathBuf {
        self.root.join("apparmor")
    }

    /// A fleet node's own files (`crates/fleet-node`): the id the fleet gave it, so it joins
    /// again as the same node, and the last node update it acted on.
    pub fn fleet(&self) -> PathBuf {
        self.root.join("fleet")
    }

    /// Scratch space; emptied at every start.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The supervisor's own log, one file per start, until the journal backend exists.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs/supervisor")
    }

    /// The balena device API's own files (mode 0700: its keys are secrets).
    pub fn balena(&self) -> PathBuf {
        self.root.join("balena")
    }

    /// The device's API key of the balena device API (global scope), mode 0600.
    pub fn balena_api_key(&self) -> PathBuf {
        self.balena().join("api_key")
    }

    /// The API keys of applications' services, each reaching its own application, mode 0600.
    pub fn balena_app_keys(&self) -> PathBuf {
        self.balena().join("app_keys.json")
    }

    /// The update-lock folders of add-ons, `<slug>/<slug>/`, each bound into its add-on's
    /// container as `/tmp/balena` and `/tmp/resin`, as balena services have theirs.
    pub fn addon_locks(&self) -> PathBuf {
        self.root.join("addons/locks")
    }

    /// The update-lock folders of balena services, `<app id>/<service name>/`, each bound into
    /// its service's containers as `/tmp/balena` and `/tmp/resin`, where the service holds its
    /// lock by creating `updates.lock`.
    pub fn balena_locks(&self) -> PathBuf {
        self.balena().join("locks")
    }

    /// The host's proxy settings as the balena device API writes them (`redsocks.conf` and
    /// `no_proxy`), as balenaOS keeps them in `system-proxy` of its boot partition.
    pub fn balena_system_proxy(&self) -> PathBuf {
        self.balena().join("system-proxy")
    }
}

/// Makes `path` a directory of its own: created when missing; a link or a file there is moved
/// aside (`<name>.not-a-folder`) with a log line.
fn reclaim_dir(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(meta) => {
            let mut aside = path.as_os_str().to_owned();
            aside.push(".not-a-folder");
            let what = if meta.file_type().is_symlink() { "a link" } else { "not a folder" };
            tracing::warn!(
                "{} is {what}; moving it to {} and making a new folder",
                path.display(),
                aside.to_string_lossy()
            );
            if std::fs::symlink_metadata(&aside).is_ok_and(|old| old.is_dir()) {
                std::fs::remove_dir_all(&aside)?;
            }
            std::fs::rename(path, &aside)?;
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    match std::fs::create_dir(path) {
        Err(error) if error.kind() != io::ErrorKind::AlreadyExists => Err(error),
        _ => Ok(()),
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

    #[test]
    fn layout_folders_that_are_links_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        let data = DataDir::new(dir.path());
        std::os::unix::fs::symlink("/nonexistent/share", data.share()).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("addons")).unwrap();
        data.ensure_layout().unwrap();
        for folder in [data.share(), dir.path().join("addons"), data.addons_data()] {
            assert!(std::fs::symlink_metadata(&folder).unwrap().is_dir(), "{}", folder.display());
        }
        assert!(std::fs::symlink_metadata(dir.path().join("share.not-a-folder")).unwrap().is_symlink());
        let left: Vec<_> = std::fs::read_dir(outside.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["keep"], "nothing is created through the link");
        data.ensure_layout().unwrap();
    }

    #[test]
    fn beneath_takes_plain_names_only() {
        let base = Path::new("/data/addons/data");
        assert_eq!(beneath(base, "local_ssh").unwrap(), base.join("local_ssh"));
        assert_eq!(beneath(base, ".hidden..name").unwrap(), base.join(".hidden..name"));
        for bad in ["", ".", "..", "/etc", "../x", "a/b", "a\\b", "a\0b"] {
            assert!(beneath(base, bad).is_err(), "{bad:?}");
        }
        assert_eq!(beneath(base, "..").unwrap_err().to_string(), "'..' is not a name");
    }
}
