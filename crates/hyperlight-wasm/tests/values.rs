//! Every value type through exports, and the string/bytes convention.

mod common;

use hyperlight_wasm::{WasmCallError, WasmSandbox};

fn values() -> WasmSandbox {
    common::build(WasmSandbox::builder(), "values.wat")
}

#[test]
fn scalars_of_every_type() {
    let mut sb = values();
    sb.call::<()>("nop", ()).expect("nop");
    assert_eq!(sb.call::<i32>("add_i32", (2, 3)).expect("i32"), 5);
    assert_eq!(sb.call::<i32>("add_i32", (i32::MAX, 1)).expect("i32 wraps"), i32::MIN);
    assert_eq!(sb.call::<u32>("add_i32", (u32::MAX, 2u32)).expect("u32"), 1);
    assert_eq!(sb.call::<i64>("add_i64", (1i64 << 40, 5i64)).expect("i64"), (1 << 40) + 5);
    assert_eq!(sb.call::<u64>("add_i64", (u64::MAX, 1u64)).expect("u64"), 0);
    assert_eq!(sb.call::<f32>("mul_f32", (1.5f32, 4.0f32)).expect("f32"), 6.0);
    assert_eq!(sb.call::<f64>("mul_f64", (0.1f64, 3.0f64)).expect("f64"), 0.1 * 3.0);
    assert!(sb.call::<f64>("mul_f64", (f64::NAN, 1.0f64)).expect("NaN").is_nan());
    assert!(sb.call::<bool>("not", false).expect("bool"));
    assert!(!sb.call::<bool>("not", true).expect("bool"));
    assert_eq!(sb.call::<f64>("mixed", (1, 2i64, 0.5f32, 0.25f64)).expect("mixed"), 3.75);
}

#[test]
fn strings_and_bytes_in_and_out() {
    let mut sb = values();
    assert_eq!(sb.call::<String>("echo", "hello".to_string()).expect("echo"), "hello");
    assert_eq!(sb.call::<String>("echo_packed", "packed ü".to_string()).expect("packed"), "packed ü");
    assert_eq!(sb.call::<String>("reverse", "abc".to_string()).expect("reverse"), "cba");
    assert_eq!(sb.call::<Vec<u8>>("reverse", vec![1u8, 2, 3]).expect("bytes"), vec![3, 2, 1]);
    assert_eq!(sb.call::<i32>("len", "four".to_string()).expect("len"), 4);
    assert_eq!(sb.call::<String>("echo", String::new()).expect("empty"), "");
    let s = sb.call::<String>("concat", ("ab".to_string(), "cd".to_string())).expect("two strings");
    assert_eq!(s, "abcd");
    // Larger than a page, so the allocator grows memory.
    let big = vec![7u8; 40_000];
    assert_eq!(sb.call::<Vec<u8>>("echo", big.clone()).expect("40 KB"), big);
}

#[test]
fn bad_strings_from_the_module_are_typed_errors() {
    let mut sb = values();
    match sb.call::<String>("not_utf8", ()) {
        Err(WasmCallError::InvalidUtf8 { what }) => assert!(what.contains("not_utf8"), "{what}"),
        other => panic!("{other:?}"),
    }
    // The same bytes are fine as bytes.
    assert_eq!(sb.call::<Vec<u8>>("not_utf8", ()).expect("bytes").len(), 13);
    match sb.call::<String>("outside", ()) {
        Err(WasmCallError::OutOfBounds { ptr: 65500, len: 100, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_exports_and_arguments_are_typed_errors() {
    let mut sb = values();
    assert!(matches!(sb.call::<()>("missing", ()), Err(WasmCallError::NoSuchExport { name }) if name == "missing"));
    assert!(matches!(sb.call::<()>("memory", ()), Err(WasmCallError::NotAFunction { .. })));
    assert!(matches!(sb.call::<i32>("add_i32", 1), Err(WasmCallError::ArgumentCount { .. })));
    match sb.call::<i32>("add_i32", (1, 2i64)) {
        Err(WasmCallError::ArgumentType { index: 1, got: hyperlight_host::ValueType::I64, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(sb.call::<String>("add_i32", (1, 2)), Err(WasmCallError::ResultType { .. })));
    assert!(matches!(sb.call::<f32>("add_i32", (1, 2)), Err(WasmCallError::ResultType { .. })));
    // And the sandbox goes on.
    assert_eq!(sb.call::<i32>("add_i32", (1, 2)).expect("after errors"), 3);
}

#[test]
fn the_module_describes_its_exports() {
    let sb = values();
    let add = sb.exports().iter().find(|e| e.name == "add_i32").expect("add_i32 listed");
    assert_eq!(add.params.len(), 2);
    assert!(!sb.is_command());
}
