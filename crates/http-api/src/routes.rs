//! The route table: each route is declared once, by one line in its crate's `routes` function that
//! names the handler and who may call it. From that one line come the actix route (mounted in one
//! `web::scope` per group, so matching is not linear over the whole API), the OpenAPI operation
//! (the handler's `#[utoipa::path]` plus the rule as its security requirement) and the rule the
//! request guard applies to the matched route.
//!
//! A handler's actix path is relative to its group (`#[get("/info")]` in the `/supervisor` group);
//! its full path is the group's prefix followed by it, which is what the guard, the OpenAPI
//! document and `openapi/access.tsv` show.

use crate::envelope::ErrorEnvelope;
use actix_web::dev::HttpServiceFactory;
use actix_web::http::Method;
use actix_web::web;
use base::Role;
use std::collections::{BTreeMap, HashMap};
use utoipa::__dev::{SchemaReferences, Tags};
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::tag::Tag;
use utoipa::openapi::{Content, Paths, Ref, RefOr, SecurityRequirement};
use utoipa::PartialSchema;

/// Who may call a route besides Home Assistant Core (which may call every route) and the CLI
/// (every route but the Core-only ones); the real Supervisor's tables, one kind per table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed: the ping, the proxies that check their own credentials, static files.
    Open,
    /// Home Assistant Core only; not even the CLI.
    Core,
    /// Every add-on, with or without `hassio_api` (the real `ADDONS_API_BYPASS`); not the observer.
    Addons,
    /// An `/info` endpoint: every add-on with `hassio_api`, whatever its role, and the observer.
    Info,
    /// Add-ons with `hassio_api` whose role is one of these, and `admin` add-ons always.
    Roles(&'static [Role]),
}

/// What a route's handler demands of a caller the tables let through, as the real Supervisor's
/// handlers check it. The guard checks it, after the tables, so `openapi/access.tsv` states it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requires {
    /// Nothing more.
    Nothing,
    /// Home Assistant Core itself (the real `require_home_assistant`): anyone else gets the web
    /// framework's plain 401.
    Core,
    /// An add-on granted `auth_api`: anyone else gets a 403.
    AuthApi,
    /// An add-on granted `homeassistant_api` (the Core API proxy): anyone else, Core included,
    /// gets the plain 401.
    HomeassistantApi,
    /// A credential the handler reads itself rather than the token: the ingress session cookie,
    /// the websocket's `auth` message. No token alone gets a caller through.
    OwnCredential,
}

/// A value of one request parameter that only some callers may name, as a real handler checks it
/// (the backup location `.cloud_backup` is Core's alone). The guard refuses anyone else who names
/// it with a 403 and `message`, before the handler runs; other values pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    /// The query parameter (every occurrence), or the top-level key of the JSON body (a string,
    /// or a list holding it).
    pub parameter: &'static str,
    pub place: Place,
    pub value: &'static str,
    /// Who may name it.
    pub to: Requires,
    pub message: &'static str,
}

/// Where a [`Reserved`] parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Query,
    /// The JSON body, which the guard then reads (small bodies only: these are options).
    Body,
}

/// A route's access rule: its [`Access`], whether an add-on may call it on itself
/// (`/addons/self/...`) regardless of its role and `hassio_api`, as the real Supervisor lets it,
/// what the handler demands beyond that, and a parameter value reserved to some callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub access: Access,
    /// The `{addon}` of the path may be the caller itself (`self`), which then needs no grant.
    pub own: bool,
    pub requires: Requires,
    pub reserved: Option<Reserved>,
}

const fn rule(access: Access) -> Rule {
    Rule { access, own: false, requires: Requires::Nothing, reserved: None }
}

pub const OPEN: Rule = rule(Access::Open);
pub const CORE: Rule = rule(Access::Core);
pub const ADDONS: Rule = rule(Access::Addons);
pub const INFO: Rule = rule(Access::Info);
/// `manager` add-ons.
pub const MANAGER: Rule = rule(Access::Roles(&[Role::Manager]));
/// `backup` and `manager` add-ons.
pub const BACKUP: Rule = rule(Access::Roles(&[Role::Backup, Role::Manager]));
/// `homeassistant` and `manager` add-ons.
pub const HOMEASSISTANT: Rule = rule(Access::Roles(&[Role::Homeassistant, Role::Manager]));
/// `admin` add-ons only.
pub const ADMIN: Rule = rule(Access::Roles(&[]));

impl Rule {
    /// The same rule, and the add-on named by `{addon}` may call it on itself.
    pub const fn or_own(self) -> Rule {
        Rule { own: true, ..self }
    }

    /// The same rule, and the handler demands `requires` of the caller too.
    pub const fn requiring(self, requires: Requires) -> Rule {
        Rule { requires, ..self }
    }

    /// The same rule, and a value of a parameter only some callers may name.
    pub const fn reserving(self, reserved: Reserved) -> Rule {
        Rule { reserved: Some(reserved), ..self }
    }

    /// The rule as OpenAPI security scopes of the `bearer` scheme; `None` for a route that needs
    /// no token.
    pub fn scopes(&self) -> Option<Vec<&'static str>> {
        match self.requires {
            Requires::Nothing => {}
            Requires::Core => return Some(vec!["core"]),
            Requires::AuthApi => return Some(vec!["auth_api"]),
            Requires::HomeassistantApi => return Some(vec!["homeassistant_api"]),
            Requires::OwnCredential => return None,
        }
        let mut scopes = match self.access {
            Access::Open => return None,
            Access::Core => vec!["core"],
            Access::Addons => vec!["addons"],
            Access::Info => vec!["info"],
            Access::Roles([]) => vec!["admin"],
            Access::Roles(roles) => roles.iter().map(|role| role.as_str()).collect(),
        };
        if self.own {
            scopes.push("self");
        }
        Some(scopes)
    }
}

/// The content of a face's error answers and the schemas it names.
pub type ErrorContent = (Content, Vec<(String, RefOr<Schema>)>);

/// What the route table needs of the access rules of one face of the daemon: the HA API's
/// [`Rule`], or another face's own (the balena device API's API key). Each face keeps its own
/// guard; the table only carries the rule from the declaration to the guard and the document.
pub trait Guarded: Copy + 'static {
    /// The rule's security requirements in the OpenAPI document (any one of them suffices);
    /// `None` for a route that needs no credential.
    fn security(&self) -> Option<Vec<SecurityRequirement>>;
    /// The guard's refusals every route needing a credential documents: status and answer.
    fn refusals() -> Vec<(&'static str, RefOr<Response>)>;
    /// The content of an error answer its handler documents without one, and the schemas it
    /// names; `None` leaves such answers as the handler wrote them.
    fn error_content() -> Option<ErrorContent>;
}

impl Guarded for Rule {
    fn security(&self) -> Option<Vec<SecurityRequirement>> {
        self.scopes().map(|scopes| vec![SecurityRequirement::new("bearer", scopes)])
    }

    fn refusals() -> Vec<(&'static str, RefOr<Response>)> {
        vec![
            ("401", error_response("No token, or an unknown one")),
            ("403", error_response("The caller may not call this route")),
        ]
    }

    fn error_content() -> Option<ErrorContent> {
        Some((error_content(), vec![("ErrorEnvelope".to_owned(), ErrorEnvelope::schema())]))
    }
}

/// One declared operation: what the guard and the documents know of a route.
pub struct Declared<R = Rule> {
    pub method: Method,
    /// The full path template, `{name}` for a parameter.
    pub path: String,
    pub rule: R,
    operation: Operation,
    schemas: Vec<(String, RefOr<Schema>)>,
}

type Registration = Box<dyn FnOnce(&mut web::ServiceConfig)>;

/// The routes of one prefix, mounted as one `web::scope` (the root group directly on the app).
struct Group {
    prefix: &'static str,
    registrations: Vec<Registration>,
}

/// Collects every route of the API. The router builds one per worker to mount the routes, and one
/// once for the documents and the guard's rules; both come from the same `routes` functions.
pub struct Routes<R = Rule> {
    groups: Vec<Group>,
    operations: Vec<Declared<R>>,
    tags: Vec<Tag>,
}

impl<R> Default for Routes<R> {
    fn default() -> Self {
        Routes { groups: Vec::new(), operations: Vec::new(), tags: Vec::new() }
    }
}

/// Adds routes to one group of a [`Routes`]; see [`Routes::group`].
pub struct GroupRoutes<'a, R = Rule> {
    routes: &'a mut Routes<R>,
    index: usize,
}

impl Routes {
    /// The HA API's table; [`Routes::default`] makes another face's.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mounts what `declare` declares: an app of one crate's routes (its tests).
    pub fn of(declare: fn(&mut Routes)) -> impl FnOnce(&mut web::ServiceConfig) {
        move |cfg| {
            let mut routes = Routes::new();
            declare(&mut routes);
            routes.mount(cfg);
        }
    }
}

impl<R: Guarded> Routes<R> {
    /// The group of routes under `prefix` (`""` for the root). Crates may add to the same group:
    /// `/store/addons/...` is the add-ons crate's, the rest of `/store` the store's.
    pub fn group(&mut self, prefix: &'static str) -> GroupRoutes<'_, R> {
        assert!(prefix.is_empty() || (prefix.starts_with('/') && !prefix.ends_with('/')), "group prefix {prefix:?}");
        let index = match self.groups.iter().position(|g| g.prefix == prefix) {
            Some(index) => index,
            None => {
                self.groups.push(Group { prefix, registrations: Vec::new() });
                self.groups.len() - 1
            }
        };
        GroupRoutes { routes: self, index }
    }

    /// Names an OpenAPI tag and says what its operations are about.
    pub fn tag(&mut self, name: &str, description: &str) -> &mut Self {
        let mut tag = Tag::new(name);
        tag.description = Some(description.to_owned());
        self.tags.push(tag);
        self
    }

    /// Mounts every route: the root group on the app itself, every other group in its scope.
    pub fn mount(self, cfg: &mut web::ServiceConfig) {
        for group in self.groups {
            let registrations = group.registrations;
            let register = move |cfg: &mut web::ServiceConfig| registrations.into_iter().for_each(|r| r(cfg));
            if group.prefix.is_empty() {
                register(cfg);
            } else {
                cfg.service(web::scope(group.prefix).configure(register));
            }
        }
    }

    /// Every declared operation, in declaration order.
    pub fn operations(&self) -> &[Declared<R>] {
        &self.operations
    }

    /// The guard's view: the rule of each method and path template.
    pub fn rules(&self) -> RouteRules<R> {
        let mut rules: HashMap<String, Vec<(Method, R)>> = HashMap::new();
        for declared in &self.operations {
            rules.entry(declared.path.clone()).or_default().push((declared.method.clone(), declared.rule));
        }
        RouteRules { rules }
    }

    /// The whole document of a face: [`Routes::openapi`] made into [`Document::into_openapi`].
    /// A collision is a bug of the face's declarations, so it panics naming the schemas.
    pub fn document(
        &self,
        title: &str,
        description: &str,
        servers: &[(&str, &str)],
        schemes: Vec<(&str, utoipa::openapi::security::SecurityScheme)>,
    ) -> utoipa::openapi::OpenApi {
        let declared = self.openapi().unwrap_or_else(|collisions| {
            panic!("schemas declared with the same name but different shapes: {}", collisions.join(", "))
        });
        declared.into_openapi(title, description, servers, schemes)
    }

    /// The paths, schemas and tags of the OpenAPI document. Two schemas of the same name that
    /// differ are a collision: the document would describe one of them wrongly, so they are
    /// answered as an error naming them.
    pub fn openapi(&self) -> Result<Document, Vec<String>> {
        let mut paths = Paths::new();
        let mut schemas: BTreeMap<String, RefOr<Schema>> = BTreeMap::new();
        let mut collisions = Vec::new();
        let errors = R::error_content();
        for declared in &self.operations {
            let mut operation = declared.operation.clone();
            operation.security = Some(match declared.rule.security() {
                None => vec![SecurityRequirement::default()],
                Some(requirements) => {
                    // The guard's answers belong to every route it guards.
                    for (status, refusal) in R::refusals() {
                        operation.responses.responses.entry(status.to_owned()).or_insert(refusal);
                    }
                    requirements
                }
            });
            for (status, response) in operation.responses.responses.iter_mut() {
                let RefOr::T(response) = response else { continue };
                // Every answer has a description (OpenAPI requires one): its status's reason
                // where the handler gives none.
                if response.description.is_empty() {
                    response.description = status_reason(status);
                }
                // Every error is the face's error answer unless the handler says otherwise
                // (logs answer text).
                if let Some((content, _)) = &errors {
                    if matches!(status.chars().next(), Some('4' | '5')) && response.content.is_empty() {
                        response.content.insert("application/json".to_owned(), content.clone());
                    }
                }
            }
            paths.add_path_operation(&declared.path, vec![http_method(&declared.method)], operation);
            for (name, schema) in &declared.schemas {
                match schemas.get(name) {
                    Some(known) if json(known) != json(schema) => {
                        collisions.push(format!("{name} (at {} {})", declared.method, declared.path))
                    }
                    Some(_) => {}
                    None => {
                        schemas.insert(name.clone(), schema.clone());
                    }
                }
            }
        }
        for (name, schema) in errors.into_iter().flat_map(|(_, schemas)| schemas) {
            schemas.entry(name).or_insert(schema);
        }
        if !collisions.is_empty() {
            return Err(collisions);
        }
        Ok(Document { paths, schemas, tags: self.tags.clone() })
    }
}

/// What [`Routes::openapi`] answers, for the router to put in the document.
pub struct Document {
    pub paths: Paths,
    pub schemas: BTreeMap<String, RefOr<Schema>>,
    pub tags: Vec<Tag>,
}

impl Document {
    /// The OpenAPI document of one face of the daemon (the Supervisor API, the balena device
    /// API): these paths, schemas and tags, its title and description, the servers it is
    /// reached at (URL and who reaches it there), and the security schemes its guard reads.
    pub fn into_openapi(
        self,
        title: &str,
        description: &str,
        servers: &[(&str, &str)],
        schemes: Vec<(&str, utoipa::openapi::security::SecurityScheme)>,
    ) -> utoipa::openapi::OpenApi {
        let mut components = utoipa::openapi::Components::new();
        components.schemas = self.schemas;
        for (name, scheme) in schemes {
            components.add_security_scheme(name, scheme);
        }
        let info = utoipa::openapi::InfoBuilder::new()
            .title(title)
            .version(base::SUPERVISOR_VERSION)
            .description(Some(description))
            .build();
        let mut document = utoipa::openapi::OpenApi::new(info, self.paths);
        document.components = Some(components);
        document.tags = Some(self.tags);
        document.servers = Some(
            servers
                .iter()
                .map(|(url, who)| {
                    utoipa::openapi::server::ServerBuilder::new().url(*url).description(Some(*who)).build()
                })
                .collect(),
        );
        document
    }
}

/// The reason phrase of an HTTP status given as text (`"404"`: `Not Found`).
fn status_reason(status: &str) -> String {
    let code = status.parse().ok().and_then(|code| actix_web::http::StatusCode::from_u16(code).ok());
    code.and_then(|code| code.canonical_reason()).unwrap_or("Answer").to_owned()
}

/// An error answer in the envelope.
fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new().description(description).content("application/json", error_content()).build().into()
}

fn error_content() -> Content {
    Content::new(Some(Ref::from_schema_name("ErrorEnvelope")))
}

fn json(schema: &RefOr<Schema>) -> serde_json::Value {
    serde_json::to_value(schema).unwrap_or_default()
}

impl<R: Guarded> GroupRoutes<'_, R> {
    /// Declares the route `handler` serves (its `#[utoipa::path]` and actix attribute) and who may
    /// call it.
    pub fn route<H>(&mut self, rule: R, handler: H) -> &mut Self
    where
        H: HttpServiceFactory + utoipa::Path + SchemaReferences + for<'t> Tags<'t> + 'static,
    {
        let mut schemas = Vec::new();
        H::schemas(&mut schemas);
        let mut operation = H::operation();
        operation.tags = Some(H::tags().into_iter().map(str::to_owned).collect());
        self.declare(H::path(), H::methods(), rule, operation, schemas);
        self.register(Box::new(move |cfg| {
            cfg.service(handler);
        }))
    }

    /// Declares an operation whose service [`GroupRoutes::register`] mounts separately (a family
    /// of routes generated from one declaration).
    pub(crate) fn declare(
        &mut self,
        relative: String,
        methods: Vec<HttpMethod>,
        rule: R,
        operation: Operation,
        schemas: Vec<(String, RefOr<Schema>)>,
    ) {
        let path = format!("{}{relative}", self.prefix());
        for method in methods {
            let method = actix_method(&method);
            let known = self.routes.operations.iter().any(|o| o.method == method && o.path == path);
            assert!(!known, "{method} {path} is declared twice");
            self.routes.operations.push(Declared {
                method,
                path: path.clone(),
                rule,
                operation: operation.clone(),
                schemas: schemas.clone(),
            });
        }
    }

    /// The group's prefix (`""` for the root).
    pub(crate) fn prefix(&self) -> &'static str {
        self.routes.groups[self.index].prefix
    }

    pub(crate) fn register(&mut self, registration: Registration) -> &mut Self {
        self.routes.groups[self.index].registrations.push(registration);
        self
    }
}

/// The rule of every declared route, by method and path template, for the request guard.
pub struct RouteRules<R = Rule> {
    /// By path template, then method: looked up at every request without building a key.
    rules: HashMap<String, Vec<(Method, R)>>,
}

impl<R: Copy> RouteRules<R> {
    /// The rule of the route `pattern` (as actix's `match_pattern` gives it) for `method`.
    pub fn rule(&self, method: &Method, pattern: &str) -> Option<R> {
        let rules = match self.rules.get(pattern) {
            Some(rules) => rules,
            // A parameter with its own pattern (`{path:.*}`) is documented by its name alone.
            None if pattern.contains(':') => self.rules.get(&without_parameter_patterns(pattern))?,
            None => return None,
        };
        rules.iter().find(|(declared, _)| declared == method).map(|(_, rule)| *rule)
    }
}

/// `/api/{path:.*}` as `/api/{path}`.
fn without_parameter_patterns(pattern: &str) -> String {
    let mut plain = String::with_capacity(pattern.len());
    let mut skipping = false;
    for c in pattern.chars() {
        match c {
            ':' if plain.ends_with(|c: char| c.is_alphanumeric() || c == '_') && plain.contains('{') => {
                skipping = !plain.rsplit('{').next().unwrap_or_default().contains('}');
                if !skipping {
                    plain.push(c);
                }
            }
            '}' if skipping => {
                skipping = false;
                plain.push(c);
            }
            _ if skipping => {}
            _ => plain.push(c),
        }
    }
    plain
}

fn actix_method(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

fn http_method(method: &Method) -> HttpMethod {
    match *method {
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::DELETE => HttpMethod::Delete,
        Method::OPTIONS => HttpMethod::Options,
        Method::HEAD => HttpMethod::Head,
        Method::PATCH => HttpMethod::Patch,
        Method::TRACE => HttpMethod::Trace,
        _ => HttpMethod::Get,
    }
}

/// The value of the `{name}` parameter in `path` when it matched `pattern` (segment by segment:
/// the API's parameters are whole segments).
pub fn path_parameter<'p>(pattern: &str, path: &'p str, name: &str) -> Option<&'p str> {
    let wanted = format!("{{{name}}}");
    let index = pattern.split('/').position(|segment| segment == wanted)?;
    path.split('/').nth(index)
}

#[cfg(test)]
mod tests {
    use super::without_parameter_patterns;

    #[test]
    fn parameter_patterns_are_dropped() {
        assert_eq!(without_parameter_patterns("/core/api/{path:.*}"), "/core/api/{path}");
        assert_eq!(without_parameter_patterns("/ingress/{token}/{path:.*}"), "/ingress/{token}/{path}");
        assert_eq!(without_parameter_patterns("/a:b/{x}"), "/a:b/{x}");
    }
}
