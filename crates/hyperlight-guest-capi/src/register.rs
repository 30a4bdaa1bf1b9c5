//! `hl_register_function`: a C function made callable by the host.

use core::ffi::c_char;

use crate::call::{self, HlFunction};
use crate::decode::{self, Misuse};
use crate::raw;

/// Registers `function` under `name`, with the `param_count` parameter types at
/// `params` and the return type `returns` (`hl_type` codes). The host learns the
/// signature at init and the runtime checks every call against it before `function`
/// runs. Registering a name again replaces the earlier function.
///
/// Call it from `hyperlight_main`. A bad name, type code or pointer stops the guest
/// with a panic naming it, which the host reports as the reason init failed.
///
/// # Safety
///
/// `name` is a readable NUL-terminated string, and `params` is readable for
/// `param_count` codes (or null with `param_count` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_register_function(
    name: *const c_char,
    returns: u32,
    param_count: usize,
    params: *const u32,
    function: Option<HlFunction>,
) {
    const API: &str = "hl_register_function";
    let fail = |m: Misuse| -> ! { panic!("{API}: {m}") };
    // SAFETY: the caller's promise about `name`.
    let name = unsafe { raw::c_string("the name", name, raw::limit()) }.unwrap_or_else(|m| fail(m));
    if param_count > decode::MAX_PARAMETERS {
        let limit = decode::MAX_PARAMETERS as u64;
        fail(Misuse::TooManyParameters { count: param_count as u64, limit });
    }
    // SAFETY: the caller's promise about `params`; the count is small (checked above).
    let codes = unsafe { raw::bytes("the parameter types", params.cast(), param_count * 4, u64::MAX) }
        .unwrap_or_else(|m| fail(m));
    let codes: alloc::vec::Vec<u32> =
        codes.chunks_exact(4).map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
    let signature = decode::signature(name, returns, &codes).unwrap_or_else(|m| fail(m));
    let Some(function) = function else { fail(Misuse::NullPointer { what: "the function" }) };
    let registered = signature.clone();
    hyperlight_guest::register_dynamic(signature, move |values| call::run(&registered, function, values));
}
