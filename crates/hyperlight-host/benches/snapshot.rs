//! Criterion benchmarks of snapshots, each also reported as a ratio to the matching raw
//! KVM figure of `../shared/tools/kvm-limits`, measured in the same run.
//!
//! | benchmark | what is timed | raw figure it is compared with |
//! |---|---|---|
//! | `restore/heap_H/dirty_N` | `restore` after the guest wrote N pages | memcpy of N dirty pages (group 5) |
//! | `call_restore/echo` | one `EchoString` call plus `restore` | one CPL3 exit round trip (group 4) |
//! | `from_snapshot/pooled` | `Sandbox::from_snapshot` taking a pooled VM | VM + vCPU creation (group 1) |
//! | `from_snapshot/fresh` | `Sandbox::from_snapshot` with pooling off | VM + vCPU creation (group 1) |
//!
//! The guest's own writes (`DirtyPages`), the first call of a new sandbox and the
//! teardown are not timed by criterion; the first two are timed on the side and
//! printed with the ratios, since a restore method can move cost into the next run.
//!
//! Run with `cargo xtask bench` (builds the guests first). Set `KVM_LIMITS` to the
//! kvm-limits script to use another copy, or to `off` to skip the ratios.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkId, Criterion};
use hyperlight_host::{set_vm_pool_capacity, vm_pool_len, HostFunctions, Sandbox, SandboxBuilder};

use common::{guest, median_us, raw_limits};

const PAGE: u64 = 4096;
const HEAPS: [(&str, u64); 3] = [("1MiB", 1 << 20), ("64MiB", 64 << 20), ("1GiB", 1 << 30)];
const DIRTY: [u32; 4] = [0, 1, 64, 4096];

/// Durations measured outside criterion's timed regions, by label.
static SIDE: Mutex<BTreeMap<String, Vec<Duration>>> = Mutex::new(BTreeMap::new());

fn record(label: &str, d: Duration) {
    SIDE.lock().expect("no panics while held").entry(label.to_string()).or_default().push(d);
}

fn side_median_us(label: &str) -> Option<f64> {
    let mut v = SIDE.lock().expect("no panics while held").get(label)?.clone();
    v.sort();
    Some(v.get(v.len() / 2)?.as_secs_f64() * 1e6)
}

/// Whether a buffer of `n` pages fits the heap with room to spare for the guest's
/// other allocations.
fn fits(n: u32, heap: u64) -> bool {
    u64::from(n) * PAGE <= heap / 2
}

fn restore(c: &mut Criterion) {
    let bytes = guest("simpleguest");
    let mut g = c.benchmark_group("restore");
    g.sample_size(10).warm_up_time(Duration::from_millis(300));
    for (heap_name, heap) in HEAPS {
        let (fit, skip): (Vec<u32>, Vec<u32>) = DIRTY.iter().partition(|&&n| fits(n, heap));
        for n in skip {
            println!("restore/heap_{heap_name}/dirty_{n}: skipped ({n} pages do not fit a {heap_name} heap)");
        }
        let Some(&most) = fit.iter().max() else {
            continue;
        };
        // Built once per heap size: the 1 GiB sandbox is never rebuilt per iteration.
        let mut sandbox = SandboxBuilder::new().heap_size(heap).build_from_bytes(&bytes).expect("simpleguest builds");
        let _: u64 = sandbox.call("PrepareDirty", most).expect("buffer fits the heap");
        let snapshot = sandbox.snapshot().expect("snapshot");
        for n in fit {
            // Criterion sizes the run by the timed part only; the untimed guest writes
            // cost ~10 us a page here, so the big cases get a short timed budget.
            g.measurement_time(Duration::from_millis(match n {
                0 | 1 => 1000,
                64 => 300,
                _ => 250,
            }));
            let label = format!("restore/heap_{heap_name}/dirty_{n}");
            g.bench_function(BenchmarkId::new(format!("heap_{heap_name}"), format!("dirty_{n}")), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        sandbox.call::<()>("DirtyPages", n).expect("dirty pages");
                        record(&label, t.elapsed());
                        let t = Instant::now();
                        sandbox.restore(&snapshot).expect("restore");
                        total += t.elapsed();
                    }
                    total
                })
            });
        }
    }
    g.finish();
}

fn call_restore(c: &mut Criterion) {
    let mut sandbox = SandboxBuilder::new().build_from_bytes(&guest("simpleguest")).expect("simpleguest builds");
    let snapshot = sandbox.snapshot().expect("snapshot");
    let mut g = c.benchmark_group("call_restore");
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("echo", |b| {
        b.iter(|| {
            let s: String = sandbox.call("EchoString", "hello".to_string()).expect("echo");
            sandbox.restore(&snapshot).expect("restore");
            s
        })
    });
    g.finish();
}

fn from_snapshot(c: &mut Criterion) {
    let mut sandbox = SandboxBuilder::new().build_from_bytes(&guest("simpleguest")).expect("simpleguest builds");
    let snapshot = sandbox.snapshot().expect("snapshot");
    drop(sandbox);
    let mut g = c.benchmark_group("from_snapshot");
    g.measurement_time(Duration::from_secs(2));
    for pooled in [true, false] {
        let name = if pooled { "pooled" } else { "fresh" };
        // Empty the pool (VMs of the other benchmarks' sizes), then hold exactly one VM
        // of this snapshot's size, or none.
        set_vm_pool_capacity(0);
        if pooled {
            set_vm_pool_capacity(1);
            drop(Sandbox::from_snapshot(&snapshot, HostFunctions::new()).expect("from snapshot"));
        }
        let label = format!("from_snapshot/{name} first call");
        let second = format!("from_snapshot/{name} second call");
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    assert_eq!(vm_pool_len(), usize::from(pooled), "a pooled VM waits for every timed creation");
                    let t = Instant::now();
                    let mut sandbox = Sandbox::from_snapshot(&snapshot, HostFunctions::new()).expect("from snapshot");
                    total += t.elapsed();
                    assert_eq!(vm_pool_len(), 0);
                    let t = Instant::now();
                    let x: i32 = sandbox.call("EchoI32", 7).expect("first call");
                    record(&label, t.elapsed());
                    assert_eq!(x, 7);
                    let t = Instant::now();
                    let _: i32 = sandbox.call("EchoI32", 8).expect("second call");
                    record(&second, t.elapsed());
                    // Not timed: returns the VM to the pool (or closes it).
                    drop(sandbox);
                }
                total
            })
        });
    }
    g.finish();
    set_vm_pool_capacity(hyperlight_host::DEFAULT_VM_POOL_CAPACITY);
}

/// A group-5 row for `n` dirty pages. kvm-limits measures N = 1, 16, 256, 4096; other
/// N are interpolated linearly between the neighbours (the costs are per page).
fn raw_reset(raw: &BTreeMap<String, f64>, n: u32, what: &str) -> Option<f64> {
    let at = |k: u32| raw.get(&format!("N={k} {what}")).copied();
    if let Some(v) = at(n) {
        return Some(v);
    }
    let (lo, hi) = [1u32, 16, 256, 4096].windows(2).map(|w| (w[0], w[1])).find(|&(lo, hi)| lo < n && n < hi)?;
    let (a, b) = (at(lo)?, at(hi)?);
    Some(a + (b - a) * f64::from(n - lo) / f64::from(hi - lo))
}

fn report(raw: &BTreeMap<String, f64>, since: SystemTime) {
    let row = |k: &str| raw.get(k).copied();
    println!("\nratios to raw KVM on this machine (kvm-limits medians, same run; group 5 is a 64 MiB guest)");
    println!("restore: timed = restore alone; cycle = the guest's DirtyPages call (side-timed) + restore");
    println!("  raw reset = memcpy of the N dirty pages; raw cycle = that + run after memcpy-dirty reset;");
    println!("  raw dirty-log cycle = run with dirty logging on + KVM_GET_DIRTY_LOG + memcpy (our method's floor)");
    for n in DIRTY {
        let rows = [
            "memcpy of the N dirty pages",
            "run after memcpy-dirty reset",
            "run with dirty logging on",
            "KVM_GET_DIRTY_LOG (64 MiB slot)",
        ];
        let v: Vec<String> =
            rows.iter().map(|r| raw_reset(raw, n, r).map_or("-".into(), |x| format!("{r} {x:.1}"))).collect();
        println!("  raw N={n}: {} us", v.join(", "));
    }
    for (heap_name, _) in HEAPS {
        for n in DIRTY {
            let id = format!("restore/heap_{heap_name}/dirty_{n}");
            let Some(m) = median_us(&id, since) else {
                continue;
            };
            if let (Some(rt), true) = (row("CPL3 PIO out dx,al -> KVM_EXIT_IO"), n <= 1) {
                println!("  {id:<28} {m:>8.1} us = {:>6.2} x 1 CPL3 exit round trip ({rt:.1} us)", m / rt);
            }
            let memcpy = raw_reset(raw, n, "memcpy of the N dirty pages");
            let run = raw_reset(raw, n, "run after memcpy-dirty reset");
            let log_run = raw_reset(raw, n, "run with dirty logging on");
            let log = raw_reset(raw, n, "KVM_GET_DIRTY_LOG (64 MiB slot)");
            let dirty = side_median_us(&id);
            print!("  {id:<28} {m:>8.1} us");
            if let Some(r) = memcpy {
                print!(" = {:>6.1} x raw reset ({r:.1} us)", m / r);
            }
            if let (Some(d), Some(r), Some(run)) = (dirty, memcpy, run) {
                print!("; cycle {:.1} us = {:.2} x raw cycle ({:.1} us)", d + m, (d + m) / (r + run), r + run);
                if let (Some(lr), Some(l)) = (log_run, log) {
                    print!(", {:.2} x raw dirty-log cycle ({:.1} us)", (d + m) / (lr + l + r), lr + l + r);
                }
            }
            println!();
        }
    }
    if let (Some(m), Some(rt)) = (median_us("call_restore/echo", since), row("CPL3 PIO out dx,al -> KVM_EXIT_IO")) {
        println!("  {:<28} {m:>8.1} us = {:>6.2} x 1 CPL3 exit round trip ({rt:.1} us)", "call_restore/echo", m / rt);
    }
    if let Some(create) = row("TOTAL create (open+VM+vCPU+mmap)") {
        for name in ["pooled", "fresh"] {
            let id = format!("from_snapshot/{name}");
            let Some(m) = median_us(&id, since) else {
                continue;
            };
            print!(
                "  {id:<28} {m:>8.1} us = {:>6.2} x raw VM+vCPU creation ({create:.1} us), {:+.1} us",
                m / create,
                m - create
            );
            if let (Some(f), Some(s)) =
                (side_median_us(&format!("{id} first call")), side_median_us(&format!("{id} second call")))
            {
                print!(
                    "; first call {f:.1} us, second {s:.1} us; creation + first call = {:.2} x a warm call",
                    (m + f) / s
                );
            }
            println!();
        }
    }
}

fn main() {
    let since = SystemTime::now();
    // Raw figures first, then ours, so both come from the same run.
    let raw = raw_limits("145");
    let mut c = Criterion::default().configure_from_args();
    restore(&mut c);
    call_restore(&mut c);
    from_snapshot(&mut c);
    c.final_summary();
    match raw {
        Some(raw) => report(&raw, since),
        None => println!("no kvm-limits figures: ratios not reported"),
    }
}
