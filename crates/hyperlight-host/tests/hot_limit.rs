//! The limit on spinning vCPUs (`set_max_hot_sandboxes`): a hot sandbox that finds no
//! free place runs its calls the normal way, on the caller's thread, and a kill still
//! reaches it. One test in this binary on purpose: the limit is process-wide.

mod common;

use std::time::{Duration, Instant};

use hyperlight_host::testing::vm_entries;
use hyperlight_host::{CallError, SandboxBuilder};

#[test]
fn a_hot_sandbox_without_a_place_runs_the_normal_way_and_can_be_killed() {
    hyperlight_host::set_max_hot_sandboxes(1);
    let builder = || SandboxBuilder::new().hot(Duration::from_secs(30));
    let mut first = common::build(builder(), "simpleguest");
    let mut second = common::build(builder(), "simpleguest");
    // The first takes the one place and keeps it while its guest spins between calls.
    first.call::<i32>("EchoI32", 1).expect("first");
    assert_eq!(hyperlight_host::hot_sandboxes_now(), 1);
    let before = vm_entries(&mut second);
    for i in 0..10 {
        assert_eq!(second.call::<i32>("EchoI32", i).expect("second"), i);
    }
    assert_eq!(vm_entries(&mut second) - before, 10, "no place: every call enters the VM");
    // Its vCPU runs on this thread now: the kill signal must come here too.
    let clean = second.snapshot().expect("snapshot");
    let handle = second.interrupt_handle();
    let killer = std::thread::spawn(move || {
        let start = Instant::now();
        while !handle.kill() {
            assert!(start.elapsed() < Duration::from_secs(20), "no call started");
            std::thread::yield_now();
        }
    });
    let r = second.call_with_timeout::<()>("Spin", (), Duration::from_secs(60));
    assert!(matches!(r, Err(CallError::Cancelled)), "{r:?}");
    killer.join().expect("killer");
    second.restore(&clean).expect("restore");
    // The place comes free when the first sandbox is dropped: the second gets hot.
    drop(first);
    second.call::<i32>("EchoI32", 0).expect("second");
    let before = vm_entries(&mut second);
    for i in 0..10 {
        assert_eq!(second.call::<i32>("EchoI32", i).expect("second, hot"), i);
    }
    assert!(vm_entries(&mut second) - before < 5, "hot once the place is free");
}
