//! `malloc`, `free`, `calloc`, `realloc`: C's heap, on the guest's heap.
//!
//! Every block is a block of the runtime's global allocator (the heap the host sized
//! with `SandboxBuilder::heap_size`), 16-byte aligned, after a 16-byte header: its
//! total size and that size xor a magic word. `free` and `realloc` check the header,
//! so a pointer that did not come from `malloc` (or was freed already) stops the
//! guest with an abort naming it, rather than corrupting the heap.
//!
//! Running out of heap does not return NULL: it stops the call with
//! `CallError::GuestOutOfMemory` at the host, as in a Rust guest, so that the host
//! learns what was asked for. NULL comes back only for sizes no heap could hold.

use core::alloc::Layout;
use core::ffi::c_void;

/// The header before every block, and the blocks' alignment (`max_align_t`).
const HEADER: usize = 16;

/// Mixed into the header's check word; a freed block's check word is zeroed.
const MAGIC: usize = 0x6879_7065_726c_6967;

/// The layout of a block of `size` bytes, header included.
fn layout(size: usize) -> Option<Layout> {
    let total = size.checked_add(HEADER)?;
    Layout::from_size_align(total, HEADER).ok()
}

/// The block's header as `(total, check)`, and the address the allocator gave.
///
/// # Safety
///
/// `ptr` is not null and `HEADER` bytes before it are readable.
unsafe fn header(ptr: *mut c_void) -> (*mut usize, usize, usize) {
    // SAFETY: the caller promises the header is readable.
    unsafe {
        let base = ptr.cast::<u8>().sub(HEADER).cast::<usize>();
        (base, base.read(), base.add(1).read())
    }
}

/// The total size of the live block at `ptr`, or an abort naming `api` if `ptr` is
/// not one.
///
/// # Safety
///
/// As for [`header`].
unsafe fn check(api: &str, ptr: *mut c_void) -> (*mut usize, usize) {
    // SAFETY: the caller's promise.
    let (base, total, check) = unsafe { header(ptr) };
    if check != total ^ MAGIC || layout(total.wrapping_sub(HEADER)).is_none() {
        let message = alloc::format!("{api}({ptr:p}): not a block from malloc, or freed already");
        hyperlight_guest::abort(ABORT_HEAP, &message);
    }
    (base, total)
}

/// The abort code of a heap misuse (SIGABRT's number, as glibc's `free(): invalid
/// pointer` ends with it).
pub(crate) const ABORT_HEAP: i32 = 6;

/// Writes the header at `base` and returns the block's address.
///
/// # Safety
///
/// `base` is a fresh allocation of `total` (>= `HEADER`) bytes, 16-byte aligned.
unsafe fn finish(base: *mut u8, total: usize) -> *mut c_void {
    // SAFETY: the caller's promise: the first 16 bytes are the header's.
    unsafe {
        base.cast::<usize>().write(total);
        base.cast::<usize>().add(1).write(total ^ MAGIC);
        base.add(HEADER).cast()
    }
}

/// C's `malloc`: `size` bytes, 16-byte aligned (a unique block for 0).
#[unsafe(no_mangle)]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    let Some(layout) = layout(size) else { return core::ptr::null_mut() };
    // SAFETY: `layout` is at least HEADER bytes, never zero-sized.
    let base = unsafe { alloc::alloc::alloc(layout) };
    if base.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: a fresh block of `layout.size()` bytes, aligned to 16.
    unsafe { finish(base, layout.size()) }
}

/// C's `calloc`: `count * size` zeroed bytes, NULL if the product overflows.
#[unsafe(no_mangle)]
pub extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    let Some(layout) = count.checked_mul(size).and_then(layout) else { return core::ptr::null_mut() };
    // SAFETY: `layout` is at least HEADER bytes, never zero-sized.
    let base = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if base.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: a fresh block of `layout.size()` bytes, aligned to 16.
    unsafe { finish(base, layout.size()) }
}

/// C's `free`: nothing for NULL; an abort for a pointer that is not a live block.
///
/// # Safety
///
/// `ptr` is NULL or points 16 bytes past readable memory (every pointer `malloc`
/// returns does; others are caught by the header check unless they fault first).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: the caller's promise.
    let (base, total) = unsafe { check("free", ptr) };
    // SAFETY: the header checked out, so `base` is a live block of `total` bytes from
    // the global allocator with this layout; zeroing the check word first makes a
    // second `free` of it fail the check.
    unsafe {
        base.add(1).write(0);
        let layout = Layout::from_size_align_unchecked(total, HEADER);
        alloc::alloc::dealloc(base.cast(), layout);
    }
}

/// C's `realloc`: `malloc` for NULL; for size 0 the block is freed and NULL returned.
///
/// # Safety
///
/// As for [`free`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() {
        return malloc(size);
    }
    if size == 0 {
        // SAFETY: the caller's promise.
        unsafe { free(ptr) };
        return core::ptr::null_mut();
    }
    // SAFETY: the caller's promise.
    let (base, total) = unsafe { check("realloc", ptr) };
    let Some(new) = layout(size) else { return core::ptr::null_mut() };
    // SAFETY: `base` is a live block of `total` bytes with this alignment (the header
    // checked out); the new size is non-zero and fits a Layout.
    let moved = unsafe {
        let old = Layout::from_size_align_unchecked(total, HEADER);
        alloc::alloc::realloc(base.cast(), old, new.size())
    };
    if moved.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: `moved` is the block, now `new.size()` bytes.
    unsafe { finish(moved, new.size()) }
}
