//! `hl_call_host`: calling a host function with `hl_value`s, and the error of the
//! last one that failed.
//!
//! Ownership: the arguments stay the caller's (they are copied into the call); a
//! string or bytes result is allocated with `malloc` and becomes the caller's, to
//! `free` (or `hl_value_free`). The last error's message belongs to the library and
//! lives until the next host call.

use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::ffi::c_char;

use hyperlight_common::{FunctionError, Value};

use crate::decode::{self, Misuse, Payload};
use crate::global::Global;
use crate::raw;
use crate::types::{hl_status, hl_value};

/// A failed host call's error, and its message as a C string (NUL-terminated).
type HostError = (FunctionError, Vec<u8>);

/// The error of the last host call that failed.
static LAST_ERROR: Global<RefCell<Option<HostError>>> = Global::new(RefCell::new(None));

/// The error of the last host call that failed, if any.
pub(crate) fn last_host_error() -> Option<FunctionError> {
    LAST_ERROR.borrow().as_ref().map(|(e, _)| e.clone())
}

/// Calls host function `name` with the `arg_count` values at `args`, and checks that
/// it returns `returns` (an `hl_type` code). On success `*result` is the value (unless
/// `result` is null); on failure it is unit, and `hl_host_error` says why.
///
/// # Safety
///
/// `name` is a readable NUL-terminated string; `args` is readable for `arg_count`
/// values (or null with `arg_count` 0), and their strings and bytes are readable;
/// `result` is null or writable for one `hl_value`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_call_host(
    name: *const c_char,
    returns: u32,
    args: *const hl_value,
    arg_count: usize,
    result: *mut hl_value,
) -> hl_status {
    // SAFETY: the caller's promises about `name` and `args`.
    let outcome = unsafe { call(name, returns, args, arg_count) };
    let (status, value) = match outcome {
        Ok(v) => (hl_status::Ok, v),
        Err((status, e)) => {
            let mut message = e.to_string().into_bytes();
            message.retain(|&b| b != 0);
            message.push(0);
            *LAST_ERROR.borrow_mut() = Some((e, message));
            (status, Value::Unit)
        }
    };
    if !result.is_null() {
        let out = to_c(&value);
        // SAFETY: not null, and the caller promises it is writable.
        unsafe { result.write(out) };
    }
    status
}

/// The call itself, and its status if it fails: the C side's input is refused as
/// `Failed` with `InvalidArgument` before anything goes to the host.
///
/// # Safety
///
/// As for [`hl_call_host`].
unsafe fn call(
    name: *const c_char,
    returns: u32,
    args: *const hl_value,
    arg_count: usize,
) -> Result<Value, (hl_status, FunctionError)> {
    let invalid = |m: Misuse| (hl_status::InvalidArgument, FunctionError::failed(format!("hl_call_host: {m}")));
    let limit = raw::limit();
    // SAFETY: the caller's promise.
    let name = unsafe { raw::c_string("the host function's name", name, limit) }.map_err(invalid)?;
    let returns = decode::value_type(returns).map_err(invalid)?;
    if arg_count > decode::MAX_PARAMETERS {
        let limit = decode::MAX_PARAMETERS as u64;
        return Err(invalid(Misuse::TooManyParameters { count: arg_count as u64, limit }));
    }
    let size = core::mem::size_of::<hl_value>();
    // SAFETY: the caller promises `args` is readable for `arg_count` values; the
    // check above keeps the length small.
    let raw_args = unsafe { raw::bytes("the arguments", args.cast(), arg_count * size, limit) }.map_err(invalid)?;
    let mut values = Vec::with_capacity(arg_count);
    for (i, chunk) in raw_args.chunks_exact(size).enumerate() {
        // SAFETY: `chunk` is `size_of::<hl_value>()` readable bytes; the read is
        // unaligned-safe, and every bit pattern is a valid `hl_value` (plain integers).
        let v = unsafe { chunk.as_ptr().cast::<hl_value>().read_unaligned() };
        let payload = decode::payload("an argument's buffer", v.raw(), limit).map_err(|m| match m {
            // As a Rust guest's call_host reports arguments that do not fit.
            Misuse::TooLong { len, limit, .. } => {
                let what = format!("arguments of {name}");
                (hl_status::TooLarge, FunctionError::TooLarge { what, size: len, capacity: limit })
            }
            m => invalid(m),
        })?;
        let v = match payload {
            Payload::Scalar(Value::Unit) => {
                return Err(invalid(Misuse::UnitParameter { index: i as u64 }));
            }
            Payload::Scalar(v) => v,
            Payload::Buffer { value_type, addr, len } => {
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                // SAFETY: the caller promises each argument's buffer is readable.
                let bytes = unsafe { raw::bytes("an argument's buffer", addr as *const u8, len, limit) };
                decode::buffer_value("a string argument", value_type, bytes.map_err(invalid)?).map_err(invalid)?
            }
        };
        values.push(v);
    }
    let value = hyperlight_guest::call_host_values(name, values).map_err(|e| (hl_status::of(&e), e))?;
    if value.value_type() != returns {
        let e = FunctionError::ReturnType { function: name.into(), expected: returns, got: value.value_type() };
        return Err((hl_status::ReturnType, e));
    }
    *LAST_ERROR.borrow_mut() = None;
    Ok(value)
}

/// `v` for C: a string or bytes copied into a `malloc`ed buffer (with a NUL after it)
/// that the caller owns.
fn to_c(v: &Value) -> hl_value {
    let bytes: &[u8] = match v {
        Value::String(s) => s.as_bytes(),
        Value::Bytes(b) => b,
        scalar => return hl_value::new(scalar, core::ptr::null_mut(), 0),
    };
    let buffer = crate::heap::malloc(bytes.len() + 1).cast::<u8>();
    if !buffer.is_null() {
        // SAFETY: `buffer` is a fresh allocation of `bytes.len() + 1` bytes, which
        // nothing else references; `bytes` cannot overlap it.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer, bytes.len());
            buffer.add(bytes.len()).write(0);
        }
    }
    hl_value::new(v, buffer, bytes.len())
}

/// The message of the last failed host call, NUL-terminated; an empty string if none
/// has failed since the last one that succeeded. Owned by the library, valid until
/// the next `hl_call_host`.
#[unsafe(no_mangle)]
pub extern "C" fn hl_host_error() -> *const c_char {
    match &*LAST_ERROR.borrow() {
        Some((_, message)) => message.as_ptr().cast(),
        None => c"".as_ptr(),
    }
}

/// Frees the string or bytes of a value `hl_call_host` returned, and makes it unit.
///
/// # Safety
///
/// `value` is null or a writable `hl_value` whose buffer, if any, came from
/// `hl_call_host` and has not been freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_value_free(value: *mut hl_value) {
    if value.is_null() {
        return;
    }
    // SAFETY: not null, and the caller promises it is readable and writable.
    let v = unsafe { value.read() };
    if matches!(
        decode::value_type(v.type_code),
        Ok(hyperlight_common::ValueType::String | hyperlight_common::ValueType::Bytes)
    ) {
        // SAFETY: the caller promises the buffer came from `hl_call_host`, i.e. from
        // `malloc`, and is not freed yet.
        unsafe { crate::heap::free(v.payload[0] as *mut core::ffi::c_void) };
    }
    // SAFETY: as above.
    unsafe { value.write(hl_value::new(&Value::Unit, core::ptr::null_mut(), 0)) };
}
