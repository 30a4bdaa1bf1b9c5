//! The symbols a freestanding guest built for `x86_64-unknown-linux-gnu` needs and
//! does not get: that target's `compiler_builtins` leaves `memcpy`, `memmove`,
//! `memset`, `memcmp` and `bcmp` to the C library (which a guest does not link), and
//! its precompiled `core` refers to the unwinder (`_Unwind_Resume`) for landing pads
//! that `panic = "abort"` never reaches.
//!
//! Only for the hard-float build of the Wasm runtime guest; `x86_64-unknown-none`
//! has all of this in `compiler_builtins` already. `no_builtins` keeps LLVM from
//! turning the loops below back into calls of themselves.
#![no_std]
#![no_builtins]

/// # Safety
///
/// The C contract: `src` and `dest` valid for `n` bytes, not overlapping.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller promises both ranges are valid for `n` bytes; `rep movsb`
    // copies exactly `n` bytes forward (the direction flag is clear by the ABI).
    unsafe {
        core::arch::asm!("rep movsb", inout("rcx") n => _, inout("rdi") dest => _, inout("rsi") src => _,
            options(nostack, preserves_flags));
    }
    dest
}

/// # Safety
///
/// The C contract: `src` and `dest` valid for `n` bytes; they may overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize).wrapping_sub(src as usize) >= n {
        // No overlap that a forward copy would trample.
        // SAFETY: as for `memcpy`: a forward copy reads each byte before it is
        // overwritten when `dest` is below `src` or past `src + n`.
        return unsafe { memcpy(dest, src, n) };
    }
    // `dest` lies inside `(src, src + n)`: copy backwards.
    let mut i = n;
    while i > 0 {
        i -= 1;
        // SAFETY: `i < n`, and both ranges are valid for `n` bytes.
        unsafe { *dest.add(i) = *src.add(i) };
    }
    dest
}

/// # Safety
///
/// The C contract: `dest` valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
    // C's memset stores `(unsigned char)c`.
    let byte = c.to_le_bytes()[0];
    // SAFETY: the caller promises `dest` is valid for `n` bytes; `rep stosb` stores
    // the low byte of `c` exactly `n` times forward.
    unsafe {
        core::arch::asm!("rep stosb", inout("rcx") n => _, inout("rdi") dest => _, in("al") byte,
            options(nostack, preserves_flags));
    }
    dest
}

/// # Safety
///
/// The C contract: both ranges valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: `i < n`, and both ranges are valid for `n` bytes.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// # Safety
///
/// The C contract: both ranges valid for `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the same contract.
    unsafe { memcmp(a, b, n) }
}

/// Referred to by landing pads in the precompiled `core`; with `panic = "abort"` no
/// unwind ever starts, so this is never reached.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// The personality routine the precompiled `alloc` and `core` name in their unwind
/// tables; never called, for the same reason.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}
