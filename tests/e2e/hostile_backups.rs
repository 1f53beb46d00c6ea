//! The hostile-archive corpus: crafted backups uploaded through the API and restored, each
//! refused with a 4xx naming the problem, with nothing written outside the restore's staging
//! directory (a canary folder outside the data directory stays empty, the data folders stay as
//! they were, the staging is gone). The decompression bombs run on a small tmpfs data directory,
//! where a restore that does not stop would fill the disk.

use e2e::{Daemon, Tmpfs};
use serde_json::{json, Value};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// One entry of a crafted inner tar, names written verbatim into the header.
struct Raw<'a> {
    kind: tar::EntryType,
    name: &'a str,
    link: &'a str,
    data: &'a [u8],
}

fn raw<'a>(kind: tar::EntryType, name: &'a str, link: &'a str) -> Raw<'a> {
    Raw { kind, name, link, data: b"" }
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw { kind: tar::EntryType::Regular, name, link: "", data }
}

/// A tar of `entries` that bypasses the `tar` crate's own checks, as a hostile one would.
fn inner_tar(entries: &[Raw]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(entry.kind);
        header.set_size(entry.data.len() as u64);
        header.set_mode(0o644);
        header.as_old_mut().name[..entry.name.len()].copy_from_slice(entry.name.as_bytes());
        header.as_old_mut().linkname[..entry.link.len()].copy_from_slice(entry.link.as_bytes());
        header.set_cksum();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(entry.data);
        bytes.resize(bytes.len().div_ceil(512) * 512, 0);
    }
    bytes.extend_from_slice(&[0; 1024]);
    bytes
}

/// An inner tar with one file of `size` zero bytes, compressed by `command` (`zstd`, `gzip`)
/// as it streams: the archive is small, what it unpacks to is not.
fn zeros_compressed(command: &[&str], size: u64) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_path("zeros").unwrap();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    let mut child =
        Command::new(command[0]).args(&command[1..]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        stdin.write_all(header.as_bytes()).unwrap();
        let block = vec![0u8; 1 << 20];
        let mut left = size.div_ceil(512) * 512 + 1024;
        while left > 0 {
            let now = left.min(block.len() as u64) as usize;
            stdin.write_all(&block[..now]).unwrap();
            left -= now as u64;
        }
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(output.status.success(), "{command:?} failed");
    output.stdout
}

/// `backup.json` of a partial backup holding `folders`; `extra` overrides or adds keys.
fn meta(slug: &str, extra: Value) -> Value {
    let mut meta = json!({"slug": slug, "version": 2, "name": "hostile", "date": "2025-01-01T00:00:00+00:00",
        "type": "partial", "compressed": false, "protected": false, "folders": ["share"]});
    for (key, value) in extra.as_object().unwrap() {
        meta[key] = value.clone();
    }
    meta
}

/// The outer tar: `backup.json` and the given members (name, contents).
fn outer(meta: &Value, members: Vec<(&str, Vec<u8>)>) -> Vec<u8> {
    let mut outer = tar::Builder::new(Vec::new());
    let json = serde_json::to_vec(meta).unwrap();
    for (name, data) in members.into_iter().chain([("backup.json", json)]) {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        outer.append_data(&mut header, name, &data[..]).unwrap();
    }
    outer.into_inner().unwrap()
}

/// A backup of `share` made of `entries`.
fn share_backup(slug: &str, entries: &[Raw]) -> Vec<u8> {
    outer(&meta(slug, json!({})), vec![("share.tar", inner_tar(entries))])
}

/// Uploads `bytes` as a backup, with `query` (`?location=...`) after the path.
pub(crate) fn upload(daemon: &Daemon, bytes: Vec<u8>, query: &str) -> (u16, Value) {
    let form = reqwest::blocking::multipart::Form::new()
        .part("file", reqwest::blocking::multipart::Part::bytes(bytes).file_name("upload.tar"));
    let response = daemon
        .client()
        .post(daemon.url(&format!("/backups/new/upload{query}")))
        .bearer_auth(daemon.cli_token())
        .multipart(form)
        .send()
        .unwrap();
    let (status, body) = e2e::json_of(response);
    (status.as_u16(), body)
}

/// What must not change when a restore is refused: the data folders and a canary outside.
struct Watch {
    canary: tempfile::TempDir,
    before: Vec<(String, String)>,
}

const WATCHED: [&str; 6] = ["share", "homeassistant", "ssl", "media", "addons", "addon_configs"];

impl Watch {
    fn new(daemon: &Daemon) -> Watch {
        let canary = tempfile::tempdir().unwrap();
        let share = daemon.data_dir().join("share");
        fs::write(share.join("keep.txt"), "untouched").unwrap();
        fs::create_dir_all(daemon.data_dir().join("homeassistant")).unwrap();
        fs::write(daemon.data_dir().join("homeassistant/configuration.yaml"), "keep: true\n").unwrap();
        Watch { canary, before: state(daemon.data_dir()) }
    }

    fn canary(&self) -> &Path {
        self.canary.path()
    }

    /// Nothing outside the staging directory changed, and the staging is gone.
    fn check(&self, daemon: &Daemon, case: &str) {
        assert_eq!(state(daemon.data_dir()), self.before, "{case}: the data folders changed");
        let escaped: Vec<_> = fs::read_dir(self.canary()).unwrap().collect();
        assert!(escaped.is_empty(), "{case}: written outside the data directory: {escaped:?}");
        let restore = daemon.data_dir().join("restore");
        let staged: Vec<_> = fs::read_dir(&restore).map(|dir| dir.collect::<Vec<_>>()).unwrap_or_default();
        assert!(staged.is_empty(), "{case}: staging left behind: {staged:?}");
        let leftovers: Vec<String> = fs::read_dir(daemon.data_dir().join("backup"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{case}: partial files left: {leftovers:?}");
    }
}

/// Every path under the watched folders with its kind, size and link target.
fn state(data: &Path) -> Vec<(String, String)> {
    let describe = |_: &Path, meta: &fs::Metadata| {
        if meta.is_dir() {
            "dir".to_owned()
        } else {
            format!("{} bytes", meta.len())
        }
    };
    let mut out = Vec::new();
    for folder in WATCHED {
        let path = data.join(folder);
        out.push((folder.to_owned(), format!("{:?}", fs::symlink_metadata(&path).map(|m| m.file_type()).ok())));
        out.extend(e2e::tree_listing(data, &path, &describe));
    }
    out
}

/// Uploads `bytes`, then restores `body` from it: a 4xx whose message has `expected`, at the
/// upload or at the restore.
fn refused(daemon: &Daemon, watch: &Watch, case: &str, slug: &str, bytes: Vec<u8>, body: Value, expected: &str) {
    let (status, answer) = upload(daemon, bytes, "");
    let (status, answer) = if status == 200 {
        let (status, answer) = daemon.post(&format!("/backups/{slug}/restore/partial"), body);
        (status.as_u16(), answer)
    } else {
        (status, answer)
    };
    assert!((400..500).contains(&status), "{case}: {status} {answer}");
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(message.contains(expected), "{case}: '{message}' should say '{expected}'");
    watch.check(daemon, case);
    daemon.call("DELETE", &format!("/backups/{slug}"), None);
}

#[test]
fn hostile_backups_are_refused_and_nothing_is_written_outside_the_staging() {
    let daemon = Daemon::start();
    let watch = Watch::new(&daemon);
    let canary = watch.canary().join("escaped");
    let canary = canary.to_str().unwrap();
    let canary_relative = canary.trim_start_matches('/');
    let share = json!({"folders": ["share"]});
    use tar::EntryType::{Block, Char, Directory, Fifo, Link, Symlink};

    // The chain of the issue: each link is lexically inside, together they reach `/`.
    let ups: Vec<(String, String)> =
        (0..12).map(|n| (format!("up{n}"), if n == 0 { "a/..".into() } else { format!("up{}/..", n - 1) })).collect();
    let mut chain = vec![raw(Symlink, "a", ".")];
    chain.extend(ups.iter().map(|(name, link)| raw(Symlink, name, link)));
    let x_link = format!("up11/{canary_relative}");
    chain.push(raw(Symlink, "x", &x_link));

    let mut pax = tar::Header::new_ustar();
    pax.set_entry_type(tar::EntryType::XHeader);
    pax.set_path("pax").unwrap();
    pax.set_size(64 << 20);
    pax.set_cksum();
    let mut huge_pax = pax.as_bytes().to_vec();
    huge_pax.extend_from_slice(&inner_tar(&[file("after", b"x")]));

    let cases: Vec<(&str, &str, Vec<u8>, Value, &str)> = vec![
        ("parent path", "h0000001", share_backup("h0000001", &[file("../escaped", b"x")]), share.clone(), "'..'"),
        ("nested parent path", "h0000002", share_backup("h0000002", &[file("a/../../x", b"x")]), share.clone(), "'..'"),
        ("absolute path", "h0000003", share_backup("h0000003", &[file(canary, b"x")]), share.clone(), "absolute path"),
        (
            "absolute link",
            "h0000004",
            share_backup("h0000004", &[raw(Symlink, "link", canary)]),
            share.clone(),
            "outside the target",
        ),
        (
            "link up",
            "h0000005",
            share_backup("h0000005", &[raw(Symlink, "link", "../../../../../..")]),
            share.clone(),
            "outside the target",
        ),
        ("chained links", "h0000006", share_backup("h0000006", &chain), share.clone(), "outside the target"),
        (
            "write through a link",
            "h0000007",
            share_backup("h0000007", &[raw(Symlink, "dir", "."), file("dir/x", b"x")]),
            share.clone(),
            "goes through a link",
        ),
        (
            "hard link out",
            "h0000008",
            share_backup("h0000008", &[raw(Link, "hard", "/etc/passwd")]),
            share.clone(),
            "outside the target",
        ),
        (
            "hard link up",
            "h0000009",
            share_backup("h0000009", &[raw(Link, "hard", "../../../backup.json")]),
            share.clone(),
            "outside the target",
        ),
        (
            "character device",
            "h0000010",
            share_backup("h0000010", &[raw(Char, "null", "")]),
            share.clone(),
            "device node",
        ),
        ("block device", "h0000011", share_backup("h0000011", &[raw(Block, "sda", "")]), share.clone(), "device node"),
        ("fifo", "h0000012", share_backup("h0000012", &[raw(Fifo, "fifo", "")]), share.clone(), "device node"),
        (
            "huge PAX header",
            "h0000013",
            outer(&meta("h0000013", json!({})), vec![("share.tar", huge_pax)]),
            share.clone(),
            "larger than the limit",
        ),
        (
            "configuration folder as a link",
            "h0000014",
            outer(
                &meta("h0000014", json!({"folders": [], "homeassistant": {"version": "2025.1.0"}})),
                vec![("homeassistant.tar", inner_tar(&[raw(Symlink, "data", "."), raw(Directory, "x/", "")]))],
            ),
            json!({"homeassistant": true}),
            "'data' in it is not a directory",
        ),
        (
            "absolute add-on slug",
            "h0000015",
            outer(&meta("h0000015", json!({"addons": [{"slug": "/etc", "name": "x", "version": "1"}]})), vec![]),
            json!({"addons": ["/etc"]}),
            "invalid add-on slug '/etc'",
        ),
        (
            "add-on slug with ..",
            "h0000016",
            outer(
                &meta("h0000016", json!({"addons": [{"slug": "../../../tmp", "name": "x", "version": "1"}]})),
                vec![],
            ),
            json!({"addons": ["../../../tmp"]}),
            "invalid add-on slug '../../../tmp'",
        ),
        (
            "add-on slug ..",
            "h0000017",
            outer(&meta("h0000017", json!({"addons": [{"slug": "..", "name": "x", "version": "1"}]})), vec![]),
            json!({"addons": [".."]}),
            "invalid add-on slug '..'",
        ),
        (
            "folder out of the data directory",
            "h0000018",
            outer(&meta("h0000018", json!({"folders": [".."]})), vec![(".._.tar", inner_tar(&[]))]),
            json!({"folders": ["share"]}),
            "invalid folder '..'",
        ),
        (
            "bad add-on slug in the restore request",
            "h0000019",
            share_backup("h0000019", &[file("fine", b"x")]),
            json!({"addons": ["../../etc"]}),
            "addons: '../../etc' is not an add-on slug",
        ),
        (
            "add-on slug . in the restore request",
            "h0000020",
            share_backup("h0000020", &[file("fine", b"x")]),
            json!({"addons": ["."]}),
            "addons: '.' is not an add-on slug",
        ),
        ("symlinked backup.json", "h0000021", symlinked_meta(), share.clone(), "backup.json is not a regular file"),
    ];
    assert!(cases.len() >= 20);
    for (case, slug, bytes, body, expected) in cases {
        refused(&daemon, &watch, case, slug, bytes, body, expected);
    }
}

/// An outer tar whose `backup.json` is a link to a real one stored under another name.
fn symlinked_meta() -> Vec<u8> {
    let mut outer = tar::Builder::new(Vec::new());
    let json = serde_json::to_vec(&meta("h0000021", json!({}))).unwrap();
    let mut header = tar::Header::new_ustar();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    outer.append_data(&mut header, "real.json", &json[..]).unwrap();
    let mut link = tar::Header::new_ustar();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    outer.append_link(&mut link, "backup.json", "real.json").unwrap();
    outer.into_inner().unwrap()
}

#[test]
fn bombs_stop_at_the_free_space_and_what_fits_restores() {
    let mut mounted = None;
    let daemon = Daemon::start_prepared(|dir| mounted = Some(Tmpfs::mount(dir, "300m")));
    let _tmpfs = mounted;
    // The job condition wants a gigabyte free, more than this whole disk.
    let (status, answer) = daemon.post("/jobs/options", json!({"ignore_conditions": ["free_space"]}));
    assert_eq!(status, 200, "{answer}");
    let watch = Watch::new(&daemon);
    let share = json!({"folders": ["share"]});
    let gib = 1 << 30;
    for (case, slug, member, command) in [
        ("zstd bomb", "b0000001", "share.tar.zst", &["zstd", "-q", "-c"][..]),
        ("gzip bomb", "b0000002", "share.tar.gz", &["gzip", "-1", "-c"][..]),
    ] {
        let bomb = zeros_compressed(command, gib);
        assert!(bomb.len() < 8 << 20, "{case}: {} bytes", bomb.len());
        let bytes = outer(&meta(slug, json!({"compressed": true})), vec![(member, bomb)]);
        refused(&daemon, &watch, case, slug, bytes, share.clone(), "free for it on the disk");
    }

    // An upload larger than the free space stops there and leaves nothing.
    let form = reqwest::blocking::multipart::Form::new().part(
        "file",
        reqwest::blocking::multipart::Part::reader(std::io::repeat(0).take(400 << 20)).file_name("big.tar"),
    );
    let sent =
        daemon.client().post(daemon.url("/backups/new/upload")).bearer_auth(daemon.cli_token()).multipart(form).send();
    // The daemon may answer before the body is sent in full and close the connection.
    if let Ok(response) = sent {
        let (status, answer) = e2e::json_of(response);
        assert_eq!(status, 400, "{answer}");
        assert!(answer["message"].as_str().unwrap().contains("free for it on the disk"), "{answer}");
    }
    watch.check(&daemon, "upload larger than the disk");

    // Highly compressible data that fits restores.
    let size = 120 << 20;
    let zeros = zeros_compressed(&["zstd", "-q", "-c"], size);
    let bytes = outer(&meta("f0000001", json!({"compressed": true})), vec![("share.tar.zst", zeros)]);
    let (status, answer) = upload(&daemon, bytes, "");
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = daemon.post("/backups/f0000001/restore/partial", share);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(fs::metadata(daemon.data_dir().join("share/zeros")).unwrap().len(), size);
}

#[test]
fn upload_filenames_cannot_carry_header_or_path_parts() {
    let daemon = Daemon::start();
    let bytes = share_backup("c0000001", &[file("fine", b"x")]);
    for bad in ["a\";b.tar", "a;b.tar", "a\r\nX-Evil: 1.tar", "../a.tar", "a/b.tar", ".hidden.tar", "a\0.tar"] {
        let query = format!("?filename={}", encode(bad));
        let (status, answer) = upload(&daemon, bytes.clone(), &query);
        assert_eq!(status, 400, "{bad:?}: {answer}");
        let message = answer["message"].as_str().unwrap();
        // The exploit filter in front of every route may refuse a traversal first.
        let filtered = bad.contains("..") && message.contains("potentially harmful");
        assert!(filtered || message.contains("must be a file name"), "{bad:?}: {message}");
    }
    let names: Vec<_> = fs::read_dir(daemon.data_dir().join("backup")).unwrap().collect();
    assert!(names.is_empty(), "{names:?}");

    // A name that is taken, or that the rename cannot use: the upload goes, no partial file stays.
    fs::create_dir(daemon.data_dir().join("backup/taken.tar")).unwrap();
    let (status, answer) = upload(&daemon, bytes.clone(), "?filename=taken.tar");
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = upload(&daemon, bytes, &format!("?filename={}.tar", "n".repeat(300)));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("Cannot store the upload"), "{answer}");
    let names: Vec<String> = fs::read_dir(daemon.data_dir().join("backup"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["taken.tar"]);

    // A file put there by hand with a hostile name downloads under a harmless one.
    let hostile = daemon.data_dir().join("backup/x\";y.tar");
    fs::write(&hostile, share_backup("c0000002", &[file("fine", b"x")])).unwrap();
    assert_eq!(daemon.post("/backups/reload", json!({})).0, 200);
    let response = daemon.request("GET", "/backups/c0000002/download", Some(&daemon.cli_token()), None);
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert_eq!(disposition, "attachment; filename=x__y.tar");
}

/// Percent-encodes every byte but the unreserved ones.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn backups_are_private_files() {
    let daemon = Daemon::start();
    let (status, answer) = daemon.post("/backups/new/partial", json!({"name": "private", "folders": ["share"]}));
    assert_eq!(status, 200, "{answer}");
    let slug = answer["data"]["slug"].as_str().unwrap();
    let folder = daemon.data_dir().join("backup");
    assert_eq!(fs::metadata(&folder).unwrap().permissions().mode() & 0o777, 0o700);
    let mode = fs::metadata(folder.join(format!("{slug}.tar"))).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (status, answer) = upload(&daemon, share_backup("d0000001", &[file("fine", b"x")]), "");
    assert_eq!(status, 200, "{answer}");
    let mode = fs::metadata(folder.join("d0000001.tar")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn start_survives_data_folders_that_are_links() {
    let outside = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_prepared(|dir| {
        std::os::unix::fs::symlink("/nonexistent/share", dir.join("share")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.join("media")).unwrap();
    });
    assert_eq!(daemon.get("/backups").0, 200);
    for folder in ["share", "media"] {
        assert!(fs::symlink_metadata(daemon.data_dir().join(folder)).unwrap().is_dir(), "{folder}");
    }
    let (status, answer) = daemon.post("/backups/new/partial", json!({"name": "after", "folders": ["share", "media"]}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
}
