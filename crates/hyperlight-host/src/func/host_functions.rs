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

use crate::func::caller::{Caller, CallerCallable};
use crate::obs::{FunctionMetrics, Timer};

type Erased<T> = dyn Fn(&mut Caller<'_, T>, Vec<Value>) -> Result<Value, FunctionError> + Send + Sync;

/// One registered host function.
struct HostFunction<T> {
    params: Vec<ValueType>,
    call: Arc<Erased<T>>,
    /// Its metric keys, built at registration.
    metrics: Arc<FunctionMetrics>,
}

impl<T> Clone for HostFunction<T> {
    fn clone(&self) -> Self {
        HostFunction { params: self.params.clone(), call: Arc::clone(&self.call), metrics: Arc::clone(&self.metrics) }
    }
}

/// A set of named host functions, for sandboxes whose host state is a `T` (`()` for
/// none; see [`Caller`]).
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
pub struct HostFunctions<T = ()> {
    map: HashMap<String, HostFunction<T>>,
}

impl<T> Clone for HostFunctions<T> {
    fn clone(&self) -> Self {
        HostFunctions { map: self.map.clone() }
    }
}

impl<T> fmt::Debug for HostFunctions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<(&String, &Vec<ValueType>)> = self.map.iter().map(|(k, v)| (k, &v.params)).collect();
        names.sort_by(|a, b| a.0.cmp(b.0));
        f.debug_map().entries(names).finish()
    }
}

impl Default for HostFunctions<()> {
    fn default() -> Self {
        HostFunctions::new()
    }
}

impl HostFunctions<()> {
    /// A set with only the default [`PRINT_FUNCTION`], for sandboxes without host
    /// state.
    pub fn new() -> HostFunctions<()> {
        HostFunctions::with_state()
    }
}

impl<T: 'static> HostFunctions<T> {
    /// A set with only the default [`PRINT_FUNCTION`], for sandboxes whose host state
    /// is a `T`.
    pub fn with_state() -> HostFunctions<T> {
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
        self.insert::<Args, F::Output>(name, move |_: &mut Caller<'_, T>, args: Args| f.call(args));
    }

    /// Registers `f` under `name`: a closure whose first parameter is the
    /// [`Caller`] (the sandbox's host state, its guest memory, and calls back into
    /// the guest), then up to 12 typed parameters.
    ///
    /// ```
    /// use hyperlight_host::{Caller, HostFunctions};
    ///
    /// let mut f = HostFunctions::<Vec<String>>::with_state();
    /// f.register_with_caller("Log", |caller: &mut Caller<'_, Vec<String>>, line: String| {
    ///     caller.state_mut().push(line);
    /// });
    /// ```
    pub fn register_with_caller<Args, F>(&mut self, name: &str, f: F)
    where
        Args: Arguments + 'static,
        F: CallerCallable<T, Args> + Send + Sync + 'static,
        F::Output: FunctionOutput,
        <F::Output as FunctionOutput>::Error: fmt::Display,
    {
        self.insert::<Args, F::Output>(name, move |caller: &mut Caller<'_, T>, args: Args| f.call(caller, args));
    }

    fn insert<Args, O>(&mut self, name: &str, f: impl Fn(&mut Caller<'_, T>, Args) -> O + Send + Sync + 'static)
    where
        Args: Arguments + 'static,
        O: FunctionOutput,
        O::Error: fmt::Display,
    {
        let fname = name.to_string();
        let call = move |caller: &mut Caller<'_, T>, values: Vec<Value>| -> Result<Value, FunctionError> {
            let args = Args::from_values(values).map_err(|e| FunctionError::from_arguments(&fname, e))?;
            // A panic must not unwind through the run loop (the guest would be left
            // waiting for this reply): it becomes the host function's error.
            let output =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(caller, args))).map_err(|panic| {
                    FunctionError::HostFunctionFailed {
                        name: fname.clone(),
                        message: format!("panicked: {}", panic_message(&*panic)),
                    }
                })?;
            output
                .into_result()
                .map_err(|e| FunctionError::HostFunctionFailed { name: fname.clone(), message: e.to_string() })
        };
        let metrics = Arc::new(FunctionMetrics::host(name));
        self.map.insert(name.to_string(), HostFunction { params: Args::types(), call: Arc::new(call), metrics });
    }
}

impl<T> HostFunctions<T> {
    /// Whether a function of this name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The parameter types of the function `name`.
    pub fn parameters(&self, name: &str) -> Option<&[ValueType]> {
        self.map.get(name).map(|f| f.params.as_slice())
    }

    /// Calls `name` with `args` as the guest sent them.
    pub(crate) fn call(
        &self,
        caller: &mut Caller<'_, T>,
        name: &str,
        args: Vec<Value>,
    ) -> Result<Value, FunctionError> {
        match self.map.get(name) {
            Some(f) => {
                let timer = Timer::start();
                let result = (f.call)(caller, args);
                f.metrics.record(timer);
                result
            }
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
