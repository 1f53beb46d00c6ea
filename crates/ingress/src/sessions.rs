//! Ingress sessions, as the real Supervisor keeps them: a token of 128 hex characters valid for
//! 15 minutes, each successful validation pushing the expiry 15 minutes past the old one, and
//! optionally the Home Assistant user the session was opened for. An expired session is
//! dropped when it is next touched, and all expired ones when a session is opened.
//!
//! Every request through ingress validates its session, so the expiry changes far more often
//! than the disk should be written: sessions live in memory and reach the database when opened
//! or dropped, and extensions at most once a minute. A restart loses at most a minute of
//! extensions, never a session.

use serde::{Deserialize, Serialize};
use state::Persisted;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use utoipa::ToSchema;

/// How long a session lives, and how much each validation adds.
const VALIDITY: f64 = 15.0 * 60.0;
/// Extensions are written at most this often.
const WRITE_EVERY: Duration = Duration::from_secs(60);
/// 64 random bytes: 128 hex characters.
const TOKEN_BYTES: usize = 64;

/// The Home Assistant user a session was opened for, told to the add-on in `X-Remote-User-*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionUser {
    pub id: String,
    pub username: Option<String>,
    /// The display name.
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SessionData {
    user: SessionUser,
}

/// The sessions as stored: expiry (Unix seconds) and user by token, the real `ingress.json`'s
/// shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SessionsFile {
    session: BTreeMap<String, f64>,
    session_data: BTreeMap<String, SessionData>,
}

impl SessionsFile {
    fn open(&mut self, token: &str, user: Option<SessionUser>, now: f64) {
        self.drop_expired(now);
        self.session.insert(token.to_owned(), now + VALIDITY);
        if let Some(user) = user {
            self.session_data.insert(token.to_owned(), SessionData { user });
        }
    }

    /// Whether `token` is a live session, extending it if so and dropping it if it expired;
    /// `None` when nothing changed (an unknown token).
    fn validate(&mut self, token: &str, now: f64) -> Option<bool> {
        let expiry = *self.session.get(token)?;
        if expiry < now {
            self.remove(token);
            return Some(false);
        }
        self.session.insert(token.to_owned(), expiry + VALIDITY);
        Some(true)
    }

    fn remove(&mut self, token: &str) {
        self.session.remove(token);
        self.session_data.remove(token);
    }

    /// Drops every expired session; whether there was one.
    fn drop_expired(&mut self, now: f64) -> bool {
        let expired: Vec<String> =
            self.session.iter().filter(|(_, expiry)| **expiry < now).map(|(token, _)| token.clone()).collect();
        expired.iter().for_each(|token| self.remove(token));
        // Data without a session is left over from an interrupted write.
        let before = self.session_data.len();
        let live = &self.session;
        self.session_data.retain(|token, _| live.contains_key(token));
        !expired.is_empty() || before != self.session_data.len()
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

pub(crate) struct Sessions {
    persisted: Persisted<SessionsFile>,
    live: Mutex<Live>,
}

struct Live {
    file: SessionsFile,
    /// When the live sessions were last written.
    written: Instant,
}

impl Sessions {
    /// Loads the sessions, without the expired ones.
    pub(crate) fn load(store: &state::Store) -> state::Result<Sessions> {
        let persisted = Persisted::load(store.section("ingress")?, "sessions")?;
        let mut file: SessionsFile = persisted.get();
        if file.drop_expired(now()) {
            persisted.update(|stored| *stored = file.clone())?;
        }
        Ok(Sessions { persisted, live: Mutex::new(Live { file, written: Instant::now() }) })
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the live sessions.
    fn write(&self, live: &mut Live) -> Result<(), base::Error> {
        self.persisted.update(|stored| *stored = live.file.clone())?;
        live.written = Instant::now();
        Ok(())
    }

    /// Opens a session, for `user` if given; answers its token.
    pub(crate) fn open(&self, user: Option<SessionUser>) -> Result<String, base::Error> {
        let token = base::random::hex_token(TOKEN_BYTES);
        let mut live = self.live();
        live.file.open(&token, user, now());
        self.write(&mut live)?;
        Ok(token)
    }

    /// Whether `token` is a live session; a live one is extended.
    pub(crate) fn validate(&self, token: &str) -> bool {
        let mut live = self.live();
        let Some(valid) = live.file.validate(token, now()) else { return false };
        // A drop is written at once, an extension when the last write is old enough.
        if !valid || live.written.elapsed() >= WRITE_EVERY {
            if let Err(e) = self.write(&mut live) {
                tracing::warn!("Can't save the ingress sessions: {}", e.message);
            }
        }
        valid
    }

    /// The user a session was opened for.
    pub(crate) fn user(&self, token: &str) -> Option<SessionUser> {
        self.live().file.session_data.get(token).map(|data| data.user.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> SessionUser {
        SessionUser { id: "abc".into(), username: Some("owner".into()), name: Some("Owner".into()) }
    }

    #[test]
    fn validation_extends_from_the_old_expiry() {
        let mut file = SessionsFile::default();
        file.open("t", None, 1000.0);
        assert_eq!(file.session["t"], 1900.0);
        assert_eq!(file.validate("t", 1100.0), Some(true));
        assert_eq!(file.session["t"], 2800.0, "the old expiry plus 15 minutes, not now plus 15 minutes");
        assert_eq!(file.validate("unknown", 1100.0), None);
    }

    #[test]
    fn an_expired_session_is_dropped_when_touched() {
        let mut file = SessionsFile::default();
        file.open("t", Some(user()), 1000.0);
        assert_eq!(file.validate("t", 1900.0), Some(true), "valid up to its expiry");
        assert_eq!(file.validate("t", 2801.0), Some(false));
        assert!(file.session.is_empty() && file.session_data.is_empty());
        assert_eq!(file.validate("t", 2801.0), None);
    }

    #[test]
    fn opening_drops_every_expired_session() {
        let mut file = SessionsFile::default();
        file.open("old", Some(user()), 1000.0);
        file.open("new", None, 5000.0);
        assert_eq!(file.session.keys().collect::<Vec<_>>(), ["new"]);
        assert!(file.session_data.is_empty());
    }

    #[test]
    fn stored_shape_is_the_real_one() {
        let mut file = SessionsFile::default();
        file.open("t", Some(user()), 1000.0);
        assert_eq!(
            serde_json::to_value(&file).unwrap(),
            serde_json::json!({
                "session": {"t": 1900.0},
                "session_data": {"t": {"user": {"id": "abc", "username": "owner", "name": "Owner"}}},
            })
        );
    }

    #[test]
    fn sessions_survive_a_restart_and_expired_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = state::Store::open(dir.path()).unwrap();
        let sessions = Sessions::load(&store).unwrap();
        let token = sessions.open(Some(user())).unwrap();
        assert_eq!(token.len(), 128);
        assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(sessions.validate(&token));
        assert!(!sessions.validate("nope"));
        drop(sessions);

        let stale = Persisted::<SessionsFile>::load(store.section("ingress").unwrap(), "sessions").unwrap();
        stale.update(|file| file.open("expired", None, 0.0)).unwrap();
        drop(stale);
        let sessions = Sessions::load(&store).unwrap();
        assert_eq!(sessions.user(&token), Some(user()));
        assert!(sessions.validate(&token));
        assert!(!sessions.validate("expired"));
    }
}
