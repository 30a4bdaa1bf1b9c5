//! `ImageShape`: what the memory layout needs to know of a guest image (its kind,
//! entry point and loadable segments, without their bytes).
//!
//! [`Layout::new`](crate::mem::layout::Layout::new) computes every address and every
//! page permission from a shape and the configured sizes. A sandbox built from an ELF
//! takes the shape from the parsed ELF; a snapshot file stores the shape, and loading
//! one runs the same code on it, so a file can never describe page tables, system
//! pages or permissions of its own: at most another image, checked here as the ELF
//! parser checks segments.

use crate::mem::elf::{ElfImage, ElfKind};

/// First address above the canonical lower half of the x86_64 address space: no
/// segment reaches past it (as the ELF parser requires).
const CANONICAL_LIMIT: u64 = 1 << 47;

/// One loadable segment: where it goes (link address) and what the guest may do there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentShape {
    pub vaddr: u64,
    pub mem_size: u64,
    pub writable: bool,
    pub executable: bool,
}

impl SegmentShape {
    fn end(&self) -> u64 {
        self.vaddr.saturating_add(self.mem_size)
    }
}

/// A guest image as the layout sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageShape {
    pub kind: ElfKind,
    /// Entry point as a link address.
    pub entry: u64,
    /// Non-empty, sorted, disjoint.
    pub segments: Vec<SegmentShape>,
}

/// Why an image description (from a snapshot file) is not one an ELF could give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImageShapeError {
    /// No segment, or one of size zero.
    #[error("the image has no segments, or an empty one")]
    NoSegments,
    /// A segment reaches past the canonical lower half (2^47).
    #[error("segment at {vaddr:#x} of {mem_size:#x} bytes reaches past 2^47")]
    OutOfRange {
        /// Link address of the segment.
        vaddr: u64,
        /// Its size.
        mem_size: u64,
    },
    /// Segments out of order or overlapping.
    #[error("segments at {first:#x} and {second:#x} are out of order or overlap")]
    Overlap {
        /// The earlier segment.
        first: u64,
        /// The later one.
        second: u64,
    },
    /// The entry point is not in an executable segment.
    #[error("entry point {entry:#x} is not inside an executable segment")]
    BadEntry {
        /// The entry point.
        entry: u64,
    },
}

impl ImageShape {
    /// The shape of a parsed ELF (which has checked everything [`ImageShape::new`]
    /// checks).
    pub(crate) fn of(image: &ElfImage) -> ImageShape {
        let segments = image
            .segments()
            .iter()
            .map(|s| SegmentShape {
                vaddr: s.vaddr,
                mem_size: s.mem_size,
                writable: s.writable,
                executable: s.executable,
            })
            .collect();
        ImageShape { kind: image.kind(), entry: image.entry(), segments }
    }

    /// A shape from outside (a snapshot file), checked as the ELF parser checks the
    /// segments of an image.
    pub(crate) fn new(kind: ElfKind, entry: u64, segments: Vec<SegmentShape>) -> Result<ImageShape, ImageShapeError> {
        if segments.is_empty() || segments.iter().any(|s| s.mem_size == 0) {
            return Err(ImageShapeError::NoSegments);
        }
        for s in &segments {
            if s.vaddr.checked_add(s.mem_size).is_none_or(|end| end > CANONICAL_LIMIT) {
                return Err(ImageShapeError::OutOfRange { vaddr: s.vaddr, mem_size: s.mem_size });
            }
        }
        for pair in segments.windows(2) {
            if let [first, second] = pair {
                if first.end() > second.vaddr {
                    return Err(ImageShapeError::Overlap { first: first.vaddr, second: second.vaddr });
                }
            }
        }
        if !segments.iter().any(|s| s.executable && s.vaddr <= entry && entry < s.end()) {
            return Err(ImageShapeError::BadEntry { entry });
        }
        Ok(ImageShape { kind, entry, segments })
    }

    /// Lowest and one-past-highest link address of the segments, rounded out to pages.
    pub(crate) fn span(&self) -> (u64, u64) {
        let page = hyperlight_common::PAGE_SIZE;
        let lo = self.segments.first().map_or(0, |s| s.vaddr - s.vaddr % page);
        // At most 2^47, so rounding up cannot overflow.
        let hi = self.segments.last().map_or(0, |s| s.end().div_ceil(page).saturating_mul(page));
        (lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(vaddr: u64, mem_size: u64, executable: bool) -> SegmentShape {
        SegmentShape { vaddr, mem_size, writable: !executable, executable }
    }

    #[test]
    fn shapes_from_outside_are_checked_like_elf_segments() {
        let ok = ImageShape::new(ElfKind::Pie, 0x1010, vec![seg(0x1000, 0x100, true), seg(0x2000, 0x10, false)]);
        assert_eq!(ok.expect("valid").span(), (0x1000, 0x3000));
        assert_eq!(ImageShape::new(ElfKind::Pie, 0, vec![]), Err(ImageShapeError::NoSegments));
        assert_eq!(ImageShape::new(ElfKind::Pie, 0, vec![seg(0x1000, 0, true)]), Err(ImageShapeError::NoSegments));
        assert!(matches!(
            ImageShape::new(ElfKind::Pie, 0, vec![seg(u64::MAX - 1, 4, true)]),
            Err(ImageShapeError::OutOfRange { .. })
        ));
        assert!(matches!(
            ImageShape::new(ElfKind::Pie, 0x1000, vec![seg(0x1000, 0x2000, true), seg(0x1800, 1, false)]),
            Err(ImageShapeError::Overlap { .. })
        ));
        assert_eq!(
            ImageShape::new(ElfKind::Exec, 0x2000, vec![seg(0x1000, 0x100, true), seg(0x2000, 0x10, false)]),
            Err(ImageShapeError::BadEntry { entry: 0x2000 })
        );
    }
}
