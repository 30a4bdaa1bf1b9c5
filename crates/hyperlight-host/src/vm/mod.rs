//! The virtual machine seam: what every hypervisor backend provides.
//!
//! The run loop and the public API use only this module's types; [`kvm`] is the one
//! backend today and the only file that names KVM. A backend provides one VM with one
//! vCPU over one block of guest memory:
//!
//! - [`Backend::run`]: run the vCPU until it exits, and say why ([`VmExit`]);
//! - general and special registers, get and set ([`Registers`], [`SpecialRegisters`]);
//! - [`Backend::set_xcr0`]: the extended state the guest may use (SSE, AVX).

pub(crate) mod cpu;
#[cfg(feature = "gdb")]
pub(crate) mod debug_regs;
#[cfg(test)]
pub(crate) mod fake;
pub(crate) mod fpu_restore;
pub(crate) mod frames;
pub(crate) mod hot;
pub(crate) mod interrupt;
pub(crate) mod kvm;
pub(crate) mod machine;
pub(crate) mod pool;
pub(crate) mod seccomp;
pub(crate) mod stubs;
pub(crate) mod vcpu_thread;

use std::fmt;
use std::io;

use crate::mem::memory::GuestMemory;

/// A hypervisor operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HypervisorError {
    /// The hypervisor device could not be opened.
    #[error("cannot open {device} (is KVM available and accessible?)")]
    Unavailable {
        /// The device path.
        device: &'static str,
        /// Why.
        source: io::Error,
    },
    /// An operation (an ioctl) failed.
    #[error("{operation} failed")]
    Operation {
        /// Which operation (the ioctl's name).
        operation: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// The vCPU stopped for a reason the run loop cannot handle.
    #[error("the vCPU stopped unexpectedly: {0}")]
    UnhandledExit(UnhandledExit),
}

/// A reason the hypervisor gave for stopping the vCPU that the run loop does not
/// handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnhandledExit {
    /// The hypervisor hit an internal error running the guest (for KVM,
    /// `KVM_EXIT_INTERNAL_ERROR` with this suberror).
    InternalError {
        /// The hypervisor's code for it.
        suberror: u32,
    },
    /// The hardware refused to enter the guest (for KVM, `KVM_EXIT_FAIL_ENTRY`).
    EntryFailed {
        /// The hardware's reason code.
        reason: u64,
        /// The host CPU it happened on.
        cpu: u32,
    },
    /// Any other exit, by the hypervisor's number for it (for KVM, `KVM_EXIT_*`).
    Other {
        /// The exit reason number.
        reason: u32,
    },
}

impl fmt::Display for UnhandledExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnhandledExit::InternalError { suberror } => write!(f, "hypervisor internal error, suberror {suberror}"),
            UnhandledExit::EntryFailed { reason, cpu } => write!(f, "entry failed, reason {reason:#x} on cpu {cpu}"),
            UnhandledExit::Other { reason } => write!(f, "exit reason {reason}"),
        }
    }
}

/// Why the vCPU stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VmExit {
    /// `out` to `port` with `data` (the first byte).
    IoOut { port: u16, data: u8 },
    /// `in` from `port` (the guest reads zero).
    IoIn { port: u16 },
    /// An access to guest physical memory that has no backing.
    Mmio { addr: u64 },
    /// `hlt` (only the host's stubs execute it, after reporting).
    Halt,
    /// Triple fault.
    Shutdown,
    /// The run was interrupted (a signal, or an immediate-exit request).
    Interrupted,
    /// Something the hypervisor reports that the run loop does not handle.
    Unhandled(UnhandledExit),
}

/// General-purpose registers, instruction pointer and flags.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Registers {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
}

/// A segment register (the hidden part included).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Segment {
    pub base: u64,
    pub limit: u32,
    pub selector: u16,
    pub type_: u8,
    pub present: bool,
    pub dpl: u8,
    pub db: bool,
    pub s: bool,
    pub l: bool,
    pub g: bool,
    pub avl: bool,
    pub unusable: bool,
}

/// A descriptor-table register (GDTR, IDTR).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DescriptorTable {
    pub base: u64,
    pub limit: u16,
}

/// Segment, control and descriptor-table registers.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpecialRegisters {
    pub cs: Segment,
    pub ds: Segment,
    pub es: Segment,
    pub fs: Segment,
    pub gs: Segment,
    pub ss: Segment,
    pub tr: Segment,
    pub ldt: Segment,
    pub gdt: DescriptorTable,
    pub idt: DescriptorTable,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub cr8: u64,
    pub efer: u64,
    pub apic_base: u64,
}

/// The debug registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct DebugRegisters {
    pub db: [u64; 4],
    pub dr6: u64,
    pub dr7: u64,
}

/// Everything a vCPU is: what a snapshot saves and a restore puts back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VcpuState {
    pub regs: Registers,
    pub sregs: SpecialRegisters,
    /// The XSAVE area (x87, SSE, AVX state), as the backend stores it.
    pub xsave: Vec<u8>,
    pub debug: DebugRegisters,
    pub xcr0: u64,
}

/// One VM with one vCPU, over one block of guest memory.
pub(crate) trait Backend: Send + fmt::Debug {
    /// Runs the vCPU until it exits.
    fn run(&mut self) -> Result<VmExit, HypervisorError>;
    /// The general registers.
    fn registers(&self) -> Result<Registers, HypervisorError>;
    /// Sets the general registers.
    fn set_registers(&mut self, regs: &Registers) -> Result<(), HypervisorError>;
    /// The special registers.
    fn special_registers(&self) -> Result<SpecialRegisters, HypervisorError>;
    /// Sets the special registers.
    fn set_special_registers(&mut self, sregs: &SpecialRegisters) -> Result<(), HypervisorError>;
    /// The XCR0 bits (x87, SSE, AVX...) the backend lets the guest enable; 0 when the
    /// guest cannot use XSAVE.
    fn supported_xcr0(&self) -> u64;
    /// Sets XCR0 (after CR4.OSXSAVE is set).
    fn set_xcr0(&mut self, xcr0: u64) -> Result<(), HypervisorError>;
    /// A byte that makes [`Backend::run`] return [`VmExit::Interrupted`] at once while
    /// it is non-zero (set from another thread, together with a signal to the vCPU
    /// thread, to stop a running guest). Valid as long as the backend lives.
    fn interrupt_flag(&mut self) -> *const std::sync::atomic::AtomicU8;
    /// The whole vCPU state, with any operation the last exit left pending completed
    /// first (so that a VM that never saw that exit resumes the same way).
    fn vcpu_state(&mut self) -> Result<VcpuState, HypervisorError>;
    /// Sets the whole vCPU state.
    fn set_vcpu_state(&mut self, state: &VcpuState) -> Result<(), HypervisorError>;
    /// Sets the whole vCPU state but the XSAVE area, with RIP at `rip` instead of the
    /// state's: for a restore whose guest loads that area itself (`vm/fpu_restore.rs`).
    fn set_vcpu_state_but_fpu(&mut self, state: &VcpuState, rip: u64) -> Result<(), HypervisorError> {
        let mut state = state.clone();
        state.regs.rip = rip;
        self.set_vcpu_state(&state)
    }
    /// The pages (guest physical page numbers) the guest wrote since the last call,
    /// and starts a new log.
    fn dirty_pages(&mut self) -> Result<Vec<u64>, HypervisorError>;
    /// Makes guest physical `[gpa, gpa + size)` the host memory at `host_addr`
    /// (read-only for the guest) as memory slot `slot` (1 and up; 0 is guest memory),
    /// replacing what the slot held.
    ///
    /// # Safety
    ///
    /// `host_addr..host_addr + size` must stay mapped until the slot is unmapped or
    /// the VM is gone.
    unsafe fn map_region(&mut self, slot: u32, gpa: u64, host_addr: u64, size: u64) -> Result<(), HypervisorError>;
    /// Removes memory slot `slot` (a no-op if it holds nothing).
    fn unmap_region(&mut self, slot: u32) -> Result<(), HypervisorError>;
    /// Where the last exit's `out` was, if it may have left a completion that skips
    /// the instruction at that RIP (see `Machine::settle_completion`).
    fn pending_out_rip(&self) -> Option<u64> {
        None
    }
    /// The instruction at [`pending_out_rip`](Backend::pending_out_rip) is not an
    /// `out`, so the hypervisor already moved RIP past the one that exited: nothing it
    /// left pending can act on a RIP the host sets, and no flush is needed for it.
    fn out_completion_is_inert(&mut self) {}
    /// Whether a dropped sandbox may park this VM in the pool for reuse.
    fn poolable(&self) -> bool {
        true
    }
    /// The kernel thread id of the thread that runs the vCPU, if it is not the
    /// caller's (a [`vcpu_thread::ThreadedVm`]): where the interrupt signal must go.
    fn vcpu_thread(&self) -> Option<libc::pid_t> {
        None
    }
    /// Lets the guest stay in the VM between calls, or stops that (hot mode, see
    /// [`hot::HotVm`]; a no-op for a backend that cannot).
    fn set_hot(&mut self, _on: bool) {}
    /// Brings a hot vCPU to the normal stopped state (stopped at a real exit); false
    /// if it had to be forced out, leaving the guest wherever it was.
    fn stop_hot(&mut self) -> bool {
        true
    }
    /// For a wrapper that adds a mode of its own (hot): the backend it wraps, to park
    /// in the VM pool instead (the wrapper is left empty, to be dropped).
    fn take_pooled(&mut self) -> Option<Box<dyn Backend>> {
        None
    }
    /// How many times the vCPU entered the guest, if the backend counts them apart
    /// from the run loop's exits (a hot backend, whose virtual exits are not entries).
    fn vm_entries(&self) -> Option<u64> {
        None
    }
    /// Whether a run may also happen on the caller's thread rather than
    /// [`vcpu_thread`](Backend::vcpu_thread)'s (a hot backend that found no place
    /// among the spinning vCPUs): the interrupt signal then goes to both.
    fn runs_on_either_thread(&self) -> bool {
        false
    }
    /// This backend as a [`vcpu_thread::ThreadedVm`], if it is one.
    fn as_threaded(&self) -> Option<&vcpu_thread::ThreadedVm> {
        None
    }

    // --- Debugger support (feature `gdb`; see `crate::debug`). A
    // backend that lacks a part says so through the default: unsupported.
    /// The x87 and SSE registers.
    #[cfg(feature = "gdb")]
    fn fpu(&self) -> Result<debug_regs::FpuState, HypervisorError> {
        Err(unsupported("get FPU state"))
    }
    /// Sets the x87 and SSE registers.
    #[cfg(feature = "gdb")]
    fn set_fpu(&mut self, _fpu: &debug_regs::FpuState) -> Result<(), HypervisorError> {
        Err(unsupported("set FPU state"))
    }
    /// The debug registers.
    #[cfg(feature = "gdb")]
    fn debug_registers(&self) -> Result<debug_regs::DebugRegisters, HypervisorError> {
        Err(unsupported("get debug registers"))
    }
    /// Sets the debug registers.
    #[cfg(feature = "gdb")]
    fn set_debug_registers(&mut self, _regs: &debug_regs::DebugRegisters) -> Result<(), HypervisorError> {
        Err(unsupported("set debug registers"))
    }
    /// Whether a breakpoint set in DR0-DR3 raises #DB for the guest's (CPL3) code.
    #[cfg(feature = "gdb")]
    fn hardware_breakpoints_work(&self) -> bool {
        false
    }
    // --- end of debugger support
}

#[cfg(feature = "gdb")]
fn unsupported(operation: &'static str) -> HypervisorError {
    HypervisorError::Operation { operation, source: io::ErrorKind::Unsupported.into() }
}

/// Why a VM could not be created.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CreateError {
    #[error(transparent)]
    Hypervisor(#[from] HypervisorError),
    #[error(transparent)]
    VcpuThread(#[from] vcpu_thread::VcpuThreadError),
}

/// Creates a VM over `mem` with the best backend available on this machine; with
/// `seccomp`, its vCPU runs on a thread of its own under the seccomp filter.
pub(crate) fn create(mem: &GuestMemory, seccomp: bool) -> Result<Box<dyn Backend>, CreateError> {
    let vm: Box<dyn Backend> = Box::new(kvm::KvmVm::new(mem)?);
    Ok(if seccomp { Box::new(on_filtered_thread(vm)?) } else { vm })
}

/// `vm` with its runs on a new thread under the seccomp filter.
pub(crate) fn on_filtered_thread(
    vm: Box<dyn Backend>,
) -> Result<vcpu_thread::ThreadedVm, vcpu_thread::VcpuThreadError> {
    vcpu_thread::ThreadedVm::new(vm, || {
        // Signal masks are inherited: make sure the kill signal reaches this thread.
        let _ = vmm_sys_util::signal::unblock_signal(interrupt::interrupt_signal());
        seccomp::apply()
    })
}
