//! Stopping calls from outside: `InterruptHandle::kill`, per-call and default
//! deadlines, and the init deadline of `build_*`.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyperlight_host::{BuildError, CallError, Sandbox};

use common::Guest;

fn path(guest: Guest) -> std::path::PathBuf {
    common::require_kvm();
    guest.path()
}

fn simpleguest(guest: Guest) -> Sandbox {
    common::builder()
        .host_function("HostAdd", |a: i32, b: i32| a.wrapping_add(b))
        .build_from_file(path(guest))
        .expect("the guest builds")
}

/// A backstop for calls that should be stopped by a kill: if the kill never lands, the
/// call fails with a timeout (and the test with it) instead of hanging the suite.
const BACKSTOP: Duration = Duration::from_secs(60);

/// Kills through `handle` as soon as a call is running (retrying until `kill` finds
/// one), within `BACKSTOP`.
fn kill_when_running(handle: hyperlight_host::InterruptHandle) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = Instant::now();
        while !handle.kill() {
            assert!(start.elapsed() < BACKSTOP, "no call started within {BACKSTOP:?}");
            std::thread::yield_now();
        }
    })
}

both_guests! {
fn kill_stops_a_spinning_guest_and_the_sandbox_answers_again(guest: Guest) {
    let mut sb = simpleguest(guest);
    let clean = sb.snapshot().expect("snapshot");
    let killer = kill_when_running(sb.interrupt_handle());
    let r = sb.call_with_timeout::<()>("Spin", (), BACKSTOP);
    assert!(matches!(r, Err(CallError::Cancelled)), "{r:?}");
    killer.join().expect("killer thread");
    // A killed call leaves the guest mid-function: poisoned until a restore.
    assert!(matches!(sb.call::<i32>("EchoI32", 7), Err(CallError::Poisoned)));
    sb.restore(&clean).expect("restore");
    assert_eq!(sb.call::<i32>("EchoI32", 7).expect("usable after restore"), 7);
}

fn a_deadline_longer_than_time_itself_never_fires(guest: Guest) {
    // Instant cannot hold now + Duration::MAX: such a deadline is no deadline (it used
    // to panic with "overflow when adding duration to instant").
    let mut sb = simpleguest(guest);
    assert_eq!(sb.call_with_timeout::<i32>("EchoI32", 3, Duration::MAX).expect("call"), 3);
    let mut sb = common::builder()
        .call_timeout(Duration::MAX)
        .init_timeout(Duration::MAX)
        .build_from_file(path(guest))
        .expect("builds");
    assert_eq!(sb.call::<i32>("EchoI32", 4).expect("call"), 4);
}

fn kill_without_a_running_call_does_nothing(guest: Guest) {
    let mut sb = simpleguest(guest);
    let handle = sb.interrupt_handle();
    assert!(!handle.kill());
    assert_eq!(sb.call::<i32>("EchoI32", 1).expect("not cancelled by an earlier kill"), 1);
    drop(sb);
    assert!(!handle.kill(), "a handle outliving its sandbox is harmless");
}

fn kills_never_cancel_a_later_call(guest: Guest) {
    // Three threads kill over and over while the sandbox runs short calls; a call may
    // be cancelled only by a kill that found it running, and every call that completes
    // is right.
    let mut sb = simpleguest(guest);
    let clean = sb.snapshot().expect("snapshot");
    let stop = Arc::new(AtomicBool::new(false));
    let killers: Vec<_> = (0..3)
        .map(|k| {
            let handle = sb.interrupt_handle();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut kills = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if handle.kill() {
                        kills += 1;
                    }
                    // Often enough to land in every phase of a call, without starving
                    // the calls on a small machine.
                    std::thread::sleep(Duration::from_micros(20 + 15 * k));
                }
                kills
            })
        })
        .collect();
    let (mut ok, mut cancelled) = (0, 0);
    for i in 0..3000 {
        match sb.call::<i32>("EchoI32", i) {
            Ok(v) => {
                assert_eq!(v, i);
                ok += 1;
            }
            Err(CallError::Cancelled) => {
                cancelled += 1;
                sb.restore(&clean).expect("restore after a kill");
            }
            Err(e) => panic!("call {i}: {e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let kills: u64 = killers.into_iter().map(|k| k.join().expect("killer")).sum();
    assert!(cancelled <= kills, "{cancelled} cancelled calls but only {kills} kills");
    assert!(ok > 0);
    // No kill is pending now: the next calls all complete.
    for i in 0..100 {
        assert_eq!(sb.call::<i32>("EchoI32", i).expect("no stale kill"), i);
    }
}

fn kill_while_the_guest_is_in_a_host_function(guest: Guest) {
    // The host function runs to its end; the call is cancelled when the guest would
    // resume, so the guest never sees the host function's result.
    let entered = Arc::new(AtomicBool::new(false));
    let entered2 = Arc::clone(&entered);
    let mut sb = common::builder()
        .host_function("HostAdd", move |a: i32, b: i32| {
            entered2.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(200));
            a + b
        })
        .build_from_file(path(guest))
        .expect("builds");
    let clean = sb.snapshot().expect("snapshot");
    let handle = sb.interrupt_handle();
    let flag = Arc::clone(&entered);
    let killer = std::thread::spawn(move || {
        let start = Instant::now();
        while !flag.load(Ordering::SeqCst) {
            assert!(start.elapsed() < BACKSTOP, "the host function was never called");
            std::thread::yield_now();
        }
        assert!(handle.kill());
    });
    let r = sb.call_with_timeout::<i32>("CallHostAdd", (1, 2), BACKSTOP);
    assert!(matches!(r, Err(CallError::Cancelled)), "{r:?}");
    killer.join().expect("killer");
    sb.restore(&clean).expect("restore");
    assert_eq!(sb.call::<i32>("CallHostAdd", (2, 2)).expect("usable"), 4);
}

fn deadlines_stop_calls(guest: Guest) {
    let mut sb = simpleguest(guest);
    let clean = sb.snapshot().expect("snapshot");
    let start = Instant::now();
    let r = sb.call_with_timeout::<()>("Spin", (), Duration::from_millis(100));
    assert!(matches!(r, Err(CallError::Timeout { after }) if after == Duration::from_millis(100)), "{r:?}");
    assert!(start.elapsed() >= Duration::from_millis(100));
    sb.restore(&clean).expect("restore");
    // A deadline that does not expire changes nothing, and does not fire later.
    assert_eq!(sb.call_with_timeout::<i32>("EchoI32", 3, Duration::from_millis(50)).expect("fast call"), 3);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(sb.call::<i32>("EchoI32", 4).expect("old deadline is gone"), 4);

    let mut sb = common::builder()
        .call_timeout(Duration::from_millis(50))
        .build_from_file(path(guest))
        .expect("builds");
    let clean = sb.snapshot().expect("snapshot");
    assert!(matches!(sb.call::<()>("Spin", ()), Err(CallError::Timeout { .. })));
    sb.restore(&clean).expect("restore");
    assert_eq!(sb.call::<i32>("EchoI32", 5).expect("usable"), 5);
}
}

#[test]
fn init_that_never_finishes_fails_the_build() {
    let start = Instant::now();
    let r = common::builder().init_timeout(Duration::from_millis(200)).build_from_file(common::guest_path("spinguest"));
    match r {
        Err(BuildError::Init(e)) => assert!(matches!(*e, CallError::Timeout { .. }), "{e:?}"),
        other => panic!("expected an init timeout, got {:?}", other.map(|_| ())),
    }
    assert!(start.elapsed() < Duration::from_secs(5));
}
