//! The `/store` routes in an actix test service: keys, statuses, raw bodies and error keys.

use crate::common::{addon, write, FakeInstalled, Fixture, Remote};
use actix_web::{test, web, App};
use serde_json::{json, Value};
use store::repository_hash;

macro_rules! service {
    ($fixture:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::new($fixture.manager.clone()))
                .configure(http_api::Routes::of(store::api::routes)),
        )
        .await
    };
}

async fn call(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    request: test::TestRequest,
) -> (u16, String, Vec<u8>) {
    let response = test::call_service(app, request.to_request()).await;
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, content_type, test::read_body(response).await.to_vec())
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

#[actix_web::test]
async fn store_lists_and_details_have_the_real_keys() {
    let fixture = Fixture::new("qemux86-64");
    addon(&fixture.core(), "one", "one", "2.0.0");
    write(&fixture.core().join("one/README.md"), "# One\n");
    write(&fixture.core().join("one/DOCS.md"), "docs");
    std::fs::write(fixture.core().join("one/icon.png"), b"\x89PNG-icon").unwrap();
    fixture.manager.load().await;
    fixture.manager.set_installed(FakeInstalled::with("core_one", "1.0.0"));
    let app = service!(fixture);

    let (status, _, body) = call(&app, test::TestRequest::get().uri("/store")).await;
    assert_eq!(status, 200);
    let data = &json(&body)["data"];
    assert_eq!(data["repositories"][0]["slug"], "core");
    assert_eq!(data["repositories"][1]["slug"], "local");
    let item = &data["addons"][0];
    let mut keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "advanced",
            "arch",
            "available",
            "build",
            "description",
            "documentation",
            "homeassistant",
            "icon",
            "installed",
            "logo",
            "name",
            "repository",
            "slug",
            "stage",
            "update_available",
            "url",
            "version",
            "version_latest"
        ]
    );
    assert_eq!(item["slug"], "core_one");
    assert_eq!(item["installed"], true);
    assert_eq!(item["version"], "1.0.0");
    assert_eq!(item["version_latest"], "2.0.0");
    assert_eq!(item["update_available"], true);
    assert_eq!(item["available"], true);
    assert_eq!(
        (item["icon"].clone(), item["logo"].clone(), item["documentation"].clone()),
        (json!(true), json!(false), json!(true))
    );
    assert_eq!(item["stage"], "stable");

    let (_, _, body) = call(&app, test::TestRequest::get().uri("/store/addons")).await;
    assert_eq!(json(&body)["data"]["addons"][0]["slug"], "core_one");

    for uri in ["/store/addons/core_one", "/store/addons/core_one/1.2.3"] {
        let (status, _, body) = call(&app, test::TestRequest::get().uri(uri)).await;
        assert_eq!(status, 200, "{uri}");
        let data = &json(&body)["data"];
        assert_eq!(data["long_description"], "# One\n");
        assert_eq!(data["apparmor"], "default");
        assert_eq!(data["hassio_role"], "default");
        assert_eq!(data["rating"], 5, "the real rating: nothing earned, nothing lost");
        assert_eq!((data["detached"].clone(), data["signed"].clone()), (json!(false), json!(false)));
        assert_eq!(data["slug"], "core_one");
    }

    let (status, _, body) = call(&app, test::TestRequest::get().uri("/store/addons/core_nope")).await;
    assert_eq!(status, 404);
    let error = json(&body);
    assert_eq!(error["message"], "App core_nope does not exist in the store");
    assert_eq!(error["error_key"], "store_addon_not_found_error");
    assert_eq!(error["extra_fields"], json!({"addon": "core_nope"}));
}

#[actix_web::test]
async fn files_are_raw_bodies_under_both_paths() {
    let fixture = Fixture::new("qemux86-64");
    addon(&fixture.core(), "one", "one", "1");
    std::fs::write(fixture.core().join("one/icon.png"), b"\x89PNG-icon").unwrap();
    write(&fixture.core().join("one/CHANGELOG.md"), "## 1\n");
    // A link out of the repository is never served.
    std::os::unix::fs::symlink("/etc/hostname", fixture.core().join("one/logo.png")).unwrap();
    fixture.manager.load().await;
    let app = service!(fixture);

    for prefix in ["/store/addons", "/addons"] {
        let (status, kind, body) = call(&app, test::TestRequest::get().uri(&format!("{prefix}/core_one/icon"))).await;
        assert_eq!((status, kind.as_str(), body.as_slice()), (200, "image/png", &b"\x89PNG-icon"[..]));
        let (status, kind, body) = call(&app, test::TestRequest::get().uri(&format!("{prefix}/core_one/logo"))).await;
        // The real Supervisor's errors of binary answers are `application/octet-stream`.
        assert_eq!((status, kind.as_str()), (400, "application/octet-stream"));
        assert_eq!(body, b"No logo found for app core_one!");
        let (status, _, body) = call(&app, test::TestRequest::get().uri(&format!("{prefix}/core_one/changelog"))).await;
        assert_eq!((status, body.as_slice()), (200, &b"## 1\n"[..]));
        let (status, _, body) =
            call(&app, test::TestRequest::get().uri(&format!("{prefix}/core_one/documentation"))).await;
        assert_eq!((status, body.as_slice()), (200, &b"No documentation found for app core_one!"[..]));
        let (status, kind, body) = call(&app, test::TestRequest::get().uri(&format!("{prefix}/core_x/icon"))).await;
        assert_eq!((status, kind.as_str()), (404, "application/octet-stream"));
        assert_eq!(body, b"App core_x does not exist in the store");
    }
}

#[actix_web::test]
async fn availability_names_the_reason() {
    let fixture = Fixture::new("qemux86-64");
    addon(&fixture.core(), "here", "here", "1");
    addon(&fixture.core(), "pi", "pi", "1");
    let pi = fixture.core().join("pi/config.yaml");
    write(&pi, &(std::fs::read_to_string(&pi).unwrap() + "machine: [raspberrypi4]\n"));
    fixture.manager.load().await;
    let app = service!(fixture);

    let (status, _, body) = call(&app, test::TestRequest::get().uri("/store/addons/core_here/availability")).await;
    assert_eq!((status, json(&body)["data"].clone()), (200, json!({})));
    let (status, _, body) = call(&app, test::TestRequest::get().uri("/store/addons/core_pi/availability")).await;
    assert_eq!(status, 400);
    let error = json(&body);
    assert_eq!(error["error_key"], "addon_not_supported_machine_type_error");
    assert_eq!(error["extra_fields"], json!({"slug": "core_pi", "machine_types": "raspberrypi4"}));
    let (_, _, body) = call(&app, test::TestRequest::get().uri("/store/addons/core_pi")).await;
    assert_eq!(json(&body)["data"]["available"], false);
}

#[actix_web::test]
async fn repositories_are_added_listed_repaired_and_removed() {
    let fixture = Fixture::new("qemux86-64");
    let remote = Remote::with_addon(fixture.dir.path(), "remote");
    let url = remote.url();
    let hash = repository_hash(&url);
    let app = service!(fixture);

    let (status, _, body) =
        call(&app, test::TestRequest::post().uri("/store/repositories").set_json(json!({"repo": url}))).await;
    assert_eq!(status, 400, "unknown keys are refused: {}", String::from_utf8_lossy(&body));
    let (status, _, body) =
        call(&app, test::TestRequest::post().uri("/store/repositories").set_json(json!({"repository": "nope"}))).await;
    assert_eq!((status, json(&body)["message"].clone()), (400, json!("No valid repository format!")));
    let (status, _, body) =
        call(&app, test::TestRequest::post().uri("/store/repositories").set_json(json!({"repository": url}))).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    let (_, _, body) = call(&app, test::TestRequest::get().uri("/store/repositories")).await;
    let list = json(&body)["data"].clone();
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert_eq!(
        list[2],
        json!({"slug": hash, "name": "Test repository", "source": url, "url": url, "maintainer": "Tester"})
    );
    let (status, _, body) = call(&app, test::TestRequest::get().uri(&format!("/store/repositories/{hash}"))).await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["data"]["errors"], json!([]));
    let (status, _, body) = call(&app, test::TestRequest::get().uri("/store/repositories/deadbeef")).await;
    assert_eq!(
        (status, json(&body)["message"].clone()),
        (404, json!("Repository deadbeef does not exist in the store"))
    );

    // Repair re-clones: a checkout damaged by hand is whole again.
    std::fs::remove_dir_all(fixture.data().join("addons/git").join(&hash).join("hello")).unwrap();
    let (status, _, _) = call(&app, test::TestRequest::post().uri(&format!("/store/repositories/{hash}/repair"))).await;
    assert_eq!(status, 200);
    assert!(fixture.data().join("addons/git").join(&hash).join("hello/config.yaml").is_file());
    let (status, _, body) = call(&app, test::TestRequest::post().uri("/store/repositories/local/repair")).await;
    assert_eq!(status, 400);
    let error = json(&body);
    assert_eq!(error["error_key"], "store_repository_local_cannot_reset");
    assert_eq!(error["extra_fields"], json!({"local_repo": "local"}));

    // Reload, waiting and in the background.
    let (status, _, body) = call(&app, test::TestRequest::post().uri("/store/reload")).await;
    assert_eq!((status, json(&body)["data"].clone()), (200, json!({})));
    let (status, _, body) =
        call(&app, test::TestRequest::post().uri("/addons/reload").set_json(json!({"background": true}))).await;
    assert_eq!(status, 200);
    let job_id = json(&body)["data"]["job_id"].as_str().unwrap().to_owned();
    assert!(fixture.jobs.job(&job_id).is_some_and(|j| j.name == "store_manager_reload"));

    let (status, _, body) = call(&app, test::TestRequest::delete().uri("/store/repositories/core")).await;
    assert_eq!((status, json(&body)["message"].clone()), (400, json!("Can't remove built-in repositories!")));
    let (status, _, _) = call(&app, test::TestRequest::delete().uri(&format!("/store/repositories/{hash}"))).await;
    assert_eq!(status, 200);
    let (_, _, body) = call(&app, test::TestRequest::get().uri("/store/repositories")).await;
    assert_eq!(json(&body)["data"].as_array().unwrap().len(), 2);
}
