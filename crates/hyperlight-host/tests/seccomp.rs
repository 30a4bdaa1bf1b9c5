//! Seccomp mode: the vCPU runs on a thread of the sandbox's under a filter, and a
//! forbidden system call on that thread kills the process with SIGSYS, as
//! documented. (Every other behaviour is tested by running the behaviour tests with
//! `HYPERLIGHT_TEST_SECCOMP=1`, which `cargo xtask test` does.)
//!
//! The death happens in a child process: this binary runs itself with
//! `HL_SECCOMP_CHILD=1` (its own `main`: `harness = false`).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use hyperlight_host::testing::make_forbidden_syscall_on_vcpu_thread;
use hyperlight_host::{HostFunctions, Sandbox, SandboxBuilder};

/// In the child: a working seccomp sandbox (built, called, snapshotted, and a twin),
/// then the forbidden call; surviving it is a failure.
fn child() {
    let mut sb = common::build(SandboxBuilder::new().seccomp(true), "simpleguest");
    assert_eq!(sb.call::<i32>("EchoI32", 41).expect("call"), 41);
    let snap = sb.snapshot().expect("snapshot");
    let mut twin = Sandbox::from_snapshot(&snap, HostFunctions::new()).expect("twin");
    assert_eq!(twin.call::<i32>("EchoI32", 42).expect("call in the twin"), 42);
    assert!(sb.config().seccomp && twin.config().seccomp, "a twin runs in seccomp mode too");
    println!("child: seccomp sandboxes work");
    assert!(make_forbidden_syscall_on_vcpu_thread(&twin));
    println!("child: survived a forbidden system call");
    std::process::exit(3);
}

fn parent() -> Result<(), String> {
    // Without seccomp mode there is no filtered thread to ask.
    let sb = common::build(SandboxBuilder::new().seccomp(false), "simpleguest");
    if make_forbidden_syscall_on_vcpu_thread(&sb) {
        return Err("a sandbox not in seccomp mode has a filtered vCPU thread".into());
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe).env("HL_SECCOMP_CHILD", "1").output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let said = format!("{}\nstdout:\n{stdout}\nstderr:\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    if !stdout.contains("child: seccomp sandboxes work") {
        return Err(format!("seccomp sandboxes did not work: {said}"));
    }
    match out.status.signal() {
        Some(libc::SIGSYS) => Ok(()),
        _ => Err(format!("expected death by SIGSYS: {said}")),
    }
}

fn main() {
    if std::env::var_os("HL_SECCOMP_CHILD").is_some() {
        child();
        return;
    }
    match parent() {
        Ok(()) => println!("test a_forbidden_syscall_on_the_vcpu_thread_kills_the_process ... ok\n1 passed, 0 failed"),
        Err(e) => {
            println!(
                "test a_forbidden_syscall_on_the_vcpu_thread_kills_the_process ... FAILED\n{e}\n0 passed, 1 failed"
            );
            std::process::exit(1);
        }
    }
}
