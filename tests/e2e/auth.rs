//! The request guard over real HTTP: which token headers count, what a missing or unknown token
//! gets, the blacklist nobody passes, and the exploit filter. Role decisions (403 for add-on
//! tokens) are covered by the unit tests of `crates/security/src/access.rs`, since no add-on token
//! can be issued over HTTP yet.

use e2e::Daemon;
use std::os::unix::fs::PermissionsExt;

/// GET `path` with `header: value` as the only credentials; answers status and JSON body.
fn get_with_header(daemon: &Daemon, path: &str, header: &str, value: &str) -> (reqwest::StatusCode, serde_json::Value) {
    e2e::json_of(daemon.client().get(daemon.url(path)).header(header, value).send().expect("request"))
}

#[test]
fn no_token_is_a_401() {
    let daemon = Daemon::start();
    let (status, body) = e2e::json_of(daemon.request("GET", "/jobs/info", None, None));
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["result"], "error");
    assert_eq!(body["message"], "No API token provided");
}

#[test]
fn an_unknown_token_is_a_401() {
    let daemon = Daemon::start();
    let (status, body) = e2e::json_of(daemon.request("GET", "/jobs/info", Some("not-a-token-we-issued"), None));
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["message"], "Invalid token");
}

#[test]
fn the_token_is_accepted_in_every_supported_header() {
    let daemon = Daemon::start();
    let token = daemon.cli_token();
    for (header, value) in [
        ("Authorization", format!("Bearer {token}")),
        ("X-Supervisor-Token", token.clone()),
        ("X-Hassio-Key", token.clone()),
    ] {
        let (status, body) = get_with_header(&daemon, "/supervisor/info", header, &value);
        assert_eq!(status, 200, "{header}: {body}");
        assert_eq!(body["result"], "ok", "{header}");
    }
}

#[test]
fn an_unknown_token_in_a_legacy_header_is_a_401() {
    let daemon = Daemon::start();
    let (status, body) = get_with_header(&daemon, "/supervisor/info", "X-Hassio-Key", "bogus");
    assert_eq!(status, 401, "{body}");
}

#[test]
fn the_cli_token_file_is_private() {
    let daemon = Daemon::start();
    let mode = std::fs::metadata(daemon.data_dir().join("cli_token")).expect("cli_token").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
}

/// Every file of the daemon's database.
fn database_files(daemon: &Daemon) -> Vec<std::path::PathBuf> {
    let mut pending = vec![daemon.data_dir().join("db")];
    let mut files = Vec::new();
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).expect("a folder").map(|e| e.expect("an entry").path()));
        } else {
            files.push(path);
        }
    }
    files
}

/// Whether any file of the daemon's database holds `secret`.
pub(crate) fn database_holds(daemon: &Daemon, secret: &str) -> bool {
    database_files(daemon).iter().any(|path| {
        let bytes = std::fs::read(path).expect("a database file");
        bytes.windows(secret.len()).any(|w| w == secret.as_bytes())
    })
}

/// The database holds the Core token: only the owner may read it. The CLI token is not in it at
/// all, its digest suffices.
#[test]
fn the_database_is_private_and_holds_no_cli_token() {
    let daemon = Daemon::start();
    let db = daemon.data_dir().join("db");
    let mode = |path: &std::path::Path| std::fs::symlink_metadata(path).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o700, "mode {:o}", mode(&db));
    let files = database_files(&daemon);
    assert!(!files.is_empty(), "no database files");
    for path in &files {
        assert_eq!(mode(path), 0o600, "{} has mode {:o}", path.display(), mode(path));
        let folder = path.parent().expect("a folder");
        assert_eq!(mode(folder), 0o700, "{} has mode {:o}", folder.display(), mode(folder));
    }
    assert!(!database_holds(&daemon, &daemon.cli_token()), "the database holds the CLI token");
    let logs = daemon.data_dir().join("logs/supervisor");
    assert_eq!(mode(&logs), 0o700, "mode {:o}", mode(&logs));
    for entry in std::fs::read_dir(&logs).expect("the log folder") {
        let path = entry.expect("an entry").path();
        assert_eq!(mode(&path), 0o600, "{} has mode {:o}", path.display(), mode(&path));
    }
}

#[test]
fn blacklisted_core_paths_are_403_in_every_spelling() {
    let daemon = Daemon::start();
    for path in ["/core/api/hassio_push/x", "/homeassistant/api/hassio_auth", "/core/api//hassio/app"] {
        let (status, body) = daemon.get(path);
        assert_eq!(status, 403, "{path}: {body}");
    }
}

#[test]
fn a_blacklisted_path_is_a_403_even_for_the_admin_token() {
    let daemon = Daemon::start();
    let (status, body) = daemon.get("/core/api/hassio/x");
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["result"], "error");
}

#[test]
fn a_percent_encoded_blacklisted_path_is_still_a_403() {
    let daemon = Daemon::start();
    // `%68` is `h`: the same path as `/core/api/hassio/x` once decoded, as a proxy would send it.
    let (status, body) = daemon.get("/core/api/%68assio/x");
    assert_eq!(status, 403, "{body}");
}

#[test]
fn path_traversal_in_the_query_is_refused_as_an_exploit() {
    let daemon = Daemon::start();
    let (status, body) = daemon.get("/supervisor/info?x=..%2F..%2Fetc");
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("harmful"), "{body}");
}

#[test]
fn a_script_tag_in_the_path_is_refused_as_an_exploit() {
    let daemon = Daemon::start();
    let (status, body) = daemon.get("/supervisor/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("harmful"), "{body}");
}

#[test]
fn the_exploit_filter_applies_before_the_token_check() {
    let daemon = Daemon::start();
    let (status, body) = e2e::json_of(daemon.request("GET", "/supervisor/info?x=..%2F..%2Fetc", None, None));
    assert_eq!(status, 400, "{body}");
}
