//! Who may call a route of the controller, and the guard that decides it. A route declares its
//! [`Access`] where it is listed ([`crate::api::routes`]); the guard looks up the rule of the
//! route actix matched (an undeclared path needs the operator, then answers 404).
//!
//! Operators authenticate as the Anka Controller's root does: `Authorization: Basic` of
//! `root:<password>` (or `Bearer <password>`). Nodes join with the fleet's join token as a
//! bearer token. Both secrets are compared in constant time and never logged. Holders of a user
//! key ([`crate::keys`]) call with the session their handshake opened; what they may do is what
//! their permission groups grant ([`crate::permissions`]). The guard puts the [`Caller`] into
//! the request's extensions, where handlers read it to narrow what a key reaches.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use fleet::{Instance, Permission};
use http_api::routes::{ErrorContent, Guarded, RouteRules};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, SecurityRequirement};

use crate::envelope::Fail;
use crate::Controller;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the status, the health check, and the key handshake (which authenticates itself).
    Open,
    /// A supervisor joining with the fleet's join token.
    Node,
    /// The operator (root) only.
    Operator,
    /// The operator, or a key whose permission groups grant this on at least one node; the
    /// handler narrows the key to those nodes.
    Permitted(Permission),
    /// The operator, or any key; the handler narrows a key to the instances started under one
    /// of its permission groups.
    Instances,
}

/// Who is calling, as the guard established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Root,
    Key { id: String, groups: Vec<String> },
}

impl Caller {
    /// Whether the caller may see and touch `instance`.
    pub fn may_touch(&self, instance: &Instance) -> bool {
        match self {
            Caller::Root => true,
            Caller::Key { groups, .. } => instance.spec.permission_group.as_ref().is_some_and(|g| groups.contains(g)),
        }
    }

    /// Refuses `instance` to a caller who may not touch it.
    pub fn check_instance(&self, instance: &Instance) -> Result<(), Fail> {
        if self.may_touch(instance) {
            Ok(())
        } else {
            Err(Fail::forbidden(format!(
                "instance {} was not started under one of this key's permission groups",
                instance.instance_id
            )))
        }
    }
}

impl actix_web::FromRequest for Caller {
    type Error = Fail;
    type Future = std::future::Ready<Result<Caller, Fail>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        // Only routes the guard authenticated have a caller; an open route asking is a mistake
        // of the route's declaration, refused rather than taken for root.
        std::future::ready(
            req.extensions().get::<Caller>().cloned().ok_or_else(|| Fail::unauthorized("no credentials were checked")),
        )
    }
}

/// The secrets the guard checks requests against.
pub struct Secrets {
    pub root_password: String,
    pub join_token: String,
}

fn requirement(scheme: &str) -> SecurityRequirement {
    SecurityRequirement::new::<_, [&str; 0], &str>(scheme, [])
}

impl Guarded for Access {
    fn security(&self) -> Option<Vec<SecurityRequirement>> {
        match self {
            Access::Open => None,
            Access::Node => Some(vec![requirement("join_token")]),
            Access::Operator => Some(vec![requirement("root"), requirement("root_bearer")]),
            Access::Permitted(_) | Access::Instances => {
                Some(vec![requirement("root"), requirement("root_bearer"), requirement("api_key")])
            }
        }
    }

    fn refusals() -> Vec<(&'static str, RefOr<Response>)> {
        vec![
            (
                "401",
                ResponseBuilder::new().description("No credentials, or wrong or expired ones (`FAIL`)").build().into(),
            ),
            (
                "403",
                ResponseBuilder::new()
                    .description("A user key whose permission groups don't grant this (`FAIL`)")
                    .build()
                    .into(),
            ),
        ]
    }

    fn error_content() -> Option<ErrorContent> {
        None
    }
}

/// The security schemes the document names.
pub fn schemes() -> Vec<(&'static str, SecurityScheme)> {
    let bearer = |description: &str| {
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description)).build())
    };
    vec![
        ("root", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build())),
        ("root_bearer", bearer("root's password")),
        ("join_token", bearer("the fleet's join token")),
        ("api_key", bearer("base64 of `{\"id\": <key id>, \"data\": <session>}`, the session from /tap/v1/shake")),
    ]
}

/// What the `Authorization` header carries.
#[derive(Debug, PartialEq, Eq)]
enum Credential {
    /// Basic `root:<password>`: the password.
    Basic(Vec<u8>),
    /// A bearer token, as sent.
    Bearer(String),
}

fn credential(header: &str) -> Option<Credential> {
    let (scheme, value) = header.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(Credential::Bearer(value.trim().to_string()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(value.trim()).ok()?;
        let (user, password) = decoded.split_at(decoded.iter().position(|b| *b == b':')?);
        return (user == b"root").then(|| Credential::Basic(password[1..].to_vec()));
    }
    None
}

/// The caller of a request that needs root or a key, or why it is refused (401).
async fn authenticate(req: &ServiceRequest, secrets: &Secrets) -> Result<Caller, Fail> {
    let header = req.headers().get("Authorization").and_then(|value| value.to_str().ok());
    let root = secrets.root_password.as_bytes();
    match header.and_then(credential) {
        Some(Credential::Basic(password)) if base::random::constant_time_eq(&password, root) => Ok(Caller::Root),
        Some(Credential::Bearer(token)) if base::random::constant_time_eq(token.as_bytes(), root) => Ok(Caller::Root),
        Some(Credential::Bearer(token)) => {
            let token = crate::keys::parse_bearer(&token)
                .ok_or_else(|| Fail::unauthorized("the credentials are missing or wrong"))?;
            let controller = req.app_data::<web::Data<Controller>>().expect("the controller is mounted");
            crate::keys::session_caller(&controller.fleet, &token).await
        }
        _ => Err(Fail::unauthorized("the operator's credentials (or a key's session) are missing or wrong")),
    }
}

/// Whether `caller` may call a route of `access` at all; handlers narrow it further.
async fn admit(req: &ServiceRequest, access: Access, caller: &Caller) -> Result<(), Fail> {
    let Caller::Key { groups, .. } = caller else { return Ok(()) };
    match access {
        Access::Open | Access::Node | Access::Instances => Ok(()),
        Access::Operator => Err(Fail::forbidden("only the operator (root) may do this, not a user key")),
        Access::Permitted(permission) => {
            let controller = req.app_data::<web::Data<Controller>>().expect("the controller is mounted");
            let all = crate::permissions::read_all(&controller.fleet).await?;
            let anywhere = groups
                .iter()
                .filter_map(|group| all.get(group))
                .any(|resources| resources.iter().any(|resource| crate::permissions::holds(resource, permission)));
            if anywhere {
                Ok(())
            } else {
                Err(Fail::forbidden(format!(
                    "this key's permission groups don't grant {} on any node",
                    crate::permissions::name(permission)
                )))
            }
        }
    }
}

/// The guard; mount it with `actix_web::middleware::from_fn(check)`.
pub async fn check(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let access = req
        .match_pattern()
        .and_then(|pattern| req.app_data::<web::Data<RouteRules<Access>>>()?.rule(req.method(), &pattern))
        .unwrap_or(Access::Operator);
    let secrets = req.app_data::<web::Data<Secrets>>().expect("the controller's secrets are mounted");
    let decided = match access {
        Access::Open => return Ok(next.call(req).await?.map_into_left_body()),
        Access::Node => {
            let header = req.headers().get("Authorization").and_then(|value| value.to_str().ok());
            match header.and_then(credential) {
                Some(Credential::Bearer(token))
                    if base::random::constant_time_eq(token.as_bytes(), secrets.join_token.as_bytes()) =>
                {
                    Ok(None)
                }
                _ => Err(Fail::unauthorized("the fleet's join token is missing or wrong")),
            }
        }
        _ => match authenticate(&req, secrets).await {
            Ok(caller) => admit(&req, access, &caller).await.map(|()| Some(caller)),
            Err(fail) => Err(fail),
        },
    };
    match decided {
        Ok(caller) => {
            if let Some(caller) = caller {
                req.extensions_mut().insert(caller);
            }
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(fail) => {
            tracing::warn!(path = %req.path(), status = %fail.status, "controller: request refused");
            Ok(req.into_response(fail.error_response()).map_into_right_body())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_is_roots_only_and_bearer_is_kept_as_sent() {
        let basic = |s: &str| format!("Basic {}", STANDARD.encode(s));
        assert_eq!(credential(&basic("root:pw:x")), Some(Credential::Basic(b"pw:x".to_vec())));
        assert_eq!(credential(&basic("admin:pw")), None);
        assert_eq!(credential(&basic("nocolon")), None);
        assert_eq!(credential("bearer  tok "), Some(Credential::Bearer("tok".into())));
        assert_eq!(credential("Digest x"), None);
    }

    #[test]
    fn a_key_touches_only_instances_of_its_groups() {
        let mut instance = crate::scheduler::tests::instance("i", 1, None);
        let key = Caller::Key { id: "k".into(), groups: vec!["ci".into()] };
        assert!(Caller::Root.may_touch(&instance));
        assert!(!key.may_touch(&instance), "an instance of no group is root's");
        instance.spec.permission_group = Some("ops".into());
        assert!(key.check_instance(&instance).is_err_and(|fail| fail.status == actix_web::http::StatusCode::FORBIDDEN));
        instance.spec.permission_group = Some("ci".into());
        assert!(key.may_touch(&instance));
    }
}
