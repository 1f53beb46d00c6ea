//! The access decision: who may call a route, from the rule the route declared (see
//! `http_api::routes`), in the real Supervisor's order: the blacklist, open routes, the token,
//! Core-only routes, then the caller's kind, role and `hassio_api`.
//!
//! The blacklist is the one check made on the path rather than the route: it stops requests that
//! a proxy route would forward into Core's own Supervisor integration.

pub use base::Role;
use http_api::routes::{Access, Rule, ADMIN};
use regex::Regex;
use std::sync::LazyLock;
/// Who is calling, as told by the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A path that needs no token; nobody in particular.
    Anonymous,
    /// Home Assistant Core: every path but the blacklist.
    HomeAssistant,
    /// The `ha` CLI and the host: every path but the blacklist and Core-only paths.
    Cli,
    /// The observer plugin: `/info` endpoints only.
    Observer,
    /// An installed add-on with the permissions its config grants.
    Addon { slug: String, role: Role, hassio_api: bool },
}

/// What an add-on's installed config grants it towards the supervisor and Core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grants {
    /// `hassio_role`.
    pub role: Role,
    /// `hassio_api`: the Supervisor API beyond the routes every add-on may call.
    pub hassio_api: bool,
    /// `homeassistant_api`: Core's API through the proxy.
    pub homeassistant_api: bool,
    /// `auth_api`: checking Home Assistant users' credentials (`/auth`).
    pub auth_api: bool,
}

/// What the access decisions need to know of an add-on, asked at every request the add-on makes:
/// its current grants, or `None` once it is no longer installed. So an update that changes the
/// role takes effect at the next request, not at the next start.
pub trait AddonRights: Send + Sync + 'static {
    fn rights(&self, slug: &str) -> Option<Grants>;
}

/// The decision for one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// 401: no token where one is needed, or a token nobody issued.
    Unauthorized(&'static str),
    /// 403: a known caller on a path it may not reach.
    Forbidden(String),
}

/// The route a request matched, as the guard found it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub rule: Rule,
    /// The path's `{addon}` is `self`: the calling add-on itself.
    pub is_self: bool,
}

/// Nobody reaches these: Core's own Supervisor integration endpoints (`/api/hassio/...`,
/// `/api/hassio_auth`, `/api/hassio_push/...`), which an add-on could otherwise call through the
/// Core API proxy with Core's rights. Matched on the path with repeated slashes merged, since Core
/// merges them too.
static BLACKLIST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^/(?:homeassistant|core)/api/hassio(?:[/_].*)?$").expect("blacklist pattern"));

fn blacklisted(path: &str) -> bool {
    if !path.contains("//") {
        return BLACKLIST.is_match(path);
    }
    let mut merged = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && merged.ends_with('/')) {
            merged.push(c);
        }
    }
    BLACKLIST.is_match(&merged)
}

/// Decides a request to `path` by `caller` (`None`: no token; `Some(None)`: an unknown token).
/// `route` is the route the path matched; a path that matched none is decided as an admin-only
/// route (its answer is a 404 for those who may ask).
pub fn decide(path: &str, route: Option<Route>, caller: Option<Option<&Caller>>) -> Decision {
    if blacklisted(path) {
        return Decision::Forbidden(format!("{path} is blacklisted"));
    }
    let rule = route.map_or(ADMIN, |r| r.rule);
    let own = route.is_some_and(|r| r.rule.own && r.is_self);
    if rule.access == Access::Open {
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
    if rule.access == Access::Core {
        return Decision::Forbidden(format!("{path} may only be called by Home Assistant"));
    }
    match caller {
        Caller::Cli | Caller::HomeAssistant => Decision::Allow,
        Caller::Anonymous => Decision::Unauthorized("No API token provided"),
        Caller::Observer if rule.access == Access::Info => Decision::Allow,
        Caller::Observer => Decision::Forbidden(format!("{path} is not allowed for the observer")),
        Caller::Addon { .. } if rule.access == Access::Addons || own => Decision::Allow,
        Caller::Addon { slug, hassio_api: false, .. } => {
            Decision::Forbidden(format!("Add-on {slug} has no permission to use the Supervisor API"))
        }
        Caller::Addon { slug, role, hassio_api: true } => match rule.access {
            Access::Info => Decision::Allow,
            Access::Roles(roles) if *role == Role::Admin || roles.contains(role) => Decision::Allow,
            _ => Decision::Forbidden(format!("Add-on {slug} with role {} may not call {path}", role.as_str())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_api::routes::{ADDONS, BACKUP, CORE, INFO, MANAGER, OPEN};

    fn addon(role: Role, hassio_api: bool) -> Caller {
        Caller::Addon { slug: "local_test".into(), role, hassio_api }
    }

    fn on(rule: Rule) -> Option<Route> {
        Some(Route { rule, is_self: false })
    }

    const ALL: [Role; 5] = Role::ALL;

    fn roles_allowed(route: Option<Route>) -> Vec<Role> {
        ALL.into_iter().filter(|role| decide("/x", route, Some(Some(&addon(*role, true)))) == Decision::Allow).collect()
    }

    #[test]
    fn blacklist_stops_everyone_even_core_on_open_routes() {
        for path in [
            "/core/api/hassio/app",
            "/homeassistant/api/hassio/app",
            "/core/api/hassio_auth",
            "/core/api/hassio_push/panel",
            "/homeassistant/api/hassio_auth",
            "/core/api//hassio/app",
            "/homeassistant//api/hassio_push/x",
        ] {
            assert!(
                matches!(decide(path, on(OPEN), Some(Some(&Caller::HomeAssistant))), Decision::Forbidden(_)),
                "{path}"
            );
            assert!(matches!(decide(path, on(OPEN), None), Decision::Forbidden(_)), "{path}");
        }
        assert_eq!(decide("/core/api/states/hassio", on(OPEN), None), Decision::Allow);
    }

    #[test]
    fn open_routes_need_no_token_and_others_do() {
        assert_eq!(decide("/x", on(OPEN), None), Decision::Allow);
        assert_eq!(decide("/x", on(INFO), None), Decision::Unauthorized("No API token provided"));
        assert_eq!(decide("/x", on(INFO), Some(None)), Decision::Unauthorized("Invalid token"));
        assert_eq!(decide("/x", None, None), Decision::Unauthorized("No API token provided"));
    }

    #[test]
    fn core_only_routes() {
        assert_eq!(decide("/x", on(CORE), Some(Some(&Caller::HomeAssistant))), Decision::Allow);
        assert_eq!(
            decide("/x", on(CORE), Some(Some(&Caller::Cli))),
            Decision::Forbidden("/x may only be called by Home Assistant".into())
        );
        assert_eq!(roles_allowed(Some(Route { rule: CORE.or_own(), is_self: true })), vec![]);
    }

    #[test]
    fn cli_and_core_reach_every_other_route_even_undeclared_ones() {
        for route in [on(ADMIN), on(MANAGER), on(INFO), None] {
            assert_eq!(decide("/x", route, Some(Some(&Caller::Cli))), Decision::Allow);
            assert_eq!(decide("/x", route, Some(Some(&Caller::HomeAssistant))), Decision::Allow);
        }
    }

    #[test]
    fn observer_reads_info_only() {
        assert_eq!(decide("/x", on(INFO), Some(Some(&Caller::Observer))), Decision::Allow);
        for route in [on(ADDONS), on(MANAGER), None] {
            assert!(matches!(decide("/x", route, Some(Some(&Caller::Observer))), Decision::Forbidden(_)));
        }
    }

    #[test]
    fn addon_without_hassio_api_gets_only_addon_routes_and_itself() {
        let plain = addon(Role::Admin, false);
        assert_eq!(decide("/x", on(ADDONS), Some(Some(&plain))), Decision::Allow);
        assert_eq!(
            decide("/x", Some(Route { rule: MANAGER.or_own(), is_self: true }), Some(Some(&plain))),
            Decision::Allow
        );
        for route in [on(INFO), on(MANAGER.or_own()), on(ADMIN)] {
            assert_eq!(
                decide("/x", route, Some(Some(&plain))),
                Decision::Forbidden("Add-on local_test has no permission to use the Supervisor API".into())
            );
        }
    }

    #[test]
    fn roles() {
        assert_eq!(roles_allowed(on(INFO)), ALL.to_vec());
        assert_eq!(roles_allowed(on(ADDONS)), ALL.to_vec());
        assert_eq!(roles_allowed(on(MANAGER)), vec![Role::Manager, Role::Admin]);
        assert_eq!(roles_allowed(on(BACKUP)), vec![Role::Backup, Role::Manager, Role::Admin]);
        assert_eq!(roles_allowed(on(ADMIN)), vec![Role::Admin]);
        assert_eq!(roles_allowed(None), vec![Role::Admin]);
        assert_eq!(
            decide("/x", on(MANAGER), Some(Some(&addon(Role::Backup, true)))),
            Decision::Forbidden("Add-on local_test with role backup may not call /x".into())
        );
    }

    #[test]
    fn own_routes_are_open_to_the_addon_itself_only() {
        let own = |is_self| Some(Route { rule: MANAGER.or_own(), is_self });
        assert_eq!(roles_allowed(own(true)), ALL.to_vec());
        assert_eq!(roles_allowed(own(false)), vec![Role::Manager, Role::Admin]);
        assert_eq!(roles_allowed(Some(Route { rule: MANAGER, is_self: true })), vec![Role::Manager, Role::Admin]);
    }
}
