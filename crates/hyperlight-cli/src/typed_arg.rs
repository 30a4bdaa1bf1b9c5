//! Typed call arguments (`i32:5`, `str:hello`, `bytes:@file`, ...) and their
//! conversion to the library's [`Value`]s, done before any VM is created.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use hyperlight_host::Value;

/// The syntax of a typed argument, as shown in error messages and `--help`.
pub const SYNTAX: &str = "TYPE:VALUE, TYPE one of i32 u32 i64 u64 f32 f64 bool str bytes";

/// Why a command-line argument is not a valid typed argument.
///
/// It names the argument by its text, not its position: the library counts
/// arguments from 0 in its messages, a shell user from 1, and the text is
/// unambiguous to both.
#[derive(Debug)]
pub struct ArgError {
    /// The argument as given.
    pub text: String,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with a typed argument.
#[derive(Debug)]
pub enum Problem {
    /// There is no `TYPE:` prefix.
    NoType,
    /// The type is not one the CLI knows.
    UnknownType(String),
    /// The value does not parse as the type.
    BadValue {
        /// The type.
        ty: &'static str,
        /// The parser's reason.
        reason: String,
    },
    /// A `bytes:` value is neither `@PATH` nor `hex:HEX`.
    BadBytesForm,
    /// The file of a `bytes:@PATH` argument cannot be read.
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "argument {:?}: ", self.text)?;
        match &self.problem {
            Problem::NoType => write!(f, "missing type; write {SYNTAX}"),
            Problem::UnknownType(t) => write!(f, "unknown type {t:?}; write {SYNTAX}"),
            Problem::BadValue { ty, reason } => write!(f, "not a valid {ty}: {reason}"),
            Problem::BadBytesForm => f.write_str("bytes are given as bytes:@PATH or bytes:hex:HEX"),
            Problem::ReadFile { path, source } => write!(f, "cannot read {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for ArgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::ReadFile { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Converts the call's arguments, in order; the first bad one is the error.
pub fn parse_all(texts: &[String]) -> Result<Vec<Value>, ArgError> {
    texts.iter().map(|text| parse(text).map_err(|problem| ArgError { text: text.clone(), problem })).collect()
}

/// Converts one `TYPE:VALUE` argument.
pub fn parse(text: &str) -> Result<Value, Problem> {
    let (ty, value) = text.split_once(':').ok_or(Problem::NoType)?;
    match ty {
        "i32" => number(value, "i32").map(Value::I32),
        "u32" => number(value, "u32").map(Value::U32),
        "i64" => number(value, "i64").map(Value::I64),
        "u64" => number(value, "u64").map(Value::U64),
        "f32" => number(value, "f32").map(Value::F32),
        "f64" => number(value, "f64").map(Value::F64),
        "bool" => number(value, "bool").map(Value::Bool),
        "str" => Ok(Value::String(value.to_string())),
        "bytes" => bytes(value).map(Value::Bytes),
        other => Err(Problem::UnknownType(other.to_string())),
    }
}

/// Anything Rust's `FromStr` parses (so `1e3`, `inf` and `NaN` for floats, exactly
/// `true`/`false` for bools).
fn number<T: FromStr>(value: &str, ty: &'static str) -> Result<T, Problem>
where
    T::Err: fmt::Display,
{
    value.parse().map_err(|e: T::Err| Problem::BadValue { ty, reason: e.to_string() })
}

fn bytes(value: &str) -> Result<Vec<u8>, Problem> {
    if let Some(path) = value.strip_prefix('@') {
        let path = PathBuf::from(path);
        return std::fs::read(&path).map_err(|source| Problem::ReadFile { path, source });
    }
    let hex = value.strip_prefix("hex:").ok_or(Problem::BadBytesForm)?;
    from_hex(hex).map_err(|reason| Problem::BadValue { ty: "hex byte string", reason })
}

fn from_hex(hex: &str) -> Result<Vec<u8>, String> {
    if hex.len() % 2 != 0 {
        return Err(format!("odd number of digits ({})", hex.len()));
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            // Bytes, not chars: a multi-byte UTF-8 char must not be split by slicing.
            let digits = std::str::from_utf8(pair).map_err(|_| "not a hex digit".to_string())?;
            u8::from_str_radix(digits, 16).map_err(|_| format!("{digits:?} is not a hex byte"))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_type_parses() {
        assert_eq!(parse("i32:-5").unwrap(), Value::I32(-5));
        assert_eq!(parse("u32:7").unwrap(), Value::U32(7));
        assert_eq!(parse("i64:-3").unwrap(), Value::I64(-3));
        assert_eq!(parse("u64:18446744073709551615").unwrap(), Value::U64(u64::MAX));
        assert_eq!(parse("f32:1.5").unwrap(), Value::F32(1.5));
        assert_eq!(parse("f64:-2.25").unwrap(), Value::F64(-2.25));
        assert_eq!(parse("bool:true").unwrap(), Value::Bool(true));
        assert_eq!(parse("str:a: b:c").unwrap(), Value::String("a: b:c".into()));
        assert_eq!(parse("str:").unwrap(), Value::String(String::new()));
        assert_eq!(parse("bytes:hex:0aFf").unwrap(), Value::Bytes(vec![0x0a, 0xff]));
        assert_eq!(parse("bytes:hex:").unwrap(), Value::Bytes(vec![]));
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(matches!(parse("5"), Err(Problem::NoType)));
        assert!(matches!(parse("int:5"), Err(Problem::UnknownType(t)) if t == "int"));
        assert!(matches!(parse("i32:5x"), Err(Problem::BadValue { ty: "i32", .. })));
        assert!(matches!(parse("u32:-1"), Err(Problem::BadValue { ty: "u32", .. })));
        assert!(matches!(parse("i32:99999999999"), Err(Problem::BadValue { .. })));
        assert!(matches!(parse("bool:yes"), Err(Problem::BadValue { ty: "bool", .. })));
        assert!(matches!(parse("bytes:0a0b"), Err(Problem::BadBytesForm)));
        assert!(matches!(parse("bytes:hex:abc"), Err(Problem::BadValue { .. })));
        assert!(matches!(parse("bytes:hex:zz"), Err(Problem::BadValue { .. })));
        assert!(matches!(parse("bytes:hex:é0"), Err(Problem::BadValue { .. })));
        assert!(matches!(parse("bytes:@/nonexistent/file"), Err(Problem::ReadFile { .. })));
    }

    #[test]
    fn the_error_names_the_argument() {
        let err = parse_all(&["i32:1".into(), "i32:x".into()]).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("argument \"i32:x\": not a valid i32"), "{message}");
    }
}
