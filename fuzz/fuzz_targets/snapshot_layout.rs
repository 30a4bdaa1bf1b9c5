//! The layout a snapshot file gets from its image description and sizes: any
//! description and any sizes give a typed refusal or a layout that keeps every rule
//! isolation rests on (`Layout::new` checks them and reports a broken one as
//! `LayoutError::Invariant`, which is a finding here). No panic either way.
#![no_main]

use arbitrary::Arbitrary;
use hyperlight_host::fuzzing::{snapshot_layout, SegmentParts};
use hyperlight_host::LayoutError;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    pie: bool,
    entry: u64,
    segments: Vec<SegmentParts>,
    /// Small values as pages, so that the fuzzer reaches layouts that fit.
    sizes: [(bool, u64); 5],
    /// Host-region reservations: address, size (both in pages when small), executable.
    regions: Vec<(u64, u64, bool)>,
}

fuzz_target!(|input: Input| {
    let sizes = input.sizes.map(|(pages, n)| if pages { (n % 4096) * 4096 } else { n });
    // As given (mostly refused), then made into a description an ELF could give:
    // sorted, disjoint, small, the entry in the first executable segment, so that the
    // fuzzer spends its time on layouts rather than on the shape's checks.
    let raw: Vec<SegmentParts> = input.segments.into_iter().take(16).collect();
    let regions: Vec<(u64, u64, bool)> = input
        .regions
        .into_iter()
        .take(20)
        .map(|(a, n, x)| if a < 1 << 28 { (a << 12, n % (1 << 16) << 12, x) } else { (a, n, x) })
        .collect();
    check(input.pie, input.entry, &raw, sizes, &regions);
    let mut next = 0u64;
    let mut tidy: Vec<SegmentParts> = Vec::new();
    for &(vaddr, size, w, x) in &raw {
        let vaddr = next.max(vaddr % (1 << 32));
        let size = 1 + size % (1 << 24);
        next = vaddr + size;
        tidy.push((vaddr, size, w, x));
    }
    let entry = tidy.iter().find(|s| s.3).map_or(input.entry, |s| s.0);
    check(input.pie, entry, &tidy, sizes, &regions);
});

fn check(pie: bool, entry: u64, segments: &[SegmentParts], sizes: [u64; 5], regions: &[(u64, u64, bool)]) {
    if let Some(Err(LayoutError::Invariant { what })) = snapshot_layout(pie, entry, segments, sizes, regions) {
        panic!("layout rule broken: {what} ({segments:x?}, {sizes:x?}, {regions:x?})");
    }
}
