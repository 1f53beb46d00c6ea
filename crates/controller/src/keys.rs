//! User API keys and the key-based authentication of the Anka Controller (UAK/TAP).
//!
//! The operator makes a key (`/api/v1/apikey`): an id, its permission groups, a lifetime, and an
//! RSA public key, given or generated (then its private key is answered once and never kept).
//! Its holder proves holding the private key in two steps: `/tap/v1/hand` answers a fresh random
//! secret encrypted for the public key (RSA-OAEP, SHA-256), `/tap/v1/shake` takes the secret
//! decrypted and opens a session, an hour at most and never past the key's expiration. Requests
//! then carry `Authorization: Bearer <base64 of {"id": key, "data": session}>`.
//!
//! etcd keeps the SHA-256 digests of secrets and sessions, never them, each under a lease that
//! ends it; a secret is used once. Nothing secret is logged.

use crate::access::{Access, Caller};
use crate::envelope::{done, ok, Answer, Body, Fail};
use crate::permissions::check_name;
use crate::store::Fleet;
use crate::Controller;
use actix_web::{delete, get, post, put, web};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use etcd::{Compare, Op, Txn};
use fleet::{ApiKey, KeySession};
use http_api::Routes;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::rand_core::{OsRng, RngCore};
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// Declares the key routes: keys are the operator's; the handshake authenticates itself.
pub fn routes(routes: &mut Routes<Access>) {
    routes
        .group("/api/v1")
        .route(Access::Operator, key_list)
        .route(Access::Operator, key_create)
        .route(Access::Operator, key_update)
        .route(Access::Operator, key_delete);
    routes.group("/tap/v1").route(Access::Open, hand).route(Access::Open, shake);
}

/// The size of the keys the controller generates.
const GENERATED_KEY_BITS: usize = 2048;
/// How long a handshake's secret may wait for its shake.
const HANDSHAKE_SECONDS: i64 = 60;
/// The longest a session lasts.
const SESSION_SECONDS: i64 = 3600;
/// The longest lifetime a key may be given (ten years).
const MAX_TTL_SECONDS: i64 = 10 * 365 * 86400;

/// SHA-256 of `bytes`, hex: what etcd keeps in place of a secret.
fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// What a key's bearer token carries.
#[derive(Debug, PartialEq, Eq, Deserialize)]
pub struct KeyToken {
    pub id: String,
    /// The session `/tap/v1/shake` answered.
    pub data: String,
}

/// A bearer token as a key's: base64 of `{"id", "data"}`; `None` when it is not one.
pub fn parse_bearer(token: &str) -> Option<KeyToken> {
    let json = STANDARD.decode(token.trim()).ok()?;
    let token: KeyToken = serde_json::from_slice(&json).ok()?;
    (check_name("key", &token.id).is_ok() && !token.data.is_empty()).then_some(token)
}

fn unauthorized() -> Fail {
    Fail::unauthorized("the key's session is unknown or expired, or the key is")
}

/// The caller a key's session makes, if the session and its key are both current.
pub async fn session_caller(fleet: &Fleet, token: &KeyToken) -> Result<Caller, Fail> {
    let keys = &fleet.keys;
    let read = fleet
        .etcd
        .txn(
            Txn::new()
                .and_then(Op::get(&keys.session(&token.id, &digest(token.data.as_bytes()))))
                .and_then(Op::get(&keys.api_key(&token.id))),
        )
        .await?;
    let now = Utc::now();
    let mut gets = read.gets.into_iter().map(|kvs| kvs.into_iter().next());
    let session: Option<KeySession> = gets.next().flatten().and_then(|kv| kv.json().ok());
    let key: Option<ApiKey> = gets.next().flatten().and_then(|kv| kv.json().ok());
    match (session, key) {
        (Some(session), Some(key)) if session.expires > now && key.expiration > now => {
            Ok(Caller::Key { id: key.id, groups: key.groups })
        }
        _ => Err(unauthorized()),
    }
}

/// The key `id` if it exists and has not expired.
async fn current_key(fleet: &Fleet, id: &str) -> Result<ApiKey, Fail> {
    check_name("key", id).map_err(|_| unauthorized())?;
    match fleet.etcd.get_json::<ApiKey>(&fleet.keys.api_key(id)).await? {
        Some((key, _)) if key.expiration > Utc::now() => Ok(key),
        _ => Err(unauthorized()),
    }
}

// ---- the keys -------------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
struct KeyView {
    id: String,
    groups: Vec<String>,
    #[schema(value_type = String)]
    expiration: DateTime<Utc>,
    #[schema(value_type = String)]
    created: DateTime<Utc>,
}

impl From<ApiKey> for KeyView {
    fn from(key: ApiKey) -> KeyView {
        KeyView { id: key.id, groups: key.groups, expiration: key.expiration, created: key.created }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
struct IdQuery {
    id: Option<String>,
}

/// Every key (expired ones too, until deleted), or the one of `?id=`.
#[utoipa::path(tag = "controller", params(IdQuery), responses((status = 200, body = inline(crate::envelope::Reply<Vec<KeyView>>)), (status = 404, description = "No such key")))]
#[get("/apikey")]
async fn key_list(controller: web::Data<Controller>, query: web::Query<IdQuery>) -> Answer {
    let fleet = &controller.fleet;
    match query.into_inner().id {
        Some(id) => {
            check_name("key", &id)?;
            let (key, _) = fleet
                .etcd
                .get_json::<ApiKey>(&fleet.keys.api_key(&id))
                .await?
                .ok_or_else(|| Fail::not_found(format!("no key {id}")))?;
            ok(vec![KeyView::from(key)])
        }
        None => {
            let mut views = Vec::new();
            for kv in fleet.etcd.get_prefix(&fleet.keys.api_keys()).await? {
                match kv.json::<ApiKey>() {
                    Ok(key) => views.push(KeyView::from(key)),
                    Err(error) => tracing::warn!(key = %kv.key, %error, "a user key's record can't be read"),
                }
            }
            ok(views)
        }
    }
}

fn check_groups(groups: Option<Vec<String>>) -> Result<Vec<String>, Fail> {
    let groups = groups.filter(|groups| !groups.is_empty()).ok_or_else(|| Fail::bad_request("groups is required"))?;
    for group in &groups {
        check_name("permission group", group)?;
    }
    Ok(groups)
}

fn expiration(ttl: i64, now: DateTime<Utc>) -> Result<DateTime<Utc>, Fail> {
    if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(Fail::bad_request(format!("ttl must be 1 to {MAX_TTL_SECONDS} seconds")));
    }
    Ok(now + Duration::seconds(ttl))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct KeyCreateRequest {
    id: Option<String>,
    /// Seconds the key lives.
    ttl: Option<i64>,
    /// The permission groups whose permissions the key has.
    groups: Option<Vec<String>>,
    /// An RSA public key, base64 of its PKIX ASN.1 DER form; without it, the controller makes a
    /// key pair and answers the private key.
    #[serde(rename = "publicKey")]
    public_key: Option<String>,
}

/// Creates a key. Without `publicKey`, the body is the new private key (base64 of PKCS#1 DER),
/// shown this once.
#[utoipa::path(tag = "controller", request_body = KeyCreateRequest, responses((status = 200, body = inline(crate::envelope::Reply<String>)), (status = 400, description = "A field is missing or wrong"), (status = 409, description = "The key exists")))]
#[post("/apikey")]
async fn key_create(controller: web::Data<Controller>, body: Body<KeyCreateRequest>) -> Answer {
    let request = body.into_inner();
    let id = request.id.ok_or_else(|| Fail::bad_request("id is required"))?;
    check_name("key", &id)?;
    let ttl = request.ttl.ok_or_else(|| Fail::bad_request("ttl is required"))?;
    let now = Utc::now();
    let expiration = expiration(ttl, now)?;
    let groups = check_groups(request.groups)?;
    let (public_key, private_key) = match request.public_key {
        Some(given) => {
            let der = STANDARD
                .decode(given.trim())
                .map_err(|_| Fail::bad_request("publicKey is not base64 (of the key's PKIX DER form)"))?;
            RsaPublicKey::from_public_key_der(&der).map_err(|error| {
                Fail::bad_request(format!("publicKey is not an RSA public key in PKIX DER: {error}"))
            })?;
            (STANDARD.encode(&der), None)
        }
        None => {
            // Seconds of arithmetic: off the request threads.
            let pair = web::block(|| {
                let private = RsaPrivateKey::new(&mut OsRng, GENERATED_KEY_BITS).map_err(|e| e.to_string())?;
                let public = private.to_public_key().to_public_key_der().map_err(|e| e.to_string())?;
                let private = private.to_pkcs1_der().map_err(|e| e.to_string())?;
                Ok::<_, String>((STANDARD.encode(public.as_bytes()), STANDARD.encode(private.as_bytes())))
            })
            .await
            .map_err(|error| error.to_string())
            .and_then(|made| made)
            .map_err(|error| Fail::unavailable(format!("the key pair could not be made: {error}")))?;
            (pair.0, Some(pair.1))
        }
    };
    let key = ApiKey { id: id.clone(), groups, public_key, created: now, expiration };
    let record = controller.fleet.keys.api_key(&id);
    controller.fleet.commit(&[(&record, 0)], vec![Fleet::put(&record, &key)?]).await.map_err(|fail| {
        if fail.status.as_u16() == 409 {
            Fail::conflict(format!("key {id} exists"))
        } else {
            fail
        }
    })?;
    tracing::info!(key = %id, generated = private_key.is_some(), "a user key was created");
    match private_key {
        Some(private_key) => ok(private_key),
        None => done(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct KeyUpdateRequest {
    id: Option<String>,
    groups: Option<Vec<String>>,
    /// A new lifetime, in seconds from now.
    ttl: Option<i64>,
}

/// Changes a key's groups, and its lifetime when `ttl` is given; its public key stays.
#[utoipa::path(tag = "controller", request_body = KeyUpdateRequest, responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 400, description = "A field is missing or wrong"), (status = 404, description = "No such key")))]
#[put("/apikey")]
async fn key_update(controller: web::Data<Controller>, body: Body<KeyUpdateRequest>) -> Answer {
    let request = body.into_inner();
    let id = request.id.ok_or_else(|| Fail::bad_request("id is required"))?;
    check_name("key", &id)?;
    let groups = check_groups(request.groups)?;
    let expiration = request.ttl.map(|ttl| expiration(ttl, Utc::now())).transpose()?;
    let record = controller.fleet.keys.api_key(&id);
    let (mut key, revision) = controller
        .fleet
        .etcd
        .get_json::<ApiKey>(&record)
        .await?
        .ok_or_else(|| Fail::not_found(format!("no key {id}")))?;
    key.groups = groups;
    if let Some(expiration) = expiration {
        key.expiration = expiration;
    }
    controller.fleet.commit(&[(&record, revision)], vec![Fleet::put(&record, &key)?]).await?;
    done()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct KeyIdRequest {
    id: Option<String>,
}

/// Deletes a key; its sessions end with it.
#[utoipa::path(tag = "controller", request_body = KeyIdRequest, responses((status = 200, body = inline(crate::envelope::Reply<Object>)), (status = 404, description = "No such key")))]
#[delete("/apikey")]
async fn key_delete(controller: web::Data<Controller>, body: Body<KeyIdRequest>) -> Answer {
    let id = body.into_inner().id.ok_or_else(|| Fail::bad_request("id is required"))?;
    check_name("key", &id)?;
    let keys = &controller.fleet.keys;
    let record = keys.api_key(&id);
    let deleted = controller
        .fleet
        .etcd
        .txn(
            Txn::new()
                .when(Compare::version_eq(&record, 0))
                .or_else(Op::delete(&record))
                .or_else(Op::delete_prefix(&keys.sessions_of(&id)))
                .or_else(Op::delete_prefix(&keys.handshakes_of(&id))),
        )
        .await?;
    if deleted.succeeded {
        return Err(Fail::not_found(format!("no key {id}")));
    }
    tracing::info!(key = %id, "a user key was deleted");
    done()
}

// ---- the handshake --------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct HandRequest {
    /// The key's id.
    id: Option<String>,
}

/// The handshake's first step: a fresh secret encrypted for the key's public key (RSA-OAEP,
/// SHA-256), base64; it is good for one `/tap/v1/shake` within a minute.
#[utoipa::path(tag = "controller", request_body = HandRequest, responses((status = 200, body = inline(crate::envelope::Reply<String>)), (status = 401, description = "No such key, or it expired")))]
#[post("/hand")]
async fn hand(controller: web::Data<Controller>, body: Body<HandRequest>) -> Answer {
    let id = body.into_inner().id.ok_or_else(|| Fail::bad_request("id is required"))?;
    let fleet = &controller.fleet;
    let key = current_key(fleet, &id).await?;
    let der =
        STANDARD.decode(&key.public_key).map_err(|_| Fail::unavailable("the key's stored public key is damaged"))?;
    let public = RsaPublicKey::from_public_key_der(&der)
        .map_err(|_| Fail::unavailable("the key's stored public key is damaged"))?;
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let sealed = public
        .encrypt(&mut OsRng, Oaep::new::<Sha256>(), &secret)
        .map_err(|error| Fail::unavailable(format!("the secret could not be encrypted: {error}")))?;
    let lease = fleet.etcd.grant(HANDSHAKE_SECONDS).await?;
    fleet.etcd.put(&fleet.keys.handshake(&id, &digest(&secret)), id.as_bytes().to_vec(), Some(lease)).await?;
    ok(STANDARD.encode(sealed))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ShakeRequest {
    /// The key's id.
    id: Option<String>,
    /// The secret `/tap/v1/hand` answered, decrypted, base64.
    secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct SessionView {
    /// The token to send as `data` in the bearer token.
    session: String,
    /// When the session ends, in Unix seconds.
    expires: i64,
}

/// The handshake's second step: the secret decrypted opens a session (an hour at most, never
/// past the key's expiration). A secret opens one session only.
#[utoipa::path(tag = "controller", request_body = ShakeRequest, responses((status = 200, body = inline(crate::envelope::Reply<SessionView>)), (status = 401, description = "A wrong, used or expired secret, or the key is gone or expired")))]
#[post("/shake")]
async fn shake(controller: web::Data<Controller>, body: Body<ShakeRequest>) -> Answer {
    let request = body.into_inner();
    let id = request.id.ok_or_else(|| Fail::bad_request("id is required"))?;
    let secret = request.secret.ok_or_else(|| Fail::bad_request("secret is required"))?;
    check_name("key", &id).map_err(|_| unauthorized())?;
    let refused = || Fail::unauthorized("the handshake's secret is wrong, used or expired");
    let secret = STANDARD.decode(secret.trim()).map_err(|_| refused())?;
    let fleet = &controller.fleet;
    let pending = fleet.keys.handshake(&id, &digest(&secret));
    // Taken in one step: of two shakes with one secret, one finds it gone.
    let taken = fleet.etcd.txn(Txn::new().when(Compare::version_eq(&pending, 0)).or_else(Op::delete(&pending))).await?;
    if taken.succeeded {
        return Err(refused());
    }
    let key = current_key(fleet, &id).await?;
    let now = Utc::now();
    let expires = (now + Duration::seconds(SESSION_SECONDS)).min(key.expiration);
    let seconds = (expires - now).num_seconds();
    if seconds < 1 {
        return Err(unauthorized());
    }
    let session = base::random::hex_token(32);
    let lease = fleet.etcd.grant(seconds).await?;
    let record = fleet.keys.session(&id, &digest(session.as_bytes()));
    fleet.etcd.put_json(&record, &KeySession { expires }, Some(lease)).await?;
    tracing::info!(key = %id, "a user key opened a session");
    ok(SessionView { session, expires: expires.timestamp() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_is_base64_of_the_keys_id_and_session() {
        let token = STANDARD.encode(r#"{"id":"dev-1","data":"abc"}"#);
        assert_eq!(parse_bearer(&token), Some(KeyToken { id: "dev-1".into(), data: "abc".into() }));
        assert_eq!(parse_bearer("the-root-password"), None);
        assert_eq!(parse_bearer(&STANDARD.encode(r#"{"id":"../x","data":"abc"}"#)), None, "ids are names");
        assert_eq!(parse_bearer(&STANDARD.encode(r#"{"id":"k","data":""}"#)), None);
        assert_eq!(parse_bearer(&STANDARD.encode("[1]")), None);
    }

    #[test]
    fn secrets_are_kept_as_digests() {
        assert_eq!(digest(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn a_lifetime_is_bounded() {
        let now = Utc::now();
        assert_eq!(expiration(60, now).unwrap(), now + Duration::seconds(60));
        assert!(expiration(0, now).is_err() && expiration(MAX_TTL_SECONDS + 1, now).is_err());
    }

    #[test]
    fn only_the_private_key_opens_the_secret() {
        let private = RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        let der = private.to_public_key().to_public_key_der().unwrap();
        let public = RsaPublicKey::from_public_key_der(der.as_bytes()).unwrap();
        let sealed = public.encrypt(&mut OsRng, Oaep::new::<Sha256>(), b"secret").unwrap();
        assert_eq!(private.decrypt(Oaep::new::<Sha256>(), &sealed).unwrap(), b"secret");
        let other = RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        assert!(other.decrypt(Oaep::new::<Sha256>(), &sealed).is_err());
    }
}
