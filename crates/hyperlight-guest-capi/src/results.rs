//! `hl_return_*` and `hl_fail*`: what a guest function's call ends with.
//!
//! A call has one result: the first `hl_return_*` or `hl_fail*` sets it, a second is
//! a misuse. Values are copied at once, so the C side keeps (and frees) what it
//! passed. The type is checked when the function returns, against the type it was
//! registered with: another type is `ReturnType` at the host, as is no result for a
//! function that does not return unit.

use alloc::format;
use core::ffi::c_char;

use hyperlight_common::{FunctionError, Value, ValueType};

use crate::call::{hl_call, with_call};
use crate::decode::{self, Misuse, Payload};
use crate::host_call::last_host_error;
use crate::raw;
use crate::types::hl_value;

/// Sets `value` as the result of `call`.
fn set(api: &'static str, call: *mut hl_call, value: Value) {
    with_call(api, call, |c| c.set(api, Ok(value)));
}

macro_rules! scalar_setters {
    ($($(#[$doc:meta])* $name:ident($t:ty) => $variant:ident;)+) => {$(
        $(#[$doc])*
        #[unsafe(no_mangle)]
        pub extern "C" fn $name(call: *mut hl_call, value: $t) {
            set(stringify!($name), call, Value::$variant(value));
        }
    )+};
}

scalar_setters! {
    /// Returns an `int32_t`.
    hl_return_i32(i32) => I32;
    /// Returns a `uint32_t`.
    hl_return_u32(u32) => U32;
    /// Returns an `int64_t`.
    hl_return_i64(i64) => I64;
    /// Returns a `uint64_t`.
    hl_return_u64(u64) => U64;
    /// Returns a `float`.
    hl_return_f32(f32) => F32;
    /// Returns a `double`.
    hl_return_f64(f64) => F64;
}

/// Returns a `bool`. Taken as a byte, so that any byte C passes is a defined value:
/// not zero is true.
#[unsafe(no_mangle)]
pub extern "C" fn hl_return_bool(call: *mut hl_call, value: u8) {
    set("hl_return_bool", call, Value::Bool(value != 0));
}

/// Sets a string or bytes result read from `[ptr, ptr + len)`: longer than the output
/// buffer is `TooLarge` (as it would be once encoded), without reading it.
///
/// # Safety
///
/// The buffer is readable (see [`raw::bytes`]).
unsafe fn set_buffer(api: &'static str, call: *mut hl_call, value_type: ValueType, ptr: *const u8, len: usize) {
    let limit = raw::limit();
    let what = if value_type == ValueType::String { "the string" } else { "the bytes" };
    // SAFETY: the caller's promise.
    let value = unsafe { raw::bytes(what, ptr, len, limit) }.and_then(|b| decode::buffer_value(what, value_type, b));
    with_call(api, call, |c| match value {
        Ok(v) => c.set(api, Ok(v)),
        Err(Misuse::TooLong { len, limit, .. }) => {
            let what = format!("result of {}", c.function);
            c.set(api, Err(FunctionError::TooLarge { what, size: decode::result_frame_size(len), capacity: limit }));
        }
        Err(m) => c.misused(api, m),
    });
}

/// Returns the string of `len` bytes at `text` (UTF-8; copied).
///
/// # Safety
///
/// `text` is readable for `len` bytes (or null with `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_return_string(call: *mut hl_call, text: *const c_char, len: usize) {
    // SAFETY: the caller's promise.
    unsafe { set_buffer("hl_return_string", call, ValueType::String, text.cast(), len) }
}

/// Returns the NUL-terminated string `text` (UTF-8; copied).
///
/// # Safety
///
/// `text` is a readable NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_return_cstring(call: *mut hl_call, text: *const c_char) {
    const API: &str = "hl_return_cstring";
    // SAFETY: the caller's promise.
    let s = unsafe { raw::c_string("the string", text, raw::limit()) };
    match s {
        Ok(s) => set(API, call, Value::String(s.into())),
        Err(m) => {
            with_call(API, call, |c| c.misused(API, m));
        }
    }
}

/// Returns the `len` bytes at `data` (copied).
///
/// # Safety
///
/// `data` is readable for `len` bytes (or null with `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_return_bytes(call: *mut hl_call, data: *const u8, len: usize) {
    // SAFETY: the caller's promise.
    unsafe { set_buffer("hl_return_bytes", call, ValueType::Bytes, data, len) }
}

/// Returns `*value`, of any type (its string or bytes copied).
///
/// # Safety
///
/// `value` is a readable `hl_value`, whose string or bytes, if any, are readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_return_value(call: *mut hl_call, value: *const hl_value) {
    const API: &str = "hl_return_value";
    if value.is_null() {
        with_call(API, call, |c| c.misused(API, Misuse::NullPointer { what: "the value" }));
        return;
    }
    // SAFETY: not null, and the caller promises it is readable.
    let raw_value = unsafe { value.read() }.raw();
    match decode::payload("the value's buffer", raw_value, raw::limit()) {
        Ok(Payload::Scalar(v)) => set(API, call, v),
        Ok(Payload::Buffer { value_type, addr, len }) => {
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            // SAFETY: the caller promises the value's buffer is readable.
            unsafe { set_buffer(API, call, value_type, addr as *const u8, len) }
        }
        Err(Misuse::TooLong { len, limit, .. }) => {
            with_call(API, call, |c| {
                let what = format!("result of {}", c.function);
                c.set(
                    API,
                    Err(FunctionError::TooLarge { what, size: decode::result_frame_size(len), capacity: limit }),
                );
            });
        }
        Err(m) => {
            with_call(API, call, |c| c.misused(API, m));
        }
    }
}

/// Fails the call with `message` (UTF-8, NUL-terminated; copied): the host caller
/// gets `CallError::GuestFailed` with the function's name and the message.
///
/// # Safety
///
/// `message` is a readable NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_fail(call: *mut hl_call, message: *const c_char) {
    const API: &str = "hl_fail";
    // SAFETY: the caller's promise.
    match unsafe { raw::c_string("the message", message, raw::limit()) } {
        Ok(m) => {
            with_call(API, call, |c| c.set(API, Err(FunctionError::failed(m))));
        }
        Err(m) => {
            with_call(API, call, |c| c.misused(API, m));
        }
    }
}

/// Fails the call with the error of the last host call that failed, unchanged: the
/// host caller gets it with its own variant (`HostFunctionNotFound`,
/// `HostFunctionFailed`, ...), as a Rust guest's `?` passes it on.
#[unsafe(no_mangle)]
pub extern "C" fn hl_fail_with_host_error(call: *mut hl_call) {
    const API: &str = "hl_fail_with_host_error";
    let error = last_host_error();
    with_call(API, call, |c| match error {
        Some(e) => c.set(API, Err(e)),
        None => c.misused(API, Misuse::NoHostError),
    });
}
