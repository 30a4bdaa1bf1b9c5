//! `WasmHostFunctions`: the functions a module may import, by module and name.
//!
//! Each is a typed Rust closure, like a native sandbox's host functions. Its Wasm
//! signature follows from its Rust types (see the crate docs): scalars map to the Wasm
//! type of the same width; a `String` or `Vec<u8>` parameter is a pointer and a length
//! into the module's memory; a `String` or `Vec<u8>` result is one `i64`,
//! `pointer << 32 | length`, of bytes the runtime wrote through the module's
//! allocator. The runtime checks every import of the module against these
//! signatures at load time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use hyperlight_host::{Arguments, ReturnType, Value, ValueType};
use hyperlight_wasm_common::ImportDecl;

type Erased = dyn Fn(Vec<Value>) -> Result<Value, String> + Send + Sync;

/// One host function.
#[derive(Clone)]
pub(crate) struct WasmHostFunction {
    pub params: Vec<ValueType>,
    pub result: ValueType,
    pub call: Arc<Erased>,
}

/// What a host function for Wasm may return: a value (`i32`, `u32`, `i64`, `u64`,
/// `f32`, `f64`, `bool`, `String`, `Vec<u8>`, `()`), or a `Result` of one whose error
/// (any `Display`) fails the Wasm call with
/// [`WasmCallError::HostFunction`](crate::WasmCallError::HostFunction).
pub trait HostResult {
    /// The value's type.
    const TYPE: ValueType;
    /// The value, or the error's message.
    fn into_result(self) -> Result<Value, String>;
}

macro_rules! host_result {
    ($($t:ty),+) => {$(
        impl HostResult for $t {
            const TYPE: ValueType = <$t as ReturnType>::TYPE;
            fn into_result(self) -> Result<Value, String> {
                Ok(self.into_value())
            }
        }
        impl<E: fmt::Display> HostResult for Result<$t, E> {
            const TYPE: ValueType = <$t as ReturnType>::TYPE;
            fn into_result(self) -> Result<Value, String> {
                self.map(ReturnType::into_value).map_err(|e| e.to_string())
            }
        }
    )+};
}

host_result!((), i32, u32, i64, u64, f32, f64, bool, String, Vec<u8>);

/// The host functions a module may import.
///
/// ```
/// use hyperlight_wasm::WasmHostFunctions;
///
/// let mut f = WasmHostFunctions::new();
/// f.register("env", "add", |a: i32, b: i32| a.wrapping_add(b));
/// f.register("env", "greet", |name: String| format!("Hello, {name}!"));
/// f.register("env", "check", |n: u64| if n > 9 { Err("too big") } else { Ok(n * 2) });
/// assert!(f.contains("env", "add"));
/// ```
#[derive(Clone, Default)]
pub struct WasmHostFunctions {
    map: BTreeMap<(String, String), WasmHostFunction>,
}

impl fmt::Debug for WasmHostFunctions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.map.iter().map(|((m, n), h)| (format!("{m}::{n}"), (&h.params, h.result)))).finish()
    }
}

impl WasmHostFunctions {
    /// An empty set.
    pub fn new() -> WasmHostFunctions {
        WasmHostFunctions::default()
    }

    /// Registers `f` as the import `module`::`name`, replacing any function of that
    /// name: a closure of up to 12 typed parameters returning a [`HostResult`].
    pub fn register<Args, F>(&mut self, module: &str, name: &str, f: F)
    where
        Args: Arguments + 'static,
        F: hyperlight_common::Callable<Args> + Send + Sync + 'static,
        F::Output: HostResult,
    {
        let call = move |values: Vec<Value>| -> Result<Value, String> {
            // The runtime converted the Wasm values with our own signature, so this
            // only fails if the guest lies: then the module's call fails, nothing else.
            let args = Args::from_values(values).map_err(|e| format!("bad arguments from the runtime: {e}"))?;
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.call(args)))
                .map_err(|_| "panicked".to_string())?
                .into_result()
        };
        let function = WasmHostFunction { params: Args::types(), result: F::Output::TYPE, call: Arc::new(call) };
        self.map.insert((module.to_string(), name.to_string()), function);
    }

    /// Whether `module`::`name` is registered.
    pub fn contains(&self, module: &str, name: &str) -> bool {
        self.map.contains_key(&(module.to_string(), name.to_string()))
    }

    /// The declarations sent to the runtime, in import-index order.
    pub(crate) fn declarations(&self) -> Vec<ImportDecl> {
        self.map
            .iter()
            .map(|((module, name), f)| ImportDecl {
                module: module.clone(),
                name: name.clone(),
                params: f.params.clone(),
                result: f.result,
            })
            .collect()
    }

    /// The functions for `decls` (the import indices of a loaded module), or the first
    /// declaration this set has no function of that signature for.
    pub(crate) fn table(&self, decls: &[ImportDecl]) -> Result<Vec<WasmHostFunction>, ImportDecl> {
        decls
            .iter()
            .map(|d| match self.map.get(&(d.module.clone(), d.name.clone())) {
                Some(f) if f.params == d.params && f.result == d.result => Ok(f.clone()),
                _ => Err(d.clone()),
            })
            .collect()
    }
}
