//! The Wasm guest logs through the native path: the built-in `env.log` import and
//! WASI stderr lines become `tracing` events with target `hyperlight_guest`.

mod common;

use std::sync::{Arc, Mutex};

use hyperlight_host::LogLevel;
use hyperlight_wasm::WasmSandbox;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

type Records = Arc<Mutex<Vec<(Level, String, String)>>>;

/// Held by each test of this file: they must not run at once. `tracing` caches each
/// callsite's interest process-wide; a guest-log callsite first reached by the test
/// without a subscriber while the other one is creating its own can keep the
/// "never" of the first, and the capturing test then sees no record (it failed
/// about one run in two on a loaded machine).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Guest records: level, message, guest_module.
#[derive(Clone, Default)]
struct Capture(Records);

struct Fields(String, String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.0 = format!("{value:?}"),
            "guest_module" => self.1 = format!("{value:?}"),
            _ => {}
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.0 = value.to_string(),
            "guest_module" => self.1 = value.to_string(),
            _ => {}
        }
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == "hyperlight_guest" {
            let mut f = Fields(String::new(), String::new());
            event.record(&mut f);
            self.0.lock().expect("lock").push((*event.metadata().level(), f.0, f.1));
        }
    }
}

#[test]
fn env_log_and_stderr_lines_are_guest_records() {
    let _serial = serial();
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    tracing::subscriber::with_default(subscriber, || {
        let builder = WasmSandbox::builder().guest_log_level(Some(LogLevel::Info)).stderr_to_log(LogLevel::Warn);
        let mut sb = common::build(builder, "logging.wat");
        sb.call::<()>("log", LogLevel::Info as i32).expect("log");
        sb.call::<()>("log", LogLevel::Debug as i32).expect("log below the level");
        sb.call::<()>("log", 99).expect("a level past trace is trace");
        assert_eq!(sb.call::<i32>("stderr", ()).expect("stderr"), 0);
        let records = capture.0.lock().expect("lock").clone();
        let expected = [
            (Level::INFO, "a record from wasm", "wasm"),
            (Level::WARN, "first line", "wasm::stderr"),
            (Level::WARN, "second line", "wasm::stderr"),
            // The unfinished line goes out when the call ends.
            (Level::WARN, "unfinished", "wasm::stderr"),
        ];
        let got: Vec<(Level, &str, &str)> = records.iter().map(|(l, m, g)| (*l, m.as_str(), g.as_str())).collect();
        assert_eq!(got, expected);
    });
}

#[test]
fn without_stderr_to_log_stderr_stays_a_stream() {
    let _serial = serial();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let builder = WasmSandbox::builder().stderr(move |b| sink.lock().expect("lock").extend_from_slice(b));
    let mut sb = common::build(builder, "logging.wat");
    assert_eq!(sb.call::<i32>("stderr", ()).expect("stderr"), 0);
    assert_eq!(&seen.lock().expect("lock")[..], b"first line\nsecond line\nunfinished");
}
