//! The systemd mount units of a mount, as the real Supervisor makes them: the unit's name is its
//! place (systemd derives `Where` from it), and its properties are `Options`, `Type` (not for a
//! bind mount), `Description`, `What` and `TimeoutUSec`.

use crate::config::{MountConfig, Source};
use dbus::zvariant::Value;
use std::path::{Path, PathBuf};

/// systemd gives up on `mount` after this long (µs), before the supervisor stops waiting, so the
/// unit always ends `failed` rather than hanging in `activating` (NFS: `timeo=100,retrans=2` is
/// about 30 s).
pub const TIMEOUT_USEC: u64 = 35 * 1_000_000;

/// One mount unit: where, what, how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountUnit {
    /// `Supervisor cifs mount: nas`.
    pub description: String,
    pub what: String,
    pub place: PathBuf,
    /// `None` for a bind mount.
    pub fs_type: Option<&'static str>,
    pub options: Vec<String>,
}

impl MountUnit {
    /// The unit mounting `config` at `place`, reading CIFS credentials from `credentials` when
    /// it has some.
    pub fn network(config: &MountConfig, place: PathBuf, credentials: &Path) -> MountUnit {
        let mut options = Vec::new();
        if config.read_only {
            options.push("ro".to_owned());
        }
        if let Some(port) = config.port {
            options.push(format!("port={port}"));
        }
        let what = match &config.source {
            Source::Cifs { share, credentials: login, version } => {
                // soft, echo_interval=10 and retrans=0: an unreachable server fails a call in
                // about 30 s instead of blocking it, as NFS does with its options below.
                options.extend(["noserverino", "soft", "echo_interval=10", "retrans=0"].map(str::to_owned));
                if let Some(version) = version {
                    options.push(format!("vers={}", version.name()));
                }
                options.push(match login {
                    Some(_) => format!("credentials={}", credentials.display()),
                    None => "guest".to_owned(),
                });
                format!("//{}/{share}", config.server)
            }
            Source::Nfs { path } => {
                options.extend(["softerr", "timeo=100", "retrans=2"].map(str::to_owned));
                format!("{}:{path}", config.server)
            }
        };
        let kind = config.kind().name();
        MountUnit {
            description: format!("Supervisor {kind} mount: {}", config.name),
            what,
            place,
            fs_type: Some(kind),
            options,
        }
    }

    /// A bind mount named `name` of `source` at `place`.
    pub fn bind(name: &str, source: &Path, place: PathBuf, read_only: bool) -> MountUnit {
        let mut options = Vec::new();
        if read_only {
            options.push("ro".to_owned());
        }
        options.push("bind".to_owned());
        MountUnit {
            description: format!("Supervisor bind mount: {name}"),
            what: source.display().to_string(),
            place,
            fs_type: None,
            options,
        }
    }

    /// The unit's name: its place, escaped as `systemd-escape --path`, and `.mount`.
    pub fn name(&self) -> String {
        format!("{}.mount", escape_path(&self.place))
    }

    /// The properties of `StartTransientUnit`.
    pub fn properties(&self) -> Vec<(&'static str, Value<'static>)> {
        let mut properties = Vec::new();
        if !self.options.is_empty() {
            properties.push(("Options", Value::from(self.options.join(","))));
        }
        if let Some(fs_type) = self.fs_type {
            properties.push(("Type", Value::from(fs_type)));
        }
        properties.push(("Description", Value::from(self.description.clone())));
        properties.push(("What", Value::from(self.what.clone())));
        properties.push(("TimeoutUSec", Value::from(TIMEOUT_USEC)));
        properties
    }
}

/// A path as systemd names its unit (`systemd-escape --path`): no leading or trailing slash,
/// the others `-`; bytes other than ASCII letters, digits, `:`, `_` and `.` (and `.` first) as
/// `\xNN`. `/mnt/data/supervisor/mounts/nas` is `mnt-data-supervisor-mounts-nas`.
pub fn escape_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let components: Vec<&str> = text.split('/').filter(|part| !part.is_empty()).collect();
    if components.is_empty() {
        return "-".to_owned();
    }
    let mut escaped = String::new();
    for (index, component) in components.iter().enumerate() {
        if index > 0 {
            escaped.push('-');
        }
        for (position, byte) in component.bytes().enumerate() {
            let plain = byte.is_ascii_alphanumeric() || matches!(byte, b':' | b'_') || (byte == b'.' && position > 0);
            if plain {
                escaped.push(char::from(byte));
            } else {
                escaped.push_str(&format!("\\x{byte:02x}"));
            }
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(body: serde_json::Value) -> MountConfig {
        crate::MountRequest::parse(body.as_object().unwrap(), None).unwrap()
    }

    fn shown(unit: &MountUnit) -> Vec<String> {
        unit.properties().iter().map(|(name, value)| format!("{name}={value}")).collect()
    }

    #[test]
    fn unit_names_escape_the_place_as_systemd_does() {
        assert_eq!(escape_path(Path::new("/mnt/data/supervisor/mounts/nas")), "mnt-data-supervisor-mounts-nas");
        assert_eq!(escape_path(Path::new("/tmp/.tmpA-b//media/x_y/")), r"tmp-\x2etmpA\x2db-media-x_y");
        assert_eq!(escape_path(Path::new("/")), "-");
        let unit = MountUnit::bind("bind_x", Path::new("/d/mounts/x"), PathBuf::from("/d/media/x"), false);
        assert_eq!(unit.name(), "d-media-x.mount");
    }

    #[test]
    fn cifs_units_have_the_real_options() {
        let cifs = config(json!({"name": "nas", "type": "cifs", "usage": "media", "server": "nas.local",
            "share": "media", "username": "u", "password": "p", "version": "1.0", "port": 445, "read_only": true}));
        let unit = MountUnit::network(&cifs, PathBuf::from("/d/mounts/nas"), Path::new("/d/.mounts_credentials/nas"));
        assert_eq!(
            shown(&unit),
            [
                "Options=\"ro,port=445,noserverino,soft,echo_interval=10,retrans=0,vers=1.0,credentials=/d/.mounts_credentials/nas\"",
                "Type=\"cifs\"",
                "Description=\"Supervisor cifs mount: nas\"",
                "What=\"//nas.local/media\"",
                "TimeoutUSec=uint64 35000000",
            ]
        );
        let guest = config(json!({"name": "g", "type": "cifs", "usage": "backup", "server": "s", "share": "b"}));
        let unit = MountUnit::network(&guest, PathBuf::from("/d/mounts/g"), Path::new("/c"));
        assert_eq!(unit.options.join(","), "noserverino,soft,echo_interval=10,retrans=0,guest");
    }

    #[test]
    fn nfs_and_bind_units() {
        let nfs = config(
            json!({"name": "cams", "type": "nfs", "usage": "share", "server": "10.0.0.2", "path": "/export", "port": 2049}),
        );
        let unit = MountUnit::network(&nfs, PathBuf::from("/d/mounts/cams"), Path::new("/c"));
        assert_eq!((unit.what.as_str(), unit.fs_type), ("10.0.0.2:/export", Some("nfs")));
        assert_eq!(unit.options.join(","), "port=2049,softerr,timeo=100,retrans=2");
        let bind =
            MountUnit::bind("emergency_cams", Path::new("/d/emergency/cams"), PathBuf::from("/d/share/cams"), true);
        assert_eq!(
            shown(&bind),
            [
                "Options=\"ro,bind\"",
                "Description=\"Supervisor bind mount: emergency_cams\"",
                "What=\"/d/emergency/cams\"",
                "TimeoutUSec=uint64 35000000",
            ]
        );
    }
}
