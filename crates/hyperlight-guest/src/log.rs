//! [`log`]: a log record to the host, at a level, for C-style callers too.
//!
//! The record goes to the host function [`LOG_FUNCTION`] as `(level: u32, message:
//! String, module: String, file: String, line: u32)`. Like printing, logging never
//! fails the caller: a host without that function, or a record too large for the
//! output buffer, drops the record.

use alloc::string::String;

/// Name of the host function that receives the guest's log records.
pub const LOG_FUNCTION: &str = "HostLog";

/// How severe a log record is; `level as u32` is what the host receives (1 for
/// `Error` to 5 for `Trace`, the numbering of the `log` crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum LogLevel {
    /// Something failed.
    Error = 1,
    /// Something looks wrong.
    Warn = 2,
    /// What happens, in brief.
    Info = 3,
    /// Detail for whoever debugs the guest.
    Debug = 4,
    /// Every step.
    Trace = 5,
}

/// Sends `message` to the host's log at `level`, with the caller's file and line.
///
/// A plain function rather than a macro, so that callers in other languages (the C
/// API) reach it too; the module is left empty, as such callers have none.
///
/// ```ignore
/// // ignore: runs only inside a guest (x86_64-unknown-none).
/// hyperlight_guest::log(hyperlight_guest::LogLevel::Info, "ready");
/// ```
#[track_caller]
pub fn log(level: LogLevel, message: &str) {
    let at = core::panic::Location::caller();
    let args = (level as u32, String::from(message), String::new(), String::from(at.file()), at.line());
    // Logging is a diagnostic: a missing host function or a full buffer must not fail
    // the guest function that logs.
    let _ = crate::call_host::<()>(LOG_FUNCTION, args);
}
