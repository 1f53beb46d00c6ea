//! The registry client (`crates/registry-client`) against a real registry, Debian's
//! `docker-registry` with a login and deletes enabled (`e2e::registry::LocalRegistry`): images
//! pushed by the engine are listed, read as the engine knows them (digest, config, creation
//! time) and a tag deleted while its sibling stays; unknown names give nothing, bad ones are
//! refused before a request.
//!
//! Every image tag these tests create is unique to their registry's port and removed again when
//! the registry is dropped.

use chrono::{DateTime, Utc};
use e2e::registry::{LocalRegistry, BASE_IMAGE};
use registry_client::{Error, ImageInfo, Registry};

/// The second version of the template: its own config, so its own digest (two tags of one
/// digest are one manifest, and deleting either deletes both).
const SECOND_VERSION: &str = "FROM supervisor-test-base:latest\nLABEL io.supervisor.test.registry-client=2\n";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn client(registry: &LocalRegistry) -> Registry {
    Registry::new(&format!("http://{}", registry.address()))
        .expect("registry URL")
        .with_basic_auth(registry.username(), registry.password())
}

/// Docker's name for this machine's architecture.
fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// What the engine says of its image `reference`: its id, creation time and repository digests.
fn engine_view(registry: &LocalRegistry, reference: &str) -> (String, DateTime<Utc>, String) {
    let format = "{{.Id}}|{{.Created}}|{{range .RepoDigests}}{{.}} {{end}}";
    let output = registry.docker().args(["image", "inspect", "--format", format, reference]).output().expect("inspect");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let mut parts = text.trim().splitn(3, '|');
    let id = parts.next().unwrap_or_default().to_owned();
    let created = DateTime::parse_from_rfc3339(parts.next().unwrap_or_default()).expect("engine's creation time");
    (id, created.with_timezone(&Utc), parts.next().unwrap_or_default().to_owned())
}

fn assert_matches_engine(registry: &LocalRegistry, reference: &str, repository: &str, info: &ImageInfo) {
    let (id, created, repo_digests) = engine_view(registry, reference);
    let pulled_as = format!("{}/{repository}@{}", registry.address(), info.digest);
    assert!(repo_digests.split_whitespace().any(|digest| digest == pulled_as), "{pulled_as} not in {repo_digests}");
    // The classic image store names an image by its config's digest, containerd's by its manifest's.
    assert!(id == info.config_digest || id == info.digest, "engine id {id}, client {info:?}");
    assert_eq!(info.created, Some(created), "{info:?}");
    assert_eq!(info.architecture, docker_arch());
    assert!(!info.layers.is_empty() && info.layers.iter().all(|layer| layer.starts_with("sha256:")), "{info:?}");
    assert!(info.size > 0, "{info:?}");
}

#[test]
fn pushed_templates_are_listed_read_and_a_tag_deleted() {
    let registry = LocalRegistry::start();
    let first = registry.push(BASE_IMAGE, "templates/web:1");
    let second = registry.push_recipe(SECOND_VERSION, "templates/web:2");
    registry.push(BASE_IMAGE, "templates/db:1");
    let client = client(&registry);
    let runtime = runtime();
    runtime.block_on(async {
        assert_eq!(client.host(), registry.address());
        client.ping().await.expect("ping with the login");
        let anonymous = Registry::new(&format!("http://{}", registry.address())).unwrap();
        match anonymous.ping().await {
            Err(Error::Status { status: 401, code, .. }) => assert_eq!(code.as_deref(), Some("UNAUTHORIZED")),
            other => panic!("pinged without the login: {other:?}"),
        }

        let repositories = ["templates/db", "templates/web"];
        assert_eq!(client.repositories().await.unwrap(), repositories);
        // One name per page: the registry answers the first with a Link to the next, which
        // the client follows to the end.
        let raw = reqwest::Client::new()
            .get(format!("http://{}/v2/_catalog?n=1", registry.address()))
            .basic_auth(registry.username(), Some(registry.password()))
            .send()
            .await
            .expect("catalog page");
        assert!(raw.headers().contains_key("link"), "the registry did not page: {:?}", raw.headers());
        let paged = client.clone().with_page_size(1);
        assert_eq!(paged.repositories().await.unwrap(), repositories);
        assert_eq!(paged.tags("templates/web").await.unwrap(), ["1", "2"]);
        assert_eq!(client.tags("templates/db").await.unwrap(), ["1"]);

        let one = client.image("templates/web", "1").await.unwrap().expect("web:1");
        let two = client.image("templates/web", "2").await.unwrap().expect("web:2");
        assert_matches_engine(&registry, &first, "templates/web", &one);
        assert_matches_engine(&registry, &second, "templates/web", &two);
        assert_ne!(one.digest, two.digest);
        // The second version is the first plus a label: the same layers, another config.
        assert_eq!(one.layers, two.layers);
        assert_ne!(one.config_digest, two.config_digest);
        let db = client.image("templates/db", "1").await.unwrap().expect("db:1");
        assert_eq!((&db.digest, db.size), (&one.digest, one.size), "the same image in another repository");

        assert!(client.delete_tag("templates/web", "1").await.unwrap());
        assert_eq!(client.tags("templates/web").await.unwrap(), ["2"]);
        assert_eq!(client.image("templates/web", "1").await.unwrap(), None);
        assert_eq!(client.image("templates/web", "2").await.unwrap(), Some(two));
        assert!(!client.delete_tag("templates/web", "1").await.unwrap(), "deleted twice");
        // The manifest is gone from that repository only.
        assert_eq!(client.image("templates/db", "1").await.unwrap(), Some(db));

        assert!(client.delete_tag("templates/web", "2").await.unwrap());
        assert_eq!(client.tags("templates/web").await.unwrap(), Vec::<String>::new(), "every tag deleted");
    });
}

#[test]
fn unknown_names_give_nothing_and_bad_ones_are_refused() {
    let registry = LocalRegistry::start();
    registry.push(BASE_IMAGE, "templates/known:1");
    let client = client(&registry);
    runtime().block_on(async {
        assert_eq!(client.tags("templates/unknown").await.unwrap(), Vec::<String>::new());
        assert_eq!(client.image("templates/unknown", "1").await.unwrap(), None);
        assert_eq!(client.image("templates/known", "2").await.unwrap(), None);
        assert!(!client.delete_tag("templates/unknown", "1").await.unwrap());
        assert!(!client.delete_tag("templates/known", "2").await.unwrap());

        let bad =
            [("Templates/known", "1"), ("templates//known", "1"), ("templates/known", "../1"), ("templates/known", "")];
        for (repository, tag) in bad {
            match client.image(repository, tag).await {
                Err(Error::Invalid { value, .. }) => assert!(value == repository || value == tag, "{value}"),
                other => panic!("{repository}:{tag} answered {other:?}"),
            }
            assert!(matches!(client.delete_tag(repository, tag).await, Err(Error::Invalid { .. })));
        }
        assert!(matches!(client.tags("-known").await, Err(Error::Invalid { what: "repository name", .. })));
        assert_eq!(client.tags("templates/known").await.unwrap(), ["1"], "nothing was deleted");
    });
    let log = registry.log();
    assert!(!log.contains("Templates") && !log.contains("../1"), "a bad name reached the registry:\n{log}");
}
