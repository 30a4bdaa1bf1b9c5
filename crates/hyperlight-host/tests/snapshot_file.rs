//! Snapshot files: a round trip, and a clear typed error for every kind of damage.

mod common;

use hyperlight_host::{HostFunctions, Sandbox, Snapshot, SnapshotFileError, SNAPSHOT_FORMAT_VERSION};

use common::simpleguest;

/// A snapshot with some state in it (counter at 3, a hoard), as file bytes.
fn snapshot_bytes() -> Vec<u8> {
    let mut sb = simpleguest();
    for _ in 0..3 {
        sb.call::<u64>("Counter", ()).expect("Counter");
    }
    sb.call::<u64>("Hoard", (4u32, 10_000u64)).expect("Hoard");
    sb.snapshot().expect("snapshot").to_bytes().expect("to_bytes")
}

/// Rewrites the trailing CRC-32 after a deliberate change, so that the change itself
/// (not the checksum) is what the loader has to catch.
fn reseal(bytes: &mut [u8]) {
    let n = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn save_and_load_round_trip() {
    let bytes = snapshot_bytes();
    let path = std::env::temp_dir().join(format!("hl-snap-{}.bin", std::process::id()));
    let snap = Snapshot::from_bytes(&bytes).unwrap();
    snap.save(&path).unwrap();
    let loaded = Snapshot::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut sb = Sandbox::from_snapshot(&loaded, HostFunctions::new()).unwrap();
    assert_eq!(sb.call::<u64>("ReadCounter", ()).unwrap(), 3);
    assert_eq!(sb.call::<u64>("HoardCount", ()).unwrap(), 4);
    assert_eq!(sb.call::<u64>("Counter", ()).unwrap(), 4);
    sb.restore(&loaded).unwrap();
    assert_eq!(sb.call::<u64>("ReadCounter", ()).unwrap(), 3);
    // Saving what was loaded gives the same bytes.
    assert!(loaded.to_bytes().unwrap() == bytes);
}

#[test]
fn a_missing_file_is_an_io_error() {
    let err = Snapshot::load("/nonexistent/snapshot.bin").unwrap_err();
    assert!(
        matches!(&err, SnapshotFileError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );
}

#[test]
fn truncated_files_are_reported_as_truncated() {
    let bytes = snapshot_bytes();
    for len in [0, 4, 8, 11, 15, 20, 24, 100, bytes.len() / 2, bytes.len() - 5, bytes.len() - 1] {
        let err = Snapshot::from_bytes(&bytes[..len]).unwrap_err();
        assert!(matches!(err, SnapshotFileError::Truncated(_)), "length {len}: {err:?}");
    }
}

#[test]
fn a_flipped_byte_fails_the_checksum() {
    let bytes = snapshot_bytes();
    for at in [30, 200, bytes.len() / 2, bytes.len() - 5] {
        let mut b = bytes.clone();
        b[at] ^= 0x40;
        let err = Snapshot::from_bytes(&b).unwrap_err();
        assert!(matches!(err, SnapshotFileError::Checksum { .. }), "byte {at}: {err:?}");
    }
}

#[test]
fn wrong_magic_and_newer_version_are_refused() {
    let bytes = snapshot_bytes();
    let mut b = bytes.clone();
    b[0] = b'X';
    assert!(matches!(Snapshot::from_bytes(&b), Err(SnapshotFileError::BadMagic)));
    let mut b = bytes.clone();
    b[8..12].copy_from_slice(&(SNAPSHOT_FORMAT_VERSION + 1).to_le_bytes());
    reseal(&mut b);
    let err = Snapshot::from_bytes(&b).unwrap_err();
    assert!(
        matches!(err, SnapshotFileError::UnsupportedVersion { found, supported }
            if found == SNAPSHOT_FORMAT_VERSION + 1 && supported == SNAPSHOT_FORMAT_VERSION),
        "{err:?}"
    );
}

#[test]
fn a_snapshot_from_another_cpu_vendor_is_refused() {
    let mut b = snapshot_bytes();
    // The header starts at 24 with the ABI version (a 1-byte varint), then the 12
    // bytes of the CPU vendor string.
    let vendor = String::from_utf8_lossy(&b[25..37]).into_owned();
    assert!(vendor == "AuthenticAMD" || vendor == "GenuineIntel", "{vendor}");
    let other: &[u8; 12] = if vendor == "AuthenticAMD" { b"GenuineIntel" } else { b"AuthenticAMD" };
    b[25..37].copy_from_slice(other);
    reseal(&mut b);
    let err = Snapshot::from_bytes(&b).unwrap_err();
    assert!(
        matches!(&err, SnapshotFileError::CpuVendorMismatch { found, expected } if found.as_bytes() == other && *expected == vendor),
        "{err:?}"
    );
}

#[test]
fn another_abi_version_is_refused() {
    let mut b = snapshot_bytes();
    assert_eq!(u32::from(b[24]), hyperlight_common::ABI_VERSION, "the ABI version, a one-byte varint");
    b[24] = 99;
    reseal(&mut b);
    let err = Snapshot::from_bytes(&b).unwrap_err();
    assert!(matches!(err, SnapshotFileError::AbiMismatch { found: 99, .. }), "{err:?}");
}

#[test]
fn damage_inside_a_resealed_header_is_an_error_never_a_panic() {
    // Every byte of the header changed (and the file resealed, as a crafted file
    // would be): each load is refused with a typed error or, when the change is
    // harmless, succeeds; nothing panics.
    let bytes = snapshot_bytes();
    let head_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
    let mut refused = 0;
    for at in (24..24 + head_len).step_by(3) {
        let mut b = bytes.clone();
        b[at] = b[at].wrapping_add(0x81);
        reseal(&mut b);
        if Snapshot::from_bytes(&b).is_err() {
            refused += 1;
        }
    }
    assert!(refused > 0);
}
