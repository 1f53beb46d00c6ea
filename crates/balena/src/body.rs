//! JSON request bodies of the device API: read whatever their content type, an empty body
//! counting as `{}`, parsed as the HA API's (`http_api::body::parse_object`: the message names
//! the problem, unknown keys included), but refused as the balena Supervisor refuses a request,
//! with a plain-text 400.

use crate::failure::Failure;
use actix_web::dev::Payload;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// A JSON object body deserialized into `T`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = Failure;
    type Future = LocalBoxFuture<'static, Result<Self, Failure>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|e| {
                Failure::text(e.as_response_error().status_code(), format!("Invalid request body: {e}"))
            })?;
            let parsed = http_api::body::parse_object(&bytes, false);
            parsed.map(Body).map_err(|refusal| Failure::text(refusal.status, refusal.error.message))
        })
    }
}

/// The balena Supervisor's `checkTruthy`: `true`, `1`, `"true"`, `"1"` and `"on"` are true,
/// anything else false; for `#[serde(default, deserialize_with = "truthy")]`.
pub fn truthy<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(match value {
        serde_json::Value::Bool(flag) => flag,
        serde_json::Value::Number(number) => number.as_f64() == Some(1.0),
        serde_json::Value::String(text) => matches!(text.as_str(), "true" | "1" | "on"),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Force {
        #[serde(default, deserialize_with = "truthy")]
        force: bool,
    }

    #[test]
    fn truthy_values_are_the_balena_supervisors() {
        for (body, expected) in [
            (r#"{"force": true}"#, true),
            (r#"{"force": "1"}"#, true),
            (r#"{"force": "on"}"#, true),
            (r#"{"force": 1}"#, true),
            (r#"{"force": "yes"}"#, false),
            (r#"{"force": 0}"#, false),
            (r#"{"force": null}"#, false),
            ("{}", false),
        ] {
            assert_eq!(serde_json::from_str::<Force>(body).unwrap().force, expected, "{body}");
        }
    }
}
