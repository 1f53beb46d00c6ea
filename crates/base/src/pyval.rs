//! Python value semantics the real Supervisor's messages and coercions depend on.
//!
//! The Supervisor validates with voluptuous, so what a value coerces to (`vol.Coerce(int)`,
//! `vol.Boolean()`) and how it is printed in a message (`str()`, `repr()`) are Python's. These
//! helpers reproduce them for JSON values so the results and messages are the same on the wire.

use serde_json::Value;

/// `vol.Boolean()`: the words voluptuous accepts, any case; other values by Python truthiness.
/// `None` where voluptuous says `expected boolean` (a string that is none of the words).
pub fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::String(s) => match s.to_lowercase().as_str() {
            "1" | "true" | "yes" | "on" | "enable" => Some(true),
            "0" | "false" | "no" | "off" | "disable" => Some(false),
            _ => None,
        },
        other => Some(truthy(other)),
    }
}

/// Python's `bool(value)`.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `vol.Coerce(int)`: Python's `int(value)` (floats truncate, strings must be whole numbers).
pub fn coerce_int(value: &Value) -> Option<i64> {
    match value {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.is_finite() && f.abs() < 9.2e18).then(|| f.trunc() as i64)
        }),
        Value::String(s) => parse_python_int(s.trim()),
        _ => None,
    }
}

/// `vol.Coerce(float)`: Python's `float(value)`. Infinities and NaN cannot be written back as JSON,
/// so they are refused like any other unusable value.
pub fn coerce_float(value: &Value) -> Option<f64> {
    let f = match value {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().replace('_', "").parse::<f64>().ok()?,
        _ => return None,
    };
    f.is_finite().then_some(f)
}

/// Python's `int(str)`: optional sign, digits with single underscores between them.
fn parse_python_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let well_formed = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
    if !well_formed {
        return None;
    }
    s.replace('_', "").parse().ok()
}

/// Python's `str(value)`.
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr(value)` for the value as Python would have loaded it.
pub fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (_, Some(u)) => u.to_string(),
            _ => py_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => py_repr_str(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map.iter().map(|(k, v)| format!("{}: {}", py_repr_str(k), py_repr(v))).collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Python's `repr(str)`: single quotes unless the text has a single quote and no double quote.
fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(float)`: shortest round-trip digits, always a decimal point or an exponent,
/// exponent notation below 1e-4 and from 1e16 on (`1e+16`, `1e-05`).
pub fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let magnitude = f.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        let text = format!("{f:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exponent),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let text = f.to_string();
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn booleans_follow_voluptuous() {
        for word in ["1", "true", "YES", "on", "Enable"] {
            assert_eq!(boolean(&json!(word)), Some(true), "{word}");
        }
        for word in ["0", "False", "no", "OFF", "disable"] {
            assert_eq!(boolean(&json!(word)), Some(false), "{word}");
        }
        assert_eq!(boolean(&json!("maybe")), None);
        assert_eq!(boolean(&json!(1)), Some(true));
        assert_eq!(boolean(&json!(0)), Some(false));
        assert_eq!(boolean(&json!(true)), Some(true));
        assert_eq!(boolean(&json!([])), Some(false));
    }

    #[test]
    fn ints_coerce_like_python() {
        assert_eq!(coerce_int(&json!("42")), Some(42));
        assert_eq!(coerce_int(&json!(" -7 ")), Some(-7));
        assert_eq!(coerce_int(&json!("1_000")), Some(1000));
        assert_eq!(coerce_int(&json!(5.9)), Some(5));
        assert_eq!(coerce_int(&json!(true)), Some(1));
        assert_eq!(coerce_int(&json!("5.0")), None);
        assert_eq!(coerce_int(&json!("1__0")), None);
        assert_eq!(coerce_int(&json!("abc")), None);
        assert_eq!(coerce_int(&json!([1])), None);
    }

    #[test]
    fn floats_coerce_like_python() {
        assert_eq!(coerce_float(&json!("1.5")), Some(1.5));
        assert_eq!(coerce_float(&json!("1e3")), Some(1000.0));
        assert_eq!(coerce_float(&json!(2)), Some(2.0));
        assert_eq!(coerce_float(&json!("inf")), None);
        assert_eq!(coerce_float(&json!("x")), None);
    }

    #[test]
    fn repr_matches_python() {
        assert_eq!(py_repr(&json!({"message": true})), "{'message': True}");
        assert_eq!(py_repr(&json!([1, 2.5, "a'b", null])), r#"[1, 2.5, "a'b", None]"#);
        assert_eq!(py_repr(&json!("a'b\"c\n")), r#"'a\'b"c\n'"#);
        assert_eq!(py_float(10.0), "10.0");
        assert_eq!(py_float(-0.5), "-0.5");
        assert_eq!(py_float(1e16), "1e+16");
        assert_eq!(py_float(1.5e-5), "1.5e-05");
        assert_eq!(py_str(&json!(false)), "False");
        assert_eq!(py_str(&json!("x")), "x");
    }
}
