//! Criterion benchmarks of the call boundary (typed handles, batches, re-entrant
//! calls, host memory regions), each reported as a ratio to one exit round trip of
//! `../shared/tools/kvm-limits` measured in the same run.
//!
//! | benchmark | what it is |
//! |---|---|
//! | `call/typed_add` | `Add` through a typed handle (no name sent, no allocation) |
//! | `call/named_add` | the same call by name, for contrast |
//! | `batch/add_64` | 64 `Add` calls in one batch: the figure per call is the median / 64 |
//! | `reentrant/host_guest_host_guest` | host -> guest -> host -> guest: 3 exit round trips |
//! | `region/sum_64MiB_mapped` | the guest sums a 64 MiB mapped host region |
//! | `region/sum_64MiB_argument` | the same sum over a 64 MiB `Vec<u8>` argument |
//!
//! Run with `cargo xtask bench` (or `cargo xtask bench calls` for these alone).

mod common;

use std::time::{Duration, SystemTime};

use common::{guest, median_us, raw_limits, raw_row};

use criterion::{criterion_group, Criterion};
use hyperlight_host::{Batch, Caller, HostRegion, RegionAccess, Sandbox, SandboxBuilder};

const REGION_AT: u64 = 0x10_0000_0000;
const MIB_64: usize = 64 << 20;

fn simpleguest() -> Sandbox {
    SandboxBuilder::new()
        .host_function_with_caller("HostRecurse", |caller: &mut Caller<'_, ()>, levels: u32, what: String| {
            caller.call::<u32>("RecurseThen", (levels, what))
        })
        .build_from_bytes(&guest("simpleguest"))
        .expect("simpleguest builds")
}

fn calls(c: &mut Criterion) {
    let mut sb = simpleguest();
    let add = sb.func::<(i32, i32), i32>("Add").expect("Add");
    let mut g = c.benchmark_group("call");
    g.bench_function("typed_add", |b| b.iter(|| add.call(&mut sb, (1, 2)).expect("add")));
    g.bench_function("named_add", |b| b.iter(|| sb.call::<i32>("Add", (1, 2)).expect("add")));
    g.finish();

    let mut batch = Batch::new();
    for i in 0..64 {
        batch.call_func(&add, (i, 1));
    }
    let mut g = c.benchmark_group("batch");
    g.bench_function("add_64", |b| b.iter(|| sb.call_batch(&batch).expect("batch")));
    g.finish();

    let mut g = c.benchmark_group("reentrant");
    g.bench_function("host_guest_host_guest", |b| {
        b.iter(|| sb.call::<u32>("RecurseThen", (1u32, "ok".to_string())).expect("nested"))
    });
    g.finish();
}

fn regions(c: &mut Criterion) {
    let data: Vec<u8> = (0..MIB_64).map(|i| u8::try_from(i % 251).expect("small")).collect();
    let region = HostRegion::from_bytes(&data).expect("region");
    let mut mapped = SandboxBuilder::new()
        .reserve_region(REGION_AT, MIB_64 as u64, RegionAccess::Read)
        .build_from_bytes(&guest("simpleguest"))
        .expect("builds");
    mapped.map_region(REGION_AT, &region, RegionAccess::Read).expect("map");
    let mut copied = SandboxBuilder::new()
        .input_buffer_size(65 << 20)
        .heap_size(256 << 20)
        .build_from_bytes(&guest("simpleguest"))
        .expect("builds");
    let sum = mapped.call::<u64>("SumRegion", (REGION_AT, MIB_64 as u64)).expect("sum");
    assert_eq!(copied.call::<u64>("SumBytes", data.clone()).expect("sum"), sum);
    let mut g = c.benchmark_group("region");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("sum_64MiB_mapped", |b| {
        b.iter(|| mapped.call::<u64>("SumRegion", (REGION_AT, MIB_64 as u64)).expect("sum"))
    });
    g.bench_function("sum_64MiB_argument", |b| b.iter(|| copied.call::<u64>("SumBytes", data.clone()).expect("sum")));
    g.finish();
}

criterion_group!(benches, calls, regions);

fn main() {
    let since = SystemTime::now();
    let raw = raw_limits("4");
    benches();
    Criterion::default().configure_from_args().final_summary();
    let Some(round_trip) = raw.and_then(|r| raw_row(&r, "CPL3 PIO")) else {
        println!("no kvm-limits figures: ratios not reported");
        return;
    };
    println!(
        "\nratios to raw KVM on this machine (kvm-limits median CPL3 exit round trip {round_trip:.1} us, same run)"
    );
    for (id, per, trips, what) in [
        ("call/typed_add", 1.0, 1.0, "1 exit round trip"),
        ("call/named_add", 1.0, 1.0, "1 exit round trip"),
        ("batch/add_64", 64.0, 1.0, "1 exit round trip, per call of 64"),
        ("reentrant/host_guest_host_guest", 1.0, 3.0, "3 exit round trips"),
    ] {
        match median_us(id, since) {
            Some(m) => {
                println!("  {id:<34} median {m:>9.1} us = {:>5.3} x {what}", m / per / (trips * round_trip))
            }
            None => println!("  {id:<34} (not run)"),
        }
    }
    if let (Some(mapped), Some(copied)) =
        (median_us("region/sum_64MiB_mapped", since), median_us("region/sum_64MiB_argument", since))
    {
        println!(
            "  region: 64 MiB read in place {mapped:.0} us, passed as Vec<u8> {copied:.0} us ({:.1}x)",
            copied / mapped
        );
    }
}
