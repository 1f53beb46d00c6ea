//! The admin web UI in a real browser (headless Chromium, `e2e::browser`): logging in through
//! the one-time link `ha admin login` prints, with no token in any URL the browser asks for;
//! the session's cookies and headers; the CSRF token every state-changing request of a session
//! must carry; and the session ending at logout, when revoked, and when idle.

use crate::cli::ha_ok;
use e2e::browser::Browser;
use e2e::{json_of, Daemon};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// The Content-Security-Policy the pages are served with.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The session cookies the browser holds after a login: the session id and the CSRF token.
struct Session {
    id: String,
    csrf: String,
}

/// Logs `browser` in through the link `ha admin login` prints, and waits for the dashboard.
fn login(daemon: &Daemon, browser: &Browser) -> Session {
    let link = ha_ok(daemon, &["admin", "login"]).trim().to_owned();
    browser.navigate(&link);
    let version = browser.find_test("supervisor-version");
    browser.wait_until("the supervisor's version on the dashboard", |b| (!b.text(&version).is_empty()).then_some(()));
    let value = |name| {
        browser.cookie(name).and_then(|c| c["value"].as_str().map(str::to_owned)).unwrap_or_else(|| panic!("no {name}"))
    };
    Session { id: value("supervisor_session"), csrf: value("supervisor_csrf") }
}

/// A request from the page, as its scripts send them (the cookies go along by themselves),
/// with the `X-CSRF-Token` header when `csrf` is given; answers the status and the JSON body.
fn fetch(browser: &Browser, method: &str, path: &str, body: Value, csrf: Option<&str>) -> (u16, Value) {
    let answer = browser.execute_async(
        "const [method, path, body, csrf, done] = arguments;
         const headers = {'Content-Type': 'application/json'};
         if (csrf !== null) headers['X-CSRF-Token'] = csrf;
         fetch(path, {method, headers, body: JSON.stringify(body), credentials: 'same-origin'})
           .then(async (r) => done({status: r.status, body: await r.text()}))
           .catch((e) => done({status: 0, body: String(e)}));",
        json!([method, path, body, csrf]),
    );
    let text = answer["body"].as_str().unwrap_or_default();
    let body = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
    (answer["status"].as_u64().unwrap_or_default() as u16, body)
}

/// The CSRF token as the page's scripts read it, from `document.cookie`.
fn csrf_of_page(browser: &Browser) -> String {
    let cookies = browser.execute("return document.cookie;", json!([]));
    let cookies = cookies.as_str().unwrap_or_default();
    assert!(!cookies.contains("supervisor_session"), "the session cookie is readable by scripts: {cookies}");
    cookies
        .split(';')
        .find_map(|pair| pair.trim().strip_prefix("supervisor_csrf="))
        .unwrap_or_else(|| panic!("no supervisor_csrf in {cookies:?}"))
        .to_owned()
}

/// A GET of the API with the session cookie `id` only, from outside the browser.
fn get_with_cookie(daemon: &Daemon, path: &str, id: &str) -> (StatusCode, Value) {
    let request = daemon.client().get(daemon.url(path)).header("Cookie", format!("supervisor_session={id}"));
    json_of(request.send().expect("request"))
}

#[test]
fn the_one_time_link_logs_in_without_a_token_in_any_url() {
    let daemon = Daemon::start();
    let browser = Browser::start("admin_login");
    browser.navigate(&daemon.url("/admin"));
    browser.find_test("login-needed");
    assert_eq!(browser.current_url(), daemon.url("/admin/"));
    browser.screenshot("login-needed");

    let link = ha_ok(&daemon, &["admin", "login"]).trim().to_owned();
    let code = link.strip_prefix(&daemon.url("/admin/login?code=")).unwrap_or_else(|| panic!("the link: {link}"));
    assert_eq!(code.len(), 64, "{link}");
    browser.navigate(&link);
    let version = browser.find_test("supervisor-version");
    let (_, info) = daemon.get("/supervisor/info");
    browser.wait_until("the supervisor's version", |b| (b.text(&version) == info["data"]["version"]).then_some(()));
    assert_eq!(browser.current_url(), daemon.url("/admin/"), "the code left the address bar");
    browser.screenshot("dashboard");

    let session = browser.cookie("supervisor_session").expect("the session cookie");
    assert_eq!(
        (&session["httpOnly"], &session["sameSite"], &session["path"]),
        (&json!(true), &json!("Strict"), &json!("/"))
    );
    assert_eq!(session["secure"], false, "plain HTTP here");
    let csrf = browser.cookie("supervisor_csrf").expect("the CSRF cookie");
    assert_eq!((&csrf["httpOnly"], &csrf["sameSite"]), (&json!(false), &json!("Strict")));
    assert_eq!(csrf_of_page(&browser), csrf["value"].as_str().unwrap());

    // The code works once.
    let again = daemon.client().get(&link).send().expect("request");
    assert_eq!(again.status(), 401);
    assert!(again.text().unwrap().contains("used already"));
    browser.navigate(&link);
    let refusal = browser.find("main h1");
    assert_eq!(browser.text(&refusal), "Login link not valid");
    browser.screenshot("login-link-refused");
    browser.navigate(&daemon.url("/admin/"));
    browser.find_test("supervisor-version");

    let page = daemon.client().get(daemon.url("/admin/")).send().expect("request");
    let header = |name| page.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(header("content-security-policy"), CSP);
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("x-content-type-options"), "nosniff");

    let requests = browser.requests();
    assert!(requests.iter().any(|r| r.url == daemon.url("/supervisor/info")), "the page called the API: {requests:?}");
    let secrets =
        [daemon.cli_token(), session["value"].as_str().unwrap().to_owned(), csrf["value"].as_str().unwrap().to_owned()];
    for request in &requests {
        for secret in &secrets {
            assert!(
                !request.url.contains(secret.as_str()),
                "a secret in the URL of {} {}",
                request.method,
                request.url
            );
            assert!(!request.headers.iter().any(|h| h.contains(&daemon.cli_token())), "the admin token in {request:?}");
        }
        if request.url.contains(code) {
            assert_eq!(request.url, link, "the code went elsewhere than the login");
        }
        assert!(!request.headers.iter().any(|h| h.contains(code)), "the code in a header (a Referer?): {request:?}");
    }
    assert_eq!(requests.iter().filter(|r| r.url.contains(code)).count(), 2, "the two visits of the link");

    // The daemon tells of the login and the refusal, never of the secrets.
    let log = e2e::eventually("the login in the daemon's log", || {
        let log = daemon.log_text();
        log.contains("refused an admin login code").then_some(log)
    });
    assert!(log.contains("an admin UI session was opened"), "{log}");
    for secret in secrets.iter().map(String::as_str).chain([code]) {
        assert!(!log.contains(secret), "a secret in the daemon's log");
    }
}

#[test]
fn a_session_changes_nothing_without_its_csrf_token_and_ends_at_logout_and_revocation() {
    let daemon = Daemon::start();
    let browser = Browser::start("admin_session");
    let session = login(&daemon, &browser);
    let csrf = csrf_of_page(&browser);
    assert_eq!(csrf, session.csrf);
    let wait_boot = || daemon.get("/supervisor/info").1["data"]["wait_boot"].clone();
    let before = wait_boot();
    assert_ne!(before, 17);

    let (status, answer) = fetch(&browser, "POST", "/supervisor/options", json!({"wait_boot": 17}), None);
    assert_eq!(status, 403, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("X-CSRF-Token header is missing"), "{answer}");
    let (status, answer) = fetch(&browser, "POST", "/supervisor/options", json!({"wait_boot": 17}), Some("0123"));
    assert_eq!(status, 403, "{answer}");
    assert_eq!(wait_boot(), before, "nothing changed");
    let (status, answer) = fetch(&browser, "POST", "/supervisor/options", json!({"wait_boot": 17}), Some(&csrf));
    assert_eq!((status, &answer["result"]), (200, &json!("ok")), "{answer}");
    assert_eq!(wait_boot(), 17);
    // The CLI's token needs no CSRF token, as before.
    assert_eq!(daemon.post("/supervisor/options", json!({"wait_boot": 5})).0, 200);
    // The session is the CLI's rights, no more: Core's own routes stay Core's.
    let (status, _) = fetch(&browser, "POST", "/addons/core_other/sys_options", json!({}), Some(&csrf));
    assert_eq!(status, 403);

    // Logout, itself a change of state, needs the token too.
    assert_eq!(fetch(&browser, "POST", "/admin/logout", json!({}), None).0, 403);
    assert_eq!(fetch(&browser, "POST", "/admin/logout", json!({}), Some(&csrf)).0, 200);
    assert!(browser.cookie("supervisor_session").is_none(), "the browser forgot the session");
    let (status, answer) = get_with_cookie(&daemon, "/supervisor/info", &session.id);
    assert_eq!(status, 401, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("expired or was ended"), "{answer}");
    browser.navigate(&daemon.url("/admin/"));
    browser.find_test("login-needed");
    browser.screenshot("logged-out");

    // `ha admin logout-all` ends every session.
    let session = login(&daemon, &browser);
    assert_eq!(get_with_cookie(&daemon, "/supervisor/info", &session.id).0, 200);
    let out = ha_ok(&daemon, &["admin", "logout-all"]);
    assert!(out.contains("ended: 1"), "{out}");
    assert_eq!(get_with_cookie(&daemon, "/supervisor/info", &session.id).0, 401);
    browser.navigate(&daemon.url("/admin/"));
    browser.find_test("login-needed");
}

#[test]
fn an_idle_session_expires() {
    let daemon = Daemon::start_with(&[("SUPERVISOR_ADMIN_SESSION_IDLE", "3")]);
    let browser = Browser::start("admin_idle");
    let session = login(&daemon, &browser);
    std::thread::sleep(Duration::from_secs(5));
    let (status, answer) = get_with_cookie(&daemon, "/supervisor/info", &session.id);
    assert_eq!(status, 401, "{answer}");
    browser.navigate(&daemon.url("/admin/"));
    browser.find_test("login-needed");
}
