//! The run loop's rare exits, played back by the scripted backend: a triple fault,
//! exits the protocol has no use for, hypervisor failures, interruptions.

use std::time::Duration;

use hyperlight_common::message::write_frame;
use hyperlight_common::port::ExitPort;

use hyperlight_common::message::FunctionResult;
use hyperlight_common::Value;

use crate::error::{CallError, ProtocolError, UnexpectedExit};
use crate::func::host_functions::HostFunctions;
use crate::mem::elf::ElfImage;
use crate::mem::image_shape::ImageShape;
use crate::mem::layout::Layout;
use crate::mem::memory::GuestMemory;
use crate::sandbox::builder::GuestId;
use crate::sandbox::config::SandboxConfig;
use crate::sandbox::sandbox::Parts;
use crate::sandbox::sandbox::Sandbox;
use crate::vm::fake::{ScriptedVm, Step};
use crate::vm::VmExit;
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
    let parts = Parts { shape, layout, config, guest_id: GuestId([0; 32]), sandbox_id: 0, log_level: None };
    Sandbox::assemble(Box::new(vm), mem, parts, HostFunctions::new(), (), None).expect("sandbox")
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
    let out = sb.machine().layout().output_buffer;
    let result: FunctionResult = Ok(Value::I32(5));
    write_frame(sb.machine().mem_mut().slice_mut(out, 64).expect("buffer"), &result).expect("frame");
    assert_eq!(sb.call_with_timeout::<i32>("Anything", (), Duration::from_secs(5)).expect("call"), 5);
}
