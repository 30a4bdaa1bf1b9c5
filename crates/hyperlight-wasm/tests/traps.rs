//! Every Wasm trap is a typed error naming it, and the sandbox goes on after it.

mod common;

use hyperlight_host::Value;
use hyperlight_wasm::{Trap, WasmCallError, WasmSandbox};

fn traps(builder: hyperlight_wasm::WasmSandboxBuilder) -> WasmSandbox {
    common::build(builder, "traps.wat")
}

fn trap_of<T: std::fmt::Debug>(r: Result<T, WasmCallError>) -> Trap {
    match r {
        Err(WasmCallError::Trap { trap, .. }) => trap,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn every_trap_is_named_and_the_sandbox_goes_on() {
    let mut sb = traps(WasmSandbox::builder().max_call_depth(500));
    let cases = [
        ("unreachable", vec![], Trap::Unreachable),
        ("out_of_bounds", vec![], Trap::MemoryOutOfBounds),
        ("div_by_zero", vec![Value::I32(0)], Trap::IntegerDivisionByZero),
        ("overflow", vec![], Trap::IntegerOverflow),
        ("invalid_conversion", vec![], Trap::InvalidConversionToInteger),
        ("type_mismatch", vec![], Trap::IndirectCallTypeMismatch),
        ("null_call", vec![], Trap::IndirectCallToNull),
        ("table_out_of_bounds", vec![], Trap::TableOutOfBounds),
        ("stack_exhausted", vec![Value::I32(0)], Trap::CallStackExhausted),
    ];
    for (name, args, want) in cases {
        assert_eq!(trap_of(sb.call_values(name, args, None)), want, "{name}");
        // Not poisoned: the next call answers.
        assert!(!sb.is_poisoned(), "{name}");
        assert_eq!(sb.call::<i32>("ok", ()).expect("after a trap"), 42, "{name}");
    }
    assert_eq!(sb.call::<i32>("div_by_zero", 1).expect("no trap"), 1);
}

#[test]
fn the_error_names_the_export_and_the_trap() {
    let mut sb = traps(WasmSandbox::builder());
    let e = sb.call::<()>("unreachable", ()).expect_err("traps");
    let text = e.to_string();
    assert!(text.contains("unreachable") && text.contains("trapped"), "{text}");
    assert_eq!(e.trap(), Some(&Trap::Unreachable));
}

#[test]
fn fuel_limits_each_call() {
    let mut sb = traps(WasmSandbox::builder().fuel(100_000));
    match trap_of(sb.call::<()>("spin", ())) {
        Trap::OutOfFuel { fuel: 100_000 } => {}
        other => panic!("{other:?}"),
    }
    // Each call gets its own fuel.
    assert_eq!(sb.call::<i32>("ok", ()).expect("fuel again"), 42);
    sb.set_fuel(Some(1));
    assert!(matches!(trap_of(sb.call::<i32>("ok", ())), Trap::OutOfFuel { fuel: 1 }));
    sb.set_fuel(None);
    assert_eq!(sb.call::<i32>("ok", ()).expect("unlimited"), 42);
}

#[test]
fn growing_memory_past_the_limit_traps_with_the_limit() {
    // 1 page to start; the limit is 4 pages (256 KiB).
    let mut sb = traps(WasmSandbox::builder().max_memory(4 * 65536));
    assert_eq!(sb.call::<i32>("grow", 2).expect("within the limit"), 3);
    match trap_of(sb.call::<i32>("grow", 2)) {
        Trap::MemoryLimitReached { limit, requested } => {
            assert_eq!(limit, 4 * 65536);
            assert_eq!(requested, 5 * 65536);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sb.call::<i32>("grow", 1).expect("up to the limit"), 4);
}

#[test]
fn a_module_larger_than_the_limit_does_not_instantiate() {
    common::require_kvm();
    let wat = br#"(module (memory 10))"#;
    let r = WasmSandbox::builder().max_memory(65536).build_from_bytes(wat);
    assert!(matches!(r, Err(hyperlight_wasm::WasmBuildError::Instantiation { .. })), "{r:?}");
}

#[test]
fn a_module_that_outgrows_the_runtime_heap_fails_the_call_and_restore_mends_it() {
    // The linear memory limit is above what the runtime's heap can hold: the runtime
    // itself runs out of memory, which the VM reports (the heap is then suspect, so
    // restore a snapshot before going on).
    let mut sb = traps(WasmSandbox::builder().heap_size(4 << 20).max_memory(64 << 20));
    let clean = sb.snapshot().expect("snapshot");
    match sb.call::<i32>("grow", 90) {
        Err(WasmCallError::Sandbox(hyperlight_host::CallError::GuestOutOfMemory { .. })) => {}
        other => panic!("{other:?}"),
    }
    sb.restore(&clean).expect("restore");
    assert_eq!(sb.call::<i32>("grow", 1).expect("after restore"), 2);
}
