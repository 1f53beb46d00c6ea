//! Backups on network storage: a backup mount (an NFS unit to a host the test serves, which the
//! fixture systemd really mounts) as a backup's location by name and by default, listed with its
//! locations, downloaded, restored and removed from one location; one backup in the backup
//! folder and on the mount listed once; the list following the mount down and up again; and the
//! refusals (a media mount, an unknown mount, a mount that is down, Core's `.cloud_backup` asked
//! for by the CLI), which create nothing.

use crate::hostile_backups::upload;
use dbus_fixtures::{PrivateBus, Service};
use e2e::{eventually, Daemon};
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

fn ok(daemon: &Daemon, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = daemon.call(method, path, Some(body));
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer["data"].clone()
}

fn backups(daemon: &Daemon) -> Vec<Value> {
    ok(daemon, "GET", "/backups", json!({}))["backups"].as_array().unwrap().clone()
}

fn listed(daemon: &Daemon, slug: &str) -> Value {
    backups(daemon).into_iter().find(|backup| backup["slug"] == slug).unwrap_or(Value::Null)
}

fn mount_state(daemon: &Daemon, name: &str) -> String {
    let mounts = ok(daemon, "GET", "/mounts", json!({}));
    let mount = mounts["mounts"].as_array().unwrap().iter().find(|m| m["name"] == name).cloned();
    mount.and_then(|m| m["state"].as_str().map(str::to_owned)).unwrap_or_default()
}

/// The `*.tar` files in `dir`.
fn tars(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tar"))
        .collect();
    names.sort();
    names
}

fn download(daemon: &Daemon, slug: &str, query: &str) -> (u16, Vec<u8>) {
    let response = daemon
        .client()
        .get(daemon.url(&format!("/backups/{slug}/download{query}")))
        .bearer_auth(daemon.cli_token())
        .send()
        .unwrap();
    (response.status().as_u16(), response.bytes().unwrap().to_vec())
}

#[test]
fn a_backup_mount_takes_backups_by_name_and_by_default_and_lists_them_with_their_locations() {
    let bus = PrivateBus::start(&[Service::Systemd1, Service::Hostname1]).expect("a private bus with systemd");
    let served = bus.serve("filer", None).unwrap();
    let exported = served.join("exports/backups");
    fs::create_dir_all(&exported).unwrap();
    fs::create_dir_all(served.join("exports/media")).unwrap();
    let daemon = Daemon::start_with(&[bus.env()]);
    let data = daemon.data_dir().to_path_buf();
    let share = data.join("share");
    fs::write(share.join("notes.txt"), "first").unwrap();
    let backup_mount =
        json!({"name": "safe", "type": "nfs", "usage": "backup", "server": "filer", "path": "/exports/backups"});
    ok(&daemon, "POST", "/mounts", backup_mount);
    let media = json!({"name": "cams", "type": "nfs", "usage": "media", "server": "filer", "path": "/exports/media"});
    ok(&daemon, "POST", "/mounts", media);
    ok(&daemon, "POST", "/mounts/options", json!({"default_backup_mount": null}));

    // Refused before anything is made: a media mount, an unknown one, Core's folder for the CLI.
    let refusals = [
        (json!({"location": "cams"}), 400, "Mount cams is not used for backups, cannot backup to there", None),
        (json!({"location": [null, "nas"]}), 404, "No mount exists with name 'nas'", Some("mount_not_found_error")),
        (
            json!({"location": ".cloud_backup"}),
            403,
            "Location .cloud_backup is only available for Home Assistant",
            None,
        ),
        (json!({"location": ["safe", "safe"]}), 400, "location: 'safe' is listed twice", None),
    ];
    for (body, status, message, key) in refusals {
        let (got, answer) = daemon.post("/backups/new/partial", body.clone());
        assert_eq!((got.as_u16(), answer["message"].as_str()), (status, Some(message)), "{body}: {answer}");
        assert_eq!(answer["error_key"].as_str(), key, "{body}: {answer}");
    }
    let (status, answer) = upload(&daemon, b"not even read".to_vec(), "?location=cams");
    assert_eq!(status, 400, "{answer}");

    // Written to the mount by name, listed with it as its location.
    let made = ok(
        &daemon,
        "POST",
        "/backups/new/partial",
        json!({"name": "On the filer", "folders": ["share"], "location": "safe"}),
    );
    let slug = made["slug"].as_str().unwrap().to_owned();
    let file = format!("{slug}.tar");
    assert_eq!(tars(&exported), [file.as_str()]);
    assert!(tars(&data.join("backup")).is_empty());
    let item = listed(&daemon, &slug);
    let size = fs::metadata(exported.join(&file)).unwrap().len();
    assert_eq!((item["location"].clone(), item["locations"].clone()), (json!("safe"), json!(["safe"])), "{item}");
    assert_eq!(item["location_attributes"], json!({"safe": {"protected": false, "size_bytes": size}}), "{item}");
    let details = ok(&daemon, "GET", &format!("/backups/{slug}/info"), json!({}));
    assert_eq!((details["location"].clone(), details["locations"].clone()), (json!("safe"), json!(["safe"])));

    // Downloaded from there; the backup folder does not have it.
    assert_eq!(download(&daemon, &slug, ""), (200, fs::read(exported.join(&file)).unwrap()));
    assert_eq!(download(&daemon, &slug, "?location=safe").0, 200);
    let (status, _) = download(&daemon, &slug, "?location=.local");
    assert_eq!(status, 400);
    let (status, answer) = daemon.post(&format!("/backups/{slug}/restore/partial"), json!({"location": null}));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["message"], format!("Backup {slug} does not exist in None"));

    // Restored from the mount.
    fs::write(share.join("notes.txt"), "changed").unwrap();
    ok(&daemon, "POST", &format!("/backups/{slug}/restore/partial"), json!({"folders": ["share"], "location": "safe"}));
    assert_eq!(fs::read_to_string(share.join("notes.txt")).unwrap(), "first");

    // Copied to the backup folder too: one backup, two locations, the backup folder first.
    fs::copy(exported.join(&file), data.join("backup").join(&file)).unwrap();
    ok(&daemon, "POST", "/backups/reload", json!({}));
    let list = backups(&daemon);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!((list[0]["location"].clone(), list[0]["locations"].clone()), (Value::Null, json!([null, "safe"])));
    let attributes = list[0]["location_attributes"].as_object().unwrap();
    assert_eq!(attributes.keys().collect::<Vec<_>>(), [".local", "safe"]);

    // Removed from the mount only, then from everywhere.
    ok(&daemon, "DELETE", &format!("/backups/{slug}"), json!({"location": ["safe"]}));
    assert!(tars(&exported).is_empty());
    assert_eq!(listed(&daemon, &slug)["locations"], json!([null]));
    ok(&daemon, "DELETE", &format!("/backups/{slug}"), json!({"location": "safe"}));
    assert_eq!(tars(&data.join("backup")), [file.as_str()], "a location the backup is not in is skipped");
    ok(&daemon, "DELETE", &format!("/backups/{slug}"), json!({}));
    assert!(backups(&daemon).is_empty() && tars(&data.join("backup")).is_empty());

    // Written and copied: the first location gets it, the others a copy.
    let made = ok(&daemon, "POST", "/backups/new/partial", json!({"name": "Both", "location": [".local", "safe"]}));
    let both = made["slug"].as_str().unwrap().to_owned();
    assert_eq!(listed(&daemon, &both)["locations"], json!([null, "safe"]));
    assert_eq!(tars(&exported), [format!("{both}.tar")]);
    ok(&daemon, "DELETE", &format!("/backups/{both}"), json!({}));

    // Uploaded to the mount by name.
    let bytes = download_made(&daemon);
    let (status, answer) = upload(&daemon, bytes, "?location=safe");
    assert_eq!(status, 200, "{answer}");
    let uploaded = answer["data"]["slug"].as_str().unwrap().to_owned();
    assert_eq!(listed(&daemon, &uploaded)["locations"], json!(["safe"]));
    ok(&daemon, "DELETE", &format!("/backups/{uploaded}"), json!({}));

    // No location: the default backup mount, or the backup folder without one.
    let local =
        ok(&daemon, "POST", "/backups/new/partial", json!({"name": "Local"}))["slug"].as_str().unwrap().to_owned();
    assert_eq!(listed(&daemon, &local)["locations"], json!([null]));
    ok(&daemon, "POST", "/mounts/options", json!({"default_backup_mount": "safe"}));
    let default =
        ok(&daemon, "POST", "/backups/new/partial", json!({"name": "Default"}))["slug"].as_str().unwrap().to_owned();
    assert_eq!(listed(&daemon, &default)["locations"], json!(["safe"]));
    assert_eq!(tars(&exported), [format!("{default}.tar")]);

    // The mount goes down: its backups leave the list, and it takes no backup; back up, they return.
    bus.unserve("filer").unwrap();
    eventually("the mount to go down", || (mount_state(&daemon, "safe") == "inactive").then_some(()));
    eventually("its backups to leave the list", || listed(&daemon, &default).is_null().then_some(()));
    for body in [json!({"location": "safe"}), json!({})] {
        let (status, answer) = daemon.post("/backups/new/full", body.clone());
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["message"], "Backup mount 'safe' is down", "{answer}");
        assert_eq!(
            (answer["error_key"].clone(), answer["extra_fields"].clone()),
            (json!("backup_mount_down"), json!({"mount": "safe"}))
        );
    }
    assert_eq!(backups(&daemon).len(), 1, "nothing was made");
    assert_eq!(tars(&data.join("backup")), [format!("{local}.tar")]);
    bus.serve("filer", None).unwrap();
    ok(&daemon, "POST", "/mounts/safe/reload", json!({}));
    eventually("its backups to come back", || (!listed(&daemon, &default).is_null()).then_some(()));
    assert_eq!(listed(&daemon, &default)["location"], "safe");
}

/// A backup made for the upload, downloaded and removed again.
fn download_made(daemon: &Daemon) -> Vec<u8> {
    let made = ok(daemon, "POST", "/backups/new/partial", json!({"name": "To upload", "location": null}));
    let slug = made["slug"].as_str().unwrap();
    let (status, bytes) = download(daemon, slug, "");
    assert_eq!(status, 200);
    ok(daemon, "DELETE", &format!("/backups/{slug}"), json!({}));
    bytes
}

/// A backup whose only copy is in Core's `.cloud_backup` folder is Core's alone: anyone else who
/// names no location acts on that copy by default, and is refused as if they had named it.
#[test]
fn a_backup_only_in_cores_folder_is_refused_to_others_by_default() {
    let daemon = Daemon::start();
    let data = daemon.data_dir().to_path_buf();
    let made = ok(&daemon, "POST", "/backups/new/partial", json!({"name": "Core's", "folders": ["share"]}));
    let slug = made["slug"].as_str().unwrap().to_owned();
    let file = format!("{slug}.tar");
    let cloud = data.join("core/backup");
    fs::create_dir_all(&cloud).unwrap();
    fs::rename(data.join("backup").join(&file), cloud.join(&file)).unwrap();
    ok(&daemon, "POST", "/backups/reload", json!({}));
    assert_eq!(ok(&daemon, "GET", &format!("/backups/{slug}/info"), json!({}))["locations"], json!([".cloud_backup"]));
    assert!(listed(&daemon, &slug).is_null(), "only Core's copy: not in the list");

    let refused = "Location .cloud_backup is only available for Home Assistant";
    let (status, body) = download(&daemon, &slug, "");
    assert_eq!(status, 403);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["message"], refused);
    for (method, path, body) in [
        ("POST", format!("/backups/{slug}/restore/full"), json!({})),
        ("POST", format!("/backups/{slug}/restore/partial"), json!({"folders": ["share"]})),
        ("DELETE", format!("/backups/{slug}"), json!({})),
        ("DELETE", format!("/backups/{slug}"), json!({"location": [".cloud_backup"]})),
    ] {
        let (status, answer) = daemon.call(method, &path, Some(body.clone()));
        assert_eq!((status.as_u16(), answer["message"].as_str()), (403, Some(refused)), "{method} {path} {body}");
    }
    assert_eq!(tars(&cloud), [file.as_str()], "the copy is untouched");

    // With a copy in the backup folder too, that copy is the default, and the CLI may act on it.
    fs::copy(cloud.join(&file), data.join("backup").join(&file)).unwrap();
    ok(&daemon, "POST", "/backups/reload", json!({}));
    assert_eq!(listed(&daemon, &slug)["locations"], json!([null]), "Core's copy is not shown");
    assert_eq!(download(&daemon, &slug, ""), (200, fs::read(cloud.join(&file)).unwrap()));
    ok(&daemon, "DELETE", &format!("/backups/{slug}"), json!({"location": [null]}));
    assert_eq!(tars(&cloud), [file.as_str()]);
}
