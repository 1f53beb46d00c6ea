//! The access table as the daemon really applies it: every row of `openapi/access.tsv` (every
//! operation × every kind of caller, generated from the code; `own` where the handler asks for a
//! credential of its own, which no token replaces) sent to a running daemon with a real token of
//! each kind, and again with its path disguised (encoded separators, double
//! encoding, dot segments, a trailing slash), which must never get a caller further than the
//! plain path does.
//!
//! Add-on tokens are real: one fixture add-on per `hassio_role` (and one without `hassio_api`)
//! is built, installed and started, and its container's `SUPERVISOR_TOKEN` is used. The
//! `session` column is the admin UI's session cookie from a real login, sent with its CSRF
//! token; every state-changing request it may make is sent once more without that token, and
//! must be refused. Requests go
//! over a raw socket, since an HTTP client library would normalise the very paths under test.

use crate::addons::{container_token, engine_daemon, install};
use e2e::fixtures::FixtureRepository;
use e2e::Daemon;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The add-on of each add-on column of the table: (column, `hassio_role`, `hassio_api`).
const ADDON_CALLERS: [(&str, &str, bool); 6] = [
    ("default", "default", true),
    ("homeassistant", "homeassistant", true),
    ("backup", "backup", true),
    ("manager", "manager", true),
    ("admin", "admin", true),
    ("no_api", "default", false),
];

/// Allowed requests whose handler would change the machine or the daemon's life (or stream
/// forever) are not sent; their denial for every other caller still is.
fn too_consequential(method: &str, path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or_default();
    method == "DELETE"
        || path.contains("/follow")
        || (method != "GET"
            && matches!(
                last,
                "restart"
                    | "reboot"
                    | "shutdown"
                    | "stop"
                    | "start"
                    | "uninstall"
                    | "wipe"
                    | "update"
                    | "rebuild"
                    | "repair"
                    | "freeze"
                    | "thaw"
                    | "install"
                    | "move"
                    | "reload"
                    | "refresh_updates"
                    | "reload_updates"
                    // They would end the session the `session` column calls with.
                    | "logout"
                    | "logout_all"
            ))
}

/// Sends one request as written, without any normalisation; answers the status and the body,
/// or `None` when the daemon did not answer in time (a stream that stays open).
fn raw_request(address: &str, method: &str, path: &str, credential: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let body = if method == "GET" { String::new() } else { json!({"access_probe": true}).to_string() };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{credential}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(_) if answer.len() > 12 => break,
            Err(_) => return None,
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    Some((status, text))
}

/// The same path disguised in every way that once made the guard and the router disagree.
fn disguises(path: &str) -> Vec<String> {
    let slashes: Vec<usize> = path.match_indices('/').map(|(i, _)| i).skip(1).collect();
    let mut out = Vec::new();
    for at in slashes {
        for encoded in ["%2F", "%2f", "%252F", "%5C", "\\"] {
            out.push(format!("{}{encoded}{}", &path[..at], &path[at + 1..]));
        }
    }
    // A last parameter that smuggles a harmless-looking ending (`install/1%2Finfo`).
    for encoded in ["%2F", "%2f", "%252F", "%5C", "\\"] {
        out.push(format!("{path}{encoded}info"));
    }
    out.push(format!("{path}/%2e%2e/info"));
    out.push(format!("{path}/./info"));
    out.push(format!("{path}/"));
    out
}

/// A disguised request stopped no later than the plain one: refused as a path, or denied, or
/// routed nowhere.
fn stopped(answer: &Option<(u16, String)>) -> bool {
    match answer {
        Some((400, text)) => text.contains("The request path was refused") || text.contains("potentially harmful"),
        Some((401 | 403, _)) => true,
        // Only the router's own 404: a handler's would mean the request got through.
        Some((404, text)) => text.contains("No route for"),
        _ => false,
    }
}

fn add_role_addon(repository: &FixtureRepository, slug: &str, role: &str, hassio_api: bool) {
    repository.write(
        &format!("{slug}/config.yaml"),
        &format!(
            "name: Role {slug}\nversion: 1.0.0\nslug: {slug}\ndescription: Holds a token of role {role}\n\
             arch:\n  - amd64\n  - aarch64\nstartup: application\nboot: manual\ninit: false\n\
             hassio_api: {hassio_api}\nhassio_role: {role}\noptions: {{}}\nschema: {{}}\n"
        ),
    );
    repository.write(
        &format!("{slug}/Dockerfile"),
        "ARG BUILD_FROM=supervisor-test-base:latest\nFROM $BUILD_FROM\n\
         CMD [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done\"]\n",
    );
}

/// The header lines that send `token`.
fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

/// Logs in to the admin UI as a browser does, through a one-time code: answers the session's
/// cookie header and its CSRF token.
fn admin_session(daemon: &Daemon) -> (String, String) {
    let (status, link) = daemon.post("/admin/login_link", json!({}));
    assert_eq!(status, 200, "{link}");
    let client = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = client.get(daemon.url(link["data"]["path"].as_str().unwrap())).send().expect("login");
    assert_eq!(login.status(), 303);
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let csrf = cookies.iter().find_map(|c| c.strip_prefix("supervisor_csrf=")).expect("the CSRF cookie").to_owned();
    (format!("Cookie: {}\r\n", cookies.join("; ")), csrf)
}

/// Installs and starts one add-on per add-on column; answers each column's token.
fn addon_tokens(daemon: &Daemon) -> BTreeMap<&'static str, String> {
    let mut tokens = BTreeMap::new();
    for (column, _, _) in ADDON_CALLERS {
        let slug = format!("core_role_{column}");
        install(daemon, &slug);
        let (status, body) = daemon.post(&format!("/addons/{slug}/start"), json!({}));
        assert_eq!(status, 200, "start of {slug}: {body}");
        let token = container_token(daemon, &slug);
        tokens.insert(column, token);
    }
    tokens
}

#[test]
fn every_route_answers_every_caller_as_the_access_table_says_even_disguised() {
    let repository = FixtureRepository::copy();
    for (column, role, hassio_api) in ADDON_CALLERS {
        add_role_addon(&repository, &format!("role_{column}"), role, hassio_api);
    }
    let daemon = engine_daemon(&[repository.env()]);
    let mut credentials: BTreeMap<&str, String> =
        addon_tokens(&daemon).into_iter().map(|(column, token)| (column, bearer(&token))).collect();
    credentials.insert("cli", bearer(&daemon.cli_token()));
    let (session, csrf) = admin_session(&daemon);
    credentials.insert("session", format!("{session}X-CSRF-Token: {csrf}\r\n"));

    let table = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/access.tsv"))
        .expect("openapi/access.tsv");
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().expect("a header").split('\t').collect();
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in lines {
        let cells: Vec<&str> = line.split('\t').collect();
        let (method, path) = (cells[0], cells[1]);
        for (column, expected) in header.iter().zip(&cells).skip(2) {
            // Core's token is not handed out; its column is the unit tests' to check.
            let credential = match *column {
                "none" => "",
                "core" => continue,
                other => credentials[other].as_str(),
            };
            let answer = if *expected == "allow" && too_consequential(method, path) {
                None
            } else {
                raw_request(daemon.address(), method, path, credential)
            };
            let status = answer.as_ref().map(|(status, _)| *status);
            let agrees = match (*expected, status) {
                ("allow", Some(401 | 403)) => false,
                ("allow", _) => true,
                // The handler asks for a credential of its own, which no caller here sends.
                ("own", Some(status)) => !(200..300).contains(&status),
                (denied, Some(status)) => denied == status.to_string(),
                (_, None) => false,
            };
            checked += 1;
            if !agrees {
                failures.push(format!("{method} {path} as {column}: expected {expected}, got {status:?}"));
            }
            if *column == "session" && *expected == "allow" && method != "GET" && answer.is_some() {
                let without_csrf = raw_request(daemon.address(), method, path, &session);
                checked += 1;
                if !without_csrf.as_ref().is_some_and(|(status, text)| *status == 403 && text.contains("X-CSRF-Token"))
                {
                    let status = without_csrf.map(|(status, _)| status);
                    failures.push(format!("{method} {path} as session without its CSRF token: got {status:?}"));
                }
            }
            if matches!(*expected, "allow" | "own") {
                continue;
            }
            for disguised in disguises(path) {
                let answer = raw_request(daemon.address(), method, &disguised, credential);
                checked += 1;
                if !stopped(&answer) {
                    let status = answer.map(|(status, _)| status);
                    failures
                        .push(format!("{method} {disguised} as {column} got {status:?}, further than the plain path"));
                }
            }
        }
    }
    assert!(checked > 5_000, "only {checked} requests were checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} requests disagree with the table:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The daemon is still fine after thousands of refused requests.
    assert_eq!(daemon.get("/supervisor/info").0, 200);
}
