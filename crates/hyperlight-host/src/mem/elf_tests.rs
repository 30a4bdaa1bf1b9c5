//! Tests of the ELF loader: valid images, one test per error, and no panics on
//! truncated or corrupted input.

use super::*;

const R_X86_64_64: u32 = 1;
const DT_REL: u64 = 17;
const PT_NOTE: u32 = 4;
const PF_RX: u32 = PF_R | PF_X;
const PF_RW: u32 = PF_R | PF_W;

/// One program header to build, with the bytes it covers in the file.
struct Part {
    kind: u32,
    flags: u32,
    vaddr: u64,
    data: Vec<u8>,
    mem_size: u64,
    align: u64,
}

fn part(kind: u32, flags: u32, vaddr: u64, data: Vec<u8>, mem_size: u64) -> Part {
    Part { kind, flags, vaddr, data, mem_size, align: PAGE_SIZE }
}

fn load_part(flags: u32, vaddr: u64, data: Vec<u8>, mem_size: u64) -> Part {
    part(PT_LOAD, flags, vaddr, data, mem_size)
}

/// Lays out an image: ELF header, program headers, then each part's bytes at the
/// first offset congruent to its address modulo the page size.
fn build(elf_type: u16, entry: u64, parts: &[Part]) -> Vec<u8> {
    let phnum = u16::try_from(parts.len()).expect("few parts");
    let mut out = vec![0u8; EHDR_SIZE + PHDR_SIZE * parts.len()];
    out[..4].copy_from_slice(&ELF_MAGIC);
    out[4] = ELFCLASS64;
    out[5] = ELFDATA2LSB;
    out[6] = 1;
    put16(&mut out, 16, elf_type);
    put16(&mut out, 18, EM_X86_64);
    put32(&mut out, 20, EV_CURRENT);
    put64(&mut out, 24, entry);
    put64(&mut out, 32, EHDR_SIZE as u64);
    put16(&mut out, 52, 64);
    put16(&mut out, 54, 56);
    put16(&mut out, 56, phnum);
    for (i, p) in parts.iter().enumerate() {
        let mut offset = out.len() as u64;
        if p.align >= PAGE_SIZE {
            while offset % PAGE_SIZE != p.vaddr % PAGE_SIZE {
                offset += 1;
            }
        }
        out.resize(usize::try_from(offset).expect("small"), 0);
        out.extend_from_slice(&p.data);
        let ph = EHDR_SIZE + i * PHDR_SIZE;
        put32(&mut out, ph, p.kind);
        put32(&mut out, ph + 4, p.flags);
        put64(&mut out, ph + 8, offset);
        put64(&mut out, ph + 16, p.vaddr);
        put64(&mut out, ph + 24, p.vaddr);
        put64(&mut out, ph + 32, p.data.len() as u64);
        put64(&mut out, ph + 40, p.mem_size);
        put64(&mut out, ph + 48, p.align);
    }
    out
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn read64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
/// Offset of field `field` of program header `index`.
fn ph(index: usize, field: usize) -> usize {
    EHDR_SIZE + index * PHDR_SIZE + field
}

fn dynamic(entries: &[(u64, u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(tag, value) in entries.iter().chain(&[(DT_NULL, 0)]) {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    }
    out
}

fn rela(entries: &[(u64, u32, i64)]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(offset, kind, addend) in entries {
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&u64::from(kind).to_le_bytes());
        out.extend_from_slice(&addend.to_le_bytes());
    }
    out
}

const CODE: [u8; 16] = [0xf4; 16];
const EXEC_TEXT: u64 = 0x40_1000;
const EXEC_DATA: u64 = 0x40_2000;

/// ET_EXEC: text at 0x401000, data with bss at 0x402000.
fn exec_parts() -> Vec<Part> {
    vec![
        part(PT_NOTE, PF_R, 0x40_0200, vec![1, 2, 3, 4], 4),
        load_part(PF_RX, EXEC_TEXT, CODE.to_vec(), 16),
        load_part(PF_RW, EXEC_DATA, vec![0x11; 8], 0x100),
    ]
}

pub(crate) fn exec_image() -> Vec<u8> {
    build(ET_EXEC, EXEC_TEXT, &exec_parts())
}

const PIE_TEXT: u64 = 0x1000;
const PIE_RELA: u64 = 0x2000;
const PIE_DATA: u64 = 0x3000;

/// Static-PIE parts: text, a read-only relocation table, data with bss, and a
/// dynamic section (outside any PT_LOAD) naming the relocation table.
fn pie_parts(relocs: &[(u64, u32, i64)], dyn_entries: &[(u64, u64)]) -> Vec<Part> {
    let table = rela(relocs);
    let mut entries = vec![(DT_RELA, PIE_RELA), (DT_RELASZ, table.len() as u64), (DT_RELAENT, 24)];
    entries.extend_from_slice(dyn_entries);
    vec![
        load_part(PF_RX, PIE_TEXT, CODE.to_vec(), 16),
        load_part(PF_R, PIE_RELA, table, 0x48),
        load_part(PF_RW, PIE_DATA, vec![0x11; 0x20], 0x1000),
        part(PT_DYNAMIC, PF_RW, 0x3800, dynamic(&entries), 0),
    ]
}

fn pie_relocs() -> Vec<(u64, u32, i64)> {
    vec![
        (PIE_DATA, R_X86_64_RELATIVE, 0x1000),
        (PIE_DATA + 8, R_X86_64_NONE, 0),
        (PIE_DATA + 0x18, R_X86_64_RELATIVE, 0x3010),
    ]
}

fn pie_image() -> Vec<u8> {
    build(ET_DYN, PIE_TEXT, &pie_parts(&pie_relocs(), &[]))
}

fn parse_err(bytes: &[u8]) -> ElfError {
    ElfImage::parse(bytes).expect_err("image must be refused")
}

#[test]
fn exec_loads_at_link_addresses_and_zero_fills_bss() {
    let bytes = exec_image();
    let image = ElfImage::parse(&bytes).expect("valid");
    assert_eq!(image.kind(), ElfKind::Exec);
    assert_eq!(image.entry(), EXEC_TEXT);
    assert_eq!(image.span(), (0x40_1000, 0x40_3000));
    let segs = image.segments();
    assert_eq!(segs.len(), 2);
    assert!(segs[0].readable && segs[0].executable && !segs[0].writable);
    assert!(segs[1].readable && segs[1].writable && !segs[1].executable);
    assert_eq!((segs[1].file_size, segs[1].mem_size), (8, 0x100));

    let dest_addr = 0x40_0000;
    let mut dest = vec![0xaa; 0x4000];
    image.load(&bytes, &mut dest, dest_addr, 0).expect("fits");
    assert_eq!(dest[0x1000..0x1010], CODE);
    assert_eq!(dest[0x2000..0x2008], [0x11; 8]);
    assert!(dest[0x2008..0x2100].iter().all(|&b| b == 0), "bss zeroed");
    assert!(dest[..0x1000].iter().all(|&b| b == 0xaa), "untouched below");
    assert!(dest[0x1010..0x2000].iter().all(|&b| b == 0xaa), "untouched between");
    assert!(dest[0x2100..].iter().all(|&b| b == 0xaa), "untouched above");
}

#[test]
fn pie_loads_at_a_base_and_applies_relative_relocations() {
    let bytes = pie_image();
    let image = ElfImage::parse(&bytes).expect("valid");
    assert_eq!(image.kind(), ElfKind::Pie);
    assert_eq!(image.span(), (0x1000, 0x4000));
    assert_eq!(image.relocations.len(), 2, "NONE is dropped");

    let base = 0x20_0000;
    let bias = base - image.span().0;
    let mut dest = vec![0xaa; 0x3000];
    image.load(&bytes, &mut dest, base, bias).expect("fits");
    let data = usize::try_from(PIE_DATA + bias - base).expect("small");
    assert_eq!(read64(&dest, data), bias + 0x1000);
    assert_eq!(read64(&dest, data + 8), 0x1111_1111_1111_1111, "NONE leaves it");
    assert_eq!(read64(&dest, data + 0x18), bias + 0x3010);
    assert!(dest[data + 0x20..data + 0x1000].iter().all(|&b| b == 0));
    assert_eq!(dest[..16], CODE);

    // Loading again at another base works from the same parse.
    let mut again = vec![0; 0x3000];
    image.load(&bytes, &mut again, 0x1000, 0).expect("fits");
    assert_eq!(read64(&again, 0x2000), 0x1000);
}

#[test]
fn pages_may_be_shared_without_overlap() {
    let bytes =
        build(ET_EXEC, 0x1000, &[load_part(PF_RX, 0x1000, CODE.to_vec(), 16), load_part(PF_RW, 0x1010, vec![1; 8], 8)]);
    let image = ElfImage::parse(&bytes).expect("sharing a page is normal");
    assert_eq!(image.span(), (0x1000, 0x2000));
}

#[test]
fn identification_errors() {
    let good = exec_image();
    let patched = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        parse_err(&b)
    };
    assert_eq!(patched(0, 0), ElfError::NotElf { magic: [0, b'E', b'L', b'F'] });
    assert_eq!(patched(4, 1), ElfError::NotElf64 { class: 1 });
    assert_eq!(patched(5, 2), ElfError::NotLittleEndian { data: 2 });
    assert_eq!(patched(6, 2), ElfError::UnsupportedVersion { ident_version: 2, version: 1 });
    assert_eq!(patched(20, 0), ElfError::UnsupportedVersion { ident_version: 1, version: 0 });
    assert_eq!(patched(18, 3), ElfError::WrongMachine { machine: 3 });
    assert_eq!(patched(16, 1), ElfError::NotExecutable { elf_type: 1 }, "ET_REL");
    assert_eq!(patched(16, 4), ElfError::NotExecutable { elf_type: 4 }, "ET_CORE");
}

#[test]
fn truncated_header() {
    let good = exec_image();
    assert!(matches!(parse_err(&good[..63]), ElfError::Truncated { what: "ELF header", len: 63, .. }));
    assert!(matches!(parse_err(&[]), ElfError::Truncated { what: "ELF header", .. }));
}

#[test]
fn truncated_or_bad_program_headers() {
    let good = exec_image();
    assert!(matches!(parse_err(&good[..EHDR_SIZE + 30]), ElfError::Truncated { what: "program header table", .. }));
    let mut far = good.clone();
    put64(&mut far, 32, u64::MAX - 8);
    assert!(matches!(parse_err(&far), ElfError::Truncated { what: "program header table", .. }));
    let mut size = good.clone();
    put16(&mut size, 54, 32);
    assert_eq!(parse_err(&size), ElfError::BadProgramHeaders { entry_size: 32, count: 3 });
    let mut xnum = good;
    put16(&mut xnum, 56, PN_XNUM);
    assert!(matches!(parse_err(&xnum), ElfError::BadProgramHeaders { .. }));
}

#[test]
fn no_loadable_segments() {
    let only_note = build(ET_EXEC, 0x1000, &[part(PT_NOTE, PF_R, 0x1000, vec![0; 4], 4)]);
    assert_eq!(parse_err(&only_note), ElfError::NoLoadableSegments);
    let empty_load = build(ET_EXEC, 0x1000, &[load_part(PF_RX, 0x1000, vec![], 0)]);
    assert_eq!(parse_err(&empty_load), ElfError::NoLoadableSegments);
}

#[test]
fn interpreter_or_needed_library_is_dynamically_linked() {
    let mut parts = exec_parts();
    parts.insert(0, part(PT_INTERP, PF_R, 0x40_0300, b"/lib/ld.so\0".to_vec(), 11));
    assert_eq!(parse_err(&build(ET_EXEC, EXEC_TEXT, &parts)), ElfError::DynamicallyLinked);
    let needed = build(ET_DYN, PIE_TEXT, &pie_parts(&pie_relocs(), &[(DT_NEEDED, 1)]));
    assert_eq!(parse_err(&needed), ElfError::DynamicallyLinked);
}

#[test]
fn tls_only_if_empty() {
    let mut parts = exec_parts();
    parts.push(part(PT_TLS, PF_R, EXEC_DATA, vec![], 0));
    ElfImage::parse(&build(ET_EXEC, EXEC_TEXT, &parts)).expect("empty TLS is fine");
    parts.last_mut().expect("pushed").mem_size = 8;
    assert!(matches!(parse_err(&build(ET_EXEC, EXEC_TEXT, &parts)), ElfError::Unsupported { .. }));
}

#[test]
fn segment_contents_past_end_of_file() {
    let mut bytes = exec_image();
    put64(&mut bytes, ph(2, 32), 0x100);
    assert!(matches!(parse_err(&bytes), ElfError::Truncated { what: "segment contents", .. }));
    put64(&mut bytes, ph(2, 8), u64::MAX);
    put64(&mut bytes, ph(2, 32), 8);
    assert!(matches!(parse_err(&bytes), ElfError::Truncated { what: "segment contents", .. }));
}

#[test]
fn file_size_exceeds_mem_size() {
    let mut bytes = exec_image();
    put64(&mut bytes, ph(2, 40), 4);
    assert_eq!(parse_err(&bytes), ElfError::FileSizeExceedsMemSize { vaddr: EXEC_DATA, file_size: 8, mem_size: 4 });
}

#[test]
fn segment_address_out_of_range() {
    let mut bytes = exec_image();
    put64(&mut bytes, ph(2, 16), u64::MAX - 0x0fff);
    assert!(matches!(parse_err(&bytes), ElfError::SegmentOutOfRange { .. }), "overflow");
    put64(&mut bytes, ph(2, 16), ADDRESS_LIMIT - 0x1000);
    put64(&mut bytes, ph(2, 40), 0x1001);
    assert!(matches!(parse_err(&bytes), ElfError::SegmentOutOfRange { .. }), "non-canonical");
    put64(&mut bytes, ph(2, 40), 0x1000);
    let image = ElfImage::parse(&bytes).expect("ends exactly at 2^47");
    assert_eq!(image.span().1, ADDRESS_LIMIT);
}

#[test]
fn bad_alignment() {
    let mut bytes = exec_image();
    put64(&mut bytes, ph(2, 48), 3);
    assert_eq!(parse_err(&bytes), ElfError::BadAlignment { vaddr: EXEC_DATA, align: 3 });
    put64(&mut bytes, ph(2, 48), 1 << 63);
    assert!(matches!(parse_err(&bytes), ElfError::BadAlignment { .. }));
}

#[test]
fn misaligned_segment() {
    let mut bytes = exec_image();
    put64(&mut bytes, ph(2, 16), EXEC_DATA + 8);
    assert!(matches!(parse_err(&bytes), ElfError::MisalignedSegment { vaddr, .. } if vaddr == EXEC_DATA + 8));
}

#[test]
fn overlapping_segments() {
    let bytes =
        build(ET_EXEC, 0x1000, &[load_part(PF_RW, 0x1008, vec![1; 8], 8), load_part(PF_RX, 0x1000, CODE.to_vec(), 16)]);
    assert_eq!(parse_err(&bytes), ElfError::SegmentsOverlap { first: 0x1000, second: 0x1008 });
}

#[test]
fn entry_outside_text() {
    let bytes = build(ET_EXEC, EXEC_DATA, &exec_parts());
    assert_eq!(parse_err(&bytes), ElfError::BadEntry { entry: EXEC_DATA });
    let bytes = build(ET_EXEC, EXEC_TEXT + 16, &exec_parts());
    assert_eq!(parse_err(&bytes), ElfError::BadEntry { entry: EXEC_TEXT + 16 });
}

#[test]
fn unsupported_relocation_tables() {
    for extra in [(DT_RELSZ, 24), (DT_RELRSZ, 8), (DT_PLTRELSZ, 24)] {
        let bytes = build(ET_DYN, PIE_TEXT, &pie_parts(&pie_relocs(), &[(DT_REL, PIE_RELA), extra]));
        assert!(matches!(parse_err(&bytes), ElfError::Unsupported { .. }), "{extra:?}");
    }
}

#[test]
fn unsupported_relocation_type() {
    let relocs = [(PIE_DATA, R_X86_64_64, 0)];
    let bytes = build(ET_DYN, PIE_TEXT, &pie_parts(&relocs, &[]));
    assert_eq!(parse_err(&bytes), ElfError::UnsupportedRelocation { kind: R_X86_64_64, offset: PIE_DATA });
}

#[test]
fn relocation_out_of_range() {
    for offset in [0x9000, PIE_DATA + 0x1000 - 4, u64::MAX - 3, 0] {
        let bytes = build(ET_DYN, PIE_TEXT, &pie_parts(&[(offset, R_X86_64_RELATIVE, 0)], &[]));
        assert_eq!(parse_err(&bytes), ElfError::RelocationOutOfRange { offset });
    }
}

#[test]
fn bad_relocation_table() {
    let entsize = build(ET_DYN, PIE_TEXT, &pie_parts(&pie_relocs(), &[(DT_RELAENT, 16)]));
    assert_eq!(parse_err(&entsize), ElfError::BadRelocationEntrySize { entry_size: 16 });
    let ragged = build(ET_DYN, PIE_TEXT, &pie_parts(&pie_relocs(), &[(DT_RELASZ, 50)]));
    assert_eq!(parse_err(&ragged), ElfError::BadRelocationTable { addr: PIE_RELA, size: 50 });
    // Past the file-backed part of its segment (0x48 bytes in the file).
    let long = build(ET_DYN, PIE_TEXT, &pie_parts(&pie_relocs(), &[(DT_RELASZ, 96)]));
    assert_eq!(parse_err(&long), ElfError::BadRelocationTable { addr: PIE_RELA, size: 96 });
    let unmapped = build(ET_DYN, PIE_TEXT, &pie_parts(&pie_relocs(), &[(DT_RELA, 0x9000)]));
    assert!(matches!(parse_err(&unmapped), ElfError::BadRelocationTable { addr: 0x9000, .. }));
}

#[test]
fn relocation_overflow_is_refused_before_writing() {
    let bytes = build(ET_DYN, PIE_TEXT, &pie_parts(&[(PIE_DATA, R_X86_64_RELATIVE, -0x2000)], &[]));
    let image = ElfImage::parse(&bytes).expect("valid");
    let mut dest = vec![0xaa; 0x6000];
    assert_eq!(
        image.load(&bytes, &mut dest, 0, 0x1000),
        Err(ElfError::RelocationOverflow { bias: 0x1000, addend: -0x2000 })
    );
    assert!(dest.iter().all(|&b| b == 0xaa), "dest untouched");
    image.load(&bytes, &mut dest, 0, 0x2000).expect("bias covers the addend");
    assert_eq!(read64(&dest, 0x5000), 0);
}

#[test]
fn destination_too_small_or_misplaced() {
    let bytes = pie_image();
    let image = ElfImage::parse(&bytes).expect("valid");
    let mut dest = vec![0xaa; 0x2fff];
    let err = image.load(&bytes, &mut dest, 0x1000, 0).expect_err("one byte short");
    assert!(matches!(err, ElfError::OutsideDestination { vaddr: PIE_DATA, .. }));
    assert!(dest.iter().all(|&b| b == 0xaa), "dest untouched");
    let mut dest = vec![0; 0x3000];
    let err = image.load(&bytes, &mut dest, 0x2000, 0).expect_err("text below dest");
    assert!(matches!(err, ElfError::OutsideDestination { vaddr: PIE_TEXT, .. }));
    // A negative bias (two's complement) that moves the image below its destination.
    let err = image.load(&bytes, &mut dest, 0x1000, u64::MAX - 0xfff).expect_err("image below dest");
    assert!(matches!(err, ElfError::OutsideDestination { .. }));
}

#[test]
fn a_pie_loads_below_its_link_address() {
    // Linked at 0x1000.., loaded at 0 (bias -0x1000): the relocated values move too.
    let bytes = pie_image();
    let image = ElfImage::parse(&bytes).expect("valid");
    let mut dest = vec![0; 0x4000];
    image.load(&bytes, &mut dest, 0, 0u64.wrapping_sub(0x1000)).expect("negative bias loads");
    let mut untouched = vec![0; 0x5000];
    image.load(&bytes, &mut untouched, 0, 0).expect("loads at its link address");
    // The text (no relocations in it) is the same bytes, one page lower.
    assert!(dest[..0x1000] == untouched[0x1000..0x2000], "text moved down one page");
}

#[test]
fn load_checks_bias_and_image() {
    let exec = exec_image();
    let image = ElfImage::parse(&exec).expect("valid");
    let mut dest = vec![0; 0x10_0000];
    assert_eq!(image.load(&exec, &mut dest, 0, 0x1000), Err(ElfError::BiasNotAllowed { bias: 0x1000 }));
    assert_eq!(
        image.load(&exec[1..], &mut dest, 0x40_0000, 0),
        Err(ElfError::ImageMismatch { expected: exec.len(), actual: exec.len() - 1 })
    );
    let pie = pie_image();
    let image = ElfImage::parse(&pie).expect("valid");
    assert_eq!(image.load(&pie, &mut dest, 0, 0x10), Err(ElfError::MisalignedBias { bias: 0x10 }));
}

#[test]
fn errors_have_messages() {
    let err = ElfError::WrongMachine { machine: 3 };
    assert_eq!(err.to_string(), "built for machine 3, not x86_64 (62)");
}

/// Parses `bytes` and, if accepted and small enough, loads it too: neither may panic.
fn parse_and_load(bytes: &[u8]) {
    if let Ok(image) = ElfImage::parse(bytes) {
        let (lo, hi) = image.span();
        if hi - lo <= 1 << 24 {
            let mut dest = vec![0; usize::try_from(hi - lo).expect("small")];
            let bias = if image.kind() == ElfKind::Pie { 0x10_0000 } else { 0 };
            let _ = image.load(bytes, &mut dest, lo + bias, bias);
        }
    }
}

#[test]
fn truncation_never_panics() {
    for bytes in [exec_image(), pie_image()] {
        for len in 0..=bytes.len() {
            parse_and_load(&bytes[..len]);
        }
    }
}

#[test]
fn corruption_never_panics() {
    for bytes in [exec_image(), pie_image()] {
        for at in 0..bytes.len() {
            let values: &[u8] = if at < 256 { &[0x00, 0x01, 0x7f, 0x80, 0xff] } else { &[0xff] };
            for &v in values {
                let mut b = bytes.clone();
                b[at] ^= v;
                parse_and_load(&b);
            }
        }
    }
}
