//! `Snapshot::from_bytes` on arbitrary bytes: never a panic.
//!
//! Random bytes would nearly always stop at the magic or the checksum, so the input is
//! given a valid prefix (magic, version, its own length) and is resealed with a correct
//! CRC-32: the fuzzer then reaches the header decoder, the layout and vCPU-state
//! checks and the page runs, as a crafted file would.
#![no_main]

use hyperlight_host::{Snapshot, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As given: whatever it is, a typed error or a snapshot.
    let _ = Snapshot::from_bytes(data);

    // As a well-framed file around the fuzzer's header and pages.
    let Some((&head_len_byte, rest)) = data.split_first() else { return };
    let head_len = usize::from(head_len_byte) * 8;
    let mut file = Vec::with_capacity(rest.len() + 28);
    file.extend_from_slice(&SNAPSHOT_MAGIC);
    file.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    file.extend_from_slice(&u32::try_from(head_len.min(rest.len())).unwrap_or(0).to_le_bytes());
    file.extend_from_slice(&((24 + rest.len() + 4) as u64).to_le_bytes());
    file.extend_from_slice(rest);
    let crc = crc32fast::hash(&file);
    file.extend_from_slice(&crc.to_le_bytes());
    let _ = Snapshot::from_bytes(&file);
});
