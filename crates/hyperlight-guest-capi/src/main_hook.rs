//! The guest's init: the runtime calls `hyperlight_main`, which calls the C program's.
//!
//! The header declares the C program's `int hyperlight_main(void)` with the assembler
//! name `hl_c_main` (`__asm__("hl_c_main")`): the C source says `hyperlight_main`, as
//! the runtime's documentation does, while the symbol `hyperlight_main` stays the
//! runtime's own init hook, defined here.

use core::ffi::c_int;

unsafe extern "C" {
    /// The C program's `int hyperlight_main(void)`.
    fn hl_c_main() -> c_int;
}

/// The init hook of the runtime ([`hyperlight_guest::main!`] in a Rust guest): runs the
/// C program's `hyperlight_main`; a non-zero return stops the guest with
/// `GuestAbort` carrying that code, which the host reports as the reason init failed.
#[unsafe(no_mangle)]
pub extern "Rust" fn hyperlight_main() {
    // SAFETY: `hl_c_main` is the C program's `int hyperlight_main(void)` (the header
    // gives it this symbol), an ordinary C function without parameters.
    let code = unsafe { hl_c_main() };
    if code != 0 {
        hyperlight_guest::abort(code, "hyperlight_main returned non-zero");
    }
}
