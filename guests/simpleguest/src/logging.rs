//! Log records, for the host's observability tests.

use alloc::string::String;

use hyperlight_guest::{register_function, LogLevel};

pub fn register() {
    // One record at each level through the `log` facade, the message carrying its
    // level's name.
    register_function("LogEveryLevel", |s: String| {
        log::error!("error: {s}");
        log::warn!("warn: {s}");
        log::info!("info: {s}");
        log::debug!("debug: {s}");
        log::trace!("trace: {s}");
    });
    // `n` records at `level` (1 = error ... 5 = trace) through the plain function.
    register_function("LogPlain", |level: u32, s: String, n: u32| {
        let Some(level) = LogLevel::from_u32(level) else { return false };
        for _ in 0..n {
            hyperlight_guest::log(level, &s);
        }
        true
    });
    // A record, then a panic: the record must reach the host all the same.
    register_function("LogThenPanic", |s: String| -> u32 {
        log::error!("before the panic: {s}");
        panic!("after logging {s}");
    });
}
