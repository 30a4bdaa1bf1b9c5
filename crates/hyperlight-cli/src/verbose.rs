//! `-v`: the library's spans and the guest's log records on stderr, through
//! `tracing-subscriber`'s formatter.

use hyperlight_host::{GuestLogLevel, LogLevel};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

/// Installs a subscriber that prints to stderr, if `-v` was given or `RUST_LOG` is
/// set: `RUST_LOG`'s directives, else `hyperlight_host`, `hyperlight_wasm` and
/// `hyperlight_guest` at info (-v), debug (-vv) or trace (-vvv). Each span is printed
/// when it closes, with its fields and how long it took. With neither, nothing is
/// installed and observability costs nothing.
///
/// Returns the guest log level that `-v` asks for (`None`: the library's default,
/// which reads `RUST_LOG`).
pub fn install(verbose: u8) -> Option<GuestLogLevel> {
    let from_env = std::env::var_os("RUST_LOG").is_some();
    let level = match verbose {
        0 => None,
        1 => Some(LogLevel::Info),
        2 => Some(LogLevel::Debug),
        _ => Some(LogLevel::Trace),
    };
    let filter = match (from_env, level) {
        (true, _) => EnvFilter::from_default_env(),
        (false, Some(l)) => {
            let l = l.name();
            EnvFilter::new(format!("hyperlight_host={l},hyperlight_wasm={l},hyperlight_guest={l}"))
        }
        (false, None) => return None,
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .init();
    if from_env {
        None
    } else {
        level.map(Some)
    }
}
