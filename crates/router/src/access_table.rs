//! `openapi/access.tsv`: every operation of the API × every kind of caller → what the access
//! table decides, generated from the code (the OpenAPI document's operations and
//! `security::access`), checked in so that a reviewer sees each route's rights, and read by the
//! black-box test that proves the daemon answers the same, with and without encoded separators.

use http_api::routes::{path_parameter, Requires};
use security::access::{decide, Caller, Decision, Grants, Role, Route};

/// The columns after the method and the path: no token, an add-on of each `hassio_role`, an
/// add-on without `hassio_api`, the CLI, the admin UI's session cookie (the CLI's rights; its
/// state-changing requests carry the session's CSRF token) and Home Assistant Core.
pub(crate) const CALLERS: [&str; 10] =
    ["none", "default", "homeassistant", "backup", "manager", "admin", "no_api", "cli", "session", "core"];

/// The slug the table uses for an add-on that is not the caller.
const OTHER_ADDON: &str = "core_other";

pub(crate) fn caller(column: &str) -> Option<Caller> {
    let addon = |role, hassio_api| {
        Some(Caller::Addon { slug: "local_caller".into(), grants: Grants { role, hassio_api, ..Grants::default() } })
    };
    match column {
        "default" => addon(Role::Default, true),
        "homeassistant" => addon(Role::Homeassistant, true),
        "backup" => addon(Role::Backup, true),
        "manager" => addon(Role::Manager, true),
        "admin" => addon(Role::Admin, true),
        "no_api" => addon(Role::Default, false),
        "cli" | "session" => Some(Caller::Cli),
        "core" => Some(Caller::HomeAssistant),
        _ => None,
    }
}

/// One path as a caller sends it: `{addon}` as `self` and as another add-on (their rights
/// differ), every other parameter as its own name.
pub(crate) fn concrete_paths(template: &str) -> Vec<String> {
    let fill = |addon: &str| {
        template
            .split('/')
            .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some("addon") => addon.to_owned(),
                Some(name) => name.to_owned(),
                None => segment.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    if template.contains("{addon}") {
        vec![fill("self"), fill(OTHER_ADDON)]
    } else {
        vec![fill("")]
    }
}

/// One cell: `allow`, `401`, `403`, or `own` where the route lets the caller through to a
/// handler that then asks for a credential of its own (no token alone gets through).
fn cell(decision: Decision, requires: Requires) -> &'static str {
    match decision {
        Decision::Allow if requires == Requires::OwnCredential => "own",
        Decision::Allow => "allow",
        Decision::Unauthorized(_) | Decision::PlainUnauthorized(_) => "401",
        Decision::Forbidden(_) => "403",
    }
}

/// The table as it is checked in: a header line, then one line per method and path, in the order
/// of the paths.
pub fn access_table() -> String {
    let routes = crate::routes();
    let mut rows = Vec::new();
    for declared in routes.operations() {
        for path in concrete_paths(&declared.path) {
            let is_self = path_parameter(&declared.path, &path, "addon") == Some("self");
            let route = Route { rule: declared.rule, is_self };
            let cells: Vec<&str> = CALLERS
                .iter()
                .map(|column| {
                    let caller = caller(column);
                    let token = if *column == "none" { None } else { Some(caller.as_ref()) };
                    cell(decide(&path, Some(route), token), declared.rule.requires)
                })
                .collect();
            rows.push((path, declared.method.to_string(), cells.join("\t")));
        }
    }
    rows.sort();
    let mut out = format!("method\tpath\t{}\n", CALLERS.join("\t"));
    for (path, method, cells) in rows {
        out.push_str(&format!("{method}\t{path}\t{cells}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_table_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/access.tsv");
        let checked_in = std::fs::read_to_string(path).unwrap_or_default();
        assert!(checked_in == access_table(), "openapi/access.tsv is stale: run `cargo xtask openapi`");
    }

    #[test]
    fn addon_paths_have_a_row_for_self_and_for_another() {
        assert_eq!(
            concrete_paths("/addons/{addon}/logs/boots/{bootid}"),
            ["/addons/self/logs/boots/bootid", "/addons/core_other/logs/boots/bootid"]
        );
        assert_eq!(concrete_paths("/supervisor/info"), ["/supervisor/info"]);
    }

    #[test]
    fn every_operation_has_a_row() {
        let table = access_table();
        let rows = table.lines().skip(1).count();
        let operations: usize =
            crate::routes().operations().iter().map(|o| if o.path.contains("{addon}") { 2 } else { 1 }).sum();
        assert_eq!(rows, operations);
    }
}
