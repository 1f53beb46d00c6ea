//! Resource permissions per permission group, the Anka Controller's authorization: a group (named
//! by user keys' `groups`) holds permissions on nodes, each a [`Permission`]. The operator sets
//! them (`/admin/api/v1/permission/...`); the guard ([`crate::access`]) admits a key to a route
//! whose permission one of its groups holds on some node, and handlers narrow the key to the
//! nodes granted ([`Scope`]). A group's record is the whole list, replaced at each save.

use crate::access::{Access, Caller};
use crate::envelope::{done_saying, ok, Answer, Fail};
use crate::store::{Fleet, Snapshot};
use crate::Controller;
use actix_web::{get, post, web};
use fleet::{Permission, ResourceGrant};
use http_api::Routes;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// Declares the permission routes, the operator's only.
pub fn routes(routes: &mut Routes<Access>) {
    routes
        .group("/admin/api/v1/permission")
        .route(Access::Operator, available_permissions)
        .route(Access::Operator, group_resources)
        .route(Access::Operator, set_group_resources);
}

/// The only resource type of the controller (the registry's templates are the registry's).
const NODE: &str = "node";

/// The name a permission is sent and stored as.
pub fn name(permission: Permission) -> &'static str {
    match permission {
        Permission::ChangeConfig => "change_config",
        Permission::CreateInstance => "create_instance",
        Permission::DeleteTemplate => "delete_template",
        Permission::Distribute => "distribute",
        Permission::ForceUpgrade => "force_upgrade",
        Permission::List => "list",
        Permission::Remove => "remove",
    }
}

fn label(permission: Permission) -> &'static str {
    match permission {
        Permission::ChangeConfig => "Change Node Configuration",
        Permission::CreateInstance => "Create Instance",
        Permission::DeleteTemplate => "Delete Template from Node",
        Permission::Distribute => "Distribute Template to Node",
        Permission::ForceUpgrade => "Force Node Upgrade",
        Permission::List => "List Node",
        Permission::Remove => "Remove Node",
    }
}

fn parse(name: &str) -> Option<Permission> {
    Permission::ALL.into_iter().find(|permission| self::name(*permission) == name)
}

/// Whether `resource` grants `permission` (on its node).
pub fn holds(resource: &ResourceGrant, permission: Permission) -> bool {
    resource.resource_type == NODE && resource.permissions.contains(&permission)
}

/// Whether a group's `resources` grant `permission` on `node`.
pub fn grants(resources: &[ResourceGrant], node: &str, permission: Permission) -> bool {
    resources.iter().any(|resource| resource.id == node && holds(resource, permission))
}

/// Every group's resources, for the guard (which has no snapshot).
pub async fn read_all(fleet: &Fleet) -> Result<BTreeMap<String, Vec<ResourceGrant>>, Fail> {
    let prefix = fleet.keys.permission_groups();
    let mut all = BTreeMap::new();
    for kv in fleet.etcd.get_prefix(&prefix).await? {
        match kv.json() {
            Ok(resources) => {
                all.insert(kv.key[prefix.len()..].to_string(), resources);
            }
            Err(error) => tracing::warn!(key = %kv.key, %error, "a permission group's record can't be read"),
        }
    }
    Ok(all)
}

/// The nodes a caller may use one permission on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The operator: every node.
    All,
    Nodes(BTreeSet<String>),
}

impl Scope {
    pub fn allows(&self, node: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Nodes(nodes) => nodes.contains(node),
        }
    }

    /// Refuses `node` when it is out of scope.
    pub fn check(&self, node: &str, permission: Permission) -> Result<(), Fail> {
        if self.allows(node) {
            Ok(())
        } else {
            Err(Fail::forbidden(format!(
                "this key's permission groups don't grant {} on node {node}",
                name(permission)
            )))
        }
    }
}

/// The nodes `caller` may use `permission` on: through all its groups, or through `group` alone
/// when the request names one (which must be one of the key's).
pub fn scope(caller: &Caller, snapshot: &Snapshot, permission: Permission, group: Option<&str>) -> Result<Scope, Fail> {
    let Caller::Key { groups, .. } = caller else { return Ok(Scope::All) };
    let through: Vec<&String> = match group {
        Some(group) if !groups.iter().any(|g| g == group) => {
            return Err(Fail::forbidden(format!("permission group {group} is not one of this key's")))
        }
        Some(group) => groups.iter().filter(|g| *g == group).collect(),
        None => groups.iter().collect(),
    };
    let nodes = through
        .into_iter()
        .filter_map(|group| snapshot.permissions.get(group))
        .flat_map(|(resources, _)| resources.iter().filter(|resource| holds(resource, permission)))
        .map(|resource| resource.id.clone())
        .collect();
    Ok(Scope::Nodes(nodes))
}

/// A permission group's or a key's name, `what`, as part of an etcd key: no slashes, nothing odd.
pub fn check_name(what: &str, name: &str) -> Result<(), Fail> {
    let fine = !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if fine {
        Ok(())
    } else {
        Err(Fail::bad_request(format!("{what} {name:?} is not a name (1-128 letters, digits, '-', '_', '.', '@')")))
    }
}

#[derive(Serialize, ToSchema)]
struct PermissionInfo {
    label: String,
    description: String,
}

#[derive(Serialize, ToSchema)]
struct ResourceType {
    resource_type: String,
    permissions: BTreeMap<String, PermissionInfo>,
}

/// The resource types of the controller (nodes) and the permissions a group may hold on them.
#[utoipa::path(tag = "controller", responses((status = 200, body = inline(crate::envelope::Reply<Vec<ResourceType>>))))]
#[get("/resources/permissions")]
async fn available_permissions() -> Answer {
    let permissions = Permission::ALL
        .into_iter()
        .map(|p| (name(p).to_string(), PermissionInfo { label: label(p).into(), description: label(p).into() }))
        .collect();
    ok(vec![ResourceType { resource_type: NODE.into(), permissions }])
}

/// A resource and the permissions a group holds on it.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResourceView {
    /// The node's id.
    id: String,
    /// `id` (the default).
    #[serde(default)]
    id_type: Option<String>,
    /// `node`.
    #[serde(rename = "type")]
    resource_type: String,
    /// Of `change_config`, `create_instance`, `delete_template`, `distribute`,
    /// `force_upgrade`, `list`, `remove`.
    permissions: Vec<String>,
}

/// The resources a permission group holds permissions on (none for a group never set).
#[utoipa::path(tag = "controller", params(("groupName" = String, Path, description = "The permission group")), responses((status = 200, body = inline(crate::envelope::Reply<Vec<ResourceView>>))))]
#[get("/group/{groupName}/resources")]
async fn group_resources(controller: web::Data<Controller>, group: web::Path<String>) -> Answer {
    let group = group.into_inner();
    check_name("permission group", &group)?;
    let key = controller.fleet.keys.permission_group(&group);
    let resources: Vec<ResourceGrant> = controller.fleet.etcd.get_json(&key).await?.map(|(r, _)| r).unwrap_or_default();
    ok(resources
        .into_iter()
        .map(|resource| ResourceView {
            id: resource.id,
            id_type: Some(resource.id_type),
            resource_type: resource.resource_type,
            permissions: resource.permissions.into_iter().map(|p| name(p).to_string()).collect(),
        })
        .collect::<Vec<_>>())
}

/// `resources` checked against the fleet: known types and permissions, existing nodes.
fn validate(snapshot: &Snapshot, resources: Vec<ResourceView>) -> Result<Vec<ResourceGrant>, Fail> {
    resources
        .into_iter()
        .map(|resource| {
            if resource.resource_type != NODE {
                return Err(Fail::bad_request(format!(
                    "resource type {:?} is not one of the controller's (node)",
                    resource.resource_type
                )));
            }
            let id_type = resource.id_type.filter(|t| !t.is_empty()).unwrap_or_else(|| "id".into());
            if id_type != "id" {
                return Err(Fail::bad_request(format!("id_type {id_type:?} is not \"id\"")));
            }
            if !snapshot.nodes.contains_key(&resource.id) {
                return Err(Fail::not_found(format!("no node {}", resource.id)));
            }
            let mut permissions = resource
                .permissions
                .iter()
                .map(|p| parse(p).ok_or_else(|| Fail::bad_request(format!("{p:?} is not a permission on nodes"))))
                .collect::<Result<Vec<_>, _>>()?;
            permissions.sort();
            permissions.dedup();
            Ok(ResourceGrant { id: resource.id, id_type, resource_type: NODE.into(), permissions })
        })
        .collect()
}

/// Sets what a permission group may do: the list replaces the group's whole record.
#[utoipa::path(tag = "controller", params(("groupName" = String, Path, description = "The permission group")), request_body = Vec<ResourceView>, responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 400, description = "An unknown type or permission"), (status = 404, description = "No such node")))]
#[post("/group/{groupName}/resources")]
async fn set_group_resources(controller: web::Data<Controller>, group: web::Path<String>, body: web::Bytes) -> Answer {
    let group = group.into_inner();
    check_name("permission group", &group)?;
    let resources: Vec<ResourceView> = serde_json::from_slice(&body)
        .map_err(|error| Fail::bad_request(format!("the body is not a list of resources: {error}")))?;
    let snapshot = controller.fleet.snapshot().await?;
    let resources = validate(&snapshot, resources)?;
    let key = controller.fleet.keys.permission_group(&group);
    let revision = snapshot.permissions.get(&group).map_or(0, |(_, revision)| *revision);
    controller.fleet.commit(&[(&key, revision)], vec![Fleet::put(&key, &resources)?]).await?;
    tracing::info!(%group, resources = resources.len(), "a permission group's resources were set");
    done_saying("Saved")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(node: &str, permissions: &[Permission]) -> ResourceGrant {
        ResourceGrant {
            id: node.into(),
            id_type: "id".into(),
            resource_type: NODE.into(),
            permissions: permissions.to_vec(),
        }
    }

    #[test]
    fn names_round_trip_and_match_the_stored_form() {
        for permission in Permission::ALL {
            assert_eq!(parse(name(permission)), Some(permission));
            assert_eq!(serde_json::to_value(permission).unwrap(), name(permission));
        }
        assert_eq!(parse("delete_revert"), None, "a registry permission is not the controller's");
    }

    #[test]
    fn a_key_reaches_the_nodes_its_groups_grant_and_root_all() {
        let mut snapshot = Snapshot::default();
        snapshot.permissions.insert("ci".into(), (vec![grant("a", &[Permission::List]), grant("b", &[])], 1));
        snapshot.permissions.insert("ops".into(), (vec![grant("c", &[Permission::List, Permission::Remove])], 1));
        let key = Caller::Key { id: "k".into(), groups: vec!["ci".into(), "ops".into()] };
        let lists = scope(&key, &snapshot, Permission::List, None).unwrap();
        assert!(lists.allows("a") && lists.allows("c") && !lists.allows("b"));
        let through_ci = scope(&key, &snapshot, Permission::List, Some("ci")).unwrap();
        assert!(through_ci.allows("a") && !through_ci.allows("c"));
        assert!(scope(&key, &snapshot, Permission::Remove, None).unwrap().check("a", Permission::Remove).is_err());
        assert!(scope(&key, &snapshot, Permission::List, Some("other")).is_err(), "not the key's group");
        assert_eq!(scope(&Caller::Root, &snapshot, Permission::Remove, None).unwrap(), Scope::All);
    }

    #[test]
    fn only_nodes_that_exist_with_known_permissions_are_saved() {
        let mut snapshot = Snapshot::default();
        snapshot.nodes.insert("a".into(), Default::default());
        let view = |id: &str, kind: &str, permissions: &[&str]| ResourceView {
            id: id.into(),
            id_type: None,
            resource_type: kind.into(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
        };
        let saved = validate(&snapshot, vec![view("a", "node", &["list", "remove", "list"])]).unwrap();
        assert_eq!(saved, vec![grant("a", &[Permission::List, Permission::Remove])]);
        assert_eq!(validate(&snapshot, vec![view("a", "template", &[])]).unwrap_err().status, 400);
        assert_eq!(validate(&snapshot, vec![view("a", "node", &["pull"])]).unwrap_err().status, 400);
        assert_eq!(validate(&snapshot, vec![view("z", "node", &["list"])]).unwrap_err().status, 404);
        assert!(check_name("group", "dev/ops").is_err() && check_name("group", "devops").is_ok());
    }
}
