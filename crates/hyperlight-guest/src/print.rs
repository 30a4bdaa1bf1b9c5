//! `print!` and `println!`: text to the host's
//! [`PRINT_FUNCTION`](hyperlight_common::PRINT_FUNCTION).

use alloc::string::String;
use core::fmt::{self, Write};

/// Sends formatted text to the host's print function; used by [`print!`](crate::print)
/// and [`println!`](crate::println).
///
/// Text longer than fits the output buffer goes in several host calls, split on
/// character boundaries, so nothing is lost. Errors are ignored, like a failed write
/// to a closed stdout: printing is a diagnostic and must not fail the guest function
/// that prints.
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let text = match args.as_str() {
        Some(s) => String::from(s),
        None => {
            let mut s = String::new();
            // Writing into a `String` cannot fail (it aborts on out of memory instead).
            let _ = s.write_fmt(args);
            s
        }
    };
    // Room for the text in one frame: the buffer less the frame header, the function
    // name and the encoding's length prefixes and tags (generously).
    let overhead = hyperlight_common::PRINT_FUNCTION.len() + 32;
    let room =
        crate::buffers::Buffers::current().map(|b| b.output_capacity().saturating_sub(overhead)).unwrap_or(0).max(4);
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let mut end = rest.len().min(room);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (chunk, tail) = rest.split_at(end);
        let _ = crate::call_host::<()>(hyperlight_common::PRINT_FUNCTION, String::from(chunk));
        rest = tail;
    }
}

/// Prints to the host, like `std::print!`: formats its arguments and calls the host
/// function [`PRINT_FUNCTION`](hyperlight_common::PRINT_FUNCTION) with the text.
/// One host call per use.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::print::_print(::core::format_args!($($arg)*))
    };
}

/// Prints a line to the host, like `std::println!` (see [`print!`](crate::print)).
#[macro_export]
macro_rules! println {
    () => {
        $crate::print::_print(::core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::print::_print(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}
