//! What the runtime guest answers.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use hyperlight_common::{Value, ValueType};
use serde::{Deserialize, Serialize};

/// The answer to a [`LoadRequest`](crate::LoadRequest).
pub type LoadOutcome = Result<ModuleInfo, LoadFailure>;
/// The answer to a [`CallRequest`](crate::CallRequest): the export's result.
pub type CallOutcome = Result<Value, CallFailure>;
/// The answer to a [`RunRequest`](crate::RunRequest): the command's exit code.
pub type RunOutcome = Result<i32, CallFailure>;
/// The host's answer to an import call: its result, or its error message.
pub type ImportOutcome = Result<Value, String>;

/// A Wasm value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WasmType {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `v128`
    V128,
    /// `funcref`
    FuncRef,
    /// `externref`
    ExternRef,
}

impl fmt::Display for WasmType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WasmType::I32 => "i32",
            WasmType::I64 => "i64",
            WasmType::F32 => "f32",
            WasmType::F64 => "f64",
            WasmType::V128 => "v128",
            WasmType::FuncRef => "funcref",
            WasmType::ExternRef => "externref",
        })
    }
}

/// An instantiated module, as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleInfo {
    /// The exported functions.
    pub exports: Vec<ExportInfo>,
    /// Whether it exports `_start` (a WASI command).
    pub command: bool,
    /// The WASI functions it imports that the runtime does not implement: they
    /// return `ENOSYS`.
    pub wasi_unsupported: Vec<String>,
}

/// One exported function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportInfo {
    /// Its name.
    pub name: String,
    /// Its parameter types.
    pub params: Vec<WasmType>,
    /// Its result types.
    pub results: Vec<WasmType>,
}

/// Why a module could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadFailure {
    /// The runtime guest speaks another version of this contract.
    Version {
        /// The guest's version.
        guest: u32,
        /// The host's version.
        host: u32,
    },
    /// The request could not be decoded.
    BadRequest {
        /// What was wrong.
        detail: String,
    },
    /// The module is not valid WebAssembly (or uses a feature the engine lacks).
    Invalid {
        /// The engine's message.
        message: String,
    },
    /// The module imports something nobody provides.
    UnknownImport {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// What kind of import: "function", "memory", "table", "global".
        kind: String,
    },
    /// The module imports a host function with another signature than the host's.
    ImportType {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// The signature the host function has, in Wasm types.
        expected: String,
        /// The signature the module declares.
        found: String,
    },
    /// Instantiation failed (a data or element segment out of bounds, a memory larger
    /// than allowed).
    Instantiation {
        /// The engine's message.
        message: String,
    },
    /// The module's start function trapped.
    StartTrapped {
        /// The trap.
        trap: TrapKind,
        /// The engine's message.
        message: String,
    },
}

/// Why a call (or a command run) failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallFailure {
    /// The request could not be decoded.
    BadRequest {
        /// What was wrong.
        detail: String,
    },
    /// No module is loaded (only if the host skipped the load).
    NotLoaded,
    /// The module has no export of this name.
    NoSuchExport {
        /// The name.
        name: String,
    },
    /// The export is not a function.
    NotAFunction {
        /// The name.
        name: String,
    },
    /// The arguments do not add up to the export's parameters (strings and bytes
    /// count two: pointer and length).
    ArgumentCount {
        /// The export.
        export: String,
        /// Its Wasm parameter types.
        expected: Vec<WasmType>,
        /// The caller's argument types.
        got: Vec<ValueType>,
    },
    /// An argument does not fit the export's parameter.
    ArgumentType {
        /// The export.
        export: String,
        /// Position of the argument, from 0.
        index: u32,
        /// The Wasm parameter type it lands on.
        expected: WasmType,
        /// The caller's type.
        got: ValueType,
    },
    /// The export's results cannot be read as the type the caller asked for.
    ResultType {
        /// The export.
        export: String,
        /// Its Wasm result types.
        results: Vec<WasmType>,
        /// What the caller asked for.
        requested: Option<ValueType>,
    },
    /// A string or bytes had to be written into the module, but it exports no
    /// allocator ([`ALLOC_EXPORT`](crate::ALLOC_EXPORT)) or no memory.
    NoAllocator {
        /// What needed it.
        what: String,
    },
    /// A string or bytes the module pointed to lies outside its memory.
    OutOfBounds {
        /// What it was.
        what: String,
        /// The pointer.
        ptr: u32,
        /// The length.
        len: u32,
    },
    /// A string the module returned or passed is not UTF-8.
    InvalidUtf8 {
        /// What it was.
        what: String,
    },
    /// The Wasm code trapped.
    Trap {
        /// Which trap.
        trap: TrapKind,
        /// The engine's message.
        message: String,
    },
    /// A host function the module imported returned an error.
    HostFunction {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// Its error message.
        message: String,
    },
    /// The module called WASI `proc_exit` during an export call.
    Exit {
        /// The exit code.
        code: i32,
    },
    /// The module exports no `_start` (it is not a WASI command).
    NotACommand,
}

/// A Wasm trap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrapKind {
    /// `unreachable` executed.
    Unreachable,
    /// A load or store outside linear memory.
    MemoryOutOfBounds,
    /// A table access outside the table.
    TableOutOfBounds,
    /// `call_indirect` of an uninitialised table element.
    IndirectCallToNull,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero,
    /// Integer overflow (`i32.div_s` of `MIN` by -1, a trapping truncation).
    IntegerOverflow,
    /// A float to integer conversion of NaN or out of range.
    InvalidConversionToInteger,
    /// The Wasm call stack is exhausted.
    CallStackExhausted,
    /// `call_indirect` with a function of another type.
    IndirectCallTypeMismatch,
    /// The call used up its fuel.
    OutOfFuel {
        /// The fuel it had.
        fuel: u64,
    },
    /// `memory.grow` past the configured maximum of linear memory.
    MemoryLimitReached {
        /// The maximum, in bytes.
        limit: u64,
        /// The size asked for, in bytes.
        requested: u64,
    },
    /// A table grew past its limit.
    GrowthLimited,
    /// The runtime guest's heap could not hold what the module asked for.
    OutOfHeap,
    /// The engine reported a failure that is none of the above (its message says
    /// what).
    Engine,
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrapKind::Unreachable => f.write_str("unreachable executed"),
            TrapKind::MemoryOutOfBounds => f.write_str("out-of-bounds memory access"),
            TrapKind::TableOutOfBounds => f.write_str("out-of-bounds table access"),
            TrapKind::IndirectCallToNull => f.write_str("indirect call to a null table element"),
            TrapKind::IntegerDivisionByZero => f.write_str("integer divide by zero"),
            TrapKind::IntegerOverflow => f.write_str("integer overflow"),
            TrapKind::InvalidConversionToInteger => f.write_str("invalid conversion to integer"),
            TrapKind::CallStackExhausted => f.write_str("call stack exhausted"),
            TrapKind::IndirectCallTypeMismatch => f.write_str("indirect call type mismatch"),
            TrapKind::OutOfFuel { fuel } => write!(f, "out of fuel (the call had {fuel})"),
            TrapKind::MemoryLimitReached { limit, requested } => {
                write!(f, "linear memory limit reached ({requested} bytes asked for, limit {limit})")
            }
            TrapKind::GrowthLimited => f.write_str("table growth limited"),
            TrapKind::OutOfHeap => f.write_str("the runtime's heap is exhausted"),
            TrapKind::Engine => f.write_str("engine failure"),
        }
    }
}
