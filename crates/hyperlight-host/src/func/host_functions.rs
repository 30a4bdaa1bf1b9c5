//! `HostFunctions`: the functions a guest may call, by name.
//!
//! A host function is any closure of up to 12 typed parameters (see
//! [`ParameterType`](hyperlight_common::ParameterType)) returning a
//! [`ReturnType`](hyperlight_common::ReturnType) or a `Result` of one. Before it runs,
//! the arguments the guest sent are checked against its parameters (count, then
//! each type); a mismatch is reported to the guest, never passed on.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::sync::Arc;

use hyperlight_common::{Arguments, Callable, FunctionError, FunctionOutput, Value, ValueType, PRINT_FUNCTION};

type Erased = dyn Fn(Vec<Value>) -> Result<Value, FunctionError> + Send + Sync;

/// One registered host function.
#[derive(Clone)]
struct HostFunction {
    params: Vec<ValueType>,
    call: Arc<Erased>,
}

/// A set of named host functions.
///
/// Every set starts with [`PRINT_FUNCTION`] (`"HostPrint"`), which writes the guest's
/// `print!` output to the host's stdout; registering another function under that name
/// replaces it.
///
/// ```
/// use hyperlight_host::HostFunctions;
///
/// let mut f = HostFunctions::new();
/// f.register("Add", |a: i32, b: i32| a + b);
/// f.register("Check", |s: String| if s.is_empty() { Err("empty") } else { Ok(s.len() as u64) });
/// assert!(f.contains("Add"));
/// ```
#[derive(Clone)]
pub struct HostFunctions {
    map: HashMap<String, HostFunction>,
}

impl fmt::Debug for HostFunctions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<(&String, &Vec<ValueType>)> = self.map.iter().map(|(k, v)| (k, &v.params)).collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        f.debug_map().entries(names).finish()
    }
}

impl Default for HostFunctions {
    fn default() -> Self {
        HostFunctions::new()
    }
}

impl HostFunctions {
    /// A set with only the default [`PRINT_FUNCTION`].
    pub fn new() -> HostFunctions {
        let mut f = HostFunctions { map: HashMap::new() };
        f.register(PRINT_FUNCTION, |s: String| {
            let mut out = std::io::stdout().lock();
            // The guest cannot act on a failed write to our stdout; dropping the
            // text is the only sensible outcome.
            let _ = out.write_all(s.as_bytes()).and_then(|()| out.flush());
        });
        f
    }

    /// Registers `f` under `name`, replacing any function of that name.
    pub fn register<Args, F>(&mut self, name: &str, f: F)
    where
        Args: Arguments + 'static,
        F: Callable<Args> + Send + Sync + 'static,
        F::Output: FunctionOutput,
        <F::Output as FunctionOutput>::Error: fmt::Display,
    {
        let fname = name.to_string();
        let call = move |values: Vec<Value>| -> Result<Value, FunctionError> {
            let args = Args::from_values(values).map_err(|e| FunctionError::from_arguments(&fname, e))?;
            // A panic must not unwind through the run loop (the guest would be left
            // waiting for this reply): it becomes the host function's error.
            let output = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.call(args))).map_err(|panic| {
                FunctionError::HostFunctionFailed {
                    name: fname.clone(),
                    message: format!("panicked: {}", panic_message(&*panic)),
                }
            })?;
            output
                .into_result()
                .map_err(|e| FunctionError::HostFunctionFailed { name: fname.clone(), message: e.to_string() })
        };
        self.map.insert(name.to_string(), HostFunction { params: Args::types(), call: Arc::new(call) });
    }

    /// Whether a function of this name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The parameter types of the function `name`.
    pub fn parameters(&self, name: &str) -> Option<&[ValueType]> {
        self.map.get(name).map(|f| f.params.as_slice())
    }

    /// Calls `name` with `args` as the guest sent them.
    pub(crate) fn call(&self, name: &str, args: Vec<Value>) -> Result<Value, FunctionError> {
        match self.map.get(name) {
            Some(f) => (f.call)(args),
            None => Err(FunctionError::HostFunctionNotFound { name: name.to_string() }),
        }
    }
}

/// The message of a panic payload (`&str` or `String`, as `panic!` makes them).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_checked_before_running() {
        let mut f = HostFunctions::new();
        f.register("Add", |a: i32, b: i32| a + b);
        f.register("Fail", |m: String| -> Result<(), String> { Err(m) });
        assert_eq!(f.call("Add", vec![Value::I32(2), Value::I32(3)]), Ok(Value::I32(5)));
        assert!(matches!(
            f.call("Add", vec![Value::I32(2)]),
            Err(FunctionError::ArgumentCount { expected: 2, got: 1, .. })
        ));
        assert!(matches!(
            f.call("Add", vec![Value::I32(2), Value::Bool(true)]),
            Err(FunctionError::ArgumentType { index: 1, expected: ValueType::I32, got: ValueType::Bool, .. })
        ));
        assert_eq!(
            f.call("Fail", vec![Value::String("no".into())]),
            Err(FunctionError::HostFunctionFailed { name: "Fail".into(), message: "no".into() })
        );
        assert_eq!(f.call("Nope", vec![]), Err(FunctionError::HostFunctionNotFound { name: "Nope".into() }));
        assert_eq!(f.parameters("Add"), Some(&[ValueType::I32, ValueType::I32][..]));
    }
}
