//! What the fixture knows and remembers: the refresh token and the users, persisted in
//! `<config>/.storage/core_fixture.json` so that a restarted container keeps them as Core does;
//! the access tokens it issued (in memory, valid until it stops); whether it hangs; and the
//! record of what it was asked, which `GET /fixture/state` answers.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: Option<String>,
    pub name: String,
    pub password: Option<String>,
    pub is_owner: bool,
    pub is_active: bool,
    pub local_only: bool,
    pub system_generated: bool,
    pub group_ids: Vec<String>,
}

/// The content of `core_fixture.json`.
#[derive(Serialize, Deserialize)]
struct Stored {
    refresh_token: String,
    users: Vec<User>,
}

/// Everything the fixture was asked, in order, for the tests to read.
#[derive(Default, Serialize)]
pub struct Record {
    /// `{method, path, status}` of each call to the supervisor; `status` is null when it did not
    /// answer.
    pub supervisor_calls: Vec<Value>,
    /// The `type` of every websocket message received, `auth` included.
    pub websocket_messages: Vec<String>,
    /// `backup/start` and `backup/end`, as they came.
    pub backup_events: Vec<String>,
    /// The `data` of each `supervisor/event` (`{event, data}`), as they came.
    pub supervisor_events: Vec<Value>,
    /// `{method, uuid, body}` of each `/api/hassio_push/discovery/{uuid}`.
    pub discovery: Vec<Value>,
    /// `{method, slug}` of each `/api/hassio_push/panel/{slug}`.
    pub panels: Vec<Value>,
    /// `{kind: "login" | "password_reset", username, result}` of each `/api/hassio_auth*`.
    pub auth_calls: Vec<Value>,
    /// `{method, path}` of every request under `/api`, authorized or not.
    pub api_requests: Vec<Value>,
    /// `{addon, backup}` of each `hassio/update/addon` (or `hassio/update/app`) command.
    pub addon_updates: Vec<Value>,
}

pub struct Fixture {
    pub version: String,
    /// The supervisor's address and Core's token for it (`SUPERVISOR`, `SUPERVISOR_TOKEN`).
    pub supervisor: Option<(String, String)>,
    file: PathBuf,
    stored: Mutex<Stored>,
    access_tokens: Mutex<HashSet<String>>,
    hung: AtomicBool,
    record: Mutex<Record>,
}

impl Fixture {
    /// Reads the stored state under `config_dir` or makes the initial one (a new refresh token,
    /// the initial users); `refresh_token`, when given, replaces the stored token.
    pub fn open(config_dir: &Path, version: String, refresh_token: Option<String>) -> Result<Fixture, String> {
        let file = config_dir.join(".storage/core_fixture.json");
        let stored = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Stored { refresh_token: random_token(), users: initial_users() }
            }
            Err(e) => return Err(format!("{}: {e}", file.display())),
        };
        let fixture = Fixture {
            version,
            supervisor: None,
            file,
            stored: Mutex::new(stored),
            access_tokens: Mutex::default(),
            hung: AtomicBool::new(false),
            record: Mutex::default(),
        };
        if let Some(token) = refresh_token {
            fixture.stored.lock().unwrap().refresh_token = token;
        }
        fixture.save()?;
        Ok(fixture)
    }

    /// Writes the stored state atomically (a temporary file renamed over the old one), so that a
    /// crash never leaves half a file.
    fn save(&self) -> Result<(), String> {
        let text = serde_json::to_vec_pretty(&*self.stored.lock().unwrap()).expect("the state serializes");
        let temporary = self.file.with_extension("json.tmp");
        std::fs::create_dir_all(self.file.parent().expect("the file is in .storage"))
            .and_then(|()| std::fs::write(&temporary, text))
            .and_then(|()| std::fs::rename(&temporary, &self.file))
            .map_err(|e| format!("writing {}: {e}", self.file.display()))
    }

    pub fn refresh_token(&self) -> String {
        self.stored.lock().unwrap().refresh_token.clone()
    }

    /// A new access token for the refresh token, or None if it is not ours.
    pub fn exchange(&self, refresh_token: &str) -> Option<String> {
        if refresh_token != self.refresh_token() {
            return None;
        }
        let token = random_token();
        self.access_tokens.lock().unwrap().insert(token.clone());
        Some(token)
    }

    pub fn authorized(&self, access_token: &str) -> bool {
        self.access_tokens.lock().unwrap().contains(access_token)
    }

    /// Whether a user of that name has that password; recorded.
    pub fn login(&self, username: &str, password: &str) -> bool {
        let result = self
            .stored
            .lock()
            .unwrap()
            .users
            .iter()
            .any(|user| user.username.as_deref() == Some(username) && user.password.as_deref() == Some(password));
        self.record_auth("login", username, result);
        result
    }

    /// Sets the password of a user of that name, false if there is none; recorded.
    pub fn reset_password(&self, username: &str, password: &str) -> Result<bool, String> {
        let found = match self.stored.lock().unwrap().users.iter_mut().find(|u| u.username.as_deref() == Some(username))
        {
            Some(user) => {
                user.password = Some(password.to_owned());
                true
            }
            None => false,
        };
        self.record_auth("password_reset", username, found);
        if found {
            self.save()?;
        }
        Ok(found)
    }

    fn record_auth(&self, kind: &str, username: &str, result: bool) {
        self.record(|r| r.auth_calls.push(json!({"kind": kind, "username": username, "result": result})));
    }

    /// The users as `config/auth/list` shows them: without their passwords.
    pub fn users(&self) -> Value {
        let users = self.stored.lock().unwrap().users.clone();
        let mut users = serde_json::to_value(users).expect("users serialize");
        for user in users.as_array_mut().expect("a list") {
            user.as_object_mut().expect("an object").remove("password");
        }
        users
    }

    /// From now on, `/api` requests and websocket messages get no answer.
    pub fn hang(&self) {
        self.hung.store(true, Ordering::Relaxed);
    }

    pub fn is_hung(&self) -> bool {
        self.hung.load(Ordering::Relaxed)
    }

    pub fn record(&self, change: impl FnOnce(&mut Record)) {
        change(&mut self.record.lock().unwrap());
    }

    /// The record, with the version, the refresh token and whether the fixture hangs.
    pub fn state(&self) -> Value {
        let mut state = serde_json::to_value(&*self.record.lock().unwrap()).expect("the record serializes");
        state["version"] = json!(self.version);
        state["refresh_token"] = json!(self.refresh_token());
        state["hung"] = json!(self.is_hung());
        state
    }
}

/// The owner `homer` (password `donut`) and the system user Core makes for the supervisor.
fn initial_users() -> Vec<User> {
    let user = |id: &str, username: Option<&str>, name: &str, password: Option<&str>, owner: bool| User {
        id: id.to_owned(),
        username: username.map(str::to_owned),
        name: name.to_owned(),
        password: password.map(str::to_owned),
        is_owner: owner,
        is_active: true,
        local_only: false,
        system_generated: !owner,
        group_ids: vec!["system-admin".to_owned()],
    };
    vec![user("u1", Some("homer"), "Homer", Some("donut"), true), user("u2", None, "Supervisor", None, false)]
}

/// 32 random bytes in hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_passwords_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Fixture::open(dir.path(), "1".into(), None).unwrap();
        let refresh = fixture.refresh_token();
        let access = fixture.exchange(&refresh).unwrap();
        assert!(fixture.authorized(&access));
        assert!(fixture.exchange("wrong").is_none());
        assert!(fixture.login("homer", "donut"));
        assert!(fixture.reset_password("homer", "beer").unwrap());
        assert!(!fixture.reset_password("marge", "x").unwrap());

        let again = Fixture::open(dir.path(), "1".into(), None).unwrap();
        assert_eq!(again.refresh_token(), refresh);
        assert!(!again.authorized(&access), "access tokens last as long as the process");
        assert!(again.login("homer", "beer"));
        assert!(!again.login("homer", "donut"));
        assert!(again.users()[0].get("password").is_none());

        let preset = Fixture::open(dir.path(), "1".into(), Some("preset".into())).unwrap();
        assert_eq!(preset.refresh_token(), "preset");
    }
}
