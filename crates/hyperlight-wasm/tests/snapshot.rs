//! Snapshots of Wasm sandboxes: a clean instance for every request, twins, kills.

mod common;

use std::time::Duration;

use hyperlight_host::CallError;
use hyperlight_wasm::{WasmCallError, WasmSandbox, WasmSnapshotError};

#[test]
fn restore_gives_every_request_a_clean_instance() {
    let mut sb = common::build(WasmSandbox::builder(), "values.wat");
    let clean = sb.snapshot().expect("snapshot");
    for _ in 0..3 {
        assert_eq!(sb.call::<i32>("counter", ()).expect("counter"), 1);
        assert_eq!(sb.call::<i32>("counter", ()).expect("counter"), 2);
        sb.restore(&clean).expect("restore");
    }
}

#[test]
fn twins_from_a_snapshot_are_independent() {
    let mut sb = common::build(WasmSandbox::builder(), "values.wat");
    sb.call::<i32>("counter", ()).expect("counter");
    let snap = sb.snapshot().expect("snapshot");
    let mut a = WasmSandbox::from_snapshot(&snap, snap.host_functions().clone()).expect("twin a");
    let mut b = WasmSandbox::from_snapshot(&snap, snap.host_functions().clone()).expect("twin b");
    assert_eq!(a.call::<i32>("counter", ()).expect("a"), 2);
    assert_eq!(a.call::<i32>("counter", ()).expect("a"), 3);
    assert_eq!(b.call::<i32>("counter", ()).expect("b"), 2);
    assert_eq!(sb.call::<i32>("counter", ()).expect("original"), 2);
    assert_eq!(b.call::<String>("reverse", "xyz".to_string()).expect("strings in a twin"), "zyx");
}

#[test]
fn a_twin_needs_the_host_functions_the_module_imports() {
    common::require_kvm();
    let mut sb = WasmSandbox::builder()
        .host_function("env", "f", |x: i32| x + 1)
        .build_from_bytes(
            br#"(module (import "env" "f" (func $f (param i32) (result i32)))
            (func (export "g") (param i32) (result i32) (call $f (local.get 0))))"#,
        )
        .expect("build");
    let snap = sb.snapshot().expect("snapshot");
    let r = WasmSandbox::from_snapshot(&snap, hyperlight_wasm::WasmHostFunctions::new());
    assert!(matches!(r, Err(WasmSnapshotError::MissingHostFunction { ref name, .. }) if name == "f"), "{r:?}");
    let mut other = hyperlight_wasm::WasmHostFunctions::new();
    other.register("env", "f", |x: i32| x + 100);
    let mut twin = WasmSandbox::from_snapshot(&snap, other).expect("twin with its own f");
    assert_eq!(twin.call::<i32>("g", 1).expect("g"), 101);
    assert_eq!(sb.call::<i32>("g", 1).expect("g"), 2);
}

#[test]
fn a_snapshot_of_another_module_is_refused() {
    let mut a = common::build(WasmSandbox::builder(), "values.wat");
    let mut b = common::build(WasmSandbox::builder(), "traps.wat");
    let snap = a.snapshot().expect("snapshot");
    assert!(matches!(b.restore(&snap), Err(WasmSnapshotError::OtherModule)));
    assert_eq!(b.call::<i32>("ok", ()).expect("b unchanged"), 42);
}

#[test]
fn a_kill_or_deadline_poisons_until_restore() {
    let mut sb = common::build(WasmSandbox::builder(), "traps.wat");
    let clean = sb.snapshot().expect("snapshot");
    let r = sb.call_with_timeout::<()>("spin", (), Duration::from_millis(50));
    assert!(matches!(r, Err(WasmCallError::Sandbox(CallError::Timeout { .. }))), "{r:?}");
    assert!(sb.is_poisoned());
    assert!(matches!(sb.call::<i32>("ok", ()), Err(WasmCallError::Sandbox(CallError::Poisoned))));
    sb.restore(&clean).expect("restore");
    assert_eq!(sb.call::<i32>("ok", ()).expect("after restore"), 42);

    let handle = sb.interrupt_handle();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        handle.kill();
    });
    let r = sb.call::<()>("spin", ());
    killer.join().expect("killer");
    assert!(matches!(r, Err(WasmCallError::Sandbox(CallError::Cancelled))), "{r:?}");
    sb.restore(&clean).expect("restore");
    assert_eq!(sb.call::<i32>("ok", ()).expect("after restore"), 42);
}

#[test]
fn sandboxes_move_between_threads_and_snapshots_are_shared() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<WasmSandbox>();
    send_sync::<hyperlight_wasm::WasmSnapshot>();
    send_sync::<hyperlight_wasm::WasmHostFunctions>();
    let mut sb = common::build(WasmSandbox::builder(), "values.wat");
    let snap = sb.snapshot().expect("snapshot");
    let worker = std::thread::spawn(move || {
        let mut twin = WasmSandbox::from_snapshot(&snap, snap.host_functions().clone()).expect("twin");
        twin.call::<i32>("counter", ()).expect("counter in another thread")
    });
    assert_eq!(worker.join().expect("worker"), 1);
    assert_eq!(sb.call::<i32>("counter", ()).expect("counter here"), 1);
}
