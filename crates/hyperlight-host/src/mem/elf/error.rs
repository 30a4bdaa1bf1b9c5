//! Why a guest binary was refused: [`ElfError`], the one error of the ELF loader,
//! for `ElfImage::parse` and `ElfImage::load` alike.

use thiserror::Error;

/// Why a guest binary was refused: it is not a static x86_64 ELF executable that fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ElfError {
    /// The image ends before the end of its {what} ({size} bytes at offset {offset}; the image has {len} bytes).
    #[error(
        "the image ends before the end of its {what} ({size} bytes at offset {offset}; the image has {len} bytes)"
    )]
    Truncated {
        /// Which structure is cut off.
        what: &'static str,
        /// Its claimed offset in the image.
        offset: u64,
        /// Its claimed size.
        size: u64,
        /// The image length.
        len: usize,
    },
    /// Not an ELF file (magic {magic:02x?}).
    #[error("not an ELF file (magic {magic:02x?})")]
    NotElf {
        /// The first four bytes.
        magic: [u8; 4],
    },
    /// Not a 64-bit ELF file (class {class}).
    #[error("not a 64-bit ELF file (class {class})")]
    NotElf64 {
        /// `EI_CLASS`.
        class: u8,
    },
    /// Not a little-endian ELF file (data encoding {data}).
    #[error("not a little-endian ELF file (data encoding {data})")]
    NotLittleEndian {
        /// `EI_DATA`.
        data: u8,
    },
    /// Unsupported ELF version (ident {ident_version}, header {version}; expected 1).
    #[error("unsupported ELF version (ident {ident_version}, header {version}; expected 1)")]
    UnsupportedVersion {
        /// `EI_VERSION`.
        ident_version: u8,
        /// `e_version`.
        version: u32,
    },
    /// Built for machine {machine}, not x86_64 (62).
    #[error("built for machine {machine}, not x86_64 (62)")]
    WrongMachine {
        /// `e_machine`.
        machine: u16,
    },
    /// Not an executable (ELF type {elf_type}; expected ET_EXEC or a static-PIE ET_DYN).
    #[error("not an executable (ELF type {elf_type}; expected ET_EXEC or a static-PIE ET_DYN)")]
    NotExecutable {
        /// `e_type`.
        elf_type: u16,
    },
    /// Bad program header table ({count} entries of {entry_size} bytes; entries must be 56 bytes and the count explicit).
    #[error("bad program header table ({count} entries of {entry_size} bytes; entries must be 56 bytes and the count explicit)")]
    BadProgramHeaders {
        /// `e_phentsize`.
        entry_size: u16,
        /// `e_phnum`.
        count: u16,
    },
    /// The image has no non-empty PT_LOAD segment.
    #[error("the image has no non-empty PT_LOAD segment")]
    NoLoadableSegments,
    /// The image is dynamically linked (it needs an interpreter or shared libraries); only static executables are supported.
    #[error("the image is dynamically linked (it needs an interpreter or shared libraries); only static executables are supported")]
    DynamicallyLinked,
    /// Unsupported: {what}.
    #[error("unsupported: {what}")]
    Unsupported {
        /// The feature the image uses.
        what: &'static str,
    },
    /// Segment at {vaddr:#x} has more bytes in the file ({file_size}) than in memory ({mem_size}).
    #[error("segment at {vaddr:#x} has more bytes in the file ({file_size}) than in memory ({mem_size})")]
    FileSizeExceedsMemSize {
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_filesz`.
        file_size: u64,
        /// `p_memsz`.
        mem_size: u64,
    },
    /// Segment at {vaddr:#x} of {mem_size} bytes reaches past the canonical lower half (2^47).
    #[error("segment at {vaddr:#x} of {mem_size} bytes reaches past the canonical lower half (2^47)")]
    SegmentOutOfRange {
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_memsz`.
        mem_size: u64,
    },
    /// Segment at {vaddr:#x} has alignment {align}, which is not a power of two up to 2^47.
    #[error("segment at {vaddr:#x} has alignment {align}, which is not a power of two up to 2^47")]
    BadAlignment {
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_align`.
        align: u64,
    },
    /// Segment at {vaddr:#x} and its file offset {offset:#x} differ modulo the page size.
    #[error("segment at {vaddr:#x} and its file offset {offset:#x} differ modulo the page size")]
    MisalignedSegment {
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_offset`.
        offset: u64,
    },
    /// Segments at {first:#x} and {second:#x} overlap.
    #[error("segments at {first:#x} and {second:#x} overlap")]
    SegmentsOverlap {
        /// Link address of the lower segment.
        first: u64,
        /// Link address of the higher segment, which starts inside the lower one.
        second: u64,
    },
    /// Entry point {entry:#x} is not inside an executable segment.
    #[error("entry point {entry:#x} is not inside an executable segment")]
    BadEntry {
        /// `e_entry`.
        entry: u64,
    },
    /// Relocation entries are {entry_size} bytes; expected 24.
    #[error("relocation entries are {entry_size} bytes; expected 24")]
    BadRelocationEntrySize {
        /// `DT_RELAENT`.
        entry_size: u64,
    },
    /// Relocation table at {addr:#x} of {size} bytes is not a whole number of entries inside the file part of one segment.
    #[error("relocation table at {addr:#x} of {size} bytes is not a whole number of entries inside the file part of one segment")]
    BadRelocationTable {
        /// `DT_RELA`.
        addr: u64,
        /// `DT_RELASZ` (0 if missing).
        size: u64,
    },
    /// Unsupported relocation type {kind} at {offset:#x} (only R_X86_64_RELATIVE and R_X86_64_NONE are).
    #[error("unsupported relocation type {kind} at {offset:#x} (only R_X86_64_RELATIVE and R_X86_64_NONE are)")]
    UnsupportedRelocation {
        /// `ELF64_R_TYPE(r_info)`.
        kind: u32,
        /// `r_offset`.
        offset: u64,
    },
    /// Relocation at {offset:#x} does not lie inside a loaded segment.
    #[error("relocation at {offset:#x} does not lie inside a loaded segment")]
    RelocationOutOfRange {
        /// `r_offset`, a link address.
        offset: u64,
    },
    /// Relocated value overflows: bias {bias:#x} plus addend {addend}.
    #[error("relocated value overflows: bias {bias:#x} plus addend {addend}")]
    RelocationOverflow {
        /// The load bias.
        bias: u64,
        /// The addend that overflows with it.
        addend: i64,
    },
    /// Load was given {actual} image bytes but the image parsed had {expected}.
    #[error("load was given {actual} image bytes but the image parsed had {expected}")]
    ImageMismatch {
        /// Length of the bytes given to `parse`.
        expected: usize,
        /// Length of the bytes given to `load`.
        actual: usize,
    },
    /// An ET_EXEC image loads at its link addresses, but a bias of {bias:#x} was given.
    #[error("an ET_EXEC image loads at its link addresses, but a bias of {bias:#x} was given")]
    BiasNotAllowed {
        /// The bias given.
        bias: u64,
    },
    /// Load bias {bias:#x} is not page-aligned.
    #[error("load bias {bias:#x} is not page-aligned")]
    MisalignedBias {
        /// The bias given.
        bias: u64,
    },
    /// Segment at {vaddr:#x} of {mem_size} bytes, biased by {bias:#x}, falls outside the destination at {dest_addr:#x} of {dest_len} bytes.
    #[error("segment at {vaddr:#x} of {mem_size} bytes, biased by {bias:#x}, falls outside the destination at {dest_addr:#x} of {dest_len} bytes")]
    OutsideDestination {
        /// Link address of the segment.
        vaddr: u64,
        /// Its size in memory.
        mem_size: u64,
        /// The bias given.
        bias: u64,
        /// Guest address of the destination.
        dest_addr: u64,
        /// Length of the destination.
        dest_len: usize,
    },
}
