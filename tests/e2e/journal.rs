//! The journal as the log backend: a real systemd-journal-gatewayd serving journal files made by
//! systemd-journal-remote, read by the supervisor's `.../logs` endpoints.

use e2e::Daemon;
use journal::testing::{Entry, TestJournal};

const BOOT: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn supervisor_logs_come_from_the_journal_when_it_has_them() {
    let journal = TestJournal::serve(&[
        Entry::log(BOOT, 1_700_000_000_000_000, "hassio_supervisor", "from the journal"),
        Entry::log(BOOT, 1_700_000_001_000_000, "other", "not ours"),
    ])
    .expect("journal");
    let daemon = Daemon::start_with(&[("SUPERVISOR_JOURNAL", journal.address())]);
    let (status, text) = daemon.text("/supervisor/logs");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("from the journal"), "{text}");
    assert!(!text.contains("not ours"), "{text}");
}

#[test]
fn supervisor_logs_fall_back_to_its_own_log_without_journal_entries() {
    let journal = TestJournal::serve(&[Entry::log(BOOT, 1_700_000_000_000_000, "other", "not ours")]).expect("journal");
    let daemon = Daemon::start_with(&[("SUPERVISOR_JOURNAL", journal.address())]);
    let (status, text) = daemon.text("/supervisor/logs?lines=500");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("supervisor listening"), "{text}");
}
