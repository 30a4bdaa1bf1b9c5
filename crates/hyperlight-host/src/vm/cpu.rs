//! The x86_64 system state the host builds for every guest: GDT, TSS (with the I/O
//! permission bitmap), IDT, and the vCPU's initial registers.
//!
//! The guest starts directly in 64-bit long mode at CPL3 (no firmware, no real-mode
//! trampoline): the host loads every segment, control and descriptor-table register
//! itself. The only CPL0 code is the exception stubs ([`crate::vm::stubs`]); all system
//! pages are supervisor-only, so the guest cannot change them.

use hyperlight_common::port::ExitPort;

use crate::error::VcpuStateError;
use crate::mem::layout::Layout;
use crate::mem::memory::{GuestMemory, OutOfBounds};
use crate::vm::stubs::{exception_stubs, STUB_COUNT, STUB_SIZE};
use crate::vm::{Backend, DescriptorTable, HypervisorError, Registers, Segment, SpecialRegisters};

/// Kernel code segment (the stubs run here).
const KERNEL_CODE: u16 = 0x08;
/// User 32-bit code segment, RPL 3 (unused, but user mode can load it).
const USER_CODE32: u16 = 0x18 | 3;
/// User data segment, RPL 3.
const USER_DATA: u16 = 0x20 | 3;
/// User 64-bit code segment, RPL 3.
const USER_CODE: u16 = 0x28 | 3;
/// The TSS.
const TSS_SELECTOR: u16 = 0x30;
const GDT_ENTRIES: u16 = 8;
/// The IDT has a gate for each exception vector and no more.
const IDT_LIMIT: u16 = 32 * 16 - 1;
const _: () = assert!(STUB_COUNT == 32);

/// Offset of the I/O permission bitmap in the TSS (right after the 104-byte TSS).
const IOPB_OFFSET: u16 = 104;
/// Ports covered by the bitmap: 0..64; every port above is denied by the limit.
const IOPB_BYTES: u32 = 8;
/// Last byte of the TSS: the bitmap plus the 0xff terminator byte.
const TSS_LIMIT: u32 = IOPB_OFFSET as u32 + IOPB_BYTES;

const CR0_PE: u64 = 1;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
pub(crate) const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
pub(crate) const CR4_OSXSAVE: u64 = 1 << 18;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;
/// Reserved bit 1 only: interrupts off, IOPL 0 (ports are allowed by the bitmap).
const RFLAGS_INITIAL: u64 = 0x2;

/// RFLAGS bits user code may hold: the arithmetic flags, TF, DF, AC, ID, and the
/// reserved bit 1 (never IF or IOPL, which user mode cannot set).
const RFLAGS_USER_BITS: u64 = 0x1 | 0x2 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4_0000 | 0x20_0000;

/// The parts of the special registers user mode can change: the data segment
/// registers (a CPL3 guest may load them with its own selectors, and under PVM write
/// the FS and GS bases) and CR2 (written by its page faults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UserSegments {
    pub ds: Segment,
    pub es: Segment,
    pub fs: Segment,
    pub gs: Segment,
    pub cr2: u64,
}

/// Checks that `rflags` is a value user code can hold.
pub(crate) fn check_user_flags(rflags: u64) -> Result<(), VcpuStateError> {
    if rflags & !RFLAGS_USER_BITS != 0 || rflags & 2 == 0 {
        return Err(VcpuStateError::Rflags(rflags));
    }
    Ok(())
}

/// The special registers of user mode in `layout` with the data segments and CR2 of
/// `user` (from a snapshot file), after checking that user mode could have loaded
/// each segment: a null (unusable) one, or one of the three user descriptors of our
/// GDT, with DPL 3. Everything else is the host's value for the layout, never the
/// file's.
pub(crate) fn user_state(
    layout: &Layout,
    apic_base: u64,
    xsave: bool,
    user: &UserSegments,
) -> Result<SpecialRegisters, VcpuStateError> {
    for (register, s) in [("DS", &user.ds), ("ES", &user.es), ("FS", &user.fs), ("GS", &user.gs)] {
        let null = s.unusable && s.selector & !3 == 0;
        let user_descriptor =
            [USER_DATA, USER_CODE, USER_CODE32].contains(&s.selector) && s.dpl == 3 && s.s && s.present;
        if !(null || user_descriptor) {
            return Err(VcpuStateError::Selector { register, selector: s.selector });
        }
    }
    Ok(SpecialRegisters {
        ds: user.ds,
        es: user.es,
        fs: user.fs,
        gs: user.gs,
        cr2: user.cr2,
        ..user_special_registers(layout, apic_base, xsave)
    })
}

/// Writes the GDT, TSS, IDT and exception stubs into their pages.
pub(crate) fn write_system_pages(layout: &Layout, mem: &mut GuestMemory) -> Result<(), OutOfBounds> {
    let tss = layout.tss.0;
    let gdt: [u64; GDT_ENTRIES as usize] = [
        0,
        0x00af_9b00_0000_ffff, // 0x08 64-bit code, DPL0
        0x00cf_9300_0000_ffff, // 0x10 data, DPL0
        0x00cf_fb00_0000_ffff, // 0x18 32-bit code, DPL3 (unused)
        0x00cf_f300_0000_ffff, // 0x20 data, DPL3
        0x00af_fb00_0000_ffff, // 0x28 64-bit code, DPL3
        u64::from(TSS_LIMIT) | ((tss & 0xff_ffff) << 16) | (0x8b << 40) | (((tss >> 24) & 0xff) << 56),
        tss >> 32,
    ];
    let gdt_bytes: Vec<u8> = gdt.iter().flat_map(|e| e.to_le_bytes()).collect();
    mem.write(layout.gdt, &gdt_bytes)?;

    // 64-bit TSS: RSP0 and IST1 both point at the exception stack; then the I/O
    // permission bitmap that allows exactly our user ports. PVM ignores IOPL, so the
    // bitmap is what limits the guest, here and on hardware KVM alike.
    let mut t = vec![0u8; TSS_LIMIT as usize + 1];
    t[4..12].copy_from_slice(&layout.ist_top.0.to_le_bytes());
    t[36..44].copy_from_slice(&layout.ist_top.0.to_le_bytes());
    t[102..104].copy_from_slice(&IOPB_OFFSET.to_le_bytes());
    let bitmap = &mut t[usize::from(IOPB_OFFSET)..];
    bitmap.fill(0xff);
    for p in ExitPort::user_ports() {
        let port = usize::from(p.port());
        bitmap[port / 8] &= !(1 << (port % 8));
    }
    mem.write(layout.tss, &t)?;

    // IDT: an interrupt gate per exception vector, all on IST1. #BP and #OF are DPL3 so
    // that int3 and into from user mode reach their stub (as in Linux); any other
    // `int n` from user mode is a #GP, and vectors from 32 up lie past the IDT limit.
    let mut idt = vec![0u8; STUB_COUNT * 16];
    for v in 0..STUB_COUNT {
        let handler = layout.stubs.0 + (v * STUB_SIZE) as u64;
        let dpl: u64 = if v == 3 || v == 4 { 3 } else { 0 };
        let lo = (handler & 0xffff)
            | (u64::from(KERNEL_CODE) << 16)
            | (1 << 32) // IST1
            | ((0x8e | (dpl << 5)) << 40)
            | (((handler >> 16) & 0xffff) << 48);
        idt[16 * v..16 * v + 8].copy_from_slice(&lo.to_le_bytes());
        idt[16 * v + 8..16 * v + 16].copy_from_slice(&(handler >> 32).to_le_bytes());
    }
    mem.write(layout.idt, &idt)?;
    mem.write(layout.stubs, &exception_stubs())
}

fn user_segment(selector: u16, code: bool) -> Segment {
    Segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: if code { 11 } else { 3 },
        present: true,
        dpl: 3,
        db: !code,
        s: true,
        l: code,
        g: true,
        avl: false,
        unusable: false,
    }
}

/// The special registers of user mode in a guest laid out as `layout`: the only
/// values the host ever gives them.
fn user_special_registers(layout: &Layout, apic_base: u64, xsave: bool) -> SpecialRegisters {
    let data = user_segment(USER_DATA, false);
    SpecialRegisters {
        cs: user_segment(USER_CODE, true),
        ds: data,
        es: data,
        fs: data,
        gs: data,
        ss: data,
        tr: Segment {
            base: layout.tss.0,
            limit: TSS_LIMIT,
            selector: TSS_SELECTOR,
            type_: 11,
            present: true,
            ..Segment::default()
        },
        ldt: Segment { selector: 0, type_: 2, present: true, limit: 0xffff, ..Segment::default() },
        gdt: DescriptorTable { base: layout.gdt.0, limit: GDT_ENTRIES * 8 - 1 },
        idt: DescriptorTable { base: layout.idt.0, limit: IDT_LIMIT },
        cr0: CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_MP | CR0_PE,
        cr2: 0,
        cr3: layout.page_plan.root().0,
        cr4: CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | if xsave { CR4_OSXSAVE } else { 0 },
        cr8: 0,
        efer: EFER_LME | EFER_LMA | EFER_NXE,
        apic_base,
    }
}

/// Puts the vCPU at the guest's entry point, in user mode, with `rdi` = boot info.
pub(crate) fn enter_user_mode(vm: &mut dyn Backend, layout: &Layout) -> Result<(), HypervisorError> {
    let current = vm.special_registers()?;
    let xcr0 = vm.supported_xcr0();
    let sregs = user_special_registers(layout, current.apic_base, xcr0 != 0);
    vm.set_special_registers(&sregs)?;
    if xcr0 != 0 {
        vm.set_xcr0(xcr0)?;
    }
    vm.set_registers(&Registers {
        rip: layout.entry.0,
        rsp: layout.stack_top.0,
        rdi: layout.boot_info.0,
        rflags: RFLAGS_INITIAL,
        ..Registers::default()
    })
}
