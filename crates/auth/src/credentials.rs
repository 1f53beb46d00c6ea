//! The credentials of a `/auth` request, read the way the real Supervisor reads them: an
//! `Authorization` header is HTTP Basic and nothing else; otherwise the body, when its
//! content type is exactly JSON or exactly a form (with a `charset` it is neither), with the
//! fields `username` (or `user`) and `password`.

use actix_web::http::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use base64::Engine;
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub(crate) const JSON: &str = "application/json";
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

/// Where the credentials came from: refusing Basic ones names the realm, as browsers expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Basic,
    Body,
}

/// A login as a JSON or form body, or in HTTP Basic credentials.
#[derive(Debug, PartialEq, Eq, ToSchema)]
pub struct AuthCredentials {
    /// Also accepted as `user`.
    pub username: String,
    pub password: String,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Login {
    pub scheme: Scheme,
    pub credentials: AuthCredentials,
}

impl Login {
    fn new(scheme: Scheme, username: String, password: String) -> Login {
        Login { scheme, credentials: AuthCredentials { username, password } }
    }
}

/// Why no login could be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 401 with the realm: Basic credentials that do not decode, or no credentials in a form
    /// we read.
    Unreadable,
    /// 401 with the realm and `auth_invalid_non_string_value_error`: a username or password
    /// that is missing or not a string.
    NotStrings,
    /// 400: a body that is not what its content type says.
    Malformed(String),
}

pub(crate) fn read(headers: &HeaderMap, body: &[u8]) -> Result<Login, Refusal> {
    if let Some(header) = headers.get(AUTHORIZATION) {
        let (username, password) = basic(header.as_bytes()).ok_or(Refusal::Unreadable)?;
        return Ok(Login::new(Scheme::Basic, username, password));
    }
    let fields = match headers.get(CONTENT_TYPE).map(|v| v.as_bytes()) {
        Some(kind) if kind == JSON.as_bytes() => json_fields(body)?,
        Some(kind) if kind == FORM.as_bytes() => form_fields(body)?,
        _ => return Err(Refusal::Unreadable),
    };
    // `username`, or `user` when `username` is empty in Python's sense (`or`).
    let username = fields.get("username").filter(|v| truthy(v)).or_else(|| fields.get("user"));
    match (username, fields.get("password")) {
        (Some(Value::String(username)), Some(Value::String(password))) => {
            Ok(Login::new(Scheme::Body, username.clone(), password.clone()))
        }
        _ => Err(Refusal::NotStrings),
    }
}

/// `Basic <base64 of user:password>`: the scheme in any case, strict base64, Latin-1 text, the
/// password after the first colon.
fn basic(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let text: String = decoded.iter().map(|&b| char::from(b)).collect();
    let (username, password) = text.split_once(':')?;
    Some((username.to_owned(), password.to_owned()))
}

fn json_fields(body: &[u8]) -> Result<Map<String, Value>, Refusal> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(Refusal::Malformed("Invalid JSON body: expected a JSON object".to_owned())),
        Err(e) => Err(Refusal::Malformed(format!("Invalid JSON body: {e}"))),
    }
}

/// A form's fields, the first value of each name.
fn form_fields(body: &[u8]) -> Result<Map<String, Value>, Refusal> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| Refusal::Malformed(format!("Invalid form body: {e}")))?;
    let mut fields = Map::new();
    for (name, value) in pairs {
        fields.entry(name).or_insert(Value::String(value));
    }
    Ok(fields)
}

/// Python's truth of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn login(scheme: Scheme, username: &str, password: &str) -> Result<Login, Refusal> {
        Ok(Login::new(scheme, username.to_owned(), password.to_owned()))
    }

    #[test]
    fn basic_credentials() {
        // "user:pa:ss" — the password keeps its colons.
        let h = headers(&[(AUTHORIZATION, "Basic dXNlcjpwYTpzcw==")]);
        assert_eq!(read(&h, b""), login(Scheme::Basic, "user", "pa:ss"));
        let h = headers(&[(AUTHORIZATION, "bAsIc dXNlcjpwYTpzcw==")]);
        assert_eq!(read(&h, b""), login(Scheme::Basic, "user", "pa:ss"));
        // Latin-1, as aiohttp decodes it: "é:x".
        let h = headers(&[(AUTHORIZATION, "Basic 6Tp4")]);
        assert_eq!(read(&h, b""), login(Scheme::Basic, "\u{e9}", "x"));
        // The header wins over a body, and anything but Basic is unreadable.
        for bad in ["Bearer abc", "Basic", "Basic dXNlcg==", "Basic dXNlcjpwYTpzcw", "Basic !!!!"] {
            let h = headers(&[(AUTHORIZATION, bad), (CONTENT_TYPE, JSON)]);
            assert_eq!(read(&h, br#"{"username":"a","password":"b"}"#), Err(Refusal::Unreadable), "{bad}");
        }
    }

    #[test]
    fn json_and_form_bodies() {
        let json = headers(&[(CONTENT_TYPE, JSON)]);
        assert_eq!(read(&json, br#"{"username":"a","password":"b"}"#), login(Scheme::Body, "a", "b"));
        assert_eq!(read(&json, br#"{"user":"a","password":"b"}"#), login(Scheme::Body, "a", "b"));
        assert_eq!(read(&json, br#"{"username":"","user":"a","password":"b"}"#), login(Scheme::Body, "a", "b"));
        assert_eq!(read(&json, br#"{"username":0,"user":"a","password":"b"}"#), login(Scheme::Body, "a", "b"));
        let form = headers(&[(CONTENT_TYPE, FORM)]);
        assert_eq!(read(&form, b"username=a%20b&password=c&password=d"), login(Scheme::Body, "a b", "c"));
        assert_eq!(read(&form, b"user=a&password="), login(Scheme::Body, "a", ""));
    }

    #[test]
    fn missing_or_non_string_fields() {
        let json = headers(&[(CONTENT_TYPE, JSON)]);
        for body in [
            r#"{"username":5,"password":"b"}"#,
            r#"{"username":"a","password":5}"#,
            r#"{"username":"a"}"#,
            r#"{"password":"b"}"#,
            r#"{"username":"","user":null,"password":"b"}"#,
            r#"{}"#,
        ] {
            assert_eq!(read(&json, body.as_bytes()), Err(Refusal::NotStrings), "{body}");
        }
        let form = headers(&[(CONTENT_TYPE, FORM)]);
        assert_eq!(read(&form, b"username=a"), Err(Refusal::NotStrings));
        assert!(matches!(read(&json, b"[1]"), Err(Refusal::Malformed(_))));
        assert!(matches!(read(&json, b"{"), Err(Refusal::Malformed(_))));
    }

    #[test]
    fn content_types_must_match_exactly() {
        let body = br#"{"username":"a","password":"b"}"#;
        for kind in ["application/json; charset=utf-8", "text/plain", "Application/JSON"] {
            assert_eq!(read(&headers(&[(CONTENT_TYPE, kind)]), body), Err(Refusal::Unreadable), "{kind}");
        }
        assert_eq!(read(&HeaderMap::new(), body), Err(Refusal::Unreadable));
    }
}
