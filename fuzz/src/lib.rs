//! What the fuzz targets in `fuzz_targets/` share: the frame round-trip property and
//! an equality on values that treats two floats as equal when their bits are.
//!
//! `Value` derives `PartialEq`, under which a NaN differs from itself, so a
//! round-tripped `F64(NaN)` would look like a corruption. Comparing bits is stricter
//! than `==` everywhere else (it also tells `0.0` from `-0.0`), which is what a lossless
//! wire format must preserve.

use std::fmt::Debug;

use hyperlight_common::message::{read_frame, write_frame};
use hyperlight_common::{FunctionCall, FunctionResult, GuestAbort, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A message type the output buffer can hold, with a bit-exact equality.
pub trait Message: Serialize + DeserializeOwned + Debug {
    /// Equal, floats compared by their bits.
    fn same(&self, other: &Self) -> bool;
}

/// `a` and `b` are the same value, floats compared by their bits.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits(),
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// `a` and `b` hold the same values in the same order.
pub fn same_values(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
}

impl Message for FunctionCall {
    fn same(&self, other: &Self) -> bool {
        self.name == other.name && same_values(&self.args, &other.args)
    }
}

impl Message for FunctionResult {
    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Ok(a), Ok(b)) => same_value(a, b),
            (Err(a), Err(b)) => a == b,
            _ => false,
        }
    }
}

impl Message for GuestAbort {
    fn same(&self, other: &Self) -> bool {
        self == other
    }
}

/// The property of the `frame_*` targets: `buffer` is an output buffer as a hostile
/// guest left it. Decoding it never panics (any `FrameError` is fine); whatever
/// decodes re-encodes into a buffer of the same size and decodes back to the same
/// value, with the same encoding both times.
///
/// The host's run loop (`Sandbox::read_output`) copies the header, refuses a length
/// past the buffer, copies header and payload and calls `read_frame` on that copy;
/// `read_frame` on the whole buffer reads exactly the same bytes.
pub fn check_frame<T: Message>(buffer: &[u8]) {
    let decoded: T = match read_frame(buffer) {
        Ok(msg) => msg,
        Err(_) => return,
    };
    // Decoding is lenient about nothing that could make the encoding longer, so the
    // canonical encoding fits where the guest's did.
    let mut first = vec![0u8; buffer.len()];
    let n = write_frame(&mut first, &decoded)
        .unwrap_or_else(|e| panic!("{decoded:?} decoded from {} bytes does not re-encode: {e}", buffer.len()));
    let again: T =
        read_frame(&first[..n]).unwrap_or_else(|e| panic!("the encoding of {decoded:?} does not decode: {e}"));
    assert!(decoded.same(&again), "round trip changed {decoded:?} into {again:?}");
    let mut second = vec![0u8; n];
    let m = write_frame(&mut second, &again).expect("it fitted the first time");
    assert_eq!(first[..n], second[..m], "two encodings of {decoded:?} differ");
}
