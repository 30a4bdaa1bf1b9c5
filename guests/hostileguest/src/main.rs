//! A hostile guest: each function breaks the host/guest protocol on purpose, by
//! writing garbage where the host reads or exiting where it must not. The host must
//! answer each with a typed error, never panic, and stay usable.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use hyperlight_guest::{boot_info, register_function};

hyperlight_guest::main!(init);

fn init() {
    // Output frames with a bad header or payload, reported through Ready (as a call's
    // result) or HostCall (as a host call).
    register_function("BadLength", || garbage(&0xffff_ff00u32.to_le_bytes(), READY));
    register_function("NoPayload", || garbage(&[0, 0, 0, 0], READY));
    register_function("BadResultTag", || frame(&[9], READY));
    register_function("BadValueTag", || frame(&[0, 200, 1], READY));
    register_function("BadUtf8", || frame(&[0, 8, 2, 0xff, 0xfe], READY));
    register_function("TrailingBytes", || frame(&[0, 0, 0, 0, 0], READY));
    // A host call whose argument count claims four billion values.
    register_function("HugeCount", || frame(&[1, b'x', 0xff, 0xff, 0xff, 0xff, 0x0f], HOST_CALL));
    register_function("BadHostCall", || frame(&[0xff, 0xff, 0xff], HOST_CALL));
    register_function("AbortGarbage", || frame(&[7, 7, 7], ABORT));
    // Exits the bitmap does not allow, or that the protocol has no use for.
    register_function("UnknownPort", || {
        // SAFETY: port 0x99 is denied by the host's I/O bitmap: #GP, nothing else.
        unsafe { core::arch::asm!("out 0x99, al", in("al") 0u8, options(nomem, nostack)) }
    });
    register_function("FaultPort", || {
        // SAFETY: the host's fault port is for its CPL0 stubs only: #GP from here.
        unsafe { core::arch::asm!("out 0x1f, al", in("al") 6u8, options(nomem, nostack)) }
    });
    register_function("InPort", || {
        let v: u8;
        // SAFETY: `in` from an allowed port exits to the host, which gives back 0.
        unsafe { core::arch::asm!("in al, 0x10", out("al") v, options(nomem, nostack)) };
        u32::from(v)
    });
    // `in` of each width from a port the bitmap allows (every `out` port is also an
    // `in` port): KVM completes an `in` at the next run, after the host has set the
    // registers, unless the host flushes it. Nothing of it may reach the next tenant.
    register_function("In", |port: u32, width: u32| -> u32 {
        let port = u16::try_from(port).unwrap_or(0x10);
        let v: u32;
        match width {
            // SAFETY: `in` from a port the I/O bitmap allows exits to the host, which
            // hands back zeros or never resumes the guest; only eax changes.
            1 => unsafe {
                core::arch::asm!("in al, dx", in("dx") port, inout("eax") 0xa5a5_a5a5u32 => v, options(nomem, nostack))
            },
            // SAFETY: as above.
            2 => unsafe {
                core::arch::asm!("in ax, dx", in("dx") port, inout("eax") 0xa5a5_a5a5u32 => v, options(nomem, nostack))
            },
            // SAFETY: as above.
            _ => unsafe { core::arch::asm!("in eax, dx", in("dx") port, out("eax") v, options(nomem, nostack)) },
        }
        v
    });
    register_function("Echo", |x: u32| x);
    // Tries to keep state across a restore: writes over everything it can reach.
    register_function("Scribble", scribble);
    register_function("FpuState", fpu_state);
    // Lies in the hot slot (see `hot_forge`).
    register_function("HotForge", hot_forge);
    // Many host calls of garbage in one guest call: the first one ends the call.
    register_function("LoopOnExits", |n: u32| {
        for _ in 0..n {
            frame(&[0xff; 8], HOST_CALL);
        }
    });
}

const READY: u16 = 0x10;
const HOST_CALL: u16 = 0x11;
const ABORT: u16 = 0x12;

/// Writes `payload` as a frame (with its true length) and exits through `port`.
fn frame(payload: &[u8], port: u16) {
    let mut bytes = [0u8; 64];
    let n = payload.len().min(60);
    bytes[..4].copy_from_slice(&u32::try_from(n).unwrap_or(0).to_le_bytes());
    bytes[4..4 + n].copy_from_slice(&payload[..n]);
    garbage(&bytes[..4 + n], port);
}

/// Writes `bytes` at the start of the output buffer and exits through `port`.
fn garbage(bytes: &[u8], port: u16) {
    let Some(info) = boot_info() else { return };
    let Ok(out) = usize::try_from(info.output_buffer) else { return };
    // SAFETY: the output buffer is mapped and writable for the guest's life, and larger
    // than 64 bytes (the host's minimum); nothing else holds a reference to it now.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), out as *mut u8, bytes.len()) };
    // SAFETY: `out` to a user port hands control to the host, which resumes here (or
    // never); the buffer write above is ordered before it (the asm is not `nomem`).
    unsafe { core::arch::asm!("out dx, al", in("dx") port, in("al") 0u8, options(nostack)) };
}

/// A writable static of the guest's own image (.data).
static mut SCRIBBLE_DATA: [u8; 8192] = [1; 8192];

/// Writes garbage over the heap, the stack below this frame, both call buffers, a
/// static of the image, every x87 and SSE register, the data selectors and DF, then reports "ready" with garbage in the output
/// buffer. Everything it touched must be undone by a restore.
fn scribble() {
    let Some(info) = boot_info() else { return };
    let fill = |addr: u64, len: u64, byte: u8| {
        if let (Ok(a), Ok(n)) = (usize::try_from(addr), usize::try_from(len)) {
            // SAFETY: the range is guest memory the guest may write (heap, buffers, or
            // stack below the current frame); the guest is about to be restored.
            unsafe { core::ptr::write_bytes(a as *mut u8, byte, n) };
        }
    };
    let sp: u64;
    // SAFETY: reads the stack pointer.
    unsafe { core::arch::asm!("mov {0}, rsp", out(reg) sp, options(nomem, nostack)) };
    let stack_bottom = info.stack_top - info.stack_size;
    fill(stack_bottom, (sp & !0xfff).saturating_sub(4096).saturating_sub(stack_bottom), 0x5a);
    fill(info.input_buffer, info.input_buffer_size, 0x5b);
    // SAFETY: single-threaded guest; a raw pointer write to its own static.
    unsafe { core::ptr::write_bytes(core::ptr::addr_of_mut!(SCRIBBLE_DATA).cast::<u8>(), 0x5c, 8192) };
    fill(info.heap_base, info.heap_size, 0x5e);
    fill(info.output_buffer, info.output_buffer_size, 0x5f);
    // Every x87 and SSE register, the control words and the x87 stack, the data
    // segment selectors and the direction flag. The guest is soft-float: no compiled
    // code of it uses any of these, and it never returns from here.
    let junk: [u64; 2] = [0x5d5d_5d5d_5d5d_5d5d, 0xa5a5_a5a5_a5a5_a5a5];
    let mxcsr: u32 = 0x7f80 | (3 << 13); // every exception masked, round toward zero
    let fcw: u16 = 0x0c7f; // round toward zero
                           // SAFETY: loads from the locals above into registers no compiled code here uses;
                           // null data selectors are allowed at CPL3 in 64-bit mode.
    unsafe {
        core::arch::asm!(
            "movdqu xmm0, [{j}]", "movdqu xmm1, [{j}]", "movdqu xmm2, [{j}]", "movdqu xmm3, [{j}]",
            "movdqu xmm4, [{j}]", "movdqu xmm5, [{j}]", "movdqu xmm6, [{j}]", "movdqu xmm7, [{j}]",
            "movdqu xmm8, [{j}]", "movdqu xmm9, [{j}]", "movdqu xmm10, [{j}]", "movdqu xmm11, [{j}]",
            "movdqu xmm12, [{j}]", "movdqu xmm13, [{j}]", "movdqu xmm14, [{j}]", "movdqu xmm15, [{j}]",
            "ldmxcsr [{m}]", "fldcw [{f}]", "fld1", "fldpi", "fldl2e",
            "xor eax, eax", "mov ds, ax", "mov es, ax", "mov fs, ax", "mov gs, ax",
            "std",
            j = in(reg) junk.as_ptr(), m = in(reg) &mxcsr, f = in(reg) &fcw,
            out("eax") _,
            options(nostack),
        )
    };
    // The heap is garbage now: no allocation from here on. Say "ready" with garbage.
    // SAFETY: `out` to a user port hands control to the host.
    unsafe { core::arch::asm!("out dx, al", in("dx") READY, in("al") 0u8, options(nostack)) };
}

/// The x87 and SSE state as `fxsave64` writes it (512 bytes), then the DS, ES, FS
/// and GS selectors and RFLAGS: what a restore must put back for every tenant.
fn fpu_state() -> Vec<u8> {
    #[repr(C, align(16))]
    struct Area([u8; 512]);
    let mut area = Area([0; 512]);
    let (ds, es, fs, gs): (u16, u16, u16, u16);
    let flags: u64;
    // SAFETY: fxsave64 writes 512 bytes into the 16-aligned local; the rest reads
    // registers.
    unsafe {
        core::arch::asm!("fxsave64 [{0}]", in(reg) area.0.as_mut_ptr(), options(nostack));
        core::arch::asm!("mov {0:x}, ds", "mov {1:x}, es", "mov {2:x}, fs", "mov {3:x}, gs",
            out(reg) ds, out(reg) es, out(reg) fs, out(reg) gs, options(nomem, nostack));
        core::arch::asm!("pushfq", "pop {0}", out(reg) flags, options(nomem));
    }
    let mut out = area.0.to_vec();
    for sel in [ds, es, fs, gs] {
        out.extend_from_slice(&sel.to_le_bytes());
    }
    out.extend_from_slice(&flags.to_le_bytes());
    out
}

/// Lies in the hot slot (`hyperlight_common::hot`) of a hot sandbox, then spins for
/// ever, deaf to the host. `how`: 0, a virtual exit with the wrong sequence number;
/// 1, one through a port that cannot be virtual (Abort); 2, a correct one with a
/// garbage result frame; 3, a correct one with a good result (`()`). Without an armed
/// slot (a sandbox that is not hot) it returns at once.
fn hot_forge(how: u32) {
    use core::sync::atomic::{AtomicU64, Ordering};
    use hyperlight_common::hot::{SlotState, STATE_OFFSET};
    let Some(info) = boot_info() else { return };
    let Ok(input) = usize::try_from(info.input_buffer) else { return };
    // SAFETY: the input buffer is mapped guest memory, page-aligned, larger than its
    // 128-byte header; the host touches the state word only atomically.
    let state = unsafe { AtomicU64::from_ptr((input + STATE_OFFSET) as *mut u64) };
    let Some(SlotState::Go(n)) = SlotState::decode(state.load(Ordering::Acquire)) else { return };
    let (seq, port) = match how {
        0 => (n.wrapping_add(5), READY),
        1 => (n.wrapping_add(1), ABORT),
        _ => (n.wrapping_add(1), READY),
    };
    let result: &[u8] = if how == 2 { &[0xff, 0xff, 0xff, 0xff, 0] } else { &[2, 0, 0, 0, 0, 0] };
    if let Ok(out) = usize::try_from(info.output_buffer) {
        // SAFETY: the output buffer is mapped and writable, larger than 64 bytes.
        unsafe { core::ptr::copy_nonoverlapping(result.as_ptr(), out as *mut u8, result.len()) };
    }
    state.store(SlotState::Wait(seq, port).encode(), Ordering::Release);
    loop {
        core::hint::spin_loop();
    }
}
