//! A buffer whose pages the host's restore benchmarks dirty on demand: restore must
//! cost in proportion to the pages written, so the benchmark needs a guest that writes
//! exactly N pages per call and nothing else of note.

use alloc::alloc::{alloc_zeroed, Layout};
use core::hint::black_box;
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

use hyperlight_guest::{register_function, FunctionError};

const PAGE: usize = 4096;

/// The buffer of `PrepareDirty`, allocated once and never freed.
static BUFFER: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
/// Its length in pages.
static PAGES: AtomicUsize = AtomicUsize::new(0);
/// The byte `DirtyPages` writes next. It changes on every call, and is never 0 (what
/// `PrepareDirty` leaves in the buffer), so every write changes its page's content,
/// also on the first call after a restore (which puts this counter back too).
static NEXT_VALUE: AtomicU8 = AtomicU8::new(1);

pub fn register() {
    register_function("PrepareDirty", prepare_dirty);
    register_function("DirtyPages", dirty_pages);
}

/// Allocates (on the first call only) a page-aligned buffer of `n` pages, touches
/// every page so it exists before the host's snapshot, and returns its address.
fn prepare_dirty(n: u32) -> Result<u64, FunctionError> {
    let existing = BUFFER.load(Ordering::Relaxed);
    if !existing.is_null() {
        return Ok(existing as u64);
    }
    let pages = usize::try_from(n).map_err(|_| FunctionError::failed("page count does not fit"))?;
    let bytes = pages.checked_mul(PAGE).filter(|&b| b > 0).ok_or_else(|| FunctionError::failed("bad page count"))?;
    let layout = Layout::from_size_align(bytes, PAGE).map_err(|_| FunctionError::failed("bad buffer layout"))?;
    // SAFETY: `layout` has a non-zero size (checked above). The allocator aborts the
    // guest rather than return null, but null is checked anyway.
    let buffer = unsafe { alloc_zeroed(layout) };
    if buffer.is_null() {
        return Err(FunctionError::failed("out of memory"));
    }
    for page in 0..pages {
        // SAFETY: `page * PAGE < bytes`, inside the allocation just made, which nothing
        // else references. A volatile write: the zeroed allocation may not have
        // touched the page, and the compiler must not drop a write of a zero.
        unsafe { buffer.add(page * PAGE).write_volatile(0) };
    }
    BUFFER.store(buffer, Ordering::Relaxed);
    PAGES.store(pages, Ordering::Relaxed);
    Ok(buffer as u64)
}

/// Writes one byte into each of the first `n` pages of the buffer.
fn dirty_pages(n: u32) -> Result<(), FunctionError> {
    let buffer = BUFFER.load(Ordering::Relaxed);
    let pages = PAGES.load(Ordering::Relaxed);
    let n = usize::try_from(n).map_err(|_| FunctionError::failed("page count does not fit"))?;
    if buffer.is_null() || n > pages {
        return Err(FunctionError::failed("DirtyPages: call PrepareDirty with at least as many pages first"));
    }
    let value = NEXT_VALUE.fetch_add(1, Ordering::Relaxed).max(1);
    for page in 0..n {
        // SAFETY: `page < n <= pages`, so the byte lies in the buffer `prepare_dirty`
        // allocated and leaked; only this function writes it, and the guest is single
        // threaded. Volatile so that every page really is written.
        unsafe { buffer.add(page * PAGE).write_volatile(black_box(value)) };
    }
    Ok(())
}
