//! The `/auth` API group: add-ons granted `auth_api` check a Home Assistant user's login
//! (`/auth`, GET or POST, HTTP Basic or a JSON or form body); administrators reset passwords,
//! list users and empty the login cache.
//!
//! A refused login is answered as the real Supervisor's web framework answers it: a plain-text
//! 401, with `WWW-Authenticate` where the real one sends it (Basic credentials, and credentials
//! it could not read), so browsers and add-ons behave the same.

use crate::credentials::{self, AuthCredentials, Login, Refusal, Scheme};
use crate::manager::{AuthManager, User};
use actix_web::http::header::WWW_AUTHENTICATE;
use actix_web::{delete, get, post, route, web, HttpMessage, HttpRequest, HttpResponse};
use http_api::body::Body;
use http_api::routes::{Requires, ADDONS, ADMIN, MANAGER};
use http_api::{ok, ok_empty, ApiError, ApiResult, Routes};
use security::Caller;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("auth", "Home Assistant user logins for add-ons");
    routes
        .group("/auth")
        .route(ADDONS.requiring(Requires::AuthApi), auth)
        .route(ADMIN, auth_reset)
        .route(MANAGER, auth_cache)
        .route(ADMIN, auth_list);
}

const REALM: &str = r#"Basic realm="Home Assistant Authentication""#;

/// The plain 401 of the real Supervisor's web framework, with the realm when it names one.
fn unauthorized(realm: bool) -> HttpResponse {
    let mut response = HttpResponse::Unauthorized();
    if realm {
        response.insert_header((WWW_AUTHENTICATE, REALM));
    }
    response.content_type("text/plain; charset=utf-8").body("401: Unauthorized")
}

/// The calling add-on; the route requires one granted `auth_api`, so the guard let no other
/// caller through.
fn auth_addon(req: &HttpRequest) -> Option<String> {
    match req.extensions().get::<Caller>() {
        Some(Caller::Addon { slug, .. }) => Some(slug.clone()),
        _ => None,
    }
}

/// Checks a Home Assistant user's login for the calling add-on: HTTP Basic credentials, or
/// `username` (or `user`) and `password` as a JSON or form body (content type exactly
/// `application/json` or `application/x-www-form-urlencoded`).
#[utoipa::path(
    tag = "auth",
    method(get, post),
    path = "",
    request_body(content = AuthCredentials, description = "Or the same fields form-encoded, or HTTP Basic credentials"),
    responses(
        (status = 200, description = "The login is valid", body = http_api::envelope::Envelope<http_api::envelope::Empty>),
        (status = 400, description = "A body that is not what its content type says"),
        (status = 401, description = "The login is not valid, or no credentials were read (plain text; `WWW-Authenticate` for Basic)"),
        (status = 403, description = "The caller is not an add-on granted `auth_api`"),
        (status = 500, description = "Home Assistant could not be asked"),
    )
)]
#[route("", method = "GET", method = "POST")]
async fn auth(req: HttpRequest, body: web::Bytes, manager: web::Data<AuthManager>) -> ApiResult {
    let addon = auth_addon(&req).ok_or_else(|| ApiError::forbidden("Can't use Home Assistant auth!"))?;
    let Login { scheme, credentials: AuthCredentials { username, password } } =
        match credentials::read(req.headers(), &body) {
            Ok(login) => login,
            Err(Refusal::Unreadable) => return Ok(unauthorized(true)),
            Err(Refusal::NotStrings) => {
                let error = ApiError::from(
                    base::Error::unauthorized("Username and password must be strings")
                        .with_key("auth_invalid_non_string_value_error"),
                );
                return Ok(HttpResponse::Unauthorized()
                    .insert_header((WWW_AUTHENTICATE, REALM))
                    .json(error.envelope()));
            }
            Err(Refusal::Malformed(why)) => return Err(ApiError::bad_request(why)),
        };
    if manager.check_login(&addon, &username, &password).await? {
        ok_empty()
    } else {
        Ok(unauthorized(scheme == Scheme::Basic))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    username: String,
    password: String,
}

/// Sets a Home Assistant user's password.
#[utoipa::path(
    tag = "auth",
    request_body = PasswordReset,
    responses(
        (status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>),
        (status = 400, description = "No such user (`auth_password_reset_error`), or a bad body"),
    )
)]
#[post("/reset")]
async fn auth_reset(body: Body<PasswordReset>, manager: web::Data<AuthManager>) -> ApiResult {
    let PasswordReset { username, password } = body.into_inner();
    manager.change_password(&username, &password).await?;
    ok_empty()
}

/// Forgets every cached login: the next login of each user is asked of Home Assistant.
#[utoipa::path(tag = "auth", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>)))]
#[delete("/cache")]
async fn auth_cache(manager: web::Data<AuthManager>) -> ApiResult {
    manager.reset_cache()?;
    ok_empty()
}

#[derive(Serialize, ToSchema)]
pub struct AuthUsers {
    users: Vec<User>,
}

/// Home Assistant's users that log in with a username.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, body = http_api::envelope::Envelope<AuthUsers>),
        (status = 500, description = "Home Assistant could not be asked (`auth_list_users_error`)"),
    )
)]
#[get("/list")]
async fn auth_list(manager: web::Data<AuthManager>) -> ApiResult {
    ok(AuthUsers { users: manager.list_users().await? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test;
    use base::{DataDir, System};
    use docker::{DockerManager, Naming};
    use homeassistant::{CoreManager, Settings};
    use jobs::JobManager;
    use security::{AddonRights, Grants, Tokens};
    use std::sync::Arc;
    use std::time::Duration;
    use updater::Updater;

    /// A manager whose Core was never set up: its API is down, so only the cache answers.
    fn manager(dir: &std::path::Path) -> AuthManager {
        let data = DataDir::new(dir);
        data.ensure_layout().unwrap();
        let store = state::Store::open(&data.database()).unwrap();
        let system = Arc::new(System::default());
        let jobs = JobManager::new(&store, Arc::clone(&system), data.clone()).unwrap();
        let docker = DockerManager::new(&store, Arc::clone(&system), "/nonexistent/docker.sock", Naming::default());
        let updater = Updater::new(&store, system, jobs.clone(), "/nonexistent/versions.json", "qemux86-64");
        let tokens = Arc::new(Tokens::load(&store, &data).unwrap());
        let settings = Settings { addon_port: 80, install: false, watchdog_interval: Duration::from_secs(60) };
        let core = CoreManager::new(
            &store,
            data,
            jobs,
            Arc::new(docker.unwrap()),
            Arc::new(updater.unwrap()),
            tokens,
            Arc::new(|| "UTC".to_owned()),
            settings,
        )
        .unwrap();
        AuthManager::new(&store, core).unwrap()
    }

    /// Add-ons named `auth_*` are granted `auth_api`.
    struct Rights;

    impl AddonRights for Rights {
        fn rights(&self, slug: &str) -> Option<Grants> {
            let auth_api = slug.starts_with("auth_");
            Some(Grants { auth_api, ..Grants::default() })
        }
    }

    fn addon(slug: &str) -> Caller {
        Caller::Addon { slug: slug.to_owned(), grants: Grants::default() }
    }

    /// `POST /auth` by `caller` (its token in `X-Supervisor-Token`, as add-ons send it beside
    /// Basic credentials), through the request guard as the router mounts the group: status,
    /// `WWW-Authenticate`, body.
    async fn post(
        manager: &AuthManager,
        caller: Caller,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Option<String>, String) {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        data.ensure_layout().unwrap();
        let tokens = Tokens::load(&state::Store::open(&data.database()).unwrap(), &data).unwrap();
        tokens.register("caller-token", caller);
        let rights: Arc<dyn AddonRights> = Arc::new(Rights);
        let app = security::testing::guarded(routes, web::Data::new(tokens), rights)
            .app_data(web::Data::new(manager.clone()));
        let app = test::init_service(app).await;
        let mut req = test::TestRequest::post().uri("/auth").set_payload(body.to_owned());
        req = req.insert_header(("X-Supervisor-Token", "caller-token"));
        for header in headers {
            req = req.insert_header(*header);
        }
        let resp = test::call_service(&app, req.to_request()).await;
        let status = resp.status().as_u16();
        let realm = resp.headers().get(WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
        (status, realm, String::from_utf8_lossy(&test::read_body(resp).await).into_owned())
    }

    const JSON: (&str, &str) = ("Content-Type", "application/json");

    #[actix_web::test]
    async fn only_addons_granted_auth_api_may_check_logins() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path());
        for caller in [Caller::Cli, Caller::HomeAssistant, addon("local_plain")] {
            let (status, _, body) = post(&manager, caller, &[JSON], r#"{"username":"a","password":"b"}"#).await;
            assert_eq!(status, 403, "{body}");
            assert!(body.contains("Can't use Home Assistant auth!"), "{body}");
        }
    }

    #[actix_web::test]
    async fn unreadable_and_non_string_credentials_are_401_with_the_realm() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path());
        let (status, realm, body) =
            post(&manager, addon("auth_x"), &[("Content-Type", "text/plain")], "username=a").await;
        assert_eq!((status, realm.as_deref(), body.as_str()), (401, Some(REALM), "401: Unauthorized"));
        let (status, realm, _) = post(&manager, addon("auth_x"), &[("Authorization", "Basic nope")], "").await;
        assert_eq!((status, realm.as_deref()), (401, Some(REALM)));
        let (status, realm, body) = post(&manager, addon("auth_x"), &[JSON], r#"{"username":1,"password":"b"}"#).await;
        assert_eq!((status, realm.as_deref()), (401, Some(REALM)));
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error_key"], "auth_invalid_non_string_value_error");
        assert_eq!(body["message"], "Username and password must be strings");
        let (status, _, _) = post(&manager, addon("auth_x"), &[JSON], "{").await;
        assert_eq!(status, 400);
    }

    #[actix_web::test]
    async fn with_core_down_only_a_confirmed_login_passes() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path());
        manager.inner_cache().confirm("owner", "secret").unwrap();

        let (status, _, body) =
            post(&manager, addon("auth_x"), &[JSON], r#"{"username":"owner","password":"secret"}"#).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, r#"{"result":"ok","data":{}}"#);
        // "owner:secret" over Basic.
        let basic = ("Authorization", "Basic b3duZXI6c2VjcmV0");
        assert_eq!(post(&manager, addon("auth_x"), &[basic], "").await.0, 200);

        // A refusal is the framework's plain 401; only Basic names the realm.
        let (status, realm, body) =
            post(&manager, addon("auth_x"), &[JSON], r#"{"user":"owner","password":"wrong"}"#).await;
        assert_eq!((status, realm, body.as_str()), (401, None, "401: Unauthorized"));
        let form = ("Content-Type", "application/x-www-form-urlencoded");
        let (status, realm, _) = post(&manager, addon("auth_x"), &[form], "username=nobody&password=x").await;
        assert_eq!((status, realm), (401, None));
        // "owner:wrong".
        let basic = ("Authorization", "Basic b3duZXI6d3Jvbmc=");
        let (status, realm, _) = post(&manager, addon("auth_x"), &[basic], "").await;
        assert_eq!((status, realm.as_deref()), (401, Some(REALM)));
    }
}
