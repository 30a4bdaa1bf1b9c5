//! Output and stopping: `hl_print`, `hl_log`, `hl_abort`, `hl_panic`, and the C
//! runtime's `abort` and `assert` failure.

use alloc::string::String;
use core::ffi::{c_char, c_int};

use hyperlight_guest::LogLevel;

use crate::raw;

/// Text of a message the C side passed, or what was wrong with it: a message is a
/// diagnostic, and a bad one must still say something.
///
/// # Safety
///
/// `text` is null or a readable NUL-terminated string.
unsafe fn message(text: *const c_char) -> String {
    // SAFETY: the caller's promise.
    match unsafe { raw::c_string("the message", text, raw::limit()) } {
        Ok(s) => String::from(s),
        Err(e) => alloc::format!("(unreadable message: {e})"),
    }
}

/// Sends the `len` bytes at `text` to the host's print function (`HostPrint`). Bytes
/// that are not UTF-8 arrive as U+FFFD; nothing is printed for a buffer the library
/// refuses (null, too long).
///
/// # Safety
///
/// `text` is readable for `len` bytes (or null with `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_print(text: *const c_char, len: usize) {
    // SAFETY: the caller's promise.
    let Ok(bytes) = (unsafe { raw::bytes("the text", text.cast(), len, u64::MAX) }) else { return };
    let text = String::from_utf8_lossy(bytes);
    hyperlight_guest::print!("{text}");
}

fn level_of(level: u32) -> LogLevel {
    match level {
        0 | 1 => LogLevel::Error,
        2 => LogLevel::Warn,
        3 => LogLevel::Info,
        4 => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

/// Sends `message` to the host's log (`HostLog`) at `level` (1 error to 5 trace; out
/// of range is taken as the nearest), with no source location. `HL_LOG` in the
/// header calls [`hl_log_at`] with the caller's file and line instead.
///
/// # Safety
///
/// `message` is a readable NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_log(level: u32, message: *const c_char) {
    // SAFETY: the caller's promise.
    unsafe { hl_log_at(level, core::ptr::null(), 0, message) }
}

/// [`hl_log`] with the record attributed to `file` (NUL-terminated, or null for none)
/// and `line`. Nothing is formatted or sent when the host does not want `level`.
///
/// # Safety
///
/// `message` is a readable NUL-terminated string; `file` is one too, or null.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_log_at(level: u32, file: *const c_char, line: u32, message: *const c_char) {
    let level = level_of(level);
    if !hyperlight_guest::log_enabled(level) {
        return;
    }
    // SAFETY: the caller's promise.
    let text = unsafe { self::message(message) };
    let file = if file.is_null() {
        String::new()
    } else {
        // SAFETY: the caller's promise (a non-null `file` is NUL-terminated).
        unsafe { self::message(file) }
    };
    hyperlight_guest::log_at(level, &text, "", &file, line);
}

/// Stops the guest: the host gets `CallError::GuestAbort` with `code` and `message`.
///
/// # Safety
///
/// `message` is null or a readable NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_abort(code: i32, message: *const c_char) -> ! {
    // SAFETY: the caller's promise.
    let text = if message.is_null() { String::new() } else { unsafe { self::message(message) } };
    hyperlight_guest::abort(code, &text)
}

/// Stops the guest as a Rust panic does: the host gets `CallError::GuestPanic` with
/// `message`.
///
/// # Safety
///
/// `message` is a readable NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_panic(message: *const c_char) -> ! {
    // SAFETY: the caller's promise.
    let text = unsafe { self::message(message) };
    panic!("{text}")
}

/// C's `abort`: `GuestAbort` with code 6 (SIGABRT's number).
#[unsafe(no_mangle)]
pub extern "C" fn abort() -> ! {
    hyperlight_guest::abort(crate::heap::ABORT_HEAP, "abort() called")
}

/// What `assert` calls when its expression is false: a panic naming the expression,
/// the function, the file and the line.
///
/// # Safety
///
/// `expr`, `file` and `function` are readable NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __hl_assert_fail(
    expr: *const c_char,
    file: *const c_char,
    line: c_int,
    function: *const c_char,
) -> ! {
    // SAFETY: the caller's promises (the macro passes string literals).
    let (expr, file, function) = unsafe { (message(expr), message(file), message(function)) };
    panic!("assertion failed: {expr}, in {function} at {file}:{line}")
}
