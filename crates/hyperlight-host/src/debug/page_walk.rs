//! Guest virtual to guest physical addresses, by walking the page tables the host
//! built (at `Layout.page_tables`, rooted at CR3) as the MMU would.
//!
//! The user part of guest memory is identity mapped today, but the debugger does not
//! rely on it: what gdb reads is what the guest would see at that address.

use crate::mem::layout::GuestAddr;
use crate::mem::memory::GuestMemory;

const PRESENT: u64 = 1;
const LARGE: u64 = 1 << 7;
const ADDRESS: u64 = 0x000f_ffff_ffff_f000;
const PAGE: u64 = 4096;

/// The guest physical address of `gva` under the tables at `cr3`, if mapped.
pub(crate) fn translate(mem: &GuestMemory, cr3: u64, gva: u64) -> Option<u64> {
    let mut table = cr3 & ADDRESS;
    for shift in [39u32, 30, 21, 12] {
        let entry = mem.read_u64(GuestAddr(table + 8 * ((gva >> shift) & 0x1ff))).ok()?;
        if entry & PRESENT == 0 {
            return None;
        }
        let size = 1u64 << shift;
        if shift == 12 || ((shift == 30 || shift == 21) && entry & LARGE != 0) {
            return Some((entry & ADDRESS & !(size - 1)) | (gva & (size - 1)));
        }
        table = entry & ADDRESS;
    }
    None
}

/// Reads guest virtual memory from `gva` into `out`, page by page; returns how many
/// bytes were readable (up to the first unmapped page).
pub(crate) fn read(mem: &GuestMemory, cr3: u64, gva: u64, out: &mut [u8]) -> usize {
    let mut done = 0;
    while done < out.len() {
        let at = gva.wrapping_add(done as u64);
        let chunk = usize::try_from(PAGE - at % PAGE).unwrap_or(1).min(out.len() - done);
        let Some(gpa) = translate(mem, cr3, at) else { break };
        if mem.read(GuestAddr(gpa), &mut out[done..done + chunk]).is_err() {
            break;
        }
        done += chunk;
    }
    done
}

/// Writes `data` to guest virtual memory at `gva` (regardless of the page's
/// write permission: this is the debugger). False if any page is unmapped; the
/// pages before it are written.
pub(crate) fn write(mem: &mut GuestMemory, cr3: u64, gva: u64, data: &[u8]) -> bool {
    let mut done = 0;
    while done < data.len() {
        let at = gva.wrapping_add(done as u64);
        let chunk = usize::try_from(PAGE - at % PAGE).unwrap_or(1).min(data.len() - done);
        let Some(gpa) = translate(mem, cr3, at) else { return false };
        if mem.write(GuestAddr(gpa), &data[done..done + chunk]).is_err() {
            return false;
        }
        done += chunk;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::page_table::{Mapping, PageFlags, PagePlan};

    #[test]
    fn walks_small_and_large_pages() {
        let rx = PageFlags { user: true, writable: false, executable: true };
        let maps = [
            Mapping { start: 0x1000, end: 0x3000, flags: rx },
            Mapping { start: 0x20_0000, end: 0x40_0000, flags: rx },
        ];
        let plan = PagePlan::new(&maps, 0x40_0000);
        let mut mem = GuestMemory::new(plan.end()).expect("memory");
        plan.write(&mut mem).expect("fits");
        let cr3 = plan.root().0;
        assert_eq!(translate(&mem, cr3, 0x1234), Some(0x1234));
        assert_eq!(translate(&mem, cr3, 0x0), None, "page 0 unmapped");
        assert_eq!(translate(&mem, cr3, 0x3000), None);
        assert_eq!(translate(&mem, cr3, 0x2f_ffff), Some(0x2f_ffff), "2 MiB page");
        assert!(write(&mut mem, cr3, 0x1ffe, &[1, 2, 3, 4]));
        let mut b = [0u8; 4];
        assert_eq!(read(&mem, cr3, 0x1ffe, &mut b), 4);
        assert_eq!(b, [1, 2, 3, 4]);
        assert_eq!(read(&mem, cr3, 0x2ffe, &mut b), 2, "stops at the unmapped page");
    }
}
