//! The routing benchmark of `cargo xtask bench`, the part `routing`, printed on one
//! `bench routing:` line. It measures actix alone, not the daemon: two apps with the same 300
//! routes, shaped like the API's (25 groups such as `/addons`, `/backups`, `/host`, `/store` of 12
//! routes each, literal and `{param}` segments, GET, POST and DELETE), one registering every route
//! flat at the root as the router did, one mounting each group under its own `web::scope`. actix
//! tries an app's routes (and, for `match_pattern`, its resource map) in registration order, so in
//! the flat app a route of the last group is found after nearly 300 others; in the scoped app after
//! 24 scope prefixes and its group's first routes.
//!
//! Both apps are served over real HTTP on loopback with the daemon's server settings and a
//! `from_fn` middleware that looks the matched route's pattern up (`match_pattern`), as the access
//! guard does, and answers 404 when there is none. The same route of the first group and of the
//! last group (`/info`, the 7th route of its group: the 7th and the 295th of the flat app) is loaded in
//! each app, the four in alternating rounds, with the load generator of `supervisor_info`. The line
//! gives the four figures, the ratio last/first of each app (1 when the position does not matter)
//! and scoped/flat for the last group.

use crate::bench::{compare, Connection, LocalServer, CONNECTIONS, ROUND, ROUNDS, SERVER_WORKERS};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, App, HttpResponse};
use anyhow::Context;
use std::net::SocketAddr;

/// The groups, in registration order: a route of the first and of the last is measured.
const GROUPS: [&str; 25] = [
    "supervisor",
    "addons",
    "store",
    "backups",
    "jobs",
    "docker",
    "security",
    "os",
    "network",
    "hardware",
    "core",
    "homeassistant",
    "audio",
    "cli",
    "dns",
    "multicast",
    "observer",
    "auth",
    "discovery",
    "services",
    "ingress",
    "mounts",
    "resolution",
    // The balena device API's.
    "v2",
    "host",
];

/// The routes of every group, in registration order, under the group's prefix: literal routes
/// first, so that none is shadowed by a `{param}` route of the same shape.
const ROUTES: [(Method, &str); 12] = [
    (Method::Get, ""),
    (Method::Post, "/reload"),
    (Method::Post, "/options"),
    (Method::Get, "/logs"),
    (Method::Get, "/logs/follow"),
    (Method::Get, "/logs/boots/{bootid}"),
    (Method::Get, "/info"),
    (Method::Get, "/stats"),
    (Method::Get, "/{item}/info"),
    (Method::Post, "/{item}/update"),
    (Method::Delete, "/{item}"),
    (Method::Get, "/{item}/logs/boots/{bootid}/follow"),
];

/// The measured route of a group.
const MEASURED: &str = "/info";

/// What every route answers.
const ANSWER: &str = r#"{"result":"ok","data":{}}"#;

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    fn route(self) -> actix_web::Route {
        let route = match self {
            Method::Get => web::get(),
            Method::Post => web::post(),
            Method::Delete => web::delete(),
        };
        route.to(answer)
    }

    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

pub(crate) fn run() -> anyhow::Result<()> {
    let flat = LocalServer::start("the flat routing app", || App::new().wrap(from_fn(guard)).configure(flat))?;
    let scoped = LocalServer::start("the scoped routing app", || App::new().wrap(from_fn(guard)).configure(scoped))?;
    // One thread, so the load generator stays on about one core, like each server's single worker.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(check_every_route(&[flat.address, scoped.address]))?;

    let (first, last) = (GROUPS[0], GROUPS[GROUPS.len() - 1]);
    let (first, last) = (format!("/{first}{MEASURED}"), format!("/{last}{MEASURED}"));
    let (first_request, last_request) = (request(Method::Get, &first), request(Method::Get, &last));
    let [flat_first, flat_last, scoped_first, scoped_last] = runtime.block_on(compare([
        (flat.address, first_request.as_bytes()),
        (flat.address, last_request.as_bytes()),
        (scoped.address, first_request.as_bytes()),
        (scoped.address, last_request.as_bytes()),
    ]))?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let position = ROUTES.iter().position(|&(_, path)| path == MEASURED).context("MEASURED is one of ROUTES")? + 1;
    println!(
        "bench routing: flat {first} {flat_first} | flat {last} {flat_last} | scoped {first} {scoped_first} | scoped \
         {last} {scoped_last} | last/first flat {:.2} scoped {:.2} | scoped/flat {last} {:.2} (aim: scoped/flat >= \
         1.0; {} routes in {} groups of {}, {MEASURED} the route {position} of its group, all at the root or one \
         web::scope per group, a from_fn middleware calling match_pattern in both; {SERVER_WORKERS} server worker \
         each, {CONNECTIONS} keep-alive connections, {ROUNDS} alternating {} s rounds each, load generator on the \
         same {cores} cores)",
        flat_last.per_second() / flat_first.per_second(),
        scoped_last.per_second() / scoped_first.per_second(),
        scoped_last.per_second() / flat_last.per_second(),
        GROUPS.len() * ROUTES.len(),
        GROUPS.len(),
        ROUTES.len(),
        ROUND.as_secs(),
    );
    Ok(())
}

/// Every route of every group at the root of the app.
fn flat(config: &mut web::ServiceConfig) {
    for group in GROUPS {
        for (method, path) in ROUTES {
            config.route(&format!("/{group}{path}"), method.route());
        }
    }
}

/// One scope per group, with the group's routes inside.
fn scoped(config: &mut web::ServiceConfig) {
    for group in GROUPS {
        let scope = ROUTES
            .iter()
            .fold(web::scope(&format!("/{group}")), |scope, (method, path)| scope.route(path, method.route()));
        config.service(scope);
    }
}

/// The middleware of both apps: what the access guard does before it decides, looking up the
/// pattern of the route the request will reach.
async fn guard(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if request.match_pattern().is_none() {
        return Ok(request.into_response(HttpResponse::NotFound().finish()).map_into_right_body());
    }
    Ok(next.call(request).await?.map_into_left_body())
}

async fn answer() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(ANSWER)
}

/// A request as the load generator sends it, with a concrete value in each `{param}`.
fn request(method: Method, path: &str) -> String {
    let path = path.replace("{item}", "core_ssh").replace("{bootid}", "0");
    format!("{} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", method.name())
}

/// Each app answers every one of its routes with a 200 (through the middleware, so each has a
/// pattern), so that neither measures a table that routes differently.
async fn check_every_route(servers: &[SocketAddr]) -> anyhow::Result<()> {
    for &server in servers {
        for group in GROUPS {
            for (method, path) in ROUTES {
                let request = request(method, &format!("/{group}{path}"));
                let mut connection = Connection::open(server, request.as_bytes()).await?;
                connection
                    .get()
                    .await
                    .with_context(|| format!("{} at {server}", request.lines().next().unwrap_or("")))?;
            }
        }
    }
    Ok(())
}
