//! The demo that `cargo xtask demo` runs: create a sandbox from the `hello` guest,
//! call a guest function that calls a host function, print the result and the times.
//!
//! Run it with `cargo xtask demo` (which builds the guests first), or
//! `cargo run --release -p hyperlight-host --example demo` after `cargo xtask guests`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hyperlight_host::SandboxBuilder;

// The CLI's `GetWeekday` (today in UTC, from the clock; tested there), shared rather
// than copied.
#[path = "../../hyperlight-cli/src/weekday.rs"]
mod weekday;

fn guest_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("HYPERLIGHT_GUESTS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../guests/target/x86_64-unknown-none/release")
    });
    dir.join(name)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = guest_path("hello");
    if !path.exists() {
        return Err(format!("{} not found: run `cargo xtask guests` first", path.display()).into());
    }
    let weekday = weekday::today;

    let start = Instant::now();
    let mut sandbox =
        SandboxBuilder::new().heap_size(1 << 20).host_function("GetWeekday", weekday).build_from_file(&path)?;
    let created = start.elapsed();

    let start = Instant::now();
    let greeting: String = sandbox.call("SayHello", "World".to_string())?;
    let first = start.elapsed();
    println!("guest says: {greeting}");

    // The guest prints a line on every call; silence it for the timing loop.
    let start = Instant::now();
    let mut quiet =
        SandboxBuilder::new().host_function("GetWeekday", weekday).host_print(|_| {}).build_from_file(&path)?;
    let created_again = start.elapsed();
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            let r: Result<String, _> = quiet.call("SayHello", "World".to_string());
            r.map(|_| t.elapsed())
        })
        .collect::<Result<_, _>>()?;
    times.sort();
    let median = times[times.len() / 2];

    println!(
        "sandbox created in {:.3} ms (VM, ELF load, guest init; the first in the process also opens /dev/kvm)",
        created.as_secs_f64() * 1e3
    );
    println!("second sandbox created in {:.3} ms", created_again.as_secs_f64() * 1e3);
    println!("first call took {:.1} us", first.as_secs_f64() * 1e6);
    println!(
        "per call (3 VM exits: the call, GetWeekday, println!; median of {}): {:.1} us",
        times.len(),
        median.as_secs_f64() * 1e6
    );
    Ok(())
}
