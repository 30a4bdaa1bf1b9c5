//! What the host asks of the runtime guest.

use alloc::string::String;
use alloc::vec::Vec;

use hyperlight_common::{Value, ValueType};
use serde::{Deserialize, Serialize};

/// Load a module: validate it, link its imports, instantiate it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadRequest {
    /// [`WASM_ABI_VERSION`](crate::WASM_ABI_VERSION) of the host.
    pub version: u32,
    /// The module's binary (WAT is converted on the host).
    pub module: Vec<u8>,
    /// The functions the host provides, in the order of their import index.
    pub imports: Vec<ImportDecl>,
    /// The most bytes of linear memory each memory of the module may grow to.
    pub max_memory: u64,
    /// The deepest call stack of Wasm functions, in frames.
    pub max_call_depth: u32,
    /// Whether the WASI preview 1 functions are linked.
    pub wasi: bool,
    /// WASI stderr as guest log records: 0 keeps it a stream (sent to the host's
    /// stderr function), else each line is a record at this
    /// [`LogLevel`](hyperlight_common::LogLevel) (1 = error ... 5 = trace).
    pub stderr_log: u32,
}

/// One host function the module may import.
///
/// The Wasm signature follows from the host types: `i32`, `u32` and `bool` are an
/// `i32`; `i64` and `u64` an `i64`; `f32` and `f64` themselves; a `String` or
/// `Vec<u8>` parameter is two `i32`s (pointer, length into the module's memory); a
/// `String` or `Vec<u8>` result is one `i64`, `pointer << 32 | length`, of bytes the
/// runtime wrote through the module's allocator export; `()` is no result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportDecl {
    /// The import's module name (`"env"`).
    pub module: String,
    /// The import's field name.
    pub name: String,
    /// The host function's parameter types.
    pub params: Vec<ValueType>,
    /// The host function's result type (`Unit` for none).
    pub result: ValueType,
}

/// Call an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRequest {
    /// The export's name.
    pub export: String,
    /// The arguments, as the caller gave them.
    pub args: Vec<Value>,
    /// The type the caller wants back; `None`: the export's own (`String` and `Vec<u8>`
    /// need it said, since both are a pointer and a length in Wasm).
    pub result: Option<ValueType>,
    /// Fuel for this call; `None`: no limit.
    pub fuel: Option<u64>,
}

/// Run the module's `_start` as a WASI command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// `argv`, `argv[0]` included.
    pub args: Vec<String>,
    /// The environment, each `NAME=value`.
    pub env: Vec<String>,
    /// Fuel for the run; `None`: no limit.
    pub fuel: Option<u64>,
}
