//! Host memory mapped into the guest: read in place, never written, per sandbox,
//! and what snapshots do with it.

mod common;

use hyperlight_host::{
    CallError, Exception, HostFunctions, HostRegion, LayoutError, RegionAccess, RegionError, Sandbox, SandboxBuilder,
};

/// Taken by the tests that map 64 MiB, so that the sharing test measures only itself.
static BIG: std::sync::Mutex<()> = std::sync::Mutex::new(());

const AT: u64 = 0x10_0000_0000;
const SIZE: u64 = 64 << 20;
const SIZE_BYTES: usize = 64 << 20;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| u8::try_from(i % 251).expect("below 251")).collect()
}

fn sum(bytes: &[u8]) -> u64 {
    bytes.iter().map(|&b| u64::from(b)).sum()
}

fn with_region() -> Sandbox {
    common::build(common::builder().reserve_region(AT, SIZE, RegionAccess::Read), "simpleguest")
}

#[test]
fn the_guest_reads_a_64_mib_region_in_place() {
    let _big = BIG.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let data = pattern(SIZE_BYTES);
    let region = HostRegion::from_bytes(&data).expect("region");
    let mut sb = with_region();
    assert_eq!(sb.call::<u64>("RegionMapped", AT).expect("call"), 0, "nothing mapped yet");
    sb.map_region(AT, &region, RegionAccess::Read).expect("map");
    assert_eq!(sb.call::<u64>("RegionMapped", AT).expect("call"), SIZE);
    assert_eq!(sb.call::<u64>("SumRegion", (AT, SIZE)).expect("sum"), sum(&data));
    // A smaller region in its place.
    let small = HostRegion::from_bytes(b"hello").expect("region");
    sb.map_region(AT, &small, RegionAccess::Read).expect("remap");
    assert_eq!(sb.call::<u64>("RegionMapped", AT).expect("call"), 4096, "whole pages");
    assert_eq!(sb.call::<u64>("SumRegion", (AT, 5u64)).expect("sum"), sum(b"hello"));
    assert_eq!(sb.call::<u32>("ReadAt", AT + 4095).expect("read"), 0, "the rest of the page reads as zero");
}

#[test]
fn a_guest_write_is_a_page_fault_naming_the_address() {
    let region = HostRegion::from_bytes(&[9u8; 8192]).expect("region");
    let mut sb = with_region();
    let clean = sb.snapshot().expect("snapshot");
    sb.map_region(AT, &region, RegionAccess::Read).expect("map");
    match sb.call::<()>("WriteAt", AT + 100) {
        Err(CallError::GuestFault(f)) => {
            assert_eq!(f.exception, Exception::PageFault);
            assert_eq!(f.cr2, Some(AT + 100));
            assert_eq!(f.error_code & 0x3, 0x3, "a write to a present page");
        }
        other => panic!("{other:?}"),
    }
    common::assert_poisoned_then_restored(&mut sb, &clean);
    // A read past what is mapped (inside the reservation) stops the guest too.
    match sb.call::<u32>("ReadAt", AT + 8192) {
        Err(CallError::Protocol(hyperlight_host::ProtocolError::UnexpectedExit(_))) => {}
        other => panic!("{other:?}"),
    }
    sb.restore(&clean).expect("restore");
}

#[test]
fn reservations_and_mappings_are_checked() {
    common::require_kvm();
    let build = |b: SandboxBuilder| b.build_from_file(common::guest_path("simpleguest")).map(|_| ());
    for (addr, size, why) in [
        (AT + 1, 4096, "not whole pages"),
        (AT, 100, "not whole pages"),
        (AT, 0, "not whole pages"),
        (1 << 39, 4096, "past the guest's address space (2^39)"),
        (0x10_0000, 4096, "overlaps guest memory"),
    ] {
        match build(SandboxBuilder::new().reserve_region(addr, size, RegionAccess::Read)) {
            Err(hyperlight_host::BuildError::Layout(LayoutError::BadRegion { why: w, .. })) => assert_eq!(w, why),
            other => panic!("{addr:#x}: {other:?}"),
        }
    }
    let overlapping = SandboxBuilder::new().reserve_region(AT, 8192, RegionAccess::Read).reserve_region(
        AT + 4096,
        4096,
        RegionAccess::Read,
    );
    assert!(matches!(build(overlapping), Err(hyperlight_host::BuildError::Layout(LayoutError::BadRegion { .. }))));

    let mut sb = with_region();
    let region = HostRegion::from_bytes(&[1u8; 4096]).expect("region");
    assert!(matches!(sb.map_region(AT + 4096, &region, RegionAccess::Read), Err(RegionError::NotReserved { .. })));
    assert!(matches!(sb.map_region(AT, &region, RegionAccess::ReadExecute), Err(RegionError::Access { .. })));
    let big = HostRegion::from_bytes(&vec![0u8; SIZE_BYTES + 1]).expect("region");
    assert!(matches!(sb.map_region(AT, &big, RegionAccess::Read), Err(RegionError::TooLarge { .. })));
    common::assert_works(&mut sb);
}

#[test]
fn snapshots_leave_mappings_to_the_sandbox() {
    let region = HostRegion::from_bytes(&[3u8; 4096]).expect("region");
    let mut sb = with_region();
    let before = sb.snapshot().expect("snapshot before mapping");
    sb.map_region(AT, &region, RegionAccess::Read).expect("map");
    let after = sb.snapshot().expect("snapshot after mapping");
    // A restore keeps what is mapped now, whichever snapshot it restores.
    for snap in [&before, &after] {
        sb.restore(snap).expect("restore");
        assert_eq!(sb.call::<u64>("RegionMapped", AT).expect("call"), 4096);
        assert_eq!(sb.call::<u64>("SumRegion", (AT, 4096u64)).expect("sum"), 3 * 4096);
    }
    // A sandbox made from a snapshot starts with nothing mapped (not even from one
    // taken while something was), and maps its own.
    let mut twin = Sandbox::from_snapshot(&after, HostFunctions::new()).expect("twin");
    assert_eq!(twin.call::<u64>("RegionMapped", AT).expect("call"), 0);
    let other = HostRegion::from_bytes(&[5u8; 4096]).expect("region");
    twin.map_region(AT, &other, RegionAccess::Read).expect("map");
    assert_eq!(twin.call::<u64>("SumRegion", (AT, 4096u64)).expect("sum"), 5 * 4096);
    assert_eq!(sb.call::<u64>("SumRegion", (AT, 4096u64)).expect("sum"), 3 * 4096, "each its own");
    // Unmapping, and a file.
    sb.unmap_region(AT).expect("unmap");
    assert_eq!(sb.call::<u64>("RegionMapped", AT).expect("call"), 0);
    let path = std::env::temp_dir().join(format!("hl-region-{}", std::process::id()));
    std::fs::write(&path, pattern(10_000)).expect("file");
    let file = HostRegion::from_file(&path).expect("file region");
    std::fs::remove_file(&path).expect("remove");
    sb.map_region(AT, &file, RegionAccess::Read).expect("map a file");
    assert_eq!(sb.call::<u64>("SumRegion", (AT, 10_000u64)).expect("sum"), sum(&pattern(10_000)));
}

#[test]
fn sandboxes_mapping_one_region_share_its_pages() {
    // One host mapping per region, whatever the number of sandboxes: the guests'
    // reads fault in the same pages, so the process grows by the region once.
    let _big = BIG.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let region = HostRegion::from_bytes(&pattern(SIZE_BYTES)).expect("region");
    let rss = || -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let line = status.lines().find(|l| l.starts_with("RssShmem:")).expect("RssShmem");
        line.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).expect("kB") * 1024
    };
    let mut sandboxes: Vec<Sandbox> = (0..4).map(|_| with_region()).collect();
    let before = rss();
    for sb in &mut sandboxes {
        sb.map_region(AT, &region, RegionAccess::Read).expect("map");
        sb.call::<u64>("SumRegion", (AT, SIZE)).expect("sum");
    }
    let grown = rss().saturating_sub(before);
    assert!(grown < 2 * SIZE, "4 sandboxes reading one 64 MiB region grew shared memory by {grown} bytes");
}

#[test]
fn a_pooled_vm_carries_no_mapping_to_the_next_sandbox() {
    let region = HostRegion::from_bytes(&[8u8; 4096]).expect("region");
    let mut sb = with_region();
    let snap = sb.snapshot().expect("snapshot");
    sb.map_region(AT, &region, RegionAccess::Read).expect("map");
    drop(sb);
    let mut next = Sandbox::from_snapshot(&snap, HostFunctions::new()).expect("from the pool");
    assert_eq!(next.call::<u64>("RegionMapped", AT).expect("call"), 0);
    // Not even through a stale slot: reading stops the guest.
    assert!(matches!(next.call::<u32>("ReadAt", AT), Err(CallError::Protocol(_))));
}
