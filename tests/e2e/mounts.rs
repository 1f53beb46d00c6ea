//! `/mounts` against the fixture systemd, which really mounts (the tests run as root): CIFS and
//! NFS units to hosts the test serves (a tmpfs of its own, the credentials checked as a server
//! checks them) become bind mounts, any other server gets the real `mount -t cifs|nfs` and fails.
//! Mounts are created with the real unit properties, listed without credentials, bound into
//! media and share, seen going down from systemd's signals, reloaded, updated, refused with the
//! key named and nothing changed, persisted across a restart, removed; and `ha mounts`.

use dbus_fixtures::{PrivateBus, Service};
use e2e::{eventually, Daemon};
use serde_json::{json, Value};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

fn bus() -> PrivateBus {
    PrivateBus::start(&[Service::Systemd1, Service::Hostname1]).expect("a private bus with systemd")
}

fn mounts(daemon: &Daemon) -> Value {
    let (status, body) = daemon.get("/mounts");
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn mount(daemon: &Daemon, name: &str) -> Value {
    let list = mounts(daemon);
    list["mounts"].as_array().unwrap().iter().find(|m| m["name"] == name).cloned().unwrap_or(Value::Null)
}

fn state(daemon: &Daemon, name: &str) -> String {
    mount(daemon, name)["state"].as_str().unwrap_or("").to_owned()
}

fn refused(daemon: &Daemon, method: &str, path: &str, body: Value, status: u16) -> String {
    let (got, answer) = daemon.call(method, path, Some(body));
    assert_eq!(got, status, "{method} {path}: {answer}");
    answer["message"].as_str().expect("a message").to_owned()
}

fn ok(daemon: &Daemon, method: &str, path: &str, body: Option<Value>) {
    let (status, answer) = daemon.call(method, path, body);
    assert_eq!(status, 200, "{method} {path}: {answer}");
}

/// Whether a file system of its own is mounted at `path`.
fn mounted(path: &Path) -> bool {
    let (Ok(here), Ok(above)) = (std::fs::metadata(path), std::fs::metadata(path.parent().unwrap())) else {
        return false;
    };
    here.dev() != above.dev()
}

/// Everything under `dir` that others may read, and whether any of it (or the daemon's log)
/// holds `secret`.
fn world_readable_secret(dir: &Path, secret: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(next) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if meta.is_dir() {
                if !mounted(&path) {
                    todo.push(path);
                }
            } else if meta.is_file() && meta.permissions().mode() & 0o004 != 0 {
                let text = std::fs::read(&path).unwrap_or_default();
                if String::from_utf8_lossy(&text).contains(secret) {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    found
}

#[test]
fn cifs_mounts_are_made_listed_lost_reloaded_updated_and_removed() {
    let bus = bus();
    let secret = "pa55-w0rd-cams";
    let served = bus.serve("nas1", Some(("admin", secret))).unwrap();
    std::fs::create_dir(served.join("media")).unwrap();
    std::fs::write(served.join("media/clip.mp4"), "frames").unwrap();
    let daemon = Daemon::start_with(&[bus.env(), ("SUPERVISOR_LOG_LEVEL", "debug")]);
    let data = daemon.data_dir().to_path_buf();
    let (_, info) = daemon.get("/host/info");
    assert!(info["data"]["features"].as_array().unwrap().contains(&json!("mount")), "{info}");

    let body = json!({"name": "cams", "type": "cifs", "usage": "media", "server": "nas1", "share": "media",
        "username": "admin", "password": secret, "version": "2.0"});
    ok(&daemon, "POST", "/mounts", Some(body.clone()));
    let listed = mounts(&daemon);
    assert_eq!(
        listed["mounts"][0],
        json!({"name": "cams", "type": "cifs", "usage": "media", "read_only": false, "server": "nas1",
               "share": "media", "version": "2.0", "state": "active", "user_path": "/media/cams"}),
        "{listed}"
    );
    assert_eq!(listed["default_backup_mount"], Value::Null, "a media mount is no backup default");
    // The share is mounted at mounts/cams and bound into media.
    assert_eq!(std::fs::read_to_string(data.join("mounts/cams/clip.mp4")).unwrap(), "frames");
    assert_eq!(std::fs::read_to_string(data.join("media/cams/clip.mp4")).unwrap(), "frames");
    std::fs::write(data.join("media/cams/new.mp4"), "more").unwrap();
    assert_eq!(std::fs::read_to_string(served.join("media/new.mp4")).unwrap(), "more");

    // The units systemd was given: the real options, the credentials by file only.
    let calls = bus.calls(Service::Systemd1).unwrap();
    let started: Vec<&String> =
        calls.iter().filter(|c| c.starts_with("StartTransientUnit(") && c.contains(".mount, ")).collect();
    assert_eq!(started.len(), 2, "{calls:?}");
    let credentials = data.join(".mounts_credentials/cams");
    let unit = format!("{}-mounts-cams.mount", escape(&data));
    assert_eq!(
        *started[0],
        format!(
            "StartTransientUnit({unit}, fail, Options=noserverino,soft,echo_interval=10,retrans=0,vers=2.0,credentials={}, \
             Type=cifs, Description=Supervisor cifs mount: cams, What=//nas1/media, TimeoutUSec=uint64 35000000)",
            credentials.display()
        )
    );
    assert_eq!(
        *started[1],
        format!(
            "StartTransientUnit({}-media-cams.mount, fail, Options=bind, Description=Supervisor bind mount: bind_cams, \
             What={}, TimeoutUSec=uint64 35000000)",
            escape(&data),
            data.join("mounts/cams").display()
        )
    );
    let meta = std::fs::metadata(&credentials).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(credentials.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(world_readable_secret(&data, secret).is_empty(), "{:?}", world_readable_secret(&data, secret));
    assert!(!daemon.log_text().contains(secret), "the password reached the log");
    assert!(!calls.iter().any(|c| c.contains(secret)), "{calls:?}");

    // Bad input: 400 naming the key, nothing changed.
    let before = mounts(&daemon);
    let cases = [
        (
            "POST",
            "/mounts",
            json!({"name": "a-b", "type": "nfs", "usage": "media", "server": "s", "path": "/p"}),
            "data['name']",
        ),
        (
            "POST",
            "/mounts",
            json!({"name": "x", "type": "nfs", "usage": "media", "server": "/s", "path": "/p"}),
            "data['server']",
        ),
        ("POST", "/mounts", json!({"name": "x", "type": "smb", "usage": "media", "server": "s"}), "data['type']"),
        (
            "POST",
            "/mounts",
            json!({"name": "x", "type": "nfs", "usage": "backup", "server": "s", "path": "/p", "read_only": true}),
            "Backup mounts cannot be read only",
        ),
        ("POST", "/mounts", body.clone(), "A mount already exists with name cams"),
        (
            "PUT",
            "/mounts/cams",
            json!({"name": "other", "type": "cifs", "usage": "media", "server": "nas1", "share": "media"}),
            "data['name']",
        ),
        (
            "PUT",
            "/mounts/cams",
            json!({"type": "cifs", "usage": "media", "server": "nas1", "share": "media", "port": 0}),
            "data['port']",
        ),
    ];
    for (method, path, body, named) in cases {
        let message = refused(&daemon, method, path, body, 400);
        assert!(message.contains(named), "{method} {path}: {message}");
    }
    assert_eq!(refused(&daemon, "DELETE", "/mounts/nothing", json!({}), 404), "No mount exists with name nothing");
    assert_eq!(refused(&daemon, "POST", "/mounts/nothing/reload", json!({}), 404), "No mount exists with name nothing");
    assert_eq!(mounts(&daemon), before);

    // A server that cannot be reached: refused, and nothing of it kept.
    let message = refused(
        &daemon,
        "POST",
        "/mounts",
        json!({"name": "gone", "type": "nfs", "usage": "share", "server": "nas.invalid", "path": "/x"}),
        400,
    );
    assert!(message.starts_with("Mounting gone did not succeed."), "{message}");
    assert_eq!(mounts(&daemon), before);
    let calls = bus.calls(Service::Systemd1).unwrap();
    assert!(calls.iter().any(|c| c.contains("ResetFailedUnit(") && c.contains("mounts-gone.mount")), "{calls:?}");
    assert!(!mounted(&data.join("mounts/gone")));

    // The server goes away: systemd's signals tell, the reload fails while it is away and
    // succeeds once it is back.
    bus.unserve("nas1").unwrap();
    eventually("the lost mount to show", || (state(&daemon, "cams") == "inactive").then_some(()));
    assert!(!mounted(&data.join("mounts/cams")));
    let message = refused(&daemon, "POST", "/mounts/cams/reload", json!({}), 400);
    assert!(message.contains("cams"), "{message}");
    assert_eq!(state(&daemon, "cams"), "failed");
    bus.serve("nas1", Some(("admin", secret))).unwrap();
    ok(&daemon, "POST", "/mounts/cams/reload", None);
    assert_eq!(state(&daemon, "cams"), "active");
    assert_eq!(std::fs::read_to_string(data.join("media/cams/new.mp4")).unwrap(), "more");

    // Update: read-only now, the same name, other credentials refused by the server.
    let wrong = json!({"type": "cifs", "usage": "media", "server": "nas1", "share": "media",
        "username": "admin", "password": "wrong", "read_only": true});
    let message = refused(&daemon, "PUT", "/mounts/cams", wrong, 400);
    assert!(message.starts_with("Mounting cams did not succeed."), "{message}");
    let update = json!({"name": "cams", "type": "cifs", "usage": "media", "server": "nas1", "share": "media",
        "username": "admin", "password": secret, "read_only": true});
    ok(&daemon, "PUT", "/mounts/cams", Some(update));
    assert_eq!(
        (mount(&daemon, "cams")["read_only"].clone(), state(&daemon, "cams")),
        (json!(true), "active".to_owned())
    );
    assert!(std::fs::write(data.join("mounts/cams/ro.mp4"), "x").is_err(), "a read-only mount took a write");
    assert_eq!(std::fs::read_to_string(data.join("media/cams/clip.mp4")).unwrap(), "frames");

    ok(&daemon, "DELETE", "/mounts/cams", None);
    assert_eq!(mounts(&daemon)["mounts"], json!([]));
    assert!(!mounted(&data.join("mounts/cams")) && !mounted(&data.join("media/cams")));
    assert!(!credentials.exists());
}

/// systemd's escaping of a path in a unit name (the data directory is a temporary one).
fn escape(path: &Path) -> String {
    let text = path.display().to_string();
    let parts: Vec<String> = text
        .split('/')
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.bytes()
                .enumerate()
                .map(|(i, b)| {
                    if b.is_ascii_alphanumeric() || b == b'_' || b == b':' || (b == b'.' && i > 0) {
                        char::from(b).to_string()
                    } else {
                        format!("\\x{b:02x}")
                    }
                })
                .collect()
        })
        .collect();
    parts.join("-")
}

#[test]
fn backup_mounts_persist_across_restarts_and_come_back_after_failing() {
    let bus = bus();
    let served = bus.serve("filer", None).unwrap();
    std::fs::create_dir_all(served.join("exports/backups")).unwrap();
    let mut daemon = Daemon::start_with(&[bus.env()]);
    let data = daemon.data_dir().to_path_buf();

    let nfs = json!({"name": "safe", "type": "nfs", "usage": "backup", "server": "filer", "path": "/exports/backups", "port": 2049});
    ok(&daemon, "POST", "/mounts", Some(nfs));
    let listed = mounts(&daemon);
    assert_eq!(listed["default_backup_mount"], "safe", "the first backup mount is the default: {listed}");
    assert_eq!(
        listed["mounts"][0],
        json!({"name": "safe", "type": "nfs", "usage": "backup", "read_only": false, "server": "filer", "port": 2049,
               "path": "/exports/backups", "state": "active", "user_path": null})
    );
    let calls = bus.calls(Service::Systemd1).unwrap();
    assert!(
        calls.iter().any(|c| c.contains("Options=port=2049,softerr,timeo=100,retrans=2, Type=nfs")
            && c.contains("What=filer:/exports/backups")),
        "{calls:?}"
    );
    std::fs::write(data.join("mounts/safe/marker"), "kept").unwrap();

    // Options: an unknown mount is 404, a media mount no backup default, null unsets.
    let share = json!({"name": "docs", "type": "cifs", "usage": "share", "server": "filer", "share": "exports"});
    ok(&daemon, "POST", "/mounts", Some(share));
    assert_eq!(
        refused(&daemon, "POST", "/mounts/options", json!({"default_backup_mount": "nope"}), 404),
        "No mount exists with name 'nope'"
    );
    assert_eq!(
        refused(&daemon, "POST", "/mounts/options", json!({"default_backup_mount": "docs"}), 400),
        "Mount docs is not used for backups, cannot use it as default backup mount"
    );
    assert!(data.join("share/docs/backups").is_dir(), "the share mount is bound into share");
    ok(&daemon, "POST", "/mounts/options", Some(json!({"default_backup_mount": null})));
    assert_eq!(mounts(&daemon)["default_backup_mount"], Value::Null);
    ok(&daemon, "POST", "/mounts/options", Some(json!({"default_backup_mount": "safe"})));

    // A restart finds the units mounted and keeps them.
    daemon.kill9_and_restart();
    eventually("the mounts to load", || (state(&daemon, "safe") == "active").then_some(()));
    assert_eq!(mounts(&daemon)["default_backup_mount"], "safe");
    assert_eq!(std::fs::read_to_string(data.join("mounts/safe/marker")).unwrap(), "kept");

    // Down while the supervisor was away: failed at start, mounted again by a reload.
    daemon.kill9();
    bus.unserve("filer").unwrap();
    daemon.kill9_and_restart();
    eventually("the mount to fail", || (state(&daemon, "safe") == "failed").then_some(()));
    bus.serve("filer", None).unwrap();
    ok(&daemon, "POST", "/mounts/safe/reload", None);
    assert_eq!(state(&daemon, "safe"), "active");
    assert_eq!(std::fs::read_to_string(data.join("mounts/safe/marker")).unwrap(), "kept");

    ok(&daemon, "DELETE", "/mounts/docs", None);
    ok(&daemon, "DELETE", "/mounts/safe", None);
    let listed = mounts(&daemon);
    assert_eq!((listed["mounts"].clone(), listed["default_backup_mount"].clone()), (json!([]), Value::Null));
}

#[test]
fn ha_mounts_adds_lists_reloads_and_deletes() {
    let bus = bus();
    let served = bus.serve("smb1", Some(("ha", "cli-s3cret"))).unwrap();
    std::fs::create_dir(served.join("share")).unwrap();
    let daemon = Daemon::start_with(&[bus.env()]);
    let ha = |args: &[&str]| {
        let output = daemon.ha(args, &[]);
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    };
    let (added, text) = ha(&[
        "mounts",
        "add",
        "docs",
        "--usage",
        "share",
        "--server",
        "smb1",
        "--share",
        "share",
        "-n",
        "ha",
        "-p",
        "cli-s3cret",
    ]);
    assert!(added, "{text}");
    let (listed, text) = ha(&["mnt", "info", "--raw-json"]);
    assert!(listed, "{text}");
    let info: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (&info["data"]["mounts"][0]["name"], &info["data"]["mounts"][0]["state"]),
        (&json!("docs"), &json!("active"))
    );
    assert!(!text.contains("cli-s3cret"), "{text}");
    assert!(ha(&["mounts", "reload", "docs"]).0);
    let (refused, text) = ha(&["mounts", "options", "--default-backup-mount", "docs"]);
    assert!(!refused && text.contains("not used for backups"), "{text}");
    let (updated, text) = ha(&[
        "mounts",
        "update",
        "docs",
        "-u",
        "share",
        "-s",
        "smb1",
        "-r",
        "share",
        "-n",
        "ha",
        "-p",
        "cli-s3cret",
        "--read-only",
    ]);
    assert!(updated, "{text}");
    assert_eq!(mount(&daemon, "docs")["read_only"], true);
    assert!(ha(&["mounts", "delete", "docs"]).0);
    assert_eq!(mounts(&daemon)["mounts"], json!([]));
    let (missing, text) = ha(&["mounts", "rm", "docs"]);
    assert!(!missing && text.contains("No mount exists with name docs"), "{text}");
}

#[test]
fn without_systemd_nothing_can_be_mounted() {
    let daemon = Daemon::start();
    let (_, info) = daemon.get("/host/info");
    assert!(!info["data"]["features"].as_array().unwrap().contains(&json!("mount")), "{info}");
    let body = json!({"name": "nas", "type": "nfs", "usage": "media", "server": "nas.local", "path": "/media"});
    let message = refused(&daemon, "POST", "/mounts", body, 400);
    assert_eq!(message, "'mount_manager_create_mount' blocked from execution, mounting not supported on system");
    assert_eq!(mounts(&daemon), json!({"default_backup_mount": null, "mounts": []}));
}

#[test]
fn a_mount_reports_its_disk_usage_while_it_is_mounted() {
    let bus = bus();
    let served = bus.serve("nas9", None).unwrap();
    std::fs::create_dir_all(served.join("media/clips")).unwrap();
    std::fs::write(served.join("media/clips/a.mp4"), vec![7u8; 300_000]).unwrap();
    let daemon = Daemon::start_with(&[bus.env()]);
    let body = json!({"name": "tv", "type": "nfs", "usage": "media", "server": "nas9", "path": "/media"});
    ok(&daemon, "POST", "/mounts", Some(body));

    let (status, usage) = daemon.get("/host/disks/tv/usage");
    assert_eq!(status, 200, "{usage}");
    let usage = &usage["data"];
    assert_eq!((usage["id"].clone(), usage["label"].clone()), (json!("tv"), json!("tv")), "{usage}");
    assert!(usage["total_bytes"].as_u64().unwrap() >= usage["used_bytes"].as_u64().unwrap(), "{usage}");
    assert!(usage.get("children").is_none(), "totals only by default: {usage}");
    let (status, deep) = daemon.get("/host/disks/tv/usage?max_depth=2");
    assert_eq!(status, 200, "{deep}");
    let children = deep["data"]["children"].as_array().cloned().unwrap_or_default();
    let clips = children.iter().find(|c| c["id"] == "clips").unwrap_or_else(|| panic!("{deep}"));
    assert_eq!(clips["used_bytes"], 300_000, "{deep}");
    let sum: u64 = children.iter().map(|c| c["used_bytes"].as_u64().unwrap()).sum();
    assert_eq!(sum, deep["data"]["used_bytes"].as_u64().unwrap(), "children add up to the mount: {deep}");

    let message = refused(&daemon, "GET", "/host/disks/nope/usage", Value::Null, 404);
    assert_eq!(message, "No mount exists with name nope");
    bus.unserve("nas9").unwrap();
    eventually("the mount to go down", || (state(&daemon, "tv") != "active").then_some(()));
    let message = refused(&daemon, "GET", "/host/disks/tv/usage", Value::Null, 400);
    assert_eq!(message, "Mount tv is not active, cannot report storage usage");

    let output = daemon.ha(&["host", "disks", "usage", "--raw-json"], &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let default: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(default["data"]["id"], "root", "{default}");
}
