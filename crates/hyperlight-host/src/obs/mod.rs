//! Observability: guest log records as `tracing` events, `tracing` spans around the
//! sandbox's operations, and counters, histograms and gauges through the `metrics`
//! facade (see docs/observability.md for every name).
//!
//! All of it costs next to nothing when nobody listens: a span is a check of
//! `tracing`'s global maximum level, a metric a call into the no-op recorder with a
//! key built beforehand (so a typed call still allocates nothing), and guest records
//! are filtered inside the guest, before they are formatted, at the level the host
//! writes into the boot information ([`GuestLogLevel`]). Without the cargo feature
//! `observability` (on by default) every function here is empty and the `tracing` and
//! `metrics` crates are not linked.

mod guest_log;
mod metrics;
mod spans;

use std::sync::atomic::{AtomicU64, Ordering};

pub use guest_log::{default_guest_log_level, GuestLogLevel};
pub(crate) use guest_log::{effective_level, record as guest_record};
pub use metrics::names as metric_names;
pub(crate) use metrics::{
    guest_error, restore as restore_metrics, sandbox_created, sandboxes_live, vm_pool_idle, CallMetrics,
    FunctionMetrics, Source, Timer,
};
pub(crate) use spans::Span;

/// Identifies one sandbox in this process (`sandbox_id` in events and spans): 1, 2, 3...
/// in order of creation, never reused.
pub(crate) fn next_sandbox_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
