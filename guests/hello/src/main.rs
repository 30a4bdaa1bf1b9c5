//! The demo guest: one function, `SayHello`, which asks the host for the weekday.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;

use hyperlight_guest::{call_host, println, register_function, FunctionError};

hyperlight_guest::main!(init);

fn init() {
    register_function("SayHello", say_hello);
}

/// `SayHello(name: String) -> String`, with the weekday from the host's `GetWeekday`.
fn say_hello(name: String) -> Result<String, FunctionError> {
    let weekday: String = call_host("GetWeekday", ())?;
    println!("hello guest: greeting {name} on a {weekday}");
    Ok(format!("Hello, {name}! Today is {weekday}."))
}
