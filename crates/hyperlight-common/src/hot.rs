//! The hot slot: calls without a VM exit (the host's opt-in hot mode).
//!
//! In hot mode the guest does not leave the VM at an exit point ([`ExitPort::Ready`]
//! or [`ExitPort::HostCall`]): it announces the exit in the slot's state word and
//! spins (`pause`) until the host answers there, for at most the spin budget the host
//! wrote. The slot is one cache line of the input buffer's header, at
//! [`SLOT_OFFSET`]: the state word, then the budget.
//!
//! The state word is a sequence number (high 32 bits), a port (bits 8..24) and a tag
//! (low 8 bits). Every change is one compare-and-swap from the state the changer
//! expects to the next, and bumps the sequence number, so each side knows exactly
//! which word it may see next and treats anything else as "not hot":
//!
//! | from | to | by | meaning |
//! |---|---|---|---|
//! | anything | `Go(n)` | host | the vCPU is stopped; armed for its next exit point (written before a run) |
//! | `Go(n)` | `Wait(n+1, port)` | guest | a virtual exit through `port`; the guest spins |
//! | `Wait(n, port)` | `Go(n+1)` | host | the host answered (the next message is on the input stack): go on |
//! | `Wait(n, port)` | `Cold(n+1)` | guest | the budget ran out: the guest exits through `port` for real |
//! | `Wait(n, port)` | `Stop(n+1)` | host | the host needs the vCPU stopped: exit through `port` for real |
//! | `Go(n)` | `Parked(n+1)` | host | the caller sleeps: the next exit must be a real one (to wake it) |
//!
//! A guest at an exit point whose word is not `Go` exits for real: with the slot all
//! zero (the normal mode) every exit is a real one. A guest spinning at `Wait(n)` that
//! sees `Parked(n+2)` was answered (`Go(n+1)`) and then parked before it looked: it
//! goes on, and its next exit is a real one.
//!
//! [`ExitPort::Ready`]: crate::port::ExitPort::Ready
//! [`ExitPort::HostCall`]: crate::port::ExitPort::HostCall

use crate::port::ExitPort;

/// Offset of the slot in the input buffer (its own cache line of the header).
pub const SLOT_OFFSET: usize = 64;
/// Offset of the state word (`u64`) in the input buffer.
pub const STATE_OFFSET: usize = SLOT_OFFSET;
/// Offset of the spin budget (`u64`, in TSC ticks) in the input buffer.
pub const BUDGET_OFFSET: usize = SLOT_OFFSET + 8;

/// One value of the state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Not hot: every exit is a real one.
    Cold(u32),
    /// Armed: the guest's next exit point may be virtual.
    Go(u32),
    /// The guest is at a virtual exit through this port, spinning.
    Wait(u32, u16),
    /// The caller sleeps; the guest's next exit must be real.
    Parked(u32),
    /// The host asks for a real exit.
    Stop(u32),
}

const COLD: u64 = 0;
const GO: u64 = 1;
const WAIT: u64 = 2;
const PARKED: u64 = 3;
const STOP: u64 = 4;

impl SlotState {
    /// The word.
    pub const fn encode(self) -> u64 {
        let (seq, port, tag) = match self {
            SlotState::Cold(n) => (n, 0, COLD),
            SlotState::Go(n) => (n, 0, GO),
            SlotState::Wait(n, port) => (n, port, WAIT),
            SlotState::Parked(n) => (n, 0, PARKED),
            SlotState::Stop(n) => (n, 0, STOP),
        };
        ((seq as u64) << 32) | ((port as u64) << 8) | tag
    }

    /// The state a word holds; `None` for a word no side writes (a forgery).
    pub const fn decode(word: u64) -> Option<SlotState> {
        let seq = (word >> 32) as u32;
        let port = ((word >> 8) & 0xffff) as u16;
        let state = match word & 0xff {
            COLD => SlotState::Cold(seq),
            GO => SlotState::Go(seq),
            WAIT => SlotState::Wait(seq, port),
            PARKED => SlotState::Parked(seq),
            STOP => SlotState::Stop(seq),
            _ => return None,
        };
        if word == state.encode() {
            Some(state)
        } else {
            None
        }
    }
}

/// Whether the guest may take an exit through `port` virtually (the others are
/// always real: aborts and faults end the run).
pub const fn is_virtual(port: ExitPort) -> bool {
    matches!(port, ExitPort::Ready | ExitPort::HostCall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_forgeries_are_refused() {
        for s in [
            SlotState::Cold(0),
            SlotState::Go(7),
            SlotState::Wait(u32::MAX, 0x11),
            SlotState::Parked(3),
            SlotState::Stop(9),
        ] {
            assert_eq!(SlotState::decode(s.encode()), Some(s));
        }
        assert_eq!(SlotState::decode(0), Some(SlotState::Cold(0)));
        assert_eq!(SlotState::decode(9), None);
        // A port on a state that has none.
        assert_eq!(SlotState::decode(SlotState::Go(1).encode() | 0x1000), None);
        assert!(is_virtual(ExitPort::Ready) && is_virtual(ExitPort::HostCall) && !is_virtual(ExitPort::Abort));
    }
}
