//! Criterion benchmarks of Wasm sandboxes, each reported as a ratio: to a native
//! guest call, to raw KVM (`../shared/tools/kvm-limits`), to the same module in wasmi
//! in the host process, and to Wasmtime in the host process (report only; measured
//! by `benches/wasmtime-compare`, which `cargo xtask bench` runs first).
//!
//! | benchmark | compared with |
//! |---|---|
//! | `wasm/call_nop` | `wasm/native_call_unit` (simpleguest `ReturnUnit`), same run: target <= 1.3x |
//! | `wasm/restore_call_nop`, `wasm/restore_call_touch4` | `wasm/native_restore_call_unit`: restore + a call (writing 4 pages): target < 100 us |
//! | `wasm/hash_1mib`, `wasm/mandelbrot_100`, `wasm/nbody_5000` | `wasmi_host/*`: target <= 1.1x; Wasmtime |
//! | `wasm_softfloat/*` | the same exports in the soft-float runtime (why the runtime is hard-float) |
//! | `wasm/create_from_file` | cold boot (kvm-limits) |
//! | `wasm/from_snapshot_pooled` | VM + vCPU creation (kvm-limits) |
//!
//! The module is guests/wasm-programs/wasm-bench, built by `cargo xtask guests`.

#[path = "../../hyperlight-host/benches/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, Criterion};
use hyperlight_host::SandboxBuilder;
use hyperlight_wasm::WasmSandbox;

fn guests_dir() -> PathBuf {
    std::env::var_os("HYPERLIGHT_GUESTS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../guests/target/x86_64-unknown-none/release")
    })
}

fn bench_module() -> PathBuf {
    guests_dir().join("wasm-bench.wasm")
}

fn sandbox() -> WasmSandbox {
    WasmSandbox::builder().build_from_file(bench_module()).expect("wasm-bench builds")
}

/// The compute exports, with the argument each is benchmarked at.
const COMPUTE: [(&str, &str, u32); 3] =
    [("hash_1mib", "hash", 1 << 20), ("mandelbrot_100", "mandelbrot", 100), ("nbody_5000", "nbody", 5000)];

fn call_compute(sb: &mut WasmSandbox, export: &str, arg: u32) {
    match export {
        "hash" => drop(sb.call::<u64>(export, arg).expect("hash")),
        "mandelbrot" => drop(sb.call::<u32>(export, arg).expect("mandelbrot")),
        _ => drop(sb.call::<f64>(export, arg).expect("nbody")),
    }
}

fn calls(c: &mut Criterion) {
    let mut g = c.benchmark_group("wasm");
    let mut native = SandboxBuilder::new().build_from_bytes(&common::guest("simpleguest")).expect("simpleguest");
    g.bench_function("native_call_unit", |b| b.iter(|| native.call::<()>("ReturnUnit", ()).expect("unit")));
    let native_clean = native.snapshot().expect("snapshot");
    g.bench_function("native_restore_call_unit", |b| {
        b.iter(|| {
            native.restore(&native_clean).expect("restore");
            native.call::<()>("ReturnUnit", ()).expect("unit")
        })
    });
    let mut sb = sandbox();
    g.bench_function("call_nop", |b| b.iter(|| sb.call::<()>("nop", ()).expect("nop")));
    let clean = sb.snapshot().expect("snapshot");
    g.bench_function("restore_call_nop", |b| {
        b.iter(|| {
            sb.restore(&clean).expect("restore");
            sb.call::<()>("nop", ()).expect("nop")
        })
    });
    g.bench_function("restore_call_touch4", |b| {
        b.iter(|| {
            sb.restore(&clean).expect("restore");
            sb.call::<u32>("touch", 4u32).expect("touch")
        })
    });
    g.finish();
}

fn compute(c: &mut Criterion) {
    let mut sb = sandbox();
    let mut host = HostWasmi::new(&std::fs::read(bench_module()).expect("module"));
    let soft_path = guests_dir().join("wasm-runtime-softfloat");
    let mut soft = soft_path
        .is_file()
        .then(|| WasmSandbox::builder().runtime_path(&soft_path).build_from_file(bench_module()).expect("soft"));
    for (id, export, arg) in COMPUTE {
        let mut g = c.benchmark_group("wasm");
        g.sample_size(20).measurement_time(Duration::from_secs(4));
        g.bench_function(id, |b| b.iter(|| call_compute(&mut sb, export, arg)));
        g.finish();
        let mut g = c.benchmark_group("wasmi_host");
        g.sample_size(20).measurement_time(Duration::from_secs(4));
        g.bench_function(id, |b| b.iter(|| host.call(export, arg)));
        g.finish();
        if let Some(soft) = soft.as_mut() {
            let mut g = c.benchmark_group("wasm_softfloat");
            g.sample_size(10).measurement_time(Duration::from_secs(4));
            g.bench_function(id, |b| b.iter(|| call_compute(soft, export, arg)));
            g.finish();
        }
    }
}

fn create(c: &mut Criterion) {
    let path = bench_module();
    let mut g = c.benchmark_group("wasm");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.bench_function("create_from_file", |b| {
        b.iter_with_large_drop(|| WasmSandbox::builder().build_from_file(&path).expect("builds"))
    });
    let mut sb = sandbox();
    let snap = sb.snapshot().expect("snapshot");
    // Warm the pool: every dropped sandbox parks its VM for the next one.
    drop(WasmSandbox::from_snapshot(&snap, snap.host_functions().clone()).expect("twin"));
    g.bench_function("from_snapshot_pooled", |b| {
        b.iter(|| WasmSandbox::from_snapshot(&snap, snap.host_functions().clone()).expect("twin"))
    });
    g.finish();
}

/// The same module in wasmi in this process, configured as the runtime guest
/// configures it (fuel metering on, eager translation).
struct HostWasmi {
    store: wasmi::Store<()>,
    instance: wasmi::Instance,
}

impl HostWasmi {
    fn new(bytes: &[u8]) -> HostWasmi {
        let mut config = wasmi::Config::default();
        config.consume_fuel(true).compilation_mode(wasmi::CompilationMode::Eager);
        let engine = wasmi::Engine::new(&config);
        let module = wasmi::Module::new(&engine, bytes).expect("module");
        let mut store = wasmi::Store::new(&engine, ());
        let instance = wasmi::Linker::new(&engine).instantiate_and_start(&mut store, &module).expect("instance");
        HostWasmi { store, instance }
    }

    fn call(&mut self, export: &str, arg: u32) {
        self.store.set_fuel(u64::MAX).expect("fuel on");
        let f = self.instance.get_func(&self.store, export).expect("export");
        let mut out = [wasmi::Val::I32(0)];
        let n = f.ty(&self.store).results().len();
        #[allow(clippy::cast_possible_wrap)]
        f.call(&mut self.store, &[wasmi::Val::I32(arg as i32)], &mut out[..n]).expect("call");
    }
}

criterion_group!(benches, calls, compute, create);

fn main() {
    let since = SystemTime::now();
    // Raw figures first (group 1: VM creation; 3: cold boot; 4: exit round trips).
    let raw = common::raw_limits("134");
    benches();
    Criterion::default().configure_from_args().final_summary();
    let m = |id: &str| common::median_us(id, since);
    let ratio = |what: &str, a: Option<f64>, b: Option<f64>, target: &str| match (a, b) {
        (Some(a), Some(b)) => println!("  {what:<44} {a:>10.1} us / {b:>10.1} us = {:>6.2} x  {target}", a / b),
        _ => println!("  {what:<44} (not run)"),
    };
    println!("\nWasm sandbox ratios (medians of this run)");
    ratio("call_nop / native_call_unit", m("wasm/call_nop"), m("wasm/native_call_unit"), "(target <= 1.3)");
    let native_cycle = m("wasm/native_restore_call_unit");
    ratio("restore + nop / native restore + call", m("wasm/restore_call_nop"), native_cycle, "");
    ratio(
        "restore + touch 4 pages / native restore + call",
        m("wasm/restore_call_touch4"),
        native_cycle,
        "(target < 100 us)",
    );
    let wasmtime = wasmtime_medians();
    for (id, _, _) in COMPUTE {
        ratio(
            &format!("{id}: sandbox / wasmi in the host"),
            m(&format!("wasm/{id}")),
            m(&format!("wasmi_host/{id}")),
            "(target <= 1.1)",
        );
        ratio(
            &format!("{id}: sandbox / Wasmtime in the host"),
            m(&format!("wasm/{id}")),
            wasmtime.get(id).copied(),
            "(report only)",
        );
        ratio(
            &format!("{id}: soft-float / hard-float runtime"),
            m(&format!("wasm_softfloat/{id}")),
            m(&format!("wasm/{id}")),
            "",
        );
    }
    let raw = raw.and_then(|r| {
        Some((common::raw_row(&r, "[long] TOTAL cold boot")?, common::raw_row(&r, "TOTAL create (open+VM+vCPU+mmap)")?))
    });
    match raw {
        Some((cold, create_vm)) => {
            ratio("create_from_file / raw cold boot", m("wasm/create_from_file"), Some(cold), "");
            ratio("from_snapshot_pooled / raw VM+vCPU creation", m("wasm/from_snapshot_pooled"), Some(create_vm), "");
        }
        None => println!("  no kvm-limits figures: ratios to raw KVM not reported"),
    }
}

/// The medians `benches/wasmtime-compare` wrote, in us, by benchmark id.
fn wasmtime_medians() -> std::collections::BTreeMap<String, f64> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wasmtime-medians.json");
    let Ok(text) = std::fs::read_to_string(&path) else { return Default::default() };
    serde_json::from_str(&text).unwrap_or_default()
}
