//! `BootInfo::decode` on arbitrary bytes: never a panic, the error it gives is the
//! right one, and what decodes encodes back to the same bytes.
#![no_main]

use hyperlight_common::boot::{BootInfo, BootInfoError, BOOT_INFO_SIZE, BOOT_MAGIC};
use libfuzzer_sys::fuzz_target;

/// `encode` writes the magic and fifteen fields (the region table last); the rest of
/// the block is zero.
const ENCODED_FIELDS: usize = 8 + 2 * 4 + 13 * 8;

fuzz_target!(|bytes: &[u8]| {
    match BootInfo::decode(bytes) {
        Ok(info) => {
            let encoded = info.encode();
            assert_eq!(encoded[..ENCODED_FIELDS], bytes[..ENCODED_FIELDS], "{info:?} re-encodes differently");
            assert!(encoded[ENCODED_FIELDS..].iter().all(|&b| b == 0));
            assert_eq!(BootInfo::decode(&encoded), Ok(info));
        }
        Err(BootInfoError::TooShort) => assert!(bytes.len() < BOOT_INFO_SIZE),
        Err(BootInfoError::BadMagic) => {
            assert!(bytes.len() >= BOOT_INFO_SIZE);
            assert_ne!(bytes[..8], BOOT_MAGIC.to_le_bytes());
        }
    }
});
