//! The run loop: runs the vCPU until the guest waits for the next call, serving host
//! calls on the way, and turns every other exit into a typed error.
//!
//! Every byte the guest wrote is copied out of guest memory and bounds-checked before
//! it is decoded (see [`Sandbox::read_output`]).

use hyperlight_common::message::{self, FrameError, FunctionCall, FunctionResult, FRAME_HEADER};
use hyperlight_common::port::ExitPort;
use hyperlight_common::{AbortKind, FunctionError, GuestAbort, Value, PAGE_SIZE};

use crate::error::{CallError, Exception, GuestFault, MessageKind, ProtocolError, UnexpectedExit};
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
                    None => return Err(unexpected(UnexpectedExit::OutToPort(port))),
                },
                VmExit::IoIn { port } => return Err(unexpected(UnexpectedExit::InFromPort(port))),
                VmExit::Mmio { addr } => return Err(unexpected(UnexpectedExit::Mmio(addr))),
                VmExit::Halt => return Err(unexpected(UnexpectedExit::Halt)),
                VmExit::Shutdown => return Err(CallError::TripleFault { registers: Box::new(self.vm.registers()?) }),
                // A kill or a deadline stops the call; any other interruption (a
                // signal for someone else) resumes the guest where it was.
                VmExit::Interrupted => match self.interrupt.interrupted() {
                    Some(StopReason::Killed) => return Err(CallError::Cancelled),
                    Some(StopReason::Deadline(after)) => return Err(CallError::Timeout { after }),
                    None => continue,
                },
                VmExit::Unhandled(reason) => {
                    return Err(CallError::Hypervisor(crate::vm::HypervisorError::UnhandledExit(reason)))
                }
            }
        }
    }

    /// Copies the frame in the output buffer out of guest memory and decodes it.
    pub(crate) fn read_output<T: serde::de::DeserializeOwned>(&self, what: MessageKind) -> Result<T, CallError> {
        let bad = |source: FrameError| CallError::Protocol(ProtocolError::BadMessage { what, source });
        let unreadable = |source| CallError::Protocol(ProtocolError::Unreadable { what, source });
        let out = self.layout.output_buffer;
        let mut head = [0u8; FRAME_HEADER];
        self.mem.read(out, &mut head).map_err(unreadable)?;
        let length = u64::from(u32::from_le_bytes(head));
        let capacity = self.layout.output_buffer_size.saturating_sub(FRAME_HEADER as u64);
        let len = usize::try_from(length)
            .ok()
            .filter(|_| length <= capacity)
            .ok_or(bad(FrameError::LengthOutOfRange { length, capacity }))?;
        let mut frame = vec![0u8; FRAME_HEADER + len];
        self.mem.read(out, &mut frame).map_err(unreadable)?;
        message::read_frame(&frame).map_err(bad)
    }

    /// Serves one host call: decode, check, run, and write the reply for the guest.
    fn serve_host_call(&mut self) -> Result<(), CallError> {
        let call: FunctionCall = self.read_output(MessageKind::HostFunctionCall)?;
        let result: FunctionResult = self.host_functions.call(&call.name, call.args);
        match self.write_input(&result) {
            Ok(()) => Ok(()),
            Err(FrameError::TooLarge { size, capacity }) => {
                let reply: FunctionResult = Err(FunctionError::TooLarge {
                    what: format!("result of host function {}", call.name),
                    size,
                    capacity,
                });
                self.write_input(&reply)
                    .map_err(|source| CallError::Encode { what: "a host call reply".into(), source })
            }
            Err(source) => {
                Err(CallError::Encode { what: format!("the result of host function {}", call.name), source })
            }
        }
    }

    /// The outcome of the call of `name`, from the output buffer.
    pub(crate) fn read_result(&self, name: &str) -> Result<Value, CallError> {
        let result: FunctionResult = self.read_output(MessageKind::FunctionResult)?;
        result.map_err(|e| from_function_error(e, name))
    }

    /// The guest's abort record, as an error.
    fn read_abort(&self) -> CallError {
        match self.read_output::<GuestAbort>(MessageKind::AbortRecord) {
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
            self.mem
                .read_u64(GuestAddr(regs.rsp.wrapping_add(8 * i)))
                .map_err(|e| CallError::Protocol(ProtocolError::FaultFrame(e)))
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

fn unexpected(exit: UnexpectedExit) -> CallError {
    CallError::Protocol(ProtocolError::UnexpectedExit(exit))
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
        FunctionError::BadMessage { detail } => CallError::Protocol(ProtocolError::Rejected { message: detail }),
        FunctionError::Failed { message } => CallError::GuestFailed { function: function.to_string(), message },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hyperlight_common::message::write_frame;
    use hyperlight_common::port::ExitPort;

    use super::*;
    use crate::func::host_functions::HostFunctions;
    use crate::mem::elf::ElfImage;
    use crate::mem::image_shape::ImageShape;
    use crate::mem::layout::Layout;
    use crate::mem::memory::GuestMemory;
    use crate::sandbox::builder::GuestId;
    use crate::sandbox::config::SandboxConfig;
    use crate::sandbox::sandbox::Parts;
    use crate::vm::fake::{ScriptedVm, Step};
    use crate::vm::{HypervisorError, Registers, UnhandledExit};

    /// A sandbox over a small synthetic image whose vCPU plays back `steps`.
    fn scripted(steps: Vec<Step>, regs: Registers) -> Sandbox {
        let bytes = crate::mem::elf::tests::exec_image();
        let shape = ImageShape::of(&ElfImage::parse(&bytes).expect("test image"));
        let config = SandboxConfig::default();
        let layout = Layout::new(&shape, &config.memory()).expect("layout");
        let mem = GuestMemory::new(layout.memory_size).expect("memory");
        let mut vm = ScriptedVm::new(steps);
        vm.regs = regs;
        let parts = Parts { shape, layout, config, guest_id: GuestId([0; 32]) };
        Sandbox::assemble(Box::new(vm), mem, parts, HostFunctions::new(), None).expect("sandbox")
    }

    fn ready() -> Step {
        Step::Exit(VmExit::IoOut { port: ExitPort::Ready.port(), data: 0 })
    }

    #[test]
    fn a_triple_fault_is_reported_with_the_registers_and_poisons() {
        let regs = Registers { rip: 0x1234, rsp: 0x5678, rax: 7, ..Registers::default() };
        let mut sb = scripted(vec![Step::Exit(VmExit::Shutdown)], regs);
        match sb.call::<()>("Anything", ()) {
            Err(CallError::TripleFault { registers }) => assert_eq!(*registers, regs),
            other => panic!("{other:?}"),
        }
        assert!(sb.is_poisoned());
        assert!(matches!(sb.call::<()>("Anything", ()), Err(CallError::Poisoned)));
    }

    #[test]
    fn exits_the_protocol_has_no_use_for_are_typed_errors() {
        for (exit, expected) in [
            (VmExit::IoIn { port: 0x10 }, UnexpectedExit::InFromPort(0x10)),
            (VmExit::IoOut { port: 0x99, data: 0 }, UnexpectedExit::OutToPort(0x99)),
            (VmExit::Mmio { addr: 0xdead_0000 }, UnexpectedExit::Mmio(0xdead_0000)),
            (VmExit::Halt, UnexpectedExit::Halt),
        ] {
            let mut sb = scripted(vec![Step::Exit(exit)], Registers::default());
            match sb.call::<()>("Anything", ()) {
                Err(CallError::Protocol(ProtocolError::UnexpectedExit(what))) => assert_eq!(what, expected),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn hypervisor_failures_name_the_operation() {
        let mut sb = scripted(vec![Step::Fail("KVM_RUN")], Registers::default());
        match sb.call::<()>("Anything", ()) {
            Err(CallError::Hypervisor(HypervisorError::Operation { operation: "KVM_RUN", .. })) => {}
            other => panic!("{other:?}"),
        }
        let internal = UnhandledExit::InternalError { suberror: 1 };
        let mut sb = scripted(vec![Step::Exit(VmExit::Unhandled(internal))], Registers::default());
        match sb.call::<()>("Anything", ()) {
            Err(CallError::Hypervisor(HypervisorError::UnhandledExit(reason))) => assert_eq!(reason, internal),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_interruption_that_is_no_stop_resumes_the_guest() {
        // A signal for someone else: the run loop runs the guest again, which then
        // returns a result.
        let mut sb = scripted(vec![Step::Exit(VmExit::Interrupted), ready()], Registers::default());
        let out = sb.layout.output_buffer;
        let result: FunctionResult = Ok(Value::I32(5));
        write_frame(sb.mem.slice_mut(out, 64).expect("buffer"), &result).expect("frame");
        assert_eq!(sb.call_with_timeout::<i32>("Anything", (), Duration::from_secs(5)).expect("call"), 5);
    }
}
