//! Guest functions: [`register_function`], the registry, and the conversion of a
//! function's output into a [`FunctionResult`] ([`IntoFunctionResult`]).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use hyperlight_common::{Arguments, Callable, FunctionError, FunctionResult, ReturnType, Value};

use crate::cell::SingleThreaded;

/// What a guest function may return: any [`ReturnType`] (a value, or `()`), or a
/// `Result` of one with a [`FunctionError`].
pub trait IntoFunctionResult {
    /// The output as the result sent to the host.
    fn into_function_result(self) -> FunctionResult;
}

impl<T: ReturnType> IntoFunctionResult for Result<T, FunctionError> {
    fn into_function_result(self) -> FunctionResult {
        self.map(ReturnType::into_value)
    }
}

// One impl per type rather than a blanket `impl<T: ReturnType>`: the blanket impl
// would overlap with the `Result` impl above as far as coherence can tell.
macro_rules! plain_return {
    ($($t:ty),+) => {$(
        impl IntoFunctionResult for $t {
            fn into_function_result(self) -> FunctionResult {
                Ok(self.into_value())
            }
        }
    )+};
}

plain_return!((), i32, u32, i64, u64, f32, f64, bool, String, Vec<u8>);

/// A registered guest function, type-erased: values in, result out.
type GuestFunction = Box<dyn Fn(Vec<Value>) -> FunctionResult>;

static REGISTRY: SingleThreaded<RefCell<BTreeMap<String, GuestFunction>>> =
    SingleThreaded::new(RefCell::new(BTreeMap::new()));

/// Makes `f` callable by the host under `name`.
///
/// `f` is any function or closure of up to 12 parameters, each a
/// [`ParameterType`](hyperlight_common::ParameterType) (`i32`, `u32`, `i64`, `u64`,
/// `f32`, `f64`, `bool`, `String`, `Vec<u8>`), returning a
/// [`ReturnType`] or `Result<T, FunctionError>`. The runtime checks the number and
/// the types of the host's arguments before it calls `f`; a mismatch is returned to
/// the host as [`FunctionError::ArgumentCount`] or [`FunctionError::ArgumentType`].
/// Registering a name again replaces the earlier function.
///
/// Call it from the guest's init function (see [`main!`](crate::main)); registering
/// from inside a guest function panics.
///
/// ```ignore
/// // ignore: runs only inside a guest (x86_64-unknown-none).
/// use hyperlight_guest::{register_function, FunctionError};
///
/// register_function("Add", |a: i32, b: i32| a.wrapping_add(b));
/// register_function("Half", |x: u64| -> Result<u64, FunctionError> {
///     if x % 2 == 0 { Ok(x / 2) } else { Err(FunctionError::failed("odd")) }
/// });
/// ```
pub fn register_function<Args, F>(name: &str, f: F)
where
    Args: Arguments + 'static,
    F: Callable<Args> + 'static,
    F::Output: IntoFunctionResult,
{
    let function: String = name.into();
    let erased: GuestFunction = Box::new(move |values: Vec<Value>| {
        let args = Args::from_values(values).map_err(|e| FunctionError::from_arguments(&function, e))?;
        f.call(args).into_function_result()
    });
    let mut registry = REGISTRY
        .try_borrow_mut()
        .unwrap_or_else(|_| panic!("register_function({name:?}) called while a guest function runs"));
    registry.insert(name.into(), erased);
}

/// Calls the guest function `name` with `args`.
pub(crate) fn call_guest_function(name: String, args: Vec<Value>) -> FunctionResult {
    let registry = REGISTRY.borrow();
    match registry.get(&name) {
        Some(f) => f(args),
        None => Err(FunctionError::FunctionNotFound { name }),
    }
}
