//! The signal that interrupts vCPUs: it never replaces a handler of the application's,
//! and the application can choose another one.
//!
//! The handler is process-wide, so each case runs in a child process: this binary runs
//! itself with `HL_SIGNAL_CASE=<case>` (its own `main`: `harness = false`).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use hyperlight_host::{interrupt_signal, set_interrupt_signal, BuildError, CallError, InterruptSignalError, Sandbox};

extern "C" fn applications_handler(_: libc::c_int) {}

/// Installs a handler of the application's own for `signal`.
fn install_own_handler(signal: libc::c_int) {
    // SAFETY: a zeroed sigaction with a handler that does nothing; checked result.
    let r = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = applications_handler as *const () as usize;
        libc::sigaction(signal, &sa, std::ptr::null_mut())
    };
    assert_eq!(r, 0, "sigaction");
}

/// The handler installed for `signal` now.
fn handler_of(signal: libc::c_int) -> usize {
    // SAFETY: a null new action only reads the current one; checked result.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) }, 0);
    old.sa_sigaction
}

/// A kill stops a spinning call of `sb` (so the chosen signal really interrupts).
fn kill_works(sb: &mut Sandbox) {
    let handle = sb.interrupt_handle();
    let killer = std::thread::spawn(move || {
        let start = Instant::now();
        while !handle.kill() {
            assert!(start.elapsed() < Duration::from_secs(60), "the call never started");
            std::thread::yield_now();
        }
    });
    let r = sb.call_with_timeout::<()>("Spin", (), Duration::from_secs(60));
    assert!(matches!(r, Err(CallError::Cancelled)), "{r:?}");
    killer.join().expect("killer");
}

fn build() -> Result<Sandbox, BuildError> {
    hyperlight_host::SandboxBuilder::new().build_from_file(common::guest_path("simpleguest"))
}

/// The application handles the default signal: building fails with a clear error and
/// leaves its handler alone; after choosing another signal, sandboxes work.
fn taken() {
    let default = libc::SIGRTMIN() + 4;
    install_own_handler(default);
    match build() {
        Err(BuildError::InterruptSignal(InterruptSignalError::Taken { signal })) => assert_eq!(signal, default),
        other => panic!("expected Taken, got {:?}", other.map(|_| ())),
    }
    assert_eq!(handler_of(default), applications_handler as *const () as usize, "the application's handler stays");
    set_interrupt_signal(libc::SIGRTMIN() + 6).expect("another signal");
    let mut sb = build().expect("builds with the chosen signal");
    assert_eq!(interrupt_signal(), libc::SIGRTMIN() + 6);
    kill_works(&mut sb);
    assert_eq!(handler_of(default), applications_handler as *const () as usize, "the application's handler stays");
}

/// A signal chosen before the first sandbox is used; afterwards it cannot change, and
/// uncatchable or unknown signals are refused.
fn chosen() {
    assert_eq!(set_interrupt_signal(libc::SIGKILL), Err(InterruptSignalError::Invalid { signal: libc::SIGKILL }));
    assert_eq!(set_interrupt_signal(1000), Err(InterruptSignalError::Invalid { signal: 1000 }));
    let signal = libc::SIGRTMIN() + 7;
    set_interrupt_signal(signal).expect("a free real-time signal");
    let mut sb = build().expect("builds");
    assert_eq!(interrupt_signal(), signal);
    assert_ne!(handler_of(signal), libc::SIG_DFL, "hyperlight's handler is installed");
    kill_works(&mut sb);
    assert_eq!(set_interrupt_signal(signal + 1), Err(InterruptSignalError::AlreadyChosen { current: signal }));
    set_interrupt_signal(signal).expect("choosing the same signal again is fine");
}

fn main() {
    if let Ok(case) = std::env::var("HL_SIGNAL_CASE") {
        common::require_kvm();
        match case.as_str() {
            "taken" => taken(),
            "chosen" => chosen(),
            other => panic!("unknown case {other}"),
        }
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut failed = 0;
    for case in ["taken", "chosen"] {
        let out = Command::new(&exe).env("HL_SIGNAL_CASE", case).output().expect("child runs");
        if out.status.success() {
            println!("test interrupt_signal::{case} ... ok");
        } else {
            failed += 1;
            println!(
                "test interrupt_signal::{case} ... FAILED ({})\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    println!("{} passed, {failed} failed", 2 - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}
