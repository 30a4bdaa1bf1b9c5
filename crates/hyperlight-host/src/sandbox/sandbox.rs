//! `Sandbox`: one guest in one VM, ready to run calls.

use std::sync::Arc;
use std::time::Duration;

use hyperlight_common::message::{self, FunctionCall};
use hyperlight_common::{Arguments, ReturnType, Value};

use crate::error::CallError;
use crate::func::host_functions::HostFunctions;
use crate::mem::layout::Layout;
use crate::mem::memory::GuestMemory;
use crate::sandbox::config::SandboxConfig;
use crate::vm::interrupt::{Deadline, Interrupt, InterruptHandle};
use crate::vm::{Backend, Registers, SpecialRegisters};

/// A guest running in its own VM, waiting for calls.
///
/// Made by [`SandboxBuilder`](crate::SandboxBuilder). Each [`call`](Sandbox::call)
/// runs one guest function to completion on the calling thread; a sandbox can move
/// between threads between calls.
#[derive(Debug)]
pub struct Sandbox {
    // Field order is drop order: the VM goes before the memory it maps.
    pub(crate) vm: Box<dyn Backend>,
    pub(crate) mem: GuestMemory,
    pub(crate) layout: Layout,
    pub(crate) host_functions: HostFunctions,
    pub(crate) config: SandboxConfig,
    /// The vCPU state at the guest's first "ready" exit: where it waits for calls. A
    /// call that ends in a panic or fault resets the vCPU to it.
    pub(crate) ready: Option<(Registers, SpecialRegisters)>,
    /// Kill and deadline state, shared with interrupt handles and the timer.
    pub(crate) interrupt: Arc<Interrupt>,
    /// The gdb session and crash-dump settings (empty without those features).
    #[cfg_attr(not(any(feature = "gdb", feature = "crashdump")), allow(dead_code))]
    pub(crate) debug: crate::debug::DebugState,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Before the VM (and its interrupt flag) goes: handles must not touch it.
        self.interrupt.detach();
    }
}

impl Sandbox {
    /// Runs the guest's initialisation (from its entry point to its first "ready").
    pub(crate) fn start(
        vm: Box<dyn Backend>,
        mem: GuestMemory,
        layout: Layout,
        host_functions: HostFunctions,
        config: SandboxConfig,
        debug: crate::debug::DebugState,
    ) -> Result<Sandbox, CallError> {
        let mut vm = vm;
        let interrupt = Interrupt::new(vm.interrupt_flag());
        let mut sandbox = Sandbox { vm, mem, layout, host_functions, config, ready: None, interrupt, debug };
        sandbox.run_call(Some(config.init_timeout))?;
        let regs = sandbox.vm.registers()?;
        let sregs = sandbox.vm.special_registers()?;
        sandbox.ready = Some((regs, sregs));
        Ok(sandbox)
    }

    /// Calls the guest function `name` with `args` (one value, a tuple, or `()`), and
    /// returns its result as `R`.
    ///
    /// ```no_run
    /// # let mut sandbox = hyperlight_host::SandboxBuilder::new().build_from_file("simpleguest")?;
    /// let sum: i32 = sandbox.call("Add", (2, 3))?;
    /// let echo: String = sandbox.call("EchoString", "hi".to_string())?;
    /// sandbox.call::<()>("ReturnUnit", ())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call<R: ReturnType>(&mut self, name: &str, args: impl Arguments) -> Result<R, CallError> {
        let value = self.call_values(name, args.into_values())?;
        typed(name, value)
    }

    /// Calls the guest function `name` with untyped arguments and returns its untyped
    /// result (for tools that learn the types at run time, such as the CLI).
    pub fn call_values(&mut self, name: &str, args: Vec<Value>) -> Result<Value, CallError> {
        self.call_values_with_timeout(name, args, self.config.call_timeout)
    }

    /// Like [`call`](Sandbox::call), but stopped with
    /// [`CallError::Timeout`] if it runs longer than `timeout` (instead of the
    /// sandbox's default [`call_timeout`](crate::SandboxBuilder::call_timeout)).
    pub fn call_with_timeout<R: ReturnType>(
        &mut self,
        name: &str,
        args: impl Arguments,
        timeout: Duration,
    ) -> Result<R, CallError> {
        let value = self.call_values_with_timeout(name, args.into_values(), Some(timeout))?;
        typed(name, value)
    }

    /// A handle that stops this sandbox's running call from any thread.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        InterruptHandle { inner: Arc::clone(&self.interrupt) }
    }

    /// Runs the guest until it waits for the next call, under the kill and deadline
    /// protocol (see `vm/interrupt.rs`).
    fn run_call(&mut self, timeout: Option<Duration>) -> Result<(), CallError> {
        let id = self.interrupt.begin();
        let timeout = self.debug_timeout(timeout);
        let deadline = timeout.map(|t| Deadline::start(&self.interrupt, id, t));
        let result = self.run_until_ready();
        drop(deadline);
        self.interrupt.end();
        result
    }

    fn call_values_with_timeout(
        &mut self,
        name: &str,
        args: Vec<Value>,
        timeout: Option<Duration>,
    ) -> Result<Value, CallError> {
        let call = FunctionCall { name: name.to_string(), args };
        self.write_input(&call).map_err(|e| to_large(e, || format!("arguments of {name}")))?;
        if let Err(e) = self.run_call(timeout) {
            // The guest did not come back to where it waits for calls (it panicked,
            // faulted or broke the protocol): put it back there for the next call.
            self.reset_vcpu()?;
            return Err(e);
        }
        let result = self.read_result(name);
        if let Err(CallError::Protocol(_)) = &result {
            // The guest said "ready" but left garbage: it is not where the protocol
            // says it is, so put it back where it waits for calls.
            self.reset_vcpu()?;
        }
        result
    }

    /// Writes a framed message into the input buffer.
    pub(crate) fn write_input<T: serde::Serialize>(&mut self, msg: &T) -> Result<(), message::FrameError> {
        let size = self.layout.input_buffer_size;
        let buf = self
            .mem
            .slice_mut(self.layout.input_buffer, size)
            .map_err(|_| message::FrameError::NoHeader)?;
        message::write_frame(buf, msg).map(|_| ())
    }

    /// Puts the vCPU back where the guest waits for calls.
    fn reset_vcpu(&mut self) -> Result<(), CallError> {
        if let Some((regs, sregs)) = &self.ready {
            self.vm.set_special_registers(sregs)?;
            self.vm.set_registers(regs)?;
        }
        Ok(())
    }

    /// The configuration this sandbox was built with.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }
}

/// The value `name` returned, as the caller's type.
fn typed<R: ReturnType>(name: &str, value: Value) -> Result<R, CallError> {
    R::from_value(value).map_err(|got| CallError::ReturnType {
        function: name.to_string(),
        expected: R::TYPE,
        got: got.value_type(),
    })
}

fn to_large(e: message::FrameError, what: impl FnOnce() -> String) -> CallError {
    match e {
        message::FrameError::TooLarge { size, capacity } => CallError::TooLarge { what: what(), size, capacity },
        other => CallError::Protocol(crate::error::ProtocolError::BadMessage {
            what: "input frame",
            detail: other.to_string(),
        }),
    }
}
