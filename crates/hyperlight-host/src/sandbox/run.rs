//! The run loop: runs the vCPU until the guest waits for the next call, serving host
//! calls on the way, and turns every other exit into a typed error.
//!
//! Every byte the guest wrote is copied out of guest memory and bounds-checked before
//! it is decoded (see [`Sandbox::read_output`]).

use hyperlight_common::message::{self, FunctionCall, FunctionResult, FRAME_HEADER};
use hyperlight_common::port::ExitPort;
use hyperlight_common::{AbortKind, FunctionError, GuestAbort, Value, PAGE_SIZE};

use crate::error::{CallError, Exception, GuestFault, ProtocolError};
use crate::mem::layout::GuestAddr;
use crate::sandbox::sandbox::Sandbox;
use crate::vm::interrupt::StopReason;
use crate::vm::stubs::has_error_code;
use crate::vm::VmExit;

impl Sandbox {
    /// Runs the guest until it exits through [`ExitPort::Ready`].
    pub(crate) fn run_until_ready(&mut self) -> Result<(), CallError> {
        loop {
            self.debug_before_run()?;
            let exit = self.vm.run()?;
            let Some(exit) = self.debug_exit(exit)? else { continue };
            match exit {
                VmExit::IoOut { port, data } => match ExitPort::from_port(port) {
                    Some(ExitPort::Ready) => return Ok(()),
                    Some(ExitPort::HostCall) => self.serve_host_call()?,
                    Some(ExitPort::Abort) => return Err(self.read_abort()),
                    Some(ExitPort::Fault) => return Err(self.read_fault(data)?),
                    None => return Err(unexpected(format!("out to port {port:#x}"))),
                },
                VmExit::IoIn { port } => return Err(unexpected(format!("in from port {port:#x}"))),
                VmExit::Mmio { addr } => {
                    return Err(unexpected(format!("access to guest physical address {addr:#x}, outside guest memory")))
                }
                VmExit::Halt => return Err(unexpected("hlt".to_string())),
                VmExit::Shutdown => {
                    return Err(CallError::TripleFault { registers: Box::new(self.vm.registers()?) })
                }
                // A kill or a deadline stops the call; any other interruption (a
                // signal for someone else) resumes the guest where it was.
                VmExit::Interrupted => match self.interrupt.interrupted() {
                    Some(StopReason::Killed) => return Err(CallError::Cancelled),
                    Some(StopReason::Deadline(after)) => return Err(CallError::Timeout { after }),
                    None => continue,
                },
                VmExit::Other(reason) => {
                    return Err(CallError::Hypervisor(crate::vm::HypervisorError::UnexpectedExit { reason }))
                }
            }
        }
    }

    /// Copies the frame in the output buffer out of guest memory and decodes it.
    pub(crate) fn read_output<T: serde::de::DeserializeOwned>(&self, what: &'static str) -> Result<T, CallError> {
        let bad = |detail: String| CallError::Protocol(ProtocolError::BadMessage { what, detail });
        let out = self.layout.output_buffer;
        let mut head = [0u8; FRAME_HEADER];
        self.mem.read(out, &mut head).map_err(|e| bad(e.to_string()))?;
        let len = u64::from(u32::from_le_bytes(head));
        let room = self.layout.output_buffer_size - FRAME_HEADER as u64;
        if len > room {
            return Err(bad(format!("frame length {len} exceeds the {room} bytes of the output buffer")));
        }
        let len = usize::try_from(len).map_err(|_| bad(format!("frame length {len} too large")))?;
        let mut frame = vec![0u8; FRAME_HEADER + len];
        self.mem.read(out, &mut frame).map_err(|e| bad(e.to_string()))?;
        message::read_frame(&frame).map_err(|e| bad(e.to_string()))
    }

    /// Serves one host call: decode, check, run, and write the reply for the guest.
    fn serve_host_call(&mut self) -> Result<(), CallError> {
        let call: FunctionCall = self.read_output("host function call")?;
        let result: FunctionResult = self.host_functions.call(&call.name, call.args);
        match self.write_input(&result) {
            Ok(()) => Ok(()),
            Err(message::FrameError::TooLarge { size, capacity }) => {
                let reply: FunctionResult = Err(FunctionError::TooLarge {
                    what: format!("result of host function {}", call.name),
                    size,
                    capacity,
                });
                self.write_input(&reply).map_err(|e| {
                    CallError::Protocol(ProtocolError::BadMessage { what: "host call reply", detail: e.to_string() })
                })
            }
            Err(e) => Err(CallError::Protocol(ProtocolError::BadMessage {
                what: "host call reply",
                detail: e.to_string(),
            })),
        }
    }

    /// The outcome of the call of `name`, from the output buffer.
    pub(crate) fn read_result(&self, name: &str) -> Result<Value, CallError> {
        let result: FunctionResult = self.read_output("function result")?;
        result.map_err(|e| from_function_error(e, name))
    }

    /// The guest's abort record, as an error.
    fn read_abort(&self) -> CallError {
        match self.read_output::<GuestAbort>("abort record") {
            Ok(GuestAbort { kind: AbortKind::Panic, message }) => CallError::GuestPanic { message },
            Ok(GuestAbort { kind: AbortKind::OutOfMemory { requested }, message }) => {
                CallError::GuestOutOfMemory { requested, message }
            }
            Ok(GuestAbort { kind: AbortKind::Abort { code }, message }) => CallError::GuestAbort { code, message },
            Err(e) => e,
        }
    }

    /// The CPU exception that the host's stub for `vector` reported.
    ///
    /// The stub left, from `rsp` up: the guest's rax, the error code, then the CPU's
    /// frame (rip, cs, rflags, rsp, ss). It sits on the supervisor-only exception
    /// stack, which the guest cannot write.
    fn read_fault(&mut self, vector: u8) -> Result<CallError, CallError> {
        let mut regs = self.vm.registers()?;
        let sregs = self.vm.special_registers()?;
        let word = |i: u64| {
            self.mem.read_u64(GuestAddr(regs.rsp.wrapping_add(8 * i))).map_err(|e| {
                CallError::Protocol(ProtocolError::UnexpectedExit { what: format!("fault frame unreadable: {e}") })
            })
        };
        let (rax, error_code, rip, rflags, rsp) = (word(0)?, word(1)?, word(2)?, word(4)?, word(5)?);
        regs.rax = rax;
        regs.rip = rip;
        regs.rflags = rflags;
        regs.rsp = rsp;
        let exception = Exception::from_vector(vector);
        let cr2 = (exception == Exception::PageFault).then_some(sregs.cr2);
        if let Some(addr) = cr2 {
            let guard = self.layout.stack_guard.0;
            if (guard..guard + PAGE_SIZE).contains(&addr) {
                return Ok(CallError::StackOverflow { rip, addr });
            }
        }
        Ok(CallError::GuestFault(GuestFault {
            exception,
            rip,
            error_code: if has_error_code(vector) { error_code } else { 0 },
            cr2,
            registers: Box::new(regs),
        }))
    }
}

fn unexpected(what: String) -> CallError {
    CallError::Protocol(ProtocolError::UnexpectedExit { what })
}

/// The host's error for what the guest reported about the call of `function`.
fn from_function_error(e: FunctionError, function: &str) -> CallError {
    match e {
        FunctionError::FunctionNotFound { name } => CallError::GuestFunctionNotFound { name },
        FunctionError::HostFunctionNotFound { name } => CallError::HostFunctionNotFound { name },
        FunctionError::ArgumentCount { function, expected, got } => {
            CallError::ArgumentCount { function, expected, got }
        }
        FunctionError::ArgumentType { function, index, expected, got } => {
            CallError::ArgumentType { function, index, expected, got }
        }
        FunctionError::ReturnType { function, expected, got } => CallError::ReturnType { function, expected, got },
        FunctionError::HostFunctionFailed { name, message } => CallError::HostFunctionFailed { name, message },
        FunctionError::TooLarge { what, size, capacity } => CallError::TooLarge { what, size, capacity },
        FunctionError::BadMessage { detail } => CallError::Protocol(ProtocolError::Rejected { detail }),
        FunctionError::Failed { message } => CallError::GuestFailed { function: function.to_string(), message },
    }
}
