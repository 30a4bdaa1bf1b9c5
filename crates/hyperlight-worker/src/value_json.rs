//! Typed values in JSON, with the CLI's type names: an argument or a result is an
//! object of one member, the type and the value, `{"i32": 5}`, `{"str": "hi"}`,
//! `{"bytes": "0aff"}` (hex, as the CLI's `bytes:hex:`).
//!
//! The type is written out, not guessed from the JSON value, so that `5` is never
//! silently an `i64` where the guest wants a `u32`; it is checked against the
//! function's signature before any sandbox is taken.

use hyperlight_host::{Value, ValueType};
use serde_json::{json, Map, Number};

/// The type names, for messages.
pub const TYPE_NAMES: &str = "i32 u32 i64 u64 f32 f64 bool str bytes";

/// The CLI's name of a type (`unit` for the empty result).
pub fn type_name(ty: ValueType) -> &'static str {
    match ty {
        ValueType::Unit => "unit",
        ValueType::I32 => "i32",
        ValueType::U32 => "u32",
        ValueType::I64 => "i64",
        ValueType::U64 => "u64",
        ValueType::F32 => "f32",
        ValueType::F64 => "f64",
        ValueType::Bool => "bool",
        ValueType::String => "str",
        ValueType::Bytes => "bytes",
    }
}

/// Every argument type, in the CLI's order.
pub const ARGUMENT_TYPES: [ValueType; 9] = [
    ValueType::I32,
    ValueType::U32,
    ValueType::I64,
    ValueType::U64,
    ValueType::F32,
    ValueType::F64,
    ValueType::Bool,
    ValueType::String,
    ValueType::Bytes,
];

/// The type of a CLI name (`unit` too, for results).
pub fn type_by_name(name: &str) -> Option<ValueType> {
    std::iter::once(ValueType::Unit).chain(ARGUMENT_TYPES).find(|&t| type_name(t) == name)
}

/// Why a request's arguments are refused (answered 400).
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// The body is not JSON.
    #[error("malformed JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The body is JSON but not `{"args": [...]}`.
    #[error("the body must be an object {{\"args\": [...]}}")]
    Shape,
    /// Too many or too few arguments.
    #[error("{expected} arguments expected, {got} given")]
    Count {
        /// The signature's count.
        expected: usize,
        /// The request's.
        got: usize,
    },
    /// An argument of the wrong type, or not a typed value at all.
    #[error("argument {index} should be {{\"{expected}\": ...}}, got {got}")]
    Type {
        /// Its position, from 0 (as the library counts).
        index: usize,
        /// The type the signature wants.
        expected: &'static str,
        /// What was given.
        got: String,
    },
    /// The value does not fit its type.
    #[error("argument {index} is not a valid {ty}: {reason}")]
    Value {
        /// Its position, from 0.
        index: usize,
        /// The type.
        ty: &'static str,
        /// Why.
        reason: String,
    },
}

impl ArgsError {
    /// The argument at fault, if one is.
    pub fn argument(&self) -> Option<usize> {
        match self {
            ArgsError::Type { index, .. } | ArgsError::Value { index, .. } => Some(*index),
            _ => None,
        }
    }
}

/// The arguments of `{"args": [...]}` (or of an empty body, for none), checked
/// against `params`.
pub fn parse_args(body: &[u8], params: &[ValueType]) -> Result<Vec<Value>, ArgsError> {
    let items = if body.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        match serde_json::from_slice(body).map_err(ArgsError::Json)? {
            serde_json::Value::Object(mut o) => match o.remove("args") {
                Some(serde_json::Value::Array(a)) if o.is_empty() => a,
                None if o.is_empty() => Vec::new(),
                _ => return Err(ArgsError::Shape),
            },
            _ => return Err(ArgsError::Shape),
        }
    };
    if items.len() != params.len() {
        return Err(ArgsError::Count { expected: params.len(), got: items.len() });
    }
    items.into_iter().zip(params).enumerate().map(|(index, (item, &ty))| argument(index, item, ty)).collect()
}

fn argument(index: usize, item: serde_json::Value, ty: ValueType) -> Result<Value, ArgsError> {
    let expected = type_name(ty);
    let value = match item {
        serde_json::Value::Object(o) if o.len() == 1 && o.contains_key(expected) => {
            o.into_iter().next().map(|(_, v)| v).unwrap_or_default()
        }
        other => return Err(ArgsError::Type { index, expected, got: describe(&other) }),
    };
    let bad = |reason: &str| ArgsError::Value { index, ty: expected, reason: reason.to_string() };
    let int = |v: &serde_json::Value| v.as_i64().ok_or_else(|| bad("not an integer in range"));
    let uint = |v: &serde_json::Value| v.as_u64().ok_or_else(|| bad("not a non-negative integer in range"));
    Ok(match ty {
        ValueType::I32 => Value::I32(i32::try_from(int(&value)?).map_err(|_| bad("out of range"))?),
        ValueType::U32 => Value::U32(u32::try_from(uint(&value)?).map_err(|_| bad("out of range"))?),
        ValueType::I64 => Value::I64(int(&value)?),
        ValueType::U64 => Value::U64(uint(&value)?),
        // JSON has no NaN or infinity: those come as the strings Rust parses.
        // Rounding to the nearest f32 is what a JSON number written for an f32 means.
        #[allow(clippy::cast_possible_truncation)]
        ValueType::F32 => Value::F32(float(&value).ok_or_else(|| bad("not a number"))? as f32),
        ValueType::F64 => Value::F64(float(&value).ok_or_else(|| bad("not a number"))?),
        ValueType::Bool => Value::Bool(value.as_bool().ok_or_else(|| bad("not true or false"))?),
        ValueType::String => match value {
            serde_json::Value::String(s) => Value::String(s),
            _ => return Err(bad("not a JSON string")),
        },
        ValueType::Bytes => {
            Value::Bytes(from_hex(value.as_str().ok_or_else(|| bad("not a hex string"))?).map_err(|r| bad(&r))?)
        }
        ValueType::Unit => return Err(bad("unit is not an argument type")),
    })
}

fn float(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn describe(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(o) => match o.keys().next() {
            Some(k) if o.len() == 1 => format!("{{\"{k}\": ...}}"),
            _ => "an object that is not one typed value".into(),
        },
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(_) => "a bare bool".into(),
        serde_json::Value::Number(_) => "a bare number".into(),
        serde_json::Value::String(_) => "a bare string".into(),
        serde_json::Value::Array(_) => "an array".into(),
    }
}

/// A result as JSON: `{"TYPE": value}`, or `null` for unit.
pub fn result_json(value: &Value) -> serde_json::Value {
    let inner = match value {
        Value::Unit => return serde_json::Value::Null,
        Value::I32(v) => json!(v),
        Value::U32(v) => json!(v),
        Value::I64(v) => json!(v),
        Value::U64(v) => json!(v),
        Value::F32(v) => float_json(f64::from(*v)),
        Value::F64(v) => float_json(*v),
        Value::Bool(v) => json!(v),
        Value::String(s) => json!(s),
        Value::Bytes(b) => json!(to_hex(b)),
    };
    let mut o = Map::new();
    o.insert(type_name(value.value_type()).to_string(), inner);
    serde_json::Value::Object(o)
}

fn float_json(v: f64) -> serde_json::Value {
    Number::from_f64(v).map_or_else(|| json!(v.to_string()), serde_json::Value::Number)
}

/// Lower-case hex.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(hex: &str) -> Result<Vec<u8>, String> {
    if hex.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", hex.len()));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            let pair = hex.get(i..i + 2).ok_or("not a hex digit")?;
            u8::from_str_radix(pair, 16).map_err(|_| format!("{pair:?} is not a hex byte"))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips() {
        let params = ARGUMENT_TYPES;
        let body = br#"{"args": [{"i32": -5}, {"u32": 7}, {"i64": -3}, {"u64": 18446744073709551615},
            {"f32": 1.5}, {"f64": "inf"}, {"bool": true}, {"str": "a"}, {"bytes": "0aFf"}]}"#;
        let values = parse_args(body, &params).unwrap();
        assert_eq!(
            values,
            [
                Value::I32(-5),
                Value::U32(7),
                Value::I64(-3),
                Value::U64(u64::MAX),
                Value::F32(1.5),
                Value::F64(f64::INFINITY),
                Value::Bool(true),
                Value::String("a".into()),
                Value::Bytes(vec![0x0a, 0xff]),
            ]
        );
        let results: Vec<_> = values.iter().map(result_json).collect();
        assert_eq!(results[3], json!({"u64": u64::MAX}));
        assert_eq!(results[5], json!({"f64": "inf"}));
        assert_eq!(results[8], json!({"bytes": "0aff"}));
        assert_eq!(result_json(&Value::Unit), serde_json::Value::Null);
    }

    #[test]
    fn bad_arguments_name_their_position() {
        let p = [ValueType::String, ValueType::I32];
        assert!(matches!(parse_args(b"{", &p), Err(ArgsError::Json(_))));
        assert!(matches!(parse_args(b"[]", &p), Err(ArgsError::Shape)));
        assert!(matches!(parse_args(br#"{"args": [], "x": 1}"#, &p), Err(ArgsError::Shape)));
        let r = parse_args(br#"{"args": [{"str": "a"}]}"#, &p);
        assert!(matches!(r, Err(ArgsError::Count { expected: 2, got: 1 })));
        let r = parse_args(br#"{"args": [{"str": "a"}, {"u32": 1}]}"#, &p);
        assert!(matches!(r, Err(ArgsError::Type { index: 1, expected: "i32", .. })), "{r:?}");
        let r = parse_args(br#"{"args": [{"str": "a"}, {"i32": 3000000000}]}"#, &p);
        assert!(matches!(r, Err(ArgsError::Value { index: 1, .. })), "{r:?}");
        let r = parse_args(br#"{"args": ["a", {"i32": 1}]}"#, &p);
        assert!(matches!(r, Err(ArgsError::Type { index: 0, .. })), "{r:?}");
        assert!(matches!(
            parse_args(br#"{"args": [{"bytes": "abc"}]}"#, &[ValueType::Bytes]),
            Err(ArgsError::Value { .. })
        ));
        assert_eq!(parse_args(b"", &[]).unwrap(), []);
        assert_eq!(parse_args(b"{}", &[]).unwrap(), []);
    }

    #[test]
    fn names_are_the_clis() {
        assert_eq!(type_by_name("str"), Some(ValueType::String));
        assert_eq!(type_by_name("String"), None);
        assert_eq!(type_name(ValueType::Bytes), "bytes");
    }
}
