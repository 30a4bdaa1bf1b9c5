//! `hl_value` and `hl_status`: the C types of the header that cross the boundary by
//! value or through pointers.

use hyperlight_common::{FunctionError, Value};

use crate::decode::{type_code, RawValue};

/// A value of any type: `hl_value` of the header, a type code and a 16-byte payload
/// (the header's union of the scalars and of `{pointer, length}` for a string or
/// bytes). Read as two words, never as the union's members, so that whatever bits
/// C left there are a defined value here.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct hl_value {
    /// An `hl_type` code.
    pub type_code: u32,
    /// The union: a scalar in the low bits of the first word, or a pointer and a length.
    pub payload: [u64; 2],
}

impl hl_value {
    /// The value as [`decode`](crate::decode) reads it.
    pub(crate) fn raw(self) -> RawValue {
        RawValue { type_code: self.type_code, word0: self.payload[0], word1: self.payload[1] }
    }

    /// `v` as an `hl_value`, with a string or bytes at `buffer` (`len` bytes).
    pub(crate) fn new(v: &Value, buffer: *mut u8, len: usize) -> hl_value {
        let word0 = match v {
            Value::Unit => 0,
            Value::I32(x) => u64::from(u32::from_le_bytes(x.to_le_bytes())),
            Value::U32(x) => u64::from(*x),
            Value::I64(x) => u64::from_le_bytes(x.to_le_bytes()),
            Value::U64(x) => *x,
            Value::F32(x) => u64::from(x.to_bits()),
            Value::F64(x) => x.to_bits(),
            Value::Bool(x) => u64::from(*x),
            Value::String(_) | Value::Bytes(_) => buffer as u64,
        };
        let word1 = if matches!(v, Value::String(_) | Value::Bytes(_)) { len as u64 } else { 0 };
        hl_value { type_code: type_code(v.value_type()), payload: [word0, word1] }
    }
}

/// What `hl_call_host` returns: `HL_OK`, or why the host call failed.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum hl_status {
    /// The call succeeded.
    Ok = 0,
    /// No host function has the name.
    HostFunctionNotFound = 1,
    /// The host function takes another number of arguments.
    ArgumentCount = 2,
    /// An argument has another type than the host function's parameter.
    ArgumentType = 3,
    /// The host function returned another type than the caller asked for.
    ReturnType = 4,
    /// The host function returned an error.
    HostFunctionFailed = 5,
    /// The arguments do not fit the output buffer.
    TooLarge = 6,
    /// The host's reply could not be decoded.
    BadMessage = 7,
    /// The C side passed something the library refuses (a type code, a pointer, a
    /// string that is not UTF-8, ...): nothing went to the host.
    InvalidArgument = 8,
    /// Any other failure.
    Other = 9,
}

impl hl_status {
    /// The status that stands for `e`.
    pub(crate) fn of(e: &FunctionError) -> hl_status {
        match e {
            FunctionError::HostFunctionNotFound { .. } => hl_status::HostFunctionNotFound,
            FunctionError::ArgumentCount { .. } => hl_status::ArgumentCount,
            FunctionError::ArgumentType { .. } => hl_status::ArgumentType,
            FunctionError::ReturnType { .. } => hl_status::ReturnType,
            FunctionError::HostFunctionFailed { .. } => hl_status::HostFunctionFailed,
            FunctionError::TooLarge { .. } => hl_status::TooLarge,
            FunctionError::BadMessage { .. } => hl_status::BadMessage,
            FunctionError::FunctionNotFound { .. } | FunctionError::Failed { .. } => hl_status::Other,
        }
    }
}
