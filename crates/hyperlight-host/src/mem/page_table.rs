//! Page tables, built by the host before the guest's first instruction.
//!
//! Four-level x86_64 tables that identity map every [`Mapping`]. A 2 MiB block that
//! one mapping covers whole becomes one large page (a 1 GiB heap needs no 4 KiB
//! tables); other blocks get a page table with an entry per 4 KiB page. Accessed and
//! dirty bits are preset, so the MMU never writes to the tables. The tables live at
//! the top of guest memory and are not mapped: the guest cannot read or change them.

use std::collections::BTreeMap;

use hyperlight_common::PAGE_SIZE;

use crate::mem::layout::GuestAddr;
use crate::mem::memory::{GuestMemory, OutOfBounds};

const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
const LARGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
/// Flags of the upper levels: the leaf entry decides.
const TABLE: u64 = PRESENT | WRITABLE | USER | ACCESSED;

const LARGE_PAGE: u64 = 2 << 20;
const GIB: u64 = 1 << 30;

/// Permissions of a mapped page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageFlags {
    /// Reachable from user mode (CPL3).
    pub user: bool,
    /// Writable.
    pub writable: bool,
    /// Executable.
    pub executable: bool,
}

impl PageFlags {
    fn leaf_bits(self) -> u64 {
        let mut e = PRESENT | ACCESSED | DIRTY;
        if self.user {
            e |= USER;
        }
        if self.writable {
            e |= WRITABLE;
        }
        if !self.executable {
            e |= NO_EXECUTE;
        }
        e
    }
}

/// A page-aligned range `[start, end)` identity mapped with `flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub start: u64,
    pub end: u64,
    pub flags: PageFlags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Block {
    Large(PageFlags),
    Small(Box<[Option<PageFlags>; 512]>),
}

/// Which tables the mappings need, and where they go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PagePlan {
    base: u64,
    /// 2 MiB block index -> contents.
    blocks: BTreeMap<u64, Block>,
    /// 1 GiB indexes that need a page directory, in order.
    directories: Vec<u64>,
    /// Number of 4 KiB page tables.
    tables: u64,
}

impl PagePlan {
    /// Plans tables for `mappings` (sorted, disjoint, page aligned, below 512 GiB),
    /// to be placed from `base` upwards.
    pub(crate) fn new(mappings: &[Mapping], base: u64) -> PagePlan {
        let mut blocks: BTreeMap<u64, Block> = BTreeMap::new();
        for m in mappings {
            let mut a = m.start;
            while a < m.end {
                let block = a / LARGE_PAGE;
                let block_start = block * LARGE_PAGE;
                let block_end = block_start + LARGE_PAGE;
                if a == block_start && m.end >= block_end && !blocks.contains_key(&block) {
                    blocks.insert(block, Block::Large(m.flags));
                    a = block_end;
                    continue;
                }
                let stop = m.end.min(block_end);
                let entry = blocks.entry(block).or_insert_with(|| Block::Small(Box::new([None; 512])));
                if let Block::Small(pages) = entry {
                    let mut p = a;
                    while p < stop {
                        let i = usize::try_from((p - block_start) / PAGE_SIZE).unwrap_or(0);
                        pages[i] = Some(m.flags);
                        p += PAGE_SIZE;
                    }
                }
                a = stop;
            }
        }
        let mut directories: Vec<u64> = blocks.keys().map(|b| b * LARGE_PAGE / GIB).collect();
        directories.dedup();
        let tables = blocks.values().filter(|b| matches!(b, Block::Small(_))).count() as u64;
        PagePlan { base, blocks, directories, tables }
    }

    /// Where the PML4 goes (the guest's CR3).
    pub(crate) fn root(&self) -> GuestAddr {
        GuestAddr(self.base)
    }

    /// One past the last table.
    pub(crate) fn end(&self) -> u64 {
        self.base + PAGE_SIZE * (2 + self.directories.len() as u64 + self.tables)
    }

    /// Writes the tables into guest memory (which must be zero there).
    pub(crate) fn write(&self, mem: &mut GuestMemory) -> Result<(), OutOfBounds> {
        let pml4 = self.base;
        let pdpt = pml4 + PAGE_SIZE;
        let first_pd = pdpt + PAGE_SIZE;
        let first_pt = first_pd + PAGE_SIZE * self.directories.len() as u64;
        let entry = |mem: &mut GuestMemory, table: u64, index: u64, value: u64| {
            mem.write(GuestAddr(table + 8 * index), &value.to_le_bytes())
        };
        entry(mem, pml4, 0, pdpt | TABLE)?;
        for (i, gib) in self.directories.iter().enumerate() {
            entry(mem, pdpt, *gib, (first_pd + PAGE_SIZE * i as u64) | TABLE)?;
        }
        let mut next_pt = first_pt;
        for (block, contents) in &self.blocks {
            let gib = block * LARGE_PAGE / GIB;
            let pd_index = self.directories.iter().position(|g| *g == gib).unwrap_or(0) as u64;
            let pd = first_pd + PAGE_SIZE * pd_index;
            let block_start = block * LARGE_PAGE;
            match contents {
                Block::Large(flags) => entry(mem, pd, block % 512, block_start | flags.leaf_bits() | LARGE)?,
                Block::Small(pages) => {
                    let pt = next_pt;
                    next_pt += PAGE_SIZE;
                    entry(mem, pd, block % 512, pt | TABLE)?;
                    let mut raw = [0u8; 4096];
                    for (i, p) in pages.iter().enumerate() {
                        if let Some(flags) = p {
                            let v = (block_start + PAGE_SIZE * i as u64) | flags.leaf_bits();
                            raw[8 * i..8 * i + 8].copy_from_slice(&v.to_le_bytes());
                        }
                    }
                    mem.write(GuestAddr(pt), &raw)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: PageFlags = PageFlags { user: true, writable: true, executable: false };
    const RX: PageFlags = PageFlags { user: true, writable: false, executable: true };

    #[test]
    fn large_blocks_need_no_page_table() {
        let maps = [
            Mapping { start: 0x20_0000, end: 0x20_3000, flags: RX },
            Mapping { start: 0x40_0000, end: 0x4040_3000, flags: RW },
        ];
        let plan = PagePlan::new(&maps, 0x5000_0000);
        // One small block (the code), 512 large ones for the 1 GiB heap, one small for
        // the heap's tail.
        assert_eq!(plan.tables, 2);
        assert_eq!(plan.directories, vec![0, 1]);
        assert_eq!(plan.end(), 0x5000_0000 + 6 * PAGE_SIZE);
    }

    #[test]
    fn written_entries_translate() {
        let maps = [Mapping { start: 0x1000, end: 0x3000, flags: RX }];
        let plan = PagePlan::new(&maps, 0x10000);
        let mut mem = GuestMemory::new(plan.end()).expect("memory");
        plan.write(&mut mem).expect("fits");
        let pml4e = mem.read_u64(GuestAddr(0x10000)).expect("read");
        let pdpt = pml4e & 0x000f_ffff_ffff_f000;
        let pd = mem.read_u64(GuestAddr(pdpt)).expect("read") & 0x000f_ffff_ffff_f000;
        let pt = mem.read_u64(GuestAddr(pd)).expect("read") & 0x000f_ffff_ffff_f000;
        assert_eq!(mem.read_u64(GuestAddr(pt)).expect("read"), 0, "page 0 unmapped");
        let e = mem.read_u64(GuestAddr(pt + 8)).expect("read");
        assert_eq!(e & 0xffff_f000, 0x1000);
        assert_eq!(e & (PRESENT | USER | WRITABLE | NO_EXECUTE), PRESENT | USER);
    }
}
