//! A real journal for tests: entries written in the Journal Export Format into a journal file by
//! `systemd-journal-remote`, served by `systemd-journal-gatewayd` on a free loopback port or a
//! unix socket. Debian's `systemd-journal-remote` package ships both; `cargo xtask test-images`
//! installs it.
//!
//! gatewayd has no flag for its address (it binds port 19531), but it takes a socket the systemd
//! way: fd 3 with `LISTEN_FDS=1` and `LISTEN_PID=<its pid>`. The harness binds the socket
//! itself and hands it over as the child's stdin; a shell moves it to fd 3 and exports
//! `LISTEN_PID=$$` before `exec`, which keeps that pid. The socket listens before gatewayd runs,
//! so a test can connect at once.
//!
//! Appending ([`TestJournal::append`]) runs `systemd-journal-remote` again on the same file;
//! gatewayd's followers see the new entries through inotify, as on a live system.

use crate::gateway::STARTUP_COMPLETE;
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tempfile::TempDir;

pub const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";
pub const GATEWAYD: &str = "/lib/systemd/systemd-journal-gatewayd";
/// The `_HOSTNAME` of [`Entry::log`] entries, as verbose lines show it.
pub const HOSTNAME: &str = "testhost";

/// One journal entry: the fields a journal would record for it.
#[derive(Debug, Clone)]
pub struct Entry {
    fields: Vec<(String, String)>,
}

impl Entry {
    /// An entry of boot `boot` (32 hex digits) written `usec` microseconds after the epoch. Its
    /// monotonic time is the same number: the journal needs one, the tests read none.
    pub fn new(boot: &str, usec: u64) -> Entry {
        let fields = [("__REALTIME_TIMESTAMP", usec.to_string()), ("__MONOTONIC_TIMESTAMP", usec.to_string())];
        let entry = Entry { fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect() };
        entry.field("_BOOT_ID", boot)
    }

    /// A message logged by `identifier` on the test host.
    pub fn log(boot: &str, usec: u64, identifier: &str, message: &str) -> Entry {
        Entry::new(boot, usec)
            .field("_HOSTNAME", HOSTNAME)
            .field("SYSLOG_IDENTIFIER", identifier)
            .field("PRIORITY", "6")
            .field("MESSAGE", message)
    }

    /// systemd's "Startup finished" of a boot, which boot lists are made from.
    pub fn startup_complete(boot: &str, usec: u64) -> Entry {
        Entry::log(boot, usec, "systemd", "Startup finished.").field("MESSAGE_ID", STARTUP_COMPLETE)
    }

    pub fn field(mut self, name: &str, value: impl Into<String>) -> Entry {
        self.fields.push((name.to_owned(), value.into()));
        self
    }

    /// The export format: `NAME=value` for printable values, the length-prefixed binary form
    /// for anything with control characters (newlines, colour escapes).
    fn export(&self, out: &mut Vec<u8>) {
        for (name, value) in &self.fields {
            if value.chars().all(|c| c == '\t' || !c.is_control()) {
                out.extend_from_slice(format!("{name}={value}\n").as_bytes());
            } else {
                out.extend_from_slice(format!("{name}\n").as_bytes());
                out.extend_from_slice(&(value.len() as u64).to_le_bytes());
                out.extend_from_slice(value.as_bytes());
                out.push(b'\n');
            }
        }
        out.push(b'\n');
    }
}

/// A journal file in a temporary directory and the gatewayd serving it; both go on drop.
pub struct TestJournal {
    dir: TempDir,
    gatewayd: Child,
    address: String,
}

impl TestJournal {
    /// Serves `entries` on a free loopback port: the address is `http://127.0.0.1:<port>`.
    pub fn serve(entries: &[Entry]) -> io::Result<TestJournal> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = format!("http://{}", listener.local_addr()?);
        TestJournal::start(tempfile::tempdir()?, entries, listener.into(), address)
    }

    /// Serves `entries` on a unix socket: the address is `unix:<socket path>`.
    pub fn serve_unix(entries: &[Entry]) -> io::Result<TestJournal> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("gatewayd.sock");
        let listener = UnixListener::bind(&socket)?;
        TestJournal::start(dir, entries, listener.into(), format!("unix:{}", socket.display()))
    }

    fn start(dir: TempDir, entries: &[Entry], socket: OwnedFd, address: String) -> io::Result<TestJournal> {
        for program in [JOURNAL_REMOTE, GATEWAYD] {
            if !Path::new(program).exists() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{program} is missing: install Debian's systemd-journal-remote (cargo xtask test-images)"),
                ));
            }
        }
        std::fs::create_dir(dir.path().join("journal"))?;
        write_entries(&journal_file(dir.path()), entries)?;
        let gatewayd = Command::new("/bin/sh")
            .arg("-c")
            .arg(r#"exec 3<&0 0</dev/null; export LISTEN_FDS=1 LISTEN_PID=$$; exec "$0" "$@""#)
            .arg(GATEWAYD)
            .arg(format!("--directory={}", dir.path().join("journal").display()))
            .stdin(socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(TestJournal { dir, gatewayd, address })
    }

    /// The gateway address for [`crate::Gateway::new`].
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Writes more entries into the served journal, as a running system would.
    pub fn append(&self, entries: &[Entry]) -> io::Result<()> {
        write_entries(&journal_file(self.dir.path()), entries)
    }

    /// Stops gatewayd: its address then refuses connections.
    pub fn stop(&mut self) {
        let _ = self.gatewayd.kill();
        let _ = self.gatewayd.wait();
    }
}

impl Drop for TestJournal {
    fn drop(&mut self) {
        self.stop();
    }
}

fn journal_file(dir: &Path) -> PathBuf {
    dir.join("journal/test.journal")
}

/// Appends `entries` to the journal file (making it if new) with systemd-journal-remote.
fn write_entries(file: &Path, entries: &[Entry]) -> io::Result<()> {
    let mut export = Vec::new();
    for entry in entries {
        entry.export(&mut export);
    }
    let mut remote = Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", file.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    remote.stdin.take().expect("stdin is piped").write_all(&export)?;
    let output = remote.wait_with_output()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(io::Error::other(format!("{JOURNAL_REMOTE} failed ({}): {stderr}", output.status)));
    }
    Ok(())
}
