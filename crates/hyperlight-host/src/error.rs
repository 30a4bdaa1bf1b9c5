//! The errors of the public API: one type per boundary.
//!
//! - [`BuildError`]: creating a sandbox (`SandboxBuilder::build_*`);
//! - [`CallError`]: calling a guest function (`Sandbox::call`);
//! - [`SnapshotError`]: taking, restoring and starting from snapshots;
//! - [`SnapshotFileError`]: saving and loading snapshot files;
//! - [`ElfError`](crate::ElfError), [`LayoutError`](crate::LayoutError),
//!   [`HypervisorError`](crate::HypervisorError), [`ProtocolError`]: their causes.
//!
//! Every variant carries what a user needs to act on it: which function, argument,
//! address or operation. Guest faults carry the exception, RIP, the error code and,
//! for page faults, CR2. An error that has a cause returns it from
//! [`source()`](std::error::Error::source) and does not repeat it in its own message:
//! print the chain (as the `hyperlight` CLI does) to see everything.

use std::fmt;
use std::path::PathBuf;

use hyperlight_common::message::FrameError;
use hyperlight_common::{FunctionSignature, ValueType};

use crate::mem::elf::ElfError;
use crate::mem::layout::LayoutError;
use crate::mem::memory::OutOfBounds;
use crate::vm::interrupt::InterruptSignalError;
use crate::vm::vcpu_thread::VcpuThreadError;
use crate::vm::{HypervisorError, Registers};

/// Why a sandbox could not be created.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The guest binary could not be read.
    #[error("cannot read guest binary {path}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The guest binary is not a loadable static x86_64 executable.
    #[error("invalid guest binary")]
    Elf(#[from] ElfError),
    /// The guest does not fit in memory as configured.
    #[error("invalid memory layout")]
    Layout(#[from] LayoutError),
    /// Guest memory could not be reserved.
    #[error("cannot reserve {size} bytes of guest memory")]
    Memory {
        /// Bytes asked for.
        size: u64,
        /// Why.
        source: std::io::Error,
    },
    /// The hypervisor refused an operation.
    #[error(transparent)]
    Hypervisor(#[from] HypervisorError),
    /// The signal that interrupts vCPUs could not be set up.
    #[error(transparent)]
    InterruptSignal(#[from] InterruptSignalError),
    /// Seccomp mode: the vCPU thread could not be started or filtered.
    #[error(transparent)]
    VcpuThread(#[from] VcpuThreadError),
    /// The guest's initialisation failed (it panicked, faulted, or misbehaved).
    #[error("guest initialisation failed")]
    Init(#[source] Box<CallError>),
    /// The gdb debug port could not be opened, or gdb's connection failed (feature
    /// `gdb`).
    #[cfg(feature = "gdb")]
    #[error("cannot serve gdb on 127.0.0.1:{port}")]
    DebugPort {
        /// The port asked for.
        port: u16,
        /// Why.
        source: std::io::Error,
    },
}

/// Why a call into the guest failed.
///
/// After any of these the sandbox stays usable: the next call starts from the guest's
/// state after its last successful call (after a panic or fault, the vCPU is reset to
/// where the guest waits for calls; memory keeps what the failed call wrote).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The guest has no function of this name.
    #[error("the guest has no function named {name:?}")]
    GuestFunctionNotFound {
        /// The name called.
        name: String,
    },
    /// A typed handle ([`Sandbox::func`](crate::Sandbox::func)) asked for another
    /// signature than the guest's function has.
    #[error("the guest's {found} is not {expected}")]
    SignatureMismatch {
        /// The signature asked for.
        expected: FunctionSignature,
        /// The guest's.
        found: FunctionSignature,
    },
    /// The guest reported no function table (it was not built with the runtime), so
    /// there are no typed handles: call it by name.
    #[error("the guest reported no function table: call its functions by name")]
    NoFunctionTable,
    /// A host function called back into the guest deeper than the sandbox allows
    /// ([`SandboxBuilder::max_call_depth`](crate::SandboxBuilder::max_call_depth)).
    #[error("calls nested deeper than the limit of {limit}")]
    CallDepthExceeded {
        /// The limit.
        limit: usize,
    },
    /// A typed handle was used on a sandbox of another guest program.
    #[error("the handle for {function} belongs to another guest program")]
    ForeignHandle {
        /// The handle's function.
        function: String,
    },
    /// A function was called with the wrong number of arguments.
    #[error("{function} takes {expected} arguments, {got} given")]
    ArgumentCount {
        /// The function.
        function: String,
        /// Parameters it takes.
        expected: u32,
        /// Arguments given.
        got: u32,
    },
    /// An argument has the wrong type.
    #[error("argument {index} of {function} should be {expected}, {got} given")]
    ArgumentType {
        /// The function.
        function: String,
        /// Position of the argument, from 0.
        index: u32,
        /// The parameter's type.
        expected: ValueType,
        /// The argument's type.
        got: ValueType,
    },
    /// The function returned another type than the caller asked for.
    #[error("{function} returned {got}, the caller expects {expected}")]
    ReturnType {
        /// The function.
        function: String,
        /// The type asked for.
        expected: ValueType,
        /// The type returned.
        got: ValueType,
    },
    /// The guest called a host function that is not registered.
    #[error("the guest called host function {name:?}, which is not registered")]
    HostFunctionNotFound {
        /// The name the guest called.
        name: String,
    },
    /// A host function returned an error (and the guest passed it on).
    #[error("host function {name} failed: {message}")]
    HostFunctionFailed {
        /// The host function.
        name: String,
        /// Its error message.
        message: String,
    },
    /// A message did not fit its buffer ("arguments of F" into the input buffer,
    /// "result of F" into the output buffer, or the same for a host function).
    #[error("{what} is {size} bytes, more than the {capacity} bytes of its buffer")]
    TooLarge {
        /// What did not fit.
        what: String,
        /// Its encoded size in bytes.
        size: u64,
        /// The buffer's room in bytes.
        capacity: u64,
    },
    /// A message from the host could not be encoded into its buffer (for a reason
    /// other than its size).
    #[error("cannot encode {what}")]
    Encode {
        /// What the host was writing.
        what: String,
        /// Why.
        source: FrameError,
    },
    /// The guest function returned an error.
    #[error("guest function {function} failed: {message}")]
    GuestFailed {
        /// The function.
        function: String,
        /// Its error message.
        message: String,
    },
    /// The guest panicked.
    #[error("the guest panicked: {message}")]
    GuestPanic {
        /// The panic message, with its location.
        message: String,
    },
    /// The guest ran out of heap.
    #[error("the guest ran out of heap memory allocating {requested} bytes: {message}")]
    GuestOutOfMemory {
        /// Bytes the failed allocation asked for.
        requested: u64,
        /// The guest's message.
        message: String,
    },
    /// The guest aborted on purpose.
    #[error("the guest aborted with code {code}: {message}")]
    GuestAbort {
        /// Its code.
        code: i32,
        /// Its message.
        message: String,
    },
    /// The guest caused a CPU exception.
    #[error("{0}")]
    GuestFault(GuestFault),
    /// The guest overflowed its stack (a page fault on the guard page below it).
    #[error("the guest overflowed its stack at rip {rip:#x} (access to {addr:#x}, in the guard page)")]
    StackOverflow {
        /// The instruction that overflowed.
        rip: u64,
        /// The address it touched.
        addr: u64,
    },
    /// The call was stopped by [`InterruptHandle::kill`](crate::InterruptHandle::kill).
    #[error("the call was cancelled")]
    Cancelled,
    /// The call ran past its deadline and was stopped.
    #[error("the call was stopped after its deadline of {after:?}")]
    Timeout {
        /// The deadline.
        after: std::time::Duration,
    },
    /// The guest's fault could not even be reported (a triple fault).
    #[error("the guest triple-faulted (rip {:#x}, rsp {:#x})", .registers.rip, .registers.rsp)]
    TripleFault {
        /// The vCPU's registers after the shutdown.
        registers: Box<Registers>,
    },
    /// The guest broke the host/guest protocol (garbage in a buffer, a wrong exit).
    #[error("the guest broke the protocol")]
    Protocol(#[source] ProtocolError),
    /// The hypervisor failed.
    #[error(transparent)]
    Hypervisor(#[from] HypervisorError),
    /// An earlier fault, kill, deadline or protocol breach left the guest in an
    /// unknown state: restore a snapshot first.
    #[error("the sandbox is poisoned by an earlier failure: restore a snapshot first")]
    Poisoned,
}

/// Why a host region could not be mapped or unmapped.
#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    /// No region is reserved at this address (see
    /// [`SandboxBuilder::reserve_region`](crate::SandboxBuilder::reserve_region)).
    #[error("no host region is reserved at {addr:#x}")]
    NotReserved {
        /// The address asked for.
        addr: u64,
    },
    /// The region is larger than its reservation.
    #[error("a region of {size} bytes does not fit the {reserved} bytes reserved at {addr:#x}")]
    TooLarge {
        /// The reservation's address.
        addr: u64,
        /// The region's size.
        size: u64,
        /// The reservation's size.
        reserved: u64,
    },
    /// The reservation was made for another access.
    #[error("the region at {addr:#x} is reserved for {reserved:?}, not {asked:?}")]
    Access {
        /// The reservation's address.
        addr: u64,
        /// Its access.
        reserved: crate::mem::host_region::RegionAccess,
        /// The access asked for.
        asked: crate::mem::host_region::RegionAccess,
    },
    /// The hypervisor refused the memory slot.
    #[error(transparent)]
    Hypervisor(#[from] HypervisorError),
    /// The region table in the boot page could not be written (a bug).
    #[error("cannot write the region table")]
    Memory(#[source] OutOfBounds),
}

/// A host function's access to guest memory outside the pages the guest itself may
/// read (or write).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} of {len} bytes at {addr:#x} outside the guest's own {} memory", if *.write { "write" } else { "read" }, if *.write { "writable" } else { "readable" })]
pub struct MemoryAccessError {
    /// First guest address.
    pub addr: u64,
    /// Length.
    pub len: u64,
    /// A write (else a read).
    pub write: bool,
}

impl CallError {
    /// The same error again, for each level of nested calls it ends (an
    /// `io::Error` inside keeps its OS error number or its kind).
    pub(crate) fn duplicate(&self) -> CallError {
        use CallError as E;
        let io = |e: &std::io::Error| match e.raw_os_error() {
            Some(errno) => std::io::Error::from_raw_os_error(errno),
            None => std::io::Error::from(e.kind()),
        };
        match self {
            E::GuestFunctionNotFound { name } => E::GuestFunctionNotFound { name: name.clone() },
            E::SignatureMismatch { expected, found } => {
                E::SignatureMismatch { expected: expected.clone(), found: found.clone() }
            }
            E::NoFunctionTable => E::NoFunctionTable,
            E::CallDepthExceeded { limit } => E::CallDepthExceeded { limit: *limit },
            E::ForeignHandle { function } => E::ForeignHandle { function: function.clone() },
            E::ArgumentCount { function, expected, got } => {
                E::ArgumentCount { function: function.clone(), expected: *expected, got: *got }
            }
            E::ArgumentType { function, index, expected, got } => {
                E::ArgumentType { function: function.clone(), index: *index, expected: *expected, got: *got }
            }
            E::ReturnType { function, expected, got } => {
                E::ReturnType { function: function.clone(), expected: *expected, got: *got }
            }
            E::HostFunctionNotFound { name } => E::HostFunctionNotFound { name: name.clone() },
            E::HostFunctionFailed { name, message } => {
                E::HostFunctionFailed { name: name.clone(), message: message.clone() }
            }
            E::TooLarge { what, size, capacity } => {
                E::TooLarge { what: what.clone(), size: *size, capacity: *capacity }
            }
            E::Encode { what, source } => E::Encode { what: what.clone(), source: source.clone() },
            E::GuestFailed { function, message } => {
                E::GuestFailed { function: function.clone(), message: message.clone() }
            }
            E::GuestPanic { message } => E::GuestPanic { message: message.clone() },
            E::GuestOutOfMemory { requested, message } => {
                E::GuestOutOfMemory { requested: *requested, message: message.clone() }
            }
            E::GuestAbort { code, message } => E::GuestAbort { code: *code, message: message.clone() },
            E::GuestFault(f) => E::GuestFault(f.clone()),
            E::StackOverflow { rip, addr } => E::StackOverflow { rip: *rip, addr: *addr },
            E::Cancelled => E::Cancelled,
            E::Timeout { after } => E::Timeout { after: *after },
            E::TripleFault { registers } => E::TripleFault { registers: registers.clone() },
            E::Protocol(p) => E::Protocol(p.clone()),
            E::Hypervisor(h) => E::Hypervisor(match h {
                HypervisorError::Unavailable { device, source } => {
                    HypervisorError::Unavailable { device, source: io(source) }
                }
                HypervisorError::Operation { operation, source } => {
                    HypervisorError::Operation { operation, source: io(source) }
                }
                HypervisorError::UnhandledExit(u) => HypervisorError::UnhandledExit(*u),
            }),
            E::Poisoned => E::Poisoned,
        }
    }

    /// Whether this failure leaves the guest in an unknown state (the sandbox is then
    /// poisoned until a restore).
    pub fn poisons(&self) -> bool {
        matches!(
            self,
            CallError::GuestFault(_)
                | CallError::StackOverflow { .. }
                | CallError::TripleFault { .. }
                | CallError::Cancelled
                | CallError::Timeout { .. }
                | CallError::Protocol(_)
                | CallError::Hypervisor(_)
        )
    }

    /// Whether the guest stopped in the middle of the call on its own terms (a panic,
    /// running out of memory, an abort): the host puts the vCPU back where the guest
    /// waits for calls, and the sandbox goes on.
    pub(crate) fn resets_vcpu(&self) -> bool {
        matches!(self, CallError::GuestPanic { .. } | CallError::GuestOutOfMemory { .. } | CallError::GuestAbort { .. })
    }
}

/// Why a snapshot could not be taken or restored, or a sandbox made from one.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The sandbox is poisoned: its state is not worth freezing.
    #[error("cannot snapshot a poisoned sandbox: restore it first")]
    Poisoned,
    /// The snapshot belongs to another guest or another memory layout; the sandbox is
    /// unchanged.
    #[error("the snapshot does not fit this sandbox: {0}")]
    Mismatch(SnapshotMismatch),
    /// Guest memory could not be mapped, copied or frozen.
    #[error("guest memory could not be mapped, copied or frozen")]
    Memory(#[source] std::io::Error),
    /// The hypervisor refused an operation.
    #[error(transparent)]
    Hypervisor(#[from] HypervisorError),
    /// The signal that interrupts vCPUs could not be set up (for a new sandbox).
    #[error(transparent)]
    InterruptSignal(#[from] InterruptSignalError),
    /// Seccomp mode: the vCPU thread of a new sandbox could not be started or
    /// filtered.
    #[error(transparent)]
    VcpuThread(#[from] VcpuThreadError),
    /// The debugger could not take its breakpoints out of guest memory or put them
    /// back (feature `gdb`).
    #[error("the debugger's breakpoints could not be moved")]
    Debugger(#[source] Box<CallError>),
}

/// What makes a snapshot unfit for a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMismatch {
    /// The snapshot is of another guest program.
    Guest,
    /// The snapshot has another memory layout (other sizes).
    Layout,
}

impl fmt::Display for SnapshotMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SnapshotMismatch::Guest => "the snapshot is of another guest program",
            SnapshotMismatch::Layout => "the snapshot has another memory layout",
        })
    }
}

/// Why a snapshot file could not be written or read.
///
/// Every check on a file that is read has its own variant: a file is untrusted input,
/// and a refused one never gets as far as guest memory.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotFileError {
    /// Reading or writing the file failed.
    #[error("snapshot file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not start with the snapshot magic.
    #[error("not a hyperlight snapshot file (bad magic)")]
    BadMagic,
    /// The file's format version is not one this library reads.
    #[error("snapshot format version {found} is not supported (this library reads version {supported})")]
    UnsupportedVersion {
        /// The file's version.
        found: u32,
        /// The version this library reads.
        supported: u32,
    },
    /// The file is shorter than its contents say.
    #[error("snapshot file is truncated: {0} missing")]
    Truncated(FilePart),
    /// Bytes follow where the format says a part ends.
    #[error("bytes after the end of the {0}")]
    TrailingBytes(FilePart),
    /// The checksum does not match the contents: the file is damaged.
    #[error("snapshot checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the file is damaged")]
    Checksum {
        /// The checksum in the file.
        stored: u32,
        /// The checksum of the contents.
        computed: u32,
    },
    /// The header cannot be decoded.
    #[error("undecodable snapshot header")]
    Header(#[source] postcard::Error),
    /// The header cannot be encoded (when saving).
    #[error("cannot encode the snapshot header")]
    Encode(#[source] postcard::Error),
    /// The snapshot was made by a guest of another ABI version.
    #[error("snapshot of ABI version {found}, this library speaks ABI version {expected}")]
    AbiMismatch {
        /// The snapshot's ABI version.
        found: u32,
        /// This library's.
        expected: u32,
    },
    /// The snapshot was taken on a CPU of another vendor (its saved CPU state would not
    /// be valid here).
    #[error("snapshot taken on a {found} CPU, this machine has a {expected} CPU")]
    CpuVendorMismatch {
        /// The snapshot's CPU vendor.
        found: String,
        /// This machine's.
        expected: String,
    },
    /// The image description in the file is not one an ELF could give.
    #[error("the snapshot's image description is invalid")]
    Image(#[source] crate::mem::image_shape::ImageShapeError),
    /// The image description and sizes in the file give no valid memory layout.
    #[error("the snapshot's image and sizes give no valid memory layout")]
    Layout(#[source] LayoutError),
    /// The saved vCPU state is not the host's user-mode state for the layout.
    #[error("the saved vCPU state is not the host's user mode: {0}")]
    VcpuState(VcpuStateError),
    /// A run of data pages is out of order or outside guest memory.
    #[error("data run of pages {first:#x}..{end:#x} is out of order or outside guest memory")]
    DataRun {
        /// First page of the run.
        first: u64,
        /// One past its last page.
        end: u64,
    },
    /// Guest memory for the snapshot could not be reserved, mapped or frozen.
    #[error("guest memory for the snapshot could not be set up")]
    Memory(#[source] std::io::Error),
    /// A write into the snapshot's guest memory fell outside it (the layout was
    /// checked, so this is a bug).
    #[error("snapshot data outside guest memory")]
    OutOfBounds(#[source] OutOfBounds),
}

/// A part of a snapshot file (see [`SnapshotFileError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilePart {
    /// The magic number.
    Magic,
    /// The format version.
    Version,
    /// The header length.
    HeaderLength,
    /// The file length.
    FileLength,
    /// The header.
    Header,
    /// The page data.
    PageData,
    /// The checksum.
    Checksum,
    /// The whole file (its length field).
    File,
}

impl fmt::Display for FilePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FilePart::Magic => "magic",
            FilePart::Version => "format version",
            FilePart::HeaderLength => "header length",
            FilePart::FileLength => "file length",
            FilePart::Header => "header",
            FilePart::PageData => "page data",
            FilePart::Checksum => "checksum",
            FilePart::File => "file",
        })
    }
}

/// What is wrong with a saved vCPU state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcpuStateError {
    /// A register the host owns (CS, SS, TR, GDTR, IDTR, CR0, CR3, CR4, EFER) has
    /// another value than the host gives it in this layout.
    HostRegister(&'static str),
    /// A data segment selector is not one user mode can hold.
    Selector {
        /// Which segment register.
        register: &'static str,
        /// Its selector.
        selector: u16,
    },
    /// RFLAGS has bits user mode cannot set.
    Rflags(u64),
    /// The XSAVE area has the wrong size.
    XsaveSize(usize),
    /// XCR0 enables state the host never enables (or lacks x87 and SSE).
    Xcr0(u64),
}

impl fmt::Display for VcpuStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VcpuStateError::HostRegister(r) => write!(f, "{r} is not the host's user-mode value for this layout"),
            VcpuStateError::Selector { register, selector } => {
                write!(f, "{register} selector {selector:#x} is not a user-mode data selector")
            }
            VcpuStateError::Rflags(v) => write!(f, "RFLAGS {v:#x} is not a user-mode value"),
            VcpuStateError::XsaveSize(n) => write!(f, "XSAVE area of {n} bytes (expected 4096)"),
            VcpuStateError::Xcr0(v) => write!(f, "XCR0 {v:#x} enables state beyond x87, SSE and AVX"),
        }
    }
}

/// How the guest broke the host/guest protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A message the guest wrote could not be decoded.
    #[error("malformed {what} in the output buffer")]
    BadMessage {
        /// Which message.
        what: MessageKind,
        /// What was wrong.
        source: FrameError,
    },
    /// A message could not be read out of guest memory at all.
    #[error("{what} outside guest memory")]
    Unreadable {
        /// Which message.
        what: MessageKind,
        /// The access.
        source: OutOfBounds,
    },
    /// The guest said a message from the host was malformed.
    #[error("the guest rejected a message from the host: {message}")]
    Rejected {
        /// What the guest said.
        message: String,
    },
    /// The guest exited in a way the protocol does not allow.
    #[error("unexpected exit: {0}")]
    UnexpectedExit(UnexpectedExit),
    /// The guest answered a batch with results that do not fit it (more results than
    /// calls, an error before the last, or fewer results and no error).
    #[error("the guest answered a batch of {calls} calls with {results} results that do not add up")]
    BadBatch {
        /// Calls in the batch.
        calls: usize,
        /// Results the guest sent.
        results: usize,
    },
    /// The frame a host exception stub left could not be read (the stub's stack
    /// pointer was outside guest memory).
    #[error("the fault frame on the exception stack is unreadable")]
    FaultFrame(#[source] OutOfBounds),
}

/// A message crossing the call buffers (see [`ProtocolError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// The result of a guest function.
    FunctionResult,
    /// A host function call from the guest.
    HostFunctionCall,
    /// The guest's abort record.
    AbortRecord,
    /// The function table the guest reports at init.
    FunctionTable,
    /// The results of a batch of calls.
    BatchResults,
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageKind::FunctionResult => "function result",
            MessageKind::HostFunctionCall => "host function call",
            MessageKind::AbortRecord => "abort record",
            MessageKind::FunctionTable => "function table",
            MessageKind::BatchResults => "batch results",
        })
    }
}

/// An exit the protocol has no use for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnexpectedExit {
    /// `out` to a port that is not an exit port.
    OutToPort(u16),
    /// `in` from a port (the protocol only writes ports).
    InFromPort(u16),
    /// An access to guest physical memory outside guest memory.
    Mmio(u64),
    /// `hlt` outside the host's exception stubs.
    Halt,
}

impl fmt::Display for UnexpectedExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnexpectedExit::OutToPort(p) => write!(f, "out to port {p:#x}"),
            UnexpectedExit::InFromPort(p) => write!(f, "in from port {p:#x}"),
            UnexpectedExit::Mmio(a) => write!(f, "access to guest physical address {a:#x}, outside guest memory"),
            UnexpectedExit::Halt => f.write_str("hlt"),
        }
    }
}

/// A CPU exception in the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFault {
    /// The exception.
    pub exception: Exception,
    /// Address of the faulting instruction (for traps such as int3: the next one).
    pub rip: u64,
    /// The error code the CPU pushed (0 for exceptions without one).
    pub error_code: u64,
    /// For page faults: the address accessed (CR2).
    pub cr2: Option<u64>,
    /// The guest's registers at the fault.
    pub registers: Box<Registers>,
}

impl fmt::Display for GuestFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "guest {} at rip {:#x}", self.exception, self.rip)?;
        if let Some(cr2) = self.cr2 {
            write!(f, " accessing {cr2:#x}")?;
            let e = self.error_code;
            let access = if e & 0x10 != 0 {
                "instruction fetch"
            } else if e & 2 != 0 {
                "write"
            } else {
                "read"
            };
            let why = if e & 1 != 0 { "protection violation" } else { "page not present" };
            write!(f, " ({access}, {why})")?;
        }
        write!(f, ", error code {:#x}", self.error_code)
    }
}

/// An x86_64 exception vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exception {
    /// #DE, vector 0.
    DivideError,
    /// #DB, vector 1.
    Debug,
    /// NMI, vector 2.
    Nmi,
    /// #BP, vector 3 (int3).
    Breakpoint,
    /// #OF, vector 4.
    Overflow,
    /// #BR, vector 5.
    BoundRange,
    /// #UD, vector 6.
    InvalidOpcode,
    /// #NM, vector 7.
    DeviceNotAvailable,
    /// #DF, vector 8.
    DoubleFault,
    /// #TS, vector 10.
    InvalidTss,
    /// #NP, vector 11.
    SegmentNotPresent,
    /// #SS, vector 12.
    StackSegmentFault,
    /// #GP, vector 13.
    GeneralProtection,
    /// #PF, vector 14.
    PageFault,
    /// #MF, vector 16.
    X87FloatingPoint,
    /// #AC, vector 17.
    AlignmentCheck,
    /// #MC, vector 18.
    MachineCheck,
    /// #XM, vector 19.
    SimdFloatingPoint,
    /// #VE, vector 20.
    Virtualization,
    /// #CP, vector 21.
    ControlProtection,
    /// Any other vector.
    Other(u8),
}

impl Exception {
    /// The exception with this vector.
    pub fn from_vector(v: u8) -> Exception {
        match v {
            0 => Exception::DivideError,
            1 => Exception::Debug,
            2 => Exception::Nmi,
            3 => Exception::Breakpoint,
            4 => Exception::Overflow,
            5 => Exception::BoundRange,
            6 => Exception::InvalidOpcode,
            7 => Exception::DeviceNotAvailable,
            8 => Exception::DoubleFault,
            10 => Exception::InvalidTss,
            11 => Exception::SegmentNotPresent,
            12 => Exception::StackSegmentFault,
            13 => Exception::GeneralProtection,
            14 => Exception::PageFault,
            16 => Exception::X87FloatingPoint,
            17 => Exception::AlignmentCheck,
            18 => Exception::MachineCheck,
            19 => Exception::SimdFloatingPoint,
            20 => Exception::Virtualization,
            21 => Exception::ControlProtection,
            v => Exception::Other(v),
        }
    }

    /// The vector number.
    pub fn vector(self) -> u8 {
        match self {
            Exception::DivideError => 0,
            Exception::Debug => 1,
            Exception::Nmi => 2,
            Exception::Breakpoint => 3,
            Exception::Overflow => 4,
            Exception::BoundRange => 5,
            Exception::InvalidOpcode => 6,
            Exception::DeviceNotAvailable => 7,
            Exception::DoubleFault => 8,
            Exception::InvalidTss => 10,
            Exception::SegmentNotPresent => 11,
            Exception::StackSegmentFault => 12,
            Exception::GeneralProtection => 13,
            Exception::PageFault => 14,
            Exception::X87FloatingPoint => 16,
            Exception::AlignmentCheck => 17,
            Exception::MachineCheck => 18,
            Exception::SimdFloatingPoint => 19,
            Exception::Virtualization => 20,
            Exception::ControlProtection => 21,
            Exception::Other(v) => v,
        }
    }
}

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Exception::DivideError => "divide error (#DE)",
            Exception::Debug => "debug exception (#DB)",
            Exception::Nmi => "non-maskable interrupt",
            Exception::Breakpoint => "breakpoint (#BP)",
            Exception::Overflow => "overflow (#OF)",
            Exception::BoundRange => "bound range exceeded (#BR)",
            Exception::InvalidOpcode => "invalid opcode (#UD)",
            Exception::DeviceNotAvailable => "device not available (#NM)",
            Exception::DoubleFault => "double fault (#DF)",
            Exception::InvalidTss => "invalid TSS (#TS)",
            Exception::SegmentNotPresent => "segment not present (#NP)",
            Exception::StackSegmentFault => "stack-segment fault (#SS)",
            Exception::GeneralProtection => "general protection fault (#GP)",
            Exception::PageFault => "page fault (#PF)",
            Exception::X87FloatingPoint => "x87 floating-point exception (#MF)",
            Exception::AlignmentCheck => "alignment check (#AC)",
            Exception::MachineCheck => "machine check (#MC)",
            Exception::SimdFloatingPoint => "SIMD floating-point exception (#XM)",
            Exception::Virtualization => "virtualization exception (#VE)",
            Exception::ControlProtection => "control-protection exception (#CP)",
            Exception::Other(v) => return write!(f, "exception vector {v}"),
        };
        f.write_str(name)
    }
}
