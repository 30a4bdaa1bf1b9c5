//! Guest functions that fail: by panicking, and by returning an error.

use alloc::string::String;

use hyperlight_guest::{register_function, FunctionError};

pub fn register() {
    register_function("Panic", |msg: String| -> () { panic!("{msg}") });
    register_function("Abort", |code: i32, msg: String| -> () { hyperlight_guest::abort(code, &msg) });
    register_function("Fail", |msg: String| -> Result<(), FunctionError> { Err(FunctionError::failed(msg)) });
}
