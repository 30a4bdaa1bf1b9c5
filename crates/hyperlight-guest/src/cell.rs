//! [`SingleThreaded`]: how the runtime keeps global state without `static mut`.

use core::ops::Deref;

/// A wrapper that lets a value which is not `Sync` (a `RefCell`, a `Cell`) live in a
/// `static`.
///
/// Sound only because a guest is one thread of execution: it has one vCPU, no
/// threads, and no interrupts or signals (the host injects none, and faults never
/// return into guest code). So no two accesses can ever run at the same time;
/// re-entrant access (a function called while another borrow is live) is still
/// caught by the wrapped `RefCell`.
pub(crate) struct SingleThreaded<T>(T);

// SAFETY: the guest runs on a single vCPU with no threads and no interrupt handlers
// in guest code (see the type's documentation), so a `&T` can never be used from two
// threads at once, which is the only thing `Sync` promises.
unsafe impl<T> Sync for SingleThreaded<T> {}

impl<T> SingleThreaded<T> {
    /// Wraps `value`.
    pub(crate) const fn new(value: T) -> Self {
        SingleThreaded(value)
    }
}

impl<T> Deref for SingleThreaded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
