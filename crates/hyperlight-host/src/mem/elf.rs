//! Parsing and loading of guest executables: static x86_64 ELF64 images.
//!
//! This file owns the only place where the host reads a guest binary. [`ElfImage::parse`]
//! validates untrusted bytes (a static `ET_EXEC` or a static-PIE `ET_DYN`) into a small
//! description; [`ElfImage::load`] copies the `PT_LOAD` segments into guest memory and
//! applies the `R_X86_64_RELATIVE` relocations.
//!
//! The bytes are decoded by the `object` crate, a parser fuzzed upstream: its ELF
//! records (`FileHeader64`, `ProgramHeader64`, `Dyn64`, `Rela64`) read through its
//! bounds-checked `ReadRef`, so no offset arithmetic on raw bytes is ours. What is
//! ours is the policy: static, x86_64, congruent and disjoint segments, only relative
//! relocations, everything inside the file and below 2^47. All arithmetic on header
//! values is checked and nothing is allocated beyond what the input length bounds:
//! hostile input yields an [`ElfError`], never a panic.

#![forbid(unsafe_code)]

use object::elf::{self as abi, FileHeader64, ProgramHeader64, Rela64};
use object::read::elf::{FileHeader as _, ProgramHeader as _};
use object::{LittleEndian, ReadRef as _};

mod error;
mod relocations;

pub use error::ElfError;
use relocations::Relocation;

/// Page size used for segment congruence, span rounding and PIE load bases.
const PAGE_SIZE: u64 = 4096;
/// First address above the canonical lower half of the x86_64 address space.
const ADDRESS_LIMIT: u64 = 1 << 47;

/// Every field is read little-endian: `check_header` refuses other images first.
type Le = LittleEndian;
const LE: Le = LittleEndian;
const EHDR_SIZE: usize = size_of::<FileHeader64<Le>>();
const PHDR_SIZE: usize = size_of::<ProgramHeader64<Le>>();
const RELA_SIZE: usize = size_of::<Rela64<Le>>();

// `object`'s typed constants as the raw field values that the checks compare and the
// errors report. Dynamic tags are u64 here, as the kernel and ld.so read them.
const ELF_MAGIC: [u8; 4] = abi::ELFMAG;
const ELFCLASS64: u8 = abi::ELFCLASS64.0;
const ELFDATA2LSB: u8 = abi::ELFDATA2LSB.0;
const EV_CURRENT: u32 = abi::EV_CURRENT.0 as u32;
const ET_EXEC: u16 = abi::ET_EXEC.0;
const ET_DYN: u16 = abi::ET_DYN.0;
const EM_X86_64: u16 = abi::EM_X86_64.0;
const PN_XNUM: u16 = abi::PN_XNUM;
const PT_LOAD: u32 = abi::PT_LOAD.0;
const PT_DYNAMIC: u32 = abi::PT_DYNAMIC.0;
const PT_INTERP: u32 = abi::PT_INTERP.0;
const PT_TLS: u32 = abi::PT_TLS.0;
const PF_X: u32 = abi::PF_X.0;
const PF_W: u32 = abi::PF_W.0;
const PF_R: u32 = abi::PF_R.0;
const DT_NULL: u64 = abi::DT_NULL.0.unsigned_abs();
const DT_NEEDED: u64 = abi::DT_NEEDED.0.unsigned_abs();
const DT_PLTRELSZ: u64 = abi::DT_PLTRELSZ.0.unsigned_abs();
const DT_RELA: u64 = abi::DT_RELA.0.unsigned_abs();
const DT_RELASZ: u64 = abi::DT_RELASZ.0.unsigned_abs();
const DT_RELAENT: u64 = abi::DT_RELAENT.0.unsigned_abs();
const DT_RELSZ: u64 = abi::DT_RELSZ.0.unsigned_abs();
const DT_RELRSZ: u64 = abi::DT_RELRSZ.0.unsigned_abs();
const R_X86_64_NONE: u32 = abi::R_X86_64_NONE.0;
const R_X86_64_RELATIVE: u32 = abi::R_X86_64_RELATIVE.0;

/// What kind of executable an [`ElfImage`] is, which decides where it may be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfKind {
    /// `ET_EXEC`: loads at its link addresses (the load bias must be 0).
    Exec,
    /// `ET_DYN` static-PIE: loads at any page-aligned base.
    Pie,
}

/// One `PT_LOAD` segment: where it goes (as a link address) and what it may do.
///
/// Segments never overlap byte-wise, but two of them may share a 4 KiB page (normal
/// for lld output); whoever maps pages must give a shared page the union of the
/// permissions of the segments on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Link address of the first byte.
    pub vaddr: u64,
    /// Size in memory; the bytes past `file_size` are zero-filled (bss).
    pub mem_size: u64,
    /// Offset of the initialised bytes in the image.
    pub file_offset: u64,
    /// Number of initialised bytes, at most `mem_size`.
    pub file_size: u64,
    /// `PF_R`: the guest may read it.
    pub readable: bool,
    /// `PF_W`: the guest may write it.
    pub writable: bool,
    /// `PF_X`: the guest may execute it.
    pub executable: bool,
}

impl Segment {
    /// One past the last link address; `parse` has checked it does not overflow.
    fn end(&self) -> u64 {
        self.vaddr.saturating_add(self.mem_size)
    }
}

/// A validated view of a guest executable, ready to be loaded any number of times.
///
/// It keeps no reference to the image bytes: pass the same bytes to [`ElfImage::load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfImage {
    kind: ElfKind,
    entry: u64,
    span: (u64, u64),
    /// Non-empty `PT_LOAD` segments in ascending address order.
    segments: Vec<Segment>,
    /// `R_X86_64_RELATIVE` entries, each target checked to lie inside a segment.
    relocations: Vec<Relocation>,
    /// Smallest and largest addend, so `load` can refuse an overflowing bias up front.
    addend_range: Option<(i64, i64)>,
    file_len: usize,
}

impl ElfImage {
    /// Validates `bytes` as a static x86_64 executable.
    ///
    /// Reads the ELF header, the program headers and, through `PT_DYNAMIC`, the `RELA`
    /// relocation table. Section headers are never read: they may be stripped.
    pub fn parse(bytes: &[u8]) -> Result<ElfImage, ElfError> {
        let header: &FileHeader64<Le> =
            bytes.read_at(0).map_err(|()| truncated("ELF header", 0, EHDR_SIZE as u64, bytes))?;
        let kind = check_header(header)?;
        let (phoff, phnum) = (header.e_phoff(LE), header.e_phnum(LE));
        // Not `FileHeader::program_headers`: it would follow PN_XNUM into the section
        // headers, which we never read (`check_header` refuses PN_XNUM).
        let table: &[ProgramHeader64<Le>] = bytes
            .read_slice_at(phoff, usize::from(phnum))
            .map_err(|()| truncated("program header table", phoff, u64::from(phnum) * PHDR_SIZE as u64, bytes))?;

        let mut segments = Vec::new();
        let mut dynamic = None;
        for ph in table {
            match ph.p_type(LE).0 {
                PT_LOAD => {
                    let segment = to_segment(ph, bytes)?;
                    if segment.mem_size > 0 {
                        segments.push(segment);
                    }
                }
                PT_INTERP => return Err(ElfError::DynamicallyLinked),
                PT_TLS if ph.p_memsz(LE) > 0 => {
                    return Err(ElfError::Unsupported { what: "thread-local storage (PT_TLS)" })
                }
                PT_DYNAMIC if dynamic.is_some() => {
                    return Err(ElfError::Unsupported { what: "more than one PT_DYNAMIC" })
                }
                PT_DYNAMIC => dynamic = Some(ph),
                _ => {}
            }
        }

        // Stable, so equal addresses keep table order for the overlap report.
        segments.sort_by_key(|s| s.vaddr);
        for pair in segments.windows(2) {
            if let [first, second] = pair {
                if first.end() > second.vaddr {
                    return Err(ElfError::SegmentsOverlap { first: first.vaddr, second: second.vaddr });
                }
            }
        }
        // Sorted and disjoint: the first starts lowest and the last ends highest.
        let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
            return Err(ElfError::NoLoadableSegments);
        };
        // The end is at most 2^47, itself page-aligned, so rounding up cannot overflow.
        let span = (first.vaddr - first.vaddr % PAGE_SIZE, last.end().div_ceil(PAGE_SIZE).saturating_mul(PAGE_SIZE));

        let entry = header.e_entry(LE);
        if !segments.iter().any(|s| s.executable && s.vaddr <= entry && entry < s.end()) {
            return Err(ElfError::BadEntry { entry });
        }

        let relocations = match dynamic {
            Some(ph) => relocations::read(bytes, ph, &segments)?,
            None => Vec::new(),
        };
        let addend_range = relocations::addend_range(&relocations);

        Ok(ElfImage { kind, entry, span, segments, relocations, addend_range, file_len: bytes.len() })
    }

    /// Whether the image loads at fixed addresses or at any page-aligned base.
    pub fn kind(&self) -> ElfKind {
        self.kind
    }

    /// Entry point as a link address (add the load bias for a PIE).
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// Lowest and one-past-highest link address of the segments, rounded out to 4 KiB
    /// pages. Both are at most 2^47.
    pub fn span(&self) -> (u64, u64) {
        self.span
    }

    /// The non-empty `PT_LOAD` segments in ascending address order. They never overlap,
    /// but neighbours may share a page (see [`Segment`]).
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Copies every segment into `dest`, zero-fills its bss, then applies the relocations.
    ///
    /// `bytes` must be the image given to [`ElfImage::parse`]. `dest` is guest memory
    /// starting at guest address `dest_addr`; `bias` is added to every link address: 0 for
    /// [`ElfKind::Exec`], load base minus `span().0` (page-aligned) for [`ElfKind::Pie`].
    /// Bytes of `dest` outside the segments are left as they are.
    ///
    /// Everything that can fail is checked before the first write, so on error `dest` is
    /// unchanged.
    pub fn load(&self, bytes: &[u8], dest: &mut [u8], dest_addr: u64, bias: u64) -> Result<(), ElfError> {
        if bytes.len() != self.file_len {
            return Err(ElfError::ImageMismatch { expected: self.file_len, actual: bytes.len() });
        }
        match self.kind {
            ElfKind::Exec if bias != 0 => return Err(ElfError::BiasNotAllowed { bias }),
            ElfKind::Pie if bias % PAGE_SIZE != 0 => return Err(ElfError::MisalignedBias { bias }),
            _ => {}
        }
        for segment in &self.segments {
            place(segment, dest.len(), dest_addr, bias)?;
        }
        relocations::check_bias(self.addend_range, bias)?;

        for segment in &self.segments {
            let range = place(segment, dest.len(), dest_addr, bias)?;
            // Empty for a segment with no file bytes (all bss), whatever offset it names.
            let (offset, size) = (segment.file_offset, segment.file_size);
            let src =
                bytes.read_bytes_at(offset, size).map_err(|()| truncated("segment contents", offset, size, bytes))?;
            let dest_len = dest.len();
            let outside = || outside_destination(segment, dest_len, dest_addr, bias);
            let dst = dest.get_mut(range).ok_or_else(outside)?;
            let (init, bss) = dst.split_at_mut_checked(src.len()).ok_or_else(outside)?;
            init.copy_from_slice(src);
            bss.fill(0);
        }

        relocations::apply(&self.relocations, dest, dest_addr, bias)
    }
}

/// Where `segment` lands in `dest`, as an index range, or why it does not fit.
fn place(segment: &Segment, dest_len: usize, dest_addr: u64, bias: u64) -> Result<std::ops::Range<usize>, ElfError> {
    let start = segment.vaddr.wrapping_add(bias).checked_sub(dest_addr).and_then(|start| usize::try_from(start).ok());
    let size = usize::try_from(segment.mem_size).ok();
    match (start, size) {
        (Some(start), Some(size)) => match start.checked_add(size) {
            Some(end) if end <= dest_len => Ok(start..end),
            _ => Err(outside_destination(segment, dest_len, dest_addr, bias)),
        },
        _ => Err(outside_destination(segment, dest_len, dest_addr, bias)),
    }
}

fn outside_destination(segment: &Segment, dest_len: usize, dest_addr: u64, bias: u64) -> ElfError {
    ElfError::OutsideDestination { vaddr: segment.vaddr, mem_size: segment.mem_size, bias, dest_addr, dest_len }
}

/// Checks the identification (so that every other field may be read little-endian)
/// and the fields that say what the image is.
fn check_header(header: &FileHeader64<Le>) -> Result<ElfKind, ElfError> {
    let ident = header.e_ident();
    if ident.magic != ELF_MAGIC {
        return Err(ElfError::NotElf { magic: ident.magic });
    }
    if ident.class.0 != ELFCLASS64 {
        return Err(ElfError::NotElf64 { class: ident.class.0 });
    }
    if ident.data.0 != ELFDATA2LSB {
        return Err(ElfError::NotLittleEndian { data: ident.data.0 });
    }
    let version = header.e_version(LE);
    if u32::from(ident.version.0) != EV_CURRENT || version != EV_CURRENT {
        return Err(ElfError::UnsupportedVersion { ident_version: ident.version.0, version });
    }
    let machine = header.e_machine(LE).0;
    if machine != EM_X86_64 {
        return Err(ElfError::WrongMachine { machine });
    }
    let kind = match header.e_type(LE).0 {
        ET_EXEC => ElfKind::Exec,
        ET_DYN => ElfKind::Pie,
        elf_type => return Err(ElfError::NotExecutable { elf_type }),
    };
    let (entry_size, count) = (header.e_phentsize(LE), header.e_phnum(LE));
    if usize::from(entry_size) != PHDR_SIZE || count == PN_XNUM {
        return Err(ElfError::BadProgramHeaders { entry_size, count });
    }
    Ok(kind)
}

/// Validates a `PT_LOAD` header on its own; overlaps are checked by the caller.
fn to_segment(ph: &ProgramHeader64<Le>, bytes: &[u8]) -> Result<Segment, ElfError> {
    let (vaddr, mem_size) = (ph.p_vaddr(LE), ph.p_memsz(LE));
    let (file_offset, file_size) = ph.file_range(LE);
    if file_size > mem_size {
        return Err(ElfError::FileSizeExceedsMemSize { vaddr, file_size, mem_size });
    }
    // An empty read succeeds at any offset: a segment with no file bytes (all bss)
    // may name any, and `load` reads it the same way.
    ph.data(LE, bytes).map_err(|()| truncated("segment contents", file_offset, file_size, bytes))?;
    match vaddr.checked_add(mem_size) {
        Some(end) if end <= ADDRESS_LIMIT => {}
        _ => return Err(ElfError::SegmentOutOfRange { vaddr, mem_size }),
    }
    // 0 and 1 both mean "no constraint".
    let align = ph.p_align(LE);
    if align > ADDRESS_LIMIT || (align > 1 && !align.is_power_of_two()) {
        return Err(ElfError::BadAlignment { vaddr, align });
    }
    if align >= PAGE_SIZE && vaddr % PAGE_SIZE != file_offset % PAGE_SIZE {
        return Err(ElfError::MisalignedSegment { vaddr, offset: file_offset });
    }
    let flags = ph.p_flags(LE).0;
    Ok(Segment {
        vaddr,
        mem_size,
        file_offset,
        file_size,
        readable: flags & PF_R != 0,
        writable: flags & PF_W != 0,
        executable: flags & PF_X != 0,
    })
}

/// The error for a read of `size` bytes at `offset` that `object` refused: on a byte
/// slice its reads fail only for bytes not inside it.
fn truncated(what: &'static str, offset: u64, size: u64, bytes: &[u8]) -> ElfError {
    ElfError::Truncated { what, offset, size, len: bytes.len() }
}

#[cfg(test)]
#[path = "elf_tests.rs"]
pub(crate) mod tests;
