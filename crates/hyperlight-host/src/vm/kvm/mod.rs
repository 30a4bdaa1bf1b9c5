//! The KVM backend: the only module that names KVM (with `regs.rs`, its registers).
//!
//! One process-wide `/dev/kvm` handle (and its supported CPUID, read once); per
//! sandbox, one VM with one memory slot (all of guest memory) and one vCPU.

use std::io;
use std::sync::OnceLock;

use hyperlight_common::port::ExitPort;
use kvm_bindings::{
    kvm_debugregs, kvm_userspace_memory_region, kvm_xcrs, kvm_xsave, CpuId, KVM_MAX_CPUID_ENTRIES,
    KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY,
};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};

use crate::mem::memory::GuestMemory;
use crate::vm::{
    Backend, DebugRegisters, HypervisorError, Registers, SpecialRegisters, UnhandledExit, VcpuState, VmExit,
};

mod dirty;
mod regs;
use dirty::DirtyLog;
use regs::Synced;

const DEVICE: &str = "/dev/kvm";

/// The process-wide KVM handle and what it supports.
struct KvmSystem {
    kvm: Kvm,
    cpuid: CpuId,
    xcr0: u64,
    /// `KVM_CAP_SYNC_REGS`: the register sets KVM syncs through `kvm_run`.
    sync_caps: u32,
}

/// Opening /dev/kvm once; the error is kept as an errno so it can be reported again.
static SYSTEM: OnceLock<Result<KvmSystem, (&'static str, i32)>> = OnceLock::new();

fn os_error(e: kvm_ioctls::Error) -> io::Error {
    io::Error::from_raw_os_error(e.errno())
}

pub(crate) fn op(operation: &'static str) -> impl Fn(kvm_ioctls::Error) -> HypervisorError {
    move |e| HypervisorError::Operation { operation, source: os_error(e) }
}

fn system() -> Result<&'static KvmSystem, HypervisorError> {
    let s = SYSTEM.get_or_init(|| {
        let kvm = Kvm::new().map_err(|e| ("open", e.errno()))?;
        let cpuid =
            kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map_err(|e| ("KVM_GET_SUPPORTED_CPUID", e.errno()))?;
        let has_xsave = cpuid.as_slice().iter().any(|e| e.function == 1 && e.ecx & (1 << 26) != 0);
        let xcr0 = cpuid
            .as_slice()
            .iter()
            .find(|e| e.function == 0xd && e.index == 0)
            .map(|e| u64::from(e.eax) | (u64::from(e.edx) << 32))
            .unwrap_or(0);
        // x87 and SSE state always, AVX where present; larger states (AVX-512) are not
        // enabled: their save area would make every vCPU state copy bigger.
        let xcr0 = if has_xsave && xcr0 & 3 == 3 { xcr0 & 0x7 } else { 0 };
        let cpuid = guest_cpuid(cpuid.as_slice()).map_err(|_| ("KVM_SET_CPUID2 (filtering)", libc::ENOMEM))?;
        let sync_caps = u32::try_from(kvm.check_extension_int(kvm_ioctls::Cap::SyncRegs)).unwrap_or(0);
        Ok(KvmSystem { kvm, cpuid, xcr0, sync_caps })
    });
    match s {
        Ok(s) => Ok(s),
        Err(("open", errno)) => {
            Err(HypervisorError::Unavailable { device: DEVICE, source: io::Error::from_raw_os_error(*errno) })
        }
        Err((operation, errno)) => {
            Err(HypervisorError::Operation { operation, source: io::Error::from_raw_os_error(*errno) })
        }
    }
}

/// What the guest's CPUID says, where the hypervisor decides (hardware KVM): what
/// KVM supports, less what a guest has no business with. No VMX or SVM (a guest
/// must not think it can nest), no hypervisor-present bit and no hypervisor leaves
/// (0x4000_0000 up: KVM's signature and paravirtual features, which the runtime
/// never uses).
///
/// Under PVM this changes nothing the guest sees: CPUID at CPL3 runs natively there,
/// and the guest reads the host CPU's own values (see docs/architecture.md).
fn guest_cpuid(supported: &[kvm_bindings::kvm_cpuid_entry2]) -> Result<CpuId, vmm_sys_util::fam::Error> {
    const VMX: u32 = 1 << 5; // leaf 1, ECX
    const HYPERVISOR: u32 = 1 << 31; // leaf 1, ECX
    const SVM: u32 = 1 << 2; // leaf 0x8000_0001, ECX
    let entries: Vec<_> = supported
        .iter()
        .filter(|e| !(0x4000_0000..0x5000_0000).contains(&e.function))
        .map(|e| {
            let mut e = *e;
            match e.function {
                1 => e.ecx &= !(VMX | HYPERVISOR),
                0x8000_0001 => e.ecx &= !SVM,
                _ => {}
            }
            e
        })
        .collect();
    CpuId::from_entries(&entries)
}

/// A KVM VM with one vCPU.
#[derive(Debug)]
pub(crate) struct KvmVm {
    // Dropped in this order: the vCPU before its VM.
    vcpu: VcpuFd,
    vm: VmFd,
    xcr0: u64,
    memory_size: usize,
    /// The XCR0 last set. Only the host sets it (XSETBV is privileged: a CPL3 guest
    /// gets #GP), so a restore skips KVM_SET_XCRS when the value is unchanged: each
    /// vCPU ioctl costs a vCPU load and put (several microseconds on PVM).
    xcr0_set: Option<u64>,
    /// The debug registers last set, while nothing can have changed them since. User
    /// code cannot write them (MOV DR is privileged); only a debug exception changes
    /// DR6, and every exception reaches the host through its fault port, which clears
    /// this. So a restore skips KVM_SET_DEBUGREGS when they would not change.
    debug_set: Option<DebugRegisters>,
    /// The last exit was one KVM completes only at the next `KVM_RUN` (an `in`, an
    /// `out`, an MMIO access): the completion writes RAX and moves RIP, and would do
    /// so *after* the host set new registers for the next tenant. See
    /// [`KvmVm::flush_completion`].
    completion_pending: bool,
    /// RIP at the last `out` exit (from the synced registers), while its completion
    /// may be pending: see [`KvmVm::flush_before_rip`].
    exit_rip: Option<u64>,
    /// The machine checked that the instruction at `exit_rip` is no `out`: RIP is
    /// past the one that exited, and its completion cannot act (see
    /// `Backend::out_completion_is_inert`).
    out_inert: bool,
    /// Whether `kvm_run`'s copy of the registers is the vCPU's (see `regs.rs`).
    synced: Synced,
    /// Memory slots of host regions that exist now (slot 0, guest memory, always).
    region_slots: std::collections::BTreeSet<u32>,
    /// Slot 0's dirty log.
    dirty: DirtyLog,
}

impl KvmVm {
    /// Creates a VM whose guest physical memory `[0, mem.size())` is `mem`.
    pub(crate) fn new(mem: &GuestMemory) -> Result<KvmVm, HypervisorError> {
        let sys = system()?;
        let vm = sys.kvm.create_vm().map_err(op("KVM_CREATE_VM"))?;
        let dirty = DirtyLog::enable(&vm);
        // Dirty logging from the start: restore copies back exactly the pages the
        // guest wrote. It costs nothing until the log is read (pages are then
        // write-protected again, and the next write to each faults once).
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: KVM_MEM_LOG_DIRTY_PAGES,
            guest_phys_addr: 0,
            memory_size: mem.size(),
            userspace_addr: mem.host_addr(),
        };
        // SAFETY: the region is the whole mapping owned by `mem`, which outlives this
        // VM: the sandbox drops its VM before its memory (field order), and nothing
        // unmaps it while the VM exists.
        unsafe { vm.set_user_memory_region(region) }.map_err(op("KVM_SET_USER_MEMORY_REGION"))?;
        let mut vcpu = vm.create_vcpu(0).map_err(op("KVM_CREATE_VCPU"))?;
        vcpu.set_cpuid2(&sys.cpuid).map_err(op("KVM_SET_CPUID2"))?;
        let memory_size = usize::try_from(mem.size()).map_err(|_| HypervisorError::Operation {
            operation: "KVM_SET_USER_MEMORY_REGION",
            source: io::Error::from(io::ErrorKind::InvalidInput),
        })?;
        let synced = Synced::enable(&mut vcpu, sys.sync_caps);
        Ok(KvmVm {
            vcpu,
            vm,
            xcr0: sys.xcr0,
            memory_size,
            xcr0_set: None,
            debug_set: None,
            completion_pending: false,
            exit_rip: None,
            out_inert: false,
            synced,
            region_slots: std::collections::BTreeSet::new(),
            dirty,
        })
    }
}

impl KvmVm {
    /// Finishes the operation the last exit left pending, without running a guest
    /// instruction: a `KVM_RUN` with `immediate_exit` set completes pending I/O and
    /// MMIO first and then returns `EINTR` (KVM's API documentation, "immediate_exit").
    ///
    /// Called before the host sets vCPU state (restore, a pooled VM handed out, a
    /// reset after a panic), and at once after an `in` or an MMIO read, which only a
    /// hostile guest does. Without it a guest's `in` on an exit port would be
    /// completed on the next tenant's registers: RAX written and RIP moved past the
    /// first guest's instruction.
    ///
    /// The flag is the one kill uses. A kill landing during the flush is lost, which
    /// is harmless: the flush runs only while the host is between runs of a call that
    /// is ending anyway (with a protocol error or a reset), or between calls, when
    /// no kill applies.
    fn flush_completion(&mut self) -> Result<(), HypervisorError> {
        if !self.completion_pending {
            return Ok(());
        }
        // SAFETY: `interrupt_flag` points into this vCPU's kvm_run mapping, alive as
        // long as `self`.
        let flag = unsafe { &*self.interrupt_flag() };
        let before = flag.swap(1, std::sync::atomic::Ordering::SeqCst);
        let result = self.vcpu.run().map(|_| ());
        flag.store(before, std::sync::atomic::Ordering::SeqCst);
        // Whatever the completion did, read the registers anew.
        self.synced.forget();
        match result {
            Ok(()) => {}
            Err(e) if e.errno() == libc::EINTR => {}
            Err(e) => return Err(op("KVM_RUN (completing pending I/O)")(e)),
        }
        self.completion_pending = false;
        Ok(())
    }

    /// [`Backend::set_vcpu_state`], with the XSAVE area set only if `fpu`, and RIP
    /// at `rip`.
    fn put_vcpu_state(&mut self, state: &VcpuState, fpu: bool, rip: u64) -> Result<(), HypervisorError> {
        let invalid = |operation| HypervisorError::Operation {
            operation,
            source: io::Error::new(io::ErrorKind::InvalidInput, "malformed vCPU state"),
        };
        if state.xsave.len() != 4096 {
            return Err(invalid("KVM_SET_XSAVE"));
        }
        self.flush_before_rip(rip)?;
        self.set_special_registers(&state.sregs)?;
        if state.xcr0 != 0 && self.xcr0_set != Some(state.xcr0) {
            self.set_xcr0(state.xcr0)?;
        }
        if fpu {
            let mut xsave = kvm_xsave::default();
            for (w, b) in xsave.region.iter_mut().zip(state.xsave.chunks_exact(4)) {
                *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            // SAFETY: `xsave` is a plain kvm_xsave of the legacy 4 KiB size, the size
            // KVM_SET_XSAVE reads when no larger XSAVE size was enabled on this VM.
            unsafe { self.vcpu.set_xsave(&xsave) }.map_err(op("KVM_SET_XSAVE"))?;
        }
        let d = kvm_debugregs { db: state.debug.db, dr6: state.debug.dr6, dr7: state.debug.dr7, ..Default::default() };
        if self.debug_set != Some(state.debug) {
            self.debug_set = None;
            self.vcpu.set_debug_regs(&d).map_err(op("KVM_SET_DEBUGREGS"))?;
            self.debug_set = Some(state.debug);
        }
        self.set_registers(&Registers { rip, ..state.regs })
    }

    /// Completes what the last exit left pending before the vCPU gets RIP `rip`, if
    /// the completion could act on it.
    ///
    /// After an `in` or an MMIO access the completion is flushed at the exit. What an
    /// `out` leaves (hardware KVM's fast path) skips the `out` instruction only if RIP
    /// is still where the `out` was: with a new RIP elsewhere it does nothing, and the
    /// flush (a `KVM_RUN`, ~6 us under PVM) is saved. A restore lands on the
    /// snapshot's RIP, which is past the `out` it was taken at; a hostile guest that
    /// exits from the very address a tenant will resume at gets the flush.
    fn flush_before_rip(&mut self, rip: u64) -> Result<(), HypervisorError> {
        match self.exit_rip {
            Some(_) if self.completion_pending && self.out_inert => Ok(()),
            Some(at) if self.completion_pending && at != rip => Ok(()),
            _ => self.flush_completion(),
        }
    }

    /// KVM_RUN, with its exit translated.
    fn run_vcpu(&mut self) -> Result<VmExit, HypervisorError> {
        // This run completes whatever the last exit left pending, on the guest's own
        // state: nothing is pending once it returns, unless its exit says so.
        self.completion_pending = false;
        self.exit_rip = None;
        self.out_inert = false;
        let exit = self.translate_run();
        match &exit {
            Ok(_) => self.synced.after_run(),
            Err(_) => self.synced.forget(),
        }
        if let Ok(VmExit::IoOut { .. } | VmExit::IoIn { .. } | VmExit::Mmio { .. }) = &exit {
            self.completion_pending = true;
        }
        if let Ok(VmExit::IoOut { .. }) = &exit {
            // Only a plain `out` of one byte leaves a completion that looks at RIP;
            // anything else is flushed below or before the next state change.
            let io = self.vcpu.get_kvm_run().__bindgen_anon_1;
            // SAFETY: for KVM_EXIT_IO the kernel fills the `io` member of the exit
            // union; it is plain integers.
            let (size, count) = unsafe { (io.io.size, io.io.count) };
            if size == 1 && count == 1 {
                self.exit_rip = self.synced.registers(&self.vcpu).ok().map(|r| r.rip);
            }
        }
        if let Ok(VmExit::IoIn { .. } | VmExit::Mmio { .. }) = &exit {
            // Only a hostile guest reads a port or unbacked memory: complete it now,
            // on its own state, so that nothing of it outlives this exit.
            self.flush_completion()?;
        }
        exit
    }

    fn translate_run(&mut self) -> Result<VmExit, HypervisorError> {
        match self.vcpu.run() {
            Ok(VcpuExit::IoOut(port, data)) => Ok(VmExit::IoOut { port, data: data.first().copied().unwrap_or(0) }),
            Ok(VcpuExit::IoIn(port, data)) => {
                data.fill(0);
                Ok(VmExit::IoIn { port })
            }
            Ok(VcpuExit::MmioWrite(addr, _)) => Ok(VmExit::Mmio { addr }),
            Ok(VcpuExit::MmioRead(addr, data)) => {
                data.fill(0);
                Ok(VmExit::Mmio { addr })
            }
            Ok(VcpuExit::Hlt) => Ok(VmExit::Halt),
            Ok(VcpuExit::Shutdown) => Ok(VmExit::Shutdown),
            Ok(VcpuExit::Intr) => Ok(VmExit::Interrupted),
            Ok(VcpuExit::InternalError) => {
                let sub = self.vcpu.get_kvm_run().__bindgen_anon_1;
                // SAFETY: for KVM_EXIT_INTERNAL_ERROR the kernel fills the `internal`
                // member of the exit union; it is plain integers.
                let suberror = unsafe { sub.internal.suberror };
                Ok(VmExit::Unhandled(UnhandledExit::InternalError { suberror }))
            }
            Ok(VcpuExit::FailEntry(reason, cpu)) => Ok(VmExit::Unhandled(UnhandledExit::EntryFailed { reason, cpu })),
            Ok(_) => Ok(VmExit::Unhandled(UnhandledExit::Other { reason: self.vcpu.get_kvm_run().exit_reason })),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Ok(VmExit::Interrupted),
            Err(e) => Err(op("KVM_RUN")(e)),
        }
    }
}

impl Backend for KvmVm {
    fn run(&mut self) -> Result<VmExit, HypervisorError> {
        let exit = self.run_vcpu();
        match &exit {
            Ok(VmExit::IoOut { port, .. }) if ExitPort::from_port(*port) == Some(ExitPort::Fault) => {
                self.debug_set = None
            }
            Ok(VmExit::IoOut { .. } | VmExit::Interrupted | VmExit::Mmio { .. } | VmExit::IoIn { .. }) => {}
            _ => self.debug_set = None,
        }
        exit
    }

    fn registers(&self) -> Result<Registers, HypervisorError> {
        self.synced.registers(&self.vcpu)
    }

    fn set_registers(&mut self, r: &Registers) -> Result<(), HypervisorError> {
        self.flush_before_rip(r.rip)?;
        self.synced.set_registers(&mut self.vcpu, r)
    }

    fn special_registers(&self) -> Result<SpecialRegisters, HypervisorError> {
        self.synced.special_registers(&self.vcpu)
    }

    /// No flush first: a pending completion depends on RIP alone (CS's base is 0 in
    /// every state the host sets), which this does not change.
    fn set_special_registers(&mut self, s: &SpecialRegisters) -> Result<(), HypervisorError> {
        self.synced.set_special_registers(&mut self.vcpu, s)
    }

    fn pending_out_rip(&self) -> Option<u64> {
        self.exit_rip.filter(|_| self.completion_pending)
    }

    fn out_completion_is_inert(&mut self) {
        self.out_inert = true;
    }

    fn supported_xcr0(&self) -> u64 {
        self.xcr0
    }

    fn interrupt_flag(&mut self) -> *const std::sync::atomic::AtomicU8 {
        // KVM_RUN returns EINTR at once while kvm_run.immediate_exit is non-zero. The
        // byte lives in the vCPU's kvm_run mapping, as long as `self.vcpu`.
        let run = self.vcpu.get_kvm_run();
        std::ptr::addr_of_mut!(run.immediate_exit).cast_const().cast()
    }

    fn vcpu_state(&mut self) -> Result<VcpuState, HypervisorError> {
        // Everything complete and loaded, so that a VM that never saw the last exit
        // resumes from this state the same way.
        if self.completion_pending || Synced::dirty(&mut self.vcpu) {
            self.completion_pending = true;
            self.flush_completion()?;
        }
        let xsave = self.vcpu.get_xsave().map_err(op("KVM_GET_XSAVE"))?;
        let d = self.vcpu.get_debug_regs().map_err(op("KVM_GET_DEBUGREGS"))?;
        let xcrs = self.vcpu.get_xcrs().map_err(op("KVM_GET_XCRS"))?;
        let xcr0 = xcrs.xcrs.iter().take(xcrs.nr_xcrs as usize).find(|x| x.xcr == 0).map_or(0, |x| x.value);
        Ok(VcpuState {
            regs: self.registers()?,
            sregs: self.special_registers()?,
            xsave: xsave.region.iter().flat_map(|w| w.to_le_bytes()).collect(),
            debug: DebugRegisters { db: d.db, dr6: d.dr6, dr7: d.dr7 },
            xcr0,
        })
    }

    fn set_vcpu_state(&mut self, state: &VcpuState) -> Result<(), HypervisorError> {
        self.put_vcpu_state(state, true, state.regs.rip)
    }

    fn set_vcpu_state_but_fpu(&mut self, state: &VcpuState, rip: u64) -> Result<(), HypervisorError> {
        self.put_vcpu_state(state, false, rip)
    }

    unsafe fn map_region(&mut self, slot: u32, gpa: u64, host_addr: u64, size: u64) -> Result<(), HypervisorError> {
        // A slot is replaced by deleting it (size 0) and adding it again.
        self.unmap_region(slot)?;
        let region = kvm_userspace_memory_region {
            slot,
            flags: KVM_MEM_READONLY,
            guest_phys_addr: gpa,
            memory_size: size,
            userspace_addr: host_addr,
        };
        // SAFETY: the caller keeps `host_addr..host_addr + size` mapped until the slot
        // is deleted or the VM is dropped; the slot is read-only, so the guest (and
        // KVM on its behalf) never writes the host memory.
        unsafe { self.vm.set_user_memory_region(region) }.map_err(op("KVM_SET_USER_MEMORY_REGION (host region)"))?;
        self.region_slots.insert(slot);
        Ok(())
    }

    fn unmap_region(&mut self, slot: u32) -> Result<(), HypervisorError> {
        if !self.region_slots.contains(&slot) {
            return Ok(());
        }
        let region =
            kvm_userspace_memory_region { slot, flags: 0, guest_phys_addr: 0, memory_size: 0, userspace_addr: 0 };
        // SAFETY: a slot of size 0 deletes the slot; no host memory is named.
        unsafe { self.vm.set_user_memory_region(region) }.map_err(op("KVM_SET_USER_MEMORY_REGION (delete)"))?;
        self.region_slots.remove(&slot);
        Ok(())
    }

    fn dirty_pages(&mut self) -> Result<Vec<u64>, HypervisorError> {
        self.dirty.read(&self.vm, self.memory_size)
    }

    fn set_xcr0(&mut self, xcr0: u64) -> Result<(), HypervisorError> {
        // XCR0 needs CR4.OSXSAVE, which may be waiting in the synced special registers:
        // load them first.
        if Synced::dirty(&mut self.vcpu) {
            self.completion_pending = true;
            self.flush_completion()?;
        }
        let mut xcrs = [kvm_bindings::kvm_xcr::default(); 16];
        xcrs[0] = kvm_bindings::kvm_xcr { xcr: 0, reserved: 0, value: xcr0 };
        let x = kvm_xcrs { nr_xcrs: 1, flags: 0, xcrs, padding: [0; 16] };
        self.xcr0_set = None;
        self.vcpu.set_xcrs(&x).map_err(op("KVM_SET_XCRS"))?;
        self.xcr0_set = Some(xcr0);
        Ok(())
    }

    // --- Debugger support (feature `gdb`): see `crate::debug`.
    #[cfg(feature = "gdb")]
    fn fpu(&self) -> Result<crate::vm::debug_regs::FpuState, HypervisorError> {
        let f = self.vcpu.get_fpu().map_err(op("KVM_GET_FPU"))?;
        Ok(crate::vm::debug_regs::FpuState {
            st: f.fpr,
            fcw: f.fcw,
            fsw: f.fsw,
            ftw: f.ftwx,
            last_opcode: f.last_opcode,
            last_ip: f.last_ip,
            last_dp: f.last_dp,
            xmm: f.xmm,
            mxcsr: f.mxcsr,
        })
    }

    #[cfg(feature = "gdb")]
    fn set_fpu(&mut self, s: &crate::vm::debug_regs::FpuState) -> Result<(), HypervisorError> {
        let f = kvm_bindings::kvm_fpu {
            fpr: s.st,
            fcw: s.fcw,
            fsw: s.fsw,
            ftwx: s.ftw,
            last_opcode: s.last_opcode,
            last_ip: s.last_ip,
            last_dp: s.last_dp,
            xmm: s.xmm,
            mxcsr: s.mxcsr,
            ..Default::default()
        };
        self.vcpu.set_fpu(&f).map_err(op("KVM_SET_FPU"))
    }

    #[cfg(feature = "gdb")]
    fn debug_registers(&self) -> Result<crate::vm::debug_regs::DebugRegisters, HypervisorError> {
        let d = self.vcpu.get_debug_regs().map_err(op("KVM_GET_DEBUGREGS"))?;
        Ok(crate::vm::debug_regs::DebugRegisters { dr: d.db, dr6: d.dr6, dr7: d.dr7 })
    }

    #[cfg(feature = "gdb")]
    fn set_debug_registers(&mut self, r: &crate::vm::debug_regs::DebugRegisters) -> Result<(), HypervisorError> {
        let d = kvm_bindings::kvm_debugregs { db: r.dr, dr6: r.dr6, dr7: r.dr7, ..Default::default() };
        self.debug_set = None;
        self.vcpu.set_debug_regs(&d).map_err(op("KVM_SET_DEBUGREGS"))
    }

    /// Under PVM (the `kvm_pvm` module: KVM without VT-x/SVM) debug registers never
    /// fire for CPL3 code; on hardware KVM the guest owns them. Override with
    /// HYPERLIGHT_HW_BREAKPOINTS=0 or 1.
    #[cfg(feature = "gdb")]
    fn hardware_breakpoints_work(&self) -> bool {
        match std::env::var("HYPERLIGHT_HW_BREAKPOINTS").as_deref() {
            Ok("1") => true,
            Ok("0") => false,
            _ => !std::path::Path::new("/sys/module/kvm_pvm").exists(),
        }
    }
    // --- end of debugger support
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_cpuid_hides_virtualisation() {
        let entry = |function, ecx| kvm_bindings::kvm_cpuid_entry2 { function, ecx, ..Default::default() };
        let supported =
            [entry(0, 0), entry(1, !0), entry(0x4000_0000, 1), entry(0x4000_0001, 1), entry(0x8000_0001, !0)];
        let cpuid = guest_cpuid(&supported).expect("filtered");
        let e = cpuid.as_slice();
        assert!(e.iter().all(|e| !(0x4000_0000..0x5000_0000).contains(&e.function)), "no hypervisor leaves");
        let ecx = |f: u32| e.iter().find(|e| e.function == f).expect("leaf kept").ecx;
        assert_eq!(ecx(1) & (1 << 5), 0, "no VMX");
        assert_eq!(ecx(1) & (1 << 31), 0, "no hypervisor bit");
        assert_eq!(ecx(0x8000_0001) & (1 << 2), 0, "no SVM");
        assert_eq!(ecx(1) | (1 << 5) | (1 << 31), !0, "everything else stays");
    }

    #[test]
    fn the_vcpu_gets_the_filtered_cpuid() {
        let mem = GuestMemory::new(1 << 20).expect("memory");
        let vm = KvmVm::new(&mem).expect("KVM (these tests need /dev/kvm)");
        let cpuid = vm.vcpu.get_cpuid2(KVM_MAX_CPUID_ENTRIES).expect("KVM_GET_CPUID2");
        let e = cpuid.as_slice();
        assert!(e.iter().all(|e| !(0x4000_0000..0x5000_0000).contains(&e.function)), "no hypervisor leaves");
        if let Some(leaf1) = e.iter().find(|e| e.function == 1) {
            assert_eq!(leaf1.ecx & ((1 << 5) | (1 << 31)), 0);
        }
    }
}
