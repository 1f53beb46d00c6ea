//! JSON request bodies, parsed the way the real Supervisor's clients expect.
//!
//! The body is read whatever its content type (the `ha` CLI and curl users do not always set
//! one), an empty body counts as `{}`, and every failure is a 400 whose message names the
//! problem: bad JSON, a wrong type, an unknown key (request types use `deny_unknown_fields`), or an
//! empty object where an options endpoint needs at least one key.

use crate::ApiError;
use actix_web::dev::Payload;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

/// A JSON object body deserialized into `T`.
#[derive(Debug)]
pub struct Body<T>(pub T);

/// An options body: like [`Body`], but an empty object is refused, since changing nothing is
/// almost always a client bug.
#[derive(Debug)]
pub struct Options<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Options<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Parses `bytes` as a JSON object into `T`; `require_key` refuses `{}`.
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8], require_key: bool) -> Result<T, ApiError> {
    let trimmed = bytes.iter().all(u8::is_ascii_whitespace);
    let value: serde_json::Value = if trimmed {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))?
    };
    let Some(object) = value.as_object() else {
        return Err(ApiError::bad_request("Invalid JSON body: expected a JSON object"));
    };
    if require_key && object.is_empty() {
        return Err(ApiError::bad_request("The payload must contain at least one option"));
    }
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("Invalid payload: {e}")))
}

fn extract<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    require_key: bool,
) -> LocalBoxFuture<'static, Result<T, ApiError>> {
    let bytes = Bytes::from_request(req, payload);
    Box::pin(async move {
        let bytes = bytes.await.map_err(|e| {
            let status = e.as_response_error().status_code();
            ApiError::new(status, format!("Invalid request body: {e}"))
        })?;
        parse_object(&bytes, require_key)
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let parsed = extract::<T>(req, payload, false);
        Box::pin(async move { parsed.await.map(Body) })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Options<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let parsed = extract::<T>(req, payload, true);
        Box::pin(async move { parsed.await.map(Options) })
    }
}

/// For `#[serde(default, deserialize_with = "base::body::present")]` on an `Option<Option<T>>`
/// field: a key that is absent stays `None`, a key given as `null` becomes `Some(None)`, so
/// options endpoints can tell "leave as is" from "reset to default".
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Opts {
        debug: Option<bool>,
    }

    #[test]
    fn empty_body_is_an_empty_object() {
        assert_eq!(parse_object::<Opts>(b"", false).unwrap(), Opts { debug: None });
        assert!(parse_object::<Opts>(b"  ", true).unwrap_err().error.message.contains("at least one"));
    }

    #[test]
    fn errors_name_the_problem() {
        let unknown = parse_object::<Opts>(br#"{"bogus": 1}"#, false).unwrap_err();
        assert!(unknown.error.message.contains("bogus"), "{}", unknown.error.message);
        let wrong = parse_object::<Opts>(br#"{"debug": "yes"}"#, false).unwrap_err();
        assert!(wrong.error.message.contains("invalid type"), "{}", wrong.error.message);
        let array = parse_object::<Opts>(b"[]", false).unwrap_err();
        assert!(array.error.message.contains("JSON object"));
        let broken = parse_object::<Opts>(b"{", false).unwrap_err();
        assert!(broken.error.message.starts_with("Invalid JSON body"));
    }
}
