//! Calls into the host. Each propagates the host's error with `?`, so the host test
//! sees exactly what the host side reported.

use alloc::string::String;

use hyperlight_guest::{call_host, register_function, FunctionError};

pub fn register() {
    register_function("CallHostAdd", |a: i32, b: i32| call_host::<i32>("HostAdd", (a, b)));
    register_function("CallHostEcho", |s: String| call_host::<String>("HostEcho", s));
    register_function("CallHostNamed", |name: String| call_host::<String>(&name, ()));
    register_function("CallHostAddWrongTypes", || {
        call_host::<i32>("HostAdd", (String::from("one"), String::from("two")))
    });
    register_function("CallHostAddWrongCount", || call_host::<i32>("HostAdd", 1i32));
    register_function("CallHostFail", |msg: String| call_host::<()>("HostFail", msg));
    register_function("CallHostTwice", call_host_twice);
}

/// `HostAdd(x, 1)`, then `HostAdd` of that and 1: `x + 2` in two host calls.
fn call_host_twice(x: i32) -> Result<i32, FunctionError> {
    let once = call_host::<i32>("HostAdd", (x, 1))?;
    call_host::<i32>("HostAdd", (once, 1))
}
