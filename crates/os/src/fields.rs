//! Request bodies read key by key, so that every refusal names the key it is about, as the real
//! Supervisor's answers do (`... for dictionary value @ data['swappiness']`).

use base::Error;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub struct Fields(Map<String, Value>);

impl Fields {
    /// Takes a body whose keys must all be among `known`.
    pub fn new(body: Map<String, Value>, known: &[&str]) -> Result<Fields, Error> {
        if let Some(unknown) = body.keys().find(|key| !known.contains(&key.as_str())) {
            let expected: Vec<String> = known.iter().map(|key| format!("`{key}`")).collect();
            return Err(Error::invalid(format!(
                "Invalid payload: unknown field `{unknown}`, expected {}",
                match &expected[..] {
                    [] => "none".to_owned(),
                    [only] => only.clone(),
                    all => format!("one of {}", all.join(", ")),
                }
            )));
        }
        Ok(Fields(body))
    }

    /// The value of `key` if the body has it; a value of another type is refused naming the key.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let Some(value) = self.0.get(key) else { return Ok(None) };
        serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|error| Error::invalid(format!("Invalid {key}: {error}")))
    }

    /// The value of a key the body must have; `what` says what it should be.
    pub fn require<T: DeserializeOwned>(&self, key: &str, what: &str) -> Result<T, Error> {
        self.get(key)?.ok_or_else(|| Error::invalid(format!("Missing {key}: {what}")))
    }

    /// A version given as a string or a number (`"16.1"` or `16.1`), as the real `version_tag`
    /// takes it.
    pub fn version(&self, key: &str) -> Result<Option<String>, Error> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(text)) if !text.trim().is_empty() => Ok(Some(text.trim().to_owned())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(other) => Err(Error::invalid(format!("Invalid {key}: {other} is not a version"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(body: Value, known: &[&str]) -> Result<Fields, Error> {
        Fields::new(body.as_object().unwrap().clone(), known)
    }

    #[test]
    fn refusals_name_the_key() {
        let error = fields(json!({"x": 1}), &["a", "b"]).err().unwrap();
        assert_eq!(error.message, "Invalid payload: unknown field `x`, expected one of `a`, `b`");
        let body = fields(json!({"a": "yes", "v": 16.1}), &["a", "v", "c"]).unwrap();
        let error = body.get::<bool>("a").unwrap_err();
        assert!(error.message.starts_with("Invalid a: invalid type: string \"yes\""), "{}", error.message);
        assert_eq!(body.version("v").unwrap().as_deref(), Some("16.1"));
        assert_eq!(body.get::<bool>("c").unwrap(), None);
        assert_eq!(body.require::<bool>("c", "true or false").unwrap_err().message, "Missing c: true or false");
        assert!(fields(json!({"v": true}), &["v"]).unwrap().version("v").is_err());
        let error = fields(json!({"x": 1}), &[]).err().unwrap();
        assert_eq!(error.message, "Invalid payload: unknown field `x`, expected none");
    }
}
