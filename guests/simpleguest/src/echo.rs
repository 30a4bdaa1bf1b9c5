//! Every value type, there and back.

use alloc::string::String;
use alloc::vec::Vec;

use hyperlight_guest::register_function;

pub fn register() {
    register_function("EchoI32", |x: i32| x);
    register_function("EchoU32", |x: u32| x);
    register_function("EchoI64", |x: i64| x);
    register_function("EchoU64", |x: u64| x);
    register_function("EchoF32", |x: f32| x);
    register_function("EchoF64", |x: f64| x);
    register_function("EchoBool", |x: bool| x);
    register_function("EchoString", |x: String| x);
    register_function("EchoBytes", |x: Vec<u8>| x);
    register_function("ReturnUnit", || ());
}
