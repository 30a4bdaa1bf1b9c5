//! Guest functions registered by the `#[guest_function]` attribute rather than by
//! `register_function` in init.

use alloc::format;
use alloc::string::String;

use hyperlight_guest::{guest_function, FunctionError};

/// Registered as "multiply", its own name.
#[guest_function]
fn multiply(a: i64, b: i64) -> i64 {
    a.wrapping_mul(b)
}

/// Registered under a given name.
#[guest_function("Greet")]
fn greet(name: String, times: u32) -> Result<String, FunctionError> {
    if times == 0 {
        return Err(FunctionError::failed("zero greetings"));
    }
    Ok(format!("{}{name}", "hello ".repeat(times as usize)))
}
