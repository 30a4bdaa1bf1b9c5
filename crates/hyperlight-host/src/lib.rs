//! Run untrusted code in KVM micro-VMs that have no guest OS.
//!
//! A host application hands `hyperlight-host` a guest program (a static x86_64 ELF,
//! usually built against the `hyperlight-guest` runtime) and calls functions inside
//! it as if they were local, each sandbox isolated in its own VM:
//!
//! ```no_run
//! use hyperlight_host::SandboxBuilder;
//!
//! // 1. Configure: memory sizes and the host functions the guest may call.
//! let mut sandbox = SandboxBuilder::new()
//!     .heap_size(1 << 20)
//!     .host_function("GetWeekday", || "Monday".to_string())
//!     // 2. Create the VM, load the ELF, run the guest's initialisation.
//!     .build_from_file("guests/target/x86_64-unknown-none/release/hello")?;
//! // 3. Call guest functions with typed arguments and results.
//! let greeting: String = sandbox.call("SayHello", "World".to_string())?;
//! assert_eq!(greeting, "Hello, World! Today is Monday.");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Guest code runs in user mode (CPL3) in 64-bit long mode, entered directly at the
//! ELF's entry point; the host builds its page tables (code read-only, data
//! non-executable, a guard page below the stack, page 0 unmapped) and owns the only
//! supervisor code (exception stubs that report faults). A call is one VM entry and
//! one exit; each host call the guest makes is one more. See the crate's `docs/`
//! folder for the architecture and how to write a guest.
#![deny(missing_docs)]

#[cfg_attr(not(any(feature = "gdb", feature = "crashdump")), allow(dead_code))]
mod debug;
mod error;
mod func;
mod mem;
mod obs;
mod sandbox;
mod vm;

pub use error::{
    BuildError, CallError, Exception, FilePart, GuestFault, MemoryAccessError, MessageKind, ProtocolError, RegionError,
    SnapshotError, SnapshotFileError, SnapshotMismatch, UnexpectedExit, VcpuStateError,
};
pub use func::batch::{Batch, BatchError};
pub use func::caller::{Caller, CallerCallable};
pub use func::guest_function::GuestFunction;
pub use func::host_functions::HostFunctions;
pub use hyperlight_common::LogLevel;
pub use hyperlight_common::{
    ArgumentRefs, Arguments, AsArgument, FunctionError, FunctionOutput, FunctionSignature, ParameterType, ReturnType,
    Value, ValueType,
};
pub use mem::elf::ElfError;
pub use mem::host_region::{HostRegion, RegionAccess};
pub use mem::image_shape::ImageShapeError;
pub use mem::layout::{GuestAddr, LayoutError};
pub use mem::memory::OutOfBounds;
pub use obs::{default_guest_log_level, metric_names, GuestLogLevel};
pub use sandbox::builder::SandboxBuilder;
pub use sandbox::config::{
    SandboxConfig, DEFAULT_HEAP_SIZE, DEFAULT_INIT_TIMEOUT, DEFAULT_INPUT_BUFFER_SIZE, DEFAULT_MAX_CALL_DEPTH,
    DEFAULT_MEMORY_LIMIT, DEFAULT_OUTPUT_BUFFER_SIZE, DEFAULT_STACK_SIZE,
};
pub use sandbox::sandbox::Sandbox;
pub use sandbox::snapshot::Snapshot;
pub use sandbox::snapshot_file::{SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC};
pub use vm::hot::{hot_sandboxes_now, max_hot_sandboxes, set_max_hot_sandboxes};
pub use vm::interrupt::{interrupt_signal, set_interrupt_signal, InterruptHandle, InterruptSignalError};
pub use vm::pool::{set_vm_pool_capacity, vm_pool_len, DEFAULT_VM_POOL_CAPACITY};
pub use vm::{HypervisorError, Registers};

/// For the fuzz targets in `fuzz/` only: the private pieces that decode untrusted
/// guest bytes. Not part of the API; it may change in any release.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::mem::elf::{ElfImage, ElfKind};
    pub use crate::mem::layout::PIE_BASE;

    /// One loadable segment of an image description: link address, size in memory,
    /// writable, executable.
    pub type SegmentParts = (u64, u64, bool, bool);

    /// The layout a snapshot file with this image description, these sizes (heap,
    /// stack, input buffer, output buffer, memory limit) and these host-region
    /// reservations (address, size, executable) gets, derived as loading derives it:
    /// `None` if the description is refused, else the layout's memory size or why it
    /// is refused. [`crate::LayoutError::Invariant`] is a bug.
    pub fn snapshot_layout(
        pie: bool,
        entry: u64,
        segments: &[SegmentParts],
        sizes: [u64; 5],
        regions: &[(u64, u64, bool)],
    ) -> Option<Result<u64, crate::LayoutError>> {
        use crate::mem::image_shape::{ImageShape, SegmentShape};
        let kind = if pie { ElfKind::Pie } else { ElfKind::Exec };
        let segments = segments
            .iter()
            .map(|&(vaddr, mem_size, writable, executable)| SegmentShape { vaddr, mem_size, writable, executable })
            .collect();
        let shape = ImageShape::new(kind, entry, segments).ok()?;
        let [heap_size, stack_size, input_buffer_size, output_buffer_size, memory_limit] = sizes;
        let regions = regions
            .iter()
            .map(|&(addr, size, executable)| crate::mem::host_region::Reservation {
                addr,
                size,
                access: if executable { crate::RegionAccess::ReadExecute } else { crate::RegionAccess::Read },
            })
            .collect();
        let config = crate::mem::layout::MemoryConfig {
            heap_size,
            stack_size,
            input_buffer_size,
            output_buffer_size,
            memory_limit,
            regions,
        };
        Some(crate::mem::layout::Layout::new(&shape, &config).map(|l| l.memory_size))
    }
}

/// For this crate's own integration tests only. Not part of the API; it may change in
/// any release.
#[doc(hidden)]
pub mod testing {
    use crate::{Snapshot, SnapshotFileError};

    /// The snapshot's file bytes with the guest's random seed zeroed: equal for two
    /// snapshots of one state, whatever seed each was given.
    pub fn bytes_without_seed(snapshot: &Snapshot) -> Result<Vec<u8>, SnapshotFileError> {
        snapshot.encode(true)
    }

    /// How many pages the host wrote into the sandbox's memory since it last equalled
    /// its snapshot: what the next restore copies besides the guest's own writes.
    pub fn host_dirty_pages(sandbox: &mut crate::Sandbox) -> usize {
        sandbox.machine().mem().host_dirty_pages()
    }

    /// VM exits the sandbox has made since it was created (each call, host call and
    /// guest log record is one).
    pub fn exits<T>(sandbox: &mut crate::Sandbox<T>) -> u64 {
        sandbox.machine().exits()
    }

    /// Times the sandbox's vCPU entered the guest (`KVM_RUN`s): for a hot sandbox,
    /// fewer than [`exits`] (a virtual exit is not an entry); otherwise the same.
    pub fn vm_entries<T>(sandbox: &mut crate::Sandbox<T>) -> u64 {
        let machine = sandbox.machine();
        machine.vm().vm_entries().unwrap_or_else(|| machine.exits())
    }

    /// The kernel id of the thread the sandbox's vCPU runs on when it is not the
    /// caller's (a hot or seccomp sandbox; `None` otherwise), to read its CPU time or
    /// state from `/proc`.
    pub fn vcpu_thread<T>(sandbox: &mut crate::Sandbox<T>) -> Option<i32> {
        sandbox.machine().vm().vcpu_thread()
    }

    /// The observation of a top-level call of `name` (span, metrics, the guest log
    /// level check) around no call at all: what observability costs per call, for the
    /// overhead bench.
    pub fn observed_nothing<T>(
        sandbox: &mut crate::Sandbox<T>,
        name: &str,
        index: Option<u32>,
    ) -> Result<crate::Value, crate::CallError> {
        sandbox.observed_nothing(name, index)
    }

    /// Seccomp mode's own test: makes the sandbox's vCPU thread call a system call
    /// its filter forbids, which kills the process. Returns `false` (and does
    /// nothing) if the sandbox is not in seccomp mode.
    pub fn make_forbidden_syscall_on_vcpu_thread(sandbox: &crate::Sandbox) -> bool {
        sandbox.make_forbidden_syscall_on_vcpu_thread()
    }
}

/// The README's examples, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}
