//! gdb's x86_64 register set (`org.gnu.gdb.i386.core` + `sse`) to and from the
//! vCPU's registers.

use gdbstub_arch::x86::reg::X86_64CoreRegs;

use crate::vm::debug_regs::FpuState;
use crate::vm::{Backend, HypervisorError, Registers};

/// The guest's registers as gdb sees them. x87/SSE state is zero where the backend
/// cannot read it.
pub(crate) fn read(vm: &dyn Backend) -> Result<X86_64CoreRegs, HypervisorError> {
    let r = vm.registers()?;
    let s = vm.special_registers()?;
    let f = vm.fpu().unwrap_or_default();
    let mut out = X86_64CoreRegs {
        regs: [
            r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14,
            r.r15,
        ],
        eflags: u32::try_from(r.rflags & 0xffff_ffff).unwrap_or(0),
        rip: r.rip,
        ..X86_64CoreRegs::default()
    };
    out.segments.cs = u32::from(s.cs.selector);
    out.segments.ss = u32::from(s.ss.selector);
    out.segments.ds = u32::from(s.ds.selector);
    out.segments.es = u32::from(s.es.selector);
    out.segments.fs = u32::from(s.fs.selector);
    out.segments.gs = u32::from(s.gs.selector);
    for (st, raw) in out.st.iter_mut().zip(f.st.iter()) {
        st.copy_from_slice(&raw[..10]);
    }
    out.fpu.fctrl = u32::from(f.fcw);
    out.fpu.fstat = u32::from(f.fsw);
    out.fpu.ftag = full_tag(f.ftw);
    out.fpu.fioff = u32::try_from(f.last_ip & 0xffff_ffff).unwrap_or(0);
    out.fpu.fooff = u32::try_from(f.last_dp & 0xffff_ffff).unwrap_or(0);
    out.fpu.fop = u32::from(f.last_opcode);
    for (x, raw) in out.xmm.iter_mut().zip(f.xmm.iter()) {
        *x = u128::from_le_bytes(*raw);
    }
    out.mxcsr = f.mxcsr;
    Ok(out)
}

/// Sets the guest's registers from gdb's. Segment selectors are not changed (a
/// selector alone does not describe a segment; the host owns the descriptors).
pub(crate) fn write(vm: &mut dyn Backend, g: &X86_64CoreRegs) -> Result<(), HypervisorError> {
    let [rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8, r9, r10, r11, r12, r13, r14, r15] = g.regs;
    let old = vm.registers()?;
    vm.set_registers(&Registers {
        rax,
        rbx,
        rcx,
        rdx,
        rsi,
        rdi,
        rsp,
        rbp,
        r8,
        r9,
        r10,
        r11,
        r12,
        r13,
        r14,
        r15,
        rip: g.rip,
        rflags: (old.rflags & !0xffff_ffff) | u64::from(g.eflags),
    })?;
    let mut f = vm.fpu()?;
    for (raw, st) in f.st.iter_mut().zip(g.st.iter()) {
        raw[..10].copy_from_slice(st);
    }
    f.fcw = u16::try_from(g.fpu.fctrl & 0xffff).unwrap_or(0);
    f.fsw = u16::try_from(g.fpu.fstat & 0xffff).unwrap_or(0);
    f.ftw = abridged_tag(g.fpu.ftag);
    f.last_opcode = u16::try_from(g.fpu.fop & 0xffff).unwrap_or(0);
    for (raw, x) in f.xmm.iter_mut().zip(g.xmm.iter()) {
        *raw = x.to_le_bytes();
    }
    f.mxcsr = g.mxcsr;
    vm.set_fpu(&FpuState { ..f })
}

/// The full x87 tag word (2 bits per register, 11 = empty) from fxsave's abridged
/// one (1 bit per register, 1 = in use). An in-use register is shown as valid (00).
fn full_tag(abridged: u8) -> u32 {
    (0..8).filter(|i| abridged & (1 << i) == 0).fold(0, |tag, i| tag | (3 << (2 * i)))
}

fn abridged_tag(full: u32) -> u8 {
    (0..8).filter(|i| (full >> (2 * i)) & 3 != 3).fold(0, |tag, i| tag | (1 << i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_words_round_trip() {
        assert_eq!(full_tag(0), 0xffff);
        assert_eq!(full_tag(0xff), 0);
        assert_eq!(full_tag(0b1), 0xfffc);
        for t in [0u8, 1, 0x80, 0xa5, 0xff] {
            assert_eq!(abridged_tag(full_tag(t)), t);
        }
    }
}
