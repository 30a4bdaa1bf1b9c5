//! A C guest's calls against a Rust guest's, in the same run: the same functions
//! (`EchoString`, `CallHostAdd`) in `c-simpleguest` (C on the C API) and
//! `simpleguest` (Rust), each printed as the ratio of the C guest's median to the
//! Rust guest's. The budget is 1: the C API adds no exit, only its own bookkeeping
//! (a call record, the arguments' copies) next to a VM exit round trip.

mod common;

use std::time::SystemTime;

use criterion::{criterion_group, Criterion};
use hyperlight_host::{Sandbox, SandboxBuilder};

use common::{guest, median_us};

fn sandbox(name: &str) -> Sandbox {
    SandboxBuilder::new()
        .host_function("HostAdd", |a: i32, b: i32| a.wrapping_add(b))
        .build_from_bytes(&guest(name))
        .expect("builds")
}

/// The guests, by the names of their benchmark ids.
const GUESTS: [(&str, &str); 2] = [("rust", "simpleguest"), ("c", "c-simpleguest")];

fn calls(c: &mut Criterion) {
    let mut g = c.benchmark_group("capi");
    for (id, name) in GUESTS {
        let mut sb = sandbox(name);
        g.bench_function(format!("echo_string_{id}"), |b| {
            b.iter(|| sb.call::<String>("EchoString", "hello".to_string()).expect("echo"))
        });
        g.bench_function(format!("one_host_call_{id}"), |b| {
            b.iter(|| sb.call::<i32>("CallHostAdd", (1, 2)).expect("host call"))
        });
    }
    g.finish();
}

criterion_group!(benches, calls);

fn main() {
    let since = SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    println!("\nC guest / Rust guest, medians of this run:");
    for op in ["echo_string", "one_host_call"] {
        let rust = median_us(&format!("capi/{op}_rust"), since);
        let c = median_us(&format!("capi/{op}_c"), since);
        match (c, rust) {
            (Some(c), Some(rust)) => {
                println!("  {op:<14} C {c:>7.1} us, Rust {rust:>7.1} us: ratio {:.3}", c / rust)
            }
            _ => println!("  {op:<14} (not run)"),
        }
    }
}
