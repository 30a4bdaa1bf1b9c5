//! Structured: a `FunctionCall` built from fuzzer-chosen parts, written into a buffer
//! of fuzzer-chosen size. Either it fits and decodes back to the same call, or
//! `write_frame` says `TooLarge` with the size it really needs.
#![no_main]

use arbitrary::Arbitrary;
use hyperlight_common::message::{read_frame, write_frame, FrameError, FRAME_HEADER};
use hyperlight_common::{FunctionCall, Value};
use hyperlight_fuzz::Message;
use libfuzzer_sys::fuzz_target;

/// A mirror of [`Value`], which does not derive `Arbitrary` (the contract crate does
/// not depend on fuzzing crates).
#[derive(Debug, Arbitrary)]
enum ArbitraryValue {
    Unit,
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Bytes(Vec<u8>),
}

impl From<ArbitraryValue> for Value {
    fn from(v: ArbitraryValue) -> Value {
        match v {
            ArbitraryValue::Unit => Value::Unit,
            ArbitraryValue::I32(x) => Value::I32(x),
            ArbitraryValue::U32(x) => Value::U32(x),
            ArbitraryValue::I64(x) => Value::I64(x),
            ArbitraryValue::U64(x) => Value::U64(x),
            ArbitraryValue::F32(x) => Value::F32(x),
            ArbitraryValue::F64(x) => Value::F64(x),
            ArbitraryValue::Bool(x) => Value::Bool(x),
            ArbitraryValue::String(x) => Value::String(x),
            ArbitraryValue::Bytes(x) => Value::Bytes(x),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    name: String,
    args: Vec<ArbitraryValue>,
    /// The buffer size; u16 keeps it near the sizes of the messages the input can build.
    buffer_size: u16,
}

fuzz_target!(|input: Input| {
    let call = FunctionCall { name: input.name, args: input.args.into_iter().map(Value::from).collect() };
    let mut buffer = vec![0u8; usize::from(input.buffer_size)];
    match write_frame(&mut buffer, &call) {
        Ok(n) => {
            assert!(n >= FRAME_HEADER && n <= buffer.len());
            assert_eq!(buffer[..FRAME_HEADER], u32::try_from(n - FRAME_HEADER).expect("n <= u16::MAX").to_le_bytes());
            let decoded: FunctionCall = read_frame(&buffer).unwrap_or_else(|e| panic!("{call:?} does not decode: {e}"));
            assert!(call.same(&decoded), "{call:?} came back as {decoded:?}");
        }
        Err(FrameError::TooLarge { size, capacity }) => {
            assert_eq!(capacity, u64::from(input.buffer_size));
            assert!(size > capacity, "TooLarge: {size} bytes fit in {capacity}");
            // The size is exact: a buffer of that size holds the frame.
            let mut exact = vec![0u8; usize::try_from(size).expect("size of an in-memory message")];
            assert_eq!(write_frame(&mut exact, &call), Ok(exact.len()), "TooLarge said {size} bytes");
        }
        Err(e) => panic!("{call:?} into {} bytes: {e:?}", buffer.len()),
    }
});
