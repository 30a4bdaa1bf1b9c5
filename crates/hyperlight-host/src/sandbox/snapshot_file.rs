//! The snapshot file format: [`Snapshot::save`] and [`Snapshot::load`].
//!
//! ```text
//! offset  size  content
//! 0       8     magic "HLSNAP\0\0"
//! 8       4     format version, u32 little-endian (SNAPSHOT_FORMAT_VERSION)
//! 12      4     header length H, u32 little-endian
//! 16      8     file length, u64 little-endian (so truncation is reported as such)
//! 24      H     header: postcard encoding of `Header` (ABI version, CPU vendor,
//!               guest id, memory layout, sizes and timeouts, vCPU state, the
//!               guest's ready state, and the runs of guest pages that are not zero)
//! 24+H    D     the data pages, 4096 bytes each, run after run, in order
//! 24+H+D  4     CRC-32 (IEEE) of every byte before it, u32 little-endian
//! ```
//!
//! Pages not in any run are zero. Loading checks, in order: the magic, the version
//! (newer files are refused, not guessed at), the length, the checksum, the header, the ABI
//! version, the CPU vendor (saved CPU state is only valid on the same vendor), the
//! layout's consistency, and that the vCPU state is user mode in that layout. The
//! host's own pages (GDT, TSS, IDT, exception stubs, page tables) are never taken from
//! the file: they are rebuilt from the layout, so a crafted file cannot give a guest
//! more than its own memory.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyperlight_common::{ABI_VERSION, PAGE_SIZE};
use serde::{Deserialize, Serialize};

use crate::error::SnapshotError;
use crate::mem::layout::{GuestAddr, Layout};
use crate::mem::memory::GuestMemory;
use crate::sandbox::config::SandboxConfig;
use crate::sandbox::snapshot::{Snapshot, SnapshotInner};
use crate::vm::{cpu, Registers, SpecialRegisters, VcpuState};

/// The first bytes of every snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"HLSNAP\0\0";

/// The version of the snapshot file format this library writes and reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;

const PREFIX: usize = 24;
const PAGE: usize = 4096;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    abi_version: u32,
    cpu_vendor: [u8; 12],
    guest_id: u64,
    layout: Layout,
    config: ConfigRecord,
    vcpu: VcpuState,
    ready: Option<(Registers, SpecialRegisters)>,
    runs: Vec<(u64, u64)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ConfigRecord {
    heap_size: u64,
    stack_size: u64,
    input_buffer_size: u64,
    output_buffer_size: u64,
    memory_limit: u64,
    call_timeout_ns: Option<u64>,
    init_timeout_ns: u64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl From<&SandboxConfig> for ConfigRecord {
    fn from(c: &SandboxConfig) -> ConfigRecord {
        ConfigRecord {
            heap_size: c.heap_size,
            stack_size: c.stack_size,
            input_buffer_size: c.input_buffer_size,
            output_buffer_size: c.output_buffer_size,
            memory_limit: c.memory_limit,
            call_timeout_ns: c.call_timeout.map(nanos),
            init_timeout_ns: nanos(c.init_timeout),
        }
    }
}

impl From<ConfigRecord> for SandboxConfig {
    fn from(c: ConfigRecord) -> SandboxConfig {
        SandboxConfig {
            heap_size: c.heap_size,
            stack_size: c.stack_size,
            input_buffer_size: c.input_buffer_size,
            output_buffer_size: c.output_buffer_size,
            memory_limit: c.memory_limit,
            call_timeout: c.call_timeout_ns.map(Duration::from_nanos),
            init_timeout: Duration::from_nanos(c.init_timeout_ns),
        }
    }
}

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

fn corrupt(detail: impl Into<String>) -> SnapshotError {
    SnapshotError::Corrupt { detail: detail.into() }
}

impl Snapshot {
    /// Writes the snapshot to `path` (see the format in the crate docs: magic,
    /// version, header, the pages that hold data, CRC-32).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), SnapshotError> {
        let path = path.as_ref();
        let io = |source| SnapshotError::Io { path: path.to_path_buf(), source };
        let bytes = self.to_bytes()?;
        let mut f = std::fs::File::create(path).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)
    }

    /// The snapshot in the file format (what [`save`](Snapshot::save) writes).
    pub fn to_bytes(&self) -> Result<Vec<u8>, SnapshotError> {
        let s = &self.inner;
        let runs = s.image.nonzero_runs().map_err(SnapshotError::Memory)?;
        let header = Header {
            abi_version: ABI_VERSION,
            cpu_vendor: cpu_vendor(),
            guest_id: s.guest_id,
            layout: s.layout.clone(),
            config: ConfigRecord::from(&s.config),
            vcpu: s.vcpu.clone(),
            ready: s.ready,
            runs: runs.clone(),
        };
        let head = postcard::to_allocvec(&header).map_err(|e| corrupt(format!("cannot encode the header: {e}")))?;
        let head_len = u32::try_from(head.len()).map_err(|_| corrupt("header too large"))?;
        let pages: u64 = runs.iter().map(|(a, b)| b - a).sum();
        let mut out = Vec::with_capacity(PREFIX + head.len() + usize::try_from(pages).unwrap_or(0) * PAGE + 4);
        out.extend_from_slice(&SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&head_len.to_le_bytes());
        let total = PREFIX + head.len() + usize::try_from(pages).unwrap_or(0) * PAGE + 4;
        out.extend_from_slice(&(total as u64).to_le_bytes());
        out.extend_from_slice(&head);
        for (first, end) in runs {
            for page in first..end {
                out.extend_from_slice(s.image.page(page).ok_or_else(|| corrupt("data run outside the image"))?);
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Reads a snapshot written by [`save`](Snapshot::save), in this or another
    /// process, checking everything listed in the format description.
    pub fn load(path: impl AsRef<Path>) -> Result<Snapshot, SnapshotError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| SnapshotError::Io { path: path.to_path_buf(), source })?;
        Snapshot::from_bytes(&bytes)
    }

    /// Reads a snapshot from bytes in the file format.
    pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        if bytes.len() < SNAPSHOT_MAGIC.len() {
            return Err(SnapshotError::Truncated { what: "magic" });
        }
        if bytes[..8] != SNAPSHOT_MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let word = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let version = word(8).ok_or(SnapshotError::Truncated { what: "format version" })?;
        if version != SNAPSHOT_FORMAT_VERSION {
            return Err(SnapshotError::UnsupportedVersion { found: version, supported: SNAPSHOT_FORMAT_VERSION });
        }
        let head_len = word(12).ok_or(SnapshotError::Truncated { what: "header length" })?;
        let total = bytes
            .get(16..24)
            .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .ok_or(SnapshotError::Truncated { what: "file length" })?;
        match (bytes.len() as u64).cmp(&total) {
            std::cmp::Ordering::Less => {
                return Err(SnapshotError::Truncated { what: "file shorter than its length field" })
            }
            std::cmp::Ordering::Greater => return Err(corrupt("bytes after the end of the snapshot")),
            std::cmp::Ordering::Equal => {}
        }
        let head_end = usize::try_from(head_len).ok().and_then(|n| n.checked_add(PREFIX)).unwrap_or(usize::MAX);
        if bytes.len() < head_end.saturating_add(4) {
            return Err(SnapshotError::Truncated { what: "header" });
        }
        let (body, tail) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        let computed = crc32fast::hash(body);
        if stored != computed {
            return Err(SnapshotError::Checksum { stored, computed });
        }
        let (header, rest): (Header, &[u8]) = postcard::take_from_bytes(&body[PREFIX..head_end])
            .map_err(|e| corrupt(format!("undecodable header: {e}")))?;
        if !rest.is_empty() {
            return Err(corrupt("bytes after the header"));
        }
        if header.abi_version != ABI_VERSION {
            return Err(SnapshotError::AbiMismatch { found: header.abi_version, expected: ABI_VERSION });
        }
        let here = cpu_vendor();
        if header.cpu_vendor != here {
            return Err(SnapshotError::CpuVendorMismatch {
                found: vendor_name(&header.cpu_vendor),
                expected: vendor_name(&here),
            });
        }
        let layout = header.layout.check().map_err(|e| corrupt(format!("inconsistent layout: {e}")))?;
        cpu::check_user_state(&header.vcpu.sregs, header.vcpu.regs.rflags, &layout).map_err(corrupt)?;
        if let Some((regs, sregs)) = &header.ready {
            cpu::check_user_state(sregs, regs.rflags, &layout).map_err(corrupt)?;
        }
        if header.vcpu.xsave.len() != PAGE {
            return Err(corrupt("vCPU XSAVE area of the wrong size"));
        }
        let data = &body[head_end..];
        let memory_pages = layout.memory_size / PAGE_SIZE;
        let mut expected_len: u64 = 0;
        let mut last_end = 0;
        for &(first, end) in &header.runs {
            if first < last_end || end <= first || end > memory_pages {
                return Err(corrupt(format!("data run {first:#x}..{end:#x} out of order or outside memory")));
            }
            last_end = end;
            expected_len += (end - first) * PAGE_SIZE;
        }
        if data.len() as u64 != expected_len {
            return Err(SnapshotError::Truncated { what: "page data" });
        }

        // Guest memory from the file, then the host's own pages rebuilt over it.
        let mut mem = GuestMemory::new(layout.memory_size).map_err(SnapshotError::Memory)?;
        let mut at = 0;
        for &(first, end) in &header.runs {
            let len = usize::try_from((end - first) * PAGE_SIZE).map_err(|_| corrupt("run too large"))?;
            mem.write(GuestAddr(first * PAGE_SIZE), &data[at..at + len]).map_err(|e| corrupt(e.to_string()))?;
            at += len;
        }
        cpu::write_system_pages(&layout, &mut mem).map_err(|e| corrupt(e.to_string()))?;
        layout.page_plan.write(&mut mem).map_err(|e| corrupt(e.to_string()))?;
        let image = mem.freeze(&[]).map_err(SnapshotError::Memory)?;
        drop(mem);
        Ok(Snapshot {
            inner: Arc::new(SnapshotInner {
                image,
                layout,
                vcpu: header.vcpu,
                ready: header.ready,
                config: header.config.into(),
                guest_id: header.guest_id,
            }),
        })
    }
}
