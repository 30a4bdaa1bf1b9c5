//! The gdb stub: a GDB remote-protocol server for one sandbox (feature `gdb`).
//!
//! How it works, given that KVM_SET_GUEST_DEBUG does nothing for CPL3 code under
//! PVM: breakpoints and single steps go through the host's own exception stubs.
//! A software breakpoint is an `int3` patched into guest memory; stepping sets
//! RFLAGS.TF. Either trap reaches the guest IDT (#BP, #DB), whose stub exits to the
//! host with the vector. With a debugger attached, the run loop's hook
//! ([`Sandbox::gdb_exit`]) does not report a fault: it takes the user-mode state
//! out of the stub's frame, puts the vCPU back into it (RIP rewound over the
//! `int3`), and serves gdb until gdb resumes. Hardware breakpoints (DR0-DR3) are
//! offered only where the backend says they fire for guest code.
//!
//! Threads: the vCPU thread (the caller of `call`), a protocol thread that runs
//! `gdbstub` (see `target.rs`), and a thread that reads gdb's bytes. The
//! connection lives as long as the sandbox, across calls: between calls gdb sees
//! a running target; a breakpoint hit by a later call stops it again.

mod regs;
mod target;

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use hyperlight_common::port::ExitPort;

use self::target::{Event, GdbTarget, Reply, Request, Stop};
use crate::debug::page_walk;
use crate::debug::trap::{signal_of, TrapFrame};
use crate::debug::Debugger;
use crate::error::CallError;
use crate::vm::debug_regs::{DebugRegisters, DR6_BS};
use crate::vm::interrupt::Interrupt;
use crate::vm::machine::Machine;
use crate::vm::{Registers, Segment, SpecialRegisters, VmExit};

const RFLAGS_TF: u64 = 1 << 8;
const INT3: u8 = 0xcc;
const SIGINT: u8 = 2;
const SIGTRAP: u8 = 5;

/// The vCPU thread's side of a gdb session.
#[derive(Debug)]
pub(crate) struct Session {
    requests: Receiver<Request>,
    replies: Sender<Reply>,
    events: Sender<Event>,
    /// gdb asked to stop the running guest (Ctrl-C).
    pause: Arc<AtomicBool>,
    conn: TcpStream,
    /// What the protocol thread takes when it starts (at the guest's entry).
    unstarted: Option<Unstarted>,
    threads: Vec<JoinHandle<()>>,
    /// Software breakpoints: guest virtual address -> the byte under the `int3`.
    breakpoints: BTreeMap<u64, u8>,
    /// Hardware breakpoints in DR0..DR3, if the backend supports them.
    hw: Option<[Option<u64>; 4]>,
    /// gdb asked for one instruction.
    stepping: bool,
    /// The user-mode code and stack segments (from the guest's entry): an exception
    /// switches to the kernel's, and a debug stop switches back.
    user_cs: Segment,
    user_ss: Segment,
}

struct Unstarted {
    events: Receiver<Event>,
    target: GdbTarget,
    reader: TcpStream,
    writer: TcpStream,
}

impl std::fmt::Debug for Unstarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unstarted")
    }
}

/// What a debug stop ends with.
enum Resume {
    Run,
    Detach,
    Kill,
}

impl Session {
    /// Listens on `127.0.0.1:port` and waits for gdb to connect. Only the loopback
    /// interface: the protocol has no authentication and can change guest memory.
    pub(crate) fn accept(port: u16) -> io::Result<Session> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        let (conn, _) = listener.accept()?;
        let (event_tx, event_rx) = channel();
        let (req_tx, req_rx) = channel();
        let (rep_tx, rep_rx) = channel();
        let unstarted = Unstarted {
            events: event_rx,
            target: GdbTarget { requests: req_tx, replies: rep_rx, hw_breakpoints: false },
            reader: conn.try_clone()?,
            writer: conn.try_clone()?,
        };
        Ok(Session {
            requests: req_rx,
            replies: rep_tx,
            events: event_tx,
            pause: Arc::new(AtomicBool::new(false)),
            conn,
            unstarted: Some(unstarted),
            threads: Vec::new(),
            breakpoints: BTreeMap::new(),
            hw: None,
            stepping: false,
            user_cs: Segment::default(),
            user_ss: Segment::default(),
        })
    }

    /// Starts the protocol and reader threads.
    fn start(&mut self, interrupt: Arc<Interrupt>, hw_breakpoints: bool) -> io::Result<()> {
        let Some(mut u) = self.unstarted.take() else { return Ok(()) };
        self.hw = hw_breakpoints.then_some([None; 4]);
        u.target.hw_breakpoints = hw_breakpoints;
        let events = self.events.clone();
        let reader = std::thread::Builder::new()
            .name("hyperlight-gdb-read".into())
            .spawn(move || target::read_bytes(u.reader, events))?;
        self.threads.push(reader);
        let pause = Arc::clone(&self.pause);
        let stop = move || {
            pause.store(true, Ordering::SeqCst);
            interrupt.pause();
        };
        let (writer, events, target) = (u.writer, u.events, u.target);
        let protocol = std::thread::Builder::new()
            .name("hyperlight-gdb".into())
            .spawn(move || target::serve(writer, events, target, stop))?;
        self.threads.push(protocol);
        Ok(())
    }

    /// The guest's view of memory: the original bytes where `int3`s are patched in.
    fn hide_breakpoints(&self, addr: u64, bytes: &mut [u8]) {
        let end = addr.saturating_add(bytes.len() as u64);
        for (at, original) in self.breakpoints.range(addr..end) {
            if let Ok(i) = usize::try_from(at - addr) {
                bytes[i] = *original;
            }
        }
    }

    /// A write by gdb over patched bytes changes the bytes under the `int3`s.
    fn keep_breakpoints(&mut self, addr: u64, bytes: &mut [u8]) {
        let end = addr.saturating_add(bytes.len() as u64);
        for (at, original) in self.breakpoints.range_mut(addr..end) {
            if let Ok(i) = usize::try_from(at - addr) {
                *original = bytes[i];
                bytes[i] = INT3;
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The sandbox is gone (or gdb detached): gdb sees the process exit, then the
        // connection closes, which ends both threads.
        let _ = self.events.send(Event::Gone);
        let mut threads = std::mem::take(&mut self.threads);
        if let Some(protocol) = threads.pop() {
            let _ = protocol.join();
        }
        let _ = self.conn.shutdown(Shutdown::Both);
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Debugger {
    fn gdb(&mut self) -> &mut Session {
        self.gdb.as_mut().expect("called only while a gdb session exists")
    }

    /// Hook before each run: the first one is the guest's entry, where the sandbox
    /// waits for gdb's first "continue"; later, a pending Ctrl-C stops here.
    pub(crate) fn gdb_before_run(&mut self, m: &mut Machine) -> Result<(), CallError> {
        if self.gdb().unstarted.is_some() {
            let sregs = m.vm().special_registers()?;
            let hw = m.vm().hardware_breakpoints_work();
            let interrupt = Arc::clone(m.interrupt());
            let session = self.gdb();
            session.user_cs = sregs.cs;
            session.user_ss = sregs.ss;
            if session.start(interrupt, hw).is_err() {
                self.gdb = None;
                return Ok(());
            }
            // gdb asks for the stop reason of the entry stop itself.
            return self.gdb_stop(m, None);
        }
        if self.gdb().pause.load(Ordering::SeqCst) {
            // Only where user code can resume: not inside a stub.
            if m.vm().special_registers()?.cs.dpl == 3 {
                self.gdb().pause.store(false, Ordering::SeqCst);
                return self.gdb_stop(m, Some(Stop::Signal(SIGINT)));
            }
        }
        Ok(())
    }

    /// Hook on each exit: a #BP or #DB that the debugger caused becomes a debug
    /// stop; any other exception is shown to gdb, then reported as usual.
    pub(crate) fn gdb_exit(&mut self, m: &mut Machine, exit: VmExit) -> Result<Option<VmExit>, CallError> {
        let VmExit::IoOut { port, data: vector } = exit else { return Ok(Some(exit)) };
        if ExitPort::from_port(port) != Some(ExitPort::Fault) {
            return Ok(Some(exit));
        }
        let stub_regs = m.vm().registers()?;
        let stub_sregs = m.vm().special_registers()?;
        let Ok(frame) = TrapFrame::read(m.mem(), stub_regs.rsp) else { return Ok(Some(exit)) };
        if frame.cs & 3 != 3 {
            return Ok(Some(exit));
        }
        let mut user = frame.user_registers(&stub_regs);
        let stop = match vector {
            3 if self.gdb().breakpoints.contains_key(&frame.rip.wrapping_sub(1)) => {
                user.rip = frame.rip.wrapping_sub(1);
                Stop::SwBreak
            }
            // The guest's own int3: stopped after it, and resumed there.
            3 => Stop::Signal(SIGTRAP),
            1 => {
                let dr6 = m.vm().debug_registers().map(|d| d.dr6).unwrap_or(0);
                if dr6 & 0xf != 0 && self.gdb().hw.is_some() {
                    Stop::HwBreak
                } else if self.gdb().stepping || dr6 & DR6_BS != 0 {
                    Stop::Step
                } else {
                    Stop::Signal(SIGTRAP)
                }
            }
            v => {
                // A real fault: let gdb look at the faulting state, then put the
                // stub's state back so that the run loop reports the fault.
                self.enter_user_state(m, &user, &stub_sregs)?;
                self.gdb_stop(m, Some(Stop::Signal(signal_of(v))))?;
                m.vm_mut().set_special_registers(&stub_sregs)?;
                m.vm_mut().set_registers(&stub_regs)?;
                return Ok(Some(exit));
            }
        };
        self.enter_user_state(m, &user, &stub_sregs)?;
        self.gdb_stop(m, Some(stop))?;
        Ok(None)
    }

    /// Puts the vCPU back into user mode with `regs`: the stub's special registers
    /// (FS/GS bases, CR2... are the user's) with the user's code and stack segments.
    fn enter_user_state(
        &mut self,
        m: &mut Machine,
        regs: &Registers,
        stub_sregs: &SpecialRegisters,
    ) -> Result<(), CallError> {
        let session = self.gdb();
        let sregs = SpecialRegisters { cs: session.user_cs, ss: session.user_ss, ..*stub_sregs };
        m.vm_mut().set_special_registers(&sregs)?;
        m.vm_mut().set_registers(regs)?;
        Ok(())
    }

    /// A debug stop: tells gdb why (unless gdb asks itself), then serves it until it
    /// resumes, detaches or kills.
    fn gdb_stop(&mut self, m: &mut Machine, stop: Option<Stop>) -> Result<(), CallError> {
        let mut session = self.gdb.take().expect("called only while a gdb session exists");
        if let Some(stop) = stop {
            let _ = session.events.send(Event::Stopped(stop));
        }
        let outcome = self.gdb_serve(m, &mut session);
        match outcome {
            Ok(Resume::Run) => {
                self.gdb = Some(session);
                Ok(())
            }
            Ok(Resume::Detach) => self.gdb_detach(m, session),
            Ok(Resume::Kill) => {
                self.gdb_detach(m, session)?;
                Err(CallError::Cancelled)
            }
            Err(e) => {
                self.gdb = Some(session);
                Err(e)
            }
        }
    }

    fn gdb_serve(&mut self, m: &mut Machine, s: &mut Session) -> Result<Resume, CallError> {
        loop {
            let Ok(request) = s.requests.recv() else { return Ok(Resume::Detach) };
            let reply = match request {
                Request::ReadRegisters => Reply::Registers(Box::new(regs::read(m.vm())?)),
                Request::WriteRegisters(r) => Reply::Done(regs::write(m.vm_mut(), &r).is_ok()),
                Request::ReadMemory { addr, len } => {
                    let cr3 = m.vm().special_registers()?.cr3;
                    let mut bytes = vec![0u8; len];
                    let n = page_walk::read(m.mem(), cr3, addr, &mut bytes);
                    bytes.truncate(n);
                    s.hide_breakpoints(addr, &mut bytes);
                    Reply::Memory(bytes)
                }
                Request::WriteMemory { addr, mut data } => {
                    let cr3 = m.vm().special_registers()?.cr3;
                    s.keep_breakpoints(addr, &mut data);
                    Reply::Done(page_walk::write(m.mem_mut(), cr3, addr, &data))
                }
                Request::SwBreakpoint { addr, set } => Reply::Done(self.sw_breakpoint(m, s, addr, set)?),
                Request::HwBreakpoint { addr, set } => Reply::Done(self.hw_breakpoint(m, s, addr, set)?),
                Request::Monitor(cmd) => Reply::Text(self.monitor(m, &cmd)?),
                Request::Resume { step } => {
                    s.stepping = step;
                    let mut r = m.vm().registers()?;
                    r.rflags = if step { r.rflags | RFLAGS_TF } else { r.rflags & !RFLAGS_TF };
                    m.vm_mut().set_registers(&r)?;
                    return Ok(Resume::Run);
                }
                Request::Detach => return Ok(Resume::Detach),
                Request::Kill => return Ok(Resume::Kill),
            };
            if s.replies.send(reply).is_err() {
                return Ok(Resume::Detach);
            }
        }
    }

    fn sw_breakpoint(&mut self, m: &mut Machine, s: &mut Session, addr: u64, set: bool) -> Result<bool, CallError> {
        let cr3 = m.vm().special_registers()?.cr3;
        if set {
            if s.breakpoints.contains_key(&addr) {
                return Ok(true);
            }
            let mut original = [0u8];
            if page_walk::read(m.mem(), cr3, addr, &mut original) != 1
                || !page_walk::write(m.mem_mut(), cr3, addr, &[INT3])
            {
                return Ok(false);
            }
            s.breakpoints.insert(addr, original[0]);
            Ok(true)
        } else {
            match s.breakpoints.remove(&addr) {
                Some(original) => Ok(page_walk::write(m.mem_mut(), cr3, addr, &[original])),
                None => Ok(false),
            }
        }
    }

    /// DR0..DR3 as execute breakpoints (R/W = 00, LEN = 00), locally enabled in DR7.
    fn hw_breakpoint(&mut self, m: &mut Machine, s: &mut Session, addr: u64, set: bool) -> Result<bool, CallError> {
        let Some(slots) = s.hw.as_mut() else { return Ok(false) };
        let slot =
            if set { slots.iter().position(Option::is_none) } else { slots.iter().position(|a| *a == Some(addr)) };
        let Some(i) = slot else { return Ok(false) };
        slots[i] = set.then_some(addr);
        let mut d = DebugRegisters::default();
        for (n, a) in slots.iter().enumerate() {
            if let Some(a) = a {
                d.dr[n] = *a;
                d.dr7 |= 1 << (2 * n);
            }
        }
        Ok(m.vm_mut().set_debug_registers(&d).is_ok())
    }

    /// `monitor regs`: the registers gdb's x86_64 description leaves out; `monitor
    /// set NAME VALUE` changes one of fs_base, gs_base, cr0, cr3, cr4, efer.
    fn monitor(&mut self, m: &mut Machine, cmd: &str) -> Result<String, CallError> {
        let mut s = m.vm().special_registers()?;
        let words: Vec<&str> = cmd.split_whitespace().collect();
        match words.as_slice() {
            ["regs"] | [] => Ok(format!(
                "cr0 {:#x}\ncr2 {:#x}\ncr3 {:#x}\ncr4 {:#x}\nefer {:#x}\nfs_base {:#x}\ngs_base {:#x}\ncs {:#x} (dpl {})\nss {:#x}",
                s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.fs.base, s.gs.base, s.cs.selector, s.cs.dpl, s.ss.selector
            )),
            ["set", name, value] => {
                let v = value.strip_prefix("0x").map_or_else(|| value.parse(), |h| u64::from_str_radix(h, 16));
                let Ok(v) = v else { return Ok(format!("not a number: {value}")) };
                match *name {
                    "fs_base" => s.fs.base = v,
                    "gs_base" => s.gs.base = v,
                    "cr0" => s.cr0 = v,
                    "cr3" => s.cr3 = v,
                    "cr4" => s.cr4 = v,
                    "efer" => s.efer = v,
                    other => return Ok(format!("unknown register {other}")),
                }
                match m.vm_mut().set_special_registers(&s) {
                    Ok(()) => Ok(format!("{name} = {v:#x}")),
                    Err(e) => Ok(format!("cannot set {name}: {e}")),
                }
            }
            _ => Ok("commands: regs | set fs_base|gs_base|cr0|cr3|cr4|efer VALUE".to_string()),
        }
    }

    /// Takes every software breakpoint out of guest memory (`insert == false`), or puts
    /// them all back (`insert == true`), reading the bytes under them anew (a restore
    /// may have changed them).
    pub(crate) fn gdb_breakpoints(&mut self, m: &mut Machine, insert: bool) -> Result<(), CallError> {
        let Some(mut session) = self.gdb.take() else { return Ok(()) };
        let result = (|| {
            let cr3 = m.vm().special_registers()?.cr3;
            for (addr, original) in session.breakpoints.iter_mut() {
                if insert {
                    let mut under = [0u8];
                    if page_walk::read(m.mem(), cr3, *addr, &mut under) == 1 && under[0] != INT3 {
                        *original = under[0];
                    }
                    page_walk::write(m.mem_mut(), cr3, *addr, &[INT3]);
                } else {
                    page_walk::write(m.mem_mut(), cr3, *addr, &[*original]);
                }
            }
            Ok(())
        })();
        self.gdb = Some(session);
        result
    }

    /// gdb is gone: takes the breakpoints out and lets the guest run freely.
    fn gdb_detach(&mut self, m: &mut Machine, session: Box<Session>) -> Result<(), CallError> {
        let mut session = session;
        let addrs: Vec<u64> = session.breakpoints.keys().copied().collect();
        for addr in addrs {
            self.sw_breakpoint(m, &mut session, addr, false)?;
        }
        if session.hw.is_some() {
            let _ = m.vm_mut().set_debug_registers(&DebugRegisters::default());
        }
        let mut r = m.vm().registers()?;
        if r.rflags & RFLAGS_TF != 0 && session.stepping {
            r.rflags &= !RFLAGS_TF;
            m.vm_mut().set_registers(&r)?;
        }
        drop(session);
        Ok(())
    }
}
