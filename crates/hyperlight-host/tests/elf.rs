//! Loading guest binaries: every malformed input is a typed `BuildError`, never a
//! panic; both kinds of executable we support load and run; a static ELF not built with
//! our runtime loads, and calls to it fail cleanly instead of hanging.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use hyperlight_host::{BuildError, CallError, ElfError, LayoutError, MessageKind, ProtocolError, SandboxBuilder};

use common::{assert_works, build, guest_bytes, require_kvm};

fn build_bytes(bytes: &[u8]) -> Result<hyperlight_host::Sandbox, BuildError> {
    SandboxBuilder::new().build_from_bytes(bytes)
}

/// A copy of simpleguest with `patch` applied.
fn patched(patch: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut bytes = guest_bytes("simpleguest");
    patch(&mut bytes);
    bytes
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(bytes[at..at + 2].try_into().expect("a 2-byte slice"))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("a 4-byte slice"))
}

fn usize_at(bytes: &[u8], at: usize) -> usize {
    let v = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("an 8-byte slice"));
    usize::try_from(v).expect("simpleguest's offsets and sizes fit usize")
}

/// (offset, file size) of every PT_LOAD segment, read straight from the headers.
fn load_segments(bytes: &[u8]) -> Vec<(usize, usize)> {
    let phoff = usize_at(bytes, 0x20);
    let phentsize = usize::from(u16_at(bytes, 0x36));
    let phnum = usize::from(u16_at(bytes, 0x38));
    (0..phnum)
        .map(|i| &bytes[phoff + i * phentsize..])
        .filter(|ph| u32_at(ph, 0) == 1) // PT_LOAD
        .map(|ph| (usize_at(ph, 8), usize_at(ph, 32)))
        .collect()
}

#[test]
fn bytes_that_are_not_elf() {
    let mut junk = b"MZ this is not an ELF file, whatever else it may be.".to_vec();
    junk.resize(256, 0);
    let err = build_bytes(&junk).unwrap_err();
    assert!(matches!(err, BuildError::Elf(ElfError::NotElf { magic: [b'M', b'Z', b' ', b't'] })), "{err:?}");

    let err = build_bytes(&[0u8; 4096]).unwrap_err();
    assert!(matches!(err, BuildError::Elf(ElfError::NotElf { magic: [0, 0, 0, 0] })), "{err:?}");
}

#[test]
fn empty_and_tiny_inputs_are_truncated_headers() {
    for len in [0, 1, 4, 16, 63] {
        let bytes = &guest_bytes("simpleguest")[..len];
        let err = build_bytes(bytes).unwrap_err();
        assert!(
            matches!(err, BuildError::Elf(ElfError::Truncated { offset: 0, size: 64, len: l, .. }) if l == len),
            "{len} bytes: {err:?}"
        );
    }
}

#[test]
fn a_32_bit_elf_header_is_refused() {
    let bytes = patched(|b| b[4] = 1); // EI_CLASS = ELFCLASS32
    let err = build_bytes(&bytes).unwrap_err();
    assert!(matches!(err, BuildError::Elf(ElfError::NotElf64 { class: 1 })), "{err:?}");
}

#[test]
fn a_big_endian_elf_is_refused() {
    let bytes = patched(|b| b[5] = 2); // EI_DATA = ELFDATA2MSB
    let err = build_bytes(&bytes).unwrap_err();
    assert!(matches!(err, BuildError::Elf(ElfError::NotLittleEndian { data: 2 })), "{err:?}");
}

#[test]
fn another_machine_is_refused() {
    for machine in [3u16, 183, 243] {
        // i386, aarch64, riscv
        let bytes = patched(|b| b[0x12..0x14].copy_from_slice(&machine.to_le_bytes()));
        let err = build_bytes(&bytes).unwrap_err();
        assert!(
            matches!(err, BuildError::Elf(ElfError::WrongMachine { machine: m }) if m == machine),
            "machine {machine}: {err:?}"
        );
    }
}

#[test]
fn relocatable_core_and_untyped_files_are_refused() {
    for elf_type in [0u16, 1, 4] {
        // ET_NONE, ET_REL, ET_CORE
        let bytes = patched(|b| b[0x10..0x12].copy_from_slice(&elf_type.to_le_bytes()));
        let err = build_bytes(&bytes).unwrap_err();
        assert!(
            matches!(err, BuildError::Elf(ElfError::NotExecutable { elf_type: t }) if t == elf_type),
            "e_type {elf_type}: {err:?}"
        );
    }
}

#[test]
fn truncated_at_the_header_the_program_headers_and_a_segment() {
    let full = guest_bytes("simpleguest");
    let phoff = usize_at(&full, 0x20);
    let phnum = usize::from(u16_at(&full, 0x38));
    let (seg_off, seg_size) = *load_segments(&full).iter().find(|(_, size)| *size > 4096).expect("a large segment");
    let cuts = [
        ("mid ELF header", 40),
        ("end of ELF header", 64),
        ("mid program headers", phoff + phnum * 56 / 2),
        ("last program header", phoff + phnum * 56 - 1),
        ("mid segment", seg_off + seg_size / 2),
        ("last byte of the segment", seg_off + seg_size - 1),
    ];
    for (at, len) in cuts {
        let err = build_bytes(&full[..len]).unwrap_err();
        assert!(
            matches!(err, BuildError::Elf(ElfError::Truncated { offset, size, len: l, .. })
                if l == len && offset.saturating_add(size) > len as u64),
            "cut {at} ({len} bytes): {err:?}"
        );
    }
}

/// Every cut before the end of the last loadable byte is refused as truncated, never
/// loaded and never a panic.
#[test]
fn every_truncation_before_the_loadable_end_is_refused() {
    let full = guest_bytes("simpleguest");
    let loadable_end = load_segments(&full).iter().map(|(off, size)| off + size).max().unwrap();
    let lens = (0..1024).chain((1024..loadable_end).step_by(61)).chain([loadable_end - 1]);
    for len in lens {
        match build_bytes(&full[..len]) {
            Err(BuildError::Elf(ElfError::Truncated { len: l, .. })) if l == len => {}
            other => panic!("cut at {len} of {loadable_end}: {:?}", other.map(|_| "a sandbox")),
        }
    }
}

#[test]
fn a_missing_file_is_read_file() {
    let path = std::env::temp_dir().join("hyperlight-no-such-guest-a8f3");
    let err = SandboxBuilder::new().build_from_file(&path).unwrap_err();
    assert!(
        matches!(&err, BuildError::ReadFile { path: p, source } if *p == path && source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
}

#[test]
fn a_heap_over_the_memory_limit_is_a_layout_error() {
    let err = SandboxBuilder::new()
        .memory_limit(16 << 20)
        .heap_size(64 << 20)
        .build_from_bytes(&guest_bytes("simpleguest"))
        .unwrap_err();
    assert!(
        matches!(err, BuildError::Layout(LayoutError::TooLarge { needed, limit: 16_777_216 }) if needed > 64 << 20),
        "{err:?}"
    );
}

#[test]
fn static_pie_and_position_dependent_builds_both_run() {
    for guest in ["simpleguest", "simpleguest-exec"] {
        let mut sb = build(SandboxBuilder::new(), guest);
        let clean = sb.snapshot().unwrap();
        assert_eq!(sb.call::<i32>("Add", (20, 22)).unwrap(), 42, "{guest}");
        assert_eq!(sb.call::<String>("EchoString", "é".to_string()).unwrap(), "é", "{guest}");
        assert!(matches!(sb.call::<()>("Fault", "null".to_string()), Err(CallError::GuestFault(_))), "{guest}");
        common::assert_poisoned_then_restored(&mut sb, &clean);
    }
}

#[test]
fn build_from_bytes_runs_a_valid_guest() {
    require_kvm();
    let mut sb = build_bytes(&guest_bytes("simpleguest-exec")).unwrap();
    assert_works(&mut sb);
}

/// rawguest exits "ready" without ever writing a result: each call must come back with
/// a protocol error, quickly.
#[test]
fn a_guest_without_our_runtime_loads_and_its_calls_fail_cleanly() {
    let mut sb = build(SandboxBuilder::new(), "rawguest");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let clean = sb.snapshot().unwrap();
        let results: Vec<_> = (0..3)
            .map(|_| {
                let r = sb.call::<i32>("Anything", 1);
                // A protocol breach poisons the sandbox; a restore makes it callable again.
                sb.restore(&clean).unwrap();
                r
            })
            .collect();
        tx.send(results).unwrap();
    });
    let results = rx.recv_timeout(Duration::from_secs(10)).expect("calls to rawguest hung for 10 s");
    for r in results {
        assert!(
            matches!(r, Err(CallError::Protocol(ProtocolError::BadMessage { what: MessageKind::FunctionResult, .. }))),
            "{r:?}"
        );
    }
}
