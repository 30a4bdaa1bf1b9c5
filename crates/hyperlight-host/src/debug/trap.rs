//! The frame a host exception stub leaves, and the user-mode state it describes.
//!
//! The stub (see `vm/stubs.rs`) left on the supervisor-only exception stack, from
//! its `rsp` up: the guest's rax, the error code, then the CPU's frame (rip, cs,
//! rflags, rsp, ss).

use crate::mem::layout::GuestAddr;
use crate::mem::memory::{GuestMemory, OutOfBounds};
use crate::vm::Registers;

/// The state of the user-mode code at the exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrapFrame {
    pub rax: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl TrapFrame {
    /// Reads the frame at `stub_rsp` (the vCPU's rsp when the stub exited).
    pub(crate) fn read(mem: &GuestMemory, stub_rsp: u64) -> Result<TrapFrame, OutOfBounds> {
        let word = |i: u64| mem.read_u64(GuestAddr(stub_rsp.wrapping_add(8 * i)));
        Ok(TrapFrame {
            rax: word(0)?,
            error_code: word(1)?,
            rip: word(2)?,
            cs: word(3)?,
            rflags: word(4)?,
            rsp: word(5)?,
            ss: word(6)?,
        })
    }

    /// The general registers of the interrupted code: `stub` (the vCPU's registers
    /// in the stub, which only changed rax, rip, rflags and rsp) with the frame's.
    pub(crate) fn user_registers(&self, stub: &Registers) -> Registers {
        Registers { rax: self.rax, rip: self.rip, rflags: self.rflags, rsp: self.rsp, ..*stub }
    }
}

/// The signal a Linux process would get for exception `vector` (for gdb's stop
/// reasons and the core file).
pub(crate) fn signal_of(vector: u8) -> u8 {
    const SIGILL: u8 = 4;
    const SIGTRAP: u8 = 5;
    const SIGBUS: u8 = 7;
    const SIGFPE: u8 = 8;
    const SIGSEGV: u8 = 11;
    match vector {
        0 | 16 | 19 => SIGFPE,
        1 | 3 => SIGTRAP,
        6 => SIGILL,
        17 => SIGBUS,
        _ => SIGSEGV,
    }
}
