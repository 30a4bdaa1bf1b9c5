//! Crash dumps: an ELF core file of a guest that faulted (feature `crashdump`).
//!
//! The file is what gdb expects of a Linux x86_64 process: one `PT_NOTE` with an
//! `NT_PRSTATUS` (the registers at the fault, in the kernel's `elf_prstatus`
//! layout) and one `PT_LOAD` per user-mapped region of guest memory, at its guest
//! virtual address. `gdb GUEST CORE` then shows the backtrace at the fault.
//!
//! The ELF container is written by the `object` crate's `write::elf::Writer`, which
//! lays out the offsets and fills in the header fields that a hand-built writer has to
//! spell out. It replaced the hand-built writer because it is shorter and writes the
//! same file, byte for byte, still streamed. `elf_prstatus` has no type in `object`,
//! so its layout is still built here.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hyperlight_common::port::ExitPort;
use object::elf::{self, NoteHeader64, ProgramFlags};
use object::pod::bytes_of;
use object::write::elf::{FileHeader, ProgramHeader, Writer};
use object::write::StreamingBuffer;
use object::{Endianness, LittleEndian, U32};

use crate::debug::trap::{signal_of, TrapFrame};
use crate::mem::layout::GuestAddr;
use crate::mem::memory::GuestMemory;
use crate::mem::page_table::Mapping;
use crate::vm::machine::Machine;
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

impl CrashDumps {
    /// The core file written for the last fault, if any.
    pub(crate) fn last(&self) -> Option<&Path> {
        self.last.as_deref()
    }

    /// Hook: writes a core file if `exit` is a guest fault or a triple fault. A
    /// failure to write it is printed, and does not change the call's error.
    pub(crate) fn on_exit(&mut self, m: &Machine, exit: &VmExit) {
        let state = match exit {
            VmExit::IoOut { port, data } if ExitPort::from_port(*port) == Some(ExitPort::Fault) => {
                fault_state(m, *data)
            }
            VmExit::Shutdown => shutdown_state(m),
            _ => return,
        };
        let dumps = self;
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
            write_core(&path, m.mem(), &m.layout().mappings, &core)?;
            Ok(path)
        });
        match result {
            Ok(path) => dumps.last = Some(path),
            Err(e) => eprintln!("hyperlight: cannot write a crash dump into {}: {e}", dumps.dir.display()),
        }
    }
}

/// The user-mode state at the fault the stub for `vector` reported.
fn fault_state(m: &Machine, vector: u8) -> io::Result<CoreRegisters> {
    let stub = m.vm().registers().map_err(io::Error::other)?;
    let sregs = m.vm().special_registers().map_err(io::Error::other)?;
    let frame = TrapFrame::read(m.mem(), stub.rsp).map_err(io::Error::other)?;
    Ok(CoreRegisters {
        regs: frame.user_registers(&stub),
        cs: frame.cs,
        ss: frame.ss,
        sregs,
        signal: signal_of(vector),
    })
}

/// The vCPU's state after a triple fault.
fn shutdown_state(m: &Machine) -> io::Result<CoreRegisters> {
    let regs = m.vm().registers().map_err(io::Error::other)?;
    let sregs = m.vm().special_registers().map_err(io::Error::other)?;
    Ok(CoreRegisters { regs, cs: u64::from(sregs.cs.selector), ss: u64::from(sregs.ss.selector), sregs, signal: 11 })
}

/// The kernel's x86_64 `struct elf_prstatus`: its size and where `pr_reg` starts.
const PRSTATUS_SIZE: usize = 336;
const PRSTATUS_SIZE_U32: u32 = 336;
const PR_REG_OFFSET: usize = 112;
const PAGE: u64 = 4096;

fn write_core(path: &Path, mem: &GuestMemory, mappings: &[Mapping], core: &CoreRegisters) -> io::Result<()> {
    let loads: Vec<&Mapping> = mappings.iter().filter(|m| m.flags.user).collect();
    let note = prstatus_note(core);
    // Streamed: guest memory goes to the file in chunks, never whole into the heap.
    let mut file = StreamingBuffer::new(io::BufWriter::new(std::fs::File::create(path)?));
    let mut writer = Writer::new(Endianness::Little, true, &mut file);
    writer.reserve_file_header();
    writer.reserve_program_headers(u32::try_from(1 + loads.len()).map_err(io::Error::other)?);
    let note_offset = writer.reserve(note.len() as u64, 4);
    let offsets: Vec<u64> = loads.iter().map(|m| writer.reserve(m.end - m.start, PAGE)).collect();

    let header = FileHeader { e_type: elf::ET_CORE, e_machine: elf::EM_X86_64, ..FileHeader::default() };
    writer.write_file_header(&header).map_err(io::Error::other)?;
    writer.write_align_program_headers();
    let phdr = |p_type, p_flags, p_offset, p_vaddr, size, p_align| ProgramHeader {
        p_type,
        p_flags,
        p_offset,
        p_vaddr,
        p_paddr: 0,
        p_filesz: size,
        p_memsz: size,
        p_align,
    };
    writer.write_program_header(&phdr(elf::PT_NOTE, ProgramFlags(0), note_offset, 0, note.len() as u64, 4));
    for (m, &offset) in loads.iter().zip(&offsets) {
        let flag = |on: bool, flag| if on { flag } else { ProgramFlags(0) };
        let flags = elf::PF_R | flag(m.flags.writable, elf::PF_W) | flag(m.flags.executable, elf::PF_X);
        writer.write_program_header(&phdr(elf::PT_LOAD, flags, offset, m.start, m.end - m.start, PAGE));
    }
    writer.pad_until(note_offset);
    writer.write(&note);
    let mut chunk = vec![0u8; 1 << 16];
    for (m, &offset) in loads.iter().zip(&offsets) {
        writer.pad_until(offset);
        let mut at = m.start;
        while at < m.end {
            let n = (m.end - at).min(chunk.len() as u64);
            let part = &mut chunk[..usize::try_from(n).map_err(io::Error::other)?];
            mem.read(GuestAddr(at), part).map_err(io::Error::other)?;
            writer.write(part);
            at += n;
        }
    }
    // The buffer keeps the first write error, and `flush` returns it.
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
    let header = NoteHeader64::<LittleEndian> {
        n_namesz: U32::new(LittleEndian, 5), // "CORE\0"
        n_descsz: U32::new(LittleEndian, PRSTATUS_SIZE_U32),
        n_type: U32::new(LittleEndian, elf::NT_PRSTATUS),
    };
    [bytes_of(&header), b"CORE\0\0\0\0", &desc].concat()
}
