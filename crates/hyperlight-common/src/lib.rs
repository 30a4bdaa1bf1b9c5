//! The contract between the hyperlight host and its guests.
//!
//! Everything both sides must agree on lives here and nowhere else:
//!
//! - [`boot`]: the [`BootInfo`](boot::BootInfo) block the host hands the guest at entry
//!   (where the heap, the stack and the call buffers are);
//! - [`port`]: the I/O ports a guest uses to exit to the host, and what each means;
//! - [`value`]: the value types that cross the boundary ([`Value`], [`ValueType`]) and
//!   their conversion from and to Rust types;
//! - [`func`]: argument lists (tuples) and typed callables, shared by the host's
//!   host-function registry and the guest's guest-function registry;
//! - [`message`]: the wire format of calls, results and aborts inside the call buffers;
//! - [`log`]: guest log levels, and the host function that receives guest log records;
//! - [`hot`]: the hot slot, through which a hot sandbox's calls pass without a VM exit.
//!
//! The crate is `no_std` (with `alloc`) and contains no `unsafe` code. Nothing here
//! depends on a cargo feature: the ABI is the same for every build.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod boot;
pub mod func;
pub mod hot;
pub mod log;
pub mod message;
pub mod port;
pub mod value;

pub use func::{ArgumentRefs, Arguments, Callable, FunctionOutput};
pub use log::{LogLevel, LOG_FUNCTION};
pub use message::{
    AbortKind, FunctionCall, FunctionError, FunctionResult, FunctionSignature, FunctionTable, GuestAbort,
};
pub use value::{AsArgument, ParameterType, ReturnType, Value, ValueRef, ValueType};

/// Version of the host/guest ABI: boot information, ports and message format.
///
/// A guest built against another ABI version is refused at load time.
pub const ABI_VERSION: u32 = 6;

/// Size of a guest page, in bytes.
pub const PAGE_SIZE: u64 = 4096;

/// Name of the host function that receives the guest's `print!` output.
///
/// Every sandbox has one (by default it writes to the host's stdout); an application
/// replaces it by registering its own host function under this name.
pub const PRINT_FUNCTION: &str = "HostPrint";
