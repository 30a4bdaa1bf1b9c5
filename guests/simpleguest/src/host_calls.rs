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
    register_function("CallHostSumEight", call_host_sum_eight);
}

/// `HostAdd(x, 1)`, then `HostAdd` of that and 1: `x + 2` in two host calls.
fn call_host_twice(x: i32) -> Result<i32, FunctionError> {
    let once = call_host::<i32>("HostAdd", (x, 1))?;
    call_host::<i32>("HostAdd", (once, 1))
}

/// Calls host `HostSumEight(i32, u32, i64, u64, f32, f64, bool, String) -> f64` with
/// its own eight arguments: a host function of eight mixed parameters.
#[allow(clippy::too_many_arguments)]
fn call_host_sum_eight(
    a: i32,
    b: u32,
    c: i64,
    d: u64,
    e: f32,
    f: f64,
    g: bool,
    h: String,
) -> Result<f64, FunctionError> {
    call_host::<f64>("HostSumEight", (a, b, c, d, e, f, g, h))
}
