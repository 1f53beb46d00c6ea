//! The request guard every route sits behind, in the real Supervisor's order: refuse requests
//! that look like exploits, refuse everything while the system is not ready, then decide by the
//! token and the access table. The caller it found is left in the request for handlers (`self`).
//!
//! A request without a token to a route that needs a caller may come from the admin UI: a live
//! session cookie makes it the admin caller, with the CLI's rights, as long as a request that
//! changes state carries the session's CSRF token.

use crate::access::{decide, meets, names_reserved, AddonRights, Decision, Route};
use crate::{Caller, Tokens};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use admin::{Authentication, Sessions};
use base::{CoreState, System};
use futures_util::StreamExt;
use http_api::routes::{path_parameter, Access, Place, Reserved, RouteRules};
use http_api::ApiError;
use regex::Regex;
use std::sync::LazyLock;

/// The request guard; mount it with `actix_web::middleware::from_fn(Guard::check)`.
pub struct Guard;

/// Paths and queries that only attacks send (the real Supervisor's filter list).
static EXPLOITS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:proc/self/environ|(?:<|%3C).*script.*(?:>|%3E)|(?:\.\.//?)+|[a-zA-Z0-9_]=/(?:[a-z0-9_.]//?)+|union.*select.*\(|union.*all.*select.*|concat.*\()",
    )
    .expect("exploit filter")
});

impl Guard {
    pub async fn check(
        req: ServiceRequest,
        next: Next<impl MessageBody>,
    ) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
        // The exploit filter looks through every layer of encoding, so double-encoded attacks are
        // seen too; the access decision below is made on the path exactly as the router routes it.
        let decoded = unquote(req.path()).into_owned();
        tracing::debug!(method = %req.method(), path = %decoded, "request");
        if EXPLOITS.is_match(&decoded) || EXPLOITS.is_match(&unquote(req.query_string())) {
            tracing::warn!(path = %decoded, "filtered a potentially harmful request");
            return Ok(refuse(req, ApiError::bad_request("The request was refused as potentially harmful")));
        }
        if let Err(why) = routable(req.path()) {
            tracing::warn!(path = %decoded, "refused a path the router would see differently: {why}");
            return Ok(refuse(req, ApiError::bad_request(format!("The request path was refused: {why}"))));
        }
        let path = req.match_info().as_str().to_owned();
        if let Some(system) = req.app_data::<web::Data<System>>() {
            let state = system.state();
            if !matches!(state, CoreState::Startup | CoreState::Running | CoreState::Freeze) {
                let name = serde_json::to_value(state).ok().and_then(|v| v.as_str().map(str::to_owned));
                return Ok(refuse(
                    req,
                    ApiError::bad_request(format!("System is not ready with state: {}", name.unwrap_or_default())),
                ));
            }
        }
        let tokens = req.app_data::<web::Data<Tokens>>().expect("the token registry is mounted");
        let token = token_of(&req);
        let route = route_of(&req, &path);
        let session = session_of(&req, token, route);
        let caller = match token {
            Some(token) => Some(tokens.caller(token).and_then(|caller| with_current_rights(&req, caller))),
            None => match session {
                Authentication::NoCookie => None,
                Authentication::Ended => Some(None),
                Authentication::Admin | Authentication::MissingCsrf | Authentication::WrongCsrf => {
                    Some(Some(Caller::Cli))
                }
            },
        };
        match decide(&path, route, caller.as_ref().map(Option::as_ref)) {
            Decision::Allow => {
                if let Some(why) = session.csrf_refusal() {
                    tracing::warn!(path = %path, method = %req.method(), "access denied: the admin session's CSRF token is missing or wrong");
                    return Ok(refuse(req, ApiError::forbidden(why)));
                }
                let caller = caller.flatten();
                let mut req = req;
                let reserved = route.and_then(|route| route.rule.reserved);
                if let Some(reserved) = reserved.filter(|reserved| !meets(reserved.to, caller.as_ref())) {
                    let (back, named) = names_reserved_in(req, &reserved).await;
                    if named {
                        tracing::warn!(path = %path, "access denied: {}", reserved.message);
                        return Ok(refuse(back, ApiError::forbidden(reserved.message)));
                    }
                    req = back;
                }
                req.extensions_mut().insert(caller.unwrap_or(Caller::Anonymous));
                Ok(next.call(req).await?.map_into_left_body())
            }
            Decision::Unauthorized(why) => {
                let why = session.ended().unwrap_or(why);
                tracing::warn!(path = %path, "{why}");
                Ok(refuse(req, ApiError::unauthorized(why)))
            }
            Decision::PlainUnauthorized(why) => {
                tracing::warn!(path = %path, "{why}");
                let plain =
                    HttpResponse::Unauthorized().content_type("text/plain; charset=utf-8").body("401: Unauthorized");
                Ok(req.into_response(plain).map_into_right_body())
            }
            Decision::Forbidden(why) => {
                tracing::warn!(path = %path, "access denied: {why}");
                Ok(refuse(req, ApiError::forbidden(why)))
            }
        }
    }
}

/// The most of a body the guard reads to look for a reserved value; these bodies are options.
const INSPECTED_BODY: usize = 1 << 20;

/// Whether the request names `reserved`; a body read for it is put back for the handler. A body
/// too large to read is treated as naming it (refused).
async fn names_reserved_in(mut req: ServiceRequest, reserved: &Reserved) -> (ServiceRequest, bool) {
    if reserved.place == Place::Query {
        let named = names_reserved(reserved, req.query_string(), None);
        return (req, named);
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) if body.len() + chunk.len() <= INSPECTED_BODY => body.extend_from_slice(&chunk),
            _ => return (req, true),
        }
    }
    let body = body.freeze();
    let named = names_reserved(reserved, "", Some(&body));
    let stream = futures_util::stream::once(async move { Ok::<_, actix_web::error::PayloadError>(body) });
    req.set_payload(Payload::from(Box::pin(stream) as std::pin::Pin<Box<dyn futures_util::Stream<Item = _>>>));
    (req, named)
}

/// The declared route the request matched, with its rule.
fn route_of(req: &ServiceRequest, path: &str) -> Option<Route> {
    let pattern = req.match_pattern()?;
    let rule = req.app_data::<web::Data<RouteRules>>()?.rule(req.method(), &pattern)?;
    let is_self = path_parameter(&pattern, path, "addon") == Some("self");
    Some(Route { rule, is_self })
}

/// What the admin UI's session cookie says of a request that has no token, on a route that needs
/// a caller (an open route takes no credential from a cookie, so a proxied add-on page or a stale
/// cookie changes nothing there).
fn session_of(req: &ServiceRequest, token: Option<&str>, route: Option<Route>) -> Authentication {
    let open = route.is_some_and(|route| route.rule.access == Access::Open);
    match req.app_data::<web::Data<Sessions>>() {
        Some(sessions) if token.is_none() && !open => sessions.authenticate(req.headers(), req.method()),
        _ => Authentication::NoCookie,
    }
}

/// An add-on caller with the grants its installed config has now; `None` (an unknown token) for
/// an add-on that is gone, or when nobody can tell (fail closed).
fn with_current_rights(req: &ServiceRequest, caller: Caller) -> Option<Caller> {
    let Caller::Addon { slug, .. } = caller else { return Some(caller) };
    let grants = req.app_data::<web::Data<dyn AddonRights>>()?.rights(&slug)?;
    Some(Caller::Addon { slug, grants })
}

fn refuse<B>(req: ServiceRequest, error: ApiError) -> ServiceResponse<EitherBody<B>> {
    req.into_response(error.error_response()).map_into_right_body()
}

/// The token, from `X-Supervisor-Token`, the legacy `X-Hassio-Key`, the last word of
/// `Authorization` (`Bearer <token>`), or `X-Ha-Access`, which add-ons may still send to the Core
/// API proxy; an empty header counts as none.
fn token_of(req: &ServiceRequest) -> Option<&str> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    header("X-Supervisor-Token")
        .or_else(|| header("X-Hassio-Key"))
        .or_else(|| header("Authorization").and_then(|v| v.rsplit(' ').next()))
        .or_else(|| header("X-Ha-Access"))
        .filter(|t| !t.is_empty())
}

/// Whether the path the router matches is the path a reader of the URL sees.
///
/// The router matches on the path with `%2F`, `%25` and `%2B` still encoded and decodes a route's
/// parameters afterwards, so `/install/1%2Finfo` is the install route with the version `1/info`
/// while a decoded reading ends in `/info`. Requests whose path means something else once decoded
/// (encoded separators, NUL, double encoding, dot segments in any encoding) are refused here, so
/// the access decision on the routed path is the decision on what every reader of it sees.
fn routable(raw: &str) -> Result<(), &'static str> {
    let lower = raw.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || raw.contains('\\') {
        return Err("encoded path separators are not accepted");
    }
    if lower.contains("%00") {
        return Err("NUL is not accepted");
    }
    if lower.contains("%25") {
        return Err("double percent-encoding is not accepted");
    }
    if raw.split('/').any(|segment| matches!(percent_decode(segment).as_str(), "." | "..")) {
        return Err("dot segments are not accepted");
    }
    Ok(())
}

/// Percent-decodes until nothing changes, so double-encoded attacks are seen too.
fn unquote(input: &str) -> std::borrow::Cow<'_, str> {
    if !input.contains('%') {
        return std::borrow::Cow::Borrowed(input);
    }
    let mut current = input.to_owned();
    for _ in 0..8 {
        let decoded = percent_decode(&current);
        if decoded == current {
            break;
        }
        current = decoded;
    }
    std::borrow::Cow::Owned(current)
}

pub(crate) fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Grants, Role};
    use actix_web::{get, post};

    #[test]
    fn unquote_sees_through_double_encoding() {
        assert_eq!(unquote("test/%252E%252E/api"), "test/../api");
        assert_eq!(unquote("%3Cscript%3E"), "<script>");
        assert_eq!(unquote("100%"), "100%");
    }

    struct Rights(Option<Role>);

    impl AddonRights for Rights {
        fn rights(&self, _slug: &str) -> Option<Grants> {
            self.0.map(|role| Grants { role, hassio_api: true, homeassistant_api: false, auth_api: false })
        }
    }

    #[utoipa::path(responses((status = 200)))]
    #[get("")]
    async fn list() -> &'static str {
        "ok"
    }

    /// `GET /addons` (managers and admins only) by an add-on registered with role `default`,
    /// while its installed config says `rights`.
    async fn list_addons_as_default_addon(rights: Option<Rights>) -> u16 {
        use actix_web::{middleware::from_fn, test, App};
        let dir = tempfile::tempdir().unwrap();
        let data = base::DataDir::new(dir.path());
        let store = state::Store::open(&data.database()).unwrap();
        let tokens = web::Data::new(Tokens::load(&store, &data).unwrap());
        tokens.register(
            "addon-token",
            Caller::Addon { slug: "local_x".into(), grants: Grants { hassio_api: true, ..Grants::default() } },
        );
        let mut app = App::new().app_data(tokens);
        if let Some(rights) = rights {
            app = app.app_data(web::Data::<dyn AddonRights>::from(
                std::sync::Arc::new(rights) as std::sync::Arc<dyn AddonRights>
            ));
        }
        let mut routes = http_api::Routes::new();
        routes.group("/addons").route(http_api::routes::MANAGER, list);
        let app = app.app_data(web::Data::new(routes.rules())).wrap(from_fn(Guard::check));
        let app = test::init_service(app.configure(|cfg| routes.mount(cfg))).await;
        let request = test::TestRequest::get().uri("/addons").insert_header(("Authorization", "Bearer addon-token"));
        test::call_service(&app, request.to_request()).await.status().as_u16()
    }

    #[actix_web::test]
    async fn an_addon_is_decided_with_the_rights_its_config_has_now() {
        assert_eq!(list_addons_as_default_addon(Some(Rights(Some(Role::Manager)))).await, 200);
        assert_eq!(list_addons_as_default_addon(Some(Rights(Some(Role::Default)))).await, 403);
        // Uninstalled, or nobody to ask: the token counts as unknown.
        assert_eq!(list_addons_as_default_addon(Some(Rights(None))).await, 401);
        assert_eq!(list_addons_as_default_addon(None).await, 401);
    }

    const RESERVED: Reserved = Reserved {
        parameter: "location",
        place: Place::Body,
        value: ".cloud_backup",
        to: http_api::routes::Requires::Core,
        message: "Location .cloud_backup is only available for Home Assistant",
    };

    #[utoipa::path(responses((status = 200)))]
    #[post("/body")]
    async fn echo_body(body: String) -> String {
        body
    }

    #[utoipa::path(responses((status = 200)))]
    #[get("/query")]
    async fn echo_query(req: actix_web::HttpRequest) -> String {
        req.query_string().to_owned()
    }

    /// A call by `token` (`core` or `cli`) to a route whose `location` may not be `.cloud_backup`
    /// unless Core calls: the status and the answer.
    async fn reserved_call(token: &str, uri: &str, body: &str) -> (u16, String) {
        use actix_web::{middleware::from_fn, test, App};
        let dir = tempfile::tempdir().unwrap();
        let data = base::DataDir::new(dir.path());
        let store = state::Store::open(&data.database()).unwrap();
        let tokens = web::Data::new(Tokens::load(&store, &data).unwrap());
        tokens.register("core", Caller::HomeAssistant);
        tokens.register("cli", Caller::Cli);
        let mut routes = http_api::Routes::new();
        routes
            .group("/r")
            .route(http_api::routes::BACKUP.reserving(RESERVED), echo_body)
            .route(http_api::routes::BACKUP.reserving(Reserved { place: Place::Query, ..RESERVED }), echo_query);
        let app = App::new().app_data(tokens).app_data(web::Data::new(routes.rules())).wrap(from_fn(Guard::check));
        let app = test::init_service(app.configure(|cfg| routes.mount(cfg))).await;
        let request = if uri.contains("query") { test::TestRequest::get() } else { test::TestRequest::post() };
        let request = request.uri(uri).insert_header(("Authorization", format!("Bearer {token}")));
        let response = test::call_service(&app, request.set_payload(body.to_owned()).to_request()).await;
        let status = response.status().as_u16();
        (status, String::from_utf8_lossy(&test::read_body(response).await).into_owned())
    }

    #[actix_web::test]
    async fn a_reserved_value_is_refused_to_other_callers_and_the_body_reaches_the_handler() {
        for body in [r#"{"location": ".cloud_backup"}"#, r#"{"location": [null, "nas", ".cloud_backup"]}"#] {
            let (status, answer) = reserved_call("cli", "/r/body", body).await;
            assert_eq!(status, 403, "{body}: {answer}");
            assert!(answer.contains("Location .cloud_backup is only available for Home Assistant"), "{answer}");
            assert_eq!(reserved_call("core", "/r/body", body).await, (200, body.to_owned()));
        }
        for body in [r#"{"location": "nas"}"#, "", "not json", r#"{"name": ".cloud_backup"}"#] {
            assert_eq!(reserved_call("cli", "/r/body", body).await, (200, body.to_owned()), "{body}");
        }
        let (status, _) = reserved_call("cli", "/r/body", &" ".repeat(INSPECTED_BODY + 1)).await;
        assert_eq!(status, 403, "a body too large to look into is refused");
        for query in ["location=.cloud_backup", "filename=x.tar&location=nas&location=%2Ecloud_backup"] {
            assert_eq!(reserved_call("cli", &format!("/r/query?{query}"), "").await.0, 403, "{query}");
            assert_eq!(reserved_call("core", &format!("/r/query?{query}"), "").await, (200, query.to_owned()));
        }
        assert_eq!(reserved_call("cli", "/r/query?location=nas", "").await, (200, "location=nas".to_owned()));
    }

    /// A call to `/s/...` routes (admin-only reads and writes, a Core-only one, an open one) with
    /// the admin UI's session cookie `cookie` and the CSRF header `csrf`: status and answer.
    async fn session_call(
        sessions: &web::Data<admin::Sessions>,
        method: &str,
        uri: &str,
        cookie: Option<&str>,
        csrf: Option<&str>,
    ) -> (u16, String) {
        use actix_web::{middleware::from_fn, test, App};
        let dir = tempfile::tempdir().unwrap();
        let data = base::DataDir::new(dir.path());
        let store = state::Store::open(&data.database()).unwrap();
        let tokens = web::Data::new(Tokens::load(&store, &data).unwrap());
        tokens.register("cli", Caller::Cli);
        let mut routes = http_api::Routes::new();
        routes
            .group("/s")
            .route(http_api::routes::ADMIN, echo_body)
            .route(http_api::routes::ADMIN, echo_query)
            .route(http_api::routes::CORE, list)
            .route(http_api::routes::OPEN, open_post);
        let app = App::new()
            .app_data(tokens)
            .app_data(sessions.clone())
            .app_data(web::Data::new(routes.rules()))
            .wrap(from_fn(Guard::check));
        let app = test::init_service(app.configure(|cfg| routes.mount(cfg))).await;
        let request = if method == "GET" { test::TestRequest::get() } else { test::TestRequest::post() };
        let mut request = request.uri(uri);
        if let Some(cookie) = cookie {
            request = request.insert_header(("Cookie", format!("supervisor_session={cookie}")));
        }
        if let Some(csrf) = csrf {
            request = request.insert_header(("X-CSRF-Token", csrf.to_owned()));
        }
        let response = test::call_service(&app, request.set_payload("changed").to_request()).await;
        let status = response.status().as_u16();
        (status, String::from_utf8_lossy(&test::read_body(response).await).into_owned())
    }

    #[utoipa::path(responses((status = 200)))]
    #[post("/open")]
    async fn open_post(req: actix_web::HttpRequest) -> String {
        format!("{:?}", req.extensions().get::<Caller>())
    }

    #[actix_web::test]
    async fn a_session_cookie_is_the_admin_and_its_changes_need_the_csrf_token() {
        let sessions = web::Data::new(admin::Sessions::new(admin::Lifetimes::default()));
        let opened = sessions.open(&sessions.mint_code()).unwrap();
        let (id, csrf) = (Some(opened.id.as_str()), Some(opened.csrf.as_str()));
        assert_eq!(session_call(&sessions, "GET", "/s/query?a=1", id, None).await, (200, "a=1".to_owned()));
        let (status, answer) = session_call(&sessions, "POST", "/s/body", id, None).await;
        assert_eq!(status, 403, "{answer}");
        assert!(answer.contains("The X-CSRF-Token header is missing"), "{answer}");
        let (status, answer) = session_call(&sessions, "POST", "/s/body", id, Some(&opened.id)).await;
        assert_eq!(status, 403, "{answer}");
        assert!(answer.contains("does not match"), "{answer}");
        assert_eq!(session_call(&sessions, "POST", "/s/body", id, csrf).await, (200, "changed".to_owned()));
        // The CLI's rights, no more: Core-only routes stay Core's.
        assert_eq!(session_call(&sessions, "GET", "/s", id, None).await.0, 403);
        // An open route takes nothing from the cookie, and needs no CSRF token.
        assert_eq!(session_call(&sessions, "POST", "/s/open", id, None).await, (200, "Some(Anonymous)".to_owned()));

        sessions.end(&opened.id);
        let (status, answer) = session_call(&sessions, "GET", "/s/query", id, None).await;
        assert_eq!(status, 401);
        assert!(answer.contains("The admin session has expired or was ended"), "{answer}");
        assert_eq!(
            session_call(&sessions, "POST", "/s/open", id, None).await.0,
            200,
            "a stale cookie on an open route"
        );
        let (status, answer) = session_call(&sessions, "GET", "/s/query", None, None).await;
        assert_eq!(status, 401);
        assert!(answer.contains("No API token provided"), "{answer}");
    }

    #[test]
    fn paths_that_decode_to_something_else_are_refused() {
        for bad in [
            "/store/addons/x/install/1%2Finfo",
            "/store/addons/x/install/1%2finfo",
            "/backups/abc%5Cinfo",
            "/addons/x\\info",
            "/jobs/a%00b",
            "/store/addons/x/install/1%252Finfo",
            "/addons/%2e%2e/info",
            "/addons/./info",
            "/addons/%2E/info",
            "/addons/x/..",
        ] {
            assert!(routable(bad).is_err(), "{bad}");
        }
        for good in ["/supervisor/info", "/addons/local_x/logs/boots/-1", "/backups/a.b/info", "/core/api/x%20y"] {
            assert_eq!(routable(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn exploit_filter() {
        for bad in ["/proc/self/environ", "/x/../../etc", "/UNION SELECT (a, b)", "<script >", "concat(1"] {
            assert!(EXPLOITS.is_match(&unquote(bad)), "{bad}");
        }
        for good in ["/supervisor/info", "/addons/local_ssh/logs", "lines=100"] {
            assert!(!EXPLOITS.is_match(good), "{good}");
        }
    }
}
