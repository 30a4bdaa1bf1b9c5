//! The wire format of the call buffers.
//!
//! A frame is a 4-byte little-endian payload length followed by the payload, encoded
//! with [postcard] (a documented, language-neutral format: varint integers,
//! length-prefixed strings and sequences, enums as a varint variant index followed by
//! the variant's fields).
//!
//! **The input buffer is a stack of frames** (host to guest). It starts with an
//! [`INPUT_HEADER`]-byte header whose first `u32` (little-endian) is the offset, from
//! the start of the buffer, of the frame the guest is to read now; frames follow the
//! header. A call of a guest function stays on the stack while it runs; a call the
//! host makes into the guest while that one waits in a host call (a re-entrant call)
//! goes above it, so the outer call's frame is intact when the inner one returns. A
//! reply to a host call is read at once and takes no room after it.
//!
//! **The output buffer holds one frame** (guest to host), at offset 0: the host copies
//! every guest message out before the guest runs again, so nothing there outlives an
//! exit.
//!
//! | direction | buffer | message | when |
//! |---|---|---|---|
//! | host to guest | input | [`HostMessage::Call`] | a call of a guest function (by name or by index) |
//! | host to guest | input | [`HostMessage::Batch`] | several calls in one VM entry |
//! | host to guest | input | [`HostMessage::Reply`] | the reply to a host call |
//! | guest to host | output | [`FunctionTable`] | init is done ([`ExitPort::Ready`](crate::port::ExitPort::Ready), the first time) |
//! | guest to host | output | [`FunctionResult`] | a call finished (`Ready`) |
//! | guest to host | output | `Vec<FunctionResult>` | a batch finished (`Ready`): one result per call run, a failure last |
//! | guest to host | output | [`FunctionCall`] | a host call ([`ExitPort::HostCall`](crate::port::ExitPort::HostCall)) |
//! | guest to host | output | [`GuestAbort`] | the guest gave up ([`ExitPort::Abort`](crate::port::ExitPort::Abort)) |
//!
//! While the guest waits for the reply to a host call, the host may send it a `Call`
//! (or a `Batch`) instead: the guest runs it, answers with `Ready`, and waits for the
//! reply again. That is how a host function calls back into the guest.
//!
//! Decoders never trust the frame: the length is checked against the buffer, and the
//! payload must decode completely, with valid UTF-8 in every string.
//!
//! [postcard]: https://postcard.jamesmunns.com/wire-format

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use crate::func::ArgumentError;
use crate::value::{Value, ValueType};

/// Size of the frame header (the payload length, `u32` little-endian).
pub const FRAME_HEADER: usize = 4;

/// Size of the input buffer's header: the offset of the current frame (`u32`
/// little-endian), reserved bytes to the end of the first cache line, then the hot
/// slot (see [`crate::hot`]) in a cache line of its own.
pub const INPUT_HEADER: usize = 128;

/// What the host sends the guest (a frame in the input buffer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HostMessage {
    /// Call a guest function.
    Call(GuestCall),
    /// The reply to the guest's host call.
    Reply(FunctionResult),
    /// Call these guest functions in order, stopping at the first that fails.
    Batch(Vec<GuestCall>),
}

/// A call of a guest function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestCall {
    /// Which function.
    pub function: FunctionRef,
    /// The arguments, in order.
    pub args: Vec<Value>,
}

/// How a call names its guest function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FunctionRef {
    /// By its registered name.
    Name(String),
    /// By its position in the [`FunctionTable`] the guest reported at init.
    Index(u32),
}

/// [`HostMessage`] as the host writes it without copying (same encoding: the same
/// variants in the same order, `args` encoding as a `Vec<Value>`).
#[derive(Debug, Serialize)]
pub enum HostMessageRef<'a, A: Serialize> {
    /// Call a guest function.
    Call(GuestCallRef<'a, A>),
    /// The reply to the guest's host call.
    Reply(&'a FunctionResult),
    /// Call these guest functions in order, stopping at the first that fails.
    Batch(&'a [GuestCall]),
}

/// [`GuestCall`], borrowed (same encoding).
#[derive(Debug, Serialize)]
pub struct GuestCallRef<'a, A: Serialize> {
    /// Which function.
    pub function: FunctionRefRef<'a>,
    /// The arguments: a `&[Value]`, or an [`EncodeArgs`](crate::func::EncodeArgs).
    pub args: A,
}

/// [`FunctionRef`], borrowed (same encoding).
#[derive(Debug, Clone, Copy, Serialize)]
pub enum FunctionRefRef<'a> {
    /// By name.
    Name(&'a str),
    /// By index in the function table.
    Index(u32),
}

/// One guest function as the guest reports it at init: its name and signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSignature {
    /// The registered name.
    pub name: String,
    /// The parameter types, in order.
    pub params: Vec<ValueType>,
    /// The return type ([`ValueType::Unit`] for none).
    pub returns: ValueType,
}

impl fmt::Display for FunctionSignature {
    /// `fn Add(i32, i32) -> i32`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fn {}(", self.name)?;
        for (i, p) in self.params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        write!(f, ") -> {}", self.returns)
    }
}

/// Every guest function, in the order of their indices ([`FunctionRef::Index`]).
pub type FunctionTable = Vec<FunctionSignature>;

/// A call of a host function, by name (the guest's [`ExitPort::HostCall`](crate::port::ExitPort::HostCall)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function's registered name.
    pub name: String,
    /// The arguments, in order.
    pub args: Vec<Value>,
}

/// The outcome of a call: its return value, or why it failed.
pub type FunctionResult = Result<Value, FunctionError>;

/// Why a call across the boundary failed, as one side reports it to the other.
///
/// Guest functions return `Result<T, FunctionError>`; an error from a host call made
/// with `?` travels back to the host caller with its variant intact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FunctionError {
    /// No guest function has this name.
    FunctionNotFound {
        /// The name that was called.
        name: String,
    },
    /// No host function has this name.
    HostFunctionNotFound {
        /// The name the guest called.
        name: String,
    },
    /// The call has the wrong number of arguments.
    ArgumentCount {
        /// The function called.
        function: String,
        /// Parameters the function takes.
        expected: u32,
        /// Arguments given.
        got: u32,
    },
    /// An argument has the wrong type.
    ArgumentType {
        /// The function called.
        function: String,
        /// Position of the argument, from 0.
        index: u32,
        /// The parameter's type.
        expected: ValueType,
        /// The argument's type.
        got: ValueType,
    },
    /// A function returned a value of another type than the caller expects.
    ReturnType {
        /// The function called.
        function: String,
        /// The type the caller expects.
        expected: ValueType,
        /// The type returned.
        got: ValueType,
    },
    /// A host function returned an error.
    HostFunctionFailed {
        /// The host function.
        name: String,
        /// Its error message.
        message: String,
    },
    /// An encoded message does not fit the buffer it must go into.
    TooLarge {
        /// What did not fit ("result of X", "arguments of Y").
        what: String,
        /// Its encoded size in bytes.
        size: u64,
        /// The room in the buffer.
        capacity: u64,
    },
    /// A message could not be decoded.
    BadMessage {
        /// What was wrong with it.
        detail: String,
    },
    /// A guest function failed with this message.
    Failed {
        /// The message.
        message: String,
    },
}

impl FunctionError {
    /// A function failure with a message (what a guest function returns for its own
    /// errors).
    pub fn failed(message: impl Into<String>) -> FunctionError {
        FunctionError::Failed { message: message.into() }
    }

    /// The error for an argument list that does not fit `function`'s parameters.
    pub fn from_arguments(function: &str, e: ArgumentError) -> FunctionError {
        match e {
            ArgumentError::Count { expected, got } => {
                FunctionError::ArgumentCount { function: function.into(), expected, got }
            }
            ArgumentError::Type { index, expected, got } => {
                FunctionError::ArgumentType { function: function.into(), index, expected, got }
            }
        }
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FunctionError::FunctionNotFound { name } => write!(f, "no guest function named {name:?}"),
            FunctionError::HostFunctionNotFound { name } => write!(f, "no host function named {name:?}"),
            FunctionError::ArgumentCount { function, expected, got } => {
                write!(f, "{function} takes {expected} arguments, got {got}")
            }
            FunctionError::ArgumentType { function, index, expected, got } => {
                write!(f, "argument {index} of {function} should be {expected}, got {got}")
            }
            FunctionError::ReturnType { function, expected, got } => {
                write!(f, "{function} returned {got}, expected {expected}")
            }
            FunctionError::HostFunctionFailed { name, message } => {
                write!(f, "host function {name} failed: {message}")
            }
            FunctionError::TooLarge { what, size, capacity } => {
                write!(f, "{what} is {size} bytes, more than the {capacity} bytes of its buffer")
            }
            FunctionError::BadMessage { detail } => write!(f, "bad message: {detail}"),
            FunctionError::Failed { message } => f.write_str(message),
        }
    }
}

impl core::error::Error for FunctionError {}

impl From<core::convert::Infallible> for FunctionError {
    fn from(never: core::convert::Infallible) -> FunctionError {
        match never {}
    }
}

/// Why the guest stopped for good in the middle of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestAbort {
    /// What kind of stop.
    pub kind: AbortKind,
    /// The message (a panic's message and location).
    pub message: String,
}

/// [`GuestAbort`] as the guest writes it, without allocating (same encoding).
#[derive(Debug, Clone, Serialize)]
pub struct GuestAbortRef<'a> {
    /// What kind of stop.
    pub kind: AbortKind,
    /// The message.
    pub message: &'a str,
}

/// The kinds of [`GuestAbort`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AbortKind {
    /// A Rust panic.
    Panic,
    /// The heap could not satisfy an allocation.
    OutOfMemory {
        /// Bytes asked for.
        requested: u64,
    },
    /// The guest aborted on purpose with this code.
    Abort {
        /// The code.
        code: i32,
    },
}

/// Why a frame could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The message needs `size` bytes but the buffer has room for `capacity`.
    TooLarge {
        /// Encoded size, frame header included.
        size: u64,
        /// Buffer size.
        capacity: u64,
    },
    /// The buffer is smaller than a frame header.
    NoHeader,
    /// The frame's length field points past the buffer.
    LengthOutOfRange {
        /// The length field.
        length: u64,
        /// Room after the header.
        capacity: u64,
    },
    /// The payload is not a valid message of the expected type.
    Malformed(postcard::Error),
    /// The payload decoded, but bytes were left over.
    TrailingBytes(u64),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { size, capacity } => {
                write!(f, "message of {size} bytes does not fit a buffer of {capacity} bytes")
            }
            FrameError::NoHeader => f.write_str("buffer smaller than a frame header"),
            FrameError::LengthOutOfRange { length, capacity } => {
                write!(f, "frame length {length} exceeds the {capacity} bytes of the buffer")
            }
            FrameError::Malformed(_) => f.write_str("malformed payload"),
            FrameError::TrailingBytes(n) => write!(f, "{n} bytes after the payload"),
        }
    }
}

impl core::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            FrameError::Malformed(e) => Some(e),
            _ => None,
        }
    }
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Encodes `msg` as a frame at the start of `buf`; returns the frame's total size.
pub fn write_frame<T: Serialize + ?Sized>(buf: &mut [u8], msg: &T) -> Result<usize, FrameError> {
    let capacity = as_u64(buf.len());
    let too_large = || {
        let size = postcard::experimental::serialized_size(msg).unwrap_or(usize::MAX);
        FrameError::TooLarge { size: as_u64(size).saturating_add(as_u64(FRAME_HEADER)), capacity }
    };
    if buf.len() < FRAME_HEADER {
        return Err(too_large());
    }
    let (head, body) = buf.split_at_mut(FRAME_HEADER);
    let n = match postcard::to_slice(msg, body) {
        Ok(used) => used.len(),
        Err(postcard::Error::SerializeBufferFull) => return Err(too_large()),
        Err(e) => return Err(FrameError::Malformed(e)),
    };
    let len = u32::try_from(n).map_err(|_| too_large())?;
    head.copy_from_slice(&len.to_le_bytes());
    Ok(FRAME_HEADER + n)
}

/// The payload length of the frame at the start of `buf`, checked against `buf`.
pub fn frame_payload_len(buf: &[u8]) -> Result<usize, FrameError> {
    let head: [u8; FRAME_HEADER] =
        buf.get(..FRAME_HEADER).and_then(|h| h.try_into().ok()).ok_or(FrameError::NoHeader)?;
    let length = u32::from_le_bytes(head);
    let capacity = buf.len() - FRAME_HEADER;
    match usize::try_from(length) {
        Ok(n) if n <= capacity => Ok(n),
        _ => Err(FrameError::LengthOutOfRange { length: u64::from(length), capacity: as_u64(capacity) }),
    }
}

/// Decodes the frame at the start of `buf`.
pub fn read_frame<'de, T: Deserialize<'de>>(buf: &'de [u8]) -> Result<T, FrameError> {
    let n = frame_payload_len(buf)?;
    let payload = &buf[FRAME_HEADER..FRAME_HEADER + n];
    let (msg, rest) = postcard::take_from_bytes(payload).map_err(FrameError::Malformed)?;
    if !rest.is_empty() {
        return Err(FrameError::TrailingBytes(as_u64(rest.len())));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn frames_round_trip() {
        let call = FunctionCall { name: "Echo".into(), args: vec![Value::I32(-1), Value::Bytes(vec![1, 2, 3])] };
        let mut buf = [0u8; 64];
        let n = write_frame(&mut buf, &call).unwrap();
        assert!(n > FRAME_HEADER);
        assert_eq!(read_frame::<FunctionCall>(&buf), Ok(call));
    }

    #[test]
    fn too_large_reports_the_size() {
        let call = FunctionCall { name: "x".into(), args: vec![Value::Bytes(vec![0; 100])] };
        let mut buf = [0u8; 32];
        match write_frame(&mut buf, &call) {
            Err(FrameError::TooLarge { size, capacity: 32 }) => assert!(size > 100),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_frames_are_rejected() {
        let mut buf = [0u8; 16];
        buf[..4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(read_frame::<FunctionCall>(&buf), Err(FrameError::LengthOutOfRange { .. })));
        assert_eq!(read_frame::<FunctionCall>(&buf[..2]), Err(FrameError::NoHeader));
        // A string that is not UTF-8.
        let mut bad = [0u8; 16];
        bad[..4].copy_from_slice(&3u32.to_le_bytes());
        bad[4..7].copy_from_slice(&[2, 0xff, 0xfe]);
        assert!(matches!(read_frame::<String>(&bad), Err(FrameError::Malformed(_))));
        // Trailing bytes.
        let mut t = [0u8; 16];
        t[..4].copy_from_slice(&2u32.to_le_bytes());
        t[4..6].copy_from_slice(&[1, 1]);
        assert_eq!(read_frame::<bool>(&t), Err(FrameError::TrailingBytes(1)));
    }

    #[test]
    fn borrowed_calls_encode_like_owned_ones() {
        let args = vec![Value::I32(3), Value::String("s".into())];
        for (owned, by_ref) in [
            (FunctionRef::Name("Echo".into()), FunctionRefRef::Name("Echo")),
            (FunctionRef::Index(7), FunctionRefRef::Index(7)),
        ] {
            let a =
                postcard::to_allocvec(&HostMessage::Call(GuestCall { function: owned, args: args.clone() })).unwrap();
            let b = postcard::to_allocvec(&HostMessageRef::Call(GuestCallRef { function: by_ref, args: &args[..] }))
                .unwrap();
            assert_eq!(a, b);
        }
        let calls = vec![GuestCall { function: FunctionRef::Index(1), args: args.clone() }];
        let a = postcard::to_allocvec(&HostMessage::Batch(calls.clone())).unwrap();
        let b = postcard::to_allocvec(&HostMessageRef::<()>::Batch(&calls)).unwrap();
        assert_eq!(a, b);
        let reply: FunctionResult = Ok(Value::U32(9));
        let a = postcard::to_allocvec(&HostMessage::Reply(reply.clone())).unwrap();
        let b = postcard::to_allocvec(&HostMessageRef::<()>::Reply(&reply)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn abort_ref_encodes_like_abort() {
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        let owned = GuestAbort { kind: AbortKind::OutOfMemory { requested: 77 }, message: "m".into() };
        let borrowed = GuestAbortRef { kind: AbortKind::OutOfMemory { requested: 77 }, message: "m" };
        let n = write_frame(&mut a, &owned).unwrap();
        assert_eq!(write_frame(&mut b, &borrowed).unwrap(), n);
        assert_eq!(a, b);
    }
}
