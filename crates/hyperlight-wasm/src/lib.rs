//! Run WebAssembly modules in hyperlight micro-VMs.
//!
//! A module (plain `.wasm`, or `.wat` converted here) runs in the wasmi interpreter
//! inside a hyperlight guest of its own, the *Wasm runtime*: isolated twice, by
//! Wasm's checks and by the VM. Snapshots work as for native sandboxes, so a module
//! instantiated once serves every request from a clean copy:
//!
//! ```no_run
//! use hyperlight_wasm::WasmSandbox;
//!
//! // 1. Configure: memory limits, the module's imports, fuel.
//! let mut sandbox = WasmSandbox::builder()
//!     .max_memory(16 << 20)
//!     .fuel(10_000_000)
//!     .host_function("env", "double", |x: i64| x * 2)
//!     // 2. Create the VM, load, validate, link and instantiate the module.
//!     .build_from_bytes(br#"(module
//!         (import "env" "double" (func $double (param i64) (result i64)))
//!         (func (export "quad") (param i64) (result i64)
//!             (call $double (call $double (local.get 0)))))"#)?;
//! // 3. Call exports with typed arguments and results.
//! assert_eq!(sandbox.call::<i64>("quad", 5i64)?, 20);
//! // 4. Freeze the instance; restore it after every request.
//! let clean = sandbox.snapshot()?;
//! sandbox.call::<i64>("quad", 1i64)?;
//! sandbox.restore(&clean)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Values
//!
//! | Rust | Wasm parameter(s) | Wasm result(s) |
//! |---|---|---|
//! | `i32`, `u32`, `bool` | `i32` | `i32` |
//! | `i64`, `u64` | `i64` | `i64` |
//! | `f32`, `f64` | `f32`, `f64` | `f32`, `f64` |
//! | `String`, `Vec<u8>` | `i32 ptr, i32 len` | `i32 ptr, i32 len`, or one `i64` = `ptr << 32 \| len` |
//! | `()` | | none |
//!
//! Strings and bytes live in the module's linear memory (export `memory`). To pass one
//! *in* (an export's argument, an import's result), the runtime calls the module's
//! allocator export `hl_alloc(len: i32) -> i32` and writes the bytes there; after the
//! call it hands the block back through `hl_free(ptr: i32, len: i32)` if the module
//! exports it (else the block stays, and a restore reclaims it). Strings *out* (an
//! export's result, an import's argument) are read from the pointer and length the
//! module gives and checked against its memory; a string result block is handed to
//! `hl_free` too. Strings must be UTF-8.
//!
//! # WASI
//!
//! Modules built for `wasm32-wasip1` run unchanged: WASI preview 1's `args_*`,
//! `environ_*`, `fd_write` (stdout, stderr), `fd_read` (stdin), `fd_fdstat_get`,
//! `fd_close`, `fd_prestat_*` (there are no preopened directories), `clock_time_get`,
//! `clock_res_get`, `random_get`, `sched_yield` and `proc_exit` are implemented;
//! every other WASI function returns `ENOSYS`
//! ([`WasmSandbox::unsupported_wasi_imports`] lists those a module imports). Run a
//! command with [`WasmSandbox::run_command`] (captured output) or
//! [`WasmSandbox::run`] (the builder's stdin, stdout and stderr).
//!
//! # Failures
//!
//! Every trap is a [`WasmCallError::Trap`] naming a [`Trap`]; link and validation
//! errors are [`WasmBuildError`]s naming the import or the engine's message. After a
//! trap the sandbox answers the next call (the instance is as the trapped call left
//! it: restore for a clean one). A kill, a deadline or a fault of the VM poisons it
//! until a restore, exactly as a native sandbox.
//!
//! # Finding the runtime
//!
//! The runtime guest is a file, `wasm-runtime`, built by `cargo xtask guests`. It is
//! looked for, in order: at [`WasmSandboxBuilder::runtime_path`]; in the file named by
//! the environment variable `HYPERLIGHT_WASM_RUNTIME`; as `wasm-runtime` in the
//! directory named by `HYPERLIGHT_GUESTS_DIR`; and where the xtask puts it in this
//! source tree. [`WasmBuildError::RuntimeNotFound`] lists the places it tried.
//!
//! See `docs/writing-a-wasm-guest.md` in the repository for a guide.
#![deny(missing_docs)]

mod builder;
mod error;
mod host_functions;
mod runtime;
mod sandbox;
mod snapshot;
mod wasi;

pub use builder::{
    WasmSandboxBuilder, DEFAULT_MAX_CALL_DEPTH, DEFAULT_MAX_MEMORY, DEFAULT_WASM_HEAP_SIZE, DEFAULT_WASM_STACK_SIZE,
};
pub use error::{RuntimeProtocolError, Trap, WasmBuildError, WasmCallError, WasmSnapshotError};
pub use host_functions::{HostResult, WasmHostFunctions};
pub use runtime::RUNTIME_FILE;
pub use sandbox::{CommandOutput, ExportInfo, WasmSandbox, WasmType};
pub use snapshot::WasmSnapshot;

/// The guide's examples, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/writing-a-wasm-guest.md")]
mod guide {}
