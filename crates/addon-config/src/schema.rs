//! The options schema language of `config.yaml`'s `schema` key: parsing, validating an add-on's
//! options with the real Supervisor's messages, the UI schema and the password values.
//!
//! A schema maps option names to a type string (`str`, `int(1,10)?`, `list(a|b)`, ...), a
//! one-element list (a list of that element) or a nested mapping. Validation follows the
//! Supervisor's `AppOptions`: unknown keys are dropped, values are coerced, missing required keys
//! are reported. Bounded `str`/`password` types check the length (the fixed upstream behaviour;
//! older Supervisors rejected every value of such a type).

use crate::config::is_url;
use base::pyval::{boolean, coerce_float, coerce_int, py_float, py_repr, py_str, truthy};
use regex::Regex;
use serde_json::{json, Map, Value};
use std::path::{Component, Path};
use std::sync::LazyLock;

/// `RE_SCHEMA_ELEMENT`, the grammar of a type string; a trailing `?` makes the option optional.
static RE_SCHEMA_ELEMENT: LazyLock<Regex> = LazyLock::new(|| {
    crate::python_regex(concat!(
        r"^(?:",
        r"|bool|email|url|port",
        r"|device(?:\((?P<filter>subsystem=[a-z]+)\))?",
        r"|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?",
        r"|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?",
        r"|int(?:\((?P<i_min>-?\d+)?,(?P<i_max>-?\d+)?\))?",
        r"|float(?:\((?P<f_min>-?\d*\.?\d+)?,(?P<f_max>-?\d*\.?\d+)?\))?",
        r"|match\((?P<match>.*)\)",
        r"|list\((?P<list>.+)\)",
        r")\??$"
    ))
});

/// voluptuous' `Email()`: a dot-atom or quoted local part and a domain name or IPv4 literal.
static RE_EMAIL_USER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)^(?:[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(?:\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*",
        r#"|"(?:[\x01-\x08\x0b\x0c\x0e-\x1f!#-\[\]-\x7f]|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*")$"#
    ))
    .expect("static regex")
});
static RE_EMAIL_DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)^(?:(?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+(?:[A-Z]{2,6}\.?|[A-Z0-9-]{2,}\.?)",
        r"|\[(?:25[0-5]|2[0-4]\d|[0-1]?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|[0-1]?\d?\d)){3}\])$"
    ))
    .expect("static regex")
});

/// A parsed options schema. Serialized as the schema value it was parsed from.
#[derive(Debug, Clone)]
pub struct Schema {
    raw: Value,
    fields: Vec<(String, Node)>,
}

#[derive(Debug, Clone)]
enum Node {
    Scalar(Scalar),
    /// A list of the element (a scalar or a mapping, never another list).
    List(Box<Node>),
    Dict(Vec<(String, Node)>),
}

#[derive(Debug, Clone)]
struct Scalar {
    optional: bool,
    kind: Kind,
    min: Option<f64>,
    max: Option<f64>,
}

#[derive(Debug, Clone)]
enum Kind {
    Str,
    Password,
    Int,
    Float,
    Bool,
    Email,
    Url,
    Port,
    /// The pattern as written (messages quote it) and its compiled form, anchored at the start
    /// like Python's `re.match`.
    Match(String, Box<fancy_regex::Regex>),
    Select(Vec<String>),
    /// `device` or `device(subsystem=...)`: the filter needs a hardware manager, so only its
    /// syntax is checked.
    Device,
}

/// A validation failure: the bare voluptuous message, humanized once at the top.
struct Invalid(String);

/// Who the messages are about: `<name> (<slug>)`.
struct Context<'a> {
    name: &'a str,
    slug: &'a str,
    secrets: &'a dyn Fn(&str) -> Option<Value>,
}

impl Context<'_> {
    fn invalid(&self, message: impl std::fmt::Display) -> Invalid {
        Invalid(format!("{message} in {} ({})", self.name, self.slug))
    }
}

impl Default for Schema {
    fn default() -> Self {
        Schema { raw: Value::Object(Map::new()), fields: Vec::new() }
    }
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Schema {
    /// Parses a schema mapping; the error names the option whose type does not parse.
    pub fn parse(value: &Value) -> Result<Schema, String> {
        let Value::Object(map) = value else {
            return Err("the schema must be a mapping of option names to types".into());
        };
        Ok(Schema { raw: value.clone(), fields: parse_fields(map)? })
    }

    /// Validates `options` (a JSON object); Ok(the coerced options) or Err(the message the real
    /// Supervisor shows: voluptuous' text humanized with the options, e.g.
    /// `Missing option 'x' in root in Example (local_example). Got {'y': 1}`).
    /// `!secret` values find no secret here; see [`Schema::validate_with_secrets`].
    pub fn validate(&self, options: &Value, addon_name: &str, slug: &str) -> Result<Value, String> {
        self.validate_with_secrets(options, addon_name, slug, &|_| None)
    }

    /// [`Schema::validate`] with `!secret <name>` values looked up in Home Assistant's secrets.
    pub fn validate_with_secrets(
        &self,
        options: &Value,
        addon_name: &str,
        slug: &str,
        secrets: &dyn Fn(&str) -> Option<Value>,
    ) -> Result<Value, String> {
        let context = Context { name: addon_name, slug, secrets };
        self.validate_root(options, &context).map_err(|Invalid(message)| humanize(&message, options))
    }

    fn validate_root(&self, options: &Value, cx: &Context) -> Result<Value, Invalid> {
        let Value::Object(given) = options else {
            return Err(Invalid("expected dict".into()));
        };
        let mut out = Map::new();
        for (key, value) in given {
            let Some(node) = find(&self.fields, key) else {
                tracing::warn!("Option '{key}' does not exist in the schema for {} ({})", cx.name, cx.slug);
                continue;
            };
            out.insert(key.clone(), validate_node(node, value, key, cx)?);
        }
        check_missing(&self.fields, &out, "root", cx)?;
        Ok(Value::Object(out))
    }

    /// The UI schema (the `schema` key of `/addons/<addon>/info`): one node per option.
    /// Device options offer the character and block devices found under `/dev`.
    pub fn ui(&self) -> Value {
        let mut nodes = Vec::new();
        for (key, node) in &self.fields {
            ui_node(&mut nodes, node, key, false);
        }
        Value::Array(nodes)
    }

    /// Password values in `options` (for the pwned check): every non-empty value of a
    /// `password` option, nested ones included. Pass validated options so secrets are resolved.
    pub fn passwords(&self, options: &Value) -> Vec<String> {
        let mut found = Vec::new();
        let password =
            |kind: &Kind, value: &Value| (matches!(kind, Kind::Password) && truthy(value)).then(|| py_str(value));
        collect(&self.fields, options, &password, &mut found);
        found
    }

    /// The devices `options` name: every value of a `device` option, nested ones included.
    pub fn device_paths(&self, options: &Value) -> Vec<String> {
        let mut found = Vec::new();
        let device = |kind: &Kind, value: &Value| match (kind, value) {
            (Kind::Device, Value::String(path)) => Some(path.clone()),
            _ => None,
        };
        collect(&self.fields, options, &device, &mut found);
        found
    }
}

impl serde::Serialize for Schema {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Schema {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        Schema::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// voluptuous' `humanize_error` for an error without a path: the message and the data it was
/// given, the data cut to 500 characters.
fn humanize(message: &str, data: &Value) -> String {
    let mut got = py_repr(data);
    if got.chars().count() > 500 {
        got = got.chars().take(497).collect::<String>() + "...";
    }
    format!("{message}. Got {got}")
}

fn find<'a>(fields: &'a [(String, Node)], key: &str) -> Option<&'a Node> {
    fields.iter().find(|(k, _)| k == key).map(|(_, node)| node)
}

fn parse_fields(map: &Map<String, Value>) -> Result<Vec<(String, Node)>, String> {
    map.iter()
        .map(|(key, value)| {
            parse_node(value).map(|node| (key.clone(), node)).map_err(|e| format!("option '{key}': {e}"))
        })
        .collect()
}

fn parse_node(value: &Value) -> Result<Node, String> {
    match value {
        Value::String(typ) => parse_scalar(typ).map(Node::Scalar),
        Value::Object(map) => parse_fields(map).map(Node::Dict),
        Value::Array(items) => {
            // Upstream validates every element but uses the first; an empty list has no type.
            let mut parsed = Vec::with_capacity(items.len());
            for item in items {
                parsed.push(match item {
                    Value::Array(_) => return Err("a list may not directly contain a list".into()),
                    other => parse_node(other)?,
                });
            }
            let first = parsed.into_iter().next().ok_or("an empty list has no element type")?;
            Ok(Node::List(Box::new(first)))
        }
        other => Err(format!("expected a type string, a list or a mapping, got {other}")),
    }
}

fn parse_scalar(typ: &str) -> Result<Scalar, String> {
    let caps = RE_SCHEMA_ELEMENT.captures(typ).ok_or_else(|| format!("unknown type '{typ}'"))?;
    let bound = |name: &str| -> Option<f64> {
        caps.name(name).filter(|m| !m.as_str().is_empty()).and_then(|m| m.as_str().parse().ok())
    };
    // The type is the alternative that matched; its name is a prefix of the text.
    let (kind, min, max) = if typ.starts_with("str") {
        (Kind::Str, bound("s_min"), bound("s_max"))
    } else if typ.starts_with("password") {
        (Kind::Password, bound("p_min"), bound("p_max"))
    } else if typ.starts_with("int") {
        (Kind::Int, bound("i_min"), bound("i_max"))
    } else if typ.starts_with("float") {
        (Kind::Float, bound("f_min"), bound("f_max"))
    } else if typ.starts_with("bool") {
        (Kind::Bool, None, None)
    } else if typ.starts_with("email") {
        (Kind::Email, None, None)
    } else if typ.starts_with("url") {
        (Kind::Url, None, None)
    } else if typ.starts_with("port") {
        (Kind::Port, None, None)
    } else if let Some(pattern) = caps.name("match") {
        let pattern = pattern.as_str().to_string();
        let compiled = fancy_regex::Regex::new(&format!("^(?:{pattern})"))
            .map_err(|e| format!("invalid regular expression in '{typ}': {e}"))?;
        (Kind::Match(pattern, Box::new(compiled)), None, None)
    } else if let Some(list) = caps.name("list") {
        let options = list.as_str().split('|').map(str::to_string).collect();
        (Kind::Select(options), None, None)
    } else if typ.starts_with("device") {
        (Kind::Device, None, None)
    } else {
        // The grammar's empty alternative (`""`, `"?"`): a type that names nothing.
        return Err(format!("unknown type '{typ}'"));
    };
    Ok(Scalar { optional: typ.ends_with('?'), kind, min, max })
}

fn validate_node(node: &Node, value: &Value, key: &str, cx: &Context) -> Result<Value, Invalid> {
    match node {
        Node::Scalar(scalar) => validate_scalar(scalar, value, key, cx),
        Node::List(element) => {
            let Value::Array(items) = value else {
                return Err(cx.invalid(format_args!("Invalid list for option '{key}'")));
            };
            items
                .iter()
                .map(|item| validate_node(element, item, key, cx))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Node::Dict(fields) => {
            let Value::Object(given) = value else {
                return Err(cx.invalid(format_args!("Invalid dict for option '{key}'")));
            };
            let mut out = Map::new();
            for (sub_key, sub_value) in given {
                let Some(sub_node) = find(fields, sub_key) else {
                    tracing::warn!("Unknown option '{sub_key}' for {} ({})", cx.name, cx.slug);
                    continue;
                };
                out.insert(sub_key.clone(), validate_node(sub_node, sub_value, sub_key, cx)?);
            }
            check_missing(fields, &out, key, cx)?;
            Ok(Value::Object(out))
        }
    }
}

/// Every schema key absent from `present` must be optional: a `?` type, or a list of one.
fn check_missing(
    fields: &[(String, Node)],
    present: &Map<String, Value>,
    parent: &str,
    cx: &Context,
) -> Result<(), Invalid> {
    for (key, node) in fields {
        if present.contains_key(key) {
            continue;
        }
        let optional = match node {
            Node::Scalar(s) => s.optional,
            Node::List(element) => matches!(&**element, Node::Scalar(s) if s.optional),
            Node::Dict(_) => false,
        };
        if !optional {
            return Err(cx.invalid(format_args!("Missing option '{key}' in {parent}")));
        }
    }
    Ok(())
}

fn validate_scalar(scalar: &Scalar, value: &Value, key: &str, cx: &Context) -> Result<Value, Invalid> {
    if value.is_null() {
        return Err(cx.invalid(format_args!("Missing required option '{key}'")));
    }
    let resolved;
    let value = match value.as_str().and_then(|s| s.strip_prefix("!secret ")) {
        Some(secret) => {
            resolved = (cx.secrets)(secret).ok_or_else(|| cx.invalid(format_args!("Unknown secret '{secret}'")))?;
            &resolved
        }
        None => value,
    };
    match &scalar.kind {
        Kind::Str | Kind::Password => {
            let text = value.as_str().ok_or_else(|| Invalid("expected str".into()))?;
            check_length(text.chars().count(), scalar)?;
            Ok(Value::String(text.to_string()))
        }
        Kind::Int => {
            let n = coerce_int(value).ok_or_else(|| Invalid("expected int".into()))?;
            check_range(n as f64, float_bound(scalar.min), float_bound(scalar.max))?;
            Ok(Value::from(n))
        }
        Kind::Float => {
            let f = coerce_float(value).ok_or_else(|| Invalid("expected float".into()))?;
            check_range(f, float_bound(scalar.min), float_bound(scalar.max))?;
            Ok(Value::from(f))
        }
        Kind::Bool => boolean(value).map(Value::Bool).ok_or_else(|| Invalid("expected boolean".into())),
        Kind::Email => value
            .as_str()
            .filter(|s| is_email(s))
            .map(|s| Value::String(s.to_string()))
            .ok_or_else(|| Invalid("expected an email address".into())),
        Kind::Url => value
            .as_str()
            .filter(|s| is_url(s))
            .map(|s| Value::String(s.to_string()))
            .ok_or_else(|| Invalid("expected a URL".into())),
        Kind::Port => {
            let n = coerce_int(value).ok_or_else(|| Invalid("expected int".into()))?;
            check_range(n as f64, Some((1.0, "1".into())), Some((65535.0, "65535".into())))?;
            Ok(Value::from(n))
        }
        Kind::Match(pattern, regex) => {
            let text = py_str(value);
            // A pattern that backtracks past fancy-regex's limit counts as not matching.
            if regex.is_match(&text).unwrap_or(false) {
                Ok(Value::String(text))
            } else {
                Err(Invalid(format!("does not match regular expression {pattern}")))
            }
        }
        Kind::Select(options) => {
            let text = py_str(value);
            if options.contains(&text) {
                return Ok(Value::String(text));
            }
            let mut sorted = options.clone();
            sorted.sort();
            let listed = Value::Array(sorted.into_iter().map(Value::String).collect());
            Err(Invalid(format!("value must be one of {}", py_repr(&listed))))
        }
        Kind::Device => {
            let Some(path) = value.as_str() else {
                return Err(cx.invalid(format_args!("Expected a string for option '{key}'")));
            };
            // No hardware manager yet: any existing node under /dev is a device, and
            // `subsystem=` filters cannot be checked, so they accept every device.
            if is_device(path) {
                Ok(Value::String(path.to_string()))
            } else {
                Err(cx.invalid(format_args!("Device '{path}' does not exist")))
            }
        }
    }
}

/// voluptuous' `Length` with the schema's bounds (printed as Python floats, as upstream).
fn check_length(length: usize, scalar: &Scalar) -> Result<(), Invalid> {
    if let Some(min) = scalar.min.filter(|min| (length as f64) < *min) {
        return Err(Invalid(format!("length of value must be at least {}", py_float(min))));
    }
    if let Some(max) = scalar.max.filter(|max| (length as f64) > *max) {
        return Err(Invalid(format!("length of value must be at most {}", py_float(max))));
    }
    Ok(())
}

/// A schema bound with its text in messages: a Python float, as upstream parses bounds.
fn float_bound(bound: Option<f64>) -> Option<(f64, String)> {
    bound.map(|b| (b, py_float(b)))
}

/// voluptuous' `Range`: each bound is its value and its text in the message.
fn check_range(n: f64, min: Option<(f64, String)>, max: Option<(f64, String)>) -> Result<(), Invalid> {
    if let Some((_, text)) = min.filter(|(min, _)| n < *min) {
        return Err(Invalid(format!("value must be at least {text}")));
    }
    if let Some((_, text)) = max.filter(|(max, _)| n > *max) {
        return Err(Invalid(format!("value must be at most {text}")));
    }
    Ok(())
}

fn is_email(text: &str) -> bool {
    text.rsplit_once('@').is_some_and(|(user, domain)| RE_EMAIL_USER.is_match(user) && RE_EMAIL_DOMAIN.is_match(domain))
}

/// An existing path below `/dev` that does not climb out of it.
fn is_device(path: &str) -> bool {
    let path = Path::new(path);
    path.starts_with("/dev")
        && path != Path::new("/dev")
        && !path.components().any(|c| c == Component::ParentDir)
        && path.exists()
}

fn ui_node(nodes: &mut Vec<Value>, node: &Node, key: &str, multiple: bool) {
    match node {
        Node::List(element) => ui_node(nodes, element, key, true),
        Node::Dict(fields) => {
            let mut nested = Vec::new();
            for (sub_key, sub_node) in fields {
                ui_node(&mut nested, sub_node, sub_key, false);
            }
            nodes.push(json!({
                "name": key,
                "type": "schema",
                "optional": true,
                "multiple": multiple,
                "schema": nested,
            }));
        }
        Node::Scalar(scalar) => nodes.push(ui_scalar(scalar, key, multiple)),
    }
}

fn ui_scalar(scalar: &Scalar, key: &str, multiple: bool) -> Value {
    let mut node = Map::new();
    node.insert("name".into(), json!(key));
    if multiple {
        node.insert("multiple".into(), json!(true));
    }
    if let Some(min) = scalar.min {
        node.insert("lengthMin".into(), json!(min));
    }
    if let Some(max) = scalar.max {
        node.insert("lengthMax".into(), json!(max));
    }
    let required = if scalar.optional { "optional" } else { "required" };
    node.insert(required.into(), json!(true));
    let (typ, format) = match &scalar.kind {
        Kind::Str | Kind::Match(..) => ("string", None),
        Kind::Password => ("string", Some("password")),
        Kind::Int | Kind::Port => ("integer", None),
        Kind::Float => ("float", None),
        Kind::Bool => ("boolean", None),
        Kind::Email => ("string", Some("email")),
        Kind::Url => ("string", Some("url")),
        Kind::Select(_) | Kind::Device => ("select", None),
    };
    node.insert("type".into(), json!(typ));
    if let Some(format) = format {
        node.insert("format".into(), json!(format));
    }
    match &scalar.kind {
        Kind::Select(options) => {
            node.insert("options".into(), json!(options));
        }
        Kind::Device => {
            node.insert("options".into(), json!(list_devices()));
        }
        _ => {}
    }
    Value::Object(node)
}

/// The character and block devices directly under `/dev`, sorted (without a hardware manager
/// there is no udev database to filter or to give by-id names).
fn list_devices() -> Vec<String> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(entries) = std::fs::read_dir("/dev") else {
        return Vec::new();
    };
    let mut devices: Vec<String> = entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_char_device() || t.is_block_device()))
        .map(|entry| entry.path().to_string_lossy().into_owned())
        .collect();
    devices.sort();
    devices
}

/// What `pick` takes from each scalar option in `options`, nested ones included.
type Pick<'a> = dyn Fn(&Kind, &Value) -> Option<String> + 'a;

fn collect(fields: &[(String, Node)], options: &Value, pick: &Pick, found: &mut Vec<String>) {
    let Value::Object(given) = options else {
        return;
    };
    for (key, value) in given {
        if let Some(node) = find(fields, key) {
            collect_node(node, value, pick, found);
        }
    }
}

fn collect_node(node: &Node, value: &Value, pick: &Pick, found: &mut Vec<String>) {
    match node {
        Node::Scalar(scalar) => found.extend(pick(&scalar.kind, value)),
        Node::List(element) => {
            for item in value.as_array().into_iter().flatten() {
                collect_node(element, item, pick, found);
            }
        }
        Node::Dict(fields) => collect(fields, value, pick, found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(value: Value) -> Schema {
        Schema::parse(&value).unwrap()
    }

    /// Validates `{"v": value}` against `{"v": typ}`.
    fn check(typ: &str, value: Value) -> Result<Value, String> {
        schema(json!({ "v": typ }))
            .validate(&json!({ "v": value }), "Example", "local_example")
            .map(|out| out["v"].clone())
    }

    /// The bare message of a failed [`check`] (without the humanized `. Got ...`).
    fn message(typ: &str, value: Value) -> String {
        let err = check(typ, value.clone()).unwrap_err();
        let got = format!(". Got {}", py_repr(&json!({ "v": value })));
        err.strip_suffix(&got).unwrap_or_else(|| panic!("{err} does not end with {got}")).to_string()
    }

    #[test]
    fn parses_every_type() {
        for typ in [
            "str",
            "str?",
            "str(1,)",
            "str(,5)",
            "password(8,64)?",
            "int",
            "int(-5,5)",
            "float(0.5,)",
            "float(-.5,1.5)",
            "bool",
            "email",
            "url",
            "port",
            "match(^\\d+$)",
            "list(a|b|c)?",
            "device",
            "device(subsystem=tty)",
        ] {
            assert!(Schema::parse(&json!({ "v": typ })).is_ok(), "{typ}");
        }
        let nested = json!({"a": ["str"], "b": {"c": "int"}, "d": [{"e": "bool?"}]});
        assert!(Schema::parse(&nested).is_ok());
    }

    /// A type written as a YAML block (`key: |`) ends in a newline. Python's `$` matches before
    /// it, so the real Supervisor reads the type (the official piper and whisper add-ons rely on
    /// it); `?` then no longer ends the text, so `str?\n` is a required option there too.
    #[test]
    fn types_written_as_yaml_blocks_parse_as_in_python() {
        let s = schema(json!({"model": "list(tiny|base)\n", "name": "str?\n", "count": "int(1,10)\n"}));
        let ui = s.ui();
        assert_eq!(ui[0], json!({"name": "model", "required": true, "type": "select", "options": ["tiny", "base"]}));
        assert_eq!(ui[1], json!({"name": "name", "required": true, "type": "string"}));
        assert_eq!(
            ui[2],
            json!({"name": "count", "lengthMin": 1.0, "lengthMax": 10.0, "required": true, "type": "integer"})
        );
        assert_eq!(check("list(tiny|base)\n", json!("base")), Ok(json!("base")));
        assert_eq!(check("int(1,10)\n", json!(5)), Ok(json!(5)));
        assert!(check("int(1,10)\n", json!(11)).is_err(), "the bounds are read");
        for bad in ["str\n\n", "str\nx", "list(a|b)\n\n"] {
            assert!(Schema::parse(&json!({ "v": bad })).is_err(), "{bad:?}: Python refuses it too");
        }
    }

    #[test]
    fn rejects_schemas_that_do_not_parse() {
        let bad = [
            (json!({"v": "string"}), "option 'v': unknown type 'string'"),
            (json!({"v": ""}), "option 'v': unknown type ''"),
            (json!({"v": "?"}), "option 'v': unknown type '?'"),
            (json!({"v": "int(a,b)"}), "unknown type 'int(a,b)'"),
            (json!({"v": "str(-1,)"}), "unknown type 'str(-1,)'"),
            (json!({"v": "device(vendor=1)"}), "unknown type"),
            (json!({"v": [["str"]]}), "a list may not directly contain a list"),
            (json!({"v": []}), "an empty list has no element type"),
            (json!({"v": 5}), "expected a type string"),
            (json!({"v": {"w": "nope"}}), "option 'v': option 'w': unknown type 'nope'"),
            (json!({"v": "match(()"}), "invalid regular expression"),
            (json!(["str"]), "the schema must be a mapping"),
        ];
        for (value, expected) in bad {
            let err = Schema::parse(&value).unwrap_err();
            assert!(err.contains(expected), "{value}: {err}");
        }
    }

    #[test]
    fn str_and_password_check_type_and_length() {
        assert_eq!(check("str", json!("hello")), Ok(json!("hello")));
        assert_eq!(check("str?", json!("")), Ok(json!("")));
        assert_eq!(message("str", json!(5)), "expected str");
        assert_eq!(message("password", json!(true)), "expected str");
        assert_eq!(check("str(2,4)", json!("abc")), Ok(json!("abc")));
        assert_eq!(message("str(2,4)", json!("a")), "length of value must be at least 2.0");
        assert_eq!(message("str(2,4)", json!("abcde")), "length of value must be at most 4.0");
        // Characters, not bytes, as Python's len().
        assert_eq!(check("str(,2)", json!("éé")), Ok(json!("éé")));
        assert_eq!(message("password(8,)", json!("short")), "length of value must be at least 8.0");
        assert_eq!(check("password(8,)", json!("long enough")), Ok(json!("long enough")));
    }

    #[test]
    fn int_coerces_and_checks_range() {
        assert_eq!(check("int", json!("42")), Ok(json!(42)));
        assert_eq!(check("int", json!(5.7)), Ok(json!(5)));
        assert_eq!(check("int?", json!(-3)), Ok(json!(-3)));
        assert_eq!(message("int", json!("abc")), "expected int");
        assert_eq!(message("int", json!([1])), "expected int");
        assert_eq!(message("int(1,10)", json!(11)), "value must be at most 10.0");
        assert_eq!(message("int(1,10)", json!(0)), "value must be at least 1.0");
        assert_eq!(message("int(-5,5)", json!(-6)), "value must be at least -5.0");
        assert_eq!(check("int(0,)", json!(0)), Ok(json!(0)));
    }

    #[test]
    fn float_coerces_and_checks_range() {
        assert_eq!(check("float", json!("1.5")), Ok(json!(1.5)));
        assert_eq!(check("float", json!(2)), Ok(json!(2.0)));
        assert_eq!(message("float", json!("x")), "expected float");
        assert_eq!(message("float(0.5,1.5)", json!(2)), "value must be at most 1.5");
        assert_eq!(message("float(0.5,1.5)", json!(0.1)), "value must be at least 0.5");
    }

    #[test]
    fn bool_email_url_and_port() {
        assert_eq!(check("bool", json!("on")), Ok(json!(true)));
        assert_eq!(check("bool", json!(0)), Ok(json!(false)));
        assert_eq!(message("bool", json!("hello")), "expected boolean");
        assert_eq!(check("email", json!("a.b@example.com")), Ok(json!("a.b@example.com")));
        assert_eq!(message("email", json!("a@b")), "expected an email address");
        assert_eq!(message("email", json!("nobody")), "expected an email address");
        assert_eq!(message("email", json!(5)), "expected an email address");
        assert_eq!(check("url", json!("http://example.com/x")), Ok(json!("http://example.com/x")));
        assert_eq!(message("url", json!("example.com")), "expected a URL");
        assert_eq!(message("url", json!("http://")), "expected a URL");
        assert_eq!(check("port", json!("8080")), Ok(json!(8080)));
        assert_eq!(message("port", json!(0)), "value must be at least 1");
        assert_eq!(message("port", json!(70000)), "value must be at most 65535");
        assert_eq!(message("port", json!("http")), "expected int");
    }

    #[test]
    fn match_is_anchored_at_the_start_only() {
        assert_eq!(check("match(^\\d+$)", json!("123")), Ok(json!("123")));
        assert_eq!(check("match(^\\d+$)", json!(123)), Ok(json!("123")));
        assert_eq!(message("match(^\\d+$)", json!("12a")), "does not match regular expression ^\\d+$");
        assert_eq!(check("match(abc)", json!("abcdef")), Ok(json!("abcdef")));
        assert!(check("match(abc)", json!("xabc")).is_err());
        // Python patterns with look-ahead work too.
        assert!(check("match((?!admin$).+)", json!("user")).is_ok());
        assert!(check("match((?!admin$).+)", json!("admin")).is_err());
        assert_eq!(check("match(True)", json!(true)), Ok(json!("True")));
    }

    #[test]
    fn list_selects_one_of_its_values() {
        assert_eq!(check("list(a|b|c)", json!("b")), Ok(json!("b")));
        assert_eq!(check("list(1|2)", json!(2)), Ok(json!("2")));
        assert_eq!(message("list(z|a|m)", json!("d")), "value must be one of ['a', 'm', 'z']");
    }

    #[test]
    fn device_must_be_an_existing_path_under_dev() {
        assert_eq!(check("device", json!("/dev/null")), Ok(json!("/dev/null")));
        // The filter cannot be checked without a hardware manager.
        assert_eq!(check("device(subsystem=tty)", json!("/dev/null")), Ok(json!("/dev/null")));
        for path in ["/dev/does-not-exist", "/etc/passwd", "/dev/../etc/passwd", "/dev"] {
            assert_eq!(
                message("device", json!(path)),
                format!("Device '{path}' does not exist in Example (local_example)")
            );
        }
        assert_eq!(message("device", json!(5)), "Expected a string for option 'v' in Example (local_example)");
    }

    #[test]
    fn null_and_secrets() {
        assert_eq!(message("str?", Value::Null), "Missing required option 'v' in Example (local_example)");
        assert_eq!(
            message("str", json!("!secret db_password")),
            "Unknown secret 'db_password' in Example (local_example)"
        );
        let secrets = |name: &str| (name == "port").then(|| json!("8123"));
        let out = schema(json!({"p": "port"}))
            .validate_with_secrets(&json!({"p": "!secret port"}), "Example", "local_example", &secrets)
            .unwrap();
        assert_eq!(out, json!({"p": 8123}));
    }

    #[test]
    fn unknown_keys_are_dropped_and_missing_keys_reported() {
        let s = schema(json!({
            "user": "str",
            "note": "str?",
            "tags": ["str?"],
            "ids": ["int"],
            "nested": {"a": "int", "b": "str?"}
        }));
        let options = json!({"user": "me", "ids": [1, "2"], "nested": {"a": "3", "zz": 1}, "gone": 1});
        assert_eq!(
            s.validate(&options, "Example", "local_example"),
            Ok(json!({"user": "me", "ids": [1, 2], "nested": {"a": 3}}))
        );
        let err = s.validate(&json!({"ids": [], "nested": {"a": 1}}), "Example", "local_example").unwrap_err();
        assert_eq!(
            err,
            "Missing option 'user' in root in Example (local_example). Got {'ids': [], 'nested': {'a': 1}}"
        );
        let err = s.validate(&json!({"user": "me", "nested": {"a": 1}}), "Example", "local_example").unwrap_err();
        assert!(err.starts_with("Missing option 'ids' in root in Example"), "{err}");
        let err = s.validate(&json!({"user": "me", "ids": []}), "Example", "local_example").unwrap_err();
        assert!(err.starts_with("Missing option 'nested' in root"), "{err}");
        let err = s
            .validate(&json!({"user": "me", "ids": [], "nested": {"b": "x"}}), "Example", "local_example")
            .unwrap_err();
        assert!(err.starts_with("Missing option 'a' in nested in Example (local_example)"), "{err}");
    }

    #[test]
    fn lists_and_dicts_check_their_shape() {
        let s = schema(json!({
            "ids": ["int"],
            "nested": {"a": "int"},
            "users": [{"name": "str", "admin": "bool?"}]
        }));
        let run = |options: Value| s.validate(&options, "Example", "local_example");
        let ok = json!({"ids": [], "nested": {"a": 1}, "users": [{"name": "a", "admin": "yes"}, {"name": "b"}]});
        assert_eq!(run(ok).unwrap()["users"], json!([{"name": "a", "admin": true}, {"name": "b"}]));
        let err = run(json!({"ids": 5, "nested": {"a": 1}, "users": []})).unwrap_err();
        assert!(err.starts_with("Invalid list for option 'ids' in Example (local_example). Got"), "{err}");
        let err = run(json!({"ids": [], "nested": [1], "users": []})).unwrap_err();
        assert!(err.starts_with("Invalid dict for option 'nested' in Example (local_example)"), "{err}");
        let err = run(json!({"ids": ["x"], "nested": {"a": 1}, "users": []})).unwrap_err();
        assert!(err.starts_with("expected int. Got"), "{err}");
        let err = run(json!({"ids": [], "nested": {"a": 1}, "users": [{"admin": true}]})).unwrap_err();
        assert!(err.starts_with("Missing option 'name' in users in Example (local_example)"), "{err}");
        let err = run(json!({"ids": [], "nested": {"a": 1}, "users": ["x"]})).unwrap_err();
        assert!(err.starts_with("Invalid dict for option 'users'"), "{err}");
    }

    #[test]
    fn options_must_be_a_mapping_and_long_data_is_cut() {
        let s = schema(json!({"v": "str"}));
        assert_eq!(s.validate(&json!([1]), "Example", "local_example"), Err("expected dict. Got [1]".into()));
        let long = "x".repeat(600);
        let err = s.validate(&json!({"v": 1, "w": long}), "Example", "local_example").unwrap_err();
        let got = err.strip_prefix("expected str. Got ").unwrap();
        assert_eq!(got.chars().count(), 500);
        assert!(got.ends_with("..."));
    }

    #[test]
    fn empty_schema_drops_every_option() {
        let s = Schema::default();
        assert_eq!(s.validate(&json!({"a": 1}), "Example", "local_example"), Ok(json!({})));
        assert_eq!(s.ui(), json!([]));
    }

    #[test]
    fn ui_describes_every_option() {
        let s = schema(json!({
            "name": "str(2,)",
            "secret": "password?",
            "count": "int(1,10)",
            "ratio": "float",
            "on": "bool",
            "mail": "email?",
            "site": "url",
            "port": "port",
            "code": "match(^\\d+$)",
            "level": "list(debug|info)",
            "tags": ["str?"],
            "server": {"host": "str", "port": "port?"},
            "users": [{"name": "str"}],
            "serial": "device(subsystem=tty)"
        }));
        let ui = s.ui();
        let nodes = ui.as_array().unwrap();
        assert_eq!(nodes.len(), 14);
        assert_eq!(
            &nodes[..13],
            &[
                json!({"name": "name", "lengthMin": 2.0, "required": true, "type": "string"}),
                json!({"name": "secret", "optional": true, "type": "string", "format": "password"}),
                json!({"name": "count", "lengthMin": 1.0, "lengthMax": 10.0, "required": true, "type": "integer"}),
                json!({"name": "ratio", "required": true, "type": "float"}),
                json!({"name": "on", "required": true, "type": "boolean"}),
                json!({"name": "mail", "optional": true, "type": "string", "format": "email"}),
                json!({"name": "site", "required": true, "type": "string", "format": "url"}),
                json!({"name": "port", "required": true, "type": "integer"}),
                json!({"name": "code", "required": true, "type": "string"}),
                json!({"name": "level", "required": true, "type": "select", "options": ["debug", "info"]}),
                json!({"name": "tags", "multiple": true, "optional": true, "type": "string"}),
                json!({"name": "server", "type": "schema", "optional": true, "multiple": false, "schema": [
                    {"name": "host", "required": true, "type": "string"},
                    {"name": "port", "optional": true, "type": "integer"}
                ]}),
                json!({"name": "users", "type": "schema", "optional": true, "multiple": true, "schema": [
                    {"name": "name", "required": true, "type": "string"}
                ]}),
            ]
        );
        let serial = &nodes[13];
        assert_eq!(serial["type"], "select");
        assert!(serial["options"].is_array());
        // Key order is the order of the file, as the frontend renders it.
        let keys: Vec<&String> = nodes[2].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "lengthMin", "lengthMax", "required", "type"]);
    }

    #[test]
    fn passwords_are_collected_from_every_level() {
        let s = schema(json!({
            "admin": "password",
            "empty": "password?",
            "user": "str",
            "more": ["password"],
            "db": {"pw": "password"}
        }));
        let options = json!({
            "admin": "a", "empty": "", "user": "not a password",
            "more": ["b", "c"], "db": {"pw": "d"}, "unknown": "e"
        });
        assert_eq!(s.passwords(&options), ["a", "b", "c", "d"]);
        assert!(s.device_paths(&options).is_empty());
    }

    #[test]
    fn device_options_are_collected_from_every_level() {
        let s = schema(json!({
            "serial": {"port": "device(subsystem=tty)"},
            "radios": ["device"],
            "name": "str",
            "spare": "device?"
        }));
        let options = json!({
            "serial": {"port": "/dev/serial/by-id/usb-zwave-if00"},
            "radios": ["/dev/ttyACM0", "/dev/ttyACM1"],
            "name": "/dev/not-a-device-option"
        });
        assert_eq!(s.device_paths(&options), ["/dev/serial/by-id/usb-zwave-if00", "/dev/ttyACM0", "/dev/ttyACM1"]);
    }

    #[test]
    fn serializes_as_the_schema_it_was_parsed_from() {
        let raw = json!({"b": "int", "a": ["str?"]});
        let s = schema(raw.clone());
        assert_eq!(serde_json::to_value(&s).unwrap(), raw);
        let back: Schema = serde_json::from_value(raw).unwrap();
        assert_eq!(back, s);
        assert!(serde_json::from_value::<Schema>(json!({"a": "nope"})).is_err());
    }
}
