//! State a snapshot must capture and a restore must undo: heap allocations kept
//! across calls, and SSE register contents.

use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use hyperlight_guest::register_function;

/// Allocations kept from one call to the next.
struct Hoard(RefCell<Vec<Vec<u8>>>);

// SAFETY: the guest is single-threaded (one vCPU, no threads, no interrupts), so the
// cell is never reached from two threads.
unsafe impl Sync for Hoard {}

static HOARD: Hoard = Hoard(RefCell::new(Vec::new()));

pub fn register() {
    register_function("Hoard", hoard);
    register_function("HoardCount", || HOARD.0.borrow().len() as u64);
    register_function("SetXmm0", set_xmm0);
    register_function("GetXmm0", get_xmm0);
    // The host's seed for this sandbox, and random numbers derived from it.
    register_function("Seed", || hyperlight_guest::random::seed().to_vec());
    register_function("Random", hyperlight_guest::random::u64);
    // What CPUID tells the guest: eax, ebx, ecx, edx of `leaf` (subleaf 0).
    register_function("Cpuid", |leaf: u32| {
        let r = core::arch::x86_64::__cpuid_count(leaf, 0);
        [r.eax, r.ebx, r.ecx, r.edx].iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>()
    });
}

/// Allocates `n` blocks of `size` bytes and keeps them; returns how many are kept.
fn hoard(n: u32, size: u64) -> u64 {
    let size = usize::try_from(size).unwrap_or(0);
    let mut h = HOARD.0.borrow_mut();
    for i in 0..n {
        h.push(vec![i.to_le_bytes()[0]; size]);
    }
    h.len() as u64
}

/// Puts `v` in the low half of %xmm0 (the guest's own code never uses SSE registers,
/// so the value stays there between calls).
fn set_xmm0(v: u64) {
    // SAFETY: writes only %xmm0, which is declared clobbered; SSE is enabled for user
    // mode by the host (CR4.OSFXSR).
    unsafe { core::arch::asm!("movq xmm0, {0}", in(reg) v, out("xmm0") _, options(nomem, nostack)) };
}

/// The low half of %xmm0.
fn get_xmm0() -> u64 {
    let v: u64;
    // SAFETY: reads %xmm0 into a general register; nothing else is touched.
    unsafe { core::arch::asm!("movq {0}, xmm0", out(reg) v, options(nomem, nostack)) };
    v
}
