//! The `tracing` spans around a sandbox's operations (names and fields in
//! docs/observability.md). Each top-level span has an `error` field, recorded when the
//! operation fails (with `otel.status_code = "ERROR"`, which OpenTelemetry exporters
//! read as the span's status).

use std::fmt::Display;

/// A span, or nothing without the feature.
#[derive(Debug, Clone)]
pub(crate) struct Span {
    #[cfg(feature = "observability")]
    inner: tracing::Span,
}

/// The span entered until this is dropped.
#[derive(Debug)]
#[must_use]
pub(crate) struct Entered<'a> {
    #[cfg(feature = "observability")]
    _inner: tracing::span::Entered<'a>,
    #[cfg(not(feature = "observability"))]
    _span: std::marker::PhantomData<&'a ()>,
}

#[cfg(feature = "observability")]
macro_rules! span {
    ($level:ident, $name:literal $(, $($field:tt)*)?) => {
        Span {
            inner: tracing::span!(
                tracing::Level::$level,
                $name,
                $($($field)*,)?
                error = tracing::field::Empty,
                otel.status_code = tracing::field::Empty
            ),
        }
    };
}

#[cfg(not(feature = "observability"))]
macro_rules! span {
    ($($t:tt)*) => {
        Span {}
    };
}

#[cfg_attr(not(feature = "observability"), allow(unused_variables))]
impl Span {
    /// `build`: creating a sandbox from an ELF (children: `elf_parse`, `memory`,
    /// `vm_create`, `guest_init`).
    pub(crate) fn build(sandbox_id: u64) -> Span {
        span!(INFO, "build", sandbox_id)
    }

    /// `elf_parse`: decoding and checking the guest's ELF.
    pub(crate) fn elf_parse(bytes: usize) -> Span {
        span!(DEBUG, "elf_parse", bytes)
    }

    /// `memory`: laying out, reserving and filling guest memory.
    pub(crate) fn memory() -> Span {
        span!(DEBUG, "memory", memory_size = tracing::field::Empty)
    }

    /// `vm_create`: the VM and its vCPU.
    pub(crate) fn vm_create() -> Span {
        span!(DEBUG, "vm_create")
    }

    /// `guest_init`: the guest's initialisation, up to its first ready exit.
    pub(crate) fn guest_init() -> Span {
        span!(DEBUG, "guest_init")
    }

    /// `call`: one guest function call (nested ones inside host calls too).
    pub(crate) fn call(sandbox_id: u64, func_name: &str) -> Span {
        span!(INFO, "call", sandbox_id, func_name)
    }

    /// `batch`: many guest calls in one VM entry (`Sandbox::call_batch`).
    pub(crate) fn batch(sandbox_id: u64, calls: usize) -> Span {
        span!(INFO, "batch", sandbox_id, calls)
    }

    /// `host_call`: one host function call from the guest.
    pub(crate) fn host_call(sandbox_id: u64, func_name: &str) -> Span {
        span!(INFO, "host_call", sandbox_id, func_name)
    }

    /// `snapshot`: freezing a sandbox.
    pub(crate) fn snapshot(sandbox_id: u64) -> Span {
        span!(INFO, "snapshot", sandbox_id)
    }

    /// `restore`: putting a sandbox back; `pages` is recorded at the end.
    pub(crate) fn restore(sandbox_id: u64) -> Span {
        span!(INFO, "restore", sandbox_id, pages = tracing::field::Empty)
    }

    /// `from_snapshot`: a new sandbox from a snapshot; `pooled` is recorded once known.
    pub(crate) fn from_snapshot(sandbox_id: u64) -> Span {
        span!(INFO, "from_snapshot", sandbox_id, pooled = tracing::field::Empty)
    }

    /// `save`: a snapshot written to a file or to bytes; `bytes` is recorded at the end.
    pub(crate) fn save() -> Span {
        span!(INFO, "save", bytes = tracing::field::Empty)
    }

    /// `load`: a snapshot read from a file or from bytes.
    pub(crate) fn load(bytes: usize) -> Span {
        span!(INFO, "load", bytes)
    }

    /// Enters the span until the guard is dropped.
    pub(crate) fn enter(&self) -> Entered<'_> {
        Entered {
            #[cfg(feature = "observability")]
            _inner: self.inner.enter(),
            #[cfg(not(feature = "observability"))]
            _span: std::marker::PhantomData,
        }
    }

    /// Runs `f` inside the span.
    pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        f()
    }

    /// Records `n` in the field `field` (declared by the span's constructor).
    pub(crate) fn record_u64(&self, field: &'static str, n: u64) {
        #[cfg(feature = "observability")]
        self.inner.record(field, n);
    }

    /// Records `b` in the field `field` (declared by the span's constructor).
    pub(crate) fn record_bool(&self, field: &'static str, b: bool) {
        #[cfg(feature = "observability")]
        self.inner.record(field, b);
    }

    /// Records the outcome: on an error, its message in `error` and the span's status.
    pub(crate) fn record_result<T, E: Display>(&self, result: &Result<T, E>) {
        #[cfg(feature = "observability")]
        if let Err(e) = result {
            if !self.inner.is_disabled() {
                self.inner.record("error", tracing::field::display(e));
                self.inner.record("otel.status_code", "ERROR");
            }
        }
    }
}
