//! [`Buffers`]: the input and output call buffers the host named in the boot
//! information.
//!
//! The buffers are plain guest memory that the host reads and writes while the guest
//! is stopped at an exit. The runtime makes a slice of one only for as long as it
//! reads or writes a frame, and never across an exit, so no Rust reference ever
//! observes the host's writes.

use core::cell::Cell;

use hyperlight_common::message::INPUT_HEADER;

use crate::cell::SingleThreaded;

/// Where the call buffers are (copied from the boot information at entry).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Buffers {
    input: (usize, usize),
    output: (usize, usize),
}

static BUFFERS: SingleThreaded<Cell<Option<Buffers>>> = SingleThreaded::new(Cell::new(None));

impl Buffers {
    /// The buffers from the boot information: `(address, size)` of each.
    ///
    /// Refused (`None`) if a buffer is empty, starts at address 0, wraps around the
    /// address space, or overlaps the other one.
    pub(crate) fn new(input: (u64, u64), output: (u64, u64)) -> Option<Buffers> {
        let range = |(addr, size): (u64, u64)| -> Option<(usize, usize)> {
            let addr = usize::try_from(addr).ok()?;
            let size = usize::try_from(size).ok()?;
            // A slice may not be longer than isize::MAX bytes.
            if addr == 0 || size == 0 || isize::try_from(size).is_err() {
                return None;
            }
            addr.checked_add(size)?;
            Some((addr, size))
        };
        let input = range(input)?;
        let output = range(output)?;
        let disjoint = input.0 + input.1 <= output.0 || output.0 + output.1 <= input.0;
        disjoint.then_some(Buffers { input, output })
    }

    /// Makes these the buffers of the running guest (once, at entry).
    pub(crate) fn install(self) {
        BUFFERS.set(Some(self));
    }

    /// The buffers of the running guest, if entry has installed them.
    pub(crate) fn current() -> Option<Buffers> {
        BUFFERS.get()
    }

    /// Address of the input buffer (its header holds the hot slot).
    pub(crate) fn input_addr(&self) -> usize {
        self.input.0
    }

    /// Size of the output buffer in bytes.
    pub(crate) fn output_capacity(&self) -> usize {
        self.output.1
    }

    /// Runs `f` on the frame the host put on top of the input buffer's stack: from the
    /// offset in the buffer's header to the end of the buffer (empty if the offset is
    /// not inside the buffer, past the header; decoding it then fails).
    ///
    /// `f` must not exit to the host: the slice would then see the host's writes.
    pub(crate) fn with_input_frame<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        self.with_input(|input| {
            let offset = input.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
            match offset {
                Some(at) if (INPUT_HEADER..input.len()).contains(&at) => f(&input[at..]),
                _ => f(&[]),
            }
        })
    }

    /// Runs `f` on the input buffer (host to guest).
    ///
    /// `f` must not exit to the host: the slice would then see the host's writes.
    fn with_input<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let (addr, size) = self.input;
        // SAFETY: the host maps `size` bytes of guest memory at `addr` (it says so in
        // the boot information, and `new` checked that the range is non-null, does not
        // wrap and is at most isize::MAX long). Nothing else in the guest points into
        // the input buffer: the runtime only reaches it through this function, whose
        // slice cannot escape `f`, and the host writes it only while the guest is
        // stopped at an exit, which `f` does not take.
        let buf = unsafe { core::slice::from_raw_parts(addr as *const u8, size) };
        f(buf)
    }

    /// Runs `f` on the output buffer (guest to host).
    ///
    /// `f` must not exit to the host, nor reach the output buffer another way (it
    /// must not call [`Buffers::with_output`] again).
    pub(crate) fn with_output<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let (addr, size) = self.output;
        // SAFETY: as for `with_input`: the range is mapped guest memory, checked by
        // `new` and disjoint from the input buffer. The callers in this crate are
        // short functions that write one frame and neither exit nor nest, so this is
        // the only live reference into the output buffer while `f` runs.
        let buf = unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, size) };
        f(buf)
    }
}
