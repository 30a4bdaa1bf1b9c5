//! Guest logging: the `log` facade's logger, and [`log()`] / [`log_at`] for callers
//! without the facade (C guests).
//!
//! A record goes to the host as one call of
//! [`LOG_FUNCTION`](hyperlight_common::LOG_FUNCTION), which the host turns into a
//! `tracing` event with target `hyperlight_guest`. Before anything is formatted, the
//! record's level is checked against the maximum the host wrote into the boot
//! information ([`BootInfo::max_log_level`](hyperlight_common::boot::BootInfo)), read
//! afresh at every record because the host may change it between calls: a record the
//! host does not want costs a compare, not a VM exit.

use alloc::string::String;
use core::cell::Cell;
use core::fmt::{self, Write};

use hyperlight_common::boot::MAX_LOG_LEVEL_OFFSET;
pub use hyperlight_common::LogLevel;

use crate::cell::SingleThreaded;

/// The boot information block's address (set once at entry; 0 before).
static BOOT_INFO_ADDR: SingleThreaded<Cell<usize>> = SingleThreaded::new(Cell::new(0));

/// The logger `log::info!` and the others write to.
struct GuestLogger;

static LOGGER: GuestLogger = GuestLogger;

/// Installs the logger (once, at entry, before the program's init).
pub(crate) fn init(boot_info: usize) {
    BOOT_INFO_ADDR.set(boot_info);
    // The facade lets everything through to `GuestLogger`, which checks the host's
    // level itself (it can change after this). `set_logger` fails only if a logger
    // is already set, which nothing can have done before entry.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
}

/// The most verbose level the host wants now (0: none).
fn max_level() -> u32 {
    let base = BOOT_INFO_ADDR.get();
    if base == 0 {
        return 0;
    }
    let at = (base + MAX_LOG_LEVEL_OFFSET) as *const u32;
    // SAFETY: `base` is the boot information block the host passed at entry: mapped,
    // read-only to the guest, and at least `BOOT_INFO_SIZE` bytes, so the `u32` at
    // `MAX_LOG_LEVEL_OFFSET` is inside it and 4-aligned (the block is page-aligned).
    // The host rewrites it only while the guest is stopped at an exit; the volatile
    // read makes the compiler load it each time rather than keep an old value.
    unsafe { core::ptr::read_volatile(at) }
}

/// Whether the host wants records at `level` now.
pub fn enabled(level: LogLevel) -> bool {
    level.passes(max_level())
}

/// Sends `message` at `level` to the host's log, with the caller's file and line;
/// nothing happens if the host does not want records at that level. The plain form
/// for callers that do not use the `log` facade (`log::info!` and the others work in
/// every guest; the runtime installs their logger).
///
/// ```ignore
/// // ignore: runs only inside a guest (x86_64-unknown-none).
/// hyperlight_guest::log(hyperlight_guest::LogLevel::Warn, "low on heap");
/// ```
#[track_caller]
pub fn log(level: LogLevel, message: &str) {
    let at = core::panic::Location::caller();
    log_at(level, message, "", at.file(), at.line());
}

/// [`log()`] with the source location given: the module path, file and line the
/// record is attributed to.
pub fn log_at(level: LogLevel, message: &str, module: &str, file: &str, line: u32) {
    if enabled(level) {
        send(level, format_args!("{message}"), module, file, line);
    }
}

/// Formats the record (cut to fit the output buffer) and calls the host.
fn send(level: LogLevel, message: fmt::Arguments<'_>, module: &str, file: &str, line: u32) {
    let mut text = String::new();
    match message.as_str() {
        Some(s) => text.push_str(s),
        // Writing into a `String` cannot fail (it aborts on out of memory instead).
        None => {
            let _ = text.write_fmt(message);
        }
    }
    // Room for the message in one frame: the buffer less the frame header, the
    // function name, the module and file, and the encoding's prefixes (generously).
    let overhead = hyperlight_common::LOG_FUNCTION.len() + module.len() + file.len() + 64;
    let room = crate::buffers::Buffers::current().map(|b| b.output_capacity().saturating_sub(overhead)).unwrap_or(0);
    if text.len() > room {
        let mut end = room;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    let args = (level as u32, text, String::from(module), String::from(file), line);
    // Logging is a diagnostic: a host that cannot take the record must not fail the
    // guest function that logs.
    let _ = crate::call_host::<()>(hyperlight_common::LOG_FUNCTION, args);
}

fn level_of(level: log::Level) -> LogLevel {
    match level {
        log::Level::Error => LogLevel::Error,
        log::Level::Warn => LogLevel::Warn,
        log::Level::Info => LogLevel::Info,
        log::Level::Debug => LogLevel::Debug,
        log::Level::Trace => LogLevel::Trace,
    }
}

impl log::Log for GuestLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        enabled(level_of(metadata.level()))
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = level_of(record.level());
        if enabled(level) {
            let module = record.module_path().unwrap_or(record.target());
            send(level, *record.args(), module, record.file().unwrap_or(""), record.line().unwrap_or(0));
        }
    }

    fn flush(&self) {}
}
