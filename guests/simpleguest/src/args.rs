//! Several parameters, of mixed types, up to the maximum of 12.

use alloc::string::String;

use hyperlight_guest::register_function;

pub fn register() {
    register_function("Add", |a: i32, b: i32| a.wrapping_add(b));
    register_function("SumEight", sum_eight);
    register_function("Concat12", concat12);
    register_function("Square", square);
}

/// The sum of the numbers, plus 1 if `g`, plus the length of `h`.
#[allow(clippy::too_many_arguments)]
#[allow(clippy::cast_precision_loss)] // the test values are small
fn sum_eight(a: i32, b: u32, c: i64, d: u64, e: f32, f: f64, g: bool, h: String) -> f64 {
    f64::from(a) + f64::from(b) + c as f64 + d as f64 + f64::from(e) + f + f64::from(u8::from(g)) + h.len() as f64
}

#[allow(clippy::too_many_arguments)]
#[allow(clippy::needless_pass_by_value)]
fn concat12(
    a: String,
    b: String,
    c: String,
    d: String,
    e: String,
    f: String,
    g: String,
    h: String,
    i: String,
    j: String,
    k: String,
    l: String,
) -> String {
    [a, b, c, d, e, f, g, h, i, j, k, l].concat()
}

/// A function of its own (never inlined), so that a debugger can break on
/// `simpleguest::args::square`, read `x`, and `finish` to see the result.
#[inline(never)]
fn square(x: i64) -> i64 {
    x.wrapping_mul(x)
}
