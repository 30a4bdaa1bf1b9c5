//! The VM pool: VMs of dropped sandboxes, kept to be re-pointed at new memory.
//!
//! Creating a KVM VM and its vCPU costs about 600 us here (more with many mappings in
//! the process), and tearing one down about 400 us. A dropped sandbox's VM therefore
//! goes into this pool (up to its capacity), with its memory slot still registered;
//! [`Sandbox::from_snapshot`](crate::Sandbox::from_snapshot) takes one of the same
//! memory size and maps the snapshot's image over the slot's host range
//! (`mmap(MAP_FIXED)`: KVM follows the host mapping, no slot change), then sets the
//! vCPU state. While pooled, the range is mapped to nothing (`PROT_NONE`), so a pooled
//! VM holds no guest memory, only its kernel objects (2 fds, ~620 KB).
//!
//! Except when its last sandbox wrote little: then its memory is put back to its
//! snapshot's image as a restore does (the pages the dirty log and the host name,
//! copied back from the image; at most [`KEEP_VIEW_PAGES`] of them) and kept mapped,
//! and `take` prefers such a VM for a sandbox of the same image. The new sandbox then
//! needs no re-mapping, and every page its guest touches is still mapped in the host
//! and in KVM: its first call costs what a warm call does, not the 4x of faulting
//! every page in again. Nothing of the last tenant is left in it (the reset is a
//! restore's), but the VM keeps the image alive until it is reused or evicted.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::mem::memory::GuestMemory;
use crate::vm::Backend;

/// The most pages a dropped sandbox may have written for its VM to keep its memory
/// mapped in the pool (1 MiB: resetting them costs tens of microseconds at most).
pub(crate) const KEEP_VIEW_PAGES: usize = 256;

/// Default number of VMs the pool keeps.
pub const DEFAULT_VM_POOL_CAPACITY: usize = 16;

/// A VM with its (released) memory range.
#[derive(Debug)]
pub(crate) struct Pooled {
    pub vm: Box<dyn Backend>,
    pub mem: GuestMemory,
    /// Whether its vCPU runs on a filtered thread of its own (seccomp mode): such
    /// VMs go only to sandboxes in that mode, and others only to the others.
    pub seccomp: bool,
}

#[derive(Debug)]
struct Pool {
    capacity: usize,
    count: usize,
    by_size: BTreeMap<(u64, bool), Vec<Pooled>>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool { capacity: DEFAULT_VM_POOL_CAPACITY, count: 0, by_size: BTreeMap::new() });

fn pool() -> MutexGuard<'static, Pool> {
    // Every update keeps the pool consistent, so a poisoned lock is still usable.
    POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sets how many VMs of dropped sandboxes the process keeps for reuse (default
/// [`DEFAULT_VM_POOL_CAPACITY`]); 0 turns pooling off. Extra pooled VMs are closed.
pub fn set_vm_pool_capacity(capacity: usize) {
    let evicted: Vec<Pooled> = {
        let mut guard = pool();
        let Pool { capacity: cap, count, by_size } = &mut *guard;
        *cap = capacity;
        let mut out = Vec::new();
        while *count > capacity {
            let Some(mut entry) = by_size.first_entry() else { break };
            if let Some(v) = entry.get_mut().pop() {
                out.push(v);
                *count -= 1;
            }
            if entry.get().is_empty() {
                entry.remove();
            }
        }
        crate::obs::vm_pool_idle(*count);
        out
    };
    // Closed outside the lock: a VM teardown takes hundreds of microseconds.
    drop(evicted);
}

/// Number of VMs in the pool now.
pub fn vm_pool_len() -> usize {
    pool().count
}

/// Keeps `vm` for reuse if there is room; otherwise it is closed.
pub(crate) fn put(mut pooled: Pooled) {
    if pool().capacity == 0 {
        return;
    }
    if !keep_view(&mut pooled) && pooled.mem.release().is_err() {
        return;
    }
    let key = (pooled.mem.size(), pooled.seccomp);
    let mut p = pool();
    if p.count < p.capacity {
        p.count += 1;
        p.by_size.entry(key).or_default().push(pooled);
        crate::obs::vm_pool_idle(p.count);
    } else {
        drop(p);
        drop(pooled);
    }
}

/// Puts `pooled`'s memory back to its image, as a restore does, if it is a view of
/// one and its last guest and the host wrote at most [`KEEP_VIEW_PAGES`] pages since
/// it last equalled it. Whether it did (else the memory must be released).
fn keep_view(pooled: &mut Pooled) -> bool {
    if pooled.mem.image().is_none() {
        return false;
    }
    // Reading the log also starts a new one, as at a restore.
    let Ok(dirty) = pooled.vm.dirty_pages() else { return false };
    dirty.len() + pooled.mem.host_dirty_pages() <= KEEP_VIEW_PAGES && pooled.mem.reset_pages(&dirty).is_ok()
}

/// A pooled VM whose memory is `size` bytes, in seccomp mode or not, if there is one:
/// one whose memory is already a view of image `image_id` if there is one of those.
pub(crate) fn take(size: u64, seccomp: bool, image_id: u64) -> Option<Pooled> {
    let mut guard = pool();
    let Pool { count, by_size, .. } = &mut *guard;
    let list = by_size.get_mut(&(size, seccomp))?;
    let same = list.iter().rposition(|p| p.mem.image().is_some_and(|i| i.id() == image_id));
    let v = match same {
        Some(i) => Some(list.swap_remove(i)),
        None => list.pop(),
    };
    if list.is_empty() {
        by_size.remove(&(size, seccomp));
    }
    if v.is_some() {
        *count -= 1;
        crate::obs::vm_pool_idle(*count);
    }
    v
}
