//! The `/admin` API group: the pages' files, the login link's landing that trades a one-time
//! code for a session, logout, and the admin's calls that mint a login code (`ha admin login`)
//! and end every session (`ha admin logout-all`).

use crate::files;
use crate::sessions::{Opened, Sessions, CSRF_COOKIE, SESSION_COOKIE};
use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use http_api::envelope::{Empty, Envelope};
use http_api::routes::{Requires, ADMIN, OPEN};
use http_api::{ok, ApiError, ApiResult, Routes};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares the group's routes: each handler with who may call it. The files come last: their
/// pattern takes every other path under `/admin/`.
pub fn routes(routes: &mut Routes) {
    routes.tag("admin", "The admin web UI: its pages and its browser sessions");
    routes
        .group("/admin")
        .route(OPEN, admin)
        .route(OPEN.requiring(Requires::OwnCredential), admin_login)
        .route(ADMIN, admin_login_link)
        .route(ADMIN, admin_logout)
        .route(ADMIN, admin_logout_all)
        .route(OPEN, admin_file);
}

/// `/admin` without its slash: on to `/admin/`, where the pages' relative links resolve.
#[utoipa::path(tag = "admin", responses((status = 308, description = "On to /admin/")))]
#[get("")]
async fn admin() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/admin/")).finish()
}

/// A file of the pages; none named (`/admin/`) is `index.html`.
#[utoipa::path(
    tag = "admin",
    path = "/{file}",
    params(("file" = String, Path, description = "The file's path under the UI's folder; empty for index.html")),
    responses(
        (status = 200, description = "The file, with its ETag and the content type of its kind", content_type = "text/html"),
        (status = 304, description = "The browser holds this version already"),
        (status = 404, body = http_api::envelope::ErrorEnvelope),
    )
)]
#[get("/{file:.*}")]
async fn admin_file(req: HttpRequest, file: web::Path<String>) -> ApiResult {
    let name = match file.as_str() {
        "" => "index.html",
        name => name,
    };
    match files::find(name) {
        Some(found) => Ok(files::answer(&req, found)),
        None => Err(ApiError::not_found(format!("The admin UI has no file {name}"))),
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    code: Option<String>,
}

/// The login link's landing: a valid one-time code opens a session (its two cookies) and sends
/// the browser on to the pages, so the code leaves the address bar.
#[utoipa::path(
    tag = "admin",
    params(("code" = String, Query, description = "The one-time login code `ha admin login` printed")),
    responses(
        (status = 303, description = "Logged in: the session cookies are set, on to /admin/"),
        (status = 400, description = "No code in the link (a page saying so)", content_type = "text/html"),
        (status = 401, description = "The code is unknown, used or expired (a page saying so)", content_type = "text/html"),
    )
)]
#[get("/login")]
async fn admin_login(req: HttpRequest, query: web::Query<LoginQuery>, sessions: web::Data<Sessions>) -> HttpResponse {
    let Some(code) = query.into_inner().code.filter(|code| !code.is_empty()) else {
        return page(
            HttpResponse::BadRequest(),
            "No login code",
            "This link has no login code. Run `ha admin login` on the machine and open the link it prints.",
        );
    };
    let Some(opened) = sessions.open(&code) else {
        tracing::warn!("refused an admin login code that is unknown, used or expired");
        return page(
            HttpResponse::Unauthorized(),
            "Login link not valid",
            "This login link was used already, has expired (links last five minutes) or was never issued. Run `ha admin login` on the machine for a new one.",
        );
    };
    tracing::info!("an admin UI session was opened");
    let Opened { id, csrf } = opened;
    let secure = req.app_config().secure();
    let lifetime = sessions.lifetimes().absolute.as_secs();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/admin/"))
        .append_header((header::SET_COOKIE, set_cookie(SESSION_COOKIE, &id, lifetime, true, secure)))
        .append_header((header::SET_COOKIE, set_cookie(CSRF_COOKIE, &csrf, lifetime, false, secure)))
        .finish()
}

/// A login code for the admin UI.
#[derive(Serialize, ToSchema)]
struct LoginLink {
    /// The one-time code: 64 hex characters, valid once, for `expires_in` seconds.
    code: String,
    /// The path to open with it, on the address the browser reaches the supervisor at.
    path: String,
    expires_in: u64,
}

/// Mints a one-time login code for the admin UI.
#[utoipa::path(tag = "admin", responses((status = 200, body = Envelope<LoginLink>)))]
#[post("/login_link")]
async fn admin_login_link(sessions: web::Data<Sessions>) -> ApiResult {
    let code = sessions.mint_code();
    tracing::info!("minted an admin login code");
    let path = format!("/admin/login?code={code}");
    ok(LoginLink { code, path, expires_in: sessions.lifetimes().code.as_secs() })
}

/// Ends the session of the request's cookie, and has the browser forget its cookies.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, body = Envelope<Empty>),
        (status = 400, description = "No session cookie in the request", body = http_api::envelope::ErrorEnvelope),
    )
)]
#[post("/logout")]
async fn admin_logout(req: HttpRequest, sessions: web::Data<Sessions>) -> ApiResult {
    let Some(id) = http_api::cookie::cookie(req.headers(), SESSION_COOKIE) else {
        return Err(ApiError::bad_request(
            "No admin session cookie in the request: `ha admin logout-all` ends every session",
        ));
    };
    sessions.end(&id);
    tracing::info!("an admin UI session was ended by logout");
    let secure = req.app_config().secure();
    let mut response = ok(Empty {})?;
    for (name, http_only) in [(SESSION_COOKIE, true), (CSRF_COOKIE, false)] {
        let value = set_cookie(name, "", 0, http_only, secure);
        response.headers_mut().append(header::SET_COOKIE, value.parse().expect("a cookie is a header value"));
    }
    Ok(response)
}

/// How many sessions were ended.
#[derive(Serialize, ToSchema)]
struct Ended {
    ended: usize,
}

/// Ends every admin UI session and forgets every unused login code.
#[utoipa::path(tag = "admin", responses((status = 200, body = Envelope<Ended>)))]
#[post("/logout_all")]
async fn admin_logout_all(sessions: web::Data<Sessions>) -> ApiResult {
    let ended = sessions.end_all();
    tracing::info!(ended, "every admin UI session was ended");
    ok(Ended { ended })
}

/// A `Set-Cookie` value: for the whole site, sent to this site only (`SameSite=Strict`), over
/// TLS only when the daemon serves TLS.
fn set_cookie(name: &str, value: &str, max_age: u64, http_only: bool, secure: bool) -> String {
    let mut cookie = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Strict");
    if http_only {
        cookie.push_str("; HttpOnly");
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// A short page for a person who opened a link that did not log them in.
fn page(mut response: actix_web::HttpResponseBuilder, title: &str, text: &str) -> HttpResponse {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title></head>\n<body><main><h1>{title}</h1><p role=\"alert\">{text}</p></main></body>\n</html>\n"
    );
    response.content_type("text/html; charset=utf-8").body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::Lifetimes;
    use actix_web::{test, App};

    macro_rules! app {
        ($sessions:expr) => {
            test::init_service(App::new().app_data($sessions).configure(Routes::of(routes))).await
        };
    }

    fn cookies(response: &actix_web::dev::ServiceResponse) -> Vec<String> {
        response.headers().get_all(header::SET_COOKIE).map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    #[actix_web::test]
    async fn a_code_logs_in_once_with_strict_cookies() {
        let sessions = web::Data::new(Sessions::new(Lifetimes::default()));
        let app = app!(sessions.clone());
        let code = sessions.mint_code();
        let login = test::TestRequest::get().uri(&format!("/admin/login?code={code}")).to_request();
        let response = test::call_service(&app, login).await;
        assert_eq!(response.status(), 303);
        assert_eq!(response.headers().get(header::LOCATION).unwrap(), "/admin/");
        let set = cookies(&response);
        assert_eq!(set.len(), 2);
        assert!(
            set[0].starts_with("supervisor_session=")
                && set[0].ends_with("; Path=/; Max-Age=43200; SameSite=Strict; HttpOnly"),
            "{set:?}"
        );
        assert!(
            set[1].starts_with("supervisor_csrf=") && set[1].ends_with("; Path=/; Max-Age=43200; SameSite=Strict"),
            "{set:?}"
        );

        let again = test::TestRequest::get().uri(&format!("/admin/login?code={code}")).to_request();
        let response = test::call_service(&app, again).await;
        assert_eq!(response.status(), 401);
        assert!(cookies(&response).is_empty());
        let body = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
        assert!(body.contains("used already, has expired"), "{body}");
        let none = test::call_service(&app, test::TestRequest::get().uri("/admin/login").to_request()).await;
        assert_eq!(none.status(), 400);
    }

    #[actix_web::test]
    async fn the_pages_are_served_and_nothing_else() {
        let app = app!(web::Data::new(Sessions::new(Lifetimes::default())));
        let index = test::call_service(&app, test::TestRequest::get().uri("/admin/").to_request()).await;
        assert_eq!(index.status(), 200);
        assert_eq!(index.headers().get(header::CONTENT_TYPE).unwrap(), "text/html; charset=utf-8");
        let script = test::call_service(&app, test::TestRequest::get().uri("/admin/app.js").to_request()).await;
        assert_eq!(script.headers().get(header::CONTENT_TYPE).unwrap(), "text/javascript; charset=utf-8");
        let missing = test::call_service(&app, test::TestRequest::get().uri("/admin/nothing.js").to_request()).await;
        assert_eq!(missing.status(), 404);
        let bare = test::call_service(&app, test::TestRequest::get().uri("/admin").to_request()).await;
        assert_eq!(
            (bare.status().as_u16(), bare.headers().get(header::LOCATION).unwrap().to_str().unwrap()),
            (308, "/admin/")
        );
    }

    #[actix_web::test]
    async fn logout_ends_the_session_and_clears_the_cookies() {
        let sessions = web::Data::new(Sessions::new(Lifetimes::default()));
        let app = app!(sessions.clone());
        let opened = sessions.open(&sessions.mint_code()).unwrap();
        let logout = test::TestRequest::post()
            .uri("/admin/logout")
            .insert_header((header::COOKIE, format!("supervisor_session={}", opened.id)))
            .to_request();
        let response = test::call_service(&app, logout).await;
        assert_eq!(response.status(), 200);
        assert!(cookies(&response).iter().all(|cookie| cookie.contains("=; Path=/; Max-Age=0;")));
        assert!(!sessions.end(&opened.id), "the session was ended");
        let without = test::call_service(&app, test::TestRequest::post().uri("/admin/logout").to_request()).await;
        assert_eq!(without.status(), 400);

        let link = test::call_service(&app, test::TestRequest::post().uri("/admin/login_link").to_request()).await;
        let link: serde_json::Value = test::read_body_json(link).await;
        let code = link["data"]["code"].as_str().unwrap();
        assert_eq!(link["data"]["path"], format!("/admin/login?code={code}"));
        assert_eq!(link["data"]["expires_in"], 300);
        sessions.open(code).unwrap();
        let all = test::call_service(&app, test::TestRequest::post().uri("/admin/logout_all").to_request()).await;
        let all: serde_json::Value = test::read_body_json(all).await;
        assert_eq!(all["data"]["ended"], 1);
    }
}
