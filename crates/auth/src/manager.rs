//! Checking logins, resetting passwords and listing users, through Core: logins are asked of
//! Core's `api/hassio_auth` and remembered in the [`LoginCache`]; a cached login is answered at
//! once and checked with Core again in the background (Core takes a second or two), so a
//! changed password is noticed at the next login after the change.

use crate::cache::LoginCache;
use base::Error;
use homeassistant::CoreManager;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

/// Cheap to clone; every clone is the same manager.
#[derive(Clone)]
pub struct AuthManager {
    inner: Arc<Inner>,
}

struct Inner {
    cache: LoginCache,
    core: CoreManager,
    /// Users whose cached login is being checked with Core in the background: one check at a
    /// time per user.
    revalidating: Mutex<HashSet<String>>,
}

/// A Home Assistant user as `/auth/list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct User {
    pub username: String,
    pub name: String,
    pub is_owner: bool,
    pub is_active: bool,
    pub local_only: bool,
    pub group_ids: Vec<String>,
}

/// What to do with a login, from the cache's answer and whether Core's API is up.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// Core is down: only a confirmed login passes.
    Answer(bool),
    /// Not cached: Core decides, and the caller waits.
    AskCore,
    /// Cached: the cache answers and Core checks again in the background.
    AnswerAndRevalidate(bool),
}

fn plan(cached: Option<bool>, core_up: bool) -> Plan {
    match (cached, core_up) {
        (cached, false) => Plan::Answer(cached == Some(true)),
        (None, true) => Plan::AskCore,
        (Some(valid), true) => Plan::AnswerAndRevalidate(valid),
    }
}

fn validation_error() -> Error {
    Error::internal("Unable to validate authentication details with Home Assistant. Check Supervisor logs for details")
        .with_key("auth_home_assistant_api_validation_error")
}

fn extra(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect()
}

impl AuthManager {
    pub fn new(store: &state::Store, core: CoreManager) -> state::Result<AuthManager> {
        let inner = Inner { cache: LoginCache::load(store)?, core, revalidating: Mutex::default() };
        Ok(AuthManager { inner: Arc::new(inner) })
    }

    /// Whether `username` logs in with `password`, asked for by the add-on `addon` (Core records
    /// which add-on asked).
    pub async fn check_login(&self, addon: &str, username: &str, password: &str) -> Result<bool, Error> {
        let cached = self.inner.cache.lookup(username, password);
        let core_up = self.inner.core.api().running().await;
        match plan(cached, core_up) {
            Plan::Answer(valid) => {
                tracing::info!("Home Assistant Core is not running: login of '{username}' answered from the cache");
                Ok(valid)
            }
            Plan::AskCore => self.ask_core(addon, username, password).await,
            Plan::AnswerAndRevalidate(valid) => {
                self.revalidate(addon, username, password);
                Ok(valid)
            }
        }
    }

    /// Checks a cached login with Core in the background, unless a check of this user runs.
    fn revalidate(&self, addon: &str, username: &str, password: &str) {
        let mut revalidating = self.inner.revalidating.lock().unwrap_or_else(|e| e.into_inner());
        if !revalidating.insert(username.to_owned()) {
            return;
        }
        let manager = self.clone();
        let (addon, username, password) = (addon.to_owned(), username.to_owned(), password.to_owned());
        tokio::spawn(async move {
            if let Err(e) = manager.ask_core(&addon, &username, &password).await {
                tracing::warn!("Can't check the cached login of '{username}' with Home Assistant: {}", e.message);
            }
            manager.inner.revalidating.lock().unwrap_or_else(|e| e.into_inner()).remove(&username);
        });
    }

    /// Core's answer (200: valid, anything else: not), remembered in the cache.
    async fn ask_core(&self, addon: &str, username: &str, password: &str) -> Result<bool, Error> {
        let body = json!({"username": username, "password": password, "addon": addon});
        let status = self.inner.core.api().post_json("api/hassio_auth", &body).await.map_err(|e| {
            tracing::error!("Can't check a login with Home Assistant: {}", e.message);
            validation_error()
        })?;
        if status.as_u16() == 200 {
            tracing::info!("Successful login for '{username}'");
            self.inner.cache.confirm(username, password)?;
            Ok(true)
        } else {
            tracing::warn!("Wrong login from '{username}'");
            self.inner.cache.refute(username, password)?;
            Ok(false)
        }
    }

    #[cfg(test)]
    pub(crate) fn inner_cache(&self) -> &LoginCache {
        &self.inner.cache
    }

    /// Forgets every cached login.
    pub fn reset_cache(&self) -> Result<(), Error> {
        self.inner.cache.clear()
    }

    /// Sets a user's password in Core.
    pub async fn change_password(&self, username: &str, password: &str) -> Result<(), Error> {
        let body = json!({"username": username, "password": password});
        match self.inner.core.api().post_json("api/hassio_auth/password_reset", &body).await {
            Ok(status) if status.as_u16() == 200 => {
                tracing::info!("Password of '{username}' changed");
                return Ok(());
            }
            Ok(status) => tracing::warn!("Home Assistant refused the password reset of '{username}' ({status})"),
            Err(e) => tracing::warn!("Can't reset the password of '{username}': {}", e.message),
        }
        Err(Error::invalid(format!("Username '{username}' does not exist. Check list of users using 'ha auth list'."))
            .with_key("auth_password_reset_error")
            .with_extra(extra(&[("user", username), ("auth_list_command", "ha auth list")])))
    }

    /// Core's users that log in with a username (system users such as "Supervisor" have none).
    pub async fn list_users(&self) -> Result<Vec<User>, Error> {
        let answer = self.inner.core.api().command(json!({"type": "config/auth/list"})).await.map_err(|e| {
            tracing::error!("Can't list the users of Home Assistant: {}", e.message);
            Error::internal("Can't request listing users on Home Assistant. Check Supervisor logs for details")
                .with_key("auth_list_users_error")
        })?;
        users(answer)
    }
}

/// The users of a `config/auth/list` result.
fn users(answer: Value) -> Result<Vec<User>, Error> {
    let Value::Array(list) = answer else {
        return Err(Error::internal(format!(
            "Home Assistant returned invalid response of `{}` instead of a list of users. Check Home Assistant logs for details (check with `ha core logs`)",
            if answer.is_null() { "None".to_owned() } else { answer.to_string() }
        ))
        .with_key("auth_list_users_none_response_error")
        .with_extra(extra(&[("none", "None"), ("logs_command", "ha core logs")])));
    };
    Ok(list
        .into_iter()
        .filter(|user| user["username"].as_str().is_some_and(|name| !name.is_empty()))
        .map(|user| User {
            username: user["username"].as_str().unwrap_or_default().to_owned(),
            name: user["name"].as_str().unwrap_or_default().to_owned(),
            is_owner: user["is_owner"].as_bool().unwrap_or(false),
            is_active: user["is_active"].as_bool().unwrap_or(false),
            local_only: user["local_only"].as_bool().unwrap_or(false),
            group_ids: serde_json::from_value(user["group_ids"].clone()).unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_down_lets_only_confirmed_logins_through() {
        assert_eq!(plan(Some(true), false), Plan::Answer(true));
        assert_eq!(plan(Some(false), false), Plan::Answer(false));
        assert_eq!(plan(None, false), Plan::Answer(false));
    }

    #[test]
    fn core_up_answers_from_the_cache_and_checks_again() {
        assert_eq!(plan(None, true), Plan::AskCore);
        assert_eq!(plan(Some(true), true), Plan::AnswerAndRevalidate(true));
        assert_eq!(plan(Some(false), true), Plan::AnswerAndRevalidate(false));
    }

    #[test]
    fn users_without_a_username_are_left_out() {
        let answer = json!([
            {"id": "1", "username": "owner", "name": "Owner", "is_owner": true, "is_active": true,
             "local_only": false, "system_generated": false, "group_ids": ["system-admin"], "credentials": []},
            {"id": "2", "username": null, "name": "Supervisor", "is_owner": false, "is_active": true,
             "local_only": false, "system_generated": true, "group_ids": ["system-admin"]},
            {"id": "3", "username": "", "name": "No login", "is_owner": false, "is_active": true,
             "local_only": true, "group_ids": []},
        ]);
        let users = users(answer).unwrap();
        assert_eq!(
            users,
            vec![User {
                username: "owner".into(),
                name: "Owner".into(),
                is_owner: true,
                is_active: true,
                local_only: false,
                group_ids: vec!["system-admin".into()],
            }]
        );
    }

    #[test]
    fn a_missing_user_list_is_an_error() {
        let e = users(Value::Null).unwrap_err();
        assert_eq!(e.error_key.as_deref(), Some("auth_list_users_none_response_error"));
        assert!(e.message.contains("invalid response of `None`"), "{}", e.message);
    }
}
