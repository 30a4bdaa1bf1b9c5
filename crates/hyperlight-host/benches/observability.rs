//! What observability costs: a call (`EchoString`) and the call + restore cycle
//!
//! - `quiet`: no subscriber and no recorder installed (the instrumentation runs and
//!   finds nobody listening);
//! - `drop_all`: a `tracing` subscriber that drops everything (enabled for nothing, with
//!   no level hint, so every span asks it) and the no-op `metrics` recorder installed;
//! - `compiled_out`: the same as `quiet`, in a build without the feature
//!   `observability` (`cargo bench -p hyperlight-host --no-default-features --bench
//!   observability`): the instrumentation is not there at all;
//!
//! and one guest log record that is kept (`log_record_kept`: a call logging one
//! record, against `log_record_none`, the same call logging none, with a subscriber
//! that takes every record and discards it), reported as a ratio to one CPL3 exit
//! round trip of `../shared/tools/kvm-limits` from the same run.
//!
//! `cargo xtask bench-obs` runs both builds in turn, several rounds, and prints the
//! ratios; each run prints its medians as `obs-median ID US` lines.

mod common;

use std::time::SystemTime;

use common::{guest, median_us, raw_limits, raw_row};
use criterion::Criterion;
use hyperlight_host::{LogLevel, Sandbox, SandboxBuilder};

/// A subscriber that wants nothing, and says so only when asked about each callsite.
#[cfg_attr(not(feature = "observability"), allow(dead_code))]
struct DropAll;

impl tracing::Subscriber for DropAll {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// A subscriber that takes every event and span and throws it away.
#[cfg_attr(not(feature = "observability"), allow(dead_code))]
struct TakeAll;

impl tracing::Subscriber for TakeAll {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        std::hint::black_box(e);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn simpleguest(level: Option<LogLevel>) -> Sandbox {
    SandboxBuilder::new().guest_log_level(level).build_from_bytes(&guest("simpleguest")).expect("simpleguest builds")
}

/// The name of the no-listener variant in this build.
fn quiet() -> &'static str {
    if cfg!(feature = "observability") {
        "quiet"
    } else {
        "compiled_out"
    }
}

/// The observation of a call around no call (what a call pays for being observed),
/// measured in process: no VM exit, so none of its noise.
fn shell(c: &mut Criterion, variant: &str) {
    let mut sandbox = simpleguest(Some(LogLevel::Warn));
    let echo = sandbox.func::<(String,), String>("EchoString").expect("EchoString");
    let index = sandbox
        .functions()
        .and_then(|f| f.iter().position(|s| s.name == echo.name()))
        .and_then(|i| u32::try_from(i).ok());
    let mut g = c.benchmark_group("obs");
    g.bench_function(format!("shell_{variant}"), |b| {
        b.iter(|| hyperlight_host::testing::observed_nothing(&mut sandbox, "EchoString", index))
    });
    g.finish();
}

fn call_and_cycle(c: &mut Criterion, variant: &str) {
    let mut sandbox = simpleguest(Some(LogLevel::Warn));
    let clean = sandbox.snapshot().expect("snapshot");
    let mut g = c.benchmark_group("obs");
    g.bench_function(format!("echo_string_{variant}"), |b| {
        b.iter(|| sandbox.call::<String>("EchoString", "hello".to_string()).expect("echo"))
    });
    g.bench_function(format!("call_restore_{variant}"), |b| {
        b.iter(|| {
            let s = sandbox.call::<String>("EchoString", "hello".to_string()).expect("echo");
            sandbox.restore(&clean).expect("restore");
            s
        })
    });
    g.finish();
}

#[cfg_attr(not(feature = "observability"), allow(dead_code))]
fn log_record(c: &mut Criterion) {
    let mut sandbox = simpleguest(Some(LogLevel::Info));
    let mut g = c.benchmark_group("obs");
    for (name, n) in [("log_record_none", 0u32), ("log_record_kept", 1)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                sandbox.call::<bool>(
                    "LogPlain",
                    (LogLevel::Info as u32, "a record of forty bytes, give or take".to_string(), n),
                )
            })
        });
    }
    g.finish();
}

fn main() {
    let since = SystemTime::now();
    let raw = raw_limits("4");
    let mut c = Criterion::default().configure_from_args();
    shell(&mut c, quiet());
    call_and_cycle(&mut c, quiet());
    let mut ids = vec![
        format!("obs/shell_{}", quiet()),
        format!("obs/echo_string_{}", quiet()),
        format!("obs/call_restore_{}", quiet()),
    ];
    if cfg!(feature = "observability") {
        {
            let _recorder = metrics::set_default_local_recorder(&metrics::NoopRecorder);
            tracing::subscriber::with_default(DropAll, || {
                shell(&mut c, "drop_all");
                call_and_cycle(&mut c, "drop_all");
            });
        }
        tracing::subscriber::with_default(TakeAll, || log_record(&mut c));
        ids.extend(
            [
                "obs/shell_drop_all",
                "obs/echo_string_drop_all",
                "obs/call_restore_drop_all",
                "obs/log_record_none",
                "obs/log_record_kept",
            ]
            .map(String::from),
        );
    }
    c.final_summary();
    for id in &ids {
        if let Some(m) = median_us(id, since) {
            println!("obs-median {id} {m:.4}");
        }
    }
    // Medians in us: the shell's are fractions of a microsecond.
    if let Some(rt) = raw.as_ref().and_then(|r| raw_row(r, "CPL3 PIO")) {
        println!("obs-median raw/cpl3_round_trip {rt:.3}");
    }
}
