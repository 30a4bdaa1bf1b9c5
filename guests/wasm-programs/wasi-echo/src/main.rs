//! An ordinary `wasm32-wasip1` program, with std: what hyperlight-wasm's WASI tests
//! run. It uses args, the environment, stdin, stdout, stderr, the clock, random
//! numbers (through std's `HashMap` seed and directly), the heap and the exit code.
//!
//! `wasi-echo` (no mode): reads stdin, prints a report of it to stdout.
//! `wasi-echo exit N`: prints to stderr and exits with N.
//! `wasi-echo panic`: panics (a Wasm `unreachable` trap).
//! `wasi-echo alloc MIB`: allocates and touches MIB MiB, prints a checksum.
//! `wasi-echo lines N`: prints N numbered lines.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("exit") => {
            let code: i32 = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(1);
            eprintln!("exiting with {code}");
            std::process::exit(code);
        }
        Some("panic") => panic!("asked to panic"),
        Some("alloc") => {
            let mib: usize = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(1);
            let v: Vec<u8> = (0..mib << 20).map(|i| (i % 251) as u8).collect();
            let sum: u64 = v.iter().map(|b| u64::from(*b)).sum();
            println!("allocated {mib} MiB, checksum {sum}");
        }
        Some("lines") => {
            let n: usize = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(10);
            let mut out = std::io::stdout().lock();
            for i in 0..n {
                writeln!(out, "line {i}").expect("stdout");
            }
        }
        _ => report(&args),
    }
}

fn report(args: &[String]) {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("stdin is UTF-8");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for word in input.split_whitespace() {
        *counts.entry(word).or_default() += 1;
    }
    let mut words: Vec<(&str, usize)> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    println!("hello from wasm32-wasip1");
    println!("argv: {args:?}");
    println!("GREETING={}", std::env::var("GREETING").unwrap_or_else(|_| "(unset)".into()));
    println!(
        "stdin: {} lines, {} words, {} bytes",
        input.lines().count(),
        input.split_whitespace().count(),
        input.len()
    );
    let top: Vec<String> = words.iter().take(3).map(|(w, n)| format!("{w}={n}")).collect();
    println!("top words: {}", top.join(" "));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("time after 1970");
    println!("clock: {}", if now.as_secs() > 1_600_000_000 { "plausible" } else { "wrong" });
    // std's HashMap seed came from random_get; ask for more bytes the same way.
    let mut rng = std::collections::hash_map::RandomState::new();
    use std::hash::{BuildHasher, Hasher};
    let mut h = rng.build_hasher();
    h.write_u64(0);
    rng = std::collections::hash_map::RandomState::new();
    let mut h2 = rng.build_hasher();
    h2.write_u64(0);
    println!("random: {:016x}{:016x}", h.finish(), h2.finish());
    eprintln!("done");
}
