//! The gdb side of a session: a thread that runs `gdbstub`'s state machine over the
//! TCP connection, and a `Target` that forwards every operation to the vCPU thread.
//!
//! Why a proxy and not the sandbox itself as the `Target`: the state machine lives
//! across calls and must name one target type, while the vCPU state and guest
//! memory belong to the sandbox, which the vCPU thread borrows mutably during a
//! call. So this thread owns the connection and the protocol; the vCPU thread, at a
//! debug stop, serves [`Request`]s one by one until gdb resumes it (see `mod.rs`).

use std::io::Read as _;
use std::net::TcpStream;
use std::sync::mpsc::{Receiver, Sender};

use gdbstub::common::Signal;
use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::{DisconnectReason, GdbStub, SingleThreadStopReason};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep, SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, SwBreakpoint, SwBreakpointOps,
};
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::{Target, TargetError, TargetResult};
use gdbstub_arch::x86::reg::X86_64CoreRegs;
use gdbstub_arch::x86::X86_64_SSE;

/// What the gdb thread asks of the stopped vCPU thread.
#[derive(Debug)]
pub(crate) enum Request {
    ReadRegisters,
    WriteRegisters(Box<X86_64CoreRegs>),
    ReadMemory {
        addr: u64,
        len: usize,
    },
    WriteMemory {
        addr: u64,
        data: Vec<u8>,
    },
    SwBreakpoint {
        addr: u64,
        set: bool,
    },
    HwBreakpoint {
        addr: u64,
        set: bool,
    },
    Monitor(String),
    /// Run again: one instruction (`step`) or until the next stop.
    Resume {
        step: bool,
    },
    Detach,
    Kill,
}

/// The vCPU thread's answer to a [`Request`] (none for the last three).
#[derive(Debug)]
pub(crate) enum Reply {
    Registers(Box<X86_64CoreRegs>),
    Memory(Vec<u8>),
    Done(bool),
    Text(String),
}

/// Why the guest stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    SwBreak,
    HwBreak,
    Step,
    Signal(u8),
}

/// What the gdb thread waits for.
#[derive(Debug)]
pub(crate) enum Event {
    /// A byte from gdb.
    Byte(u8),
    /// gdb closed the connection.
    Closed,
    /// The guest stopped and the vCPU thread serves requests.
    Stopped(Stop),
    /// The sandbox is gone: the "process" exited.
    Gone,
}

/// The `gdbstub` target: every operation is a request to the vCPU thread.
pub(crate) struct GdbTarget {
    pub requests: Sender<Request>,
    pub replies: Receiver<Reply>,
    /// Whether hardware breakpoints are offered to gdb.
    pub hw_breakpoints: bool,
}

const LOST: &str = "the sandbox stopped serving the debugger";

impl GdbTarget {
    fn call(&mut self, r: Request) -> Result<Reply, &'static str> {
        self.requests.send(r).map_err(|_| LOST)?;
        self.replies.recv().map_err(|_| LOST)
    }

    fn done(&mut self, r: Request) -> TargetResult<bool, Self> {
        match self.call(r).map_err(TargetError::Fatal)? {
            Reply::Done(ok) => Ok(ok),
            _ => Err(TargetError::Fatal("unexpected reply")),
        }
    }
}

/// Runs the protocol until gdb detaches or the sandbox goes away. `pause` stops
/// the running guest (gdb's Ctrl-C).
pub(crate) fn serve(conn: TcpStream, events: Receiver<Event>, mut target: GdbTarget, pause: impl Fn()) {
    let mut sm = match GdbStub::new(conn).run_state_machine(&mut target) {
        Ok(sm) => sm,
        Err(_) => return detach(&target, &pause),
    };
    loop {
        let next = match sm {
            GdbStubStateMachine::Idle(inner) => match events.recv() {
                Ok(Event::Byte(b)) => inner.incoming_data(&mut target, b),
                // The vCPU is already stopped while gdb is idle.
                Ok(Event::Stopped(_)) => Ok(inner.into()),
                Ok(Event::Closed | Event::Gone) | Err(_) => break,
            },
            GdbStubStateMachine::Running(inner) => match events.recv() {
                Ok(Event::Byte(b)) => inner.incoming_data(&mut target, b),
                Ok(Event::Stopped(stop)) => inner.report_stop(&mut target, stop_reason(stop)),
                Ok(Event::Gone) => inner.report_stop(&mut target, SingleThreadStopReason::Exited(0)),
                Ok(Event::Closed) | Err(_) => break,
            },
            GdbStubStateMachine::CtrlCInterrupt(inner) => {
                pause();
                // The stop is reported when the vCPU thread actually stops.
                inner.interrupt_handled(&mut target, None::<SingleThreadStopReason<u64>>)
            }
            GdbStubStateMachine::Disconnected(inner) => {
                let last = match inner.get_reason() {
                    DisconnectReason::Kill => Some(Request::Kill),
                    DisconnectReason::Disconnect => Some(Request::Detach),
                    DisconnectReason::TargetExited(_) | DisconnectReason::TargetTerminated(_) => None,
                };
                if let Some(r) = last {
                    let _ = target.requests.send(r);
                }
                return;
            }
        };
        sm = match next {
            Ok(sm) => sm,
            Err(_) => break,
        };
    }
    detach(&target, &pause);
}

/// The connection is lost: the vCPU thread detaches at its next stop, which a pause
/// makes soon, and so takes its breakpoints out.
fn detach(target: &GdbTarget, pause: &impl Fn()) {
    let _ = target.requests.send(Request::Detach);
    pause();
}

/// Forwards gdb's bytes to the protocol thread.
pub(crate) fn read_bytes(mut conn: TcpStream, events: Sender<Event>) {
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = events.send(Event::Closed);
                return;
            }
            Ok(n) => {
                for b in &buf[..n] {
                    if events.send(Event::Byte(*b)).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn stop_reason(stop: Stop) -> SingleThreadStopReason<u64> {
    match stop {
        Stop::SwBreak => SingleThreadStopReason::SwBreak(()),
        Stop::HwBreak => SingleThreadStopReason::HwBreak(()),
        Stop::Step => SingleThreadStopReason::DoneStep,
        Stop::Signal(s) => SingleThreadStopReason::Signal(Signal(s)),
    }
}

impl Target for GdbTarget {
    type Arch = X86_64_SSE;
    type Error = &'static str;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadBase for GdbTarget {
    fn read_registers(&mut self, regs: &mut X86_64CoreRegs) -> TargetResult<(), Self> {
        match self.call(Request::ReadRegisters).map_err(TargetError::Fatal)? {
            Reply::Registers(r) => {
                *regs = *r;
                Ok(())
            }
            _ => Err(TargetError::Fatal("unexpected reply")),
        }
    }

    fn write_registers(&mut self, regs: &X86_64CoreRegs) -> TargetResult<(), Self> {
        match self.done(Request::WriteRegisters(Box::new(regs.clone())))? {
            true => Ok(()),
            false => Err(TargetError::NonFatal),
        }
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8]) -> TargetResult<usize, Self> {
        match self.call(Request::ReadMemory { addr: start, len: data.len() }).map_err(TargetError::Fatal)? {
            Reply::Memory(bytes) if bytes.is_empty() && !data.is_empty() => Err(TargetError::NonFatal),
            Reply::Memory(bytes) => {
                let n = bytes.len().min(data.len());
                data[..n].copy_from_slice(&bytes[..n]);
                Ok(n)
            }
            _ => Err(TargetError::Fatal("unexpected reply")),
        }
    }

    fn write_addrs(&mut self, start: u64, data: &[u8]) -> TargetResult<(), Self> {
        match self.done(Request::WriteMemory { addr: start, data: data.to_vec() })? {
            true => Ok(()),
            false => Err(TargetError::NonFatal),
        }
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadResume for GdbTarget {
    fn resume(&mut self, _signal: Option<Signal>) -> Result<(), Self::Error> {
        // A signal cannot be delivered to a guest that has no OS: it is dropped.
        self.requests.send(Request::Resume { step: false }).map_err(|_| LOST)
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadSingleStep for GdbTarget {
    fn step(&mut self, _signal: Option<Signal>) -> Result<(), Self::Error> {
        self.requests.send(Request::Resume { step: true }).map_err(|_| LOST)
    }
}

impl Breakpoints for GdbTarget {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    /// Offered only where debug registers work for guest code (not under PVM): gdb
    /// then says plainly that it cannot insert a hardware breakpoint.
    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        if self.hw_breakpoints {
            Some(self)
        } else {
            None
        }
    }
}

impl SwBreakpoint for GdbTarget {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.done(Request::SwBreakpoint { addr, set: true })
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.done(Request::SwBreakpoint { addr, set: false })
    }
}

impl HwBreakpoint for GdbTarget {
    fn add_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.done(Request::HwBreakpoint { addr, set: true })
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.done(Request::HwBreakpoint { addr, set: false })
    }
}

impl MonitorCmd for GdbTarget {
    fn handle_monitor_cmd(&mut self, cmd: &[u8], mut out: ConsoleOutput<'_>) -> Result<(), Self::Error> {
        let cmd = String::from_utf8_lossy(cmd).into_owned();
        match self.call(Request::Monitor(cmd))? {
            Reply::Text(text) => {
                gdbstub::outputln!(out, "{}", text);
                Ok(())
            }
            _ => Err("unexpected reply"),
        }
    }
}
