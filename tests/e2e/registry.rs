//! The test harness's private registry (`e2e::registry::LocalRegistry`): what it holds can be
//! pulled with its login and not without, and it serves the `prebuilt` fixture add-on's image
//! under the name a private copy of the fixture repository gives it.
//!
//! Every image tag these tests create is unique to their registry's port and removed again when
//! the registry is dropped.

use e2e::fixtures::{arch, FixtureRepository};
use e2e::registry::{docker_with_config, LocalRegistry, BASE_IMAGE};
use std::process::{Output, Stdio};

fn succeeded(output: &Output) -> bool {
    output.status.success()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn remove_local(registry: &LocalRegistry, reference: &str) {
    let output = registry.docker().args(["image", "rm", reference]).output().expect("docker image rm");
    assert!(succeeded(&output), "{}", stderr(&output));
}

#[test]
fn a_pushed_image_pulls_with_the_login_and_is_refused_without() {
    let registry = LocalRegistry::start();
    let reference = registry.push(BASE_IMAGE, "e2e/base:pushed");
    remove_local(&registry, &reference);

    let anonymous = tempfile::tempdir().expect("empty docker client configuration");
    let refused = docker_with_config(anonymous.path())
        .args(["pull", &reference])
        .stdin(Stdio::null())
        .output()
        .expect("docker pull");
    assert!(!succeeded(&refused), "pulled without a login");
    let message = stderr(&refused).to_lowercase();
    assert!(message.contains("unauthorized") || message.contains("no basic auth"), "{message}");

    let pulled = registry.docker().args(["pull", &reference]).stdin(Stdio::null()).output().expect("docker pull");
    assert!(succeeded(&pulled), "{}\n{}", stderr(&pulled), registry.log());
    let inspected = registry.docker().args(["image", "inspect", &reference]).output().expect("inspect");
    assert!(succeeded(&inspected), "{}", stderr(&inspected));
}

#[test]
fn the_api_wants_the_login_and_lists_what_was_pushed() {
    let registry = LocalRegistry::start();
    registry.push(BASE_IMAGE, "e2e/listed:1");
    let client = reqwest::blocking::Client::new();
    let catalog = format!("http://{}/v2/_catalog", registry.address());

    let anonymous = client.get(&catalog).send().expect("request");
    assert_eq!(anonymous.status(), 401);
    let wrong = client.get(&catalog).basic_auth(registry.username(), Some("wrong")).send().expect("request");
    assert_eq!(wrong.status(), 401);

    let listed =
        client.get(&catalog).basic_auth(registry.username(), Some(registry.password())).send().expect("request");
    assert_eq!(listed.status(), 200);
    let body: serde_json::Value = listed.json().expect("catalog JSON");
    assert_eq!(body["repositories"], serde_json::json!(["e2e/listed"]), "{body}");
}

#[test]
fn the_prebuilt_fixture_is_served_under_the_name_its_repository_copy_gives() {
    let registry = LocalRegistry::start();
    let repository = FixtureRepository::with_registry(&registry);
    let image = repository.config_value("prebuilt", "image").expect("prebuilt has an image");
    assert_eq!(image, format!("{}/supervisor-fixtures/prebuilt-{{arch}}", registry.address()));
    // The checked-in repository is untouched.
    let original = FixtureRepository::copy().config_value("prebuilt", "image").expect("image");
    assert_eq!(original, "127.0.0.1:5000/supervisor-fixtures/prebuilt-{arch}");

    let reference = format!("{}:1.0.0", image.replace("{arch}", arch()));
    remove_local(&registry, &reference);
    let pulled = registry.docker().args(["pull", &reference]).stdin(Stdio::null()).output().expect("docker pull");
    assert!(succeeded(&pulled), "{}", stderr(&pulled));
    let script = registry
        .docker()
        .args(["run", "--rm", "--network", "none", &reference, "cat", "/run.sh"])
        .output()
        .expect("docker run");
    assert!(succeeded(&script), "{}", stderr(&script));
    assert!(String::from_utf8_lossy(&script.stdout).contains("prebuilt: started"));
}
