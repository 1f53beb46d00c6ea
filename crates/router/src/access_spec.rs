//! The specification of the access rules: the real Supervisor's tables, regular expressions over
//! the path, as it writes them. Every declared route's rule must decide as these do for every
//! caller (the test below), so a route declared with the wrong rule fails here, and the role
//! lists of the real Supervisor's own middleware tests are checked through the route table.
//!
//! Some of its patterns use negative look-ahead (`/addons/self/(?!security|update)...`), which
//! Rust's `regex` does not have; such an entry carries an explicit `except` pattern instead.

use regex::Regex;
use security::access::{Caller, Decision, Grants, Role};
use std::sync::LazyLock;

/// One entry of a table: a path pattern, optionally minus paths the real rule excludes.
struct Entry {
    allow: Regex,
    except: Option<Regex>,
}

impl Entry {
    fn matches(&self, path: &str) -> bool {
        self.allow.is_match(path) && !self.except.as_ref().is_some_and(|e| e.is_match(path))
    }
}

/// An add-on slug as the real Supervisor accepts it in paths.
const SLUG: &str = "[-_.A-Za-z0-9]+";

fn table(entries: &[(&str, Option<&str>)]) -> Vec<Entry> {
    let anchored = |p: &str| Regex::new(&format!("^(?:{})$", p.replace("{SLUG}", SLUG))).expect("access pattern");
    entries.iter().map(|(allow, except)| Entry { allow: anchored(allow), except: except.map(anchored) }).collect()
}

fn matches(table: &[Entry], path: &str) -> bool {
    table.iter().any(|e| e.matches(path))
}

/// Nobody reaches these: Core's own Supervisor integration endpoints (`/api/hassio/...`,
/// `/api/hassio_auth`, `/api/hassio_push/...`), which an add-on could otherwise call through the
/// Core API proxy with Core's rights. Matched on the path with repeated slashes merged, since Core
/// merges them too.
static BLACKLIST: LazyLock<Vec<Entry>> =
    LazyLock::new(|| table(&[("/(?:homeassistant|core)/api/hassio(?:[/_].*)?", None)]));

fn blacklisted(path: &str) -> bool {
    if !path.contains("//") {
        return matches(&BLACKLIST, path);
    }
    let mut merged = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && merged.ends_with('/')) {
            merged.push(c);
        }
    }
    matches(&BLACKLIST, &merged)
}

/// Open without a token: the ping, the Core proxy and ingress (which check their own
/// credentials), the frontend's static files and add-on images, and the admin UI's pages.
static NO_SECURITY_CHECK: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    table(&[
        ("/supervisor/ping", None),
        ("/homeassistant/api/.*", None),
        ("/homeassistant/websocket", None),
        ("/core/api/.*", None),
        ("/core/websocket", None),
        ("/ingress/[-_A-Za-z0-9]+/.*", None),
        (r"/app/.*\.(?:js|gz|json|map|woff2)", None),
        ("/(?:store/)?addons/{SLUG}/(?:logo|icon)", None),
        // Not the real Supervisor's: this one's admin UI, its pages and the login link's
        // landing, whose one-time code is its credential; its session calls are the admin's.
        ("/admin(?:/.*)?", Some("/admin/(?:login_link|logout|logout_all)")),
    ])
});

/// Only Home Assistant Core may call these.
static CORE_ONLY: LazyLock<Vec<Entry>> = LazyLock::new(|| table(&[("/addons/{SLUG}/sys_options", None)]));

/// Every add-on may call these, with or without `hassio_api`.
static ADDON_BYPASS: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    table(&[
        ("/addons/self/[^/]+", Some("/addons/self/(?:security|update)[^/]*")),
        ("/addons/self/options/config", None),
        ("/info", None),
        ("/services.*", None),
        ("/discovery.*", None),
        ("/auth", None),
    ])
});

/// The observer plugin may read `/info` endpoints only.
static OBSERVER: LazyLock<Vec<Entry>> = LazyLock::new(|| table(&[("/.+/info", None)]));

static ROLE_DEFAULT: LazyLock<Vec<Entry>> = LazyLock::new(|| table(&[("/.+/info", None)]));

static ROLE_HOMEASSISTANT: LazyLock<Vec<Entry>> =
    LazyLock::new(|| table(&[("/.+/info", None), ("/core/.+", None), ("/homeassistant/.+", None)]));

static ROLE_BACKUP: LazyLock<Vec<Entry>> = LazyLock::new(|| table(&[("/.+/info", None), ("/backups.*", None)]));

static ROLE_MANAGER: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    table(&[
        ("/.+/info", None),
        ("/addons(?:/{SLUG}/.+|/reload)?", Some("/addons/{SLUG}/security.*")),
        ("/audio/.+", None),
        ("/auth/cache", None),
        ("/available_updates", None),
        ("/backups.*", None),
        ("/cli/.+", None),
        ("/core/.+", None),
        ("/dns/.+", None),
        ("/docker/.+", None),
        ("/jobs/.+", None),
        ("/hardware/.+", None),
        ("/homeassistant/.+", None),
        ("/host/.+", None),
        ("/mounts.*", None),
        ("/multicast/.+", None),
        ("/network/.+", None),
        ("/observer/.+", None),
        ("/os/.+", Some("/os/(?:datadisk/wipe|ssh/authorized_keys).*")),
        ("/refresh_updates", None),
        ("/resolution/.+", None),
        ("/security/.+", None),
        ("/snapshots.*", None),
        ("/store.*", None),
        ("/supervisor/.+", None),
        ("/time/.+", None),
    ])
});

fn role_table(role: Role) -> Option<&'static [Entry]> {
    match role {
        Role::Default => Some(&ROLE_DEFAULT),
        Role::Homeassistant => Some(&ROLE_HOMEASSISTANT),
        Role::Backup => Some(&ROLE_BACKUP),
        Role::Manager => Some(&ROLE_MANAGER),
        Role::Admin => None,
    }
}

/// Decides a request to `path` by `caller` (`None`: no token; `Some(None)`: an unknown token).
pub fn decide(path: &str, caller: Option<Option<&Caller>>) -> Decision {
    if blacklisted(path) {
        return Decision::Forbidden(format!("{path} is blacklisted"));
    }
    if matches(&NO_SECURITY_CHECK, path) {
        return Decision::Allow;
    }
    let caller = match caller {
        None => return Decision::Unauthorized("No API token provided"),
        Some(None) => return Decision::Unauthorized("Invalid token"),
        Some(Some(caller)) => caller,
    };
    if *caller == Caller::HomeAssistant {
        return Decision::Allow;
    }
    if matches(&CORE_ONLY, path) {
        return Decision::Forbidden(format!("{path} may only be called by Home Assistant"));
    }
    match caller {
        Caller::Cli | Caller::HomeAssistant => Decision::Allow,
        Caller::Anonymous => Decision::Unauthorized("No API token provided"),
        Caller::Observer if matches(&OBSERVER, path) => Decision::Allow,
        Caller::Observer => Decision::Forbidden(format!("{path} is not allowed for the observer")),
        Caller::Addon { .. } if matches(&ADDON_BYPASS, path) => Decision::Allow,
        Caller::Addon { slug, grants } if !grants.hassio_api => {
            Decision::Forbidden(format!("Add-on {slug} has no permission to use the Supervisor API"))
        }
        Caller::Addon { slug, grants } => match role_table(grants.role) {
            None => Decision::Allow,
            Some(table) if matches(table, path) => Decision::Allow,
            Some(_) => {
                Decision::Forbidden(format!("Add-on {slug} with role {} may not call {path}", grants.role.as_str()))
            }
        },
    }
}

/// The real Supervisor's handlers that answer anyone but Core with its web framework's plain 401
/// (`require_home_assistant`), by method and path.
static REQUIRE_HOME_ASSISTANT: LazyLock<Vec<(&str, Entry)>> = LazyLock::new(|| {
    let entries = table(&[
        ("/discovery", None),
        ("/discovery/[^/]+", None),
        ("/ingress/session", None),
        ("/ingress/validate_session", None),
    ]);
    ["GET", "GET", "POST", "POST"].into_iter().zip(entries).collect()
});

/// The Core API proxy, which checks the token itself: an add-on granted `homeassistant_api`. Its
/// websocket reads the token from the protocol's `auth` message instead.
static CORE_API_PROXY: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    table(&[
        ("/homeassistant/api/.*", Some("/homeassistant/api/websocket")),
        ("/core/api/.*", Some("/core/api/websocket")),
    ])
});

/// Decides a request as the real Supervisor does from end to end: its middleware ([`decide`]),
/// then what the handler demands of the caller it let through.
pub fn decide_request(method: &str, path: &str, caller: Option<Option<&Caller>>) -> Decision {
    let admitted = decide(path, caller);
    if admitted != Decision::Allow {
        return admitted;
    }
    let caller = caller.flatten();
    let grants = caller.and_then(Caller::grants);
    if REQUIRE_HOME_ASSISTANT.iter().any(|(m, entry)| *m == method && entry.matches(path))
        && caller != Some(&Caller::HomeAssistant)
    {
        return Decision::PlainUnauthorized("only Home Assistant may call this");
    }
    if path == "/auth" && !grants.is_some_and(|g| g.auth_api) {
        return Decision::Forbidden("Can't use Home Assistant auth!".into());
    }
    if matches(&CORE_API_PROXY, path) && !grants.is_some_and(|g| g.homeassistant_api) {
        return Decision::PlainUnauthorized("unknown or not permitted Home Assistant API access");
    }
    Decision::Allow
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_table::{caller, concrete_paths, CALLERS};
    use actix_web::dev::ResourceDef;
    use http_api::routes::path_parameter;
    use security::access::Route;

    fn addon(role: Role) -> Caller {
        Caller::Addon { slug: "local_test".into(), grants: Grants { role, hassio_api: true, ..Grants::default() } }
    }

    /// The declared route `path` reaches, preferring `GET` as the tests below read paths.
    fn declared_route(path: &str) -> Option<Route> {
        let routes = crate::routes();
        let mut matching: Vec<_> =
            routes.operations().iter().filter(|o| ResourceDef::new(o.path.as_str()).is_match(path)).collect();
        matching.sort_by_key(|o| o.method != actix_web::http::Method::GET);
        let declared = matching.first()?;
        let is_self = path_parameter(&declared.path, path, "addon") == Some("self");
        Some(Route { rule: declared.rule, is_self })
    }

    /// The roles the specification lets call `path`; for a path the API serves, the route's rule
    /// must let exactly the same roles through.
    fn roles_allowed(path: &str) -> Vec<Role> {
        let allowed = |decide: &dyn Fn(&Caller) -> Decision| -> Vec<Role> {
            Role::ALL.into_iter().filter(|role| decide(&addon(*role)) == Decision::Allow).collect()
        };
        let specified = allowed(&|caller| decide(path, Some(Some(caller))));
        if let Some(route) = declared_route(path) {
            let declared = allowed(&|caller| security::access::admit(path, Some(route), Some(Some(caller))));
            assert_eq!(declared, specified, "{path}: the declared rule differs from the specification");
        }
        specified
    }

    use Role::*;
    const ALL: [Role; 5] = Role::ALL;

    #[test]
    fn every_declared_route_decides_as_the_specification_for_every_caller() {
        for declared in crate::routes().operations() {
            for path in concrete_paths(&declared.path) {
                let is_self = path_parameter(&declared.path, &path, "addon") == Some("self");
                let route = Route { rule: declared.rule, is_self };
                for column in CALLERS {
                    let caller = caller(column);
                    let token = if column == "none" { None } else { Some(caller.as_ref()) };
                    assert_eq!(
                        security::access::decide(&path, Some(route), token),
                        decide_request(declared.method.as_str(), &path, token),
                        "{} {path} by {column}",
                        declared.method
                    );
                }
            }
        }
    }

    #[test]
    fn blacklist_stops_everyone_even_core() {
        for path in [
            "/core/api/hassio/app",
            "/homeassistant/api/hassio/app",
            "/core/api/hassio_auth",
            "/core/api/hassio_push/panel",
            "/homeassistant/api/hassio_auth",
            "/core/api//hassio/app",
            "/homeassistant//api/hassio_push/x",
        ] {
            assert!(matches!(decide(path, Some(Some(&Caller::HomeAssistant))), Decision::Forbidden(_)), "{path}");
            assert!(matches!(decide(path, Some(Some(&addon(Admin)))), Decision::Forbidden(_)), "{path}");
        }
        assert_eq!(decide("/core/api/states", Some(Some(&addon(Admin)))), Decision::Allow);
        assert_eq!(decide("/core/api/states/hassio", None), Decision::Allow);
    }

    #[test]
    fn open_paths_need_no_token() {
        for path in [
            "/supervisor/ping",
            "/core/api/states",
            "/addons/local_x/icon",
            "/store/addons/a_b/logo",
            "/ingress/abc/x",
            "/app/entry.js",
        ] {
            assert_eq!(decide(path, None), Decision::Allow, "{path}");
        }
    }

    #[test]
    fn missing_or_unknown_token_is_401() {
        assert_eq!(decide("/supervisor/info", None), Decision::Unauthorized("No API token provided"));
        assert_eq!(decide("/supervisor/info", Some(None)), Decision::Unauthorized("Invalid token"));
    }

    #[test]
    fn core_only_paths() {
        assert_eq!(decide("/addons/local_test/sys_options", Some(Some(&Caller::HomeAssistant))), Decision::Allow);
        assert!(matches!(decide("/addons/local_test/sys_options", Some(Some(&Caller::Cli))), Decision::Forbidden(_)));
        assert_eq!(roles_allowed("/addons/self/sys_options"), vec![]);
        assert_eq!(roles_allowed("/addons/abc123/sys_options"), vec![]);
    }

    #[test]
    fn cli_reaches_everything_else() {
        for path in ["/supervisor/options", "/os/datadisk/wipe", "/addons/x/security", "/jobs/info"] {
            assert_eq!(decide(path, Some(Some(&Caller::Cli))), Decision::Allow, "{path}");
        }
    }

    #[test]
    fn observer_reads_info_only() {
        assert_eq!(decide("/supervisor/info", Some(Some(&Caller::Observer))), Decision::Allow);
        assert!(matches!(decide("/supervisor/options", Some(Some(&Caller::Observer))), Decision::Forbidden(_)));
    }

    #[test]
    fn addon_without_hassio_api_gets_only_the_bypass() {
        let plain = Caller::Addon { slug: "x".into(), grants: Grants { role: Admin, ..Grants::default() } };
        assert_eq!(decide("/addons/self/info", Some(Some(&plain))), Decision::Allow);
        assert_eq!(decide("/info", Some(Some(&plain))), Decision::Allow);
        assert_eq!(decide("/services/mqtt", Some(Some(&plain))), Decision::Allow);
        assert!(matches!(decide("/supervisor/info", Some(Some(&plain))), Decision::Forbidden(_)));
        assert!(matches!(decide("/addons/self/security", Some(Some(&plain))), Decision::Forbidden(_)));
        assert!(matches!(decide("/addons/self/update", Some(Some(&plain))), Decision::Forbidden(_)));
    }

    // The cases of the real Supervisor's own middleware tests, one role list each.
    #[test]
    fn auth_paths() {
        assert_eq!(roles_allowed("/auth/reset"), vec![Admin]);
        assert_eq!(roles_allowed("/auth/list"), vec![Admin]);
        assert_eq!(roles_allowed("/auth/cache"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/auth"), ALL.to_vec());
    }

    #[test]
    fn backup_paths() {
        assert_eq!(roles_allowed("/backups/info"), ALL.to_vec());
        assert_eq!(roles_allowed("/backups/abc123/download"), vec![Backup, Manager, Admin]);
        assert_eq!(roles_allowed("/backups/new/full"), vec![Backup, Manager, Admin]);
        assert_eq!(roles_allowed("/backups/abc123/restore/full"), vec![Backup, Manager, Admin]);
    }

    #[test]
    fn core_paths() {
        assert_eq!(roles_allowed("/core/info"), ALL.to_vec());
        assert_eq!(roles_allowed("/core/update"), vec![Homeassistant, Manager, Admin]);
        assert_eq!(roles_allowed("/core/restart"), vec![Homeassistant, Manager, Admin]);
    }

    #[test]
    fn addon_self_paths() {
        assert_eq!(roles_allowed("/addons/self/options/config"), ALL.to_vec());
        assert_eq!(roles_allowed("/addons/self/options"), ALL.to_vec());
        assert_eq!(roles_allowed("/addons/self/restart"), ALL.to_vec());
        assert_eq!(roles_allowed("/addons/self/security"), vec![Admin]);
    }

    #[test]
    fn other_addon_paths() {
        assert_eq!(roles_allowed("/addons/abc123/options/config"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/addons/abc123/options"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/addons/abc123/restart"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/addons/abc123/security"), vec![Admin]);
        assert_eq!(roles_allowed("/addons"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/addons/reload"), vec![Manager, Admin]);
    }

    #[test]
    fn os_paths() {
        assert_eq!(roles_allowed("/os/datadisk/wipe"), vec![Admin]);
        assert_eq!(roles_allowed("/os/ssh/authorized_keys"), vec![Admin]);
        assert_eq!(roles_allowed("/os/update"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/os/info"), ALL.to_vec());
        // Not an `/info` path: managers and admins only, as the real ROLE_MANAGER's `/os/...`.
        assert_eq!(roles_allowed("/os/boards/raspberrypi/firmware"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/os/boards/raspberrypi/firmware/update"), vec![Manager, Admin]);
    }

    #[test]
    fn time_paths() {
        assert_eq!(roles_allowed("/time/info"), ALL.to_vec());
        assert_eq!(roles_allowed("/time/options"), vec![Manager, Admin]);
    }

    #[test]
    fn network_paths() {
        assert_eq!(roles_allowed("/network/info"), ALL.to_vec());
        assert_eq!(roles_allowed("/network/interface/eth0/info"), ALL.to_vec());
        assert_eq!(roles_allowed("/network/interface/eth0/update"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/network/interface/wlan0/accesspoints"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/network/interface/eth0/vlan/10"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/network/reload"), vec![Manager, Admin]);
    }

    #[test]
    fn hardware_paths() {
        assert_eq!(roles_allowed("/hardware/info"), ALL.to_vec());
        assert_eq!(roles_allowed("/hardware/audio"), vec![Manager, Admin]);
    }

    #[test]
    fn host_paths() {
        // Every role reads the host's information; managing the host (power, hostname, units,
        // logs, disk usage) is for managers and admins.
        assert_eq!(roles_allowed("/host/info"), ALL.to_vec());
        for path in [
            "/host/reboot",
            "/host/shutdown",
            "/host/options",
            "/host/reload",
            "/host/services",
            "/host/service/ssh.service/stop",
            "/host/logs",
            "/host/logs/boots/-1/identifiers/kernel/follow",
            "/host/disks/default/usage",
        ] {
            assert_eq!(roles_allowed(path), vec![Manager, Admin], "{path}");
        }
    }

    #[test]
    fn supervisor_and_root_paths() {
        assert_eq!(roles_allowed("/supervisor/info"), ALL.to_vec());
        assert_eq!(roles_allowed("/supervisor/options"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/info"), ALL.to_vec());
        assert_eq!(roles_allowed("/available_updates"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/refresh_updates"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/reload_updates"), vec![Admin]);
        assert_eq!(roles_allowed("/jobs/info"), ALL.to_vec());
        assert_eq!(roles_allowed("/jobs/options"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/docker/registries"), vec![Manager, Admin]);
        assert_eq!(roles_allowed("/security/options"), vec![Manager, Admin]);
    }
}
