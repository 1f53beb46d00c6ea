//! Discovery messages and services over real HTTP, sent by a real add-on with its own token:
//! the `api_client` fixture, given a `discovery` and a `services` list in a private copy of the
//! repository. What needs Home Assistant Core (listing and reading messages, the pushes) is
//! only checked to be refused to others here.

use crate::addons::{container_token, engine_daemon, install, uninstall};
use e2e::fixtures::FixtureRepository;
use e2e::Daemon;
use serde_json::{json, Value};

const SLUG: &str = "core_api_client";

/// `api_client` declaring `discovery: [mqtt]` and `services: [mqtt:provide]`, installed and
/// running; answers the daemon and the add-on's token.
fn running_provider(repository: &FixtureRepository) -> (Daemon, String) {
    repository.set_config("api_client", "discovery", "[mqtt]");
    repository.set_config("api_client", "services", r#"["mqtt:provide"]"#);
    let daemon = engine_daemon(&[repository.env()]);
    install(&daemon, SLUG);
    let (status, body) = daemon.post(&format!("/addons/{SLUG}/start"), json!({}));
    assert_eq!(status, 200, "start: {body}");
    let token = container_token(&daemon, SLUG);
    (daemon, token)
}

fn call(daemon: &Daemon, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let (status, body) = e2e::json_of(daemon.request(method, path, Some(token), body));
    (status.as_u16(), body)
}

#[test]
fn an_addon_announces_and_provides_a_service() {
    let repository = FixtureRepository::copy();
    let (daemon, token) = running_provider(&repository);

    // Discovery: only services the config lists.
    let message = json!({"service": "mqtt", "config": {"host": "core-mosquitto", "port": 1883}});
    let (status, body) = call(&daemon, "POST", "/discovery", &token, Some(message.clone()));
    assert_eq!(status, 200, "{body}");
    let uuid = body["data"]["uuid"].as_str().expect("a uuid").to_owned();
    assert_eq!(uuid.len(), 32);
    let (_, again) = call(&daemon, "POST", "/discovery", &token, Some(message));
    assert_eq!(again["data"]["uuid"], uuid.as_str(), "a resend is the same message");
    let (status, body) = call(&daemon, "POST", "/discovery", &token, Some(json!({"service": "mysql", "config": {}})));
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["message"], "Apps must list services they provide via discovery in their config!");

    // Reading messages is Core's: the add-on and the CLI get the plain 401.
    for caller in [token.clone(), daemon.cli_token()] {
        for path in ["/discovery".to_owned(), format!("/discovery/{uuid}")] {
            let response = daemon.request("GET", &path, Some(&caller), None);
            assert_eq!(response.status(), 401, "{path}");
            assert_eq!(response.text().unwrap(), "401: Unauthorized");
        }
    }

    // Services: listed for any add-on, set and read by the provider.
    let (status, body) = call(&daemon, "GET", "/services", &token, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["services"][0], json!({"slug": "mqtt", "available": false, "providers": [SLUG]}));
    let details = json!({"host": "core-mosquitto", "port": 1883, "username": "addons", "password": "secret"});
    let (status, body) = call(&daemon, "POST", "/services/mqtt", &token, Some(details.clone()));
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&daemon, "POST", "/services/mqtt", &token, Some(details));
    assert_eq!((status, &body["error_key"]), (409, &json!("service_already_provided_error")), "{body}");
    let (status, body) = call(&daemon, "GET", "/services/mqtt", &token, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({"host": "core-mosquitto", "port": 1883, "username": "addons", "password": "secret", "ssl": false,
               "protocol": "3.1.1", "addon": SLUG})
    );
    let (status, body) = call(&daemon, "GET", "/services/mysql", &token, None);
    assert_eq!((status, body["message"].as_str()), (403, Some("No access to mysql service!")));
    let (status, body) = call(&daemon, "GET", "/services/redis", &token, None);
    assert_eq!((status, body["message"].as_str()), (404, Some("Service does not exist")));

    // Removing a message is its sender's; removing the add-on drops what it provided.
    let (status, _) = call(&daemon, "DELETE", &format!("/discovery/{uuid}"), &daemon.cli_token(), None);
    assert_eq!(status, 403);
    let (status, body) = call(&daemon, "DELETE", &format!("/discovery/{uuid}"), &token, None);
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(&daemon, "DELETE", &format!("/discovery/{uuid}"), &token, None);
    assert_eq!(status, 404);
    uninstall(&daemon, SLUG);
    let (status, body) = daemon.get("/services");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["services"][0], json!({"slug": "mqtt", "available": false, "providers": []}));
}
