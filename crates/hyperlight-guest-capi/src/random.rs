//! `hl_random` and `hl_seed`: the runtime's per-sandbox randomness, for C.

/// Fills the `len` bytes at `buf` with random bytes (ChaCha20 keyed by the host's
/// seed, which differs in every sandbox and after every restore).
///
/// # Safety
///
/// `buf` is writable for `len` bytes (or null with `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_random(buf: *mut u8, len: usize) {
    if buf.is_null() || len == 0 {
        return;
    }
    // SAFETY: not null, and the caller promises `len` writable bytes that nothing
    // else uses during the call.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    hyperlight_guest::random::fill(out);
}

/// Copies the host's current seed for this sandbox (32 bytes) to `out`.
///
/// # Safety
///
/// `out` is writable for 32 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_seed(out: *mut u8) {
    if out.is_null() {
        return;
    }
    let seed = hyperlight_guest::random::seed();
    // SAFETY: the caller promises 32 writable bytes, and `seed` is a local array.
    unsafe { core::ptr::copy_nonoverlapping(seed.as_ptr(), out, seed.len()) };
}
