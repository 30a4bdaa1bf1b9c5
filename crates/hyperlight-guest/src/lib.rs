//! The runtime of hyperlight guests: everything a guest program needs to run in a
//! hyperlight micro-VM, in user mode, with no operating system.
//!
//! A guest program is a `#![no_std]`, `#![no_main]` binary for the
//! `x86_64-unknown-none` target that links this crate. The runtime provides:
//!
//! - the ELF entry point `_start`, which reads the host's
//!   [`BootInfo`](hyperlight_common::boot::BootInfo), sets up the heap and calls the
//!   program's init function (named with [`main!`]);
//! - a global allocator over the heap the host provides (running out of memory
//!   stops the guest with [`AbortKind::OutOfMemory`](hyperlight_common::AbortKind));
//! - [`register_function`] and the [`guest_function`] attribute, which make a Rust
//!   function callable by the host, and the dispatch loop that runs the host's calls;
//! - [`call_host`], which calls a function of the host, and [`print!`]/[`println!`];
//! - logging: the `log` facade (`log::info!`, `log::warn!`, ...) and [`log()`], each
//!   record sent to the host's `tracing` if the host wants its level (a record it
//!   does not want costs no VM exit);
//! - the panic handler and [`abort`], which report to the host why the guest stopped;
//! - [`random`], random numbers that differ in every sandbox and after every restore;
//! - [`regions`], host memory the host mapped into the guest, read in place.
//!
//! # A complete guest
//!
//! `Cargo.toml` (build it with `cargo build --release --target x86_64-unknown-none`
//! and `panic = "abort"` in the profile; `guests/` in the hyperlight repository is a
//! ready workspace):
//!
//! ```toml
//! [dependencies]
//! hyperlight-guest = { path = "../crates/hyperlight-guest" }
//! ```
//!
//! `src/main.rs`:
//!
//! ```ignore
//! // ignore: a guest builds only for x86_64-unknown-none, and doctests run on the host.
//! #![no_std]
//! #![no_main]
//!
//! extern crate alloc;
//!
//! use alloc::format;
//! use alloc::string::String;
//! use hyperlight_guest::{call_host, println, register_function, FunctionError};
//!
//! hyperlight_guest::main!(init);
//!
//! fn init() {
//!     register_function("SayHello", say_hello);
//!     register_function("Add", |a: i32, b: i32| a.wrapping_add(b));
//! }
//!
//! fn say_hello(name: String) -> Result<String, FunctionError> {
//!     let weekday: String = call_host("GetWeekday", ())?;
//!     println!("greeting {name}");
//!     Ok(format!("Hello, {name}! Today is {weekday}."))
//! }
//! ```
//!
//! # How a call runs
//!
//! After init the guest exits through [`ExitPort::Ready`](hyperlight_common::port::ExitPort):
//! it is ready. To call a guest function, the host writes a
//! [`FunctionCall`](hyperlight_common::FunctionCall) frame into the input buffer and
//! resumes the guest; the runtime decodes it, checks the arguments against the
//! function's parameters, runs the function, writes the
//! [`FunctionResult`](hyperlight_common::FunctionResult) frame into the output buffer
//! and exits through `Ready` again. A host call in between is one more exit
//! ([`ExitPort::HostCall`](hyperlight_common::port::ExitPort)), with the call in the
//! output buffer and the reply in the input buffer.
//!
//! # Target
//!
//! `x86_64-unknown-none` is soft-float with SSE off, uses the kernel code model and
//! links static position-independent executables. The host loads the ELF and applies
//! its `R_X86_64_RELATIVE` relocations itself, so the runtime does not relocate
//! itself. Guest code runs at CPL3: privileged instructions (`hlt`, `cli`, writes to
//! control registers) fault.
#![no_std]
#![deny(missing_docs)]

extern crate alloc;

mod abort;
mod buffers;
mod cell;
mod dispatch;
mod entry;
mod exit;
mod function;
mod heap;
mod host;
mod hot;
mod logging;
#[doc(hidden)]
pub mod print;
pub mod random;
mod regions;

pub use abort::abort;
pub use hyperlight_guest_macro::guest_function;

#[doc(hidden)]
pub use linkme as __linkme;

/// What `#[guest_function]` registers: one entry per function, each calling
/// [`register_function`]; the runtime runs them all before the program's init.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static GUEST_FUNCTIONS: [fn()];
pub use entry::boot_info;
pub use function::{register_dynamic, register_function, IntoFunctionResult};
pub use host::{call_host, call_host_values};
pub use hyperlight_common::LOG_FUNCTION;
pub use hyperlight_common::{FunctionError, FunctionSignature, ParameterType, ReturnType, Value, ValueType};
/// Whether the host wants log records at a level now (see [`log()`]).
pub use logging::enabled as log_enabled;
pub use logging::{log, log_at, LogLevel};
pub use regions::{region_at, regions, Region};

/// Names the guest program's init function, which registers its guest functions.
///
/// The runtime calls it once, after the heap is ready and before the first call from
/// the host. It may call the host (for example [`println!`]); if it panics, the host
/// sees the panic as the reason the guest failed to start.
///
/// Use it once, at the top level of the guest binary:
///
/// ```ignore
/// // ignore: runs only inside a guest (x86_64-unknown-none).
/// hyperlight_guest::main!(init);
///
/// fn init() {
///     hyperlight_guest::register_function("Answer", || 42i32);
/// }
/// ```
///
/// It expands to `#[no_mangle] pub extern "Rust" fn hyperlight_main()`, the symbol
/// the runtime's entry calls; a guest may define that function by hand instead. A
/// guest with neither fails to link with "undefined symbol: hyperlight_main".
#[macro_export]
macro_rules! main {
    ($init:path) => {
        /// The init function of this guest, called by the hyperlight runtime.
        #[unsafe(no_mangle)]
        pub extern "Rust" fn hyperlight_main() {
            let init: fn() = $init;
            init()
        }
    };
}
