//! The records of a snapshot file's header (format version 2), and their conversion
//! from and to the sandbox's own types.
//!
//! Explicit records on purpose: the file never serialises an internal struct, so
//! renaming or adding a field inside the library cannot change the format. A change
//! here is a change of [`SNAPSHOT_FORMAT_VERSION`](crate::SNAPSHOT_FORMAT_VERSION),
//! and `tests/snapshot_golden.rs` loads a file written by this version.
//!
//! The header holds only what the guest could have chosen: the image's shape, the
//! sizes, and the vCPU state user mode can change. Everything the host owns (the
//! layout, the page tables, the system pages, CS, SS, TR, the descriptor tables and
//! the control registers) is derived on load by the code that builds sandboxes from
//! ELFs; what the file says of user state is checked to be user state.

use serde::{Deserialize, Serialize};

use crate::error::VcpuStateError;
use crate::mem::elf::ElfKind;
use crate::mem::host_region::{RegionAccess, Reservation};
use crate::mem::image_shape::{ImageShape, ImageShapeError, SegmentShape};
use crate::mem::layout::Layout;
use crate::sandbox::config::SandboxConfig;
use crate::vm::cpu::{self, UserSegments};
use crate::vm::{DebugRegisters, Registers, Segment, SpecialRegisters, VcpuState};

/// The header, after the file's fixed prefix.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HeaderRecord {
    pub abi_version: u32,
    /// CPUID leaf 0's vendor string of the machine that saved it.
    pub cpu_vendor: [u8; 12],
    /// BLAKE3 of what the guest program loads (see `SandboxBuilder`).
    pub guest_id: [u8; 32],
    pub image: ImageRecord,
    pub config: ConfigRecord,
    pub vcpu: VcpuRecord,
    /// The user state where the guest waits for calls, if it got there.
    pub ready: Option<UserStateRecord>,
    /// The guest's function table, as it reported it at init (its types are the
    /// contract's `ValueType`s, versioned by the ABI version above).
    pub functions: Option<hyperlight_common::FunctionTable>,
    /// Guest address ranges kept for host regions (what is mapped there is not part
    /// of a snapshot).
    pub regions: Vec<RegionRecord>,
    /// Runs of guest pages that are not zero, `(first page, one past the last)`.
    pub runs: Vec<(u64, u64)>,
}

/// The guest image's shape (no bytes: those are in the page data).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    /// Position independent (`ET_DYN`) or not (`ET_EXEC`).
    pub pie: bool,
    pub entry: u64,
    pub segments: Vec<SegmentRecord>,
}

/// One loadable segment.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SegmentRecord {
    pub vaddr: u64,
    pub mem_size: u64,
    pub writable: bool,
    pub executable: bool,
}

/// One host-region reservation.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RegionRecord {
    pub addr: u64,
    pub size: u64,
    pub executable: bool,
}

impl RegionRecord {
    pub(crate) fn new(r: &Reservation) -> RegionRecord {
        RegionRecord { addr: r.addr, size: r.size, executable: r.access == RegionAccess::ReadExecute }
    }

    pub(crate) fn reservation(&self) -> Reservation {
        let access = if self.executable { RegionAccess::ReadExecute } else { RegionAccess::Read };
        Reservation { addr: self.addr, size: self.size, access }
    }
}

/// The sizes and timeouts the sandbox was built with.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ConfigRecord {
    pub heap_size: u64,
    pub stack_size: u64,
    pub input_buffer_size: u64,
    pub output_buffer_size: u64,
    pub memory_limit: u64,
    pub call_timeout_ns: Option<u64>,
    pub init_timeout_ns: u64,
    /// Seccomp mode: sandboxes made from the snapshot run their vCPU on a filtered
    /// thread.
    pub seccomp: bool,
    pub max_call_depth: u32,
}

/// What user mode can change of the vCPU: the general registers (rax, rbx, rcx, rdx,
/// rsi, rdi, rsp, rbp, r8 to r15, rip, rflags, in this order), the data segment
/// registers and CR2 (written by page faults).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct UserStateRecord {
    pub regs: [u64; 18],
    pub ds: SegmentRegisterRecord,
    pub es: SegmentRegisterRecord,
    pub fs: SegmentRegisterRecord,
    pub gs: SegmentRegisterRecord,
    pub cr2: u64,
}

/// A segment register with its hidden part. `flags`: bit 0 present, 1 default size
/// (D/B), 2 S (code or data), 3 long mode (L), 4 granularity, 5 AVL, 6 unusable.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SegmentRegisterRecord {
    pub base: u64,
    pub limit: u32,
    pub selector: u16,
    pub type_: u8,
    pub dpl: u8,
    pub flags: u8,
}

/// The whole vCPU state as saved.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct VcpuRecord {
    pub user: UserStateRecord,
    pub apic_base: u64,
    /// CR4.OSXSAVE: the host enabled XSAVE (where the CPU offers it).
    pub osxsave: bool,
    /// XCR0 as the backend reported it (1, x87 only, where XSAVE is off).
    pub xcr0: u64,
    /// The legacy 4 KiB XSAVE area.
    pub xsave: Vec<u8>,
    /// DR0 to DR3, DR6, DR7.
    pub debug: [u64; 6],
}

impl From<&SandboxConfig> for ConfigRecord {
    fn from(c: &SandboxConfig) -> ConfigRecord {
        let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        ConfigRecord {
            heap_size: c.heap_size,
            stack_size: c.stack_size,
            input_buffer_size: c.input_buffer_size,
            output_buffer_size: c.output_buffer_size,
            memory_limit: c.memory_limit,
            call_timeout_ns: c.call_timeout.map(nanos),
            init_timeout_ns: nanos(c.init_timeout),
            seccomp: c.seccomp,
            max_call_depth: c.max_call_depth,
        }
    }
}

impl From<&ConfigRecord> for SandboxConfig {
    fn from(c: &ConfigRecord) -> SandboxConfig {
        SandboxConfig {
            heap_size: c.heap_size,
            stack_size: c.stack_size,
            input_buffer_size: c.input_buffer_size,
            output_buffer_size: c.output_buffer_size,
            memory_limit: c.memory_limit,
            call_timeout: c.call_timeout_ns.map(std::time::Duration::from_nanos),
            init_timeout: std::time::Duration::from_nanos(c.init_timeout_ns),
            seccomp: c.seccomp,
            hot: None,
            max_call_depth: c.max_call_depth,
        }
    }
}

impl From<&ImageShape> for ImageRecord {
    fn from(shape: &ImageShape) -> ImageRecord {
        let segments = shape
            .segments
            .iter()
            .map(|s| SegmentRecord {
                vaddr: s.vaddr,
                mem_size: s.mem_size,
                writable: s.writable,
                executable: s.executable,
            })
            .collect();
        ImageRecord { pie: shape.kind == ElfKind::Pie, entry: shape.entry, segments }
    }
}

impl ImageRecord {
    /// The shape, checked as an ELF's segments are.
    pub(crate) fn shape(&self) -> Result<ImageShape, ImageShapeError> {
        let kind = if self.pie { ElfKind::Pie } else { ElfKind::Exec };
        let segments = self
            .segments
            .iter()
            .map(|s| SegmentShape {
                vaddr: s.vaddr,
                mem_size: s.mem_size,
                writable: s.writable,
                executable: s.executable,
            })
            .collect();
        ImageShape::new(kind, self.entry, segments)
    }
}

fn regs_record(r: &Registers) -> [u64; 18] {
    [
        r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15,
        r.rip, r.rflags,
    ]
}

fn registers(v: &[u64; 18]) -> Registers {
    let [rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags] = *v;
    Registers { rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags }
}

const FLAG_BITS: [fn(&mut Segment) -> &mut bool; 7] =
    [|s| &mut s.present, |s| &mut s.db, |s| &mut s.s, |s| &mut s.l, |s| &mut s.g, |s| &mut s.avl, |s| &mut s.unusable];

fn segment_record(s: &Segment) -> SegmentRegisterRecord {
    let mut copy = *s;
    let flags = FLAG_BITS.iter().enumerate().fold(0u8, |acc, (bit, field)| acc | (u8::from(*field(&mut copy)) << bit));
    SegmentRegisterRecord { base: s.base, limit: s.limit, selector: s.selector, type_: s.type_, dpl: s.dpl, flags }
}

fn segment(r: &SegmentRegisterRecord) -> Segment {
    let mut s = Segment {
        base: r.base,
        limit: r.limit,
        selector: r.selector,
        type_: r.type_,
        dpl: r.dpl,
        ..Segment::default()
    };
    for (bit, field) in FLAG_BITS.iter().enumerate() {
        *field(&mut s) = r.flags & (1 << bit) != 0;
    }
    s
}

impl UserStateRecord {
    pub(crate) fn new(regs: &Registers, sregs: &SpecialRegisters) -> UserStateRecord {
        UserStateRecord {
            regs: regs_record(regs),
            ds: segment_record(&sregs.ds),
            es: segment_record(&sregs.es),
            fs: segment_record(&sregs.fs),
            gs: segment_record(&sregs.gs),
            cr2: sregs.cr2,
        }
    }

    /// The registers, with the host's special registers for `layout` around the
    /// saved data segments, after checking that all of it is user state.
    pub(crate) fn state(
        &self,
        layout: &Layout,
        apic_base: u64,
        xsave: bool,
    ) -> Result<(Registers, SpecialRegisters), VcpuStateError> {
        let regs = registers(&self.regs);
        cpu::check_user_flags(regs.rflags)?;
        let segments = UserSegments {
            ds: segment(&self.ds),
            es: segment(&self.es),
            fs: segment(&self.fs),
            gs: segment(&self.gs),
            cr2: self.cr2,
        };
        Ok((regs, cpu::user_state(layout, apic_base, xsave, &segments)?))
    }
}

impl VcpuRecord {
    pub(crate) fn new(v: &VcpuState) -> VcpuRecord {
        VcpuRecord {
            user: UserStateRecord::new(&v.regs, &v.sregs),
            apic_base: v.sregs.apic_base,
            osxsave: v.sregs.cr4 & cpu::CR4_OSXSAVE != 0,
            xcr0: v.xcr0,
            xsave: v.xsave.clone(),
            debug: [v.debug.db[0], v.debug.db[1], v.debug.db[2], v.debug.db[3], v.debug.dr6, v.debug.dr7],
        }
    }

    /// The vCPU state in `layout`, checked to be user mode.
    pub(crate) fn state(&self, layout: &Layout) -> Result<VcpuState, VcpuStateError> {
        if self.xsave.len() != 4096 {
            return Err(VcpuStateError::XsaveSize(self.xsave.len()));
        }
        // No state beyond x87, SSE and AVX, which fit the 4 KiB area (what the host
        // enables itself; see vm/kvm.rs); x87 always, and SSE too once XSAVE is on.
        let required = if self.osxsave { 0x3 } else { 0x1 };
        if self.xcr0 != 0 && (self.xcr0 & !0x7 != 0 || self.xcr0 & required != required) {
            return Err(VcpuStateError::Xcr0(self.xcr0));
        }
        let (regs, sregs) = self.user.state(layout, self.apic_base, self.osxsave)?;
        let [d0, d1, d2, d3, dr6, dr7] = self.debug;
        Ok(VcpuState {
            regs,
            sregs,
            xsave: self.xsave.clone(),
            debug: DebugRegisters { db: [d0, d1, d2, d3], dr6, dr7 },
            xcr0: self.xcr0,
        })
    }
}
