//! Browser sessions of the admin UI.
//!
//! The CLI (or any admin caller) mints a one-time login code; opening the login link with it
//! trades the code for a session: a session id for the `HttpOnly` cookie and a CSRF token the
//! pages send back as a header on every request that changes state. Codes last five minutes and
//! work once; sessions end after an hour without a request, twelve hours after login, at logout,
//! or when every session is revoked.
//!
//! Codes and session ids are 256-bit random secrets, kept only as their SHA-256: a lookup compares
//! digests, never the secret, so its timing says nothing about the secret, and the daemon's memory
//! holds no live credential. The CSRF token is compared in constant time. None of them is ever
//! logged. Sessions live in memory only: a restart of the daemon ends them all.

use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie that holds the session id (`HttpOnly`).
pub const SESSION_COOKIE: &str = "supervisor_session";
/// The cookie that holds the session's CSRF token, for the pages' scripts to read.
pub const CSRF_COOKIE: &str = "supervisor_csrf";
/// The header a state-changing request of a session carries its CSRF token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// Random bytes of a code, a session id and a CSRF token.
const SECRET_BYTES: usize = 32;
/// Codes minted and not yet used, at most; the oldest go first. The CLI mints one per login.
const MAX_CODES: usize = 32;
/// Open sessions, at most; the one used least recently ends first.
const MAX_SESSIONS: usize = 256;

/// How long codes and sessions last.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// A login code, from minting to use.
    pub code: Duration,
    /// A session without a request.
    pub idle: Duration,
    /// A session from its login, however busy.
    pub absolute: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            code: Duration::from_secs(5 * 60),
            idle: Duration::from_secs(60 * 60),
            absolute: Duration::from_secs(12 * 60 * 60),
        }
    }
}

/// A session just opened: what its two cookies carry.
pub struct Opened {
    pub id: String,
    pub csrf: String,
}

/// What the cookies of a request say about its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// No session cookie: the request is decided by its token alone.
    NoCookie,
    /// A live session, and the request is a read or carries the session's CSRF token.
    Admin,
    /// A session cookie of no live session: expired, ended or never opened.
    Ended,
    /// A live session, but the state-changing request lacks the CSRF header.
    MissingCsrf,
    /// A live session, but the CSRF header is not the session's token.
    WrongCsrf,
}

impl Authentication {
    /// The 403 of a live session's request that fails the CSRF check.
    pub fn csrf_refusal(self) -> Option<&'static str> {
        match self {
            Authentication::MissingCsrf => Some(
                "The X-CSRF-Token header is missing: a request that changes state with the admin session cookie must carry the session's CSRF token (the supervisor_csrf cookie)",
            ),
            Authentication::WrongCsrf => {
                Some("The X-CSRF-Token header does not match the admin session's CSRF token (the supervisor_csrf cookie)")
            }
            _ => None,
        }
    }

    /// The 401 of a session cookie that no longer opens anything.
    pub fn ended(self) -> Option<&'static str> {
        (self == Authentication::Ended).then_some(
            "The admin session has expired or was ended: run `ha admin login` on the machine for a new login link",
        )
    }
}

struct Session {
    csrf: String,
    opened: Instant,
    seen: Instant,
}

#[derive(Default)]
struct Inner {
    /// Expiry of each unused code, by the code's digest.
    codes: HashMap<[u8; 32], Instant>,
    /// By the session id's digest.
    sessions: HashMap<[u8; 32], Session>,
}

/// Every login code and session of the admin UI.
pub struct Sessions {
    lifetimes: Lifetimes,
    inner: Mutex<Inner>,
}

impl Sessions {
    pub fn new(lifetimes: Lifetimes) -> Sessions {
        Sessions { lifetimes, inner: Mutex::default() }
    }

    pub fn lifetimes(&self) -> Lifetimes {
        self.lifetimes
    }

    /// A new one-time login code.
    pub fn mint_code(&self) -> String {
        self.mint_code_at(Instant::now())
    }

    /// Trades a login code for a new session; `None` for a code that is unknown, used or expired.
    pub fn open(&self, code: &str) -> Option<Opened> {
        self.open_at(code, Instant::now())
    }

    /// Ends the session `id`; whether it was open.
    pub fn end(&self, id: &str) -> bool {
        self.lock().sessions.remove(&digest(id)).is_some()
    }

    /// Ends every session and forgets every unused code; how many sessions were open.
    pub fn end_all(&self) -> usize {
        let mut inner = self.lock();
        inner.codes.clear();
        let open = inner.sessions.len();
        inner.sessions.clear();
        open
    }

    /// The session of a request's cookies, and whether a state-changing `method` carries its CSRF
    /// token; a request of a live session keeps it from going idle.
    pub fn authenticate(&self, headers: &HeaderMap, method: &Method) -> Authentication {
        self.authenticate_at(headers, method, Instant::now())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("admin sessions lock")
    }

    fn mint_code_at(&self, now: Instant) -> String {
        let code = base::random::hex_token(SECRET_BYTES);
        let mut inner = self.lock();
        inner.codes.retain(|_, expires| *expires > now);
        if inner.codes.len() >= MAX_CODES {
            if let Some(oldest) = inner.codes.iter().min_by_key(|(_, expires)| **expires).map(|(key, _)| *key) {
                inner.codes.remove(&oldest);
            }
        }
        inner.codes.insert(digest(&code), now + self.lifetimes.code);
        code
    }

    fn open_at(&self, code: &str, now: Instant) -> Option<Opened> {
        let mut inner = self.lock();
        // Used or not, a code presented is gone.
        let expires = inner.codes.remove(&digest(code))?;
        if expires <= now {
            return None;
        }
        let lifetimes = self.lifetimes;
        inner.sessions.retain(|_, session| session.live(now, lifetimes));
        if inner.sessions.len() >= MAX_SESSIONS {
            if let Some(idlest) = inner.sessions.iter().min_by_key(|(_, session)| session.seen).map(|(key, _)| *key) {
                inner.sessions.remove(&idlest);
            }
        }
        let opened = Opened { id: base::random::hex_token(SECRET_BYTES), csrf: base::random::hex_token(SECRET_BYTES) };
        inner.sessions.insert(digest(&opened.id), Session { csrf: opened.csrf.clone(), opened: now, seen: now });
        Some(opened)
    }

    fn authenticate_at(&self, headers: &HeaderMap, method: &Method, now: Instant) -> Authentication {
        let Some(id) = http_api::cookie::cookie(headers, SESSION_COOKIE) else { return Authentication::NoCookie };
        let mut inner = self.lock();
        let key = digest(&id);
        let Some(session) = inner.sessions.get_mut(&key) else { return Authentication::Ended };
        if !session.live(now, self.lifetimes) {
            inner.sessions.remove(&key);
            return Authentication::Ended;
        }
        session.seen = now;
        if matches!(*method, Method::GET | Method::HEAD) {
            return Authentication::Admin;
        }
        match headers.get(CSRF_HEADER).map(|value| value.as_bytes()) {
            None | Some(b"") => Authentication::MissingCsrf,
            Some(sent) if base::random::constant_time_eq(sent, session.csrf.as_bytes()) => Authentication::Admin,
            Some(_) => Authentication::WrongCsrf,
        }
    }
}

impl Session {
    fn live(&self, now: Instant, lifetimes: Lifetimes) -> bool {
        now < self.seen + lifetimes.idle && now < self.opened + lifetimes.absolute
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn request(cookie: Option<&str>, csrf: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(id) = cookie {
            let value = format!("{CSRF_COOKIE}=x; {SESSION_COOKIE}={id}");
            headers.insert(HeaderName::from_static("cookie"), HeaderValue::from_str(&value).unwrap());
        }
        if let Some(csrf) = csrf {
            headers.insert(HeaderName::from_static("x-csrf-token"), HeaderValue::from_str(csrf).unwrap());
        }
        headers
    }

    fn lifetimes() -> Lifetimes {
        Lifetimes {
            code: Duration::from_secs(300),
            idle: Duration::from_secs(3600),
            absolute: Duration::from_secs(43200),
        }
    }

    #[test]
    fn a_code_opens_one_session_once_and_only_before_it_expires() {
        let sessions = Sessions::new(lifetimes());
        let start = Instant::now();
        let code = sessions.mint_code_at(start);
        assert_eq!(code.len(), 64);
        let opened = sessions.open_at(&code, start + Duration::from_secs(299)).expect("a fresh code opens a session");
        assert_eq!((opened.id.len(), opened.csrf.len()), (64, 64));
        assert_ne!(opened.id, opened.csrf);
        assert!(sessions.open_at(&code, start).is_none(), "a code works once");

        let late = sessions.mint_code_at(start);
        assert!(sessions.open_at(&late, start + Duration::from_secs(300)).is_none(), "an expired code");
        assert!(sessions.open_at("0".repeat(64).as_str(), start).is_none(), "a code never minted");
    }

    #[test]
    fn reads_pass_and_changes_need_the_csrf_token() {
        let sessions = Sessions::new(lifetimes());
        let now = Instant::now();
        let opened = sessions.open_at(&sessions.mint_code_at(now), now).unwrap();
        let id = Some(opened.id.as_str());
        let check = |headers: HeaderMap, method: Method| sessions.authenticate_at(&headers, &method, now);
        assert_eq!(check(request(None, None), Method::POST), Authentication::NoCookie);
        assert_eq!(check(request(id, None), Method::GET), Authentication::Admin);
        assert_eq!(check(request(id, None), Method::HEAD), Authentication::Admin);
        assert_eq!(check(request(id, None), Method::POST), Authentication::MissingCsrf);
        assert_eq!(check(request(id, Some("")), Method::DELETE), Authentication::MissingCsrf);
        assert_eq!(check(request(id, Some(&opened.id)), Method::POST), Authentication::WrongCsrf);
        assert_eq!(check(request(id, Some(&opened.csrf)), Method::POST), Authentication::Admin);
        assert_eq!(check(request(id, Some(&opened.csrf)), Method::OPTIONS), Authentication::Admin);
        assert_eq!(check(request(Some(&opened.csrf), Some(&opened.csrf)), Method::POST), Authentication::Ended);
        assert!(Authentication::MissingCsrf.csrf_refusal().unwrap().contains("X-CSRF-Token header is missing"));
        assert!(Authentication::Admin.csrf_refusal().is_none());
    }

    #[test]
    fn sessions_end_when_idle_after_their_lifetime_or_when_ended() {
        let sessions = Sessions::new(lifetimes());
        let start = Instant::now();
        let get = |id: &str, at: Duration| sessions.authenticate_at(&request(Some(id), None), &Method::GET, start + at);
        let idle = sessions.open_at(&sessions.mint_code_at(start), start).unwrap();
        assert_eq!(get(&idle.id, Duration::from_secs(3599)), Authentication::Admin);
        // Each request restarts the idle time.
        assert_eq!(get(&idle.id, Duration::from_secs(7198)), Authentication::Admin);
        assert_eq!(get(&idle.id, Duration::from_secs(7198 + 3600)), Authentication::Ended);
        assert_eq!(get(&idle.id, Duration::from_secs(0)), Authentication::Ended, "an ended session stays ended");

        let busy = sessions.open_at(&sessions.mint_code_at(start), start).unwrap();
        for step in 1..=14 {
            assert_eq!(get(&busy.id, Duration::from_secs(step * 3000)), Authentication::Admin);
        }
        assert_eq!(get(&busy.id, Duration::from_secs(12 * 3600)), Authentication::Ended, "absolute lifetime");

        let one = sessions.open_at(&sessions.mint_code_at(start), start).unwrap();
        let two = sessions.open_at(&sessions.mint_code_at(start), start).unwrap();
        assert!(sessions.end(&one.id));
        assert!(!sessions.end(&one.id));
        assert_eq!(get(&one.id, Duration::ZERO), Authentication::Ended);
        assert_eq!(get(&two.id, Duration::ZERO), Authentication::Admin);
        let unused = sessions.mint_code_at(start);
        assert_eq!(sessions.end_all(), 1);
        assert_eq!(get(&two.id, Duration::ZERO), Authentication::Ended);
        assert!(sessions.open_at(&unused, start).is_none(), "revoking everything forgets unused codes too");
    }

    #[test]
    fn codes_and_sessions_are_bounded() {
        let sessions = Sessions::new(lifetimes());
        let start = Instant::now();
        let first = sessions.mint_code_at(start);
        let codes: Vec<String> =
            (1..=MAX_CODES as u64).map(|i| sessions.mint_code_at(start + Duration::from_millis(i))).collect();
        assert!(sessions.open_at(&first, start).is_none(), "the oldest code made room");
        let idlest = sessions.open_at(&codes[0], start).expect("a newer code still opens");

        let opened: Vec<Opened> = (1..=MAX_SESSIONS as u64)
            .map(|i| {
                let at = start + Duration::from_millis(i);
                sessions.open_at(&sessions.mint_code_at(at), at).unwrap()
            })
            .collect();
        assert_eq!(sessions.lock().sessions.len(), MAX_SESSIONS);
        let get = |id: &str| sessions.authenticate_at(&request(Some(id), None), &Method::GET, start);
        assert_eq!(get(&idlest.id), Authentication::Ended, "the session used least recently made room");
        assert_eq!(get(&opened[0].id), Authentication::Admin);
        assert!(sessions.lock().sessions.contains_key(&digest(&opened[0].id)), "kept by digest");
    }
}
