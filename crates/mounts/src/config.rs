//! A mount's configuration: what `POST /mounts` and `PUT /mounts/{mount}` accept, checked as
//! the real Supervisor checks it (with its messages, naming the key), what is persisted (the
//! password included) and what `GET /mounts` shows (never the credentials).
//!
//! Keys the real schema does not know are dropped, as it drops them: a client may send back a
//! mount as it read it, `state` and `user_path` included.

use base::Error;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use utoipa::ToSchema;

/// Letters, digits and underscores: a mount's name is a folder and part of a unit name.
pub const NAME_PATTERN: &str = "^[A-Za-z0-9_]+$";
/// A server or share must not start with a slash (`^[^\\/]+`).
const PATH_PART_PATTERN: &str = r"^[^\\\/]+";

/// How the storage is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    Cifs,
    Nfs,
}

impl MountType {
    pub fn name(self) -> &'static str {
        match self {
            MountType::Cifs => "cifs",
            MountType::Nfs => "nfs",
        }
    }
}

/// What the storage is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MountUsage {
    /// A place for backups (`location` of `/backups/new/*`).
    Backup,
    /// A folder in `/media`.
    Media,
    /// A folder in `/share`.
    Share,
}

impl MountUsage {
    const ALL: [(&'static str, MountUsage); 3] =
        [("backup", MountUsage::Backup), ("media", MountUsage::Media), ("share", MountUsage::Share)];
}

/// A legacy SMB protocol version to force; by default the client and server negotiate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CifsVersion {
    #[serde(rename = "1.0")]
    Legacy1,
    #[serde(rename = "2.0")]
    Legacy2,
}

impl CifsVersion {
    pub fn name(self) -> &'static str {
        match self {
            CifsVersion::Legacy1 => "1.0",
            CifsVersion::Legacy2 => "2.0",
        }
    }
}

/// A CIFS login. Its `Debug` hides the password, so it reaches no log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<hidden>").finish()
    }
}

/// What is mounted from the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Source {
    Cifs {
        share: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credentials: Option<Credentials>,
        #[serde(default)]
        version: Option<CifsVersion>,
    },
    Nfs {
        path: String,
    },
}

/// One configured mount, as persisted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountConfig {
    pub name: String,
    pub usage: MountUsage,
    #[serde(default)]
    pub read_only: bool,
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(flatten)]
    pub source: Source,
}

/// The body of `POST /mounts` and `PUT /mounts/{mount}`, for the documentation: what the handlers
/// read from it is checked key by key.
#[derive(ToSchema)]
pub struct MountRequest {
    /// Letters, digits and underscores; on update, the mount's own name or left out.
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: MountType,
    pub usage: MountUsage,
    /// Not for backup mounts.
    pub read_only: Option<bool>,
    /// The server's host name or address.
    pub server: String,
    /// When not the protocol's default.
    pub port: Option<u16>,
    /// CIFS: the share.
    pub share: Option<String>,
    /// CIFS: with `password`, or neither for guest access.
    pub username: Option<String>,
    pub password: Option<String>,
    /// CIFS: `1.0` or `2.0` to force a legacy protocol.
    pub version: Option<CifsVersion>,
    /// NFS: the exported path.
    pub path: Option<String>,
}

/// One mount as `GET /mounts` shows it: no credentials.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MountInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: MountType,
    pub usage: MountUsage,
    pub read_only: bool,
    pub server: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// CIFS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
    /// CIFS: the forced protocol version or `null`; not shown for NFS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Option<CifsVersion>>,
    /// NFS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The systemd unit's `ActiveState` (`active`, `failed`, `inactive`, ...); `null` before the
    /// mount was first tried.
    pub state: Option<String>,
    /// Where add-ons and Core see it (`/media/<name>`, `/share/<name>`); `null` for backups.
    pub user_path: Option<String>,
}

impl MountRequest {
    /// Reads and checks a mount from a request body; `name` is the mount's name when it is
    /// updated (the body may leave it out, and may not change it).
    pub fn parse(body: &Map<String, Value>, name: Option<&str>) -> Result<MountConfig, Error> {
        let fields = Fields(body);
        let name = match name {
            None => fields.matching("name", NAME_PATTERN, is_name)?,
            Some(current) => match body.get("name") {
                None => current.to_owned(),
                Some(given) if given.as_str() == Some(current) => current.to_owned(),
                Some(_) => return Err(invalid("not a valid value for dictionary value @ data['name']")),
            },
        };
        let kind = match fields.string("type")?.as_str() {
            "cifs" => MountType::Cifs,
            "nfs" => MountType::Nfs,
            _ => return Err(invalid("value must be one of ['cifs', 'nfs'] for dictionary value @ data['type']")),
        };
        let usage = fields.string("usage")?;
        let usage =
            MountUsage::ALL.iter().find(|(known, _)| *known == usage).map(|(_, usage)| *usage).ok_or_else(|| {
                invalid("value must be one of ['backup', 'media', 'share'] for dictionary value @ data['usage']")
            })?;
        let read_only = fields.boolean("read_only")?.unwrap_or(false);
        let server = fields.matching("server", PATH_PART_PATTERN, is_path_part)?;
        let port = fields.port()?;
        let source = match kind {
            MountType::Cifs => {
                let share = fields.matching("share", PATH_PART_PATTERN, is_path_part)?;
                let username = fields.optional_string("username")?;
                let password = fields.optional_string("password")?;
                let credentials = match (username, password) {
                    (Some(username), Some(password)) => {
                        for (key, value) in [("username", &username), ("password", &password)] {
                            if value.contains(['\n', '\r', '\0']) {
                                return Err(invalid(format!(
                                    "{key} may not contain line breaks or NUL characters for dictionary value @ data['{key}']"
                                )));
                            }
                        }
                        Some(Credentials { username, password })
                    }
                    (None, None) => None,
                    _ => {
                        return Err(invalid(
                            "some but not all values in the same group of inclusion 'basic_auth' @ data[<basic_auth>]",
                        ))
                    }
                };
                let version = match body.get("version") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(version)) if version == "1.0" => Some(CifsVersion::Legacy1),
                    Some(Value::String(version)) if version == "2.0" => Some(CifsVersion::Legacy2),
                    Some(_) => {
                        return Err(invalid(
                            "value must be one of ['1.0', '2.0'] for dictionary value @ data['version']",
                        ))
                    }
                };
                Source::Cifs { share, credentials, version }
            }
            MountType::Nfs => Source::Nfs { path: fields.string("path")? },
        };
        if usage == MountUsage::Backup && read_only {
            return Err(invalid("Backup mounts cannot be read only"));
        }
        Ok(MountConfig { name, usage, read_only, server, port, source })
    }
}

impl MountConfig {
    pub fn kind(&self) -> MountType {
        match self.source {
            Source::Cifs { .. } => MountType::Cifs,
            Source::Nfs { .. } => MountType::Nfs,
        }
    }

    /// How `GET /mounts` shows it, with its unit's state.
    pub fn info(&self, state: Option<String>) -> MountInfo {
        let (share, version, path) = match &self.source {
            Source::Cifs { share, version, .. } => (Some(share.clone()), Some(*version), None),
            Source::Nfs { path } => (None, None, Some(path.clone())),
        };
        let user_path = match self.usage {
            MountUsage::Media => Some(format!("/media/{}", self.name)),
            MountUsage::Share => Some(format!("/share/{}", self.name)),
            MountUsage::Backup => None,
        };
        MountInfo {
            name: self.name.clone(),
            kind: self.kind(),
            usage: self.usage,
            read_only: self.read_only,
            server: self.server.clone(),
            port: self.port,
            share,
            version,
            path,
            state,
            user_path,
        }
    }
}

/// Whether `name` is a mount's name.
pub fn is_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_path_part(text: &str) -> bool {
    text.chars().next().is_some_and(|first| first != '/' && first != '\\')
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid(message)
}

/// The keys of a body, read with the real schema's messages.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn string(&self, key: &str) -> Result<String, Error> {
        self.optional_string(key)?.ok_or_else(|| invalid(format!("required key not provided @ data['{key}']")))
    }

    fn optional_string(&self, key: &str) -> Result<Option<String>, Error> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(invalid(format!("expected str for dictionary value @ data['{key}']"))),
        }
    }

    fn matching(&self, key: &str, pattern: &str, matches: fn(&str) -> bool) -> Result<String, Error> {
        let text = self.string(key)?;
        if !matches(&text) {
            return Err(invalid(format!(
                "does not match regular expression {pattern} for dictionary value @ data['{key}']"
            )));
        }
        Ok(text)
    }

    /// A boolean as voluptuous's `Boolean()` reads one: `true`, `1`, `"yes"`, `"off"`, ...
    fn boolean(&self, key: &str) -> Result<Option<bool>, Error> {
        let refused = || invalid(format!("expected boolean for dictionary value @ data['{key}']"));
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Bool(value)) => Ok(Some(*value)),
            Some(Value::Number(number)) => number.as_f64().map(|n| Some(n != 0.0)).ok_or_else(refused),
            Some(Value::String(text)) => match text.to_lowercase().as_str() {
                "1" | "true" | "yes" | "on" | "enable" => Ok(Some(true)),
                "0" | "false" | "no" | "off" | "disable" => Ok(Some(false)),
                _ => Err(refused()),
            },
            Some(_) => Err(refused()),
        }
    }

    /// A port: an integer (or a string of one) from 1 to 65535.
    fn port(&self) -> Result<Option<u16>, Error> {
        let number = match self.0.get("port") {
            None => return Ok(None),
            Some(Value::Number(number)) => number.as_i64(),
            Some(Value::String(text)) => text.trim().parse::<i64>().ok(),
            Some(_) => None,
        };
        let number = number.ok_or_else(|| invalid("expected int for dictionary value @ data['port']"))?;
        if number < 1 {
            return Err(invalid("value must be at least 1 for dictionary value @ data['port']"));
        }
        u16::try_from(number)
            .map(Some)
            .map_err(|_| invalid("value must be at most 65535 for dictionary value @ data['port']"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<MountConfig, String> {
        MountRequest::parse(body.as_object().unwrap(), None).map_err(|error| error.message)
    }

    fn cifs() -> Value {
        json!({"name": "nas_1", "type": "cifs", "usage": "backup", "server": "nas.local", "share": "backups"})
    }

    fn with(mut body: Value, key: &str, value: Value) -> Value {
        body[key] = value;
        body
    }

    #[test]
    fn a_cifs_mount_is_read_with_its_defaults() {
        let config = parse(with(with(cifs(), "username", json!("admin")), "password", json!("s3cret"))).unwrap();
        assert_eq!(config.name, "nas_1");
        assert_eq!((config.usage, config.read_only, config.port), (MountUsage::Backup, false, None));
        let Source::Cifs { share, credentials, version } = &config.source else { panic!("{config:?}") };
        assert_eq!((share.as_str(), *version), ("backups", None));
        assert_eq!(credentials.as_ref().unwrap().password, "s3cret");
        assert!(!format!("{config:?}").contains("s3cret"));
        let extra = with(with(cifs(), "state", json!("active")), "version", json!("2.0"));
        assert_eq!(
            parse(extra).unwrap().source,
            Source::Cifs { share: "backups".into(), credentials: None, version: Some(CifsVersion::Legacy2) }
        );
    }

    #[test]
    fn an_nfs_mount_needs_its_path() {
        let nfs = json!({"name": "cams", "type": "nfs", "usage": "media", "server": "10.0.0.2", "port": "2049", "read_only": "yes"});
        assert_eq!(parse(nfs.clone()).unwrap_err(), "required key not provided @ data['path']");
        let config = parse(with(nfs, "path", json!("/export/cams"))).unwrap();
        assert_eq!((config.port, config.read_only), (Some(2049), true));
        assert_eq!(config.source, Source::Nfs { path: "/export/cams".into() });
    }

    #[test]
    fn refusals_name_the_key() {
        let cases = [
            (
                with(cifs(), "name", json!("my-nas")),
                "does not match regular expression ^[A-Za-z0-9_]+$ for dictionary value @ data['name']",
            ),
            (
                with(cifs(), "name", json!("")),
                "does not match regular expression ^[A-Za-z0-9_]+$ for dictionary value @ data['name']",
            ),
            (
                with(cifs(), "type", json!("bind")),
                "value must be one of ['cifs', 'nfs'] for dictionary value @ data['type']",
            ),
            (
                with(cifs(), "usage", json!("install")),
                "value must be one of ['backup', 'media', 'share'] for dictionary value @ data['usage']",
            ),
            (
                with(cifs(), "server", json!("/nas")),
                r"does not match regular expression ^[^\\\/]+ for dictionary value @ data['server']",
            ),
            (with(cifs(), "server", json!(7)), "expected str for dictionary value @ data['server']"),
            (
                with(cifs(), "share", json!("\\x")),
                r"does not match regular expression ^[^\\\/]+ for dictionary value @ data['share']",
            ),
            (with(cifs(), "port", json!(0)), "value must be at least 1 for dictionary value @ data['port']"),
            (with(cifs(), "port", json!(70000)), "value must be at most 65535 for dictionary value @ data['port']"),
            (with(cifs(), "port", json!("x")), "expected int for dictionary value @ data['port']"),
            (with(cifs(), "read_only", json!("maybe")), "expected boolean for dictionary value @ data['read_only']"),
            (with(cifs(), "read_only", json!(true)), "Backup mounts cannot be read only"),
            (
                with(cifs(), "version", json!("3.0")),
                "value must be one of ['1.0', '2.0'] for dictionary value @ data['version']",
            ),
            (
                with(cifs(), "username", json!("admin")),
                "some but not all values in the same group of inclusion 'basic_auth' @ data[<basic_auth>]",
            ),
            (
                with(with(cifs(), "username", json!("a\nb")), "password", json!("p")),
                "username may not contain line breaks or NUL characters for dictionary value @ data['username']",
            ),
        ];
        for (body, message) in cases {
            assert_eq!(parse(body.clone()).unwrap_err(), message, "{body}");
        }
        let mut missing = cifs();
        missing.as_object_mut().unwrap().remove("share");
        assert_eq!(parse(missing).unwrap_err(), "required key not provided @ data['share']");
    }

    #[test]
    fn an_update_keeps_the_name() {
        let mut body = cifs();
        body.as_object_mut().unwrap().remove("name");
        assert_eq!(MountRequest::parse(body.as_object().unwrap(), Some("nas_1")).unwrap().name, "nas_1");
        let renamed = MountRequest::parse(cifs().as_object().unwrap(), Some("other")).unwrap_err();
        assert_eq!(renamed.message, "not a valid value for dictionary value @ data['name']");
    }

    #[test]
    fn the_list_shows_no_credentials() {
        let config = parse(with(with(cifs(), "username", json!("admin")), "password", json!("s3cret"))).unwrap();
        let shown = serde_json::to_value(config.info(Some("active".into()))).unwrap();
        assert_eq!(
            shown,
            json!({"name": "nas_1", "type": "cifs", "usage": "backup", "read_only": false, "server": "nas.local",
                   "share": "backups", "version": null, "state": "active", "user_path": null})
        );
        let nfs =
            parse(json!({"name": "m", "type": "nfs", "usage": "media", "server": "s", "path": "/p", "port": 2049}))
                .unwrap();
        let shown = serde_json::to_value(nfs.info(None)).unwrap();
        assert_eq!(shown["user_path"], "/media/m");
        assert_eq!((&shown["path"], &shown["port"], shown.get("version")), (&json!("/p"), &json!(2049), None));
        let stored = serde_json::to_value(&config).unwrap();
        assert_eq!(stored["credentials"]["password"], "s3cret");
        assert_eq!(serde_json::from_value::<MountConfig>(stored).unwrap(), config);
    }
}
