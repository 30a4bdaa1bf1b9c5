//! Guest functions: [`register_function`], the registry, and the conversion of a
//! function's output into a [`FunctionResult`] ([`IntoFunctionResult`]).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use hyperlight_common::message::FunctionRef;
use hyperlight_common::{
    Arguments, Callable, FunctionError, FunctionResult, FunctionSignature, FunctionTable, ReturnType, Value, ValueType,
};

use crate::cell::SingleThreaded;

/// What a guest function may return: any [`ReturnType`] (a value, or `()`), or a
/// `Result` of one with a [`FunctionError`].
pub trait IntoFunctionResult {
    /// The type of the value (what the function table reports).
    const RETURNS: ValueType;
    /// The output as the result sent to the host.
    fn into_function_result(self) -> FunctionResult;
}

impl<T: ReturnType> IntoFunctionResult for Result<T, FunctionError> {
    const RETURNS: ValueType = T::TYPE;
    fn into_function_result(self) -> FunctionResult {
        self.map(ReturnType::into_value)
    }
}

// One impl per type rather than a blanket `impl<T: ReturnType>`: the blanket impl
// would overlap with the `Result` impl above as far as coherence can tell.
macro_rules! plain_return {
    ($($t:ty),+) => {$(
        impl IntoFunctionResult for $t {
            const RETURNS: ValueType = <$t as ReturnType>::TYPE;
            fn into_function_result(self) -> FunctionResult {
                Ok(self.into_value())
            }
        }
    )+};
}

plain_return!((), i32, u32, i64, u64, f32, f64, bool, String, Vec<u8>);

/// A registered guest function, type-erased: values in, result out.
type GuestFunction = Box<dyn Fn(Vec<Value>) -> FunctionResult>;

/// The guest's functions: in registration order (their index, as the host calls them
/// by it), with their signatures, and by name.
struct Registry {
    functions: Vec<(FunctionSignature, GuestFunction)>,
    by_name: BTreeMap<String, usize>,
}

static REGISTRY: SingleThreaded<RefCell<Registry>> =
    SingleThreaded::new(RefCell::new(Registry { functions: Vec::new(), by_name: BTreeMap::new() }));

/// Makes `f` callable by the host under `name`.
///
/// `f` is any function or closure of up to 12 parameters, each a
/// [`ParameterType`](hyperlight_common::ParameterType) (`i32`, `u32`, `i64`, `u64`,
/// `f32`, `f64`, `bool`, `String`, `Vec<u8>`), returning a
/// [`ReturnType`] or `Result<T, FunctionError>`. The runtime checks the number and
/// the types of the host's arguments before it calls `f`; a mismatch is returned to
/// the host as [`FunctionError::ArgumentCount`] or [`FunctionError::ArgumentType`].
/// Registering a name again replaces the earlier function. The host learns every
/// function's name and signature at init (the function table), so it can check a
/// call before making it.
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
    let signature = FunctionSignature { name: name.into(), params: Args::types(), returns: F::Output::RETURNS };
    register_erased(signature, erased);
}

/// Registers a function whose signature is known only at run time (for the C API
/// and other languages): `f` gets the arguments as values, already checked against
/// `signature.params` by count and type.
pub fn register_dynamic(signature: FunctionSignature, f: impl Fn(Vec<Value>) -> FunctionResult + 'static) {
    let name = signature.name.clone();
    let params = signature.params.clone();
    let erased: GuestFunction = Box::new(move |values: Vec<Value>| {
        check_values(&name, &params, &values)?;
        f(values)
    });
    register_erased(signature, erased);
}

/// The error for `values` that do not fit `params`.
fn check_values(function: &str, params: &[ValueType], values: &[Value]) -> Result<(), FunctionError> {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    if values.len() != params.len() {
        let e =
            hyperlight_common::func::ArgumentError::Count { expected: count(params.len()), got: count(values.len()) };
        return Err(FunctionError::from_arguments(function, e));
    }
    for (index, (p, v)) in params.iter().zip(values).enumerate() {
        if v.value_type() != *p {
            let e =
                hyperlight_common::func::ArgumentError::Type { index: count(index), expected: *p, got: v.value_type() };
            return Err(FunctionError::from_arguments(function, e));
        }
    }
    Ok(())
}

fn register_erased(signature: FunctionSignature, f: GuestFunction) {
    let mut registry = REGISTRY
        .try_borrow_mut()
        .unwrap_or_else(|_| panic!("register_function({:?}) called while a guest function runs", signature.name));
    let registry = &mut *registry;
    match registry.by_name.get(&signature.name) {
        Some(&i) => registry.functions[i] = (signature, f),
        None => {
            registry.by_name.insert(signature.name.clone(), registry.functions.len());
            registry.functions.push((signature, f));
        }
    }
}

/// Every registered function's signature, in index order: the function table.
pub(crate) fn table() -> FunctionTable {
    REGISTRY.borrow().functions.iter().map(|(signature, _)| signature.clone()).collect()
}

/// Calls the guest function `function` with `args`.
pub(crate) fn call_guest_function(function: &FunctionRef, args: Vec<Value>) -> FunctionResult {
    let registry = REGISTRY.borrow();
    match registry.index(function).and_then(|i| registry.functions.get(i)) {
        Some((_, f)) => f(args),
        None => Err(FunctionError::FunctionNotFound { name: name_of(function) }),
    }
}

/// The name of the guest function `function` (for messages), or `#index` for an
/// index that names none.
pub(crate) fn name_of(function: &FunctionRef) -> String {
    match function {
        FunctionRef::Name(name) => name.clone(),
        FunctionRef::Index(i) => {
            let registry = REGISTRY.borrow();
            match registry.index(function).and_then(|i| registry.functions.get(i)) {
                Some((signature, _)) => signature.name.clone(),
                None => alloc::format!("#{i}"),
            }
        }
    }
}

impl Registry {
    fn index(&self, function: &FunctionRef) -> Option<usize> {
        match function {
            FunctionRef::Name(name) => self.by_name.get(name).copied(),
            FunctionRef::Index(i) => usize::try_from(*i).ok().filter(|i| *i < self.functions.len()),
        }
    }
}
