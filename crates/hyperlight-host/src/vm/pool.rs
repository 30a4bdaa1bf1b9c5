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

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::mem::memory::GuestMemory;
use crate::vm::Backend;

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
    if pool().capacity == 0 || pooled.mem.release().is_err() {
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

/// A pooled VM whose memory is `size` bytes, in seccomp mode or not, if there is one.
pub(crate) fn take(size: u64, seccomp: bool) -> Option<Pooled> {
    let mut guard = pool();
    let Pool { count, by_size, .. } = &mut *guard;
    let list = by_size.get_mut(&(size, seccomp))?;
    let v = list.pop();
    if list.is_empty() {
        by_size.remove(&(size, seccomp));
    }
    if v.is_some() {
        *count -= 1;
        crate::obs::vm_pool_idle(*count);
    }
    v
}
