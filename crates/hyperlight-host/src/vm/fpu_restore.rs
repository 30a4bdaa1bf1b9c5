//! The guest-side FPU restore: a restore puts the x87/SSE (and AVX) state back with
//! the guest's own `fxrstor`/`xrstor`, from host-owned pages, instead of
//! `KVM_SET_XSAVE`.
//!
//! Why: under PVM every vCPU ioctl loads and puts the vCPU (about 6 us each), and the
//! XSAVE area is the one part of a restore that `KVM_CAP_SYNC_REGS` cannot carry, so
//! `KVM_SET_XSAVE` was most of a restore (6 of 8 us with nothing dirty, measured).
//! Both instructions are unprivileged, so the restore sets the general and special
//! registers as usual (through `kvm_run`, with the next `KVM_RUN`) but with RIP at
//! [`Layout::restore_code`], where one of these sequences runs at CPL3 before
//! anything of the guest's. Where XSAVE is on (CR4.OSXSAVE; hardware KVM):
//!
//! ```text
//! mov  eax, 0xffffffff           ; RFBM = XCR0: every component the guest can use
//! mov  edx, 0xffffffff
//! xrstor64 [rip + restore_state] ; the snapshot's XSAVE area (standard form)
//! mov  rax, [rip + RAX_AT]       ; the snapshot's RAX and RDX, which the mask used
//! mov  rdx, [rip + RDX_AT]
//! jmp  [rip + RIP_AT]            ; the snapshot's RIP
//! ```
//!
//! Where it is off (PVM offers no XSAVE; only x87 and SSE exist, AVX faults):
//!
//! ```text
//! fxrstor64 [rip + restore_state] ; the area's legacy 512 bytes: x87, MXCSR, XMM0-15
//! jmp  [rip + RIP_AT]
//! ```
//!
//! Neither changes RFLAGS, the stack or any other register, so the guest resumes in
//! exactly the snapshot's state. Everything the instruction covers is loaded
//! (`xrstor` initialises the components the area marks as initial), so nothing a
//! tenant left in an x87, SSE or AVX register survives.
//!
//! Trust: both pages are written by the host from the snapshot's own vCPU state (at
//! snapshot time, and rebuilt from the header when a file is loaded, never read from
//! it), are mapped read-only to the guest, and hold nothing but that snapshot's own
//! state. A guest that jumps into a sequence anywhere only loads that state again;
//! the rest of the page is `int3`. The restore falls back to `KVM_SET_XSAVE` when a
//! sequence cannot run as the guest's first instructions: no FXSR, the snapshot's CS
//! not at CPL3, or a debugger attached (which must see the guest's own RIP). Until
//! the guest runs, the machine answers for the vCPU state with the restored one
//! (`Machine::freeze`), since the vCPU's RIP and XSAVE area are not yet it.

use crate::mem::layout::{GuestAddr, Layout};
use crate::mem::memory::{GuestMemory, OutOfBounds};
use crate::vm::cpu::{CR4_OSFXSR, CR4_OSXSAVE};
use crate::vm::VcpuState;

/// A page, in bytes.
const PAGE: usize = 4096;
const PAGE_U32: u32 = 4096;
const _: () = assert!(PAGE as u64 == hyperlight_common::PAGE_SIZE);

/// Offsets in the code page of the registers the sequence reloads.
const RAX_AT: u32 = 0x100;
const RDX_AT: u32 = 0x108;
const RIP_AT: u32 = 0x110;

/// Which instruction loads the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `xrstor64`, every component in XCR0 (CR4.OSXSAVE on).
    Xrstor,
    /// `fxrstor64`, x87 and SSE from the area's legacy 512 bytes: all the user state
    /// there is when XSAVE is off (as under PVM, which offers no XSAVE), since AVX
    /// then faults.
    Fxrstor,
}

/// The form for `vcpu`, if the sequence can restore its state.
fn form(vcpu: &VcpuState) -> Option<Form> {
    let cr4 = vcpu.sregs.cr4;
    if vcpu.xsave.len() != 4096 {
        None
    } else if cr4 & CR4_OSXSAVE != 0 {
        // XRSTOR's standard form: XCOMP_BV (header bytes 8..16) must be 0, else #GP.
        let standard = vcpu.xsave[520..528].iter().all(|&x| x == 0);
        (vcpu.xcr0 != 0 && standard).then_some(Form::Xrstor)
    } else if cr4 & CR4_OSFXSR != 0 {
        Some(Form::Fxrstor)
    } else {
        None
    }
}

/// The machine code of the sequence for the restore-state page right after the code
/// page (`Layout` keeps them adjacent).
fn code(form: Form) -> Vec<u8> {
    let page = PAGE_U32;
    let mut c = Vec::with_capacity(40);
    // Appends an instruction whose last 4 bytes are a RIP-relative displacement to
    // `target` (an offset in the code page), which counts from the instruction's end.
    let rip_relative = |c: &mut Vec<u8>, opcode: &[u8], target: u32| {
        c.extend_from_slice(opcode);
        // Sequences are a few dozen bytes.
        let end = u32::try_from(c.len() + 4).unwrap_or(u32::MAX);
        c.extend_from_slice(&target.wrapping_sub(end).to_le_bytes());
    };
    match form {
        Form::Xrstor => {
            c.extend_from_slice(&[0xb8, 0xff, 0xff, 0xff, 0xff]); // mov eax, -1
            c.extend_from_slice(&[0xba, 0xff, 0xff, 0xff, 0xff]); // mov edx, -1
            rip_relative(&mut c, &[0x48, 0x0f, 0xae, 0x2d], page); // xrstor64 [rip + d]
            rip_relative(&mut c, &[0x48, 0x8b, 0x05], RAX_AT); // mov rax, [rip + d]
            rip_relative(&mut c, &[0x48, 0x8b, 0x15], RDX_AT); // mov rdx, [rip + d]
        }
        Form::Fxrstor => rip_relative(&mut c, &[0x48, 0x0f, 0xae, 0x0d], page), // fxrstor64 [rip + d]
    }
    rip_relative(&mut c, &[0xff, 0x25], RIP_AT); // jmp [rip + d]
    c
}

/// Writes both pages for `vcpu`: the sequence with its registers, and its XSAVE area
/// (whose first 512 bytes are the FXSAVE image).
pub(crate) fn write_pages(layout: &Layout, vcpu: &VcpuState, mem: &mut GuestMemory) -> Result<(), OutOfBounds> {
    // The rest of the code page is int3: a guest that jumps there gets a breakpoint
    // exception, not an instruction of anyone's choosing. Without a form the page
    // has no sequence (and no restore starts there).
    let mut page = vec![0xccu8; PAGE];
    if let Some(form) = form(vcpu) {
        let c = code(form);
        page[..c.len()].copy_from_slice(&c);
    }
    for (at, value) in [(RAX_AT, vcpu.regs.rax), (RDX_AT, vcpu.regs.rdx), (RIP_AT, vcpu.regs.rip)] {
        page[at as usize..at as usize + 8].copy_from_slice(&value.to_le_bytes());
    }
    mem.write(layout.restore_code, &page)?;
    let mut state = vec![0u8; PAGE];
    let n = vcpu.xsave.len().min(state.len());
    state[..n].copy_from_slice(&vcpu.xsave[..n]);
    mem.write(layout.restore_state, &state)
}

/// Where a restore to `vcpu` can start the guest so that it restores its FPU state
/// itself, or `None` when it cannot (the backend then sets the XSAVE area).
pub(crate) fn entry(layout: &Layout, vcpu: &VcpuState) -> Option<GuestAddr> {
    let user_mode = vcpu.sregs.cs.dpl == 3 && vcpu.sregs.cs.selector & 3 == 3;
    (user_mode && form(vcpu).is_some()).then_some(layout.restore_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequences_decode_as_documented() {
        // Checked against objdump when written; pinned here so a change is deliberate.
        let disp = |c: &[u8], end: usize| {
            let d = u32::from_le_bytes([c[end - 4], c[end - 3], c[end - 2], c[end - 1]]);
            u32::try_from(end).expect("a short sequence").wrapping_add(d)
        };
        let x = code(Form::Xrstor);
        assert_eq!(x.len(), 38);
        assert_eq!(&x[10..14], &[0x48, 0x0f, 0xae, 0x2d], "xrstor64 m (0f ae /5), RIP-relative");
        assert_eq!(disp(&x, 18), 4096, "the XSAVE area is the next page");
        assert_eq!((disp(&x, 25), disp(&x, 32), disp(&x, 38)), (RAX_AT, RDX_AT, RIP_AT));
        let f = code(Form::Fxrstor);
        assert_eq!(&f[..4], &[0x48, 0x0f, 0xae, 0x0d], "fxrstor64 m (0f ae /1), RIP-relative");
        assert_eq!((disp(&f, 8), disp(&f, 14)), (4096, RIP_AT));
        for c in [x, f] {
            assert!(!matches!(c[0], 0xe4..=0xe7 | 0xec..=0xef), "the first byte is no in/out");
        }
    }
}
