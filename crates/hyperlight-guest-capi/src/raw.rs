//! The C side's pointers made into slices, after [`decode`](crate::decode)'s checks.
//!
//! The one place that reads memory the C side names. No check can tell a mapped
//! pointer from an unmapped one without touching it: a wild pointer faults in the
//! guest on the first read, and the host reports a `GuestFault`. That is as far as
//! a hostile guest gets; everything else (null, lengths, wrap-around, missing NULs,
//! UTF-8) is refused before or while reading.

use core::ffi::c_char;

use crate::decode::{self, Misuse};

/// The most bytes the library reads from one C buffer or string: the output buffer's
/// size, since nothing larger could go to the host (or back to it as a result) anyway.
pub(crate) fn limit() -> u64 {
    hyperlight_guest::boot_info().map_or(64 << 10, |info| info.output_buffer_size)
}

/// The `len` bytes at `ptr`, checked by [`decode::buffer`] against `limit`.
///
/// # Safety
///
/// If the checks pass, the C caller must have made `[ptr, ptr + len)` readable and
/// unchanged while the slice lives (the API's documented contract; the library never
/// keeps the slice past the API call). A caller that breaks it makes the guest fault.
pub(crate) unsafe fn bytes<'a>(what: &'static str, ptr: *const u8, len: usize, limit: u64) -> Result<&'a [u8], Misuse> {
    let len64 = u64::try_from(len).unwrap_or(u64::MAX);
    decode::buffer(what, ptr as u64, len64, limit)?;
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: `ptr` is not null, `len` is at most `limit` (far below isize::MAX) and
    // the range does not wrap (all checked above); the caller promises it is readable
    // and unchanged while the slice lives.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// The NUL-terminated string at `ptr`, at most `limit` bytes before its NUL, as
/// UTF-8 text.
///
/// # Safety
///
/// As for [`bytes`]: the C caller must have made the string readable up to and
/// including its NUL (or up to `limit` bytes, where the library stops looking).
pub(crate) unsafe fn c_string<'a>(what: &'static str, ptr: *const c_char, limit: u64) -> Result<&'a str, Misuse> {
    if ptr.is_null() {
        return Err(Misuse::NullPointer { what });
    }
    let ptr = ptr.cast::<u8>();
    let limit_len = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut len = 0;
    // One byte at a time, never past the NUL: the bytes after it may not be mapped.
    while len < limit_len {
        // SAFETY: the bytes before this one were not NUL, so this one is still part of
        // the string the caller promises is readable.
        if unsafe { ptr.add(len).read() } == 0 {
            break;
        }
        len += 1;
    }
    if len == limit_len {
        return Err(Misuse::Unterminated { what, limit });
    }
    // SAFETY: the `len` bytes before the NUL were just read one by one, so they are
    // readable; `len < limit`, and `ptr + len` is the NUL's address, so no wrap.
    let bytes = unsafe { core::slice::from_raw_parts(ptr, len) };
    decode::text(what, bytes)
}
