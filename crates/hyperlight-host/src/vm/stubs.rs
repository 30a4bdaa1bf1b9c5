//! The host's CPL0 exception stubs: the only supervisor code in a guest.
//!
//! One 16-byte stub per exception vector 0..31, copied into a supervisor-only,
//! read-only page of every guest. Each stub makes the exception frame uniform, then
//! reports to the host and stops:
//!
//! ```text
//! push $0             ; only for vectors without a CPU-pushed error code
//! push %rax           ; the guest's rax, before we clobber it
//! mov  $vector, %al
//! out  %al, $0x1f     ; ExitPort::Fault: one VM exit with the vector
//! 1: hlt ; jmp 1b     ; never resumed
//! ```
//!
//! So after a fault the stack (the IST stack) holds, from `%rsp` up: the guest's
//! `rax`, the error code, then the CPU's frame (`rip`, `cs`, `rflags`, `rsp`, `ss`).
//! Five instructions at CPL0: cheap even where CPL0 code is emulated (PVM), and no
//! SSE. Written as machine code here, not assembled, so the host build needs no
//! assembler and the bytes are reviewable.

use hyperlight_common::port::ExitPort;

/// Bytes per stub.
pub(crate) const STUB_SIZE: usize = 16;

/// Number of stubs (exception vectors 0..31).
pub(crate) const STUB_COUNT: usize = 32;

/// Whether the CPU pushes an error code for this exception vector.
pub(crate) const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// The stub page's first `STUB_COUNT * STUB_SIZE` bytes.
pub(crate) fn exception_stubs() -> [u8; STUB_SIZE * STUB_COUNT] {
    let port = u8::try_from(ExitPort::Fault.port()).expect("the fault port fits out's imm8 form");
    let mut out = [0xccu8; STUB_SIZE * STUB_COUNT];
    for v in 0..STUB_COUNT {
        let vector = u8::try_from(v).expect("fewer than 256 vectors");
        let stub = &mut out[v * STUB_SIZE..(v + 1) * STUB_SIZE];
        let mut code: Vec<u8> = Vec::with_capacity(STUB_SIZE);
        if !has_error_code(vector) {
            code.extend_from_slice(&[0x6a, 0x00]); // push $0
        }
        code.push(0x50); // push %rax
        code.extend_from_slice(&[0xb0, vector]); // mov $vector, %al
        code.extend_from_slice(&[0xe6, port]); // out %al, $port
        code.extend_from_slice(&[0xf4, 0xeb, 0xfd]); // 1: hlt; jmp 1b
        stub[..code.len()].copy_from_slice(&code);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_fit_and_report_their_vector() {
        let s = exception_stubs();
        // Vector 3 (#BP, no error code) and 14 (#PF, error code).
        assert_eq!(&s[3 * 16..3 * 16 + 11], &[0x6a, 0, 0x50, 0xb0, 3, 0xe6, 0x1f, 0xf4, 0xeb, 0xfd, 0xcc]);
        assert_eq!(&s[14 * 16..14 * 16 + 9], &[0x50, 0xb0, 14, 0xe6, 0x1f, 0xf4, 0xeb, 0xfd, 0xcc]);
    }
}
