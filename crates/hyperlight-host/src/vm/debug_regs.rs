//! vCPU state that only the debugger needs: x87/SSE registers and the debug
//! registers (DR0-DR3, DR6, DR7).
//!
//! Backends provide them through [`Backend`](crate::vm::Backend) methods whose
//! default says "unsupported", so a backend without them still builds and runs.

/// The x87 and SSE registers, in the `fxsave` layout's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct FpuState {
    /// ST0..ST7, 80 bits each (the upper 6 bytes of each slot are unused).
    pub st: [[u8; 16]; 8],
    pub fcw: u16,
    pub fsw: u16,
    /// The abridged tag word: bit i set = register i is not empty.
    pub ftw: u8,
    pub last_opcode: u16,
    pub last_ip: u64,
    pub last_dp: u64,
    pub xmm: [[u8; 16]; 16],
    pub mxcsr: u32,
}

/// The debug registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct DebugRegisters {
    /// Breakpoint addresses.
    pub dr: [u64; 4],
    /// Status: which condition raised the last #DB.
    pub dr6: u64,
    /// Control: which breakpoints are enabled, and on what.
    pub dr7: u64,
}

/// DR6: the #DB came from a single step (RFLAGS.TF).
pub(crate) const DR6_BS: u64 = 1 << 14;
