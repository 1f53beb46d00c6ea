//! Ingress over real HTTP with the `ingress` fixture installed: its panel, and the refusals that
//! need no Home Assistant Core (sessions are Core's to open, the proxy wants one).

use crate::addons::{engine_daemon, install};
use serde_json::json;

#[test]
fn the_panel_is_listed_and_sessions_are_cores() {
    let daemon = engine_daemon(&[]);
    let slug = "core_ingress";
    install(&daemon, slug);

    let (status, body) = daemon.get("/ingress/panels");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["panels"][slug],
        json!({"title": "Fixture page", "icon": "mdi:web", "admin": true, "enable": false})
    );

    // Opening and validating sessions is Core's alone: the CLI gets the plain 401.
    for path in ["/ingress/session", "/ingress/validate_session"] {
        let response = daemon.request("POST", path, Some(&daemon.cli_token()), Some(json!({})));
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(response.text().unwrap(), "401: Unauthorized");
    }

    // The proxy needs no token but a live session.
    let (_, info) = daemon.get(&format!("/addons/{slug}/info"));
    let entry = info["data"]["ingress_entry"].as_str().expect("an ingress entry");
    let token = entry.rsplit('/').next().unwrap();
    for cookie in [None, Some("ingress_session=0123")] {
        let mut request = daemon.client().get(daemon.url(&format!("/ingress/{token}/index.html")));
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        let response = request.send().expect("request");
        assert_eq!(response.status(), 401, "{cookie:?}");
        assert_eq!(response.text().unwrap(), "401: Unauthorized");
    }
}
