//! Snapshots: restore puts back memory and vCPU state exactly, whatever the guest did;
//! sandboxes made from a snapshot share its pages but never each other's writes;
//! snapshots that do not fit are refused without harm.

#[macro_use]
mod common;

use hyperlight_host::{CallError, HostFunctions, Sandbox, SnapshotError};

use common::{assert_works, build};

both_guests! {
fn restore_brings_back_counters_heap_and_sse_state(guest: Guest) {
    let mut sb = guest.sandbox();
    assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), 1);
    sb.call::<()>("SetXmm0", 0x1111_u64).unwrap();
    let snap = sb.snapshot().unwrap();
    for round in 0..5 {
        assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), 2, "round {round}");
        assert_eq!(sb.call::<u64>("Hoard", (200u32, 2048u64)).unwrap(), 200);
        sb.call::<()>("SetXmm0", 0x2222_u64).unwrap();
        sb.restore(&snap).unwrap();
        assert_eq!(sb.call::<u64>("ReadCounter", ()).unwrap(), 1);
        assert_eq!(sb.call::<u64>("HoardCount", ()).unwrap(), 0);
        assert_eq!(sb.call::<u64>("GetXmm0", ()).unwrap(), 0x1111);
        sb.restore(&snap).unwrap();
    }
}

fn a_heap_filled_after_the_snapshot_is_empty_again(guest: Guest) {
    let heap = 1u64 << 20;
    let mut sb = guest.build(common::builder().heap_size(heap));
    let snap = sb.snapshot().unwrap();
    // Fill the heap until the guest runs out.
    let err = sb.call::<u64>("Hoard", (1000u32, 4096u64)).unwrap_err();
    assert!(matches!(err, CallError::GuestOutOfMemory { .. }), "{err:?}");
    assert!(matches!(sb.call::<u64>("LargeAllocation", heap / 2), Err(CallError::GuestOutOfMemory { .. })));
    sb.restore(&snap).unwrap();
    // All of it is free again.
    assert_eq!(sb.call::<u64>("LargeAllocation", heap / 2).unwrap(), heap / 2);
    assert_eq!(sb.call::<u64>("HoardCount", ()).unwrap(), 0);
}
}

#[test]
fn a_guest_that_scribbles_everywhere_comes_back_exactly() {
    let mut sb = build(common::builder(), "hostileguest");
    let snap = sb.snapshot().unwrap();
    let before = hyperlight_host::testing::bytes_without_seed(&snap).unwrap();
    for _ in 0..3 {
        // It writes over its heap, stack, buffers, statics and SSE state, then lies
        // "ready" with garbage in the output buffer.
        assert!(sb.call::<()>("Scribble", ()).is_err());
        sb.restore(&snap).unwrap();
        // A snapshot now is byte for byte the one before: every page and register,
        // but for the random seed, which every restore renews.
        let after = hyperlight_host::testing::bytes_without_seed(&sb.snapshot().unwrap()).unwrap();
        if before != after {
            let first = before.iter().zip(&after).position(|(a, b)| a != b);
            panic!("restore left a trace: lengths {} / {}, first difference at {first:?}", before.len(), after.len());
        }
        sb.restore(&snap).unwrap();
    }
}

#[test]
fn restores_stay_exact_while_the_dirty_log_learns_hot_pages() {
    // Pages written after every restore stay writable and are copied back every time
    // (vm/kvm/dirty.rs); the others are write-protected again. Across enough cycles
    // for pages to become hot, be re-learnt (every 64 reads) and stop being written,
    // every restore still brings back every page.
    let mut sb = common::simpleguest();
    let snap = sb.snapshot().unwrap();
    for round in 0..150u32 {
        assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), 1, "round {round}");
        if round % 7 == 0 {
            // Now and then a burst of other pages, hot for a while, then not written.
            assert_eq!(sb.call::<u64>("Hoard", (20u32, 4096u64)).unwrap(), 20);
        }
        sb.restore(&snap).unwrap();
        assert_eq!(sb.call::<u64>("HoardCount", ()).unwrap(), 0, "round {round}");
        assert_eq!(sb.call::<u64>("ReadCounter", ()).unwrap(), 0, "round {round}");
        sb.restore(&snap).unwrap();
    }
}

#[test]
fn a_restore_puts_back_every_fpu_register_selector_and_flag() {
    // The FPU state comes back through the guest's own fxrstor/xrstor from the host's
    // restore pages (or KVM_SET_XSAVE where that cannot run): either way, after a
    // guest that wrote every x87 and SSE register, MXCSR, the x87 control word and
    // stack, the data selectors and DF, the next call sees the snapshot's state, on
    // a restore, in a twin and in the next sandbox on the same pooled VM.
    hyperlight_host::set_vm_pool_capacity(4);
    let mut sb = build(common::builder(), "hostileguest");
    let snap = sb.snapshot().unwrap();
    let clean: Vec<u8> = sb.call("FpuState", ()).unwrap();
    assert_eq!(clean.len(), 512 + 8 + 8);
    for round in 0..3 {
        sb.restore(&snap).unwrap();
        assert!(sb.call::<()>("Scribble", ()).is_err());
        // The state a scribble leaves is visible (the probe can see a difference).
        if round == 0 {
            let dirty = Sandbox::from_snapshot(&snap, HostFunctions::new()).unwrap().call::<Vec<u8>>("FpuState", ());
            assert_eq!(dirty.unwrap(), clean, "a twin starts from the snapshot");
        }
        sb.restore(&snap).unwrap();
        assert_eq!(sb.call::<Vec<u8>>("FpuState", ()).unwrap(), clean, "round {round}");
        // Two restores in a row, and a snapshot between a restore and the next run.
        sb.restore(&snap).unwrap();
        let again = sb.snapshot().unwrap();
        sb.restore(&snap).unwrap();
        sb.restore(&again).unwrap();
        assert_eq!(sb.call::<Vec<u8>>("FpuState", ()).unwrap(), clean, "round {round}, snapshot of a restore");
    }
    // A tenant that scribbled and left: the next sandbox on its VM sees nothing of it.
    sb.restore(&snap).unwrap();
    assert!(sb.call::<()>("Scribble", ()).is_err());
    drop(sb);
    let mut next = Sandbox::from_snapshot(&snap, HostFunctions::new()).unwrap();
    assert_eq!(next.call::<Vec<u8>>("FpuState", ()).unwrap(), clean);
}

both_guests! {
    fn every_twin_and_every_restore_gets_fresh_randomness(guest: Guest) {
        // A guest whose memory is one snapshot's must not replay one tenant's random
        // numbers for the next: the origin, two restores of it and two twins each see
        // their own seed, and their own random numbers.
        let mut origin = guest.sandbox();
        let snap = origin.snapshot().unwrap();
        let mut seeds = std::collections::HashSet::new();
        let mut randoms = std::collections::HashSet::new();
        let mut draw = |sb: &mut Sandbox| {
            let seed: Vec<u8> = sb.call("Seed", ()).unwrap();
            assert_eq!(seed.len(), 32);
            assert!(seed.iter().any(|&b| b != 0), "a seed is written");
            seeds.insert(seed);
            randoms.insert(sb.call::<u64>("Random", ()).unwrap());
        };
        draw(&mut origin);
        for _ in 0..2 {
            origin.restore(&snap).unwrap();
            draw(&mut origin);
        }
        for _ in 0..2 {
            draw(&mut Sandbox::from_snapshot(&snap, HostFunctions::new()).unwrap());
        }
        assert_eq!(seeds.len(), 5, "five sandboxes, five seeds");
        assert_eq!(randoms.len(), 5, "five sandboxes, five random numbers");
    }

    fn sandboxes_from_a_snapshot_are_independent(guest: Guest) {
        let mut origin = guest.sandbox();
        assert_eq!(origin.call::<u64>("Counter", ()).unwrap(), 1);
        let snap = origin.snapshot().unwrap();
        let mut a = Sandbox::from_snapshot(&snap, HostFunctions::new()).unwrap();
        let mut b = Sandbox::from_snapshot(&snap, HostFunctions::new()).unwrap();
        assert_eq!(a.call::<u64>("Counter", ()).unwrap(), 2);
        assert_eq!(a.call::<u64>("Counter", ()).unwrap(), 3);
        assert_eq!(b.call::<u64>("ReadCounter", ()).unwrap(), 1, "a's writes do not show in b");
        assert_eq!(b.call::<u64>("Hoard", (10u32, 100u64)).unwrap(), 10);
        assert_eq!(a.call::<u64>("HoardCount", ()).unwrap(), 0, "b's writes do not show in a");
        assert_eq!(origin.call::<u64>("ReadCounter", ()).unwrap(), 1, "nor in the origin");
        // A sandbox from a snapshot restores like any other.
        a.restore(&snap).unwrap();
        assert_eq!(a.call::<u64>("ReadCounter", ()).unwrap(), 1);
        // And its host functions are its own.
        let mut c = {
            let mut f = HostFunctions::new();
            f.register("HostAdd", |x: i32, y: i32| x * 100 + y);
            Sandbox::from_snapshot(&snap, f).unwrap()
        };
        assert_eq!(c.call::<i32>("CallHostAdd", (1, 2)).unwrap(), 102);
        assert!(matches!(a.call::<i32>("CallHostAdd", (1, 2)), Err(CallError::HostFunctionNotFound { .. })));
    }

    fn many_sandboxes_from_one_snapshot_reuse_pooled_vms(guest: Guest) {
        let mut origin = guest.sandbox();
        let snap = origin.snapshot().unwrap();
        for i in 0..50 {
            let mut sb = Sandbox::from_snapshot(&snap, HostFunctions::new()).unwrap();
            assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), 1, "sandbox {i} starts clean");
            sb.call::<u64>("Hoard", (5u32, 4096u64)).unwrap();
            // Dropped here: its VM goes back to the pool for the next one.
        }
        assert_works(&mut origin);
    }

    fn a_snapshot_that_does_not_fit_is_refused_and_changes_nothing(guest: Guest) {
        let mut sb = guest.sandbox();
        assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), 1);
        let other_guest = build(common::builder(), "hello").snapshot().unwrap();
        let other_layout = guest.build(common::builder().heap_size(2 << 20)).snapshot().unwrap();
        for snap in [&other_guest, &other_layout] {
            let err = sb.restore(snap).unwrap_err();
            assert!(matches!(err, SnapshotError::Mismatch { .. }), "{err:?}");
            assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), 2 + u64::from(std::ptr::eq(snap, &other_layout)));
        }
    }

    fn a_poisoned_sandbox_refuses_snapshots_and_restore_clears_it(guest: Guest) {
        let mut sb = guest.sandbox();
        let snap = sb.snapshot().unwrap();
        assert!(sb.call::<()>("Fault", "ud2".to_string()).is_err());
        assert!(matches!(sb.snapshot(), Err(SnapshotError::Poisoned)));
        sb.restore(&snap).unwrap();
        assert!(sb.snapshot().is_ok());
        assert_works(&mut sb);
    }

    fn snapshots_of_snapshots_and_switching_between_them(guest: Guest) {
        let mut sb = guest.sandbox();
        let one = sb.snapshot().unwrap();
        assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), 1);
        let two = sb.snapshot().unwrap();
        assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), 2);
        for _ in 0..3 {
            sb.restore(&one).unwrap();
            assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), 1);
            sb.restore(&two).unwrap();
            assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), 2);
        }
        // The first snapshot is unchanged by everything since.
        let mut fresh = Sandbox::from_snapshot(&one, HostFunctions::new()).unwrap();
        assert_eq!(fresh.call::<u64>("ReadCounter", ()).unwrap(), 0);
    }

    fn a_debug_exception_changes_dr6_and_restore_puts_it_back(guest: Guest) {
        // A single-step trap (#DB) sets DR6 inside the guest; the restore must reset it
        // like every other register, even though only a debug exception can change it.
        let mut sb = guest.sandbox();
        let snap = sb.snapshot().unwrap();
        let before = hyperlight_host::testing::bytes_without_seed(&snap).unwrap();
        let err = sb.call::<()>("Fault", "trap_flag".to_string()).unwrap_err();
        assert!(
            matches!(&err, CallError::GuestFault(f) if f.exception == hyperlight_host::Exception::Debug),
            "{err:?}"
        );
        sb.restore(&snap).unwrap();
        let after = hyperlight_host::testing::bytes_without_seed(&sb.snapshot().unwrap()).unwrap();
        assert!(before == after, "the vCPU state differs after restore");
        assert_works(&mut sb);
    }

    fn a_call_dirties_only_the_pages_its_frames_use(guest: Guest) {
        // Writing a call frame used to mark the whole 64 KiB input buffer (16 pages) as
        // written by the host, so every restore copied at least 16 pages back.
        let mut sb = guest.sandbox();
        let snap = sb.snapshot().unwrap();
        sb.restore(&snap).unwrap();
        // The restore's new seed: the boot page.
        assert_eq!(hyperlight_host::testing::host_dirty_pages(&mut sb), 1);
        assert_eq!(sb.call::<i32>("EchoI32", 5).unwrap(), 5);
        // And the call: the first page of the input buffer.
        assert_eq!(hyperlight_host::testing::host_dirty_pages(&mut sb), 2);
        let big = "x".repeat(10_000);
        assert_eq!(sb.call::<String>("EchoString", big.clone()).unwrap(), big);
        assert_eq!(hyperlight_host::testing::host_dirty_pages(&mut sb), 4, "a 10 kB frame spans three pages");
    }
}
