//! Guest log records: the level the host asks for, and each record as a `tracing`
//! event with target `hyperlight_guest`.

use std::sync::OnceLock;

use hyperlight_common::{FunctionError, LogLevel, Value, ValueType, LOG_FUNCTION};

/// The most verbose guest log level a sandbox keeps: `None` keeps none.
pub type GuestLogLevel = Option<LogLevel>;

/// The default guest log level, read once per process: `HYPERLIGHT_GUEST_LOG` (a level
/// name, or `off`) if set, else `RUST_LOG`'s directive for the target
/// `hyperlight_guest`, else its default level (a directive without a target), else
/// [`LogLevel::Warn`].
pub fn default_guest_log_level() -> GuestLogLevel {
    static DEFAULT: OnceLock<GuestLogLevel> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        from_env(std::env::var("HYPERLIGHT_GUEST_LOG").ok().as_deref(), std::env::var("RUST_LOG").ok().as_deref())
    })
}

/// [`default_guest_log_level`] from the two variables' values.
fn from_env(guest_log: Option<&str>, rust_log: Option<&str>) -> GuestLogLevel {
    let level = |s: &str| -> Option<GuestLogLevel> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            Some(None)
        } else {
            LogLevel::from_name(s).map(Some)
        }
    };
    if let Some(l) = guest_log.and_then(level) {
        return l;
    }
    let directives = || rust_log.unwrap_or("").split(',').map(str::trim);
    let targeted = directives().find_map(|d| {
        let (target, l) = d.split_once('=')?;
        let target = target.trim();
        (target == "hyperlight_guest" || target.starts_with("hyperlight_guest::")).then(|| level(l)).flatten()
    });
    targeted.or_else(|| directives().filter(|d| !d.contains('=')).find_map(level)).unwrap_or(Some(LogLevel::Warn))
}

/// The boot-information word for a sandbox that keeps `configured`: the configured
/// level, lowered to the most verbose one a `tracing` subscriber would take for
/// target `hyperlight_guest` (0 when none would: a guest then sends nothing).
pub(crate) fn effective_level(configured: GuestLogLevel) -> u32 {
    match (configured, listened()) {
        (Some(configured), Some(listened)) => configured.min(listened) as u32,
        _ => 0,
    }
}

/// The most verbose guest level a subscriber listens to now, as a `LogLevel` (`None`:
/// no subscriber takes any).
#[cfg(feature = "observability")]
fn listened() -> Option<LogLevel> {
    use tracing::Level;
    if tracing::enabled!(target: "hyperlight_guest", Level::TRACE) {
        Some(LogLevel::Trace)
    } else if tracing::enabled!(target: "hyperlight_guest", Level::DEBUG) {
        Some(LogLevel::Debug)
    } else if tracing::enabled!(target: "hyperlight_guest", Level::INFO) {
        Some(LogLevel::Info)
    } else if tracing::enabled!(target: "hyperlight_guest", Level::WARN) {
        Some(LogLevel::Warn)
    } else if tracing::enabled!(target: "hyperlight_guest", Level::ERROR) {
        Some(LogLevel::Error)
    } else {
        None
    }
}

#[cfg(not(feature = "observability"))]
fn listened() -> Option<LogLevel> {
    None
}

/// Serves one call of [`LOG_FUNCTION`] from sandbox `sandbox_id`: checks its arguments
/// `(level: u32, message: String, module: String, file: String, line: u32)` as a host
/// function's are checked, and emits the record as an event.
pub(crate) fn record(sandbox_id: u64, args: Vec<Value>) -> Result<Value, FunctionError> {
    const PARAMS: [ValueType; 5] =
        [ValueType::U32, ValueType::String, ValueType::String, ValueType::String, ValueType::U32];
    let function = || LOG_FUNCTION.to_string();
    let args = <[Value; 5]>::try_from(args).map_err(|args| FunctionError::ArgumentCount {
        function: function(),
        expected: 5,
        got: u32::try_from(args.len()).unwrap_or(u32::MAX),
    })?;
    let [Value::U32(level), Value::String(message), Value::String(module), Value::String(file), Value::U32(line)] =
        args
    else {
        let (index, got, expected) = args
            .iter()
            .zip(PARAMS)
            .enumerate()
            .find(|(_, (v, t))| v.value_type() != *t)
            .map_or((0, ValueType::Unit, PARAMS[0]), |(i, (v, t))| (i, v.value_type(), t));
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        return Err(FunctionError::ArgumentType { function: function(), index, expected, got });
    };
    let level = LogLevel::from_u32(level).ok_or_else(|| FunctionError::HostFunctionFailed {
        name: function(),
        message: format!("no log level {level}"),
    })?;
    emit(sandbox_id, level, &message, &module, &file, line);
    Ok(Value::Unit)
}

/// The event of one guest record. The guest's location is in fields (`guest_module`,
/// `guest_file`, `guest_line`, as Hyperlight names them): an event's own metadata
/// location is static, the host's.
#[cfg(feature = "observability")]
fn emit(sandbox_id: u64, level: LogLevel, message: &str, module: &str, file: &str, line: u32) {
    macro_rules! event {
        ($lvl:ident) => {
            tracing::event!(
                target: "hyperlight_guest",
                tracing::Level::$lvl,
                sandbox_id,
                guest_module = module,
                guest_file = file,
                guest_line = line,
                "{message}"
            )
        };
    }
    match level {
        LogLevel::Error => event!(ERROR),
        LogLevel::Warn => event!(WARN),
        LogLevel::Info => event!(INFO),
        LogLevel::Debug => event!(DEBUG),
        LogLevel::Trace => event!(TRACE),
    }
}

#[cfg(not(feature = "observability"))]
fn emit(_sandbox_id: u64, _level: LogLevel, _message: &str, _module: &str, _file: &str, _line: u32) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_level_comes_from_the_environment() {
        assert_eq!(from_env(None, None), Some(LogLevel::Warn));
        assert_eq!(from_env(Some("debug"), Some("trace")), Some(LogLevel::Debug));
        assert_eq!(from_env(Some("off"), Some("trace")), None);
        assert_eq!(from_env(Some("nonsense"), Some("info")), Some(LogLevel::Info));
        assert_eq!(from_env(None, Some("hyperlight_host=debug,hyperlight_guest=trace,error")), Some(LogLevel::Trace));
        assert_eq!(from_env(None, Some("hyperlight_guest::x=info")), Some(LogLevel::Info));
        assert_eq!(from_env(None, Some("hyperlight_host=debug, error")), Some(LogLevel::Error));
        assert_eq!(from_env(None, Some("hyperlight_guest=off,info")), None);
        assert_eq!(from_env(None, Some("hyperlight_guestx=trace")), Some(LogLevel::Warn));
    }
}
