//! The heap, large results, and state that lives from one call to the next.

use alloc::vec;
use alloc::vec::Vec;
use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering};

use hyperlight_guest::{register_function, FunctionError};

const PAGE: usize = 4096;

/// Kept between calls (until the host restores a snapshot).
static COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn register() {
    register_function("LargeAllocation", large_allocation);
    register_function("AllocateAndFree", allocate_and_free);
    register_function("BufferOfSize", buffer_of_size);
    register_function("Counter", || COUNTER.fetch_add(1, Ordering::Relaxed) + 1);
    register_function("ReadCounter", || COUNTER.load(Ordering::Relaxed));
}

fn len(size: u64) -> Result<usize, FunctionError> {
    usize::try_from(size).map_err(|_| FunctionError::failed("size does not fit the address space"))
}

/// Allocates `size` bytes and writes every page of them; returns the length.
fn large_allocation(size: u64) -> Result<u64, FunctionError> {
    let mut v: Vec<u8> = Vec::with_capacity(len(size)?);
    v.resize(v.capacity().min(len(size)?), 0);
    for page in v.chunks_mut(PAGE) {
        page[0] = 0xa5;
    }
    black_box(&mut v);
    Ok(size)
}

/// Allocates and frees `size` bytes `n` times; returns the bytes allocated in all.
fn allocate_and_free(n: u32, size: u64) -> Result<u64, FunctionError> {
    let size_bytes = len(size)?;
    for i in 0..n {
        let v = vec![i.to_le_bytes()[0]; size_bytes];
        black_box(&v);
    }
    Ok(u64::from(n).saturating_mul(size))
}

/// `n` bytes, byte `i` being `i % 251`.
fn buffer_of_size(n: u64) -> Vec<u8> {
    (0..n).map(|i| u8::try_from(i % 251).expect("i % 251 < 256")).collect()
}

/// Host regions (see `tests/regions.rs`): the sum of the mapped bytes of the region at
/// `addr` (or of its first `len`), what is mapped there, and a write that must fault.
pub fn register_regions() {
    register_function("SumRegion", |addr: u64, len: u64| -> Result<u64, FunctionError> {
        let region = hyperlight_guest::region_at(addr).ok_or_else(|| FunctionError::failed("no region there"))?;
        // SAFETY: read within this call only.
        let bytes = unsafe { region.bytes() };
        let len = usize::try_from(len).unwrap_or(usize::MAX).min(bytes.len());
        Ok(bytes[..len].iter().map(|&b| u64::from(b)).sum())
    });
    // The same sum over bytes passed as an argument (copied into the input buffer,
    // then decoded into the heap): what a region saves.
    register_function("SumBytes", |bytes: Vec<u8>| bytes.iter().map(|&b| u64::from(b)).sum::<u64>());
    register_function("RegionMapped", |addr: u64| hyperlight_guest::region_at(addr).map_or(u64::MAX, |r| r.mapped));
    register_function("ReadAt", |addr: u64| -> u32 {
        // SAFETY: a read of any address, for tests: a fault or an unmapped region's
        // exit is what they look for.
        u32::from(unsafe { core::ptr::read_volatile(addr as *const u8) })
    });
    register_function("WriteAt", |addr: u64| {
        // SAFETY: a write of any address, for tests: the page fault is the point.
        unsafe { core::ptr::write_volatile(addr as *mut u8, 1) }
    });
}
