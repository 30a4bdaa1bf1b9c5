//! The values that cross the host/guest boundary, and their Rust types.
//!
//! [`ParameterType`] is implemented by the types a function may take as a parameter
//! (every [`ValueType`] but `Unit`); [`ReturnType`] by the types it may return (all
//! of them, unit included).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

/// One value passed to or returned from a function on the other side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// No value (the return value of a function returning `()`).
    Unit,
    /// `i32`
    I32(i32),
    /// `u32`
    U32(u32),
    /// `i64`
    I64(i64),
    /// `u64`
    U64(u64),
    /// `f32`
    F32(f32),
    /// `f64`
    F64(f64),
    /// `bool`
    Bool(bool),
    /// `String` (always valid UTF-8: the decoder checks it)
    String(String),
    /// `Vec<u8>`
    Bytes(Vec<u8>),
}

/// The type of a [`Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValueType {
    /// `()`
    Unit,
    /// `i32`
    I32,
    /// `u32`
    U32,
    /// `i64`
    I64,
    /// `u64`
    U64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `bool`
    Bool,
    /// `String`
    String,
    /// `Vec<u8>`
    Bytes,
}

impl Value {
    /// The type of this value.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Unit => ValueType::Unit,
            Value::I32(_) => ValueType::I32,
            Value::U32(_) => ValueType::U32,
            Value::I64(_) => ValueType::I64,
            Value::U64(_) => ValueType::U64,
            Value::F32(_) => ValueType::F32,
            Value::F64(_) => ValueType::F64,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Bytes(_) => ValueType::Bytes,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::Unit => "()",
            ValueType::I32 => "i32",
            ValueType::U32 => "u32",
            ValueType::I64 => "i64",
            ValueType::U64 => "u64",
            ValueType::F32 => "f32",
            ValueType::F64 => "f64",
            ValueType::Bool => "bool",
            ValueType::String => "String",
            ValueType::Bytes => "Vec<u8>",
        })
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unit => f.write_str("()"),
            Value::I32(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::String(v) => write!(f, "{v:?}"),
            Value::Bytes(v) => write!(f, "<{} bytes>", v.len()),
        }
    }
}

/// A [`Value`] that borrows its string or bytes: what a caller encodes without
/// copying its arguments into `Value`s first. It encodes exactly as the [`Value`] it
/// stands for (same variants, same order), so the other side decodes a `Value`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum ValueRef<'a> {
    /// No value.
    Unit,
    /// `i32`
    I32(i32),
    /// `u32`
    U32(u32),
    /// `i64`
    I64(i64),
    /// `u64`
    U64(u64),
    /// `f32`
    F32(f32),
    /// `f64`
    F64(f64),
    /// `bool`
    Bool(bool),
    /// A string.
    String(&'a str),
    /// Bytes, encoded as `Value::Bytes`' `Vec<u8>` is (a sequence of bytes).
    Bytes(#[serde(serialize_with = "bytes_as_seq")] &'a [u8]),
}

/// `&[u8]` as serde encodes a `Vec<u8>`: a sequence of `u8`s (which postcard writes as
/// a length and the raw bytes).
fn bytes_as_seq<S: serde::Serializer>(bytes: &&[u8], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(bytes.iter())
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(v: &'a Value) -> ValueRef<'a> {
        match v {
            Value::Unit => ValueRef::Unit,
            Value::I32(x) => ValueRef::I32(*x),
            Value::U32(x) => ValueRef::U32(*x),
            Value::I64(x) => ValueRef::I64(*x),
            Value::U64(x) => ValueRef::U64(*x),
            Value::F32(x) => ValueRef::F32(*x),
            Value::F64(x) => ValueRef::F64(*x),
            Value::Bool(x) => ValueRef::Bool(*x),
            Value::String(x) => ValueRef::String(x),
            Value::Bytes(x) => ValueRef::Bytes(x),
        }
    }
}

/// A Rust value that can be passed, without a copy, as an argument whose parameter
/// type is `T`: `T` itself, and `&str` for `String`, `&[u8]` for `Vec<u8>`.
pub trait AsArgument<T: ParameterType> {
    /// The value, borrowed.
    fn value_ref(&self) -> ValueRef<'_>;
}

macro_rules! scalar_argument {
    ($($t:ty => $variant:ident),+) => {$(
        impl AsArgument<$t> for $t {
            fn value_ref(&self) -> ValueRef<'_> {
                ValueRef::$variant(*self)
            }
        }
    )+};
}

scalar_argument!(i32 => I32, u32 => U32, i64 => I64, u64 => U64, f32 => F32, f64 => F64, bool => Bool);

impl AsArgument<String> for String {
    fn value_ref(&self) -> ValueRef<'_> {
        ValueRef::String(self)
    }
}

impl AsArgument<String> for &str {
    fn value_ref(&self) -> ValueRef<'_> {
        ValueRef::String(self)
    }
}

impl AsArgument<Vec<u8>> for Vec<u8> {
    fn value_ref(&self) -> ValueRef<'_> {
        ValueRef::Bytes(self)
    }
}

impl AsArgument<Vec<u8>> for &[u8] {
    fn value_ref(&self) -> ValueRef<'_> {
        ValueRef::Bytes(self)
    }
}

/// A Rust type that can be returned across the boundary.
pub trait ReturnType: Sized {
    /// The boundary type of `Self`.
    const TYPE: ValueType;
    /// `self` as a [`Value`].
    fn into_value(self) -> Value;
    /// The Rust value of `v`, or `v` back if it has another type.
    fn from_value(v: Value) -> Result<Self, Value>;
}

/// A Rust type that can be passed as a parameter across the boundary.
///
/// Every [`ReturnType`] but `()`.
pub trait ParameterType: ReturnType {}

macro_rules! value_type {
    ($t:ty, $variant:ident) => {
        impl ReturnType for $t {
            const TYPE: ValueType = ValueType::$variant;
            fn into_value(self) -> Value {
                Value::$variant(self)
            }
            fn from_value(v: Value) -> Result<Self, Value> {
                match v {
                    Value::$variant(x) => Ok(x),
                    other => Err(other),
                }
            }
        }
        impl ParameterType for $t {}
    };
}

value_type!(i32, I32);
value_type!(u32, U32);
value_type!(i64, I64);
value_type!(u64, U64);
value_type!(f32, F32);
value_type!(f64, F64);
value_type!(bool, Bool);
value_type!(String, String);
value_type!(Vec<u8>, Bytes);

impl ReturnType for () {
    const TYPE: ValueType = ValueType::Unit;
    fn into_value(self) -> Value {
        Value::Unit
    }
    fn from_value(v: Value) -> Result<Self, Value> {
        match v {
            Value::Unit => Ok(()),
            other => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn borrowed_values_encode_as_values() {
        use alloc::vec;
        for v in [
            Value::Unit,
            Value::I32(-7),
            Value::U64(u64::MAX),
            Value::F64(1.5),
            Value::Bool(true),
            Value::String("héllo".to_string()),
            Value::Bytes(vec![0, 1, 255, 7]),
        ] {
            let owned = postcard::to_allocvec(&v).unwrap();
            let borrowed = postcard::to_allocvec(&ValueRef::from(&v)).unwrap();
            assert_eq!(owned, borrowed, "{v:?}");
        }
        assert_eq!(AsArgument::<String>::value_ref(&"x"), ValueRef::String("x"));
        assert_eq!(AsArgument::<Vec<u8>>::value_ref(&&[1u8][..]), ValueRef::Bytes(&[1]));
    }

    #[test]
    fn conversions_check_the_type() {
        assert_eq!(i32::from_value(Value::I32(5)), Ok(5));
        assert_eq!(i32::from_value(Value::U32(5)), Err(Value::U32(5)));
        assert_eq!(String::from_value("x".to_string().into_value()), Ok("x".to_string()));
        assert_eq!(<()>::from_value(Value::Unit), Ok(()));
        assert_eq!(Value::Bytes(Vec::new()).value_type(), ValueType::Bytes);
    }
}
