//! Sandboxes are independent of each other, may move between threads, and give back
//! everything they hold when dropped.

mod common;

use std::sync::Mutex;

use common::{assert_works, simpleguest};

/// Serialises the tests of this file: the fd count sees every fd of the process, so no
/// other test here may create sandboxes while it counts.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    // A failed test poisons the lock; the others can still run.
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn two_sandboxes_keep_separate_state() {
    let _serial = one_at_a_time();
    let mut a = simpleguest();
    let mut b = simpleguest();
    assert_eq!(a.call::<u64>("Counter", ()).unwrap(), 1);
    assert_eq!(a.call::<u64>("Counter", ()).unwrap(), 2);
    assert_eq!(a.call::<u64>("Counter", ()).unwrap(), 3);
    assert_eq!(b.call::<u64>("ReadCounter", ()).unwrap(), 0);
    assert_eq!(b.call::<u64>("Counter", ()).unwrap(), 1);
    assert_eq!(a.call::<u64>("ReadCounter", ()).unwrap(), 3);
    assert_eq!(b.call::<u64>("ReadCounter", ()).unwrap(), 1);
    // A fault in one does not disturb the other (the faulted one is poisoned).
    assert!(a.call::<()>("Fault", "null".to_string()).is_err());
    assert!(a.is_poisoned());
    assert_eq!(b.call::<u64>("Counter", ()).unwrap(), 2);
}

#[test]
fn a_sandbox_moves_between_threads_between_calls() {
    let _serial = one_at_a_time();
    let mut sb = simpleguest();
    assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), 1);
    for round in 2..5u64 {
        sb = std::thread::spawn(move || {
            assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), round);
            assert_works(&mut sb);
            sb
        })
        .join()
        .expect("the thread using the sandbox");
    }
    assert_eq!(sb.call::<u64>("ReadCounter", ()).unwrap(), 4);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

#[test]
fn creating_and_dropping_sandboxes_does_not_leak_fds() {
    let _serial = one_at_a_time();
    // Dropped sandboxes' VMs are pooled for reuse (fds and all); this test is about
    // leaks, so no pool. (hygiene.rs checks the same with the pool on.)
    hyperlight_host::set_vm_pool_capacity(0);
    // The first sandbox may open process-wide handles (such as /dev/kvm) for good.
    drop(simpleguest());
    let before = open_fds();
    // The count does see a sandbox's fds (its VM, vCPU and memory).
    let live = simpleguest();
    assert!(open_fds() > before, "a live sandbox holds no fd?");
    drop(live);
    for i in 0..200 {
        let mut sb = simpleguest();
        if i % 50 == 0 {
            assert_works(&mut sb);
        }
    }
    let after = open_fds();
    assert!(after <= before + 2, "{before} fds open before 200 sandboxes, {after} after");
}

/// The types users move and share between threads say so in their bounds.
#[test]
fn thread_safety_of_the_public_types() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<hyperlight_host::Sandbox>();
    send_sync::<hyperlight_host::Snapshot>();
    send_sync::<hyperlight_host::InterruptHandle>();
    send_sync::<hyperlight_host::HostFunctions>();
    send_sync::<hyperlight_host::SandboxBuilder>();
}

#[test]
fn the_guest_sees_no_virtualisation_extensions() {
    // Hardware KVM filters CPUID (no VMX, no SVM); under PVM CPUID runs natively and
    // shows the host's CPU, which has neither (PVM is what runs where there is no
    // VT-x or SVM). Either way a guest must not believe it can nest.
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut sb = common::simpleguest();
    let ecx = |sb: &mut hyperlight_host::Sandbox, leaf: u32| {
        let r: Vec<u8> = sb.call("Cpuid", leaf).expect("Cpuid");
        u32::from_le_bytes([r[8], r[9], r[10], r[11]])
    };
    assert_eq!(ecx(&mut sb, 1) & (1 << 5), 0, "VMX");
    assert_eq!(ecx(&mut sb, 0x8000_0001) & (1 << 2), 0, "SVM");
}
