//! Counters, histograms and gauges through the `metrics` facade; the application
//! installs the recorder (or none: then every record is a call into the no-op one).
//!
//! Keys are built once, not per call: [`FunctionMetrics`] for a function when its
//! table is read or it is registered, static keys for the rest, so recording
//! allocates nothing when no recorder is installed (a typed call stays free of heap
//! allocations).

use std::collections::HashMap;
use std::sync::Arc;

use hyperlight_common::FunctionTable;

use crate::error::CallError;

/// The metric and label names (Hyperlight's where it has one: `guest_errors_total`,
/// `guest_cancellations_total`, `guest_call_duration_seconds`,
/// `host_call_duration_seconds`, and the `function_name` label).
pub mod names {
    /// Counter: guest function calls (top-level and nested), label `function_name`.
    pub const GUEST_CALLS_TOTAL: &str = "guest_calls_total";
    /// Counter: failed guest calls, label `kind` (the [`CallError`](crate::CallError)
    /// variant, see [`CallError::kind`](crate::CallError::kind)).
    pub const GUEST_ERRORS_TOTAL: &str = "guest_errors_total";
    /// Counter: calls stopped by a kill or a deadline.
    pub const GUEST_CANCELLATIONS_TOTAL: &str = "guest_cancellations_total";
    /// Counter: host function calls from guests, label `function_name` (registered
    /// functions only: a guest cannot make up label values).
    pub const HOST_CALLS_TOTAL: &str = "host_calls_total";
    /// Histogram, seconds: guest call durations, label `function_name`.
    pub const GUEST_CALL_DURATION_SECONDS: &str = "guest_call_duration_seconds";
    /// Histogram, seconds: host function durations, label `function_name`.
    pub const HOST_CALL_DURATION_SECONDS: &str = "host_call_duration_seconds";
    /// Histogram, seconds: restore durations.
    pub const RESTORE_DURATION_SECONDS: &str = "restore_duration_seconds";
    /// Histogram: pages copied back per restore.
    pub const RESTORE_PAGES: &str = "restore_pages";
    /// Histogram, seconds: sandbox creation, label `source` (`elf` or `snapshot`).
    pub const SANDBOX_CREATE_DURATION_SECONDS: &str = "sandbox_create_duration_seconds";
    /// Gauge: sandboxes alive in the process.
    pub const SANDBOXES_LIVE: &str = "sandboxes_live";
    /// Gauge: VMs waiting in the VM pool.
    pub const VM_POOL_IDLE: &str = "vm_pool_idle";
    /// Label: the function's name.
    pub const FUNCTION_NAME: &str = "function_name";
    /// Label: what kind of error.
    pub const KIND: &str = "kind";
    /// Label: what a sandbox was created from.
    pub const SOURCE: &str = "source";
}

/// What a sandbox was created from (the `source` label).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source {
    Elf,
    Snapshot,
}

/// When an operation started (nothing without the feature).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timer {
    #[cfg(feature = "observability")]
    start: std::time::Instant,
}

impl Timer {
    pub(crate) fn start() -> Timer {
        Timer {
            #[cfg(feature = "observability")]
            start: std::time::Instant::now(),
        }
    }

    #[cfg(feature = "observability")]
    fn elapsed(&self) -> std::time::Duration {
        self.start.elapsed()
    }
}

/// The keys of one function's call counter and duration histogram.
#[derive(Debug)]
pub(crate) struct FunctionMetrics {
    #[cfg(feature = "observability")]
    calls: metrics::Key,
    #[cfg(feature = "observability")]
    duration: metrics::Key,
}

#[cfg(feature = "observability")]
static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

impl FunctionMetrics {
    /// For the guest function `name`.
    pub(crate) fn guest(name: &str) -> FunctionMetrics {
        FunctionMetrics::new(names::GUEST_CALLS_TOTAL, names::GUEST_CALL_DURATION_SECONDS, name)
    }

    /// For the host function `name`.
    pub(crate) fn host(name: &str) -> FunctionMetrics {
        FunctionMetrics::new(names::HOST_CALLS_TOTAL, names::HOST_CALL_DURATION_SECONDS, name)
    }

    #[cfg(feature = "observability")]
    fn new(calls: &'static str, duration: &'static str, name: &str) -> FunctionMetrics {
        let label = || vec![metrics::Label::new(names::FUNCTION_NAME, name.to_string())];
        FunctionMetrics {
            calls: metrics::Key::from_parts(calls, label()),
            duration: metrics::Key::from_parts(duration, label()),
        }
    }

    #[cfg(not(feature = "observability"))]
    fn new(_calls: &'static str, _duration: &'static str, _name: &str) -> FunctionMetrics {
        FunctionMetrics {}
    }

    /// One call that started at `timer` has ended.
    pub(crate) fn record(&self, timer: Timer) {
        #[cfg(feature = "observability")]
        {
            let seconds = timer.elapsed().as_secs_f64();
            metrics::with_recorder(|r| {
                r.register_counter(&self.calls, &METADATA).increment(1);
                r.register_histogram(&self.duration, &METADATA).record(seconds);
            });
        }
        #[cfg(not(feature = "observability"))]
        let _ = timer;
    }
}

/// The metric keys of every function in a guest's function table, built once per
/// table and shared by the sandboxes and snapshots of that guest.
#[derive(Debug, Default)]
pub(crate) struct CallMetrics {
    by_index: Vec<FunctionMetrics>,
    by_name: HashMap<String, usize>,
}

impl CallMetrics {
    /// The keys of the functions in `table`.
    pub(crate) fn new(table: Option<&FunctionTable>) -> Arc<CallMetrics> {
        let table = table.map(Vec::as_slice).unwrap_or(&[]);
        Arc::new(CallMetrics {
            by_index: table.iter().map(|f| FunctionMetrics::guest(&f.name)).collect(),
            by_name: table.iter().enumerate().map(|(i, f)| (f.name.clone(), i)).collect(),
        })
    }

    /// A call of the function at `index` in the table (if known) or named `name` has
    /// ended.
    pub(crate) fn record(&self, index: Option<u32>, name: &str, timer: Timer) {
        let found = match index {
            Some(i) => usize::try_from(i).ok(),
            None => self.by_name.get(name).copied(),
        };
        match found.and_then(|i| self.by_index.get(i)) {
            Some(m) => m.record(timer),
            // Not in the table: the call failed (no such function); build the keys.
            None => FunctionMetrics::guest(name).record(timer),
        }
    }
}

/// A guest call failed with `e`.
pub(crate) fn guest_error(e: &CallError) {
    #[cfg(feature = "observability")]
    {
        metrics::counter!(names::GUEST_ERRORS_TOTAL, names::KIND => e.kind()).increment(1);
        if matches!(e, CallError::Cancelled | CallError::Timeout { .. }) {
            metrics::counter!(names::GUEST_CANCELLATIONS_TOTAL).increment(1);
        }
    }
    #[cfg(not(feature = "observability"))]
    let _ = e;
}

/// A restore that started at `timer` copied `pages` pages back.
pub(crate) fn restore(timer: Timer, pages: usize) {
    #[cfg(feature = "observability")]
    {
        static DURATION: metrics::Key = metrics::Key::from_static_name(names::RESTORE_DURATION_SECONDS);
        static PAGES: metrics::Key = metrics::Key::from_static_name(names::RESTORE_PAGES);
        let seconds = timer.elapsed().as_secs_f64();
        metrics::with_recorder(|r| {
            r.register_histogram(&DURATION, &METADATA).record(seconds);
            #[allow(clippy::cast_precision_loss)] // page counts are far below 2^52
            r.register_histogram(&PAGES, &METADATA).record(pages as f64);
        });
    }
    #[cfg(not(feature = "observability"))]
    let _ = (timer, pages);
}

/// A sandbox was created from `source`, starting at `timer`.
pub(crate) fn sandbox_created(source: Source, timer: Timer) {
    #[cfg(feature = "observability")]
    {
        static ELF: [metrics::Label; 1] = [metrics::Label::from_static_parts(names::SOURCE, "elf")];
        static SNAPSHOT: [metrics::Label; 1] = [metrics::Label::from_static_parts(names::SOURCE, "snapshot")];
        static FROM_ELF: metrics::Key = metrics::Key::from_static_parts(names::SANDBOX_CREATE_DURATION_SECONDS, &ELF);
        static FROM_SNAPSHOT: metrics::Key =
            metrics::Key::from_static_parts(names::SANDBOX_CREATE_DURATION_SECONDS, &SNAPSHOT);
        let key = match source {
            Source::Elf => &FROM_ELF,
            Source::Snapshot => &FROM_SNAPSHOT,
        };
        let seconds = timer.elapsed().as_secs_f64();
        metrics::with_recorder(|r| r.register_histogram(key, &METADATA).record(seconds));
    }
    #[cfg(not(feature = "observability"))]
    let _ = (source, timer);
}

/// One more sandbox (`up`) or one fewer.
pub(crate) fn sandboxes_live(up: bool) {
    #[cfg(feature = "observability")]
    {
        static LIVE: metrics::Key = metrics::Key::from_static_name(names::SANDBOXES_LIVE);
        metrics::with_recorder(|r| {
            let g = r.register_gauge(&LIVE, &METADATA);
            if up {
                g.increment(1.0);
            } else {
                g.decrement(1.0);
            }
        });
    }
    #[cfg(not(feature = "observability"))]
    let _ = up;
}

/// The VM pool holds `idle` VMs now.
pub(crate) fn vm_pool_idle(idle: usize) {
    #[cfg(feature = "observability")]
    {
        static IDLE: metrics::Key = metrics::Key::from_static_name(names::VM_POOL_IDLE);
        #[allow(clippy::cast_precision_loss)] // the pool holds far fewer than 2^52 VMs
        metrics::with_recorder(|r| r.register_gauge(&IDLE, &METADATA).set(idle as f64));
    }
    #[cfg(not(feature = "observability"))]
    let _ = idle;
}
