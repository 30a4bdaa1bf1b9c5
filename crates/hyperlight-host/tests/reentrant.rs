//! Re-entrant calls: a host function calls back into the guest (guest -> host ->
//! guest ...), to the depth the sandbox allows; failures at any depth end every level
//! as they would end a flat call. And host state, and guest memory, reached through
//! the `Caller`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyperlight_host::{CallError, Caller, Exception, MemoryAccessError, Sandbox, SandboxBuilder};

/// Host state of these tests: the depths the host function was called at.
#[derive(Debug, Default)]
struct Seen {
    depths: Vec<usize>,
}

/// simpleguest with `HostRecurse` calling back into `RecurseThen`, `SpinStarted`
/// setting `started`, and state `Seen`; calls nest at most `max_depth` deep.
fn recursive(max_depth: u32, started: Arc<AtomicBool>) -> Sandbox<Seen> {
    let builder = common::modes(SandboxBuilder::with_state(Seen::default()))
        .max_call_depth(max_depth)
        .host_function_with_caller("HostRecurse", |caller: &mut Caller<'_, Seen>, levels: u32, what: String| {
            let depth = caller.depth();
            caller.state_mut().depths.push(depth);
            caller.call::<u32>("RecurseThen", (levels, what))
        })
        .host_function("SpinStarted", move || started.store(true, Ordering::SeqCst));
    common::require_kvm();
    builder.build_from_file(common::guest_path("simpleguest")).expect("simpleguest builds")
}

#[test]
fn host_functions_call_back_into_the_guest_at_depths_1_2_and_the_limit() {
    let mut sb = recursive(8, Arc::default());
    // RecurseThen(n) nests n + 1 calls deep: 1 is a flat call.
    for levels in [0u32, 1, 2, 7] {
        sb.state_mut().depths.clear();
        let r: u32 = sb.call("RecurseThen", (levels, "ok".to_string())).expect("within the limit");
        assert_eq!(r, levels);
        let expected: Vec<usize> = (1..=levels as usize).collect();
        assert_eq!(sb.state().depths, expected, "the host function ran once per level, at each depth");
    }
    // One level past the limit: the host function's call fails with a typed error,
    // which it passes on; every level returns it, and nothing is poisoned.
    match sb.call::<u32>("RecurseThen", (8u32, "ok".to_string())) {
        Err(CallError::HostFunctionFailed { name, message }) => {
            assert_eq!(name, "HostRecurse");
            assert!(message.contains("limit of 8"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!sb.is_poisoned());
    assert_eq!(sb.call::<u32>("RecurseThen", (3u32, "ok".to_string())).expect("usable"), 3);
}

#[test]
fn a_fault_at_the_deepest_level_ends_every_level_and_poisons() {
    let mut sb = recursive(8, Arc::default());
    let clean = sb.snapshot().expect("snapshot");
    for levels in [1u32, 7] {
        match sb.call::<u32>("RecurseThen", (levels, "fault".to_string())) {
            Err(CallError::GuestFault(f)) => assert_eq!(f.exception, Exception::InvalidOpcode),
            other => panic!("{levels}: {other:?}"),
        }
        assert!(sb.is_poisoned());
        sb.restore(&clean).expect("restore");
        assert_eq!(sb.call::<u32>("RecurseThen", (2u32, "ok".to_string())).expect("after restore"), 2);
    }
}

#[test]
fn a_panic_at_the_deepest_level_ends_every_level_and_the_guest_answers_again() {
    let mut sb = recursive(8, Arc::default());
    match sb.call::<u32>("RecurseThen", (5u32, "panic".to_string())) {
        Err(CallError::GuestPanic { message }) => assert!(message.contains("deepest level gives up"), "{message}"),
        other => panic!("{other:?}"),
    }
    // As after a flat panic: the vCPU is back where the guest waits for calls.
    assert!(!sb.is_poisoned());
    assert_eq!(sb.call::<u32>("RecurseThen", (4u32, "ok".to_string())).expect("after a panic"), 4);
}

#[test]
fn a_kill_at_the_deepest_level_ends_every_level_and_poisons() {
    let started = Arc::new(AtomicBool::new(false));
    let mut sb = recursive(8, Arc::clone(&started));
    let clean = sb.snapshot().expect("snapshot");
    let handle = sb.interrupt_handle();
    let killer = std::thread::spawn(move || {
        let t = Instant::now();
        while !started.load(Ordering::SeqCst) {
            assert!(t.elapsed() < Duration::from_secs(60), "the deepest level never started spinning");
            std::thread::yield_now();
        }
        assert!(handle.kill());
    });
    let r = sb.call_with_timeout::<u32>("RecurseThen", (7u32, "spin".to_string()), Duration::from_secs(60));
    assert!(matches!(r, Err(CallError::Cancelled)), "{r:?}");
    killer.join().expect("killer");
    assert!(sb.is_poisoned());
    sb.restore(&clean).expect("restore");
    // And a deadline, at depth 3.
    let r = sb.call_with_timeout::<u32>("RecurseThen", (2u32, "spin".to_string()), Duration::from_millis(200));
    assert!(matches!(r, Err(CallError::Timeout { .. })), "{r:?}");
    assert!(sb.is_poisoned());
    sb.restore(&clean).expect("restore");
    assert_eq!(sb.call::<u32>("RecurseThen", (1u32, "ok".to_string())).expect("after restore"), 1);
}

#[test]
fn host_functions_read_and_write_the_guests_own_memory_only() {
    let builder = common::modes(SandboxBuilder::with_state(Vec::<u8>::new())).host_function_with_caller(
        "HostTouch",
        |caller: &mut Caller<'_, Vec<u8>>, addr: u64, len: u64| {
            let mut bytes = vec![0u8; usize::try_from(len).expect("small")];
            caller.read_memory(addr, &mut bytes)?;
            caller.state_mut().extend_from_slice(&bytes);
            caller.write_memory(addr, b"host")?;
            Ok::<(), MemoryAccessError>(())
        },
    );
    common::require_kvm();
    let mut sb = builder.build_from_file(common::guest_path("simpleguest")).expect("builds");
    let buf: Vec<u8> = sb.call("ShareBuffer", 6u32).expect("ShareBuffer");
    assert_eq!(sb.state(), &vec![7u8; 6], "the host read the guest's buffer");
    assert_eq!(buf, b"host\x07\x07", "the guest sees the host's write");
    // A pointer into the guest's code may be read but not written; page 0, the
    // host's own pages above the stack, and addresses past memory not at all.
    let code: u64 = sb.call("CodeAddress", ()).expect("CodeAddress");
    for (addr, len, what) in [(code, 4u64, "write"), (0, 8, "read"), (1 << 40, 8, "read"), (u64::MAX - 2, 8, "read")] {
        sb.state_mut().clear();
        match sb.call::<()>("TouchAt", (addr, len)) {
            Err(CallError::HostFunctionFailed { name, message }) => {
                assert_eq!(name, "HostTouch");
                assert!(message.starts_with(what) && message.contains("outside the guest's own"), "{message}");
            }
            other => panic!("{addr:#x}: {other:?}"),
        }
        assert_eq!(sb.state().len(), if what == "write" { 4 } else { 0 }, "{addr:#x}");
    }
}
