//! Nothing of one tenant reaches the next: a VM is reused by restore, by twins of one
//! snapshot and by the VM pool, and whatever a hostile guest leaves in it must be gone
//! before the next guest runs.
//!
//! One test per binary on purpose: the VM pool is process-wide, and this test counts
//! on which VM the next sandbox gets.

mod common;

use hyperlight_host::{set_vm_pool_capacity, vm_pool_len, CallError, HostFunctions, Sandbox, Snapshot};

/// A snapshot of simpleguest whose memory is exactly `size` bytes, so that it reuses
/// the pooled VMs of another guest of that size.
fn simpleguest_of_size(size: u64) -> Snapshot {
    let mut heap = hyperlight_host::DEFAULT_HEAP_SIZE;
    for _ in 0..16 {
        let mut sb = common::build(common::builder().heap_size(heap), "simpleguest");
        let snap = sb.snapshot().expect("snapshot");
        match snap.memory_size() {
            s if s == size => return snap,
            s if s < size => heap += size - s,
            s => heap = heap.checked_sub(s - size).expect("simpleguest fits in the hostile guest's size"),
        }
    }
    panic!("no heap size gives simpleguest {size:#x} bytes of memory");
}

/// Takes a pooled VM (asserting that it does) for a sandbox of `snapshot`.
fn from_pool(snapshot: &Snapshot) -> Sandbox {
    let before = vm_pool_len();
    assert!(before > 0, "a VM is pooled");
    let sb = Sandbox::from_snapshot(snapshot, HostFunctions::new()).expect("from_snapshot");
    assert_eq!(vm_pool_len(), before - 1, "the sandbox reuses the pooled VM");
    sb
}

/// An `in` of `width` bytes from `port`: an exit the protocol refuses, or, where the
/// access covers a port the I/O bitmap denies, a #GP in the guest.
fn in_fails(sb: &mut Sandbox, port: u32, width: u32) {
    match sb.call::<u32>("In", (port, width)) {
        Err(CallError::Protocol(_)) => {}
        Err(CallError::GuestFault(f)) if f.exception == hyperlight_host::Exception::GeneralProtection => {}
        other => panic!("in from port {port:#x}, width {width}: {other:?}"),
    }
}

#[test]
fn an_in_on_an_exit_port_never_reaches_the_next_tenant() {
    common::require_kvm();
    set_vm_pool_capacity(8);
    let mut hostile = common::build(common::builder(), "hostileguest");
    let clean = hostile.snapshot().expect("snapshot");
    let other = simpleguest_of_size(clean.memory_size());
    for port in [0x10u32, 0x11, 0x12] {
        for width in [1u32, 2, 4] {
            let what = format!("port {port:#x}, width {width}");
            // Restore: the same sandbox answers its first call after the `in`.
            in_fails(&mut hostile, port, width);
            hostile.restore(&clean).expect("restore");
            assert_eq!(hostile.call::<u32>("Echo", 7u32).unwrap_or_else(|e| panic!("{what}, restore: {e}")), 7);
            // A twin on the VM the `in` was left on.
            in_fails(&mut hostile, port, width);
            drop(hostile);
            let mut twin = from_pool(&clean);
            assert_eq!(twin.call::<u32>("Echo", 8u32).unwrap_or_else(|e| panic!("{what}, twin: {e}")), 8);
            // Another guest on the same VM.
            in_fails(&mut twin, port, width);
            drop(twin);
            let mut next = from_pool(&other);
            assert_eq!(next.call::<i32>("EchoI32", 9).unwrap_or_else(|e| panic!("{what}, other guest: {e}")), 9);
            drop(next);
            hostile = from_pool(&clean);
        }
    }
}
