//! What the fixture systemd does for `.mount` units: really mounts them with `mount(8)` (the
//! tests run as root, so a bind or tmpfs mount works), and stands in for file servers.
//!
//! A mount unit's `Where` is its name unescaped, as systemd derives it. Local mounts (a bind
//! mount, `Type=tmpfs`, ...) run `mount` as given. A CIFS or NFS unit whose server is one the
//! test serves ([`FileServers`], steered through `io.supervisor.Fixture.FileServers`) is mounted
//! as a bind mount of the served folder (read-only with `ro`), after the checks a server makes:
//! the share must exist, and a server with credentials accepts only the `credentials=` file that
//! names them. Any other server gets the real `mount -t cifs|nfs ...`, which fails on a machine
//! that cannot reach it: the unit ends `failed`, as on a real host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// The network file systems a served host can stand in for.
const NETWORK_TYPES: [&str; 4] = ["cifs", "smb3", "nfs", "nfs4"];

/// What a mount unit mounts, from its properties and name.
#[derive(Clone, Debug)]
pub struct MountSpec {
    pub what: String,
    pub place: PathBuf,
    pub fs_type: Option<String>,
    pub options: Option<String>,
}

/// A served host: its exported folder and, when it asks for them, the credentials it accepts.
#[derive(Clone, Debug)]
pub struct FileServer {
    pub root: PathBuf,
    pub credentials: Option<(String, String)>,
}

/// The hosts the test serves, by name.
pub type FileServers = Arc<Mutex<BTreeMap<String, FileServer>>>;

impl MountSpec {
    /// The served host this unit mounts from, if it is a network mount of one.
    pub fn server(&self) -> Option<&str> {
        if !NETWORK_TYPES.contains(&self.fs_type.as_deref()?) {
            return None;
        }
        network_source(&self.what).map(|(host, _)| host)
    }

    fn has_option(&self, wanted: &str) -> bool {
        self.options().any(|option| option == wanted)
    }

    fn options(&self) -> impl Iterator<Item = &str> {
        self.options.as_deref().unwrap_or("").split(',').filter(|option| !option.is_empty())
    }

    /// Mounts it; the error is what `mount` (or the server) said.
    pub fn mount(&self, servers: &FileServers) -> Result<(), String> {
        let served = self.server().and_then(|host| servers.lock().expect("servers lock").get(host).cloned());
        let args = match served {
            Some(server) => self.served_bind(&server)?,
            None => {
                let mut args = Vec::new();
                if let Some(fs_type) = &self.fs_type {
                    args.extend(["-t".to_owned(), fs_type.clone()]);
                }
                if let Some(options) = self.options.as_ref().filter(|options| !options.is_empty()) {
                    args.extend(["-o".to_owned(), options.clone()]);
                }
                args.extend([self.what.clone(), self.place.display().to_string()]);
                args
            }
        };
        run("mount", &args)
    }

    /// `mount -o remount`, as systemd reloads a mount unit.
    pub fn remount(&self, servers: &FileServers) -> Result<(), String> {
        let served = self.server().is_some_and(|host| servers.lock().expect("servers lock").contains_key(host));
        let mut options = vec!["remount"];
        if served {
            options.push("bind");
            options.extend(self.has_option("ro").then_some("ro"));
        } else {
            options.extend(self.options());
        }
        run("mount", &["-o".to_owned(), options.join(","), self.place.display().to_string()])
    }

    /// Unmounts it; one that is not mounted any more is done.
    pub fn unmount(&self) -> Result<(), String> {
        match run("umount", &[self.place.display().to_string()]) {
            Err(_) if !is_mount_point(&self.place) => Ok(()),
            result => result,
        }
    }

    /// Unmounts it even if busy, for the fixture's shutdown.
    pub fn release(&self) {
        let _ = run("umount", &["-l".to_owned(), self.place.display().to_string()]);
    }

    /// The bind mount standing in for a mount from `server`, once the server accepted it.
    fn served_bind(&self, server: &FileServer) -> Result<Vec<String>, String> {
        let (_, share) = network_source(&self.what).ok_or("mount error(22): Invalid argument")?;
        if let Some((username, password)) = &server.credentials {
            let given = self
                .options()
                .find_map(|option| option.strip_prefix("credentials="))
                .and_then(|file| std::fs::read_to_string(file).ok())
                .map(|text| credentials_of(&text));
            if given != Some((Some(username.clone()), Some(password.clone()))) {
                return Err("mount error(13): Permission denied".to_owned());
            }
        }
        let source = server.root.join(share.trim_start_matches('/'));
        if share.split('/').any(|part| part == "..") || !source.is_dir() {
            return Err("mount error(2): No such file or directory".to_owned());
        }
        let options = if self.has_option("ro") { "bind,ro" } else { "bind" };
        Ok(vec!["-o".to_owned(), options.to_owned(), source.display().to_string(), self.place.display().to_string()])
    }
}

/// `//host/share/...` (CIFS) or `host:/path` (NFS): the host and the rest.
fn network_source(what: &str) -> Option<(&str, &str)> {
    if let Some(rest) = what.strip_prefix("//") {
        return rest.split_once('/').filter(|(host, _)| !host.is_empty());
    }
    what.split_once(':').filter(|(host, path)| !host.is_empty() && path.starts_with('/'))
}

/// The `username=` and `password=` lines of a CIFS credentials file.
fn credentials_of(text: &str) -> (Option<String>, Option<String>) {
    let value = |key: &str| text.lines().find_map(|line| line.strip_prefix(key)).map(str::to_owned);
    (value("username="), value("password="))
}

fn run(program: &str, args: &[String]) -> Result<(), String> {
    let output = Command::new(program).args(args).output().map_err(|error| format!("{program}: {error}"))?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    Err(if said.is_empty() { format!("{program} failed: {}", output.status) } else { said })
}

/// Whether something is mounted at `path` (`/proc/self/mountinfo`, whose paths escape blanks,
/// tabs, new lines and backslashes in octal).
fn is_mount_point(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return false };
    let wanted = path.display().to_string();
    info.lines().filter_map(|line| line.split(' ').nth(4)).any(|point| unescape_octal(point) == wanted)
}

fn unescape_octal(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'\\')
            .then(|| text.get(index + 1..index + 4))
            .flatten()
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 4;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path a mount unit's name stands for (`systemd-escape --unescape --path`): `-` separates
/// components, `\xNN` is a byte, `-.mount` is the root. `None` if it is no mount unit's name.
pub fn mount_place(unit: &str) -> Option<PathBuf> {
    let escaped = unit.strip_suffix(".mount")?;
    if escaped == "-" {
        return Some(PathBuf::from("/"));
    }
    let mut path = Vec::new();
    for component in escaped.split('-') {
        if component.is_empty() {
            return None;
        }
        path.push(b'/');
        let bytes = component.as_bytes();
        let mut index = 0;
        while index < bytes.len() {
            if bytes[index] == b'\\' {
                let hex = component.get(index + 2..index + 4).filter(|_| bytes.get(index + 1) == Some(&b'x'))?;
                path.push(u8::from_str_radix(hex, 16).ok()?);
                index += 4;
            } else {
                path.push(bytes[index]);
                index += 1;
            }
        }
    }
    let path = PathBuf::from(String::from_utf8(path).ok()?);
    let normal =
        path.components().all(|part| matches!(part, std::path::Component::RootDir | std::path::Component::Normal(_)));
    normal.then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_unescape_to_their_place() {
        assert_eq!(
            mount_place("mnt-data-supervisor-mounts-nas.mount"),
            Some(PathBuf::from("/mnt/data/supervisor/mounts/nas"))
        );
        assert_eq!(mount_place(r"tmp-\x2etmpA\x2db-media.mount"), Some(PathBuf::from("/tmp/.tmpA-b/media")));
        assert_eq!(mount_place("-.mount"), Some(PathBuf::from("/")));
        assert_eq!(mount_place("a--b.mount"), None);
        assert_eq!(mount_place(r"a-\x2e\x2e-b.mount"), None);
        assert_eq!(mount_place("docker.service"), None);
    }

    #[test]
    fn network_sources_name_their_host() {
        assert_eq!(network_source("//nas.local/backups"), Some(("nas.local", "backups")));
        assert_eq!(network_source("nas:/export/media"), Some(("nas", "/export/media")));
        assert_eq!(network_source("/dev/sda1"), None);
        let spec = MountSpec {
            what: "//nas/x".to_owned(),
            place: PathBuf::from("/m"),
            fs_type: Some("cifs".to_owned()),
            options: Some("noserverino,credentials=/c".to_owned()),
        };
        assert_eq!(spec.server(), Some("nas"));
        assert!(!spec.has_option("ro"));
        assert_eq!(credentials_of("username=u\npassword=p=q"), (Some("u".to_owned()), Some("p=q".to_owned())));
        assert_eq!(unescape_octal(r"/a\040b"), "/a b");
    }
}
