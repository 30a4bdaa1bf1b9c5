//! A scripted backend for tests: it plays back exits that real hardware cannot
//! produce on demand (a triple fault, an internal error, a failing ioctl), so the run
//! loop's handling of each is tested. Test builds only.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU8;

use crate::vm::{Backend, HypervisorError, Registers, SpecialRegisters, VcpuState, VmExit};

/// One scripted step: an exit, or a failing KVM_RUN.
#[derive(Debug)]
pub(crate) enum Step {
    Exit(VmExit),
    Fail(&'static str),
}

/// Plays `steps` back, one per run; the registers are whatever was last set.
#[derive(Debug, Default)]
pub(crate) struct ScriptedVm {
    pub steps: VecDeque<Step>,
    pub regs: Registers,
    pub sregs: SpecialRegisters,
    flag: Box<AtomicU8>,
}

impl ScriptedVm {
    pub(crate) fn new(steps: impl IntoIterator<Item = Step>) -> ScriptedVm {
        ScriptedVm { steps: steps.into_iter().collect(), ..ScriptedVm::default() }
    }
}

impl Backend for ScriptedVm {
    fn run(&mut self) -> Result<VmExit, HypervisorError> {
        match self.steps.pop_front() {
            Some(Step::Exit(e)) => Ok(e),
            Some(Step::Fail(operation)) => {
                Err(HypervisorError::Operation { operation, source: std::io::Error::from_raw_os_error(libc::EFAULT) })
            }
            None => Ok(VmExit::Unhandled(crate::vm::UnhandledExit::Other { reason: u32::MAX })),
        }
    }
    fn registers(&self) -> Result<Registers, HypervisorError> {
        Ok(self.regs)
    }
    fn set_registers(&mut self, regs: &Registers) -> Result<(), HypervisorError> {
        self.regs = *regs;
        Ok(())
    }
    fn special_registers(&self) -> Result<SpecialRegisters, HypervisorError> {
        Ok(self.sregs)
    }
    fn set_special_registers(&mut self, sregs: &SpecialRegisters) -> Result<(), HypervisorError> {
        self.sregs = *sregs;
        Ok(())
    }
    fn supported_xcr0(&self) -> u64 {
        0
    }
    fn set_xcr0(&mut self, _: u64) -> Result<(), HypervisorError> {
        Ok(())
    }
    fn interrupt_flag(&mut self) -> *const AtomicU8 {
        &*self.flag
    }
    fn vcpu_state(&mut self) -> Result<VcpuState, HypervisorError> {
        Ok(VcpuState { regs: self.regs, sregs: self.sregs, xsave: vec![0; 4096], debug: Default::default(), xcr0: 0 })
    }
    fn set_vcpu_state(&mut self, state: &VcpuState) -> Result<(), HypervisorError> {
        self.regs = state.regs;
        self.sregs = state.sregs;
        Ok(())
    }
    fn dirty_pages(&mut self) -> Result<Vec<u64>, HypervisorError> {
        Ok(Vec::new())
    }
    unsafe fn map_region(&mut self, _: u32, _: u64, _: u64, _: u64) -> Result<(), HypervisorError> {
        Ok(())
    }
    fn unmap_region(&mut self, _: u32) -> Result<(), HypervisorError> {
        Ok(())
    }
    fn poolable(&self) -> bool {
        false
    }
}
