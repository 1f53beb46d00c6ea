//! The `.../logs` family of routes, declared once per log source, and the journal's answer over
//! HTTP.
//!
//! The real Supervisor registers the same routes for every log it serves (its own, each
//! add-on's, Core's, the plugins', the host's): `/logs`, `/logs/follow`, `/logs/latest`,
//! `/logs/boots/{bootid}` and `/logs/boots/{bootid}/follow`; the host's also by syslog
//! identifier. A crate declares a family with one line of its `routes` function,
//!
//! ```text
//! routes.group("/addons").logs("/{addon}", MANAGER.or_own(), AddonLogs);
//! ```
//!
//! and each of its routes ([`LogSource::routes`]) is mounted, documented (the path parameters,
//! `lines`, the text answer and the errors the source declares in [`LogDocs`]) and guarded by
//! the rule. A [`LogSource`] answers one [`LogRequest`]: which route (boot, identifier, follow,
//! latest), the path parameters before `/logs` (`{addon}`) and the client's own request
//! (`lines`, `Range`, `Accept`, `verbose`, `no_colors`).
//!
//! The journal's entries ([`journal::Gateway::entries`]) are answered here as the real
//! Supervisor answers them: `200 text/plain`, streamed, the first entry's cursor in
//! `X-First-Cursor`; a wrong request is a `400` with the message as text, and so is a journal
//! that cannot answer ([`unavailable`]) unless the source falls back to another log.

use crate::envelope::ApiError;
use crate::routes::{GroupRoutes, Rule};
use actix_web::http::header::{self, HeaderName};
use actix_web::{guard, web, FromRequest, HttpRequest, HttpResponse};
use base::logs::Selection;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use journal::{Gateway, Header, JournalError, Logs, Text, Unavailable};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{Content, Ref, Required};
use utoipa::{IntoParams, PartialSchema};

/// The content type of every log answer, and of its errors told as text.
const TEXT: &str = "text/plain; charset=utf-8";

/// One route of a log family: its path under the prefix says which boot (`/boots/{bootid}`),
/// which syslog identifier (`/identifiers/{identifier}`), whether it follows (`/follow`) and
/// whether it is the latest run only (`/latest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRoute {
    boot: bool,
    identifier: bool,
    follow: bool,
    latest: bool,
}

impl LogRoute {
    const fn new(boot: bool, identifier: bool, follow: bool, latest: bool) -> LogRoute {
        LogRoute { boot, identifier, follow, latest }
    }

    /// `/logs`.
    pub const LOGS: LogRoute = LogRoute::new(false, false, false, false);
    /// `/logs/follow`.
    pub const FOLLOW: LogRoute = LogRoute::new(false, false, true, false);
    /// `/logs/latest`.
    pub const LATEST: LogRoute = LogRoute::new(false, false, false, true);
    /// `/logs/boots/{bootid}`.
    pub const BOOT: LogRoute = LogRoute::new(true, false, false, false);
    /// `/logs/boots/{bootid}/follow`.
    pub const BOOT_FOLLOW: LogRoute = LogRoute::new(true, false, true, false);
    /// `/logs/identifiers/{identifier}`.
    pub const IDENTIFIER: LogRoute = LogRoute::new(false, true, false, false);
    /// `/logs/identifiers/{identifier}/follow`.
    pub const IDENTIFIER_FOLLOW: LogRoute = LogRoute::new(false, true, true, false);
    /// `/logs/boots/{bootid}/identifiers/{identifier}`.
    pub const BOOT_IDENTIFIER: LogRoute = LogRoute::new(true, true, false, false);
    /// `/logs/boots/{bootid}/identifiers/{identifier}/follow`.
    pub const BOOT_IDENTIFIER_FOLLOW: LogRoute = LogRoute::new(true, true, true, false);

    /// The routes the real Supervisor registers for every log (`_register_advanced_logs`).
    pub const STANDARD: &'static [LogRoute] =
        &[LogRoute::LOGS, LogRoute::FOLLOW, LogRoute::LATEST, LogRoute::BOOT, LogRoute::BOOT_FOLLOW];

    /// The route's path under the family's prefix: `/logs`, `/logs/boots/{bootid}/follow`, ...
    pub fn path(&self) -> String {
        let mut path = "/logs".to_owned();
        if self.latest {
            path.push_str("/latest");
        }
        if self.boot {
            path.push_str("/boots/{bootid}");
        }
        if self.identifier {
            path.push_str("/identifiers/{identifier}");
        }
        if self.follow {
            path.push_str("/follow");
        }
        path
    }

    /// What the route's operation id adds to `<name>_logs`: `_latest`, `_boot_identifier_follow`.
    fn suffix(&self) -> String {
        let parts = [
            (self.latest, "_latest"),
            (self.boot, "_boot"),
            (self.identifier, "_identifier"),
            (self.follow, "_follow"),
        ];
        parts.iter().filter(|(on, _)| *on).map(|(_, part)| *part).collect()
    }

    /// The same route without following.
    fn unfollowed(self) -> LogRoute {
        LogRoute { follow: false, ..self }
    }
}

/// An error a log family answers besides the guard's 401 and 403, for its documentation.
#[derive(Debug, Clone, Copy)]
pub struct LogError {
    pub status: u16,
    /// When, for the reader of the document.
    pub when: &'static str,
    /// Also in the JSON error envelope (some answers are text, like the journal's, and some the
    /// envelope, like the supervisor's own log files').
    pub envelope: bool,
}

/// How a log family is documented; each operation's summary is made from the route.
#[derive(Debug, Clone, Copy)]
pub struct LogDocs {
    /// The OpenAPI tag of the operations.
    pub tag: &'static str,
    /// The stem of the operation ids: `supervisor` names `supervisor_logs`,
    /// `supervisor_logs_follow`, `supervisor_logs_boot`, ...
    pub name: &'static str,
    /// Whose log, to begin a sentence: "The supervisor's", "The add-on's".
    pub whose: &'static str,
    /// Where the entries come from and how the source reads a request: every operation's
    /// description.
    pub about: &'static str,
    /// The errors it answers besides the guard's.
    pub errors: &'static [LogError],
}

/// A log served by a family of `.../logs` routes ([`GroupRoutes::logs`]).
pub trait LogSource: 'static {
    /// The manager it reads the log through, from the application's data (as `web::Data`).
    type Manager: 'static;

    fn docs(&self) -> LogDocs;

    /// Its routes under `.../logs`.
    fn routes(&self) -> &'static [LogRoute] {
        LogRoute::STANDARD
    }

    /// The answer to one request of the family: the log as text, or an error.
    fn answer(
        &self,
        manager: &Self::Manager,
        request: LogRequest,
    ) -> impl Future<Output = actix_web::Result<HttpResponse>>;
}

/// One request to a log family: the route it came by, its path parameters, and the client's
/// request itself.
pub struct LogRequest {
    req: HttpRequest,
    route: LogRoute,
    /// Every path parameter, decoded as `web::Path` decodes them.
    params: HashMap<String, String>,
}

/// The query a log request may carry, as far as it is a number.
#[derive(Deserialize, IntoParams)]
struct LogQuery {
    /// How many of the last lines to answer (default 100).
    lines: Option<usize>,
}

impl LogRequest {
    /// The client's request.
    pub fn http(&self) -> &HttpRequest {
        &self.req
    }

    /// A path parameter of the family's prefix (`addon` of `/{addon}`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The `{bootid}` of a boot's route: an offset or a boot id, as the client wrote it.
    pub fn boot(&self) -> Option<&str> {
        self.route.boot.then(|| self.param("bootid")).flatten()
    }

    /// The `{identifier}` of an identifier's route.
    pub fn identifier(&self) -> Option<&str> {
        self.route.identifier.then(|| self.param("identifier")).flatten()
    }

    pub fn follow(&self) -> bool {
        self.route.follow
    }

    pub fn latest(&self) -> bool {
        self.route.latest
    }

    /// `?lines=N` as a number, for a log that is not the journal's (which reads `lines` itself,
    /// leniently); not a whole number is refused as actix's query extractor refuses it (400,
    /// as text).
    pub fn lines(&self) -> actix_web::Result<Option<usize>> {
        Ok(web::Query::<LogQuery>::from_query(self.req.query_string())?.lines)
    }

    /// The `Range` header, if any; not text is refused ("Invalid Range header").
    pub fn range(&self) -> Result<Option<&str>, base::Error> {
        let range = self.req.headers().get(header::RANGE);
        range.map(|r| r.to_str().map_err(|_| base::Error::invalid("Invalid Range header"))).transpose()
    }

    /// `logs` with the route's boot, follow and latest.
    pub fn select(&self, logs: Logs) -> Logs {
        let logs = match self.boot() {
            Some(bootid) => logs.boot(bootid),
            None => logs,
        };
        let logs = if self.latest() { logs.latest() } else { logs };
        logs.follow(self.follow())
    }

    /// The journal's answer to the request for `logs`; see [`respond`].
    pub async fn journal(&self, gateway: &Gateway, logs: &Logs) -> Result<HttpResponse, Unavailable> {
        respond(gateway, &self.req, logs).await
    }
}

/// Answers a log request from the journal: `200 text/plain` streaming one line per entry
/// (`X-First-Cursor` naming the first, nothing when none is selected), or the message of a
/// wrong request as text (400); `Err` only when the journal cannot answer, for the endpoint to
/// fall back or to answer [`unavailable`].
pub async fn respond(gateway: &Gateway, req: &HttpRequest, logs: &Logs) -> Result<HttpResponse, Unavailable> {
    let query = web::Query::<Vec<(String, String)>>::from_query(req.query_string()).map(|q| q.into_inner());
    let query = query.unwrap_or_default();
    let request = journal::Request {
        query: &query,
        accept: request_header(req, header::ACCEPT),
        range: request_header(req, header::RANGE),
    };
    let text = match gateway.entries(&request, logs).await {
        Ok(text) => text,
        Err(JournalError::Unavailable(unavailable)) => return Err(unavailable),
        Err(JournalError::Failed(message)) => return Ok(text_error(ApiError::bad_request(message))),
    };
    let mut response = HttpResponse::Ok();
    response.content_type(TEXT).insert_header(("X-Accel-Buffering", "no"));
    Ok(match text {
        Text::Empty => response.finish(),
        Text::Lines { first_cursor, lines } => {
            if let Some(cursor) = first_cursor {
                response.insert_header(("X-First-Cursor", cursor));
            }
            response.streaming(futures_util::StreamExt::map(lines, Ok::<_, std::convert::Infallible>))
        }
    })
}

/// The engine's log of a container: its stdout and stderr as written, the last lines asked for
/// (`None`: all), then, when following, every new line.
pub type ContainerLog = BoxStream<'static, Result<Bytes, base::Error>>;

impl LogRequest {
    /// The answer from the engine's log of a container, what a container's log family falls
    /// back to without a journal: boot `0` (the current container) is the only one, `Range`
    /// selects among all its lines like the journal's, and following ignores it. `open` asks the
    /// engine for the last `tail` lines (`None`: all), following or not.
    pub async fn container_log(
        &self,
        open: impl FnOnce(Option<usize>, bool) -> Result<ContainerLog, base::Error>,
    ) -> actix_web::Result<HttpResponse> {
        let lines = self.lines()?;
        if let Some(bootid) = self.boot() {
            if bootid.parse::<i64>().ok() != Some(0) {
                return Ok(text_error(ApiError::bad_request(format!("Logs not found for boot {bootid}"))));
            }
        }
        let follow = self.follow();
        // All of the latest run; else the last lines, as the journal answers.
        let tail = if self.latest() { lines } else { Some(lines.unwrap_or(base::logs::DEFAULT_LINES)) };
        let range = match self.range() {
            Ok(Some(range)) if !follow => Selection::parse_range(range).map(Some),
            Err(e) if !follow => Err(e),
            _ => Ok(None),
        };
        let tail = match (&range, tail) {
            (Ok(None), Some(lines)) => Some(lines),
            _ => None,
        };
        let log = match open(tail, follow) {
            Ok(log) => log,
            Err(e) => return Ok(text_error(e)),
        };
        let range = match range {
            Ok(range) => range,
            Err(e) => return Ok(text_error(e)),
        };
        let response = || HttpResponse::Ok().content_type(TEXT).take();
        if follow {
            return Ok(response()
                .streaming(log.map(|chunk| chunk.map_err(|e| actix_web::error::ErrorInternalServerError(e.message)))));
        }
        let mut body = Vec::new();
        for chunk in log.collect::<Vec<_>>().await {
            match chunk {
                Ok(bytes) => body.extend_from_slice(&bytes),
                Err(e) => return Ok(text_error(base::Error::internal(format!("can't read logs: {}", e.message)))),
            }
        }
        Ok(match range {
            Some(selection) => response().body(selection.select(&String::from_utf8_lossy(&body))),
            None => response().body(body),
        })
    }
}

/// The answer when the journal cannot answer and there is nothing to fall back to: the real
/// Supervisor's 400, as text.
pub fn unavailable(unavailable: &Unavailable) -> HttpResponse {
    text_error(ApiError::bad_request(unavailable.to_string()))
}

/// An error as the log endpoints answer errors: its status, the message as text.
pub fn text_error(error: impl Into<ApiError>) -> HttpResponse {
    let error = error.into();
    HttpResponse::build(error.status).content_type(TEXT).body(error.error.message)
}

fn request_header(req: &HttpRequest, name: HeaderName) -> Header<'_> {
    match req.headers().get(name) {
        None => Header::Absent,
        Some(value) => value.to_str().map_or(Header::Invalid, Header::Text),
    }
}

impl GroupRoutes<'_> {
    /// Declares the log family of `source` under `prefix` (`""`, or path segments such as
    /// `/{addon}`): each of its routes, mounted, documented and guarded by `rule`. An add-on's
    /// own-call grant (`rule.or_own()`) covers `.../logs` alone: the real Supervisor lets an
    /// add-on call one-segment paths on itself (`/addons/self/logs`), not the routes below them.
    pub fn logs<S: LogSource>(&mut self, prefix: &'static str, rule: Rule, source: S) -> &mut Self {
        assert!(prefix.is_empty() || (prefix.starts_with('/') && !prefix.ends_with('/')), "log prefix {prefix:?}");
        let docs = source.docs();
        let routes = source.routes();
        let source = Rc::new(source);
        for &route in routes {
            let relative = format!("{prefix}{}", route.path());
            let rule = if route == LogRoute::LOGS { rule } else { Rule { own: false, ..rule } };
            let operation = operation(&docs, &format!("{}{prefix}", self.prefix()), route);
            let name = operation.operation_id.clone().unwrap_or_default();
            self.declare(relative.clone(), vec![HttpMethod::Get], rule, operation, Vec::new());
            let source = Rc::clone(&source);
            self.register(Box::new(move |cfg| {
                let handler = move |req: HttpRequest| {
                    let source = Rc::clone(&source);
                    async move { serve(&*source, req, route).await }
                };
                // As `#[get(...)]` mounts a handler: another method matches no route here.
                cfg.service(web::resource(relative).name(&name).guard(guard::Get()).to(handler));
            }));
        }
        self
    }
}

/// One request of a family, handed to its source.
async fn serve<S: LogSource>(source: &S, req: HttpRequest, route: LogRoute) -> actix_web::Result<HttpResponse> {
    let manager = web::Data::<S::Manager>::extract(&req).await?;
    // Not a failure for strings; `web::Path` would answer 404.
    let params = req.match_info().load::<Params>().map_err(actix_web::error::ErrorNotFound)?.0;
    source.answer(&manager, LogRequest { req, route, params }).await
}

/// Every path parameter by name, each value decoded as `web::Path` decodes it (actix's path
/// deserializer reads names as identifiers only, so not as a plain map of strings).
struct Params(HashMap<String, String>);

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Params, D::Error> {
        struct Name(String);

        impl<'de> Deserialize<'de> for Name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Name, D::Error> {
                deserializer.deserialize_identifier(NameVisitor)
            }
        }

        struct NameVisitor;

        impl Visitor<'_> for NameVisitor {
            type Value = Name;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a path parameter's name")
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Name, E> {
                Ok(Name(name.to_owned()))
            }
        }

        struct ParamsVisitor;

        impl<'de> Visitor<'de> for ParamsVisitor {
            type Value = Params;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("path parameters")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params, A::Error> {
                let mut params = HashMap::new();
                while let Some(Name(name)) = map.next_key()? {
                    params.insert(name, map.next_value()?);
                }
                Ok(Params(params))
            }
        }

        deserializer.deserialize_map(ParamsVisitor)
    }
}

/// The OpenAPI operation of `route` in the family documented by `docs`, whose full prefix
/// (the group's and the family's) is `prefix`.
fn operation(docs: &LogDocs, prefix: &str, route: LogRoute) -> Operation {
    let like = |route: LogRoute| format!("Like `{prefix}{}`, then every new entry as it is written.", route.path());
    let whose = docs.whose;
    let summary = match route {
        _ if route.follow => like(route.unfollowed()),
        LogRoute::LATEST => {
            format!("{whose} log since it last started, all of it (`lines` limits it; `Range` is ignored).")
        }
        LogRoute::BOOT => {
            format!(
                "{whose} log of one boot: an offset (`0` this boot, `-1` the one before, `1` the oldest) or a boot id."
            )
        }
        LogRoute::IDENTIFIER => "The entries of one syslog identifier.".to_owned(),
        LogRoute::BOOT_IDENTIFIER => "The entries of one syslog identifier in one boot.".to_owned(),
        _ => format!("{whose} log: the last 100 entries, or those `lines` or a `Range: entries=...` header selects."),
    };
    let mut operation = OperationBuilder::new()
        .tag(docs.tag)
        .summary(Some(summary))
        .description(Some(docs.about))
        .operation_id(Some(format!("{}_logs{}", docs.name, route.suffix())));
    let path = format!("{prefix}{}", route.path());
    let names = path.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'));
    for name in names {
        let parameter = ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .schema(Some(String::schema()));
        operation = operation.parameter(parameter);
    }
    operation = operation.parameters(Some(LogQuery::into_params(|| Some(ParameterIn::Query))));
    let text = || Content::new(Some(String::schema()));
    let lines = ResponseBuilder::new().description("The log, one line per entry").content("text/plain", text());
    operation = operation.response("200", lines.build());
    for error in docs.errors {
        let mut response = ResponseBuilder::new().description(error.when).content("text/plain", text());
        if error.envelope {
            response = response.content("application/json", Content::new(Some(Ref::from_schema_name("ErrorEnvelope"))));
        }
        operation = operation.response(error.status.to_string(), response.build());
    }
    operation.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{Routes, MANAGER};
    use actix_web::body::to_bytes;
    use actix_web::http::header::HeaderMap;
    use actix_web::test::{call_service, init_service, TestRequest};
    use actix_web::App;
    use journal::testing::{Entry, TestJournal};

    /// Says which route a request came by and what it asked.
    struct Echo;

    /// The test's manager: a journal.
    struct Manager {
        gateway: Gateway,
    }

    const DOCS: LogDocs = LogDocs {
        tag: "test",
        name: "test",
        whose: "The test's",
        about: "A test.",
        errors: &[LogError { status: 400, when: "A wrong request", envelope: true }],
    };

    impl LogSource for Echo {
        type Manager = Manager;

        fn docs(&self) -> LogDocs {
            DOCS
        }

        async fn answer(&self, _: &Manager, request: LogRequest) -> actix_web::Result<HttpResponse> {
            let lines = request.lines()?;
            let thing = request.param("thing").unwrap_or_default();
            let (boot, identifier) = (request.boot(), request.identifier());
            let (follow, latest) = (request.follow(), request.latest());
            let range = request.range().map_err(ApiError::from)?;
            let echo = format!("{thing} {boot:?} {identifier:?} {follow} {latest} {lines:?} {range:?}");
            Ok(HttpResponse::Ok().body(echo))
        }
    }

    /// The journal's entries of two identifiers, or of the one in the path.
    struct JournalLogs;

    impl LogSource for JournalLogs {
        type Manager = Manager;

        fn docs(&self) -> LogDocs {
            DOCS
        }

        fn routes(&self) -> &'static [LogRoute] {
            &[LogRoute::LOGS, LogRoute::FOLLOW, LogRoute::IDENTIFIER, LogRoute::BOOT_IDENTIFIER]
        }

        async fn answer(&self, manager: &Manager, request: LogRequest) -> actix_web::Result<HttpResponse> {
            let logs = match request.identifier() {
                Some(identifier) => Logs::identifiers([identifier]),
                None => Logs::identifiers(["kernel", "myapp"]),
            };
            Ok(request.journal(&manager.gateway, &request.select(logs)).await.unwrap_or_else(|u| unavailable(&u)))
        }
    }

    fn declare(routes: &mut Routes) {
        routes.group("/echo").logs("/{thing}", MANAGER.or_own(), Echo);
        routes.group("").logs("", MANAGER, JournalLogs);
    }

    #[test]
    fn a_family_is_declared_documented_and_guarded() {
        let mut routes = Routes::new();
        declare(&mut routes);
        let declared: Vec<_> = routes.operations().iter().map(|o| (o.path.as_str(), o.rule.own)).collect();
        assert_eq!(
            declared,
            [
                ("/echo/{thing}/logs", true),
                ("/echo/{thing}/logs/follow", false),
                ("/echo/{thing}/logs/latest", false),
                ("/echo/{thing}/logs/boots/{bootid}", false),
                ("/echo/{thing}/logs/boots/{bootid}/follow", false),
                ("/logs", false),
                ("/logs/follow", false),
                ("/logs/identifiers/{identifier}", false),
                ("/logs/boots/{bootid}/identifiers/{identifier}", false),
            ]
        );
        assert!(routes
            .operations()
            .iter()
            .all(|o| o.method == actix_web::http::Method::GET && o.rule.access == MANAGER.access));

        let document = routes.openapi().unwrap_or_else(|collisions| panic!("{collisions:?}"));
        let paths = serde_json::to_value(&document.paths).unwrap();
        let follow = &paths["/echo/{thing}/logs/boots/{bootid}/follow"]["get"];
        assert_eq!(follow["operationId"], "test_logs_boot_follow");
        assert_eq!(
            follow["summary"],
            "Like `/echo/{thing}/logs/boots/{bootid}`, then every new entry as it is written."
        );
        assert_eq!(follow["description"], "A test.");
        assert_eq!(follow["tags"], serde_json::json!(["test"]));
        let names: Vec<_> =
            follow["parameters"].as_array().unwrap().iter().map(|p| (p["name"].clone(), p["in"].clone())).collect();
        assert_eq!(
            names,
            [("thing".into(), "path".into()), ("bootid".into(), "path".into()), ("lines".into(), "query".into())]
        );
        let ok = &follow["responses"]["200"]["content"];
        assert_eq!(ok["text/plain"]["schema"]["type"], "string");
        let wrong = &follow["responses"]["400"]["content"];
        assert_eq!(wrong["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorEnvelope");
        assert!(wrong.get("text/plain").is_some() && follow["responses"].get("401").is_some());
        assert_eq!(
            paths["/logs/boots/{bootid}/identifiers/{identifier}"]["get"]["operationId"],
            "test_logs_boot_identifier"
        );
        assert_eq!(paths["/echo/{thing}/logs/latest"]["get"]["operationId"], "test_logs_latest");
    }

    async fn call(gateway: &str, request: TestRequest) -> (u16, HeaderMap, String) {
        let manager = Manager { gateway: Gateway::new(gateway).unwrap() };
        let app = init_service(App::new().app_data(web::Data::new(manager)).configure(Routes::of(declare))).await;
        let response = call_service(&app, request.to_request()).await;
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let body = to_bytes(response.into_body()).await.unwrap_or_default();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    async fn get(gateway: &str, uri: &str, headers: &[(&str, &str)]) -> (u16, HeaderMap, String) {
        let request =
            headers.iter().fold(TestRequest::get().uri(uri), |request, &header| request.insert_header(header));
        call(gateway, request).await
    }

    const NO_JOURNAL: &str = "unix:/nonexistent/gatewayd.sock";

    #[actix_web::test]
    async fn a_request_names_its_route_and_parameters() {
        let echo = |uri: &'static str| async move { get(NO_JOURNAL, uri, &[("Range", "entries=:-1:2")]).await.2 };
        let range = "Some(\"entries=:-1:2\")";
        assert_eq!(echo("/echo/a/logs").await, format!("a None None false false None {range}"));
        assert_eq!(echo("/echo/a%20b/logs/follow?lines=3").await, format!("a b None None true false Some(3) {range}"));
        assert_eq!(echo("/echo/a/logs/latest").await, format!("a None None false true None {range}"));
        assert_eq!(echo("/echo/a/logs/boots/-1").await, format!("a Some(\"-1\") None false false None {range}"));
        assert_eq!(echo("/echo/a/logs/boots/0/follow").await, format!("a Some(\"0\") None true false None {range}"));

        // `lines` as the query extractor reads a number; a Range that is not text.
        let (status, headers, body) = get(NO_JOURNAL, "/echo/a/logs?lines=many", &[]).await;
        assert_eq!((status, body.as_str()), (400, "Query deserialize error: invalid digit found in string"));
        assert_eq!(headers.get("content-type").unwrap(), "text/plain; charset=utf-8");
        let not_text = TestRequest::get()
            .uri("/echo/a/logs")
            .insert_header((header::RANGE, header::HeaderValue::from_bytes(b"entries=\xff").unwrap()));
        let (status, _, body) = call(NO_JOURNAL, not_text).await;
        assert_eq!((status, body.as_str()), (400, r#"{"result":"error","message":"Invalid Range header"}"#));

        // Only GET, as `#[get]` mounts: another method matches no route.
        let (status, _, _) = call(NO_JOURNAL, TestRequest::post().uri("/echo/a/logs")).await;
        assert_eq!(status, 404);
        let (status, _, _) = call(NO_JOURNAL, TestRequest::get().uri("/echo/a/logs/identifiers/x")).await;
        assert_eq!(status, 404);
    }

    const BOOT_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const BOOT_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const T0: u64 = 1_700_000_000_000_000;

    #[actix_web::test]
    async fn the_journal_answers_as_text() {
        let mut journal = TestJournal::serve(&[
            Entry::log(BOOT_A, T0, "kernel", "a kernel"),
            Entry::log(BOOT_A, T0 + 1, "myapp", "a myapp"),
            Entry::log(BOOT_B, T0 + 2, "kernel", "b kernel"),
            Entry::log(BOOT_B, T0 + 3, "myapp", "b myapp"),
        ])
        .unwrap();
        let gateway = journal.address().to_owned();

        let (status, headers, body) = get(&gateway, "/logs?lines=3", &[]).await;
        assert_eq!((status, body.as_str()), (200, "a myapp\nb kernel\nb myapp\n"));
        assert_eq!(headers.get("content-type").unwrap(), "text/plain; charset=utf-8");
        assert_eq!(headers.get("X-Accel-Buffering").unwrap(), "no");
        assert!(headers.get("X-First-Cursor").unwrap().to_str().unwrap().starts_with("s="));
        let (_, _, body) = get(&gateway, "/logs/identifiers/myapp", &[("Accept", "text/x-log")]).await;
        assert!(body.lines().all(|line| line.contains("testhost myapp: ")), "{body}");
        let (_, _, body) = get(&gateway, &format!("/logs/boots/{BOOT_A}/identifiers/kernel"), &[]).await;
        assert_eq!(body, "a kernel\n");

        // Nothing selected: an empty answer without a cursor.
        let (status, headers, body) = get(&gateway, "/logs/identifiers/nobody", &[]).await;
        assert_eq!((status, body.as_str(), headers.get("X-First-Cursor")), (200, "", None));
        assert_eq!(headers.get("content-type").unwrap(), "text/plain; charset=utf-8");

        // A wrong request: 400, the message as text.
        let (status, headers, body) = get(&gateway, "/logs", &[("Accept", "application/json")]).await;
        let invalid = "Invalid content type requested. Only text/plain and text/x-log supported for now.";
        assert_eq!((status, body.as_str()), (400, invalid));
        assert_eq!(headers.get("content-type").unwrap(), "text/plain; charset=utf-8");
        let (status, _, body) = get(&gateway, "/logs", &[("Range", "entries=a:b:")]).await;
        assert_eq!((status, body.as_str()), (400, "Invalid range header: entries=a:b:"));

        // No journal: the source's fallback, here its 400 as text.
        journal.stop();
        let (status, headers, body) = get(&gateway, "/logs", &[]).await;
        assert_eq!((status, body.as_str()), (400, "Unable to connect to systemd-journal-gatewayd"));
        assert_eq!(headers.get("content-type").unwrap(), "text/plain; charset=utf-8");
        let (status, _, body) = get(NO_JOURNAL, "/logs/follow", &[]).await;
        assert_eq!((status, body.as_str()), (400, "No systemd-journal-gatewayd Unix socket available"));
    }
}
