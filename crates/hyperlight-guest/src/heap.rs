//! [`GuestHeap`]: the global allocator, over the heap the host named in the boot
//! information.
//!
//! A first-fit free list ([`linked_list_allocator::Heap`]). When it cannot satisfy a
//! request, the guest aborts with [`AbortKind::OutOfMemory`] instead of returning
//! null: the host then learns how much was asked for, where Rust's default
//! allocation-error path would only panic without saying so. (This also means that
//! `try_reserve` in a guest aborts rather than returning an error.)

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::NonNull;

use hyperlight_common::AbortKind;
use linked_list_allocator::Heap;

use crate::abort::abort_with;
use crate::cell::SingleThreaded;

/// The guest's global allocator.
pub(crate) struct GuestHeap {
    heap: SingleThreaded<UnsafeCell<Heap>>,
}

#[global_allocator]
static HEAP: GuestHeap = GuestHeap { heap: SingleThreaded::new(UnsafeCell::new(Heap::empty())) };

impl GuestHeap {
    /// Runs `f` with exclusive access to the free list.
    fn with<R>(&self, f: impl FnOnce(&mut Heap) -> R) -> R {
        // SAFETY: the guest is single-threaded (see `SingleThreaded`), and no caller
        // of `with` re-enters it: `Heap`'s methods never allocate, and the callers
        // leave `f` before they abort on failure (the abort path does not allocate
        // either). So this is the only reference to the `Heap` while `f` runs.
        f(unsafe { &mut *self.heap.get() })
    }
}

/// Gives the global allocator the memory `[base, base + size)`.
///
/// # Safety
///
/// The range must be valid, writable guest memory used by nothing else, for the rest
/// of the guest's life, and this must be called once, before the first allocation.
pub(crate) unsafe fn init(base: usize, size: usize) {
    HEAP.with(|heap| {
        // SAFETY: the caller promises that the range is unused, writable memory that
        // lives forever, and that the heap is still empty.
        unsafe { heap.init(base as *mut u8, size) }
    });
}

// SAFETY: allocation and deallocation are delegated to `linked_list_allocator::Heap`,
// which returns blocks of at least `layout.size()` bytes aligned to `layout.align()`
// from the range given to `init`, never hands out one block twice, and accepts back
// exactly the blocks it handed out (with their layout).
unsafe impl GlobalAlloc for GuestHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let block = self.with(|heap| heap.allocate_first_fit(layout));
        match block {
            Ok(ptr) => ptr.as_ptr(),
            Err(()) => out_of_memory(layout),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(ptr) = NonNull::new(ptr) {
            // SAFETY: the caller passes a block this allocator returned, with its
            // layout (the `GlobalAlloc::dealloc` contract).
            self.with(|heap| unsafe { heap.deallocate(ptr, layout) });
        }
    }
}

fn out_of_memory(layout: Layout) -> ! {
    let (used, size) = HEAP.with(|heap| (heap.used(), heap.size()));
    let requested = u64::try_from(layout.size()).unwrap_or(u64::MAX);
    abort_with(
        AbortKind::OutOfMemory { requested },
        format_args!(
            "out of memory: cannot allocate {} bytes (align {}); {used} of {size} heap bytes in use",
            layout.size(),
            layout.align()
        ),
    )
}
