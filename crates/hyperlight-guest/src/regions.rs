//! Host memory regions the host mapped into the guest: [`regions`], [`region_at`].
//!
//! The host reserves guest address ranges when it builds the sandbox and maps host
//! memory or files there between calls (`Sandbox::map_region`), read-only: the guest
//! reads them in place, without a copy. The table of regions lives in the read-only
//! boot page (`BootInfo::regions`), rewritten by the host whenever what is mapped
//! changes.
//!
//! ```ignore
//! // ignore: runs only inside a guest (x86_64-unknown-none).
//! let input = hyperlight_guest::region_at(0x10_0000_0000).expect("reserved");
//! // SAFETY: read within this guest function only (see `Region::bytes`).
//! let sum: u64 = unsafe { input.bytes() }.iter().map(|&b| u64::from(b)).sum();
//! ```

use hyperlight_common::boot::{RegionEntry, MAX_REGIONS, REGION_ENTRY_SIZE};

/// One reserved region, and what is mapped there now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Guest address of the region.
    pub addr: u64,
    /// Bytes reserved.
    pub size: u64,
    /// Bytes mapped now (0: nothing; reading the region then stops the guest).
    pub mapped: u64,
    /// Whether the guest may execute it (it may never write it).
    pub executable: bool,
}

impl Region {
    /// The mapped bytes, in place.
    ///
    /// # Safety
    ///
    /// The host maps and unmaps regions only between calls, so the slice is valid
    /// until the guest function that asked for it returns: do not keep it (or
    /// anything borrowed from it) longer. The memory is read-only: a write faults.
    pub unsafe fn bytes(&self) -> &[u8] {
        let (Ok(addr), Ok(len)) = (usize::try_from(self.addr), usize::try_from(self.mapped)) else { return &[] };
        if addr == 0 || len == 0 {
            return &[];
        }
        // SAFETY: the host mapped `mapped` readable bytes at `addr` for at least the
        // current call (the caller's promise covers how long the slice is used); the
        // page tables make them read-only, so no Rust reference aliases a write.
        unsafe { core::slice::from_raw_parts(addr as *const u8, len) }
    }
}

/// Every region the host reserved, in address order, with what is mapped there now.
pub fn regions() -> impl Iterator<Item = Region> {
    let (table, count) = match crate::boot_info() {
        Some(info) => (usize::try_from(info.regions).unwrap_or(0), usize::try_from(info.region_count).unwrap_or(0)),
        None => (0, 0),
    };
    let count = if table == 0 { 0 } else { count.min(MAX_REGIONS) };
    (0..count).filter_map(move |i| {
        let mut raw = [0u8; REGION_ENTRY_SIZE];
        for (j, byte) in raw.iter_mut().enumerate() {
            // SAFETY: the host maps the table (`region_count` entries of
            // REGION_ENTRY_SIZE bytes, at most MAX_REGIONS) in the read-only boot page
            // and changes it only while the guest is stopped; a volatile read makes
            // sure no value read before an exit is reused.
            *byte = unsafe { core::ptr::read_volatile((table + i * REGION_ENTRY_SIZE + j) as *const u8) };
        }
        let e = RegionEntry::decode(&raw)?;
        Some(Region { addr: e.addr, size: e.size, mapped: e.mapped.min(e.size), executable: e.flags & 1 != 0 })
    })
}

/// The region reserved at `addr`, if any.
pub fn region_at(addr: u64) -> Option<Region> {
    regions().find(|r| r.addr == addr)
}
