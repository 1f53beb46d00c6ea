//! The admin web UI in a real browser (headless Chromium, `e2e::browser`): logging in through
//! the one-time link `ha admin login` prints, with no token in any URL the browser asks for;
//! the session's cookies and headers; the CSRF token every state-changing request of a session
//! must carry; and the session ending at logout, when revoked, and when idle. Then what a person
//! does in the pages, each task in a test of its own with its own daemon (so its own names on
//! the engine): installing a fixture add-on from the store with its job followed live,
//! configuring one through its generated form, following its log, making, restoring, deleting
//! and uploading a backup, adding, changing and removing a network mount; and every page at a desktop's width and a phone's, screenshotted,
//! without horizontal scrolling on the phone and without a script error or a
//! Content-Security-Policy violation in the console.

use crate::addons::{engine_daemon, image_exists, info, install, installed_slugs, local_image, state, write_stdin};
use crate::cli::ha_ok;
use dbus_fixtures::{PrivateBus, Service};
use e2e::browser::Browser;
use e2e::fixtures::FixtureRepository;
use e2e::{json_of, Daemon};
use journal::testing::{Entry, TestJournal};
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

/// `[data-test="<name>"]`.
fn hook(name: &str) -> String {
    format!("[data-test=\"{name}\"]")
}

/// The text of the first element `css` selects, read in one step in the page (the pages draw
/// their parts anew, so an element found in one step may be gone in the next); `None` when
/// there is none.
fn text_of(browser: &Browser, css: &str) -> Option<String> {
    let text = browser.execute(
        "const found = document.querySelector(arguments[0]); return found === null ? null : found.textContent;",
        json!([css]),
    );
    text.as_str().map(str::to_owned)
}

/// Waits until the first element `css` selects reads `text`.
fn wait_for_text(browser: &Browser, css: &str, text: &str) {
    browser.wait_until(&format!("{css} to read {text:?}"), |b| (text_of(b, css)? == text).then_some(()));
}

/// Waits until the page shown has loaded what it shows: no "Loading…" left and nothing busy.
fn settle(browser: &Browser) {
    let script = "return document.querySelector('main .loading, main [aria-busy=\"true\"]') === null;";
    browser.wait_until("the page to finish loading", |b| (b.execute(script, json!([])) == true).then_some(()));
}

/// Shows the page `hash` (`#/store`) as a link to it does, without loading the document again,
/// and waits until it has loaded.
fn open(browser: &Browser, hash: &str) {
    // The router draws "Loading…" in its own listener of the change, which runs first.
    browser.execute_async(
        "const [hash, done] = arguments;
         if (location.hash === hash) { done(); return; }
         window.addEventListener('hashchange', () => setTimeout(done, 0), {once: true});
         location.hash = hash;",
        json!([hash]),
    );
    settle(browser);
}

/// The value of the job progress bar; `None` before a job was started.
fn job_progress(browser: &Browser) -> Option<f64> {
    let script = "const bar = document.querySelector(arguments[0]); return bar === null ? null : bar.value;";
    browser.execute(script, json!([hook("job-progress")])).as_f64()
}

/// What the job panel says (what the job is, its stage or outcome, its errors).
fn job_panel_text(browser: &Browser) -> Option<String> {
    text_of(browser, &format!("[role=\"status\"]:has(> {})", hook("job-progress")))
}

/// The uuids of the jobs the page followed over `/jobs/<uuid>/follow` since the last look at the
/// browser's requests.
fn followed_jobs(browser: &Browser, daemon: &Daemon) -> Vec<String> {
    let prefix = daemon.url("/jobs/");
    browser
        .requests()
        .iter()
        .filter_map(|r| r.url.strip_prefix(&prefix)?.strip_suffix("/follow").map(str::to_owned))
        .collect()
}

/// The job `uuid` as the API tells it, after it ended: it must have ended without an error.
fn ended_job(daemon: &Daemon, uuid: &str) -> Value {
    let (status, job) = daemon.get(&format!("/jobs/{uuid}"));
    assert_eq!(status, 200, "{job}");
    let job = job["data"].clone();
    assert_eq!((&job["done"], &job["errors"]), (&json!(true), &json!([])), "{job}");
    job
}

/// No error shown anywhere on the page.
fn assert_no_error(browser: &Browser) {
    let script = "return [...document.querySelectorAll(arguments[0])].map((shown) => shown.textContent);";
    let shown = browser.execute(script, json!([hook("error")]));
    assert_eq!(shown, json!([]), "the page shows errors");
}

/// Fails the test on a console message of a script error, a Content-Security-Policy violation
/// or a resource that failed, except failed answers with the statuses `expected` (a refusal the
/// test asked for: `400`).
fn assert_console_clean(browser: &Browser, page: &str, expected: &[&str]) {
    let problems: Vec<_> = browser
        .console()
        .into_iter()
        .filter(|entry| {
            let refused = |status: &&str| entry.message.contains(&format!("status of {status} "));
            let asked_for = entry.source == "network" && expected.iter().any(refused);
            let notable = ["SEVERE", "WARNING"].contains(&entry.level.as_str())
                || entry.message.contains("Content Security Policy");
            notable && !asked_for
        })
        .collect();
    assert!(problems.is_empty(), "{page}: the console shows {problems:#?}");
}

#[test]
fn an_addon_installs_from_the_store_page_with_its_job_followed_to_100() {
    let daemon = engine_daemon(&[]);
    let slug = "core_build_local";
    let browser = Browser::start("admin_install");
    login(&daemon, &browser);
    browser.click_on(&hook("nav-store"));
    browser.click_on(&format!("{}[data-slug=\"{slug}\"]", hook("store-addon")));
    wait_for_text(&browser, &hook("addon-name"), "Build local");
    settle(&browser);
    assert_eq!(text_of(&browser, &hook("addon-state")).as_deref(), Some("not installed"));
    assert_eq!(job_progress(&browser), None, "no job yet");
    browser.requests();

    browser.click_on(&hook("install"));
    let mut seen = Vec::new();
    browser.wait_until("the install's progress to reach 100", |b| {
        let value = job_progress(b)?;
        seen.push(value);
        (value >= 100.0).then_some(())
    });
    assert!(seen.windows(2).all(|pair| pair[0] <= pair[1]), "the progress went back: {seen:?}");
    wait_for_text(&browser, &hook("addon-state"), "stopped");
    assert_eq!(job_progress(&browser), Some(100.0), "the bar stays at the outcome");
    assert_no_error(&browser);
    assert_eq!(state(&daemon, slug), "stopped");
    assert!(installed_slugs(&daemon).contains(&slug.to_owned()));
    assert!(image_exists(&local_image(&daemon, "core", "build_local", "1.0.0")));
    // The bar followed the install's own job, over its stream.
    let followed = followed_jobs(&browser, &daemon);
    assert_eq!(followed.len(), 1, "{followed:?}");
    let job = ended_job(&daemon, &followed[0]);
    assert_eq!(
        (&job["name"], &job["reference"], &job["progress"]),
        (&json!("addon_manager_install"), &json!(slug), &json!(100.0))
    );

    open(&browser, "#/store");
    let card = format!("{}[data-slug=\"{slug}\"]", hook("store-addon"));
    assert!(text_of(&browser, &card).unwrap_or_default().contains("Installed"), "{card}");

    // Uninstalling asks first.
    browser.click_on(&card);
    wait_for_text(&browser, &hook("addon-state"), "stopped");
    settle(&browser);
    browser.click_on(&hook("uninstall"));
    browser.click_on(&format!("dialog {}", hook("confirm")));
    wait_for_text(&browser, &hook("addon-state"), "not installed");
    assert_no_error(&browser);
    assert!(!installed_slugs(&daemon).contains(&slug.to_owned()));
    assert_console_clean(&browser, "the install", &[]);
}

#[test]
fn the_options_form_shows_the_apis_refusal_and_saves_what_is_valid() {
    let daemon = engine_daemon(&[]);
    let slug = "core_schema_all";
    install(&daemon, slug);
    let before = info(&daemon, slug)["options"].clone();
    let browser = Browser::start("admin_options");
    login(&daemon, &browser);
    open(&browser, &format!("#/addon/{slug}"));
    let form = hook("options-form");
    let field = |name: &str| format!("{form} [name=\"{name}\"]");
    // Fields named by the options' keys, labelled and described from the add-on's translation.
    let label = |name: &str| {
        let script = "const input = document.querySelector(arguments[0]);
             return [input.labels[0].textContent,
                     (document.getElementById(input.getAttribute('aria-describedby')) || {}).textContent];";
        browser.execute(script, json!([field(name)]))
    };
    assert_eq!(label("count"), json!(["Count", "A whole number from 0 to 100."]));
    assert_eq!(label("nested.level"), json!(["Level", "From 1 to 5."]));
    assert_eq!(label("users.0.username")[0], "User name");
    browser.screenshot_page("options-form");

    let count = browser.find(&field("count"));
    browser.clear(&count);
    browser.type_text(&count, "500");
    browser.click_on(&hook("save-options"));
    let shown = browser.wait_until("the refusal", |b| text_of(b, &hook("form-error")));
    browser.screenshot("options-refused");
    let mut refused = before.clone();
    refused["count"] = json!(500);
    let (status, answer) = daemon.post(&format!("/addons/{slug}/options"), json!({"options": refused}));
    assert_eq!(status, 400, "{answer}");
    // The message quotes the options as sent, in the order sent: the form's is the schema's.
    let what = |message: &str| message.split(". Got ").next().unwrap_or_default().to_owned();
    assert_eq!(what(&shown), what(answer["message"].as_str().unwrap()), "the API's own message: {shown}");
    assert!(shown.contains("'count': 500"), "{shown}");
    assert_eq!(info(&daemon, slug)["options"], before, "nothing changed");

    browser.clear(&count);
    browser.type_text(&count, "42");
    let level = browser.find(&field("nested.level"));
    browser.clear(&level);
    browser.type_text(&level, "4");
    browser.click_on(&hook("save-options"));
    let status = format!("{form} [role=\"status\"]");
    wait_for_text(&browser, &status, "Saved.");
    assert_eq!(text_of(&browser, &hook("form-error")), None, "the refusal went");
    let mut saved = before;
    saved["count"] = json!(42);
    saved["nested"]["level"] = json!(4);
    assert_eq!(info(&daemon, slug)["options"], saved, "those two changed, nothing else");
    assert_console_clean(&browser, "the options", &["400"]);
}

#[test]
fn a_started_addons_log_shows_a_new_line_while_following() {
    let repository = FixtureRepository::copy();
    // The fixture says in its log what it reads on its stdin: the test writes the new line.
    repository.write(
        "stdin_reader/run.sh",
        "#!/bin/sh\ntrap 'exit 0' TERM INT\necho \"stdin_reader: reading stdin\"\n\
         while IFS= read -r line; do echo \"read: $line\"; done\nwhile :; do sleep 3600 & wait $!; done\n",
    );
    let daemon = engine_daemon(&[repository.env()]);
    let slug = "core_stdin_reader";
    install(&daemon, slug);
    let browser = Browser::start("admin_logs");
    login(&daemon, &browser);
    open(&browser, &format!("#/addon/{slug}"));
    browser.click_on(&hook("start"));
    wait_for_text(&browser, &hook("addon-state"), "started");
    // Its figures read, which a stop in the middle would cut off.
    settle(&browser);
    assert_eq!(state(&daemon, slug), "started");

    browser.requests();
    browser.click_on(&hook("follow-logs"));
    let logs = hook("logs");
    browser.wait_until("the log's first line", |b| {
        text_of(b, &logs)?.contains("stdin_reader: reading stdin").then_some(())
    });
    // A mark in the page's window, which a new load of the page would lose.
    browser.execute("window.e2eMark = 'the same page';", json!([]));
    let line = format!("a line for {}", daemon.instance());
    let (status, answer) = write_stdin(&daemon, slug, &line);
    assert_eq!(status, 200, "{answer}");
    browser
        .wait_until("the new line in the log", |b| text_of(b, &logs)?.contains(&format!("read: {line}")).then_some(()));
    assert_eq!(browser.execute("return window.e2eMark;", json!([])), "the same page");
    let follow = daemon.url(&format!("/addons/{slug}/logs/follow"));
    let requests = browser.requests();
    assert!(requests.iter().any(|r| r.url.starts_with(&follow)), "not followed over {follow}: {requests:?}");
    browser.screenshot_page("following");

    browser.click_on(&hook("stop"));
    wait_for_text(&browser, &hook("addon-state"), "stopped");
    assert_eq!(state(&daemon, slug), "stopped");
    assert_console_clean(&browser, "the log", &[]);
}

#[test]
fn a_protected_backup_is_made_restored_with_its_password_deleted_and_uploaded_again() {
    let daemon = Daemon::start();
    let note = daemon.data_dir().join("share/note.txt");
    std::fs::create_dir_all(note.parent().unwrap()).unwrap();
    std::fs::write(&note, "before the backup").unwrap();
    let browser = Browser::start("admin_backups");
    login(&daemon, &browser);
    open(&browser, "#/backups");
    let name = "From the browser";
    browser.type_text(&browser.find_test("backup-name"), name);
    browser.type_text(&browser.find_test("backup-password"), "correct horse");
    assert_eq!(
        browser.execute("return document.querySelector(arguments[0]).value;", json!([hook("backup-type")])),
        "full"
    );
    browser.requests();
    browser.click_on(&hook("create-backup"));
    let created = format!("Backup \"{name}\" created");
    browser.wait_until("the backup made", |b| job_panel_text(b)?.contains(&created).then_some(()));
    assert_eq!(job_progress(&browser), Some(100.0));
    assert_no_error(&browser);
    let row = hook("backup-row");
    let slug = browser.wait_until("the backup listed", |b| {
        b.execute("const row = document.querySelector(arguments[0]); return row && row.dataset.slug;", json!([row]))
            .as_str()
            .map(str::to_owned)
    });
    let (_, list) = daemon.get("/backups");
    let listed = &list["data"]["backups"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!((&listed[0]["slug"], &listed[0]["name"]), (&json!(slug), &json!(name)));
    assert_eq!((&listed[0]["type"], &listed[0]["protected"]), (&json!("full"), &json!(true)));
    let followed = followed_jobs(&browser, &daemon);
    assert_eq!(followed.len(), 1, "{followed:?}");
    assert_eq!(ended_job(&daemon, &followed[0])["reference"], slug.as_str());
    let row = format!("{row}[data-slug=\"{slug}\"]");
    assert!(text_of(&browser, &row).unwrap_or_default().contains("encrypted"));
    let href = browser.execute(
        "return document.querySelector(arguments[0]).getAttribute('href');",
        json!([format!("{row} {}", hook("download"))]),
    );
    assert_eq!(href, format!("/backups/{slug}/download"));
    browser.screenshot_page("listed");
    let kept = tempfile::tempdir().unwrap();
    let file = kept.path().join("backup.tar");
    std::fs::copy(daemon.data_dir().join(format!("backup/{slug}.tar")), &file).unwrap();

    // The restore asks for the password in its dialog, which a wrong one keeps open.
    std::fs::write(&note, "changed after the backup").unwrap();
    browser.click_on(&format!("{row} {}", hook("restore")));
    let password = browser.find("dialog input[type=\"password\"]");
    browser.type_text(&password, "wrong horse");
    browser.click_on(&format!("dialog {}", hook("confirm")));
    let refusal = browser.wait_until("the refusal in the dialog", |b| text_of(b, &format!("dialog {}", hook("error"))));
    assert_eq!(refusal, format!("Invalid password for backup {slug}"));
    browser.screenshot("restore-refused");
    assert_eq!(std::fs::read_to_string(&note).unwrap(), "changed after the backup");
    browser.clear(&password);
    browser.type_text(&password, "correct horse");
    browser.click_on(&format!("dialog {}", hook("confirm")));
    let restored = format!("\"{name}\" restored");
    browser.wait_until("the restore done", |b| job_panel_text(b)?.contains(&restored).then_some(()));
    assert_eq!(job_progress(&browser), Some(100.0));
    assert!(browser.find_all("dialog").is_empty(), "the dialog closed");
    assert_no_error(&browser);
    assert_eq!(std::fs::read_to_string(&note).unwrap(), "before the backup");
    let followed = followed_jobs(&browser, &daemon);
    assert_eq!(followed.len(), 1, "{followed:?}");
    assert_eq!(ended_job(&daemon, &followed[0])["reference"], slug.as_str());

    browser.click_on(&format!("{row} {}", hook("delete")));
    browser.click_on(&format!("dialog {}", hook("confirm")));
    browser.wait_until("the row gone", |b| b.find_all(&row).is_empty().then_some(()));
    assert_eq!(daemon.get("/backups").1["data"]["backups"], json!([]));
    assert!(!daemon.data_dir().join(format!("backup/{slug}.tar")).exists());

    browser.type_text(&browser.find_test("upload-backup"), file.to_str().unwrap());
    browser.find(&row);
    let (_, list) = daemon.get("/backups");
    assert_eq!(list["data"]["backups"][0]["slug"], slug.as_str(), "{list}");
    assert_console_clean(&browser, "the backups", &["400"]);
}

/// A few lines of the host's journal, for the system page's log.
fn host_journal() -> Vec<Entry> {
    let boot = "c".repeat(32);
    let at = |second: u64| 1_700_000_000_000_000 + second * 1_000_000;
    vec![
        Entry::startup_complete(&boot, at(0)),
        Entry::log(&boot, at(1), "kernel", "Linux version 6.1.0"),
        Entry::log(&boot, at(2), "NetworkManager", "device (eth0): state change: activated"),
    ]
}

/// The phone's screen the pages must fit without scrolling sideways.
const PHONE: (u32, u32) = (375, 812);

/// Screenshots the page shown, whole, at the desktop's width (`<page>.png`) and at the phone's
/// (`<page>-375px.png`); fails when it scrolls sideways on the phone or when the console tells
/// of a problem but the failed answers with the statuses `expected`.
fn shoot(browser: &Browser, page: &str, expected: &[&str]) {
    settle(browser);
    browser.screenshot_page(page);
    browser.phone_screen(PHONE.0, PHONE.1);
    let widths = browser.execute("return [document.documentElement.scrollWidth, window.innerWidth];", json!([]));
    browser.screenshot_page(&format!("{page}-{}px", PHONE.0));
    browser.desktop_screen();
    // What does not fit widens the phone's viewport (zoomed out) or scrolls it sideways.
    let fits = widths[1] == PHONE.0 && widths[0].as_u64() <= widths[1].as_u64();
    assert!(fits, "{page} is wider than a phone's {} px: [scrollWidth, innerWidth] = {widths}", PHONE.0);
    assert_console_clean(browser, page, expected);
}

/// Follows the navigation's link `nav` and waits for the page's own `part`.
fn follow_nav(browser: &Browser, nav: &str, part: &str) {
    browser.click_on(&hook(nav));
    browser.find(&format!("{}[aria-current=\"page\"]", hook(nav)));
    browser.find_test(part);
}

#[test]
fn every_page_fits_a_phone_and_shows_no_console_error() {
    let bus = PrivateBus::start(Service::ALL).expect("a private bus with the fixture services");
    let journal = TestJournal::serve(&host_journal()).expect("a test journal");
    let daemon = engine_daemon(&[bus.env(), ("SUPERVISOR_JOURNAL", journal.address())]);
    let slug = "core_schema_all";
    install(&daemon, slug);
    crate::addons::start(&daemon, slug);
    // A row in the backups' table, which a phone shows otherwise than a desktop.
    crate::backups::backup(&daemon, "partial", json!({"name": "Before the screenshots", "folders": ["share"]}));
    let browser = Browser::start("admin_pages");

    browser.navigate(&daemon.url("/admin/"));
    browser.find_test("login-needed");
    // Not logged in, the pages' first calls are refused.
    shoot(&browser, "login-needed", &["401"]);
    login(&daemon, &browser);
    shoot(&browser, "dashboard", &[]);
    follow_nav(&browser, "nav-store", "store-addon");
    shoot(&browser, "store", &[]);
    browser.click_on(&format!("{}[data-slug=\"{slug}\"]", hook("store-addon")));
    wait_for_text(&browser, &hook("addon-state"), "started");
    shoot(&browser, "addon", &[]);
    follow_nav(&browser, "nav-backups", "backup-row");
    shoot(&browser, "backups", &[]);
    follow_nav(&browser, "nav-system", "hostname");
    shoot(&browser, "system", &[]);
    follow_nav(&browser, "nav-core", "core-version");
    shoot(&browser, "core", &[]);
    follow_nav(&browser, "nav-resolution", "issues");
    shoot(&browser, "resolution", &[]);
    follow_nav(&browser, "nav-plugins", "plugin");
    shoot(&browser, "plugins", &[]);
    follow_nav(&browser, "nav-mounts", "create-mount");
    shoot(&browser, "mounts", &[]);
}

/// Sets a `<select>` of the page to `value` as a person choosing it would (a change event).
fn choose(browser: &Browser, hook: &str, value: &str) {
    browser.execute(
        "const [hook, value] = arguments;
         const select = document.querySelector(`[data-test=\"${hook}\"]`);
         select.value = value;
         select.dispatchEvent(new Event('change', {bubbles: true}));",
        json!([hook, value]),
    );
}

/// The mounts page against the fixture systemd (which binds a share the test serves): a refused
/// name shows the API's message and keeps nothing, a mount added through the form comes up, Edit
/// changes it with the whole configuration, and Remove asks before it goes.
#[test]
fn a_mount_is_added_changed_and_removed_on_the_mounts_page() {
    let bus = PrivateBus::start(&[Service::Systemd1, Service::Hostname1]).expect("a private bus with systemd");
    let served = bus.serve("filer", None).unwrap();
    for export in ["exports/media", "exports/other"] {
        std::fs::create_dir_all(served.join(export)).unwrap();
    }
    let daemon = Daemon::start_with(&[bus.env()]);
    let browser = Browser::start("admin_mounts");
    login(&daemon, &browser);
    open(&browser, "#/mounts");
    let mount = |name: &str| {
        let (_, body) = daemon.get("/mounts");
        body["data"]["mounts"].as_array().unwrap().iter().find(|m| m["name"] == name).cloned()
    };

    choose(&browser, "mount-type", "nfs");
    choose(&browser, "mount-usage", "media");
    browser.type_text(&browser.find_test("mount-name"), "a-b");
    browser.type_text(&browser.find_test("mount-server"), "filer");
    browser.type_text(&browser.find_test("mount-path"), "/exports/media");
    browser.click_on(&hook("create-mount"));
    let refusal = browser.wait_until("the refusal", |b| text_of(b, &hook("form-error")));
    assert!(refusal.contains("data['name']"), "the refusal names the field: {refusal}");
    assert!(mount("a-b").is_none(), "nothing is kept of a refused mount");

    let name = browser.find_test("mount-name");
    browser.clear(&name);
    browser.type_text(&name, "tv");
    browser.click_on(&hook("create-mount"));
    wait_for_text(&browser, "[data-test=mount][data-name=tv] [data-test=mount-state]", "active");
    assert_eq!(mount("tv").unwrap()["path"], "/exports/media");

    browser.click_on("[data-test=mount][data-name=tv] [data-test=edit-mount]");
    assert!(browser.attribute(&browser.find_test("mount-name"), "readonly").is_some(), "a mount keeps its name");
    let path = browser.find_test("mount-path");
    browser.clear(&path);
    browser.type_text(&path, "/exports/other");
    browser.click_on(&hook("create-mount"));
    browser.wait_until("the mount to be changed", |_| {
        mount("tv").filter(|m| m["path"] == "/exports/other" && m["state"] == "active").map(|_| ())
    });

    browser.click_on("[data-test=mount][data-name=tv] [data-test=remove-mount]");
    assert!(mount("tv").is_some(), "nothing goes before the question is answered");
    browser.click_on(&hook("confirm"));
    browser.wait_until("the row to go", |b| b.find_all("[data-test=mount]").is_empty().then_some(()));
    assert!(mount("tv").is_none());
}
