//! The vCPU's general and special registers, through `kvm_run`'s synced copy where
//! KVM offers it (`KVM_CAP_SYNC_REGS`), and the conversions between KVM's structs
//! and ours.
//!
//! Each vCPU ioctl costs a vCPU load and put: about 6 us under PVM, where a restore
//! used three of them (SREGS, XSAVE, REGS). With sync regs, KVM copies the registers
//! into `kvm_run` at every exit, and registers written there (marked in
//! `kvm_dirty_regs`) are loaded at the next `KVM_RUN`, before the guest runs: reads
//! and writes between runs cost no ioctl at all. The copy is the vCPU's only while
//! nothing else changed the vCPU since the last exit; `Synced` says when, and falls
//! back to the ioctls otherwise (and where the capability is missing).

use kvm_bindings::{kvm_dtable, kvm_regs, kvm_segment, kvm_sregs, KVM_SYNC_X86_REGS, KVM_SYNC_X86_SREGS};
use kvm_ioctls::VcpuFd;

use crate::vm::kvm::op;
use crate::vm::{DescriptorTable, HypervisorError, Registers, Segment, SpecialRegisters};

/// Whether `kvm_run`'s copies of the registers are the vCPU's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Synced {
    /// KVM syncs regs and sregs through `kvm_run` (capability present, enabled).
    on: bool,
    regs: bool,
    sregs: bool,
}

impl Synced {
    /// Enables the synced copies on `vcpu` if KVM has them (`caps`: the value of
    /// `KVM_CAP_SYNC_REGS`, the fields KVM can sync).
    pub(crate) fn enable(vcpu: &mut VcpuFd, caps: u32) -> Synced {
        let wanted = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
        let on = caps & wanted == wanted;
        if on {
            vcpu.get_kvm_run().kvm_valid_regs = u64::from(wanted);
        }
        // Not current until the first exit (or write).
        Synced { on, regs: false, sregs: false }
    }

    /// A run ended: KVM stored the registers into `kvm_run` (it does at every exit,
    /// `EINTR` included, while `kvm_valid_regs` is set).
    pub(crate) fn after_run(&mut self) {
        self.regs = self.on;
        self.sregs = self.on;
    }

    /// Something other than our own writes may have changed the vCPU without KVM
    /// storing the copy (a failed run): read through the ioctls until the next exit.
    pub(crate) fn forget(&mut self) {
        self.regs = false;
        self.sregs = false;
    }

    /// Whether writes are pending that the next `KVM_RUN` loads.
    pub(crate) fn dirty(vcpu: &mut VcpuFd) -> bool {
        vcpu.get_kvm_run().kvm_dirty_regs != 0
    }

    /// The general registers.
    pub(crate) fn registers(&self, vcpu: &VcpuFd) -> Result<Registers, HypervisorError> {
        let r = if self.regs { vcpu.sync_regs().regs } else { vcpu.get_regs().map_err(op("KVM_GET_REGS"))? };
        Ok(from_kvm_regs(&r))
    }

    /// Sets the general registers (loaded at the next run, with sync regs).
    pub(crate) fn set_registers(&mut self, vcpu: &mut VcpuFd, r: &Registers) -> Result<(), HypervisorError> {
        let k = to_kvm_regs(r);
        if self.on {
            vcpu.sync_regs_mut().regs = k;
            vcpu.get_kvm_run().kvm_dirty_regs |= u64::from(KVM_SYNC_X86_REGS);
            self.regs = true;
            Ok(())
        } else {
            vcpu.set_regs(&k).map_err(op("KVM_SET_REGS"))
        }
    }

    /// The special registers.
    pub(crate) fn special_registers(&self, vcpu: &VcpuFd) -> Result<SpecialRegisters, HypervisorError> {
        let s = if self.sregs { vcpu.sync_regs().sregs } else { vcpu.get_sregs().map_err(op("KVM_GET_SREGS"))? };
        Ok(from_kvm_sregs(&s))
    }

    /// Sets the special registers (loaded at the next run, with sync regs).
    pub(crate) fn set_special_registers(
        &mut self,
        vcpu: &mut VcpuFd,
        s: &SpecialRegisters,
    ) -> Result<(), HypervisorError> {
        let k = to_kvm_sregs(s);
        if self.on {
            vcpu.sync_regs_mut().sregs = k;
            vcpu.get_kvm_run().kvm_dirty_regs |= u64::from(KVM_SYNC_X86_SREGS);
            self.sregs = true;
            Ok(())
        } else {
            vcpu.set_sregs(&k).map_err(op("KVM_SET_SREGS"))
        }
    }
}

fn to_kvm_regs(r: &Registers) -> kvm_regs {
    kvm_regs {
        rax: r.rax,
        rbx: r.rbx,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        rsp: r.rsp,
        rbp: r.rbp,
        r8: r.r8,
        r9: r.r9,
        r10: r.r10,
        r11: r.r11,
        r12: r.r12,
        r13: r.r13,
        r14: r.r14,
        r15: r.r15,
        rip: r.rip,
        rflags: r.rflags,
    }
}

fn from_kvm_regs(r: &kvm_regs) -> Registers {
    Registers {
        rax: r.rax,
        rbx: r.rbx,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        rsp: r.rsp,
        rbp: r.rbp,
        r8: r.r8,
        r9: r.r9,
        r10: r.r10,
        r11: r.r11,
        r12: r.r12,
        r13: r.r13,
        r14: r.r14,
        r15: r.r15,
        rip: r.rip,
        rflags: r.rflags,
    }
}

fn to_kvm_sregs(s: &SpecialRegisters) -> kvm_sregs {
    kvm_sregs {
        cs: to_kvm_segment(&s.cs),
        ds: to_kvm_segment(&s.ds),
        es: to_kvm_segment(&s.es),
        fs: to_kvm_segment(&s.fs),
        gs: to_kvm_segment(&s.gs),
        ss: to_kvm_segment(&s.ss),
        tr: to_kvm_segment(&s.tr),
        ldt: to_kvm_segment(&s.ldt),
        gdt: to_kvm_dtable(&s.gdt),
        idt: to_kvm_dtable(&s.idt),
        cr0: s.cr0,
        cr2: s.cr2,
        cr3: s.cr3,
        cr4: s.cr4,
        cr8: s.cr8,
        efer: s.efer,
        apic_base: s.apic_base,
        interrupt_bitmap: [0; 4],
    }
}

fn from_kvm_sregs(s: &kvm_sregs) -> SpecialRegisters {
    SpecialRegisters {
        cs: from_kvm_segment(&s.cs),
        ds: from_kvm_segment(&s.ds),
        es: from_kvm_segment(&s.es),
        fs: from_kvm_segment(&s.fs),
        gs: from_kvm_segment(&s.gs),
        ss: from_kvm_segment(&s.ss),
        tr: from_kvm_segment(&s.tr),
        ldt: from_kvm_segment(&s.ldt),
        gdt: DescriptorTable { base: s.gdt.base, limit: s.gdt.limit },
        idt: DescriptorTable { base: s.idt.base, limit: s.idt.limit },
        cr0: s.cr0,
        cr2: s.cr2,
        cr3: s.cr3,
        cr4: s.cr4,
        cr8: s.cr8,
        efer: s.efer,
        apic_base: s.apic_base,
    }
}

fn to_kvm_segment(s: &Segment) -> kvm_segment {
    kvm_segment {
        base: s.base,
        limit: s.limit,
        selector: s.selector,
        type_: s.type_,
        present: u8::from(s.present),
        dpl: s.dpl,
        db: u8::from(s.db),
        s: u8::from(s.s),
        l: u8::from(s.l),
        g: u8::from(s.g),
        avl: u8::from(s.avl),
        unusable: u8::from(s.unusable),
        padding: 0,
    }
}

fn from_kvm_segment(s: &kvm_segment) -> Segment {
    Segment {
        base: s.base,
        limit: s.limit,
        selector: s.selector,
        type_: s.type_,
        present: s.present != 0,
        dpl: s.dpl,
        db: s.db != 0,
        s: s.s != 0,
        l: s.l != 0,
        g: s.g != 0,
        avl: s.avl != 0,
        unusable: s.unusable != 0,
    }
}

fn to_kvm_dtable(t: &DescriptorTable) -> kvm_dtable {
    kvm_dtable { base: t.base, limit: t.limit, padding: [0; 3] }
}
