//! The snapshot file format: [`Snapshot::save`] and [`Snapshot::load`].
//!
//! ```text
//! offset  size  content
//! 0       8     magic "HLSNAP\0\0"
//! 8       4     format version, u32 little-endian (SNAPSHOT_FORMAT_VERSION, now 3)
//! 12      4     header length H, u32 little-endian
//! 16      8     file length, u64 little-endian (so truncation is reported as such)
//! 24      H     header: postcard encoding of the records in `snapshot_record.rs`
//!               (ABI version, CPU vendor, guest id, the image's shape, sizes and
//!               timeouts, the user-mode vCPU state, and the runs of guest pages that
//!               are not zero)
//! 24+H    D     the data pages, 4096 bytes each, run after run, in order
//! 24+H+D  4     CRC-32 (IEEE) of every byte before it, u32 little-endian
//! ```
//!
//! Pages not in any run are zero. A file is untrusted input, and loading checks, in
//! order: the magic, the version (newer files are refused, not guessed at), the
//! length, the checksum (which catches damage, not an attacker: anyone can reseal a
//! file), the header, the ABI version, the CPU vendor (saved CPU state is only valid
//! on the same vendor), the image's shape, and the layout, which it *derives* from the
//! shape and the sizes with the code that builds sandboxes from ELFs. The host's own
//! pages (GDT, TSS, IDT, exception stubs, page tables) and registers (CS, SS, TR,
//! the descriptor tables, the control registers) are never taken from the file, and
//! the user-mode state it saved is checked to be user-mode state: a crafted file can
//! give a guest no more than its own memory.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use hyperlight_common::boot::SEED_SIZE;
use hyperlight_common::{ABI_VERSION, PAGE_SIZE};

use crate::error::{FilePart, SnapshotFileError};
use crate::mem::layout::{GuestAddr, Layout};
use crate::mem::memory::GuestMemory;
use crate::obs::{self, CallMetrics, Span};
use crate::sandbox::builder::GuestId;
use crate::sandbox::config::SandboxConfig;
use crate::sandbox::snapshot::{Snapshot, SnapshotInner};
use crate::sandbox::snapshot_record::{
    ConfigRecord, HeaderRecord, ImageRecord, RegionRecord, UserStateRecord, VcpuRecord,
};
use crate::vm::{cpu, fpu_restore};

/// The first bytes of every snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"HLSNAP\0\0";

/// The version of the snapshot file format this library writes and reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 3;

const PREFIX: usize = 24;
const PAGE: usize = 4096;

/// This machine's CPU vendor string ("AuthenticAMD", "GenuineIntel", ...).
pub(crate) fn cpu_vendor() -> [u8; 12] {
    let r = std::arch::x86_64::__cpuid(0);
    let mut v = [0u8; 12];
    v[0..4].copy_from_slice(&r.ebx.to_le_bytes());
    v[4..8].copy_from_slice(&r.edx.to_le_bytes());
    v[8..12].copy_from_slice(&r.ecx.to_le_bytes());
    v
}

fn vendor_name(v: &[u8; 12]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

impl Snapshot {
    /// Writes the snapshot to `path` (see the format in the crate docs: magic,
    /// version, header, the pages that hold data, CRC-32).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), SnapshotFileError> {
        let path = path.as_ref();
        let span = Span::save();
        let _entered = span.enter();
        let result = (|| {
            let io = |source| SnapshotFileError::Io { path: path.to_path_buf(), source };
            let bytes = self.encode(false)?;
            span.record_u64("bytes", bytes.len() as u64);
            let mut f = std::fs::File::create(path).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)
        })();
        span.record_result(&result);
        result
    }

    /// The snapshot in the file format (what [`save`](Snapshot::save) writes).
    pub fn to_bytes(&self) -> Result<Vec<u8>, SnapshotFileError> {
        let span = Span::save();
        let _entered = span.enter();
        let result = self.encode(false);
        match &result {
            Ok(bytes) => span.record_u64("bytes", bytes.len() as u64),
            Err(_) => span.record_result(&result),
        }
        result
    }

    /// The file bytes; with `without_seed`, the guest's random seed reads as zero (for
    /// tests that compare two snapshots of one state: the seed is the one thing a
    /// restore changes on purpose).
    pub(crate) fn encode(&self, without_seed: bool) -> Result<Vec<u8>, SnapshotFileError> {
        let s = &self.inner;
        let seed_page = s.layout.seed.0 / PAGE_SIZE;
        let seed_at = usize::try_from(s.layout.seed.0 % PAGE_SIZE).unwrap_or(0);
        let runs = s.image.nonzero_runs().map_err(SnapshotFileError::Memory)?;
        let header = HeaderRecord {
            abi_version: ABI_VERSION,
            cpu_vendor: cpu_vendor(),
            guest_id: s.guest_id.0,
            image: ImageRecord::from(&s.shape),
            config: ConfigRecord::from(&s.config),
            vcpu: VcpuRecord::new(&s.vcpu),
            ready: s.ready.as_ref().map(|(regs, sregs)| UserStateRecord::new(regs, sregs)),
            functions: s.functions.as_deref().cloned(),
            regions: s.layout.regions.iter().map(RegionRecord::new).collect(),
            runs: runs.clone(),
        };
        let head = postcard::to_allocvec(&header).map_err(SnapshotFileError::Encode)?;
        let head_len =
            u32::try_from(head.len()).map_err(|_| SnapshotFileError::Encode(postcard::Error::SerializeBufferFull))?;
        let pages: usize = runs.iter().map(|(a, b)| usize::try_from(b - a).unwrap_or(0)).sum();
        let total = PREFIX + head.len() + pages * PAGE + 4;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&head_len.to_le_bytes());
        out.extend_from_slice(&(total as u64).to_le_bytes());
        out.extend_from_slice(&head);
        for (first, end) in runs {
            for page in first..end {
                let bytes = s.image.page(page).ok_or(SnapshotFileError::DataRun { first, end })?;
                let at = out.len();
                out.extend_from_slice(bytes);
                if without_seed && page == seed_page {
                    out[at + seed_at..at + seed_at + SEED_SIZE].fill(0);
                }
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Reads a snapshot written by [`save`](Snapshot::save), in this or another
    /// process, checking everything listed in the format description.
    pub fn load(path: impl AsRef<Path>) -> Result<Snapshot, SnapshotFileError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| SnapshotFileError::Io { path: path.to_path_buf(), source })?;
        Snapshot::from_bytes(&bytes)
    }

    /// Reads a snapshot from bytes in the file format.
    pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot, SnapshotFileError> {
        let span = Span::load(bytes.len());
        let _entered = span.enter();
        let result = Snapshot::decode(bytes);
        span.record_result(&result);
        result
    }

    fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotFileError> {
        let (header, data) = frame(bytes)?;
        if header.abi_version != ABI_VERSION {
            return Err(SnapshotFileError::AbiMismatch { found: header.abi_version, expected: ABI_VERSION });
        }
        let here = cpu_vendor();
        if header.cpu_vendor != here {
            return Err(SnapshotFileError::CpuVendorMismatch {
                found: vendor_name(&header.cpu_vendor),
                expected: vendor_name(&here),
            });
        }
        let shape = header.image.shape().map_err(SnapshotFileError::Image)?;
        let config = SandboxConfig::from(&header.config);
        let mut memory = config.memory();
        memory.regions = header.regions.iter().map(RegionRecord::reservation).collect();
        let layout = Layout::new(&shape, &memory).map_err(SnapshotFileError::Layout)?;
        let vcpu = header.vcpu.state(&layout).map_err(SnapshotFileError::VcpuState)?;
        let ready = match &header.ready {
            Some(r) => Some(
                r.state(&layout, vcpu.sregs.apic_base, header.vcpu.osxsave).map_err(SnapshotFileError::VcpuState)?,
            ),
            None => None,
        };
        check_runs(&header.runs, &layout, data)?;

        // Guest memory from the file, then the host's own pages rebuilt over it.
        let mut mem = GuestMemory::new(layout.memory_size).map_err(SnapshotFileError::Memory)?;
        let mut at: usize = 0;
        for &(first, end) in &header.runs {
            // `check_runs` bounded every run by the memory size and the data by its length.
            let len = usize::try_from((end - first) * PAGE_SIZE).unwrap_or(usize::MAX);
            let chunk = data.get(at..at.saturating_add(len)).ok_or(SnapshotFileError::Truncated(FilePart::PageData))?;
            mem.write(GuestAddr(first * PAGE_SIZE), chunk).map_err(SnapshotFileError::OutOfBounds)?;
            at += len;
        }
        cpu::write_system_pages(&layout, &mut mem).map_err(SnapshotFileError::OutOfBounds)?;
        fpu_restore::write_pages(&layout, &vcpu, &mut mem).map_err(SnapshotFileError::OutOfBounds)?;
        layout.page_plan.write(&mut mem).map_err(SnapshotFileError::OutOfBounds)?;
        let image = mem.freeze(&[]).map_err(SnapshotFileError::Memory)?;
        drop(mem);
        Ok(Snapshot {
            inner: Arc::new(SnapshotInner {
                image,
                shape,
                layout,
                vcpu,
                ready,
                config,
                guest_id: GuestId(header.guest_id),
                call_metrics: CallMetrics::new(header.functions.as_ref()),
                functions: header.functions.map(Arc::new),
                log_level: obs::default_guest_log_level(),
            }),
        })
    }
}

/// The checks of the frame around the header: magic, version, length, checksum; then
/// the decoded header and the page data.
fn frame(bytes: &[u8]) -> Result<(HeaderRecord, &[u8]), SnapshotFileError> {
    let field =
        |at: usize, len: usize, part: FilePart| bytes.get(at..at + len).ok_or(SnapshotFileError::Truncated(part));
    if field(0, 8, FilePart::Magic)? != SNAPSHOT_MAGIC {
        return Err(SnapshotFileError::BadMagic);
    }
    let word = |at: usize, part| field(at, 4, part).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let version = word(8, FilePart::Version)?;
    if version != SNAPSHOT_FORMAT_VERSION {
        return Err(SnapshotFileError::UnsupportedVersion { found: version, supported: SNAPSHOT_FORMAT_VERSION });
    }
    let head_len = word(12, FilePart::HeaderLength)?;
    let total = field(16, 8, FilePart::FileLength)?;
    let total = u64::from_le_bytes([total[0], total[1], total[2], total[3], total[4], total[5], total[6], total[7]]);
    match (bytes.len() as u64).cmp(&total) {
        std::cmp::Ordering::Less => return Err(SnapshotFileError::Truncated(FilePart::File)),
        std::cmp::Ordering::Greater => return Err(SnapshotFileError::TrailingBytes(FilePart::File)),
        std::cmp::Ordering::Equal => {}
    }
    let head_end = usize::try_from(head_len).ok().and_then(|n| n.checked_add(PREFIX)).unwrap_or(usize::MAX);
    if bytes.len() < head_end.saturating_add(4) {
        return Err(SnapshotFileError::Truncated(FilePart::Header));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(SnapshotFileError::Checksum { stored, computed });
    }
    let (header, rest): (HeaderRecord, &[u8]) =
        postcard::take_from_bytes(&body[PREFIX..head_end]).map_err(SnapshotFileError::Header)?;
    if !rest.is_empty() {
        return Err(SnapshotFileError::TrailingBytes(FilePart::Header));
    }
    Ok((header, &body[head_end..]))
}

/// Checks that the data runs are sorted, disjoint, inside guest memory, and exactly
/// as long in all as the page data.
fn check_runs(runs: &[(u64, u64)], layout: &Layout, data: &[u8]) -> Result<(), SnapshotFileError> {
    let memory_pages = layout.memory_size / PAGE_SIZE;
    let mut expected_len: u64 = 0;
    let mut last_end = 0;
    for &(first, end) in runs {
        if first < last_end || end <= first || end > memory_pages {
            return Err(SnapshotFileError::DataRun { first, end });
        }
        last_end = end;
        expected_len += (end - first) * PAGE_SIZE;
    }
    match (data.len() as u64).cmp(&expected_len) {
        std::cmp::Ordering::Less => Err(SnapshotFileError::Truncated(FilePart::PageData)),
        std::cmp::Ordering::Greater => Err(SnapshotFileError::TrailingBytes(FilePart::PageData)),
        std::cmp::Ordering::Equal => Ok(()),
    }
}
