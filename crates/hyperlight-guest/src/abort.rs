//! Giving up: the panic handler, [`abort`], and the out-of-memory path.
//!
//! Each writes a [`GuestAbortRef`] frame into the output buffer and exits through
//! [`ExitPort::Abort`]. None of them allocates (the heap may be what ran out): the
//! message is formatted into a fixed static buffer and cut short if it does not fit.
//! The host never resumes an aborted guest; should it do so anyway, the guest exits
//! through the same port again.

use core::cell::{Cell, UnsafeCell};
use core::fmt::{self, Write};

use hyperlight_common::message::{write_frame, GuestAbortRef};
use hyperlight_common::port::ExitPort;
use hyperlight_common::AbortKind;

use crate::buffers::Buffers;
use crate::cell::SingleThreaded;
use crate::exit::exit;

/// Room for an abort message; longer ones are cut at a character boundary.
const MESSAGE_CAPACITY: usize = 2048;

static MESSAGE: SingleThreaded<UnsafeCell<[u8; MESSAGE_CAPACITY]>> =
    SingleThreaded::new(UnsafeCell::new([0; MESSAGE_CAPACITY]));

/// Set once an abort has begun, so that a panic while formatting the message (a
/// `Display` impl that panics) does not format into the buffer a second time.
static ABORTING: SingleThreaded<Cell<bool>> = SingleThreaded::new(Cell::new(false));

/// Stops the guest for good: the host sees [`AbortKind::Abort`] with `code` and
/// `message` as the reason the current call (or init) failed.
///
/// ```ignore
/// // ignore: runs only inside a guest (x86_64-unknown-none).
/// hyperlight_guest::abort(3, "configuration is missing");
/// ```
pub fn abort(code: i32, message: &str) -> ! {
    abort_with(AbortKind::Abort { code }, format_args!("{message}"))
}

/// Makes the next abort format its message again.
///
/// Called at the start of every guest function call: the host does not resume an
/// aborted guest, but it may reset the vCPU to the Ready exit after init while
/// keeping guest memory as the abort left it, and the next call's abort must then
/// still carry its own message.
pub(crate) fn rearm() {
    ABORTING.set(false);
}

/// Stops the guest with `kind` and the formatted `message`.
pub(crate) fn abort_with(kind: AbortKind, message: fmt::Arguments<'_>) -> ! {
    if ABORTING.replace(true) {
        report(kind, "the guest panicked while reporting an abort");
    }
    // SAFETY: `ABORTING` was false, so this is the first and only time the guest gets
    // here (it never returns, and a nested abort takes the branch above), and nothing
    // else uses `MESSAGE`: this is the only reference to it.
    let buf = unsafe { &mut *MESSAGE.get() };
    let mut w = Truncating { buf, len: 0 };
    // A formatting error only means the message was cut short: send what there is.
    let _ = w.write_fmt(message);
    let len = w.len;
    let text = core::str::from_utf8(&w.buf[..len]).unwrap_or("(abort message not UTF-8)");
    report(kind, text)
}

/// Writes the abort frame and exits, forever.
fn report(kind: AbortKind, message: &str) -> ! {
    if let Some(buffers) = Buffers::current() {
        buffers.with_output(|out| {
            if write_frame(out, &GuestAbortRef { kind, message }).is_err() {
                // The output buffer is too small for the message: send the kind alone.
                let _ = write_frame(out, &GuestAbortRef { kind, message: "" });
            }
        });
    }
    loop {
        exit(ExitPort::Abort);
    }
}

/// A `fmt::Write` into a fixed buffer that keeps what fits, cut at a character
/// boundary, so the result is always UTF-8.
struct Truncating<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for Truncating<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        if take < s.len() {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let message = info.message();
    match info.location() {
        Some(at) => {
            abort_with(AbortKind::Panic, format_args!("{message} at {}:{}:{}", at.file(), at.line(), at.column()))
        }
        None => abort_with(AbortKind::Panic, format_args!("{message}")),
    }
}
