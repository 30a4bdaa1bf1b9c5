//! A guest that knows nothing of hyperlight's runtime: only `core`, its own `_start`
//! and its own panic handler. It exits through the Ready port (0x10) in a loop, so
//! the host sees it become ready, and every call returns with whatever the output
//! buffer holds. It proves that the host loads and runs any static ELF.
#![no_std]
#![no_main]

// Port 0x10 is `ExitPort::Ready` in hyperlight-common; this guest deliberately does
// not depend on that crate.
core::arch::global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "    xor eax, eax",
    "1:  out 0x10, al",
    "    jmp 1b",
    ".size _start, . - _start",
);

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // No Rust code of this guest can panic: `_start` is all there is.
    loop {
        core::hint::spin_loop();
    }
}
