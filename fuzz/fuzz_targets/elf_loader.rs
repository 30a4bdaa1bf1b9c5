//! A hostile guest binary: `ElfImage::parse` never panics, and an image it accepts
//! loads, the way the sandbox builder loads it, into memory exactly as large as its
//! span. The loader promises to check everything before its first write, so a load
//! that fails must leave the destination untouched.
#![no_main]

use hyperlight_host::fuzzing::{ElfImage, ElfKind, PIE_BASE};
use hyperlight_host::ElfError;
use libfuzzer_sys::fuzz_target;

/// Larger images are skipped: allocating them would only slow the fuzzer down.
const MAX_SPAN: u64 = 64 << 20;
/// What the destination holds before the load, to see what the load wrote.
const FILL: u8 = 0xa5;

fuzz_target!(|bytes: &[u8]| {
    let Ok(image) = ElfImage::parse(bytes) else { return };
    let (lo, hi) = image.span();
    assert!(lo <= hi && lo % 4096 == 0 && hi % 4096 == 0 && hi <= 1 << 47, "span {lo:#x}..{hi:#x}");
    assert!(!image.segments().is_empty());
    if hi - lo > MAX_SPAN {
        return;
    }
    // As `Layout::new` places the image: an executable at its link addresses, a PIE
    // at PIE_BASE.
    let (dest_addr, bias) = match image.kind() {
        ElfKind::Exec => (lo, 0),
        ElfKind::Pie => (PIE_BASE, PIE_BASE.wrapping_sub(lo)),
    };
    let mut dest = vec![FILL; usize::try_from(hi - lo).expect("at most MAX_SPAN")];
    match image.load(bytes, &mut dest, dest_addr, bias) {
        Ok(()) => {}
        // Addends are arbitrary i64s: bias + addend may not fit.
        Err(ElfError::RelocationOverflow { .. }) => assert!(dest.iter().all(|&b| b == FILL)),
        Err(e) => {
            let written = dest.iter().position(|&b| b != FILL);
            panic!("parse accepted an image whose load into its span fails: {e:?}; first byte written: {written:?}")
        }
    }
});
