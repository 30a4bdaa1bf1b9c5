//! Resource hygiene: creating and dropping many sandboxes, and many failing calls,
//! leave the process's open fds, threads and memory where they were.
//!
//! One test function, because the counts are process-wide and tests in one binary run
//! in parallel.

mod common;

use std::time::Duration;

use hyperlight_host::{CallError, SandboxBuilder};

fn status_kb(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} not in /proc/self/status"))
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("procfs").count()
}

fn threads() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status.lines().find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok()).expect("Threads: field")
}

#[test]
fn sandboxes_and_failing_calls_leave_nothing_behind() {
    common::require_kvm();
    let bytes = common::guest_bytes("simpleguest");
    let build = || SandboxBuilder::new().build_from_bytes(&bytes).expect("builds");

    // Warm up: the process-wide KVM handle, the deadline thread, allocator pools.
    for _ in 0..50 {
        let mut sb = build();
        let _ = sb.call_with_timeout::<i32>("EchoI32", 1, Duration::from_secs(5));
    }
    let (fds, thr, rss) = (open_fds(), threads(), status_kb("VmRSS:"));

    for i in 0..10_000 {
        let mut sb = build();
        if i % 1000 == 0 {
            assert_eq!(sb.call::<i32>("EchoI32", i).expect("call"), i);
        }
    }
    let (fds2, thr2, rss2) = (open_fds(), threads(), status_kb("VmRSS:"));
    assert_eq!(fds2, fds, "open fds after 10,000 sandboxes");
    assert_eq!(thr2, thr, "threads after 10,000 sandboxes");
    assert!(rss2 < rss + 16 * 1024, "RSS grew from {rss} kB to {rss2} kB over 10,000 sandboxes");

    // 100,000 calls that fail, of several kinds, on one sandbox.
    let mut sb = build();
    for i in 0..100_000u32 {
        let failed = match i % 4 {
            0 => sb.call::<i32>("NoSuchFunction", ()).is_err(),
            1 => sb.call::<i32>("EchoI32", "wrong type".to_string()).is_err(),
            2 => sb.call::<i32>("EchoI32", (1, 2)).is_err(),
            _ => sb.call::<String>("EchoI32", 5).is_err(),
        };
        assert!(failed, "call {i} should fail");
    }
    for _ in 0..200 {
        assert!(matches!(sb.call::<()>("Panic", "p".to_string()), Err(CallError::GuestPanic { .. })));
    }
    assert_eq!(sb.call::<i32>("EchoI32", 9).expect("still answers"), 9);
    drop(sb);
    let (fds3, thr3, rss3) = (open_fds(), threads(), status_kb("VmRSS:"));
    assert_eq!(fds3, fds, "open fds after 100,000 failing calls");
    assert_eq!(thr3, thr, "threads after 100,000 failing calls");
    assert!(rss3 < rss + 16 * 1024, "RSS grew from {rss} kB to {rss3} kB over 100,000 failing calls");
}
