//! The guest's entry: `_start`, the boot information, and the start of the runtime.

use hyperlight_common::boot::{BootInfo, BOOT_INFO_SIZE};
use hyperlight_common::port::ExitPort;
use hyperlight_common::{AbortKind, ABI_VERSION};

use crate::abort::abort_with;
use crate::buffers::Buffers;
use crate::exit::exit;

// The ELF entry point. The host enters it at CPL3 with %rdi = &BootInfo and %rsp =
// the stack top (16-byte aligned). Aligning again costs one instruction and keeps a
// foreign loader from breaking the SysV stack alignment `entry` relies on; %rbp = 0
// ends the frame-pointer chain for debuggers. `entry` never returns; `ud2` makes sure
// that a return would fault rather than run into whatever follows.
core::arch::global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "    and rsp, -16",
    "    xor ebp, ebp",
    "    call {entry}",
    "    ud2",
    ".size _start, . - _start",
    entry = sym entry,
);

/// The ABI version this guest was built against, as a symbol, so that tools (and the
/// host's loader, if it wants to) can read it from the ELF file before running it.
#[used]
#[unsafe(no_mangle)]
static HYPERLIGHT_GUEST_ABI_VERSION: u32 = ABI_VERSION;

extern "Rust" {
    /// The guest program's init function, defined by [`main!`](crate::main).
    fn hyperlight_main();
}

static BOOT_INFO: crate::cell::SingleThreaded<core::cell::Cell<Option<BootInfo>>> =
    crate::cell::SingleThreaded::new(core::cell::Cell::new(None));

/// The boot information the host gave this guest: where its heap, stack and call
/// buffers are. `None` only before the runtime's entry has read it.
pub fn boot_info() -> Option<BootInfo> {
    BOOT_INFO.get()
}

/// The Rust side of `_start`.
extern "C" fn entry(boot_info: usize) -> ! {
    // SAFETY: the host passes in %rdi the address of a mapped, read-only boot
    // information block of `BOOT_INFO_SIZE` bytes, which it does not change while the
    // guest runs (`BootInfo::decode` checks the magic before trusting any field).
    let raw = unsafe { core::slice::from_raw_parts(boot_info as *const u8, BOOT_INFO_SIZE) };
    let info = match BootInfo::decode(raw) {
        Ok(info) => info,
        // With no trustworthy boot information there is no output buffer for a
        // message: the abort exit alone must tell the host.
        Err(_) => loop {
            exit(ExitPort::Abort);
        },
    };
    let buffers =
        Buffers::new((info.input_buffer, info.input_buffer_size), (info.output_buffer, info.output_buffer_size));
    let Some(buffers) = buffers else {
        loop {
            exit(ExitPort::Abort);
        }
    };
    buffers.install();
    BOOT_INFO.set(Some(info));
    if info.abi_version != ABI_VERSION {
        abort_with(
            AbortKind::Abort { code: -1 },
            format_args!("guest built for hyperlight ABI {ABI_VERSION}, host speaks ABI {}", info.abi_version),
        );
    }
    let (Ok(heap_base), Ok(heap_size)) = (usize::try_from(info.heap_base), usize::try_from(info.heap_size)) else {
        abort_with(AbortKind::Abort { code: -1 }, format_args!("heap outside the address space: {info:?}"));
    };
    // SAFETY: the host reserves `[heap_base, heap_base + heap_size)` for the heap: mapped,
    // writable, and used by nothing else for the guest's life. This is the first and
    // only call, and nothing has allocated yet.
    unsafe { crate::heap::init(heap_base, heap_size) };
    // The `#[guest_function]`s first, so that init may replace any of them.
    for register in crate::GUEST_FUNCTIONS {
        register();
    }
    // SAFETY: `hyperlight_main` is defined by the guest program with this signature
    // (by `main!`, or by hand as `#[no_mangle] pub extern "Rust" fn hyperlight_main()`);
    // it is an ordinary safe Rust function.
    unsafe { hyperlight_main() };
    crate::dispatch::serve(buffers)
}
