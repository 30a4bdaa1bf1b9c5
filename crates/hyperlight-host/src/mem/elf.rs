//! Parsing and loading of guest executables: static x86_64 ELF64 images.
//!
//! This file owns the only place where the host reads a guest binary. [`ElfImage::parse`]
//! validates untrusted bytes (a static `ET_EXEC` or a static-PIE `ET_DYN`) into a small
//! description; [`ElfImage::load`] copies the `PT_LOAD` segments into guest memory and
//! applies the `R_X86_64_RELATIVE` relocations. Every read is bounds-checked, all
//! arithmetic on header values is checked, and nothing is allocated beyond what the input
//! length bounds: hostile input yields an [`ElfError`], never a panic.

#![forbid(unsafe_code)]

mod error;

pub use error::ElfError;

/// Page size used for segment congruence, span rounding and PIE load bases.
const PAGE_SIZE: u64 = 4096;
/// First address above the canonical lower half of the x86_64 address space.
const ADDRESS_LIMIT: u64 = 1 << 47;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const DYN_SIZE: usize = 16;
const RELA_SIZE: usize = 24;
/// The relocation slot written by `R_X86_64_RELATIVE`: one little-endian u64.
const SLOT_SIZE: usize = 8;

const ELF_MAGIC: [u8; 4] = *b"\x7fELF";
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EV_CURRENT: u32 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
/// `e_phnum` value meaning "the real count is in section header 0" (extended numbering).
const PN_XNUM: u16 = 0xffff;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_TLS: u32 = 7;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;

const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_PLTRELSZ: u64 = 2;
const DT_RELA: u64 = 7;
const DT_RELASZ: u64 = 8;
const DT_RELAENT: u64 = 9;
const DT_RELSZ: u64 = 18;
const DT_RELRSZ: u64 = 35;

const R_X86_64_NONE: u32 = 0;
const R_X86_64_RELATIVE: u32 = 8;

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

/// An `R_X86_64_RELATIVE` relocation: store `bias + addend` at `offset + bias`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Relocation {
    offset: u64,
    addend: i64,
}

impl ElfImage {
    /// Validates `bytes` as a static x86_64 executable.
    ///
    /// Reads the ELF header, the program headers and, through `PT_DYNAMIC`, the `RELA`
    /// relocation table. Section headers are never read: they may be stripped.
    pub fn parse(bytes: &[u8]) -> Result<ElfImage, ElfError> {
        let header = Header::parse(bytes)?;
        let table = file_slice(
            bytes,
            "program header table",
            header.phoff,
            u64::from(header.phnum).saturating_mul(PHDR_SIZE as u64),
        )?;

        let mut segments = Vec::new();
        let mut dynamic = None;
        for raw in table.chunks_exact(PHDR_SIZE) {
            let ph = ProgramHeader::parse(raw).ok_or(ElfError::Truncated {
                what: "program header",
                offset: header.phoff,
                size: PHDR_SIZE as u64,
                len: bytes.len(),
            })?;
            match ph.kind {
                PT_LOAD => {
                    let segment = ph.to_segment(bytes.len())?;
                    if segment.mem_size > 0 {
                        segments.push(segment);
                    }
                }
                PT_INTERP => return Err(ElfError::DynamicallyLinked),
                PT_TLS if ph.mem_size > 0 => {
                    return Err(ElfError::Unsupported {
                        what: "thread-local storage (PT_TLS)",
                    })
                }
                PT_DYNAMIC if dynamic.is_some() => {
                    return Err(ElfError::Unsupported {
                        what: "more than one PT_DYNAMIC",
                    })
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
                    return Err(ElfError::SegmentsOverlap {
                        first: first.vaddr,
                        second: second.vaddr,
                    });
                }
            }
        }
        // Sorted and disjoint: the first starts lowest and the last ends highest.
        let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
            return Err(ElfError::NoLoadableSegments);
        };
        // The end is at most 2^47, itself page-aligned, so rounding up cannot overflow.
        let span = (
            first.vaddr - first.vaddr % PAGE_SIZE,
            last.end().div_ceil(PAGE_SIZE).saturating_mul(PAGE_SIZE),
        );

        let entry = header.entry;
        if !segments
            .iter()
            .any(|s| s.executable && s.vaddr <= entry && entry < s.end())
        {
            return Err(ElfError::BadEntry { entry });
        }

        let relocations = match dynamic {
            Some(ph) => read_relocations(bytes, &ph, &segments)?,
            None => Vec::new(),
        };
        let addend_range = relocations.iter().fold(None, |range, r| match range {
            None => Some((r.addend, r.addend)),
            Some((lo, hi)) => Some((r.addend.min(lo), r.addend.max(hi))),
        });

        Ok(ElfImage {
            kind: header.kind,
            entry,
            span,
            segments,
            relocations,
            addend_range,
            file_len: bytes.len(),
        })
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
    pub fn load(
        &self,
        bytes: &[u8],
        dest: &mut [u8],
        dest_addr: u64,
        bias: u64,
    ) -> Result<(), ElfError> {
        if bytes.len() != self.file_len {
            return Err(ElfError::ImageMismatch {
                expected: self.file_len,
                actual: bytes.len(),
            });
        }
        match self.kind {
            ElfKind::Exec if bias != 0 => return Err(ElfError::BiasNotAllowed { bias }),
            ElfKind::Pie if bias % PAGE_SIZE != 0 => return Err(ElfError::MisalignedBias { bias }),
            _ => {}
        }
        for segment in &self.segments {
            place(segment, dest.len(), dest_addr, bias)?;
        }
        if let Some((lo, hi)) = self.addend_range {
            // The bias is a two's-complement offset (a PIE linked above its load base
            // has a "negative" one): the relocated value is addend + bias modulo 2^64,
            // and must land in the canonical lower half. It is monotonic in the addend
            // as long as no value wraps, so if both extremes land there, all do.
            for addend in [lo, hi] {
                if relocated(bias, addend).is_none() {
                    return Err(ElfError::RelocationOverflow { bias, addend });
                }
            }
        }

        for segment in &self.segments {
            let range = place(segment, dest.len(), dest_addr, bias)?;
            // A segment with no file bytes (all bss) may name any offset: parse does
            // not check it, so neither is it sliced here.
            let src = if segment.file_size == 0 {
                &[][..]
            } else {
                file_slice(bytes, "segment contents", segment.file_offset, segment.file_size)?
            };
            let dest_len = dest.len();
            let outside = || outside_destination(segment, dest_len, dest_addr, bias);
            let dst = dest.get_mut(range).ok_or_else(outside)?;
            let (init, bss) = dst.split_at_mut_checked(src.len()).ok_or_else(outside)?;
            init.copy_from_slice(src);
            bss.fill(0);
        }

        for reloc in &self.relocations {
            let out_of_range = ElfError::RelocationOutOfRange {
                offset: reloc.offset,
            };
            let start = reloc
                .offset
                .wrapping_add(bias)
                .checked_sub(dest_addr)
                .and_then(|start| usize::try_from(start).ok())
                .ok_or(out_of_range)?;
            let slot = start
                .checked_add(SLOT_SIZE)
                .and_then(|end| dest.get_mut(start..end))
                .ok_or(out_of_range)?;
            let value = relocated(bias, reloc.addend).ok_or(ElfError::RelocationOverflow {
                bias,
                addend: reloc.addend,
            })?;
            slot.copy_from_slice(&value.to_le_bytes());
        }
        Ok(())
    }
}

/// The value of a relative relocation: `addend + bias` (two's complement), if it is
/// an address in the canonical lower half.
fn relocated(bias: u64, addend: i64) -> Option<u64> {
    let value = bias.wrapping_add_signed(addend);
    (value < ADDRESS_LIMIT).then_some(value)
}

/// Where `segment` lands in `dest`, as an index range, or why it does not fit.
fn place(
    segment: &Segment,
    dest_len: usize,
    dest_addr: u64,
    bias: u64,
) -> Result<std::ops::Range<usize>, ElfError> {
    let start = segment
        .vaddr
        .wrapping_add(bias)
        .checked_sub(dest_addr)
        .and_then(|start| usize::try_from(start).ok());
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
    ElfError::OutsideDestination {
        vaddr: segment.vaddr,
        mem_size: segment.mem_size,
        bias,
        dest_addr,
        dest_len,
    }
}

/// The fields of the ELF header that matter once the identification is checked.
struct Header {
    kind: ElfKind,
    entry: u64,
    phoff: u64,
    phnum: u16,
}

impl Header {
    fn parse(bytes: &[u8]) -> Result<Header, ElfError> {
        let Some(h) = bytes.first_chunk::<EHDR_SIZE>() else {
            return Err(ElfError::Truncated {
                what: "ELF header",
                offset: 0,
                size: EHDR_SIZE as u64,
                len: bytes.len(),
            });
        };
        // Constant indices into a fixed-size array: checked at compile time.
        let magic = [h[0], h[1], h[2], h[3]];
        if magic != ELF_MAGIC {
            return Err(ElfError::NotElf { magic });
        }
        if h[4] != ELFCLASS64 {
            return Err(ElfError::NotElf64 { class: h[4] });
        }
        if h[5] != ELFDATA2LSB {
            return Err(ElfError::NotLittleEndian { data: h[5] });
        }
        let version = u32::from_le_bytes([h[20], h[21], h[22], h[23]]);
        if u32::from(h[6]) != EV_CURRENT || version != EV_CURRENT {
            return Err(ElfError::UnsupportedVersion {
                ident_version: h[6],
                version,
            });
        }
        let machine = u16::from_le_bytes([h[18], h[19]]);
        if machine != EM_X86_64 {
            return Err(ElfError::WrongMachine { machine });
        }
        let kind = match u16::from_le_bytes([h[16], h[17]]) {
            ET_EXEC => ElfKind::Exec,
            ET_DYN => ElfKind::Pie,
            elf_type => return Err(ElfError::NotExecutable { elf_type }),
        };
        let entry_size = u16::from_le_bytes([h[54], h[55]]);
        let count = u16::from_le_bytes([h[56], h[57]]);
        if usize::from(entry_size) != PHDR_SIZE || count == PN_XNUM {
            return Err(ElfError::BadProgramHeaders { entry_size, count });
        }
        Ok(Header {
            kind,
            entry: u64::from_le_bytes([h[24], h[25], h[26], h[27], h[28], h[29], h[30], h[31]]),
            phoff: u64::from_le_bytes([h[32], h[33], h[34], h[35], h[36], h[37], h[38], h[39]]),
            phnum: count,
        })
    }
}

/// One raw program header (`Elf64_Phdr`), fields unchecked.
struct ProgramHeader {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    file_size: u64,
    mem_size: u64,
    align: u64,
}

impl ProgramHeader {
    fn parse(raw: &[u8]) -> Option<ProgramHeader> {
        Some(ProgramHeader {
            kind: u32::from_le_bytes(array_at(raw, 0)?),
            flags: u32::from_le_bytes(array_at(raw, 4)?),
            offset: u64::from_le_bytes(array_at(raw, 8)?),
            vaddr: u64::from_le_bytes(array_at(raw, 16)?),
            // p_paddr (24) is meaningless for us.
            file_size: u64::from_le_bytes(array_at(raw, 32)?),
            mem_size: u64::from_le_bytes(array_at(raw, 40)?),
            align: u64::from_le_bytes(array_at(raw, 48)?),
        })
    }

    /// Validates a `PT_LOAD` header on its own; overlaps are checked by the caller.
    fn to_segment(&self, file_len: usize) -> Result<Segment, ElfError> {
        let vaddr = self.vaddr;
        if self.file_size > self.mem_size {
            return Err(ElfError::FileSizeExceedsMemSize {
                vaddr,
                file_size: self.file_size,
                mem_size: self.mem_size,
            });
        }
        if self.file_size > 0 {
            check_file_range("segment contents", self.offset, self.file_size, file_len)?;
        }
        match vaddr.checked_add(self.mem_size) {
            Some(end) if end <= ADDRESS_LIMIT => {}
            _ => {
                return Err(ElfError::SegmentOutOfRange {
                    vaddr,
                    mem_size: self.mem_size,
                })
            }
        }
        // 0 and 1 both mean "no constraint".
        if self.align > ADDRESS_LIMIT || (self.align > 1 && !self.align.is_power_of_two()) {
            return Err(ElfError::BadAlignment {
                vaddr,
                align: self.align,
            });
        }
        if self.align >= PAGE_SIZE && vaddr % PAGE_SIZE != self.offset % PAGE_SIZE {
            return Err(ElfError::MisalignedSegment {
                vaddr,
                offset: self.offset,
            });
        }
        Ok(Segment {
            vaddr,
            mem_size: self.mem_size,
            file_offset: self.offset,
            file_size: self.file_size,
            readable: self.flags & PF_R != 0,
            writable: self.flags & PF_W != 0,
            executable: self.flags & PF_X != 0,
        })
    }
}

/// Reads the `RELA` table named by the dynamic section and keeps its `RELATIVE` entries.
fn read_relocations(
    bytes: &[u8],
    dynamic: &ProgramHeader,
    segments: &[Segment],
) -> Result<Vec<Relocation>, ElfError> {
    let table = file_slice(bytes, "dynamic section", dynamic.offset, dynamic.file_size)?;
    let (mut rela, mut rela_size, mut rela_entry) = (None, None, None);
    for entry in table.chunks_exact(DYN_SIZE) {
        let (Some(tag), Some(value)) = (array_at(entry, 0), array_at(entry, 8)) else {
            break;
        };
        let value = u64::from_le_bytes(value);
        match u64::from_le_bytes(tag) {
            DT_NULL => break,
            DT_NEEDED => return Err(ElfError::DynamicallyLinked),
            DT_RELA => rela = Some(value),
            DT_RELASZ => rela_size = Some(value),
            DT_RELAENT => rela_entry = Some(value),
            // A table we would not apply is refused only if it holds something.
            DT_RELSZ if value != 0 => {
                return Err(ElfError::Unsupported {
                    what: "REL relocations (DT_REL)",
                })
            }
            DT_RELRSZ if value != 0 => {
                return Err(ElfError::Unsupported {
                    what: "packed relative relocations (DT_RELR)",
                })
            }
            DT_PLTRELSZ if value != 0 => {
                return Err(ElfError::Unsupported {
                    what: "PLT relocations (DT_JMPREL)",
                })
            }
            _ => {}
        }
    }

    let Some(addr) = rela else {
        return Ok(Vec::new());
    };
    let size = rela_size.ok_or(ElfError::BadRelocationTable { addr, size: 0 })?;
    if let Some(entry_size) = rela_entry.filter(|&e| e != RELA_SIZE as u64) {
        return Err(ElfError::BadRelocationEntrySize { entry_size });
    }
    if size % RELA_SIZE as u64 != 0 {
        return Err(ElfError::BadRelocationTable { addr, size });
    }
    if size == 0 {
        return Ok(Vec::new());
    }
    // DT_RELA is a link address: find the file bytes that back it.
    let offset = segments
        .iter()
        .find_map(|s| {
            let delta = addr.checked_sub(s.vaddr)?;
            (delta.checked_add(size)? <= s.file_size).then(|| s.file_offset.checked_add(delta))?
        })
        .ok_or(ElfError::BadRelocationTable { addr, size })?;
    let table = file_slice(bytes, "relocation table", offset, size)?;

    // Bounded by the input: the table lies inside it.
    let mut relocations = Vec::with_capacity(table.len() / RELA_SIZE);
    for entry in table.chunks_exact(RELA_SIZE) {
        let (Some(offset), Some(kind), Some(addend)) =
            (array_at(entry, 0), array_at(entry, 8), array_at(entry, 16))
        else {
            break;
        };
        let offset = u64::from_le_bytes(offset);
        // ELF64_R_TYPE is the low half of r_info, which comes first in little-endian.
        match u32::from_le_bytes(kind) {
            R_X86_64_NONE => {}
            R_X86_64_RELATIVE => {
                if !inside_segment(segments, offset) {
                    return Err(ElfError::RelocationOutOfRange { offset });
                }
                relocations.push(Relocation {
                    offset,
                    addend: i64::from_le_bytes(addend),
                });
            }
            kind => return Err(ElfError::UnsupportedRelocation { kind, offset }),
        }
    }
    Ok(relocations)
}

/// Whether the 8-byte slot at link address `addr` lies inside one of the sorted,
/// disjoint `segments`.
fn inside_segment(segments: &[Segment], addr: u64) -> bool {
    let Some(end) = addr.checked_add(SLOT_SIZE as u64) else {
        return false;
    };
    let after = segments.partition_point(|s| s.vaddr <= addr);
    after
        .checked_sub(1)
        .and_then(|i| segments.get(i))
        .is_some_and(|s| end <= s.end())
}

/// `bytes[offset..offset + size]`, or `Truncated { what }` if that is not inside `bytes`.
fn file_slice<'a>(
    bytes: &'a [u8],
    what: &'static str,
    offset: u64,
    size: u64,
) -> Result<&'a [u8], ElfError> {
    let range = check_file_range(what, offset, size, bytes.len())?;
    bytes.get(range).ok_or(ElfError::Truncated {
        what,
        offset,
        size,
        len: bytes.len(),
    })
}

fn check_file_range(
    what: &'static str,
    offset: u64,
    size: u64,
    len: usize,
) -> Result<std::ops::Range<usize>, ElfError> {
    let start = usize::try_from(offset).ok();
    let end = offset
        .checked_add(size)
        .and_then(|end| usize::try_from(end).ok());
    match (start, end) {
        (Some(start), Some(end)) if end <= len => Ok(start..end),
        _ => Err(ElfError::Truncated {
            what,
            offset,
            size,
            len,
        }),
    }
}

/// The `N` bytes at `offset`, if they are all inside `bytes`.
fn array_at<const N: usize>(bytes: &[u8], offset: usize) -> Option<[u8; N]> {
    bytes.get(offset..)?.first_chunk::<N>().copied()
}

#[cfg(test)]
#[path = "elf_tests.rs"]
pub(crate) mod tests;
