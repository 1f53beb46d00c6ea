//! The observer plugin (`plugins/observer`): its life cycle, and its page on the host's port (the
//! daemon's `--observer-port`, a free one per test), which tells whether the supervisor answers,
//! whether it is healthy and supported and why not, and still answers once the supervisor is
//! gone.

use super::{life_cycle, offer, running, Stage};
use crate::addons::engine_daemon;
use e2e::{eventually, Daemon};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// A daemon that installs the observer at start, serving a free port of the host; answers it.
fn observer_daemon(host_root: Option<&Path>) -> (Daemon, u16) {
    let port = e2e::free_port().to_string();
    let mut env = vec![("SUPERVISOR_PLUGINS_INSTALL", "observer"), ("SUPERVISOR_OBSERVER_PORT", port.as_str())];
    if let Some(root) = host_root {
        env.push(("SUPERVISOR_HOST_ROOT", root.to_str().unwrap()));
    }
    (engine_daemon(&env), port.parse().unwrap())
}

/// The observer's page, once it answers on `port` of the host.
fn page(port: u16) -> String {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    eventually("the observer's page", || {
        let response = client.get(format!("http://127.0.0.1:{port}/")).send().ok()?;
        assert_eq!(response.status(), 200, "the observer's page");
        response.text().ok()
    })
}

/// The reasons the page lists under the heading `title`, in its order.
fn reasons(page: &str, title: &str) -> Vec<String> {
    let Some((_, list)) = page.split_once(&format!("<h2>{title}</h2>")) else { return Vec::new() };
    let list = list.split("</ul>").next().unwrap();
    list.split("<li><code>").skip(1).map(|item| item.split("</code>").next().unwrap().to_owned()).collect()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|name| name.as_str().unwrap().to_owned()).collect()
}

const HEALTHY: &str = "<tr><th>Healthy</th><td class=\"ok\">Yes</td></tr>";
const UNHEALTHY: &str = "<tr><th>Healthy</th><td class=\"bad\">No</td></tr>";

#[test]
fn the_observer_plugin_is_installed_updated_watched_and_repaired() {
    let (mut daemon, port) = observer_daemon(None);
    life_cycle(&mut daemon, "observer", |_, stage| {
        // The page reads the supervisor's information with the token of the container of now
        // (once the supervisor serves containers, after its restart).
        let page = eventually(&format!("the page at {stage:?} to show the supervisor's information"), || {
            let page = page(port);
            (page.contains("Supervisor is answering") && page.contains("<th>Healthy</th>")).then_some(page)
        });
        if stage == Stage::Installed {
            assert!(page.contains(&format!("<td>{}</td>", env!("CARGO_PKG_VERSION"))), "the version: {page}");
        }
    });
}

#[test]
fn the_observer_page_tells_the_supervisors_health_and_answers_without_it() {
    let root = tempfile::tempdir().unwrap();
    let environ = root.path().join("proc/1/environ");
    std::fs::create_dir_all(environ.parent().unwrap()).unwrap();
    std::fs::write(&environ, "PATH=/bin\0").unwrap();
    let (mut daemon, port) = observer_daemon(Some(root.path()));
    offer(&daemon, &[("observer", "1")]);
    running(&daemon, "observer", "1");
    // The page and the resolution center after a health check, once they agree (evaluations
    // also run in the background): the page, the unhealthy and the unsupported reasons.
    let agreed = |what: &str| {
        eventually(what, || {
            let (status, body) = daemon.post("/resolution/healthcheck", json!({}));
            assert_eq!(status, 200, "{body}");
            let (_, info) = daemon.get("/resolution/info");
            let (unhealthy, unsupported) = (names(&info["data"]["unhealthy"]), names(&info["data"]["unsupported"]));
            let page = page(port);
            let shown = (reasons(&page, "Unhealthy because of"), reasons(&page, "Unsupported because of"));
            (shown == (unhealthy.clone(), unsupported.clone())).then_some((page, unhealthy, unsupported))
        })
    };

    // A plain host: healthy, not supported, for the reasons the resolution center has.
    let (shown, unhealthy, unsupported) = agreed("the page to show a plain host");
    assert_eq!(unhealthy, Vec::<String>::new());
    assert!(!unsupported.is_empty(), "a host without Home Assistant OS is not supported");
    assert!(shown.contains("Supervisor is answering") && shown.contains(HEALTHY), "{shown}");
    assert!(shown.contains("<tr><th>Supported</th><td class=\"bad\">No</td></tr>"), "{shown}");

    // The engine in LXC makes the supervisor unhealthy (`docker`), and the page says why.
    std::fs::write(&environ, "container=lxc\0PATH=/bin\0").unwrap();
    let (shown, unhealthy, unsupported) = agreed("the page to show the engine in LXC");
    assert_eq!(unhealthy, ["docker"]);
    assert!(unsupported.contains(&"lxc".to_owned()), "{unsupported:?}");
    assert!(shown.contains(UNHEALTHY), "{shown}");

    // The supervisor gone, the page still answers, and says so.
    daemon.kill9();
    let shown = page(port);
    assert!(shown.contains("Supervisor is not answering") && shown.contains("cannot connect"), "{shown}");
    assert!(!shown.contains("<th>Healthy</th>") && reasons(&shown, "Unhealthy because of").is_empty(), "{shown}");
}
