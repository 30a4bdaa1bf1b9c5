//! Crash dumps: an ELF core file of a guest that faulted (feature `crashdump`).
//!
//! The file is what gdb expects of a Linux x86_64 process: one `PT_NOTE` with an
//! `NT_PRSTATUS` (the registers at the fault, in the kernel's `elf_prstatus`
//! layout) and one `PT_LOAD` per user-mapped region of guest memory, at its guest
//! virtual address. `gdb GUEST CORE` then shows the backtrace at the fault.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hyperlight_common::port::ExitPort;

use crate::debug::trap::{signal_of, TrapFrame};
use crate::mem::layout::GuestAddr;
use crate::mem::memory::GuestMemory;
use crate::mem::page_table::Mapping;
use crate::sandbox::sandbox::Sandbox;
use crate::vm::{Registers, SpecialRegisters, VmExit};

/// Where a sandbox writes its core files, and the last one it wrote.
#[derive(Debug)]
pub(crate) struct CrashDumps {
    dir: PathBuf,
    /// Names this sandbox's files apart from other sandboxes' in the process.
    id: u64,
    last: Option<PathBuf>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl CrashDumps {
    pub(crate) fn new(dir: PathBuf) -> CrashDumps {
        CrashDumps { dir, id: NEXT_ID.fetch_add(1, Ordering::Relaxed), last: None }
    }
}

/// The registers of the faulting code, as the core file records them.
#[derive(Debug, Clone, Copy)]
struct CoreRegisters {
    regs: Registers,
    cs: u64,
    ss: u64,
    sregs: SpecialRegisters,
    signal: u8,
}

impl Sandbox {
    /// The core file written for the last fault, if any (feature `crashdump`, with
    /// [`SandboxBuilder::crash_dump_dir`](crate::SandboxBuilder::crash_dump_dir)).
    pub fn last_crash_dump(&self) -> Option<&Path> {
        self.debug.crash_dumps.as_ref().and_then(|c| c.last.as_deref())
    }

    /// Hook: writes a core file if `exit` is a guest fault or a triple fault. A
    /// failure to write it is printed, and does not change the call's error.
    pub(crate) fn crash_dump_on(&mut self, exit: &VmExit) {
        let state = match exit {
            VmExit::IoOut { port, data } if ExitPort::from_port(*port) == Some(ExitPort::Fault) => {
                self.fault_state(*data)
            }
            VmExit::Shutdown => self.shutdown_state(),
            _ => return,
        };
        let Some(dumps) = self.debug.crash_dumps.as_mut() else { return };
        let result = state.and_then(|core| {
            std::fs::create_dir_all(&dumps.dir)?;
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            let name = format!(
                "hyperlight-{}-{}-{}.{:09}.core",
                std::process::id(),
                dumps.id,
                now.as_secs(),
                now.subsec_nanos()
            );
            let path = dumps.dir.join(name);
            write_core(&path, &self.mem, &self.layout.mappings, &core)?;
            Ok(path)
        });
        match result {
            Ok(path) => dumps.last = Some(path),
            Err(e) => eprintln!("hyperlight: cannot write a crash dump into {}: {e}", dumps.dir.display()),
        }
    }

    fn fault_state(&self, vector: u8) -> io::Result<CoreRegisters> {
        let stub = self.vm.registers().map_err(io::Error::other)?;
        let sregs = self.vm.special_registers().map_err(io::Error::other)?;
        let frame = TrapFrame::read(&self.mem, stub.rsp).map_err(io::Error::other)?;
        Ok(CoreRegisters {
            regs: frame.user_registers(&stub),
            cs: frame.cs,
            ss: frame.ss,
            sregs,
            signal: signal_of(vector),
        })
    }

    fn shutdown_state(&self) -> io::Result<CoreRegisters> {
        let regs = self.vm.registers().map_err(io::Error::other)?;
        let sregs = self.vm.special_registers().map_err(io::Error::other)?;
        Ok(CoreRegisters {
            regs,
            cs: u64::from(sregs.cs.selector),
            ss: u64::from(sregs.ss.selector),
            sregs,
            signal: 11,
        })
    }
}

const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const NT_PRSTATUS: u32 = 1;
const PRSTATUS_SIZE: usize = 336;
const PRSTATUS_SIZE_U32: u32 = 336;
const PR_REG_OFFSET: usize = 112;

fn write_core(path: &Path, mem: &GuestMemory, mappings: &[Mapping], core: &CoreRegisters) -> io::Result<()> {
    let loads: Vec<&Mapping> = mappings.iter().filter(|m| m.flags.user).collect();
    let note = prstatus_note(core);
    let phnum = 1 + loads.len();
    let headers_end = 64 + 56 * phnum;
    let note_offset = headers_end;
    let data_offset = (note_offset + note.len()).next_multiple_of(4096);
    let mut offset = data_offset as u64;

    let mut out = Vec::with_capacity(data_offset);
    // ELF header.
    out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&4u16.to_le_bytes()); // ET_CORE
    out.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes()); // entry
    out.extend_from_slice(&64u64.to_le_bytes()); // phoff
    out.extend_from_slice(&0u64.to_le_bytes()); // shoff
    out.extend_from_slice(&0u32.to_le_bytes()); // flags
    out.extend_from_slice(&64u16.to_le_bytes());
    out.extend_from_slice(&56u16.to_le_bytes());
    out.extend_from_slice(&u16::try_from(phnum).map_err(io::Error::other)?.to_le_bytes());
    out.extend_from_slice(&[0; 6]); // shentsize, shnum, shstrndx
                                    // Program headers.
    let phdr = |out: &mut Vec<u8>, kind: u32, flags: u32, off: u64, vaddr: u64, size: u64, align: u64| {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        for v in [off, vaddr, 0, size, size, align] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    };
    phdr(&mut out, PT_NOTE, 0, note_offset as u64, 0, note.len() as u64, 4);
    let mut segments = Vec::with_capacity(loads.len());
    for m in &loads {
        let flags = 4 | if m.flags.writable { 2 } else { 0 } | if m.flags.executable { 1 } else { 0 };
        let size = m.end - m.start;
        phdr(&mut out, PT_LOAD, flags, offset, m.start, size, 4096);
        segments.push((m.start, size));
        offset += size;
    }
    out.extend_from_slice(&note);
    out.resize(out.len().next_multiple_of(4096), 0);

    let mut file = io::BufWriter::new(std::fs::File::create(path)?);
    file.write_all(&out)?;
    let mut page = vec![0u8; 1 << 16];
    for (start, size) in segments {
        let mut done = 0;
        while done < size {
            let n = (size - done).min(page.len() as u64);
            let chunk = &mut page[..usize::try_from(n).map_err(io::Error::other)?];
            mem.read(GuestAddr(start + done), chunk).map_err(io::Error::other)?;
            file.write_all(chunk)?;
            done += n;
        }
    }
    file.flush()
}

/// The NT_PRSTATUS note: name "CORE", the x86_64 `struct elf_prstatus`.
fn prstatus_note(core: &CoreRegisters) -> Vec<u8> {
    let mut desc = [0u8; PRSTATUS_SIZE];
    desc[0..4].copy_from_slice(&i32::from(core.signal).to_le_bytes()); // si_signo
    desc[12..14].copy_from_slice(&i16::from(core.signal).to_le_bytes()); // pr_cursig
    desc[32..36].copy_from_slice(&1i32.to_le_bytes()); // pr_pid
    let (r, s) = (&core.regs, &core.sregs);
    // struct user_regs_struct, in the kernel's order.
    let user_regs: [u64; 27] = [
        r.r15,
        r.r14,
        r.r13,
        r.r12,
        r.rbp,
        r.rbx,
        r.r11,
        r.r10,
        r.r9,
        r.r8,
        r.rax,
        r.rcx,
        r.rdx,
        r.rsi,
        r.rdi,
        u64::MAX, // orig_rax: not in a system call
        r.rip,
        core.cs,
        r.rflags,
        r.rsp,
        core.ss,
        s.fs.base,
        s.gs.base,
        u64::from(s.ds.selector),
        u64::from(s.es.selector),
        u64::from(s.fs.selector),
        u64::from(s.gs.selector),
    ];
    for (i, v) in user_regs.iter().enumerate() {
        let at = PR_REG_OFFSET + 8 * i;
        desc[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    let mut note = Vec::with_capacity(20 + PRSTATUS_SIZE);
    note.extend_from_slice(&5u32.to_le_bytes()); // namesz, "CORE\0"
    note.extend_from_slice(&PRSTATUS_SIZE_U32.to_le_bytes());
    note.extend_from_slice(&NT_PRSTATUS.to_le_bytes());
    note.extend_from_slice(b"CORE\0\0\0\0");
    note.extend_from_slice(&desc);
    note
}
