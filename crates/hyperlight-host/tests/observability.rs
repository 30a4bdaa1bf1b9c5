//! Observability: guest log records as `tracing` events (every level, with their
//! fields), filtering in the guest (a filtered record costs no exit), the spans of
//! every operation, and every metric, through a capturing subscriber and the
//! `metrics-util` debugging recorder.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hyperlight_host::{metric_names as names, CallError, HostFunctions, LogLevel, Sandbox, Snapshot};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One event as the subscriber saw it.
#[derive(Debug, Clone)]
struct SeenEvent {
    target: String,
    level: Level,
    fields: HashMap<String, String>,
    /// The name of the span it happened in.
    parent: Option<String>,
}

/// One span as the subscriber saw it, with every field recorded on it.
#[derive(Debug, Clone)]
struct SeenSpan {
    name: &'static str,
    fields: HashMap<String, String>,
    parent: Option<String>,
}

#[derive(Default, Clone)]
struct Seen {
    events: Arc<Mutex<Vec<SeenEvent>>>,
    spans: Arc<Mutex<Vec<(u64, SeenSpan)>>>,
    /// Span names in the order the spans closed.
    closed: Arc<Mutex<Vec<&'static str>>>,
}

impl Seen {
    fn events(&self) -> Vec<SeenEvent> {
        self.events.lock().expect("lock").clone()
    }
    fn guest_events(&self) -> Vec<SeenEvent> {
        self.events().into_iter().filter(|e| e.target == "hyperlight_guest").collect()
    }
    fn spans(&self) -> Vec<SeenSpan> {
        self.spans.lock().expect("lock").iter().map(|(_, s)| s.clone()).collect()
    }
    fn spans_named(&self, name: &str) -> Vec<SeenSpan> {
        self.spans().into_iter().filter(|s| s.name == name).collect()
    }
    fn closed(&self) -> Vec<&'static str> {
        self.closed.lock().expect("lock").clone()
    }
    fn clear(&self) {
        self.closed.lock().expect("lock").clear();
        self.events.lock().expect("lock").clear();
        self.spans.lock().expect("lock").clear();
    }
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Seen {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let parent = ctx.span(id).and_then(|s| s.parent()).map(|p| p.name().to_string());
        self.spans
            .lock()
            .expect("lock")
            .push((id.into_u64(), SeenSpan { name: attrs.metadata().name(), fields, parent }));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut spans = self.spans.lock().expect("lock");
        // Ids are reused once a span closes: the last span with the id is the one.
        if let Some((_, s)) = spans.iter_mut().rev().find(|(i, _)| *i == id.into_u64()) {
            values.record(&mut Fields(&mut s.fields));
        }
    }
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            self.closed.lock().expect("lock").push(span.name());
        }
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let parent = ctx.event_span(event).map(|s| s.name().to_string());
        let meta = event.metadata();
        self.events.lock().expect("lock").push(SeenEvent {
            target: meta.target().to_string(),
            level: *meta.level(),
            fields,
            parent,
        });
    }
}

/// Tracing callsites cache their interest process-wide, and one registered on one
/// thread while another thread's subscriber is being set up can keep a stale
/// interest: the tests of this file run one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` with a capturing subscriber as this thread's default.
fn capture<R>(f: impl FnOnce(&Seen) -> R) -> R {
    let seen = Seen::default();
    let subscriber = tracing_subscriber::registry().with(seen.clone());
    tracing::subscriber::with_default(subscriber, || f(&seen))
}

fn build(level: Option<LogLevel>) -> Sandbox {
    common::build(common::builder().guest_log_level(level), "simpleguest")
}

#[test]
fn guest_logs_arrive_at_every_level_with_their_fields() {
    let _serial = serial();
    capture(|seen| {
        let mut sb = build(Some(LogLevel::Trace));
        seen.clear();
        sb.call::<()>("LogEveryLevel", "hello".to_string()).expect("call");
        let events = seen.guest_events();
        let levels: Vec<Level> = events.iter().map(|e| e.level).collect();
        assert_eq!(levels, [Level::ERROR, Level::WARN, Level::INFO, Level::DEBUG, Level::TRACE]);
        for (e, name) in events.iter().zip(["error", "warn", "info", "debug", "trace"]) {
            assert_eq!(e.fields["message"], format!("{name}: hello"));
            assert_eq!(e.fields["guest_module"], "simpleguest::logging");
            assert!(e.fields["guest_file"].ends_with("logging.rs"), "{:?}", e.fields);
            assert!(e.fields["guest_line"].parse::<u32>().expect("a line number") > 0);
            assert_eq!(e.fields["sandbox_id"], sb.id().to_string());
            assert_eq!(e.parent.as_deref(), Some("call"), "a record belongs to the call that logged it");
        }
        // The plain function, for callers without the facade: the caller's location.
        seen.clear();
        assert!(sb.call::<bool>("LogPlain", (LogLevel::Info as u32, "plain".to_string(), 1u32)).expect("call"));
        let events = seen.guest_events();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].level, events[0].fields["message"].as_str()), (Level::INFO, "plain"));
        assert!(events[0].fields["guest_file"].ends_with("logging.rs"));
        assert_eq!(events[0].fields["guest_module"], "");
    });
}

#[test]
fn a_c_guest_logs_through_the_same_path() {
    let _serial = serial();
    capture(|seen| {
        let mut sb = common::Guest::C.build(common::builder().guest_log_level(Some(LogLevel::Info)));
        seen.clear();
        sb.call::<()>("Log", (LogLevel::Info as u32, "ready ✓".to_string())).expect("call");
        let events = seen.guest_events();
        assert_eq!(events.len(), 2, "HL_LOG, then hl_log: {events:?}");
        for e in &events {
            assert_eq!((e.level, e.fields["message"].as_str()), (Level::INFO, "ready ✓"));
            assert_eq!(e.fields["sandbox_id"], sb.id().to_string());
        }
        assert!(events[0].fields["guest_file"].ends_with("runtime.c"), "HL_LOG names the caller: {:?}", events[0]);
        assert!(events[0].fields["guest_line"].parse::<u32>().expect("a line number") > 0);
        assert_eq!(events[1].fields["guest_file"], "", "hl_log has no location");
        // Filtered in the guest: a debug record costs no exit.
        seen.clear();
        let before = hyperlight_host::testing::exits(&mut sb);
        sb.call::<()>("Log", (LogLevel::Debug as u32, "quiet".to_string())).expect("call");
        assert_eq!(hyperlight_host::testing::exits(&mut sb) - before, 1);
        assert!(seen.guest_events().is_empty());
        // Out-of-range levels are the nearest one.
        sb.call::<()>("Log", (0u32, "zero".to_string())).expect("call");
        assert!(seen.guest_events().iter().all(|e| e.level == Level::ERROR));
    });
}

#[test]
fn a_filtered_record_costs_no_exit() {
    let _serial = serial();
    capture(|seen| {
        let mut sb = build(Some(LogLevel::Warn));
        seen.clear();
        sb.call::<()>("LogEveryLevel", "x".to_string()).expect("call");
        let levels: Vec<Level> = seen.guest_events().iter().map(|e| e.level).collect();
        assert_eq!(levels, [Level::ERROR, Level::WARN], "the guest keeps what the host asks for");

        let exits = |sb: &mut Sandbox, level: LogLevel, n: u32| {
            let before = hyperlight_host::testing::exits(sb);
            assert!(sb.call::<bool>("LogPlain", (level as u32, "r".to_string(), n)).expect("call"));
            hyperlight_host::testing::exits(sb) - before
        };
        assert_eq!(exits(&mut sb, LogLevel::Trace, 100), 1, "100 filtered records: the call's own exit only");
        assert_eq!(exits(&mut sb, LogLevel::Error, 3), 4, "each kept record is one host call");

        // The level changes from the next call on, and a restore keeps it.
        let clean = sb.snapshot().expect("snapshot");
        sb.set_guest_log_level(Some(LogLevel::Trace));
        assert_eq!(exits(&mut sb, LogLevel::Trace, 2), 3);
        sb.restore(&clean).expect("restore");
        assert_eq!(exits(&mut sb, LogLevel::Trace, 2), 3);
        sb.set_guest_log_level(None);
        assert_eq!(exits(&mut sb, LogLevel::Error, 5), 1);
        // A sandbox from a snapshot starts with the level of the sandbox it was taken from.
        let mut twin = Sandbox::from_snapshot(&clean, HostFunctions::new()).expect("twin");
        assert_eq!(twin.guest_log_level(), Some(LogLevel::Warn));
        assert_eq!(exits(&mut twin, LogLevel::Info, 2), 1);
        assert_eq!(exits(&mut twin, LogLevel::Warn, 2), 3);
    });
    // With no subscriber, nobody listens: the guest sends nothing at any level.
    let mut sb = build(Some(LogLevel::Trace));
    let before = hyperlight_host::testing::exits(&mut sb);
    assert!(sb.call::<bool>("LogPlain", (LogLevel::Error as u32, "r".to_string(), 10u32)).expect("call"));
    assert_eq!(hyperlight_host::testing::exits(&mut sb) - before, 1);
}

#[test]
fn records_logged_before_a_failure_are_kept() {
    let _serial = serial();
    capture(|seen| {
        let mut sb = build(Some(LogLevel::Info));
        seen.clear();
        let r = sb.call::<u32>("LogThenPanic", "boom".to_string());
        assert!(matches!(r, Err(CallError::GuestPanic { .. })), "{r:?}");
        let events = seen.guest_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].fields["message"], "before the panic: boom");
        let call = seen.spans_named("call").pop().expect("a call span");
        assert!(call.fields["error"].contains("the guest panicked"), "{:?}", call.fields);
        assert_eq!(call.fields["otel.status_code"], "ERROR");
    });
}

#[test]
fn every_operation_has_its_span() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("hl-obs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("s.hlsnap");
    capture(|seen| {
        let builder = common::builder().host_function("HostAdd", |a: i32, b: i32| a + b);
        let mut sb = common::build(builder, "simpleguest");
        let id = sb.id().to_string();
        let build = seen.spans_named("build").pop().expect("build span");
        assert_eq!(build.fields["sandbox_id"], id);
        for child in ["elf_parse", "memory", "vm_create", "guest_init"] {
            let s = seen.spans_named(child).pop().unwrap_or_else(|| panic!("no {child} span"));
            assert_eq!(s.parent.as_deref(), Some("build"), "{child}");
        }
        assert!(seen.spans_named("memory")[0].fields["memory_size"].parse::<u64>().expect("size") > 0);
        // Each step's span ends with the step (an exporter's durations are open to close).
        let steps = ["elf_parse", "memory", "vm_create", "guest_init", "build"];
        let order: Vec<&str> = seen.closed().into_iter().filter(|n| steps.contains(n)).collect();
        assert_eq!(order, steps);

        seen.clear();
        assert_eq!(sb.call::<i32>("CallHostAdd", (2, 3)).expect("call"), 5);
        let call = seen.spans_named("call").pop().expect("call span");
        assert_eq!((call.fields["func_name"].as_str(), call.fields["sandbox_id"].as_str()), ("CallHostAdd", &*id));
        assert!(!call.fields.contains_key("error"));
        let host = seen.spans_named("host_call").pop().expect("host_call span");
        assert_eq!(host.fields["func_name"], "HostAdd");
        assert_eq!(host.parent.as_deref(), Some("call"));

        // A typed handle's call is the same span.
        seen.clear();
        let echo = sb.func::<(i32,), i32>("EchoI32").expect("handle");
        echo.call(&mut sb, (4,)).expect("call");
        assert_eq!(seen.spans_named("call")[0].fields["func_name"], "EchoI32");

        // A batch is one span, its size a field; a failed call in it is its error.
        seen.clear();
        let mut batch = hyperlight_host::Batch::new();
        batch.call("Counter", ()).call("Fail", "no".to_string());
        assert!(sb.call_batch(&batch).is_err());
        let b = seen.spans_named("batch").pop().expect("batch span");
        assert_eq!(b.fields["calls"], "2");
        assert!(b.fields.contains_key("error"), "{:?}", b.fields);

        // Errors are on the span.
        seen.clear();
        let _ = sb.call::<i32>("NoSuchFunction", ());
        let call = seen.spans_named("call").pop().expect("call span");
        assert!(call.fields["error"].contains("NoSuchFunction"), "{:?}", call.fields);

        seen.clear();
        let clean = sb.snapshot().expect("snapshot");
        assert_eq!(seen.spans_named("snapshot").len(), 1);
        sb.call::<u64>("Counter", ()).expect("call");
        sb.restore(&clean).expect("restore");
        let restore = seen.spans_named("restore").pop().expect("restore span");
        assert!(restore.fields["pages"].parse::<u64>().expect("pages") >= 1, "{:?}", restore.fields);

        let mut other = common::build(common::builder(), "hello");
        let r = other.restore(&clean);
        assert!(r.is_err());
        assert!(seen.spans_named("restore").pop().expect("restore span").fields.contains_key("error"));
        drop(other);

        seen.clear();
        let twin = Sandbox::from_snapshot(&clean, HostFunctions::new()).expect("twin");
        let from = seen.spans_named("from_snapshot").pop().expect("from_snapshot span");
        assert!(["true", "false"].contains(&from.fields["pooled"].as_str()), "{:?}", from.fields);
        assert_eq!(from.fields["sandbox_id"], twin.id().to_string());
        drop(twin);
        // The VM of the dropped twin (or another) is in the pool now.
        let twin = Sandbox::from_snapshot(&clean, HostFunctions::new()).expect("twin");
        assert_eq!(seen.spans_named("from_snapshot").pop().expect("span").fields["pooled"], "true");
        drop(twin);

        seen.clear();
        clean.save(&file).expect("save");
        let save = seen.spans_named("save").pop().expect("save span");
        assert!(save.fields["bytes"].parse::<u64>().expect("bytes") > 0);
        Snapshot::load(&file).expect("load");
        let _ = Snapshot::from_bytes(b"not a snapshot");
        let loads = seen.spans_named("load");
        assert_eq!(loads.len(), 2);
        assert!(!loads[0].fields.contains_key("error"));
        assert!(loads[1].fields["error"].contains("magic"), "{:?}", loads[1].fields);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every counter, histogram and gauge, with the debugging recorder.
#[test]
fn every_metric_is_recorded() {
    let _serial = serial();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let builder = common::builder().host_function("HostAdd", |a: i32, b: i32| a + b);
        let mut sb = common::build(builder, "simpleguest");
        for _ in 0..3 {
            sb.call::<i32>("EchoI32", 1).expect("call");
        }
        let add = sb.func::<(i32, i32), i32>("CallHostAdd").expect("handle");
        add.call(&mut sb, (1, 2)).expect("call");
        let _ = sb.call::<i32>("NoSuchFunction", ());
        let _ = sb.call::<u32>("LogThenPanic", "x".to_string());
        let clean = sb.snapshot().expect("snapshot");
        sb.call::<u64>("Counter", ()).expect("call");
        sb.restore(&clean).expect("restore");
        let handle = sb.interrupt_handle();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            handle.kill();
        });
        assert!(matches!(sb.call::<()>("Spin", ()), Err(CallError::Cancelled)));
        killer.join().expect("killer");
        sb.restore(&clean).expect("restore");
        let r = sb.call_with_timeout::<()>("Spin", (), Duration::from_millis(20));
        assert!(matches!(r, Err(CallError::Timeout { .. })), "{r:?}");
        let twin = Sandbox::from_snapshot(&clean, HostFunctions::new()).expect("twin");
        drop(twin);
    });
    let metrics: Vec<_> = snapshotter.snapshot().into_vec();
    let find = |kind: MetricKind, name: &str, labels: &[(&str, &str)]| -> &DebugValue {
        metrics
            .iter()
            .find(|(k, _, _, _)| {
                k.kind() == kind
                    && k.key().name() == name
                    && labels.iter().all(|(lk, lv)| k.key().labels().any(|l| l.key() == *lk && l.value() == *lv))
            })
            .map(|(_, _, _, v)| v)
            .unwrap_or_else(|| panic!("no {kind:?} {name} {labels:?} in {metrics:#?}"))
    };
    let counter = |name, labels: &[(&str, &str)]| match find(MetricKind::Counter, name, labels) {
        DebugValue::Counter(n) => *n,
        other => panic!("{other:?}"),
    };
    let histogram = |name, labels: &[(&str, &str)]| match find(MetricKind::Histogram, name, labels) {
        DebugValue::Histogram(v) => v.iter().map(|x| x.into_inner()).collect::<Vec<f64>>(),
        other => panic!("{other:?}"),
    };
    let gauge = |name| match find(MetricKind::Gauge, name, &[]) {
        DebugValue::Gauge(v) => v.into_inner(),
        other => panic!("{other:?}"),
    };
    let f = names::FUNCTION_NAME;
    assert_eq!(counter(names::GUEST_CALLS_TOTAL, &[(f, "EchoI32")]), 3);
    assert_eq!(counter(names::GUEST_CALLS_TOTAL, &[(f, "CallHostAdd")]), 1);
    assert_eq!(counter(names::GUEST_CALLS_TOTAL, &[(f, "NoSuchFunction")]), 1);
    assert_eq!(histogram(names::GUEST_CALL_DURATION_SECONDS, &[(f, "EchoI32")]).len(), 3);
    assert!(histogram(names::GUEST_CALL_DURATION_SECONDS, &[(f, "Spin")]).iter().all(|s| *s > 0.0));
    assert_eq!(counter(names::HOST_CALLS_TOTAL, &[(f, "HostAdd")]), 1);
    assert_eq!(histogram(names::HOST_CALL_DURATION_SECONDS, &[(f, "HostAdd")]).len(), 1);
    let kind = names::KIND;
    assert_eq!(counter(names::GUEST_ERRORS_TOTAL, &[(kind, "GuestFunctionNotFound")]), 1);
    assert_eq!(counter(names::GUEST_ERRORS_TOTAL, &[(kind, "GuestPanic")]), 1);
    assert_eq!(counter(names::GUEST_ERRORS_TOTAL, &[(kind, "Cancelled")]), 1);
    assert_eq!(counter(names::GUEST_ERRORS_TOTAL, &[(kind, "Timeout")]), 1);
    assert_eq!(counter(names::GUEST_CANCELLATIONS_TOTAL, &[]), 2);
    assert_eq!(histogram(names::RESTORE_DURATION_SECONDS, &[]).len(), 2);
    assert!(histogram(names::RESTORE_PAGES, &[])[0] >= 1.0);
    let source = names::SOURCE;
    assert_eq!(histogram(names::SANDBOX_CREATE_DURATION_SECONDS, &[(source, "elf")]).len(), 1);
    assert_eq!(histogram(names::SANDBOX_CREATE_DURATION_SECONDS, &[(source, "snapshot")]).len(), 1);
    // Two sandboxes made and dropped on this thread (the recorder is thread-local).
    assert_eq!(gauge(names::SANDBOXES_LIVE), 0.0);
    assert!(gauge(names::VM_POOL_IDLE) >= 0.0);
}

#[test]
fn every_error_variant_has_its_own_kind() {
    // The `kind` label takes one value per `CallError` variant.
    let samples = [
        CallError::Cancelled,
        CallError::Poisoned,
        CallError::NoFunctionTable,
        CallError::GuestPanic { message: String::new() },
        CallError::Timeout { after: Duration::ZERO },
    ];
    let kinds: Vec<&str> = samples.iter().map(CallError::kind).collect();
    assert_eq!(kinds, ["Cancelled", "Poisoned", "NoFunctionTable", "GuestPanic", "Timeout"]);
}
