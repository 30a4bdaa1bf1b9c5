//! A typed-handle call of a scalar function makes no heap allocation on the host: the
//! arguments are encoded straight into guest memory, the result read through the
//! stack. Measured with a counting allocator (its own test binary: the allocator is
//! global).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts the allocations made on threads that asked to be counted.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is passed to the system allocator unchanged; counting touches
// only an atomic and a const-initialised thread-local (neither allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `alloc` is System's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `realloc` is System's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn a_typed_call_of_a_scalar_function_allocates_nothing() {
    let mut sb = common::simpleguest();
    let add = sb.func::<(i32, i32), i32>("Add").expect("Add");
    // Warm up: the first calls may grow what is kept (the dirty-page list).
    for i in 0..10 {
        assert_eq!(add.call(&mut sb, (i, 1)).expect("call"), i + 1);
    }
    let n = allocations(|| {
        for i in 0..100 {
            let r = add.call(&mut sb, (i, 1));
            assert!(matches!(r, Ok(v) if v == i + 1));
        }
    });
    assert_eq!(n, 0, "{n} heap allocations in 100 typed calls");
    // A named call, for contrast, allocates (its arguments become `Value`s).
    let named = allocations(|| {
        let _ = sb.call::<i32>("Add", (1, 2));
    });
    assert!(named > 0);
}
