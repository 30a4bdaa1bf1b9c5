//! `hl_arg_*`: a guest function's arguments, as C reads them.
//!
//! The runtime has checked the host's arguments against the declared parameters
//! before the function runs, so a getter of the wrong type or index is the C code's
//! own bug: it returns a zero value, and the call fails with the misuse.

use core::ffi::c_char;

use hyperlight_common::{Value, ValueType};

use crate::call::{hl_call, with_call, Arg};
use crate::decode::{type_code, Misuse};

/// The number of arguments of `call` (0 for a handle that names no call).
#[unsafe(no_mangle)]
pub extern "C" fn hl_arg_count(call: *mut hl_call) -> usize {
    with_call("hl_arg_count", call, |c| c.args.len()).unwrap_or(0)
}

/// The `hl_type` of argument `index` of `call` (`HL_TYPE_UNIT` if there is none).
#[unsafe(no_mangle)]
pub extern "C" fn hl_arg_type(call: *mut hl_call, index: usize) -> u32 {
    with_call("hl_arg_type", call, |c| c.arg("hl_arg_type", index).map(|a| type_code(a.value_type())))
        .flatten()
        .unwrap_or(0)
}

/// The scalar argument `index`, if it has type `asked`.
fn scalar(api: &'static str, call: *mut hl_call, index: usize, asked: ValueType) -> Option<Value> {
    with_call(api, call, |c| {
        let actual = c.arg(api, index)?.value_type();
        match c.args.get(index) {
            Some(Arg::Scalar(v)) if actual == asked => Some(v.clone()),
            _ => {
                c.misused(api, Misuse::ArgumentType { index: index as u64, asked, actual });
                None
            }
        }
    })
    .flatten()
}

macro_rules! scalar_getters {
    ($($(#[$doc:meta])* $name:ident -> $t:ty, $variant:ident, $zero:expr;)+) => {$(
        $(#[$doc])*
        #[unsafe(no_mangle)]
        pub extern "C" fn $name(call: *mut hl_call, index: usize) -> $t {
            match scalar(stringify!($name), call, index, ValueType::$variant) {
                Some(Value::$variant(v)) => v,
                _ => $zero,
            }
        }
    )+};
}

scalar_getters! {
    /// Argument `index` of `call` as an `int32_t` (0 if it is not one).
    hl_arg_i32 -> i32, I32, 0;
    /// Argument `index` of `call` as a `uint32_t` (0 if it is not one).
    hl_arg_u32 -> u32, U32, 0;
    /// Argument `index` of `call` as an `int64_t` (0 if it is not one).
    hl_arg_i64 -> i64, I64, 0;
    /// Argument `index` of `call` as a `uint64_t` (0 if it is not one).
    hl_arg_u64 -> u64, U64, 0;
    /// Argument `index` of `call` as a `float` (0 if it is not one).
    hl_arg_f32 -> f32, F32, 0.0;
    /// Argument `index` of `call` as a `double` (0 if it is not one).
    hl_arg_f64 -> f64, F64, 0.0;
    /// Argument `index` of `call` as a `bool` (false if it is not one).
    hl_arg_bool -> bool, Bool, false;
}

/// The buffer argument `index`, if it has type `asked`: its address and length.
fn buffer(api: &'static str, call: *mut hl_call, index: usize, asked: ValueType) -> Option<(*const u8, usize)> {
    with_call(api, call, |c| {
        let actual = c.arg(api, index)?.value_type();
        match c.args.get(index) {
            Some(Arg::Buffer { bytes, .. }) if actual == asked => Some((bytes.as_ptr(), bytes.len() - 1)),
            _ => {
                c.misused(api, Misuse::ArgumentType { index: index as u64, asked, actual });
                None
            }
        }
    })
    .flatten()
}

/// Writes `n` to `*len` unless `len` is null.
///
/// # Safety
///
/// `len` is null or valid for a write of a `size_t`.
unsafe fn store_len(len: *mut usize, n: usize) {
    if !len.is_null() {
        // SAFETY: not null, and the caller promises it is writable.
        unsafe { len.write(n) };
    }
}

/// Argument `index` of `call` as a string: UTF-8, `*len` bytes, followed by a NUL
/// (the string itself may contain NULs). Owned by the library, valid until the guest
/// function returns. An empty string (and length 0) if it is not a string.
///
/// # Safety
///
/// `len` is null or valid for a write of a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_arg_string(call: *mut hl_call, index: usize, len: *mut usize) -> *const c_char {
    let (ptr, n) = buffer("hl_arg_string", call, index, ValueType::String).unwrap_or((c"".as_ptr().cast(), 0));
    // SAFETY: the caller's promise about `len`.
    unsafe { store_len(len, n) };
    ptr.cast()
}

/// Argument `index` of `call` as bytes: `*len` of them (followed by a NUL the value
/// does not include). Owned by the library, valid until the guest function returns.
/// A valid, empty buffer if it is not bytes.
///
/// # Safety
///
/// `len` is null or valid for a write of a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_arg_bytes(call: *mut hl_call, index: usize, len: *mut usize) -> *const u8 {
    let (ptr, n) = buffer("hl_arg_bytes", call, index, ValueType::Bytes).unwrap_or((c"".as_ptr().cast(), 0));
    // SAFETY: the caller's promise about `len`.
    unsafe { store_len(len, n) };
    ptr
}
