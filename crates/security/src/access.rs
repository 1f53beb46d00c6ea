//! The access decision: who may call a route, from the rule the route declared (see
//! `http_api::routes`), in the real Supervisor's order: the blacklist, open routes, the token,
//! Core-only routes, then the caller's kind, role and `hassio_api` (its middleware's tables), then
//! what the route's handler demands (Core itself, an add-on's `auth_api` or `homeassistant_api`).
//!
//! The blacklist is the one check made on the path rather than the route: it stops requests that
//! a proxy route would forward into Core's own Supervisor integration.

pub use base::Role;
use http_api::routes::{Access, Place, Requires, Reserved, Rule, ADMIN};
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
    Addon { slug: String, grants: Grants },
}

impl Caller {
    /// What the caller was granted, if it is an add-on.
    pub fn grants(&self) -> Option<Grants> {
        match self {
            Caller::Addon { grants, .. } => Some(*grants),
            _ => None,
        }
    }
}

/// What an add-on's installed config grants it towards the supervisor and Core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
    /// 401 as the real Supervisor's handlers answer it, the web framework's plain text: a caller
    /// the handler does not accept.
    PlainUnauthorized(&'static str),
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
    let admitted = admit(path, route, caller);
    let requires = route.map_or(Requires::Nothing, |r| r.rule.requires);
    if admitted != Decision::Allow {
        return admitted;
    }
    if meets(requires, caller.flatten()) {
        return Decision::Allow;
    }
    match requires {
        Requires::Nothing | Requires::OwnCredential => Decision::Allow,
        Requires::Core => Decision::PlainUnauthorized("only Home Assistant may call this"),
        Requires::AuthApi => Decision::Forbidden("Can't use Home Assistant auth!".into()),
        Requires::HomeassistantApi => Decision::PlainUnauthorized("unknown or not permitted Home Assistant API access"),
    }
}

/// Whether `caller` is who `requires` asks for.
pub fn meets(requires: Requires, caller: Option<&Caller>) -> bool {
    let grants = caller.and_then(Caller::grants);
    match requires {
        Requires::Nothing | Requires::OwnCredential => true,
        Requires::Core => caller == Some(&Caller::HomeAssistant),
        Requires::AuthApi => grants.is_some_and(|g| g.auth_api),
        Requires::HomeassistantApi => grants.is_some_and(|g| g.homeassistant_api),
    }
}

/// Whether a request names the reserved value: in its query, or in its JSON body (`body`, when
/// the parameter is there) as the value of the key or one item of its list.
pub fn names_reserved(reserved: &Reserved, query: &str, body: Option<&[u8]>) -> bool {
    match reserved.place {
        Place::Query => form_pairs(query).any(|(key, value)| key == reserved.parameter && value == reserved.value),
        Place::Body => {
            let Some(value) = body.and_then(|body| serde_json::from_slice::<serde_json::Value>(body).ok()) else {
                return false;
            };
            match value.get(reserved.parameter) {
                Some(serde_json::Value::String(one)) => one == reserved.value,
                Some(serde_json::Value::Array(list)) => list.iter().any(|item| item == reserved.value),
                _ => false,
            }
        }
    }
}

/// The decoded `key=value` pairs of a query string.
fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    let decode = |part: &str| crate::middleware::percent_decode(&part.replace('+', " "));
    query.split('&').filter(|pair| !pair.is_empty()).map(move |pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(key), decode(value))
    })
}

/// The first stage of [`decide`], the real Supervisor's middleware: its blacklist and tables by
/// the caller's kind, role and `hassio_api`.
pub fn admit(path: &str, route: Option<Route>, caller: Option<Option<&Caller>>) -> Decision {
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
        Caller::Addon { slug, grants } if !grants.hassio_api => {
            Decision::Forbidden(format!("Add-on {slug} has no permission to use the Supervisor API"))
        }
        Caller::Addon { slug, grants } => match rule.access {
            Access::Info => Decision::Allow,
            Access::Roles(roles) if grants.role == Role::Admin || roles.contains(&grants.role) => Decision::Allow,
            _ => Decision::Forbidden(format!("Add-on {slug} with role {} may not call {path}", grants.role.as_str())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_api::routes::{ADDONS, BACKUP, CORE, INFO, MANAGER, OPEN};

    fn addon(role: Role, hassio_api: bool) -> Caller {
        Caller::Addon {
            slug: "local_test".into(),
            grants: Grants { role, hassio_api, homeassistant_api: false, auth_api: false },
        }
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

    #[test]
    fn core_itself_where_the_handler_demands_it() {
        let route = on(ADDONS.requiring(Requires::Core));
        assert_eq!(decide("/x", route, Some(Some(&Caller::HomeAssistant))), Decision::Allow);
        for caller in [Caller::Cli, addon(Role::Admin, true), addon(Role::Default, false)] {
            assert!(matches!(decide("/x", route, Some(Some(&caller))), Decision::PlainUnauthorized(_)), "{caller:?}");
        }
        // The tables come first: without a token it is their 401, with the envelope.
        assert_eq!(decide("/x", route, None), Decision::Unauthorized("No API token provided"));
        assert!(matches!(
            decide("/x", on(ADMIN.requiring(Requires::Core)), Some(Some(&addon(Role::Default, true)))),
            Decision::Forbidden(_)
        ));
    }

    #[test]
    fn grants_where_the_handler_demands_them() {
        let granted = |homeassistant_api, auth_api| Caller::Addon {
            slug: "local_test".into(),
            grants: Grants { role: Role::Default, hassio_api: false, homeassistant_api, auth_api },
        };
        let auth = on(ADDONS.requiring(Requires::AuthApi));
        assert_eq!(decide("/auth", auth, Some(Some(&granted(false, true)))), Decision::Allow);
        for caller in [granted(true, false), Caller::Cli, Caller::HomeAssistant] {
            assert_eq!(
                decide("/auth", auth, Some(Some(&caller))),
                Decision::Forbidden("Can't use Home Assistant auth!".into()),
                "{caller:?}"
            );
        }
        let proxy = on(OPEN.requiring(Requires::HomeassistantApi));
        assert_eq!(decide("/core/api/states", proxy, Some(Some(&granted(true, false)))), Decision::Allow);
        for caller in [None, Some(None), Some(Some(&Caller::HomeAssistant)), Some(Some(&Caller::Cli))] {
            assert!(matches!(decide("/core/api/states", proxy, caller), Decision::PlainUnauthorized(_)), "{caller:?}");
        }
        let other = granted(false, true);
        assert!(matches!(decide("/core/api/states", proxy, Some(Some(&other))), Decision::PlainUnauthorized(_)));
        assert!(matches!(
            decide("/core/api/hassio/x", proxy, Some(Some(&granted(true, false)))),
            Decision::Forbidden(_)
        ));
        let own = on(OPEN.requiring(Requires::OwnCredential));
        assert_eq!(decide("/ingress/x/y", own, None), Decision::Allow);
    }
}
