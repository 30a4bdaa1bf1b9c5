//! `wasmtime-compare MODULE OUT.json`: the median time of each compute export of
//! guests/wasm-programs/wasm-bench in Wasmtime (Cranelift, no fuel), in us, written
//! as a JSON object keyed like hyperlight-wasm's `wasm/*` benchmark ids.

use std::collections::BTreeMap;
use std::time::Instant;

const COMPUTE: [(&str, &str, u32); 4] = [
    ("call_nop", "nop", 0),
    ("hash_1mib", "hash", 1 << 20),
    ("mandelbrot_100", "mandelbrot", 100),
    ("nbody_5000", "nbody", 5000),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, module, out] = args.as_slice() else {
        return Err("usage: wasmtime-compare MODULE OUT.json".into());
    };
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::from_file(&engine, module)?;
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[])?;
    let mut medians = BTreeMap::new();
    for (id, export, arg) in COMPUTE {
        let f = instance.get_func(&mut store, export).ok_or("missing export")?;
        let n_results = f.ty(&store).results().len();
        let params: Vec<wasmtime::Val> = if export == "nop" { vec![] } else { vec![wasmtime::Val::I32(arg as i32)] };
        let mut results = vec![wasmtime::Val::I32(0); n_results];
        let mut samples = Vec::new();
        let runs = if export == "nop" { 10_000 } else { 30 };
        for _ in 0..runs {
            let t = Instant::now();
            f.call(&mut store, &params, &mut results)?;
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
        samples.sort_by(f64::total_cmp);
        let median = samples[samples.len() / 2];
        println!("wasmtime {id:<16} median {median:>10.2} us");
        medians.insert(id.to_string(), median);
    }
    std::fs::write(out, serde_json::to_string_pretty(&medians)?)?;
    Ok(())
}
