//! Hot sandboxes (`SandboxBuilder::hot`) against the normal path and one exit round
//! trip of `../shared/tools/kvm-limits`, measured in the same run; then the CPU an idle
//! hot sandbox costs, and calls spread over more hot sandboxes than CPUs.
//!
//! | benchmark | what it is |
//! |---|---|
//! | `hot/typed_add` | `Add` through a typed handle on a hot sandbox (no VM exit) |
//! | `hot/normal_typed_add` | the same call on a normal sandbox (one exit round trip) |
//! | `hot/one_host_call` | `CallHostAdd` hot: a guest call that makes one host call |
//! | `hot/normal_one_host_call` | the same, normal (two exit round trips) |
//! | `hot/normal_round_robin_3` | `Add` on three normal sandboxes in turn |
//! | `hot/round_robin_3` | `Add` on three hot sandboxes in turn, the default limit on spinning vCPUs |
//! | `hot/round_robin_3_all_spin` | the same with all three allowed to spin (more than the CPUs here) |
//!
//! Run with `cargo xtask bench hot` (or `cargo bench -p hyperlight-host --bench hot`).

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{guest, median_us, raw_limits, raw_row};

use criterion::{criterion_group, Criterion};
use hyperlight_host::testing::vcpu_thread;
use hyperlight_host::{Sandbox, SandboxBuilder};

/// The spin budget of the benchmarked sandboxes: far above a call's length, so that
/// back-to-back calls stay hot.
const BUDGET: Duration = Duration::from_millis(10);

fn simpleguest(hot: bool) -> Sandbox {
    let builder = SandboxBuilder::new().host_function("HostAdd", |a: i32, b: i32| a.wrapping_add(b));
    let builder = if hot { builder.hot(BUDGET) } else { builder };
    builder.build_from_bytes(&guest("simpleguest")).expect("simpleguest builds")
}

fn calls(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot");
    for (id, hot) in [("typed_add", true), ("normal_typed_add", false)] {
        let mut sb = simpleguest(hot);
        let add = sb.func::<(i32, i32), i32>("Add").expect("Add");
        g.bench_function(id, |b| b.iter(|| add.call(&mut sb, (1, 2)).expect("add")));
    }
    for (id, hot) in [("one_host_call", true), ("normal_one_host_call", false)] {
        let mut sb = simpleguest(hot);
        let f = sb.func::<(i32, i32), i32>("CallHostAdd").expect("CallHostAdd");
        g.bench_function(id, |b| b.iter(|| f.call(&mut sb, (1, 2)).expect("host call")));
    }
    for (id, limit, hot) in
        [("normal_round_robin_3", 0, false), ("round_robin_3", 0, true), ("round_robin_3_all_spin", 3, true)]
    {
        hyperlight_host::set_max_hot_sandboxes(limit);
        let mut sbs: Vec<Sandbox> = (0..3).map(|_| simpleguest(hot)).collect();
        let mut i = 0;
        g.bench_function(id, |b| {
            b.iter(|| {
                i = (i + 1) % sbs.len();
                sbs[i].call::<i32>("Add", (1, 2)).expect("add")
            })
        });
    }
    hyperlight_host::set_max_hot_sandboxes(0);
    g.finish();
}

criterion_group!(benches, calls);

/// CPU time the thread `tid` of this process has run, from its schedstat.
fn cpu_time(tid: i32) -> Duration {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).expect("schedstat");
    Duration::from_nanos(s.split_whitespace().next().and_then(|n| n.parse().ok()).expect("run time in ns"))
}

/// The share of one CPU the vCPU thread `tid` uses over `window`.
fn cpu_share(tid: i32, window: Duration) -> f64 {
    let (t0, c0) = (Instant::now(), cpu_time(tid));
    while t0.elapsed() < window {
        std::thread::sleep(window / 10);
    }
    (cpu_time(tid) - c0).as_secs_f64() / t0.elapsed().as_secs_f64()
}

/// What an idle hot sandbox costs: its vCPU thread's CPU share within the spin budget
/// after a call, and after it (once the guest has left the VM).
fn idle_cpu() {
    let budget = Duration::from_millis(200);
    let mut sb = SandboxBuilder::new().hot(budget).build_from_bytes(&guest("simpleguest")).expect("builds");
    sb.call::<i32>("Add", (1, 2)).expect("add");
    let tid = vcpu_thread(&mut sb).expect("hot");
    let spinning = cpu_share(tid, budget / 2);
    let gone = Instant::now() + budget;
    while Instant::now() < gone {
        std::thread::sleep(budget / 10);
    }
    let after = cpu_share(tid, Duration::from_millis(500));
    println!(
        "idle hot sandbox (budget {budget:?}): vCPU thread uses {:.0}% of a CPU within the budget, {:.2}% after it",
        spinning * 100.0,
        after * 100.0
    );
}

fn main() {
    let since = SystemTime::now();
    let raw = raw_limits("4");
    benches();
    Criterion::default().configure_from_args().final_summary();
    idle_cpu();
    println!("max_hot_sandboxes() here: {}", hyperlight_host::max_hot_sandboxes());
    let Some(round_trip) = raw.and_then(|r| raw_row(&r, "CPL3 PIO")) else {
        println!("no kvm-limits figures: ratios not reported");
        return;
    };
    println!(
        "\nratios to raw KVM on this machine (kvm-limits median CPL3 exit round trip {round_trip:.1} us, same run)"
    );
    for id in [
        "hot/typed_add",
        "hot/normal_typed_add",
        "hot/one_host_call",
        "hot/normal_one_host_call",
        "hot/normal_round_robin_3",
        "hot/round_robin_3",
        "hot/round_robin_3_all_spin",
    ] {
        match median_us(id, since) {
            Some(m) => println!("  {id:<28} median {m:>9.2} us = {:>6.3} x 1 exit round trip", m / round_trip),
            None => println!("  {id:<28} (not run)"),
        }
    }
}
