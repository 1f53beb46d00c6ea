//! The journal backend against a real systemd-journal-gatewayd serving journal files written by
//! systemd-journal-remote (`journal::testing`): three boots of a host with a kernel, a
//! supervisor, an add-on container restarted once, and a program that logs in colour.

use base::logs::LineFormat;
use futures_util::StreamExt;
use journal::testing::{Entry, TestJournal, HOSTNAME};
use journal::{Gateway, Header, JournalError, Logs, Request, Text, Unavailable};
use std::time::Duration;

/// 2023-11-14 22:13:20 UTC.
const T0: u64 = 1_700_000_000_000_000;
const SECOND: u64 = 1_000_000;

fn boot(letter: char) -> String {
    letter.to_string().repeat(32)
}

/// Per boot (a, b, c, each 1000 s apart): systemd's start-up, a kernel line, five supervisor
/// lines; the add-on container `addon_core_ssh` runs once in a and b and twice in c (Docker's
/// log epoch changes with each run); boot c also has a line in colour.
fn host() -> Vec<Entry> {
    let mut entries = Vec::new();
    for (i, letter) in ['a', 'b', 'c'].into_iter().enumerate() {
        let id = boot(letter);
        let mut at = T0 + i as u64 * 1000 * SECOND;
        let mut next = || {
            at += SECOND;
            at
        };
        entries.push(Entry::startup_complete(&id, next()));
        entries.push(Entry::log(&id, next(), "kernel", &format!("{letter} kernel")));
        for n in 1..=5 {
            let line = Entry::log(&id, next(), "hassio_supervisor", &format!("{letter} supervisor {n}"));
            entries.push(line.field("_PID", (100 + i).to_string()));
        }
        let runs: &[&[u32]] = if letter == 'c' { &[&[1], &[2, 3]] } else { &[&[1]] };
        for (run, lines) in runs.iter().enumerate() {
            for n in *lines {
                let line = Entry::log(&id, next(), "addon_core_ssh", &format!("{letter} ssh {n}"));
                entries.push(
                    line.field("CONTAINER_NAME", "addon_core_ssh")
                        .field("CONTAINER_LOG_EPOCH", format!("{letter}{run}")),
                );
            }
        }
        if letter == 'c' {
            entries.push(Entry::log(&id, next(), "colors", "\x1b[1;31mred\x1b[0m alert"));
        }
    }
    entries
}

fn serve() -> (TestJournal, Gateway) {
    let journal = TestJournal::serve(&host()).expect("a test journal");
    let gateway = Gateway::new(journal.address()).unwrap();
    (journal, gateway)
}

/// The query of `uri` as pairs (the tests' queries need no decoding).
fn query(uri: &str) -> Vec<(String, String)> {
    let Some((_, query)) = uri.split_once('?') else { return Vec::new() };
    query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// The client's request: the query of `uri`, and the `Accept` and `Range` among `headers`.
fn request<'a>(query: &'a [(String, String)], headers: &[(&str, &'a str)]) -> Request<'a> {
    let header = |name: &str| {
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map_or(Header::Absent, |(_, v)| Header::Text(v))
    };
    Request { query, accept: header("Accept"), range: header("Range") }
}

/// The answer to a finite request: the lines and the first entry's cursor, or the message of
/// a wrong request.
struct Answer {
    error: Option<String>,
    first_cursor: Option<String>,
    body: String,
}

impl Answer {
    fn lines(&self) -> Vec<&str> {
        self.body.lines().collect()
    }
}

async fn answer(text: Result<Text, JournalError>) -> Answer {
    match text {
        Ok(Text::Empty) => Answer { error: None, first_cursor: None, body: String::new() },
        Ok(Text::Lines { first_cursor, lines }) => {
            let chunks: Vec<_> = lines.collect().await;
            let body = chunks.iter().map(|chunk| std::str::from_utf8(chunk).unwrap()).collect();
            Answer { error: None, first_cursor, body }
        }
        Err(JournalError::Failed(message)) => Answer { error: Some(message), first_cursor: None, body: String::new() },
        Err(JournalError::Unavailable(unavailable)) => panic!("the journal answers: {unavailable}"),
    }
}

async fn get(gateway: &Gateway, logs: &Logs, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let query = query(uri);
    answer(gateway.entries(&request(&query, headers), logs).await).await
}

/// `Unavailable`, or what else the journal answered.
async fn unavailable(gateway: &Gateway, logs: &Logs) -> Result<Unavailable, String> {
    match gateway.entries(&Request::default(), logs).await {
        Err(JournalError::Unavailable(unavailable)) => Ok(unavailable),
        other => Err(format!("{other:?}")),
    }
}

fn supervisor() -> Logs {
    Logs::identifiers(["hassio_supervisor"])
}

#[tokio::test]
async fn lines_and_ranges_select_entries() {
    let (_journal, gateway) = serve();
    let last = get(&gateway, &supervisor(), "/logs?lines=3", &[]).await;
    assert_eq!(last.error, None);
    assert_eq!(last.lines(), ["c supervisor 3", "c supervisor 4", "c supervisor 5"]);
    // One line cannot be said with a range ending at the tail: two it is.
    assert_eq!(get(&gateway, &supervisor(), "/logs?lines=1", &[]).await.lines(), ["c supervisor 4", "c supervisor 5"]);
    // No range and no amount: the last 100, here everything.
    assert_eq!(
        get(&gateway, &Logs::identifiers(["kernel"]), "/logs", &[]).await.lines(),
        ["a kernel", "b kernel", "c kernel"]
    );
    // `lines` beats the Range header.
    let both = get(&gateway, &supervisor(), "/logs?lines=2", &[("Range", "entries=:0:1")]).await;
    assert_eq!(both.lines(), ["c supervisor 4", "c supervisor 5"]);

    // The first line's cursor pages back with a negative skip, and forward to the end.
    let cursor = last.first_cursor.clone().expect("the first entry's cursor");
    let range = |spec: &str| format!("entries={cursor}:{spec}");
    let back = get(&gateway, &supervisor(), "/logs", &[("Range", &range("-2:3"))]).await;
    assert_eq!(back.lines(), ["c supervisor 1", "c supervisor 2", "c supervisor 3"]);
    assert_eq!(get(&gateway, &supervisor(), "/logs", &[("Range", &range("0:1"))]).await.lines(), ["c supervisor 3"]);
    // An empty num_entries means all of them (spelled out for systemd ≥ 256).
    let rest = get(&gateway, &supervisor(), "/logs", &[("Range", &range("1:"))]).await;
    assert_eq!(rest.lines(), ["c supervisor 4", "c supervisor 5"]);
    let head = get(&gateway, &supervisor(), "/logs", &[("Range", "entries=:2:2")]).await;
    assert_eq!(head.lines(), ["a supervisor 3", "a supervisor 4"]);

    let invalid = get(&gateway, &supervisor(), "/logs", &[("Range", "entries=a:b:")]).await;
    assert_eq!(invalid.error.as_deref(), Some("Invalid range header: entries=a:b:"));
    let refused = get(&gateway, &supervisor(), "/logs", &[("Range", "entries=:x:2")]).await.error.unwrap();
    assert!(refused.starts_with("systemd-journal-gatewayd answered 400"), "{refused}");
    let query = Vec::new();
    let not_text = Request { query: &query, accept: Header::Absent, range: Header::Invalid };
    let not_text = answer(gateway.entries(&not_text, &supervisor()).await).await;
    assert_eq!(not_text.error.as_deref(), Some("Invalid range header"));
}

#[tokio::test]
async fn plain_and_verbose_lines() {
    let (_journal, gateway) = serve();
    // Boot c's fifth supervisor line, 2007 s after T0.
    let verbose_line = format!("2023-11-14 22:46:47.000 {HOSTNAME} hassio_supervisor[102]: c supervisor 5");
    for accept in ["text/plain", "*/*"] {
        let plain = get(&gateway, &supervisor(), "/logs?lines=2", &[("Accept", accept)]).await;
        assert_eq!(plain.lines(), ["c supervisor 4", "c supervisor 5"]);
        assert!(plain.first_cursor.as_deref().is_some_and(|c| c.starts_with("s=")));
    }
    let x_log = get(&gateway, &supervisor(), "/logs?lines=2", &[("Accept", "text/x-log")]).await;
    assert_eq!(x_log.lines()[1], verbose_line);
    assert_eq!(get(&gateway, &supervisor(), "/logs?lines=2&verbose", &[]).await.lines()[1], verbose_line);
    let verbose = supervisor().format_by_default(LineFormat::Verbose);
    let by_default = get(&gateway, &verbose, "/logs?lines=2", &[("Accept", "text/plain")]).await;
    assert_eq!(by_default.lines()[1], verbose_line);
    // A format the client names wins over the endpoint's and over `verbose`.
    let plain = get(&gateway, &verbose, "/logs?lines=2&format=plain&verbose", &[]).await;
    assert_eq!(plain.lines()[1], "c supervisor 5");
    let timestamp = get(&gateway, &supervisor(), "/logs?lines=2&format=timestamp", &[]).await;
    assert_eq!(timestamp.lines()[1], "2023-11-14 22:46:47.000 c supervisor 5");
    let bad = get(&gateway, &supervisor(), "/logs?format=json", &[]).await;
    assert_eq!(bad.error.as_deref(), Some("Invalid log format 'json', expected one of: plain, timestamp, verbose"));
    // Without a _PID the brackets go.
    let kernel = get(&gateway, &Logs::identifiers(["kernel"]), "/logs?verbose", &[]).await;
    assert_eq!(kernel.lines()[0], format!("2023-11-14 22:13:22.000 {HOSTNAME} kernel: a kernel"));

    let invalid = "Invalid content type requested. Only text/plain and text/x-log supported for now.";
    let json = get(&gateway, &supervisor(), "/logs", &[("Accept", "application/json")]).await;
    assert_eq!(json.error.as_deref(), Some(invalid));
    let query = Vec::new();
    let not_text = Request { query: &query, accept: Header::Invalid, range: Header::Absent };
    assert_eq!(answer(gateway.entries(&not_text, &supervisor()).await).await.error.as_deref(), Some(invalid));

    // Nothing selected: an empty answer, without a cursor.
    let none = get(&gateway, &Logs::identifiers(["nobody"]), "/logs", &[]).await;
    assert!(matches!(gateway.entries(&Request::default(), &Logs::identifiers(["nobody"])).await, Ok(Text::Empty)));
    assert_eq!((none.error, none.body.as_str(), none.first_cursor), (None, "", None));
}

#[tokio::test]
async fn colours_are_kept_unless_asked_away() {
    let (_journal, gateway) = serve();
    let colors = Logs::identifiers(["colors"]);
    assert_eq!(get(&gateway, &colors, "/logs", &[]).await.body, "\x1b[1;31mred\x1b[0m alert\n");
    assert_eq!(get(&gateway, &colors, "/logs?no_colors", &[]).await.body, "red alert\n");
    let verbose = get(&gateway, &colors, "/logs?no_colors", &[("Accept", "text/x-log")]).await;
    assert!(verbose.body.ends_with(": red alert\n"), "{}", verbose.body);
}

#[tokio::test]
async fn boots_are_listed_and_named_by_offset() {
    let (_journal, gateway) = serve();
    let boots = gateway.boots().await.unwrap();
    assert_eq!(boots.ids(), [boot('a'), boot('b'), boot('c')]);
    let expected = format!(r#"{{"-2":"{}","-1":"{}","0":"{}"}}"#, boot('a'), boot('b'), boot('c'));
    assert_eq!(serde_json::to_string(&boots).unwrap(), expected);

    let kernel = |bootid: &str| Logs::identifiers(["kernel"]).boot(bootid);
    for (bootid, line) in
        [("0", "c kernel"), ("-1", "b kernel"), ("-2", "a kernel"), ("1", "a kernel"), ("2", "b kernel")]
    {
        assert_eq!(get(&gateway, &kernel(bootid), "/logs", &[]).await.lines(), [line], "boot {bootid}");
    }
    assert_eq!(get(&gateway, &kernel(&boot('b')), "/logs", &[]).await.lines(), ["b kernel"]);
    for out_of_range in ["-3", "4"] {
        let answer = get(&gateway, &kernel(out_of_range), "/logs", &[]).await;
        assert_eq!(answer.error.as_deref(), Some("Logs only contain 3 boots"));
    }

    // A boot that has not finished starting is still the current one.
    let d = boot('d');
    let starting = TestJournal::serve(&[
        Entry::startup_complete(&boot('a'), T0),
        Entry::log(&d, T0 + SECOND, "kernel", "d kernel"),
    ])
    .unwrap();
    let boots = Gateway::new(starting.address()).unwrap().boots().await.unwrap();
    assert_eq!(boots.ids(), [boot('a'), d]);
}

#[tokio::test]
async fn identifiers_are_listed_and_filter() {
    let (_journal, gateway) = serve();
    let identifiers = gateway.identifiers().await.unwrap();
    assert_eq!(identifiers, ["addon_core_ssh", "colors", "hassio_supervisor", "kernel", "systemd"]);

    // Several identifiers: either one, in journal order.
    let two = get(&gateway, &Logs::identifiers(["kernel", "colors"]).boot("0"), "/logs", &[]).await;
    assert_eq!(two.lines(), ["c kernel", "\x1b[1;31mred\x1b[0m alert"]);
    let container = get(&gateway, &Logs::container("addon_core_ssh"), "/logs", &[]).await;
    assert_eq!(container.lines(), ["a ssh 1", "b ssh 1", "c ssh 1", "c ssh 2", "c ssh 3"]);
}

#[tokio::test]
async fn latest_is_the_containers_current_run() {
    let (_journal, gateway) = serve();
    let latest = get(&gateway, &Logs::container("addon_core_ssh").latest(), "/logs/latest", &[]).await;
    assert_eq!(latest.lines(), ["c ssh 2", "c ssh 3"]);
    // By identifier, the container of that name gives the epoch.
    let by_identifier = get(&gateway, &Logs::identifiers(["addon_core_ssh"]).latest(), "/logs/latest", &[]).await;
    assert_eq!(by_identifier.lines(), ["c ssh 2", "c ssh 3"]);

    let several = get(&gateway, &Logs::identifiers(["kernel", "colors"]).latest(), "/logs/latest", &[]).await;
    assert_eq!(several.error.as_deref(), Some("Latest logs can only be fetched for a specific identifier."));
    let no_container = get(&gateway, &Logs::identifiers(["kernel"]).latest(), "/logs/latest", &[]).await;
    assert_eq!(
        no_container.error.as_deref(),
        Some("Cannot determine CONTAINER_LOG_EPOCH of kernel, latest logs not available.")
    );
}

#[tokio::test]
async fn following_sends_appended_entries() {
    let (journal, gateway) = serve();
    let logs = supervisor().boot("0").follow(true);
    let query = query("/logs/follow?lines=2");
    let Ok(Text::Lines { mut lines, .. }) = gateway.entries(&request(&query, &[]), &logs).await else {
        panic!("the lines");
    };
    let mut received = String::new();
    let mut read_until = async |text: &str| {
        let read = async {
            while !received.contains(text) {
                let chunk = lines.next().await.expect("the follow goes on");
                received.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .unwrap_or_else(|_| panic!("no {text:?} in {received:?}"));
    };
    read_until("c supervisor 5\n").await;

    let later = T0 + 3000 * SECOND;
    journal
        .append(&[
            Entry::log(&boot('c'), later, "kernel", "not followed"),
            Entry::log(&boot('c'), later + 1, "hassio_supervisor", "c supervisor 6"),
        ])
        .unwrap();
    read_until("c supervisor 6\n").await;
    assert_eq!(received, "c supervisor 4\nc supervisor 5\nc supervisor 6\n");
}

#[tokio::test]
async fn a_journal_that_cannot_answer_is_unavailable() {
    let (mut journal, gateway) = serve();
    let empty = unavailable(&gateway, &Logs::container("addon_nobody").fallback_when_empty()).await;
    assert_eq!(empty, Ok(Unavailable::NoEntries("container addon_nobody".into())));
    let known = gateway.entries(&Request::default(), &Logs::container("addon_core_ssh").fallback_when_empty()).await;
    assert!(matches!(known, Ok(Text::Lines { .. })), "{known:?}");
    // Unread, so that its connection is not kept for the requests below.
    drop(known);

    journal.stop();
    let down = unavailable(&gateway, &supervisor()).await;
    assert_eq!(down, Ok(Unavailable::Unreachable));
    assert_eq!(Unavailable::Unreachable.to_string(), "Unable to connect to systemd-journal-gatewayd");
    assert_eq!(gateway.boots().await, Err(JournalError::Unavailable(Unavailable::Unreachable)));
    let error = base::Error::from(gateway.identifiers().await.unwrap_err());
    assert_eq!(
        (error.kind, error.message.as_str()),
        (base::Kind::Invalid, "Unable to connect to systemd-journal-gatewayd")
    );

    let no_socket = Gateway::new("unix:/nonexistent/journal-gatewayd.sock").unwrap();
    assert_eq!(unavailable(&no_socket, &supervisor()).await, Ok(Unavailable::NoSocket));
}

#[tokio::test]
async fn the_unix_socket_serves_the_same() {
    let journal = TestJournal::serve_unix(&host()).unwrap();
    let gateway = Gateway::new(journal.address()).unwrap();
    assert_eq!(gateway.identifiers().await.unwrap().len(), 5);
    assert_eq!(get(&gateway, &supervisor(), "/logs?lines=2", &[]).await.lines(), ["c supervisor 4", "c supervisor 5"]);
}
