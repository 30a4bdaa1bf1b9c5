//! `Frames`: the stack of host-to-guest frames in the input buffer (see the message
//! format in `hyperlight_common::message`).
//!
//! A call's frame stays on the stack while the call runs; a call the host makes while
//! that one waits in a host call (re-entrant) goes above it; a reply to a host call is
//! written on top without staying. The header's offset tells the guest which frame
//! to read. Only the bytes written are marked as the host's (what a restore puts
//! back), and nothing here allocates once the stack has been as deep as it gets.

use hyperlight_common::message::{write_frame, FrameError, INPUT_HEADER};

use crate::mem::layout::{GuestAddr, Layout};
use crate::mem::memory::GuestMemory;

/// Frames start on 8-byte boundaries.
const ALIGN: u64 = 8;

/// The host's view of the input stack; the guest's copy (the header) is written from
/// it, never read back.
#[derive(Debug)]
pub(crate) struct Frames {
    /// Offsets of the frames of the calls running now, outermost first.
    live: Vec<u64>,
    /// Where the next frame goes.
    top: u64,
}

impl Default for Frames {
    fn default() -> Frames {
        Frames { live: Vec::with_capacity(8), top: INPUT_HEADER as u64 }
    }
}

impl Frames {
    /// How many calls are running (their frames on the stack).
    pub(crate) fn depth(&self) -> usize {
        self.live.len()
    }

    /// Forgets every frame (a new top-level call, whatever the last one left).
    pub(crate) fn clear(&mut self) {
        self.live.clear();
        self.top = INPUT_HEADER as u64;
    }

    /// Writes a call (or batch) frame on top and keeps it there until [`Frames::pop`].
    pub(crate) fn push<T: serde::Serialize + ?Sized>(
        &mut self,
        mem: &mut GuestMemory,
        layout: &Layout,
        msg: &T,
    ) -> Result<(), FrameError> {
        let len = self.write(mem, layout, msg)?;
        self.live.push(self.top);
        self.top = (self.top + len).next_multiple_of(ALIGN);
        Ok(())
    }

    /// Takes the top call's frame off the stack (it returned).
    pub(crate) fn pop(&mut self) {
        if let Some(start) = self.live.pop() {
            self.top = start;
        }
    }

    /// Writes a reply frame on top, read by the guest at once (it does not stay).
    pub(crate) fn reply<T: serde::Serialize + ?Sized>(
        &mut self,
        mem: &mut GuestMemory,
        layout: &Layout,
        msg: &T,
    ) -> Result<(), FrameError> {
        self.write(mem, layout, msg).map(|_| ())
    }

    /// Encodes `msg` at `top` and points the header at it; returns its length.
    fn write<T: serde::Serialize + ?Sized>(
        &mut self,
        mem: &mut GuestMemory,
        layout: &Layout,
        msg: &T,
    ) -> Result<u64, FrameError> {
        let room = layout.input_buffer_size.saturating_sub(self.top);
        let at = GuestAddr(layout.input_buffer.0 + self.top);
        // The layout put the input buffer inside guest memory, and `top` stays inside it.
        let written = mem.fill(at, room, |buf| write_frame(buf, msg)).map_err(|_| FrameError::NoHeader)??;
        let offset = u32::try_from(self.top).map_err(|_| FrameError::NoHeader)?;
        mem.write(layout.input_buffer, &offset.to_le_bytes()).map_err(|_| FrameError::NoHeader)?;
        Ok(written as u64)
    }
}
