//! `hl_format_double`: the digits of `%f`, `%e` and `%g` for the C runtime's printf.
//!
//! Rust's float formatting is exact (shortest round trip, correctly rounded fixed
//! precision); the C side (`runtime/printf.c`) adds sign, width and padding.

use alloc::format;
use alloc::string::String;
use core::ffi::{c_char, c_int};

/// Writes `|value|` as printf's conversion `conversion` (`f`, `F`, `e`, `E`, `g`, `G`)
/// with `precision` digits (negative: 6) and the `#` flag `alternate`, without a sign,
/// into `buf` (at most `capacity` bytes, no NUL); returns the full length.
///
/// # Safety
///
/// `buf` is writable for `capacity` bytes (or null with `capacity` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn hl_format_double(
    value: f64,
    conversion: c_char,
    precision: c_int,
    alternate: bool,
    buf: *mut c_char,
    capacity: usize,
) -> usize {
    let conversion = conversion.to_le_bytes()[0];
    let precision = usize::try_from(precision).unwrap_or(6).min(1000);
    let text = format_abs(value.abs(), conversion, precision, alternate);
    let n = text.len().min(capacity);
    if n > 0 && !buf.is_null() {
        // SAFETY: the caller promises `capacity` writable bytes; `n <= capacity`.
        unsafe { core::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n) };
    }
    text.len()
}

/// The text of a non-negative `value`.
fn format_abs(value: f64, conversion: u8, precision: usize, alternate: bool) -> String {
    let upper = conversion.is_ascii_uppercase();
    let text = if value.is_nan() {
        String::from("nan")
    } else if value.is_infinite() {
        String::from("inf")
    } else {
        match conversion.to_ascii_lowercase() {
            b'e' => exponential(value, precision, alternate),
            b'g' => general(value, precision, alternate),
            _ => fixed(value, precision, alternate),
        }
    };
    if upper {
        text.to_ascii_uppercase()
    } else {
        text
    }
}

/// `%f`: `precision` digits after the point.
fn fixed(value: f64, precision: usize, alternate: bool) -> String {
    let mut s = format!("{value:.precision$}");
    if alternate && precision == 0 {
        s.push('.');
    }
    s
}

/// `%e`: one digit, the point, `precision` digits, and an exponent of at least two
/// digits with its sign (Rust writes `1.5e0`, C `1.5e+00`).
fn exponential(value: f64, precision: usize, alternate: bool) -> String {
    let (mantissa, exponent) = split_exponent(value, precision);
    let mut s = mantissa;
    if alternate && precision == 0 {
        s.push('.');
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    s.push_str(&format!("e{sign}{:02}", exponent.unsigned_abs()));
    s
}

/// Rust's `{:.precision$e}` of `value`, as its mantissa and exponent.
fn split_exponent(value: f64, precision: usize) -> (String, i32) {
    let s = format!("{value:.precision$e}");
    match s.split_once('e') {
        Some((m, e)) => (String::from(m), e.parse().unwrap_or(0)),
        None => (s, 0),
    }
}

/// `%g`: `%e` or `%f` by the exponent, as C specifies, then without trailing zeros
/// unless `#`.
fn general(value: f64, precision: usize, alternate: bool) -> String {
    let p = precision.max(1);
    let x = if value == 0.0 { 0 } else { split_exponent(value, p - 1).1 };
    let p_i = i64::try_from(p).unwrap_or(i64::MAX);
    let x_i = i64::from(x);
    let mut s = if p_i > x_i && x_i >= -4 {
        let digits = usize::try_from(p_i - 1 - x_i).unwrap_or(0);
        fixed(value, digits, alternate)
    } else {
        exponential(value, p - 1, alternate)
    };
    if !alternate {
        let (body, exp) = match s.find('e') {
            Some(i) => (String::from(&s[..i]), String::from(&s[i..])),
            None => (s.clone(), String::new()),
        };
        let body = if body.contains('.') { body.trim_end_matches('0').trim_end_matches('.').into() } else { body };
        s = body + &exp;
    }
    s
}
