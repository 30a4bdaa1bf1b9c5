//! Calling host functions: [`call_host`], and [`call_host_values`] for callers that
//! learn types at run time.

use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;

use hyperlight_common::message::{write_frame, FrameError, HostMessage};
use hyperlight_common::port::ExitPort;
use hyperlight_common::{Arguments, FunctionCall, FunctionError, FunctionResult, ReturnType, Value};

use crate::buffers::Buffers;
use crate::hot::exit;

/// Calls the host function `name` with `args` and returns its result.
///
/// `args` is `()`, one value, or a tuple of up to 12 values; `R` is the type the host
/// function returns. Errors:
///
/// - the host's own: [`FunctionError::HostFunctionNotFound`],
///   [`FunctionError::ArgumentCount`], [`FunctionError::ArgumentType`],
///   [`FunctionError::HostFunctionFailed`], ...;
/// - [`FunctionError::ReturnType`] if the host returned another type than `R`;
/// - [`FunctionError::TooLarge`] if the call does not fit the output buffer (the host
///   is then not called at all);
/// - [`FunctionError::BadMessage`] if the host's reply cannot be decoded.
///
/// Pass them on with `?`: the host caller of the guest function gets them intact.
///
/// ```ignore
/// // ignore: runs only inside a guest (x86_64-unknown-none).
/// use hyperlight_guest::{call_host, FunctionError};
///
/// fn add_on_host(a: i32, b: i32) -> Result<i32, FunctionError> {
///     call_host::<i32>("HostAdd", (a, b))
/// }
/// ```
pub fn call_host<R: ReturnType>(name: &str, args: impl Arguments) -> Result<R, FunctionError> {
    let value = call_host_values(name, args.into_values())?;
    R::from_value(value).map_err(|v| FunctionError::ReturnType {
        function: name.into(),
        expected: R::TYPE,
        got: v.value_type(),
    })
}

/// Calls the host function `name` with `args` and returns its result as a [`Value`],
/// whatever its type: [`call_host`] for callers that learn types at run time (the C
/// API and other languages). The errors are `call_host`'s, but for
/// [`FunctionError::ReturnType`], which is the caller's to check.
pub fn call_host_values(name: &str, args: Vec<Value>) -> FunctionResult {
    let Some(buffers) = Buffers::current() else {
        // Only possible before entry has run, i.e. never in a guest built with this
        // runtime; say so rather than touch memory we know nothing about.
        return Err(FunctionError::BadMessage { detail: "call_host before the runtime started".to_string() });
    };
    let call = FunctionCall { name: name.into(), args };
    match buffers.with_output(|out| write_frame(out, &call)) {
        Ok(_) => {}
        Err(FrameError::TooLarge { size, capacity }) => {
            return Err(FunctionError::TooLarge { what: format!("arguments of {name}"), size, capacity });
        }
        Err(e) => return Err(FunctionError::BadMessage { detail: format!("call of {name}: {e}") }),
    }
    drop(call);
    exit(ExitPort::HostCall);
    // The host answers with the reply, or first calls back into the guest (a host
    // function that calls guest functions): each such call runs here, on top of this
    // one, and its result goes out through `Ready`, until the reply comes.
    loop {
        match crate::dispatch::read_message(buffers) {
            Ok(HostMessage::Reply(result)) => return result,
            Err(e) => return Err(FunctionError::BadMessage { detail: format!("reply of host function {name}: {e}") }),
            nested => {
                crate::dispatch::run(buffers, nested);
                exit(ExitPort::Ready);
            }
        }
    }
}
