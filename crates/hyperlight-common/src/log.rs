//! Guest log records: their levels, and the host function that receives them.
//!
//! A guest sends each record it keeps as one call of the host function
//! [`LOG_FUNCTION`] with the arguments `(level: u32, message: String, module: String,
//! file: String, line: u32)`, `level` being a [`LogLevel`] as a number. It keeps only
//! records at or below the level in [`BootInfo::max_log_level`](crate::boot::BootInfo),
//! and checks that before it formats anything.

/// Name of the host function that receives guest log records (see the module docs).
/// The host serves it itself; a guest in any language may call it.
pub const LOG_FUNCTION: &str = "HostLog";

/// How important a log record is, from [`Error`](LogLevel::Error) (most) to
/// [`Trace`](LogLevel::Trace) (least). The numbers are the wire values; they are
/// those of the `log` crate's `Level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum LogLevel {
    /// Something failed.
    Error = 1,
    /// Something looks wrong.
    Warn = 2,
    /// What the guest is doing.
    Info = 3,
    /// Details for whoever debugs the guest.
    Debug = 4,
    /// Every step.
    Trace = 5,
}

impl LogLevel {
    /// Every level, most important first.
    pub const ALL: [LogLevel; 5] = [LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug, LogLevel::Trace];

    /// The level of wire value `n`, if it is one.
    pub fn from_u32(n: u32) -> Option<LogLevel> {
        LogLevel::ALL.into_iter().find(|l| *l as u32 == n)
    }

    /// The level's name in lower case, as `RUST_LOG` spells it.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }

    /// The level named `name` (any case; also "warning"), if it is one.
    pub fn from_name(name: &str) -> Option<LogLevel> {
        let n = name.trim();
        if n.eq_ignore_ascii_case("warning") {
            return Some(LogLevel::Warn);
        }
        LogLevel::ALL.into_iter().find(|l| n.eq_ignore_ascii_case(l.name()))
    }

    /// Whether a record at this level passes a maximum of `max` (the
    /// [`BootInfo::max_log_level`](crate::boot::BootInfo) word: 0 keeps nothing).
    pub fn passes(self, max: u32) -> bool {
        self as u32 <= max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip_and_filter() {
        for l in LogLevel::ALL {
            assert_eq!(LogLevel::from_u32(l as u32), Some(l));
            assert_eq!(LogLevel::from_name(l.name()), Some(l));
        }
        assert_eq!(LogLevel::from_u32(0), None);
        assert_eq!(LogLevel::from_u32(6), None);
        assert_eq!(LogLevel::from_name("WARNING"), Some(LogLevel::Warn));
        assert!(LogLevel::Error.passes(1));
        assert!(!LogLevel::Warn.passes(1));
        assert!(!LogLevel::Error.passes(0));
        assert!(LogLevel::Trace.passes(5));
    }
}
