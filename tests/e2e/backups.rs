//! Backups and restores through the API: round trips of folders, the Home Assistant
//! configuration and real add-ons (data, options and version back byte for byte), encryption,
//! interoperability with the Python Supervisor's `securetar` both ways, hostile archives, garbage
//! uploads, and kill -9 in the middle of a backup and of a restore.

use crate::addons::{addon_data, engine_daemon, install, uninstall};
use crate::hostile_backups::upload;
use e2e::fixtures::FixtureRepository;
use e2e::{eventually, Daemon};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python with `securetar` from PyPI that `cargo xtask test` installs.
fn securetar_python() -> PathBuf {
    let python = std::env::var_os("SECURETAR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/supervisor-tests/securetar-2026.10.0/bin/python"));
    assert!(python.exists(), "{} is missing; `cargo xtask test-images` installs it", python.display());
    python
}

/// Runs tests/python/supervisor_backup.py with `args`; its stdout.
fn python_backup(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/supervisor_backup.py");
    let output = Command::new(securetar_python()).arg(script).args(args).output().expect("run python");
    assert!(output.status.success(), "supervisor_backup.py {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every file under `dir` with its contents and mode, and every link with its target.
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let describe = |path: &Path, meta: &fs::Metadata| {
        if meta.is_dir() {
            return format!("dir {:o}", meta.mode() & 0o7777);
        }
        let contents = fs::read(path).unwrap();
        let digest: u64 =
            contents.iter().fold(0xcbf29ce484222325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
        format!("{:o} {} {digest:x}", meta.mode() & 0o7777, contents.len())
    };
    e2e::tree_listing(dir, dir, &describe)
}

/// A share folder and a configuration worth backing up.
fn fill(daemon: &Daemon) {
    let share = daemon.data_dir().join("share");
    fs::create_dir_all(share.join("deep/er")).unwrap();
    fs::write(share.join("deep/er/notes.txt"), "line\n".repeat(1000)).unwrap();
    fs::write(
        share.join("random.bin"),
        (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    fs::write(share.join("secret"), "mode 600").unwrap();
    fs::set_permissions(share.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("deep/er/notes.txt", share.join("link")).unwrap();
    let config = daemon.data_dir().join("homeassistant");
    fs::write(config.join("configuration.yaml"), "homeassistant:\n  name: Home\n").unwrap();
    fs::write(config.join("home-assistant_v2.db"), "database").unwrap();
    fs::write(config.join("home-assistant.log"), "log lines").unwrap();
}

pub(crate) fn backup(daemon: &Daemon, kind: &str, body: Value) -> String {
    let (status, answer) = daemon.post(&format!("/backups/new/{kind}"), body);
    assert_eq!(status, 200, "{answer}");
    assert!(answer["data"]["job_id"].is_string(), "{answer}");
    answer["data"]["slug"].as_str().expect("slug").to_owned()
}

pub(crate) fn restore(daemon: &Daemon, slug: &str, kind: &str, body: Value) -> (u16, Value) {
    let (status, answer) = daemon.post(&format!("/backups/{slug}/restore/{kind}"), body);
    (status.as_u16(), answer)
}

/// The backup folder's entries, hidden ones included.
fn backup_folder(daemon: &Daemon) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(daemon.data_dir().join("backup"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn partial_backup_round_trips_folders_and_configuration() {
    let daemon = Daemon::start();
    fill(&daemon);
    let share = daemon.data_dir().join("share");
    let config = daemon.data_dir().join("homeassistant");
    let before = snapshot(&share);

    let slug = backup(&daemon, "partial", json!({"name": "Round trip", "folders": ["share", "homeassistant"]}));
    let (_, list) = daemon.get("/backups");
    let item = &list["data"]["backups"][0];
    assert_eq!(item["slug"], slug.as_str());
    assert_eq!(item["type"], "partial");
    assert_eq!(item["protected"], false);
    assert_eq!(item["compressed"], true);
    assert_eq!(item["content"], json!({"homeassistant": true, "addons": [], "folders": ["share"]}));
    let size = fs::metadata(daemon.data_dir().join("backup").join(format!("{slug}.tar"))).unwrap().len();
    assert_eq!(item["size_bytes"], size);
    assert_eq!(item["location_attributes"][".local"], json!({"protected": false, "size_bytes": size}));
    let (_, info) = daemon.get(&format!("/backups/{slug}/info"));
    assert_eq!(info["data"]["name"], "Round trip");
    assert_eq!(info["data"]["homeassistant_exclude_database"], false);
    assert_eq!(info["data"]["folders"], json!(["share"]));

    // The download is the file, byte for byte.
    let response = daemon.request("GET", &format!("/backups/{slug}/download"), Some(&daemon.cli_token()), None);
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-disposition"], "attachment; filename=Round_trip.tar");
    let downloaded = response.bytes().unwrap();
    assert_eq!(downloaded.as_ref(), fs::read(daemon.data_dir().join("backup").join(format!("{slug}.tar"))).unwrap());

    fs::remove_dir_all(share.join("deep")).unwrap();
    fs::write(share.join("new-file"), "made after the backup").unwrap();
    fs::write(config.join("configuration.yaml"), "changed").unwrap();
    let (status, answer) = restore(&daemon, &slug, "partial", json!({"folders": ["share"], "homeassistant": true}));
    assert_eq!(status, 200, "{answer}");
    assert!(answer["data"]["job_id"].is_string());
    assert_eq!(snapshot(&share), before);
    assert_eq!(fs::read_to_string(config.join("configuration.yaml")).unwrap(), "homeassistant:\n  name: Home\n");
    assert_eq!(fs::read_to_string(config.join("home-assistant_v2.db")).unwrap(), "database");
    // Logs are never backed up: the restored configuration has none.
    assert!(!config.join("home-assistant.log").exists());
    assert!(!daemon.data_dir().join("restore").join(&slug).exists());
}

#[test]
fn excluded_database_stays_as_it_is_on_restore() {
    let daemon = Daemon::start();
    fill(&daemon);
    let config = daemon.data_dir().join("homeassistant");
    let slug = backup(&daemon, "partial", json!({"homeassistant": true, "homeassistant_exclude_database": true}));
    fs::write(config.join("home-assistant_v2.db"), "newer database").unwrap();
    fs::write(config.join("configuration.yaml"), "changed").unwrap();
    let (status, answer) = restore(&daemon, &slug, "partial", json!({"homeassistant": true}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(fs::read_to_string(config.join("configuration.yaml")).unwrap(), "homeassistant:\n  name: Home\n");
    assert_eq!(fs::read_to_string(config.join("home-assistant_v2.db")).unwrap(), "newer database");
}

#[test]
fn encrypted_backup_needs_its_password_and_a_wrong_one_changes_nothing() {
    let daemon = Daemon::start();
    fill(&daemon);
    let share = daemon.data_dir().join("share");
    let slug = backup(&daemon, "partial", json!({"folders": ["share"], "password": "correct horse"}));
    let (_, info) = daemon.get(&format!("/backups/{slug}/info"));
    assert_eq!(info["data"]["protected"], true);
    fs::write(share.join("deep/er/notes.txt"), "changed").unwrap();
    let changed = snapshot(&share);

    // Refused in the answer, in the background too: no job is started to fail later.
    let wrong = json!({"folders": ["share"], "password": "wrong"});
    let wrong_in_background = json!({"folders": ["share"], "password": "wrong", "background": true});
    for body in [json!({"folders": ["share"]}), wrong, wrong_in_background] {
        let (status, answer) = restore(&daemon, &slug, "partial", body);
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["message"], format!("Invalid password for backup {slug}"));
        assert_eq!(snapshot(&share), changed);
    }
    let (status, answer) =
        restore(&daemon, &slug, "partial", json!({"folders": ["share"], "password": "correct horse"}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(fs::read_to_string(share.join("deep/er/notes.txt")).unwrap(), "line\n".repeat(1000));
}

#[test]
fn python_securetar_decrypts_our_encrypted_backup() {
    let daemon = Daemon::start();
    fill(&daemon);
    let share = daemon.data_dir().join("share");
    let slug = backup(&daemon, "partial", json!({"folders": ["share"], "homeassistant": true, "password": "pw"}));
    let out = tempfile::tempdir().unwrap();
    let backup_file = daemon.data_dir().join("backup").join(format!("{slug}.tar"));
    let names = python_backup(&["read", backup_file.to_str().unwrap(), "pw", out.path().to_str().unwrap()]);
    assert_eq!(names.trim(), r#"["homeassistant.tar.zst", "share.tar.zst"]"#);
    // What Python decrypted is our zstd tar of the folder.
    let unpacked = out.path().join("share");
    fs::create_dir(&unpacked).unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("zstd -dc {} | tar -x -C {}", out.path().join("share.tar.zst").display(), unpacked.display()))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(snapshot(&unpacked), snapshot(&share));
}

/// A backup laid out as the Python Supervisor writes it, restored here: plain gzip inner
/// archives, and encrypted with SecureTar versions 2 and 3.
#[test]
fn backups_of_the_python_supervisor_restore_here() {
    let source = tempfile::tempdir().unwrap();
    let (share_src, config_src) = (source.path().join("share"), source.path().join("config"));
    fs::create_dir_all(share_src.join("media/photos")).unwrap();
    fs::write(share_src.join("media/photos/cat.jpg"), vec![7u8; 300_000]).unwrap();
    fs::write(share_src.join("readme.txt"), "from python").unwrap();
    fs::create_dir_all(&config_src).unwrap();
    fs::write(config_src.join("configuration.yaml"), "python: true\n").unwrap();

    let daemon = Daemon::start();
    for (slug, password, version) in [("a0000001", "-", "3"), ("a0000002", "pw2", "2"), ("a0000003", "pw3", "3")] {
        let file = daemon.data_dir().join("backup").join(format!("{slug}.tar"));
        python_backup(&[
            "make",
            file.to_str().unwrap(),
            slug,
            password,
            version,
            share_src.to_str().unwrap(),
            config_src.to_str().unwrap(),
        ]);
    }
    let (status, _) = daemon.post("/backups/reload", json!({}));
    assert_eq!(status, 200);
    let (_, list) = daemon.get("/backups");
    let slugs: Vec<&str> =
        list["data"]["backups"].as_array().unwrap().iter().map(|b| b["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs.len(), 3, "{list}");

    let share = daemon.data_dir().join("share");
    for (slug, password) in [("a0000001", None), ("a0000002", Some("pw2")), ("a0000003", Some("pw3"))] {
        fs::write(share.join("readme.txt"), "overwritten").unwrap();
        let mut body = json!({"folders": ["share"], "homeassistant": true});
        if let Some(password) = password {
            body["password"] = json!(password);
        }
        let (status, answer) = restore(&daemon, slug, "partial", body);
        assert_eq!(status, 200, "{slug}: {answer}");
        assert_eq!(snapshot(&share), snapshot(&share_src), "{slug}");
        let config = daemon.data_dir().join("homeassistant/configuration.yaml");
        assert_eq!(fs::read_to_string(config).unwrap(), "python: true\n", "{slug}");
    }
}

/// One raw entry of a hostile archive: type, name, link target, data.
type RawEntry<'a> = (tar::EntryType, &'a str, &'a str, &'a [u8]);

/// An outer tar holding `backup.json` and a plain `share.tar` made of `entries`, written raw.
fn hostile_backup(slug: &str, entries: &[RawEntry]) -> Vec<u8> {
    let mut inner = Vec::new();
    for (kind, name, link, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_cksum();
        inner.extend_from_slice(header.as_bytes());
        inner.extend_from_slice(data);
        inner.resize(inner.len().div_ceil(512) * 512, 0);
    }
    inner.extend_from_slice(&[0; 1024]);
    let meta = json!({"slug": slug, "version": 2, "name": "hostile", "date": "2025-01-01T00:00:00+00:00",
        "type": "partial", "compressed": false, "protected": false, "folders": ["share"]});
    let mut outer = tar::Builder::new(Vec::new());
    for (name, data) in [("share.tar", inner), ("backup.json", serde_json::to_vec(&meta).unwrap())] {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        outer.append_data(&mut header, name, &data[..]).unwrap();
    }
    outer.into_inner().unwrap()
}

#[test]
fn hostile_archives_are_refused_and_nothing_is_written_outside() {
    let daemon = Daemon::start();
    let share = daemon.data_dir().join("share");
    fs::write(share.join("keep.txt"), "untouched").unwrap();
    let before = snapshot(&share);
    let sentinel = daemon.data_dir().join("escaped");
    let cases: Vec<(&str, Vec<RawEntry>, &str)> = vec![
        ("b0000001", vec![(tar::EntryType::Regular, "../escaped", "", b"x")], "'..'"),
        ("b0000002", vec![(tar::EntryType::Regular, "/tmp/escaped", "", b"x")], "absolute path"),
        ("b0000003", vec![(tar::EntryType::Symlink, "link", "../../escaped", b"")], "outside the target"),
        (
            "b0000004",
            vec![(tar::EntryType::Symlink, "dir", ".", b""), (tar::EntryType::Regular, "dir/x", "", b"x")],
            "goes through a link",
        ),
        ("b0000005", vec![(tar::EntryType::Char, "null", "", b"")], "device node"),
        ("b0000006", vec![(tar::EntryType::Link, "hard", "/etc/passwd", b"")], "outside the target"),
    ];
    for (slug, entries, expected) in cases {
        let (status, answer) = upload(&daemon, hostile_backup(slug, &entries), "");
        assert_eq!(status, 200, "{answer}");
        let (status, answer) = restore(&daemon, slug, "partial", json!({"folders": ["share"]}));
        assert_eq!(status, 400, "{slug}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(expected), "{slug}: {message} should say {expected}");
        assert_eq!(snapshot(&share), before, "{slug}");
        assert!(!sentinel.exists() && !Path::new("/tmp/escaped").exists(), "{slug}");
        assert!(!daemon.data_dir().join("restore").join(slug).exists(), "{slug}: staging left behind");
    }
}

#[test]
fn uploads_that_are_not_backups_are_refused_and_not_kept() {
    let daemon = Daemon::start();
    for garbage in [b"this is not a tar".to_vec(), vec![0u8; 4096], {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(2);
        tar.append_data(&mut header, "other.txt", &b"hi"[..]).unwrap();
        tar.into_inner().unwrap()
    }] {
        let (status, answer) = upload(&daemon, garbage, "");
        assert_eq!(status, 400, "{answer}");
        assert!(answer["message"].as_str().unwrap().contains("not a backup"), "{answer}");
        assert!(backup_folder(&daemon).is_empty(), "{:?}", backup_folder(&daemon));
    }
    let (_, list) = daemon.get("/backups");
    assert_eq!(list["data"]["backups"], json!([]));
}

#[test]
fn upload_of_a_backup_lists_it_and_reload_skips_foreign_files() {
    let daemon = Daemon::start();
    fill(&daemon);
    let slug = backup(&daemon, "partial", json!({"folders": ["share"]}));
    let path = daemon.data_dir().join("backup").join(format!("{slug}.tar"));
    let bytes = fs::read(&path).unwrap();
    let (status, answer) = daemon.call("DELETE", &format!("/backups/{slug}"), None);
    assert_eq!(status, 200, "{answer}");
    assert!(!path.exists());
    let (status, answer) = daemon.call("DELETE", &format!("/backups/{slug}"), None);
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["message"], "Backup does not exist");

    let (status, answer) = upload(&daemon, bytes, "");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["slug"], slug.as_str());
    fs::write(daemon.data_dir().join("backup/foreign.tar"), "not a backup").unwrap();
    let (status, _) = daemon.post("/backups/reload", json!({}));
    assert_eq!(status, 200);
    let (_, list) = daemon.get("/backups");
    assert_eq!(list["data"]["backups"].as_array().unwrap().len(), 1, "{list}");
}

#[test]
fn bad_requests_name_the_problem_and_change_nothing() {
    let daemon = Daemon::start();
    let cases = [
        ("/backups/new/partial", json!({"folders": ["etc"]}), "folders"),
        ("/backups/new/partial", json!({"folders": ["share", "share"]}), "twice"),
        ("/backups/new/partial", json!({"filename": "../x.tar"}), "filename"),
        ("/backups/new/partial", json!({"bogus": 1}), "bogus"),
        ("/backups/new/full", json!({"folders": ["share"]}), "folders"),
        ("/backups/options", json!({"days_until_stale": 0}), "days_until_stale"),
        ("/backups/freeze", json!({"timeout": 0}), "timeout"),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = daemon.post(path, body.clone());
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains(expected), "{path} {body}: {answer}");
    }
    let (status, answer) = daemon.post("/backups/new/partial", json!({"location": "nas"}));
    assert_eq!((status.as_u16(), answer["message"].as_str()), (404, Some("No mount exists with name 'nas'")));
    assert!(backup_folder(&daemon).is_empty());
    let (_, info) = daemon.get("/backups/info");
    assert_eq!(info["data"]["days_until_stale"], 30);
    let (status, answer) = daemon.post("/backups/options", json!({"days_until_stale": 7}));
    assert_eq!(status, 200, "{answer}");
    let (_, info) = daemon.get("/backups/info");
    assert_eq!(info["data"]["days_until_stale"], 7);
    let (status, answer) = restore(&daemon, "nonexist", "full", json!({}));
    assert_eq!(status, 404, "{answer}");
}

#[test]
fn freeze_and_thaw() {
    let daemon = Daemon::start();
    let (status, answer) = daemon.post("/backups/thaw", json!({}));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("not frozen"), "{answer}");
    let (status, answer) = daemon.post("/backups/freeze", json!({"timeout": 60}));
    assert_eq!(status, 200, "{answer}");
    let (_, root) = daemon.get("/info");
    assert_eq!(root["data"]["state"], "freeze", "{root}");
    let (status, answer) = daemon.post("/backups/freeze", json!({}));
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = daemon.post("/backups/thaw", json!({}));
    assert_eq!(status, 200, "{answer}");
    let (_, root) = daemon.get("/info");
    assert_eq!(root["data"]["state"], "running", "{root}");
    // A freeze ends by itself at its timeout.
    let (status, _) = daemon.post("/backups/freeze", json!({"timeout": 1}));
    assert_eq!(status, 200);
    eventually("the freeze to time out", || (daemon.get("/info").1["data"]["state"] == "running").then_some(()));
}

/// Fills `share` with `megabytes` of data that does not compress, so a backup takes a while.
fn fill_large(daemon: &Daemon, megabytes: usize) {
    let share = daemon.data_dir().join("share/large");
    fs::create_dir_all(&share).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for file in 0..megabytes {
        let data: Vec<u8> = (0..1 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        fs::write(share.join(format!("{file}.bin")), data).unwrap();
    }
}

/// Waits until the job of `job_id` has made some progress in `stage`.
fn wait_for_stage(daemon: &Daemon, job_id: &str, stage: &str) {
    eventually(&format!("job {job_id} to be in {stage}"), || {
        let (_, job) = daemon.get(&format!("/jobs/{job_id}"));
        (job["data"]["stage"] == stage && job["data"]["done"] == false).then_some(())
    });
}

#[test]
fn a_backup_killed_midway_never_shows_and_leaves_nothing() {
    let mut daemon = Daemon::start();
    fill_large(&daemon, 300);
    let (status, answer) = daemon.post("/backups/new/partial", json!({"folders": ["share"], "background": true}));
    assert_eq!(status, 200, "{answer}");
    wait_for_stage(&daemon, answer["data"]["job_id"].as_str().unwrap(), "folders");
    daemon.kill9_and_restart();
    let (_, list) = daemon.get("/backups");
    assert_eq!(list["data"]["backups"], json!([]));
    assert!(backup_folder(&daemon).is_empty(), "{:?}", backup_folder(&daemon));
}

#[test]
fn a_restore_killed_midway_leaves_the_old_data_intact() {
    let mut daemon = Daemon::start();
    fill_large(&daemon, 300);
    let share = daemon.data_dir().join("share");
    let slug = backup(&daemon, "partial", json!({"folders": ["share"], "compressed": false}));
    fs::remove_dir_all(share.join("large")).unwrap();
    fs::write(share.join("current.txt"), "the data before the restore").unwrap();
    let before = snapshot(&share);
    let (status, answer) = restore(&daemon, &slug, "partial", json!({"folders": ["share"], "background": true}));
    assert_eq!(status, 200, "{answer}");
    wait_for_stage(&daemon, answer["data"]["job_id"].as_str().unwrap(), "folders");
    daemon.kill9_and_restart();
    assert_eq!(snapshot(&share), before);
    assert!(!daemon.data_dir().join("restore").join(&slug).exists());
    // The backup itself is intact and restores after the restart.
    let (status, answer) = restore(&daemon, &slug, "partial", json!({"folders": ["share"]}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(fs::read_dir(share.join("large")).unwrap().count(), 300);
}

/// A full backup with a real, running add-on: hot with `backup_pre`/`backup_post` and
/// `backup_exclude`; after it is uninstalled (image gone), the restore brings back its version,
/// options, data and running state, the locally built image from the backup.
#[test]
fn addon_round_trip_restores_version_options_data_and_state() {
    let repository = FixtureRepository::copy();
    repository.set_config("build_local", "backup_pre", "\"echo pre >> /data/hooks\"");
    repository.set_config("build_local", "backup_post", "\"echo post >> /data/hooks\"");
    repository.set_config("build_local", "backup_exclude", "[\"*.tmp\"]");
    let daemon = engine_daemon(&[repository.env()]);
    let slug = "core_build_local";
    install(&daemon, slug);
    let (status, answer) =
        daemon.post(&format!("/addons/{slug}/options"), json!({"options": {"message": "backed up"}}));
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = daemon.post(&format!("/addons/{slug}/start"), json!({}));
    assert_eq!(status, 200, "{answer}");
    let data = addon_data(&daemon, slug);
    fs::write(data.join("keep.txt"), "precious").unwrap();
    fs::write(data.join("scratch.tmp"), "excluded").unwrap();

    let backup_slug = backup(&daemon, "full", json!({"name": "with add-on"}));
    let hooks = fs::read_to_string(data.join("hooks")).unwrap();
    assert_eq!(hooks, "pre\npost\n");
    let (_, info) = daemon.get(&format!("/backups/{backup_slug}/info"));
    assert_eq!(info["data"]["addons"][0]["slug"], slug, "{info}");
    assert_eq!(info["data"]["addons"][0]["version"], "1.0.0");
    assert_eq!(info["data"]["type"], "full");

    uninstall(&daemon, slug);
    assert!(!data.exists());
    let (status, answer) = restore(&daemon, &backup_slug, "full", json!({}));
    assert_eq!(status, 200, "{answer}");
    let (_, addon) = daemon.get(&format!("/addons/{slug}/info"));
    assert_eq!(addon["data"]["version"], "1.0.0", "{addon}");
    assert_eq!(addon["data"]["options"]["message"], "backed up", "{addon}");
    assert_eq!(addon["data"]["state"], "started", "{addon}");
    assert_eq!(fs::read_to_string(data.join("keep.txt")).unwrap(), "precious");
    assert!(!data.join("scratch.tmp").exists());
}

#[test]
fn an_update_with_backup_backs_the_addon_up_first() {
    let repository = FixtureRepository::copy();
    let daemon = engine_daemon(&[repository.env()]);
    let slug = "core_stdin_reader";
    install(&daemon, slug);
    repository.set_config("stdin_reader", "version", "1.0.1");
    let (status, answer) = daemon.post("/store/reload", json!({}));
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = daemon.post(&format!("/addons/{slug}/update"), json!({"backup": true}));
    assert_eq!(status, 200, "{answer}");
    let (_, list) = daemon.get("/backups");
    let backups = list["data"]["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1, "{list}");
    assert_eq!(backups[0]["name"], format!("addon_{slug}_1.0.0"));
    assert_eq!(backups[0]["content"]["addons"], json!([slug]));
    let (_, addon) = daemon.get(&format!("/addons/{slug}/info"));
    assert_eq!(addon["data"]["version"], "1.0.1", "{addon}");
}

fn addon_state(daemon: &Daemon, slug: &str) -> String {
    daemon.get(&format!("/addons/{slug}/info")).1["data"]["state"].as_str().unwrap_or_default().to_owned()
}

fn container_id(daemon: &Daemon, slug: &str) -> String {
    crate::addons::inspect_container(&crate::addons::container_name(daemon, slug)).expect("container")["Id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Cold add-ons are stopped around a backup and a freeze; hot ones run their hooks.
#[test]
fn cold_addons_stop_and_hot_ones_run_their_hooks_around_backups_and_freezes() {
    let repository = FixtureRepository::copy();
    repository.set_config("build_local", "backup_pre", "\"echo pre >> /data/hooks\"");
    repository.set_config("build_local", "backup_post", "\"echo post >> /data/hooks\"");
    repository.set_config("stdin_reader", "backup", "cold");
    let daemon = engine_daemon(&[repository.env()]);
    let (hot, cold) = ("core_build_local", "core_stdin_reader");
    for slug in [hot, cold] {
        install(&daemon, slug);
        let (status, answer) = daemon.post(&format!("/addons/{slug}/start"), json!({}));
        assert_eq!(status, 200, "{answer}");
    }
    let before = container_id(&daemon, cold);
    backup(&daemon, "partial", json!({"addons": [cold]}));
    assert_eq!(addon_state(&daemon, cold), "started");
    assert_ne!(container_id(&daemon, cold), before, "a cold add-on is stopped and started again");

    let hooks = addon_data(&daemon, hot).join("hooks");
    let (status, answer) = daemon.post("/backups/freeze", json!({}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(fs::read_to_string(&hooks).unwrap(), "pre\n");
    assert_eq!(addon_state(&daemon, cold), "stopped");
    let (status, answer) = daemon.post("/backups/thaw", json!({}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(fs::read_to_string(&hooks).unwrap(), "pre\npost\n");
    assert_eq!(addon_state(&daemon, cold), "started");
}
