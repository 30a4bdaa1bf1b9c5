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

/// Mirrors of the version-2 header records (src/sandbox/snapshot_record.rs), so that a
/// test can write what an attacker would: any header, checksum recomputed.
mod crafted {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    pub struct Header {
        pub abi_version: u32,
        pub cpu_vendor: [u8; 12],
        pub guest_id: [u8; 32],
        pub image: Image,
        pub config: Config,
        pub vcpu: Vcpu,
        pub ready: Option<User>,
        pub functions: Option<Vec<hyperlight_common::FunctionSignature>>,
        pub regions: Vec<(u64, u64, bool)>,
        pub runs: Vec<(u64, u64)>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Image {
        pub pie: bool,
        pub entry: u64,
        pub segments: Vec<Segment>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Segment {
        pub vaddr: u64,
        pub mem_size: u64,
        pub writable: bool,
        pub executable: bool,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Config {
        pub heap_size: u64,
        pub stack_size: u64,
        pub input_buffer_size: u64,
        pub output_buffer_size: u64,
        pub memory_limit: u64,
        pub call_timeout_ns: Option<u64>,
        pub init_timeout_ns: u64,
        pub seccomp: bool,
        pub max_call_depth: u32,
    }

    #[derive(Serialize, Deserialize)]
    pub struct User {
        pub regs: [u64; 18],
        pub ds: SegmentRegister,
        pub es: SegmentRegister,
        pub fs: SegmentRegister,
        pub gs: SegmentRegister,
        pub cr2: u64,
    }

    #[derive(Serialize, Deserialize)]
    pub struct SegmentRegister {
        pub base: u64,
        pub limit: u32,
        pub selector: u16,
        pub type_: u8,
        pub dpl: u8,
        pub flags: u8,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Vcpu {
        pub user: User,
        pub apic_base: u64,
        pub osxsave: bool,
        pub xcr0: u64,
        pub xsave: Vec<u8>,
        pub debug: [u64; 6],
    }

    /// `bytes` (a valid file) with its header changed by `edit`, lengths fixed and the
    /// checksum recomputed.
    pub fn edit(bytes: &[u8], edit: impl FnOnce(&mut Header)) -> Vec<u8> {
        let head_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
        let mut header: Header = postcard::from_bytes(&bytes[24..24 + head_len]).expect("a valid header");
        edit(&mut header);
        let head = postcard::to_allocvec(&header).expect("encode");
        let data = &bytes[24 + head_len..bytes.len() - 4];
        let mut out = bytes[..12].to_vec();
        out.extend_from_slice(&u32::try_from(head.len()).expect("small").to_le_bytes());
        out.extend_from_slice(&((24 + head.len() + data.len() + 4) as u64).to_le_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(data);
        out.extend_from_slice(&[0; 4]);
        super::reseal(&mut out);
        out
    }
}

#[test]
fn an_unchanged_crafted_header_loads() {
    // The mirror is faithful: decoding and re-encoding gives a file that loads.
    let bytes = snapshot_bytes();
    let same = crafted::edit(&bytes, |_| {});
    assert!(same == bytes);
    Snapshot::from_bytes(&same).expect("loads");
}

#[test]
fn crafted_files_cannot_give_the_guest_more_than_its_memory() {
    use hyperlight_host::{FilePart, ImageShapeError, LayoutError, VcpuStateError};
    let bytes = snapshot_bytes();
    let refused = |what: &str, edit: &dyn Fn(&mut crafted::Header)| {
        Snapshot::from_bytes(&crafted::edit(&bytes, edit)).map(|_| ()).expect_err(what)
    };
    // Version 1 files carried the layout, mappings and flags included (so a file could
    // make the page tables user-writable): refused outright.
    let mut v1 = bytes.clone();
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    reseal(&mut v1);
    assert!(matches!(Snapshot::from_bytes(&v1), Err(SnapshotFileError::UnsupportedVersion { found: 1, .. })));
    // There is no field for the page tables, system pages or their flags any more; the
    // sizes are checked as the builder checks them.
    let e = refused("a 0-byte output buffer", &|h| h.config.output_buffer_size = 0);
    assert!(matches!(e, SnapshotFileError::Layout(LayoutError::TooSmall { what: "output buffer", .. })), "{e:?}");
    let e = refused("a huge heap", &|h| h.config.heap_size = u64::MAX);
    assert!(matches!(e, SnapshotFileError::Layout(LayoutError::TooLarge { .. })), "{e:?}");
    let e = refused("more memory than the limit", &|h| h.config.memory_limit = 1 << 20);
    assert!(matches!(e, SnapshotFileError::Layout(LayoutError::TooLarge { .. })), "{e:?}");
    // A host region over guest memory (its page tables, say) is refused like one the
    // builder was asked for.
    let e = refused("a host region over guest memory", &|h| h.regions.push((0x1000, 0x10_0000, true)));
    assert!(matches!(e, SnapshotFileError::Layout(LayoutError::BadRegion { .. })), "{e:?}");
    let e = refused("a misaligned host region", &|h| h.regions.push((0x10_0000_0001, 0x1000, false)));
    assert!(matches!(e, SnapshotFileError::Layout(LayoutError::BadRegion { why: "not whole pages", .. })), "{e:?}");
    // The image's shape is checked like an ELF's segments.
    let e = refused("no segments", &|h| h.image.segments.clear());
    assert!(matches!(e, SnapshotFileError::Image(ImageShapeError::NoSegments)), "{e:?}");
    let e = refused("a segment past 2^47", &|h| h.image.segments[0].mem_size = 1 << 48);
    assert!(matches!(e, SnapshotFileError::Image(ImageShapeError::OutOfRange { .. })), "{e:?}");
    let e = refused("overlapping segments", &|h| h.image.segments[1].vaddr = h.image.segments[0].vaddr);
    assert!(matches!(e, SnapshotFileError::Image(ImageShapeError::Overlap { .. })), "{e:?}");
    let e = refused("an entry outside the code", &|h| h.image.entry = 0);
    assert!(matches!(e, SnapshotFileError::Image(ImageShapeError::BadEntry { entry: 0 })), "{e:?}");
    // User state must be user state.
    let e = refused("the kernel's data segment in DS", &|h| {
        h.vcpu.user.ds =
            crafted::SegmentRegister { base: 0, limit: !0, selector: 0x10, type_: 3, dpl: 0, flags: 0b10101 }
    });
    assert!(matches!(e, SnapshotFileError::VcpuState(VcpuStateError::Selector { register: "DS", selector: 0x10 })));
    let e = refused("IOPL 3", &|h| h.vcpu.user.regs[17] |= 0x3000);
    assert!(matches!(e, SnapshotFileError::VcpuState(VcpuStateError::Rflags(_))), "{e:?}");
    let e = refused("interrupts on in the ready state", &|h| {
        if let Some(r) = &mut h.ready {
            r.regs[17] |= 0x200
        }
    });
    assert!(matches!(e, SnapshotFileError::VcpuState(VcpuStateError::Rflags(_))), "{e:?}");
    let e = refused("AVX-512 state", &|h| h.vcpu.xcr0 = 0xe7);
    assert!(matches!(e, SnapshotFileError::VcpuState(VcpuStateError::Xcr0(0xe7))), "{e:?}");
    let e = refused("a short XSAVE area", &|h| h.vcpu.xsave.truncate(512));
    assert!(matches!(e, SnapshotFileError::VcpuState(VcpuStateError::XsaveSize(512))), "{e:?}");
    // Page data only inside guest memory, in order.
    let e = refused("a run past the end of memory", &|h| h.runs.push((u64::MAX - 1, u64::MAX)));
    assert!(matches!(e, SnapshotFileError::DataRun { .. }), "{e:?}");
    let e = refused("runs out of order", &|h| h.runs.reverse());
    assert!(matches!(e, SnapshotFileError::DataRun { .. }), "{e:?}");
    let e = refused("a run longer than its data", &|h| {
        let gap = (0..h.runs.len() - 1).find(|&i| h.runs[i].1 < h.runs[i + 1].0).expect("a gap between runs");
        h.runs[gap].1 += 1;
    });
    assert!(matches!(e, SnapshotFileError::Truncated(FilePart::PageData)), "{e:?}");
}
