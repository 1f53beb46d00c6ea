//! A real browser for the admin UI's tests: Debian's headless Chromium driven by its
//! chromedriver over W3C WebDriver (plain HTTP and JSON, from the same client the tests use
//! for the API).
//!
//! Each [`Browser`] runs its own chromedriver on a free loopback port and its own Chromium with
//! a fresh profile, and ends both when dropped (the driver's whole process group). Waits are
//! bounded. Screenshots go to `target/screenshots/<test>/<page>.png`, kept as the run's
//! artifacts. Chromium's performance and browser logs are on, so a test can list every request
//! the browser sent ([`Browser::requests`]) and every console message ([`Browser::console`]).

use base64::Engine;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's `chromium` and `chromium-driver`; `cargo xtask test-images` installs them.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a wait for the page lasts before the test fails. Generous: in CI the browser tests
/// run beside the whole suite on two cores, where a page that draws in a second alone may take
/// twenty; a wait ends as soon as the page is there, so a passing test is no slower.
const WAIT: Duration = Duration::from_secs(60);

/// The key W3C WebDriver names an element by in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// An element of the current page, as the driver names it.
#[derive(Debug, Clone)]
pub struct Element(String);

/// One request the browser sent, from its performance log.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: String,
    /// Every header as `name: value`, lower-case names.
    pub headers: Vec<String>,
}

/// One message of the browser's console: the pages' own, and Chromium's about them (a script
/// error, a resource that failed to load, a Content-Security-Policy violation).
#[derive(Debug, Clone)]
pub struct ConsoleEntry {
    /// `SEVERE`, `WARNING`, `INFO`, ...
    pub level: String,
    /// `javascript`, `network`, `security`, `console-api`, ...
    pub source: String,
    pub message: String,
}

/// A headless Chromium and the chromedriver that drives it.
pub struct Browser {
    driver: Child,
    /// `http://127.0.0.1:<port>` of the chromedriver.
    endpoint: String,
    session: String,
    client: Client,
    screenshots: PathBuf,
    /// The browser's profile and the driver's log, removed with it.
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts a browser for the test `test` (which names its screenshot folder).
    pub fn start(test: &str) -> Browser {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(Path::new(program).exists(), "{program} is missing; `cargo xtask test-images` installs it");
        }
        let client = Client::builder().timeout(Duration::from_secs(60)).build().expect("http client");
        let profile = tempfile::tempdir().expect("a profile folder");
        let log = profile.path().join("chromedriver.log");
        // The folder holds this run's screenshots only.
        let _ = std::fs::remove_dir_all(screenshot_dir(test));
        // Another program may take the free port first: then the driver exits and another is tried.
        for _ in 0..5 {
            let port = crate::free_port();
            let mut driver = Command::new(CHROMEDRIVER)
                // Its own process group, which the browser it starts joins: ended as one.
                .process_group(0)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver");
            let endpoint = format!("http://127.0.0.1:{port}");
            if !driver_ready(&mut driver, &client, &endpoint) {
                end_group(&mut driver);
                continue;
            }
            let mut browser = Browser {
                driver,
                endpoint,
                session: String::new(),
                client,
                screenshots: screenshot_dir(test),
                profile,
            };
            browser.session = browser.new_session();
            return browser;
        }
        panic!("chromedriver did not start; its log: {}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    fn new_session(&self) -> String {
        let args = [
            "--headless=new".to_owned(),
            // As root (the tests run so) Chromium starts only without its sandbox.
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--user-data-dir={}", self.profile.path().join("chromium").display()),
            "--window-size=1280,1000".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            // Nothing but the pages under test goes on the network.
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-domain-reliability".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-default-apps".to_owned(),
            "--disable-extensions".to_owned(),
            "--no-pings".to_owned(),
            "--disable-features=Translate,MediaRouter,OptimizationHints".to_owned(),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"performance": "ALL", "browser": "ALL"},
        }}});
        let answer = self.command("POST", "/session", Some(capabilities));
        answer["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}")).to_owned()
    }

    /// One WebDriver command; answers its `value`, failing the test on a WebDriver error.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_command(method, path, body)
            .unwrap_or_else(|error| panic!("WebDriver {method} {path}: {} {}", error["error"], error["message"]))
    }

    /// One WebDriver command; answers its `value`, or the WebDriver error (`error` names it).
    fn try_command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let url = format!("{}{path}", self.endpoint);
        let request = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let response = request.send().unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = response.status();
        let answer: Value = response.json().unwrap_or_else(|e| panic!("WebDriver {method} {path}: not JSON: {e}"));
        if status.is_success() {
            Ok(answer["value"].clone())
        } else {
            Err(answer["value"].clone())
        }
    }

    fn session_command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.command(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Opens `url` and waits until the page has loaded.
    pub fn navigate(&self, url: &str) {
        self.session_command("POST", "/url", Some(json!({"url": url})));
    }

    /// The address bar's URL.
    pub fn current_url(&self) -> String {
        self.session_command("GET", "/url", None).as_str().unwrap_or_default().to_owned()
    }

    /// Every element `css` selects now.
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self.session_command("POST", "/elements", Some(json!({"using": "css selector", "value": css})));
        found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT_KEY].as_str())
            .map(|id| Element(id.to_owned()))
            .collect()
    }

    /// The first element `css` selects, waiting for it.
    pub fn find(&self, css: &str) -> Element {
        self.wait_until(&format!("an element {css}"), |browser| browser.find_all(css).into_iter().next())
    }

    /// The element `[data-test="<hook>"]`, waiting for it.
    pub fn find_test(&self, hook: &str) -> Element {
        self.find(&format!("[data-test=\"{hook}\"]"))
    }

    /// Polls `probe` until it answers `Some`; fails the test after a while, naming `what` it
    /// waited for, with a screenshot of the page as it was.
    pub fn wait_until<T>(&self, what: &str, mut probe: impl FnMut(&Browser) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(value) = probe(self) {
                return value;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot("timeout");
                panic!("gave up waiting for {what}; the page is in {}", shot.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks the first element `css` selects, waiting for it, and finding it again when the
    /// page drew it anew between the two steps.
    pub fn click_on(&self, css: &str) {
        self.wait_until(&format!("an element {css} to click"), |browser| {
            let element = browser.find_all(css).into_iter().next()?;
            let path = format!("/session/{}/element/{}/click", browser.session, element.0);
            match browser.try_command("POST", &path, None) {
                Ok(_) => Some(()),
                Err(error) if error["error"] == "stale element reference" => None,
                Err(error) => panic!("WebDriver click on {css}: {error}"),
            }
        })
    }

    /// Types `text` into `element` (after what it holds).
    pub fn type_text(&self, element: &Element, text: &str) {
        self.session_command("POST", &format!("/element/{}/value", element.0), Some(json!({"text": text})));
    }

    /// Empties an input.
    pub fn clear(&self, element: &Element) {
        self.session_command("POST", &format!("/element/{}/clear", element.0), None);
    }

    /// The element's rendered text.
    pub fn text(&self, element: &Element) -> String {
        self.session_command("GET", &format!("/element/{}/text", element.0), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// An attribute of the element, or its property of that name (`value` of an input).
    pub fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        let value = self.session_command("GET", &format!("/element/{}/attribute/{name}", element.0), None);
        value.as_str().map(str::to_owned)
    }

    /// Runs `script` in the page (`arguments` are its parameters); answers what it returns.
    pub fn execute(&self, script: &str, arguments: Value) -> Value {
        self.session_command("POST", "/execute/sync", Some(json!({"script": script, "args": arguments})))
    }

    /// Runs `script`, which calls its last argument with the answer when done (a `fetch`, say).
    pub fn execute_async(&self, script: &str, arguments: Value) -> Value {
        self.session_command("POST", "/execute/async", Some(json!({"script": script, "args": arguments})))
    }

    /// Saves what the viewport shows as `target/screenshots/<test>/<page>.png`; answers the file.
    pub fn screenshot(&self, page: &str) -> PathBuf {
        let encoded = self.session_command("GET", "/screenshot", None);
        self.save_png(page, &encoded)
    }

    /// Saves the whole page, below the fold too, as `target/screenshots/<test>/<page>.png`;
    /// answers the file.
    pub fn screenshot_page(&self, page: &str) -> PathBuf {
        let metrics = self.devtools("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let clip = json!({"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1});
        let shot = self.devtools("Page.captureScreenshot", json!({"captureBeyondViewport": true, "clip": clip}));
        self.save_png(page, &shot["data"])
    }

    fn save_png(&self, page: &str, encoded: &Value) -> PathBuf {
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("the screenshot is base64");
        std::fs::create_dir_all(&self.screenshots).expect("the screenshot folder");
        let path = self.screenshots.join(format!("{page}.png"));
        std::fs::write(&path, png).expect("the screenshot written");
        path
    }

    /// Lays the page out as a phone's screen `width` by `height` CSS pixels does (the page's
    /// viewport meta tag applies), until [`Browser::desktop_screen`].
    pub fn phone_screen(&self, width: u32, height: u32) {
        let metrics = json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": true});
        self.devtools("Emulation.setDeviceMetricsOverride", metrics);
    }

    /// Lays the page out in the browser's window again.
    pub fn desktop_screen(&self) {
        self.devtools("Emulation.clearDeviceMetricsOverride", json!({}));
    }

    /// One command of the DevTools protocol, sent to the page through the driver.
    fn devtools(&self, command: &str, params: Value) -> Value {
        self.session_command("POST", "/goog/cdp/execute", Some(json!({"cmd": command, "params": params})))
    }

    /// Every console message since the last call.
    pub fn console(&self) -> Vec<ConsoleEntry> {
        let entries = self.session_command("POST", "/se/log", Some(json!({"type": "browser"})));
        let field = |entry: &Value, name: &str| entry[name].as_str().unwrap_or_default().to_owned();
        entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| ConsoleEntry {
                level: field(entry, "level"),
                source: field(entry, "source"),
                message: field(entry, "message"),
            })
            .collect()
    }

    /// The browser's cookies for the current page, as WebDriver tells them (`httpOnly`,
    /// `sameSite`, `secure` included).
    pub fn cookies(&self) -> Vec<Value> {
        self.session_command("GET", "/cookie", None).as_array().cloned().unwrap_or_default()
    }

    /// The cookie `name` of the current page.
    pub fn cookie(&self, name: &str) -> Option<Value> {
        self.cookies().into_iter().find(|cookie| cookie["name"] == name)
    }

    /// Every request the browser sent since the last call, from its performance log.
    pub fn requests(&self) -> Vec<Request> {
        let entries = self.session_command("POST", "/se/log", Some(json!({"type": "performance"})));
        let mut requests = Vec::new();
        for entry in entries.as_array().into_iter().flatten() {
            let Ok(message) = serde_json::from_str::<Value>(entry["message"].as_str().unwrap_or_default()) else {
                continue;
            };
            let message = &message["message"];
            if message["method"] != "Network.requestWillBeSent" {
                continue;
            }
            let request = &message["params"]["request"];
            let headers = request["headers"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, value)| format!("{}: {}", name.to_ascii_lowercase(), value.as_str().unwrap_or_default()))
                .collect();
            requests.push(Request {
                method: request["method"].as_str().unwrap_or_default().to_owned(),
                url: request["url"].as_str().unwrap_or_default().to_owned(),
                headers,
            });
        }
        requests
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.client.delete(format!("{}/session/{}", self.endpoint, self.session)).send();
        }
        end_group(&mut self.driver);
    }
}

/// Kills the driver's process group (the browser's processes too, whatever state they are in)
/// and reaps the driver.
fn end_group(driver: &mut Child) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    let _ = killpg(Pid::from_raw(driver.id() as i32), Signal::SIGKILL);
    let _ = driver.wait();
}

/// Waits until the driver answers `/status`; `false` when it exited first or never answered.
fn driver_ready(driver: &mut Child, client: &Client, endpoint: &str) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if driver.try_wait().ok().flatten().is_some() {
            return false;
        }
        let status = client.get(format!("{endpoint}/status")).send().ok().and_then(|r| r.json::<Value>().ok());
        if status.is_some_and(|status| status["value"]["ready"] == true) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// `target/screenshots/<test>`, beside the binaries the tests run.
fn screenshot_dir(test: &str) -> PathBuf {
    let target = crate::bin_dir().parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("target"));
    target.join("screenshots").join(test)
}
