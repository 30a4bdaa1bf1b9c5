//! `Guest`: one function's frozen state (a snapshot taken after init) and the
//! sandboxes made from it, native or Wasm behind one face.

use std::path::Path;
use std::time::Duration;

use hyperlight_host::{
    BuildError, CallError, FunctionSignature, HostFunctions, Sandbox, SandboxBuilder, Snapshot, SnapshotError,
    SnapshotFileError, Value, ValueType,
};
use hyperlight_wasm::{
    WasmBuildError, WasmCallError, WasmSandbox, WasmSandboxBuilder, WasmSnapshot, WasmSnapshotError, WasmType,
};

use crate::config::{FunctionConfig, Kind};
use crate::snapshot_file::{self, DigestError};
use crate::value_json::type_name;

/// What a request's call sends and expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Parameter types, in order.
    pub params: Vec<ValueType>,
    /// Result type.
    pub returns: ValueType,
}

impl Signature {
    /// Whether the function takes one byte string and returns one: then a request
    /// may send the raw bytes and get raw bytes back.
    pub fn bytes_in_bytes_out(&self) -> bool {
        self.params == [ValueType::Bytes] && self.returns == ValueType::Bytes
    }
}

/// Why a function's guest could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The native guest could not be built.
    #[error("cannot build the guest {}", path.display())]
    Build {
        /// The ELF.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: Box<BuildError>,
    },
    /// The Wasm module could not be loaded.
    #[error("cannot load the module {}", path.display())]
    Wasm {
        /// The module.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: Box<WasmBuildError>,
    },
    /// The snapshot file's name does not match its contents.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// The snapshot file is not a snapshot this library loads.
    #[error("cannot load the snapshot file")]
    SnapshotFile(#[from] SnapshotFileError),
    /// Taking the snapshot, or a sandbox from it, failed.
    #[error("cannot snapshot the guest or make a sandbox from it")]
    Snapshot(#[from] SnapshotError),
    /// Taking the Wasm snapshot, or a sandbox from it, failed.
    #[error("cannot snapshot the module or make a sandbox from it")]
    WasmSnapshot(#[from] WasmSnapshotError),
    /// The entry is not a function the guest has.
    #[error("the guest has no function {entry:?} (it has: {available})")]
    NoEntry {
        /// The entry asked for.
        entry: String,
        /// What the guest offers.
        available: String,
    },
    /// The guest reported no function table, so the types must be configured.
    #[error("the guest does not report the signature of {entry:?}: set params and returns")]
    NoSignature {
        /// The entry.
        entry: String,
    },
    /// The configured types disagree with the guest's own.
    #[error("{entry:?} is {found}, the configuration says {configured}")]
    SignatureMismatch {
        /// The entry.
        entry: String,
        /// The guest's.
        found: String,
        /// The configuration's.
        configured: String,
    },
}

/// A frozen function: where every request starts.
#[derive(Debug, Clone)]
pub enum Template {
    /// A native guest's snapshot.
    Native(Snapshot),
    /// A Wasm module's.
    Wasm(WasmSnapshot),
}

/// A sandbox ready for one request.
#[derive(Debug)]
pub enum Instance {
    /// Native.
    Native(Sandbox),
    /// Wasm.
    Wasm(WasmSandbox),
}

/// Why a request's guest call failed.
#[derive(Debug)]
pub enum GuestError {
    /// From a native sandbox.
    Native(CallError),
    /// From a Wasm sandbox.
    Wasm(WasmCallError),
}

impl GuestError {
    /// Whether the call was stopped at its deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(self, GuestError::Native(CallError::Timeout { .. }))
            || matches!(self, GuestError::Wasm(WasmCallError::Sandbox(CallError::Timeout { .. })))
    }
}

/// Builds the function once (or loads its snapshot file), snapshots it right after
/// init, and returns the snapshot, the first sandbox (already in the snapshot's
/// state) and the call's signature.
pub fn prepare(f: &FunctionConfig) -> Result<(Template, Instance, Signature), PrepareError> {
    match f.kind {
        Kind::Native => {
            let mut sandbox = match &f.snapshot {
                Some(file) => {
                    let snapshot = load_snapshot(file)?;
                    Sandbox::from_snapshot(&snapshot, HostFunctions::new())?
                }
                None => native_builder(f)
                    .build_from_file(&f.path)
                    .map_err(|source| PrepareError::Build { path: f.path.clone(), source: Box::new(source) })?,
            };
            let signature = native_signature(f, sandbox.functions())?;
            let snapshot = sandbox.snapshot()?;
            Ok((Template::Native(snapshot), Instance::Native(sandbox), signature))
        }
        Kind::Wasm => {
            let builder = WasmSandbox::builder().call_timeout(f.deadline);
            let builder = set(builder, f.fuel, WasmSandboxBuilder::fuel);
            let builder = set(builder, f.heap_size, WasmSandboxBuilder::heap_size);
            let builder = set(builder, f.stack_size, WasmSandboxBuilder::stack_size);
            let builder = set(builder, f.input_buffer_size, WasmSandboxBuilder::input_buffer_size);
            let builder = set(builder, f.max_memory, WasmSandboxBuilder::max_memory);
            let mut sandbox = builder
                .build_from_file(&f.path)
                .map_err(|source| PrepareError::Wasm { path: f.path.clone(), source: Box::new(source) })?;
            let signature = wasm_signature(f, &sandbox)?;
            let snapshot = sandbox.snapshot()?;
            Ok((Template::Wasm(snapshot), Instance::Wasm(sandbox), signature))
        }
    }
}

/// The builder of a native function's first sandbox.
pub fn native_builder(f: &FunctionConfig) -> SandboxBuilder {
    let builder = SandboxBuilder::new().call_timeout(f.deadline);
    let builder = set(builder, f.heap_size, SandboxBuilder::heap_size);
    let builder = set(builder, f.stack_size, SandboxBuilder::stack_size);
    let builder = set(builder, f.input_buffer_size, SandboxBuilder::input_buffer_size);
    set(builder, f.output_buffer_size, SandboxBuilder::output_buffer_size)
}

/// `builder` with `value` set by `setter`, or as it is (the library's default).
fn set<B>(builder: B, value: Option<u64>, setter: impl FnOnce(B, u64) -> B) -> B {
    match value {
        Some(v) => setter(builder, v),
        None => builder,
    }
}

/// Reads a snapshot file after checking that its name is its digest.
fn load_snapshot(file: &Path) -> Result<Snapshot, PrepareError> {
    let bytes = snapshot_file::read_verified(file)?;
    Ok(Snapshot::from_bytes(&bytes)?)
}

fn native_signature(f: &FunctionConfig, table: Option<&[FunctionSignature]>) -> Result<Signature, PrepareError> {
    let configured = f.params.clone().zip(f.returns).map(|(params, returns)| Signature { params, returns });
    let Some(table) = table else {
        return configured.ok_or_else(|| PrepareError::NoSignature { entry: f.entry.clone() });
    };
    let Some(found) = table.iter().find(|s| s.name == f.entry) else {
        let available = table.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
        return Err(PrepareError::NoEntry { entry: f.entry.clone(), available });
    };
    let found = Signature { params: found.params.clone(), returns: found.returns };
    check_configured(f, found)
}

fn wasm_signature(f: &FunctionConfig, sandbox: &WasmSandbox) -> Result<Signature, PrepareError> {
    let Some(export) = sandbox.exports().iter().find(|e| e.name == f.entry) else {
        let available = sandbox.exports().iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ");
        return Err(PrepareError::NoEntry { entry: f.entry.clone(), available });
    };
    // A Wasm export's own types are numbers only; strings and bytes (pointer and
    // length) need the configuration to say so.
    let params: Option<Vec<ValueType>> = export.params.iter().map(|&t| wasm_value_type(t)).collect();
    let returns = match export.results[..] {
        [] => Some(ValueType::Unit),
        [t] => wasm_value_type(t),
        _ => None,
    };
    match (f.params.clone(), f.returns, params, returns) {
        (Some(params), Some(returns), _, _) => Ok(Signature { params, returns }),
        (None, None, Some(params), Some(returns)) => Ok(Signature { params, returns }),
        (Some(params), None, _, Some(returns)) => Ok(Signature { params, returns }),
        (None, Some(returns), Some(params), _) => Ok(Signature { params, returns }),
        _ => Err(PrepareError::NoSignature { entry: f.entry.clone() }),
    }
}

fn wasm_value_type(t: WasmType) -> Option<ValueType> {
    match t {
        WasmType::I32 => Some(ValueType::I32),
        WasmType::I64 => Some(ValueType::I64),
        WasmType::F32 => Some(ValueType::F32),
        WasmType::F64 => Some(ValueType::F64),
        _ => None,
    }
}

fn check_configured(f: &FunctionConfig, found: Signature) -> Result<Signature, PrepareError> {
    let params_ok = f.params.as_ref().is_none_or(|p| *p == found.params);
    let returns_ok = f.returns.is_none_or(|r| r == found.returns);
    if params_ok && returns_ok {
        return Ok(found);
    }
    let configured = Signature {
        params: f.params.clone().unwrap_or_else(|| found.params.clone()),
        returns: f.returns.unwrap_or(found.returns),
    };
    Err(PrepareError::SignatureMismatch {
        entry: f.entry.clone(),
        found: describe(&found),
        configured: describe(&configured),
    })
}

/// `(str, i32) -> u64`, with the CLI's type names.
pub fn describe(s: &Signature) -> String {
    let params: Vec<_> = s.params.iter().map(|&t| type_name(t)).collect();
    format!("({}) -> {}", params.join(", "), type_name(s.returns))
}

impl Template {
    /// Another sandbox in the snapshot's state, sharing its pages.
    pub fn instance(&self) -> Result<Instance, PrepareError> {
        Ok(match self {
            Template::Native(s) => Instance::Native(Sandbox::from_snapshot(s, HostFunctions::new())?),
            Template::Wasm(s) => Instance::Wasm(WasmSandbox::from_snapshot(s, s.host_functions().clone())?),
        })
    }
}

impl Instance {
    /// Calls `entry` with `args`, stopped at `deadline`.
    pub fn call(
        &mut self,
        entry: &str,
        args: Vec<Value>,
        returns: ValueType,
        deadline: Duration,
    ) -> Result<Value, GuestError> {
        match self {
            Instance::Native(s) => s.call_values_with_timeout(entry, args, Some(deadline)).map_err(GuestError::Native),
            Instance::Wasm(s) => {
                s.call_values_with_timeout(entry, args, Some(returns), deadline).map_err(GuestError::Wasm)
            }
        }
    }

    /// Back to `template`'s state, whatever the last request did (a fault or a kill
    /// included).
    pub fn restore(&mut self, template: &Template) -> Result<(), PrepareError> {
        match (self, template) {
            (Instance::Native(s), Template::Native(t)) => Ok(s.restore(t)?),
            (Instance::Wasm(s), Template::Wasm(t)) => Ok(s.restore(t)?),
            _ => Err(PrepareError::WasmSnapshot(WasmSnapshotError::OtherModule)),
        }
    }
}
