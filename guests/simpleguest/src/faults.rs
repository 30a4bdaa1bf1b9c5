//! CPU exceptions on purpose, and a guest function that never returns: the host's
//! fault reporting and kill tests use them.
//!
//! Each fault is raised with inline assembly, so the CPU does exactly what the name
//! says: in Rust the same (a division by zero, a null read) would be a panic or
//! undefined behaviour instead of a fault.

use alloc::format;
use alloc::string::String;
use core::hint::black_box;

use hyperlight_guest::{register_function, FunctionError};

pub fn register() {
    register_function("Spin", spin);
    // Tells the host it runs (host function "SpinStarted"), then spins: a test waits
    // for that instead of sleeping and hoping the guest got there.
    register_function("SignalThenSpin", || {
        let _ = hyperlight_guest::call_host::<()>("SpinStarted", ());
        spin()
    });
    register_function("Fault", fault);
}

/// Never returns (until the host kills the call). Not inlined, so that a debugger's
/// backtrace names it.
#[inline(never)]
fn spin() {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

#[allow(clippy::needless_pass_by_value)]
fn fault(kind: String) -> Result<(), FunctionError> {
    match kind.as_str() {
        // SAFETY: `ud2` raises #UD; the host stops the guest, it never returns here.
        "ud2" => unsafe { core::arch::asm!("ud2", options(nomem, nostack)) },
        // SAFETY: `div` by zero raises #DE; the registers it names are declared.
        "divide" => unsafe {
            core::arch::asm!(
                "xor edx, edx",
                "div rcx",
                in("rcx") black_box(0u64),
                inout("rax") 1u64 => _,
                out("rdx") _,
                options(nomem, nostack),
            );
        },
        // SAFETY: page 0 is never mapped: the read raises #PF; nothing is written.
        "null" => unsafe {
            core::arch::asm!("mov {0}, qword ptr [{0}]", inout(reg) black_box(0u64) => _, options(nostack, readonly));
        },
        // SAFETY: the text segment is mapped read-only: the store raises #PF and
        // changes nothing.
        "write_code" => unsafe {
            let target = fault as fn(String) -> Result<(), FunctionError> as usize;
            core::arch::asm!("mov byte ptr [{0}], 0xc3", in(reg) black_box(target), options(nostack));
        },
        // SAFETY: `int3` raises #BP; the host reports it (the guest has no debugger).
        "int3" => unsafe { core::arch::asm!("int3", options(nomem, nostack)) },
        "stack_overflow" => {
            black_box(recurse(black_box(u64::MAX)));
        }
        // SAFETY: sets RFLAGS.TF: the next instruction raises #DB (single step), which
        // also sets DR6.BS; nothing else changes.
        "trap_flag" => unsafe {
            core::arch::asm!("pushfq", "or qword ptr [rsp], 0x100", "popfq", "nop", options(nomem));
        },
        // SAFETY: `hlt` is privileged: at CPL3 it raises #GP.
        "gp" => unsafe { core::arch::asm!("hlt", options(nomem, nostack)) },
        // SAFETY: vector 0x80 has no gate (the IDT ends at 31): #GP, nothing runs.
        "int80" => unsafe { core::arch::asm!("int 0x80", options(nomem, nostack)) },
        // SAFETY: the stack is mapped non-executable: the jump raises #PF on the
        // instruction fetch, before any byte there runs.
        "exec_stack" => unsafe {
            let code = black_box([0xc3u8; 16]);
            core::arch::asm!("call {0}", in(reg) code.as_ptr(), options(nostack));
        },
        "huge_frame" => {
            black_box(huge_frame(black_box(0)));
        }
        other => return Err(FunctionError::failed(format!("unknown fault kind {other:?}"))),
    }
    Err(FunctionError::failed(format!("fault {kind:?} did not fault")))
}

/// One frame larger than the whole stack: the stack probes hit the guard page.
#[inline(never)]
fn huge_frame(i: usize) -> u8 {
    let mut frame = [0u8; 4 << 20];
    black_box(&mut frame);
    frame[i]
}

/// Recursion with a page-sized frame on every level: runs into the stack's guard page.
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u8; 4096];
    black_box(&mut frame);
    if depth == 0 {
        return u64::from(frame[0]);
    }
    recurse(depth - 1).wrapping_add(u64::from(frame[usize::from(black_box(7u16))]))
}
