//! `Layout`: where everything is in guest memory. The only source of guest addresses.
//!
//! Guest physical memory is `[0, memory_size)`; the user part is identity mapped
//! (guest virtual address = guest physical address). From the bottom:
//!
//! | region | user access | notes |
//! |---|---|---|
//! | page 0 | none | unmapped, so a null dereference faults |
//! | ELF image | per segment (R, RW, RX) | at its link address (ET_EXEC) or at [`PIE_BASE`] |
//! | boot information | read | one page, see `hyperlight_common::boot` |
//! | restore code | read, execute | the host's FPU restore sequence, see `vm/fpu_restore.rs` |
//! | restore state | read | the snapshot's XSAVE area, for that sequence |
//! | input buffer | read/write | host to guest messages |
//! | output buffer | read/write | guest to host messages |
//! | heap | read/write | |
//! | guard page | none | unmapped: a stack overflow is a page fault |
//! | stack | read/write | grows down from `stack_top` |
//! | system pages | none (supervisor only) | GDT and TSS, IDT, exception stubs, exception stack |
//! | page tables | not mapped | walked by the MMU by physical address only |
//!
//! Nothing user-accessible is executable except the image's code segments and the
//! host's restore code (read-only), and no page is both writable and executable unless
//! the ELF puts code and writable data on the same page.

use std::fmt;

use hyperlight_common::boot::{MAX_REGIONS, REGION_ENTRY_SIZE};
use hyperlight_common::PAGE_SIZE;

use crate::mem::elf::ElfKind;
use crate::mem::host_region::{RegionAccess, Reservation};
use crate::mem::image_shape::ImageShape;
use crate::mem::page_table::{Mapping, PageFlags, PagePlan};

/// A guest address (guest physical; the user part is identity mapped, so also virtual).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GuestAddr(pub u64);

impl fmt::Debug for GuestAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Display for GuestAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Where a position-independent image is loaded.
pub const PIE_BASE: u64 = 0x20_0000;

/// Guest memory never extends past this: one PML4 entry (512 GiB) of identity map.
pub const ADDRESS_LIMIT: u64 = 1 << 39;

/// Size of the exception (IST) stack used by the host's CPL0 stubs.
const IST_STACK_SIZE: u64 = 2 * PAGE_SIZE;

/// Sizes the user chose for a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemoryConfig {
    pub heap_size: u64,
    pub stack_size: u64,
    pub input_buffer_size: u64,
    pub output_buffer_size: u64,
    pub memory_limit: u64,
    /// Guest address ranges kept for host memory regions (above guest memory).
    pub regions: Vec<Reservation>,
}

/// Why a guest does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The guest needs more memory than the configured limit.
    #[error("the guest needs {needed:#x} bytes of memory, more than the limit of {limit:#x}")]
    TooLarge {
        /// Bytes the layout needs.
        needed: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A position-dependent image wants page 0, which stays unmapped.
    #[error("the image's lowest segment at {addr:#x} lies in page 0, which must stay unmapped")]
    ImageInPageZero {
        /// Lowest address of the image.
        addr: u64,
    },
    /// The layout broke one of the rules isolation rests on (a bug: no configuration
    /// or image should reach this).
    #[error("the memory layout breaks its own rule: {what}")]
    Invariant {
        /// The rule.
        what: &'static str,
    },
    /// A host-region reservation is not page-aligned, empty, overlaps another or guest
    /// memory, or lies past the guest's address space.
    #[error("host region at {addr:#x} of {size:#x} bytes: {why}")]
    BadRegion {
        /// Its guest address.
        addr: u64,
        /// Its size.
        size: u64,
        /// What is wrong.
        why: &'static str,
    },
    /// A size is zero or too small to be useful.
    #[error("{what} of {size} bytes is too small (at least {min})")]
    TooSmall {
        /// Which size.
        what: &'static str,
        /// The size given.
        size: u64,
        /// The least allowed.
        min: u64,
    },
}

/// Where everything is. Built once per guest image, and the same way from an ELF and
/// from a snapshot file (see `mem/image_shape.rs`): nothing in it is ever read from
/// outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Lowest address of the loaded image (page aligned).
    pub image_base: GuestAddr,
    /// One past the image's last page.
    pub image_end: GuestAddr,
    /// Added to every link address of the ELF.
    pub bias: u64,
    /// Where the guest starts.
    pub entry: GuestAddr,
    pub boot_info: GuestAddr,
    /// The host's FPU restore sequence and the registers it reloads (one page, user
    /// read and execute; see `vm/fpu_restore.rs`).
    pub restore_code: GuestAddr,
    /// The XSAVE area that sequence loads (one page, user read-only).
    pub restore_state: GuestAddr,
    /// The guest's random seed, in the boot information page (see `BootInfo::seed`).
    pub seed: GuestAddr,
    /// The table of host regions, in the boot information page (`BootInfo::regions`).
    pub region_table: GuestAddr,
    /// The host regions' reservations, in address order.
    pub regions: Vec<Reservation>,
    pub input_buffer: GuestAddr,
    pub input_buffer_size: u64,
    pub output_buffer: GuestAddr,
    pub output_buffer_size: u64,
    pub heap: GuestAddr,
    pub heap_size: u64,
    pub stack_guard: GuestAddr,
    pub stack_size: u64,
    pub stack_top: GuestAddr,
    pub gdt: GuestAddr,
    pub tss: GuestAddr,
    pub idt: GuestAddr,
    pub stubs: GuestAddr,
    pub ist_top: GuestAddr,
    pub page_tables: GuestAddr,
    pub memory_size: u64,
    /// Every mapped range and its permissions, sorted.
    pub mappings: Vec<Mapping>,
    /// The page tables for `mappings`, at `page_tables`.
    pub page_plan: PagePlan,
}

/// Offset of the random seed inside the boot information page.
const SEED_OFFSET: u64 = 0x800;
/// Offset of the host-region table inside the boot information page.
const REGION_TABLE_OFFSET: u64 = 0xa00;
const _: () = assert!(REGION_TABLE_OFFSET + (MAX_REGIONS * REGION_ENTRY_SIZE) as u64 <= PAGE_SIZE);

/// Offset of the TSS inside the GDT page.
pub(crate) const TSS_OFFSET: u64 = 0x800;

fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(|v| v & !(PAGE_SIZE - 1))
}

fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

impl Layout {
    /// Lays out a guest running `image` with the sizes in `config`.
    pub(crate) fn new(image: &ImageShape, config: &MemoryConfig) -> Result<Layout, LayoutError> {
        let too_large = |needed: u64| LayoutError::TooLarge { needed, limit: config.memory_limit };
        for (what, size, min) in [
            ("heap", config.heap_size, PAGE_SIZE),
            ("stack", config.stack_size, PAGE_SIZE),
            ("input buffer", config.input_buffer_size, 64),
            ("output buffer", config.output_buffer_size, 64),
        ] {
            if size < min {
                return Err(LayoutError::TooSmall { what, size, min });
            }
        }
        let (lo, hi) = image.span();
        let (image_base, bias) = match image.kind {
            ElfKind::Exec => {
                if lo < PAGE_SIZE {
                    return Err(LayoutError::ImageInPageZero { addr: lo });
                }
                (lo, 0)
            }
            ElfKind::Pie => (PIE_BASE, PIE_BASE.wrapping_sub(lo)),
        };
        let image_len = hi.checked_sub(lo).ok_or(too_large(u64::MAX))?;
        let image_end = image_base.checked_add(image_len).and_then(page_up).ok_or(too_large(u64::MAX))?;

        // Bump allocation upwards from the end of the image; every step is checked.
        let mut next = image_end;
        let mut take = |size: u64| -> Result<u64, LayoutError> {
            let at = next;
            next = page_up(size).and_then(|s| at.checked_add(s)).ok_or(too_large(u64::MAX))?;
            Ok(at)
        };
        let boot_info = take(PAGE_SIZE)?;
        let restore_code = take(PAGE_SIZE)?;
        let restore_state = take(PAGE_SIZE)?;
        let input_buffer = take(config.input_buffer_size)?;
        let output_buffer = take(config.output_buffer_size)?;
        let heap_size = page_up(config.heap_size).ok_or(too_large(u64::MAX))?;
        let heap = take(heap_size)?;
        let stack_guard = take(PAGE_SIZE)?;
        let stack_size = page_up(config.stack_size).ok_or(too_large(u64::MAX))?;
        let stack_bottom = take(stack_size)?;
        let stack_top = stack_bottom + stack_size;
        let gdt = take(PAGE_SIZE)?;
        let idt = take(PAGE_SIZE)?;
        let stubs = take(PAGE_SIZE)?;
        let ist = take(IST_STACK_SIZE)?;
        let page_tables = take(0)?;
        if page_tables > ADDRESS_LIMIT {
            return Err(too_large(page_tables));
        }

        let regions = check_regions(&config.regions)?;
        let user_rw = PageFlags { user: true, writable: true, executable: false };
        let mut mappings = image_mappings(image, bias);
        for r in &regions {
            let executable = r.access == RegionAccess::ReadExecute;
            mappings.push(Mapping {
                start: r.addr,
                end: r.addr + r.size,
                flags: PageFlags { user: true, writable: false, executable },
            });
        }
        mappings.extend([
            Mapping {
                start: boot_info,
                end: boot_info + PAGE_SIZE,
                flags: PageFlags { user: true, writable: false, executable: false },
            },
            Mapping {
                start: restore_code,
                end: restore_code + PAGE_SIZE,
                flags: PageFlags { user: true, writable: false, executable: true },
            },
            Mapping {
                start: restore_state,
                end: restore_state + PAGE_SIZE,
                flags: PageFlags { user: true, writable: false, executable: false },
            },
            Mapping { start: input_buffer, end: heap + heap_size, flags: user_rw },
            Mapping { start: stack_bottom, end: stack_top, flags: user_rw },
            Mapping {
                start: gdt,
                end: gdt + PAGE_SIZE,
                flags: PageFlags { user: false, writable: true, executable: false },
            },
            Mapping {
                start: idt,
                end: idt + PAGE_SIZE,
                flags: PageFlags { user: false, writable: false, executable: false },
            },
            Mapping {
                start: stubs,
                end: stubs + PAGE_SIZE,
                flags: PageFlags { user: false, writable: false, executable: true },
            },
            Mapping {
                start: ist,
                end: ist + IST_STACK_SIZE,
                flags: PageFlags { user: false, writable: true, executable: false },
            },
        ]);
        mappings.sort_by_key(|m| m.start);
        let page_plan = PagePlan::new(&mappings, page_tables);
        let memory_size = page_plan.end();
        if memory_size > config.memory_limit || memory_size > ADDRESS_LIMIT {
            return Err(too_large(memory_size));
        }
        if let Some(r) = regions.iter().find(|r| r.addr < memory_size) {
            return Err(LayoutError::BadRegion { addr: r.addr, size: r.size, why: "overlaps guest memory" });
        }
        let layout = Layout {
            image_base: GuestAddr(image_base),
            image_end: GuestAddr(image_end),
            bias,
            entry: GuestAddr(image.entry.wrapping_add(bias)),
            boot_info: GuestAddr(boot_info),
            restore_code: GuestAddr(restore_code),
            restore_state: GuestAddr(restore_state),
            seed: GuestAddr(boot_info + SEED_OFFSET),
            region_table: GuestAddr(boot_info + REGION_TABLE_OFFSET),
            regions,
            input_buffer: GuestAddr(input_buffer),
            input_buffer_size: page_up(config.input_buffer_size).unwrap_or(0),
            output_buffer: GuestAddr(output_buffer),
            output_buffer_size: page_up(config.output_buffer_size).unwrap_or(0),
            heap: GuestAddr(heap),
            heap_size,
            stack_guard: GuestAddr(stack_guard),
            stack_size,
            stack_top: GuestAddr(stack_top),
            gdt: GuestAddr(gdt),
            tss: GuestAddr(gdt + TSS_OFFSET),
            idt: GuestAddr(idt),
            stubs: GuestAddr(stubs),
            ist_top: GuestAddr(ist + IST_STACK_SIZE),
            page_tables: GuestAddr(page_tables),
            memory_size,
            mappings,
            page_plan,
        };
        layout.check_invariants()?;
        Ok(layout)
    }

    /// Whether `[addr, addr + len)` lies in pages the guest itself may read (or, with
    /// `write`, write): what a host function may touch at a guest's request.
    pub(crate) fn user_accessible(&self, addr: u64, len: u64, write: bool) -> bool {
        let Some(end) = addr.checked_add(len) else { return false };
        let mut at = addr;
        while at < end {
            let Some(m) = self.mappings.iter().find(|m| m.start <= at && at < m.end) else { return false };
            if !m.flags.user || (write && !m.flags.writable) {
                return false;
            }
            at = m.end;
        }
        true
    }

    /// The rules isolation rests on, checked on every layout (a snapshot file's too)
    /// rather than trusted: the supervisor's pages (GDT and TSS, IDT, stubs, exception
    /// stack) are mapped supervisor-only with their own permissions and overlap no user
    /// page; the page tables and page 0 are not mapped at all; the boot page and the restore pages are
    /// read-only; mappings are sorted, disjoint and inside memory.
    fn check_invariants(&self) -> Result<(), LayoutError> {
        let broken = |what: &'static str| Err(LayoutError::Invariant { what });
        let system = self.gdt.0..self.memory_size;
        let overlaps = |m: &Mapping, r: &std::ops::Range<u64>| m.start < r.end && r.start < m.end;
        let mut end = PAGE_SIZE;
        for m in &self.mappings {
            if m.start < end || m.end <= m.start || m.start % PAGE_SIZE != 0 || m.end % PAGE_SIZE != 0 {
                return broken("mappings sorted, disjoint, page-aligned, above page 0");
            }
            end = m.end;
            if m.flags.user && overlaps(m, &system) {
                return broken("no user mapping reaches the supervisor's pages");
            }
            if overlaps(m, &(self.page_tables.0..self.memory_size)) {
                return broken("the page tables are not mapped");
            }
            let in_memory = m.end <= self.memory_size;
            let a_region =
                self.regions.iter().any(|r| r.addr == m.start && r.addr + r.size == m.end && !m.flags.writable);
            if !in_memory && !a_region {
                return broken("outside guest memory, only host regions, read-only");
            }
        }
        let supervisor = |start: u64, len: u64, writable: bool, executable: bool| {
            self.mappings.iter().any(|m| {
                m.start == start && m.end == start + len && m.flags == PageFlags { user: false, writable, executable }
            })
        };
        if !(supervisor(self.gdt.0, PAGE_SIZE, true, false)
            && supervisor(self.idt.0, PAGE_SIZE, false, false)
            && supervisor(self.stubs.0, PAGE_SIZE, false, true)
            && supervisor(self.ist_top.0 - IST_STACK_SIZE, IST_STACK_SIZE, true, false))
        {
            return broken("each system page mapped supervisor-only, with its own permissions");
        }
        let boot = self.mappings.iter().find(|m| m.start <= self.boot_info.0 && self.boot_info.0 < m.end);
        if boot.is_none_or(|m| m.flags.writable || m.flags.executable) {
            return broken("the boot information page is read-only to the guest");
        }
        let user_page = |start: u64, executable: bool| {
            self.mappings.iter().any(|m| {
                m.start == start
                    && m.end == start + PAGE_SIZE
                    && m.flags == PageFlags { user: true, writable: false, executable }
            })
        };
        if !(user_page(self.restore_code.0, true) && user_page(self.restore_state.0, false))
            || self.restore_state.0 != self.restore_code.0 + PAGE_SIZE
        {
            return broken("the restore pages are the host's: read-only to the guest, adjacent");
        }
        if self.tss.0 != self.gdt.0 + TSS_OFFSET || self.page_plan.end() != self.memory_size {
            return broken("the TSS in the GDT page, the page tables at the end of memory");
        }
        Ok(())
    }
}

/// The reservations, checked and sorted: page-aligned, non-empty, disjoint, inside
/// the guest's address space, at most `MAX_REGIONS`.
fn check_regions(regions: &[Reservation]) -> Result<Vec<Reservation>, LayoutError> {
    let mut sorted = regions.to_vec();
    sorted.sort_by_key(|r| r.addr);
    if sorted.len() > MAX_REGIONS {
        let r = sorted[MAX_REGIONS];
        return Err(LayoutError::BadRegion {
            addr: r.addr,
            size: r.size,
            why: "more regions than the boot page's table holds",
        });
    }
    let mut end = 0;
    for r in &sorted {
        let bad = |why| Err(LayoutError::BadRegion { addr: r.addr, size: r.size, why });
        if r.size == 0 || r.addr % PAGE_SIZE != 0 || r.size % PAGE_SIZE != 0 {
            return bad("not whole pages");
        }
        if r.addr.checked_add(r.size).is_none_or(|e| e > ADDRESS_LIMIT) {
            return bad("past the guest's address space (2^39)");
        }
        if r.addr < end {
            return bad("overlaps another region");
        }
        end = r.addr + r.size;
    }
    Ok(sorted)
}

/// The image's pages with the union of the permissions of the segments on each page.
fn image_mappings(image: &ImageShape, bias: u64) -> Vec<Mapping> {
    let mut pages: std::collections::BTreeMap<u64, PageFlags> = std::collections::BTreeMap::new();
    for s in &image.segments {
        if s.mem_size == 0 {
            continue;
        }
        let start = page_down(s.vaddr.wrapping_add(bias));
        let end = page_up(s.vaddr.wrapping_add(bias).wrapping_add(s.mem_size)).unwrap_or(start);
        let mut p = start;
        while p < end {
            let f = pages.entry(p).or_insert(PageFlags { user: true, writable: false, executable: false });
            f.writable |= s.writable;
            f.executable |= s.executable;
            p += PAGE_SIZE;
        }
    }
    // Merge runs of pages with equal permissions.
    let mut out: Vec<Mapping> = Vec::new();
    for (page, flags) in pages {
        match out.last_mut() {
            Some(m) if m.end == page && m.flags == flags => m.end += PAGE_SIZE,
            _ => out.push(Mapping { start: page, end: page + PAGE_SIZE, flags }),
        }
    }
    out
}
