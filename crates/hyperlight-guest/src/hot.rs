//! Exit points that may stay in the VM: the guest's side of the hot slot (see
//! [`hyperlight_common::hot`]).
//!
//! When the host armed the slot (`Go`), an exit through `Ready` or `HostCall` is
//! announced in the slot instead, and the guest spins there until the host answers,
//! asks for a real exit, or the spin budget the host wrote runs out; then it exits for
//! real. When the slot is not armed (the normal mode), every exit is a real one.

use core::sync::atomic::{AtomicU64, Ordering};

use hyperlight_common::hot::{SlotState, BUDGET_OFFSET, STATE_OFFSET};
use hyperlight_common::port::ExitPort;

use crate::buffers::Buffers;
use crate::exit::exit as real_exit;

/// Hands control to the host through `port`, and returns when the host resumes the
/// guest: without a VM exit if the host armed the hot slot and answers within the
/// spin budget, else with one.
///
/// Inlined, like the real exit, so that the `out` of the guest's first `Ready` (where
/// the host resets the vCPU to after a panic or abort) is in the dispatch loop's own
/// frame: a return address below it would be overwritten by the calls that follow.
#[inline(always)]
pub(crate) fn exit(port: ExitPort) {
    if hyperlight_common::hot::is_virtual(port) {
        if let Some(buffers) = Buffers::current() {
            if wait_hot(buffers.input_addr(), port) {
                return;
            }
        }
    }
    real_exit(port);
}

/// The virtual exit: `true` if the host answered in the slot (the guest goes on),
/// `false` if the guest must exit for real (not armed, budget spent, or the host
/// asked for it).
#[inline(always)]
fn wait_hot(input: usize, port: ExitPort) -> bool {
    // SAFETY: the input buffer is mapped guest memory of at least one page (the host
    // says so in the boot information, and `Buffers::new` checked the range), and
    // the header's 128 bytes are at its start, 8-byte aligned (the buffer is
    // page-aligned). The host touches these words only with atomic operations, and
    // the guest reaches them only here, atomically too, never through a reference.
    let (state, budget) = unsafe {
        (
            AtomicU64::from_ptr((input + STATE_OFFSET) as *mut u64),
            AtomicU64::from_ptr((input + BUDGET_OFFSET) as *mut u64),
        )
    };
    let armed = state.load(Ordering::Acquire);
    let Some(SlotState::Go(n)) = SlotState::decode(armed) else { return false };
    let waiting = SlotState::Wait(n.wrapping_add(1), port.port()).encode();
    // Fails if the host parked meanwhile: its caller sleeps and needs a real exit.
    if state.compare_exchange(armed, waiting, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return false;
    }
    let answered = SlotState::Go(n.wrapping_add(2)).encode();
    // The host answered, and then parked its caller before this guest saw the answer:
    // go on as answered (the next exit is then a real one).
    let answered_parked = SlotState::Parked(n.wrapping_add(3)).encode();
    let budget = budget.load(Ordering::Relaxed);
    let start = tsc();
    loop {
        let now = state.load(Ordering::Acquire);
        if now == answered || now == answered_parked {
            return true;
        }
        if now != waiting {
            // `Stop`, or a word the host never writes: exit for real.
            return false;
        }
        if tsc().wrapping_sub(start) > budget {
            let cold = SlotState::Cold(n.wrapping_add(2)).encode();
            match state.compare_exchange(waiting, cold, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return false,
                // The host answered (or stopped us) at the last moment: look again.
                Err(_) => continue,
            }
        }
        core::hint::spin_loop();
    }
}

/// The time-stamp counter: the budget is in its ticks (the host converts).
#[inline(always)]
fn tsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` reads a counter into edx:eax and has no other effect; user mode
    // may run it (the host leaves CR4.TSD clear).
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) };
    (u64::from(hi) << 32) | u64::from(lo)
}
