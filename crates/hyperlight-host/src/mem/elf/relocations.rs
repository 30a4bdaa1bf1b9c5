//! The relocations of a static PIE: the `R_X86_64_RELATIVE` entries of the `RELA` table
//! that `PT_DYNAMIC` names, checked against the segments when the image is parsed and
//! applied at its load bias. What would need a dynamic linker (`DT_NEEDED`, `REL`,
//! `RELR` or PLT relocations, any other type) is refused here.

use object::elf::{Dyn64, ProgramHeader64, Rela64};
use object::pod::{slice_from_bytes, Pod};
use object::read::elf::{Dyn as _, ProgramHeader as _, Rela as _};
use object::ReadRef as _;

use super::{truncated, ElfError, Le, Segment, ADDRESS_LIMIT, LE, RELA_SIZE};
use super::{DT_NEEDED, DT_NULL, DT_PLTRELSZ, DT_RELA, DT_RELAENT, DT_RELASZ, DT_RELRSZ, DT_RELSZ};
use super::{R_X86_64_NONE, R_X86_64_RELATIVE};

/// The relocation slot written by `R_X86_64_RELATIVE`: one little-endian u64.
const SLOT_SIZE: usize = 8;

/// An `R_X86_64_RELATIVE` relocation: store `bias + addend` at `offset + bias`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Relocation {
    offset: u64,
    addend: i64,
}

/// Reads the `RELA` table named by the dynamic section and keeps its `RELATIVE` entries,
/// each target checked to lie inside one of the sorted, disjoint `segments`.
pub(super) fn read(
    bytes: &[u8],
    dynamic: &ProgramHeader64<Le>,
    segments: &[Segment],
) -> Result<Vec<Relocation>, ElfError> {
    let (offset, size) = dynamic.file_range(LE);
    let table: &[Dyn64<Le>] = read_table(bytes, "dynamic section", offset, size)?;
    let (mut rela, mut rela_size, mut rela_entry) = (None, None, None);
    for entry in table {
        let value = entry.d_val(LE);
        // `object` reads tags as i64; a negative one is no tag that any loader knows.
        match u64::try_from(entry.d_tag(LE).0).unwrap_or(u64::MAX) {
            DT_NULL => break,
            DT_NEEDED => return Err(ElfError::DynamicallyLinked),
            DT_RELA => rela = Some(value),
            DT_RELASZ => rela_size = Some(value),
            DT_RELAENT => rela_entry = Some(value),
            // A table we would not apply is refused only if it holds something.
            DT_RELSZ if value != 0 => return Err(ElfError::Unsupported { what: "REL relocations (DT_REL)" }),
            DT_RELRSZ if value != 0 => {
                return Err(ElfError::Unsupported { what: "packed relative relocations (DT_RELR)" })
            }
            DT_PLTRELSZ if value != 0 => return Err(ElfError::Unsupported { what: "PLT relocations (DT_JMPREL)" }),
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
    // DT_RELA is a link address: find the file bytes that back it.
    let offset = segments
        .iter()
        .find_map(|s| {
            let delta = addr.checked_sub(s.vaddr)?;
            (delta.checked_add(size)? <= s.file_size).then(|| s.file_offset.checked_add(delta))?
        })
        .ok_or(ElfError::BadRelocationTable { addr, size })?;
    let table: &[Rela64<Le>] = read_table(bytes, "relocation table", offset, size)?;

    // Bounded by the input: the table lies inside it.
    let mut relocations = Vec::with_capacity(table.len());
    for entry in table {
        let offset = entry.r_offset(LE);
        // `false`: not MIPS64, whose r_info is laid out differently.
        match entry.r_type(LE, false).0 {
            R_X86_64_NONE => {}
            R_X86_64_RELATIVE => {
                if !inside_segment(segments, offset) {
                    return Err(ElfError::RelocationOutOfRange { offset });
                }
                relocations.push(Relocation { offset, addend: entry.r_addend(LE) });
            }
            kind => return Err(ElfError::UnsupportedRelocation { kind, offset }),
        }
    }
    Ok(relocations)
}

/// Smallest and largest addend, so that [`check_bias`] is one comparison per end.
pub(super) fn addend_range(relocations: &[Relocation]) -> Option<(i64, i64)> {
    relocations.iter().fold(None, |range, r| match range {
        None => Some((r.addend, r.addend)),
        Some((lo, hi)) => Some((r.addend.min(lo), r.addend.max(hi))),
    })
}

/// Refuses a `bias` at which some relocated value would leave the canonical lower half.
pub(super) fn check_bias(addend_range: Option<(i64, i64)>, bias: u64) -> Result<(), ElfError> {
    // The bias is a two's-complement offset (a PIE linked above its load base has a
    // "negative" one): the relocated value is addend + bias modulo 2^64, and must land
    // in the canonical lower half. It is monotonic in the addend as long as no value
    // wraps, so if both extremes land there, all do.
    for addend in addend_range.into_iter().flat_map(|(lo, hi)| [lo, hi]) {
        if relocated(bias, addend).is_none() {
            return Err(ElfError::RelocationOverflow { bias, addend });
        }
    }
    Ok(())
}

/// Writes every relocated value into `dest`, guest memory at `dest_addr` into which
/// the segments were loaded at `bias`.
pub(super) fn apply(relocations: &[Relocation], dest: &mut [u8], dest_addr: u64, bias: u64) -> Result<(), ElfError> {
    for reloc in relocations {
        let out_of_range = ElfError::RelocationOutOfRange { offset: reloc.offset };
        let start = reloc
            .offset
            .wrapping_add(bias)
            .checked_sub(dest_addr)
            .and_then(|start| usize::try_from(start).ok())
            .ok_or(out_of_range)?;
        let slot = start.checked_add(SLOT_SIZE).and_then(|end| dest.get_mut(start..end)).ok_or(out_of_range)?;
        let value = relocated(bias, reloc.addend).ok_or(ElfError::RelocationOverflow { bias, addend: reloc.addend })?;
        slot.copy_from_slice(&value.to_le_bytes());
    }
    Ok(())
}

/// The value of a relative relocation: `addend + bias` (two's complement), if it is
/// an address in the canonical lower half.
fn relocated(bias: u64, addend: i64) -> Option<u64> {
    let value = bias.wrapping_add_signed(addend);
    (value < ADDRESS_LIMIT).then_some(value)
}

/// The whole records among the `size` bytes at `offset`, which must lie inside `bytes`.
/// A ragged tail is ignored: it cannot hold the DT_NULL that ends a dynamic section.
fn read_table<'a, T: Pod>(bytes: &'a [u8], what: &'static str, offset: u64, size: u64) -> Result<&'a [T], ElfError> {
    let cut = || truncated(what, offset, size, bytes);
    let data = bytes.read_bytes_at(offset, size).map_err(|()| cut())?;
    // Records are byte arrays (alignment 1) and `data` holds this many: cannot fail.
    let (table, _tail) = slice_from_bytes(data, data.len() / size_of::<T>()).map_err(|()| cut())?;
    Ok(table)
}

/// Whether the 8-byte slot at link address `addr` lies inside one of the sorted,
/// disjoint `segments`.
fn inside_segment(segments: &[Segment], addr: u64) -> bool {
    let Some(end) = addr.checked_add(SLOT_SIZE as u64) else {
        return false;
    };
    let after = segments.partition_point(|s| s.vaddr <= addr);
    after.checked_sub(1).and_then(|i| segments.get(i)).is_some_and(|s| end <= s.end())
}
