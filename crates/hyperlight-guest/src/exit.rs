//! Leaving the VM: the `out` instructions of the [`ExitPort`]s.
//!
//! The only instructions of the runtime that hand control to the host. Each is one
//! VM exit; the host resumes the guest right after the instruction (except after
//! [`ExitPort::Abort`], which it never resumes).

use hyperlight_common::port::ExitPort;

/// Exits to the host through `port` and returns when the host resumes the guest.
///
/// The `asm!` block is not `nomem`: the compiler must assume it reads and writes any
/// memory, so frames written to the output buffer before it are really stored, and
/// the host's writes to the input buffer are really read after it.
///
/// Inlined: the host may reset the vCPU to the state of the first `Ready` exit, which
/// must not depend on a return address below the dispatch loop's frame.
#[inline(always)]
pub(crate) fn exit(port: ExitPort) {
    // SAFETY: `out` to one of the user ports is allowed at CPL3 by the host's TSS I/O
    // bitmap; it only hands control to the host, which resumes the guest after the
    // instruction with every register intact (or never resumes it). It touches no
    // Rust-visible state and leaves the stack alone.
    unsafe {
        core::arch::asm!(
            "out dx, al",
            in("dx") port.port(),
            in("al") 0u8,
            options(nostack, preserves_flags),
        );
    }
}
