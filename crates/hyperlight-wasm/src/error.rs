//! The errors of `hyperlight-wasm`: [`WasmBuildError`] for creating a sandbox from a
//! module, [`WasmCallError`] for calls and command runs.
//!
//! Wasm's own failures (traps, link errors, bad arguments) have variants of their
//! own; failures of the VM underneath (a kill, a deadline, the runtime guest running
//! out of heap) are the hyperlight errors they are, as the cause.

use std::path::PathBuf;

use hyperlight_host::{BuildError, CallError, SnapshotError, ValueType};
use hyperlight_wasm_common::{CallFailure, LoadFailure, WasmType};

pub use hyperlight_wasm_common::TrapKind as Trap;

/// Why a Wasm sandbox could not be created.
#[derive(Debug, thiserror::Error)]
pub enum WasmBuildError {
    /// The module file could not be read.
    #[error("cannot read module {path}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bytes are neither a Wasm binary nor valid WAT.
    #[error("the module is not valid WAT")]
    Wat(#[source] wat::Error),
    /// The Wasm runtime guest was not found (`cargo xtask guests` builds it).
    #[error("the Wasm runtime guest was not found (looked at {}); run `cargo xtask guests`, or set HYPERLIGHT_WASM_RUNTIME", display_paths(.searched))]
    RuntimeNotFound {
        /// Where it was looked for, in order.
        searched: Vec<PathBuf>,
    },
    /// The runtime guest was built from another version of the host/runtime contract.
    #[error("the Wasm runtime guest speaks contract version {guest}, this library {host}: rebuild it (`cargo xtask guests`)")]
    RuntimeVersion {
        /// The guest's version.
        guest: u32,
        /// This library's.
        host: u32,
    },
    /// The sandbox for the runtime could not be created.
    #[error("cannot create the sandbox of the Wasm runtime")]
    Sandbox(#[source] BuildError),
    /// The runtime failed while loading the module (ran out of heap, hit the init
    /// deadline, ...).
    #[error("the Wasm runtime failed while loading the module")]
    Runtime(#[source] CallError),
    /// The module failed validation.
    #[error("invalid Wasm module: {message}")]
    Invalid {
        /// The engine's message.
        message: String,
    },
    /// The module imports something the host did not provide.
    #[error("the module imports {kind} {module}::{name}, which the host does not provide")]
    UnknownImport {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// "function", "memory", "table" or "global".
        kind: String,
    },
    /// The module imports a host function with another signature than the host's.
    #[error("the module imports {module}::{name} as {found}, but the host function is {expected}")]
    ImportType {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// The host function's Wasm signature.
        expected: String,
        /// The module's.
        found: String,
    },
    /// Instantiation failed (a segment out of bounds, a memory over the limit).
    #[error("cannot instantiate the module: {message}")]
    Instantiation {
        /// The engine's message.
        message: String,
    },
    /// The module's start function trapped.
    #[error("the module's start function trapped: {trap} ({message})")]
    StartTrapped {
        /// The trap.
        trap: Trap,
        /// The engine's message.
        message: String,
    },
    /// The runtime's answer could not be decoded (a stale or broken runtime guest).
    #[error("the Wasm runtime broke the protocol")]
    Protocol(#[source] RuntimeProtocolError),
}

/// Why a call into a Wasm sandbox (or a command run) failed.
///
/// After a trap or any other Wasm-level failure the sandbox goes on: the next call
/// runs normally, in the instance as the failed call left it (memory, globals).
/// Restore a snapshot for a clean instance. After a failure of the VM underneath
/// ([`WasmCallError::Sandbox`] with a kill, a deadline or a fault) the sandbox is
/// poisoned until a restore, as native sandboxes are.
#[derive(Debug, thiserror::Error)]
pub enum WasmCallError {
    /// The Wasm code trapped.
    #[error("{export} trapped: {trap}")]
    Trap {
        /// The export called (`_start` for a command).
        export: String,
        /// The trap.
        trap: Trap,
        /// The engine's message.
        message: String,
    },
    /// The module has no export of this name.
    #[error("the module exports nothing named {name:?}")]
    NoSuchExport {
        /// The name.
        name: String,
    },
    /// The export is not a function.
    #[error("export {name:?} is not a function")]
    NotAFunction {
        /// The name.
        name: String,
    },
    /// The arguments do not add up to the export's parameters.
    #[error("{export} takes ({}), the arguments are ({})", list(.expected), list(.got))]
    ArgumentCount {
        /// The export.
        export: String,
        /// Its Wasm parameters.
        expected: Vec<WasmType>,
        /// The argument types.
        got: Vec<ValueType>,
    },
    /// An argument does not fit the export's parameter.
    #[error("argument {index} of {export} is {got}, the parameter is {expected}")]
    ArgumentType {
        /// The export.
        export: String,
        /// The argument's position, from 0.
        index: u32,
        /// The Wasm parameter type.
        expected: WasmType,
        /// The argument's type.
        got: ValueType,
    },
    /// The export's results cannot be read as the type asked for.
    #[error("{export} returns ({}), which cannot be read as {}", list(.results), requested.map_or("its own type".to_string(), |t| t.to_string()))]
    ResultType {
        /// The export.
        export: String,
        /// Its Wasm results.
        results: Vec<WasmType>,
        /// The type asked for.
        requested: Option<ValueType>,
    },
    /// A string or bytes had to go into the module, which exports no allocator or no
    /// memory (see the crate docs for the convention).
    #[error("cannot pass {what} into the module: it needs the exports `hl_alloc` and `memory`")]
    NoAllocator {
        /// What needed it.
        what: String,
    },
    /// A string or bytes the module pointed to lies outside its memory.
    #[error("{what} at {ptr:#x}, {len} bytes, lies outside the module's memory")]
    OutOfBounds {
        /// What it was.
        what: String,
        /// The pointer.
        ptr: u32,
        /// The length.
        len: u32,
    },
    /// A string from the module is not UTF-8.
    #[error("{what} is not UTF-8")]
    InvalidUtf8 {
        /// What it was.
        what: String,
    },
    /// A host function the module called returned an error.
    #[error("host function {module}::{name} failed: {message}")]
    HostFunction {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// Its error message.
        message: String,
    },
    /// The module called WASI `proc_exit` inside an export call (in a command run,
    /// an exit is the run's result instead).
    #[error("the module exited with code {code}")]
    Exit {
        /// The exit code.
        code: i32,
    },
    /// The module has no `_start`: it is not a WASI command.
    #[error("the module exports no `_start`: it is not a WASI command")]
    NotACommand,
    /// The VM underneath failed: killed, past its deadline, poisoned, or the runtime
    /// guest itself failed (out of heap, a buffer too small for the arguments).
    #[error("the sandbox failed")]
    Sandbox(#[from] CallError),
    /// The runtime's answer could not be decoded.
    #[error("the Wasm runtime broke the protocol")]
    Protocol(#[source] RuntimeProtocolError),
}

impl WasmCallError {
    /// The trap, if the call trapped.
    pub fn trap(&self) -> Option<&Trap> {
        match self {
            WasmCallError::Trap { trap, .. } => Some(trap),
            _ => None,
        }
    }

    /// The error for the runtime's `failure` of a call of `export`.
    pub(crate) fn from_failure(failure: CallFailure, export: &str) -> WasmCallError {
        match failure {
            CallFailure::Trap { trap, message } => WasmCallError::Trap { export: export.to_string(), trap, message },
            CallFailure::NoSuchExport { name } => WasmCallError::NoSuchExport { name },
            CallFailure::NotAFunction { name } => WasmCallError::NotAFunction { name },
            CallFailure::ArgumentCount { export, expected, got } => {
                WasmCallError::ArgumentCount { export, expected, got }
            }
            CallFailure::ArgumentType { export, index, expected, got } => {
                WasmCallError::ArgumentType { export, index, expected, got }
            }
            CallFailure::ResultType { export, results, requested } => {
                WasmCallError::ResultType { export, results, requested }
            }
            CallFailure::NoAllocator { what } => WasmCallError::NoAllocator { what },
            CallFailure::OutOfBounds { what, ptr, len } => WasmCallError::OutOfBounds { what, ptr, len },
            CallFailure::InvalidUtf8 { what } => WasmCallError::InvalidUtf8 { what },
            CallFailure::HostFunction { module, name, message } => {
                WasmCallError::HostFunction { module, name, message }
            }
            CallFailure::Exit { code } => WasmCallError::Exit { code },
            CallFailure::NotACommand => WasmCallError::NotACommand,
            CallFailure::NotLoaded => WasmCallError::Protocol(RuntimeProtocolError::NotLoaded),
            CallFailure::BadRequest { detail } => WasmCallError::Protocol(RuntimeProtocolError::Rejected { detail }),
        }
    }
}

impl WasmBuildError {
    pub(crate) fn from_failure(failure: LoadFailure) -> WasmBuildError {
        match failure {
            LoadFailure::Version { guest, host } => WasmBuildError::RuntimeVersion { guest, host },
            LoadFailure::BadRequest { detail } => WasmBuildError::Protocol(RuntimeProtocolError::Rejected { detail }),
            LoadFailure::Invalid { message } => WasmBuildError::Invalid { message },
            LoadFailure::UnknownImport { module, name, kind } => WasmBuildError::UnknownImport { module, name, kind },
            LoadFailure::ImportType { module, name, expected, found } => {
                WasmBuildError::ImportType { module, name, expected, found }
            }
            LoadFailure::Instantiation { message } => WasmBuildError::Instantiation { message },
            LoadFailure::StartTrapped { trap, message } => WasmBuildError::StartTrapped { trap, message },
        }
    }
}

/// A record from the runtime guest that this library cannot use (a stale or broken
/// runtime guest).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeProtocolError {
    /// The record does not decode.
    #[error("undecodable record")]
    Decode(#[source] postcard::Error),
    /// The runtime rejected a record from this library.
    #[error("the runtime rejected the request: {detail}")]
    Rejected {
        /// What it said.
        detail: String,
    },
    /// The runtime has no module loaded.
    #[error("the runtime has no module loaded")]
    NotLoaded,
}

fn list<T: std::fmt::Display>(types: &[T]) -> String {
    types.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Why a Wasm snapshot could not be taken or restored, or a sandbox made from one.
#[derive(Debug, thiserror::Error)]
pub enum WasmSnapshotError {
    /// The VM's snapshot failed (poisoned, another guest or layout, memory, hypervisor).
    #[error(transparent)]
    Sandbox(#[from] SnapshotError),
    /// The snapshot is of another Wasm module; the sandbox is unchanged.
    #[error("the snapshot is of another Wasm module")]
    OtherModule,
    /// A host function the module was linked with is missing from the set given, or
    /// has another signature.
    #[error("the module imports {module}::{name}, which the host functions given lack (or type otherwise)")]
    MissingHostFunction {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
    },
}
