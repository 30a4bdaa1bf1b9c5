//! The gdb stub, driven by the real gdb in batch mode (feature `gdb`):
//! `cargo test -p hyperlight-host --features gdb --test gdb`.
//!
//! Each test starts a sandbox with a debug port in a thread, then runs
//! `gdb -batch` against it and checks what gdb printed.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyperlight_host::{CallError, Sandbox, SandboxBuilder};

/// A local port that was free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

/// Waits until something listens on `port` (without connecting: the sandbox
/// accepts exactly one connection, gdb's).
fn wait_listening(port: u16) {
    let needle = format!(":{port:04X} 00000000:0000 0A");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| t.contains(&needle)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("nothing listens on port {port}");
}

/// Builds simpleguest-exec with a debug port on a free local port, in a thread (the
/// build waits for gdb), and runs `calls` on it there; returns the port once the
/// sandbox listens, and the thread.
fn debugged_sandbox<T: Send + 'static>(
    calls: impl FnOnce(&mut Sandbox) -> T + Send + 'static,
) -> (u16, std::thread::JoinHandle<T>) {
    debugged_sandbox_with(common::builder(), calls)
}

/// [`debugged_sandbox`] with the host functions (and sizes) of `builder`.
fn debugged_sandbox_with<T: Send + 'static>(
    builder: SandboxBuilder,
    calls: impl FnOnce(&mut Sandbox) -> T + Send + 'static,
) -> (u16, std::thread::JoinHandle<T>) {
    let port = free_port();
    let host = std::thread::spawn(move || {
        let mut sb = builder
            .debug_port(port)
            .build_from_file(common::guest_path("simpleguest-exec"))
            .expect("sandbox with gdb attached");
        calls(&mut sb)
    });
    wait_listening(port);
    (port, host)
}

fn gdb(guest: &str, port: u16, commands: &[&str]) -> Command {
    let mut cmd = Command::new("gdb");
    cmd.args(["-batch", "-nx"]).arg(common::guest_path(guest));
    cmd.args(["-ex", "set pagination off", "-ex", &format!("target remote :{port}")]);
    for c in commands {
        cmd.args(["-ex", c]);
    }
    cmd
}

/// Runs gdb to its end (at most a minute); returns stdout and stderr.
fn run(mut cmd: Command) -> String {
    wait_output(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("gdb runs (is gdb installed?)"))
}

/// Waits for gdb to end (killing it after a minute); returns stdout and stderr.
fn wait_output(mut child: Child) -> String {
    let start = Instant::now();
    while child.try_wait().expect("wait for gdb").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("gdb output");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn break_step_finish_across_calls() {
    let (port, host) = debugged_sandbox(move |sb| {
        let first: i64 = sb.call("Square", 7i64).expect("first call");
        let second: i64 = sb.call("Square", 9i64).expect("second call, after a host round trip");
        (first, second)
    });
    let out = run(gdb(
        "simpleguest-exec",
        port,
        &[
            "break simpleguest::args::square",
            "continue",
            "info registers rip",
            "print/d $rdi",
            "stepi",
            "info registers rip",
            "finish",
            "print/d $rax",
            "continue",
            "print/d $rdi",
            "delete",
            "continue",
        ],
    ));
    let (first, second) = host.join().expect("host thread");
    assert_eq!((first, second), (49, 81), "gdb output:\n{out}");
    for expected in [
        "Breakpoint 1 at",
        "Breakpoint 1, ",
        "simpleguest::args::square",
        "= 7",
        "Value returned is",
        "= 49",
        "= 9",
        "exited normally",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from gdb's output:\n{out}");
    }
    // `info registers rip` twice: at the breakpoint, then one instruction on.
    let rips: Vec<&str> = out.lines().filter(|l| l.starts_with("rip")).collect();
    assert!(rips.len() >= 2 && rips[0] != rips[1], "stepi moved rip: {rips:?}\n{out}");
    assert!(rips[0].contains("square"), "rip at the breakpoint is in square: {rips:?}");
}

#[test]
fn ctrl_c_stops_a_spinning_guest_and_kill_cancels_the_call() {
    let started = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&started);
    let builder = common::builder().host_function("SpinStarted", move || flag.store(true, Ordering::SeqCst));
    let (port, host) = debugged_sandbox_with(builder, move |sb| {
        let clean = sb.snapshot().expect("snapshot");
        let spin = sb.call::<()>("SignalThenSpin", ());
        // A killed call poisons the sandbox; a restore makes it answer again.
        sb.restore(&clean).expect("restore");
        let after = sb.call::<i32>("EchoI32", 5);
        (spin, after)
    });
    let mut cmd = gdb("simpleguest-exec", port, &["continue", "info registers rip", "bt", "kill"]);
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("gdb runs");
    // Once the guest is in the call (it called SpinStarted: gdb has attached and
    // continued), press Ctrl-C. The call runs until the debugger stops it, so a
    // Ctrl-C after the host function returns still finds it running.
    let start = Instant::now();
    while !started.load(Ordering::SeqCst) {
        assert!(start.elapsed() < Duration::from_secs(60), "the guest never reached SignalThenSpin");
        std::thread::yield_now();
    }
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: kill(2) on our own child process.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let out = wait_output(child);
    let (spin, after) = host.join().expect("host thread");
    assert!(out.contains("SIGINT"), "gdb reports the interrupt:\n{out}");
    assert!(out.contains("spin"), "the guest stopped in spin_signalled or spin (the backtrace names it):\n{out}");
    assert!(matches!(spin, Err(CallError::Cancelled)), "gdb's kill cancels the call: {spin:?}\n{out}");
    assert_eq!(after.expect("the sandbox answers after gdb is gone"), 5);
}

#[test]
fn memory_reads_hide_breakpoints_and_hardware_breakpoints_are_refused_under_pvm() {
    let (port, host) = debugged_sandbox(move |sb| sb.call::<i64>("Square", 3i64).expect("call"));
    let out = run(gdb(
        "simpleguest-exec",
        port,
        &[
            // Insert breakpoints at once (not only on resume), so that the read
            // after `break` sees memory with the int3 in it.
            "set breakpoint always-inserted on",
            "set language c",
            "x/4xb 'simpleguest::args::square'",
            "break simpleguest::args::square",
            "x/4xb 'simpleguest::args::square'",
            "monitor regs",
            "hbreak simpleguest::args::square",
            "continue",
            "delete 2",
            "continue",
            "print/d $rdi",
            "continue",
        ],
    ));
    assert_eq!(host.join().expect("host thread"), 9);
    let dumps: Vec<&str> = out.lines().filter(|l| l.contains("square") && l.contains(">:")).collect();
    assert!(dumps.len() == 2 && dumps[0] == dumps[1], "int3 not visible to gdb: {dumps:?}\n{out}");
    assert!(!dumps[0].contains("0xcc"), "{out}");
    assert!(out.contains("cr3 0x") && out.contains("fs_base"), "monitor regs:\n{out}");
    assert!(out.contains("= 3"), "the software breakpoint still works:\n{out}");
    if std::path::Path::new("/sys/module/kvm_pvm").exists() {
        assert!(out.contains("Cannot insert hardware breakpoint"), "hbreak refused under PVM:\n{out}");
    }
}

#[test]
fn breakpoints_survive_snapshot_and_restore_and_stay_out_of_snapshots() {
    let (port, host) = debugged_sandbox(move |sb| {
        let first: i64 = sb.call("Square", 2i64).expect("first call");
        // The breakpoint is in guest memory now; the snapshot must not carry it, and
        // the restore must not wipe it.
        let snap = sb.snapshot().expect("snapshot");
        let second: i64 = sb.call("Square", 3i64).expect("second call");
        sb.restore(&snap).expect("restore");
        let third: i64 = sb.call("Square", 4i64).expect("third call, after the restore");
        // A sandbox from the snapshot has no debugger: an int3 left in its code
        // would fault.
        let mut twin = Sandbox::from_snapshot(&snap, hyperlight_host::HostFunctions::new()).expect("from snapshot");
        let twin_result: i64 = twin.call("Square", 5i64).expect("a sandbox from the snapshot runs clean");
        (first, second, third, twin_result)
    });
    let out = run(gdb(
        "simpleguest-exec",
        port,
        &[
            "break simpleguest::args::square",
            "continue",
            "continue",
            "print/d $rdi",
            "continue",
            "print/d $rdi",
            "delete",
            "continue",
        ],
    ));
    let results = host.join().expect("host thread");
    assert_eq!(results, (4, 9, 16, 25), "gdb output:\n{out}");
    // Hit in the first call, the second (after the snapshot) and the third (after the
    // restore).
    assert_eq!(out.matches("Breakpoint 1, ").count(), 3, "gdb output:\n{out}");
    assert!(out.contains("= 3") && out.contains("= 4"), "gdb output:\n{out}");
}

#[test]
fn writing_registers_and_memory_changes_the_guest_and_detach_lets_it_run_on() {
    let (port, host) = debugged_sandbox(move |sb| {
        let first: i64 = sb.call("Square", 3i64).expect("first call");
        // gdb has detached: no more stops.
        let second: i64 = sb.call("Square", 6i64).expect("second call, after detach");
        (first, second)
    });
    let out = run(gdb(
        "simpleguest-exec",
        port,
        &[
            // Break on the function's first instruction, where the argument is still
            // only in rdi; then C expressions, for the casts below.
            "set language rust",
            "break *simpleguest::args::square",
            "continue",
            "set language c",
            // Make the argument 10, so that 100 comes back.
            "set $rdi = 10",
            "print/d $rdi",
            // Memory: write and read back a word on the stack, below the red zone.
            "set {long}($rsp - 256) = 0x1122334455667788",
            "print/x {long}($rsp - 256)",
            "delete",
            "detach",
        ],
    ));
    let (first, second) = host.join().expect("host thread");
    assert_eq!(first, 100, "the written rdi reached the guest; gdb output:\n{out}");
    assert_eq!(second, 36, "gdb output:\n{out}");
    assert!(out.contains("= 10"), "gdb output:\n{out}");
    assert!(out.contains("0x1122334455667788"), "gdb output:\n{out}");
    assert!(out.contains("detached"), "gdb output:\n{out}");
}
