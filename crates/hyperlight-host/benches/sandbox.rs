//! Criterion benchmarks of the core operations, each also reported as a ratio to the
//! matching raw KVM figure of `../shared/tools/kvm-limits`, measured in the same run
//! (absolute times drift on this machine; ratios do not).
//!
//! | benchmark | raw figure it is compared with |
//! |---|---|
//! | `create/from_elf` | cold boot of a long-mode VM to its first exit |
//! | `call/echo_string` | one exit round trip from CPL3 (`out` allowed by the TSS bitmap) |
//! | `call/one_host_call` | two such round trips |
//! | `call/*_seccomp` | the same, in seccomp mode (the vCPU on a filtered thread) |
//! | `kill/spinning_guest` | one exit round trip (from `kill()` to the call's return) |
//!
//! Run with `cargo xtask bench` (builds the guests first). Set `KVM_LIMITS` to the
//! kvm-limits script to use another copy, or to `off` to skip the ratios.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{guest, median_us, raw_limits, raw_row};

use criterion::{criterion_group, Criterion};
use hyperlight_host::{Sandbox, SandboxBuilder};

fn simpleguest() -> Sandbox {
    simpleguest_with(SandboxBuilder::new())
}

fn simpleguest_with(builder: SandboxBuilder) -> Sandbox {
    builder
        .host_function("HostAdd", |a: i32, b: i32| a.wrapping_add(b))
        .build_from_bytes(&guest("simpleguest"))
        .expect("simpleguest builds")
}

fn create(c: &mut Criterion) {
    let bytes = guest("simpleguest");
    let mut g = c.benchmark_group("create");
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("from_elf", |b| {
        b.iter_with_large_drop(|| SandboxBuilder::new().build_from_bytes(&bytes).expect("builds"))
    });
    g.finish();
}

fn call(c: &mut Criterion) {
    let mut sandbox = simpleguest();
    let mut g = c.benchmark_group("call");
    g.bench_function("echo_string", |b| {
        b.iter(|| {
            let s: String = sandbox.call("EchoString", "hello".to_string()).expect("echo");
            s
        })
    });
    g.bench_function("one_host_call", |b| {
        b.iter(|| {
            let v: i32 = sandbox.call("CallHostAdd", (1, 2)).expect("host call");
            v
        })
    });
    // Seccomp mode: every run handed to the vCPU thread and its exit handed back.
    let mut filtered = simpleguest_with(SandboxBuilder::new().seccomp(true));
    g.bench_function("echo_string_seccomp", |b| {
        b.iter(|| {
            let s: String = filtered.call("EchoString", "hello".to_string()).expect("echo");
            s
        })
    });
    g.bench_function("one_host_call_seccomp", |b| {
        b.iter(|| {
            let v: i32 = filtered.call("CallHostAdd", (1, 2)).expect("host call");
            v
        })
    });
    g.finish();
}

/// From `kill()` on another thread to the spinning call's return on this one.
fn kill(c: &mut Criterion) {
    let mut sandbox = simpleguest();
    let clean = sandbox.snapshot().expect("snapshot");
    let handle = sandbox.interrupt_handle();
    let mut g = c.benchmark_group("kill");
    g.sample_size(30);
    g.bench_function("spinning_guest", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let h = handle.clone();
                let killer = std::thread::spawn(move || {
                    // Let the guest get going; kill only once the call is running.
                    std::thread::sleep(Duration::from_millis(2));
                    // The clock starts before the kill() that finds the call running.
                    loop {
                        let before = Instant::now();
                        if h.kill() {
                            break before;
                        }
                        std::thread::yield_now();
                    }
                });
                let r = sandbox.call::<()>("Spin", ());
                let returned = Instant::now();
                assert!(matches!(r, Err(hyperlight_host::CallError::Cancelled)), "{r:?}");
                let killed = killer.join().expect("killer thread");
                total += returned.saturating_duration_since(killed);
                // A killed call poisons the sandbox: restore (not timed).
                sandbox.restore(&clean).expect("restore");
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, create, call, kill);

fn main() {
    let since = SystemTime::now();
    // Raw figures first, then ours, so both come from the same run (group 3: cold
    // boot; group 4: exit round trips).
    let raw = raw_limits("34");
    benches();
    Criterion::default().configure_from_args().final_summary();
    let Some((cold_boot, round_trip)) =
        raw.and_then(|r| Some((raw_row(&r, "[long] TOTAL cold boot")?, raw_row(&r, "CPL3 PIO")?)))
    else {
        println!("no kvm-limits figures: ratios not reported");
        return;
    };
    println!("\nratios to raw KVM on this machine (kvm-limits medians: cold boot {cold_boot:.1} us, CPL3 exit round trip {round_trip:.1} us)");
    for (id, raw, what) in [
        ("create/from_elf", cold_boot, "cold boot"),
        ("call/echo_string", round_trip, "1 exit round trip"),
        ("call/one_host_call", 2.0 * round_trip, "2 exit round trips"),
        ("call/echo_string_seccomp", round_trip, "1 exit round trip"),
        ("call/one_host_call_seccomp", 2.0 * round_trip, "2 exit round trips"),
        ("kill/spinning_guest", round_trip, "1 exit round trip"),
    ] {
        match median_us(id, since) {
            Some(m) => println!("  {id:<22} median {m:>9.1} us = {:>5.2} x {what} ({raw:.1} us)", m / raw),
            None => println!("  {id:<22} (not run)"),
        }
    }
}
