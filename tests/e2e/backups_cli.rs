//! `ha backups` against a real daemon: a partial backup made as a followed job, listed, shown,
//! removed, and a bad flag value refused.

use crate::cli::{ha_ok, stderr, stdout};
use e2e::Daemon;

#[test]
fn ha_backups_new_lists_shows_and_removes_a_backup() {
    let daemon = Daemon::start();
    std::fs::write(daemon.data_dir().join("share/notes.txt"), "kept in the backup").unwrap();

    let output = daemon.ha(&["backups", "new", "--name", "cli", "--folders", "share"], &[]);
    let out = stdout(&output);
    let err = stderr(&output);
    assert!(output.status.success(), "ha backups new failed: {out}{err}");
    // The job was followed to its end, quietly, as stderr is no terminal.
    assert!(err.trim().is_empty(), "{err}");
    let slug = out
        .lines()
        .find_map(|l| l.strip_prefix("slug: "))
        .unwrap_or_else(|| panic!("no slug printed: {out}"))
        .to_owned();
    assert!(out.lines().any(|l| l.starts_with("job_id: ")), "{out}");
    let listing = |folder: &str| -> Vec<String> {
        let entries = std::fs::read_dir(daemon.data_dir().join(folder)).into_iter().flatten().flatten();
        entries.map(|e| e.file_name().to_string_lossy().into_owned()).collect()
    };
    assert!(
        daemon.data_dir().join(format!("backup/{slug}.tar")).is_file(),
        "{slug}.tar is missing; backup/ holds {:?}, core/backup/ {:?}; the CLI printed {out}",
        listing("backup"),
        listing("core/backup")
    );

    let list = ha_ok(&daemon, &["backups"]);
    assert!(list.lines().any(|l| l.trim_start_matches("- ").trim() == format!("slug: {slug}")), "{list}");
    assert!(list.lines().any(|l| l.starts_with("days_until_stale: ")), "{list}");

    let info = ha_ok(&daemon, &["backups", "info", &slug]);
    assert!(info.lines().any(|l| l == "name: cli"), "{info}");
    assert!(info.lines().any(|l| l == "type: partial"), "{info}");
    let folders = info.split_once("folders:\n").map(|(_, rest)| rest).unwrap_or_else(|| panic!("no folders: {info}"));
    assert_eq!(folders.lines().next(), Some("- share"), "{info}");

    assert_eq!(ha_ok(&daemon, &["backups", "remove", &slug]).trim(), "Command completed successfully.");
    assert!(!daemon.data_dir().join(format!("backup/{slug}.tar")).exists());
    let list = ha_ok(&daemon, &["backups"]);
    assert!(!list.contains(&slug), "{list}");
    let output = daemon.ha(&["backups", "info", &slug], &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("Backup does not exist"), "{}", stderr(&output));

    // Refused by the CLI before anything is sent, and by the API with the field named.
    let output = daemon.ha(&["backups", "new", "--homeassistant-exclude-database=maybe"], &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("strconv.ParseBool: parsing \"maybe\": invalid syntax"), "{}", stderr(&output));
    let output = daemon.ha(&["backups", "new", "--folders", "nowhere"], &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("folders: 'nowhere'"), "{}", stderr(&output));
    let list = ha_ok(&daemon, &["backups"]);
    assert!(!list.contains("slug:"), "a refused backup was made: {list}");
}
