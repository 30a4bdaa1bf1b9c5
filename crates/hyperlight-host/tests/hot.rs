//! Hot sandboxes (`SandboxBuilder::hot`): calls without a VM exit, the fall back to the
//! normal path once the spin budget runs out, and every guarantee of the normal mode
//! (kill, deadlines, faults, poisoning, snapshots, restore) with a hot vCPU. The whole
//! behaviour suite also runs hot (`HYPERLIGHT_TEST_HOT=1`, a pass of `cargo xtask test`).

mod common;

use std::time::{Duration, Instant};

use hyperlight_host::testing::{vcpu_thread, vm_entries};
use hyperlight_host::{CallError, ProtocolError, Sandbox, SandboxBuilder, SnapshotError};

/// Long enough that a loop of calls stays within it on a busy machine.
const LONG_BUDGET: Duration = Duration::from_secs(5);

/// How long a condition may take to come true before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

fn hot_builder(budget: Duration) -> SandboxBuilder {
    // The tests of this binary run in parallel: let every sandbox spin.
    hyperlight_host::set_max_hot_sandboxes(64);
    common::builder()
        .hot(budget)
        .host_function("HostAdd", |a: i32, b: i32| a.wrapping_add(b))
        .host_function("HostEcho", |s: String| s)
        .host_function_with_caller(
            "HostRecurse",
            |caller: &mut hyperlight_host::Caller<'_, ()>, levels: u32, what: String| {
                caller.call::<u32>("RecurseThen", (levels, what))
            },
        )
}

fn hot(budget: Duration) -> Sandbox {
    common::build(hot_builder(budget), "simpleguest")
}

/// Waits until `f` holds, failing the test after [`PATIENCE`].
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < PATIENCE, "{what}: not within {PATIENCE:?}");
        std::thread::yield_now();
    }
}

/// The scheduler state of thread `tid` of this process (`R` running, `S` sleeping...).
fn thread_state(tid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).expect("the vCPU thread's stat");
    // The state follows the command name, which is in parentheses.
    let after = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    after.chars().next().expect("stat has a state")
}

#[test]
fn calls_after_the_first_enter_the_vm_at_most_rarely() {
    let mut sb = hot(LONG_BUDGET);
    let before = vm_entries(&mut sb);
    let calls = 200;
    for i in 0..calls {
        assert_eq!(sb.call::<i32>("Add", (i, 1)).expect("Add"), i + 1);
    }
    let entries = vm_entries(&mut sb) - before;
    // The first call enters the VM (from init's real exit); the others answer in the
    // slot unless the machine was so busy that the caller parked for one.
    assert!(entries < 100, "{entries} VM entries for {calls} hot calls");
    assert!(entries >= 1);
}

#[test]
fn host_calls_and_reentrant_calls_work_hot() {
    let mut sb = hot(LONG_BUDGET);
    sb.call::<()>("ReturnUnit", ()).expect("warm up");
    let before = vm_entries(&mut sb);
    for i in 0..50 {
        assert_eq!(sb.call::<i32>("CallHostAdd", (i, 2)).expect("CallHostAdd"), i + 2);
        assert_eq!(sb.call::<String>("CallHostEcho", "hi".to_string()).expect("CallHostEcho"), "hi");
    }
    let entries = vm_entries(&mut sb) - before;
    assert!(entries < 50, "{entries} VM entries for 100 hot calls of 100 host calls");
    // guest -> host -> guest, three levels deep, answered in the slot all the way.
    let before = vm_entries(&mut sb);
    for _ in 0..20 {
        assert_eq!(sb.call::<u32>("RecurseThen", (3u32, "ok".to_string())).expect("RecurseThen"), 3);
    }
    let entries = vm_entries(&mut sb) - before;
    assert!(entries < 20, "{entries} VM entries for 20 re-entrant calls of 7 transitions each");
}

#[test]
fn an_idle_hot_sandbox_falls_back_and_its_vcpu_thread_sleeps() {
    let mut sb = hot(Duration::from_millis(20));
    sb.call::<i32>("Add", (1, 2)).expect("Add");
    let tid = vcpu_thread(&mut sb).expect("a hot sandbox has a vCPU thread");
    // The guest spins for its budget, exits, and the thread parks: no CPU while idle.
    eventually("the vCPU thread sleeps after the spin budget", || thread_state(tid) == 'S');
    let before = vm_entries(&mut sb);
    assert_eq!(sb.call::<i32>("Add", (2, 3)).expect("Add after the fall back"), 5);
    assert_eq!(vm_entries(&mut sb) - before, 1, "the call after the fall back takes the normal path");
}

#[test]
fn kill_stops_a_hot_call_and_restore_makes_it_hot_again() {
    let mut sb = hot(LONG_BUDGET);
    sb.call::<()>("ReturnUnit", ()).expect("warm up");
    let clean = sb.snapshot().expect("snapshot of a hot sandbox");
    let handle = sb.interrupt_handle();
    let killer = std::thread::spawn(move || {
        let start = Instant::now();
        while !handle.kill() {
            assert!(start.elapsed() < PATIENCE, "no call started");
            std::thread::yield_now();
        }
    });
    let r = sb.call_with_timeout::<()>("Spin", (), Duration::from_secs(60));
    assert!(matches!(r, Err(CallError::Cancelled)), "{r:?}");
    killer.join().expect("killer");
    common::assert_poisoned_then_restored(&mut sb, &clean);
    let before = vm_entries(&mut sb);
    for i in 0..20 {
        assert_eq!(sb.call::<i32>("EchoI32", i).expect("EchoI32"), i);
    }
    assert!(vm_entries(&mut sb) - before < 10, "hot again after the restore");
}

#[test]
fn a_deadline_stops_a_hot_call() {
    let mut sb = hot(LONG_BUDGET);
    sb.call::<()>("ReturnUnit", ()).expect("warm up");
    let r = sb.call_with_timeout::<()>("Spin", (), Duration::from_millis(50));
    assert!(matches!(r, Err(CallError::Timeout { .. })), "{r:?}");
    assert!(sb.is_poisoned());
}

#[test]
fn faults_and_panics_in_a_hot_call_are_the_normal_modes() {
    let mut sb = hot(LONG_BUDGET);
    sb.call::<()>("ReturnUnit", ()).expect("warm up");
    let clean = sb.snapshot().expect("snapshot");
    let r = sb.call::<()>("Panic", "hot panic".to_string());
    assert!(matches!(&r, Err(CallError::GuestPanic { message }) if message.contains("hot panic")), "{r:?}");
    common::assert_works(&mut sb);
    let r = sb.call::<()>("Fault", "null".to_string());
    assert!(matches!(r, Err(CallError::GuestFault(_))), "{r:?}");
    common::assert_poisoned_then_restored(&mut sb, &clean);
}

#[test]
fn snapshot_and_restore_of_a_hot_sandbox() {
    let mut sb = hot(LONG_BUDGET);
    assert_eq!(sb.call::<u64>("Counter", ()).expect("Counter"), 1);
    // Taken while the vCPU spins in the guest: it is brought to its stopped state first.
    let snap = sb.snapshot().expect("snapshot of a hot sandbox");
    assert_eq!(sb.call::<u64>("Counter", ()).expect("Counter"), 2);
    assert_eq!(sb.call::<u64>("Counter", ()).expect("Counter"), 3);
    sb.restore(&snap).expect("restore of a hot sandbox");
    assert_eq!(sb.call::<u64>("Counter", ()).expect("Counter after restore"), 2);
    let mut twin = Sandbox::from_snapshot(&snap, hyperlight_host::HostFunctions::new()).expect("twin");
    assert_eq!(twin.call::<u64>("Counter", ()).expect("twin's Counter"), 2);
    let before = vm_entries(&mut twin);
    for _ in 0..20 {
        twin.call::<u64>("ReadCounter", ()).expect("ReadCounter");
    }
    assert!(vm_entries(&mut twin) - before < 10, "a twin of a hot sandbox is hot");
}

fn hostile() -> Sandbox {
    common::build(hot_builder(LONG_BUDGET), "hostileguest")
}

#[test]
fn a_forged_sequence_number_or_port_is_no_exit_and_meets_the_deadline() {
    for how in [0u32, 1] {
        let mut sb = hostile();
        sb.call::<u32>("Echo", 1u32).expect("warm up");
        let r = sb.call_with_timeout::<()>("HotForge", how, Duration::from_millis(100));
        assert!(matches!(r, Err(CallError::Timeout { .. })), "forgery {how}: {r:?}");
        assert!(sb.is_poisoned());
    }
}

#[test]
fn a_garbage_frame_behind_a_good_slot_word_is_a_protocol_error() {
    let mut sb = hostile();
    sb.call::<u32>("Echo", 1u32).expect("warm up");
    let clean = sb.snapshot().expect("snapshot");
    let r = sb.call_with_timeout::<()>("HotForge", 2u32, Duration::from_secs(60));
    assert!(matches!(r, Err(CallError::Protocol(ProtocolError::BadMessage { .. }))), "{r:?}");
    assert!(sb.is_poisoned());
    // The guest still spins, deaf: the restore forces it out.
    sb.restore(&clean).expect("restore");
    assert_eq!(sb.call::<u32>("Echo", 7u32).expect("Echo after restore"), 7);
}

#[test]
fn a_guest_deaf_to_stop_is_forced_out_and_poisoned() {
    let mut sb = hostile();
    sb.call::<u32>("Echo", 1u32).expect("warm up");
    let clean = sb.snapshot().expect("snapshot");
    // A good answer, then the guest spins without listening.
    sb.call_with_timeout::<()>("HotForge", 3u32, Duration::from_secs(60)).expect("the forged answer is a good one");
    let r = sb.snapshot();
    assert!(matches!(r, Err(SnapshotError::Poisoned)), "{:?}", r.err());
    assert!(sb.is_poisoned());
    sb.restore(&clean).expect("restore");
    assert_eq!(sb.call::<u32>("Echo", 7u32).expect("Echo after restore"), 7);
}
