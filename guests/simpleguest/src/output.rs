//! `println!` through the host's print function.

use alloc::string::String;

use hyperlight_guest::{println, register_function};

pub fn register() {
    register_function("Print", |s: String| println!("{s}"));
    register_function("PrintMany", |n: u32| {
        for i in 0..n {
            println!("line {i} of {n}");
        }
    });
}
