//! Density: how many sandboxes made from one snapshot a single process can keep
//! alive, what each costs in time and memory, and how long tearing them down takes.
//!
//! Sandboxes from one snapshot share every page none of them wrote, so each should
//! cost the raw KVM price of a VM (kvm-limits group 6, ~620 KB here) plus the pages
//! its guest wrote. Run after `cargo xtask guests`:
//!
//! ```text
//! cargo run --release -p hyperlight-host --example density -- [MAX]   (default 10000)
//! ```
//!
//! Each sandbox holds 2 fds (VM and vCPU), so the soft fd limit is raised to the hard
//! one first; the run stops at the first error and says which.
//!
//! Expect creation, first calls and teardown to slow down as sandboxes accumulate: every
//! KVM VM registers an MMU notifier on the process, so each VM creation
//! (`mm_take_all_locks`, over every mapping) and each copy-on-write fault or unmap (which
//! notifies every VM) costs time in proportion to the VMs already in the process.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hyperlight_host::{set_vm_pool_capacity, HostFunctions, Sandbox, SandboxBuilder};

fn guest_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("HYPERLIGHT_GUESTS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../guests/target/x86_64-unknown-none/release")
    });
    dir.join(name)
}

/// A `Key:   123 kB` field of a /proc file, in KiB.
fn proc_kb(file: &str, key: &str) -> i64 {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Raises the soft fd limit to the hard one; returns the new soft limit.
fn raise_fd_limit() -> u64 {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read or write only the struct passed, which lives on
    // this stack frame; failure leaves the limit as it was, which we report.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        }
    }
    rl.rlim_cur
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps").map(|m| m.lines().count()).unwrap_or(0)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let max: usize = match std::env::args().nth(1) {
        Some(a) => a.parse().map_err(|e| format!("MAX {a:?}: {e}"))?,
        None => 10_000,
    };
    let path = guest_path("simpleguest");
    if !path.exists() {
        return Err(format!("{} not found: run `cargo xtask guests` first", path.display()).into());
    }
    let fd_limit = raise_fd_limit();
    let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap_or_default();
    println!("fd limit {fd_limit} (2 per sandbox), vm.max_map_count {}", max_map_count.trim());

    let mut first = SandboxBuilder::new().heap_size(16 << 20).build_from_file(&path)?;
    let snapshot = first.snapshot()?;
    drop(first);
    // The measured sandboxes are made fresh, not from pooled VMs.
    set_vm_pool_capacity(0);
    println!("snapshot of simpleguest with a 16 MiB heap: {} MiB of guest memory", snapshot.memory_size() >> 20);

    // The same /proc/meminfo counters as kvm-limits' density test, to compare per VM.
    const MEMINFO: [&str; 9] = [
        "AnonPages",
        "Shmem",
        "Slab",
        "SUnreclaim",
        "KernelStack",
        "PageTables",
        "SecPageTables",
        "VmallocUsed",
        "Percpu",
    ];
    let meminfo0 = MEMINFO.map(|k| proc_kb("/proc/meminfo", k));
    let (free0, rss0) = (proc_kb("/proc/meminfo", "MemFree"), proc_kb("/proc/self/status", "VmRSS"));
    let (fds0, maps0) = (open_fds(), map_count());
    let mut sandboxes = Vec::with_capacity(max);
    let (mut create, mut call) = (Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    let mut stopped = None;
    println!("{:>7} {:>12} {:>12} {:>13} {:>14}", "alive", "create us", "call us", "RSS KiB/sb", "MemFree KiB/sb");
    while sandboxes.len() < max {
        let t = Instant::now();
        let mut sandbox = match Sandbox::from_snapshot(&snapshot, HostFunctions::new()) {
            Ok(s) => s,
            Err(e) => {
                stopped = Some(format!("from_snapshot: {e} ({e:?})"));
                break;
            }
        };
        let t1 = Instant::now();
        let i = i32::try_from(sandboxes.len()).unwrap_or(i32::MAX);
        match sandbox.call::<i32>("EchoI32", i) {
            Ok(v) if v == i => {}
            other => {
                stopped = Some(format!("EchoI32 in sandbox {}: {other:?}", sandboxes.len() + 1));
                break;
            }
        }
        create += t1 - t;
        call += t1.elapsed();
        sandboxes.push(sandbox);
        let n = sandboxes.len();
        if n % 1000 == 0 {
            // Per-sandbox averages over the last 1000, and memory over all so far.
            #[allow(clippy::cast_precision_loss)] // counts and KiB fit f64 exactly
            let per = |kb: i64| kb as f64 / n as f64;
            println!(
                "{n:>7} {:>12.1} {:>12.1} {:>13.1} {:>14.1}",
                us(create) / 1000.0,
                us(call) / 1000.0,
                per(proc_kb("/proc/self/status", "VmRSS") - rss0),
                per(free0 - proc_kb("/proc/meminfo", "MemFree")),
            );
            (create, call) = (Duration::ZERO, Duration::ZERO);
        }
    }
    let elapsed = started.elapsed();
    let n = sandboxes.len();
    let (free1, rss1) = (proc_kb("/proc/meminfo", "MemFree"), proc_kb("/proc/self/status", "VmRSS"));
    println!(
        "\n{n} sandboxes alive at once, {} ({:.1} s in all)",
        stopped.as_deref().unwrap_or("reached MAX"),
        elapsed.as_secs_f64()
    );
    println!(
        "  open fds {} -> {}, mappings {} -> {} (max_map_count {}), fd limit {fd_limit}",
        fds0,
        open_fds(),
        maps0,
        map_count(),
        max_map_count.trim()
    );
    if n > 0 {
        #[allow(clippy::cast_precision_loss)] // counts and KiB fit f64 exactly
        let per = |kb: i64| kb as f64 / n as f64;
        println!("  process RSS: {:.1} KiB per sandbox ({} MiB in all)", per(rss1 - rss0), (rss1 - rss0) >> 10);
        for key in ["RssAnon", "RssFile", "RssShmem"] {
            println!("    {key}: {} KiB now", proc_kb("/proc/self/status", key));
        }
        println!(
            "  machine MemFree drop: {:.1} KiB per sandbox ({} MiB in all)",
            per(free0 - free1),
            (free0 - free1) >> 10
        );
        for (key, before) in MEMINFO.iter().zip(meminfo0) {
            println!("    {key}: {:+.1} KiB per sandbox", per(proc_kb("/proc/meminfo", key) - before));
        }
    }

    set_vm_pool_capacity(0);
    let t = Instant::now();
    drop(sandboxes);
    let down = t.elapsed();
    #[allow(clippy::cast_precision_loss)] // a count fits f64 exactly
    let per = if n > 0 { us(down) / n as f64 } else { 0.0 };
    println!("teardown of {n}: {:.1} ms ({per:.1} us per sandbox)", down.as_secs_f64() * 1e3);
    if let Some(e) = stopped {
        return Err(e.into());
    }
    Ok(())
}
