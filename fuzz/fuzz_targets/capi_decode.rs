//! The C API's checks of what a C guest hands the library (`decode.rs` of
//! hyperlight-guest-capi, compiled here as it is): type codes, NUL-terminated and
//! counted strings, signatures, `hl_value`s and results. Never a panic, and every
//! answer consistent with its input.
#![no_main]

extern crate alloc;

#[path = "../../crates/hyperlight-guest-capi/src/decode.rs"]
#[allow(dead_code)]
mod decode;

use arbitrary::Arbitrary;
use hyperlight_common::message::{read_frame, write_frame};
use hyperlight_common::{FunctionResult, FunctionTable, Value, ValueType};
use libfuzzer_sys::fuzz_target;

use decode::{Misuse, Payload, RawValue};

#[derive(Debug, Arbitrary)]
struct Input {
    name: Vec<u8>,
    returns: u32,
    params: Vec<u32>,
    window: Vec<u8>,
    values: Vec<(u32, u64, u64)>,
    limit: u64,
    declared: u32,
    small_len: u16,
}

fuzz_target!(|input: Input| {
    // Type codes: exactly 0..=9, and they round-trip.
    for &code in input.params.iter().chain([&input.returns, &input.declared]) {
        match decode::value_type(code) {
            Ok(t) => assert_eq!(decode::type_code(t), code),
            Err(Misuse::UnknownType { code: c }) => assert!(c == code && code > 9),
            Err(other) => panic!("{other:?}"),
        }
    }

    // A NUL-terminated string: the bytes before the first NUL, if they are UTF-8.
    match decode::c_str("s", &input.window) {
        Ok(s) => {
            assert!(!s.as_bytes().contains(&0));
            assert_eq!(input.window.get(s.len()), Some(&0));
            assert_eq!(&input.window[..s.len()], s.as_bytes());
        }
        Err(Misuse::Unterminated { limit, .. }) => {
            assert!(!input.window.contains(&0));
            assert_eq!(limit, input.window.len() as u64);
        }
        Err(Misuse::NotUtf8 { .. }) => {}
        Err(other) => panic!("{other:?}"),
    }
    assert_eq!(decode::text("t", &input.name).is_ok(), std::str::from_utf8(&input.name).is_ok());

    // A signature: the types as given, none a unit parameter; it survives the
    // function table's frame.
    let name = String::from_utf8_lossy(&input.name);
    if let Ok(sig) = decode::signature(&name, input.returns, &input.params) {
        assert_eq!(sig.params.len(), input.params.len());
        assert!(sig.params.iter().all(|p| *p != ValueType::Unit));
        let table: FunctionTable = vec![sig];
        let mut buf = vec![0u8; 1 << 16];
        if write_frame(&mut buf, &table).is_ok() {
            assert_eq!(read_frame::<FunctionTable>(&buf).ok(), Some(table));
        }
    }

    // hl_values: a scalar is complete; a buffer is checked, not read.
    let limit = input.limit % (1 << 20);
    for &(type_code, word0, word1) in &input.values {
        let raw = RawValue { type_code, word0, word1 };
        match decode::payload("v", raw, limit) {
            Ok(Payload::Scalar(v)) => {
                assert_eq!(decode::type_code(v.value_type()), type_code);
                // The result check: the declared type, or ReturnType.
                let declared = decode::value_type(input.declared).unwrap_or(ValueType::Unit);
                let result = decode::finish("f", declared, None, Some(Ok(v.clone())));
                assert_eq!(result.is_ok(), v.value_type() == declared);
            }
            Ok(Payload::Buffer { value_type, addr, len }) => {
                assert!(matches!(value_type, ValueType::String | ValueType::Bytes));
                assert!(len == 0 || (addr != 0 && len <= limit && addr.checked_add(len).is_some()));
            }
            Err(_) => {}
        }
    }

    // The size a too-large result reports is the size its frame would have.
    let len = usize::from(input.small_len);
    let value: FunctionResult = Ok(Value::Bytes(vec![7; len]));
    let mut buf = vec![0u8; len + 64];
    let n = write_frame(&mut buf, &value).expect("room for the frame");
    assert_eq!(decode::result_frame_size(len as u64), n as u64);
    let text = decode::buffer_value("s", ValueType::String, &input.window);
    assert_eq!(text.is_ok(), std::str::from_utf8(&input.window).is_ok());
});
