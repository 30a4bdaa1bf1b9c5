//! The contract between the `hyperlight-wasm` host crate and the Wasm runtime guest
//! (`guests/wasm-runtime`), on top of hyperlight's own guest-call protocol.
//!
//! The runtime guest is an ordinary hyperlight guest. It registers three guest
//! functions, each taking and returning one `Vec<u8>` that holds a postcard-encoded
//! record of this crate:
//!
//! | guest function | argument | result |
//! |---|---|---|
//! | [`LOAD_FUNCTION`] | [`LoadRequest`] | [`LoadOutcome`] |
//! | [`CALL_FUNCTION`] | [`CallRequest`] | [`CallOutcome`] |
//! | [`RUN_FUNCTION`] | [`RunRequest`] | [`RunOutcome`] |
//!
//! and calls these host functions (plain hyperlight host functions, typed):
//!
//! | host function | signature | for |
//! |---|---|---|
//! | [`IMPORT_FUNCTION`] | `(u32 import index, Vec<u8> postcard Vec<Value>) -> Vec<u8> postcard ImportOutcome` | the module's imports |
//! | [`WASI_WRITE_FUNCTION`] | `(u32 fd, Vec<u8> bytes) -> ()` | `fd_write` to stdout (1) and stderr (2) |
//! | [`WASI_READ_FUNCTION`] | `(u32 fd, u32 max) -> Vec<u8>` | `fd_read` of stdin (0); empty at end of input |
//! | [`WASI_CLOCK_FUNCTION`] | `(u32 clock id) -> u64` nanoseconds | `clock_time_get` |
//!
//! WASI's `random_get` needs no host function: the runtime draws from
//! `hyperlight_guest::random`, keyed by the per-sandbox seed the host renews at every
//! restore and twin.
//!
//! Every record starts with the version it was made for ([`WASM_ABI_VERSION`]) where
//! a mismatch could go unseen; both sides are built from the same repository, so a
//! mismatch means a stale runtime guest, and is reported as such.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod outcome;
mod request;

pub use outcome::{
    CallFailure, CallOutcome, ExportInfo, ImportOutcome, LoadFailure, LoadOutcome, ModuleInfo, RunOutcome, TrapKind,
    WasmType,
};
pub use request::{CallRequest, ImportDecl, LoadRequest, RunRequest};

/// Version of this contract. The host refuses a runtime guest of another version.
pub const WASM_ABI_VERSION: u32 = 3;

/// Guest function: validate, link and instantiate a module.
pub const LOAD_FUNCTION: &str = "WasmLoad";
/// Guest function: call one export of the instantiated module.
pub const CALL_FUNCTION: &str = "WasmCall";
/// Guest function: run the module's `_start` as a WASI command.
pub const RUN_FUNCTION: &str = "WasmRun";

/// Host function: one import of the module, by its index in [`LoadRequest::imports`].
pub const IMPORT_FUNCTION: &str = "WasmImport";
/// Host function: WASI `fd_write` to fd 1 or 2.
pub const WASI_WRITE_FUNCTION: &str = "WasiWrite";
/// Host function: WASI `fd_read` from fd 0.
pub const WASI_READ_FUNCTION: &str = "WasiRead";
/// Host function: WASI `clock_time_get`, in nanoseconds.
pub const WASI_CLOCK_FUNCTION: &str = "WasiClock";

/// The Wasm module name of WASI preview 1 imports.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// The export a module provides so that the runtime can pass strings and byte
/// arrays into it: `(func (param i32 len) (result i32 ptr))`, returning `len` bytes
/// of its linear memory the runtime may write.
pub const ALLOC_EXPORT: &str = "hl_alloc";
/// The optional export through which the runtime hands back what it allocated with
/// [`ALLOC_EXPORT`] once a call is over: `(func (param i32 ptr) (param i32 len))`.
pub const FREE_EXPORT: &str = "hl_free";
/// The linear memory export the runtime reads strings and bytes from.
pub const MEMORY_EXPORT: &str = "memory";

/// Encodes a record (postcard).
pub fn encode<T: serde::Serialize>(record: &T) -> alloc::vec::Vec<u8> {
    // Serialising into a growable vector fails only on out-of-memory, which aborts
    // the guest or the host process before we could see an error.
    postcard::to_allocvec(record).unwrap_or_default()
}

/// Decodes a record (postcard), checking that it is complete.
pub fn decode<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, postcard::Error> {
    let (value, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(postcard::Error::DeserializeBadEncoding)
    }
}
