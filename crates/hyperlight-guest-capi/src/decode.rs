//! What the C side hands the library, checked: type codes, strings, buffers, values,
//! signatures, and the result a guest function leaves.
//!
//! Safe code over integers and byte slices only; `raw.rs` turns the C pointers into
//! the slices. That keeps every check in one place that runs on the host too: the
//! fuzz target `capi_decode` compiles this file as it is.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use hyperlight_common::{FunctionError, FunctionResult, FunctionSignature, Value, ValueType};

/// How a C guest misused the API: the cause of the error its call fails with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misuse {
    /// A type code that names no `hl_type`.
    UnknownType {
        /// The code passed.
        code: u32,
    },
    /// `HL_TYPE_UNIT` as a parameter or argument type: only a return type may be unit.
    UnitParameter {
        /// The position of the parameter or argument.
        index: u64,
    },
    /// A null pointer where the API needs one (a length above zero, a name, a message).
    NullPointer {
        /// What the pointer is.
        what: &'static str,
    },
    /// No NUL within the first `limit` bytes of a NUL-terminated string.
    Unterminated {
        /// What the string is.
        what: &'static str,
        /// How far the library looked.
        limit: u64,
    },
    /// Text that is not UTF-8.
    NotUtf8 {
        /// What the text is.
        what: &'static str,
        /// The length of its valid prefix.
        valid_up_to: u64,
    },
    /// A length larger than anything the call buffers could carry.
    TooLong {
        /// What the buffer is.
        what: &'static str,
        /// The length passed.
        len: u64,
        /// The largest length allowed.
        limit: u64,
    },
    /// A buffer whose end lies past the end of the address space.
    Wraps {
        /// What the buffer is.
        what: &'static str,
    },
    /// An argument index past the arguments of the call.
    NoSuchArgument {
        /// The index asked for.
        index: u64,
        /// The number of arguments.
        count: u64,
    },
    /// An argument read as another type than it has.
    ArgumentType {
        /// The position of the argument.
        index: u64,
        /// The type asked for.
        asked: ValueType,
        /// The argument's type.
        actual: ValueType,
    },
    /// An `hl_call *` that names no call that is running.
    NotACall {
        /// The handle's value.
        handle: u64,
    },
    /// A second result (or failure) for a call that already has one.
    ResultSetTwice,
    /// More parameters than a function may have.
    TooManyParameters {
        /// The count passed.
        count: u64,
        /// The limit.
        limit: u64,
    },
    /// `hl_fail_with_host_error` with no failed host call to pass on.
    NoHostError,
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misuse::UnknownType { code } => write!(f, "{code} is not an hl_type"),
            Misuse::UnitParameter { index } => {
                write!(f, "parameter {index} is HL_TYPE_UNIT, which only a result may be")
            }
            Misuse::NullPointer { what } => write!(f, "{what} is a null pointer"),
            Misuse::Unterminated { what, limit } => write!(f, "{what} has no NUL in its first {limit} bytes"),
            Misuse::NotUtf8 { what, valid_up_to } => {
                write!(f, "{what} is not UTF-8 (valid up to byte {valid_up_to})")
            }
            Misuse::TooLong { what, len, limit } => {
                write!(f, "{what} is {len} bytes long, more than the {limit} allowed")
            }
            Misuse::Wraps { what } => write!(f, "{what} runs past the end of the address space"),
            Misuse::NoSuchArgument { index, count } => {
                write!(f, "argument {index} asked for, but the call has {count}")
            }
            Misuse::ArgumentType { index, asked, actual } => {
                write!(f, "argument {index} read as {asked}, but it is {actual}")
            }
            Misuse::NotACall { handle } => write!(f, "hl_call {handle:#x} is not a call that is running"),
            Misuse::ResultSetTwice => f.write_str("the call already has a result"),
            Misuse::TooManyParameters { count, limit } => {
                write!(f, "{count} parameters, more than the {limit} allowed")
            }
            Misuse::NoHostError => f.write_str("no host call has failed"),
        }
    }
}

impl core::error::Error for Misuse {}

/// The largest number of parameters a C guest function may declare, and of arguments
/// a host call may pass (the host's typed host functions take at most 12; the rest is
/// room for guests that take values as lists).
pub const MAX_PARAMETERS: usize = 64;

/// The `hl_type` code of `t` (the order of [`ValueType`]).
pub fn type_code(t: ValueType) -> u32 {
    match t {
        ValueType::Unit => 0,
        ValueType::I32 => 1,
        ValueType::U32 => 2,
        ValueType::I64 => 3,
        ValueType::U64 => 4,
        ValueType::F32 => 5,
        ValueType::F64 => 6,
        ValueType::Bool => 7,
        ValueType::String => 8,
        ValueType::Bytes => 9,
    }
}

/// The type an `hl_type` code names.
pub fn value_type(code: u32) -> Result<ValueType, Misuse> {
    Ok(match code {
        0 => ValueType::Unit,
        1 => ValueType::I32,
        2 => ValueType::U32,
        3 => ValueType::I64,
        4 => ValueType::U64,
        5 => ValueType::F32,
        6 => ValueType::F64,
        7 => ValueType::Bool,
        8 => ValueType::String,
        9 => ValueType::Bytes,
        code => return Err(Misuse::UnknownType { code }),
    })
}

/// The type of parameter or argument `index`: any type but unit.
pub fn parameter_type(index: usize, code: u32) -> Result<ValueType, Misuse> {
    match value_type(code)? {
        ValueType::Unit => Err(Misuse::UnitParameter { index: as_u64(index) }),
        t => Ok(t),
    }
}

/// `bytes` as UTF-8 text.
pub fn text<'a>(what: &'static str, bytes: &'a [u8]) -> Result<&'a str, Misuse> {
    core::str::from_utf8(bytes).map_err(|e| Misuse::NotUtf8 { what, valid_up_to: as_u64(e.valid_up_to()) })
}

/// The NUL-terminated string at the start of `window` (the bytes the library may
/// read there), as UTF-8 text.
pub fn c_str<'a>(what: &'static str, window: &'a [u8]) -> Result<&'a str, Misuse> {
    let end = window.iter().position(|&b| b == 0).ok_or(Misuse::Unterminated { what, limit: as_u64(window.len()) })?;
    text(what, &window[..end])
}

/// Checks a buffer the C side names by address and length, before anything reads
/// it: not null unless empty, at most `limit` bytes, not wrapping around.
pub fn buffer(what: &'static str, addr: u64, len: u64, limit: u64) -> Result<(), Misuse> {
    if len == 0 {
        return Ok(());
    }
    if addr == 0 {
        return Err(Misuse::NullPointer { what });
    }
    if len > limit {
        return Err(Misuse::TooLong { what, len, limit });
    }
    addr.checked_add(len).map(|_| ()).ok_or(Misuse::Wraps { what })
}

/// A function's signature from its name and type codes.
pub fn signature(name: &str, returns: u32, params: &[u32]) -> Result<FunctionSignature, Misuse> {
    if params.len() > MAX_PARAMETERS {
        return Err(Misuse::TooManyParameters { count: as_u64(params.len()), limit: as_u64(MAX_PARAMETERS) });
    }
    let returns = value_type(returns)?;
    let params = params.iter().enumerate().map(|(i, &code)| parameter_type(i, code)).collect::<Result<Vec<_>, _>>()?;
    Ok(FunctionSignature { name: name.into(), params, returns })
}

/// An `hl_value` as the C side left it: its type code and the two 64-bit words of
/// its payload (a scalar in the low bits of the first; a pointer and a length for a
/// string or bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawValue {
    /// The `type` field.
    pub type_code: u32,
    /// The first word of the payload.
    pub word0: u64,
    /// The second word of the payload.
    pub word1: u64,
}

/// What an `hl_value` holds: a scalar, complete, or a buffer still to be read.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A scalar value (or unit).
    Scalar(Value),
    /// A string or bytes at `addr`, `len` bytes long (checked by [`buffer`]).
    Buffer {
        /// [`ValueType::String`] or [`ValueType::Bytes`].
        value_type: ValueType,
        /// Where the bytes are.
        addr: u64,
        /// How many.
        len: u64,
    },
}

/// The payload of `raw`; a buffer is checked against `limit` but not read.
///
/// Scalars take the low bits of the first word, as C stores a union member there; a
/// `bool` is true when its byte is not zero, as C reads one.
pub fn payload(what: &'static str, raw: RawValue, limit: u64) -> Result<Payload, Misuse> {
    let low32 = raw.word0.to_le_bytes();
    let low32 = [low32[0], low32[1], low32[2], low32[3]];
    Ok(Payload::Scalar(match value_type(raw.type_code)? {
        ValueType::Unit => Value::Unit,
        ValueType::I32 => Value::I32(i32::from_le_bytes(low32)),
        ValueType::U32 => Value::U32(u32::from_le_bytes(low32)),
        ValueType::I64 => Value::I64(i64::from_le_bytes(raw.word0.to_le_bytes())),
        ValueType::U64 => Value::U64(raw.word0),
        ValueType::F32 => Value::F32(f32::from_bits(u32::from_le_bytes(low32))),
        ValueType::F64 => Value::F64(f64::from_bits(raw.word0)),
        ValueType::Bool => Value::Bool(low32[0] != 0),
        value_type @ (ValueType::String | ValueType::Bytes) => {
            buffer(what, raw.word0, raw.word1, limit)?;
            return Ok(Payload::Buffer { value_type, addr: raw.word0, len: raw.word1 });
        }
    }))
}

/// The value of a buffer payload whose bytes have been read.
pub fn buffer_value(what: &'static str, value_type: ValueType, bytes: &[u8]) -> Result<Value, Misuse> {
    match value_type {
        ValueType::String => Ok(Value::String(String::from(text(what, bytes)?))),
        _ => Ok(Value::Bytes(bytes.to_vec())),
    }
}

/// The result a C guest function's call ends with: the first misuse if there was
/// one; else the failure or value it set, a value checked against the declared
/// return type (none set is unit).
pub fn finish(
    function: &str,
    returns: ValueType,
    misuse: Option<(&'static str, Misuse)>,
    result: Option<FunctionResult>,
) -> FunctionResult {
    if let Some((api, misuse)) = misuse {
        return Err(FunctionError::failed(format!("{api}: {misuse}")));
    }
    let value = result.unwrap_or(Ok(Value::Unit))?;
    if value.value_type() == returns {
        Ok(value)
    } else {
        Err(FunctionError::ReturnType { function: function.into(), expected: returns, got: value.value_type() })
    }
}

/// The size of the frame a string or bytes result of `len` bytes encodes into (the
/// frame header, `Ok`'s and the value's tags, the length as a varint, the bytes):
/// what a result too large for the output buffer reports, as a Rust guest's does.
pub fn result_frame_size(len: u64) -> u64 {
    let mut varint = 1;
    let mut rest = len >> 7;
    while rest > 0 {
        varint += 1;
        rest >>= 7;
    }
    let header = hyperlight_common::message::FRAME_HEADER as u64;
    len.saturating_add(header + 2 + varint)
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
