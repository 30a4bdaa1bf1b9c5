//! Host functions as the module's imports: every value type, errors, and link errors
//! that name the import.

mod common;

use hyperlight_wasm::{WasmBuildError, WasmCallError, WasmSandbox, WasmSandboxBuilder};

fn with_imports() -> WasmSandboxBuilder {
    WasmSandbox::builder()
        .host_function("env", "add_i32", |a: i32, b: i32| a.wrapping_add(b))
        .host_function("env", "add_u64", |a: u64, b: u64| a.wrapping_add(b))
        .host_function("env", "half_f32", |x: f32| x / 2.0)
        .host_function("env", "half_f64", |x: f64| x / 2.0)
        .host_function("env", "upper", |s: String| s.to_uppercase())
        .host_function("env", "sum_bytes", |b: Vec<u8>| b.iter().map(|x| u32::from(*x)).sum::<u32>())
        .host_function("env", "fail", |why: String| -> Result<(), String> { Err(why) })
        .host_function("env", "is_even", |x: i32| x % 2 == 0)
}

#[test]
fn imports_of_every_type() {
    let mut sb = common::build(with_imports(), "imports.wat");
    assert_eq!(sb.call::<i32>("add_i32", (40, 2)).expect("i32"), 42);
    assert_eq!(sb.call::<u64>("add_u64", (u64::MAX, 3u64)).expect("u64"), 2);
    assert_eq!(sb.call::<f32>("half_f32", 3.0f32).expect("f32"), 1.5);
    assert_eq!(sb.call::<f64>("half_f64", 1.0f64).expect("f64"), 0.5);
    assert_eq!(sb.call::<String>("upper", "shout ä".to_string()).expect("string"), "SHOUT Ä");
    assert_eq!(sb.call::<i32>("sum_bytes", vec![1u8, 2, 250]).expect("bytes"), 253);
    assert!(sb.call::<bool>("is_even", 4).expect("bool"));
    assert!(!sb.call::<bool>("is_even", 3).expect("bool"));
}

#[test]
fn a_failing_host_function_fails_the_call_and_names_itself() {
    let mut sb = common::build(with_imports(), "imports.wat");
    match sb.call::<()>("fail", "no thanks".to_string()) {
        Err(WasmCallError::HostFunction { module, name, message }) => {
            assert_eq!((module.as_str(), name.as_str(), message.as_str()), ("env", "fail", "no thanks"));
        }
        other => panic!("{other:?}"),
    }
    match sb.call::<String>("bad_pointer", ()) {
        Err(WasmCallError::HostFunction { .. } | WasmCallError::OutOfBounds { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(sb.call::<i32>("add_i32", (1, 1)).expect("goes on"), 2);
}

#[test]
fn a_missing_import_is_a_build_error_naming_it() {
    common::require_kvm();
    let r = WasmSandbox::builder()
        .host_function("env", "add_i32", |a: i32, b: i32| a + b)
        .build_from_file(common::wat("imports.wat"));
    match r {
        Err(WasmBuildError::UnknownImport { module, name, kind }) => {
            assert_eq!(module, "env");
            assert_eq!(name, "add_u64");
            assert_eq!(kind, "function");
        }
        other => panic!("{other:?}"),
    }
    let r = WasmSandbox::builder().build_from_bytes(br#"(module (import "env" "mem" (memory 1)))"#);
    assert!(matches!(r, Err(WasmBuildError::UnknownImport { kind, .. }) if kind == "memory"));
}

#[test]
fn an_import_of_another_signature_is_a_build_error_naming_both() {
    common::require_kvm();
    let r = WasmSandbox::builder()
        .host_function("env", "f", |a: i64| a)
        .build_from_bytes(br#"(module (import "env" "f" (func (param i32) (result i32))))"#);
    match r {
        Err(WasmBuildError::ImportType { name, expected, found, .. }) => {
            assert_eq!(name, "f");
            assert_eq!(expected, "(i64) -> (i64)");
            assert_eq!(found, "(i32) -> (i32)");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_modules_are_build_errors() {
    common::require_kvm();
    let r = WasmSandbox::builder().build_from_bytes(b"\0asm\x01\0\0\0\x01\x02");
    assert!(matches!(r, Err(WasmBuildError::Invalid { .. })), "{r:?}");
    // Valid syntax, invalid module: the body leaves an i64 where an i32 is due.
    let r = WasmSandbox::builder().build_from_bytes(br#"(module (func (result i32) (i64.const 1)))"#);
    assert!(matches!(r, Err(WasmBuildError::Invalid { .. })), "{r:?}");
    let r = WasmSandbox::builder().build_from_bytes(b"(module (func");
    assert!(matches!(r, Err(WasmBuildError::Wat(_))), "{r:?}");
}

#[test]
fn a_trapping_start_function_is_a_build_error() {
    common::require_kvm();
    let r = WasmSandbox::builder().build_from_bytes(br#"(module (func $s unreachable) (start $s))"#);
    assert!(matches!(r, Err(WasmBuildError::StartTrapped { trap: hyperlight_wasm::Trap::Unreachable, .. })), "{r:?}");
}
