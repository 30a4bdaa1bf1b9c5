//! [`Global`]: the library's state in statics, without `static mut`.

use core::ops::Deref;

/// A value that is not `Sync` (a `RefCell`, a `Cell`) in a `static`.
///
/// Sound because a guest is one thread of execution: one vCPU, no threads, and no
/// interrupt handlers in guest code (faults never return into it). Re-entrant access,
/// a C function calling back into the library while a borrow is live, is still caught
/// by the wrapped `RefCell`; the library never holds a borrow across C code.
pub(crate) struct Global<T>(T);

// SAFETY: the guest runs on a single vCPU with no threads and no interrupt handlers in
// guest code, so a `&T` is never used from two threads at once, which is all `Sync`
// promises.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    pub(crate) const fn new(value: T) -> Self {
        Global(value)
    }
}

impl<T> Deref for Global<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
