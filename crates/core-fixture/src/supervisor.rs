//! The start of Core's `hassio` integration: hand the supervisor a refresh token (so that it can
//! call Core's API), then read what the integration reads at set-up, once each; and update
//! add-ons when asked over the websocket. Every call and the status it got is recorded.

use crate::state::Fixture;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// What the integration reads after it registered.
const READS: &[&str] =
    &["/supervisor/info", "/core/info", "/host/info", "/ingress/panels", "/discovery", "/resolution/info", "/addons"];

/// Registers with the supervisor at `host` (`$SUPERVISOR`), retrying every second until it
/// answers 200, then makes the reads.
pub async fn register(fixture: Arc<Fixture>, host: String, token: String) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("an HTTP client");
    let call = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("http://{host}{path}"))
            .bearer_auth(&token)
            .header("X-Hass-Source", "core.handler")
    };
    let record = |method: &str, path: &str, status: Option<u16>| {
        fixture.record(|r| r.supervisor_calls.push(json!({"method": method, "path": path, "status": status})));
    };
    loop {
        let body = json!({"refresh_token": fixture.refresh_token()});
        let status = call(reqwest::Method::POST, "/homeassistant/options").json(&body).send().await;
        let status = status.ok().map(|response| response.status().as_u16());
        record("POST", "/homeassistant/options", status);
        if status == Some(200) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for path in READS {
        let status = call(reqwest::Method::GET, path).send().await.ok().map(|response| response.status().as_u16());
        record("GET", path, status);
    }
}

/// `POST /store/addons/{slug}/update` with `backup`, as Core's client library updates an add-on;
/// Err(why) when the supervisor is unknown or did not answer 200.
pub async fn update_addon(fixture: &Fixture, slug: &str, backup: bool) -> Result<(), String> {
    let Some((host, token)) = &fixture.supervisor else { return Err("no supervisor to ask".to_owned()) };
    let path = format!("/store/addons/{slug}/update");
    let response = reqwest::Client::new()
        .post(format!("http://{host}{path}"))
        .bearer_auth(token)
        .header("X-Hass-Source", "core.handler")
        .json(&json!({"backup": backup}))
        .send()
        .await;
    let status = response.as_ref().ok().map(|response| response.status().as_u16());
    fixture.record(|r| r.supervisor_calls.push(json!({"method": "POST", "path": path, "status": status})));
    match response {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("the supervisor answered {}", response.status())),
        Err(e) => Err(format!("the supervisor did not answer: {e}")),
    }
}
