//! The dirty log of guest memory, with the pages every call writes left writable.
//!
//! Plain dirty logging write-protects every page the log reports, so after each
//! restore every page the next call writes faults into KVM once more: the stack, the
//! call buffers, the heap's head. Under PVM such a fault costs about 10 us (kvm-limits:
//! "run with dirty logging on" against "run after memcpy-dirty reset"), several times
//! a restore, and a small call writes 3 to 6 pages.
//!
//! With `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2`, reading the log (`KVM_GET_DIRTY_LOG`)
//! protects nothing; `KVM_CLEAR_DIRTY_LOG` clears and write-protects the pages it is
//! given. So a page reported in two reads in a row becomes *hot*: it is never cleared,
//! stays writable, and stays set in the log, so every read reports it and every restore
//! copies it back (a 4 KiB copy, 0.2 us, instead of a fault). Every other reported
//! page is cleared at once, as before. The log therefore reports a superset of the
//! pages the guest wrote, never less: restore, snapshots and the VM pool stay exact.
//! At most [`HOT_MAX`] pages are hot, and every [`RELEARN_EVERY`] reads all of them
//! are cleared and learnt again, so a page that stopped being written stops costing.
//!
//! Where the capability is missing, reads write-protect everything as before.

use std::io;
use std::os::fd::AsRawFd;

use kvm_bindings::{kvm_clear_dirty_log, kvm_clear_dirty_log__bindgen_ty_1, kvm_enable_cap};
use kvm_ioctls::VmFd;

use super::op;
use crate::vm::HypervisorError;

const KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: u32 = 168;
const KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE: u64 = 1;
/// `_IOWR(KVMIO, 0xc0, struct kvm_clear_dirty_log)` (24 bytes).
const KVM_CLEAR_DIRTY_LOG: libc::c_ulong = 0xc018_aec0;

/// The most pages left writable between restores.
const HOT_MAX: u32 = 32;
/// Reads between two re-learnings of the hot pages.
const RELEARN_EVERY: u32 = 64;

/// Slot 0's dirty log.
#[derive(Debug)]
pub(crate) struct DirtyLog {
    /// Whether reads leave protection to `KVM_CLEAR_DIRTY_LOG`.
    manual: bool,
    /// The hot pages (a bitmap like the log's).
    hot: Vec<u64>,
    hot_count: u32,
    /// The pages the last read cleared.
    last: Vec<u64>,
    /// The bitmap of pages to clear (kept to save an allocation per read).
    clear: Vec<u64>,
    reads: u32,
}

impl DirtyLog {
    /// Turns on manual protection for `vm`'s logs where KVM offers it (before any
    /// memory slot exists).
    pub(crate) fn enable(vm: &VmFd) -> DirtyLog {
        let mut cap = kvm_enable_cap { cap: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, ..Default::default() };
        cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
        let manual = vm.check_extension_raw(libc::c_ulong::from(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)) > 0
            && vm.enable_cap(&cap).is_ok();
        DirtyLog { manual, hot: Vec::new(), hot_count: 0, last: Vec::new(), clear: Vec::new(), reads: 0 }
    }

    /// The pages written since the last read (and perhaps a few hot ones that were
    /// not), as guest page numbers; write-protects all but the hot ones again.
    pub(crate) fn read(&mut self, vm: &VmFd, memory_size: usize) -> Result<Vec<u64>, HypervisorError> {
        let bitmap = vm.get_dirty_log(0, memory_size).map_err(op("KVM_GET_DIRTY_LOG"))?;
        if self.manual {
            self.protect(vm, &bitmap, memory_size)?;
        }
        let mut pages = Vec::new();
        for (i, word) in bitmap.iter().enumerate() {
            let mut w = *word;
            while w != 0 {
                let bit = u64::from(w.trailing_zeros());
                pages.push(i as u64 * 64 + bit);
                w &= w - 1;
            }
        }
        Ok(pages)
    }

    /// Clears (and so write-protects) every page of `bitmap` that is not hot, after
    /// promoting the pages cleared by the last read too.
    fn protect(&mut self, vm: &VmFd, bitmap: &[u64], memory_size: usize) -> Result<(), HypervisorError> {
        let words = bitmap.len();
        for v in [&mut self.hot, &mut self.last, &mut self.clear] {
            v.resize(words, 0);
        }
        self.reads = self.reads.wrapping_add(1);
        let relearn = self.reads % RELEARN_EVERY == 0;
        if relearn {
            self.hot.fill(0);
            self.hot_count = 0;
        }
        let mut any = false;
        for (i, &word) in bitmap.iter().enumerate() {
            let mut fresh = word & !self.hot[i];
            // Written again after being cleared: hot from now on (its bit stays set).
            let mut again = fresh & self.last[i];
            while again != 0 && self.hot_count < HOT_MAX {
                let bit = again & again.wrapping_neg();
                self.hot[i] |= bit;
                fresh &= !bit;
                again &= !bit;
                self.hot_count += 1;
            }
            self.clear[i] = fresh;
            self.last[i] = fresh;
            any |= fresh != 0;
        }
        if !any {
            return Ok(());
        }
        // Exactly the slot's pages: KVM refuses a count past its end.
        let pages = memory_size / 4096;
        let log = kvm_clear_dirty_log {
            slot: 0,
            num_pages: u32::try_from(pages).unwrap_or(u32::MAX),
            first_page: 0,
            __bindgen_anon_1: kvm_clear_dirty_log__bindgen_ty_1 { dirty_bitmap: self.clear.as_mut_ptr().cast() },
        };
        // SAFETY: KVM_CLEAR_DIRTY_LOG reads `log` and `num_pages` bits of the bitmap,
        // which has one bit per page of the slot (`bitmap`'s length, from
        // KVM_GET_DIRTY_LOG of the same slot and size); nothing is written.
        let r = unsafe { libc::ioctl(vm.as_raw_fd(), KVM_CLEAR_DIRTY_LOG, &log) };
        if r < 0 {
            return Err(HypervisorError::Operation {
                operation: "KVM_CLEAR_DIRTY_LOG",
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}
