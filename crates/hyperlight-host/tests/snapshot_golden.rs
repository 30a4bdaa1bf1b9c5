//! A snapshot file written by format version 2, checked in, still loads and runs.
//!
//! The file format is explicit records (src/sandbox/snapshot_record.rs), so changes
//! to the library's own types cannot change it; this test is what holds that. If it
//! fails, the format changed: bump `SNAPSHOT_FORMAT_VERSION`, keep reading the old
//! version, or say in the change why old files may go. After a deliberate change
//! (or an ABI bump, which makes old files refuse to load), write a new file with
//! `HYPERLIGHT_BLESS=1 cargo test -p hyperlight-host --test snapshot_golden`.

mod common;

use std::path::PathBuf;

use hyperlight_host::{HostFunctions, Sandbox, SandboxBuilder, Snapshot, SnapshotFileError, SNAPSHOT_FORMAT_VERSION};

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/simpleguest-v2.hlsnap")
}

/// The golden snapshot: simpleguest, small sizes, the counter at 5 and 3 hoarded
/// blocks.
fn write_golden() {
    let builder = SandboxBuilder::new()
        .heap_size(256 << 10)
        .stack_size(32 << 10)
        .input_buffer_size(4096)
        .output_buffer_size(4096);
    let mut sb = common::build(builder, "simpleguest");
    for _ in 0..5 {
        sb.call::<u64>("Counter", ()).expect("Counter");
    }
    sb.call::<u64>("Hoard", (3u32, 100u64)).expect("Hoard");
    sb.snapshot().expect("snapshot").save(golden_path()).expect("save");
}

#[test]
fn a_version_2_file_still_loads_and_runs() {
    common::require_kvm();
    if std::env::var_os("HYPERLIGHT_BLESS").is_some() {
        write_golden();
    }
    let bytes = std::fs::read(golden_path()).expect("the golden snapshot is checked in");
    assert_eq!(&bytes[8..12], &SNAPSHOT_FORMAT_VERSION.to_le_bytes(), "the golden file is of the current version");
    let snap = match Snapshot::from_bytes(&bytes) {
        Ok(snap) => snap,
        // The file was written on a CPU of another vendor than this one: that is the
        // one refusal a valid file may meet, and it says so.
        Err(SnapshotFileError::CpuVendorMismatch { .. }) => return,
        Err(e) => panic!("the golden file no longer loads: {e:?}"),
    };
    let mut sb = Sandbox::from_snapshot(&snap, HostFunctions::new()).expect("sandbox");
    assert_eq!(sb.call::<u64>("ReadCounter", ()).expect("call"), 5);
    assert_eq!(sb.call::<u64>("HoardCount", ()).expect("call"), 3);
    assert_eq!(sb.call::<String>("EchoString", "golden".to_string()).expect("call"), "golden");
    // And it saves to the same bytes it was read from.
    assert!(snap.to_bytes().expect("to_bytes") == bytes);
}
