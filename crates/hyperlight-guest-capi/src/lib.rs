//! The C API of hyperlight guests: what `include/hyperlight_guest.h` declares, over
//! [`hyperlight_guest`], built as the static library `libhyperlight_guest_capi.a`
//! that a C guest links.
//!
//! A C guest defines `int hyperlight_main(void)`, registers its functions there by
//! name with their parameter and return types, and reads typed arguments and sets a
//! typed result through the `hl_call *` each function receives; it calls host
//! functions with `hl_value`s, logs, prints and aborts. The library also carries the
//! small freestanding C runtime a guest needs (`malloc` and friends over the guest
//! heap, `mem*`/`str*`, `printf`/`snprintf` to the host's print function, `abort`,
//! `assert`), with its own headers in `include/`: nothing comes from the build
//! machine's C library. The guide: `docs/writing-a-c-guest.md`.
//!
//! # Floating point
//!
//! Built for `x86_64-unknown-linux-gnu` as freestanding code, not for the soft-float
//! `x86_64-unknown-none` of the Rust guests: gcc has no soft-float ABI for x86_64
//! (with `-mno-sse` it refuses any function that takes or returns a `float` or
//! `double`: "SSE register return with SSE disabled"; with `-mno-80387` as well it
//! refuses floating point altogether). So the one ABI a C guest can be built with and
//! still use floats is the ordinary x86_64 psABI, floats in SSE registers, and this
//! library is built for it too: one ABI in the whole binary, `float` and `double`
//! passed as C passes them (`tests/values.rs` checks every f32 and f64 edge value,
//! NaN payloads included, through both directions). Guest code runs at CPL3, where
//! SSE runs natively, and the host saves and restores the SSE state with every
//! snapshot.
//!
//! # What the C side hands in is checked
//!
//! A C guest can pass anything: a handle that names no call, a length past its
//! buffer, a string without its NUL or not UTF-8, a result of another type than it
//! declared, a type code that names no type. Each is checked ([`decode`] holds the
//! checks, safe code fuzzed by `fuzz/fuzz_targets/capi_decode.rs`) and turns into a
//! typed error at the host: the call fails (`CallError::ReturnType`, `TooLarge`, or
//! `GuestFailed` naming the API function and the fault), never the host. A pointer
//! into unmapped memory faults in the guest, which the host reports as a
//! `GuestFault`.
#![no_std]
// The FFI types keep the C names of the header.
#![allow(non_camel_case_types)]

extern crate alloc;
// Named so that it is linked: nothing here calls it, the C side and core do.
#[cfg(target_os = "linux")]
extern crate hardfloat_support;

mod args;
mod call;
pub mod decode;
mod float_format;
mod global;
mod heap;
mod host_call;
mod main_hook;
mod output;
mod random;
mod raw;
mod register;
mod results;
mod types;
